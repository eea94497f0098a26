/* test_record.c -- redis: what tally_record / tally_record_batch write, read back
 * through the queries: every dimension and period, timezone edges, idempotency,
 * ids that differ only in bytes the key schema encodes, and expiry.
 * Refusals, atomicity and concurrency are in test_record_safety.c. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rec_util.h"

enum { K = TALLY_SCOPE_KEY, A = TALLY_SCOPE_ACCOUNT, M = TALLY_SCOPE_MODEL, G = TALLY_SCOPE_GLOBAL };

static void expect_top(tally *t, int by, tally_period p, size_t n, const char *const *keys,
                       const int64_t *values) {
    tally_rank *r;
    size_t count;
    assert_int_equal(tally_top(t, by, &p, 10, &r, &count), TALLY_OK);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r[i].key, keys[i]);
        assert_int_equal(r[i].value, values[i]);
    }
    tally_top_free(r, count);
}

static void every_dimension_and_period(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t at = ru_now_ms() - 10 * 60000; /* ten minutes ago: inside every retention */
    RECORD(t, ru_event("k1", "m1", "a1", 10, 20, 3, 4, 1500000000, at, NULL));
    RECORD(t, ru_event("k1", "m2", "a1", 1, 2, 0, 0, 250000000, at, "r1"));
    RECORD(t, ru_event("k2", "m1", NULL, 100, 0, 0, 0, 1, at, NULL));
    const int kinds[] = { TALLY_TOTAL, TALLY_MONTH, TALLY_DAY, TALLY_HOUR };
    for (int i = 0; i < 4; i++) {
        tally_period p = ru_period_of(kinds[i], at, 0);
        EXPECT_B(GET(t, K, "k1", p), 2, 11, 22, 3, 4, 1750000000);
        EXPECT_B(GET(t, K, "k2", p), 1, 100, 0, 0, 0, 1);
        EXPECT_B(GET(t, A, "a1", p), 2, 11, 22, 3, 4, 1750000000);
        EXPECT_B(GET(t, M, "m1", p), 2, 110, 20, 3, 4, 1500000001);
        EXPECT_B(GET(t, M, "m2", p), 1, 1, 2, 0, 0, 250000000);
        EXPECT_B(GET(t, G, NULL, p), 3, 111, 22, 3, 4, 1750000001);
        EXPECT_ZERO(GET(t, K, "k3", p));
        EXPECT_ZERO(GET(t, A, "k1", p)); /* an account is not a key of the same name */
        EXPECT_ZERO(GET(t, M, "m3", p));
    }
    /* per-model breakdown of a key and of all keys, most expensive first */
    for (int i = 0; i < 3; i++) {
        tally_period p = ru_period_of(kinds[i], at, 0);
        tally_model_stats *m;
        size_t n;
        assert_int_equal(tally_models(t, "k1", &p, &m, &n), TALLY_OK);
        assert_int_equal(n, 2);
        assert_string_equal(m[0].model, "m1");
        EXPECT_B(m[0].b, 1, 10, 20, 3, 4, 1500000000);
        assert_string_equal(m[1].model, "m2");
        EXPECT_B(m[1].b, 1, 1, 2, 0, 0, 250000000);
        tally_models_free(m, n);
        assert_int_equal(tally_models(t, NULL, &p, &m, &n), TALLY_OK);
        assert_int_equal(n, 2);
        assert_string_equal(m[0].model, "m1");
        EXPECT_B(m[0].b, 2, 110, 20, 3, 4, 1500000001);
        assert_string_equal(m[1].model, "m2");
        EXPECT_B(m[1].b, 1, 1, 2, 0, 0, 250000000);
        tally_models_free(m, n);
        /* the keys ranked (their fields in the shards' hashes) */
        expect_top(t, TALLY_RANK_COST, p, 2, (const char *[]){ "k1", "k2" }, (int64_t[]){ 1750000000, 1 });
        expect_top(t, TALLY_RANK_TOKENS, p, 2, (const char *[]){ "k2", "k1" }, (int64_t[]){ 100, 40 });
        expect_top(t, TALLY_RANK_REQUESTS, p, 2, (const char *[]){ "k1", "k2" }, (int64_t[]){ 2, 1 });
    }
    /* the system minute: the event's minute is in the last 15 minutes and not
     * in the last 5 */
    tally_bucket b;
    assert_int_equal(tally_metrics(t, 15, &b), TALLY_OK);
    EXPECT_B(b, 3, 111, 22, 3, 4, 1750000001);
    assert_int_equal(tally_metrics(t, 5, &b), TALLY_OK);
    EXPECT_ZERO(b);
    /* trends end at the current bucket; the event's bucket is among the last 2 */
    const int by[] = { TALLY_HOUR, TALLY_DAY, TALLY_MONTH };
    for (int i = 0; i < 3; i++) {
        tally_point pt[2];
        assert_int_equal(tally_trend(t, K, "k1", by[i], 2, pt), TALLY_OK);
        tally_period want = ru_period_of(by[i], at, 0);
        int hit = -1;
        for (int k = 0; k < 2; k++)
            if (memcmp(&pt[k].period, &want, sizeof want) == 0) hit = k;
        th_assert_ge(hit, 0);
        EXPECT_B(pt[hit].b, 2, 11, 22, 3, 4, 1750000000);
        if (hit == 0) EXPECT_ZERO(pt[1].b);
    }
    tally_close(t);
}

