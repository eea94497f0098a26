/* seed.c -- the seed-shaped baseline: the per-event commands of the Node.js
 * scenarios tally grew from (../shared/seed/), sent the way the seed sends them
 * (a non-atomic pipeline, no validation), 64 events per round trip; and for the
 * live rows (live.c) one event's commands as one pipeline, or in MULTI/EXEC:
 *
 *   HINCRBY usage:<key> totalRequests|totalInputTokens|totalOutputTokens
 *   HINCRBY usage:daily:<key>:<date> requests|inputTokens|outputTokens; EXPIRE 32 d
 *   HINCRBY usage:<key>:model:daily:<model>:<date> (the same three); EXPIRE 32 d
 *   HINCRBY usage:model:daily:<model>:<date> (the same three); EXPIRE 32 d
 *   INCRBYFLOAT cost:daily:<key>:<date> <USD>; EXPIRE 32 d
 *   INCRBYFLOAT cost:total:<key> <USD>
 *   ZINCRBY ranking:cost:total <USD> <key>
 *
 * 19 commands per event, and less recorded than tally records: no account, hour,
 * month, minute or global buckets, no cache tokens, no request ids, float money.
 * Written in C with hiredis (the seed is JavaScript), so the client side is the
 * strongest version of the seed's approach. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define DEPTH 64
#define PER_EVENT 19

typedef struct {
    char keys[7][160];
    char nums[4][32]; /* requests, input, output, USD */
    const char *argv[PER_EVENT][4];
    size_t len[PER_EVENT][4];
    int argc[PER_EVENT];
    int n;
} seed_event;

static void add(seed_event *s, int argc, const char *a0, const char *a1, const char *a2, const char *a3) {
    const char *a[4] = { a0, a1, a2, a3 };
    for (int i = 0; i < argc; i++) {
        s->argv[s->n][i] = a[i];
        s->len[s->n][i] = strlen(a[i]);
    }
    s->argc[s->n++] = argc;
}

static void hincr3(seed_event *s, const char *key, const char *const f[3]) {
    for (int m = 0; m < 3; m++) add(s, 4, "HINCRBY", key, f[m], s->nums[m]);
}

/* One event's commands, its key names formatted per event as the seed does. */
static void build(seed_event *s, const tally_event *e, const char *date) {
    static const char *const total_f[3] = { "totalRequests", "totalInputTokens", "totalOutputTokens" };
    static const char *const day_f[3] = { "requests", "inputTokens", "outputTokens" };
    static const char TTL[] = "2764800"; /* 86400 * 32 */
    s->n = 0;
    snprintf(s->nums[0], 32, "1");
    snprintf(s->nums[1], 32, "%lld", (long long)e->input_tokens);
    snprintf(s->nums[2], 32, "%lld", (long long)e->output_tokens);
    snprintf(s->nums[3], 32, "%.9f", (double)e->cost_nanos / 1e9);
    snprintf(s->keys[0], 160, "seed:usage:%s", e->key);
    snprintf(s->keys[1], 160, "seed:usage:daily:%s:%s", e->key, date);
    snprintf(s->keys[2], 160, "seed:usage:%s:model:daily:%s:%s", e->key, e->model, date);
    snprintf(s->keys[3], 160, "seed:usage:model:daily:%s:%s", e->model, date);
    snprintf(s->keys[4], 160, "seed:cost:daily:%s:%s", e->key, date);
    snprintf(s->keys[5], 160, "seed:cost:total:%s", e->key);
    snprintf(s->keys[6], 160, "seed:ranking:cost:total");
    hincr3(s, s->keys[0], total_f);
    for (int k = 1; k <= 3; k++) {
        hincr3(s, s->keys[k], day_f);
        add(s, 3, "EXPIRE", s->keys[k], TTL, NULL);
    }
    add(s, 3, "INCRBYFLOAT", s->keys[4], s->nums[3], NULL);
    add(s, 3, "EXPIRE", s->keys[4], TTL, NULL);
    add(s, 3, "INCRBYFLOAT", s->keys[5], s->nums[3], NULL);
    add(s, 4, "ZINCRBY", s->keys[6], s->nums[3], e->key);
}

/* Today's date (UTC), as the seed computes it per call. */
static void today(char date[32]) {
    time_t secs = time(NULL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(date, 32, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Appends the event's commands (built into s) to c's pipeline; returns how many. */
static size_t append_event(redisContext *c, seed_event *s, const tally_event *e, const char *date) {
    build(s, e, date);
    for (int q = 0; q < s->n; q++)
        if (redisAppendCommandArgv(c, s->argc[q], s->argv[q], s->len[q]) != REDIS_OK) die("out of memory");
    return (size_t)s->n;
}

void seed_send_event(redisContext *c, const tally_event *e, int multi) {
    seed_event s;
    char date[32];
    today(date);
    if (multi && redisAppendCommand(c, "MULTI") != REDIS_OK) die("out of memory");
    size_t sent = append_event(c, &s, e, date);
    if (multi && redisAppendCommand(c, "EXEC") != REDIS_OK) die("out of memory");
    read_replies(c, sent + (multi ? 2 : 0), "seed");
}

run bench_seed(redisContext *c, const events *e) {
    static seed_event batch[DEPTH];
    run r = { "seed-shaped, pipelined 64 events", 0, (double)e->n, 0, 0, 0, 0, "64 events", -1, -1, -1,
              PER_EVENT, -1, 0, 0 };
    lat l = { 0 };
    double cpu0 = cpu_s();
    meter mt = meter_start(c);
    for (size_t i = 0; i < e->n; i += DEPTH) {
        size_t m = e->n - i < DEPTH ? e->n - i : DEPTH;
        double s = now_s();
        char date[32];
        today(date);
        size_t sent = 0;
        for (size_t k = 0; k < m; k++) sent += append_event(c, &batch[k], &e->ev[i + k], date);
        read_replies(c, sent, "redis");
        lat_add(&l, (now_s() - s) * 1e6);
    }
    meter_stop(&mt, c, &r, &l);
    r.client_cpu_us = (cpu_s() - cpu0) * 1e6 / r.events;
    return r;
}
