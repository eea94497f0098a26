/* test_cli_exit.c -- redis: honest exit statuses and messages. A line Redis
 * refuses is not bad input: `record --stdin` exits 4 for it, 2 only for bad
 * lines, and reports each line with the reason `record` gives for it alone;
 * a key of the wrong type is Redis's problem (exit 4) for every command. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "json_read.h"

static void contains(const char *hay, const char *needle) {
    if (!hay || !strstr(hay, needle)) fail_msg("'%s' not found in: %s", needle, hay ? hay : "(null)");
}

static void summary_is(const char *out, long recorded, long rejected, long failed) {
    char want[256];
    snprintf(want, sizeof want,
             "{\"recorded\":%ld,\"duplicate\":0,\"rejected\":%ld,\"failed\":%ld,\"unknown\":0,\"unsent\":0,"
             "\"unpriced\":%ld}", recorded, rejected, failed, recorded); /* no table, no costs: all unpriced */
    tj_assert_equal(out, want);
}

/* Under maxmemory every line is refused by Redis: exit 4, each line with
 * Redis's reason; a bad line among them does not turn that into exit 2. */
static void stdin_redis_refusal_exits_4(void **state) {
    (void)state;
    const char *url = th_url();
    freeReplyObject(th_cmd("CONFIG SET maxmemory-policy noeviction"));
    freeReplyObject(th_cmd("CONFIG SET maxmemory 1"));
    char *out, *err;
    int code = RUN_IN("{\"key\":\"k\",\"model\":\"m\"}\n{\"key\":\"k2\",\"model\":\"m\",\"input\":3}\n", &out, &err,
                      "record", "--missing-price-zero", "--stdin", "--json", "--url", url);
    assert_int_equal(code, 4);
    summary_is(out, 0, 0, 2);
    contains(err, "line 1: OOM");
    contains(err, "line 2: OOM");
    free(out);
    free(err);
    code = RUN_IN("{\"key\":\"k\",\"model\":\"m\",\"input\":-1}\n{\"key\":\"k\",\"model\":\"m\"}\n", &out, &err,
                  "record", "--missing-price-zero", "--stdin", "--json", "--url", url);
    assert_int_equal(code, 4);
    summary_is(out, 0, 1, 1);
    contains(err, "line 1: input '-1'");
    contains(err, "line 2: OOM");
    free(out);
    free(err);
    freeReplyObject(th_cmd("CONFIG SET maxmemory 0"));
    /* the same bad line alone: exit 2 */
    code = RUN_IN("{\"key\":\"k\",\"model\":\"m\",\"input\":-1}\n{\"key\":\"k\",\"model\":\"m\"}\n", &out, NULL,
                  "record", "--missing-price-zero", "--stdin", "--json", "--url", url);
    assert_int_equal(code, 2);
    summary_is(out, 1, 1, 0);
    free(out);
}

/* Expects the event given as flags and as an NDJSON line refused (exit 2)
 * with one message, `says` in it: `tally record: <why>` and
 * `tally record: line 1: <why>`. */
static void same_reason(const char *const *flags, const char *line, const char *says) {
    const char *argv[20] = { "record", "--missing-price-zero", "--url", th_url() };
    int n = 4;
    while (*flags) argv[n++] = *flags++;
    argv[n] = NULL;
    char *err_one, *err_batch, *out;
    assert_int_equal(th_run(argv, NULL, NULL, &err_one), 2);
    assert_int_equal(RUN_IN(line, &out, &err_batch, "record", "--missing-price-zero", "--stdin", "--url", th_url()), 2);
    const char *prefix = "tally record: ";
    assert_memory_equal(err_one, prefix, strlen(prefix));
    char want[512];
    snprintf(want, sizeof want, "tally record: line 1: %s", err_one + strlen(prefix));
    assert_string_equal(err_batch, want);
    contains(err_batch, says);
    free(err_one);
    free(err_batch);
    free(out);
}

/* A line's message is the one `tally record` prints for that event alone:
 * the script's (a time too far ahead) or the library's (a count past its
 * limit: the library alone checks an event's ranges). */
