/* bench.c -- tally-bench: throughput, latency, CPU and memory of tally against a
 * raw-command baseline, all measured in one run on the same machine and server.
 *
 *   tally-bench --url URL [--json] [--scale F]
 *
 * Needs an EMPTY database (it refuses otherwise): it flushes it between phases.
 * tools/bench starts a private redis-server for it unless --url is given.
 * Not a test: it asserts nothing; it prints each performance target with
 * "met" or "not met" and exits 0 either way (1 on an error).
 *
 * Allocation counting: this program is linked with -Wl,--wrap=malloc (calloc,
 * realloc), so every allocation made by libtally (linked statically) or by this
 * file goes through the counters below; hiredis is a shared library and its
 * allocations (replies, command buffers) are not counted ("hiredis aside"). */
#define _GNU_SOURCE 1 /* RUSAGE_THREAD */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tally.h"
#include "url.h"

/* ------------------------------------------------------------ allocations */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
static unsigned long long allocs; /* atomically incremented */

void *__wrap_malloc(size_t n) {
    __atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
    __atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
    return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
    __atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
    return __real_realloc(p, n);
}
static unsigned long long alloc_count(void) { return __atomic_load_n(&allocs, __ATOMIC_RELAXED); }

/* ------------------------------------------------------------------ utils */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("tally-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Latencies in microseconds. */
typedef struct { double *v; size_t n, cap; } lat;

static void lat_add(lat *l, double us) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) die("out of memory");
    }
    l->v[l->n++] = us;
}

static double pct(lat *l, double p) {
    if (!l->n) return 0;
    size_t i = (size_t)(p * (double)(l->n - 1) + 0.5);
    return l->v[i];
}

/* ------------------------------------------------------- raw connection */

static const char *url_text;
static tally_url url;

static redisContext *raw_connect(void) {
    redisContext *c = url.is_unix ? redisConnectUnix(url.path) : redisConnect(url.host, url.port);
    if (!c || c->err) die("cannot connect to %s", url.is_unix ? url.path : url.host);
    redisReply *r = NULL;
    if (url.password[0])
        r = url.user[0] ? redisCommand(c, "AUTH %s %s", url.user, url.password)
                        : redisCommand(c, "AUTH %s", url.password);
    if (r) freeReplyObject(r);
    r = redisCommand(c, "SELECT %d", url.db);
    if (!r || r->type == REDIS_REPLY_ERROR) die("SELECT %d failed", url.db);
    freeReplyObject(r);
    return c;
}

static redisReply *cmd(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) die("redis: %s", c->errstr);
    if (r->type == REDIS_REPLY_ERROR) die("redis: %s", r->str);
    return r;
}

static void cmd_ok(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) die("redis: %s", c->errstr);
    if (r->type == REDIS_REPLY_ERROR) die("redis: %s", r->str);
    freeReplyObject(r);
}

/* A numeric field of INFO <section>. */
static double info_field(redisContext *c, const char *section, const char *name) {
    redisReply *r = cmd(c, "INFO %s", section);
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s:", name);
    const char *p = strstr(r->str, pat);
    double v = p ? strtod(p + strlen(pat), NULL) : -1;
    freeReplyObject(r);
    return v;
}

static double server_cpu(redisContext *c) {
    return info_field(c, "cpu", "used_cpu_user") + info_field(c, "cpu", "used_cpu_sys");
}

static void flush(redisContext *c) { cmd_ok(c, "FLUSHDB SYNC"); }

static tally *open_handle(void) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = url_text;
    cfg.prefix = "bench";
    tally *t;
    if (tally_open(&cfg, &t) != TALLY_OK) die("%s", tally_errmsg(t));
    return t;
}

/* --------------------------------------------------------------- events */

#define NKEYS 1000
#define DEPTH 64
static const char *const models[3] = { "claude-3-5-sonnet-20241022", "claude-3-opus-20240229",
                                       "claude-3-5-haiku-20241022" };
static char key_ids[NKEYS][16], acct_ids[NKEYS][16];

/* n events with every dimension on: key, model, account, request id (28
 * bytes, unique per run and tag), all four token counts and a cost. */
typedef struct { tally_event *ev; char *ids; size_t n; } events;

