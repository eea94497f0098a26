/* test_bad_input.c -- redis: the cross-cutting bad-input table (issue #7).
 * Every bad number, amount, id, URL, flag and NDJSON line, through the C API and
 * the tool: a clear message, TALLY_EINVAL or exit 2, and the dataset unchanged
 * (DEBUG DIGEST). Resource limits (maxmemory, keys of the wrong type) are in
 * test_resource_limits.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#pragma GCC diagnostic ignored "-Woverride-init" /* EV(): defaults, then the bad field */

static char long_id[258], bad_utf8[] = "ab\xff", ctrl_id[] = "a\x01z", overlong[] = "\xc0\xaf",
            surrogate[] = "\xed\xa0\x80";

/* ----------------------------------------------------------------- C API */

typedef struct {
    const char *name;
    tally_event e;
    const char *says; /* a word the message must contain */
} bad_event;

static void api_events(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t future = (int64_t)time(NULL) * 1000 + 3600 * 1000;
    bad_event table[] = {
#define EV(...) { .key = "k", .model = "m", __VA_ARGS__ }
        { "negative input", EV(.input_tokens = -1), "negative" },
        { "negative output", EV(.output_tokens = -5), "negative" },
        { "negative cache-create", EV(.cache_create_tokens = -1), "negative" },
        { "negative cache-read", EV(.cache_read_tokens = INT64_MIN), "negative" },
        { "negative cost", EV(.cost_nanos = -1), "negative" },
        { "tokens past 2^53", EV(.input_tokens = 9007199254740993LL), "above" },
        { "tokens at int64 max", EV(.output_tokens = INT64_MAX), "above" },
        { "tokens just past the cap", EV(.cache_read_tokens = TALLY_MAX_TOKENS + 1), "above" },
        { "cost past 2^53", EV(.cost_nanos = 9007199254740993LL), "above" },
        { "cost at int64 max", EV(.cost_nanos = INT64_MAX), "above" },
        { "negative time", EV(.at_ms = -1), "time" },
        { "time past 9999", EV(.at_ms = 253402300800000LL), "time" },
        { "time in the future", EV(.at_ms = future), "future" },
        { "no key", { .model = "m" }, "key" },
        { "empty key", EV(.key = ""), "empty" },
        { "no model", { .key = "k" }, "model" },
        { "257-byte key", EV(.key = long_id), "256" },
        { "257-byte model", EV(.model = long_id), "256" },
        { "257-byte account", EV(.account = long_id), "256" },
        { "257-byte request id", EV(.request_id = long_id), "256" },
        { "control character in key", EV(.key = ctrl_id), "control" },
        { "control character in request id", EV(.request_id = ctrl_id), "control" },
        { "invalid UTF-8 key", EV(.key = bad_utf8), "UTF-8" },
        { "overlong UTF-8 model", EV(.model = overlong), "UTF-8" },
        { "UTF-16 surrogate in account", EV(.account = surrogate), "UTF-8" },
#undef EV
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int rc = tally_record(t, &table[i].e, NULL);
        if (rc != TALLY_EINVAL || !th_mentions(tally_errmsg(t), table[i].says))
            fail_msg("%s: got %s '%s', want invalid argument naming '%s'", table[i].name, tally_strerror(rc),
                     tally_errmsg(t), table[i].says);
        tally_result res;
        assert_int_equal(tally_record_batch(t, &table[i].e, 1, &res), TALLY_OK);
        if (res.code != TALLY_EINVAL) fail_msg("%s: batch said %s", table[i].name, tally_strerror(res.code));
        if (table[i].e.at_ms != future) {
            assert_int_equal(tally_event_check(t, &table[i].e), TALLY_EINVAL);
        }
        th_unchanged(table[i].name);
    }
    tally_close(t);
}

