/* rec_util.h -- small helpers shared by the recording suites: events, periods
 * computed independently of the library (gmtime_r), bucket reads and checks.
 * Include after harness.h. */
#ifndef TALLY_REC_UTIL_H
#define TALLY_REC_UTIL_H

#include <stdio.h>
#include <stdlib.h>
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

/* One bucket of an API key in a period, as ru_key_fields_match collects it:
 * "<encoded id> <period suffix>" and its text. */
typedef struct {
    char *what, *value;
} ru_named;

static inline int ru_named_cmp(const void *x, const void *y) {
    const ru_named *a = x, *b = y;
    return strcmp(a->what, b->what);
}

static inline void ru_named_push(ru_named **v, size_t *n, const char *enc, size_t en, const char *rest,
                                 const char *value) {
    *v = realloc(*v, (*n + 1) * sizeof **v);
    assert_non_null(*v);
    size_t len = en + strlen(rest) + 2;
    char *what = malloc(len);
    assert_non_null(what);
    snprintf(what, len, "%.*s %s", (int)en, enc, rest);
    (*v)[*n].what = what;
    (*v)[*n].value = strdup(value);
    assert_non_null((*v)[(*n)++].value);
}

/* Adds the bucket text v ("r,i,o,cc,cr,cost") to sum[6]. */
static inline void ru_bucket_add(int64_t sum[6], const char *v) {
    long long p[6];
    if (sscanf(v, "%lld,%lld,%lld,%lld,%lld,%lld", &p[0], &p[1], &p[2], &p[3], &p[4], &p[5]) != 6)
        fail_msg("not a bucket: %s", v);
    for (int i = 0; i < 6; i++)
        if (__builtin_add_overflow(sum[i], (int64_t)p[i], &sum[i])) fail_msg("the m: fields' sum overflows");
}

/* The dataset under `prefix` on the servers nodes[0..n) (one, or a cluster's
 * primaries): no API key's total, month or day hash ({k:<id>}:t, :M:, :D:)
 * holds "_", every "k:<id>" field of a shard's hash of that period ({s:N}:t,
 * ...) equals the sum of the "m:" fields of the key's own hash, each key's
 * hash has exactly one such field, and no leaderboard ({s:N}:L...) exists.
 * Returns how many fields matched. */
static inline size_t ru_key_fields_match(redisContext *const *nodes, int n, const char *prefix) {
    ru_named *fields = NULL, *buckets = NULL;
    size_t nf = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        redisReply *keys = redisCommand(nodes[i], "KEYS %s:v3:*", prefix);
        assert_non_null(keys);
        assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
        for (size_t k = 0; k < keys->elements; k++) {
            const char *name = keys->element[k]->str, *tag = strstr(name, ":v3:{") + 5, *end = strchr(tag, '}');
            const char *rest = end + 2, *enc = tag + 2;
            int period = strcmp(rest, "t") == 0 || strncmp(rest, "M:", 2) == 0 || strncmp(rest, "D:", 2) == 0;
            if (tag[0] == 's' && rest[0] == 'L') fail_msg("a leaderboard exists: %s", name);
            if (!period || (tag[0] != 's' && tag[0] != 'k')) continue;
            redisReply *h = redisCommand(nodes[i], "HGETALL %s", name);
            assert_non_null(h);
            assert_int_equal(h->type, REDIS_REPLY_ARRAY);
            int64_t sum[6] = { 0 };
            int models = 0;
            for (size_t f = 0; f + 1 < h->elements; f += 2) {
                const char *field = h->element[f]->str, *value = h->element[f + 1]->str;
                if (tag[0] == 'k' && strcmp(field, "_") == 0) fail_msg("%s holds \"_\" (%s)", name, value);
                if (tag[0] == 'k' && strncmp(field, "m:", 2) == 0) ru_bucket_add(sum, value), models++;
                if (tag[0] == 's' && strncmp(field, "k:", 2) == 0) {
                    char id[1024];
                    size_t o = 0;
                    /* the id as a key name spells it (docs/keys.md: bytes but these become %XX) */
                    for (const unsigned char *c = (const unsigned char *)field + 2; *c && o + 4 < sizeof id; c++)
                        o += (size_t)(*c >= 0x80 || (*c && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                  "0123456789-_.@+=~/,", *c))
                                          ? snprintf(id + o, sizeof id - o, "%c", *c)
                                          : snprintf(id + o, sizeof id - o, "%%%02X", *c));
                    ru_named_push(&fields, &nf, id, o, rest, value);
                }
            }
            if (models) {
                char text[128];
                snprintf(text, sizeof text, "%lld,%lld,%lld,%lld,%lld,%lld", (long long)sum[0], (long long)sum[1],
                         (long long)sum[2], (long long)sum[3], (long long)sum[4], (long long)sum[5]);
                ru_named_push(&buckets, &nb, enc, (size_t)(end - enc), rest, text);
            }
            freeReplyObject(h);
        }
        freeReplyObject(keys);
    }
    if (nf) qsort(fields, nf, sizeof *fields, ru_named_cmp);
    if (nb) qsort(buckets, nb, sizeof *buckets, ru_named_cmp);
    for (size_t i = 0; i < nf || i < nb; i++) {
        if (i >= nf || i >= nb || strcmp(fields[i].what, buckets[i].what) != 0)
            fail_msg("the keys' fields in the shards' hashes (%zu) and the keys' buckets (%zu) differ at %zu: %s / %s",
                     nf, nb, i, i < nf ? fields[i].what : "-", i < nb ? buckets[i].what : "-");
        if (strcmp(fields[i].value, buckets[i].value) != 0)
            fail_msg("%s: the shard's field holds %s, the sum of the key's m: fields %s", fields[i].what, fields[i].value, buckets[i].value);
    }
    for (size_t i = 0; i < nf; i++) free(fields[i].what), free(fields[i].value);
    for (size_t i = 0; i < nb; i++) free(buckets[i].what), free(buckets[i].value);
    free(fields), free(buckets);
    return nf;
}

#endif
