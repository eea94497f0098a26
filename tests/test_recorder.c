/* test_recorder.c -- redis (with an append-only file, so the server can be
 * restarted with its data): the asynchronous recorder. Flush and close make
 * what was accepted durable, exactly once; a full buffer blocks or drops (and
 * counts) as asked; a server restart in mid-stream loses nothing that carries
 * a request id, and an outage (connections refused) loses nothing at all;
 * events given up are reported by flush; a forked child is refused at once;
 * bad events are refused at once with a message. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rec_util.h"

static tally_config config(void) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    cfg.command_timeout_ms = 500;
    cfg.connect_timeout_ms = 500;
    return cfg;
}

static tally_recorder *open_recorder(const tally_recorder_config *rc) {
    tally_config cfg = config();
    tally_recorder *r = NULL;
    if (tally_recorder_open(&cfg, rc, &r) != TALLY_OK) {
        char msg[512];
        tally_recorder_errmsg(r, msg, sizeof msg);
        fail_msg("tally_recorder_open: %s", msg);
    }
    return r;
}

/* Event i: key k<i%5>, one request id each (or none when no_ids). */
static tally_event event(int i, char *rid, size_t cap, int no_ids) {
    snprintf(rid, cap, "rec-%d", i);
    static const char *const keys[5] = { "k0", "k1", "k2", "k3", "k4" };
    return ru_event(keys[i % 5], i % 2 ? "m1" : "m2", "acct", i % 7, 1, 0, 2, 1000 + i, 0, no_ids ? NULL : rid);
}

/* The key totals equal the sums of events [0, n) that were accepted. */
static void expect_totals(int n, const unsigned char *accepted) {
    tally *t = th_open(NULL);
    int64_t req[5] = { 0 }, in[5] = { 0 }, cost[5] = { 0 };
    char rid[32];
    for (int i = 0; i < n; i++) {
        if (accepted && !accepted[i]) continue;
        tally_event e = event(i, rid, sizeof rid, 0);
        req[i % 5]++, in[i % 5] += e.input_tokens, cost[i % 5] += e.cost_nanos;
    }
    for (int k = 0; k < 5; k++) {
        char key[4];
        snprintf(key, sizeof key, "k%d", k);
        tally_bucket b = GET(t, TALLY_SCOPE_KEY, key, ru_total());
        assert_int_equal(b.requests, req[k]);
        assert_int_equal(b.input_tokens, in[k]);
        assert_int_equal(b.cost_nanos, cost[k]);
    }
    tally_close(t);
}

/* A recorder that has recorded event 0 (without its id when no_ids) and is
 * idle: connected, nothing waiting. */
static tally_recorder *open_idle(const tally_recorder_config *rc, int no_ids) {
    tally_recorder *r = open_recorder(rc);
    char rid[32];
    tally_event e = event(0, rid, sizeof rid, no_ids);
    assert_int_equal(tally_recorder_record(r, &e), TALLY_OK);
    assert_int_equal(tally_recorder_flush(r, -1), TALLY_OK);
    return r;
}

typedef struct { tally_recorder *r; int from, to; } job;

static void *record_range(void *arg) {
    job *j = arg;
    char rid[32];
    for (int i = j->from; i < j->to; i++) {
        tally_event e = event(i, rid, sizeof rid, 0);
        if (tally_recorder_record(j->r, &e) != TALLY_OK) return (void *)1;
    }
    return NULL;
}

/* Two threads record; flush returns once Redis has every event. */
static void flush_makes_events_durable(void **state) {
    (void)state;
    tally_recorder *r = open_recorder(NULL);
    job jobs[2] = { { r, 0, 3000 }, { r, 3000, 6000 } };
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, record_range, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    assert_int_equal(tally_recorder_flush(r, -1), TALLY_OK);
    tally_recorder_stats s;
    tally_recorder_get_stats(r, &s);
    assert_int_equal(s.recorded, 6000);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.unknown + s.refused + s.dropped + s.duplicates, 0);
    expect_totals(6000, NULL);
    assert_int_equal(tally_recorder_close(r, -1), TALLY_OK);
}

/* close() flushes first; events without ids count too. */
static void close_makes_events_durable(void **state) {
    (void)state;
    tally_recorder *r = open_recorder(NULL);
    char rid[32];
    for (int i = 0; i < 1000; i++) {
        tally_event e = event(i, rid, sizeof rid, 1);
        assert_int_equal(tally_recorder_record(r, &e), TALLY_OK);
    }
    assert_int_equal(tally_recorder_close(r, -1), TALLY_OK);
    expect_totals(1000, NULL);
}

/* DROP: a buffer of 16 that the thread only sends when asked (or full, never
 * here): the 17th event on is dropped and counted; the first 16 count. */