static void api_money_rules_budgets(void **state) {
    (void)state;
    const char *money[] = { "", "NaN", "nan", "inf", "-inf", "Infinity", "1e3", "1E3", "0x10", "-1", "+1",
                            " 1", "1 ", "1.", ".5", "1..2", "0.0000000001", "1.1234567891",
                            "9223372036.854775808", "9223372037", "99999999999999999999", "1,5", "$1" };
    for (size_t i = 0; i < sizeof money / sizeof money[0]; i++) {
        int64_t v = 12345;
        if (tally_usd_to_nanos(money[i], &v) != TALLY_EINVAL || v != 12345)
            fail_msg("money '%s' was accepted", money[i]);
    }
    int64_t v;
    assert_int_equal(tally_usd_to_nanos(NULL, &v), TALLY_EINVAL);
    assert_int_equal(tally_usd_to_nanos("9223372036.854775807", &v), TALLY_OK); /* the largest */
    assert_int_equal(v, INT64_MAX);

    const char *rules[] = { "", "0/1m", "-1/1m", "5/0s", "5/-1s", "5/1y", "5/366d", "5/1m,algo=nope",
                            "5/1m,burst=3", "tokens:0/1m", "cost:NaN/1d", "cost:1e3/1d", "cost:-1/1d",
                            "1000000000000001/1m", "9223372036854775808/1m", "5", "/1m", "5/", "bogus:5/1m",
                            "5/1m,", "5/1m,algo=gcra,burst=0", "5/1m,colour=red", "5/1.5s", "5/ 1m" };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        tally_rule r;
        char err[200];
        if (tally_rule_parse(rules[i], strlen(rules[i]), &r, err, sizeof err) != TALLY_EINVAL || !err[0])
            fail_msg("rule '%s' was accepted (or no message)", rules[i]);
    }
    const char *windows[] = { "", "0s", "1", "ms", "1x", "366d", "99999999999999999m", "-1s", "1 s" };
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        int64_t ms;
        if (tally_window_parse(windows[i], strlen(windows[i]), &ms) != TALLY_EINVAL)
            fail_msg("window '%s' was accepted", windows[i]);
    }
    const char *budgets[] = { "", "cost:5", "cost:0/day", "cost:-1/day", "cost:NaN/day", "cost:1e3/day",
                              "cost:5/week", "tokens:1.5/day", "tokens:0/day", "tokens:9999999999999999/day",
                              "team:cost:5/day", "cost:0.0000000001/day" };
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        tally_budget b;
        if (tally_budget_parse(budgets[i], &b) != TALLY_EINVAL) fail_msg("budget '%s' was accepted", budgets[i]);
    }
}

