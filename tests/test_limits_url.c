/* test_limits_url.c -- redis: rate limits on a Redis of their own
 * (tally_config.limits_url, $TALLY_LIMITS_URL, the tool's --limits-url).
 * tests/with-redis starts the usage server; this file starts a second private
 * redis-server (a unix socket in a temp dir under the test's, no TCP port),
 * stopped after every test and dying with the test (PR_SET_PDEATHSIG). Checks
 * that decisions land there and nothing of them on the usage server, usage
 * the other way round, a bad or unreachable URL refused at open naming it,
 * and the failure policy when that server goes down while recording goes on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define T0 1700000000123456LL /* a fixed "now" in us */

static pid_t limits_pid;
static char limits_dir[512], limits_sock[600], limits_url[640];

/* The second server: started before each test, answering PING on return. */
static int limits_start(void **state) {
    (void)state;
    const char *base = getenv("TALLY_TEST_DIR");
    if (!base) fail_msg("TALLY_TEST_DIR is not set (tests/with-redis sets it)");
    snprintf(limits_dir, sizeof limits_dir, "%s/limits.XXXXXX", base);
    if (!mkdtemp(limits_dir)) fail_msg("cannot make %s", limits_dir);
    snprintf(limits_sock, sizeof limits_sock, "%s/redis.sock", limits_dir);
    snprintf(limits_url, sizeof limits_url, "unix://%s", limits_sock);
    char log[700], dir[600];
    snprintf(log, sizeof log, "%s/redis.log", limits_dir);
    snprintf(dir, sizeof dir, "%s/", limits_dir);
    limits_pid = fork();
    if (limits_pid < 0) fail_msg("fork failed");
    if (limits_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* always stopped: dies with this test */
        for (int fd = 3; fd < 1024; fd++) close(fd);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", limits_sock, "--unixsocketperm", "700",
               "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", log,
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0;; i++) { /* a readiness poll, not a test's synchronisation */
        if (i > 5000) fail_msg("the limits server does not answer (see %s)", log);
        if (waitpid(limits_pid, NULL, WNOHANG) == limits_pid) fail_msg("the limits server exited (see %s)", log);
        redisContext *c = redisConnectUnix(limits_sock);
        redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
        int up = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
        if (c) redisFree(c);
        if (up) break;
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    }
    return th_clean(state);
}

static void limits_kill(void) {
    if (limits_pid > 0) {
        kill(limits_pid, SIGKILL);
        waitpid(limits_pid, NULL, 0);
    }
    limits_pid = 0;
}

static int limits_stop(void **state) {
    (void)state;
    limits_kill();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", limits_dir);
    if (system(cmd) != 0) fail_msg("cannot remove %s", limits_dir);
    return 0;
}

/* The number of keys on the limits server, and whether one matches pattern. */
static long long limits_keys(const char *pattern) {
    redisContext *c = redisConnectUnix(limits_sock);
    if (!c || c->err) fail_msg("cannot reach the limits server");
    redisReply *r = redisCommand(c, "KEYS %s", pattern);
    if (!r || r->type != REDIS_REPLY_ARRAY) fail_msg("KEYS failed on the limits server");
    long long n = (long long)r->elements;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static long long usage_keys(const char *pattern) {
    redisReply *r = th_cmd("KEYS %s", pattern);
    long long n = (long long)r->elements;
    freeReplyObject(r);
    return n;
}

static tally *open_split(const char *url_of_limits) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.test_clock = 1;
    cfg.limits_url = url_of_limits;
    return th_open(&cfg);
}

static const tally_rule two_per_hour = { TALLY_COUNT_REQUESTS, TALLY_ALGO_SLIDING_LOG, 2, 3600000, 0 };

/* allow and peek run on the limits server and write nothing on the usage
 * server; recording writes there and nothing on the limits server; the test
 * clock reaches the decisions there. */
