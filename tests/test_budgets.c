/* test_budgets.c -- redis: budgets. Reserve checks every cap and reserves all
 * or nothing; settle records the actual usage and gives the estimate back;
 * leases end on their own, exactly once; concurrent reservations never pass a
 * cap; the tool's reserve and settle; a request id belongs to its key (keys of
 * one account that reuse an id hold, settle and expire apart); an id that holds
 * a reservation refuses another estimate (a conflict). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "json_read.h"

#define USD 1000000000LL

static tally_budget cap_day(int scope, int64_t usd_nanos) {
    return (tally_budget){ scope, TALLY_DAY, TALLY_BUDGET_COST, usd_nanos };
}

static tally_budget_decision reserve(tally *t, const char *key, const char *account, const char *id,
                                     int64_t cost, const tally_budget *caps, int n) {
    tally_reservation r = { key, account, id, cost, 0, 60000, NULL };
    tally_budget_decision d;
    assert_int_equal(tally_reserve(t, &r, caps, n, &d), TALLY_OK);
    return d;
}

/* The sums an entity ("k:<key>", "a:<account>", encoded) holds in
 * reservations: "cost,tokens". */
static void held(const char *entity, char *out, size_t n) {
    redisReply *r = th_cmd("HGET tally:v3:{%s}:B =", entity);
    snprintf(out, n, "%s", r->type == REDIS_REPLY_STRING ? r->str : "none");
    freeReplyObject(r);
}

static int64_t spent_today(tally *t, int scope, const char *id) {
    tally_period p;
    tally_bucket b;
    assert_int_equal(tally_period_parse(t, "today", &p), TALLY_OK);
    assert_int_equal(tally_stats(t, scope, id, &p, &b), TALLY_OK);
    return b.cost_nanos;
}

static int64_t cost_today(tally *t, const char *key) { return spent_today(t, TALLY_SCOPE_KEY, key); }

static void settle_gives_back_the_estimate(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_budget cap = cap_day(TALLY_SCOPE_KEY, 1 * USD);
    tally_budget_decision d = reserve(t, "k1", NULL, "r1", 600000000, &cap, 1);
    assert_true(d.allowed);
    assert_int_equal(d.remaining[0], 400000000);
    d = reserve(t, "k1", NULL, "r2", 600000000, &cap, 1); /* 0.6 held + 0.6 > 1 */
    assert_false(d.allowed);
    assert_int_equal(d.denied_by, 0);
    tally_event e = { .key = "k1", .model = "m", .cost_nanos = 200000000, .request_id = "r1" };
    int dup = -1;
    assert_int_equal(tally_settle(t, &e, &dup), TALLY_OK);
    assert_int_equal(dup, 0);
    assert_int_equal(cost_today(t, "k1"), 200000000);
    char sums[64];
    held("k:k1", sums, sizeof sums);
    assert_string_equal(sums, "0,0");
    d = reserve(t, "k1", NULL, "r2", 700000000, &cap, 1); /* 0.2 used + 0.7 <= 1 */
    assert_true(d.allowed);
    assert_int_equal(d.remaining[0], 100000000);
    /* Settling again counts nothing and gives nothing back twice. */
    assert_int_equal(tally_settle(t, &e, &dup), TALLY_OK);
    assert_int_equal(dup, 1);
    assert_int_equal(cost_today(t, "k1"), 200000000);
    held("k:k1", sums, sizeof sums);
    assert_string_equal(sums, "700000000,0");
    tally_close(t);
}

