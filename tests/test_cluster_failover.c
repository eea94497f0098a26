/* test_cluster_failover.c -- cluster: exact totals while the cluster changes
 * under a recording client: a graceful failover (CLUSTER FAILOVER), a live
 * reshard (redis-cli --cluster reshard) and a crashed primary. A recorder child
 * sends events with request ids and resends what failed; the test follows its
 * progress through pipes. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "cluster.h"
#include "cluster_util.h"

/* Waits until every node says the cluster is ok (after a failover): a readiness
 * poll on the cluster's own state, bounded. */
static int dead_port; /* a node the crash test shut down */

static void wait_cluster_ok(void) {
    for (int tries = 0; tries < 600; tries++) {
        int ok = dead_port ? 1 : 0;
        for (int i = 0; i < NODES; i++) {
            if (tc_ports[i] == dead_port) continue;
            redisReply *r = tc_on(tc_ports[i], "CLUSTER INFO");
            ok += r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") != NULL;
            freeReplyObject(r);
        }
        if (ok == NODES) return;
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    fail_msg("the cluster did not come back to cluster_state:ok");
}

/* A recorder child: records events [0, n) with ids until told to stop (a byte on
 * `stop`), then writes how many it recorded, its failed round trips and the span
 * of its errors in ms to `report`. Progress goes to `progress` every batch. */
static void recorder(int progress, int stop, int report, int nkeys) {
    tally *t = tc_open();
    int n = 0, failures = 0, span = 0, stopped = 0;
    fcntl(stop, F_SETFL, O_NONBLOCK);
    while (!stopped || n < 400) {
        int ms = 0, failed = tc_record_range(t, n, n + 40, nkeys, 40, &ms);
        if (failed < 0) _exit(2);
        failures += failed;
        if (ms > span) span = ms;
        n += 40;
        if (write(progress, &n, sizeof n) < 0) _exit(3);
        char c;
        if (read(stop, &c, 1) == 1) stopped = 1;
    }
    int out[4] = { n, failures, span, tc_first_error };
    if (write(report, out, sizeof out) != sizeof out || write(report, tc_first_message, sizeof tc_first_message) < 0) _exit(3);
    tally_close(t);
    _exit(0);
}

typedef struct {
    pid_t pid;
    int progress, stop, report;
} child;

static pid_t running_child;

/* cmocka teardown: a recorder left behind by a failed test is killed. */
static int reap(void **state) {
    (void)state;
    if (running_child > 0) {
        kill(running_child, SIGKILL);
        waitpid(running_child, NULL, 0);
    }
    running_child = 0;
    return 0;
}

static child start_recorder(int nkeys) {
    int p[2], s[2], r[2];
    if (pipe(p) || pipe(s) || pipe(r)) fail_msg("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]), close(s[1]), close(r[0]);
        recorder(p[1], s[0], r[1], nkeys);
    }
    close(p[1]), close(s[0]), close(r[1]);
    running_child = pid;
    return (child){ pid, p[0], s[1], r[0] };
}

static void wait_progress(child *c, int events) {
    int n = 0;
    while (n < events)
        if (read(c->progress, &n, sizeof n) != sizeof n) fail_msg("the recorder died");
}

/* Stops the recorder after it has recorded `more` further events and returns
 * its report {recorded, failed round trips, longest time a batch took to get
 * through once it had failed (ms), code of the first failure}. */
static void stop_recorder(child *c, int more, int out[4]) {
    int n = 0, start = -1;
    while (start < 0 || n < start + more) {
        if (read(c->progress, &n, sizeof n) != sizeof n) fail_msg("the recorder died");
        if (start < 0) start = n;
    }
    if (write(c->stop, "x", 1) != 1) fail_msg("stop pipe");
    while (read(c->progress, &n, sizeof n) == sizeof n) {
    }
    if (read(c->report, out, 4 * sizeof(int)) != 4 * sizeof(int)) fail_msg("no report");
    if (read(c->report, tc_first_message, sizeof tc_first_message) < 0) tc_first_message[0] = 0;
    running_child = 0;
    th_reap(c->pid);
    close(c->progress), close(c->stop), close(c->report);
}

/* The primary serving key:0's slot and one of its replicas (tc_ports). */
static void owner_of_key0(int *primary, int *replica) {
    unsigned slot = tally__key_slot("{k:key:0}", 9);
    redisReply *r = tc_on(tc_ports[0], "CLUSTER SLOTS");
    *primary = *replica = 0;
    for (size_t k = 0; k < r->elements; k++)
        if (slot >= (unsigned)r->element[k]->element[0]->integer && slot <= (unsigned)r->element[k]->element[1]->integer)
            *primary = (int)r->element[k]->element[2]->element[1]->integer;
    freeReplyObject(r);
    /* Its replica, by ROLE (CLUSTER SLOTS hides replicas without data yet). */
    for (int i = 0; i < NODES; i++) {
        if (tc_ports[i] == *primary || tc_ports[i] == dead_port) continue;
        redisReply *role = tc_on(tc_ports[i], "ROLE");
        if (strcmp(role->element[0]->str, "slave") == 0 && role->element[2]->integer == *primary) *replica = tc_ports[i];
        freeReplyObject(role);
    }
    th_assert_gt(*primary, 0);
    th_assert_gt(*replica, 0);
}

/* Records with ids while key:0's replica takes over: gracefully (CLUSTER
 * FAILOVER) or after its primary dies (SHUTDOWN NOSAVE, then the cluster's own
 * failure detection). Totals must be exact either way. */
static void failover(int crash) {
    child c = start_recorder(30);
    wait_progress(&c, 400);
    int primary, replica;
    owner_of_key0(&primary, &replica);
    if (crash) {
        redisContext *p = tc_node(primary);
        redisReply *gone = redisCommand(p, "SHUTDOWN NOSAVE"); /* no reply: the server exits */
        if (gone) freeReplyObject(gone);
        redisFree(p);
        dead_port = primary;
    } else {
        redisReply *f = tc_on(replica, "CLUSTER FAILOVER");
        assert_int_equal(f->type, REDIS_REPLY_STATUS);
        freeReplyObject(f);
    }
    for (int tries = 0; !tc_is_primary(replica); tries++) {
        if (tries > 800) fail_msg("the replica was not promoted");
        struct timespec ts = { 0, 25000000 };
        nanosleep(&ts, NULL);
    }
    int out[4];
    stop_recorder(&c, 400, out);
    printf("# %s failover: %d events recorded; the caller saw %d failed round trips (first: %s), "
           "the longest a batch took to get through after failing: %d ms\n#   %s\n",
           crash ? "crash" : "graceful", out[0], out[1], out[3] ? tally_strerror(out[3]) : "none", out[2],
           tc_first_message);
    wait_cluster_ok();
    tally *t = tc_open();
    tc_check_totals(t, out[0], 30);
    tally_close(t);
}

static void failover_loses_and_doubles_nothing(void **state) {
    (void)state;
    failover(0);
}

/* Last: it leaves the cluster with one node down. */
static void crash_failover_loses_and_doubles_nothing(void **state) {
    (void)state;
    failover(1);
}

/* Finds a key id whose {k:...} slot is the lowest slot `port` serves, so that a
 * reshard moving that node's first slots moves this key's data. */
static void key_in_first_slot(int port, char *id, unsigned *slot_out) {
    redisReply *r = tc_on(tc_ports[0], "CLUSTER SLOTS");
    long long lowest = 16384;
    for (size_t k = 0; k < r->elements; k++)
        if (r->element[k]->element[2]->element[1]->integer == port && r->element[k]->element[0]->integer < lowest)
            lowest = r->element[k]->element[0]->integer;
    freeReplyObject(r);
    for (int i = 0; i < 5000000; i++) {
        char tag[64];
        sprintf(id, "live-%d", i); /* no byte the key encoding changes */
        int n = sprintf(tag, "{k:live-%d}", i);
        if (tally__key_slot(tag, (size_t)n) == (unsigned)lowest) {
            *slot_out = (unsigned)lowest;
            return;
        }
    }
    fail_msg("no key id lands in slot %lld", lowest);
}

static void node_id(int port, char *id) {
    redisReply *r = tc_on(port, "CLUSTER MYID");
    snprintf(id, 41, "%s", r->str);
    freeReplyObject(r);
}

static void reshard_loses_and_doubles_nothing(void **state) {
    (void)state;
    int from = -1, to = -1;
    for (int i = 0; i < NODES; i++)
        if (tc_is_primary(tc_ports[i])) {
            if (from < 0) from = tc_ports[i];
            else if (to < 0) to = tc_ports[i];
        }
    char live[32];
    unsigned slot = 0;
    key_in_first_slot(from, live, &slot);
    strcpy(tc_key0, live); /* the recorder's key 0 lives in the slot that moves */
    int nkeys = 30;
    child c = start_recorder(nkeys);
    wait_progress(&c, 200);
    char from_id[41], to_id[41], cmd[512];
    node_id(from, from_id);
    node_id(to, to_id);
    snprintf(cmd, sizeof cmd,
             "redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s --cluster-to %s --cluster-slots 64 "
             "--cluster-yes >/dev/null 2>&1",
             from, from_id, to_id);
    assert_int_equal(system(cmd), 0);
    redisReply *r = tc_on(to, "CLUSTER COUNTKEYSINSLOT %u", slot);
    printf("# reshard: slot %u of %s moved, %lld keys now on the new node\n", slot, live, r->integer);
    th_assert_gt(r->integer, 0); /* live data did move */
    freeReplyObject(r);
    int out[4];
    stop_recorder(&c, 200, out);
    printf("# reshard: %d events recorded, %d failed round trips\n", out[0], out[1]);
    tally *t = tc_open();
    tally_period total;
    tally_period_parse(t, "total", &total);
    tally_bucket got, want = tc_expected(out[0], nkeys, -1);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &got), TALLY_OK);
    tc_assert_bucket(&got, &want);
    tally_bucket one = tc_expected(out[0], nkeys, 0);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, live, &total, &got), TALLY_OK);
    tc_assert_bucket(&got, &one);
    tally_close(t);
    strcpy(tc_key0, "key:0");
}

int main(void) {
    tc_read_ports();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(failover_loses_and_doubles_nothing, tc_clean, reap),
        cmocka_unit_test_setup_teardown(reshard_loses_and_doubles_nothing, tc_clean, reap),
        cmocka_unit_test_setup_teardown(crash_failover_loses_and_doubles_nothing, tc_clean, reap),
    };
    return cmocka_run_group_tests_name("cluster_failover", tests, NULL, NULL);
}