/* Two events a millisecond apart around a local midnight (or month end) land in
 * different hour, day and month buckets of that timezone. */
static void edge(int tz, int64_t boundary, tally_period before[3], tally_period after[3]) {
    tally_config cfg = ru_config(tz, 8);
    freeReplyObject(th_cmd("FLUSHALL")); /* before the open: a prefix keeps one timezone */
    tally *t = th_open(&cfg);
    RECORD(t, ru_event("k", "m", "a", 1, 0, 0, 0, 7, boundary - 1, NULL));
    RECORD(t, ru_event("k", "m", "a", 2, 0, 0, 0, 9, boundary, NULL));
    for (int i = 0; i < 3; i++) {
        if (memcmp(&before[i], &after[i], sizeof after[i]) == 0) { /* e.g. one month */
            EXPECT_B(GET(t, K, "k", before[i]), 2, 3, 0, 0, 0, 16);
            EXPECT_B(GET(t, A, "a", before[i]), 2, 3, 0, 0, 0, 16);
            EXPECT_B(GET(t, M, "m", before[i]), 2, 3, 0, 0, 0, 16);
            EXPECT_B(GET(t, G, NULL, before[i]), 2, 3, 0, 0, 0, 16);
            continue;
        }
        EXPECT_B(GET(t, K, "k", before[i]), 1, 1, 0, 0, 0, 7);
        EXPECT_B(GET(t, K, "k", after[i]), 1, 2, 0, 0, 0, 9);
        EXPECT_B(GET(t, A, "a", before[i]), 1, 1, 0, 0, 0, 7);
        EXPECT_B(GET(t, A, "a", after[i]), 1, 2, 0, 0, 0, 9);
        EXPECT_B(GET(t, M, "m", before[i]), 1, 1, 0, 0, 0, 7);
        EXPECT_B(GET(t, M, "m", after[i]), 1, 2, 0, 0, 0, 9);
        EXPECT_B(GET(t, G, NULL, before[i]), 1, 1, 0, 0, 0, 7);
        EXPECT_B(GET(t, G, NULL, after[i]), 1, 2, 0, 0, 0, 9);
        /* the same periods are independent oracles: ru_period_of agrees */
        tally_period pb = ru_period_of(before[i].kind, boundary - 1, tz);
        tally_period pa = ru_period_of(after[i].kind, boundary, tz);
        assert_memory_equal(&before[i], &pb, sizeof pb);
        assert_memory_equal(&after[i], &pa, sizeof pa);
    }
    EXPECT_B(GET(t, K, "k", ru_total()), 2, 3, 0, 0, 0, 16);
    tally_close(t);
}

