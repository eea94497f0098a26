/* test_record_wire.c -- redis: record.lua's checks of its numbers (ARGV[1],
 * c/wire.h). A valid call of one event is built by the library's encoder, then
 * sent with one thing wrong at a time: text that is not an array of whole
 * numbers, counts that do not match the keys, arguments or layout, indexes out
 * of range, counts past their bounds. Each is refused with "EINVAL record:"
 * and writes nothing; the call as built records. An untimed call reads TIME
 * once and answers without its time, and the pace learns only from timed
 * calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "aggregate.h"
#include "bounds.h"
#include "encode.h"
#include "handle.h"
#include "harness.h"
#include "rec_util.h"
#include "reply.h"
#include "schema.h"
#include "wire.h"

static tally *t;
static tally_agg *g;
static char nums[4096];
static int64_t x[512];
static long nx;

/* The call of one event into t->args, its numbers parsed into x. */
static void build(void) {
    tally_event e = { "key_1", "m0", "acct_1", 1000, 500, 0, 200, 12300000, 0, "req-1" };
    int64_t now = ru_now_ms();
    tally__agg_begin(g, &t->schema, now);
    assert_int_equal(tally__agg_add(g, &e, now, e.cost_nanos, -1, TALLY_AGG_ALL, 0, 0), TALLY_AGG_ADDED);
    tally__args_reset(&t->args);
    assert_int_equal(tally__agg_encode(g, &t->args), 0);
    const tally_args *a = &t->args;
    size_t n = a->lens[a->nkeys_at];
    assert_true(n < sizeof nums);
    memcpy(nums, a->buf + a->off[a->nkeys_at], n);
    nums[n] = '\0';
    nx = 0;
    for (const char *p = nums + 1; *p && *p != ']'; p += *p == ',') x[nx++] = strtoll(p, (char **)&p, 10);
}

/* Sends the built call with ARGV[1] replaced by `text` (NULL: as built) and
 * `extra` arguments added at the end; the reply (caller frees). */
static redisReply *send(const char *text, int extra) {
    const tally_args *a = &t->args;
    int argc = a->argc + extra;
    const char **av = calloc((size_t)argc, sizeof *av);
    size_t *al = calloc((size_t)argc, sizeof *al);
    char numkeys[16];
    snprintf(numkeys, sizeof numkeys, "%d", a->nkeys_at - 3);
    av[0] = "EVALSHA", al[0] = 7;
    av[1] = a->buf + a->off[1], al[1] = a->lens[1];
    av[2] = numkeys, al[2] = strlen(numkeys);
    for (int i = 3; i < a->argc; i++) av[i] = a->buf + a->off[i], al[i] = a->lens[i];
    if (text) av[a->nkeys_at] = text, al[a->nkeys_at] = strlen(text);
    for (int i = a->argc; i < argc; i++) av[i] = "", al[i] = 0;
    redisReply *r = redisCommandArgv(th_redis(), argc, av, al);
    free(av);
    free(al);
    assert_non_null(r);
    return r;
}

/* The numbers x with x[i] set to v, as ARGV[1] text. */
static const char *with(long i, int64_t v) {
    static char out[4096];
    size_t o = 0;
    out[o++] = '[';
    for (long k = 0; k < nx; k++)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%lld", k ? "," : "", (long long)(k == i ? v : x[k]));
    snprintf(out + o, sizeof out - o, "]");
    return out;
}

static void refused(const char *text, int extra, const char *what) {
    redisReply *r = send(text, extra);
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "EINVAL record: ", 15) != 0)
        fail_msg("%s: not refused with EINVAL record: (%s)", what, r->type == REDIS_REPLY_ERROR ? r->str : "no error");
    freeReplyObject(r);
    th_unchanged(what);
}

static int setup(void **state) {
    th_seed(state);
    t = th_open(NULL);
    assert_int_equal(tally__schema_claim(t), TALLY_OK);
    g = tally__agg_new();
    assert_non_null(g);
    build();
    th_baseline();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tally__agg_free(g);
    tally_close(t);
    return 0;
}

