/* live.c -- tally-bench's live path: what a relay sends while it serves
 * requests. Events arrive one at a time at a fixed rate (event i at
 * start + i / rate; a caller that falls behind sends at once), Zipf(1.1) keys
 * over the bench's 1,000 API keys, 3 models, 50 accounts, request ids on; each
 * row on an emptied database, measured as Redis CPU per event (INFO cpu, the
 * main thread's) and the caller's latency per event:
 *   the seed's request path: each event's 19 commands as one pipeline, sent as
 *     the event arrives, one connection (the seed's Node.js relay has one);
 *   the same commands inside MULTI/EXEC, one transaction per event;
 *   the async recorder, LIVE_THREADS caller threads, one recorder: the
 *     latency is tally_recorder_record's (the caller's wait), the CPU counts
 *     until a final flush has every event answered;
 *   tally_record, LIVE_THREADS threads, a handle each;
 *   the async recorder again with each flush_ms asked (--live-flush-ms): a
 *     longer wait gathers more events per call, so more of a key's events
 *     merge and fewer calls pay the script's fixed cost. */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

typedef struct {
    int kind, tid, nthreads;
    const events *e;
    double rate, t0;
    redisContext *c;     /* the seed rows' connection */
    tally *t;            /* LIVE_SYNC: this thread's handle */
    tally_recorder *rec; /* LIVE_ASYNC: shared */
    lat l;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    redisContext *c = w->c;
    tally *t = w->t;
    for (size_t i = (size_t)w->tid; i < w->e->n; i += (size_t)w->nthreads) {
        const tally_event *ev = &w->e->ev[i];
        wait_until(w->t0 + (double)i / w->rate);
        double s = now_s();
        int dup = 0;
        switch (w->kind) {
        case LIVE_SEED: seed_send_event(c, ev, 0); break;
        case LIVE_SEED_MULTI: seed_send_event(c, ev, 1); break;
        case LIVE_ASYNC:
            if (tally_recorder_record(w->rec, ev) != TALLY_OK) die("recorder: event %zu refused", i);
            break;
        default:
            if (tally_record(t, ev, &dup) != TALLY_OK || dup) die("record: event %zu: %s", i, tally_errmsg(t));
        }
        lat_add(&w->l, (now_s() - s) * 1e6);
    }
    return NULL;
}

/* flush_ms > 0: the async recorder with that flush_ms (kind LIVE_ASYNC) */
static live_run one_row(redisContext *c, int kind, const events *e, double rate, int flush_ms, int *main_thread) {
    static const char *const names[LIVE_N] = { "seed request path, 1 pipeline/event",
                                               "seed-shaped MULTI/EXEC, 1 event", "tally_recorder (async)",
                                               "tally_record, a handle per thread" };
    int nthreads = kind == LIVE_SEED || kind == LIVE_SEED_MULTI ? 1 : LIVE_THREADS;
    live_run out = { names[kind], nthreads, (double)e->n, 0, 0, 0, 0, 0 };
    worker w[LIVE_THREADS];
    pthread_t th[LIVE_THREADS];
    flush_db(c);
    /* connections and handles first: the arrivals start once they are up */
    tally_recorder *rec = NULL;
    if (kind == LIVE_ASYNC && flush_ms > 0) {
        tally_recorder_config rc;
        tally_recorder_config_init(&rc);
        rc.flush_ms = flush_ms;
        rec = open_recorder_with(&rc);
        out.name = "tally_recorder (async), flush_ms";
    } else if (kind == LIVE_ASYNC)
        rec = open_recorder();
    for (int i = 0; i < nthreads; i++)
        w[i] = (worker){ kind, i, nthreads, e, rate, 0, nthreads == 1 ? raw_connect() : NULL,
                         kind == LIVE_SYNC ? open_handle() : NULL, rec, { 0 } };
    double srv0 = server_main_cpu(c, main_thread), calls0 = evalsha_calls(c), t0 = now_s() + 0.01;
    for (int i = 0; i < nthreads; i++) {
        w[i].t0 = t0;
        if (pthread_create(&th[i], NULL, work, &w[i]) != 0) die("pthread_create");
    }
    lat all = { 0 };
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        for (size_t k = 0; k < w[i].l.n; k++) lat_add(&all, w[i].l.v[k]);
        free(w[i].l.v);
        if (w[i].c) redisFree(w[i].c);
        if (w[i].t) tally_close(w[i].t);
    }
    if (rec) {
        if (tally_recorder_flush(rec, -1) != TALLY_OK) die("recorder: flush failed");
        tally_recorder_stats st;
        tally_recorder_get_stats(rec, &st);
        if (st.recorded != e->n) die("recorder: %llu of %zu recorded", (unsigned long long)st.recorded, e->n);
    }
    out.rate = out.events / (now_s() - t0);
    out.server_cpu_us = (server_main_cpu(c, main_thread) - srv0) * 1e6 / out.events;
    out.calls = evalsha_calls(c) - calls0;
    if (rec) tally_recorder_close(rec, -1);
    out.p50 = lat_pct(&all, 0.5);
    out.p99 = lat_pct(&all, 0.99);
    free(all.v);
    return out;
}

live_result bench_live(redisContext *c, double rate, double secs, const int *flush_ms, int nflush) {
    live_result r = { rate, secs, 0, { { 0 } }, nflush, { 0 }, { { 0 } } };
    events e = make_events((size_t)(rate * secs), 0x4c, DIST_ZIPF, NACCOUNTS);
    for (int k = 0; k < LIVE_N; k++) r.rows[k] = one_row(c, k, &e, rate, 0, &r.main_thread_cpu);
    for (int k = 0; k < nflush; k++) {
        r.flush_ms[k] = flush_ms[k];
        r.flush_rows[k] = one_row(c, LIVE_ASYNC, &e, rate, flush_ms[k], &r.main_thread_cpu);
    }
    flush_db(c);
    free_events(&e);
    return r;
}
