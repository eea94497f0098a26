/* test_scripts.c -- redis: the script lifecycle and the connection's errors. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "exec.h"
#include "window.h"

static void build_sha_equals_server_sha(void **state) {
    (void)state;
    th_assert_gt(tally_script_count(), 0);
    for (int i = 0; i < tally_script_count(); i++) {
        const tally_script_info *s = tally_script_at(i);
        redisReply *r = th_cmd("SCRIPT LOAD %b", s->source, s->length);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_string_equal(r->str, s->sha1);
        freeReplyObject(r);
    }
}

/* One call through the library's EVALSHA path: read.lua on a missing hash. */
static int run_read(tally *t) {
    tally_args *a = &t->args;
    tally__args_script(a, TALLY_SCRIPT_READ);
    tally__args_str(a, "nokey");
    tally__args_end_keys(a);
    tally__args_str(a, "get");
    tally__args_str(a, "1");
    tally__args_str(a, "f");
    redisReply *r = tally__eval(t, a);
    if (!r) return tally_errcode(t);
    freeReplyObject(r);
    return TALLY_OK;
}

/* Fails the test unless SCRIPT EXISTS answers `want` for every script. */
static void expect_loaded(tally *t, int want) {
    int loaded[64];
    assert_int_equal(tally_scripts_exists(t, loaded), TALLY_OK);
    for (int i = 0; i < tally_script_count(); i++)
        if (loaded[i] != want)
            fail_msg("script %s: SCRIPT EXISTS says %d, expected %d", tally_script_at(i)->name, loaded[i], want);
}

static void evalsha_recovers_after_script_flush(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    expect_loaded(t, 1);
    freeReplyObject(th_cmd("SCRIPT FLUSH"));
    expect_loaded(t, 0);
    assert_int_equal(run_read(t), TALLY_OK);
    assert_string_equal(tally_errmsg(t), "");
    expect_loaded(t, 1); /* NOSCRIPT reloads them all, not only the one called */
    tally_close(t);
}

static int build_read(void *ctx, size_t i, tally_args *a) {
    static int flushed;
    (void)ctx;
    if (i == 600 && !flushed++) freeReplyObject(th_cmd("SCRIPT FLUSH")); /* mid-batch */
    return tally__args_script(a, TALLY_SCRIPT_READ) || tally__args_str(a, "k") ||
           (tally__args_end_keys(a), tally__args_str(a, "get")) || tally__args_str(a, "1") ||
           tally__args_str(a, "f");
}

/* n calls through the window, each built by `build`: how many were answered
 * with an array, how many were lost, the first loss's code and message. */
typedef struct {
    tally *t;
    int (*build)(void *ctx, size_t i, tally_args *a);
    size_t n, next;
    int ok, lost, lost_code;
    char lost_msg[TALLY_ERRMSG_MAX];
} calls;

static int calls_next(void *ctx, int idle, size_t *id) {
    calls *c = ctx;
    (void)idle;
    if (c->next == c->n) return 0;
    *id = c->next++;
    return c->build(c, *id, &c->t->args) ? -1 : 1;
}

static int calls_rebuild(void *ctx, size_t id) {
    calls *c = ctx;
    return c->build(c, id, &c->t->args) ? -1 : 0;
}

static int calls_take(void *ctx, size_t id, redisReply *r) {
    (void)id;
    if (r->type == REDIS_REPLY_ARRAY) ((calls *)ctx)->ok++;
    return 0;
}

static void calls_lost(void *ctx, size_t id, int code) {
    calls *c = ctx;
    (void)id;
    if (!c->lost++) {
        c->lost_code = code;
        snprintf(c->lost_msg, sizeof c->lost_msg, "%s", tally_errmsg(c->t));
    }
}

static int run_calls(calls *c, int window, tally_window *mem) {
    tally_window_ops ops = { c, calls_next, calls_rebuild, calls_take, calls_lost };
    return tally__window_run(c->t, window, &ops, mem);
}

static void window_survives_flush_mid_batch(void **state) {
    (void)state;
    calls c = { th_open(NULL), build_read, 1500, 0, 0, 0, 0, "" };
    tally_window mem = { { 0 }, { 0 }, { 0 } };
    assert_int_equal(run_calls(&c, 16, &mem), 0);
    assert_int_equal(c.ok, 1500);
    assert_int_equal(c.lost, 0);
    tally__window_free(&mem);
    tally_close(c.t);
}

/* A connection the server closed while the handle was idle: the first call
 * finds it closed before a byte went out, so it did not run (ECONNECT, "not
 * sent"); the calls after it connect again. */
static void window_call_on_a_closed_connection_is_not_sent(void **state) {
    (void)state;
    calls c = { th_open(NULL), build_read, 10, 0, 0, 0, 0, "" };
    tally_window mem = { { 0 }, { 0 }, { 0 } };
    freeReplyObject(th_cmd("CLIENT KILL TYPE normal SKIPME yes"));
    assert_int_equal(run_calls(&c, 4, &mem), 0);
    assert_int_equal(c.lost, 1);
    assert_int_equal(c.lost_code, TALLY_ECONNECT);
    assert_non_null(strstr(c.lost_msg, "not sent"));
    assert_int_equal(c.ok, 9);
    tally__window_free(&mem);
    tally_close(c.t);
}

