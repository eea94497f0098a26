/* test_resource_limits.c -- redis: when the server cannot take a write.
 * maxmemory reached and keys of the wrong type in tally's place give a clear
 * error (TALLY_EREDIS, exit 4) for every writing call and leave no partial
 * write (DEBUG DIGEST); reads still work. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static void maxmemory_refuses_every_write(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_event e = { .key = "mm", .model = "m", .account = "a", .input_tokens = 1, .request_id = "mm-1" };
    tally_rule r = { 0, TALLY_ALGO_SLIDING_LOG, 5, 60000, 0 };
    tally_budget cap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1000 };
    tally_reservation rs = { "mm", NULL, "rs-1", 10, 0, 1000, NULL };
    freeReplyObject(th_cmd("CONFIG SET maxmemory-policy noeviction"));
    freeReplyObject(th_cmd("CONFIG SET maxmemory 1"));
    th_baseline();
    tally_decision d;
    tally_lease l;
    tally_budget_decision bd;
    tally_result res;
    int dup;
    struct {
        const char *what;
        int rc;
    } calls[] = {
        { "record", tally_record(t, &e, &dup) },
        { "record batch", (tally_record_batch(t, &e, 1, &res), res.code) },
        { "allow", tally_allow(t, "mm", &r, 1, NULL, &d) },
        { "lease acquire", tally_lease_acquire(t, "mm", 2, 1000, &l) },
        { "reserve", tally_reserve(t, &rs, &cap, 1, &bd) },
        { "settle", tally_settle(t, &e, &dup) },
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        if (calls[i].rc != TALLY_EREDIS) fail_msg("%s under maxmemory: %s", calls[i].what, tally_strerror(calls[i].rc));
        th_unchanged(calls[i].what);
    }
    assert_int_equal(tally_allow(t, "mm", &r, 1, NULL, &d), TALLY_EREDIS);
    th_assert_mentions(tally_errmsg(t), "OOM");
    th_assert_mentions(tally_errmsg(t), "maxmemory");
    assert_int_equal(d.allowed, 0);
    assert_int_equal(d.decided, TALLY_DECIDED_ERROR);
    assert_int_equal(tally_record(t, &e, &dup), TALLY_EREDIS);
    th_assert_mentions(tally_errmsg(t), "OOM");
    /* the tool says so too, with exit 4 */
    char *err;
    assert_int_equal(th_run((const char *const[]){ "record", "--missing-price-zero", "--key", "mm", "--model", "m",
                                                   "--url", th_url(), NULL },
                            NULL, NULL, &err), 4);
    th_assert_mentions(err, "OOM");
    free(err);
    /* reads still work */
    tally_bucket b;
    tally_period tot = { TALLY_TOTAL, 0, 0, 0, 0 };
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "seed", &tot, &b), TALLY_OK);
    assert_int_equal(b.requests, 1);
    th_unchanged("everything under maxmemory");
    freeReplyObject(th_cmd("CONFIG SET maxmemory 0"));
    assert_int_equal(tally_record(t, &e, &dup), TALLY_OK);
    assert_int_equal(dup, 0);
    tally_close(t);
}

static void wrong_type_keys(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    char account_day[64]; /* the account's only hash a record writes (UTC) */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(account_day, sizeof account_day, "tally:v3:{a:wt-acct}:D:%Y%m%d", &tm);
    struct {
        const char *key; /* made a string */
        const char *what;
    } foreign[] = {
        { "tally:v3:{k:wt}:t", "record" },       { account_day, "record" },
        { "tally:v3:{s:6}:t", "record" },
        { "tally:v3:{k:wt}:rl:r:log:60000", "allow" }, { "tally:v3:{k:wt}:rl:r:log:60000:s", "allow" },
        { "tally:v3:{k:wt}:ls", "lease" },       { "tally:v3:{k:wt}:B", "reserve" },
    };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        th_seed(NULL);
        freeReplyObject(th_cmd("SET %s foreign", foreign[i].key));
        th_baseline();
        int rc;
        const char *w = foreign[i].what;
        if (strcmp(w, "record") == 0) {
            /* key "wt" is in shard 6 of 8 (FNV-1a) */
            tally_event e = { .key = "wt", .model = "m", .account = "wt-acct", .input_tokens = 1, .cost_nanos = 1,
                              .request_id = "wt-1" };
            rc = tally_record(t, &e, NULL);
        } else if (strcmp(w, "allow") == 0) {
            tally_rule r = { 0, TALLY_ALGO_SLIDING_LOG, 5, 60000, 0 };
            tally_decision d;
            rc = tally_allow(t, "wt", &r, 1, NULL, &d);
            assert_int_equal(d.allowed, 0);
        } else if (strcmp(w, "lease") == 0) {
            tally_lease l;
            rc = tally_lease_acquire(t, "wt", 2, 1000, &l);
        } else {
            tally_budget cap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1000 };
            tally_reservation rs = { "wt", NULL, "rs-1", 10, 0, 1000, NULL };
            tally_budget_decision bd;
            rc = tally_reserve(t, &rs, &cap, 1, &bd);
        }
        if (rc != TALLY_EREDIS || !(th_mentions(tally_errmsg(t), "type") || th_mentions(tally_errmsg(t), "holds")))
            fail_msg("%s with %s a string: %s '%s'", w, foreign[i].key, tally_strerror(rc), tally_errmsg(t));
        th_unchanged(foreign[i].key);
    }
    tally_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(maxmemory_refuses_every_write, th_seed),
        cmocka_unit_test_setup(wrong_type_keys, th_seed),
    };
    int rc = cmocka_run_group_tests_name("resource_limits", tests, NULL, NULL);
    th_done();
    return rc;
}
