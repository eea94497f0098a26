/* test_cluster.c -- cluster: the library on a real 3-primary, 3-replica Redis
 * Cluster started by tests/with-cluster: slot hashing, recording, queries and
 * admission across nodes, pricing (the price table in its own slot), scripts
 * on every node and the spread of the shared aggregates; one primary whose
 * maxmemory-policy evicts; a v2 dataset refused, then migrated. Failover and
 * resharding are in test_cluster_failover.c. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "cluster.h"
#include "cluster_util.h"
#include "rec_util.h"

static void slots_match_redis(void **state) {
    (void)state;
    static const char *const keys[] = { "foo", "{user1000}.following", "{}x", "a{b}c", "a{b}{c}", "{{a}}",
                                        "{", "}", "x{", "tally:v3:{k:key%3A1}:t", "tally:v3:{s:3}:D:20261126", "" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        redisReply *r = tc_on(tc_ports[0], "CLUSTER KEYSLOT %s", keys[i]);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        if ((long long)tally__key_slot(keys[i], strlen(keys[i])) != r->integer)
            fail_msg("slot of '%s': tally %u, redis %lld", keys[i], tally__key_slot(keys[i], strlen(keys[i])),
                     r->integer);
        freeReplyObject(r);
    }
}

static void records_and_reads_every_dimension(void **state) {
    (void)state;
    tally *t = tc_open();
    assert_int_equal(tally_node_count(t), NODES);
    assert_int_equal(tc_record_range(t, 0, 600, 20, 100, NULL), 0);
    /* single calls too */
    for (int i = 600; i < 650; i++) {
        tc_event_text x;
        tally_event e;
        tc_make_event(i, 20, &x, &e);
        int dup = -1;
        assert_int_equal(tally_record(t, &e, &dup), TALLY_OK);
        assert_int_equal(dup, 0);
    }
    tc_check_totals(t, 650, 20);
    /* Every event again: all duplicates, nothing moves. */
    assert_int_equal(tc_record_range(t, 0, 650, 20, 100, NULL), 0);
    tc_event_text x;
    tally_event e;
    tc_make_event(3, 20, &x, &e);
    int dup = 0;
    assert_int_equal(tally_record(t, &e, &dup), TALLY_OK);
    assert_int_equal(dup, 1);
    tc_check_totals(t, 650, 20);
    tally_bucket minutes;
    assert_int_equal(tally_metrics(t, 10, &minutes), TALLY_OK);
    assert_int_equal(minutes.requests, 650);
    tally_close(t);
}

static void admission_on_cluster(void **state) {
    (void)state;
    tally *t = tc_open();
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
    assert_true(l1.ok);
    assert_true(l2.ok);
    assert_false(l3.ok);
    tally_budget cap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1000000000 };
    tally_reservation r = { "budgeted", "acct{9}", "q1", 600000000, 0, 60000, NULL };
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
    /* an account's month is the sum of its day buckets of the month, in its
     * own slot: 0.1 settled today and 0.2 on the month's first day (another key) */
    time_t now = time(NULL);
    struct tm first;
    gmtime_r(&now, &first);
    first.tm_mday = 1, first.tm_hour = first.tm_min = first.tm_sec = 0;
    tally_event early = { .key = "other", .model = "m", .account = "acct{9}", .cost_nanos = 200000000,
                          .at_ms = (int64_t)timegm(&first) * 1000 + 1 };
    assert_int_equal(tally_record(t, &early, NULL), TALLY_OK);
    tally_budget month = { TALLY_SCOPE_ACCOUNT, TALLY_MONTH, TALLY_BUDGET_COST, 1000000000 };
    r.request_id = "q4";
    assert_int_equal(tally_reserve(t, &r, &month, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(d.remaining[0], 1000000000 - 300000000 - 600000000);
    r.request_id = "q5";
    assert_int_equal(tally_reserve(t, &r, &month, 1, &d), TALLY_OK);
    assert_false(d.allowed); /* 0.3 used + 0.6 held + 0.6 > 1 */
    /* its total is summed over the shards' slots: no atomic cap */
    tally_budget total = { TALLY_SCOPE_ACCOUNT, TALLY_TOTAL, TALLY_BUDGET_COST, 1000000000 };
    r.request_id = "q6";
    assert_int_equal(tally_reserve(t, &r, &total, 1, &d), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "an account's total is summed over the shards"));
    tally_close(t);
}

