/* test_eviction.c -- redis: a server whose maxmemory-policy may evict keys.
 * Under volatile-lru or allkeys-lru every write is refused before it is sent
 * (TALLY_EEVICT, exit 5, a message naming the policy and the way out) and
 * nothing is written; reads still work. allow_eviction (--allow-eviction,
 * $TALLY_ALLOW_EVICTION) lets recording through and keeps admission refused.
 * A policy changed at run time is noticed: within prices_refresh_ms (0: at
 * the next write), and after an OOM answer. What eviction does to a dataset
 * that records under the opt-in (a resent request id counts again: the
 * issue's data loss) is shown with the server evicting for real. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *const policies[] = { "volatile-lru", "allkeys-lru" };

static void set_policy(const char *policy) {
    redisReply *r = th_cmd("CONFIG SET maxmemory-policy %s", policy);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("CONFIG SET maxmemory-policy %s: %s", policy, r->str);
    freeReplyObject(r);
}

/* cmocka setup: a server that does not evict, seeded (th_seed). */
static int seed(void **state) {
    set_policy("noeviction");
    freeReplyObject(th_cmd("CONFIG SET maxmemory 0"));
    return th_seed(state);
}

static tally *open_with(int allow_eviction, int refresh_ms) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.allow_eviction = allow_eviction;
    cfg.prices_refresh_ms = refresh_ms;
    return th_open(&cfg);
}

static tally_prices *one_price(void) {
    static const char json[] = "{\"models\":{\"m\":{\"input\":\"1\",\"output\":\"1\",\"cache_create\":\"1\","
                               "\"cache_read\":\"1\"}}}";
    tally_prices *p = NULL;
    char err[256];
    if (tally_prices_parse(json, sizeof json - 1, &p, err, sizeof err) != TALLY_OK) fail_msg("price table: %s", err);
    return p;
}

static const tally_event ev = { .key = "ev", .model = "m", .account = "a", .input_tokens = 1, .cost_nanos = 5,
                                .request_id = "ev-1" };
static const tally_rule rule = { TALLY_COUNT_REQUESTS, TALLY_ALGO_SLIDING_LOG, 1, 86400000, 0 };
static const tally_budget cap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1500 };
static const tally_reservation rs = { "ev", NULL, "ev-1", 400, 0, 60000, NULL };

/* The admission calls, each TALLY_EEVICT with `word` in its message, writing
 * nothing. */
static void admission_refused(tally *t, const char *word) {
    tally_decision d;
    tally_lease l;
    tally_budget_decision bd;
    struct {
        const char *what;
        int rc;
    } calls[] = {
        { "allow", tally_allow(t, "ev", &rule, 1, NULL, &d) },
        { "lease acquire", tally_lease_acquire(t, "ev", 2, 1000, &l) },
        { "lease renew", tally_lease_renew(t, "ev", "0123456789abcdef0123456789abcdef", 1000, &l) },
        { "reserve", tally_reserve(t, &rs, &cap, 1, &bd) },
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        if (calls[i].rc != TALLY_EEVICT)
            fail_msg("%s under eviction: %s '%s'", calls[i].what, tally_strerror(calls[i].rc), tally_errmsg(t));
        th_unchanged(calls[i].what);
    }
    assert_int_equal(tally_allow(t, "ev", &rule, 1, NULL, &d), TALLY_EEVICT);
    assert_int_equal(d.allowed, 0);
    th_assert_mentions(tally_errmsg(t), word);
    th_assert_mentions(tally_errmsg(t), "noeviction");
}

