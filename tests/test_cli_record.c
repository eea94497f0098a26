/* test_cli_record.c -- redis: `tally record` (flags and --stdin) and the JSON
 * of `stats`, `models`, `trend`, `top` and `metrics`, with exit statuses. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json_read.h"

static void contains(const char *hay, const char *needle) {
    if (!hay || !strstr(hay, needle)) fail_msg("'%s' not found in: %s", needle, hay ? hay : "(null)");
}

/* The all-time bucket of a key or account, read through the library. */
static tally_bucket total_of(int scope, const char *id) {
    tally *t = th_open(NULL);
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    assert_int_equal(tally_stats(t, scope, id, &total, &b), TALLY_OK);
    tally_close(t);
    return b;
}

static void record_prints_status(void **state) {
    (void)state;
    const char *url = th_url();
    char *out;
    assert_int_equal(RUN(&out, NULL, "record", "--missing-price-zero", "--url", url, "--key", "k", "--model", "m", "--input", "10",
                         "--output", "5", "--cache-create", "2", "--cache-read", "1", "--cost", "0.0123",
                         "--account", "a", "--id", "r1"), 0);
    assert_string_equal(out, "recorded\n");
    free(out);
    assert_int_equal(RUN(&out, NULL, "record", "--missing-price-zero", "--url", url, "--key", "k", "--model", "m", "--id", "r1"), 0);
    assert_string_equal(out, "duplicate: unpriced (no price for m: cost 0)\n");
    free(out);
    assert_int_equal(RUN(&out, NULL, "record", "--missing-price-zero", "--url", url, "--key", "k", "--model", "m", "--id", "r1", "--json"), 0);
    tj_assert_equal(out, "{\"status\":\"duplicate\",\"cost\":\"0.00\",\"cost_nanos\":0,\"price_version\":null,"
                         "\"priced\":false}");
    free(out);
    assert_int_equal(RUN(&out, NULL, "record", "--missing-price-zero", "--url", url, "--key=k", "--model=m", "--id=r2", "--json"), 0);
    tj_assert_equal(out, "{\"status\":\"recorded\",\"cost\":\"0.00\",\"cost_nanos\":0,\"price_version\":null,"
                         "\"priced\":false}");
    free(out);
    /* read back through the library */
    tally_bucket b = total_of(TALLY_SCOPE_KEY, "k");
    assert_int_equal(b.requests, 2);
    assert_int_equal(b.input_tokens, 10);
    assert_int_equal(b.total_tokens, 18);
    assert_int_equal(b.cost_nanos, 12300000);
    assert_int_equal(total_of(TALLY_SCOPE_ACCOUNT, "a").requests, 1);
}

/* Issue 20, item 2: ids chosen so that their old 64-bit fingerprints collide
 * are two requests: the second is recorded and its money counted. */
static void colliding_ids_are_both_recorded(void **state) {
    (void)state;
    const char *url = th_url();
    const char *ids[2] = { "2200A0CAAA0E0BA6", "92R8L0DXOCXAOCG8" };
    char *out;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(RUN(&out, NULL, "record", "--url", url, "--key", "k", "--model", "m", "--cost", "100",
                             "--id", ids[i]), 0);
        assert_string_equal(out, "recorded\n");
        free(out);
    }
    assert_int_equal(RUN(&out, NULL, "record", "--url", url, "--key", "k", "--model", "m", "--cost", "100",
                         "--id", ids[1]), 0);
    assert_string_equal(out, "duplicate\n");
    free(out);
    tally_bucket b = total_of(TALLY_SCOPE_KEY, "k");
    assert_int_equal(b.requests, 2);
    assert_int_equal(b.cost_nanos, 200000000000LL);
}