static void test_decisions_on_the_limits_server(void **state) {
    (void)state;
    tally *t = open_split(limits_url);
    assert_string_equal(tally_config_of(t)->limits_url, limits_url);
    assert_int_equal(tally_test_clock(t, T0), TALLY_OK);
    tally_decision d;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tally_allow(t, "k1", &two_per_hour, 1, NULL, &d), TALLY_OK);
        assert_int_equal(d.allowed, i < 2);
        assert_int_equal(d.server_time_us, T0); /* the clock reached the limits server's handle */
    }
    assert_int_equal(tally_limits(t, "k1", &two_per_hour, 1, NULL, &d), TALLY_OK);
    assert_false(d.allowed);
    assert_string_equal(tally_errmsg(t), "");
    th_assert_gt(limits_keys("tally:*k1*"), 0);
    assert_int_equal(usage_keys("*"), 0);
    long long on_limits = limits_keys("*");
    tally_event e = { .key = "k1", .model = "m", .input_tokens = 5, .request_id = "r1" };
    assert_int_equal(tally_record(t, &e, NULL), TALLY_OK);
    th_assert_gt(usage_keys("tally:*k1*"), 0);
    assert_int_equal(limits_keys("*"), on_limits);
    tally_close(t);
    /* a handle on the usage server alone finds none of those decisions */
    t = th_open_clock(T0);
    assert_int_equal(tally_allow(t, "k1", &two_per_hour, 1, NULL, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(d.rules[0].remaining, 1);
    tally_close(t);
}

/* $TALLY_LIMITS_URL stands in for a NULL limits_url; "" keeps the limits on
 * the usage server whatever it says. */
static void test_environment(void **state) {
    (void)state;
    setenv("TALLY_LIMITS_URL", limits_url, 1);
    tally *t = open_split(NULL);
    tally_decision d;
    assert_int_equal(tally_allow(t, "env", &two_per_hour, 1, NULL, &d), TALLY_OK);
    tally_close(t);
    th_assert_gt(limits_keys("tally:*env*"), 0);
    assert_int_equal(usage_keys("*"), 0);
    t = open_split("");
    assert_null(tally_config_of(t)->limits_url);
    assert_int_equal(tally_allow(t, "here", &two_per_hour, 1, NULL, &d), TALLY_OK);
    tally_close(t);
    unsetenv("TALLY_LIMITS_URL");
    th_assert_gt(usage_keys("tally:*here*"), 0);
    assert_int_equal(limits_keys("tally:*here*"), 0);
}

/* A limits_url that does not parse is refused before anything connects, one
 * that cannot be reached fails the open; both messages name it, never the
 * password. */
static void test_bad_url_refused_at_open(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    cfg.limits_url = "redis://:secret@127.0.0.1:99999";
    tally *t = NULL;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "limits_url");
    assert_null(strstr(tally_errmsg(t), "secret"));
    tally_close(t);
    char gone[700];
    snprintf(gone, sizeof gone, "unix://:secret@%s/none.sock", limits_dir);
    cfg.limits_url = gone;
    assert_int_equal(tally_open(&cfg, &t), TALLY_ECONNECT);
    th_assert_mentions(tally_errmsg(t), "limits server");
    th_assert_mentions(tally_errmsg(t), "none.sock");
    assert_null(strstr(tally_errmsg(t), "secret"));
    tally_close(t);
    assert_int_equal(usage_keys("*"), 0);
}

/* The limits server down: allow answers by the request's failure policy with
 * a message naming that server, and recording on the usage server goes on. */
