/* test_cli_admission.c -- redis: the tool's admission commands: `tally allow`
 * and `tally limits` (decisions, JSON, failure policy), `tally lease`, and
 * their bad input (exit 2, nothing written). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json_read.h"

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

static void cli_allow_and_limits(void **state) {
    (void)state;
    const char *url = th_url();
    char *out, *err;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "c1", "--limit", "3/1h",
                             "--algo", "sliding-log", "--json"), 0);
        tj *d = decision(out);
        assert_true(tj_bool(d, "allowed"));
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
    assert_false(tj_bool(d, "allowed"));
    assert_int_equal(tj_int(d, "denied_by"), 0);
    assert_int_equal(tj_int(d, "limit"), 3);
    th_assert_gt(tj_int(d, "retry_after_ms"), 0);
    th_assert_gt(tj_int(d, "server_time_us"), 0);
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
    assert_true(tj_bool(d, "allowed"));
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
    assert_false(tj_bool(l, "ok"));
    assert_int_equal(tj_get(l, "id")->type, TJ_NULL);
    assert_int_equal(tj_int(l, "holders"), 1);
    th_assert_gt(tj_int(l, "retry_after_ms"), 0);
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
        cmocka_unit_test_setup(cli_allow_and_limits, th_clean),
        cmocka_unit_test_setup(cli_bad_input_exit_2_writes_nothing, th_clean),
        cmocka_unit_test_setup(cli_lease, th_clean),
    };
    int rc = cmocka_run_group_tests_name("cli_admission", tests, NULL, NULL);
    th_done();
    return rc;
}
