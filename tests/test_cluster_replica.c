/* test_cluster_replica.c -- cluster: reads from replicas (tally_config.read_from
 * = TALLY_READ_REPLICA, `--read-from replica`) on the 3-primary, 3-replica
 * cluster of tests/with-cluster. Which node ran what is read from each node's
 * own counters (INFO commandstats, zeroed by CONFIG RESETSTAT): with the option
 * the primaries run no read script (queries, limits peeks), the replicas run
 * them all, the results equal
 * what the primaries answer once WAIT says the replicas have the writes, and a
 * replica killed between or during reads leaves them to its primary; the
 * price table is read on its primary. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "cluster_util.h"
#include "timecal.h" /* tally__mono_ms: deadlines for waits on the cluster */

#define EVENTS 300
#define KEYS 10

/* Calls of `cmd` (lower case, e.g. "evalsha_ro") node `port` counted since its
 * last CONFIG RESETSTAT. */
static long long calls_of(int port, const char *cmd) {
    redisReply *r = tc_on(port, "INFO commandstats");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", cmd);
    const char *at = strstr(r->str, field);
    long long n = at ? atoll(at + strlen(field)) : 0;
    freeReplyObject(r);
    return n;
}

static void reset_stats(void) {
    for (int i = 0; i < NODES; i++)
        if (tc_ports[i]) freeReplyObject(tc_on(tc_ports[i], "CONFIG RESETSTAT"));
}

/* The port of the primary replica `port` follows (ROLE). */
static int primary_of(int port) {
    redisReply *r = tc_on(port, "ROLE");
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements >= 3 && strcmp(r->element[0]->str, "slave") == 0);
    int p = (int)r->element[2]->integer;
    freeReplyObject(r);
    return p;
}

static tally *open_reader(void) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.read_from = TALLY_READ_REPLICA;
    return th_open(&cfg);
}

/* Records the test's events with a writer handle and waits until every
 * primary's replica has them. */
static void record_and_wait(void) {
    tally *w = tc_open();
    assert_int_equal(tc_record_range(w, 0, EVENTS, KEYS, 100, NULL), 0);
    int acked = -1;
    assert_int_equal(tally_wait_replicas(w, 1, 4000, &acked), TALLY_OK);
    th_assert_ge(acked, 1);
    tc_check_totals(w, EVENTS, KEYS); /* what the primaries answer */
    tally_close(w);
}

static void replica_reads_leave_primaries_alone(void **state) {
    (void)state;
    record_and_wait();
    tally *r = open_reader();
    /* Scripts are loaded per node and not replicated: a replica that lost them
     * answers NOSCRIPT, and the read loads them there and runs again. */
    for (int i = 0; i < NODES; i++)
        if (!tc_is_primary(tc_ports[i])) freeReplyObject(tc_on(tc_ports[i], "SCRIPT FLUSH"));
    reset_stats();
    tc_check_totals(r, EVENTS, KEYS);
    tally_bucket m;
    assert_int_equal(tally_metrics(r, 60, &m), TALLY_OK);
    tally_bucket all = tc_expected(EVENTS, KEYS, -1);
    tc_assert_bucket(&m, &all);
    tally_point days[3];
    assert_int_equal(tally_trend(r, TALLY_SCOPE_GLOBAL, NULL, TALLY_DAY, 3, days), TALLY_OK);
    tc_assert_bucket(&days[2].b, &all);
    assert_int_equal(days[0].b.requests + days[1].b.requests, 0);
    long long on_replicas = 0;
    for (int i = 0; i < NODES; i++) {
        int p = tc_ports[i];
        if (tc_is_primary(p)) {
            assert_int_equal(calls_of(p, "evalsha_ro"), 0);
            assert_int_equal(calls_of(p, "evalsha"), 0);
        } else {
            assert_int_equal(calls_of(p, "evalsha"), 0);
            th_assert_ge(calls_of(p, "evalsha_ro"), 1); /* every replica serves some shard */
            th_assert_ge(calls_of(p, "script|load"), 1);
            on_replicas += calls_of(p, "evalsha_ro");
        }
    }
    printf("# %lld read calls, all on replicas\n", on_replicas);
    tally_close(r);
}

