/* test_record_safety.c -- redis: recording refuses bad events without writing
 * anything (DEBUG DIGEST of the whole dataset before and after), is never
 * half-applied when a key of the wrong type or an overflow stops it, skips only
 * the expired buckets of a late event, and keeps exact totals under concurrent
 * writers. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rec_util.h"

enum { K = TALLY_SCOPE_KEY, A = TALLY_SCOPE_ACCOUNT, M = TALLY_SCOPE_MODEL, G = TALLY_SCOPE_GLOBAL };

/* Records e expecting `code`, and checks the dataset did not change. */
static void refused_at(int line, tally *t, tally_event e, int code, const char *word) {
    char before[41], after[41];
    th_digest(before);
    int rc = tally_record(t, &e, NULL);
    th_digest(after);
    if (rc != code) fail_msg("line %d: tally_record gave %d (%s), expected %d", line, rc, tally_errmsg(t), code);
    if (word && !strstr(tally_errmsg(t), word))
        fail_msg("line %d: message '%s' does not name '%s'", line, tally_errmsg(t), word);
    if (strcmp(before, after) != 0) fail_msg("line %d: the dataset changed", line);
}
#define REFUSED(t, e, code, word) refused_at(__LINE__, t, e, code, word)

static void bad_events_write_nothing(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t now = ru_now_ms();
    RECORD(t, ru_event("k", "m", "a", 1, 1, 1, 1, 1, now - 60000, "r0")); /* a non-empty dataset */
    char id257[258];
    memset(id257, 'i', 257);
    id257[257] = '\0';
    tally_event good = ru_event("k", "m", "a", 1, 2, 3, 4, 5, now - 60000, "r1");
    tally_event e;
#define BAD(field, value, word) (e = good, e.field = value, REFUSED(t, e, TALLY_EINVAL, word))
    BAD(input_tokens, -1, "input tokens");
    BAD(output_tokens, -5, "output tokens");
    BAD(cache_create_tokens, TALLY_MAX_TOKENS + 1, "cache-create tokens");
    BAD(cache_read_tokens, INT64_MAX, "cache-read tokens");
    BAD(cost_nanos, TALLY_MAX_COST_NANOS + 1, "cost");
    BAD(cost_nanos, -1, "cost");
    BAD(key, "", "key");
    BAD(key, NULL, "key");
    BAD(model, "", "model");
    BAD(key, id257, "key");
    BAD(model, id257, "model");
    BAD(account, id257, "account");
    BAD(request_id, id257, "request id");
    BAD(key, "bad\xff", "key");
    BAD(model, "a\tb", "model");
    BAD(at_ms, now + 10 * 60000, "future"); /* past max_future_ms (5 min): refused by the script */
    BAD(at_ms, -1, "event time");
    BAD(at_ms, 253402300800000LL, "event time");
#undef BAD
    /* a smaller future allowance is honoured */
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.max_future_ms = 0;
    tally *strict = th_open(&cfg);
    e = good;
    e.at_ms = now + 120000;
    REFUSED(strict, e, TALLY_EINVAL, "future");
    tally_close(strict);
    /* the same bad events in a batch: refused one by one, the good one recorded */
    tally_event ev[4] = { good, good, good, good };
    ev[0].input_tokens = -1;
    ev[1].key = id257;
    ev[2].at_ms = now + 3600000;
    ev[3].request_id = "r2";
    tally_result res[4];
    assert_int_equal(tally_record_batch(t, ev, 4, res), TALLY_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(res[i].code, TALLY_EINVAL);
    assert_int_equal(res[3].code, TALLY_OK);
    assert_non_null(strstr(tally_errmsg(t), "event 1"));
    EXPECT_B(GET(t, K, "k", ru_total()), 2, 2, 3, 4, 5, 6);
    EXPECT_B(GET(t, G, NULL, ru_total()), 2, 2, 3, 4, 5, 6);
    tally_close(t);
}

/* A foreign key of the wrong type in place of any bucket or id hash: the
 * event is refused and nothing at all is written. */
static void wrong_type_key_leaves_nothing_behind(void **state) {
    (void)state;
    tally_config cfg = ru_config(0, 1); /* one shard: the shard keys are {s:0} */
    tally *t = th_open(&cfg);
    int64_t at = ru_now_ms() - 60000;
    tally_period d = ru_period_of(TALLY_DAY, at, 0);
    char ymd[40], ym[40];
    snprintf(ymd, sizeof ymd, "%04d%02d%02d", d.year, d.month, d.day);
    snprintf(ym, sizeof ym, "%04d%02d", d.year, d.month);
    int64_t slice = at / DAY_MS, minute = at / 60000;
    char keys[12][96];
    snprintf(keys[0], 96, "tally:v3:{k:k}:t");
    snprintf(keys[1], 96, "tally:v3:{k:k}:D:%s", ymd);
    snprintf(keys[2], 96, "tally:v3:{a:a}:D:%s", ymd);
    snprintf(keys[3], 96, "tally:v3:{s:0}:M:%s", ym); /* the account's month is its field there */
    snprintf(keys[4], 96, "tally:v3:{s:0}:t");
    snprintf(keys[5], 96, "tally:v3:{s:0}:D:%s", ymd);
    snprintf(keys[6], 96, "tally:v3:{s:0}:n:%lld", (long long)minute); /* the last hash */
    snprintf(keys[7], 96, "tally:v3:{s:0}:M:%s", ym);
    snprintf(keys[8], 96, "tally:v3:{s:0}:t"); /* and its total */
    snprintf(keys[9], 96, "tally:v3:{k:k}:i:%lld", (long long)slice);
    snprintf(keys[10], 96, "tally:v3:{k:k}:i:%lld", (long long)slice - 1);
    snprintf(keys[11], 96, "tally:v3:{k:k}:M:%s", ym);
    for (int i = 0; i < 12; i++) {
        freeReplyObject(th_cmd("FLUSHALL"));
        RECORD(t, ru_event("other", "m", "a", 1, 0, 0, 0, 1, at, "r"));
        freeReplyObject(th_cmd("DEL %s", keys[i])); /* some exist as hashes already */
        if (i == 9 || i == 10) freeReplyObject(th_cmd("RPUSH %s x", keys[i])); /* a list */
        else if (i == 7 || i == 8) freeReplyObject(th_cmd("SET %s x", keys[i]));
        else freeReplyObject(th_cmd("ZADD %s 1 x", keys[i])); /* a sorted set for a hash */
        assert_int_equal(th_int("EXISTS %s", keys[i]), 1);
        REFUSED(t, ru_event("k", "m", "a", 1, 2, 3, 4, 5, at, "r"), TALLY_EREDIS, "WRONGTYPE");
    }
    /* a hash field that is not a packed bucket is refused the same way */
    freeReplyObject(th_cmd("FLUSHALL"));
    freeReplyObject(th_cmd("HSET tally:v3:{s:0}:D:%s _ %s", ymd, "1,2,3"));
    REFUSED(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 0, at, NULL), TALLY_EREDIS, "not a bucket");
    freeReplyObject(th_cmd("HSET tally:v3:{s:0}:D:%s _ %s", ymd, "1,2,3,4,5,-6"));
    REFUSED(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 0, at, NULL), TALLY_EREDIS, "not a bucket");
    /* and the key's field in its shard's hash */
    freeReplyObject(th_cmd("FLUSHALL"));
    freeReplyObject(th_cmd("HSET tally:v3:{s:0}:t k:k %s", "1,2,3"));
    REFUSED(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 0, at, NULL), TALLY_EREDIS, "not a bucket");
    tally_close(t);
}

