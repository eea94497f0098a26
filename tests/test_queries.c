/* test_queries.c -- redis: what the queries answer where their merge could go
 * wrong. Sums over the shards (and models, minutes, token counts) that pass
 * 2^63-1 are refused with TALLY_ERANGE, never misread as corrupt data, and
 * sums up to 2^63-1 are exact; top-N breaks ties by key id for every n;
 * tally_metrics reads no further back than minute buckets are kept. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rec_util.h"

/* The shard of the shared aggregates an API key feeds (docs/keys.md). */
static unsigned shard_of(const char *key, unsigned shards) {
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 16777619u;
    return h % shards;
}

static void expect_erange(tally *t, int rc, const char *sum) {
    if (rc != TALLY_ERANGE) fail_msg("code %d (%s), expected TALLY_ERANGE", rc, tally_errmsg(t));
    const char *msg = tally_errmsg(t);
    if (!strstr(msg, "sum overflows") || !strstr(msg, sum) || !strstr(msg, "2^63-1"))
        fail_msg("message '%s' does not name the overflowing %s", msg, sum);
}

/* Two keys in two shards, 5000 events of the largest cost each: every event is
 * accepted and each shard holds 5e18 nano-USD, below 2^63-1 (~9.22e18); the
 * merged global, model and minute sums (1e19) are not int64s. */
static void merged_sums_past_int64_are_erange(void **state) {
    (void)state;
    enum { EACH = 5000, BATCH = 500 };
    tally *t = th_open(NULL);
    const char *keys[2] = { "kA", NULL };
    static char other[16];
    for (int i = 0; !keys[1]; i++) {
        snprintf(other, sizeof other, "kB%d", i);
        if (shard_of(other, 8) != shard_of(keys[0], 8)) keys[1] = other;
    }
    int64_t at = ru_now_ms() - 60000;
    tally_event ev[BATCH];
    tally_result res[BATCH];
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < BATCH; i++)
            ev[i] = ru_event(keys[k], "m", NULL, 1000, 0, 0, 0, TALLY_MAX_COST_NANOS, at, NULL);
        for (int done = 0; done < EACH; done += BATCH) {
            assert_int_equal(tally_record_batch(t, ev, BATCH, res), TALLY_OK);
            for (int i = 0; i < BATCH; i++) assert_int_equal(res[i].code, TALLY_OK);
        }
    }
    tally_period total = ru_total();
    EXPECT_B(GET(t, TALLY_SCOPE_KEY, "kA", total), EACH, 1000 * EACH, 0, 0, 0, EACH * TALLY_MAX_COST_NANOS);
    tally_bucket b;
    expect_erange(t, tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &b), "cost");
    expect_erange(t, tally_stats(t, TALLY_SCOPE_MODEL, "m", &total, &b), "cost");
    tally_period today = ru_period_of(TALLY_DAY, at, 0);
    expect_erange(t, tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &today, &b), "cost");
    tally_point points[2];
    expect_erange(t, tally_trend(t, TALLY_SCOPE_GLOBAL, NULL, TALLY_DAY, 2, points), "cost");
    expect_erange(t, tally_metrics(t, 5, &b), "cost");
    tally_model_stats *m;
    size_t n;
    expect_erange(t, tally_models(t, NULL, &total, &m, &n), "cost");
    assert_null(m);
    assert_int_equal(tally_models(t, "kA", &total, &m, &n), TALLY_OK); /* one key: exact */
    assert_int_equal(n, 1);
    assert_int_equal(m[0].b.cost_nanos, EACH * TALLY_MAX_COST_NANOS);
    tally_models_free(m, n);
    tally_close(t);
    char *err;
    for (int i = 0; i < 3; i++) {
        const char *what = i == 0 ? "stats" : i == 1 ? "models" : "metrics";
        int code = i == 0 ? RUN(NULL, &err, what, "--url", th_url(), "--global")
                          : RUN(NULL, &err, what, "--url", th_url());
        if (code != 4 || !strstr(err, "sum overflows") || strstr(err, "not a tally bucket"))
            fail_msg("tally %s: exit %d: %s", what, code, err);
        free(err);
    }
}

/* An account's total and month are its a: fields summed over the shards'
 * hashes: exact up to 2^63-1, TALLY_ERANGE past it; before the accounts
 * marker's day they are incomplete, so a read reaching there is refused naming
 * the day (its days and hours, from its own day hashes, are not). */
