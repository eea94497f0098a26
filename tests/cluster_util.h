/* cluster_util.h -- helpers shared by the cluster suites (test_cluster.c,
 * test_cluster_failover.c), which run under tests/with-cluster: raw commands
 * on one node, a clean cluster, and the deterministic events the recording
 * tests send and check. Include after harness.h. */
#ifndef TALLY_CLUSTER_UTIL_H
#define TALLY_CLUSTER_UTIL_H

#define NODES 6
/* The nodes' ports, from $TALLY_TEST_CLUSTER_PORTS (tc_read_ports). */
extern int tc_ports[NODES];
void tc_read_ports(void);

/* A raw connection to one node; the caller frees it. */
redisContext *tc_node(int port);
/* Runs one command on a node over a new connection; the caller frees the reply. */
redisReply *tc_on(int port, const char *fmt, ...);
int tc_is_primary(int port);
/* cmocka setup: FLUSHALL on every primary, SCRIPT FLUSH on every node. */
int tc_clean(void **state);
/* A handle on the cluster ($TALLY_TEST_URL) with the default config. */
tally *tc_open(void);

/* Event i of n: key i % nkeys (key 0 is tc_key0, "key:0" unless a test chose a
 * key for its slot), account "acct{i % 4}", one of three models (i % 3),
 * request id "ev-i", and amounts that depend on i. The strings live in the
 * caller's tc_event_text. */
extern char tc_key0[32];
typedef struct {
    char key[32], acct[32], id[32];
} tc_event_text;
void tc_make_event(int i, int nkeys, tc_event_text *text, tally_event *e);

/* Records events [from, to) in batches of `per`, resending what a connection
 * failure left unanswered (safe: every event has a request id). Returns the
 * number of failed round trips it saw, or -1 (message on stderr) when an event
 * fails for good; *errors_ms (when not NULL) gets the longest time a batch
 * took to get through once it had failed. It asserts nothing: recorder
 * children use it too. The first failure's code and message are kept in
 * tc_first_error and tc_first_message for the report. */
int tc_record_range(tally *t, int from, int to, int nkeys, int per, int *errors_ms);
extern int tc_first_error;
extern char tc_first_message[200];

/* What events [0, n) add up to: those with i % mod == rem (all with rem < 0),
 * i.e. one of `mod` keys, accounts or models. */
tally_bucket tc_expected(int n, int mod, int rem);
void tc_assert_bucket(const tally_bucket *got, const tally_bucket *want);
/* Events [0, n) over nkeys keys read back through every query kind: global,
 * each key, account and model, and the keys ranked over every shard. */
void tc_check_totals(tally *t, int n, int nkeys);

#endif