static void a_denial_reserves_nothing_and_a_retry_is_a_duplicate(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_budget caps[2] = { cap_day(TALLY_SCOPE_KEY, 1 * USD),
                             { TALLY_SCOPE_KEY, TALLY_MONTH, TALLY_BUDGET_TOKENS, 1000 } };
    tally_reservation r = { "k2", NULL, "big", 100, 5000, 60000, NULL };
    tally_budget_decision d;
    char before[41], after[41];
    th_digest(before);
    assert_int_equal(tally_reserve(t, &r, caps, 2, &d), TALLY_OK);
    assert_false(d.allowed);
    assert_int_equal(d.denied_by, 1); /* the token cap, though the cost cap allowed */
    th_digest(after);
    assert_string_equal(before, after);
    r.tokens = 400;
    assert_int_equal(tally_reserve(t, &r, caps, 2, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_false(d.duplicate);
    assert_int_equal(tally_reserve(t, &r, caps, 2, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_true(d.duplicate);
    char sums[64];
    held("k:k2", sums, sizeof sums);
    assert_string_equal(sums, "100,400"); /* held once */
    tally_close(t);
}

/* An id holds one estimate: the same id with a larger (or any other) estimate
 * is refused as a conflict and writes nothing, instead of answering "already
 * reserved" while holding less than asked; the same estimate is still a retry. */
static void another_estimate_under_a_held_id_is_a_conflict(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_budget cap = cap_day(TALLY_SCOPE_KEY, 1 * USD);
    tally_reservation r = { "k3", NULL, "r1", 400000000, 100, 60000, NULL };
    tally_budget_decision d;
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    char before[41], after[41], sums[64];
    th_digest(before);
    const int64_t other[][2] = { { 900000000, 100 }, { 400000000, 101 }, { 100000000, 100 } };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        tally_reservation again = r;
        again.cost_nanos = other[i][0], again.tokens = other[i][1];
        assert_int_equal(tally_reserve(t, &again, &cap, 1, &d), TALLY_EINVAL);
        assert_non_null(strstr(tally_errmsg(t), "conflict"));
        assert_non_null(strstr(tally_errmsg(t), "400000000 nano-USD and 100 tokens"));
    }
    th_digest(after);
    assert_string_equal(before, after);
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_true(d.duplicate);
    held("k:k3", sums, sizeof sums);
    assert_string_equal(sums, "400000000,100");
    tally_close(t);
    /* the tool: exit 2 with the reason, nothing printed on stdout */
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "reserve", "--url", th_url(), "--key", "k3", "--id", "r1", "--budget",
                         "cost:1/day", "--cost", "0.9", "--tokens", "100"), 2);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "conflict: this request id already holds a reservation"));
    free(out);
    free(err);
    assert_int_equal(RUN(&out, NULL, "reserve", "--url", th_url(), "--key", "k3", "--id", "r1", "--budget",
                         "cost:1/day", "--cost", "0.4", "--tokens", "100"), 0);
    assert_non_null(strstr(out, "already reserved"));
    free(out);
    th_digest(after);
    assert_string_equal(before, after);
}

static void account_caps_span_keys(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_budget cap = cap_day(TALLY_SCOPE_ACCOUNT, 1 * USD);
    assert_true(reserve(t, "ka", "acct", "a1", 600000000, &cap, 1).allowed);
    tally_budget_decision d = reserve(t, "kb", "acct", "b1", 600000000, &cap, 1);
    assert_false(d.allowed);
    assert_int_equal(d.remaining[0], 400000000);
    tally_close(t);
}

/* An account's month and total caps count what each of its keys recorded:
 * the account's a: fields summed over the shards' hashes (its keys lie in
 * several shards). Before the accounts marker's day those are not complete:
 * such a cap is refused, naming the day, nothing written. */
static void account_month_and_total_caps_sum_the_shards(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    static const char *const keys[] = { "ka", "kb", "kc", "kd", "ke", "kf", "kg", "kh" };
    for (int i = 0; i < 8; i++) {
        tally_event e = { .key = keys[i], .model = "m", .account = "acct", .cost_nanos = 100000000 };
        assert_int_equal(tally_record(t, &e, NULL), TALLY_OK);
    }
    assert_true(th_int("EVAL %s 0", "return #redis.call('KEYS', 'tally:v3:{s:*}:t')") > 1);
    static const int periods[] = { TALLY_MONTH, TALLY_TOTAL };
    for (int i = 0; i < 2; i++) {
        tally_budget cap = { TALLY_SCOPE_ACCOUNT, periods[i], TALLY_BUDGET_COST, 1 * USD };
        char id[8];
        snprintf(id, sizeof id, "x%d", i);
        tally_budget_decision d = reserve(t, "kz", "acct", id, 300000000, &cap, 1);
        assert_false(d.allowed);
        assert_int_equal(d.remaining[0], 200000000); /* 1 - 8 x 0.1 recorded */
        d = reserve(t, "kz", "acct", id, 200000000, &cap, 1);
        assert_true(d.allowed);
        assert_int_equal(d.remaining[0], 0);
        assert_int_equal(tally_cancel(t, "kz", "acct", id, NULL), TALLY_OK);
    }
    tally_close(t);
    freeReplyObject(th_cmd("SET tally:v3:{c:schema}:A 20991231"));
    t = th_open(NULL);
    char before[41], after[41];
    th_digest(before);
    for (int i = 0; i < 2; i++) {
        tally_budget cap = { TALLY_SCOPE_ACCOUNT, periods[i], TALLY_BUDGET_COST, 1 * USD };
        tally_reservation r = { "kz", "acct", "y", 1, 0, 60000, NULL };
        tally_budget_decision d;
        assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_EINVAL);
        assert_non_null(strstr(tally_errmsg(t), "2099-12-31"));
    }
    th_digest(after);
    assert_string_equal(before, after);
    tally_close(t);
}