static events make_events(size_t n, int tag, int64_t at0_ms, int64_t step_ms) {
    events e = { xmalloc(n * sizeof *e.ev), xmalloc(n * 32), n };
    for (size_t i = 0; i < n; i++) {
        size_t k = i % NKEYS;
        char *id = e.ids + i * 32;
        snprintf(id, 32, "req_%02x%022zx", tag & 0xff, i);
        e.ev[i] = (tally_event){
            .key = key_ids[k], .model = models[(i / NKEYS) % 3], .account = acct_ids[k],
            .input_tokens = 800 + (int64_t)(i * 37 % 2000), .output_tokens = 150 + (int64_t)(i * 13 % 900),
            .cache_create_tokens = (i % 4) ? 0 : 2048, .cache_read_tokens = 6000 + (int64_t)(i % 5000),
            .cost_nanos = 4000000 + (int64_t)(i * 7919 % 30000000),
            .at_ms = at0_ms ? at0_ms + (int64_t)i * step_ms : 0, .request_id = id };
    }
    return e;
}

static void free_events(events *e) {
    free(e->ev);
    free(e->ids);
}

/* ------------------------------------------------------------- results */

typedef struct {
    const char *name;
    double events, secs, rate;
    double p50, p99, p999;   /* µs */
    const char *lat_unit;    /* what one latency sample is */
    double client_cpu_us, server_cpu_us, allocs; /* per event; < 0: not measured */
    double cmds;             /* Redis commands sent per event */
} run;

static void finish(run *r, lat *l) {
    qsort(l->v, l->n, sizeof *l->v, cmp_double);
    r->rate = r->events / r->secs;
    r->p50 = pct(l, 0.5);
    r->p99 = pct(l, 0.99);
    r->p999 = pct(l, 0.999);
    free(l->v);
    *l = (lat){ 0 };
}

/* tally_record one at a time. */
static run bench_sync(redisContext *c, size_t n) {
    tally *t = open_handle();
    events e = make_events(n, 1, 0, 0);
    lat l = { xmalloc(n * sizeof(double)), 0, n };
    run r = { "tally sync, 1 conn", (double)n, 0, 0, 0, 0, 0, "1 call", -1, -1, -1, 1 };
    int dup0;
    /* warm up: the handle's buffers grow to an event's size once */
    if (tally_record(t, &e.ev[0], &dup0) != TALLY_OK) die("record: %s", tally_errmsg(t));
    double cpu0 = cpu_s(), srv0 = server_cpu(c);
    unsigned long long a0 = alloc_count();
    double t0 = now_s();
    for (size_t i = 1; i < n; i++) {
        double s = now_s();
        int dup;
        if (tally_record(t, &e.ev[i], &dup) != TALLY_OK) die("record: %s", tally_errmsg(t));
        l.v[l.n++] = (now_s() - s) * 1e6;
    }
    r.secs = now_s() - t0;
    r.events = (double)(n - 1);
    r.allocs = (double)(alloc_count() - a0) / r.events;
    r.client_cpu_us = (cpu_s() - cpu0) * 1e6 / r.events;
    r.server_cpu_us = (server_cpu(c) - srv0) * 1e6 / r.events;
    finish(&r, &l);
    free_events(&e);
    tally_close(t);
    return r;
}

/* tally_record_batch, DEPTH events per call, on one handle. */
typedef struct {
    size_t n;
    int tag;
    double secs, cpu;
    lat l;
    unsigned long long allocs;
} pipe_job;

