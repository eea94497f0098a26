/* test_cli_admission.c -- redis: the tool's admission commands: `tally allow`
 * and `tally limits` (decisions, JSON, failure policy), `tally lease`, and
 * their bad input (exit 2, nothing written). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void cli_allow_and_limits(void **state) {
    (void)state;
    const char *url = th_url();
    char *out, *err;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "c1", "--limit", "3/1h",
                             "--algo", "sliding-log", "--json"), 0);
        assert_non_null(strstr(out, "\"allowed\":true"));
        char want[32];
        snprintf(want, sizeof want, "\"remaining\":%d", 2 - i);
        assert_non_null(strstr(out, want));
        assert_non_null(strstr(out, "\"denied_by\":null"));
        free(out);
    }
    char before[41], after[41];
    th_digest(before);
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "c1", "--limit", "3/1h",
                         "--algo", "sliding-log", "--json"), 1);
    assert_non_null(strstr(out, "\"allowed\":false"));
    assert_non_null(strstr(out, "\"denied_by\":0"));
    assert_non_null(strstr(out, "\"limit\":3"));
    assert_non_null(strstr(out, "\"retry_after_ms\":"));
    assert_non_null(strstr(out, "\"reset_after_ms\":"));
    assert_non_null(strstr(out, "\"server_time_us\":"));
    assert_non_null(strstr(out, "\"policy\":\"redis\""));
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
    assert_non_null(strstr(out, "\"remaining\":5000000000"));
    free(out);
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "c2", "--limit", "60/1m", "--limit",
                         "tokens:1000/1m", "--limit", "cost:5/1d", "--cost", "5.01", "--json"), 1);
    assert_non_null(strstr(out, "\"denied_by\":2"));
    assert_non_null(strstr(out, "\"retry_after_ms\":-1"));
    free(out);
    /* failure policy */
    assert_int_equal(RUN(&out, &err, "allow", "--url", "redis://127.0.0.1:1", "--key", "c", "--limit",
                         "1/1s", "--fail-open", "--json"), 0);
    assert_non_null(strstr(out, "\"policy\":\"fail-open\""));
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
        { "--limit", "bytes:5/1m", "unknown unit" }, { "--algo", "leaky", "unknown --algo" },
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
    assert_non_null(strstr(out, "\"ok\":false"));
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