/* Writes and admission never go to a replica, whatever read_from says; a
 * limits peek (peek.lua, no-writes) does, and sees the allow once WAIT says the
 * replica has it. */
static void writes_stay_on_primaries(void **state) {
    (void)state;
    tally *r = open_reader();
    reset_stats();
    assert_int_equal(tc_record_range(r, 0, 50, KEYS, 25, NULL), 0);
    tally_rule rule;
    assert_int_equal(tally_rule_parse("10/1m", 5, &rule, NULL, 0), TALLY_OK);
    tally_decision d;
    assert_int_equal(tally_allow(r, "key:1", &rule, 1, NULL, &d), TALLY_OK);
    assert_int_equal(d.allowed, 1);
    long long on_primaries = 0, peeks = 0;
    for (int i = 0; i < NODES; i++) {
        if (tc_is_primary(tc_ports[i])) on_primaries += calls_of(tc_ports[i], "evalsha");
        else assert_int_equal(calls_of(tc_ports[i], "evalsha"), 0);
    }
    th_assert_ge(on_primaries, 3);
    assert_int_equal(tally_wait_replicas(r, 1, 4000, NULL), TALLY_OK);
    assert_int_equal(tally_limits(r, "key:1", &rule, 1, NULL, &d), TALLY_OK);
    assert_int_equal(d.allowed, 1);
    assert_int_equal(d.remaining, 9);
    for (int i = 0; i < NODES; i++) {
        if (tc_is_primary(tc_ports[i])) assert_int_equal(calls_of(tc_ports[i], "evalsha_ro"), 0);
        else peeks += calls_of(tc_ports[i], "evalsha_ro");
    }
    assert_int_equal(peeks, 1);
    tally_close(r);
}

/* The price table is read with EVALSHA_RO (read access is enough: the
 * application's user of docs/acl.md may not write it) but on its primary even
 * with read_from = replica: a replica that lags or has not synced yet would
 * read as an older table or none, and events as unpriced at cost 0. */
static void price_table_is_read_on_its_primary(void **state) {
    (void)state;
    tally *w = tc_open();
    const char *json = "{\"models\": {\"m\": {\"input\": 1, \"output\": 2, \"cache_create\": 3, \"cache_read\": 4}}}";
    tally_prices *p;
    int64_t version = 0;
    assert_int_equal(tally_prices_parse(json, strlen(json), &p, NULL, 0), TALLY_OK);
    assert_int_equal(tally_prices_load(w, p, &version), TALLY_OK);
    tally_prices_free(p);
    tally_close(w);
    tally *r = open_reader();
    reset_stats();
    tally_prices *got;
    assert_int_equal(tally_prices_get(r, &got), TALLY_OK);
    assert_int_equal(tally_prices_version(got), version);
    tally_prices_free(got);
    tally_event e = { .key = "pk", .model = "m", .input_tokens = 1000, .cost_nanos = TALLY_COST_FROM_PRICES };
    tally_result res;
    assert_int_equal(tally_record_batch(r, &e, 1, &res), TALLY_OK);
    assert_int_equal(res.code, TALLY_OK);
    assert_int_equal(res.price_version, version);
    long long on_primaries = 0;
    for (int i = 0; i < NODES; i++) {
        if (tc_is_primary(tc_ports[i])) on_primaries += calls_of(tc_ports[i], "evalsha_ro");
        else assert_int_equal(calls_of(tc_ports[i], "evalsha_ro"), 0);
    }
    th_assert_ge(on_primaries, 2); /* tally_prices_get's read, and the recording's */
    tally_close(r);
}

/* The tool: --read-from replica (and $TALLY_READ_FROM) reads the replicas and
 * prints what --read-from primary prints. */
