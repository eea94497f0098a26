/* test_cli_parse.c -- redis: the tool reads every value by one strict rule
 * per kind, the same in flags and in `record --stdin`'s NDJSON, and refuses a
 * bad value before it connects (exit 2, the option named, nothing written). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "json_read.h"

#define UNREACHABLE "redis://127.0.0.1:1"

static void contains(const char *hay, const char *needle) {
    if (!hay || !strstr(hay, needle)) fail_msg("'%s' not found in: %s", needle, hay ? hay : "(null)");
}

/* Runs argv (at most 12 words) with --url url; returns the exit status and
 * stderr (caller frees). */
static int run_with(const char *const *words, const char *url, char **err) {
    const char *argv[16];
    int n = 0;
    for (; n < 12 && words[n]; n++) argv[n] = words[n];
    argv[n++] = "--url";
    argv[n++] = url;
    argv[n] = NULL;
    return th_run(argv, NULL, NULL, err);
}

/* Each row is refused with exit 2 naming `says`: against an unreachable
 * server (so before connecting: otherwise exit 3), and against the real one
 * without writing anything. */
static void bad_values_refused_before_connecting(void **state) {
    (void)state;
    static const struct { const char *argv[12], *says; } rows[] = {
        { { "top", "--by", "cost", "-n", " 5" }, "-n" },
        { { "top", "--by", "cost", "-n", "+5" }, "-n" },
        { { "top", "--by", "cost", "-n", "010" }, "-n" },
        { { "top", "--by", "cost", "-n", "5 " }, "-n" },
        { { "reserve", "--key", "k", "--id", "r", "--budget", "cost:1/day", "--tokens", " +5" }, "--tokens" },
        { { "reserve", "--key", "k", "--id", "r", "--budget", "cost:1/day", "--lease-ms", "0100" }, "--lease-ms" },
        { { "reserve", "--key", "k", "--id", "r", "--budget", "cost:1/day", "--lease-ms", "86400001" }, "--lease-ms" },
        { { "stats", "--key", "k", "--period", "hour:2026-11-30T+1" }, "--period" },
        { { "stats", "--key", "k", "--period", "day:2026- 2-28" }, "--period" },
        { { "stats", "--key", "k", "--period", "day:2026-02-30" }, "--period" },
        { { "models", "--period", "hour" }, "--period" },
        { { "top", "--by", "cost", "--window", "hour:2026-11-30T01" }, "--window" },
        { { "stats", "--key", "k", "--tz", "" }, "--tz" },
        { { "stats", "--key", "k", "--tz", "+14:30" }, "--tz" },
        { { "stats", "--key", "k", "--tz", "+8" }, "--tz" },
        { { "record", "--key", "k", "--model", "m", "--at", "2026-01-01T00:00+14:59" }, "--at" },
        { { "record", "--key", "k", "--model", "m", "--at", "2026-01-01T00:00+14:30" }, "--at" },
        { { "record", "--key", "k", "--model", "m", "--at", "0" }, "--at" },
        { { "record", "--key", "k", "--model", "m", "--at", "1970-01-01T00:00:00Z" }, "--at" },
        { { "record", "--key", "k", "--model", "m", "--at", "01764151200000" }, "--at" },
        { { "record", "--key", "k", "--model", "m", "--input", "010" }, "--input" },
        { { "record", "--key", "k", "--model", "m", "--output", "+5" }, "--output" },
        { { "record", "--key", "k", "--model", "m", "--cost", "010.5" }, "--cost" },
        { { "record", "--key", "k", "--model", "m", "--cost", " 1" }, "--cost" },
        { { "record", "--key", "k", "--model", "m", "--id", "" }, "--id" },
        { { "record", "--key", "", "--model", "m" }, "--key" },
        { { "record", "--key", "k", "--model", "m", "--input", "1000000000001" }, "input tokens is above" },
        { { "record", "--key", "k", "--model", "m", "--cost", "1000000.000000001" }, "cost is above" },
        { { "record", "--key", "k\001", "--model", "m" }, "key" },
        { { "settle", "--key", "k", "--model", "m", "--id", "r", "--cache-create", "1000000000001" }, "cache-create tokens" },
        { { "settle", "--key", "k", "--model", "m", "--id", "r", "--cache-read", "1.0" }, "--cache-read" },
        { { "trend", "--key", "k", "--by", "day", "--last", "05" }, "--last" },
        { { "trend", "--key", "k", "--by", "week" }, "--by" },
        { { "trend", "--key", "k", "--by", "day", "--metric", "money" }, "--metric" },
        { { "metrics", "--minutes", "+5" }, "--minutes" },
        { { "metrics", "--format", "prometheus", "--top", "010" }, "--top" },
        { { "metrics", "--format", "xml" }, "--format" },
        { { "metrics", "--format", "prometheus", "--account", "" }, "--account" },
        { { "exporter", "--listen", "127.0.0.1:+80" }, "--listen port" },
        { { "exporter", "--listen", "127.0.0.1:65536" }, "--listen port" },
        { { "lease", "acquire", "--key", "k", "--limit", " 1", "--lease-ms", "1000" }, "--limit" },
        { { "lease", "acquire", "--key", "k", "--limit", "1", "--lease-ms", "1e3" }, "--lease-ms" },
        { { "allow", "--key", "k", "--limit", "5/1m", "--tokens", "05" }, "--tokens" },
        { { "allow", "--key", "k", "--limit", "5/1m,algo=gcra", "--burst", "010" }, "--burst" },
        { { "limits", "--key", "k", "--limit", "5/1m", "--timeout", " 100" }, "--timeout" },
        { { "scripts", "verify", "--timeout", "0" }, "--timeout" },
        { { "stats", "--key", "k", "--prefix", "" }, "--prefix" },
        { { "stats", "--global", "--period", "day:2026-01-01", "--key", "k" }, "exactly one" },
        { { "stats", "--global", "--by", "cost" }, "unknown option '--by'" },
        { { "stats", "--global", "--read-from", "secondary" }, "--read-from" },
        { { "exporter", "--listen", "127.0.0.1:0", "--read-from", "" }, "--read-from" },
        { { "top", "--read-from", "Replica" }, "--read-from" },
    };
    char before[41], after[41];
    th_digest(before);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        for (int real = 0; real < 2; real++) {
            char *err;
            int code = run_with(rows[i].argv, real ? th_url() : UNREACHABLE, &err);
            if (code != 2 || !strstr(err, rows[i].says))
                fail_msg("row %zu (%s %s %s) against %s: exit %d, stderr '%s', want 2 naming '%s'", i,
                         rows[i].argv[0], rows[i].argv[1], rows[i].argv[2] ? rows[i].argv[2] : "",
                         real ? "the server" : "no server", code, err, rows[i].says);
            free(err);
        }
    }
    th_digest(after);
    assert_string_equal(before, after);
}

