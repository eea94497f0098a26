/* probes.c -- tally-bench's other measurements: admission control against INCR
 * (rate and memory per algorithm), and Redis memory per API key for a day of
 * traffic. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

/* -------------------------------------------------------------- allow */

static double bench_incr(redisContext *c, size_t n) {
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) freeReplyObject(bench_cmd(c, "INCR bench:incr"));
    return (double)n / (now_s() - t0);
}

void bench_allow(redisContext *c, size_t n, allow_run out[5]) {
    tally *t = open_handle();
    double incr = bench_incr(c, n);
    out[0] = (allow_run){ "INCR (1 conn, 1 at a time)", incr, 1, -1 };
    for (int a = 0; a < 4; a++) {
        /* a limit never reached: every call is an allowed, writing call */
        tally_rule rule = { TALLY_COUNT_REQUESTS, a, 1000000000, 3600000, 0 };
        tally_decision d;
        double t0 = now_s(), srv0 = server_cpu(c);
        for (size_t i = 0; i < n; i++)
            if (tally_allow(t, "speed", &rule, 1, NULL, &d) != TALLY_OK || !d.allowed)
                die("allow: %s", tally_errmsg(t));
        double rate = (double)n / (now_s() - t0);
        out[1 + a] = (allow_run){ tally_algo_name(a), rate, rate / incr, (server_cpu(c) - srv0) * 1e6 / (double)n };
    }
    tally_close(t);
}

/* MEMORY USAGE of every key of one rule of one limited key after N calls. */
static long long usage_pattern(redisContext *c, const char *pattern) {
    redisReply *r = bench_cmd(c, "KEYS %s", pattern); /* a private, nearly empty database */
    long long sum = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *u = bench_cmd(c, "MEMORY USAGE %s SAMPLES 0", r->element[i]->str);
        sum += u->integer;
        freeReplyObject(u);
    }
    freeReplyObject(r);
    return sum;
}

void allow_memory(redisContext *c, long long mem[4][4]) {
    tally *t = open_handle();
    static const int calls[4] = { 1, 10, 100, 1000 };
    for (int a = 0; a < 4; a++)
        for (int e = 0; e < 4; e++) {
            char key[32], pat[96];
            snprintf(key, sizeof key, "mem-%d-%d", a, calls[e]);
            tally_rule rule = { TALLY_COUNT_REQUESTS, a, 1000000, 3600000, 0 };
            tally_decision d;
            for (int i = 0; i < calls[e]; i++)
                if (tally_allow(t, key, &rule, 1, NULL, &d) != TALLY_OK) die("allow: %s", tally_errmsg(t));
            snprintf(pat, sizeof pat, "bench:v3:{k:%s}:*", key);
            mem[a][e] = usage_pattern(c, pat);
        }
    tally_close(t);
}

/* ------------------------------------------------------------- memory */

/* The account total and month classes stay (the JSON and sizing keep their
 * columns) and measure 0 since schema v3 stopped writing {a:ID}:t and
 * {a:ID}:M: an account's total and month are its a: fields, in "shared". */
const char *const class_names[C_N] = {
    "key total {k}:t", "key month {k}:M", "key day and hours {k}:D", "request ids {k}:i",
    "account total {a}:t", "account month {a}:M", "account day and hours {a}:D",
    "shared {s}: model/global/minute/key fields" };

static int classify(const char *k) {
    const char *b = strstr(k, ":{");
    if (!b) return -1;
    char kind = b[2];
    const char *rest = strchr(b, '}');
    if (!rest || rest[1] != ':') return -1;
    char r = rest[2];
    if (kind == 's') return C_SHARED;
    int base = kind == 'k' ? C_KT : kind == 'a' ? C_AT : -1;
    if (base < 0) return -1;
    switch (r) {
    case 't': return base;
    case 'M': return base + 1;
    case 'D': return base + 2;
    case 'i': return kind == 'k' ? C_KI : -1;
    }
    return -1;
}