/* The cost an account holds in reservations, read from the primary that owns
 * its slot (the others answer MOVED); -1 when nothing is held. */
static int64_t account_held_cost(const char *account) {
    for (int i = 0; i < NODES; i++) {
        if (!tc_is_primary(tc_ports[i])) continue;
        redisReply *v = tc_on(tc_ports[i], "HGET tally:v3:{a:%s}:B =", account);
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
    tally *t = tc_open();
    tally_budget cap = { TALLY_SCOPE_ACCOUNT, TALLY_DAY, TALLY_BUDGET_COST, 10000000000 };
    tally_reservation a = { "kA", "acc", "req-1", 10000000, 0, 60000, NULL };
    tally_reservation b = { "kB", "acc", "req-1", 5000000000, 0, 60000, NULL };
    tally_budget_decision d;
    assert_int_equal(tally_reserve(t, &a, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(tally_reserve(t, &b, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_false(d.duplicate); /* kB's own reservation, not kA's */
    assert_int_equal(account_held_cost("acc"), 5010000000);
    tally_event e = { .key = "kA", .model = "m", .account = "acc", .cost_nanos = 10000000, .request_id = "req-1" };
    assert_int_equal(tally_settle(t, &e, NULL), TALLY_OK);
    assert_int_equal(account_held_cost("acc"), 5000000000);
    tally_reservation c = { "kC", "acc", "req-9", 9980000000, 0, 60000, NULL };
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

/* Issue 22, item 6: on a cluster a reservation's key part and account part
 * live in two slots (reserved in two calls); tally_cancel gives both back,
 * one call each, and a second cancel finds nothing. */
static void cancel_gives_back_both_slots(void **state) {
    (void)state;
    tally *t = tc_open();
    tally_budget kcap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1000000000 };
    tally_budget acap = { TALLY_SCOPE_ACCOUNT, TALLY_DAY, TALLY_BUDGET_COST, 1000000000 };
    tally_reservation r = { "kX", "accX", "req-1", 700000000, 0, 60000, NULL };
    tally_budget_decision d;
    assert_int_equal(tally_reserve(t, &r, &kcap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(tally_reserve(t, &r, &acap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(account_held_cost("accX"), 700000000);
    int released = -1;
    assert_int_equal(tally_cancel(t, "kX", "accX", "req-1", &released), TALLY_OK);
    assert_int_equal(released, 1);
    assert_int_equal(account_held_cost("accX"), 0);
    tally_reservation again = { "kX", "accX", "req-2", 900000000, 0, 60000, NULL };
    assert_int_equal(tally_reserve(t, &again, &kcap, 1, &d), TALLY_OK);
    assert_true(d.allowed); /* the key's headroom is back too */
    assert_int_equal(tally_cancel(t, "kX", "accX", "req-1", &released), TALLY_OK);
    assert_int_equal(released, 0);
    tally_close(t);
}

/* Issue 10, item 7: 40 keys tied at one request each, spread over the shards
 * and nodes: the top n is k00, k01, ... for every n. */
static void top_breaks_ties_by_key_on_cluster(void **state) {
    (void)state;
    tally *t = tc_open();
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

/* A batch of keys interleaved over every node, with request ids repeated by
 * the same key and by others, against an oracle kept here: per key the first
 * event of an id counts; every key's total, the global total and the cost
 * ranking (the keys' fields in the shards' hashes, each equal to the key's own
 * bucket though the two are written by calls on different nodes), and the
 * account's ranking and report rows come out as the oracle says. */
static void interleaved_batch_matches_an_oracle_on_cluster(void **state) {
    (void)state;
    tally *t = tc_open();
    enum { N = 3000, KEYS = 40 };
    static char names[KEYS][8], ids[N][12];
    static tally_event ev[N];
    static tally_result res[N];
    int64_t want_cost[KEYS] = { 0 }, want_req[KEYS] = { 0 }, total = 0;
    uint64_t x = 88172645463325252ULL;
    for (int k = 0; k < KEYS; k++) snprintf(names[k], sizeof names[k], "k%02d", k);
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % KEYS), id = (int)(x >> 32) % 400; /* ids repeat, per key and across keys */
        snprintf(ids[i], sizeof ids[i], "r%d", id);
        /* a key's account is fixed: an id reused by one key with another
         * account is a known gap on a cluster (README, Redis Cluster) */
        ev[i] = (tally_event){ .key = names[k], .model = "m", .account = k % 3 ? "acct" : NULL,
                               .input_tokens = 1, .cost_nanos = 1 + i, .request_id = ids[i] };
    }
    assert_int_equal(tally_record_batch(t, ev, N, res), TALLY_OK);
    for (int i = 0; i < N; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++) first = !(ev[j].key == ev[i].key && strcmp(ids[j], ids[i]) == 0);
        assert_int_equal(res[i].code, TALLY_OK);
        if (res[i].duplicate != !first) fail_msg("event %d (%s %s): duplicate %d", i, ev[i].key, ids[i], res[i].duplicate);
        if (!first) continue;
        int k = (int)(ev[i].key - names[0]) / (int)sizeof names[0];
        want_cost[k] += ev[i].cost_nanos, want_req[k]++, total += ev[i].cost_nanos;
    }
    tally_period p = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    for (int k = 0; k < KEYS; k++) {
        assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, names[k], &p, &b), TALLY_OK);
        assert_int_equal(b.cost_nanos, want_cost[k]);
        assert_int_equal(b.requests, want_req[k]);
    }
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &p, &b), TALLY_OK);
    assert_int_equal(b.cost_nanos, total);
    tally_rank *r;
    size_t count;
    assert_int_equal(tally_top(t, TALLY_RANK_COST, &p, KEYS, &r, &count), TALLY_OK);
    assert_int_equal(count, KEYS);
    for (size_t i = 0; i < count; i++) {
        int k = atoi(r[i].key + 1);
        assert_int_equal(r[i].value, want_cost[k]);
        if (i > 0) th_assert_le(r[i].value, r[i - 1].value);
    }
    /* today's key fields read in pages (calls cut to 100 us), the same
     * ranking; the active keys page by page; the report's rows */
    tally_close(t);
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.max_script_us = 100;
    t = th_open(&cfg);
    tally_range today;
    assert_int_equal(tally_period_parse(t, "today", &today.from), TALLY_OK);
    today.to = today.from;
    tally_rank *rr;
    size_t rn;
    assert_int_equal(tally_top_range(t, TALLY_RANK_OF_KEY, TALLY_RANK_COST, &today, KEYS, &rr, &rn), TALLY_OK);
    assert_int_equal(rn, count);
    for (size_t i = 0; i < rn; i++) {
        assert_string_equal(rr[i].key, r[i].key);
        assert_int_equal(rr[i].value, r[i].value);
    }
    tally_top_free(rr, rn);
    tally_top_free(r, count);
    size_t seen = 0;
    char after[8] = "";
    for (int more = 1; more;) {
        assert_int_equal(tally_active_range(t, TALLY_RANK_OF_KEY, &today, seen ? after : NULL, 7, &rr, &rn, &more),
                         TALLY_OK);
        for (size_t i = 0; i < rn; i++) {
            assert_string_equal(rr[i].key, names[seen + i]);
            assert_int_equal(rr[i].value, want_req[seen + i]);
        }
        seen += rn;
        if (rn) snprintf(after, sizeof after, "%s", rr[rn - 1].key);
        tally_top_free(rr, rn);
    }
    assert_int_equal(seen, KEYS);
    tally_report_row *rows;
    size_t nrows;
    assert_int_equal(tally_report(t, TALLY_RANK_OF_KEY, TALLY_REPORT_WHOLE, &today, NULL, &rows, &nrows), TALLY_OK);
    assert_int_equal(nrows, KEYS + 1);
    for (int k = 0; k < KEYS; k++) {
        assert_string_equal(rows[k].group, names[k]);
        assert_int_equal(rows[k].b.cost_nanos, want_cost[k]);
    }
    assert_null(rows[KEYS].group);
    assert_int_equal(rows[KEYS].b.cost_nanos, total);
    tally_report_free(rows, nrows);
    /* the account's buckets, written by the shards' calls (its keys spread
     * over shards on several nodes), each event once */
    int64_t acct_cost = 0, acct_req = 0;
    for (int k = 0; k < KEYS; k++)
        if (k % 3) acct_cost += want_cost[k], acct_req += want_req[k];
    assert_int_equal(tally_top_range(t, TALLY_RANK_OF_ACCOUNT, TALLY_RANK_COST, &today, 10, &rr, &rn), TALLY_OK);
    assert_int_equal(rn, 1);
    assert_string_equal(rr[0].key, "acct");
    assert_int_equal(rr[0].value, acct_cost);
    tally_top_free(rr, rn);
    assert_int_equal(tally_report(t, TALLY_RANK_OF_ACCOUNT, TALLY_REPORT_PER_DAY, &today, NULL, &rows, &nrows), TALLY_OK);
    assert_int_equal(nrows, 2);
    assert_string_equal(rows[0].group, "acct");
    assert_int_equal(rows[0].b.requests, acct_req);
    assert_int_equal(rows[1].b.cost_nanos, acct_cost);
    tally_report_free(rows, nrows);
    /* its total and month are its fields summed over the shards' hashes (on
     * several nodes); it has no hash of its own for them */
    tally_period month = ru_period_of(TALLY_MONTH, ru_now_ms(), 0);
    for (int w = 0; w < 2; w++) {
        assert_int_equal(tally_stats(t, TALLY_SCOPE_ACCOUNT, "acct", w ? &month : &p, &b), TALLY_OK);
        assert_int_equal(b.requests, acct_req);
        assert_int_equal(b.cost_nanos, acct_cost);
    }
    tally_close(t);
    redisContext *primaries[NODES];
    int np = 0;
    for (int i = 0; i < NODES; i++)
        if (tc_is_primary(tc_ports[i])) primaries[np++] = tc_node(tc_ports[i]);
    assert_int_equal(ru_key_fields_match(primaries, np, "tally"), 3 * KEYS); /* total, month, day */
    for (int i = 0; i < np; i++) {
        redisReply *own = redisCommand(primaries[i], "KEYS tally:v3:{a:*}:[tM]*");
        assert_int_equal(own->elements, 0);
        freeReplyObject(own);
    }
    for (int i = 0; i < np; i++) redisFree(primaries[i]);
}

/* A read across nodes whose one shard key holds foreign data: the error comes
 * back (no answer is taken for a missing one). */
/* Runs a command on the primary serving its first key, following MOVED by
 * hand; the caller frees the reply. */
static redisReply *on_owner(const char *fmt, ...) {
    int port = tc_ports[0];
    for (int hops = 0; hops < 4; hops++) {
        redisContext *c = redisConnect("127.0.0.1", port);
        va_list ap;
        va_start(ap, fmt);
        redisReply *r = redisvCommand(c, fmt, ap);
        va_end(ap);
        redisFree(c);
        if (!r) fail_msg("no reply from port %d", port);
        if (r->type != REDIS_REPLY_ERROR || sscanf(r->str, "MOVED %*d %*[^:]:%d", &port) != 1) return r;
        freeReplyObject(r);
    }
    fail_msg("too many redirections");
    return NULL;
}

static void foreign_shard_key_fails_the_read(void **state) {
    (void)state;
    tally *t = tc_open();
    tally_event ev = { .key = "k1", .model = "m", .input_tokens = 1, .cost_nanos = 5 };
    assert_int_equal(tally_record(t, &ev, NULL), TALLY_OK);
    redisReply *r = on_owner("SET tally:v3:{s:0}:t x"); /* a shard's totals: not a hash any more */
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    tally_period p = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    int rc = tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &p, &b);
    assert_int_not_equal(rc, TALLY_OK);
    print_message("global stats with a foreign shard key: %d %s\n", rc, tally_errmsg(t));
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k1", &p, &b), TALLY_OK); /* other reads go on */
    assert_int_equal(b.cost_nanos, 5);
    tally_close(t);
}

/* The price table lives in its own slot; events of keys on every node are
 * priced on the host and counted per version, as on one server. */
static void prices_on_cluster(void **state) {
    (void)state;
    tally *t = tc_open();
    const char *json = "{\"models\": {\"m\": {\"input\": \"3\", \"output\": \"15\", \"cache_create\": \"3.75\","
                       " \"cache_read\": \"0.30\"}}}";
    tally_prices *p;
    int64_t version = 0;
    assert_int_equal(tally_prices_parse(json, strlen(json), &p, NULL, 0), TALLY_OK);
    assert_int_equal(tally_prices_load(t, p, &version), TALLY_OK);
    assert_int_equal(version, 1);
    enum { N = 60 };
    tally_event ev[N];
    tally_result res[N];
    char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "pk%d", i % 20);
        ev[i] = (tally_event){ keys[i], "m", i % 2 ? "pa" : NULL, 1000 + i, 500, 0, 7, TALLY_COST_FROM_PRICES, 0, NULL };
    }
    assert_int_equal(tally_record_batch(t, ev, N, res), TALLY_OK);
    int64_t want = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].code, TALLY_OK);
        assert_int_equal(res[i].price_version, 1);
        /* (1000 + i) x 3 + 500 x 15 + 7 x 0.30 USD per million tokens, in nano-USD */
        assert_int_equal(res[i].cost_nanos, (1000 + i) * 3000 + 7500000 + 2100);
        want += res[i].cost_nanos;
    }
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &b), TALLY_OK);
    assert_int_equal(b.cost_nanos, want);
    tally_model_stats *m;
    size_t n;
    assert_int_equal(tally_price_versions(t, "pk3", &total, &m, &n), TALLY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].model, "1");
    assert_int_equal(m[0].b.requests, 3);
    tally_models_free(m, n);
    assert_int_equal(tally_prices_load(t, p, &version), TALLY_OK); /* the same prices: version 1 kept */
    assert_int_equal(version, 1);
    tally_prices_free(p);
    json = "{\"models\": {\"m\": {\"input\": \"3\", \"output\": \"15\", \"cache_create\": \"3.75\","
           " \"cache_read\": \"0.25\"}}}";
    assert_int_equal(tally_prices_parse(json, strlen(json), &p, NULL, 0), TALLY_OK);
    assert_int_equal(tally_prices_load(t, p, &version), TALLY_OK); /* a price changed: version 2 */
    assert_int_equal(version, 2);
    tally_prices_free(p);
    assert_int_equal(tally_prices_refresh(t), TALLY_OK);
    assert_int_equal(tally_record_batch(t, ev, 1, res), TALLY_OK);
    assert_int_equal(res[0].price_version, 2);
    tally_close(t);
}