static void malformed_numbers_write_nothing(void **state) {
    (void)state;
    char text[4200];
    refused("", 0, "empty");
    refused("x", 0, "not JSON");
    refused("{}", 0, "an object");
    refused("[]", 0, "no head");
    snprintf(text, sizeof text, "%.*s,-1]", (int)strlen(nums) - 1, nums);
    refused(text, 0, "a negative number");
    refused("[1.5,300000,1,0,0,0,0,1,1,1,1,1,1,1,1]", 0, "a fraction");
    refused("[1e3,300000,1,0,0,0,0,1,1,1,1,1,1,1,1]", 0, "an exponent");
    refused("[\"1\",300000,1,0,0,0,0,1,1,1,1,1,1,1,1]", 0, "a string");
    refused("[null,300000,1,0,0,0,0,1,1,1,1,1,1,1,1]", 0, "null");
    refused("[[1],300000,1,0,0,0,0,1,1,1,1,1,1,1,1]", 0, "a nested array");
    refused("[0x10,300000,1,0,0,0,0,1,1,1,1,1,1,1,1]", 0, "hexadecimal");
    refused("[ 1, 2]", 0, "white space");
    snprintf(text, sizeof text, "%.*s,7]", (int)strlen(nums) - 1, nums);
    refused(text, 0, "a number past the layout's end");
    snprintf(text, sizeof text, "%.*s]", (int)(strrchr(nums, ',') - nums), nums);
    refused(text, 0, "a number short");
    refused(NULL, 1, "an argument more than the counts give");
}

static void bad_counts_and_indexes_write_nothing(void **state) {
    (void)state;
    enum { NH = 2, NI, NP, NR, ND, NN, TIMED };
    long delta0 = TALLY_WIRE_HEAD, hash0 = delta0 + TALLY_WIRE_DELTA * x[ND];
    refused(with(0, TALLY_AT_MAX + 1), 0, "an event time past TALLY_AT_MAX");
    refused(with(1, TALLY_FUTURE_MAX_MS + 1), 0, "a future allowance past a day");
    refused(with(0, (ru_now_ms() + 3600000)), 0, "an event an hour ahead");
    refused(with(NH, x[NH] + 1), 0, "nh one too many");
    refused(with(NN, x[NN] - 1), 0, "nn one short");
    refused(with(NR, 3), 0, "nr 3");
    refused(with(TIMED, 2), 0, "timed 2");
    refused(with(ND, x[ND] + 1), 0, "nd one too many");
    refused(with(delta0, 1000000000000001), 0, "a delta's count past 10^15");
    refused(with(hash0, 253402300800), 0, "a hash's expiry past year 9999");
    refused(with(hash0 + 3, x[NP] + 1), 0, "a prune key past np");
    refused(with(hash0 + 4, x[hash0 + 4] + 1), 0, "a hash's day fields one too many");
    refused(with(hash0 + 4, 0), 0, "a hash without fields");
    refused(with(hash0 + TALLY_WIRE_HASH_HEAD, 0), 0, "delta 0");
    refused(with(hash0 + TALLY_WIRE_HASH_HEAD, x[ND] + 1), 0, "a delta past nd");
    refused(with(nx - 1, 253402300800), 0, "an id hash's expiry past year 9999");
    refused(with(nx - x[NI], 0), 0, "an id hash to add to without an expiry");
}

static void the_call_as_built_records(void **state) {
    (void)state;
    redisReply *r = send(NULL, 0);
    assert_true(tally__reply_fits(r, 2, "si")); /* timed: {"recorded", us} */
    assert_string_equal(r->element[0]->str, "recorded");
    freeReplyObject(r);
    r = send(NULL, 0); /* the same request id again */
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "duplicate");
    freeReplyObject(r);
}