static void timezone_edges_land_in_local_buckets(void **state) {
    (void)state;
    /* +08:00: 2026-01-01 00:00 local = 2025-12-31 16:00 UTC (a year end) */
    edge(480, ru_utc_ms(2025, 12, 31, 16, 0, 0, 0),
         (tally_period[]){ ru_hour(2025, 12, 31, 23), ru_day(2025, 12, 31), ru_month(2025, 12) },
         (tally_period[]){ ru_hour(2026, 1, 1, 0), ru_day(2026, 1, 1), ru_month(2026, 1) });
    /* -05:00: 2026-03-01 00:00 local = 05:00 UTC (end of a 28-day February) */
    edge(-300, ru_utc_ms(2026, 3, 1, 5, 0, 0, 0),
         (tally_period[]){ ru_hour(2026, 2, 28, 23), ru_day(2026, 2, 28), ru_month(2026, 2) },
         (tally_period[]){ ru_hour(2026, 3, 1, 0), ru_day(2026, 3, 1), ru_month(2026, 3) });
    /* +08:00 around a leap day: 2024-02-29 00:00 local */
    edge(480, ru_utc_ms(2024, 2, 28, 16, 0, 0, 0),
         (tally_period[]){ ru_hour(2024, 2, 28, 23), ru_day(2024, 2, 28), ru_month(2024, 2) },
         (tally_period[]){ ru_hour(2024, 2, 29, 0), ru_day(2024, 2, 29), ru_month(2024, 2) });
    /* -05:00: the end of 2024-02-29 local is 2024-03-01 05:00 UTC */
    edge(-300, ru_utc_ms(2024, 3, 1, 5, 0, 0, 0),
         (tally_period[]){ ru_hour(2024, 2, 29, 23), ru_day(2024, 2, 29), ru_month(2024, 2) },
         (tally_period[]){ ru_hour(2024, 3, 1, 0), ru_day(2024, 3, 1), ru_month(2024, 3) });
    /* +05:45 and -03:30: hours that start off the UTC hour */
    edge(345, ru_utc_ms(2026, 6, 30, 18, 15, 0, 0),
         (tally_period[]){ ru_hour(2026, 6, 30, 23), ru_day(2026, 6, 30), ru_month(2026, 6) },
         (tally_period[]){ ru_hour(2026, 7, 1, 0), ru_day(2026, 7, 1), ru_month(2026, 7) });
    edge(-210, ru_utc_ms(2026, 5, 5, 10, 30, 0, 0),
         (tally_period[]){ ru_hour(2026, 5, 5, 6), ru_day(2026, 5, 5), ru_month(2026, 5) },
         (tally_period[]){ ru_hour(2026, 5, 5, 7), ru_day(2026, 5, 5), ru_month(2026, 5) });
}

static void utc_day_is_not_local_day(void **state) {
    (void)state;
    /* 2026-06-10 02:00 UTC is still 2026-06-09 at -05:00 */
    int64_t at = ru_utc_ms(2026, 6, 10, 2, 0, 0, 0);
    tally_config cfg = ru_config(-300, 8);
    tally *t = th_open(&cfg);
    RECORD(t, ru_event("k", "m", NULL, 5, 0, 0, 0, 0, at, NULL));
    EXPECT_B(GET(t, K, "k", ru_day(2026, 6, 9)), 1, 5, 0, 0, 0, 0);
    EXPECT_ZERO(GET(t, K, "k", ru_day(2026, 6, 10)));
    EXPECT_B(GET(t, K, "k", ru_hour(2026, 6, 9, 21)), 1, 5, 0, 0, 0, 0);
    tally_close(t);
}

static void request_id_counts_once(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t at = ru_now_ms() - 60000;
    tally_event e = ru_event("k", "m", "a", 10, 1, 0, 0, 1000, at, "req-1");
    RECORD(t, e);
    char before[41], after[41];
    th_digest(before);
    RECORD_DUP(t, e);
    e.at_ms = TALLY_AT_NOW; /* a retry stamped "now" still finds the id */
    RECORD_DUP(t, e);
    th_digest(after);
    assert_string_equal(before, after); /* a duplicate writes nothing */
    EXPECT_B(GET(t, K, "k", ru_total()), 1, 10, 1, 0, 0, 1000);
    EXPECT_B(GET(t, G, NULL, ru_total()), 1, 10, 1, 0, 0, 1000);
    /* ids are scoped to their key; another id on the same key counts */
    RECORD(t, ru_event("k2", "m", NULL, 1, 0, 0, 0, 0, at, "req-1"));
    RECORD(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 0, at, "req-2"));
    /* without an id, the same event counts every time */
    RECORD(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 0, at, NULL));
    RECORD(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 0, at, ""));
    EXPECT_B(GET(t, K, "k", ru_total()), 4, 13, 1, 0, 0, 1000);
    EXPECT_B(GET(t, G, NULL, ru_total()), 5, 14, 1, 0, 0, 1000);
    tally_close(t);
}

/* Issue 20, item 2: two ids chosen so that their 64-bit FNV-1a fingerprints
 * (the id fields before 16-byte ones) are equal are two requests: each counts,
 * recorded one by one and in one batch. */
#define COLLIDING_A "2200A0CAAA0E0BA6"
#define COLLIDING_B "92R8L0DXOCXAOCG8"
static void chosen_colliding_ids_both_count(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t at = ru_now_ms() - 60000;
    RECORD(t, ru_event("k", "m", "a", 1, 0, 0, 0, 100, at, COLLIDING_A));
    RECORD(t, ru_event("k", "m", "a", 2, 0, 0, 0, 200, at, COLLIDING_B));
    RECORD_DUP(t, ru_event("k", "m", "a", 2, 0, 0, 0, 200, at, COLLIDING_B));
    EXPECT_B(GET(t, K, "k", ru_total()), 2, 3, 0, 0, 0, 300);
    EXPECT_B(GET(t, A, "a", ru_total()), 2, 3, 0, 0, 0, 300);
    EXPECT_B(GET(t, G, NULL, ru_total()), 2, 3, 0, 0, 0, 300);
    tally_event ev[2] = { ru_event("k2", "m", NULL, 1, 0, 0, 0, 100, at, COLLIDING_A),
                          ru_event("k2", "m", NULL, 2, 0, 0, 0, 200, at, COLLIDING_B) };
    tally_result res[2];
    assert_int_equal(tally_record_batch(t, ev, 2, res), TALLY_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(res[i].code, TALLY_OK);
        assert_int_equal(res[i].duplicate, 0);
    }
    EXPECT_B(GET(t, K, "k2", ru_total()), 2, 3, 0, 0, 0, 300);
    tally_close(t);
}

