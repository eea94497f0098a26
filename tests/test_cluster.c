/* test_cluster.c -- cluster: the library on a real 3-primary, 3-replica Redis
 * Cluster started by tests/with-cluster: slot hashing, recording, queries and
 * admission across nodes, scripts on every node, the spread of the shared
 * aggregates, and exact totals through a failover and a live reshard. */
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

#define NODES 6
static int ports[NODES];

static void read_ports(void) {
    const char *env = getenv("TALLY_TEST_CLUSTER_PORTS");
    if (!env) fail_msg("TALLY_TEST_CLUSTER_PORTS is not set: run under tests/with-cluster");
    if (sscanf(env, "%d %d %d %d %d %d", &ports[0], &ports[1], &ports[2], &ports[3], &ports[4], &ports[5]) != 6)
        fail_msg("TALLY_TEST_CLUSTER_PORTS: '%s'", env);
}

/* A raw connection to one node; the caller frees it. */
static redisContext *node(int port) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) fail_msg("cannot connect to node %d", port);
    return c;
}

static redisReply *on(int port, const char *fmt, ...) {
    redisContext *c = node(port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) fail_msg("command on %d failed: %s", port, c->errstr);
    redisFree(c);
    return r;
}

static int is_primary(int port) {
    redisReply *r = on(port, "ROLE");
    int primary = r->type == REDIS_REPLY_ARRAY && strcmp(r->element[0]->str, "master") == 0;
    freeReplyObject(r);
    return primary;
}

/* Waits until every node says the cluster is ok (after a failover): a readiness
 * poll on the cluster's own state, bounded. */
static int dead_port; /* a node the crash test shut down */