static void api_admission_numbers(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    tally_rule ok = { 0, TALLY_ALGO_FIXED, 5, 60000, 0 };
    tally_rule bad[] = {
        { 0, TALLY_ALGO_FIXED, 0, 60000, 0 },  { 0, TALLY_ALGO_FIXED, -5, 60000, 0 },
        { 0, TALLY_ALGO_FIXED, 5, 0, 0 },      { 0, TALLY_ALGO_FIXED, 5, -1, 0 },
        { 0, TALLY_ALGO_FIXED, INT64_MAX, 60000, 0 }, { 0, TALLY_ALGO_FIXED, 5, TALLY_WINDOW_MAX_MS + 1, 0 },
        { 7, TALLY_ALGO_FIXED, 5, 60000, 0 },  { 0, 9, 5, 60000, 0 },
        { 0, TALLY_ALGO_FIXED, 5, 60000, 3 },  { 0, TALLY_ALGO_GCRA, 5, 60000, -1 },
    };
    tally_decision d;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tally_allow(t, "adm", &bad[i], 1, NULL, &d), TALLY_EINVAL);
        assert_int_equal(d.allowed, 0);
        assert_int_equal(d.decided, TALLY_DECIDED_ERROR);
        assert_string_not_equal(tally_errmsg(t), "");
    }
    tally_request reqs[] = { { -1, 0, 0 }, { 0, -1, 0 }, { TALLY_LIMIT_MAX + 1, 0, 0 }, { 0, INT64_MAX, 0 },
                             { 0, 0, 7 } };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++)
        assert_int_equal(tally_allow(t, "adm", &ok, 1, &reqs[i], &d), TALLY_EINVAL);
    const char *keys[] = { "", long_id, ctrl_id, bad_utf8 };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tally_allow(t, keys[i], &ok, 1, NULL, &d), TALLY_EINVAL);
        tally_lease l;
        assert_int_equal(tally_lease_acquire(t, keys[i], 1, 1000, &l), TALLY_EINVAL);
    }
    assert_int_equal(tally_allow(t, NULL, &ok, 1, NULL, &d), TALLY_EINVAL);
    assert_int_equal(tally_allow(t, "adm", &ok, 0, NULL, &d), TALLY_EINVAL);
    assert_int_equal(tally_allow(t, "adm", &ok, TALLY_RULES_MAX + 1, NULL, &d), TALLY_EINVAL);
    tally_lease l;
    assert_int_equal(tally_lease_acquire(t, "adm", 0, 1000, &l), TALLY_EINVAL);
    assert_int_equal(tally_lease_acquire(t, "adm", -1, 1000, &l), TALLY_EINVAL);
    assert_int_equal(tally_lease_acquire(t, "adm", 1000001, 1000, &l), TALLY_EINVAL);
    assert_int_equal(tally_lease_acquire(t, "adm", 1, 0, &l), TALLY_EINVAL);
    assert_int_equal(tally_lease_acquire(t, "adm", 1, INT64_MAX, &l), TALLY_EINVAL);
    assert_int_equal(tally_lease_renew(t, "adm", "", 1000, &l), TALLY_EINVAL);
    assert_int_equal(tally_lease_release(t, "adm", long_id, &l), TALLY_EINVAL);
    tally_budget cap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1000 };
    tally_reservation rs[] = {
        { "k", NULL, "r1", -1, 0, 1000, NULL }, { "k", NULL, "r1", 0, -1, 1000, NULL },
        { "k", NULL, "r1", INT64_MAX, 0, 1000, NULL }, { "k", NULL, "r1", 0, 0, 0, NULL },
        { "k", NULL, "", 0, 0, 1000, NULL }, { "k", NULL, NULL, 0, 0, 1000, NULL }, { "", NULL, "r1", 0, 0, 1000, NULL },
        { "k", NULL, ctrl_id, 0, 0, 1000, NULL },
    };
    tally_budget_decision bd;
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        assert_int_equal(tally_reserve(t, &rs[i], &cap, 1, &bd), TALLY_EINVAL);
    tally_budget badcap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 0 };
    assert_int_equal(tally_reserve(t, &rs[0], &badcap, 1, &bd), TALLY_EINVAL);
    tally_period p;
    const char *periods[] = { "", "yesterday", "day:2026-13-01", "day:2026-02-30", "month:2026-00",
                              "hour:2026-01-01T24", "day:2026-1-1" };
    for (size_t i = 0; i < sizeof periods / sizeof periods[0]; i++)
        assert_int_equal(tally_period_parse(t, periods[i], &p), TALLY_EINVAL);
    tally_bucket b;
    tally_period tot = { TALLY_TOTAL, 0, 0, 0, 0 };
    assert_int_equal(tally_stats(t, 9, "k", &tot, &b), TALLY_EINVAL);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, long_id, &tot, &b), TALLY_EINVAL);
    assert_int_equal(tally_metrics(t, 0, &b), TALLY_EINVAL);
    assert_int_equal(tally_metrics(t, 1441, &b), TALLY_EINVAL);
    tally_point pts[1];
    assert_int_equal(tally_trend(t, TALLY_SCOPE_KEY, "k", TALLY_HOUR, 0, pts), TALLY_EINVAL);
    assert_int_equal(tally_trend(t, TALLY_SCOPE_KEY, "k", TALLY_TOTAL, 1, pts), TALLY_EINVAL);
    tally_rank *r;
    size_t n;
    assert_int_equal(tally_top(t, TALLY_RANK_COST, &tot, 0, &r, &n), TALLY_EINVAL);
    assert_int_equal(tally_top(t, 7, &tot, 5, &r, &n), TALLY_EINVAL);
    th_unchanged("bad admission, lease, budget and query arguments");
    tally_close(t);

    /* Bad configurations and URLs: refused before connecting. */
    const char *urls[] = { "http://127.0.0.1", "redis://", "redis://:6379", "redis://h:0", "redis://h:65536",
                           "redis://h:99999999999", "redis://h:-1", "redis://h/abc", "redis://h/-1",
                           "redis://[::1", "redis://h x", "unix://relative.sock", "unix:///s?db=x",
                           "redis://u:%zz@h", "redis://h:6379/0/extra" };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        tally_config cfg;
        tally_config_init(&cfg);
        cfg.url = urls[i];
        tally *u = NULL;
        int rc = tally_open(&cfg, &u);
        if (rc != TALLY_EINVAL || !th_mentions(tally_errmsg(u), "URL"))
            fail_msg("URL '%s': %s '%s'", urls[i], tally_strerror(rc), tally_errmsg(u));
        tally_close(u);
    }
}