static void account_total_and_month_sum_the_shards(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t now = ru_now_ms();
    tally_period total = ru_total(), month = ru_period_of(TALLY_MONTH, now, 0), day = ru_period_of(TALLY_DAY, now, 0);
    char ym[8];
    snprintf(ym, sizeof ym, "%04d%02d", month.year, month.month);
    freeReplyObject(th_cmd("HSET tally:v3:{s:0}:t a:acc 1,0,0,0,0,9223372036854775806"));
    freeReplyObject(th_cmd("HSET tally:v3:{s:5}:t a:acc 2,0,0,0,0,1"));
    freeReplyObject(th_cmd("HSET tally:v3:{s:3}:M:%s a:acc 1,0,0,0,0,9223372036854775806", ym));
    freeReplyObject(th_cmd("HSET tally:v3:{s:7}:M:%s a:acc 2,0,0,0,0,1", ym));
    EXPECT_B(GET(t, TALLY_SCOPE_ACCOUNT, "acc", total), 3, 0, 0, 0, 0, INT64_MAX);
    EXPECT_B(GET(t, TALLY_SCOPE_ACCOUNT, "acc", month), 3, 0, 0, 0, 0, INT64_MAX);
    freeReplyObject(th_cmd("HSET tally:v3:{s:6}:t a:acc 0,0,0,0,0,1"));
    tally_bucket b;
    expect_erange(t, tally_stats(t, TALLY_SCOPE_ACCOUNT, "acc", &total, &b), "cost");
    freeReplyObject(th_cmd("FLUSHALL"));
    RECORD(t, ru_event("k", "m", "acc", 1, 0, 0, 0, 5, now, NULL)); /* the prefix's first write: marker 0 */
    EXPECT_B(GET(t, TALLY_SCOPE_ACCOUNT, "acc", total), 1, 1, 0, 0, 0, 5);
    tally_close(t);
    freeReplyObject(th_cmd("SET tally:v3:{c:schema}:A 20991231"));
    t = th_open(NULL);
    int64_t first_day = ru_utc_ms(month.year, month.month, 1, 0, 0, 0, 0); /* a whole month: its month bucket */
    tally_range range, last_month = { ru_period_of(TALLY_DAY, first_day - 20 * DAY_MS, 0),
                                      ru_period_of(TALLY_DAY, first_day - 1, 0) };
    last_month.from.day = 1;
    tally_point point;
    for (int i = 0; i < 4; i++) {
        int rc = i == 0   ? tally_stats(t, TALLY_SCOPE_ACCOUNT, "acc", &total, &b)
                 : i == 1 ? tally_stats(t, TALLY_SCOPE_ACCOUNT, "acc", &month, &b)
                 : i == 2 ? tally_trend(t, TALLY_SCOPE_ACCOUNT, "acc", TALLY_MONTH, 1, &point)
                          : (range = last_month, tally_stats_range(t, TALLY_SCOPE_ACCOUNT, "acc", &range, &b));
        if (rc != TALLY_EINVAL || !strstr(tally_errmsg(t), "2099-12-31"))
            fail_msg("read %d: %d (%s), expected TALLY_EINVAL naming the day", i, rc, tally_errmsg(t));
    }
    EXPECT_B(GET(t, TALLY_SCOPE_ACCOUNT, "acc", day), 1, 1, 0, 0, 0, 5); /* its own day hash */
    range = (tally_range){ day, day };
    assert_int_equal(tally_stats_range(t, TALLY_SCOPE_ACCOUNT, "acc", &range, &b), TALLY_OK);
    assert_int_equal(b.cost_nanos, 5);
    tally_close(t);
    char *err;
    assert_int_equal(RUN(NULL, &err, "stats", "--url", th_url(), "--account", "acc"), 2);
    assert_non_null(strstr(err, "2099-12-31"));
    free(err);
}

/* Crafted shard buckets (the shape record.lua writes): a merge that reaches
 * exactly 2^63-1 is exact; one nano-USD more is TALLY_ERANGE; a single bucket
 * whose four token counts sum past 2^63-1 is TALLY_ERANGE on total tokens. */