/* A batch holds back an event whose key and request id an earlier event of
 * the batch holds, until that one's fate is known. Pairs whose hash collide
 * are not the same pair: keys "5200A0CAAA0E0BA6" and ">2R8L0DXOCXAOCG8" (the
 * colliding ids above, first byte XOR 7: the single server's entity mask
 * starts the batch's FNV-1a hash) with one request id go in one call, not
 * one call each. */
static void a_hash_collision_does_not_hold_an_event_back(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t at = ru_now_ms() - 60000;
    tally_event ev[2] = { ru_event("5200A0CAAA0E0BA6", "m", NULL, 1, 0, 0, 0, 100, at, "r"),
                          ru_event(">2R8L0DXOCXAOCG8", "m", NULL, 2, 0, 0, 0, 200, at, "r") };
    tally_result res[2];
    long long before = th_evalsha_calls();
    assert_int_equal(tally_record_batch(t, ev, 2, res), TALLY_OK);
    assert_int_equal(th_evalsha_calls() - before, 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(res[i].code, TALLY_OK);
        assert_int_equal(res[i].duplicate, 0);
    }
    tally_close(t);
}

/* FNV-1a-64 of `id`, 8 bytes big-endian: the field tally wrote for an id
 * before 16-byte fingerprints (docs/keys.md), computed here apart. */
static void old_field(const char *id, unsigned char out[8]) {
    uint64_t h = 14695981039346656037ull;
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (int i = 7; i >= 0; i--, h >>= 8) out[i] = (unsigned char)h;
}

/* An id recorded by a tally that wrote 8-byte fields, in the event's slice
 * or the one before, is still a duplicate after the upgrade, and nothing new
 * is written for it; new ids get 16-byte fields only. */
static void ids_recorded_before_the_upgrade_stay_duplicates(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t at = ru_now_ms() - 60000, slice = at / DAY_MS;
    unsigned char f[8];
    old_field("old-1", f);
    freeReplyObject(th_cmd("HSET tally:v3:{k:k}:i:%lld %b 1", (long long)slice, f, sizeof f));
    old_field("old-2", f);
    freeReplyObject(th_cmd("HSET tally:v3:{k:k}:i:%lld %b 1", (long long)slice - 1, f, sizeof f));
    RECORD(t, ru_event("other", "m", NULL, 1, 0, 0, 0, 100, at, NULL)); /* the prefix's first write stores
                                                                           its schema parameters */
    char before[41], after[41];
    th_digest(before);
    RECORD_DUP(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 100, at, "old-1"));
    RECORD_DUP(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 100, at, "old-2"));
    th_digest(after);
    assert_string_equal(before, after);
    RECORD(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 100, at, "new-1"));
    EXPECT_B(GET(t, K, "k", ru_total()), 1, 1, 0, 0, 0, 100);
    redisReply *r = th_cmd("HKEYS tally:v3:{k:k}:i:%lld", (long long)slice);
    assert_int_equal(r->elements, 2);
    size_t lens = r->element[0]->len + r->element[1]->len;
    assert_int_equal(lens, 8 + 16); /* old-1's old field, new-1's new one */
    freeReplyObject(r);
    /* a hash created now is marked: it holds no 8-byte field to look for */
    RECORD(t, ru_event("k2", "m", NULL, 1, 0, 0, 0, 100, at, "new-2"));
    r = th_cmd("HKEYS tally:v3:{k:k2}:i:%lld", (long long)slice);
    assert_int_equal(r->elements, 2);
    assert_int_equal(r->element[0]->len + r->element[1]->len, 1 + 16);
    freeReplyObject(r);
    assert_int_equal(th_int("HEXISTS tally:v3:{k:k2}:i:%lld v", (long long)slice), 1);
    /* the next id of that key: one HMGET per id hash (the marked slice and the
     * one before, which does not exist), no EXISTS to tell an older tally's
     * hash from none */
    freeReplyObject(th_cmd("CONFIG RESETSTAT"));
    RECORD(t, ru_event("k2", "m", NULL, 1, 0, 0, 0, 100, at, "new-3"));
    assert_int_equal(th_int("EVAL %s 0", "local s = redis.call('INFO', 'commandstats') "
                                         "return tonumber(s:match('cmdstat_exists:calls=(%d+)') or 0)"),
                     0);
    tally_close(t);
}