static void leases_end_exactly_once(void **state) {
    (void)state;
    int64_t t0 = 1800000000000000LL; /* µs */
    tally *t = th_open_clock(t0);
    tally_budget cap = cap_day(TALLY_SCOPE_KEY, 1 * USD);
    tally_reservation r = { "k3", NULL, "r1", 500000000, 0, 1000, NULL };
    tally_budget_decision d;
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    r = (tally_reservation){ "k3", NULL, "r2", 600000000, 0, 60000, NULL };
    assert_int_equal(tally_test_clock(t, t0 + 999000), TALLY_OK);
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_false(d.allowed); /* r1's lease has 1 ms left */
    assert_int_equal(tally_test_clock(t, t0 + 1000000), TALLY_OK);
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed); /* r1 ended: released */
    char sums[64];
    held("k:k3", sums, sizeof sums);
    assert_string_equal(sums, "600000000,0");
    /* Released once: later calls and a late settle of r1 give nothing back again. */
    r = (tally_reservation){ "k3", NULL, "r3", 300000000, 0, 60000, NULL };
    assert_int_equal(tally_test_clock(t, t0 + 5000000), TALLY_OK);
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    tally_event e = { .key = "k3", .model = "m", .cost_nanos = 1, .request_id = "r1" };
    assert_int_equal(tally_settle(t, &e, NULL), TALLY_OK);
    held("k:k3", sums, sizeof sums);
    assert_string_equal(sums, "900000000,0");
    tally_close(t);
}

/* One of 8 processes: 20 reservations of 0.10 USD under one 5 USD cap; how
 * many were allowed. */
static int reserver(int p, void *arg) {
    (void)arg;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    tally *t;
    if (tally_open(&cfg, &t) != TALLY_OK) return -2;
    tally_budget cap = cap_day(TALLY_SCOPE_KEY, 5 * USD);
    int allowed = 0;
    for (int i = 0; i < 20; i++) {
        char id[32];
        snprintf(id, sizeof id, "p%d-%d", p, i);
        tally_reservation r = { "shared", NULL, id, 100000000, 0, 60000, NULL };
        tally_budget_decision d;
        if (tally_reserve(t, &r, &cap, 1, &d) != TALLY_OK) return -3;
        allowed += d.allowed;
    }
    tally_close(t);
    return allowed;
}

static void concurrent_reservations_never_pass_the_cap(void **state) {
    (void)state;
    assert_int_equal(th_children_sum(8, reserver, NULL), 50); /* 50 × 0.10 = 5.00, and not one more */
    char sums[64];
    held("k:shared", sums, sizeof sums);
    assert_string_equal(sums, "5000000000,0");
}

/* Issue 10, item 1: a request id belongs to its API key. Two keys of one account
 * reuse "req-1"; each reservation is held and given back on its own. */
static void settle(tally *t, const char *key, const char *account, const char *id, int64_t cost) {
    tally_event e = { .key = key, .model = "m", .account = account, .cost_nanos = cost, .request_id = id };
    int dup = -1;
    assert_int_equal(tally_settle(t, &e, &dup), TALLY_OK);
    assert_int_equal(dup, 0);
}

