/* runs.c -- tally's recorders under load: tally_record one event at a time
 * (lua/record.lua per event), tally_record_batch, and the `tally record --stdin`
 * tool as a child process reading NDJSON. Each run measures events/s, client and
 * server CPU per event, libtally's allocations and the longest script call. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

/* SLOWLOG keeps every command slower than this; the longest is read after a run. */
#define SLOW_US 1000

void slowlog_start(redisContext *c) {
    cmd_ok(c, "CONFIG SET slowlog-log-slower-than %d", SLOW_US);
    cmd_ok(c, "CONFIG SET slowlog-max-len 100000");
    cmd_ok(c, "SLOWLOG RESET");
}

meter meter_start(redisContext *c) {
    slowlog_start(c);
    meter m = { 0, server_cpu(c), evalsha_calls(c) };
    m.t0 = now_s();
    return m;
}

void meter_stop(const meter *m, redisContext *c, run *r, lat *l) {
    r->secs = now_s() - m->t0;
    r->rate = r->events / r->secs;
    r->server_cpu_us = (server_cpu(c) - m->srv0) * 1e6 / r->events;
    r->longest_ms = slowlog_longest_ms(c, &r->over_bound);
    r->calls = evalsha_calls(c) - m->calls0;
    if (!l) return;
    r->p50 = lat_pct(l, 0.5);
    r->p99 = lat_pct(l, 0.99);
    free(l->v);
}

run bench_sync(redisContext *c, const events *e) {
    tally *t = open_handle();
    run r = { "tally_record, 1 event per call", 0, (double)e->n - 1, 0, 0, 0, 0, "1 call", -1, -1, -1, -1, -1, 0, 0 };
    lat l = { 0 };
    int dup;
    /* warm up: the handle's buffers grow to an event's size once */
    if (tally_record(t, &e->ev[0], &dup) != TALLY_OK) die("record: %s", tally_errmsg(t));
    double cpu0 = cpu_s();
    unsigned long long a0 = alloc_count();
    meter mt = meter_start(c);
    for (size_t i = 1; i < e->n; i++) {
        double s = now_s();
        if (tally_record(t, &e->ev[i], &dup) != TALLY_OK) die("record: %s", tally_errmsg(t));
        lat_add(&l, (now_s() - s) * 1e6);
    }
    meter_stop(&mt, c, &r, &l);
    r.allocs = (double)(alloc_count() - a0) / r.events;
    r.client_cpu_us = (cpu_s() - cpu0) * 1e6 / r.events;
    tally_close(t);
    return r;
}

run bench_batch(redisContext *c, const events *e, size_t per_call) {
    tally *t = open_handle();
    char *name = xmalloc(48); /* lives as long as the row: until the bench ends */
    snprintf(name, 48, "tally_record_batch, %zu/call", per_call);
    run r = { name, 0, (double)e->n - 1, 0, 0, 0, 0, "1 call", -1, -1, -1, -1, -1, 0, 0 };
    tally_result *res = xmalloc(per_call * sizeof *res);
    lat l = { 0 };
    /* warm up: the handle's buffers grow to an event's size once */
    if (tally_record_batch(t, e->ev, 1, res) != TALLY_OK) die("record: %s", tally_errmsg(t));
    double c0 = thread_cpu_s();
    unsigned long long a0 = alloc_count();
    meter mt = meter_start(c);
    for (size_t i = 1; i < e->n; i += per_call) {
        size_t m = e->n - i < per_call ? e->n - i : per_call;
        double s = now_s();
        if (tally_record_batch(t, e->ev + i, m, res) != TALLY_OK) die("record: %s", tally_errmsg(t));
        for (size_t k = 0; k < m; k++)
            if (res[k].code != TALLY_OK || res[k].duplicate) die("record: event %zu: code %d", i + k, res[k].code);
        lat_add(&l, (now_s() - s) * 1e6);
    }
    meter_stop(&mt, c, &r, &l);
    r.client_cpu_us = (thread_cpu_s() - c0) * 1e6 / r.events;
    r.allocs = (double)(alloc_count() - a0) / r.events;
    free(res);
    tally_close(t);
    return r;
}

/* tally_record_batch of BULK_BATCH with every event priced on the host from
 * a table of the bench's three models (cost_nanos = TALLY_COST_FROM_PRICES),
 * to set beside the row of the same events with their own costs. */