static void batch_with_duplicate_inside(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t at = ru_now_ms() - 60000;
    tally_event ev[5] = {
        ru_event("k", "m", NULL, 1, 0, 0, 0, 10, at, "x"),
        ru_event("k", "m", NULL, 2, 0, 0, 0, 20, at, "y"),
        ru_event("k", "m", NULL, 4, 0, 0, 0, 40, at, "x"),  /* duplicate of [0] */
        ru_event("k", "m", NULL, 8, 0, 0, 0, 80, 0, NULL),
        ru_event("k", "m", NULL, 16, 0, 0, 0, 160, 0, "y"), /* duplicate of [1], "now" */
    };
    tally_result res[5];
    assert_int_equal(tally_record_batch(t, ev, 5, res), TALLY_OK);
    const int dup[5] = { 0, 0, 1, 0, 1 };
    for (int i = 0; i < 5; i++) {
        assert_int_equal(res[i].code, TALLY_OK);
        assert_int_equal(res[i].duplicate, dup[i]);
    }
    EXPECT_B(GET(t, K, "k", ru_total()), 3, 11, 0, 0, 0, 110);
    /* the whole batch again: every event with an id is a duplicate */
    assert_int_equal(tally_record_batch(t, ev, 5, res), TALLY_OK);
    for (int i = 0; i < 5; i++) assert_int_equal(res[i].duplicate, i == 3 ? 0 : 1);
    EXPECT_B(GET(t, K, "k", ru_total()), 4, 19, 0, 0, 0, 190);
    tally_close(t);
}

/* Each event of a batch carries its own message, the one tally_record gives
 * for that event alone: bad arguments, the script's refusal (a time too far in
 * the future) and Redis's error (a bucket key holding a string). */
static void batch_message_per_event(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    freeReplyObject(th_cmd("SET tally:v3:{k:wt}:t foreign"));
    int64_t now = ru_now_ms();
    tally_event ev[6] = {
        ru_event("k", "m", NULL, 1, 0, 0, 0, 0, now, "ok-1"),
        ru_event("k", "", NULL, 1, 0, 0, 0, 0, now, NULL),
        ru_event("k", "m", NULL, -1, 0, 0, 0, 0, now, NULL),
        ru_event("k", "m", NULL, 1, 0, 0, 0, 0, now + 3600000, NULL),
        ru_event("wt", "m", NULL, 1, 0, 0, 0, 0, now, NULL),
        ru_event("k", "m", NULL, 2, 0, 0, 0, 0, now, "ok-2"),
    };
    const int want[6] = { TALLY_OK, TALLY_EINVAL, TALLY_EINVAL, TALLY_EINVAL, TALLY_EREDIS, TALLY_OK };
    char alone[6][TALLY_RESULT_MESSAGE_MAX];
    for (int i = 1; i < 5; i++) {
        assert_int_equal(tally_record(t, &ev[i], NULL), want[i]);
        snprintf(alone[i], sizeof alone[i], "%s", tally_errmsg(t));
    }
    tally_result res[6];
    memset(res, 'x', sizeof res); /* every field is written */
    assert_int_equal(tally_record_batch(t, ev, 6, res), TALLY_OK);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(res[i].code, want[i]);
        assert_int_equal(res[i].duplicate, 0);
        if (want[i] == TALLY_OK) assert_string_equal(res[i].message, "");
        else assert_string_equal(res[i].message, alone[i]);
    }
    assert_non_null(strstr(res[3].message, "future"));
    assert_non_null(strstr(res[4].message, "WRONGTYPE"));
    /* the handle names the first failure */
    char first[TALLY_RESULT_MESSAGE_MAX + 16];
    snprintf(first, sizeof first, "event 2: %s", alone[1]);
    assert_string_equal(tally_errmsg(t), first);
    /* messages stay in the caller's array after later calls */
    assert_int_equal(tally_record(t, &ev[2], NULL), TALLY_EINVAL);
    assert_string_equal(res[1].message, alone[1]);
    EXPECT_B(GET(t, K, "k", ru_total()), 2, 3, 0, 0, 0, 0);
    tally_close(t);
}

