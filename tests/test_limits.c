/* test_limits.c -- redis: rate limits. Decisions of every algorithm,
 * contention between processes, retry-after, all-or-nothing rules, peeking,
 * failure policy and bad input (leases are in test_leases.c, the tool's
 * commands in test_cli_admission.c). Time moves only through the test clock
 * (tally_test_clock), never by sleeping. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define T0 1700000000123456LL /* a fixed "now" in us, not aligned to any window */

static const int algos[4] = { TALLY_ALGO_SLIDING_LOG, TALLY_ALGO_SLIDING_WINDOW, TALLY_ALGO_GCRA,
                              TALLY_ALGO_FIXED };

static tally_rule rule(int counts, int algo, int64_t limit, int64_t window_ms) {
    tally_rule r = { counts, algo, limit, window_ms, 0 };
    return r;
}

static int allow1(tally *t, const char *key, tally_rule r, tally_decision *d) {
    int rc = tally_allow(t, key, &r, 1, NULL, d);
    assert_int_equal(rc, TALLY_OK);
    return d->allowed;
}

/* The test clock is refused unless enabled, and a default handle uses TIME. */
static void test_clock_is_opt_in(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    assert_int_equal(tally_test_clock(t, T0), TALLY_EINVAL);
    tally_decision d;
    allow1(t, "k", rule(0, TALLY_ALGO_FIXED, 5, 60000), &d);
    redisReply *r = th_cmd("TIME");
    long long now = atoll(r->element[0]->str) * 1000000LL + atoll(r->element[1]->str);
    freeReplyObject(r);
    th_assert_le(d.server_time_us, now);
    th_assert_gt(d.server_time_us, now - 60000000LL); /* Redis's clock, not T0 */
    tally_close(t);
    t = th_open_clock(T0);
    allow1(t, "k2", rule(0, TALLY_ALGO_FIXED, 5, 60000), &d);
    assert_int_equal(d.server_time_us, T0);
    tally_close(t);
}

/* Each algorithm admits exactly `limit` at one instant, reports remaining
 * counting down, and then denies with a positive retry-after. */
static void counts_down_then_denies(void **state) {
    (void)state;
    tally *t = th_open_clock(T0);
    for (int a = 0; a < 4; a++) {
        tally_rule r = rule(TALLY_COUNT_REQUESTS, algos[a], 10, 60000);
        tally_decision d;
        for (int i = 0; i < 10; i++) {
            assert_true(allow1(t, "cd", r, &d));
            assert_int_equal(d.remaining, 9 - i);
            assert_int_equal(d.limit, 10);
            assert_int_equal(d.denied_by, -1);
            assert_int_equal(d.decided, TALLY_DECIDED_BY_REDIS);
            th_assert_gt(d.reset_after_ms, 0);
        }
        assert_false(allow1(t, "cd", r, &d));
        assert_int_equal(d.denied_by, 0);
        assert_int_equal(d.remaining, 0);
        th_assert_gt(d.retry_after_ms, 0);
        th_assert_le(d.retry_after_ms, 60000);
    }
    tally_close(t);
}

/* After waiting retry_after_ms the same request passes, and 1 ms earlier it
 * does not; denied attempts in between write nothing and do not move the wait. */