static void a_reused_id_settled_small_first_keeps_the_cap(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_budget cap = cap_day(TALLY_SCOPE_ACCOUNT, 10 * USD);
    char sums[64];
    assert_true(reserve(t, "kA", "acc", "req-1", USD / 100, &cap, 1).allowed);
    tally_budget_decision d = reserve(t, "kB", "acc", "req-1", 5 * USD, &cap, 1);
    assert_true(d.allowed);
    assert_false(d.duplicate);
    settle(t, "kA", "acc", "req-1", USD / 100);
    d = reserve(t, "kC", "acc", "req-9", 9980000000, &cap, 1);
    assert_false(d.allowed);
    assert_int_equal(d.remaining[0], 4990000000); /* 10 - 0.01 spent - 5 held */
    held("a:acc", sums, sizeof sums);
    assert_string_equal(sums, "5000000000,0"); /* kB's 5 USD is still in flight */
    assert_int_equal(th_int("ZCARD tally:v3:{a:acc}:Bx"), 1);
    settle(t, "kB", "acc", "req-1", 5 * USD);
    held("a:acc", sums, sizeof sums);
    assert_string_equal(sums, "0,0");
    d = reserve(t, "kC", "acc", "req-9", 4990000000, &cap, 1);
    assert_true(d.allowed);
    assert_int_equal(d.remaining[0], 0);
    settle(t, "kC", "acc", "req-9", 4990000000);
    assert_int_equal(spent_today(t, TALLY_SCOPE_ACCOUNT, "acc"), 10 * USD); /* the cap, not one nano more */
    assert_false(reserve(t, "kD", "acc", "req-1", 1, &cap, 1).allowed);
    tally_close(t);
}

static void a_reused_id_settled_big_last_gives_everything_back(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_budget cap = cap_day(TALLY_SCOPE_ACCOUNT, 10 * USD);
    char sums[64];
    assert_true(reserve(t, "kA", "acc", "req-1", 5 * USD, &cap, 1).allowed);
    assert_true(reserve(t, "kB", "acc", "req-1", USD / 100, &cap, 1).allowed);
    settle(t, "kB", "acc", "req-1", USD / 100);
    settle(t, "kA", "acc", "req-1", 5 * USD);
    held("a:acc", sums, sizeof sums);
    assert_string_equal(sums, "0,0"); /* nothing in flight, nothing held */
    assert_int_equal(th_int("ZCARD tally:v3:{a:acc}:Bx"), 0);
    held("k:kA", sums, sizeof sums);
    assert_string_equal(sums, "0,0");
    held("k:kB", sums, sizeof sums);
    assert_string_equal(sums, "0,0");
    tally_budget_decision d = reserve(t, "kC", "acc", "req-2", 4990000000, &cap, 1);
    assert_true(d.allowed); /* 5.01 spent + 4.99 = the cap */
    assert_int_equal(d.remaining[0], 0);
    tally_close(t);
}