static void late_import_retry_counts_once(void **state) {
    (void)state;
    /* A re-import of events from one to three days ago: the retry must find
     * the id, as it does for recent events ("remembered at least 24 h"). */
    tally *t = th_open(NULL);
    int64_t now = ru_now_ms();
    for (int h = 25; h <= 72; h += 1) {
        char rid[32];
        snprintf(rid, sizeof rid, "late-%d", h);
        tally_event e = ru_event("k", "m", NULL, 1, 0, 0, 0, 0, now - (int64_t)h * 3600000, rid);
        RECORD(t, e);
        RECORD_DUP(t, e);
    }
    EXPECT_B(GET(t, K, "k", ru_total()), 48, 48, 0, 0, 0, 0);
    tally_close(t);
}

static void encoded_ids_never_collide(void **state) {
    (void)state;
    static const char *const ids[] = {
        "a:b", "a%3Ab", "a%253Ab", "a{b}", "a%7Bb%7D", "a b", "a%20b", "a*b", "a?b", "a[b]",
        "a\\b", "ab", "AB", "a_b", "\xc3\xa9", "e\xcc\x81", "%C3%A9", "\xe6\xa8\xa1\xe5\x9e\x8b",
        "\xf0\x9f\x98\x80", "a}:{k:b", "a:v1:{k:b}", "m:x", "_", "t",
    };
    enum { N = sizeof ids / sizeof ids[0] };
    tally_config cfg = ru_config(0, 4);
    tally *t = th_open(&cfg);
    int64_t at = ru_now_ms() - 60000;
    for (int i = 0; i < N; i++)
        RECORD(t, ru_event(ids[i], ids[i], ids[i], i + 1, 0, 0, 0, 1000 * (i + 1), at, ids[i]));
    for (int i = 0; i < N; i++) {
        tally_period p = ru_period_of(TALLY_DAY, at, 0);
        EXPECT_B(GET(t, K, ids[i], ru_total()), 1, i + 1, 0, 0, 0, 1000 * (i + 1));
        EXPECT_B(GET(t, K, ids[i], p), 1, i + 1, 0, 0, 0, 1000 * (i + 1));
        EXPECT_B(GET(t, A, ids[i], ru_total()), 1, i + 1, 0, 0, 0, 1000 * (i + 1));
        EXPECT_B(GET(t, M, ids[i], ru_total()), 1, i + 1, 0, 0, 0, 1000 * (i + 1));
        tally_model_stats *m;
        size_t n;
        assert_int_equal(tally_models(t, ids[i], &p, &m, &n), TALLY_OK);
        assert_int_equal(n, 1);
        assert_string_equal(m[0].model, ids[i]);
        tally_models_free(m, n);
    }
    tally_rank *r;
    size_t count;
    tally_period total = ru_total();
    assert_int_equal(tally_top(t, TALLY_RANK_TOKENS, &total, 1000, &r, &count), TALLY_OK);
    assert_int_equal(count, N);
    for (size_t i = 0; i < count; i++) { /* ranked by tokens: the last id first */
        assert_string_equal(r[i].key, ids[N - 1 - i]);
        assert_int_equal(r[i].value, N - i);
    }
    tally_top_free(r, count);
    /* 3 entity kinds per id, and nothing outside the schema */
    redisReply *keys = th_cmd("KEYS *");
    for (size_t i = 0; i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        if (strncmp(k, "tally:v3:{", 10) != 0) fail_msg("key '%s' is outside the schema", k);
        const char *close = strchr(k + 10, '}');
        assert_non_null(close);
        assert_null(memchr(k + 12, ':', (size_t)(close - k - 12))); /* no raw ':' inside */
        assert_null(strpbrk(close + 1, "{}"));
    }
    freeReplyObject(keys);
    tally_close(t);
}