static double thread_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *pipe_thread(void *arg) {
    pipe_job *j = arg;
    tally *t = open_handle();
    events e = make_events(j->n, j->tag, 0, 0);
    tally_result res[DEPTH];
    j->l.cap = j->n / DEPTH + 1;
    j->l.v = xmalloc(j->l.cap * sizeof *j->l.v);
    /* warm up: the handle's buffers grow to an event's size once */
    if (tally_record_batch(t, e.ev, 1, res) != TALLY_OK) die("record: %s", tally_errmsg(t));
    unsigned long long a0 = alloc_count();
    double c0 = thread_cpu_s(), t0 = now_s();
    for (size_t i = 1; i < j->n; i += DEPTH) {
        size_t m = j->n - i < DEPTH ? j->n - i : DEPTH;
        double s = now_s();
        if (tally_record_batch(t, e.ev + i, m, res) != TALLY_OK) die("record: %s", tally_errmsg(t));
        for (size_t k = 0; k < m; k++)
            if (res[k].code != TALLY_OK) die("record: event %zu: code %d", i + k, res[k].code);
        j->l.v[j->l.n++] = (now_s() - s) * 1e6;
    }
    j->secs = now_s() - t0;
    j->cpu = thread_cpu_s() - c0;
    j->allocs = alloc_count() - a0;
    free_events(&e);
    tally_close(t);
    return NULL;
}

static run bench_pipe(redisContext *c, size_t n, int threads) {
    pipe_job jobs[8];
    pthread_t th[8];
    run r = { threads == 1 ? "tally pipelined 64, 1 conn" : "tally pipelined 64, 4 conns",
              0, 0, 0, 0, 0, 0, "batch of 64", -1, -1, -1, 1 };
    double cpu0 = cpu_s(), srv0 = server_cpu(c);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (pipe_job){ n / (size_t)threads, 2 + i, 0, 0, { 0 }, 0 };
        if (pthread_create(&th[i], NULL, pipe_thread, &jobs[i]) != 0) die("pthread_create");
    }
    lat l = { 0 };
    unsigned long long a = 0;
    double cpu = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        r.events += (double)(jobs[i].n - 1);
        if (jobs[i].secs > r.secs) r.secs = jobs[i].secs;
        for (size_t k = 0; k < jobs[i].l.n; k++) lat_add(&l, jobs[i].l.v[k]);
        free(jobs[i].l.v);
        a += jobs[i].allocs;
        cpu += jobs[i].cpu;
    }
    /* the recording threads' CPU (user + system) inside the timed loop */
    r.client_cpu_us = cpu * 1e6 / r.events;
    r.allocs = (double)a / r.events;
    (void)cpu0;
    r.server_cpu_us = (server_cpu(c) - srv0) * 1e6 / r.events;
    finish(&r, &l);
    return r;
}

/* ------------------------------------------------------------ baseline */

/* The same writes as a hand-written relay would send them: hashes with one
 * field per metric (requests, input, output, cache_create, cache_read, cost),
 * a hash per bucket and per model bucket, HINCRBY per metric, EXPIRE per dated
 * key, ZINCRBY per leaderboard, SET NX EX for the request id. No script, no
 * atomicity, no validation, no overflow checks. Pipelined like tally's batches:
 * DEPTH events' commands, then their replies. */
typedef struct { const char *argv[4]; size_t len[4]; int argc; } rcmd;

typedef struct {
    char keys[64][128];
    int nkeys;
    char nums[8][24];
    rcmd cmds[200];
    int ncmds;
} raw_event;

static const char *raw_key(raw_event *re, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *k = re->keys[re->nkeys++];
    vsnprintf(k, 128, fmt, ap);
    va_end(ap);
    return k;
}

static void raw_add(raw_event *re, int argc, const char *a0, const char *a1, const char *a2,
                    const char *a3) {
    rcmd *c = &re->cmds[re->ncmds++];
    const char *a[4] = { a0, a1, a2, a3 };
    c->argc = argc;
    for (int i = 0; i < argc; i++) {
        c->argv[i] = a[i];
        c->len[i] = strlen(a[i]);
    }
}

static const char *const metric_fields[6] = { "requests", "input", "output", "cache_create",
                                              "cache_read", "cost" };

static void raw_bucket(raw_event *re, const char *key, const char *ttl) {
    for (int m = 0; m < 6; m++) raw_add(re, 4, "HINCRBY", key, metric_fields[m], re->nums[m]);
    if (ttl) raw_add(re, 3, "EXPIRE", key, ttl, NULL);
}

