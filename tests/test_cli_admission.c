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
    static const char *const members[] = { "allowed", "rule", "counts", "limit", "burst", "remaining",
                                           "retry_after_ms", "reset_after_ms", "denied_by", "server_time_ms",
                                           "policy", "rules" };
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
    assert_int_equal(tj_int(d, "denied_by"), 1);
    assert_int_equal(tj_int(d, "limit"), 3);
    th_assert_gt(tj_int(d, "retry_after_ms"), 0);
    th_assert_gt(tj_int(d, "server_time_ms"), 0);
    assert_string_equal(tj_str(d, "policy"), "redis");
    tj_free(d);
    free(out);
    assert_int_equal(RUN(&out, NULL, "limits", "--url", url, "--key", "c1", "--limit", "3/1h,algo=sliding-log"), 1);
    assert_non_null(strstr(out, "would be denied by rule 1 (requests, sliding-log, 3 per 1h): retry after "));
    free(out);
    th_digest(after);
    assert_string_equal(before, after);
    /* several rules, tokens and cost */
    assert_int_equal(RUN(&out, NULL, "limits", "--url", url, "--key", "c2", "--limit", "60/1m", "--limit",
                         "tokens:1000/1m", "--limit", "cost:5/1d", "--tokens", "10", "--cost", "0.25",
                         "--json"), 0);
    d = decision(out);
    assert_int_equal(tj_get(d, "rules")->n, 3);
    assert_string_equal(tj_str(tj_at(tj_get(d, "rules"), 2), "remaining"), "5.00");
    assert_int_equal(tj_int(tj_at(tj_get(d, "rules"), 2), "remaining_nanos"), 5000000000LL);
    tj_free(d);
    free(out);
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "c2", "--limit", "60/1m", "--limit",
                         "tokens:1000/1m", "--limit", "cost:5/1d", "--cost", "5.01", "--json"), 1);
    d = decision(out);
    assert_int_equal(tj_int(d, "denied_by"), 3);
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

/* Decisions say what they mean: a gcra rule's limit as written and its burst
 * apart, rules numbered from 1 in the order given, money with its unit. */
static void cli_decisions_say_what_they_mean(void **state) {
    (void)state;
    const char *url = th_url();
    char *out;
    /* 10 per hour refill one unit every 6 minutes: the third call at once is denied */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "g", "--limit", "10/1h", "--algo", "gcra",
                             "--burst", "2"), 0);
        assert_non_null(strstr(out, i ? "allowed: 0 left of rule 1 (requests, gcra, 10 per 1h, burst 2), reset in "
                                      : "allowed: 1 left of rule 1 (requests, gcra, 10 per 1h, burst 2), reset in "));
        free(out);
    }
    assert_int_equal(RUN(&out, NULL, "limits", "--url", url, "--key", "g", "--limit", "10/1h", "--algo", "gcra",
                         "--burst", "2"), 1);
    assert_non_null(strstr(out, "would be denied by rule 1 (requests, gcra, 10 per 1h, burst 2): retry after "));
    free(out);
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "g", "--limit", "10/1h", "--algo", "gcra",
                         "--burst", "2", "--json"), 1);
    tj *d = decision(out);
    assert_int_equal(tj_int(d, "rule"), 1);
    assert_int_equal(tj_int(d, "denied_by"), 1);
    assert_string_equal(tj_str(d, "counts"), "requests");
    assert_int_equal(tj_int(d, "limit"), 10);
    assert_int_equal(tj_int(d, "burst"), 2);
    assert_int_equal(tj_int(d, "remaining"), 0);
    th_assert_le(tj_int(d, "reset_after_ms"), 3600000);
    tj_free(d);
    free(out);
    /* the second of three rules denies: rule 2; cost in USD */
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "n", "--limit", "60/1m", "--limit",
                         "cost:5/1d", "--limit", "tokens:100/1m", "--cost", "6", "--tokens", "1"), 1);
    assert_non_null(strstr(out, "denied by rule 2 (cost, sliding-window, 5.00 USD per 1d): this request can never fit"));
    free(out);
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "n", "--limit", "cost:5/1d", "--limit",
                         "60/1m", "--cost", "0.25"), 0);
    assert_non_null(strstr(out, "allowed: 4.75 USD left of rule 1 (cost, sliding-window, 5.00 USD per 1d), reset in "));
    free(out);
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "n", "--limit", "60/1m", "--limit",
                         "cost:5/1d,algo=gcra,burst=0.5", "--cost", "6", "--json"), 1);
    d = decision(out);
    assert_int_equal(tj_int(d, "denied_by"), 2);
    assert_string_equal(tj_str(d, "counts"), "cost");
    assert_string_equal(tj_str(d, "limit"), "5.00");
    assert_int_equal(tj_int(d, "limit_nanos"), 5000000000LL);
    assert_string_equal(tj_str(d, "burst"), "0.50");
    assert_int_equal(tj_int(d, "burst_nanos"), 500000000LL);
    assert_string_equal(tj_str(d, "remaining"), "0.50");
    const tj *rules = tj_get(d, "rules");
    assert_int_equal(tj_int(tj_at(rules, 0), "rule"), 1);
    assert_int_equal(tj_get(tj_at(rules, 0), "burst")->type, TJ_NULL);
    assert_int_equal(tj_int(tj_at(rules, 1), "rule"), 2);
    assert_int_equal(tj_int(tj_at(rules, 1), "limit_nanos"), 5000000000LL);
    tj_free(d);
    free(out);
}