/* Every key the schema writes expires, except totals and the schema's keys. */
static void every_bucket_expires_but_totals(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t at = ru_now_ms() - 60000;
    RECORD(t, ru_event("k", "m", "a", 1, 2, 3, 4, 5, at, "r"));
    RECORD(t, ru_event("k2", "m2", NULL, 1, 0, 0, 0, 0, at - 3 * 3600000, "r"));
    int expiring = 0, lasting = 0;
    redisReply *r;
    char cursor[32] = "0";
    do { /* SCAN here in the test only: the library never scans */
        r = th_cmd("SCAN %s COUNT 100", cursor);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *k = r->element[1]->element[i]->str;
            size_t n = strlen(k);
            long long ttl = th_int("TTL %s", k);
            /* totals, the schema's parameters and its accounts' day never expire */
            int total = (n > 2 && strcmp(k + n - 2, ":t") == 0) || strncmp(k, "tally:v3:{c:schema}:", 20) == 0;
            if (total && ttl != -1) fail_msg("total %s has TTL %lld", k, ttl);
            if (!total && ttl <= 0) fail_msg("bucket %s has TTL %lld", k, ttl);
            total ? lasting++ : expiring++;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    /* totals: key k, k2, account a, shard(s) t; the schema's S and A */
    th_assert_ge(lasting, 3 + 1 + 2);
    th_assert_ge(expiring, 3 + 3 + 2 + 3); /* M D i of k and k2; M D of a; a shard's M D n */
    tally_close(t);
}

/* Expiry equals bucket end + retention, for every bucket of the event. */
static void expiry_is_bucket_end_plus_retention(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.shards = 1;
    tally *t = th_open(&cfg);
    /* yesterday 01:30 UTC, then 23:30 of the same day */
    int64_t day0 = (ru_now_ms() / DAY_MS - 1) * DAY_MS;
    int64_t early = day0 + 90 * 60000, late = day0 + 23 * 3600000LL + 30 * 60000;
    RECORD(t, ru_event("k", "m", "a", 1, 0, 0, 0, 0, early, NULL));
    RECORD(t, ru_event("k", "m", "a", 1, 0, 0, 0, 0, late, NULL));
    tally_period d = ru_period_of(TALLY_DAY, early, 0);
    char ymd[40], ym[40], key[128];
    snprintf(ymd, sizeof ymd, "%04d%02d%02d", d.year, d.month, d.day);
    snprintf(ym, sizeof ym, "%04d%02d", d.year, d.month);
    int64_t day_end = day0 / 1000 + 86400;
    int ny = d.month == 12 ? d.year + 1 : d.year, nm = d.month == 12 ? 1 : d.month + 1;
    int64_t month_end = ru_utc_ms(ny, nm, 1, 0, 0, 0, 0) / 1000;
    const char *const ents[] = { "k:k", "a:a", "s:0" };
    for (int i = 0; i < 3; i++) {
        /* the day's hash holds its hours 00..23 too (since schema v2): it lives
         * until the day's retention, past the latest hour's (hour end + 8 d) */
        snprintf(key, sizeof key, "tally:v3:{%s}:D:%s", ents[i], ymd);
        assert_int_equal(th_int("EXPIRETIME %s", key), day_end + 32 * 86400);
        assert_int_equal(th_int("HEXISTS %s 01", key), 1);
        assert_int_equal(th_int("HEXISTS %s 23", key), 1);
        snprintf(key, sizeof key, "tally:v3:{%s}:H:%s", ents[i], ymd);
        assert_int_equal(th_int("EXISTS %s", key), 0);
        snprintf(key, sizeof key, "tally:v3:{%s}:M:%s", ents[i], ym);
        if (i == 1) { /* an account's month and total are its fields in the shards' hashes */
            assert_int_equal(th_int("EXISTS %s", key), 0);
            assert_int_equal(th_int("EXISTS tally:v3:{a:a}:t"), 0);
            continue;
        }
        assert_int_equal(th_int("EXPIRETIME %s", key), month_end + 400 * 86400);
    }
    /* the key's fields in the shard's hashes live as those hashes (above) */
    snprintf(key, sizeof key, "tally:v3:{s:0}:D:%s", ymd);
    assert_int_equal(th_int("HEXISTS %s k:k", key), 1);
    snprintf(key, sizeof key, "tally:v3:{s:0}:M:%s", ym);
    assert_int_equal(th_int("HEXISTS %s k:k", key), 1);
    assert_int_equal(th_int("EXISTS tally:v3:{s:0}:Lc:D:%s", ymd), 0); /* no leaderboard */
    tally_close(t);
}

/* Since schema v2, tally keeps a day's hours in the day's hash; they go when the entity's
 * hash of a day that begins past their retention (8 d) is created, and stay
 * while that day's hash exists already. */
static void old_hours_go_when_a_later_day_begins(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.shards = 1;
    tally *t = th_open(&cfg);
    int64_t now = ru_now_ms() - 60000;
    tally_period old = ru_period_of(TALLY_DAY, now - 10 * DAY_MS, 0), keep = ru_period_of(TALLY_DAY, now - 8 * DAY_MS, 0);
    const char *const ents[] = { "k:k", "a:a", "s:0" };
    char key[3][96], kept[96];
    for (int i = 0; i < 3; i++) {
        snprintf(key[i], sizeof key[i], "tally:v3:{%s}:D:%04d%02d%02d", ents[i], old.year, old.month, old.day);
        freeReplyObject(th_cmd("HSET %s _ 1,0,0,0,0,0 05 1,0,0,0,0,0 05m:m 1,0,0,0,0,0", key[i]));
    }
    snprintf(kept, sizeof kept, "tally:v3:{k:k}:D:%04d%02d%02d", keep.year, keep.month, keep.day);
    freeReplyObject(th_cmd("HSET %s _ 1,0,0,0,0,0 07 1,0,0,0,0,0", kept));
    /* today's hash of another key exists already: its first event prunes nothing */
    RECORD(t, ru_event("k", "m", "a", 1, 0, 0, 0, 0, now, NULL));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(th_int("HEXISTS %s _", key[i]), 1); /* the day's own buckets stay */
        assert_int_equal(th_int("HEXISTS %s 05", key[i]), 0);
        assert_int_equal(th_int("HEXISTS %s 05m:m", key[i]), 0);
    }
    assert_int_equal(th_int("HEXISTS %s 07", kept), 1); /* 8 days: still inside the retention */
    freeReplyObject(th_cmd("HSET %s 05 1,0,0,0,0,0", key[0]));
    RECORD(t, ru_event("k", "m", "a", 1, 0, 0, 0, 0, now, NULL));
    assert_int_equal(th_int("HEXISTS %s 05", key[0]), 1); /* today's hash existed: nothing pruned */
    tally_close(t);
}