/* A sum that would pass 2^63-1 refuses the event before anything is written. */
static void overflow_is_refused(void **state) {
    (void)state;
    tally_config cfg = ru_config(0, 1);
    tally *t = th_open(&cfg);
    int64_t at = ru_now_ms() - 60000;
    tally_period d = ru_period_of(TALLY_DAY, at, 0);
    char ymd[40];
    snprintf(ymd, sizeof ymd, "%04d%02d%02d", d.year, d.month, d.day);
    RECORD(t, ru_event("k", "m", NULL, 1, 0, 0, 0, 0, at, NULL));
    /* requests at the maximum */
    freeReplyObject(th_cmd("HSET tally:v3:{k:k}:t m:m 9223372036854775807,0,0,0,0,0")); /* the key has no "_" */
    REFUSED(t, ru_event("k", "m", NULL, 0, 0, 0, 0, 0, at, NULL), TALLY_EINVAL, "2^63-1");
    /* cost one dollar short of the maximum, in a per-model field of a shard day */
    freeReplyObject(th_cmd("FLUSHALL"));
    freeReplyObject(th_cmd("HSET tally:v3:{s:0}:D:%s m:m 1,0,0,0,0,9223372035854775807", ymd));
    REFUSED(t, ru_event("k", "m", NULL, 0, 0, 0, 0, 1000000001, at, NULL), TALLY_EINVAL, "2^63-1");
    RECORD(t, ru_event("k", "m", NULL, 0, 0, 0, 0, 1000000000, at, NULL)); /* exactly 2^63-1 */
    redisReply *r = th_cmd("HGET tally:v3:{s:0}:D:%s m:m", ymd);
    assert_string_equal(r->str, "2,0,0,0,0,9223372036854775807");
    freeReplyObject(r);
    /* tokens near the maximum, crossing the split-decimal boundary of the script */
    freeReplyObject(th_cmd("FLUSHALL"));
    freeReplyObject(th_cmd("HSET tally:v3:{s:0}:t a:a 0,9223372036000000000,0,0,0,0"));
    REFUSED(t, ru_event("k", "m", "a", 854775808, 0, 0, 0, 0, at, NULL), TALLY_EINVAL, "2^63-1");
    RECORD(t, ru_event("k", "m", "a", 854775807, 0, 0, 0, 0, at, NULL));
    r = th_cmd("HGET tally:v3:{s:0}:t a:a");
    assert_string_equal(r->str, "1,9223372036854775807,0,0,0,0");
    freeReplyObject(r);
    /* a carry across the low 15 digits stays exact */
    freeReplyObject(th_cmd("FLUSHALL"));
    freeReplyObject(th_cmd("HSET tally:v3:{k:k}:t m:m 0,0,1999999999999999,0,0,0"));
    RECORD(t, ru_event("k", "m", NULL, 0, 1, 0, 0, 0, at, NULL));
    r = th_cmd("HGET tally:v3:{k:k}:t m:m");
    assert_string_equal(r->str, "1,0,2000000000000000,0,0,0");
    freeReplyObject(r);
    tally_close(t);
}

