/* test_limits.c -- redis: admission control. Rate-limit decisions of every
 * algorithm, contention between processes, retry-after, all-or-nothing rules,
 * peeking, failure policy, leases, bad input, and the tool's allow, limits and
 * lease commands. Time moves only through the test clock (tally_test_clock),
 * never by sleeping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "json_read.h"

#define RUN(out, err, ...) th_run((const char *const[]){ __VA_ARGS__, NULL }, NULL, out, err)
#define T0 1700000000123456LL /* a fixed "now" in us, not aligned to any window */

static const int algos[4] = { TALLY_ALGO_SLIDING_LOG, TALLY_ALGO_SLIDING_WINDOW, TALLY_ALGO_GCRA,
                              TALLY_ALGO_FIXED };

static tally *open_clock(int64_t now) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.test_clock = 1;
    tally *t = th_open(&cfg);
    assert_int_equal(tally_test_clock(t, now), TALLY_OK);
    return t;
}

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
    assert_true(d.server_time_us > 0 && d.server_time_us <= now);
    assert_true(d.server_time_us > now - 60000000LL); /* Redis's clock, not T0 */
    tally_close(t);
    t = open_clock(T0);
    allow1(t, "k2", rule(0, TALLY_ALGO_FIXED, 5, 60000), &d);
    assert_int_equal(d.server_time_us, T0);
    tally_close(t);
}

/* Each algorithm admits exactly `limit` at one instant, reports remaining
 * counting down, and then denies with a positive retry-after. */
static void counts_down_then_denies(void **state) {
    (void)state;
    tally *t = open_clock(T0);
    for (int a = 0; a < 4; a++) {
        tally_rule r = rule(TALLY_COUNT_REQUESTS, algos[a], 10, 60000);
        tally_decision d;
        for (int i = 0; i < 10; i++) {
            assert_true(allow1(t, "cd", r, &d));
            assert_int_equal(d.remaining, 9 - i);
            assert_int_equal(d.limit, 10);
            assert_int_equal(d.denied_by, -1);
            assert_int_equal(d.decided, TALLY_DECIDED_BY_REDIS);
            assert_true(d.reset_after_ms > 0);
        }
        assert_false(allow1(t, "cd", r, &d));
        assert_int_equal(d.denied_by, 0);
        assert_int_equal(d.remaining, 0);
        assert_true(d.retry_after_ms > 0 && d.retry_after_ms <= 60000);
    }
    tally_close(t);
}

/* After waiting retry_after_ms the same request passes, and 1 ms earlier it
 * does not; denied attempts in between write nothing and do not move the wait. */
static void retry_after_is_exact_and_denials_consume_nothing(void **state) {
    (void)state;
    for (int a = 0; a < 4; a++) {
        tally *t = open_clock(T0);
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
            assert_true(wait > 0);
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
        assert_true(passed > 10); /* it recovered after every denial */
        tally_close(t);
    }
}

/* A request larger than the limit (or the GCRA burst) can never fit: -1. */
static void never_fits_is_minus_one(void **state) {
    (void)state;
    tally *t = open_clock(T0);
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

/* Several rules: all consume or none does. */
static void rules_all_or_nothing(void **state) {
    (void)state;
    tally *t = open_clock(T0);
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
    assert_int_equal(d.rules[0].remaining, 2); /* the request rule was not charged */
    th_digest(after);
    assert_string_equal(before, after);
    q.tokens = 40;
    q.cost_nanos = 4000000001LL; /* cost does not fit */
    assert_int_equal(tally_allow(t, "mr", rs, 3, &q, &d), TALLY_OK);
    assert_false(d.allowed);
    assert_int_equal(d.denied_by, 2);
    th_digest(after);
    assert_string_equal(before, after);
    q.cost_nanos = 4000000000LL; /* exactly what is left of every rule */
    assert_int_equal(tally_allow(t, "mr", rs, 3, &q, &d), TALLY_OK);
    assert_true(d.allowed);
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
    tally *t = open_clock(T0);
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
        assert_true(p.retry_after_ms > 0);
    }
    tally_close(t);
}

