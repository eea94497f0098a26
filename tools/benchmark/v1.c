/* v1.c -- the reference the issue measures against: record.lua as it was
 * before batches were merged on the host (tools/benchmark/record_v1.lua, a
 * frozen copy of lua/record.lua at commit 7662410, schema v1): one script call
 * per event with every key and field spelled out (~85 arguments), pipelined 64
 * events per round trip as tally_record_batch sent them, or one call at a time
 * as tally_record sends them. Single server only;
 * its keys live under their own prefix. Only here to measure Redis CPU per
 * event against it in the same run. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define DEPTH 64
#define MAXARG 96

typedef struct {
    char buf[4096];
    size_t used;
    const char *argv[MAXARG];
    size_t len[MAXARG];
    int argc;
} call;

static void arg(call *c, const void *p, size_t n) {
    char *at = c->buf + c->used;
    memcpy(at, p, n);
    c->used += n;
    c->argv[c->argc] = at;
    c->len[c->argc++] = n;
}

static void argf(call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argf(call *c, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    arg(c, tmp, (size_t)n);
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot read %s", path);
    char *s = xmalloc(1 << 16);
    *n = fread(s, 1, 1 << 16, f);
    fclose(f);
    return s;
}

/* The v1 call of one event at time `at` (UTC statistics, 8 shards). */
static void build(call *c, const char *sha, const tally_event *e, int64_t at) {
    time_t secs = (time_t)(at / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ym[32], ymd[48], hh[16];
    snprintf(ym, sizeof ym, "%04d%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    snprintf(ymd, sizeof ymd, "%s%02d", ym, tm.tm_mday);
    snprintf(hh, sizeof hh, "%02d", tm.tm_hour);
    int64_t day_end = (at / 86400000 + 1) * 86400, minute = at / 60000;
    struct tm next = { .tm_year = tm.tm_year + (tm.tm_mon == 11), .tm_mon = (tm.tm_mon + 1) % 12, .tm_mday = 1 };
    int64_t month_end = (int64_t)timegm(&next);
    char xm[24], xd[24], xh[24], xn[24];
    snprintf(xm, sizeof xm, "%lld", (long long)(month_end + 400 * 86400));
    snprintf(xd, sizeof xd, "%lld", (long long)(day_end + 32 * 86400));
    snprintf(xh, sizeof xh, "%lld", (long long)(day_end + 8 * 86400));
    snprintf(xn, sizeof xn, "%lld", (long long)((minute + 1) * 60 + 7200));
    uint32_t h32 = 2166136261u;
    for (const char *p = e->key; *p; p++) h32 = (h32 ^ (unsigned char)*p) * 16777619u;
    unsigned shard = h32 % 8;
    char k[64], a[64], s[64];
    snprintf(k, sizeof k, "benchv1:v1:{k:%s}:", e->key);
    snprintf(a, sizeof a, "benchv1:v1:{a:%s}:", e->account);
    snprintf(s, sizeof s, "benchv1:v1:{s:%u}:", shard);
    c->used = 0;
    c->argc = 0;
    arg(c, "EVALSHA", 7);
    arg(c, sha, 40);
    argf(c, "%d", 13 + 9 + 2);
    const char *ents[3] = { k, a, s };
    for (int i = 0; i < 3; i++) {
        argf(c, "%st", ents[i]);
        argf(c, "%sM:%s", ents[i], ym);
        argf(c, "%sD:%s", ents[i], ymd);
        argf(c, "%sH:%s", ents[i], ymd);
    }
    argf(c, "%sn:%lld", s, (long long)minute);
    static const char *const boards[3] = { "Lc", "Lk", "Lr" };
    for (int b = 0; b < 3; b++) {
        argf(c, "%s%s:t", s, boards[b]);
        argf(c, "%s%s:M:%s", s, boards[b], ym);
        argf(c, "%s%s:D:%s", s, boards[b], ymd);
    }
    int64_t slice = at / 86400000;
    argf(c, "%si:%lld", k, (long long)slice);
    argf(c, "%si:%lld", k, (long long)slice - 1);
    argf(c, "%lld", (long long)at);
    arg(c, "300000", 6);
    argf(c, "%lld", (long long)e->input_tokens);
    argf(c, "%lld", (long long)e->output_tokens);
    argf(c, "%lld", (long long)e->cache_create_tokens);
    argf(c, "%lld", (long long)e->cache_read_tokens);
    argf(c, "%lld", (long long)e->cost_nanos);
    arg(c, "13", 2);
    arg(c, "9", 1);
    uint64_t h = 14695981039346656037ull;
    for (const char *p = e->request_id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    unsigned char fp[8];
    for (int i = 7; i >= 0; i--, h >>= 8) fp[i] = (unsigned char)h;
    arg(c, fp, 8);
    argf(c, "%lld", (long long)(day_end + 86400));
    arg(c, "0", 1);
    arg(c, "", 0);
    for (int i = 0; i < 3; i++) {
        const char *x[4] = { "0", xm, xd, xh };
        for (int p = 0; p < 4; p++) {
            arg(c, x[p], strlen(x[p]));
            int models = i != 1 && p < 3, hourly_models = i == 2 && p == 3;
            argf(c, "%d", 1 + models + hourly_models);
            if (p < 3) arg(c, "_", 1);
            else arg(c, hh, 2);
            if (models) argf(c, "m:%s", e->model);
            if (hourly_models) argf(c, "%sm:%s", hh, e->model);
        }
    }
    arg(c, xn, strlen(xn));
    arg(c, "1", 1);
    arg(c, "_", 1);
    arg(c, e->key, strlen(e->key));
    arg(c, xm, strlen(xm));
    arg(c, xd, strlen(xd));
}

run bench_v1(redisContext *c, const events *e, size_t depth) {
    size_t n;
    char *src = read_file(BENCH_SRC_DIR "/record_v1.lua", &n);
    redisReply *r = redisCommand(c, "SCRIPT LOAD %b", src, n);
    if (!r || r->type != REDIS_REPLY_STRING) die("loading record_v1.lua failed");
    char sha[41];
    snprintf(sha, sizeof sha, "%s", r->str);
    freeReplyObject(r);
    free(src);
    static call calls[DEPTH];
    /* as tally_record's and tally_record_batch's rows: the first event is
     * recorded before the clock starts, the rest are measured */
    run out = { depth == 1 ? "record.lua v1, 1 call in flight" : "record.lua v1, 1 event per call", 0,
                (double)e->n - 1, 0, 0, 0, 0, depth == 1 ? "1 call" : "64 events", -1, -1, -1, -1, -1, 0, 0 };
    lat l = { 0 };
    if (depth < 1 || depth > DEPTH) depth = DEPTH;
    build(&calls[0], sha, &e->ev[0], (int64_t)time(NULL) * 1000);
    if (redisAppendCommandArgv(c, calls[0].argc, calls[0].argv, calls[0].len) != REDIS_OK) die("out of memory");
    read_replies(c, 1, "record_v1.lua");
    double cpu0 = cpu_s();
    meter mt = meter_start(c);
    for (size_t i = 1; i < e->n; i += depth) {
        size_t m = e->n - i < depth ? e->n - i : depth;
        double s = now_s();
        int64_t at = (int64_t)time(NULL) * 1000;
        for (size_t k = 0; k < m; k++) {
            build(&calls[k], sha, &e->ev[i + k], at);
            if (redisAppendCommandArgv(c, calls[k].argc, calls[k].argv, calls[k].len) != REDIS_OK) die("out of memory");
        }
        read_replies(c, m, "record_v1.lua");
        lat_add(&l, (now_s() - s) * 1e6);
    }
    meter_stop(&mt, c, &out, &l);
    out.client_cpu_us = (cpu_s() - cpu0) * 1e6 / out.events;
    return out;
}