/* A late event skips its expired buckets (day, hour, minute, and the key's
 * field in its shard's day hash) and still counts in the month and the
 * totals. */
static void late_event_skips_expired_buckets(void **state) {
    (void)state;
    tally *t = th_open(NULL); /* default retention: day 32 d, hour 8 d, minute 2 h */
    int64_t at = ru_now_ms() - 40 * DAY_MS;
    RECORD(t, ru_event("k", "m", "a", 3, 0, 0, 0, 9, at, "late"));
    tally_period p[4] = { ru_total(), ru_period_of(TALLY_MONTH, at, 0), ru_period_of(TALLY_DAY, at, 0),
                          ru_period_of(TALLY_HOUR, at, 0) };
    for (int i = 0; i < 2; i++) {
        EXPECT_B(GET(t, K, "k", p[i]), 1, 3, 0, 0, 0, 9);
        EXPECT_B(GET(t, A, "a", p[i]), 1, 3, 0, 0, 0, 9);
        EXPECT_B(GET(t, M, "m", p[i]), 1, 3, 0, 0, 0, 9);
        EXPECT_B(GET(t, G, NULL, p[i]), 1, 3, 0, 0, 0, 9);
    }
    for (int i = 2; i < 4; i++) {
        EXPECT_ZERO(GET(t, K, "k", p[i]));
        EXPECT_ZERO(GET(t, G, NULL, p[i]));
    }
    tally_rank *r;
    size_t n;
    assert_int_equal(tally_top(t, TALLY_RANK_COST, &p[2], 10, &r, &n), TALLY_OK);
    assert_int_equal(n, 0);
    tally_top_free(r, n);
    assert_int_equal(tally_top(t, TALLY_RANK_COST, &p[1], 10, &r, &n), TALLY_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].value, 9);
    tally_top_free(r, n);
    /* nothing was left behind for the skipped buckets, not even an empty key */
    redisReply *keys = th_cmd("KEYS *:D:*");
    assert_int_equal(keys->elements, 0);
    freeReplyObject(keys);
    keys = th_cmd("KEYS *:[Hn]:*");
    assert_int_equal(keys->elements, 0);
    freeReplyObject(keys);
    tally_close(t);
}

