/* test_leases.c -- redis: leases (concurrency limits). Never more than `limit`
 * live holders, a crashed holder's lease reclaimed exactly when it ends,
 * renew and release, contention between processes, and lease ids that no one
 * can guess. Time moves only through the test clock, never by sleeping. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define T0 1700000000123456LL /* a fixed "now" in us */

/* Leases: never more than `limit` live holders; a crashed holder's lease is
 * reclaimed exactly when it ends, not before; renew extends, release frees. */
static void leases_reclaim_after_lease_ms(void **state) {
    (void)state;
    tally *t = th_open_clock(T0);
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
    long long ttl = th_int("PTTL tally:v3:{k:job}:ls");
    th_assert_gt(ttl, 0);
    th_assert_le(ttl, 1000);
    tally_close(t);
}

/* One of 8 processes: 5 tries for a lease of the pool of 3; how many it got. */
static int lease_taker(int child, void *arg) {
    (void)child, (void)arg;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    tally *t = NULL;
    int got = 0;
    if (tally_open(&cfg, &t) != TALLY_OK) return -3;
    for (int i = 0; i < 5; i++) {
        tally_lease l;
        if (tally_lease_acquire(t, "pool", 3, 3600000, &l) != TALLY_OK) return -4;
        got += l.ok;
    }
    tally_close(t);
    return got;
}

static void leases_contention(void **state) {
    (void)state;
    assert_int_equal(th_children_sum(8, lease_taker, NULL), 3);
    assert_int_equal(th_int("ZCARD tally:v3:{k:pool}:ls"), 3);
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
    th_reap(child);
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
    assert_int_equal(th_int("ZCARD tally:v3:{k:ids}:ls"), ALL);
}

/* A new id already held by a live lease is refused before the script writes
 * anything: the expired lease beside it is still there afterwards. */
static void live_id_refused_before_any_write(void **state) {
    (void)state;
    tally *t = th_open(NULL); /* loads the scripts */
    const char *key = "tally:v3:{k:dup}:ls", *id = "0123456789abcdef0123456789abcdef";
    freeReplyObject(th_cmd("ZADD %s 1 expired 99999999999999999 %s", key, id));
    redisReply *r = th_cmd("EVALSHA %s 1 %s acquire 0 10 1000 %s", tally_script_find("lease")->sha1, key, id);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    th_assert_mentions(r->str, "already in use");
    freeReplyObject(r);
    assert_int_equal(th_int("ZCARD %s", key), 2);
    tally_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(live_id_refused_before_any_write, th_clean),
        cmocka_unit_test_setup(leases_reclaim_after_lease_ms, th_clean),
        cmocka_unit_test_setup(leases_contention, th_clean),
        cmocka_unit_test_setup(lease_ids_are_random_128_bits, th_clean),
    };
    int rc = cmocka_run_group_tests_name("leases", tests, NULL, NULL);
    th_done();
    return rc;
}
