/* common.c -- tally-bench's workload and helpers: events with a uniform or
 * Zipf(1.1) key distribution, clocks, the raw hiredis connection, INFO fields,
 * the longest script call in SLOWLOG. */
#define _GNU_SOURCE 1 /* RUSAGE_THREAD */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "common.h"

const char *const bench_models[NMODELS] = { "claude-3-5-sonnet-20241022", "claude-3-opus-20240229",
                                            "claude-3-5-haiku-20241022" };
char bench_key_ids[NKEYS][16], bench_acct_ids[NKEYS][16];
const char *bench_url_text;
tally_url bench_url;
const char *bench_limits_url_text;
tally_url bench_limits_url;
const char *const dist_names[2] = { "uniform", "zipf1.1" };

void bench_init(void) {
    for (int i = 0; i < NKEYS; i++) {
        snprintf(bench_key_ids[i], sizeof bench_key_ids[i], "key_%04d", i);
        snprintf(bench_acct_ids[i], sizeof bench_acct_ids[i], "acct_%04d", i);
    }
}

/* splitmix64: a small seeded generator, the same sequence on every run. */
static uint64_t next_random(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Rank 0..NKEYS-1 with P(r) proportional to 1 / (r + 1)^1.1. */
static size_t zipf_key(uint64_t *s) {
    static double cdf[NKEYS];
    if (cdf[NKEYS - 1] == 0) {
        double sum = 0;
        for (int r = 0; r < NKEYS; r++) cdf[r] = (sum += 1.0 / pow(r + 1, 1.1));
        for (int r = 0; r < NKEYS; r++) cdf[r] /= sum;
    }
    double u = (double)(next_random(s) >> 11) / 9007199254740992.0;
    size_t lo = 0, hi = NKEYS - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

events make_events(size_t n, int tag, int dist, int accounts) {
    events e = { xmalloc(n * sizeof *e.ev), xmalloc(n * 32), n };
    uint64_t seed = 0x7A11 + (uint64_t)dist;
    for (size_t i = 0; i < n; i++) {
        size_t k = dist == DIST_ZIPF ? zipf_key(&seed) : i % NKEYS;
        char *id = e.ids + i * 32;
        snprintf(id, 32, "req_%02x%022zx", tag & 0xff, i);
        e.ev[i] = (tally_event){
            .key = bench_key_ids[k], .model = bench_models[(i / NKEYS + k) % NMODELS],
            .account = bench_acct_ids[k % (size_t)accounts],
            .input_tokens = 800 + (int64_t)(i * 37 % 2000), .output_tokens = 150 + (int64_t)(i * 13 % 900),
            .cache_create_tokens = (i % 4) ? 0 : 2048, .cache_read_tokens = 6000 + (int64_t)(i % 5000),
            .cost_nanos = 4000000 + (int64_t)(i * 7919 % 30000000), .at_ms = 0, .request_id = id };
    }
    return e;
}

void free_events(events *e) {
    free(e->ev);
    free(e->ids);
}

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void wait_until(double t) {
    struct timespec ts = { (time_t)t, (long)((t - (double)(time_t)t) * 1e9) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

static double ru_s(int who) {
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

double cpu_s(void) { return ru_s(RUSAGE_SELF); }
double thread_cpu_s(void) { return ru_s(RUSAGE_THREAD); }

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("tally-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

void lat_add(lat *l, double us) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) die("out of memory");
    }
    l->v[l->n++] = us;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lat_pct(lat *l, double p) {
    if (!l->n) return 0;
    qsort(l->v, l->n, sizeof *l->v, cmp_double);
    return l->v[(size_t)(p * (double)(l->n - 1) + 0.5)];
}

redisContext *raw_connect(void) { return raw_connect_to(&bench_url); }

redisContext *raw_connect_to(const tally_url *u) {
    redisContext *c = u->is_unix ? redisConnectUnix(u->path) : redisConnect(u->host, u->port);
    if (!c || c->err) die("cannot connect to %s", u->is_unix ? u->path : u->host);
    redisReply *r = NULL;
    if (u->password[0])
        r = u->user[0] ? redisCommand(c, "AUTH %s %s", u->user, u->password) : redisCommand(c, "AUTH %s", u->password);
    if (r) freeReplyObject(r);
    if (!u->is_cluster) cmd_ok(c, "SELECT %d", u->db);
    return c;
}

static redisReply *vcmd(redisContext *c, const char *fmt, va_list ap) {
    redisReply *r = redisvCommand(c, fmt, ap);
    if (!r) die("redis: %s", c->errstr);
    if (r->type == REDIS_REPLY_ERROR) die("redis: %s", r->str);
    return r;
}

redisReply *bench_cmd(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, fmt, ap);
    va_end(ap);
    return r;
}

void cmd_ok(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    freeReplyObject(vcmd(c, fmt, ap));
    va_end(ap);
}

double info_field(redisContext *c, const char *section, const char *name) {
    redisReply *r = bench_cmd(c, "INFO %s", section);
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s:", name);
    const char *p = strstr(r->str, pat);
    double v = p ? strtod(p + strlen(pat), NULL) : -1;
    freeReplyObject(r);
    return v;
}

double server_cpu(redisContext *c) {
    return info_field(c, "cpu", "used_cpu_user") + info_field(c, "cpu", "used_cpu_sys");
}

double server_main_cpu(redisContext *c, int *main_thread) {
    redisReply *r = bench_cmd(c, "INFO cpu");
    static const char *const names[2][2] = { { "used_cpu_user_main_thread", "used_cpu_sys_main_thread" },
                                              { "used_cpu_user", "used_cpu_sys" } };
    double v = 0;
    for (int w = 0; w < 2; w++) {
        int found = 0;
        v = 0;
        for (int f = 0; f < 2; f++) {
            char pat[64];
            snprintf(pat, sizeof pat, "\n%s:", names[w][f]);
            const char *p = strstr(r->str, pat);
            if (p) found++, v += strtod(p + strlen(pat), NULL);
        }
        if (found == 2) {
            *main_thread = w == 0;
            break;
        }
    }
    freeReplyObject(r);
    return v;
}

double evalsha_calls(redisContext *c) {
    redisReply *r = bench_cmd(c, "INFO commandstats");
    const char *p = strstr(r->str, "\ncmdstat_evalsha:calls=");
    double v = p ? strtod(p + strlen("\ncmdstat_evalsha:calls="), NULL) : 0;
    freeReplyObject(r);
    return v;
}

void flush_db(redisContext *c) { cmd_ok(c, "FLUSHDB SYNC"); }

tally *open_handle_with(int64_t max_script_us, const char *limits_url) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = bench_url_text;
    cfg.limits_url = limits_url ? limits_url : "";
    cfg.prefix = "bench";
    if (max_script_us) cfg.max_script_us = max_script_us;
    tally *t;
    if (tally_open(&cfg, &t) != TALLY_OK) die("%s", tally_errmsg(t));
    return t;
}

tally *open_handle_bounded(int64_t max_script_us) { return open_handle_with(max_script_us, NULL); }

tally *open_handle(void) { return open_handle_bounded(0); }

void read_replies(redisContext *c, size_t n, const char *who) {
    for (size_t q = 0; q < n; q++) {
        redisReply *rep;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK) die("redis: %s", c->errstr);
        if (rep->type == REDIS_REPLY_ERROR) die("%s: %s", who, rep->str);
        freeReplyObject(rep);
    }
}

double slowlog_longest_ms(redisContext *c, double *over) {
    redisReply *r = bench_cmd(c, "SLOWLOG GET -1");
    double longest = -1;
    if (over) *over = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 || e->element[3]->type != REDIS_REPLY_ARRAY) continue;
        redisReply *argv = e->element[3];
        if (argv->elements < 1 || strncasecmp(argv->element[0]->str, "EVALSHA", 7) != 0) continue;
        double ms = (double)e->element[2]->integer / 1000;
        if (ms > longest) longest = ms;
        if (over && ms > BOUND_MS) ++*over;
    }
    freeReplyObject(r);
    return longest;
}
