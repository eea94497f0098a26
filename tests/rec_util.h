/* rec_util.h -- small helpers shared by the recording suites: events, periods
 * computed independently of the library (gmtime_r), bucket reads and checks.
 * Include after harness.h. */
#ifndef TALLY_REC_UTIL_H
#define TALLY_REC_UTIL_H

#include <stdio.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL

static inline int64_t ru_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t ru_utc_ms(int y, int mo, int d, int h, int mi, int s, int ms) {
    struct tm tm = { 0 };
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static inline tally_period ru_total(void) { return (tally_period){ TALLY_TOTAL, 0, 0, 0, 0 }; }
static inline tally_period ru_month(int y, int m) { return (tally_period){ TALLY_MONTH, y, m, 0, 0 }; }
static inline tally_period ru_day(int y, int m, int d) { return (tally_period){ TALLY_DAY, y, m, d, 0 }; }
static inline tally_period ru_hour(int y, int m, int d, int h) { return (tally_period){ TALLY_HOUR, y, m, d, h }; }

/* The period of `kind` holding instant `at` seen at tz (minutes east). */
static inline tally_period ru_period_of(int kind, int64_t at, int tz) {
    time_t s = (time_t)((at + (int64_t)tz * 60000) / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    tally_period p = { kind, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour };
    if (kind == TALLY_TOTAL) p = ru_total();
    if (kind == TALLY_MONTH) p.day = p.hour = 0;
    if (kind == TALLY_DAY) p.hour = 0;
    return p;
}

static inline tally_event ru_event(const char *key, const char *model, const char *account, int64_t in,
                                   int64_t out, int64_t cc, int64_t cr, int64_t cost, int64_t at,
                                   const char *rid) {
    tally_event e = { key, model, account, in, out, cc, cr, cost, at, rid };
    return e;
}

/* Adds event e to the expected bucket b. */
static inline void ru_add(tally_bucket *b, const tally_event *e) {
    b->requests++;
    b->input_tokens += e->input_tokens;
    b->output_tokens += e->output_tokens;
    b->cache_create_tokens += e->cache_create_tokens;
    b->cache_read_tokens += e->cache_read_tokens;
    b->total_tokens += e->input_tokens + e->output_tokens + e->cache_create_tokens + e->cache_read_tokens;
    b->cost_nanos += e->cost_nanos;
}

/* Records one event; fails the test unless it is recorded (or, with want_dup,
 * reported duplicate). */
static inline void ru_record_at(int line, tally *t, tally_event e, int want_dup) {
    int dup = -1;
    int rc = tally_record(t, &e, &dup);
    if (rc != TALLY_OK) fail_msg("line %d: tally_record: %s", line, tally_errmsg(t));
    if (dup != want_dup) fail_msg("line %d: duplicate is %d, expected %d", line, dup, want_dup);
}
#define RECORD(t, e) ru_record_at(__LINE__, t, e, 0)
#define RECORD_DUP(t, e) ru_record_at(__LINE__, t, e, 1)

static inline tally_bucket ru_get_at(int line, tally *t, int scope, const char *id, tally_period p) {
    tally_bucket b;
    memset(&b, 0x55, sizeof b);
    if (tally_stats(t, scope, id, &p, &b) != TALLY_OK)
        fail_msg("line %d: tally_stats: %s", line, tally_errmsg(t));
    return b;
}
#define GET(t, scope, id, p) ru_get_at(__LINE__, t, scope, id, p)

static inline void ru_expect_at(int line, tally_bucket b, int64_t req, int64_t in, int64_t out, int64_t cc,
                                int64_t cr, int64_t cost) {
    if (b.requests != req || b.input_tokens != in || b.output_tokens != out || b.cache_create_tokens != cc ||
        b.cache_read_tokens != cr || b.cost_nanos != cost || b.total_tokens != in + out + cc + cr)
        fail_msg("line %d: bucket {%lld,%lld,%lld,%lld,%lld,total %lld,%lld} expected {%lld,%lld,%lld,%lld,%lld,%lld}",
                 line, (long long)b.requests, (long long)b.input_tokens, (long long)b.output_tokens,
                 (long long)b.cache_create_tokens, (long long)b.cache_read_tokens, (long long)b.total_tokens,
                 (long long)b.cost_nanos, (long long)req, (long long)in, (long long)out, (long long)cc,
                 (long long)cr, (long long)cost);
}
#define EXPECT_B(b, req, in, out, cc, cr, cost) ru_expect_at(__LINE__, b, req, in, out, cc, cr, cost)
#define EXPECT_ZERO(b) ru_expect_at(__LINE__, b, 0, 0, 0, 0, 0, 0)

/* A config on the test server with every retention long enough for fixed past
 * dates (ten years). */
static inline tally_config ru_config(int tz_min, int shards) {
    tally_config c;
    tally_config_init(&c);
    c.tz_offset_min = tz_min;
    c.shards = shards;
    c.ttl_hour_s = c.ttl_day_s = c.ttl_month_s = 3650LL * 86400;
    return c;
}

#endif