static void record_bad_flags_exit_2_and_write_nothing(void **state) {
    (void)state;
    const char *url = th_url();
    assert_int_equal(RUN(NULL, NULL, "record", "--missing-price-zero", "--url", url, "--key", "k", "--model", "m"), 0);
    static const struct { const char *flag, *value, *word; } bad[] = {
        { "--input", "-1", "--input" },
        { "--input", "abc", "--input" },
        { "--output", "1.5", "--output" },
        { "--cache-read", "10000000000000", "cache-read tokens is above" }, /* the library's word */
        { "--cost", "1e3", "--cost" },
        { "--cost", "0.1234567891", "--cost" },
        { "--cost", "-1", "--cost" },
        { "--at", "2026-02-29T00:00Z", "--at" },
        { "--at", "tomorrow", "--at" },
        { "--frobnicate", "1", "--frobnicate" },
        { "--tz", "+8", "timezone" },
        { "--key", "", "key" },
        { "--model", "", "model" },
        { "--id", "a\x01" "b", "request id" },
        { "--at", "9999-12-31T00:00Z", "future" },
    };
    char before[41], after[41];
    th_digest(before);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *key = strcmp(bad[i].flag, "--key") == 0 ? bad[i].value : "k";
        const char *model = strcmp(bad[i].flag, "--model") == 0 ? bad[i].value : "m";
        const char *flag = strcmp(bad[i].flag, "--key") == 0 || strcmp(bad[i].flag, "--model") == 0 ? "--input"
                                                                                                      : bad[i].flag;
        const char *value = flag == bad[i].flag ? bad[i].value : "1";
        char *err;
        int code = RUN(NULL, &err, "record", "--missing-price-zero", "--url", url, "--key", key, "--model", model, flag, value);
        if (code != 2) fail_msg("%s %s: exit %d: %s", bad[i].flag, bad[i].value, code, err);
        contains(err, bad[i].word);
        free(err);
    }
    char *err;
    assert_int_equal(RUN(NULL, &err, "record", "--missing-price-zero", "--url", url, "--model", "m"), 2);
    contains(err, "--key");
    free(err);
    assert_int_equal(RUN(NULL, &err, "record", "--missing-price-zero", "--url", url, "--key", "k"), 2);
    contains(err, "--model");
    free(err);
    assert_int_equal(RUN(NULL, &err, "record", "--missing-price-zero", "--url", url, "--key", "k", "--model", "m", "--input"), 2);
    contains(err, "needs a value");
    free(err);
    assert_int_equal(RUN(NULL, &err, "record", "--missing-price-zero", "--url", url, "--stdin", "--key", "k"), 2);
    free(err);
    th_digest(after);
    assert_string_equal(before, after);
}

/* Issue 10, item 5: the epoch instant is not an event time; it was counted now. */
static void record_refuses_event_time_zero(void **state) {
    (void)state;
    const char *url = th_url();
    static const char *const zero[] = { "0", "00", "1970-01-01T00:00:00Z", "1970-01-01T08:00+08:00" };
    char before[41], after[41];
    th_digest(before);
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        for (int settle = 0; settle < 2; settle++) {
            char *err;
            int code = RUN(NULL, &err, settle ? "settle" : "record", "--missing-price-zero", "--url", url, "--key", "k", "--model", "m",
                           "--id", "r", "--at", zero[i]);
            if (code != 2) fail_msg("--at %s: exit %d: %s", zero[i], code, err);
            contains(err, "--at");
            contains(err, "after 1970-01-01T00:00:00Z");
            free(err);
        }
    }
    th_digest(after);
    assert_string_equal(before, after);
    /* 1 ms past the epoch is an event time: it counts in the total, not today. */
    char *out;
    assert_int_equal(RUN(NULL, NULL, "record", "--missing-price-zero", "--url", url, "--key", "k", "--model", "m", "--at", "1"), 0);
    assert_int_equal(RUN(&out, NULL, "stats", "--url", url, "--key", "k", "--period", "total", "--json"), 0);
    contains(out, "\"requests\":1,");
    free(out);
    assert_int_equal(RUN(&out, NULL, "stats", "--url", url, "--key", "k", "--period", "today", "--json"), 0);
    contains(out, "\"requests\":0,");
    free(out);
}