mem_result bench_memory(redisContext *c) {
    mem_result m = { 24, 0, 0, 0, { 0 }, { 0 } };
    flush_db(c);
    tally *t = open_handle();
    /* 24 events per key: one per hour of yesterday (UTC), models rotating */
    int64_t day_ms = 86400000, yesterday = ((int64_t)time(NULL) * 1000 / day_ms - 1) * day_ms;
    size_t n = (size_t)NKEYS * 24;
    events e = make_events(n, 0x77, DIST_UNIFORM, NKEYS);
    for (size_t i = 0; i < n; i++) {
        size_t hour = i / NKEYS;
        e.ev[i].at_ms = yesterday + (int64_t)hour * 3600000 + 1800000 + (int64_t)(i % NKEYS);
        e.ev[i].model = bench_models[(hour + i) % NMODELS];
    }
    double before = info_field(c, "memory", "used_memory");
    tally_result *res = xmalloc(512 * sizeof *res);
    for (size_t i = 0; i < n; i += 512) {
        size_t k = n - i < 512 ? n - i : 512;
        if (tally_record_batch(t, e.ev + i, k, res) != TALLY_OK) die("record: %s", tally_errmsg(t));
        for (size_t q = 0; q < k; q++)
            if (res[q].code != TALLY_OK || res[q].duplicate) die("record: event %zu failed", i + q);
    }
    free(res);
    double after = info_field(c, "memory", "used_memory");
    m.used_delta = after - before;
    m.per_key = m.used_delta / NKEYS;
    /* components: MEMORY USAGE of every key, by type */
    char cursor[32] = "0";
    long long total_keys = 0;
    do {
        redisReply *r = bench_cmd(c, "SCAN %s COUNT 1000", cursor);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *ks = r->element[1];
        for (size_t i = 0; i < ks->elements; i++)
            redisAppendCommand(c, "MEMORY USAGE %s SAMPLES 0", ks->element[i]->str);
        for (size_t i = 0; i < ks->elements; i++) {
            redisReply *u;
            if (redisGetReply(c, (void **)&u) != REDIS_OK) die("redis: %s", c->errstr);
            int cl = classify(ks->element[i]->str);
            if (strstr(ks->element[i]->str, ":{c:schema}:")) { /* one per prefix, not per API key */
                freeReplyObject(u);
                continue;
            }
            if (cl < 0) die("unexpected key %s", ks->element[i]->str);
            m.bytes[cl] += u->integer;
            m.count[cl]++;
            total_keys++;
            freeReplyObject(u);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    m.keys_per_key = (double)total_keys / NKEYS;
    free_events(&e);
    tally_close(t);
    flush_db(c);
    return m;
}


/* ------------------------------------------------- allow during an import */

#define IMPORT_PASSES_MAX 4096
typedef struct {
    int64_t bound_us;
    int stop;       /* atomic */
    size_t passes;  /* atomic: batches recorded */
    double started; /* now_s() when the importer's handle is open */
    double done_at[IMPORT_PASSES_MAX]; /* when each was (now_s()) */
} importer;

/* Imports batches of BULK_BATCH events, as `tally record --stdin` sends them,
 * each pass with request ids no pass sent before: every event is recorded, not
 * answered as a duplicate. */
static void *import_loop(void *arg) {
    importer *im = arg;
    tally *t = open_handle_bounded(im->bound_us);
    events e = make_events(BULK_BATCH, 0x55, DIST_UNIFORM, NACCOUNTS);
    im->started = now_s(); /* read after the first batch's release store */
    tally_result *res = xmalloc(e.n * sizeof *res);
    for (unsigned pass = 0; !__atomic_load_n(&im->stop, __ATOMIC_ACQUIRE); pass++) {
        /* ids are "req_55" and 22 hex digits of the event's index, whose
         * first 8 (zeros below 16^14 events) become the pass */
        for (size_t i = 0; i < e.n; i++) {
            char *id = e.ids + i * 32 + 6;
            for (int d = 0; d < 8; d++) id[d] = "0123456789abcdef"[(pass >> (28 - 4 * d)) & 15];
        }
        if (tally_record_batch(t, e.ev, e.n, res) != TALLY_OK) die("import: %s", tally_errmsg(t));
        for (size_t i = 0; i < e.n; i++)
            if (res[i].code != TALLY_OK || res[i].duplicate) die("import: event %zu: code %d", i, res[i].code);
        size_t k = __atomic_load_n(&im->passes, __ATOMIC_RELAXED);
        if (k < IMPORT_PASSES_MAX) im->done_at[k] = now_s();
        __atomic_store_n(&im->passes, k + 1, __ATOMIC_RELEASE);
    }
    free(res);
    free_events(&e);
    tally_close(t);
    return NULL;
}

/* n decisions, and more until *passes (when given) has grown by `more` or
 * IMPORT_SECS_MAX have passed; back to back, or one each 1/per_s s. */
#define IMPORT_SECS_MAX 10
static void allow_latencies(tally *t, size_t n, lat *l, const size_t *passes, size_t more, double per_s) {
    tally_rule rule = { TALLY_COUNT_REQUESTS, TALLY_ALGO_SLIDING_WINDOW, 1000000000, 3600000, 0 };
    tally_decision d;
    size_t from = passes ? __atomic_load_n(passes, __ATOMIC_ACQUIRE) : 0;
    double t0 = now_s(), until = t0 + IMPORT_SECS_MAX;
    for (size_t i = 0; i < n || (passes && __atomic_load_n(passes, __ATOMIC_ACQUIRE) < from + more && now_s() < until);
         i++) {
        if (per_s > 0) wait_until(t0 + (double)i / per_s);
        double s = now_s();
        if (tally_allow(t, "latency", &rule, 1, NULL, &d) != TALLY_OK || !d.allowed) die("allow: %s", tally_errmsg(t));
        lat_add(l, (now_s() - s) * 1e6);
    }
}

allow_import bench_allow_during_import(redisContext *c, size_t n, int64_t bound_us, const char *limits_url,
                                       double per_s) {
    allow_import out = { 0, 0, 0, 0, 0, -1, bound_us };
    tally *t = open_handle_with(0, limits_url);
    lat idle = { 0 }, busy = { 0 };
    /* idle: half before the import, half after, so that a noisy stretch of a
     * shared host weighs on both figures alike */
    allow_latencies(t, n / 2, &idle, NULL, 0, per_s);
    importer *im = calloc(1, sizeof *im);
    if (!im) die("out of memory");
    im->bound_us = bound_us;
    pthread_t th;
    slowlog_start(c);
    if (pthread_create(&th, NULL, import_loop, im) != 0) die("pthread_create");
    while (__atomic_load_n(&im->passes, __ATOMIC_ACQUIRE) == 0) { /* the import is under way */
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    /* the import's rate: whole batches, from the end of one during the
     * decisions to the end of the last (3 batches, or what IMPORT_SECS_MAX
     * saw; with none, the first batch's) */
    size_t first = __atomic_load_n(&im->passes, __ATOMIC_ACQUIRE);
    allow_latencies(t, n, &busy, &im->passes, 3, per_s);
    size_t last = __atomic_load_n(&im->passes, __ATOMIC_ACQUIRE);
    __atomic_store_n(&im->stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    if (last > IMPORT_PASSES_MAX) last = IMPORT_PASSES_MAX;
    if (last == first) out.import_rate = BULK_BATCH / (im->done_at[0] - im->started);
    else out.import_rate = (double)(last - first) * BULK_BATCH / (im->done_at[last - 1] - im->done_at[first - 1]);
    free(im);
    out.longest_ms = slowlog_longest_ms(c, NULL);
    allow_latencies(t, n - n / 2, &idle, NULL, 0, per_s);
    out.idle_p50 = lat_pct(&idle, 0.5);
    out.idle_p99 = lat_pct(&idle, 0.99);
    out.busy_p50 = lat_pct(&busy, 0.5);
    out.busy_p99 = lat_pct(&busy, 0.99);
    free(idle.v);
    free(busy.v);
    tally_close(t);
    return out;
}