static void merged_sums_up_to_int64_max_are_exact(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_period total = ru_total();
    freeReplyObject(th_cmd("HSET tally:v3:{s:0}:t _ 1,4611686018427387903,0,0,0,4611686018427387903"));
    freeReplyObject(th_cmd("HSET tally:v3:{s:5}:t _ 2,4611686018427387904,0,0,0,4611686018427387904"));
    EXPECT_B(GET(t, TALLY_SCOPE_GLOBAL, NULL, total), 3, INT64_MAX, 0, 0, 0, INT64_MAX);
    freeReplyObject(th_cmd("HSET tally:v3:{s:7}:t _ 0,0,0,0,0,1"));
    tally_bucket b;
    expect_erange(t, tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &b), "cost");
    /* a key's bucket is its field of its shard's hash (8 shards by default) */
    freeReplyObject(th_cmd("HSET tally:v3:{s:%u}:t k:big 1,9223372036854775807,1,0,0,0", shard_of("big", 8)));
    expect_erange(t, tally_stats(t, TALLY_SCOPE_KEY, "big", &total, &b), "total tokens");
    /* what is not a bucket still says so */
    freeReplyObject(th_cmd("HSET tally:v3:{s:%u}:t k:bad 1,2,3", shard_of("bad", 8)));
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "bad", &total, &b), TALLY_ESCRIPT);
    assert_non_null(strstr(tally_errmsg(t), "not a tally bucket"));
    tally_close(t);
}

/* Issue 10, item 7: 40 keys with 1, 2 or 3 requests (many ties, several tied
 * keys per shard): tally_top(n) is the first n rows of the full ranking for
 * every n, value first, then key id; and the tool's -n 2 is the head of -n 40. */
static void top_breaks_ties_by_key_for_every_n(void **state) {
    (void)state;
    enum { KEYS = 40 };
    tally *t = th_open(NULL);
    char names[KEYS][8];
    tally_event ev[2 * KEYS * 3];
    size_t m = 0;
    for (int k = 0; k < KEYS; k++) {
        snprintf(names[k], sizeof names[k], "k%02d", k);
        for (int r = 0; r <= k % 3; r++) ev[m++] = ru_event(names[k], "m", NULL, 1, 0, 0, 0, 0, TALLY_AT_NOW, NULL);
    }
    tally_result res[2 * KEYS * 3];
    assert_int_equal(tally_record_batch(t, ev, m, res), TALLY_OK);
    /* expected: 3 requests (k % 3 == 2) by key, then 2, then 1 */
    const char *want[KEYS];
    int64_t value[KEYS];
    size_t w = 0;
    for (int level = 2; level >= 0; level--)
        for (int k = 0; k < KEYS; k++)
            if (k % 3 == level) want[w] = names[k], value[w++] = level + 1;
    tally_period total = ru_total();
    for (size_t n = 1; n <= KEYS; n++) {
        tally_rank *r;
        size_t count;
        assert_int_equal(tally_top(t, TALLY_RANK_REQUESTS, &total, n, &r, &count), TALLY_OK);
        assert_int_equal(count, n);
        for (size_t i = 0; i < n; i++)
            if (strcmp(r[i].key, want[i]) != 0 || r[i].value != value[i])
                fail_msg("-n %zu: row %zu is %s (%lld), expected %s (%lld)", n, i + 1, r[i].key,
                         (long long)r[i].value, want[i], (long long)value[i]);
        tally_top_free(r, count);
    }
    tally_close(t);
    char *two, *forty;
    assert_int_equal(RUN(&two, NULL, "top", "--url", th_url(), "--by", "requests", "-n", "2"), 0);
    assert_int_equal(RUN(&forty, NULL, "top", "--url", th_url(), "--by", "requests", "-n", "40"), 0);
    if (strncmp(two, forty, strlen(two)) != 0) fail_msg("-n 2 printed\n%s\nnot the head of -n 40:\n%s", two, forty);
    assert_non_null(strstr(two, "k02"));
    assert_non_null(strstr(two, "k05"));
    free(two);
    free(forty);
}

/* read_from on one server: TALLY_READ_REPLICA is accepted and reads that
 * server with EVALSHA_RO (INFO commandstats counts them), answering what
 * TALLY_READ_PRIMARY answers; a read_from that is neither is refused; and
 * tally_wait_replicas there: no replica acknowledges, bad values refused. */
