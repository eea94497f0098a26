/* test_seed_scenarios.c -- redis: the six statistics scenarios tally grew
 * from, run through the `tally` tool on an empty Redis exactly as a new user
 * would type them: no price table, no extra flags. Each checks the numbers
 * those scenarios print (token counts, per-model counts, costs, the rate
 * limit's remaining counts, the 5-minute metrics, the cost top 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json_read.h"

/* Runs the tool with --url and --json appended; its JSON output, parsed. */
static tj *run_json(int want_exit, const char *const *argv) {
    const char *full[24];
    int n = 0;
    while (argv[n]) full[n] = argv[n], n++;
    full[n++] = "--url";
    full[n++] = th_url();
    full[n++] = "--json";
    full[n] = NULL;
    char *out, *err;
    int code = th_run(full, NULL, &out, &err);
    if (code != want_exit) fail_msg("tally %s: exit %d (want %d): %s", argv[0], code, want_exit, err ? err : "");
    tj *v = tj_parse(out);
    if (!v) fail_msg("tally %s: not JSON: %s", argv[0], out);
    free(out);
    free(err);
    return v;
}
#define TALLY_JSON(code, ...) run_json(code, (const char *const[]){ __VA_ARGS__, NULL })

static void record(const char *key, const char *model, const char *in, const char *out, const char *cost) {
    const char *argv[16] = { "record", "--url", th_url(), "--key", key, "--model", model };
    int n = 7;
    if (in) argv[n++] = "--input", argv[n++] = in;
    if (out) argv[n++] = "--output", argv[n++] = out;
    if (cost) argv[n++] = "--cost", argv[n++] = cost;
    char *err;
    int code = th_run(argv, NULL, NULL, &err);
    if (code != 0) fail_msg("tally record --key %s: exit %d: %s", key, code, err ? err : "");
    free(err);
}

static void assert_bucket(const tj *b, long long requests, long long in, long long out) {
    assert_int_equal(tj_int(b, "requests"), requests);
    assert_int_equal(tj_int(b, "input_tokens"), in);
    assert_int_equal(tj_int(b, "output_tokens"), out);
}

static void basic_counters(void **state) {
    (void)state;
    record("key_123", "claude-3-5-sonnet", "1000", "500", NULL);
    record("key_123", "claude-3-5-sonnet", "2000", "800", NULL);
    record("key_123", "claude-3-5-sonnet", "1500", "600", NULL);
    static const char *const periods[] = { "total", "today" };
    for (int i = 0; i < 2; i++) {
        tj *v = TALLY_JSON(0, "stats", "--key", "key_123", "--period", periods[i]);
        assert_bucket(v, 3, 4500, 1900);
        tj_free(v);
    }
}

static void per_model(void **state) {
    (void)state;
    record("key_456", "claude-3-5-sonnet", "1000", "500", NULL);
    record("key_456", "claude-3-5-sonnet", "2000", "800", NULL);
    record("key_456", "claude-3-opus", "3000", "1200", NULL);
    tj *v = TALLY_JSON(0, "models", "--key", "key_456", "--period", "today");
    assert_int_equal(v->n, 2);
    int seen = 0;
    for (size_t i = 0; i < v->n; i++) {
        const tj *m = tj_at(v, i);
        if (strcmp(tj_str(m, "model"), "claude-3-5-sonnet") == 0) assert_bucket(m, 2, 3000, 1300), seen |= 1;
        else if (strcmp(tj_str(m, "model"), "claude-3-opus") == 0) assert_bucket(m, 1, 3000, 1200), seen |= 2;
    }
    assert_int_equal(seen, 3);
    tj_free(v);
}

static void cost(void **state) {
    (void)state;
    record("key_789", "claude-3-5-sonnet", NULL, NULL, "0.05");
    record("key_789", "claude-3-5-sonnet", NULL, NULL, "0.12");
    record("key_789", "claude-3-5-sonnet", NULL, NULL, "0.08");
    static const char *const periods[] = { "today", "total" };
    for (int i = 0; i < 2; i++) {
        tj *v = TALLY_JSON(0, "stats", "--key", "key_789", "--period", periods[i]);
        assert_string_equal(tj_str(v, "cost"), "0.25");
        assert_int_equal(tj_int(v, "cost_nanos"), 250000000);
        tj_free(v);
    }
}

static void rate_limit(void **state) {
    (void)state;
    for (int i = 0; i < 10; i++) {
        tj *v = TALLY_JSON(0, "allow", "--key", "key_123", "--limit", "10/60s");
        assert_true(tj_bool(v, "allowed"));
        assert_int_equal(tj_int(v, "remaining"), 9 - i);
        tj_free(v);
    }
    tj *v = TALLY_JSON(1, "allow", "--key", "key_123", "--limit", "10/60s");
    assert_false(tj_bool(v, "allowed"));
    tj_free(v);
}

static void real_time_metrics(void **state) {
    (void)state;
    /* 5 x 100 requests of 50,000 tokens in all, as one NDJSON import; the
     * system metrics count every event under a prefix, so this one has its own */
    size_t cap = 500 * 64 + 1, n = 0;
    char *lines = malloc(cap);
    assert_non_null(lines);
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(lines + n, cap - n, "{\"key\":\"key_metrics\",\"model\":\"m\",\"input\":300,\"output\":200}\n");
    char *out, *err;
    int code = RUN_IN(lines, &out, &err, "record", "--stdin", "--prefix", "seed5", "--url", th_url());
    if (code != 0) fail_msg("record --stdin: exit %d: %s", code, err);
    free(lines);
    free(out);
    free(err);
    tj *v = TALLY_JSON(0, "metrics", "--minutes", "5", "--prefix", "seed5");
    assert_int_equal(tj_int(v, "requests"), 500);
    assert_int_equal(tj_int(v, "total_tokens"), 250000);
    tj_free(v);
}

static void leaderboard(void **state) {
    (void)state;
    static const char *const keys[] = { "key_001", "key_002", "key_003", "key_004", "key_005" };
    static const char *const costs[] = { "125.50", "89.30", "210.75", "45.20", "178.90" };
    for (int i = 0; i < 5; i++) record(keys[i], "claude-3-opus", NULL, NULL, costs[i]);
    tj *v = TALLY_JSON(0, "top", "--by", "cost", "-n", "3");
    static const char *const want_key[] = { "key_003", "key_005", "key_001" };
    static const char *const want_cost[] = { "210.75", "178.90", "125.50" };
    assert_int_equal(v->n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(tj_str(tj_at(v, i), "key"), want_key[i]);
        assert_string_equal(tj_str(tj_at(v, i), "cost"), want_cost[i]);
    }
    tj_free(v);
}

int main(void) {
    /* one empty server for all six, in order, as the scenarios run */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic_counters), cmocka_unit_test(per_model),         cmocka_unit_test(cost),
        cmocka_unit_test(rate_limit),     cmocka_unit_test(real_time_metrics), cmocka_unit_test(leaderboard),
    };
    int rc = cmocka_run_group_tests_name("seed_scenarios", tests, th_clean, NULL);
    th_done();
    return rc;
}