/* TIME calls the server has run (INFO commandstats; the script's count). */
static long long time_calls(void) {
    redisReply *r = th_cmd("INFO commandstats");
    const char *at = strstr(r->str, "cmdstat_time:calls=");
    long long n = at ? atoll(at + strlen("cmdstat_time:calls=")) : 0;
    freeReplyObject(r);
    return n;
}

/* Issue 19 item 1: the head's last number, timed, says whether the answer
 * reports how long the script ran. Untimed: {"recorded"} (a duplicate's time
 * 0) and one TIME (the future check); timed: the time and a second TIME. */
static void untimed_call_reads_time_once(void **state) {
    (void)state;
    long timed = TALLY_WIRE_HEAD - 1;
    assert_int_equal(x[timed], 1); /* the encoder's default */
    char untimed[4096];
    snprintf(untimed, sizeof untimed, "%s", with(timed, 0));
    freeReplyObject(th_cmd("CONFIG RESETSTAT"));
    redisReply *r = send(untimed, 0);
    assert_true(tally__reply_fits(r, 1, "s"));
    assert_string_equal(r->element[0]->str, "recorded");
    freeReplyObject(r);
    assert_int_equal(time_calls(), 1);
    freeReplyObject(th_cmd("CONFIG RESETSTAT"));
    r = send(untimed, 0); /* the same request id: a duplicate, its time 0 */
    assert_true(tally__reply_fits(r, 4, "si"));
    assert_string_equal(r->element[0]->str, "duplicate");
    assert_int_equal(r->element[1]->integer, 0);
    freeReplyObject(r);
    assert_int_equal(time_calls(), 1);
    freeReplyObject(th_cmd("CONFIG RESETSTAT"));
    r = send(NULL, 0); /* timed, as built */
    assert_true(tally__reply_fits(r, 4, "si"));
    assert_string_equal(r->element[0]->str, "duplicate");
    freeReplyObject(r);
    assert_int_equal(time_calls(), 2);
}

/* Through the library: tally_record (one event) is untimed, so the pace
 * learns nothing from it; a batch's call of many events is timed and the
 * pace learns from it. Seen in the calls a batch takes, with max_script_us
 * at its largest (10 s): unmeasured, calls hold TALLY_PACE_FIRST units (a few
 * events); once measured, 0.6 x 10 s of work, every event of the batch. */
static void pace_learns_only_from_timed_calls(void **state) {
    (void)state;
    enum { N = 64 };
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.max_script_us = 10000000;
    tally *h = th_open(&cfg);
    for (int i = 0; i < 8; i++) RECORD(h, ru_event("one", "m0", NULL, 1, 0, 0, 0, 0, TALLY_AT_NOW, NULL));
    char keys[2][N][16];
    tally_event ev[N];
    tally_result res[N];
    long long calls[2];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(keys[round][i], sizeof keys[round][i], "k%d-%d", round, i);
            ev[i] = ru_event(keys[round][i], "m0", NULL, 1, 0, 0, 0, 0, TALLY_AT_NOW, NULL);
        }
        freeReplyObject(th_cmd("CONFIG RESETSTAT"));
        assert_int_equal(tally_record_batch(h, ev, N, res), TALLY_OK);
        calls[round] = th_evalsha_calls();
    }
    /* 8 one-event calls taught nothing: the first batch is cut at
     * TALLY_PACE_FIRST units; its calls taught the pace: one call */
    th_assert_gt(calls[0], 1);
    assert_int_equal(calls[1], 1);
    tally_close(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(malformed_numbers_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_counts_and_indexes_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(the_call_as_built_records, setup, teardown),
        cmocka_unit_test_setup_teardown(untimed_call_reads_time_once, setup, teardown),
        cmocka_unit_test_setup_teardown(pace_learns_only_from_timed_calls, setup, teardown),
    };
    int rc = cmocka_run_group_tests_name("record_wire", tests, NULL, NULL);
    th_done();
    return rc;
}