static void retry_after_is_exact_and_denials_consume_nothing(void **state) {
    (void)state;
    for (int a = 0; a < 4; a++) {
        tally *t = th_open_clock(T0);
        tally_rule r = rule(TALLY_COUNT_REQUESTS, algos[a], 5, 10000);
        tally_decision d;
        int64_t now = T0;
        int passed = 0;
        for (int step = 0; step < 40; step++) {
            if (allow1(t, "ra", r, &d)) {
                passed++;
                continue;
            }
            int64_t wait = d.retry_after_ms;
            th_assert_gt(wait, 0);
            char before[41], after[41];
            th_digest(before);
            for (int k = 0; k < 3; k++) { /* a client hammering while denied */
                tally_decision again;
                assert_false(allow1(t, "ra", r, &again));
                assert_int_equal(again.retry_after_ms, wait);
            }
            th_digest(after);
            assert_string_equal(before, after);
            assert_int_equal(tally_test_clock(t, now + (wait - 1) * 1000), TALLY_OK);
            assert_false(allow1(t, "ra", r, &d));
            now += wait * 1000;
            assert_int_equal(tally_test_clock(t, now), TALLY_OK);
            assert_true(allow1(t, "ra", r, &d));
            passed++;
        }
        th_assert_gt(passed, 10); /* it recovered after every denial */
        tally_close(t);
    }
}

/* A request larger than the limit (or the GCRA burst) can never fit: -1. */
static void never_fits_is_minus_one(void **state) {
    (void)state;
    tally *t = th_open_clock(T0);
    for (int a = 0; a < 4; a++) {
        tally_rule r = rule(TALLY_COUNT_TOKENS, algos[a], 100, 60000);
        tally_request q = { 101, 0, 0 };
        tally_decision d;
        assert_int_equal(tally_allow(t, "nf", &r, 1, &q, &d), TALLY_OK);
        assert_false(d.allowed);
        assert_int_equal(d.retry_after_ms, -1);
        assert_int_equal(d.remaining, 100);
    }
    tally_rule g = { TALLY_COUNT_TOKENS, TALLY_ALGO_GCRA, 100, 60000, 10 };
    tally_request q = { 11, 0, 0 };
    tally_decision d;
    assert_int_equal(tally_allow(t, "nf2", &g, 1, &q, &d), TALLY_OK);
    assert_int_equal(d.retry_after_ms, -1);
    q.tokens = 10;
    assert_int_equal(tally_allow(t, "nf2", &g, 1, &q, &d), TALLY_OK);
    assert_true(d.allowed);
    tally_close(t);
}

/* GCRA with a burst far above its limit over a year: the drain time passes
 * what PEXPIRE takes, and the state must still be kept (it was deleted by a
 * negative TTL), with a finite reset. */
static void gcra_huge_burst_keeps_its_state(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_rule g = { TALLY_COUNT_TOKENS, TALLY_ALGO_GCRA, 1000, 365LL * 86400000, 1000000000000LL };
    tally_request q = { 1000000000000LL, 0, 0 };
    tally_decision d;
    assert_int_equal(tally_allow(t, "hb", &g, 1, &q, &d), TALLY_OK);
    assert_true(d.allowed);
    th_assert_gt(d.reset_after_ms, 0);
    th_assert_gt(th_int("PTTL tally:v3:{k:hb}:rl:t:gcra:%lld", 365LL * 86400000), 0);
    q.tokens = 1;
    assert_int_equal(tally_allow(t, "hb", &g, 1, &q, &d), TALLY_OK);
    assert_false(d.allowed); /* the bucket is full: the state was kept */
    tally_close(t);
}

static int fits_now(tally *t, const char *key, tally_rule r, int64_t at_us, int64_t tokens) {
    tally_request q = { tokens, 0, 0 };
    tally_decision d;
    assert_int_equal(tally_test_clock(t, at_us), TALLY_OK);
    assert_int_equal(tally_limits(t, key, &r, 1, &q, &d), TALLY_OK);
    return d.allowed;
}

/* reset_after_ms is when the rule's current window ends, never more than the
 * window (it was up to two windows: 97 s for a 60/1m rule, 34 h for 1d): for
 * fixed, sliding-log and gcra the whole limit fits again then, and 1 ms
 * earlier it does not; for sliding-window it is the end of the aligned
 * window. */