static void scripts_on_every_node(void **state) {
    (void)state;
    tally *t = tc_open();
    int loaded[16];
    for (int i = 0; i < tally_node_count(t); i++) {
        assert_int_equal(tally_scripts_exists_on(t, i, loaded), TALLY_OK);
        for (int k = 0; k < tally_script_count(); k++) assert_int_equal(loaded[k], 1);
    }
    for (int i = 0; i < NODES; i++) freeReplyObject(tc_on(tc_ports[i], "SCRIPT FLUSH"));
    /* NOSCRIPT everywhere: calls still go through, on single calls and batches. */
    assert_int_equal(tc_record_range(t, 0, 200, 10, 50, NULL), 0);
    tc_check_totals(t, 200, 10);
    assert_int_equal(tally_scripts_flush(t), TALLY_OK);
    assert_int_equal(tally_scripts_exists(t, loaded), TALLY_OK);
    for (int k = 0; k < tally_script_count(); k++) assert_int_equal(loaded[k], 1);
    tally_close(t);
}

static void shared_aggregates_spread(void **state) {
    (void)state;
    tally *t = tc_open();
    int shards = tally_config_of(t)->shards;
    assert_int_equal(tc_record_range(t, 0, 800, 200, 100, NULL), 0);
    /* Per shard: how many events it took, read from its own total bucket. */
    int64_t per_shard[256] = { 0 }, most = 0;
    int seen[NODES] = { 0 }, primaries_used = 0;
    for (int s = 0; s < shards; s++) {
        char key[64];
        int n = snprintf(key, sizeof key, "tally:v3:{s:%d}:t", s);
        unsigned slot = tally__key_slot(key, (size_t)n);
        redisReply *r = tc_on(tc_ports[0], "CLUSTER SLOTS");
        for (size_t k = 0; k < r->elements; k++)
            if (slot >= (unsigned)r->element[k]->element[0]->integer && slot <= (unsigned)r->element[k]->element[1]->integer) {
                int port = (int)r->element[k]->element[2]->element[1]->integer;
                int known = 0;
                for (int p = 0; p < primaries_used; p++) known |= seen[p] == port;
                if (!known) seen[primaries_used++] = port;
                redisReply *v = tc_on(port, "HGET %s _", key);
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
    th_assert_le(most, 2 * (800 / shards));
    assert_int_equal(primaries_used, 3);
    tally_close(t);
}

/* Keys on every primary in the cluster's keyspace. */
static long long cluster_keys(void) {
    long long n = 0;
    for (int i = 0; i < NODES; i++)
        if (tc_is_primary(tc_ports[i])) {
            redisReply *r = tc_on(tc_ports[i], "DBSIZE");
            n += r->integer;
            freeReplyObject(r);
        }
    return n;
}

/* One primary of three runs volatile-lru: every write is refused before its
 * first call, whichever primaries its keys live on (nothing written
 * anywhere); with allow_eviction events are recorded and admission is still
 * refused; the primary back on noeviction is noticed (prices_refresh_ms 0:
 * at the next write). */
static void one_evicting_primary_refuses_writes(void **state) {
    (void)state;
    int evicting = -1;
    for (int i = 0; i < NODES && evicting < 0; i++)
        if (tc_is_primary(tc_ports[i])) evicting = tc_ports[i];
    freeReplyObject(tc_on(evicting, "CONFIG SET maxmemory-policy volatile-lru"));
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.prices_refresh_ms = 0;
    cfg.url = th_url();
    tally *t = NULL;
    assert_int_equal(tally_open(&cfg, &t), TALLY_OK);
    tally_event ev[8];
    tc_event_text text[8];
    for (int i = 0; i < 8; i++) tc_make_event(i, 8, &text[i], &ev[i]);
    tally_result res[8];
    assert_int_equal(tally_record_batch(t, ev, 8, res), TALLY_EEVICT);
    for (int i = 0; i < 8; i++) assert_int_equal(res[i].code, TALLY_EEVICT);
    th_assert_mentions(tally_errmsg(t), "volatile-lru");
    char port[16];
    snprintf(port, sizeof port, ":%d", evicting);
    th_assert_mentions(tally_errmsg(t), port);
    assert_int_equal(tally_record(t, &ev[0], NULL), TALLY_EEVICT);
    assert_int_equal(cluster_keys(), 0);
    tally_close(t);
    cfg.allow_eviction = 1;
    assert_int_equal(tally_open(&cfg, &t), TALLY_OK);
    assert_int_equal(tally_record_batch(t, ev, 8, res), TALLY_OK);
    for (int i = 0; i < 8; i++) assert_int_equal(res[i].code, TALLY_OK);
    long long written = cluster_keys();
    th_assert_gt(written, 0);
    tally_rule rule = { TALLY_COUNT_REQUESTS, TALLY_ALGO_GCRA, 5, 60000, 0 };
    tally_decision d;
    assert_int_equal(tally_allow(t, "any-key", &rule, 1, NULL, &d), TALLY_EEVICT);
    th_assert_mentions(tally_errmsg(t), "even with allow_eviction");
    assert_int_equal(cluster_keys(), written);
    freeReplyObject(tc_on(evicting, "CONFIG SET maxmemory-policy noeviction"));
    assert_int_equal(tally_allow(t, "any-key", &rule, 1, NULL, &d), TALLY_OK);
    assert_true(d.allowed);
    tally_close(t);
}

/* A v2 dataset spread over the primaries (keys, shards, boards, TTLs) is
 * refused at open, then converted by tally_migrate: SCAN on every primary,
 * one entity a call; every k: field in its shard's slot, no v2 key left. */
static void migrates_a_v2_dataset_on_cluster(void **state) {
    (void)state;
    long long exp = (long long)time(NULL) + 30 * 86400;
    const char *keys[] = { "alpha", "beta", "gamma", "delta", "k:5", "k6" }; /* "k:5" encoded k%3A5 */
    const char *enc[] = { "alpha", "beta", "gamma", "delta", "k%3A5", "k6" };
    for (int i = 0; i < 6; i++) {
        int sh = i % 4;
        freeReplyObject(on_owner("HSET tally:v2:{k:%s}:t _ %d,1,0,0,0,%d", enc[i], i + 1, i + 1));
        freeReplyObject(on_owner("HSET tally:v2:{k:%s}:D:20261207 _ %d,0,0,0,0,%d", enc[i], i + 1, i + 1));
        freeReplyObject(on_owner("EXPIREAT tally:v2:{k:%s}:D:20261207 %lld", enc[i], exp));
        freeReplyObject(on_owner("HSET tally:v2:{s:%d}:t _ 1,1,1,1,1,1", sh));
        freeReplyObject(on_owner("HSET tally:v2:{s:%d}:D:20261207 _ 1,1,1,1,1,1", sh));
        freeReplyObject(on_owner("EXPIREAT tally:v2:{s:%d}:D:20261207 %lld", sh, exp));
        freeReplyObject(on_owner("ZADD tally:v2:{s:%d}:Lr:t 1 %s", sh, keys[i]));
        freeReplyObject(on_owner("ZADD tally:v2:{s:%d}:Lc:t 1 %s", sh, keys[i]));
        freeReplyObject(on_owner("ZADD tally:v2:{s:%d}:Lr:D:20261207 1 %s", sh, keys[i]));
        freeReplyObject(on_owner("EXPIREAT tally:v2:{s:%d}:Lr:D:20261207 %lld", sh, exp));
    }
    freeReplyObject(on_owner("SET tally:v2:{c:schema}:S %s", "tz=+00:00 shards=8 idempotency_s=86400"));
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    tally *t = NULL;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "key schema v2");
    tally_close(t);
    cfg.defer_script_load = 1;
    cfg.max_script_us = 100; /* 20 keys a call */
    t = th_open(&cfg);
    tally_migrate_stats s;
    if (tally_migrate(t, 0, &s) != TALLY_OK) fail_msg("migrate: %s", tally_errmsg(t));
    tally_close(t);
    assert_int_equal(s.renamed, 6 * 2 + 4 * 2 + 1);
    assert_int_equal(s.fields, 6 * 2);
    assert_int_equal(s.boards, 4 * 3);
    assert_int_equal(s.skipped, 0);
    /* one call per entity renamed (11 hash tags), per page and read, per fill */
    th_assert_ge((long long)s.calls, 11 + 3 * 8);
    for (int n = 0; n < NODES; n++)
        if (tc_is_primary(tc_ports[n])) {
            redisReply *left = tc_on(tc_ports[n], "KEYS tally:v2:*");
            assert_int_equal(left->elements, 0);
            freeReplyObject(left);
        }
    for (int i = 0; i < 6; i++) {
        char want[32];
        snprintf(want, sizeof want, "%d,0,0,0,0,%d", i + 1, i + 1);
        redisReply *f = on_owner("HGET tally:v3:{s:%d}:D:20261207 k:%s", i % 4, keys[i]);
        assert_string_equal(f->str, want);
        freeReplyObject(f);
        snprintf(want, sizeof want, "%d,1,0,0,0,%d", i + 1, i + 1);
        f = on_owner("HGET tally:v3:{s:%d}:t k:%s", i % 4, keys[i]);
        assert_string_equal(f->str, want);
        freeReplyObject(f);
        redisReply *e = on_owner("EXPIRETIME tally:v3:{k:%s}:D:20261207", enc[i]);
        assert_int_equal(e->integer, exp);
        freeReplyObject(e);
    }
    t = tc_open(); /* the prefix opens now */
    tally_close(t);
}

int main(void) {
    tc_read_ports();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slots_match_redis),
        cmocka_unit_test_setup(records_and_reads_every_dimension, tc_clean),
        cmocka_unit_test_setup(admission_on_cluster, tc_clean),
        cmocka_unit_test_setup(cancel_gives_back_both_slots, tc_clean),
        cmocka_unit_test_setup(reused_request_ids_stay_apart_on_cluster, tc_clean),
        cmocka_unit_test_setup(top_breaks_ties_by_key_on_cluster, tc_clean),
        cmocka_unit_test_setup(interleaved_batch_matches_an_oracle_on_cluster, tc_clean),
        cmocka_unit_test_setup(foreign_shard_key_fails_the_read, tc_clean),
        cmocka_unit_test_setup(prices_on_cluster, tc_clean),
        cmocka_unit_test_setup(scripts_on_every_node, tc_clean),
        cmocka_unit_test_setup(shared_aggregates_spread, tc_clean),
        cmocka_unit_test_setup(one_evicting_primary_refuses_writes, tc_clean),
        cmocka_unit_test_setup(migrates_a_v2_dataset_on_cluster, tc_clean),
    };
    return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