/* Issue 19 item 3: an API key's day hash holds no "_", so the call that
 * creates it writes its models' and hours' fields only; that creation still
 * prunes the key's old hours (record.lua takes a hash as created when none of
 * the fields it read existed). */
static void key_day_hash_without_its_own_field_prunes_old_hours(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.shards = 1;
    tally *t = th_open(&cfg);
    int64_t now = ru_now_ms() - 60000;
    tally_period old = ru_period_of(TALLY_DAY, now - 10 * DAY_MS, 0), today = ru_period_of(TALLY_DAY, now, 0);
    char key[96], fresh[96];
    snprintf(key, sizeof key, "tally:v3:{k:k}:D:%04d%02d%02d", old.year, old.month, old.day);
    snprintf(fresh, sizeof fresh, "tally:v3:{k:k}:D:%04d%02d%02d", today.year, today.month, today.day);
    freeReplyObject(th_cmd("HSET %s m:m 1,0,0,0,0,0 05 1,0,0,0,0,0", key));
    RECORD(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 0, now, NULL));
    assert_int_equal(th_int("HEXISTS %s 05", key), 0);   /* pruned */
    assert_int_equal(th_int("HEXISTS %s m:m", key), 1);  /* the day's own buckets stay */
    assert_int_equal(th_int("HEXISTS %s _", fresh), 0);  /* no derivable sum */
    assert_int_equal(th_int("HEXISTS %s m:m", fresh), 1);
    EXPECT_B(GET(t, TALLY_SCOPE_KEY, "k", today), 1, 1, 0, 0, 0, 0);
    tally_close(t);
}

/* A prefix holding a key-schema v1 dataset is refused at open, never misread;
 * the tool exits 2 and says why. */
static void schema_v1_dataset_is_refused(void **state) {
    (void)state;
    freeReplyObject(th_cmd("HSET tally:v1:{s:5}:t _ 3,1,1,0,0,7"));
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    tally *t = NULL;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "schema v1"));
    tally_close(t);
    char *out, *err;
    const char *const argv[] = { "stats", "--global", "--url", th_url(), NULL };
    assert_int_equal(th_run(argv, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "schema v1"));
    free(out), free(err);
    cfg.prefix = "other"; /* another prefix is another dataset */
    t = th_open(&cfg);
    tally_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(every_dimension_and_period, th_clean),
        cmocka_unit_test_setup(timezone_edges_land_in_local_buckets, th_clean),
        cmocka_unit_test_setup(utc_day_is_not_local_day, th_clean),
        cmocka_unit_test_setup(request_id_counts_once, th_clean),
        cmocka_unit_test_setup(chosen_colliding_ids_both_count, th_clean),
        cmocka_unit_test_setup(ids_recorded_before_the_upgrade_stay_duplicates, th_clean),
        cmocka_unit_test_setup(a_hash_collision_does_not_hold_an_event_back, th_clean),
        cmocka_unit_test_setup(batch_with_duplicate_inside, th_clean),
        cmocka_unit_test_setup(batch_message_per_event, th_clean),
        cmocka_unit_test_setup(late_import_retry_counts_once, th_clean),
        cmocka_unit_test_setup(encoded_ids_never_collide, th_clean),
        cmocka_unit_test_setup(every_bucket_expires_but_totals, th_clean),
        cmocka_unit_test_setup(expiry_is_bucket_end_plus_retention, th_clean),
        cmocka_unit_test_setup(old_hours_go_when_a_later_day_begins, th_clean),
        cmocka_unit_test_setup(key_day_hash_without_its_own_field_prunes_old_hours, th_clean),
        cmocka_unit_test_setup(schema_v1_dataset_is_refused, th_clean),
    };
    int rc = cmocka_run_group_tests_name("record", tests, NULL, NULL);
    th_done();
    return rc;
}