/* ------------------------------------------------------------------ tool */

typedef struct {
    const char *argv[14];
    const char *says;
} bad_run;

static void tool_table(void **state) {
    (void)state;
    const char *url = th_url();
    bad_run table[] = {
        { { "record", "--key", "k", "--model", "m", "--input", "-1" }, "--input" },
        { { "record", "--key", "k", "--model", "m", "--input", "1.5" }, "--input" },
        { { "record", "--key", "k", "--model", "m", "--input", "1e3" }, "--input" },
        { { "record", "--key", "k", "--model", "m", "--output", "9223372036854775808" }, "--output" },
        { { "record", "--key", "k", "--model", "m", "--cache-read", "9007199254740993" }, "cache-read tokens" },
        { { "record", "--key", "k", "--model", "m", "--cache-create", "" }, "--cache-create" },
        { { "record", "--key", "k", "--model", "m", "--input", "0x10" }, "--input" },
        { { "record", "--key", "k", "--model", "m", "--cost", "NaN" }, "--cost" },
        { { "record", "--key", "k", "--model", "m", "--cost", "inf" }, "--cost" },
        { { "record", "--key", "k", "--model", "m", "--cost", "1e3" }, "--cost" },
        { { "record", "--key", "k", "--model", "m", "--cost", "0.0000000001" }, "--cost" },
        { { "record", "--key", "k", "--model", "m", "--cost", "-0.5" }, "--cost" },
        { { "record", "--key", "k", "--model", "m", "--cost", "99999999999" }, "--cost" },
        { { "record", "--key", "", "--model", "m" }, "key" },
        { { "record", "--key", long_id, "--model", "m" }, "256" },
        { { "record", "--key", ctrl_id, "--model", "m" }, "control" },
        { { "record", "--key", bad_utf8, "--model", "m" }, "UTF-8" },
        { { "record", "--key", "k", "--model", "m", "--id", "" }, "--id" },
        { { "record", "--key", "k", "--model", "m", "--id", long_id }, "256" },
        { { "record", "--key", "k", "--model", "m", "--account", bad_utf8 }, "UTF-8" },
        { { "record", "--key", "k", "--model", "m", "--account", "" }, "--account" },
        { { "record", "--key", "k", "--model", "m", "--at", "yesterday" }, "--at" },
        { { "record", "--key", "k", "--model", "m", "--at", "2026-02-30T00:00Z" }, "--at" },
        { { "record", "--key", "k", "--model", "m", "--tz", "+15:00" }, "timezone" },
        { { "record", "--key", "k" }, "--model" },
        { { "record", "--key", "k", "--model", "m", "--bogus", "1" }, "--bogus" },
        { { "record", "--key", "k", "--model", "m", "--input" }, "--input" },
        { { "record", "--stdin", "--key", "k" }, "--stdin" },
        { { "record", "--key", "k", "--model", "m", "--timeout", "0" }, "--timeout" },
        { { "record", "--key", "k", "--model", "m", "--timeout", "-5" }, "--timeout" },
        { { "record", "--key", "k", "--model", "m", "--timeout", "99999999999999999999" }, "--timeout" },
        { { "record", "--key", "k", "--model", "m", "--prefix", "a{b}" }, "prefix" },
        { { "allow", "--key", "k", "--limit", "0/1m" }, "0/1m" },
        { { "allow", "--key", "k", "--limit", "-5/1m" }, "-5/1m" },
        { { "allow", "--key", "k", "--limit", "5/0s" }, "window" },
        { { "allow", "--key", "k", "--limit", "5/366d" }, "window" },
        { { "allow", "--key", "k", "--limit", "9223372036854775808/1m" }, "amount" },
        { { "allow", "--key", "k", "--limit", "cost:NaN/1d" }, "cost" },
        { { "allow", "--key", "k", "--limit", "5/1m", "--tokens", "-1" }, "--tokens" },
        { { "allow", "--key", "k", "--limit", "5/1m", "--cost", "1e3" }, "--cost" },
        { { "allow", "--key", "k", "--limit", "5/1m", "--algo", "nope" }, "nope" },
        { { "allow", "--key", "k" }, "--limit" },
        { { "allow", "--key", ctrl_id, "--limit", "5/1m" }, "control" },
        { { "limits", "--key", "k", "--limit", "5/1m", "--burst", "0" }, "burst" },
        { { "lease", "acquire", "--key", "k", "--limit", "0", "--lease-ms", "1000" }, "limit" },
        { { "lease", "acquire", "--key", "k", "--limit", "1", "--lease-ms", "-1" }, "lease" },
        { { "lease", "renew", "--key", "k", "--lease-ms", "1000" }, "--id" },
        { { "lease", "explode", "--key", "k" }, "explode" },
        { { "reserve", "--key", "k", "--id", "r", "--budget", "cost:-1/day", "--cost", "1" }, "budget" },
        { { "reserve", "--key", "k", "--id", "r", "--budget", "cost:5/day", "--cost", "NaN" }, "--cost" },
        { { "reserve", "--key", "k", "--id", "r", "--budget", "cost:5/day", "--tokens", "-3" }, "--tokens" },
        { { "settle", "--key", "k", "--model", "m" }, "--id" },
        { { "stats", "--key", "k", "--period", "day:2026-13-40" }, "period" },
        { { "stats", "--key", long_id }, "256" },
        { { "top", "--by", "cost", "-n", "0" }, "-n" },
        { { "top", "--by", "cost", "-n", "99999999999999999999" }, "-n" },
        { { "trend", "--key", "k", "--by", "hour", "--last", "1001" }, "--last" },
        { { "metrics", "--minutes", "0" }, "--minutes" },
        { { "metrics", "--minutes", "-1" }, "--minutes" },
        { { "frobnicate" }, "frobnicate" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *argv[20];
        int n = 0, k = 0;
        argv[n++] = table[i].argv[k++];
        if (strcmp(argv[0], "frobnicate") != 0) {
            argv[n++] = "--url";
            argv[n++] = url;
        }
        while (table[i].argv[k]) argv[n++] = table[i].argv[k++];
        argv[n] = NULL;
        char *out, *err;
        int code = th_run(argv, NULL, &out, &err);
        if (code != 2 || !th_mentions(err, table[i].says) || strncmp(err, "tally", 5) != 0)
            fail_msg("row %zu (%s): exit %d, stderr '%s', want exit 2 naming '%s'", i, argv[0], code, err,
                     table[i].says);
        free(out);
        free(err);
        th_unchanged(table[i].argv[0]);
    }
    /* Bad URLs: exit 2 with a message, no password echoed. */
    const char *urls[] = { "http://127.0.0.1", "redis://h:99999", "redis://h/abc", "redis://u:hunter2x@h:0",
                           "unix://relative" };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char *err;
        int code = th_run((const char *const[]){ "stats", "--global", "--url", urls[i], NULL }, NULL, NULL, &err);
        if (code != 2 || !th_mentions(err, "URL") || strstr(err, "hunter2x"))
            fail_msg("url '%s': exit %d, stderr '%s'", urls[i], code, err);
        free(err);
    }
}