/* Builds one event's commands (the key names as a relay would format them). */
static void raw_build(raw_event *re, const tally_event *e, const char *ymd, const char *ym,
                      const char *hh, const char *minute) {
    re->nkeys = re->ncmds = 0;
    int64_t v[6] = { 1, e->input_tokens, e->output_tokens, e->cache_create_tokens, e->cache_read_tokens,
                     e->cost_nanos };
    for (int m = 0; m < 6; m++) snprintf(re->nums[m], 24, "%" PRId64, v[m]);
    snprintf(re->nums[6], 24, "%" PRId64, v[1] + v[2] + v[3] + v[4]);
    const char *k = e->key, *a = e->account, *mo = e->model;
    unsigned shard = (unsigned)(k[4] - '0') % 8;
    static const char TH[] = "691200", TD[] = "2764800", TM[] = "34560000", TN[] = "7200";
    raw_bucket(re, raw_key(re, "raw:k:%s:t", k), NULL);
    raw_bucket(re, raw_key(re, "raw:k:%s:t:%s", k, mo), NULL);
    raw_bucket(re, raw_key(re, "raw:k:%s:M:%s", k, ym), TM);
    raw_bucket(re, raw_key(re, "raw:k:%s:M:%s:%s", k, ym, mo), TM);
    raw_bucket(re, raw_key(re, "raw:k:%s:D:%s", k, ymd), TD);
    raw_bucket(re, raw_key(re, "raw:k:%s:D:%s:%s", k, ymd, mo), TD);
    raw_bucket(re, raw_key(re, "raw:k:%s:H:%s%s", k, ymd, hh), TH);
    raw_bucket(re, raw_key(re, "raw:a:%s:t", a), NULL);
    raw_bucket(re, raw_key(re, "raw:a:%s:M:%s", a, ym), TM);
    raw_bucket(re, raw_key(re, "raw:a:%s:D:%s", a, ymd), TD);
    raw_bucket(re, raw_key(re, "raw:a:%s:H:%s%s", a, ymd, hh), TH);
    raw_bucket(re, raw_key(re, "raw:s%u:t", shard), NULL);
    raw_bucket(re, raw_key(re, "raw:s%u:t:%s", shard, mo), NULL);
    raw_bucket(re, raw_key(re, "raw:s%u:M:%s", shard, ym), TM);
    raw_bucket(re, raw_key(re, "raw:s%u:M:%s:%s", shard, ym, mo), TM);
    raw_bucket(re, raw_key(re, "raw:s%u:D:%s", shard, ymd), TD);
    raw_bucket(re, raw_key(re, "raw:s%u:D:%s:%s", shard, ymd, mo), TD);
    raw_bucket(re, raw_key(re, "raw:s%u:H:%s%s", shard, ymd, hh), TH);
    raw_bucket(re, raw_key(re, "raw:s%u:H:%s%s:%s", shard, ymd, hh, mo), TH);
    raw_bucket(re, raw_key(re, "raw:s%u:n:%s", shard, minute), TN);
    static const char *const board[3] = { "c", "k", "r" };
    const char *inc[3] = { re->nums[5], re->nums[6], "1" };
    for (int m = 0; m < 3; m++) {
        const char *t = raw_key(re, "raw:s%u:L%s:t", shard, board[m]);
        const char *mk = raw_key(re, "raw:s%u:L%s:M:%s", shard, board[m], ym);
        const char *dk = raw_key(re, "raw:s%u:L%s:D:%s", shard, board[m], ymd);
        raw_add(re, 4, "ZINCRBY", t, inc[m], k);
        raw_add(re, 4, "ZINCRBY", mk, inc[m], k);
        raw_add(re, 3, "EXPIRE", mk, TM, NULL);
        raw_add(re, 4, "ZINCRBY", dk, inc[m], k);
        raw_add(re, 3, "EXPIRE", dk, TD, NULL);
    }
    const char *idk = raw_key(re, "raw:k:%s:id:%s", k, e->request_id);
    rcmd *c = &re->cmds[re->ncmds++];
    *c = (rcmd){ { "SET", idk, "1", "NX" }, { 3, strlen(idk), 1, 2 }, 4 };
    raw_add(re, 3, "EXPIRE", idk, "86400", NULL);
}