/* One offset range for --tz and the offsets of --at: +-14:00 passes both. */
static void offsets_share_one_range(void **state) {
    (void)state;
    const char *url = th_url();
    char *out;
    assert_int_equal(th_run((const char *const[]){ "stats", "--key", "k", "--tz", "+14:00", "--json", "--url", url,
                                                   NULL },
                            NULL, &out, NULL),
                     0);
    free(out);
    assert_int_equal(th_run((const char *const[]){ "stats", "--key", "k", "--tz", "-14:00", "--url", url, NULL },
                            NULL, NULL, NULL),
                     0);
    /* noon yesterday at +14:00, and that day's bucket read in +14:00 */
    time_t yesterday = time(NULL) - 86400 + 14 * 3600;
    struct tm tm;
    gmtime_r(&yesterday, &tm);
    char at[40], day[40];
    strftime(at, sizeof at, "%Y-%m-%dT12:00+14:00", &tm);
    strftime(day, sizeof day, "day:%Y-%m-%d", &tm);
    assert_int_equal(th_run((const char *const[]){ "record", "--missing-price-zero", "--key", "k", "--model", "m", "--at", at, "--tz",
                                                   "+14:00", "--url", url, NULL },
                            NULL, &out, NULL),
                     0);
    assert_string_equal(out, "recorded: unpriced (no price for m: cost 0)\n");
    free(out);
    assert_int_equal(th_run((const char *const[]){ "stats", "--key", "k", "--tz", "+14:00", "--period", day,
                                                   "--json", "--url", url, NULL },
                            NULL, &out, NULL),
                     0);
    tj *doc = tj_parse(out);
    assert_non_null(doc);
    assert_int_equal(tj_int(doc, "requests"), 1);
    tj_free(doc);
    free(out);
}