static void tool_ndjson_lines(void **state) {
    (void)state;
    static char big[600];
    snprintf(big, sizeof big, "{\"key\":\"%s\",\"model\":\"m\"}", long_id);
    const char *lines[] = {
        "not json",
        "{",
        "{}",
        "[1,2]",
        "{\"key\":\"k\"}",
        "{\"model\":\"m\"}",
        "{\"key\":\"k\",\"model\":\"m\",\"input\":-1}",
        "{\"key\":\"k\",\"model\":\"m\",\"input\":1.5}",
        "{\"key\":\"k\",\"model\":\"m\",\"input\":1e3}",
        "{\"key\":\"k\",\"model\":\"m\",\"input\":\"5\"}",
        "{\"key\":\"k\",\"model\":\"m\",\"output\":99999999999999999999}",
        "{\"key\":\"k\",\"model\":\"m\",\"cache_read\":9007199254740993}",
        "{\"key\":\"k\",\"model\":\"m\",\"input\":true}",
        "{\"key\":\"k\",\"model\":\"m\",\"input\":null}",
        "{\"key\":\"k\",\"model\":\"m\",\"cost\":\"NaN\"}",
        "{\"key\":\"k\",\"model\":\"m\",\"cost\":NaN}",
        "{\"key\":\"k\",\"model\":\"m\",\"cost\":Infinity}",
        "{\"key\":\"k\",\"model\":\"m\",\"cost\":1e3}",
        "{\"key\":\"k\",\"model\":\"m\",\"cost\":\"0.0000000001\"}",
        "{\"key\":\"k\",\"model\":\"m\",\"cost\":-1}",
        "{\"key\":\"\",\"model\":\"m\"}",
        big,
        "{\"key\":\"a\\u0001b\",\"model\":\"m\"}",
        "{\"key\":\"a\xff\",\"model\":\"m\"}",
        "{\"key\":\"a\\ud800\",\"model\":\"m\"}",
        "{\"key\":\"a\\u0000\",\"model\":\"m\"}",
        "{\"key\":\"a\\x41\",\"model\":\"m\"}",
        "{\"key\":\"k\",\"model\":\"m\",\"id\":\"\"}",
        "{\"key\":\"k\",\"model\":\"m\",\"account\":\"\"}",
        "{\"key\":\"k\",\"model\":\"m\",\"bogus\":1}",
        "{\"key\":\"k\",\"key\":\"k2\",\"model\":\"m\"}",
        "{\"key\":\"k\",\"model\":\"m\"} trailing",
        "{\"key\":\"k\",\"model\":\"m\",}",
        "{\"key\":\"k\" \"model\":\"m\"}",
        "{\"key\":\"k\",\"model\":\"m\",\"at\":\"garbage\"}",
        "{\"key\":\"k\",\"model\":\"m\",\"at\":-5}",
        "{\"key\":\"k\",\"model\":[\"m\"]}",
        "{\"key\":\"k\",\"model\":\"m\",\"account\":5}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char input[1024], *out, *err;
        snprintf(input, sizeof input, "%s\n", lines[i]);
        int code = th_run((const char *const[]){ "record", "--stdin", "--url", th_url(), NULL }, input, &out, &err);
        if (code != 2 || !strstr(err, "line 1:") || !strstr(out, "recorded 0, duplicate 0, rejected 1"))
            fail_msg("line '%s': exit %d, stdout '%s', stderr '%s'", lines[i], code, out, err);
        free(out);
        free(err);
        th_unchanged(lines[i]);
    }
}

int main(void) {
    memset(long_id, 'x', 257);
    long_id[257] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(api_events, th_seed),
        cmocka_unit_test_setup(api_money_rules_budgets, th_seed),
        cmocka_unit_test_setup(api_admission_numbers, th_seed),
        cmocka_unit_test_setup(tool_table, th_seed),
        cmocka_unit_test_setup(tool_ndjson_lines, th_seed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_done();
    return rc;
}