static run bench_raw(redisContext *c, size_t n) {
    events e = make_events(n, 9, 0, 0);
    raw_event *re = xmalloc(DEPTH * sizeof *re);
    run r = { "raw commands pipelined 64, 1 conn", (double)n, 0, 0, 0, 0, 0, "batch of 64", -1, -1,
              -1, 0 };
    lat l = { 0 };
    double cpu0 = cpu_s(), srv0 = server_cpu(c);
    double t0 = now_s();
    size_t cmds = 0;
    for (size_t i = 0; i < n; i += DEPTH) {
        size_t m = n - i < DEPTH ? n - i : DEPTH;
        double s = now_s();
        /* the relay computes its bucket names per event, as tally does */
        time_t secs = time(NULL);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char ymd[48], ym[32], hh[16], minute[24];
        snprintf(ymd, sizeof ymd, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        snprintf(ym, sizeof ym, "%04d%02d", tm.tm_year + 1900, tm.tm_mon + 1);
        snprintf(hh, sizeof hh, "%02d", tm.tm_hour);
        snprintf(minute, sizeof minute, "%lld", (long long)secs / 60);
        size_t sent = 0;
        for (size_t k = 0; k < m; k++) {
            raw_build(&re[k], &e.ev[i + k], ymd, ym, hh, minute);
            for (int q = 0; q < re[k].ncmds; q++) {
                rcmd *rc = &re[k].cmds[q];
                if (redisAppendCommandArgv(c, rc->argc, rc->argv, rc->len) != REDIS_OK) die("append");
                sent++;
            }
        }
        for (size_t q = 0; q < sent; q++) {
            redisReply *rep;
            if (redisGetReply(c, (void **)&rep) != REDIS_OK) die("redis: %s", c->errstr);
            if (rep->type == REDIS_REPLY_ERROR) die("redis: %s", rep->str);
            freeReplyObject(rep);
        }
        cmds += sent;
        lat_add(&l, (now_s() - s) * 1e6);
    }
    r.secs = now_s() - t0;
    r.client_cpu_us = (cpu_s() - cpu0) * 1e6 / (double)n;
    r.server_cpu_us = (server_cpu(c) - srv0) * 1e6 / (double)n;
    r.cmds = (double)cmds / (double)n;
    finish(&r, &l);
    free(re);
    free_events(&e);
    return r;
}

/* -------------------------------------------------------------- allow */

typedef struct { const char *name; double rate, ratio; } allow_run;

static double bench_incr(redisContext *c, size_t n) {
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) freeReplyObject(cmd(c, "INCR bench:incr"));
    return (double)n / (now_s() - t0);
}

static void bench_allow(redisContext *c, size_t n, allow_run out[5]) {
    tally *t = open_handle();
    double incr = bench_incr(c, n);
    out[0] = (allow_run){ "INCR (1 conn, 1 at a time)", incr, 1 };
    for (int a = 0; a < 4; a++) {
        /* a limit never reached: every call is an allowed, writing call */
        tally_rule rule = { TALLY_COUNT_REQUESTS, a, 1000000000, 3600000, 0 };
        tally_decision d;
        double t0 = now_s();
        for (size_t i = 0; i < n; i++)
            if (tally_allow(t, "speed", &rule, 1, NULL, &d) != TALLY_OK || !d.allowed)
                die("allow: %s", tally_errmsg(t));
        double rate = (double)n / (now_s() - t0);
        out[1 + a] = (allow_run){ tally_algo_name(a), rate, rate / incr };
    }
    tally_close(t);
}

/* MEMORY USAGE of every key of one rule of one limited key after N calls. */
static long long usage_pattern(redisContext *c, const char *pattern) {
    redisReply *r = cmd(c, "KEYS %s", pattern); /* a private, nearly empty database */
    long long sum = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *u = cmd(c, "MEMORY USAGE %s SAMPLES 0", r->element[i]->str);
        sum += u->integer;
        freeReplyObject(u);
    }
    freeReplyObject(r);
    return sum;
}

static void allow_memory(redisContext *c, long long mem[4][4]) {
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
            snprintf(pat, sizeof pat, "bench:v1:{k:%s}:*", key);
            mem[a][e] = usage_pattern(c, pat);
        }
    tally_close(t);
}

/* ------------------------------------------------------------- memory */

