/* test_cancel.c -- redis: cancelling a reservation (tally_cancel, tally
 * cancel). The estimate is given back without recording usage, by the key and
 * the account; a second cancel, a cancel after settle, after the lease ended or
 * of an id never reserved releases nothing and says so; bad input writes
 * nothing. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define USD 1000000000LL

static const tally_budget caps[2] = { { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1 * USD },
                                      { TALLY_SCOPE_ACCOUNT, TALLY_DAY, TALLY_BUDGET_COST, 1 * USD } };

static int reserve(tally *t, const char *key, const char *id, int64_t cost, int64_t lease_ms) {
    tally_reservation r = { key, "a", id, cost, 0, lease_ms, NULL };
    tally_budget_decision d;
    assert_int_equal(tally_reserve(t, &r, caps, 2, &d), TALLY_OK);
    return d.allowed;
}

/* The sums an entity ("k:<key>", "a:<account>") holds: "cost,tokens". */
static void held(const char *entity, char *out, size_t n) {
    redisReply *r = th_cmd("HGET tally:v3:{%s}:B =", entity);
    snprintf(out, n, "%s", r->type == REDIS_REPLY_STRING ? r->str : "none");
    freeReplyObject(r);
}

static void assert_held(const char *entity, const char *want) {
    char got[64];
    held(entity, got, sizeof got);
    if (strcmp(got, want) != 0) fail_msg("%s holds %s, not %s", entity, got, want);
}

/* Held, then cancelled: both entities give the estimate back, the caps have
 * their headroom again, and no usage is recorded; a second cancel releases
 * nothing. */
static void cancel_gives_back_without_usage(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    assert_true(reserve(t, "k", "r1", 700000000, 60000));
    assert_false(reserve(t, "k", "r2", 700000000, 60000)); /* 0.7 held + 0.7 > 1 */
    assert_held("k:k", "700000000,0");
    assert_held("a:a", "700000000,0");
    int released = -1;
    assert_int_equal(tally_cancel(t, "k", "a", "r1", &released), TALLY_OK);
    assert_int_equal(released, 1);
    assert_held("k:k", "0,0");
    assert_held("a:a", "0,0");
    assert_int_equal(th_int("HEXISTS tally:v3:{k:k}:B r:k\x1fr1"), 0);
    assert_int_equal(th_int("ZCARD tally:v3:{a:a}:Bx"), 0);
    assert_true(reserve(t, "k", "r2", 700000000, 60000)); /* the headroom is back */
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k", &total, &b), TALLY_OK);
    assert_int_equal(b.requests, 0); /* nothing recorded */
    char before[41], after[41];
    th_digest(before);
    released = -1;
    assert_int_equal(tally_cancel(t, "k", "a", "r1", &released), TALLY_OK);
    assert_int_equal(released, 0);
    th_digest(after);
    assert_string_equal(before, after);
    assert_held("k:k", "700000000,0"); /* r2 still held */
    tally_close(t);
}

/* After settle, nothing is left to cancel: the usage stays recorded. An id
 * never reserved releases nothing and writes nothing. */
static void cancel_after_settle_or_unknown(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    assert_true(reserve(t, "k", "r1", 500000000, 60000));
    tally_event e = { .key = "k", .model = "m", .account = "a", .cost_nanos = 200000000, .request_id = "r1" };
    assert_int_equal(tally_settle(t, &e, NULL), TALLY_OK);
    char before[41], after[41];
    th_digest(before);
    int released = -1;
    assert_int_equal(tally_cancel(t, "k", "a", "r1", &released), TALLY_OK);
    assert_int_equal(released, 0);
    released = -1;
    assert_int_equal(tally_cancel(t, "k", "a", "never", &released), TALLY_OK);
    assert_int_equal(released, 0);
    assert_int_equal(tally_cancel(t, "k2", NULL, "r1", NULL), TALLY_OK); /* ids belong to their key */
    th_digest(after);
    assert_string_equal(before, after);
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k", &total, &b), TALLY_OK);
    assert_int_equal(b.cost_nanos, 200000000);
    tally_close(t);
}

/* A lease that ended holds nothing: cancelling then releases nothing, and
 * clears the entry as reserve would (its amount leaves the sums once). The
 * key alone gives back the key's hold; the account's stays. */
static void cancel_after_the_lease_ended(void **state) {
    (void)state;
    int64_t now_us = (int64_t)time(NULL) * 1000000;
    tally *t = th_open_clock(now_us);
    assert_true(reserve(t, "k", "r1", 300000000, 1000));
    assert_true(reserve(t, "k", "r2", 200000000, 60000));
    assert_int_equal(tally_test_clock(t, now_us + 2000000), TALLY_OK); /* r1's lease ended */
    int released = -1;
    assert_int_equal(tally_cancel(t, "k", "a", "r1", &released), TALLY_OK);
    assert_int_equal(released, 0);
    assert_held("k:k", "200000000,0");
    assert_held("a:a", "200000000,0");
    released = -1;
    assert_int_equal(tally_cancel(t, "k", NULL, "r2", &released), TALLY_OK);
    assert_int_equal(released, 1);
    assert_held("k:k", "0,0");
    assert_held("a:a", "200000000,0"); /* not named: held until its lease ends */
    assert_int_equal(tally_cancel(t, "k", "a", "r2", &released), TALLY_OK);
    assert_int_equal(released, 1); /* the account's part */
    assert_held("a:a", "0,0");
    tally_close(t);
}

/* Bad ids are refused before anything is sent. */
static void bad_input_writes_nothing(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    assert_true(reserve(t, "k", "r1", 300000000, 60000));
    char before[41], after[41];
    th_digest(before);
    int released = -1;
    assert_int_equal(tally_cancel(t, NULL, "a", "r1", &released), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "key"));
    assert_int_equal(tally_cancel(t, "k", "a", "", &released), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "request id"));
    assert_int_equal(tally_cancel(t, "k", "a\x01", "r1", &released), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "account"));
    assert_int_equal(tally_cancel(t, "k", "a", "r1\x1f", &released), TALLY_EINVAL);
    assert_int_equal(released, -1);
    th_digest(after);
    assert_string_equal(before, after);
    tally_close(t);
}

/* The tool: text and --json, exit 0 whether or not something was held;
 * exit 2 for a missing --id. */
static void tool_cancel(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "reserve", "--key", "k", "--account", "a", "--id", "r1", "--budget", "cost:1/day",
                         "--budget", "account:cost:1/day", "--cost", "0.7", "--url", th_url()),
                     0);
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "cancel", "--key", "k", "--account", "a", "--id", "r1", "--url", th_url()), 0);
    assert_string_equal(out, "cancelled: the estimate is given back\n");
    free(out), free(err);
    assert_held("a:a", "0,0");
    assert_int_equal(
        RUN(&out, &err, "cancel", "--key", "k", "--account", "a", "--id", "r1", "--json", "--url", th_url()), 0);
    assert_string_equal(out, "{\"released\":false,\"status\":\"nothing held\"}\n");
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "cancel", "--key", "k", "--url", th_url()), 2);
    assert_non_null(strstr(err, "--id"));
    free(out), free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(cancel_gives_back_without_usage, th_clean),
        cmocka_unit_test_setup(cancel_after_settle_or_unknown, th_clean),
        cmocka_unit_test_setup(cancel_after_the_lease_ended, th_clean),
        cmocka_unit_test_setup(bad_input_writes_nothing, th_clean),
        cmocka_unit_test_setup(tool_cancel, th_clean),
    };
    int rc = cmocka_run_group_tests_name("cancel", tests, NULL, NULL);
    th_done();
    return rc;
}