/* 8 processes, each with its own handle, race for a limit of 100: exactly 100
 * pass, for every algorithm (at one instant of the test clock; the sliding log
 * also on Redis's own clock, where its window cannot end mid-test). */
static void race(int algo, int64_t now, const char *key) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    for (int c = 0; c < 8; c++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            tally_config cfg;
            tally_config_init(&cfg);
            cfg.url = th_url();
            cfg.test_clock = 1;
            tally *t = NULL;
            int got = 0;
            if (tally_open(&cfg, &t) != TALLY_OK || tally_test_clock(t, now) != TALLY_OK) _exit(3);
            tally_rule r = rule(TALLY_COUNT_REQUESTS, algo, 100, 3600000);
            for (int i = 0; i < 40; i++) {
                tally_decision d;
                if (tally_allow(t, key, &r, 1, NULL, &d) != TALLY_OK) _exit(4);
                got += d.allowed;
            }
            tally_close(t);
            if (write(fds[1], &got, sizeof got) != sizeof got) _exit(5);
            _exit(0);
        }
    }
    close(fds[1]);
    int total = 0, got;
    for (int c = 0; c < 8; c++) {
        int status;
        assert_true(wait(&status) > 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    while (read(fds[0], &got, sizeof got) == sizeof got) total += got;
    close(fds[0]);
    if (total != 100) fail_msg("%s: %d allowed, want exactly 100", tally_algo_name(algo), total);
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
    tally *t = open_clock(start + W * 1000 - 1000); /* last ms of a window */
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
    assert_true(n < 1000);
    int64_t worst_w = 0;
    for (int i = 0; i < n; i++) {
        int64_t win = at[i] / (W * 1000), in_window = 0;
        for (int j = 0; j < n; j++) in_window += at[j] / (W * 1000) == win;
        assert_true(in_window <= L);
        for (int j = i; j < n && at[j] - at[i] <= W * 1000; j++) {
            int64_t count = j - i + 1, d_us = at[j] - at[i];
            /* count <= L + L*d/W, in integers */
            if (count * W * 1000 > L * W * 1000 + L * d_us)
                fail_msg("%lld admitted within %lld us: above the bound", (long long)count, (long long)d_us);
            if (count > worst_w) worst_w = count;
        }
    }
    assert_true(worst_w > L);      /* approximate: more than L in one sliding window */
    assert_true(worst_w <= 2 * L); /* but never twice the limit */
    tally_close(t);
}

/* GCRA spreads a limit over its window: with burst 1, one request per W/L. */
static void gcra_is_smooth(void **state) {
    (void)state;
    tally *t = open_clock(T0);
    tally_rule r = { TALLY_COUNT_REQUESTS, TALLY_ALGO_GCRA, 10, 1000, 1 };
    tally_decision d;
    assert_true(allow1(t, "g", r, &d));
    assert_false(allow1(t, "g", r, &d));
    assert_int_equal(d.retry_after_ms, 100);
    assert_int_equal(tally_test_clock(t, T0 + 100000), TALLY_OK);
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
    freeReplyObject(th_cmd("SET tally:v1:{k:foreign}:rl:t:fixed:1000 x"));
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

/* Leases: never more than `limit` live holders; a crashed holder's lease is
 * reclaimed exactly when it ends, not before; renew extends, release frees. */
static void leases_reclaim_after_lease_ms(void **state) {
    (void)state;
    tally *t = open_clock(T0);
    tally_lease a, b, c;
    assert_int_equal(tally_lease_acquire(t, "job", 2, 1000, &a), TALLY_OK);
    assert_true(a.ok);
    assert_int_equal(a.expires_at_us, T0 + 1000000);
    assert_int_equal(tally_lease_acquire(t, "job", 2, 1000, &b), TALLY_OK);
    assert_true(b.ok);
    assert_string_not_equal(a.id, b.id);
    assert_int_equal(b.holders, 2);
    assert_int_equal(tally_lease_acquire(t, "job", 2, 1000, &c), TALLY_OK);
    assert_false(c.ok);
    assert_int_equal(c.retry_after_ms, 1000);
    /* b renews half-way; a has "crashed" and never renews */
    assert_int_equal(tally_test_clock(t, T0 + 500000), TALLY_OK);
    assert_int_equal(tally_lease_renew(t, "job", b.id, 1000, &c), TALLY_OK);
    assert_true(c.ok);
    assert_int_equal(tally_test_clock(t, T0 + 999999), TALLY_OK); /* a not yet ended */
    assert_int_equal(tally_lease_acquire(t, "job", 2, 1000, &c), TALLY_OK);
    assert_false(c.ok);
    assert_int_equal(tally_test_clock(t, T0 + 1000000), TALLY_OK); /* a ends now */
    assert_int_equal(tally_lease_acquire(t, "job", 2, 1000, &c), TALLY_OK);
    assert_true(c.ok);
    assert_int_equal(c.holders, 2);
    assert_int_equal(tally_lease_renew(t, "job", a.id, 1000, &a), TALLY_OK);
    assert_false(a.ok); /* its lease is gone */
    assert_int_equal(tally_lease_release(t, "job", b.id, &b), TALLY_OK);
    assert_true(b.ok);
    assert_int_equal(b.holders, 1);
    assert_int_equal(tally_lease_release(t, "job", b.id, &b), TALLY_OK);
    assert_false(b.ok);
    /* keys expire with the longest lease */
    long long ttl = th_int("PTTL tally:v1:{k:job}:ls");
    assert_true(ttl > 0 && ttl <= 1000);
    tally_close(t);
}

static void leases_contention(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    for (int k = 0; k < 8; k++) {
        if (fork() == 0) {
            tally_config cfg;
            tally_config_init(&cfg);
            cfg.url = th_url();
            tally *t = NULL;
            int got = 0;
            if (tally_open(&cfg, &t) != TALLY_OK) _exit(3);
            for (int i = 0; i < 5; i++) {
                tally_lease l;
                if (tally_lease_acquire(t, "pool", 3, 3600000, &l) != TALLY_OK) _exit(4);
                got += l.ok;
            }
            tally_close(t);
            if (write(fds[1], &got, sizeof got) != sizeof got) _exit(5);
            _exit(0);
        }
    }
    close(fds[1]);
    int total = 0, got, status;
    for (int k = 0; k < 8; k++) {
        assert_true(wait(&status) > 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    while (read(fds[0], &got, sizeof got) == sizeof got) total += got;
    close(fds[0]);
    assert_int_equal(total, 3);
    assert_int_equal(th_int("ZCARD tally:v1:{k:pool}:ls"), 3);
}

/* Issue 10, item 10: lease ids are 128 random bits (32 lowercase hex digits)
 * that no one can guess. Two handles in this process and one in a forked child
 * take 300 leases each: every id is well-formed and distinct, and every one of
 * the 128 bits is set in about half of them (a clock or a counter would leave
 * most bits fixed; 300..600 of 900 is ten standard deviations either side). */
static int by_text(const void *x, const void *y) { return strcmp(x, y); }

/* Takes n leases into ids; 0, or -1 on a failure (checked by the caller once
 * the child is reaped, so a failure leaves no process behind). */
static int take_ids(tally *t, int n, char (*ids)[33]) {
    for (int i = 0; i < n; i++) {
        tally_lease l;
        if (tally_lease_acquire(t, "ids", 1000000, 60000, &l) != TALLY_OK || !l.ok) return -1;
        memcpy(ids[i], l.id, 33);
    }
    return 0;
}

static void lease_ids_are_random_128_bits(void **state) {
    (void)state;
    enum { EACH = 300, ALL = 3 * EACH };
    static char ids[ALL][33];
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    if (child == 0) {
        tally_config cfg;
        tally_config_init(&cfg);
        cfg.url = th_url();
        tally *t = NULL;
        if (tally_open(&cfg, &t) != TALLY_OK) _exit(3);
        if (take_ids(t, EACH, ids) < 0) _exit(4);
        if (write(fds[1], ids, sizeof ids[0] * EACH) != (ssize_t)(sizeof ids[0] * EACH)) _exit(5);
        tally_close(t);
        _exit(0);
    }
    close(fds[1]);
    tally *a = th_open(NULL), *b = th_open(NULL);
    int took = take_ids(a, EACH, ids) | take_ids(b, EACH, ids + EACH);
    size_t want = sizeof ids[0] * EACH, got = 0;
    while (got < want) {
        ssize_t n = read(fds[0], (char *)ids[2 * EACH] + got, want - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, want);
    if (took < 0) fail_msg("acquire: %s", tally_errmsg(a)[0] ? tally_errmsg(a) : tally_errmsg(b));
    tally_close(a);
    tally_close(b);
    int set[128] = { 0 };
    for (int i = 0; i < ALL; i++) {
        if (strlen(ids[i]) != 32 || strspn(ids[i], "0123456789abcdef") != 32) fail_msg("lease id '%s'", ids[i]);
        for (int bit = 0; bit < 128; bit++) {
            char c = ids[i][bit / 4];
            int v = c <= '9' ? c - '0' : c - 'a' + 10;
            set[bit] += (v >> (3 - bit % 4)) & 1;
        }
    }
    for (int bit = 0; bit < 128; bit++)
        if (set[bit] < 300 || set[bit] > 600) fail_msg("bit %d is set in %d of %d ids", bit, set[bit], ALL);
    qsort(ids, ALL, sizeof ids[0], by_text);
    for (int i = 1; i < ALL; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0) fail_msg("two leases got id %s", ids[i]);
    assert_int_equal(th_int("ZCARD tally:v1:{k:ids}:ls"), ALL);
}

/* ------------------------------------------------------------------ the tool */

/* The tool's JSON decision, parsed; fails the test unless it is an object
 * with every documented member. Free with tj_free(). */
static tj *decision(const char *out) {
    tj *d = tj_parse(out);
    if (!d || d->type != TJ_OBJECT) fail_msg("not a JSON object: %s", out);
    static const char *const members[] = { "allowed", "limit", "remaining", "retry_after_ms", "reset_after_ms",
                                           "denied_by", "server_time_us", "policy", "rules" };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        if (!tj_get(d, members[i])) fail_msg("no \"%s\" in %s", members[i], out);
    return d;
}

static int allowed(const tj *d) {
    const tj *a = tj_get(d, "allowed");
    assert_int_equal(a->type, TJ_BOOL);
    return a->boolean;
}

static void cli_allow_and_limits(void **state) {
    (void)state;
    const char *url = th_url();
    char *out, *err;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "c1", "--limit", "3/1h",
                             "--algo", "sliding-log", "--json"), 0);
        tj *d = decision(out);
        assert_true(allowed(d));
        assert_int_equal(tj_int(d, "remaining"), 2 - i);
        assert_int_equal(tj_get(d, "denied_by")->type, TJ_NULL);
        assert_int_equal(tj_get(d, "rules")->n, 1);
        assert_string_equal(tj_str(tj_at(tj_get(d, "rules"), 0), "algo"), "sliding-log");
        tj_free(d);
        free(out);
    }
    char before[41], after[41];
    th_digest(before);
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "c1", "--limit", "3/1h",
                         "--algo", "sliding-log", "--json"), 1);
    tj *d = decision(out);
    assert_false(allowed(d));
    assert_int_equal(tj_int(d, "denied_by"), 0);
    assert_int_equal(tj_int(d, "limit"), 3);
    assert_true(tj_int(d, "retry_after_ms") > 0);
    assert_true(tj_int(d, "server_time_us") > 0);
    assert_string_equal(tj_str(d, "policy"), "redis");
    tj_free(d);
    free(out);
    assert_int_equal(RUN(&out, NULL, "limits", "--url", url, "--key", "c1", "--limit", "3/1h,algo=sliding-log"), 1);
    assert_non_null(strstr(out, "would be denied by rule 0"));
    free(out);
    th_digest(after);
    assert_string_equal(before, after);
    /* several rules, tokens and cost */
    assert_int_equal(RUN(&out, NULL, "limits", "--url", url, "--key", "c2", "--limit", "60/1m", "--limit",
                         "tokens:1000/1m", "--limit", "cost:5/1d", "--tokens", "10", "--cost", "0.25",
                         "--json"), 0);
    d = decision(out);
    assert_int_equal(tj_get(d, "rules")->n, 3);
    assert_int_equal(tj_int(tj_at(tj_get(d, "rules"), 2), "remaining"), 5000000000LL);
    tj_free(d);
    free(out);
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "c2", "--limit", "60/1m", "--limit",
                         "tokens:1000/1m", "--limit", "cost:5/1d", "--cost", "5.01", "--json"), 1);
    d = decision(out);
    assert_int_equal(tj_int(d, "denied_by"), 2);
    assert_int_equal(tj_int(d, "retry_after_ms"), -1);
    tj_free(d);
    free(out);
    /* failure policy */
    assert_int_equal(RUN(&out, &err, "allow", "--url", "redis://127.0.0.1:1", "--key", "c", "--limit",
                         "1/1s", "--fail-open", "--json"), 0);
    d = decision(out);
    assert_true(allowed(d));
    assert_string_equal(tj_str(d, "policy"), "fail-open");
    assert_int_equal(tj_get(d, "rules")->n, 0);
    tj_free(d);
    assert_non_null(strstr(err, "fail-open"));
    free(out);
    free(err);
    assert_int_equal(RUN(&out, NULL, "allow", "--url", "redis://127.0.0.1:1", "--key", "c", "--limit",
                         "1/1s", "--fail-closed"), 1);
    free(out);
    assert_int_equal(RUN(NULL, NULL, "allow", "--url", "redis://127.0.0.1:1", "--key", "c", "--limit", "1/1s"), 3);
}