/* ------------------------------------------------------------ concurrency */

enum { WORKERS = 8, PER_WORKER = 1250, NKEYS = 10, NMODELS = 3 };

static tally_event worker_event(int w, int j, char *rid, size_t cap) {
    static const char *const keys[NKEYS] = { "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9" };
    static const char *const models[NMODELS] = { "m0", "m1", "m2" };
    int i = w * PER_WORKER + j;
    snprintf(rid, cap, "w%d-%d", w, j);
    return ru_event(keys[i % NKEYS], models[i % NMODELS], i % 2 ? "odd" : "even", i % 7 + 1, 2, i % 3,
                    i % 5, (int64_t)(i % 11 + 1) * 1000003, 0, j % 2 ? NULL : rid);
}

/* One writer process: half its events one by one, half in batches. Exits 0
 * when every event was recorded (none a duplicate). */
static int worker(int w) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    tally *t = NULL;
    if (tally_open(&cfg, &t) != TALLY_OK) return 10;
    static char rids[PER_WORKER][32];
    static tally_event ev[PER_WORKER];
    static tally_result res[PER_WORKER];
    for (int j = 0; j < PER_WORKER; j++) ev[j] = worker_event(w, j, rids[j], sizeof rids[j]);
    int half = PER_WORKER / 2;
    for (int j = 0; j < half; j++) {
        int dup = -1;
        if (tally_record(t, &ev[j], &dup) != TALLY_OK || dup != 0) return 11;
    }
    for (int j = half; j < PER_WORKER; j += 125) {
        int n = PER_WORKER - j < 125 ? PER_WORKER - j : 125;
        if (tally_record_batch(t, &ev[j], (size_t)n, &res[j]) != TALLY_OK) return 12;
        for (int k = j; k < j + n; k++)
            if (res[k].code != TALLY_OK || res[k].duplicate) return 13;
    }
    tally_close(t);
    return 0;
}

