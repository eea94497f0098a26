/* test_window.c -- unit: the window's bookkeeping (window.c), the decisions
 * it makes for each call without a server: what a reply's kind asks for, how
 * many times a call may go, the back-off, and which calls without an answer
 * or unsent go again. What it does on the wire is the redis, faults and
 * cluster suites' (test_scripts, test_faults, test_cluster_failover,
 * test_cluster_replica). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reply.h"
#include "window.h"

static void an_answer_to_use_is_taken_whatever_the_tries(void **state) {
    (void)state;
    for (int tries = 0; tries < TALLY_WINDOW_TRIES; tries++)
        assert_int_equal(tally__window_verdict(TALLY_REPLY_USE, tries), TALLY_WINDOW_TAKE);
}

static void noscript_reloads_and_redirections_go_again(void **state) {
    (void)state;
    assert_int_equal(tally__window_verdict(TALLY_REPLY_RELOAD, 0), TALLY_WINDOW_RELOAD);
    assert_int_equal(tally__window_verdict(TALLY_REPLY_MOVED, 0), TALLY_WINDOW_AGAIN);
    assert_int_equal(tally__window_verdict(TALLY_REPLY_ASK, 3), TALLY_WINDOW_AGAIN);
    assert_int_equal(tally__window_verdict(TALLY_REPLY_WAIT, 10), TALLY_WINDOW_AGAIN);
}

/* A call answered MOVED (or NOSCRIPT, or TRYAGAIN) every time goes exactly
 * TALLY_WINDOW_TRIES times, then the window gives up. */
static void a_call_goes_at_most_the_tries(void **state) {
    (void)state;
    int kinds[] = { TALLY_REPLY_RELOAD, TALLY_REPLY_MOVED, TALLY_REPLY_ASK, TALLY_REPLY_WAIT };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        int sends = 1, tries = 0;
        while (tally__window_verdict(kinds[k], tries) != TALLY_WINDOW_GIVE_UP) {
            tries++;
            sends++;
            assert_true(sends <= 100);
        }
        assert_int_equal(sends, TALLY_WINDOW_TRIES);
    }
}

static void the_back_off_doubles_to_800_ms(void **state) {
    (void)state;
    const long ms[] = { 25, 50, 100, 200, 400, 800, 800, 800 };
    for (int tries = 0; tries < 8; tries++) assert_int_equal(tally__window_backoff_ns(tries), ms[tries] * 1000000L);
    assert_int_equal(tally__window_backoff_ns(TALLY_WINDOW_TRIES), 800000000L);
}

/* Only a replica's read goes again after its connection failed: a write, or
 * a read after a timeout (the deadline is spent), is lost, its outcome unknown. */
static void only_a_replica_read_goes_again_without_an_answer(void **state) {
    (void)state;
    assert_int_equal(tally__window_unanswered(1, TALLY_EIO), TALLY_WINDOW_AGAIN);
    assert_int_equal(tally__window_unanswered(1, TALLY_ECONNECT), TALLY_WINDOW_AGAIN);
    assert_int_equal(tally__window_unanswered(1, TALLY_ETIMEOUT), TALLY_WINDOW_LOST);
    assert_int_equal(tally__window_unanswered(1, TALLY_ENOMEM), TALLY_WINDOW_LOST);
    assert_int_equal(tally__window_unanswered(0, TALLY_EIO), TALLY_WINDOW_LOST);
    assert_int_equal(tally__window_unanswered(0, TALLY_ECONNECT), TALLY_WINDOW_LOST);
}

/* An unsent call goes again only on a cluster, whose map may have moved:
 * when it was routed without reading the map, or its node refused the
 * connection; a single server's unsent call is lost (as TALLY_ECONNECT). */
static void an_unsent_call_goes_again_only_on_a_cluster(void **state) {
    (void)state;
    assert_int_equal(tally__window_unsent(1, 0, 0, TALLY_ECONNECT), TALLY_WINDOW_AGAIN);
    assert_int_equal(tally__window_unsent(1, 0, 1, TALLY_EAUTH), TALLY_WINDOW_AGAIN);
    assert_int_equal(tally__window_unsent(1, 1, 1, TALLY_ECONNECT), TALLY_WINDOW_AGAIN);
    assert_int_equal(tally__window_unsent(1, 1, 0, TALLY_ECONNECT), TALLY_WINDOW_LOST);
    assert_int_equal(tally__window_unsent(1, 1, 1, TALLY_EAUTH), TALLY_WINDOW_LOST);
    assert_int_equal(tally__window_unsent(1, 1, 1, TALLY_ETIMEOUT), TALLY_WINDOW_LOST);
    for (int map_read = 0; map_read < 2; map_read++)
        for (int reached = 0; reached < 2; reached++)
            assert_int_equal(tally__window_unsent(0, map_read, reached, TALLY_ECONNECT), TALLY_WINDOW_LOST);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_answer_to_use_is_taken_whatever_the_tries),
        cmocka_unit_test(noscript_reloads_and_redirections_go_again),
        cmocka_unit_test(a_call_goes_at_most_the_tries),
        cmocka_unit_test(the_back_off_doubles_to_800_ms),
        cmocka_unit_test(only_a_replica_read_goes_again_without_an_answer),
        cmocka_unit_test(an_unsent_call_goes_again_only_on_a_cluster),
    };
    return cmocka_run_group_tests_name("window", tests, NULL, NULL);
}