static void flush_reloads_everything(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    assert_int_equal(tally_scripts_flush(t), TALLY_OK);
    expect_loaded(t, 1);
    tally_close(t);
}

static void deferred_load_leaves_cache_alone(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.defer_script_load = 1;
    tally *t = th_open(&cfg);
    expect_loaded(t, 0);
    tally_close(t);
}

static void bad_url_is_einval(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = "redis://host:99999";
    tally *t;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "port"));
    tally_close(t);
}

static void unreachable_is_econnect(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = "redis://127.0.0.1:1";
    tally *t;
    assert_int_equal(tally_open(&cfg, &t), TALLY_ECONNECT);
    assert_non_null(strstr(tally_errmsg(t), "127.0.0.1:1"));
    tally_close(t);
}

static void wrong_password_is_eauth_and_not_echoed(void **state) {
    (void)state;
    freeReplyObject(th_cmd("ACL SETUSER tester on >right-pass ~* +@all"));
    char url[256];
    const char *base = th_url() + strlen("redis://");
    snprintf(url, sizeof url, "redis://tester:wrong-pass@%s", base);
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = url;
    tally *t;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EAUTH);
    assert_null(strstr(tally_errmsg(t), "wrong-pass"));
    tally_close(t);
    snprintf(url, sizeof url, "redis://tester:right-pass@%s", base);
    assert_int_equal(tally_open(&cfg, &t), TALLY_OK);
    tally_close(t);
    freeReplyObject(th_cmd("ACL DELUSER tester"));
}

static void command_timeout_is_etimeout_then_recovers(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.command_timeout_ms = 200;
    tally *t = th_open(&cfg);
    /* Pause every client for longer than the timeout; the raw connection's own
     * command returns at once. */
    freeReplyObject(th_cmd("CLIENT PAUSE 1500 ALL"));
    assert_int_equal(run_read(t), TALLY_ETIMEOUT);
    assert_non_null(strstr(tally_errmsg(t), "200 ms"));
    freeReplyObject(th_cmd("CLIENT UNPAUSE"));
    /* The handle reconnects on the next call. */
    assert_int_equal(run_read(t), TALLY_OK);
    tally_close(t);
}

/* A single call is a window of one: on a connection the server closed while
 * the handle was idle it is not sent, so it did not run (TALLY_ECONNECT, as
 * for a batch's calls, and as libtally(3) says); the next call reconnects. */
static void killed_connection_reconnects_on_next_call(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    freeReplyObject(th_cmd("CLIENT KILL TYPE normal SKIPME yes"));
    assert_int_equal(run_read(t), TALLY_ECONNECT);
    assert_int_equal(run_read(t), TALLY_OK);
    tally_close(t);
}

/* Big calls, so that a batch outgrows the socket buffer and keeps writing
 * after the server has reset the connection. */
static int build_big(void *ctx, size_t i, tally_args *a) {
    static char blob[4096];
    (void)ctx;
    (void)i;
    return tally__args_script(a, TALLY_SCRIPT_READ) || tally__args_str(a, "k") ||
           (tally__args_end_keys(a), tally__args_str(a, "get")) || tally__args_str(a, "1") ||
           tally__args_add(a, blob, sizeof blob);
}

static void sigpipe_does_not_kill_the_caller(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_DFL); /* as in a program that never heard of SIGPIPE */
    tally *t = th_open(NULL);
    freeReplyObject(th_cmd("CLIENT KILL TYPE normal SKIPME yes"));
    tally_window mem = { { 0 }, { 0 }, { 0 } };
    for (int round = 0; round < 3; round++) {
        calls c = { t, build_big, 2000, 0, 0, 0, 0, "" };
        assert_int_equal(run_calls(&c, 16, &mem), 0); /* and we are still alive */
        assert_int_equal(c.ok + c.lost, 2000);
        freeReplyObject(th_cmd("CLIENT KILL TYPE normal SKIPME yes"));
    }
    tally__window_free(&mem);
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE)); /* none left behind either */
    tally_close(t);
}

static void bad_config_is_einval(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    cfg.prefix = "bad{prefix}";
    tally *t;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "prefix"));
    tally_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(build_sha_equals_server_sha, th_clean),
        cmocka_unit_test_setup(evalsha_recovers_after_script_flush, th_clean),
        cmocka_unit_test_setup(window_survives_flush_mid_batch, th_clean),
        cmocka_unit_test_setup(window_call_on_a_closed_connection_is_not_sent, th_clean),
        cmocka_unit_test_setup(flush_reloads_everything, th_clean),
        cmocka_unit_test_setup(deferred_load_leaves_cache_alone, th_clean),
        cmocka_unit_test_setup(bad_url_is_einval, th_clean),
        cmocka_unit_test_setup(unreachable_is_econnect, th_clean),
        cmocka_unit_test_setup(wrong_password_is_eauth_and_not_echoed, th_clean),
        cmocka_unit_test_setup(command_timeout_is_etimeout_then_recovers, th_clean),
        cmocka_unit_test_setup(killed_connection_reconnects_on_next_call, th_clean),
        cmocka_unit_test_setup(bad_config_is_einval, th_clean),
        cmocka_unit_test_setup(sigpipe_does_not_kill_the_caller, th_clean),
    };
    int rc = cmocka_run_group_tests_name("scripts", tests, NULL, NULL);
    th_done();
    return rc;
}