static void tool_reads_from_replicas(void **state) {
    (void)state;
    record_and_wait();
    const char *url = getenv("TALLY_TEST_URL");
    char *out_p, *out_r, *out_e, *err;
    assert_int_equal(RUN(&out_p, &err, "top", "--url", url, "--by", "requests", "--json", "--read-from", "primary"), 0);
    free(err);
    reset_stats();
    assert_int_equal(RUN(&out_r, &err, "top", "--url", url, "--by", "requests", "--json", "--read-from", "replica"), 0);
    free(err);
    setenv("TALLY_READ_FROM", "replica", 1);
    int rc = RUN(&out_e, &err, "top", "--url", url, "--by", "requests", "--json");
    unsetenv("TALLY_READ_FROM");
    assert_int_equal(rc, 0);
    free(err);
    assert_string_equal(out_r, out_p);
    assert_string_equal(out_e, out_p);
    assert_true(th_mentions(out_p, "key:3"));
    /* the exporter's page (every period, the top keys, an account) */
    char *prom_p, *prom_r;
    assert_int_equal(RUN(&prom_r, &err, "metrics", "--url", url, "--format", "prometheus", "--account", "acct{1}",
                         "--read-from", "replica"), 0);
    free(err);
    for (int i = 0; i < NODES; i++)
        if (tc_is_primary(tc_ports[i])) assert_int_equal(calls_of(tc_ports[i], "evalsha_ro"), 0);
    assert_int_equal(RUN(&prom_p, &err, "metrics", "--url", url, "--format", "prometheus", "--account", "acct{1}"), 0);
    free(err);
    assert_string_equal(prom_r, prom_p);
    assert_true(th_mentions(prom_p, "acct{1}"));
    free(out_p), free(out_r), free(out_e), free(prom_p), free(prom_r);
}

/* A replica shut down under a reader with open connections to it, then under
 * a new reader (the slot map may still list it): the reads go to its primary
 * and answer the same. */
/* A counter of INFO errorstats ("LOADING", "MOVED") on node `port`. */
static long long errors_of(int port, const char *code) {
    redisReply *r = tc_on(port, "INFO errorstats");
    char field[64];
    snprintf(field, sizeof field, "errorstat_%s:count=", code);
    const char *at = r->type == REDIS_REPLY_STRING ? strstr(r->str, field) : NULL;
    long long n = at ? atoll(at + strlen(field)) : 0;
    freeReplyObject(r);
    return n;
}

/* A replica that is loading its data (DEBUG RELOAD, slowed to seconds)
 * answers reads LOADING: they go to its primary, with the same answers. */
static void loading_replica_leaves_reads_to_its_primary(void **state) {
    (void)state;
    record_and_wait();
    tally *r = open_reader();
    tc_check_totals(r, EVENTS, KEYS); /* connects to every replica */
    int victim = -1;
    for (int i = 0; i < NODES && victim < 0; i++)
        if (!tc_is_primary(tc_ports[i])) victim = tc_ports[i];
    int its_primary = primary_of(victim);
    freeReplyObject(tc_on(victim, "DEBUG POPULATE 40000 pad 100"));
    freeReplyObject(tc_on(victim, "CONFIG SET key-load-delay 100")); /* µs per key: ~4 s of loading */
    freeReplyObject(tc_on(victim, "CONFIG SET loading-process-events-interval-bytes 1024")); /* answers meanwhile */
    fflush(NULL);
    pid_t pid = fork();
    th_assert_ge(pid, 0);
    if (pid == 0) { /* blocks until the reload is over */
        redisContext *c = redisConnect("127.0.0.1", victim);
        redisReply *x = c && !c->err ? redisCommand(c, "DEBUG RELOAD") : NULL;
        _exit(x && x->type == REDIS_REPLY_STATUS ? 0 : 1);
    }
    int64_t give_up = tally__mono_ms() + 20000;
    for (int loading = 0; !loading;) { /* until the replica says it is loading */
        redisReply *info = tc_on(victim, "INFO persistence");
        loading = info->type == REDIS_REPLY_STRING && strstr(info->str, "\nloading:1") != NULL;
        freeReplyObject(info);
        if (!loading && tally__mono_ms() > give_up) fail_msg("replica %d never reported loading", victim);
    }
    reset_stats();
    tc_check_totals(r, EVENTS, KEYS);
    th_assert_ge(errors_of(victim, "LOADING"), 1); /* it was asked, and refused */
    th_assert_ge(calls_of(its_primary, "evalsha_ro"), 1); /* the fallback */
    th_reap_at(__FILE__, __LINE__, pid);
    freeReplyObject(tc_on(victim, "CONFIG SET key-load-delay 0"));
    freeReplyObject(tc_on(victim, "CONFIG SET loading-process-events-interval-bytes 2097152"));
    tally_close(r);
}