static void stdin_line_says_what_record_says(void **state) {
    (void)state;
    char at[32], line[256];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(at, sizeof at, "%lld", (long long)now.tv_sec * 1000 + 3600000); /* an hour ahead */
    snprintf(line, sizeof line, "{\"key\":\"k\",\"model\":\"m\",\"at\":%s}\n", at);
    same_reason((const char *const[]){ "--key", "k", "--model", "m", "--at", at, NULL }, line,
                "event time is in the future");
    same_reason((const char *const[]){ "--key", "k", "--model", "m", "--input", "1000000000001", NULL },
                "{\"key\":\"k\",\"model\":\"m\",\"input\":1000000000001}\n", "input tokens is above");
    same_reason((const char *const[]){ "--key", "k", "--model", "m\x01", NULL },
                "{\"key\":\"k\",\"model\":\"m\\u0001\"}\n", "model has a control character");
}

/* A foreign key of the wrong type where the command writes: exit 4, with
 * Redis's reason, from every command, and nothing written. */
static void wrong_type_exits_4_everywhere(void **state) {
    (void)state;
    const char *url = th_url();
    static const struct { const char *foreign, *argv[14]; } rows[] = {
        { "tally:v3:{k:wt}:t", { "record", "--missing-price-zero", "--key", "wt", "--model", "m" } },
        { "tally:v3:{k:wt}:t", { "settle", "--missing-price-zero", "--key", "wt", "--model", "m", "--id", "r1" } },
        { "tally:v3:{k:wt}:B", { "reserve", "--key", "wt", "--id", "r1", "--budget", "cost:1/day", "--cost", "0.1" } },
        { "tally:v3:{k:wt}:rl:r:log:60000", { "allow", "--key", "wt", "--limit", "5/1m,algo=sliding-log" } },
        { "tally:v3:{k:wt}:rl:r:log:60000", { "limits", "--key", "wt", "--limit", "5/1m,algo=sliding-log" } },
        { "tally:v3:{k:wt}:rl:r:log:60000",
          { "allow", "--key", "wt", "--limit", "5/1m,algo=sliding-log", "--fail-open" } },
        { "tally:v3:{k:wt}:ls", { "lease", "acquire", "--key", "wt", "--limit", "2", "--lease-ms", "1000" } },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        th_clean(NULL);
        freeReplyObject(th_cmd("SET %s foreign", rows[i].foreign));
        /* a prefix's first record stores the schema's parameters and the
         * day account buckets begin before its script runs (docs/keys.md):
         * stored here first, the digest sees only what the refused command
         * wrote */
        freeReplyObject(th_cmd("SET tally:v3:{c:schema}:S %s", "tz=+00:00 shards=8 idempotency_s=86400"));
        freeReplyObject(th_cmd("SET tally:v3:{c:schema}:A 0"));
        char before[41], after[41], *err;
        th_digest(before);
        const char *argv[20];
        int n = 0;
        for (; rows[i].argv[n]; n++) argv[n] = rows[i].argv[n];
        argv[n++] = "--url";
        argv[n++] = url;
        argv[n] = NULL;
        int code = th_run(argv, NULL, NULL, &err);
        if (code != 4 || !(strstr(err, "WRONGTYPE") || strstr(err, "is not a") || strstr(err, "holds a")))
            fail_msg("%s with %s a string: exit %d, stderr '%s'", rows[i].argv[0], rows[i].foreign, code, err);
        free(err);
        th_digest(after);
        assert_string_equal(before, after);
    }
    /* and record --stdin */
    th_clean(NULL);
    freeReplyObject(th_cmd("SET tally:v3:{k:wt}:t foreign"));
    char *out, *err;
    assert_int_equal(RUN_IN("{\"key\":\"wt\",\"model\":\"m\"}\n{\"key\":\"ok\",\"model\":\"m\"}\n", &out, &err,
                            "record", "--missing-price-zero", "--stdin", "--json", "--url", url),
                     4);
    summary_is(out, 1, 0, 1);
    contains(err, "line 1: ");
    contains(err, "WRONGTYPE");
    free(out);
    free(err);
}

/* A clean server without a memory limit, whatever a failed test left. */
static int fresh(void **state) {
    freeReplyObject(th_cmd("CONFIG SET maxmemory 0"));
    return th_clean(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(stdin_redis_refusal_exits_4, fresh),
        cmocka_unit_test_setup(stdin_line_says_what_record_says, fresh),
        cmocka_unit_test_setup(wrong_type_exits_4_everywhere, fresh),
    };
    int rc = cmocka_run_group_tests_name("cli_exit", tests, NULL, NULL);
    th_done();
    return rc;
}