/* Every time in the tool's JSON is in ms: allow, reserve and lease agree. */
static void cli_json_times_are_ms(void **state) {
    (void)state;
    const char *url = th_url();
    char *out;
    assert_int_equal(RUN(&out, NULL, "allow", "--url", url, "--key", "u", "--limit", "5/1m", "--json"), 0);
    tj *d = decision(out);
    assert_null(tj_get(d, "server_time_us"));
    int64_t allow_ms = tj_int(d, "server_time_ms");
    tj_free(d);
    free(out);
    assert_int_equal(RUN(&out, NULL, "reserve", "--url", url, "--key", "u", "--id", "r1", "--budget", "cost:5/day",
                         "--cost", "1", "--json"), 0);
    d = tj_parse(out);
    assert_non_null(d);
    int64_t reserve_ms = tj_int(d, "server_time_ms");
    tj_free(d);
    free(out);
    assert_int_equal(RUN(&out, NULL, "lease", "acquire", "--url", url, "--key", "u", "--limit", "1", "--lease-ms",
                         "60000", "--json"), 0);
    d = tj_parse(out);
    assert_non_null(d);
    assert_null(tj_get(d, "server_time_us"));
    assert_null(tj_get(d, "expires_at_us"));
    int64_t lease_ms = tj_int(d, "server_time_ms");
    assert_int_equal(tj_int(d, "expires_at_ms"), lease_ms + 60000);
    tj_free(d);
    free(out);
    /* one clock, one unit, in call order: a value in us would be 1000 times the others */
    th_assert_le(allow_ms, reserve_ms);
    th_assert_le(reserve_ms, lease_ms);
    th_assert_lt(lease_ms, allow_ms * 2);
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
    /* renew says when the lease now ends, as a person reads it (issue 23) */
    assert_int_equal(RUN(&out, NULL, "lease", "renew", "--url", url, "--key", "L", "--id", id,
                         "--lease-ms", "60000"), 0);
    redisReply *now = th_cmd("TIME");
    int64_t server_ms = atoll(now->element[0]->str) * 1000 + atoll(now->element[1]->str) / 1000, until;
    freeReplyObject(now);
    assert_int_equal(strlen(out), strlen("renewed until 2026-12-07T15:46:59.005Z (server time), 60000 ms from now\n"));
    assert_memory_equal(out, "renewed until ", 14);
    assert_string_equal(out + 38, " (server time), 60000 ms from now\n");
    out[38] = '\0';
    assert_int_equal(tally_parse_time(out + 14, 0, &until), TALLY_OK);
    assert_true(out[37] == 'Z');
    assert_true(until - 60000 <= server_ms); /* renewed (60 s before its end) before TIME was read */
    free(out);
    /* a bad id: the script's refusal, said once (not "lease: lease: ...") */
    assert_int_equal(RUN(NULL, &err, "lease", "renew", "--url", url, "--key", "L", "--id", "bogus",
                         "--lease-ms", "60000"), 2);
    assert_string_equal(err, "tally lease: lease id is malformed\n");
    free(err);
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
        cmocka_unit_test_setup(cli_decisions_say_what_they_mean, th_clean),
        cmocka_unit_test_setup(cli_json_times_are_ms, th_clean),
        cmocka_unit_test_setup(cli_bad_input_exit_2_writes_nothing, th_clean),
        cmocka_unit_test_setup(cli_lease, th_clean),
    };
    int rc = cmocka_run_group_tests_name("cli_admission", tests, NULL, NULL);
    th_done();
    return rc;
}
