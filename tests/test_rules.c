/* test_rules.c -- unit: parsing of rule and window text, no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tally.h"

static int parse(const char *s, tally_rule *r, char *err) {
    return tally_rule_parse(s, strlen(s), r, err, 256);
}

static void windows(void **state) {
    (void)state;
    static const struct { const char *s; int64_t ms; } ok[] = {
        { "500ms", 500 }, { "60s", 60000 }, { "1m", 60000 }, { "1h", 3600000 },
        { "1d", 86400000 }, { "365d", 31536000000LL }, { "1ms", 1 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = 0;
        assert_int_equal(tally_window_parse(ok[i].s, strlen(ok[i].s), &ms), TALLY_OK);
        assert_int_equal(ms, ok[i].ms);
    }
    static const char *bad[] = { "", "0s", "1", "m", "1x", "-1s", "1.5s", "366d", "1 s", "1S",
                                 "1msx", "9999999999999999ms", "s1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        assert_int_equal(tally_window_parse(bad[i], strlen(bad[i]), &ms), TALLY_EINVAL);
        assert_int_equal(ms, 42);
    }
}

static void rules_ok(void **state) {
    (void)state;
    tally_rule r;
    char err[256];
    assert_int_equal(parse("100/1m", &r, err), TALLY_OK);
    assert_int_equal(r.counts, TALLY_COUNT_REQUESTS);
    assert_int_equal(r.algo, TALLY_ALGO_SLIDING_WINDOW);
    assert_int_equal(r.limit, 100);
    assert_int_equal(r.window_ms, 60000);
    assert_int_equal(r.burst, 0);
    assert_int_equal(parse("tokens:100000/1m", &r, err), TALLY_OK);
    assert_int_equal(r.counts, TALLY_COUNT_TOKENS);
    assert_int_equal(r.limit, 100000);
    assert_int_equal(parse("cost:5/1d", &r, err), TALLY_OK);
    assert_int_equal(r.counts, TALLY_COUNT_COST);
    assert_int_equal(r.limit, 5000000000LL);
    assert_int_equal(r.window_ms, 86400000);
    assert_int_equal(parse("cost:0.000000001/1h", &r, err), TALLY_OK);
    assert_int_equal(r.limit, 1);
    assert_int_equal(parse("requests:10/1s,algo=gcra,burst=20", &r, err), TALLY_OK);
    assert_int_equal(r.algo, TALLY_ALGO_GCRA);
    assert_int_equal(r.burst, 20);
    assert_int_equal(parse("cost:1/1h,burst=0.5,algo=gcra", &r, err), TALLY_OK);
    assert_int_equal(r.burst, 500000000);
    assert_int_equal(parse("7/500ms,algo=sliding-log", &r, err), TALLY_OK);
    assert_int_equal(r.algo, TALLY_ALGO_SLIDING_LOG);
    assert_int_equal(parse("7/1h,algo=fixed", &r, err), TALLY_OK);
    assert_int_equal(r.algo, TALLY_ALGO_FIXED);
    assert_int_equal(parse("1000000000000000/1d", &r, err), TALLY_OK);
    assert_string_equal(tally_algo_name(TALLY_ALGO_GCRA), "gcra");
    assert_null(tally_algo_name(4));
    assert_string_equal(tally_counts_name(TALLY_COUNT_COST), "cost");
}

/* Each bad rule is refused, names the problem, and leaves *rule untouched. */
static void rules_bad(void **state) {
    (void)state;
    static const struct { const char *s, *says; } bad[] = {
        { "", "N/WINDOW" }, { "100", "N/WINDOW" }, { "0/1m", "positive" }, { "-5/1m", "positive" },
        { "5/0s", "window" }, { "5/1x", "window '1x'" }, { "5/", "window" }, { "/1m", "positive" },
        { "bytes:5/1m", "unknown unit 'bytes'" }, { "tokens:1.5/1m", "positive integer" },
        { "cost:-1/1d", "cost" }, { "cost:0.0000000001/1d", "cost" }, { "cost:0/1d", "cost" },
        { "5/1m,algo=leaky", "unknown algorithm 'leaky'" }, { "5/1m,burst=3", "gcra" },
        { "5/1m,algo=gcra,burst=0", "burst" }, { "5/1m,colour=red", "unknown option" },
        { "1000000000000001/1d", "1e15" }, { "5/1m,", "unknown option" }, { "5 /1m", "positive" },
        { "cost:1000001/1d", "cost" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tally_rule r = { 9, 9, 9, 9, 9 };
        char err[256];
        assert_int_equal(parse(bad[i].s, &r, err), TALLY_EINVAL);
        if (!strstr(err, bad[i].says)) fail_msg("'%s': message '%s' lacks '%s'", bad[i].s, err, bad[i].says);
        assert_int_equal(r.limit, 9);
    }
    /* not NUL-terminated: only n bytes are read */
    tally_rule r;
    assert_int_equal(tally_rule_parse("5/1mXYZ", 4, &r, NULL, 0), TALLY_OK);
    assert_int_equal(r.window_ms, 60000);
    assert_int_equal(tally_rule_parse(NULL, 0, &r, NULL, 0), TALLY_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows),
        cmocka_unit_test(rules_ok),
        cmocka_unit_test(rules_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