static void read_from_replica_on_one_server(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.read_from = 2;
    tally *bad = NULL;
    assert_int_equal(tally_open(&cfg, &bad), TALLY_EINVAL);
    assert_true(th_mentions(tally_errmsg(bad), "read_from"));
    tally_close(bad);
    tally *w = th_open(NULL);
    tally_event ev = ru_event("k1", "m", NULL, 5, 7, 0, 0, 300, TALLY_AT_NOW, NULL);
    assert_int_equal(tally_record(w, &ev, NULL), TALLY_OK);
    cfg.read_from = TALLY_READ_REPLICA;
    tally *r = th_open(&cfg);
    freeReplyObject(th_cmd("CONFIG RESETSTAT"));
    tally_period total = ru_total();
    tally_bucket by_primary, by_replica;
    assert_int_equal(tally_stats(r, TALLY_SCOPE_KEY, "k1", &total, &by_replica), TALLY_OK);
    redisReply *info = th_cmd("INFO commandstats");
    assert_true(th_mentions(info->str, "cmdstat_evalsha_ro:calls=1,"));
    freeReplyObject(info);
    assert_int_equal(tally_stats(w, TALLY_SCOPE_KEY, "k1", &total, &by_primary), TALLY_OK);
    assert_memory_equal(&by_replica, &by_primary, sizeof by_primary);
    assert_int_equal(by_replica.requests, 1);
    assert_int_equal(by_replica.cost_nanos, 300);
    /* WAIT on a server without replicas: none acknowledges within the time */
    int acked = -1;
    assert_int_equal(tally_wait_replicas(w, 1, 50, &acked), TALLY_ETIMEOUT);
    assert_int_equal(acked, 0);
    assert_true(th_mentions(tally_errmsg(w), "0 of 1 replicas"));
    assert_int_equal(tally_wait_replicas(w, 1, 5000, NULL), TALLY_EINVAL); /* not below the 5000 ms call timeout */
    assert_int_equal(tally_wait_replicas(w, 0, 50, NULL), TALLY_EINVAL);
    tally_close(r);
    tally_close(w);
}

/* tally_metrics reads only minutes that are still kept: a minute's buckets
 * expire ttl_minute_s after it ends, so more minutes than ttl_minute_s / 60 would
 * read expired minutes as zeros and divide by minutes that are gone. */
static void metrics_reads_only_minutes_that_are_kept(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t now_min = ru_now_ms() / 60000;
    tally_event ev = ru_event("k", "m", NULL, 1, 0, 0, 0, 5, (now_min - 118) * 60000 + 1, NULL);
    assert_int_equal(tally_record(t, &ev, NULL), TALLY_OK);
    tally_bucket b;
    assert_int_equal(tally_metrics(t, TALLY_TTL_MINUTE_DEFAULT_S / 60, &b), TALLY_OK);
    assert_int_equal(b.requests, 1); /* 119 minutes back: still kept */
    assert_int_equal(tally_metrics(t, TALLY_TTL_MINUTE_DEFAULT_S / 60 + 1, &b), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "minutes must be from 1 to 120: minute buckets are kept 7200 s"));
    tally_close(t);
    /* the bound follows the handle's retention, within 1..1440 */
    const struct { int64_t ttl_s; int most; } cases[] = { { 3 * 3600, 180 }, { 30, 1 }, { 90, 1 },
                                                          { 2 * 86400, TALLY_METRICS_MINUTES_MAX } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tally_config cfg;
        tally_config_init(&cfg);
        cfg.ttl_minute_s = cases[i].ttl_s;
        t = th_open(&cfg);
        assert_int_equal(tally_metrics(t, cases[i].most, &b), TALLY_OK);
        assert_int_equal(tally_metrics(t, cases[i].most + 1, &b), TALLY_EINVAL);
        tally_close(t);
    }
    /* the tool keeps the default retention */
    char *out, *err;
    assert_int_equal(RUN(&out, NULL, "metrics", "--url", th_url(), "--minutes", "120", "--json"), 0);
    assert_non_null(strstr(out, "\"requests\":1,"));
    free(out);
    assert_int_equal(RUN(NULL, &err, "metrics", "--url", th_url(), "--minutes", "180"), 2);
    assert_non_null(strstr(err, "--minutes '180' must be a whole number from 1 to 120"));
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(merged_sums_past_int64_are_erange, th_clean),
        cmocka_unit_test_setup(merged_sums_up_to_int64_max_are_exact, th_clean),
        cmocka_unit_test_setup(account_total_and_month_sum_the_shards, th_clean),
        cmocka_unit_test_setup(top_breaks_ties_by_key_for_every_n, th_clean),
        cmocka_unit_test_setup(read_from_replica_on_one_server, th_clean),
        cmocka_unit_test_setup(metrics_reads_only_minutes_that_are_kept, th_clean),
    };
    int rc = cmocka_run_group_tests_name("queries", tests, NULL, NULL);
    th_done();
    return rc;
}