run bench_batch_priced(redisContext *c, const events *e) {
    static const char table[] =
        "{\"models\": {\"claude-3-5-sonnet-20241022\": {\"input\": \"3\", \"output\": \"15\", "
        "\"cache_create\": \"3.75\", \"cache_read\": \"0.30\"}, \"claude-3-opus-20240229\": {\"input\": \"15\", "
        "\"output\": \"75\", \"cache_create\": \"18.75\", \"cache_read\": \"1.50\"}, \"claude-3-5-haiku-20241022\": "
        "{\"input\": \"0.80\", \"output\": \"4\", \"cache_create\": \"1\", \"cache_read\": \"0.08\"}}}";
    char err[256];
    tally_prices *p;
    if (tally_prices_parse(table, sizeof table - 1, &p, err, sizeof err) != TALLY_OK) die("prices: %s", err);
    tally *t = open_handle();
    int64_t version;
    if (tally_prices_load(t, p, &version) != TALLY_OK) die("prices: %s", tally_errmsg(t));
    tally_close(t);
    tally_prices_free(p);
    events priced = *e;
    priced.ev = xmalloc(e->n * sizeof *priced.ev);
    for (size_t i = 0; i < e->n; i++) {
        priced.ev[i] = e->ev[i];
        priced.ev[i].cost_nanos = TALLY_COST_FROM_PRICES;
    }
    run r = bench_batch(c, &priced, BULK_BATCH);
    char *name = xmalloc(48); /* lives as long as the row */
    snprintf(name, 48, "tally_record_batch, %d/call, priced", BULK_BATCH);
    r.name = name;
    free(priced.ev);
    return r;
}

/* Writes the events as NDJSON lines for `tally record --stdin`. */
static void write_ndjson(const events *e, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write %s", path);
    for (size_t i = 0; i < e->n; i++) {
        const tally_event *v = &e->ev[i];
        char usd[40];
        tally_nanos_to_usd(v->cost_nanos, usd, sizeof usd);
        fprintf(f,
                "{\"key\":\"%s\",\"model\":\"%s\",\"account\":\"%s\",\"input\":%lld,\"output\":%lld,"
                "\"cache_create\":%lld,\"cache_read\":%lld,\"cost\":\"%s\",\"id\":\"%s\"}\n",
                v->key, v->model, v->account, (long long)v->input_tokens, (long long)v->output_tokens,
                (long long)v->cache_create_tokens, (long long)v->cache_read_tokens, usd, v->request_id);
    }
    if (fclose(f) != 0) die("cannot write %s", path);
}

run bench_tool(redisContext *c, const events *e, const char *tally_bin) {
    run r = { "tally record --stdin", 0, (double)e->n, 0, 0, 0, 0, "-", -1, -1, -1, -1, -1, 0, 0 };
    char path[] = "/tmp/tally-bench-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) die("mkstemp");
    close(fd);
    write_ndjson(e, path);
    meter mt = meter_start(c);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int in = open(path, O_RDONLY), out = open("/dev/null", O_WRONLY);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0) _exit(127);
        execl(tally_bin, tally_bin, "record", "--stdin", "--url", bench_url_text, "--prefix", "bench", (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) die("wait4");
    meter_stop(&mt, c, &r, NULL);
    unlink(path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("%s record --stdin failed (status %d)", tally_bin, status);
    r.client_cpu_us = ((double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                       (double)ru.ru_stime.tv_usec / 1e6) * 1e6 / r.events;
    return r;
}

tally_recorder *open_recorder(void) { return open_recorder_with(NULL); }

tally_recorder *open_recorder_with(const tally_recorder_config *rc) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = bench_url_text;
    cfg.prefix = "bench";
    tally_recorder *r;
    if (tally_recorder_open(&cfg, rc, &r) != TALLY_OK) {
        char msg[512];
        tally_recorder_errmsg(r, msg, sizeof msg);
        die("recorder: %s", msg);
    }
    return r;
}

run bench_async(redisContext *c, const events *e) {
    tally_recorder *r = open_recorder();
    run out = { "tally_recorder_record (async)", 0, (double)e->n, 0, 0, 0, 0, "-", -1, -1, -1, -1, -1, 0, 0 };
    double c0 = thread_cpu_s();
    meter mt = meter_start(c);
    for (size_t i = 0; i < e->n; i++)
        if (tally_recorder_record(r, &e->ev[i]) != TALLY_OK) die("recorder: event %zu refused", i);
    double caller = thread_cpu_s() - c0;
    if (tally_recorder_flush(r, -1) != TALLY_OK) die("recorder: flush failed");
    meter_stop(&mt, c, &out, NULL);
    tally_recorder_stats s;
    tally_recorder_get_stats(r, &s);
    if (s.recorded != e->n) die("recorder: %llu of %zu recorded", (unsigned long long)s.recorded, e->n);
    tally_recorder_close(r, -1);
    out.client_cpu_us = caller * 1e6 / out.events; /* the caller's thread only */
    return out;
}