static void record_stdin_mixed_lines(void **state) {
    (void)state;
    const char *url = th_url();
    const char *input =
        "{\"key\":\"k1\",\"model\":\"m\",\"input\":10,\"cost\":0.5,\"id\":\"a\"}\n"   /* 1 good */
        "{\"key\":\"k1\",\"model\":\"m\",\"input\":-1}\n"                           /* 2 bad */
        "\n"                                                                          /* 3 blank */
        "{\"key\":\"k2\",\"model\":\"m\",\"output\":7,\"cost\":\"0.25\"}\r\n"        /* 4 good */
        "not json\n"                                                                  /* 5 bad */
        "{\"key\":\"k1\",\"model\":\"m\",\"input\":10,\"cost\":0.5,\"id\":\"a\"}\n"   /* 6 duplicate */
        "{\"key\":\"\",\"model\":\"m\"}\n"                                            /* 7 bad (empty key) */
        "{\"key\":\"k1\",\"model\":\"m\",\"at\":\"9999-01-01T00:00Z\"}\n"            /* 8 bad (future) */
        "{\"key\":\"k2\",\"model\":\"m\",\"input\":1,\"frob\":1}\n"                   /* 9 bad */
        "{\"key\":\"k2\",\"model\":\"m\",\"input\":1}";                               /* 10 good, no newline */
    char *out, *err;
    assert_int_equal(RUN_IN(input, &out, &err, "record", "--missing-price-zero", "--url", url, "--stdin"), 2);
    assert_string_equal(out, "recorded 3 (1 unpriced), duplicate 1, rejected 5\n");
    contains(err, "line 2:");
    contains(err, "line 5:");
    contains(err, "line 7:");
    contains(err, "line 8:");
    contains(err, "line 9:");
    contains(err, "frob");
    /* in line order, though line 8 is refused by Redis after line 9 by the
     * parser; its time as ISO-8601 (in --tz), the script's name said once */
    const char *l2 = strstr(err, "line 2:"), *l5 = strstr(err, "line 5:"), *l7 = strstr(err, "line 7:"),
               *l8 = strstr(err, "line 8:"), *l9 = strstr(err, "line 9:");
    assert_true(l2 < l5 && l5 < l7 && l7 < l8 && l8 < l9);
    contains(err, "tally record: line 8: an event time is in the future beyond the allowed 300000 ms: this "
                  "event's time is 9999-01-01T00:00:00.000Z (253370764800000 ms)\n");
    assert_null(strstr(err, "line 1:"));
    assert_null(strstr(err, "line 3:"));
    assert_null(strstr(err, "line 4:"));
    assert_null(strstr(err, "line 6:"));
    assert_null(strstr(err, "line 10:"));
    free(out);
    free(err);
    assert_int_equal(RUN_IN(input, &out, NULL, "record", "--missing-price-zero", "--url", url, "--stdin", "--json"), 2);
    tj_assert_equal(out, "{\"recorded\":2,\"duplicate\":2,\"rejected\":5,\"failed\":0,\"unknown\":0,\"unsent\":0,\"unpriced\":1}");
    free(out);
    /* all good lines: exit 0 */
    assert_int_equal(RUN_IN("{\"key\":\"k3\",\"model\":\"m\"}\n", &out, NULL, "record", "--missing-price-zero", "--url", url, "--stdin"), 0);
    assert_string_equal(out, "recorded 1 (1 unpriced), duplicate 0, rejected 0\n");
    free(out);
    tally *t = th_open(NULL);
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k1", &total, &b), TALLY_OK);
    assert_int_equal(b.requests, 1);
    assert_int_equal(b.cost_nanos, 500000000);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k2", &total, &b), TALLY_OK);
    assert_int_equal(b.requests, 4); /* lines 4 and 10, twice */
    assert_int_equal(b.total_tokens, 16);
    assert_int_equal(b.cost_nanos, 500000000);
    tally_close(t);
}