static void wait_cluster_ok(void) {
    for (int tries = 0; tries < 600; tries++) {
        int ok = dead_port ? 1 : 0;
        for (int i = 0; i < NODES; i++) {
            if (ports[i] == dead_port) continue;
            redisReply *r = on(ports[i], "CLUSTER INFO");
            ok += r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") != NULL;
            freeReplyObject(r);
        }
        if (ok == NODES) return;
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    fail_msg("the cluster did not come back to cluster_state:ok");
}

static int clean(void **state) {
    (void)state;
    for (int i = 0; i < NODES; i++) {
        if (is_primary(ports[i])) freeReplyObject(on(ports[i], "FLUSHALL"));
        freeReplyObject(on(ports[i], "SCRIPT FLUSH"));
    }
    return 0;
}

static tally *open_cluster(void) {
    tally_config cfg;
    tally_config_init(&cfg);
    return th_open(&cfg);
}

static void slots_match_redis(void **state) {
    (void)state;
    static const char *const keys[] = { "foo", "{user1000}.following", "{}x", "a{b}c", "a{b}{c}", "{{a}}",
                                        "{", "}", "x{", "tally:v1:{k:key%3A1}:t", "tally:v1:{s:3}:Lc:t", "" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        redisReply *r = on(ports[0], "CLUSTER KEYSLOT %s", keys[i]);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        if ((long long)tally__key_slot(keys[i], strlen(keys[i])) != r->integer)
            fail_msg("slot of '%s': tally %u, redis %lld", keys[i], tally__key_slot(keys[i], strlen(keys[i])),
                     r->integer);
        freeReplyObject(r);
    }
}

/* Key 0's name: "key:0", or a key chosen for its slot (the reshard test). */
static char key0[32] = "key:0";

static void key_name(int k, char *out) {
    if (k == 0) strcpy(out, key0);
    else sprintf(out, "key:%d", k);
}

/* The deterministic events of the recording tests: event i of key i % nkeys. */
static void make_event(int i, int nkeys, char *key, char *acct, char *id, tally_event *e) {
    static const char *const models[] = { "claude-3-5-sonnet", "claude-3-opus", "gpt-4o" };
    key_name(i % nkeys, key);
    sprintf(acct, "acct{%d}", i % 4);
    sprintf(id, "ev-%d", i);
    *e = (tally_event){ .key = key, .model = models[i % 3], .account = acct, .input_tokens = 100 + i % 7,
                        .output_tokens = 10 + i % 5, .cost_nanos = 1000000 + (i % 11) * 1000, .request_id = id };
}

typedef struct {
    char key[32], acct[32], id[32];
} event_text;

/* Records events [from, to) in batches of `per`, resending what a connection
 * failure left unanswered (safe: every event has a request id). Returns the
 * number of failed round trips it saw, or -1 (message on stderr) when an event
 * fails for good. It asserts nothing: recorder children use it too. */
static int first_error; /* the first failed round trip's code, for the report */
static char first_message[200];

static int record_range(tally *t, int from, int to, int nkeys, int per, int *errors_ms) {
    tally_event ev[100];
    tally_result res[100];
    event_text txt[100];
    int failures = 0, span = 0;
    struct timespec first = { 0 }, now;
    for (int start = from; start < to; start += per) {
        int n = to - start < per ? to - start : per;
        for (int k = 0; k < n; k++) make_event(start + k, nkeys, txt[k].key, txt[k].acct, txt[k].id, &ev[k]);
        for (int attempt = 0;; attempt++) {
            int rc = tally_record_batch(t, ev, (size_t)n, res), left = 0;
            for (int k = 0; k < n; k++) {
                if (res[k].code == TALLY_OK) continue;
                if (res[k].code != TALLY_EIO && res[k].code != TALLY_ECONNECT && res[k].code != TALLY_ETIMEOUT &&
                    res[k].code != TALLY_EREDIS) {
                    fprintf(stderr, "event %d: %s\n", start + k, tally_errmsg(t));
                    return -1;
                }
                ev[left] = ev[k];
                txt[left] = txt[k];
                ev[left].key = txt[left].key, ev[left].account = txt[left].acct, ev[left].request_id = txt[left].id;
                left++;
            }
            if (rc == TALLY_OK && left == 0) {
                if (attempt > 0) { /* how long this batch took to get through */
                    clock_gettime(CLOCK_MONOTONIC, &now);
                    int ms = (int)((now.tv_sec - first.tv_sec) * 1000 + (now.tv_nsec - first.tv_nsec) / 1000000);
                    if (ms > span) span = ms;
                }
                break;
            }
            failures++;
            if (!first_error) {
                first_error = rc ? rc : res[0].code;
                snprintf(first_message, sizeof first_message, "%s", tally_errmsg(t));
            }
            if (attempt == 0) clock_gettime(CLOCK_MONOTONIC, &first);
            if (attempt > 1000) { /* 20 s: a crash failover takes node-timeout (2 s) and an election */
                fprintf(stderr, "events still failing after 1000 attempts: %s\n", tally_errmsg(t));
                return -1;
            }
            n = left;
            struct timespec ts = { 0, 20000000 }; /* back off before resending */
            nanosleep(&ts, NULL);
        }
    }
    if (errors_ms) *errors_ms = span;
    return failures;
}

/* What events [0, n) add up to, for one key (or all keys with key < 0). */
static tally_bucket expected(int n, int nkeys, int key) {
    tally_bucket b = { 0 };
    for (int i = 0; i < n; i++) {
        if (key >= 0 && i % nkeys != key) continue;
        b.requests++;
        b.input_tokens += 100 + i % 7;
        b.output_tokens += 10 + i % 5;
        b.cost_nanos += 1000000 + (i % 11) * 1000;
    }
    b.total_tokens = b.input_tokens + b.output_tokens;
    return b;
}

static void assert_bucket(const tally_bucket *got, const tally_bucket *want) {
    assert_int_equal(got->requests, want->requests);
    assert_int_equal(got->input_tokens, want->input_tokens);
    assert_int_equal(got->output_tokens, want->output_tokens);
    assert_int_equal(got->total_tokens, want->total_tokens);
    assert_int_equal(got->cost_nanos, want->cost_nanos);
}

/* Totals of n events over nkeys keys, read back through every query kind. */
static void check_totals(tally *t, int n, int nkeys) {
    tally_period total, today;
    assert_int_equal(tally_period_parse(t, "total", &total), TALLY_OK);
    assert_int_equal(tally_period_parse(t, "today", &today), TALLY_OK);
    tally_bucket got, want = expected(n, nkeys, -1);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &got), TALLY_OK);
    assert_bucket(&got, &want);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &today, &got), TALLY_OK);
    assert_bucket(&got, &want);
    for (int k = 0; k < nkeys; k++) {
        char key[32];
        key_name(k, key);
        tally_bucket one = expected(n, nkeys, k);
        assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, key, &today, &got), TALLY_OK);
        assert_bucket(&got, &one);
    }
    int64_t accounts = 0, models = 0;
    for (int a = 0; a < 4; a++) {
        char acct[32];
        sprintf(acct, "acct{%d}", a);
        assert_int_equal(tally_stats(t, TALLY_SCOPE_ACCOUNT, acct, &total, &got), TALLY_OK);
        accounts += got.requests;
    }
    assert_int_equal(accounts, n);
    tally_model_stats *m;
    size_t nm;
    assert_int_equal(tally_models(t, NULL, &today, &m, &nm), TALLY_OK);
    for (size_t i = 0; i < nm; i++) models += m[i].b.requests;
    tally_models_free(m, nm);
    assert_int_equal(models, n);
    /* The leaderboard merges every shard: its requests add up to all events. */
    tally_rank *r;
    size_t nr;
    assert_int_equal(tally_top(t, TALLY_RANK_REQUESTS, &total, 1000, &r, &nr), TALLY_OK);
    int64_t ranked = 0;
    for (size_t i = 0; i < nr; i++) ranked += r[i].value;
    for (size_t i = 1; i < nr; i++) assert_true(r[i - 1].value >= r[i].value);
    tally_top_free(r, nr);
    assert_int_equal(nr, nkeys < n ? nkeys : n);
    assert_int_equal(ranked, n);
}