static void concurrent_writers_keep_exact_totals(void **state) {
    (void)state;
    pid_t pids[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        th_assert_ge(pids[w], 0);
        if (pids[w] == 0) _exit(worker(w));
    }
    for (int w = 0; w < WORKERS; w++) th_reap(pids[w]);
    /* expected sums, from the same generator */
    tally_bucket key[NKEYS] = { { 0 } }, model[NMODELS] = { { 0 } }, all = { 0 }, acct[2] = { { 0 } };
    char rid[32];
    for (int w = 0; w < WORKERS; w++)
        for (int j = 0; j < PER_WORKER; j++) {
            tally_event e = worker_event(w, j, rid, sizeof rid);
            int i = w * PER_WORKER + j;
            ru_add(&key[i % NKEYS], &e);
            ru_add(&model[i % NMODELS], &e);
            ru_add(&all, &e);
            ru_add(&acct[i % 2], &e);
        }
    assert_int_equal(all.requests, WORKERS * PER_WORKER);
    tally *t = th_open(NULL);
    tally_period total = ru_total();
#define SAME(got, want) EXPECT_B(got, (want).requests, (want).input_tokens, (want).output_tokens, \
                                 (want).cache_create_tokens, (want).cache_read_tokens, (want).cost_nanos)
    char name[8];
    for (int k = 0; k < NKEYS; k++) {
        snprintf(name, sizeof name, "k%d", k);
        SAME(GET(t, K, name, total), key[k]);
    }
    for (int m = 0; m < NMODELS; m++) {
        snprintf(name, sizeof name, "m%d", m);
        SAME(GET(t, M, name, total), model[m]);
    }
    SAME(GET(t, G, NULL, total), all);
    SAME(GET(t, A, "even", total), acct[0]);
    SAME(GET(t, A, "odd", total), acct[1]);
    tally_bucket minutes;
    assert_int_equal(tally_metrics(t, TALLY_TTL_MINUTE_DEFAULT_S / 60, &minutes), TALLY_OK);
    assert_int_equal(minutes.requests, all.requests);
    assert_int_equal(minutes.cost_nanos, all.cost_nanos);
    /* the keys ranked: every key, values equal to its totals */
    const int by[3] = { TALLY_RANK_COST, TALLY_RANK_TOKENS, TALLY_RANK_REQUESTS };
    for (int b = 0; b < 3; b++) {
        tally_rank *r;
        size_t n;
        assert_int_equal(tally_top(t, by[b], &total, 100, &r, &n), TALLY_OK);
        assert_int_equal(n, NKEYS);
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            int k = r[i].key[1] - '0';
            int64_t want = b == 0 ? key[k].cost_nanos
                         : b == 1 ? key[k].input_tokens + key[k].output_tokens + key[k].cache_create_tokens +
                                        key[k].cache_read_tokens
                                  : key[k].requests;
            assert_int_equal(r[i].value, want);
            if (i) th_assert_ge(r[i - 1].value, r[i].value);
            sum += r[i].value;
        }
        int64_t want_sum = b == 0 ? all.cost_nanos
                         : b == 1 ? all.input_tokens + all.output_tokens + all.cache_create_tokens + all.cache_read_tokens
                                  : all.requests;
        assert_int_equal(sum, want_sum);
        tally_top_free(r, n);
    }
#undef SAME
    /* sending worker 0's events again: those with ids are duplicates, nothing
     * else changes for them */
    static tally_event ev[PER_WORKER];
    static tally_result res[PER_WORKER];
    static char rids[PER_WORKER][32];
    for (int j = 0; j < PER_WORKER; j++) ev[j] = worker_event(0, j, rids[j], sizeof rids[j]);
    for (int j = 0; j < PER_WORKER; j++) ev[j].request_id = j % 2 ? "" : ev[j].request_id;
    assert_int_equal(tally_record_batch(t, ev, PER_WORKER, res), TALLY_OK);
    for (int j = 0; j < PER_WORKER; j++) {
        assert_int_equal(res[j].code, TALLY_OK);
        assert_int_equal(res[j].duplicate, j % 2 ? 0 : 1);
    }
    assert_int_equal(GET(t, G, NULL, total).requests, WORKERS * PER_WORKER + PER_WORKER / 2);
    tally_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(bad_events_write_nothing, th_clean),
        cmocka_unit_test_setup(wrong_type_key_leaves_nothing_behind, th_clean),
        cmocka_unit_test_setup(overflow_is_refused, th_clean),
        cmocka_unit_test_setup(late_event_skips_expired_buckets, th_clean),
        cmocka_unit_test_setup(concurrent_writers_keep_exact_totals, th_clean),
    };
    int rc = cmocka_run_group_tests_name("record_safety", tests, NULL, NULL);
    th_done();
    return rc;
}