/* record --stdin --max-script-us: the bound of each script call (checked
 * before anything connects, with --stdin only); a small bound cuts the same
 * import into more calls than the largest. */
static void record_stdin_max_script_us(void **state) {
    (void)state;
    const char *url = th_url();
    char before[41], after[41], *err;
    th_digest(before);
    static const char *const bad[] = { "99", "10000001", "0", "1e3", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int code = RUN_IN("{\"key\":\"k\",\"model\":\"m\",\"cost\":\"0.1\"}\n", NULL, &err, "record", "--url", url,
                          "--stdin", "--max-script-us", bad[i]);
        if (code != 2) fail_msg("--max-script-us '%s': exit %d: %s", bad[i], code, err);
        contains(err, "--max-script-us");
        free(err);
    }
    assert_int_equal(RUN(NULL, &err, "record", "--url", url, "--key", "k", "--model", "m", "--cost", "0.1",
                         "--max-script-us", "1000"), 2);
    contains(err, "--max-script-us goes with --stdin");
    free(err);
    th_digest(after);
    assert_string_equal(before, after);
    /* 3,000 events of 300 keys, once at each end of the range */
    size_t n = 3000, cap = n * 96;
    char *input = malloc(cap), *o = input;
    assert_non_null(input);
    for (size_t i = 0; i < n; i++)
        o += snprintf(o, cap - (size_t)(o - input), "{\"key\":\"k%zu\",\"model\":\"m\",\"input\":%zu,\"cost\":\"0.001\"}\n",
                      i % 300, i);
    static const char *const bounds[] = { "100", "10000000" };
    long long calls[2];
    for (int b = 0; b < 2; b++) {
        char *out;
        freeReplyObject(th_cmd("CONFIG RESETSTAT"));
        assert_int_equal(RUN_IN(input, &out, NULL, "record", "--url", url, "--prefix", bounds[b], "--stdin",
                                "--max-script-us", bounds[b]), 0);
        assert_string_equal(out, "recorded 3000, duplicate 0, rejected 0\n");
        free(out);
        calls[b] = th_evalsha_calls();
    }
    free(input);
    if (calls[0] <= calls[1]) fail_msg("calls at 100 us: %lld, at 10 s: %lld", calls[0], calls[1]);
}

/* The JSON fields of one bucket, as documented. */
static void bucket_json(char *buf, size_t n, long long req, long long in, long long out, long long cc,
                        long long cr, const char *usd, long long nanos) {
    snprintf(buf, n,
             "\"requests\":%lld,\"input_tokens\":%lld,\"output_tokens\":%lld,\"cache_create_tokens\":%lld,"
             "\"cache_read_tokens\":%lld,\"total_tokens\":%lld,\"cost\":\"%s\",\"cost_nanos\":%lld",
             req, in, out, cc, cr, in + out + cc + cr, usd, nanos);
}

static void seed(void) {
    const char *url = th_url();
    assert_int_equal(RUN(NULL, NULL, "record", "--missing-price-zero", "--url", url, "--key", "k1", "--model", "m1", "--account", "a",
                         "--input", "10", "--output", "20", "--cache-create", "3", "--cache-read", "4",
                         "--cost", "1.5"), 0);
    assert_int_equal(RUN(NULL, NULL, "record", "--missing-price-zero", "--url", url, "--key", "k1", "--model", "m2", "--input", "1",
                         "--cost", "0.25"), 0);
    assert_int_equal(RUN(NULL, NULL, "record", "--missing-price-zero", "--url", url, "--key", "k2", "--model", "m1", "--input", "100",
                         "--cost", "0.000000001"), 0);
}