enum { C_KT, C_KM, C_KD, C_KH, C_KI, C_AT, C_AM, C_AD, C_AH, C_SHARED, C_N };
static const char *const class_names[C_N] = {
    "key total {k}:t", "key month {k}:M", "key day {k}:D", "key hours {k}:H", "request ids {k}:i",
    "account total {a}:t", "account month {a}:M", "account day {a}:D", "account hours {a}:H",
    "shared {s}: model/global/minute/boards" };

typedef struct {
    int events_per_key;
    double used_delta, per_key, keys_per_key;
    long long bytes[C_N], count[C_N];
} mem_result;

static int classify(const char *k) {
    const char *b = strstr(k, ":v1:{");
    if (!b) return -1;
    char kind = b[5];
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
    case 'H': return base + 3;
    case 'i': return kind == 'k' ? C_KI : -1;
    }
    return -1;
}

static mem_result bench_memory(redisContext *c) {
    mem_result m = { 24, 0, 0, 0, { 0 }, { 0 } };
    flush(c);
    tally *t = open_handle();
    /* 24 events per key: one per hour of yesterday (UTC), models rotating */
    int64_t day_ms = 86400000, yesterday = ((int64_t)time(NULL) * 1000 / day_ms - 1) * day_ms;
    size_t n = (size_t)NKEYS * 24;
    events e = make_events(n, 0x77, 0, 0);
    for (size_t i = 0; i < n; i++) {
        size_t hour = i / NKEYS;
        e.ev[i].at_ms = yesterday + (int64_t)hour * 3600000 + 1800000 + (int64_t)(i % NKEYS);
        e.ev[i].model = models[(hour + i) % 3];
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
        redisReply *r = cmd(c, "SCAN %s COUNT 1000", cursor);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *ks = r->element[1];
        for (size_t i = 0; i < ks->elements; i++)
            redisAppendCommand(c, "MEMORY USAGE %s SAMPLES 0", ks->element[i]->str);
        for (size_t i = 0; i < ks->elements; i++) {
            redisReply *u;
            if (redisGetReply(c, (void **)&u) != REDIS_OK) die("redis: %s", c->errstr);
            int cl = classify(ks->element[i]->str);
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
    flush(c);
    return m;
}

/* ------------------------------------------------------------- output */

static void print_run_text(const run *r) {
    printf("%-34s %9.0f %9.0f %9.0f %9.0f  %-11s", r->name, r->rate, r->p50, r->p99, r->p999, r->lat_unit);
    if (r->client_cpu_us >= 0) printf(" %8.2f", r->client_cpu_us); else printf(" %8s", "-");
    if (r->server_cpu_us >= 0) printf(" %8.2f", r->server_cpu_us); else printf(" %8s", "-");
    printf("\n");
}

static void print_run_json(const run *r, int last) {
    printf("    {\"name\":\"%s\",\"events_per_s\":%.0f,\"latency_us\":{\"unit\":\"%s\",\"p50\":%.1f,"
           "\"p99\":%.1f,\"p999\":%.1f},\"client_cpu_us_per_event\":%.3f,"
           "\"server_cpu_us_per_event\":%.3f,\"libtally_allocs_per_event\":%.4f,"
           "\"commands_per_event\":%.1f}%s\n",
           r->name, r->rate, r->lat_unit, r->p50, r->p99, r->p999, r->client_cpu_us, r->server_cpu_us,
           r->allocs, r->cmds, last ? "" : ",");
}

/* Record throughput only: one connection synchronous, pipelined on 1 and 4
 * connections. Nothing is flushed, and on a cluster the server CPU column would
 * be one node's, so it is left out. */
static int record_throughput(redisContext *c, const char *where, double scale) {
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key_ids[i], sizeof key_ids[i], "key_%04d", i);
        snprintf(acct_ids[i], sizeof acct_ids[i], "acct_%04d", i);
    }
    run runs[3] = { bench_sync(c, (size_t)(4000 * scale)), bench_pipe(c, (size_t)(40000 * scale), 1),
                    bench_pipe(c, (size_t)(40000 * scale), 4) };
    printf("RECORD ONLY  %s\n", url.is_cluster ? "Redis Cluster" : "single server");
    printf("  %-32s %9s %9s %9s %9s\n", "run", "events/s", "p50 us", "p99 us", "cli us/ev");
    for (int i = 0; i < 3; i++)
        printf("  %-32s %9.0f %9.0f %9.0f %9.2f\n", runs[i].name, runs[i].rate, runs[i].p50, runs[i].p99,
               runs[i].client_cpu_us);
    (void)where;
    redisFree(c);
    return 0;
}