static void evicting_policy_refuses_every_write(void **state) {
    (void)state;
    for (size_t p = 0; p < sizeof policies / sizeof policies[0]; p++) {
        set_policy(policies[p]); /* maxmemory 0: the policy alone counts */
        tally *t = open_with(0, 1000);
        tally_result res;
        int dup = -1;
        int64_t version = 0;
        tally_prices *prices = one_price();
        struct {
            const char *what;
            int rc;
        } calls[] = {
            { "record", tally_record(t, &ev, &dup) },
            { "record batch", (tally_record_batch(t, &ev, 1, &res), res.code) },
            { "settle", tally_settle(t, &ev, &dup) },
            { "prices load", tally_prices_load(t, prices, &version) },
        };
        tally_prices_free(prices);
        for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
            if (calls[i].rc != TALLY_EEVICT)
                fail_msg("%s under %s: %s '%s'", calls[i].what, policies[p], tally_strerror(calls[i].rc),
                         tally_errmsg(t));
            th_unchanged(calls[i].what);
        }
        th_assert_mentions(res.message, policies[p]);
        assert_int_equal(tally_record(t, &ev, &dup), TALLY_EEVICT);
        th_assert_mentions(tally_errmsg(t), policies[p]);
        th_assert_mentions(tally_errmsg(t), "noeviction");
        th_assert_mentions(tally_errmsg(t), "allow_eviction");
        assert_string_equal(tally_strerror(TALLY_EEVICT), "server may evict keys");
        admission_refused(t, policies[p]);
        /* reads still work */
        tally_bucket b;
        tally_period tot = { TALLY_TOTAL, 0, 0, 0, 0 };
        assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "seed", &tot, &b), TALLY_OK);
        assert_int_equal(b.requests, 1);
        tally_close(t);
        /* the tool: exit 5 and the message, for recording and admission */
        char *err;
        assert_int_equal(RUN(NULL, &err, "record", "--key", "ev", "--model", "m", "--cost", "0.1", "--url", th_url()),
                         5);
        th_assert_mentions(err, policies[p]);
        th_assert_mentions(err, "--allow-eviction");
        free(err);
        assert_int_equal(RUN(NULL, &err, "allow", "--key", "ev", "--limit", "1/1d", "--url", th_url()), 5);
        th_assert_mentions(err, policies[p]);
        free(err);
        th_unchanged("the tool under eviction");
    }
}

/* Under volatile-lru with allow_eviction: a handle that recorded `ev`. */
static tally *opt_in_recorded(void) {
    set_policy("volatile-lru");
    tally *t = open_with(1, 1000);
    int dup = -1;
    assert_int_equal(tally_record(t, &ev, &dup), TALLY_OK);
    assert_int_equal(dup, 0);
    return t;
}

static void opt_in_records_and_still_refuses_admission(void **state) {
    (void)state;
    tally *t = opt_in_recorded();
    int dup = -1;
    assert_int_equal(tally_record(t, &ev, &dup), TALLY_OK); /* ids still work while nothing is evicted */
    assert_int_equal(dup, 1);
    tally_event more[2] = { ev, ev };
    more[0].request_id = "ev-2", more[1].request_id = "ev-3";
    tally_result res[2];
    assert_int_equal(tally_record_batch(t, more, 2, res), TALLY_OK);
    assert_int_equal(res[0].code, TALLY_OK);
    assert_int_equal(res[1].code, TALLY_OK);
    tally_bucket b;
    tally_period tot = { TALLY_TOTAL, 0, 0, 0, 0 };
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "ev", &tot, &b), TALLY_OK);
    assert_int_equal(b.requests, 3);
    th_baseline();
    admission_refused(t, "even with allow_eviction");
    tally_close(t);
    /* the tool: --allow-eviction or $TALLY_ALLOW_EVICTION=1 records; admission exits 5 */
    char *out, *err;
    assert_int_equal(RUN(NULL, NULL, "record", "--key", "cli", "--model", "m", "--cost", "0.1", "--allow-eviction",
                         "--url", th_url()),
                     0);
    setenv("TALLY_ALLOW_EVICTION", "1", 1);
    assert_int_equal(RUN(&out, NULL, "record", "--key", "cli", "--model", "m", "--cost", "0.1", "--url", th_url()), 0);
    free(out);
    th_baseline();
    assert_int_equal(RUN(NULL, &err, "reserve", "--key", "cli", "--id", "r1", "--cost", "0.1", "--budget",
                         "cost:1/day", "--url", th_url()),
                     5);
    th_assert_mentions(err, "even with allow_eviction");
    free(err);
    th_unchanged("reserve with TALLY_ALLOW_EVICTION=1");
    setenv("TALLY_ALLOW_EVICTION", "yes", 1); /* 1 or 0, nothing else */
    assert_int_equal(RUN(NULL, &err, "record", "--key", "cli", "--model", "m", "--cost", "0.1", "--url", th_url()), 2);
    th_assert_mentions(err, "TALLY_ALLOW_EVICTION");
    free(err);
    setenv("TALLY_ALLOW_EVICTION", "0", 1);
    assert_int_equal(RUN(NULL, NULL, "record", "--key", "cli", "--model", "m", "--cost", "0.1", "--url", th_url()), 5);
    unsetenv("TALLY_ALLOW_EVICTION");
    th_unchanged("refused or bad TALLY_ALLOW_EVICTION");
    t = open_with(0, 1000);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "cli", &tot, &b), TALLY_OK);
    assert_int_equal(b.requests, 2);
    tally_close(t);
}

