/* test_tool_units.c -- unit (no server): the tally tool's typed option values
 * (tools/tally/opt.c), the same for flags and NDJSON fields, and the back-off
 * schedule of `record --stdin` (tools/tally/import.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "harness.h"
#include "import.h"
#include "ndjson.h"
#include "opt.h"

static char err[512];

/* Sets o from text; fails the test when refused. */
static void accepts(opt o, const char *text, int tz) {
    if (opt_set(&o, text, tz, err, sizeof err) < 0) fail_msg("%s refused '%s': %s", o.name, text, err);
}

static size_t dst_size(const opt *o) {
    return o->kind == KIND_PERIOD ? sizeof(tally_period)
           : o->kind == KIND_OFFSET || o->kind == KIND_CHOICE ? sizeof(int)
                                                              : sizeof(int64_t);
}

/* Expects text refused with a message naming the option; dst unchanged. */
static void refuses(opt o, const char *text) {
    unsigned char before[sizeof(tally_period)];
    memcpy(before, o.dst, dst_size(&o));
    err[0] = '\0';
    if (opt_set(&o, text, 0, err, sizeof err) == 0) fail_msg("%s accepted '%s'", o.name, text);
    if (!strstr(err, o.name)) fail_msg("%s '%s': message '%s' does not name it", o.name, text, err);
    assert_memory_equal(before, o.dst, dst_size(&o));
}

static void counts_are_plain_numbers(void **state) {
    (void)state;
    int64_t v = -7;
    opt n = OPT_COUNT("-n", &v, 1, 1000);
    accepts(n, "5", 0);
    assert_int_equal(v, 5);
    accepts(n, "1000", 0);
    assert_int_equal(v, 1000);
    static const char *const bad[] = { " 5",  "5 ",  "+5", "-5", "010", "05", "0",    "1001", "",
                                       "5x", "0x10", "1e3", "5.0", "99999999999999999999", "١" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) refuses(n, bad[i]);
    opt tokens = OPT_COUNT("--tokens", &v, 0, TALLY_MAX_TOKENS);
    accepts(tokens, "0", 0);
    assert_int_equal(v, 0);
    accepts(tokens, "1000000000000", 0);
    assert_int_equal(v, TALLY_MAX_TOKENS);
    refuses(tokens, "1000000000001");
    refuses(tokens, " +5");
    refuses(tokens, "9223372036854775808");
    assert_true(opt_plain_number("9999999999999999999"));
    assert_false(opt_plain_number("10000000000000000000"));
}

static void milliseconds_and_usd(void **state) {
    (void)state;
    int64_t v = -1;
    opt ms = OPT_MS("--timeout", &v, 1, 3600000);
    accepts(ms, "250", 0);
    assert_int_equal(v, 250);
    refuses(ms, "0");
    refuses(ms, "3600001");
    refuses(ms, "1s");
    refuses(ms, "0250");
    opt usd = OPT_USD("--cost", &v, TALLY_MAX_COST_NANOS);
    accepts(usd, "0.0123", 0);
    assert_int_equal(v, 12300000);
    accepts(usd, "0", 0);
    assert_int_equal(v, 0);
    accepts(usd, "1000000", 0);
    assert_int_equal(v, TALLY_MAX_COST_NANOS);
    static const char *const bad[] = { "010", "00.5", "+1", "-1", " 1", "1 ", "1e3", ".5", "5.",
                                       "0.0000000001", "1000000.000000001", "NaN", "inf", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) refuses(usd, bad[i]);
}

static void times_offsets_periods(void **state) {
    (void)state;
    int64_t at = -1;
    opt t = OPT_TIME("--at", &at);
    accepts(t, "1764151200000", 0);
    assert_int_equal(at, 1764151200000LL);
    accepts(t, "2025-11-26T18:00:00", 480); /* read in the timezone */
    assert_int_equal(at, 1764151200000LL);
    accepts(t, "2025-11-26T10:00:00Z", 480);
    assert_int_equal(at, 1764151200000LL);
    static const char *const bad_times[] = { "0",  "01764151200000", "+1764151200000", " 1764151200000",
                                             "1970-01-01T00:00:00Z", "2026-01-01T00:00+14:59", "-5", "" };
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) refuses(t, bad_times[i]);
    int tz = 99;
    opt o = OPT_OFFSET("--tz", &tz);
    accepts(o, "+14:00", 0);
    assert_int_equal(tz, 840);
    accepts(o, "UTC", 0);
    assert_int_equal(tz, 0);
    static const char *const bad_tz[] = { "", "+14:30", "+14:59", "+8", "08:00", " +08:00" };
    for (size_t i = 0; i < sizeof bad_tz / sizeof bad_tz[0]; i++) refuses(o, bad_tz[i]);
    tally_period p = { 0 };
    opt any = OPT_PERIOD("--period", &p, TALLY_TOTAL, TALLY_HOUR);
    accepts(any, "hour:2026-11-30T01", 0);
    assert_int_equal(p.kind, TALLY_HOUR);
    assert_int_equal(p.year, 2026);
    assert_int_equal(p.month, 11);
    assert_int_equal(p.day, 30);
    assert_int_equal(p.hour, 1);
    refuses(any, "hour:2026-11-30T+1");
    refuses(any, "day:2026- 2-28");
    opt days = OPT_PERIOD("--window", &p, TALLY_TOTAL, TALLY_DAY);
    accepts(days, "day:2026-02-28", 0);
    assert_int_equal(p.kind, TALLY_DAY);
    assert_int_equal(p.year, 2026);
    assert_int_equal(p.month, 2);
    assert_int_equal(p.day, 28);
    assert_int_equal(p.hour, 0);
    refuses(days, "hour");
    refuses(days, "hour:2026-11-30T01");
}

