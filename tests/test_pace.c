/* test_pace.c -- unit: the size of record's script calls and the calls in
 * flight (c/pace.c), fed sequences of measured call times; no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pace.h"

#define BOUND 5000 /* max_script_us */

/* A server where a call of u units runs fixed + per_unit * u microseconds:
 * n calls, each as big as the budget allows, are measured. */
static void run_calls(tally_pace *p, int n, double fixed, double per_unit) {
    for (int i = 0; i < n; i++) {
        size_t u = tally__pace_budget(p, BOUND);
        tally__pace_learn(p, u, (long long)(fixed + per_unit * (double)u));
    }
}

/* The budget of a server at 1 us per unit and 20 us a call: 0.6 x 5000 less
 * the fixed cost's share. */
static void assert_steady(const tally_pace *p) {
    size_t b = tally__pace_budget(p, BOUND);
    assert_in_range(b, 2900, 3000);
}

static void first_call_and_steady_state(void **state) {
    (void)state;
    tally_pace p;
    memset(&p, 0, sizeof p);
    assert_int_equal(tally__pace_budget(&p, BOUND), TALLY_PACE_FIRST);
    tally__pace_learn(&p, 100, 0);  /* under the clock's resolution: not a measure */
    tally__pace_learn(&p, 0, 500);  /* no work: not a measure */
    assert_int_equal(tally__pace_budget(&p, BOUND), TALLY_PACE_FIRST);
    run_calls(&p, 20, 20, 1.0);
    assert_steady(&p);
    /* the budget scales with the bound and stays within its floor and ceiling */
    assert_in_range(tally__pace_budget(&p, 2 * BOUND), 5800, 6000);
    assert_int_equal(tally__pace_budget(&p, 100), 64);
    memset(&p, 0, sizeof p);
    tally__pace_learn(&p, 1000000, 1);
    assert_int_equal(tally__pace_budget(&p, 10000000), 10000000);
}

/* One call descheduled for 200 ms: the calls after it keep their size. */
static void one_descheduled_call_is_passed_over(void **state) {
    (void)state;
    tally_pace p;
    memset(&p, 0, sizeof p);
    run_calls(&p, 20, 20, 1.0);
    tally__pace_learn(&p, tally__pace_budget(&p, BOUND), 200000);
    assert_steady(&p);
    /* a small one (the end of a batch) descheduled as long: the same */
    tally__pace_learn(&p, 64, 200000);
    assert_steady(&p);
}

/* A stretch of slow calls (the machine busy for a while) shrinks calls to the
 * floor; once the server is quick again the calls grow back within the
 * ring's length, though the floor's small calls are timed with the fixed
 * cost of a call in them. Before pace.c, calls under 256 units were not timed
 * and the floor was 64: the budget stayed at 64 for good. */
static void calls_grow_back_after_a_slow_stretch(void **state) {
    (void)state;
    tally_pace p;
    memset(&p, 0, sizeof p);
    run_calls(&p, 20, 20, 1.0);
    for (int i = 0; i < TALLY_PACE_SAMPLES; i++) tally__pace_learn(&p, 2000, 200000);
    assert_int_equal(tally__pace_budget(&p, BOUND), 64);
    run_calls(&p, TALLY_PACE_SAMPLES + 2, 20, 1.0);
    assert_steady(&p);
    /* the same after many small calls (tally_record, one event each) */
    run_calls(&p, 5, 20, 1.0);
    for (int i = 0; i < 100; i++) tally__pace_learn(&p, 70, 90);
    assert_in_range(tally__pace_budget(&p, BOUND), 2000, 3000); /* 20 us of 90 are the call's own */
    run_calls(&p, 3, 20, 1.0);
    assert_steady(&p);
}

/* Calls in flight: one at small bounds, one more per 1.25 ms, at most 4. */
static void window_follows_the_bound(void **state) {
    (void)state;
    static const struct { int64_t bound; int window; } w[] = {
        { 100, 1 }, { 500, 1 }, { 1000, 1 }, { 2499, 1 }, { 2500, 2 }, { 3750, 3 }, { 5000, 4 }, { 10000000, 4 },
    };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) assert_int_equal(tally__pace_window(w[i].bound), w[i].window);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_call_and_steady_state),
        cmocka_unit_test(one_descheduled_call_is_passed_over),
        cmocka_unit_test(calls_grow_back_after_a_slow_stretch),
        cmocka_unit_test(window_follows_the_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