/* 1 when every node's CLUSTER NODES lists `port` as a primary (master). */
static int all_see_primary(int port) {
    char at[32];
    snprintf(at, sizeof at, ":%d@", port);
    for (int i = 0; i < NODES; i++) {
        if (!tc_ports[i]) continue;
        redisReply *r = tc_on(tc_ports[i], "CLUSTER NODES");
        const char *line = r->type == REDIS_REPLY_STRING ? strstr(r->str, at) : NULL;
        const char *end = line ? strchr(line, '\n') : NULL;
        const char *flag = line ? strstr(line, "master") : NULL;
        int ok = flag && (!end || flag < end);
        freeReplyObject(r);
        if (!ok) return 0;
    }
    return 1;
}

/* 1 when replica `port` is linked to its primary and not loading (a replica
 * resyncing answers reads LOADING, and a reader leaves it alone for a while). */
static int in_sync(int port) {
    redisReply *r = tc_on(port, "INFO replication"), *p = tc_on(port, "INFO persistence");
    int ok = r->type == REDIS_REPLY_STRING && strstr(r->str, "master_link_status:up") &&
             p->type == REDIS_REPLY_STRING && strstr(p->str, "\nloading:0");
    freeReplyObject(r), freeReplyObject(p);
    return ok;
}

/* 1 when every node's CLUSTER SLOTS lists `port` as a replica (Redis lists a
 * replica there only once the others know it has data). */
static int all_list_replica(int port) {
    for (int i = 0; i < NODES; i++) {
        if (!tc_ports[i]) continue;
        redisReply *r = tc_on(tc_ports[i], "CLUSTER SLOTS");
        int found = 0;
        for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements && !found; k++)
            for (size_t j = 3; j < r->element[k]->elements && !found; j++)
                found = r->element[k]->element[j]->element[1]->integer == port;
        freeReplyObject(r);
        if (!found) return 0;
    }
    return 1;
}

/* After a failover, the demoted primary serves the reads of its old slots as
 * a replica to a reader connected before: its connection is reopened with
 * READONLY, not left to answer every read MOVED. */
static void demoted_primary_serves_reads(void **state) {
    (void)state;
    record_and_wait();
    tally *r = open_reader();
    tc_check_totals(r, EVENTS, KEYS);
    int promoted = -1;
    for (int i = 0; i < NODES && promoted < 0; i++)
        if (!tc_is_primary(tc_ports[i])) promoted = tc_ports[i];
    int demoted = primary_of(promoted);
    redisReply *f = tc_on(promoted, "CLUSTER FAILOVER");
    assert_int_equal(f->type, REDIS_REPLY_STATUS);
    freeReplyObject(f);
    int64_t give_up = tally__mono_ms() + 20000;
    while (!tc_is_primary(promoted) || tc_is_primary(demoted) || !all_see_primary(promoted) || !in_sync(demoted) ||
           !all_list_replica(demoted))
        if (tally__mono_ms() > give_up) fail_msg("no failover from %d to %d within 20 s", demoted, promoted);
    tally *w = tc_open(); /* the writer learns the new map from MOVED */
    assert_int_equal(tc_record_range(w, EVENTS, EVENTS + 30, KEYS, 100, NULL), 0);
    assert_int_equal(tally_wait_replicas(w, 1, 4000, NULL), TALLY_OK);
    tc_check_totals(w, EVENTS + 30, KEYS);
    tally_close(w);
    /* writes that change no statistics, on keys all over the slots: the ones
     * on the failed-over slots meet MOVED, and the reader reads the new map */
    tally_rule rule = { TALLY_COUNT_REQUESTS, TALLY_ALGO_SLIDING_WINDOW, 1000000, 60000, 0 };
    for (int i = 0; i < 30; i++) {
        char key[16];
        tally_decision d;
        snprintf(key, sizeof key, "refresh-%d", i);
        assert_int_equal(tally_allow(r, key, &rule, 1, NULL, &d), TALLY_OK);
    }
    w = tc_open();
    assert_int_equal(tally_wait_replicas(w, 1, 4000, NULL), TALLY_OK);
    tally_close(w);
    reset_stats();
    for (int k = 0; k < 5; k++) tc_check_totals(r, EVENTS + 30, KEYS);
    for (int i = 0; i < NODES; i++)
        print_message("node %d %s: evalsha_ro %lld, MOVED %lld, LOADING %lld\n", tc_ports[i],
                      tc_is_primary(tc_ports[i]) ? "primary" : "replica", calls_of(tc_ports[i], "evalsha_ro"),
                      errors_of(tc_ports[i], "MOVED"), errors_of(tc_ports[i], "LOADING"));
    assert_int_equal(errors_of(demoted, "MOVED"), 0);
    th_assert_ge(calls_of(demoted, "evalsha_ro"), 1); /* it serves as a replica */
    for (int i = 0; i < NODES; i++)
        if (tc_is_primary(tc_ports[i])) assert_int_equal(calls_of(tc_ports[i], "evalsha_ro"), 0);
    tally_close(r);
}