static void choices_texts_flags(void **state) {
    (void)state;
    static const char *const words[] = { "hour", "day", "month", NULL };
    int by = -1;
    opt c = OPT_CHOICE("--by", &by, words);
    accepts(c, "month", 0);
    assert_int_equal(by, 2);
    refuses(c, "week");
    assert_non_null(strstr(err, "hour, day or month"));
    refuses(c, "Hour");
    const char *s = NULL;
    opt text = OPT_TEXT("--key", &s);
    accepts(text, "k 1", 0);
    assert_string_equal(s, "k 1");
    assert_int_equal(opt_set(&text, "", 0, err, sizeof err), -1);
    assert_string_equal(err, "--key is empty");
    int flag = 0;
    opt f = OPT_FLAG("--json", &flag);
    assert_int_equal(opt_set(&f, NULL, 0, err, sizeof err), 0);
    assert_int_equal(flag, 1);
}

/* The event's fields are one declaration: flags and NDJSON names differ only
 * in their names, and refuse the same text with the same words. */
static void flags_and_ndjson_share_rules(void **state) {
    (void)state;
    tally_event a, b;
    opt flags[EVENT_FIELDS + 1], json[EVENT_FIELDS + 1];
    event_fields(&a, 0, flags);
    event_fields(&b, 1, json);
    static const char *const pairs[][2] = { { "--key", "key" },     { "--model", "model" },
                                            { "--account", "account" }, { "--input", "input" },
                                            { "--output", "output" }, { "--cache-create", "cache_create" },
                                            { "--cache-read", "cache_read" }, { "--cost", "cost" },
                                            { "--id", "id" },       { "--at", "at" } };
    for (int i = 0; i < EVENT_FIELDS; i++) {
        assert_string_equal(flags[i].name, pairs[i][0]);
        assert_string_equal(json[i].name, pairs[i][1]);
        assert_int_equal(flags[i].kind, json[i].kind);
        assert_int_equal(flags[i].min, json[i].min);
        assert_int_equal(flags[i].max, json[i].max);
        /* an event's ranges are the library's to check, not the tool's */
        if (flags[i].kind == KIND_COUNT || flags[i].kind == KIND_USD) assert_int_equal(flags[i].max, INT64_MAX);
        assert_int_equal((char *)flags[i].dst - (char *)&a, (char *)json[i].dst - (char *)&b);
    }
    assert_null(flags[EVENT_FIELDS].name);
    /* the same bad text, the same message but for the name */
    char e1[512], e2[512];
    assert_int_equal(opt_set(&flags[3], "01", 0, e1, sizeof e1), -1);
    assert_int_equal(opt_set(&json[3], "01", 0, e2, sizeof e2), -1);
    assert_string_equal(e1 + strlen("--input"), e2 + strlen("input"));
}

static void backoff_schedule(void **state) {
    (void)state;
    static const long want_ms[IMPORT_RETRIES] = { 50, 100, 200, 400, 800, 1600, 1600, 1600 };
    long total = 0;
    for (int n = 1; n <= IMPORT_RETRIES; n++) {
        struct timespec ts = import_backoff(n);
        th_assert_ge(ts.tv_nsec, 0); /* a valid nanosleep() argument */
        th_assert_lt(ts.tv_nsec, 1000000000L);
        long ms = (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        assert_int_equal(ms, want_ms[n - 1]);
        total += ms;
    }
    assert_int_equal(total, 6350); /* the documented window: about 6 s */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_are_plain_numbers),
        cmocka_unit_test(milliseconds_and_usd),
        cmocka_unit_test(times_offsets_periods),
        cmocka_unit_test(choices_texts_flags),
        cmocka_unit_test(flags_and_ndjson_share_rules),
        cmocka_unit_test(backoff_schedule),
    };
    return cmocka_run_group_tests_name("tool_units", tests, NULL, NULL);
}