/* NDJSON values go through the flags' parsers: the same texts are refused,
 * naming the field; a white-space line is skipped like an empty one. */
static void ndjson_values_follow_the_flags(void **state) {
    (void)state;
    static const struct { const char *line, *says; } rows[] = {
        { "{\"key\":\"k\",\"model\":\"m\",\"input\":01}", "input '01'" },
        { "{\"key\":\"k\",\"model\":\"m\",\"input\":+5}", "input '+5'" },
        { "{\"key\":\"k\",\"model\":\"m\",\"output\":-0}", "output '-0'" },
        { "{\"key\":\"k\",\"model\":\"m\",\"cost\":\"010.5\"}", "cost '010.5'" },
        { "{\"key\":\"k\",\"model\":\"m\",\"cost\":\" 1\"}", "cost ' 1'" },
        { "{\"key\":\"k\",\"model\":\"m\",\"at\":0}", "at '0'" },
        { "{\"key\":\"k\",\"model\":\"m\",\"at\":\"2026-01-01T00:00+14:59\"}", "at '2026-01-01T00:00+14:59'" },
        { "{\"key\":\"k\",\"model\":\"m\",\"at\":\"01764151200000\"}", "at '01764151200000'" },
        { "{\"key\":\"\",\"model\":\"m\"}", "key is empty" },
        { "{\"key\":\"k\",\"model\":\"m\",\"id\":\"\"}", "id is empty" },
    };
    char before[41], after[41];
    th_digest(before);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char input[512], *out, *err;
        snprintf(input, sizeof input, "%s\n", rows[i].line);
        int code = th_run((const char *const[]){ "record", "--missing-price-zero", "--stdin", "--json", "--url", th_url(), NULL }, input,
                          &out, &err);
        if (code != 2) fail_msg("%s: exit %d, stderr %s", rows[i].line, code, err);
        contains(err, "line 1: ");
        contains(err, rows[i].says);
        tj_assert_equal(out, "{\"recorded\":0,\"duplicate\":0,\"rejected\":1,\"failed\":0,\"unknown\":0,\"unsent\":0,\"unpriced\":0}");
        free(out);
        free(err);
    }
    th_digest(after);
    assert_string_equal(before, after);
    /* white space alone is a blank line, not a bad one */
    char *out, *err;
    assert_int_equal(th_run((const char *const[]){ "record", "--missing-price-zero", "--stdin", "--json", "--url", th_url(), NULL },
                            "{\"key\":\"k\",\"model\":\"m\"}\n   \t \n\t\r\n \n{\"key\":\"k\",\"model\":\"m\"}\n", &out,
                            &err),
                     0);
    tj_assert_equal(out, "{\"recorded\":2,\"duplicate\":0,\"rejected\":0,\"failed\":0,\"unknown\":0,\"unsent\":0,\"unpriced\":2}");
    assert_string_equal(err, "");
    free(out);
    free(err);
}

/* A database number out of range says so, from the URL and from SELECT. */
static void database_out_of_range(void **state) {
    (void)state;
    char *err, url[128];
    assert_int_equal(th_run((const char *const[]){ "stats", "--global", "--url", "redis://127.0.0.1:1/99999999", NULL },
                            NULL, NULL, &err),
                     2);
    contains(err, "database number out of range");
    free(err);
    snprintf(url, sizeof url, "%s/99", th_url());
    assert_int_equal(th_run((const char *const[]){ "stats", "--global", "--url", url, NULL }, NULL, NULL, &err), 3);
    contains(err, "out of range");
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(bad_values_refused_before_connecting, th_clean),
        cmocka_unit_test_setup(offsets_share_one_range, th_clean),
        cmocka_unit_test_setup(ndjson_values_follow_the_flags, th_clean),
        cmocka_unit_test_setup(database_out_of_range, th_clean),
    };
    int rc = cmocka_run_group_tests_name("cli_parse", tests, NULL, NULL);
    th_done();
    return rc;
}