static void stats_models_json(void **state) {
    (void)state;
    seed();
    const char *url = th_url();
    char *out, want[2048], b[512];
    bucket_json(b, sizeof b, 2, 11, 20, 3, 4, "1.75", 1750000000);
    snprintf(want, sizeof want, "{\"scope\":\"key\",\"id\":\"k1\",\"period\":\"total\",\"found\":true,%s}", b);
    assert_int_equal(RUN(&out, NULL, "stats", "--url", url, "--key", "k1", "--json"), 0);
    tj_assert_equal(out, want);
    free(out);
    bucket_json(b, sizeof b, 3, 111, 20, 3, 4, "1.750000001", 1750000001);
    snprintf(want, sizeof want, "{\"scope\":\"global\",\"period\":\"total\",\"found\":true,%s}", b);
    assert_int_equal(RUN(&out, NULL, "stats", "--url", url, "--global", "--json"), 0);
    tj_assert_equal(out, want);
    free(out);
    assert_int_equal(RUN(&out, NULL, "stats", "--url", url, "--model", "m1", "--period", "today", "--json"), 0);
    tj *doc = tj_parse(out);
    assert_non_null(doc);
    assert_string_equal(tj_str(doc, "scope"), "model");
    assert_string_equal(tj_str(doc, "id"), "m1");
    assert_int_equal(tj_int(doc, "requests"), 2);
    tj_free(doc);
    free(out);
    assert_int_equal(RUN(&out, NULL, "stats", "--url", url, "--account", "a", "--period", "day:2020-01-01", "--json"), 0);
    bucket_json(b, sizeof b, 0, 0, 0, 0, 0, "0.00", 0);
    snprintf(want, sizeof want, "{\"scope\":\"account\",\"id\":\"a\",\"period\":\"2020-01-01\",\"found\":false,%s}", b);
    tj_assert_equal(out, want);
    free(out);
    /* models: most expensive first, each with "model" */
    char b1[512], b2[512];
    bucket_json(b1, sizeof b1, 1, 10, 20, 3, 4, "1.50", 1500000000);
    bucket_json(b2, sizeof b2, 1, 1, 0, 0, 0, "0.25", 250000000);
    snprintf(want, sizeof want, "[{\"model\":\"m1\",%s},{\"model\":\"m2\",%s}]", b1, b2);
    assert_int_equal(RUN(&out, NULL, "models", "--url", url, "--key", "k1", "--json"), 0);
    tj_assert_equal(out, want);
    free(out);
    assert_int_equal(RUN(&out, NULL, "models", "--url", url, "--period", "month", "--json"), 0);
    doc = tj_parse(out);
    assert_non_null(doc);
    assert_int_equal(doc->n, 2);
    assert_string_equal(tj_str(tj_at(doc, 0), "model"), "m1");
    assert_int_equal(tj_int(tj_at(doc, 0), "requests"), 2);
    assert_int_equal(tj_int(tj_at(doc, 0), "input_tokens"), 110);
    tj_free(doc);
    free(out);
    assert_int_equal(RUN(&out, NULL, "models", "--url", url, "--key", "nobody", "--json"), 0);
    tj_assert_equal(out, "[]");
    free(out);
}