static void reused_ids_expire_and_settle_apart(void **state) {
    (void)state;
    int64_t t0 = 1800000000000000LL; /* µs */
    tally *t = th_open_clock(t0);
    tally_budget cap = cap_day(TALLY_SCOPE_ACCOUNT, 10 * USD);
    tally_budget_decision d;
    char sums[64];
    tally_reservation a = { "kA", "acc", "req-1", 5 * USD, 0, 1000, NULL };
    tally_reservation b = { "kB", "acc", "req-1", 3 * USD, 0, 60000, NULL };
    assert_int_equal(tally_reserve(t, &a, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(tally_reserve(t, &b, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_false(d.duplicate);
    assert_int_equal(d.remaining[0], 2 * USD);
    /* kA's lease ends; kB's, under the same request id, does not. */
    assert_int_equal(tally_test_clock(t, t0 + 1000000), TALLY_OK);
    d = reserve(t, "kC", "acc", "req-2", USD / 2, &cap, 1);
    assert_true(d.allowed);
    assert_int_equal(d.remaining[0], 6500000000); /* 10 - kB's 3 - 0.5 */
    held("a:acc", sums, sizeof sums);
    assert_string_equal(sums, "3500000000,0");
    /* kA settles late: its reservation was released once, by the lease. */
    settle(t, "kA", "acc", "req-1", USD);
    held("a:acc", sums, sizeof sums);
    assert_string_equal(sums, "3500000000,0");
    settle(t, "kB", "acc", "req-1", 2 * USD);
    held("a:acc", sums, sizeof sums);
    assert_string_equal(sums, "500000000,0");
    /* kA's id is free again: a new reservation under it is held, not a duplicate. */
    assert_int_equal(tally_reserve(t, &a, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_false(d.duplicate);
    held("a:acc", sums, sizeof sums);
    assert_string_equal(sums, "5500000000,0");
    tally_close(t);
}

/* Eight keys of one account reserve the same twenty request ids at once, all
 * reservations in flight together (a pipe is the barrier), then settle each at
 * half its estimate: the cap admits exactly its worth, and every estimate is
 * given back. */
static void keys_reusing_ids_never_pass_an_account_cap(void **state) {
    (void)state;
    enum { PROCS = 8, EACH = 20 };
    int counts[2], go[2];
    assert_int_equal(pipe(counts), 0);
    assert_int_equal(pipe(go), 0);
    for (int p = 0; p < PROCS; p++) {
        if (fork() == 0) {
            close(go[1]);
            tally_config cfg;
            tally_config_init(&cfg);
            cfg.url = th_url();
            tally *t;
            if (tally_open(&cfg, &t) != TALLY_OK) _exit(2);
            tally_budget cap = cap_day(TALLY_SCOPE_ACCOUNT, 5 * USD);
            char key[16], id[16];
            snprintf(key, sizeof key, "k%d", p);
            int allowed[EACH], n = 0;
            for (int i = 0; i < EACH; i++) {
                snprintf(id, sizeof id, "r%d", i);
                tally_reservation r = { key, "acct", id, 100000000, 0, 60000, NULL };
                tally_budget_decision d;
                if (tally_reserve(t, &r, &cap, 1, &d) != TALLY_OK) _exit(3);
                n += allowed[i] = d.allowed;
            }
            char c;
            if (write(counts[1], &n, sizeof n) != sizeof n || read(go[0], &c, 1) != 0) _exit(4);
            for (int i = 0; i < EACH; i++) {
                if (!allowed[i]) continue;
                snprintf(id, sizeof id, "r%d", i);
                tally_event e = { .key = key, .model = "m", .account = "acct", .cost_nanos = 50000000,
                                  .request_id = id };
                if (tally_settle(t, &e, NULL) != TALLY_OK) _exit(5);
            }
            tally_close(t);
            _exit(0);
        }
    }
    close(counts[1]);
    close(go[0]);
    int total = 0, one;
    for (int p = 0; p < PROCS; p++) {
        assert_int_equal(read(counts[0], &one, sizeof one), sizeof one);
        total += one;
    }
    close(counts[0]);
    assert_int_equal(total, 50); /* 50 × 0.10 = 5.00 in flight at once */
    char sums[64];
    held("a:acct", sums, sizeof sums);
    assert_string_equal(sums, "5000000000,0");
    close(go[1]); /* every reservation is in flight: settle */
    for (int p = 0; p < PROCS; p++) th_reap(-1);
    held("a:acct", sums, sizeof sums);
    assert_string_equal(sums, "0,0");
    tally *t = th_open(NULL);
    assert_int_equal(spent_today(t, TALLY_SCOPE_ACCOUNT, "acct"), 2500000000);
    tally_budget cap = cap_day(TALLY_SCOPE_ACCOUNT, 5 * USD);
    assert_false(reserve(t, "kz", "acct", "r0", 2500000001, &cap, 1).allowed);
    assert_true(reserve(t, "kz", "acct", "r0", 2500000000, &cap, 1).allowed);
    tally_close(t);
}

/* Issue 20, item 2: two ids whose old 64-bit fingerprints collide, reserved
 * side by side: settling the second records it and gives back its own
 * reservation only (before, it answered "duplicate", counted nothing and freed
 * its reservation, so the cap kept admitting). */
static void colliding_ids_settle_apart(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_budget cap = cap_day(TALLY_SCOPE_KEY, 1 * USD);
    const char *a = "2200A0CAAA0E0BA6", *b = "92R8L0DXOCXAOCG8";
    assert_true(reserve(t, "kc", NULL, a, 300000000, &cap, 1).allowed);
    assert_true(reserve(t, "kc", NULL, b, 400000000, &cap, 1).allowed);
    settle(t, "kc", NULL, a, 300000000);
    char sums[64];
    held("k:kc", sums, sizeof sums);
    assert_string_equal(sums, "400000000,0"); /* b's estimate is still held */
    settle(t, "kc", NULL, b, 400000000);      /* recorded, not a duplicate */
    held("k:kc", sums, sizeof sums);
    assert_string_equal(sums, "0,0");
    assert_int_equal(cost_today(t, "kc"), 700000000);
    tally_budget_decision d = reserve(t, "kc", NULL, "c", 300000001, &cap, 1);
    assert_false(d.allowed); /* 0.7 spent: 0.3 left */
    assert_int_equal(d.remaining[0], 300000000);
    tally_close(t);
}

static void the_tool_reserves_and_settles(void **state) {
    (void)state;
    const char *url = th_url();
    char *out, *err;
    assert_int_equal(RUN(&out, NULL, "reserve", "--url", url, "--key", "kt", "--id", "q1", "--budget", "cost:1/day",
                         "--cost", "0.6", "--json"), 0);
    tj *d = tj_parse(out);
    assert_non_null(d);
    assert_true(tj_bool(d, "allowed"));
    assert_false(tj_bool(d, "duplicate"));
    assert_int_equal(tj_get(d, "denied_by")->type, TJ_NULL);
    assert_int_equal(tj_get(d, "remaining")->n, 1);
    assert_string_equal(tj_str(tj_at(tj_get(d, "remaining"), 0), "budget"), "cost:1/day");
    assert_string_equal(tj_str(tj_at(tj_get(d, "remaining"), 0), "left"), "0.40");
    assert_int_equal(tj_int(tj_at(tj_get(d, "remaining"), 0), "left_nanos"), 400000000); /* as allow's *_nanos */
    th_assert_gt(tj_int(d, "server_time_ms"), 0);
    tj_free(d);
    free(out);
    assert_int_equal(RUN(&out, NULL, "reserve", "--url", url, "--key", "kt", "--id", "q2", "--budget", "cost:1/day",
                         "--cost", "0.6"), 1);
    assert_non_null(strstr(out, "denied by cost:1/day"));
    free(out);
    assert_int_equal(RUN(&out, NULL, "settle", "--url", url, "--key", "kt", "--model", "m", "--id", "q1",
                         "--cost", "0.1"), 0);
    assert_non_null(strstr(out, "recorded"));
    free(out);
    assert_int_equal(RUN(NULL, NULL, "reserve", "--url", url, "--key", "kt", "--id", "q2", "--budget", "cost:1/day",
                         "--cost", "0.6"), 0);
    char before[41], after[41];
    th_digest(before);
    assert_int_equal(RUN(NULL, &err, "reserve", "--url", url, "--key", "kt", "--id", "q3", "--budget", "cost:-1/day"), 2);
    assert_non_null(strstr(err, "--budget"));
    free(err);
    assert_int_equal(RUN(NULL, &err, "settle", "--url", url, "--key", "kt", "--model", "m"), 2);
    assert_non_null(strstr(err, "--id"));
    free(err);
    th_digest(after);
    assert_string_equal(before, after);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(settle_gives_back_the_estimate, th_clean),
        cmocka_unit_test_setup(a_denial_reserves_nothing_and_a_retry_is_a_duplicate, th_clean),
        cmocka_unit_test_setup(another_estimate_under_a_held_id_is_a_conflict, th_clean),
        cmocka_unit_test_setup(account_caps_span_keys, th_clean),
        cmocka_unit_test_setup(account_month_and_total_caps_sum_the_shards, th_clean),
        cmocka_unit_test_setup(leases_end_exactly_once, th_clean),
        cmocka_unit_test_setup(concurrent_reservations_never_pass_the_cap, th_clean),
        cmocka_unit_test_setup(the_tool_reserves_and_settles, th_clean),
        cmocka_unit_test_setup(colliding_ids_settle_apart, th_clean),
        cmocka_unit_test_setup(a_reused_id_settled_small_first_keeps_the_cap, th_clean),
        cmocka_unit_test_setup(a_reused_id_settled_big_last_gives_everything_back, th_clean),
        cmocka_unit_test_setup(reused_ids_expire_and_settle_apart, th_clean),
        cmocka_unit_test_setup(keys_reusing_ids_never_pass_an_account_cap, th_clean),
    };
    int rc = cmocka_run_group_tests_name("budgets", tests, NULL, NULL);
    th_done();
    return rc;
}