static void full_buffer_drops_and_counts(void **state) {
    (void)state;
    tally_recorder_config rc;
    tally_recorder_config_init(&rc);
    rc.capacity = 16;
    rc.flush_events = 1000; /* more than fits: only flush() or close() sends */
    rc.flush_ms = 60000;
    rc.when_full = TALLY_RECORDER_DROP;
    tally_recorder *r = open_recorder(&rc);
    unsigned char accepted[100] = { 0 };
    char rid[32];
    int dropped = 0;
    for (int i = 0; i < 100; i++) {
        tally_event e = event(i, rid, sizeof rid, 0);
        int got = tally_recorder_record(r, &e);
        assert_true(got == TALLY_OK || got == TALLY_EFULL);
        accepted[i] = got == TALLY_OK;
        dropped += got == TALLY_EFULL;
    }
    assert_int_equal(dropped, 84);
    assert_int_equal(tally_recorder_flush(r, -1), TALLY_OK);
    tally_recorder_stats s;
    tally_recorder_get_stats(r, &s);
    assert_int_equal(s.dropped, 84);
    assert_int_equal(s.recorded, 16);
    expect_totals(100, accepted);
    assert_int_equal(tally_recorder_close(r, -1), TALLY_OK);
}

/* BLOCK: the thread sends only full buffers of 16, so the 17th caller waits
 * for room; nothing is lost. */
static void full_buffer_blocks(void **state) {
    (void)state;
    tally_recorder_config rc;
    tally_recorder_config_init(&rc);
    rc.capacity = rc.flush_events = 16;
    rc.flush_ms = 60000;
    tally_recorder *r = open_recorder(&rc);
    char rid[32];
    for (int i = 0; i < 1000; i++) {
        tally_event e = event(i, rid, sizeof rid, 0);
        assert_int_equal(tally_recorder_record(r, &e), TALLY_OK);
    }
    assert_int_equal(tally_recorder_flush(r, -1), TALLY_OK);
    tally_recorder_stats s;
    tally_recorder_get_stats(r, &s);
    assert_true(s.blocked >= 1);
    assert_int_equal(s.recorded, 1000);
    assert_int_equal(s.dropped, 0);
    expect_totals(1000, NULL);
    assert_int_equal(tally_recorder_close(r, -1), TALLY_OK);
}

/* The server is killed (SIGKILL) and restarted with its append-only file in
 * mid-stream: events with request ids are sent again until Redis answers, so
 * each counts exactly once. */
static void server_restart_in_mid_stream(void **state) {
    (void)state;
    tally_recorder_config rc;
    tally_recorder_config_init(&rc);
    rc.retry_ms = 20;
    tally_recorder *r = open_recorder(&rc);
    char rid[32];
    for (int i = 0; i < 6000; i++) {
        if (i == 2000) th_server_kill();
        if (i == 4000) th_server_start();
        tally_event e = event(i, rid, sizeof rid, 0);
        assert_int_equal(tally_recorder_record(r, &e), TALLY_OK);
    }
    assert_int_equal(tally_recorder_flush(r, -1), TALLY_OK);
    tally_recorder_stats s;
    tally_recorder_get_stats(r, &s);
    assert_int_equal(s.recorded + s.duplicates, 6000);
    assert_int_equal(s.unknown, 0);
    assert_true(s.resent > 0); /* the kill was seen */
    expect_totals(6000, NULL);
    assert_int_equal(tally_recorder_close(r, -1), TALLY_OK);
}

/* The server is down (it refuses connections, and closed the one the
 * recorder had) while events without request ids are recorded: they were
 * never sent, so they did not run; the recorder holds them and sends them
 * again, and a flush does not answer TALLY_OK while they wait. Once the
 * server is back each counts exactly once. */
static void refused_connection_holds_events(void **state) {
    (void)state;
    tally_recorder_config rc;
    tally_recorder_config_init(&rc);
    rc.retry_ms = 20;
    tally_recorder *r = open_idle(&rc, 1);
    th_server_kill();
    char rid[32];
    for (int i = 1; i <= 50; i++) {
        tally_event e = event(i, rid, sizeof rid, 1);
        assert_int_equal(tally_recorder_record(r, &e), TALLY_OK);
    }
    assert_int_equal(tally_recorder_flush(r, 100), TALLY_ETIMEOUT); /* held while the server is down */
    tally_recorder_stats s;
    tally_recorder_get_stats(r, &s);
    assert_int_equal(s.unknown, 0);
    assert_int_equal(s.queued, 50);
    th_server_start();
    assert_int_equal(tally_recorder_flush(r, -1), TALLY_OK);
    tally_recorder_get_stats(r, &s);
    assert_int_equal(s.recorded, 51);
    assert_int_equal(s.unknown + s.refused + s.duplicates, 0);
    assert_true(s.resent > 0);
    expect_totals(51, NULL);
    assert_int_equal(tally_recorder_close(r, -1), TALLY_OK);
}