static void records_and_reads_every_dimension(void **state) {
    (void)state;
    tally *t = open_cluster();
    assert_true(tally_node_count(t) == NODES);
    assert_int_equal(record_range(t, 0, 600, 20, 100, NULL), 0);
    /* single calls too */
    for (int i = 600; i < 650; i++) {
        event_text x;
        tally_event e;
        make_event(i, 20, x.key, x.acct, x.id, &e);
        int dup = -1;
        assert_int_equal(tally_record(t, &e, &dup), TALLY_OK);
        assert_int_equal(dup, 0);
    }
    check_totals(t, 650, 20);
    /* Every event again: all duplicates, nothing moves. */
    assert_int_equal(record_range(t, 0, 650, 20, 100, NULL), 0);
    event_text x;
    tally_event e;
    make_event(3, 20, x.key, x.acct, x.id, &e);
    int dup = 0;
    assert_int_equal(tally_record(t, &e, &dup), TALLY_OK);
    assert_int_equal(dup, 1);
    check_totals(t, 650, 20);
    tally_bucket minutes;
    assert_int_equal(tally_metrics(t, 10, &minutes), TALLY_OK);
    assert_int_equal(minutes.requests, 650);
    tally_close(t);
}

static void admission_on_cluster(void **state) {
    (void)state;
    tally *t = open_cluster();
    static const int algos[] = { TALLY_ALGO_SLIDING_WINDOW, TALLY_ALGO_SLIDING_LOG, TALLY_ALGO_GCRA, TALLY_ALGO_FIXED };
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) {
        char key[32];
        sprintf(key, "limited:%zu", i);
        tally_rule rule = { TALLY_COUNT_REQUESTS, algos[i], 50, 3600000, 0 };
        tally_request req = { 0 };
        int allowed = 0;
        for (int k = 0; k < 60; k++) {
            tally_decision d;
            assert_int_equal(tally_allow(t, key, &rule, 1, &req, &d), TALLY_OK);
            allowed += d.allowed;
        }
        assert_int_equal(allowed, 50);
    }
    tally_lease l1, l2, l3;
    assert_int_equal(tally_lease_acquire(t, "leased", 2, 60000, &l1), TALLY_OK);
    assert_int_equal(tally_lease_acquire(t, "leased", 2, 60000, &l2), TALLY_OK);
    assert_int_equal(tally_lease_acquire(t, "leased", 2, 60000, &l3), TALLY_OK);
    assert_true(l1.ok && l2.ok && !l3.ok);
    tally_budget cap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1000000000 };
    tally_reservation r = { "budgeted", "acct{9}", "q1", 600000000, 0, 60000 };
    tally_budget_decision d;
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    r.request_id = "q2";
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_false(d.allowed);
    tally_event e = { .key = "budgeted", .model = "m", .account = "acct{9}", .cost_nanos = 100000000,
                      .request_id = "q1" };
    assert_int_equal(tally_settle(t, &e, NULL), TALLY_OK);
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed); /* 0.1 used + 0.6 held <= 1 */
    tally_budget mixed[2] = { cap, { TALLY_SCOPE_ACCOUNT, TALLY_DAY, TALLY_BUDGET_COST, 1000000000 } };
    r.request_id = "q3";
    assert_int_equal(tally_reserve(t, &r, mixed, 2, &d), TALLY_EINVAL);
    tally_close(t);
}

