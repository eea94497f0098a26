/* test_deadline.c -- redis suite: one deadline per call (issue 10, item 2),
 * against peers that are not Redis or not a sane one (tests/harness.c's fake
 * servers): a reply dripped one byte every 300 ms, an array of 2^31-1
 * elements, an endless bulk string, garbage, an HTTP response, silence. Every
 * call -- open, a query, a batch, an admission decision, the tool -- ends by
 * its deadline plus MARGIN_MS (an upper bound on the wall time of a failure
 * path), with TALLY_ETIMEOUT when the server never completes a reply and
 * TALLY_EIO when what it sends is refused. The real server still answers
 * through the same code. The worst wall time per server is printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define DEADLINE_MS 1000
#define MARGIN_MS 500

static const char *const names[] = { "drip", "huge", "flood", "garbage", "http", "silent" };
static long long worst[6];

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a call against each fake server must end with. */
static int want_code(int kind) {
    return kind == TH_FAKE_DRIP || kind == TH_FAKE_SILENT ? TALLY_ETIMEOUT : TALLY_EIO;
}

static const char *want_text(int kind) {
    switch (kind) {
    case TH_FAKE_DRIP:
    case TH_FAKE_SILENT: return "within the call's";
    case TH_FAKE_HUGE:
    case TH_FAKE_FLOOD: return "larger than the library accepts";
    default: return "Protocol error";
    }
}

/* Checks one call's outcome and wall time, and keeps the worst time. */
static void check(int kind, const char *call, int rc, tally *t, long long ms) {
    printf("deadline: %-7s %-18s %5lld ms (deadline %d ms): %s\n", names[kind], call, ms, DEADLINE_MS,
           tally_errmsg(t));
    if (ms > worst[kind]) worst[kind] = ms;
    if (rc != want_code(kind))
        fail_msg("%s against %s: %s (%d), want %s", call, names[kind], tally_strerror(rc), rc,
                 tally_strerror(want_code(kind)));
    if (!strstr(tally_errmsg(t), want_text(kind)))
        fail_msg("%s against %s: message '%s' lacks '%s'", call, names[kind], tally_errmsg(t), want_text(kind));
    if (ms > DEADLINE_MS + MARGIN_MS)
        fail_msg("%s against %s took %lld ms: past its %d ms deadline + %d ms", call, names[kind], ms,
                 DEADLINE_MS, MARGIN_MS);
}

static tally *open_on(int port, int defer, int *rc) {
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = url;
    cfg.command_timeout_ms = DEADLINE_MS;
    cfg.defer_script_load = defer;
    tally *t = NULL;
    *rc = tally_open(&cfg, &t);
    if (!t) fail_msg("tally_open returned no handle");
    return t;
}

/* Every kind of call against one fake server. */
static void calls_end_by_their_deadline(int kind) {
    int port = th_fake_start(kind), rc;
    long long start = now_ms();
    tally *t = open_on(port, 0, &rc); /* SCRIPT LOAD of every script */
    check(kind, "tally_open", rc, t, now_ms() - start);
    tally_close(t);

    t = open_on(port, 1, &rc); /* connects only */
    assert_int_equal(rc, TALLY_OK);
    tally_period day = { TALLY_DAY, 2026, 11, 26, 0 };
    tally_bucket b;
    start = now_ms();
    rc = tally_stats(t, TALLY_SCOPE_KEY, "k", &day, &b);
    check(kind, "tally_stats", rc, t, now_ms() - start);

    tally_event ev[3] = { { .key = "a", .model = "m", .input_tokens = 1 }, { .key = "b", .model = "m" },
                          { .key = "c", .model = "m" } };
    tally_result res[3];
    start = now_ms();
    rc = tally_record_batch(t, ev, 3, res);
    check(kind, "tally_record_batch", rc, t, now_ms() - start);
    for (int i = 0; i < 3; i++) assert_int_equal(res[i].code, rc);

    tally_rule rule = { TALLY_COUNT_REQUESTS, TALLY_ALGO_GCRA, 10, 1000, 0 };
    tally_request req = { 0, 0, TALLY_FAIL_OPEN };
    tally_decision d;
    start = now_ms();
    rc = tally_allow(t, "k", &rule, 1, &req, &d);
    check(kind, "tally_allow", rc, t, now_ms() - start);
    assert_int_equal(d.decided, TALLY_DECIDED_FAIL_OPEN);
    assert_int_equal(d.allowed, 1);
    tally_close(t);
    th_fake_stop();
}