static void killed_replica_falls_back(void **state) {
    (void)state;
    record_and_wait();
    tally *r = open_reader();
    tc_check_totals(r, EVENTS, KEYS); /* connects to every replica */
    int victim = -1, slot = -1;
    for (int i = 0; i < NODES && victim < 0; i++)
        if (!tc_is_primary(tc_ports[i])) victim = tc_ports[i], slot = i;
    int its_primary = primary_of(victim);
    redisContext *c = tc_node(victim);
    freeReplyObject(redisCommand(c, "SHUTDOWN NOSAVE")); /* no reply: it is gone */
    redisFree(c);
    for (;;) { /* until its port refuses connections */
        redisContext *probe = redisConnect("127.0.0.1", victim);
        int gone = !probe || probe->err;
        redisFree(probe);
        if (gone) break;
    }
    tc_ports[slot] = 0; /* reset_stats skips it */
    reset_stats();
    tc_check_totals(r, EVENTS, KEYS);
    tally_close(r);
    r = open_reader();
    tc_check_totals(r, EVENTS, KEYS);
    tally_close(r);
    for (int i = 0; i < NODES; i++) {
        if (!tc_ports[i] || !tc_is_primary(tc_ports[i])) continue;
        long long ro = calls_of(tc_ports[i], "evalsha_ro");
        if (tc_ports[i] == its_primary) th_assert_ge(ro, 1); /* the fallback */
        else assert_int_equal(ro, 0);
    }
    /* a handle that wrote nothing has nothing to wait for, however many
     * replicas are down; one that recorded on every primary waits for the
     * victim's primary too, whose replica is gone */
    tally *w = tc_open();
    int acked = -1;
    assert_int_equal(tally_wait_replicas(w, 1, 200, &acked), TALLY_OK);
    assert_int_equal(acked, 1);
    assert_int_equal(tc_record_range(w, 0, 30, KEYS, 100, NULL), 0);
    assert_int_equal(tally_wait_replicas(w, 1, 200, &acked), TALLY_ETIMEOUT);
    assert_int_equal(acked, 0);
    tally_close(w);
    tc_ports[slot] = victim;
}

int main(void) {
    tc_read_ports();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(replica_reads_leave_primaries_alone, tc_clean),
        cmocka_unit_test_setup(writes_stay_on_primaries, tc_clean),
        cmocka_unit_test_setup(tool_reads_from_replicas, tc_clean),
        cmocka_unit_test_setup(price_table_is_read_on_its_primary, tc_clean),
        cmocka_unit_test_setup(loading_replica_leaves_reads_to_its_primary, tc_clean),
        cmocka_unit_test_setup(demoted_primary_serves_reads, tc_clean),
        cmocka_unit_test_setup(killed_replica_falls_back, tc_clean), /* last: one node fewer after it */
    };
    return cmocka_run_group_tests_name("cluster_replica", tests, NULL, NULL);
}