/* Events sent without a request id and left without an answer (the server
 * holds every write: CLIENT PAUSE WRITE, past the 500 ms command timeout) may
 * or may not count: they are given up as unknown, and the flush says so
 * (TALLY_EIO, with the count) instead of TALLY_OK. The next flush has nothing
 * new to report. */
static void flush_reports_events_given_up(void **state) {
    (void)state;
    tally_recorder *r = open_idle(NULL, 1);
    freeReplyObject(th_cmd("CLIENT PAUSE 10000 WRITE"));
    char rid[32];
    tally_event e;
    for (int i = 1; i <= 10; i++) {
        e = event(i, rid, sizeof rid, 1);
        assert_int_equal(tally_recorder_record(r, &e), TALLY_OK);
    }
    assert_int_equal(tally_recorder_flush(r, -1), TALLY_EIO);
    char msg[512];
    tally_recorder_errmsg(r, msg, sizeof msg);
    if (!strstr(msg, "10 events not recorded: 0 refused by Redis, 10 without a request id"))
        fail_msg("flush message: %s", msg);
    freeReplyObject(th_cmd("CLIENT UNPAUSE"));
    tally_recorder_stats s;
    tally_recorder_get_stats(r, &s);
    assert_int_equal(s.recorded, 1);
    assert_int_equal(s.unknown, 10);
    assert_int_equal(tally_recorder_flush(r, -1), TALLY_OK); /* reported once */
    e = event(11, rid, sizeof rid, 1);
    assert_int_equal(tally_recorder_record(r, &e), TALLY_OK);
    assert_int_equal(tally_recorder_close(r, -1), TALLY_OK);
}

/* A pre-fork server's child uses the recorder its parent opened: the child
 * has no recorder thread and would share the parent's connection, so every
 * call answers TALLY_EINVAL at once (close included: it never waits for the
 * parent's thread) and the parent's recorder goes on. The child dies with
 * this process, so a hang ends with the suite's timeout. */
static void forked_child_is_refused(void **state) {
    (void)state;
    tally_recorder *r = open_idle(NULL, 0);
    char rid[32];
    tally_event e;
    fflush(NULL);
    pid_t pid = fork();
    th_assert_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int bad = 0;
        e = event(1, rid, sizeof rid, 0);
        bad |= (tally_recorder_record(r, &e) != TALLY_EINVAL) << 0;
        bad |= (tally_recorder_flush(r, 0) != TALLY_EINVAL) << 1;
        char msg[512];
        tally_recorder_errmsg(r, msg, sizeof msg);
        bad |= !strstr(msg, "forked child") << 2;
        tally_recorder_stats s;
        tally_recorder_get_stats(r, &s);
        bad |= (s.recorded != 1) << 3;
        bad |= (tally_recorder_close(r, 500) != TALLY_EINVAL) << 4;
        _exit(bad);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("child: status %#x", status);
    e = event(2, rid, sizeof rid, 0);
    assert_int_equal(tally_recorder_record(r, &e), TALLY_OK);
    assert_int_equal(tally_recorder_flush(r, -1), TALLY_OK);
    tally_recorder_stats s;
    tally_recorder_get_stats(r, &s);
    assert_int_equal(s.recorded, 2);
    expect_totals(3, (const unsigned char[]){ 1, 0, 1 });
    assert_int_equal(tally_recorder_close(r, -1), TALLY_OK);
}

/* A bad event is refused by record itself, with the reason. */
static void bad_event_refused_at_once(void **state) {
    (void)state;
    tally_recorder *r = open_recorder(NULL);
    tally_event e = ru_event("k", "", NULL, 1, 0, 0, 0, 0, 0, NULL);
    assert_int_equal(tally_recorder_record(r, &e), TALLY_EINVAL);
    char msg[512];
    tally_recorder_errmsg(r, msg, sizeof msg);
    assert_string_equal(msg, "model is empty");
    tally_recorder_stats s;
    tally_recorder_get_stats(r, &s);
    assert_int_equal(s.rejected, 1);
    assert_int_equal(tally_recorder_close(r, -1), TALLY_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(flush_makes_events_durable, th_clean),
        cmocka_unit_test_setup(close_makes_events_durable, th_clean),
        cmocka_unit_test_setup(full_buffer_drops_and_counts, th_clean),
        cmocka_unit_test_setup(full_buffer_blocks, th_clean),
        cmocka_unit_test_setup(server_restart_in_mid_stream, th_clean),
        cmocka_unit_test_setup(bad_event_refused_at_once, th_clean),
        cmocka_unit_test_setup(refused_connection_holds_events, th_clean),
        cmocka_unit_test_setup(flush_reports_events_given_up, th_clean),
        cmocka_unit_test_setup(forked_child_is_refused, th_clean),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_done();
    return rc;
}