static void trend_top_metrics_json(void **state) {
    (void)state;
    seed();
    const char *url = th_url();
    char *out;
    assert_int_equal(RUN(&out, NULL, "trend", "--url", url, "--key", "k1", "--by", "day", "--last", "3", "--json"), 0);
    /* three entries, oldest first; one of them (today, or yesterday should the
     * day have turned since seeding) holds the data, the others are empty */
    tj *doc = tj_parse(out);
    assert_non_null(doc);
    assert_int_equal(doc->type, TJ_ARRAY);
    assert_int_equal(doc->n, 3);
    char b[512], want[1024];
    bucket_json(b, sizeof b, 2, 11, 20, 3, 4, "1.75", 1750000000);
    int with_data = 0;
    for (size_t i = 0; i < 3; i++) {
        const tj *e = tj_at(doc, i);
        const char *prev = i > 0 ? tj_str(tj_at(doc, i - 1), "bucket") : NULL;
        if (prev && strcmp(prev, tj_str(e, "bucket")) >= 0)
            fail_msg("trend entry %zu (%s) is not after %s: %s", i, tj_str(e, "bucket"), prev, out);
        if (tj_int(e, "requests") == 0) continue;
        with_data++;
        snprintf(want, sizeof want, "{\"bucket\":\"%s\",%s}", tj_str(e, "bucket"), b);
        tj *w = tj_parse(want);
        if (!tj_equal(e, w)) fail_msg("trend entry %zu is not %s: %s", i, want, out);
        tj_free(w);
    }
    assert_int_equal(with_data, 1);
    tj_free(doc);
    free(out);
    assert_int_equal(RUN(&out, NULL, "top", "--url", url, "--by", "cost", "--json"), 0);
    tj_assert_equal(out, "[{\"rank\":1,\"key\":\"k1\",\"cost\":\"1.75\",\"cost_nanos\":1750000000},"
                         "{\"rank\":2,\"key\":\"k2\",\"cost\":\"0.000000001\",\"cost_nanos\":1}]");
    free(out);
    assert_int_equal(RUN(&out, NULL, "top", "--url", url, "--by", "tokens", "--window", "today", "--json"), 0);
    tj_assert_equal(out, "[{\"rank\":1,\"key\":\"k2\",\"total_tokens\":100},"
                         "{\"rank\":2,\"key\":\"k1\",\"total_tokens\":38}]");
    free(out);
    assert_int_equal(RUN(&out, NULL, "top", "--url", url, "--by", "requests", "--window", "month", "-n", "1", "--json"), 0);
    tj_assert_equal(out, "[{\"rank\":1,\"key\":\"k1\",\"requests\":2}]");
    free(out);
    assert_int_equal(RUN(&out, NULL, "metrics", "--url", url, "--minutes", "120", "--json"), 0);
    /* 3 requests and 138 tokens over 120 minutes: rates with two decimals */
    tj_assert_equal(out, "{\"minutes\":120,\"requests\":3,\"total_tokens\":138,\"rpm\":0.02,\"tpm\":1.15}");
    free(out);
}

/* Issue 23: the text outputs say what they show -- trend names the metric it
 * drew, metrics says "minute" for one, prices show has list's column header. */
static void text_outputs_name_what_they_show(void **state) {
    (void)state;
    seed();
    const char *url = th_url();
    char *out;
    assert_int_equal(RUN(&out, NULL, "trend", "--url", url, "--key", "k1", "--by", "day", "--last", "2", "--metric",
                         "requests"), 0);
    assert_memory_equal(out, "day                  requests\n", 29);
    free(out);
    assert_int_equal(RUN(&out, NULL, "trend", "--url", url, "--key", "k1", "--by", "hour", "--last", "1", "--metric",
                         "cost"), 0);
    assert_memory_equal(out, "hour                 cost USD\n", 29);
    free(out);
    assert_int_equal(RUN(&out, NULL, "trend", "--url", url, "--key", "k1", "--by", "month", "--last", "1"), 0);
    assert_memory_equal(out, "month                  tokens\n", 29); /* the default metric */
    free(out);
    assert_int_equal(RUN(&out, NULL, "metrics", "--url", url, "--minutes", "1"), 0);
    assert_memory_equal(out, "last 1 minute: ", 15);
    free(out);
    assert_int_equal(RUN(&out, NULL, "metrics", "--url", url, "--minutes", "2"), 0);
    assert_memory_equal(out, "last 2 minutes: ", 16);
    free(out);
    const char *prices = "{\"models\": {\"m1\": {\"input\": 3, \"output\": 15, \"cache_create\": 3.75, \"cache_read\": 0.3}}}";
    assert_int_equal(RUN_IN(prices, NULL, NULL, "prices", "load", "-", "--url", url), 0);
    char *list, *show;
    assert_int_equal(RUN(&list, NULL, "prices", "list", "--url", url), 0);
    assert_int_equal(RUN(&show, NULL, "prices", "show", "m1", "--url", url), 0);
    contains(show, "model                            from                            input       output "
                   "cache-create   cache-read\n");
    assert_string_equal(show, list); /* one entry: the same header and line */
    free(list);
    free(show);
}