static void reset_is_the_window_end_and_never_longer(void **state) {
    (void)state;
    const int64_t w = 60000, to_edge_ms = ((T0 / (w * 1000) + 1) * w * 1000 - T0 + 999) / 1000;
    const int64_t want[4] = { w /* log */, to_edge_ms /* window */, 4 * w / 10 /* gcra */, to_edge_ms /* fixed */ };
    for (int a = 0; a < 4; a++) {
        tally *t = th_open_clock(T0);
        tally_rule r = rule(TALLY_COUNT_TOKENS, algos[a], 10, w);
        tally_request q = { 4, 0, 0 };
        tally_decision d;
        assert_int_equal(tally_allow(t, "rs", &r, 1, &q, &d), TALLY_OK);
        assert_true(d.allowed);
        if (d.reset_after_ms != want[a] || d.rules[0].reset_after_ms != want[a])
            fail_msg("%s: reset_after_ms %lld, want %lld", tally_algo_name(algos[a]), (long long)d.reset_after_ms,
                     (long long)want[a]);
        if (algos[a] != TALLY_ALGO_SLIDING_WINDOW) {
            assert_false(fits_now(t, "rs", r, T0 + (want[a] - 1) * 1000, 10));
            assert_true(fits_now(t, "rs", r, T0 + want[a] * 1000, 10));
        }
        tally_close(t);
    }
    /* a sliding window with counts in two aligned windows: still only to the
     * end of the current one (was 2 windows minus the time into it) */
    tally *t = th_open_clock(T0);
    tally_rule r = rule(TALLY_COUNT_COST, TALLY_ALGO_SLIDING_WINDOW, 5000000000LL, 86400000);
    tally_request q = { 0, 250000000, 0 };
    tally_decision d;
    assert_int_equal(tally_allow(t, "day", &r, 1, &q, &d), TALLY_OK);
    int64_t next_day = (T0 / 86400000000LL + 1) * 86400000000LL;
    assert_int_equal(tally_test_clock(t, next_day + 3600000000LL), TALLY_OK);
    assert_int_equal(tally_allow(t, "day", &r, 1, &q, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(d.reset_after_ms, 86400000 - 3600000);
    /* gcra, burst above the limit: until the whole limit fits at once */
    tally_rule g = { TALLY_COUNT_TOKENS, TALLY_ALGO_GCRA, 10, 1000, 20 };
    assert_int_equal(tally_test_clock(t, T0), TALLY_OK);
    q = (tally_request){ 5, 0, 0 };
    assert_int_equal(tally_allow(t, "gb", &g, 1, &q, &d), TALLY_OK);
    assert_int_equal(d.reset_after_ms, 0); /* 15 of 20 left: the whole limit fits */
    q.tokens = 15;
    assert_int_equal(tally_allow(t, "gb", &g, 1, &q, &d), TALLY_OK);
    assert_int_equal(d.reset_after_ms, 1000); /* full: 10 must drain, one window */
    assert_false(fits_now(t, "gb", g, T0 + 999000, 10));
    assert_true(fits_now(t, "gb", g, T0 + 1000000, 10));
    /* gcra, burst below the limit: until the whole burst fits */
    g = (tally_rule){ TALLY_COUNT_REQUESTS, TALLY_ALGO_GCRA, 10, 1000, 2 };
    assert_int_equal(tally_test_clock(t, T0), TALLY_OK);
    assert_true(allow1(t, "gs", g, &d));
    assert_true(allow1(t, "gs", g, &d));
    assert_int_equal(d.reset_after_ms, 200);
    tally_close(t);
}

/* A GCRA decision reports the rule's limit as given, not its burst, and
 * tally_decision_rule() says which rule the summary numbers are from. */
static void gcra_reports_its_limit_not_its_burst(void **state) {
    (void)state;
    tally *t = th_open_clock(T0);
    tally_rule rs[2] = { rule(TALLY_COUNT_REQUESTS, TALLY_ALGO_FIXED, 100, 60000),
                         { TALLY_COUNT_REQUESTS, TALLY_ALGO_GCRA, 10, 1000, 2 } };
    tally_decision d;
    for (int i = 0; i < 3; i++) assert_int_equal(tally_allow(t, "gl", rs, 2, NULL, &d), TALLY_OK);
    assert_false(d.allowed); /* the third call at one instant: the burst of 2 is spent */
    assert_int_equal(d.denied_by, 1);
    assert_int_equal(tally_decision_rule(&d, rs), 1);
    assert_int_equal(d.limit, 10);
    assert_int_equal(d.rules[1].limit, 10);
    assert_int_equal(d.remaining, 0);
    assert_int_equal(d.rules[0].limit, 100);
    /* allowed: the rule with the smallest share of what it lets through at
     * once (gcra 1 of 2 left, before fixed 97 of 100) */
    assert_int_equal(tally_test_clock(t, T0 + 1000000), TALLY_OK); /* 1 s: drained */
    assert_int_equal(tally_allow(t, "gl", rs, 2, NULL, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(tally_decision_rule(&d, rs), 1);
    assert_int_equal(d.limit, 10);
    assert_int_equal(d.remaining, 1);
    tally_decision none = { .decided = TALLY_DECIDED_FAIL_OPEN, .nrules = 2 };
    assert_int_equal(tally_decision_rule(&none, rs), -1);
    tally_close(t);
}

/* Several rules: all consume or none does. */
static void rules_all_or_nothing(void **state) {
    (void)state;
    tally *t = th_open_clock(T0);
    tally_rule rs[3] = { rule(TALLY_COUNT_REQUESTS, TALLY_ALGO_FIXED, 3, 3600000),
                         rule(TALLY_COUNT_TOKENS, TALLY_ALGO_SLIDING_LOG, 100, 3600000),
                         rule(TALLY_COUNT_COST, TALLY_ALGO_GCRA, 5000000000LL, 86400000) };
    tally_request q = { 60, 1000000000, 0 };
    tally_decision d;
    assert_int_equal(tally_allow(t, "mr", rs, 3, &q, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(d.rules[0].remaining, 2);
    assert_int_equal(d.rules[1].remaining, 40);
    assert_int_equal(d.rules[2].remaining, 4000000000LL);
    char before[41], after[41];
    th_digest(before);
    assert_int_equal(tally_allow(t, "mr", rs, 3, &q, &d), TALLY_OK); /* tokens do not fit */
    assert_false(d.allowed);
    assert_int_equal(d.denied_by, 1);
    assert_int_equal(d.rules[0].remaining, 2); /* no rule was charged */
    assert_int_equal(d.rules[1].remaining, 40);
    assert_int_equal(d.rules[2].remaining, 4000000000LL);
    th_digest(after);
    assert_string_equal(before, after);
    q.tokens = 40;
    q.cost_nanos = 4000000001LL; /* cost does not fit */
    assert_int_equal(tally_allow(t, "mr", rs, 3, &q, &d), TALLY_OK);
    assert_false(d.allowed);
    assert_int_equal(d.denied_by, 2);
    assert_int_equal(d.rules[0].remaining, 2);
    assert_int_equal(d.rules[1].remaining, 40);
    assert_int_equal(d.rules[2].remaining, 4000000000LL);
    th_digest(after);
    assert_string_equal(before, after);
    q.cost_nanos = 4000000000LL; /* exactly what is left of every rule */
    assert_int_equal(tally_allow(t, "mr", rs, 3, &q, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(d.rules[0].remaining, 1);
    assert_int_equal(d.rules[1].remaining, 0);
    assert_int_equal(d.rules[2].remaining, 0);
    /* denied by both tokens (a fixed wait) and cost (-1): -1 wins */
    q.tokens = 1;
    q.cost_nanos = 6000000000LL;
    assert_int_equal(tally_allow(t, "mr", rs, 3, &q, &d), TALLY_OK);
    assert_int_equal(d.denied_by, 2);
    assert_int_equal(d.retry_after_ms, -1);
    /* the longest wait decides */
    q.cost_nanos = 1;
    assert_int_equal(tally_allow(t, "mr", rs, 3, &q, &d), TALLY_OK);
    assert_false(d.allowed);
    int64_t w1 = d.rules[1].retry_after_ms, w2 = d.rules[2].retry_after_ms;
    assert_int_equal(d.retry_after_ms, w1 > w2 ? w1 : w2);
    /* duplicate rules are refused */
    tally_rule dup[2] = { rs[0], rs[0] };
    dup[1].limit = 7;
    assert_int_equal(tally_allow(t, "mr", dup, 2, NULL, &d), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "same window"));
    tally_close(t);
}

/* Peek reports the same decision and writes nothing. */
static void peek_writes_nothing(void **state) {
    (void)state;
    tally *t = th_open_clock(T0);
    for (int a = 0; a < 4; a++) {
        tally_rule r = rule(TALLY_COUNT_REQUESTS, algos[a], 2, 60000);
        tally_decision d, p;
        char before[41], after[41];
        th_digest(before);
        assert_int_equal(tally_limits(t, "pk", &r, 1, NULL, &p), TALLY_OK);
        th_digest(after);
        assert_string_equal(before, after);
        assert_true(p.allowed);
        assert_int_equal(p.remaining, 2);
        allow1(t, "pk", r, &d);
        allow1(t, "pk", r, &d);
        th_digest(before);
        assert_int_equal(tally_limits(t, "pk", &r, 1, NULL, &p), TALLY_OK);
        th_digest(after);
        assert_string_equal(before, after);
        assert_false(p.allowed);
        assert_int_equal(p.remaining, 0);
        th_assert_gt(p.retry_after_ms, 0);
    }
    tally_close(t);
}

/* 8 processes, each with its own handle, race for a limit of 100: exactly 100
 * pass, for every algorithm (at one instant of the test clock; the sliding log
 * also on Redis's own clock, where its window cannot end mid-test). */
typedef struct {
    int algo;
    int64_t now;
    const char *key;
} race_arg;

/* One racer (a child process): 40 requests on its own handle; how many passed. */
static int racer(int child, void *arg) {
    const race_arg *a = arg;
    (void)child;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    cfg.test_clock = 1;
    tally *t = NULL;
    int got = 0;
    if (tally_open(&cfg, &t) != TALLY_OK || tally_test_clock(t, a->now) != TALLY_OK) return -3;
    tally_rule r = rule(TALLY_COUNT_REQUESTS, a->algo, 100, 3600000);
    for (int i = 0; i < 40; i++) {
        tally_decision d;
        if (tally_allow(t, a->key, &r, 1, NULL, &d) != TALLY_OK) return -4;
        got += d.allowed;
    }
    tally_close(t);
    return got;
}

static void race(int algo, int64_t now, const char *key) {
    race_arg a = { algo, now, key };
    long total = th_children_sum(8, racer, &a);
    if (total != 100) fail_msg("%s: %ld allowed, want exactly 100", tally_algo_name(algo), total);
}

static void contention_exactly_limit(void **state) {
    (void)state;
    for (int a = 0; a < 4; a++) race(algos[a], T0, tally_algo_name(algos[a]));
    race(TALLY_ALGO_SLIDING_LOG, 0, "log-on-redis-time");
}

/* The sliding window counter's approximation, bounded: against a greedy client
 * that takes everything it can every 10 ms after a full burst at the very end of
 * a window, no aligned window admits more than L, and no interval of length
 * d <= W admits more than L + L*d/W. It does over-admit compared with a true
 * sliding window (more than L within W), which is why it is approximate. */
static void sliding_window_bound(void **state) {
    (void)state;
    const int64_t L = 100, W = 10000; /* ms */
    const int64_t start = (T0 / (W * 1000) + 1) * W * 1000; /* aligned window start */
    tally *t = th_open_clock(start + W * 1000 - 1000); /* last ms of a window */
    tally_rule r = rule(TALLY_COUNT_REQUESTS, TALLY_ALGO_SLIDING_WINDOW, L, W);
    int64_t at[1000];
    int n = 0;
    tally_decision d;
    while (allow1(t, "sw", r, &d)) at[n++] = d.server_time_us;
    assert_int_equal(n, L);
    for (int64_t now = start + W * 1000; now < start + 3 * W * 1000; now += 10000) {
        assert_int_equal(tally_test_clock(t, now), TALLY_OK);
        while (n < 1000 && allow1(t, "sw", r, &d)) at[n++] = now;
    }
    th_assert_lt(n, 1000);
    int64_t worst_w = 0;
    for (int i = 0; i < n; i++) {
        int64_t win = at[i] / (W * 1000), in_window = 0;
        for (int j = 0; j < n; j++) in_window += at[j] / (W * 1000) == win;
        th_assert_le(in_window, L);
        for (int j = i; j < n && at[j] - at[i] <= W * 1000; j++) {
            int64_t count = j - i + 1, d_us = at[j] - at[i];
            /* count <= L + L*d/W, in integers */
            if (count * W * 1000 > L * W * 1000 + L * d_us)
                fail_msg("%lld admitted within %lld us: above the bound", (long long)count, (long long)d_us);
            if (count > worst_w) worst_w = count;
        }
    }
    th_assert_gt(worst_w, L);     /* approximate: more than L in one sliding window */
    th_assert_le(worst_w, 2 * L); /* but never twice the limit */
    tally_close(t);
}

/* GCRA spreads a limit over its window: with burst 1, one request per W/L. */
static void gcra_is_smooth(void **state) {
    (void)state;
    tally *t = th_open_clock(T0);
    tally_rule r = { TALLY_COUNT_REQUESTS, TALLY_ALGO_GCRA, 10, 1000, 1 };
    tally_decision d;
    assert_true(allow1(t, "g", r, &d));
    assert_false(allow1(t, "g", r, &d));
    assert_int_equal(d.retry_after_ms, 100);
    assert_int_equal(tally_test_clock(t, T0 + 1000000), TALLY_OK); /* 1 s: drained */
    assert_true(allow1(t, "g", r, &d));
    tally_close(t);
}

/* Bad input: EINVAL, and nothing written, from the library and from a direct
 * EVALSHA whose last rule is bad (the script validates before any write). */
static void bad_input_writes_nothing(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_decision d;
    tally_rule ok = rule(0, TALLY_ALGO_FIXED, 5, 1000);
    allow1(t, "seed", ok, &d);
    char before[41], after[41];
    th_digest(before);
    tally_rule bad[] = { rule(0, TALLY_ALGO_FIXED, 0, 1000), rule(0, TALLY_ALGO_FIXED, -3, 1000),
                         rule(0, TALLY_ALGO_FIXED, 5, 0), rule(0, 9, 5, 1000), rule(7, 0, 5, 1000),
                         { 0, TALLY_ALGO_FIXED, 5, 1000, 3 } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tally_rule two[2] = { ok, bad[i] };
        assert_int_equal(tally_allow(t, "bad", two, 2, NULL, &d), TALLY_EINVAL);
        if (!strstr(tally_errmsg(t), "rule 2:")) /* numbered from 1, as given */
            fail_msg("bad rule %zu: '%s' does not name rule 2", i, tally_errmsg(t));
        assert_false(d.allowed);
        assert_int_equal(d.decided, TALLY_DECIDED_ERROR);
    }
    assert_int_equal(tally_allow(t, "", &ok, 1, NULL, &d), TALLY_EINVAL);
    assert_int_equal(tally_allow(t, "k", &ok, 0, NULL, &d), TALLY_EINVAL);
    tally_request q = { -1, 0, 0 };
    assert_int_equal(tally_allow(t, "k", &ok, 1, &q, &d), TALLY_EINVAL);
    tally_lease l;
    assert_int_equal(tally_lease_acquire(t, "k", 0, 1000, &l), TALLY_EINVAL);
    assert_int_equal(tally_lease_acquire(t, "k", 1, 0, &l), TALLY_EINVAL);
    assert_int_equal(tally_lease_renew(t, "k", "", 1000, &l), TALLY_EINVAL);
    const char *sha = tally_script_find("allow")->sha1;
    redisReply *r = th_cmd("EVALSHA %s 2 a{x} b{x} allow 0 2 fixed 5 1000 0 1 fixed 5 1000 0 -1", sha);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->str, "rule 2"));
    freeReplyObject(r);
    r = th_cmd("EVALSHA %s 2 a{x} b{x} allow 0 2 fixed 5 1000 0 1 leaky 5 1000 0 1", sha);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    th_digest(after);
    assert_string_equal(before, after);
    /* a foreign key of another type: refused before the first write */
    freeReplyObject(th_cmd("SET tally:v3:{k:foreign}:rl:t:fixed:1000 x"));
    th_digest(before);
    tally_rule two[2] = { ok, rule(TALLY_COUNT_TOKENS, TALLY_ALGO_FIXED, 5, 1000) };
    assert_int_equal(tally_allow(t, "foreign", two, 2, NULL, &d), TALLY_EREDIS); /* the data, not the call */
    th_digest(after);
    assert_string_equal(before, after);
    tally_close(t);
}

/* Redis unreachable: the caller's policy decides and the decision says so. */
static void failure_policy(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = "redis://127.0.0.1:1";
    tally *t = NULL;
    assert_int_equal(tally_open(&cfg, &t), TALLY_ECONNECT);
    tally_rule r = rule(0, 0, 5, 1000);
    tally_request q = { 0, 0, TALLY_FAIL_OPEN };
    tally_decision d;
    assert_int_equal(tally_allow(t, "k", &r, 1, &q, &d), TALLY_ECONNECT);
    assert_true(d.allowed);
    assert_int_equal(d.decided, TALLY_DECIDED_FAIL_OPEN);
    q.fail = TALLY_FAIL_CLOSED;
    assert_int_equal(tally_limits(t, "k", &r, 1, &q, &d), TALLY_ECONNECT);
    assert_false(d.allowed);
    assert_int_equal(d.decided, TALLY_DECIDED_FAIL_CLOSED);
    assert_int_equal(tally_allow(t, "k", &r, 1, NULL, &d), TALLY_ECONNECT); /* default: closed */
    assert_false(d.allowed);
    tally_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(gcra_huge_burst_keeps_its_state, th_clean),
        cmocka_unit_test_setup(test_clock_is_opt_in, th_clean),
        cmocka_unit_test_setup(counts_down_then_denies, th_clean),
        cmocka_unit_test_setup(retry_after_is_exact_and_denials_consume_nothing, th_clean),
        cmocka_unit_test_setup(never_fits_is_minus_one, th_clean),
        cmocka_unit_test_setup(rules_all_or_nothing, th_clean),
        cmocka_unit_test_setup(reset_is_the_window_end_and_never_longer, th_clean),
        cmocka_unit_test_setup(gcra_reports_its_limit_not_its_burst, th_clean),
        cmocka_unit_test_setup(peek_writes_nothing, th_clean),
        cmocka_unit_test_setup(contention_exactly_limit, th_clean),
        cmocka_unit_test_setup(sliding_window_bound, th_clean),
        cmocka_unit_test_setup(gcra_is_smooth, th_clean),
        cmocka_unit_test_setup(bad_input_writes_nothing, th_clean),
        cmocka_unit_test_setup(failure_policy, th_clean),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_done();
    return rc;
}