int main(int argc, char **argv) {
    int json = 0, record_only = 0;
    double scale = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--record-only") == 0) record_only = 1;
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) url_text = argv[++i];
        else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) scale = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: tally-bench [--url URL] [--json] [--scale F] [--record-only]\n"
                            "  needs an empty database; flushes it between phases\n"
                            "  --record-only: record throughput alone, no flush (works on a cluster)\n");
            return 2;
        }
    }
    if (!url_text) url_text = getenv("TALLY_TEST_URL");
    if (!url_text) url_text = getenv("TALLY_URL");
    if (!url_text) url_text = "redis://127.0.0.1:6379/0";
    if (scale <= 0 || scale > 100) die("--scale must be in (0, 100]");
    char err[256];
    if (tally__url_parse(url_text, &url, err, sizeof err) < 0) die("%s", err);
    redisContext *c = raw_connect();
    if (record_only) return record_throughput(c, url_text, scale);
    redisReply *r = cmd(c, "DBSIZE");
    if (r->integer != 0) die("the database is not empty (%lld keys); the bench flushes it", r->integer);
    freeReplyObject(r);
    r = cmd(c, "INFO server");
    char version[32] = "?";
    const char *v = strstr(r->str, "redis_version:");
    if (v) sscanf(v + 14, "%31[^\r\n]", version);
    freeReplyObject(r);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key_ids[i], sizeof key_ids[i], "key_%04d", i);
        snprintf(acct_ids[i], sizeof acct_ids[i], "acct_%04d", i);
    }
    size_t n_sync = (size_t)(8000 * scale), n_pipe = (size_t)(60000 * scale), n_allow = (size_t)(10000 * scale);
    if (!json) fprintf(stderr, "tally-bench: measuring (about a minute)...\n");

    run runs[4];
    runs[0] = bench_sync(c, n_sync);
    flush(c);
    runs[1] = bench_pipe(c, n_pipe, 1);
    flush(c);
    runs[2] = bench_pipe(c, n_pipe, 4);
    flush(c);
    runs[3] = bench_raw(c, n_pipe / 4);
    flush(c);
    allow_run al[5];
    bench_allow(c, n_allow, al);
    flush(c);
    long long amem[4][4];
    allow_memory(c, amem);
    mem_result mem = bench_memory(c);
    redisFree(c);

    double ratio = runs[1].rate / runs[3].rate;
    int t_rate = ratio >= 0.8, t_mem = mem.per_key <= 2048;
    int t_cpu = runs[1].client_cpu_us < 2.0, t_alloc = runs[1].allocs < 1.0 && runs[0].allocs == 0;
    const char *workload =
        "1000 API keys x 3 models x 1 account each; 24 events per key, one per hour of yesterday "
        "(UTC), models rotating; every dimension on; request ids 28 bytes";

    if (json) {
        printf("{\n  \"redis_version\":\"%s\",\n  \"runs\":[\n", version);
        for (int i = 0; i < 4; i++) print_run_json(&runs[i], i == 3);
        printf("  ],\n  \"tally_vs_raw\":%.3f,\n  \"allow\":[\n", ratio);
        for (int i = 0; i < 5; i++)
            printf("    {\"name\":\"%s\",\"decisions_per_s\":%.0f,\"of_incr\":%.3f}%s\n", al[i].name,
                   al[i].rate, al[i].ratio, i == 4 ? "" : ",");
        printf("  ],\n  \"allow_memory_bytes\":{");
        for (int a = 0; a < 4; a++)
            printf("%s\"%s\":[%lld,%lld,%lld,%lld]", a ? "," : "", tally_algo_name(a), amem[a][0], amem[a][1],
                   amem[a][2], amem[a][3]);
        printf("},\n  \"memory\":{\"workload\":\"%s\",\"used_memory_delta\":%.0f,"
               "\"bytes_per_api_key_per_day\":%.0f,\"keys_per_api_key_per_day\":%.2f,\"components\":[\n",
               workload, mem.used_delta, mem.per_key, mem.keys_per_key);
        for (int i = 0; i < C_N; i++)
            printf("    {\"type\":\"%s\",\"keys\":%lld,\"memory_usage_bytes\":%lld,\"per_api_key\":%.0f}%s\n",
                   class_names[i], mem.count[i], mem.bytes[i], (double)mem.bytes[i] / NKEYS,
                   i == C_N - 1 ? "" : ",");
        printf("  ]},\n  \"targets\":[\n");
        printf("    {\"target\":\"record events/s >= 0.8x raw\",\"measured\":%.2f,\"met\":%s},\n", ratio,
               t_rate ? "true" : "false");
        printf("    {\"target\":\"memory <= 2048 B per API key per day\",\"measured\":%.0f,\"met\":%s},\n",
               mem.per_key, t_mem ? "true" : "false");
        printf("    {\"target\":\"client CPU < 2 us per event\",\"measured\":%.2f,\"met\":%s},\n",
               runs[1].client_cpu_us, t_cpu ? "true" : "false");
        printf("    {\"target\":\"no libtally allocation per event\",\"measured\":%.4f,\"met\":%s}\n",
               runs[1].allocs, t_alloc ? "true" : "false");
        printf("  ]\n}\n");
        return 0;
    }
    printf("tally-bench  redis %s  %s\n\n", version, url.is_unix ? "unix socket" : "TCP loopback");
    printf("RECORD (every dimension on: key, model, account, request id)\n");
    printf("%-34s %9s %9s %9s %9s  %-11s %8s %8s\n", "run", "events/s", "p50 us", "p99 us", "p99.9 us",
           "latency of", "cli us/ev", "srv us/ev");
    for (int i = 0; i < 4; i++) print_run_text(&runs[i]);
    printf("raw baseline: %.0f commands per event (HINCRBY per metric per bucket, EXPIRE, ZINCRBY, SET NX)\n",
           runs[3].cmds);
    printf("tally / raw (pipelined, 1 conn): %.2fx\n", ratio);
    printf("libtally allocations per event: sync %.4f, pipelined %.4f (hiredis's aside)\n\n", runs[0].allocs,
           runs[1].allocs);
    printf("ALLOW (one rule, limit never reached; 1 conn, 1 call at a time)\n");
    for (int i = 0; i < 5; i++)
        printf("%-28s %9.0f decisions/s  %5.0f%% of INCR\n", al[i].name, al[i].rate, 100 * al[i].ratio);
    printf("memory per limited key and rule (MEMORY USAGE, limit 1e6/1h) after 1 / 10 / 100 / 1000 calls:\n");
    for (int a = 0; a < 4; a++)
        printf("  %-16s %7lld %7lld %7lld %7lld B\n", tally_algo_name(a), amem[a][0], amem[a][1], amem[a][2],
               amem[a][3]);
    printf("\nMEMORY  %s\n", workload);
    printf("used_memory delta %.0f B: %.0f B per API key per day, %.2f keys per API key per day\n", mem.used_delta,
           mem.per_key, mem.keys_per_key);
    printf("  %-40s %6s %10s %8s\n", "component (MEMORY USAGE)", "keys", "bytes", "B/API key");
    for (int i = 0; i < C_N; i++)
        printf("  %-40s %6lld %10lld %8.0f\n", class_names[i], mem.count[i], mem.bytes[i],
               (double)mem.bytes[i] / NKEYS);
    printf("\nTARGETS\n");
    printf("  record >= 0.8x raw baseline (atomic)      %6.2fx       %s\n", ratio, t_rate ? "met" : "NOT MET");
    printf("  memory <= 2048 B per API key per day      %6.0f B      %s\n", mem.per_key, t_mem ? "met" : "NOT MET");
    printf("  client CPU < 2 us per recorded event      %6.2f us     %s\n", runs[1].client_cpu_us,
           t_cpu ? "met" : "NOT MET");
    printf("  no libtally allocation per event          %6.4f/ev    %s\n", runs[1].allocs,
           t_alloc ? "met" : "NOT MET");
    return 0;
}