/* `top` without --by ranks by cost (the seed's leaderboard): k2 leads by tokens
 * and k1 by cost, so the default order shows which ranking was used. */
static void top_defaults_to_cost(void **state) {
    (void)state;
    seed();
    const char *url = th_url();
    char *plain, *by_cost;
    assert_int_equal(RUN(&plain, NULL, "top", "--url", url, "--json"), 0);
    assert_int_equal(RUN(&by_cost, NULL, "top", "--url", url, "--by", "cost", "--json"), 0);
    assert_string_equal(plain, by_cost);
    contains(plain, "[{\"rank\":1,\"key\":\"k1\",\"cost\":\"1.75\"");
    free(plain);
    free(by_cost);
    assert_int_equal(RUN(&plain, NULL, "top", "--url", url), 0);
    contains(plain, "cost");
    free(plain);
}

static void bad_periods_and_windows_exit_2(void **state) {
    (void)state;
    const char *url = th_url();
    static const char *const cases[][8] = {
        { "stats", "--key", "k", "--period", "yesterday" },
        { "stats", "--key", "k", "--period", "day:2026-02-30" },
        { "stats", "--key", "k", "--period", "month:2026-13" },
        { "stats", "--key", "k", "--period", "hour:2026-01-01T24" },
        { "stats", "--key", "k", "--period", "day:2026-1-1" },
        { "stats", "--global", "--key", "k" },
        { "stats" },
        { "models", "--period", "hour" },
        { "models", "--period", "week" },
        { "trend", "--key", "k", "--by", "week" },
        { "trend", "--key", "k", "--by", "day", "--last", "0" },
        { "trend", "--key", "k", "--by", "day", "--last", "1001" },
        { "trend", "--key", "k" },
        { "top", "--by", "cost", "--window", "hour" },
        { "top", "--by", "cost", "--window", "day:2026-02-29" },
        { "top", "--by", "money" },
        { "top", "--by", "cost", "-n", "0" },
        { "metrics", "--minutes", "0" },
        { "metrics", "--minutes", "121" }, /* minute buckets are kept 2 h */
        { "metrics", "--minutes", "5x" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[12] = { 0 };
        int n = 0;
        for (; n < 8 && cases[i][n]; n++) argv[n] = cases[i][n];
        argv[n++] = "--url";
        argv[n++] = url;
        char *err;
        int code = th_run(argv, NULL, NULL, &err);
        if (code != 2) fail_msg("case %zu (%s %s %s): exit %d, %s", i, argv[0], argv[1], argv[2] ? argv[2] : "", code, err);
        assert_string_not_equal(err, "");
        free(err);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(record_prints_status, th_clean),
        cmocka_unit_test_setup(colliding_ids_are_both_recorded, th_clean),
        cmocka_unit_test_setup(record_bad_flags_exit_2_and_write_nothing, th_clean),
        cmocka_unit_test_setup(record_refuses_event_time_zero, th_clean),
        cmocka_unit_test_setup(record_stdin_mixed_lines, th_clean),
        cmocka_unit_test_setup(record_stdin_max_script_us, th_clean),
        cmocka_unit_test_setup(stats_models_json, th_clean),
        cmocka_unit_test_setup(trend_top_metrics_json, th_clean),
        cmocka_unit_test_setup(top_defaults_to_cost, th_clean),
        cmocka_unit_test_setup(text_outputs_name_what_they_show, th_clean),
        cmocka_unit_test_setup(bad_periods_and_windows_exit_2, th_clean),
    };
    int rc = cmocka_run_group_tests_name("cli_record", tests, NULL, NULL);
    th_done();
    return rc;
}
