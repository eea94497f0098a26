/* cluster_util.c -- see cluster_util.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "cluster_util.h"

static const char *const model_names[] = { "claude-3-5-sonnet", "claude-3-opus", "gpt-4o" };

int tc_ports[NODES];

void tc_read_ports(void) {
    const char *env = getenv("TALLY_TEST_CLUSTER_PORTS");
    if (!env) fail_msg("TALLY_TEST_CLUSTER_PORTS is not set: run under tests/with-cluster");
    if (sscanf(env, "%d %d %d %d %d %d", &tc_ports[0], &tc_ports[1], &tc_ports[2], &tc_ports[3], &tc_ports[4],
               &tc_ports[5]) != 6)
        fail_msg("TALLY_TEST_CLUSTER_PORTS: '%s'", env);
}

redisContext *tc_node(int port) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) fail_msg("cannot connect to node %d", port);
    return c;
}

redisReply *tc_on(int port, const char *fmt, ...) {
    redisContext *c = tc_node(port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) fail_msg("command on %d failed: %s", port, c->errstr);
    redisFree(c);
    return r;
}

int tc_is_primary(int port) {
    redisReply *r = tc_on(port, "ROLE");
    int primary = r->type == REDIS_REPLY_ARRAY && strcmp(r->element[0]->str, "master") == 0;
    freeReplyObject(r);
    return primary;
}

int tc_clean(void **state) {
    (void)state;
    for (int i = 0; i < NODES; i++) {
        if (tc_is_primary(tc_ports[i])) freeReplyObject(tc_on(tc_ports[i], "FLUSHALL"));
        freeReplyObject(tc_on(tc_ports[i], "SCRIPT FLUSH"));
    }
    return 0;
}

tally *tc_open(void) {
    tally_config cfg;
    tally_config_init(&cfg);
    return th_open(&cfg);
}

char tc_key0[32] = "key:0";

static void key_name(int k, char *out) {
    if (k == 0) strcpy(out, tc_key0);
    else sprintf(out, "key:%d", k);
}

/* The k of key_name(k) == name among nkeys keys, or -1. */
static int key_index(const char *name, int nkeys) {
    char key[32];
    for (int k = 0; k < nkeys; k++) {
        key_name(k, key);
        if (strcmp(key, name) == 0) return k;
    }
    return -1;
}

void tc_make_event(int i, int nkeys, tc_event_text *text, tally_event *e) {
    key_name(i % nkeys, text->key);
    sprintf(text->acct, "acct{%d}", i % 4);
    sprintf(text->id, "ev-%d", i);
    *e = (tally_event){ .key = text->key, .model = model_names[i % 3], .account = text->acct,
                        .input_tokens = 100 + i % 7, .output_tokens = 10 + i % 5,
                        .cost_nanos = 1000000 + (i % 11) * 1000, .request_id = text->id };
}

int tc_first_error;
char tc_first_message[200];

int tc_record_range(tally *t, int from, int to, int nkeys, int per, int *errors_ms) {
    tally_event ev[100];
    tally_result res[100];
    tc_event_text txt[100];
    int failures = 0, span = 0;
    struct timespec first = { 0 }, now;
    for (int start = from; start < to; start += per) {
        int n = to - start < per ? to - start : per;
        for (int k = 0; k < n; k++) tc_make_event(start + k, nkeys, &txt[k], &ev[k]);
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
            if (!tc_first_error) {
                tc_first_error = rc;
                for (int k = 0; k < n && !tc_first_error; k++) tc_first_error = res[k].code;
                snprintf(tc_first_message, sizeof tc_first_message, "%s", tally_errmsg(t));
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

tally_bucket tc_expected(int n, int mod, int rem) {
    tally_bucket b = { 0 };
    for (int i = 0; i < n; i++) {
        if (rem >= 0 && i % mod != rem) continue;
        b.requests++;
        b.input_tokens += 100 + i % 7;
        b.output_tokens += 10 + i % 5;
        b.cost_nanos += 1000000 + (i % 11) * 1000;
    }
    b.total_tokens = b.input_tokens + b.output_tokens;
    return b;
}

void tc_assert_bucket(const tally_bucket *got, const tally_bucket *want) {
    assert_int_equal(got->requests, want->requests);
    assert_int_equal(got->input_tokens, want->input_tokens);
    assert_int_equal(got->output_tokens, want->output_tokens);
    assert_int_equal(got->total_tokens, want->total_tokens);
    assert_int_equal(got->cost_nanos, want->cost_nanos);
}

void tc_check_totals(tally *t, int n, int nkeys) {
    tally_period total, today;
    assert_int_equal(tally_period_parse(t, "total", &total), TALLY_OK);
    assert_int_equal(tally_period_parse(t, "today", &today), TALLY_OK);
    tally_bucket got, want = tc_expected(n, nkeys, -1);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &got), TALLY_OK);
    tc_assert_bucket(&got, &want);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &today, &got), TALLY_OK);
    tc_assert_bucket(&got, &want);
    for (int k = 0; k < nkeys; k++) {
        char key[32];
        key_name(k, key);
        tally_bucket one = tc_expected(n, nkeys, k);
        assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, key, &today, &got), TALLY_OK);
        tc_assert_bucket(&got, &one);
    }
    /* Event i is of account i % 4 and model i % 3. */
    for (int a = 0; a < 4; a++) {
        char acct[32];
        sprintf(acct, "acct{%d}", a);
        tally_bucket one = tc_expected(n, 4, a);
        assert_int_equal(tally_stats(t, TALLY_SCOPE_ACCOUNT, acct, &total, &got), TALLY_OK);
        tc_assert_bucket(&got, &one);
    }
    tally_model_stats *m;
    size_t nm;
    assert_int_equal(tally_models(t, NULL, &today, &m, &nm), TALLY_OK);
    assert_int_equal(nm, n < 3 ? n : 3);
    for (size_t i = 0; i < nm; i++) {
        int k = 0;
        while (k < 3 && strcmp(m[i].model, model_names[k]) != 0) k++;
        if (k == 3) fail_msg("unknown model '%s'", m[i].model);
        tally_bucket one = tc_expected(n, 3, k);
        tc_assert_bucket(&m[i].b, &one);
    }
    tally_models_free(m, nm);
    /* The keys ranked over every shard: each key's requests, most first. */
    tally_rank *r;
    size_t nr;
    assert_int_equal(tally_top(t, TALLY_RANK_REQUESTS, &total, 1000, &r, &nr), TALLY_OK);
    assert_int_equal(nr, nkeys < n ? nkeys : n);
    for (size_t i = 0; i < nr; i++) {
        int k = key_index(r[i].key, nkeys);
        if (k < 0) fail_msg("unknown key '%s' in the ranking", r[i].key);
        assert_int_equal(r[i].value, tc_expected(n, nkeys, k).requests);
        if (i) th_assert_ge(r[i - 1].value, r[i].value);
    }
    tally_top_free(r, nr);
}