static void drip(void **state) { (void)state, calls_end_by_their_deadline(TH_FAKE_DRIP); }
static void huge_array(void **state) { (void)state, calls_end_by_their_deadline(TH_FAKE_HUGE); }
static void endless_bulk(void **state) { (void)state, calls_end_by_their_deadline(TH_FAKE_FLOOD); }
static void garbage(void **state) { (void)state, calls_end_by_their_deadline(TH_FAKE_GARBAGE); }
static void http(void **state) { (void)state, calls_end_by_their_deadline(TH_FAKE_HTTP); }
static void silent(void **state) { (void)state, calls_end_by_their_deadline(TH_FAKE_SILENT); }

/* The tool: `tally stats --timeout 1000` against the drip server exits 4
 * (timeout) by its deadline. */
static void tool_stats_against_drip(void **state) {
    (void)state;
    int port = th_fake_start(TH_FAKE_DRIP);
    char url[64], *out, *err;
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    long long start = now_ms();
    int status = th_run((const char *[]){ "stats", "--key", "k", "--timeout", "1000", "--url", url, NULL }, NULL,
                        &out, &err);
    long long ms = now_ms() - start;
    printf("deadline: drip    tally stats        %5lld ms (--timeout 1000): exit %d, %s", ms, status, err);
    if (ms > worst[TH_FAKE_DRIP]) worst[TH_FAKE_DRIP] = ms;
    assert_int_equal(status, 4);
    assert_non_null(strstr(err, "within the call's 1000 ms"));
    th_assert_le(ms, 1000 + MARGIN_MS);
    free(out);
    free(err);
    th_fake_stop();
}

/* The same code against the real server: everything answers, the largest
 * reply the library asks for included (tally_metrics over a day of 256 shards:
 * 368,640 buckets, 737,281 reply elements, within reply.c's bounds). */
static void real_server_answers(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.command_timeout_ms = 30000; /* valgrind */
    cfg.shards = 256;
    cfg.ttl_minute_s = 86400; /* so tally_metrics may read a day of minutes */
    tally *t = th_open(&cfg);
    tally_event ev[600];
    tally_result res[600];
    for (int i = 0; i < 600; i++) ev[i] = (tally_event){ .key = "k", .model = "m", .input_tokens = 1 };
    assert_int_equal(tally_record_batch(t, ev, 600, res), TALLY_OK); /* two round trips */
    for (int i = 0; i < 600; i++) assert_int_equal(res[i].code, TALLY_OK);
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k", &total, &b), TALLY_OK);
    assert_int_equal(b.requests, 600);
    assert_int_equal(tally_metrics(t, 1440, &b), TALLY_OK);
    assert_int_equal(b.requests, 600);
    tally_close(t);
}

static int report(void **state) {
    (void)state;
    for (int k = 0; k < 6; k++) printf("deadline: worst wall time against %-7s %5lld ms\n", names[k], worst[k]);
    th_fake_stop();
    th_done();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(drip),
        cmocka_unit_test(huge_array),
        cmocka_unit_test(endless_bulk),
        cmocka_unit_test(garbage),
        cmocka_unit_test(http),
        cmocka_unit_test(silent),
        cmocka_unit_test(tool_stats_against_drip),
        cmocka_unit_test_setup(real_server_answers, th_clean),
    };
    return cmocka_run_group_tests_name("deadline", tests, NULL, report);
}