static void test_limits_server_down(void **state) {
    (void)state;
    tally *t = open_split(limits_url);
    tally_decision d;
    assert_int_equal(tally_allow(t, "down", &two_per_hour, 1, NULL, &d), TALLY_OK);
    limits_kill();
    tally_request open = { 0, 0, TALLY_FAIL_OPEN }, closed = { 0, 0, TALLY_FAIL_CLOSED };
    int rc = tally_allow(t, "down", &two_per_hour, 1, &open, &d);
    assert_true(rc == TALLY_EIO || rc == TALLY_ECONNECT);
    assert_int_equal(d.decided, TALLY_DECIDED_FAIL_OPEN);
    assert_true(d.allowed);
    th_assert_mentions(tally_errmsg(t), "limits server");
    rc = tally_allow(t, "down", &two_per_hour, 1, &closed, &d);
    assert_true(rc == TALLY_EIO || rc == TALLY_ECONNECT);
    assert_int_equal(d.decided, TALLY_DECIDED_FAIL_CLOSED);
    assert_false(d.allowed);
    tally_event e = { .key = "down", .model = "m", .input_tokens = 5, .request_id = "r1" };
    assert_int_equal(tally_record(t, &e, NULL), TALLY_OK);
    assert_string_equal(tally_errmsg(t), "");
    th_assert_gt(usage_keys("tally:*down*"), 0);
    tally_close(t);
}

/* The tool: --limits-url and $TALLY_LIMITS_URL for allow and limits; other
 * commands never connect to it; a bad one is bad usage; the server down is
 * the failure policy's. */
static void test_cli(void **state) {
    (void)state;
    const char *url = th_url();
    char *out = NULL, *err = NULL;
    assert_int_equal(RUN(&out, &err, "allow", "--url", url, "--limits-url", limits_url, "--key", "c1", "--limit",
                         "1/1h"), 0);
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "limits", "--url", url, "--limits-url", limits_url, "--key", "c1", "--limit",
                         "1/1h"), 1); /* the one allowed is counted there */
    free(out), free(err);
    th_assert_gt(limits_keys("tally:*c1*"), 0);
    assert_int_equal(usage_keys("*"), 0);
    setenv("TALLY_LIMITS_URL", limits_url, 1);
    assert_int_equal(RUN(&out, &err, "allow", "--url", url, "--key", "c1", "--limit", "1/1h"), 1);
    free(out), free(err);
    assert_int_equal(usage_keys("*"), 0);
    assert_int_equal(RUN(&out, &err, "allow", "--url", url, "--limits-url", "", "--key", "c1", "--limit", "1/1h"),
                     2); /* no value may be empty */
    free(out), free(err);
    setenv("TALLY_LIMITS_URL", "", 1); /* empty: unset, the usage server's own */
    assert_int_equal(RUN(&out, &err, "allow", "--url", url, "--key", "c1", "--limit", "1/1h"), 0);
    free(out), free(err);
    th_assert_gt(usage_keys("tally:*c1*"), 0);
    setenv("TALLY_LIMITS_URL", limits_url, 1);
    assert_int_equal(RUN(&out, &err, "allow", "--url", url, "--limits-url", "redis://h:0", "--key", "c1", "--limit",
                         "1/1h"), 2);
    th_assert_mentions(err, "limits_url");
    free(out), free(err);
    limits_kill();
    assert_int_equal(RUN(&out, &err, "record", "--url", url, "--key", "c1", "--model", "m", "--input", "3"),
                     0); /* $TALLY_LIMITS_URL is down: record does not connect to it */
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "allow", "--url", url, "--key", "c1", "--limit", "1/1h", "--fail-open"), 0);
    th_assert_mentions(err, "limits server");
    th_assert_mentions(err, "fail-open");
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "allow", "--url", url, "--key", "c1", "--limit", "1/1h"), 3);
    free(out), free(err);
    unsetenv("TALLY_LIMITS_URL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decisions_on_the_limits_server, limits_start, limits_stop),
        cmocka_unit_test_setup_teardown(test_environment, limits_start, limits_stop),
        cmocka_unit_test_setup_teardown(test_bad_url_refused_at_open, limits_start, limits_stop),
        cmocka_unit_test_setup_teardown(test_limits_server_down, limits_start, limits_stop),
        cmocka_unit_test_setup_teardown(test_cli, limits_start, limits_stop),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_done();
    return rc;
}