static void policy_changed_at_run_time(void **state) {
    (void)state;
    int dup;
    /* prices_refresh_ms 0: the policy is read before every write */
    tally *t = open_with(0, 0);
    assert_int_equal(tally_record(t, &ev, &dup), TALLY_OK);
    set_policy("allkeys-lru");
    th_baseline();
    assert_int_equal(tally_record(t, &ev, &dup), TALLY_EEVICT);
    th_assert_mentions(tally_errmsg(t), "allkeys-lru");
    th_unchanged("record after CONFIG SET allkeys-lru");
    set_policy("noeviction");
    assert_int_equal(tally_record(t, &ev, &dup), TALLY_OK);
    assert_int_equal(dup, 1);
    tally_close(t);
    /* read once an hour, but an OOM answer makes the next write read it */
    t = open_with(0, 3600000);
    tally_event e2 = ev;
    e2.request_id = "ev-oom";
    assert_int_equal(tally_record(t, &e2, &dup), TALLY_OK);
    set_policy("volatile-lru");
    freeReplyObject(th_cmd("CONFIG SET maxmemory 1"));
    e2.request_id = "ev-oom-2";
    assert_int_equal(tally_record(t, &e2, &dup), TALLY_EREDIS); /* sent: the handle's view is an hour old */
    th_assert_mentions(tally_errmsg(t), "OOM");
    freeReplyObject(th_cmd("CONFIG SET maxmemory 0"));
    th_baseline();
    assert_int_equal(tally_record(t, &e2, &dup), TALLY_EEVICT);
    th_assert_mentions(tally_errmsg(t), "volatile-lru");
    th_unchanged("record after the OOM");
    tally_close(t);
}

/* Under the opt-in the server evicts for real: with maxmemory 1 it evicts
 * every key with a TTL (all of tally's) and then answers OOM, which is the
 * state waited for, not a time. The evicted request id is then recorded
 * again, as the opt-in's documentation says; without it the first record
 * was refused (above). */
static void opt_in_evicted_request_id_counts_again(void **state) {
    (void)state;
    tally *t = opt_in_recorded();
    int dup = -1;
    freeReplyObject(th_cmd("CONFIG SET maxmemory 1"));
    int oom = 0;
    for (int i = 0; i < 10000 && !oom; i++) { /* each write evicts more, until nothing is left to evict */
        redisReply *r = th_cmd("SET evict-probe x");
        oom = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "OOM", 3) == 0;
        freeReplyObject(r);
    }
    if (!oom) fail_msg("the server never ran out of keys to evict");
    freeReplyObject(th_cmd("CONFIG SET maxmemory 0"));
    assert_int_equal(tally_record(t, &ev, &dup), TALLY_OK);
    assert_int_equal(dup, 0); /* counted again: the id was evicted */
    tally_close(t);
}

/* A batch of many small calls in flight while the policy goes stale every
 * millisecond: the policy is read again only with nothing in flight (an INFO
 * sent behind a call would take that call's answer, read as "no
 * maxmemory_policy": a batch under noeviction refused with TALLY_EEVICT). */
static void policy_read_again_mid_batch_never_takes_a_calls_answer(void **state) {
    (void)state;
    enum { N = 6000 };
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.prices_refresh_ms = 1;
    cfg.max_script_us = 100; /* many calls, several in flight */
    tally *t = th_open(&cfg);
    static tally_event evs[N];
    static tally_result res[N];
    static char keys[N][16];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(keys[i], sizeof keys[i], "k%d", i % 997);
            evs[i] = (tally_event){ .key = keys[i], .model = "m", .input_tokens = 1, .cost_nanos = 1 };
        }
        assert_int_equal(tally_record_batch(t, evs, N, res), TALLY_OK);
        for (int i = 0; i < N; i++)
            if (res[i].code != TALLY_OK) fail_msg("round %d, event %d: %s", round, i, res[i].message);
    }
    tally_bucket b;
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &b), TALLY_OK);
    assert_int_equal(b.requests, 5 * N + 1); /* and the seed's event */
    tally_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(policy_read_again_mid_batch_never_takes_a_calls_answer, seed),
        cmocka_unit_test_setup(evicting_policy_refuses_every_write, seed),
        cmocka_unit_test_setup(opt_in_records_and_still_refuses_admission, seed),
        cmocka_unit_test_setup(policy_changed_at_run_time, seed),
        cmocka_unit_test_setup(opt_in_evicted_request_id_counts_again, seed),
    };
    int rc = cmocka_run_group_tests_name("eviction", tests, NULL, NULL);
    th_done();
    return rc;
}