static void cli_bad_input_exit_2_writes_nothing(void **state) {
    (void)state;
    const char *url = th_url();
    assert_int_equal(RUN(NULL, NULL, "allow", "--url", url, "--key", "b", "--limit", "2/1m"), 0);
    char before[41], after[41];
    th_digest(before);
    static const struct { const char *flag, *value, *says; } bad[] = {
        { "--limit", "0/1m", "positive" },        { "--limit", "-5/1m", "positive" },
        { "--limit", "5/1y", "window" },          { "--limit", "5/0s", "window" },
        { "--limit", "bytes:5/1m", "unknown unit" }, { "--algo", "leaky", "--algo" },
        { "--tokens", "-3", "--tokens" },         { "--cost", "1e3", "--cost" },
        { "--burst", "5", "gcra" },               { "--frob", "x", "unknown option" },
        { "--key", "", "key" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *err;
        int is_key = strcmp(bad[i].flag, "--key") == 0;
        int rc = is_key ? RUN(NULL, &err, "allow", "--url", url, "--key", "", "--limit", "2/1m")
                        : RUN(NULL, &err, "allow", "--url", url, "--key", "b", "--limit", "2/1m", bad[i].flag,
                              bad[i].value);
        if (rc != 2 || !strstr(err, bad[i].says))
            fail_msg("%s %s: exit %d, stderr '%s'", bad[i].flag, bad[i].value, rc, err);
        free(err);
    }
    assert_int_equal(RUN(NULL, NULL, "allow", "--url", url, "--key", "b"), 2);
    assert_int_equal(RUN(NULL, NULL, "allow", "--url", url, "--key", "b", "--limit", "1/1m", "--fail-open",
                         "--fail-closed"), 2);
    assert_int_equal(RUN(NULL, NULL, "lease", "acquire", "--url", url, "--key", "b", "--limit", "0",
                         "--lease-ms", "10"), 2);
    assert_int_equal(RUN(NULL, NULL, "lease", "acquire", "--url", url, "--key", "b", "--limit", "1"), 2);
    assert_int_equal(RUN(NULL, NULL, "lease", "renew", "--url", url, "--key", "b", "--id", "bogus",
                         "--lease-ms", "10"), 2);
    assert_int_equal(RUN(NULL, NULL, "lease", "steal", "--url", url, "--key", "b"), 2);
    th_digest(after);
    assert_string_equal(before, after);
}

static void cli_lease(void **state) {
    (void)state;
    const char *url = th_url();
    char *id, *out, *err;
    assert_int_equal(RUN(&id, NULL, "lease", "acquire", "--url", url, "--key", "L", "--limit", "1",
                         "--lease-ms", "60000"), 0);
    id[strcspn(id, "\n")] = '\0';
    assert_int_equal(strlen(id), 32);
    assert_int_equal(strspn(id, "0123456789abcdef"), 32);
    assert_int_equal(RUN(NULL, &err, "lease", "acquire", "--url", url, "--key", "L", "--limit", "1",
                         "--lease-ms", "60000"), 1);
    assert_non_null(strstr(err, "denied"));
    free(err);
    assert_int_equal(RUN(&out, NULL, "lease", "acquire", "--url", url, "--key", "L", "--limit", "1",
                         "--lease-ms", "60000", "--json"), 1);
    tj *l = tj_parse(out);
    assert_non_null(l);
    assert_false(tj_get(l, "ok")->boolean);
    assert_int_equal(tj_get(l, "id")->type, TJ_NULL);
    assert_int_equal(tj_int(l, "holders"), 1);
    assert_true(tj_int(l, "retry_after_ms") > 0);
    tj_free(l);
    free(out);
    assert_int_equal(RUN(NULL, NULL, "lease", "renew", "--url", url, "--key", "L", "--id", id,
                         "--lease-ms", "60000"), 0);
    assert_int_equal(RUN(NULL, NULL, "lease", "release", "--url", url, "--key", "L", "--id", id), 0);
    assert_int_equal(RUN(NULL, NULL, "lease", "release", "--url", url, "--key", "L", "--id", id), 1);
    assert_int_equal(RUN(NULL, NULL, "lease", "renew", "--url", url, "--key", "L", "--id", id,
                         "--lease-ms", "60000"), 1);
    assert_int_equal(RUN(NULL, NULL, "lease", "acquire", "--url", url, "--key", "L", "--limit", "1",
                         "--lease-ms", "60000"), 0);
    free(id);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_clock_is_opt_in, th_clean),
        cmocka_unit_test_setup(counts_down_then_denies, th_clean),
        cmocka_unit_test_setup(retry_after_is_exact_and_denials_consume_nothing, th_clean),
        cmocka_unit_test_setup(never_fits_is_minus_one, th_clean),
        cmocka_unit_test_setup(rules_all_or_nothing, th_clean),
        cmocka_unit_test_setup(peek_writes_nothing, th_clean),
        cmocka_unit_test_setup(contention_exactly_limit, th_clean),
        cmocka_unit_test_setup(sliding_window_bound, th_clean),
        cmocka_unit_test_setup(gcra_is_smooth, th_clean),
        cmocka_unit_test_setup(bad_input_writes_nothing, th_clean),
        cmocka_unit_test_setup(failure_policy, th_clean),
        cmocka_unit_test_setup(leases_reclaim_after_lease_ms, th_clean),
        cmocka_unit_test_setup(leases_contention, th_clean),
        cmocka_unit_test_setup(lease_ids_are_random_128_bits, th_clean),
        cmocka_unit_test_setup(cli_allow_and_limits, th_clean),
        cmocka_unit_test_setup(cli_bad_input_exit_2_writes_nothing, th_clean),
        cmocka_unit_test_setup(cli_lease, th_clean),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_done();
    return rc;
}