/* The cost an account holds in reservations, read from the primary that owns
 * its slot (the others answer MOVED); -1 when nothing is held. */
static int64_t account_held_cost(const char *account) {
    for (int i = 0; i < NODES; i++) {
        if (!is_primary(ports[i])) continue;
        redisReply *v = on(ports[i], "HGET tally:v1:{a:%s}:B =", account);
        int moved = v->type == REDIS_REPLY_ERROR;
        int64_t held = v->type == REDIS_REPLY_STRING ? strtoll(v->str, NULL, 10) : -1;
        freeReplyObject(v);
        if (!moved) return held;
    }
    fail_msg("no primary serves account %s", account);
    return -1;
}

/* Issue 10, item 1: two keys of one account reuse a request id. On a cluster an
 * account cap is reserved in the account's slot alone; each key's reservation
 * is still its own (held and settled apart), and the cap holds. */
static void reused_request_ids_stay_apart_on_cluster(void **state) {
    (void)state;
    tally *t = open_cluster();
    tally_budget cap = { TALLY_SCOPE_ACCOUNT, TALLY_DAY, TALLY_BUDGET_COST, 10000000000 };
    tally_reservation a = { "kA", "acc", "req-1", 10000000, 0, 60000 };
    tally_reservation b = { "kB", "acc", "req-1", 5000000000, 0, 60000 };
    tally_budget_decision d;
    assert_int_equal(tally_reserve(t, &a, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(tally_reserve(t, &b, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed && !d.duplicate); /* kB's own reservation, not kA's */
    assert_int_equal(account_held_cost("acc"), 5010000000);
    tally_event e = { .key = "kA", .model = "m", .account = "acc", .cost_nanos = 10000000, .request_id = "req-1" };
    assert_int_equal(tally_settle(t, &e, NULL), TALLY_OK);
    assert_int_equal(account_held_cost("acc"), 5000000000);
    tally_reservation c = { "kC", "acc", "req-9", 9980000000, 0, 60000 };
    assert_int_equal(tally_reserve(t, &c, &cap, 1, &d), TALLY_OK);
    assert_false(d.allowed);
    assert_int_equal(d.remaining[0], 4990000000);
    e.key = "kB", e.cost_nanos = 5000000000;
    assert_int_equal(tally_settle(t, &e, NULL), TALLY_OK);
    assert_int_equal(account_held_cost("acc"), 0);
    c.cost_nanos = 4990000000;
    assert_int_equal(tally_reserve(t, &c, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(d.remaining[0], 0);
    tally_close(t);
}

/* Issue 10, item 7: 40 keys tied at one request each, spread over the shards
 * and nodes: the top n is k00, k01, ... for every n. */
static void top_breaks_ties_by_key_on_cluster(void **state) {
    (void)state;
    tally *t = open_cluster();
    enum { KEYS = 40 };
    char names[KEYS][8];
    tally_event ev[KEYS];
    tally_result res[KEYS];
    for (int k = 0; k < KEYS; k++) {
        snprintf(names[k], sizeof names[k], "k%02d", k);
        ev[k] = (tally_event){ .key = names[k], .model = "m", .input_tokens = 1 };
    }
    assert_int_equal(tally_record_batch(t, ev, KEYS, res), TALLY_OK);
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    static const size_t ns[] = { 1, 2, 7, KEYS };
    for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
        tally_rank *r;
        size_t count;
        assert_int_equal(tally_top(t, TALLY_RANK_REQUESTS, &total, ns[j], &r, &count), TALLY_OK);
        assert_int_equal(count, ns[j]);
        for (size_t i = 0; i < count; i++) assert_string_equal(r[i].key, names[i]);
        tally_top_free(r, count);
    }
    tally_close(t);
}

static void scripts_on_every_node(void **state) {
    (void)state;
    tally *t = open_cluster();
    int loaded[16];
    for (int i = 0; i < tally_node_count(t); i++) {
        assert_int_equal(tally_scripts_exists_on(t, i, loaded), TALLY_OK);
        for (int k = 0; k < tally_script_count(); k++) assert_int_equal(loaded[k], 1);
    }
    for (int i = 0; i < NODES; i++) freeReplyObject(on(ports[i], "SCRIPT FLUSH"));
    /* NOSCRIPT everywhere: calls still go through, on single calls and batches. */
    assert_int_equal(record_range(t, 0, 200, 10, 50, NULL), 0);
    check_totals(t, 200, 10);
    assert_int_equal(tally_scripts_flush(t), TALLY_OK);
    assert_int_equal(tally_scripts_exists(t, loaded), TALLY_OK);
    for (int k = 0; k < tally_script_count(); k++) assert_int_equal(loaded[k], 1);
    tally_close(t);
}

static void shared_aggregates_spread(void **state) {
    (void)state;
    tally *t = open_cluster();
    int shards = tally_config_of(t)->shards;
    assert_int_equal(record_range(t, 0, 800, 200, 100, NULL), 0);
    /* Per shard: how many events it took, read from its own total bucket. */
    int64_t per_shard[256] = { 0 }, most = 0;
    int seen[NODES] = { 0 }, primaries_used = 0;
    for (int s = 0; s < shards; s++) {
        char key[64];
        int n = snprintf(key, sizeof key, "tally:v1:{s:%d}:t", s);
        unsigned slot = tally__key_slot(key, (size_t)n);
        redisReply *r = on(ports[0], "CLUSTER SLOTS");
        for (size_t k = 0; k < r->elements; k++)
            if (slot >= (unsigned)r->element[k]->element[0]->integer && slot <= (unsigned)r->element[k]->element[1]->integer) {
                int port = (int)r->element[k]->element[2]->element[1]->integer;
                int known = 0;
                for (int p = 0; p < primaries_used; p++) known |= seen[p] == port;
                if (!known) seen[primaries_used++] = port;
                redisReply *v = on(port, "HGET %s _", key);
                if (v->type == REDIS_REPLY_STRING) per_shard[s] = strtoll(v->str, NULL, 10);
                freeReplyObject(v);
            }
        freeReplyObject(r);
        if (per_shard[s] > most) most = per_shard[s];
    }
    int64_t sum = 0;
    for (int s = 0; s < shards; s++) sum += per_shard[s];
    assert_int_equal(sum, 800);
    printf("# events per shard:");
    for (int s = 0; s < shards; s++) printf(" %lld", (long long)per_shard[s]);
    printf("; shards on %d of 3 primaries\n", primaries_used);
    /* No shard takes more than twice its share, and every primary takes some. */
    assert_true(most <= 2 * (800 / shards));
    assert_int_equal(primaries_used, 3);
    tally_close(t);
}

/* A recorder child: records events [0, n) with ids until told to stop (a byte on
 * `stop`), then writes how many it recorded, its failed round trips and the span
 * of its errors in ms to `report`. Progress goes to `progress` every batch. */
static void recorder(int progress, int stop, int report, int nkeys) {
    tally *t = open_cluster();
    int n = 0, failures = 0, span = 0, stopped = 0;
    fcntl(stop, F_SETFL, O_NONBLOCK);
    while (!stopped || n < 400) {
        int ms = 0, failed = record_range(t, n, n + 40, nkeys, 40, &ms);
        if (failed < 0) _exit(2);
        failures += failed;
        if (ms > span) span = ms;
        n += 40;
        if (write(progress, &n, sizeof n) < 0) _exit(3);
        char c;
        if (read(stop, &c, 1) == 1) stopped = 1;
    }
    int out[4] = { n, failures, span, first_error };
    if (write(report, out, sizeof out) != sizeof out || write(report, first_message, sizeof first_message) < 0) _exit(3);
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
    if (read(c->report, first_message, sizeof first_message) < 0) first_message[0] = 0;
    int status;
    waitpid(c->pid, &status, 0);
    running_child = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(c->progress), close(c->stop), close(c->report);
}

/* The primary serving key:0's slot and one of its replicas (ports). */
static void owner_of_key0(int *primary, int *replica) {
    unsigned slot = tally__key_slot("{k:key:0}", 9);
    redisReply *r = on(ports[0], "CLUSTER SLOTS");
    *primary = *replica = 0;
    for (size_t k = 0; k < r->elements; k++)
        if (slot >= (unsigned)r->element[k]->element[0]->integer && slot <= (unsigned)r->element[k]->element[1]->integer)
            *primary = (int)r->element[k]->element[2]->element[1]->integer;
    freeReplyObject(r);
    /* Its replica, by ROLE (CLUSTER SLOTS hides replicas without data yet). */
    for (int i = 0; i < NODES; i++) {
        if (ports[i] == *primary || ports[i] == dead_port) continue;
        redisReply *role = on(ports[i], "ROLE");
        if (strcmp(role->element[0]->str, "slave") == 0 && role->element[2]->integer == *primary) *replica = ports[i];
        freeReplyObject(role);
    }
    assert_true(*primary > 0 && *replica > 0);
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
        redisContext *p = node(primary);
        redisReply *gone = redisCommand(p, "SHUTDOWN NOSAVE"); /* no reply: the server exits */
        if (gone) freeReplyObject(gone);
        redisFree(p);
        dead_port = primary;
    } else {
        redisReply *f = on(replica, "CLUSTER FAILOVER");
        assert_int_equal(f->type, REDIS_REPLY_STATUS);
        freeReplyObject(f);
    }
    for (int tries = 0; !is_primary(replica); tries++) {
        if (tries > 800) fail_msg("the replica was not promoted");
        struct timespec ts = { 0, 25000000 };
        nanosleep(&ts, NULL);
    }
    int out[4];
    stop_recorder(&c, 400, out);
    printf("# %s failover: %d events recorded; the caller saw %d failed round trips (first: %s), "
           "the longest a batch took to get through after failing: %d ms\n#   %s\n",
           crash ? "crash" : "graceful", out[0], out[1], out[3] ? tally_strerror(out[3]) : "none", out[2],
           first_message);
    wait_cluster_ok();
    tally *t = open_cluster();
    check_totals(t, out[0], 30);
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
    redisReply *r = on(ports[0], "CLUSTER SLOTS");
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
    redisReply *r = on(port, "CLUSTER MYID");
    snprintf(id, 41, "%s", r->str);
    freeReplyObject(r);
}

static void reshard_loses_and_doubles_nothing(void **state) {
    (void)state;
    int from = -1, to = -1;
    for (int i = 0; i < NODES; i++)
        if (is_primary(ports[i])) {
            if (from < 0) from = ports[i];
            else if (to < 0) to = ports[i];
        }
    char live[32];
    unsigned slot = 0;
    key_in_first_slot(from, live, &slot);
    strcpy(key0, live); /* the recorder's key 0 lives in the slot that moves */
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
    redisReply *r = on(to, "CLUSTER COUNTKEYSINSLOT %u", slot);
    printf("# reshard: slot %u of %s moved, %lld keys now on the new node\n", slot, live, r->integer);
    assert_true(r->integer > 0); /* live data did move */
    freeReplyObject(r);
    int out[4];
    stop_recorder(&c, 200, out);
    printf("# reshard: %d events recorded, %d failed round trips\n", out[0], out[1]);
    tally *t = open_cluster();
    tally_period total;
    tally_period_parse(t, "total", &total);
    tally_bucket got, want = expected(out[0], nkeys, -1);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &got), TALLY_OK);
    assert_bucket(&got, &want);
    tally_bucket one = expected(out[0], nkeys, 0);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, live, &total, &got), TALLY_OK);
    assert_bucket(&got, &one);
    tally_close(t);
    strcpy(key0, "key:0");
}

int main(void) {
    read_ports();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slots_match_redis),
        cmocka_unit_test_setup(records_and_reads_every_dimension, clean),
        cmocka_unit_test_setup(admission_on_cluster, clean),
        cmocka_unit_test_setup(reused_request_ids_stay_apart_on_cluster, clean),
        cmocka_unit_test_setup(top_breaks_ties_by_key_on_cluster, clean),
        cmocka_unit_test_setup(scripts_on_every_node, clean),
        cmocka_unit_test_setup(shared_aggregates_spread, clean),
        cmocka_unit_test_setup_teardown(failover_loses_and_doubles_nothing, clean, reap),
        cmocka_unit_test_setup_teardown(reshard_loses_and_doubles_nothing, clean, reap),
        cmocka_unit_test_setup_teardown(crash_failover_loses_and_doubles_nothing, clean, reap),
    };
    return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
