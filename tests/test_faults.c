/* test_faults.c -- faults: recording and admission control while the server
 * misbehaves (issue #7). Needs a server with the append-only file on
 * (TALLY_TEST_AOF=1, set in tests/meson.build).
 *
 * A run: TALLY_FAULT_EVENTS events (default 20,000), each with a request id, sent
 * by NPROC client processes (even ones with tally_record_batch, odd ones with
 * tally_record) that resend unanswered events after ECONNECT, EIO or ETIMEOUT:
 * safe because recording is idempotent. Between batches every client also asks
 * tally_allow() once per algorithm for one shared limited subject (even clients
 * fail closed, odd ones fail open). Each client reports progress through a pipe;
 * at half its events it stops at a gate. When every client stands at the gate,
 * the parent opens it, waits for FAULT_AFTER more events, and injects the
 * fault: SCRIPT FLUSH, CLIENT KILL of the clients, a SIGKILL and restart of the
 * server (AOF, appendfsync always), or DEBUG SLEEP past the clients' command
 * timeout. Afterwards the totals must equal the sum of the events (per key, per
 * account, global, the keys ranked), every event must have been recorded exactly
 * once, and no rate limit may have let in more than its limit.
 * All synchronisation goes through the pipes: no sleeps. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "rec_util.h"

#define NPROC 4
#define NKEYS 16
#define NACCOUNTS 5
#define CHUNK 50
#define FAULT_AFTER 200
#define T0 1700000000123456LL /* test clock for the rate limits */
#define NALGO 4

static int n_events;
static int64_t at0;     /* event time of every event (fixed: retries land in the same buckets) */
static int64_t limit_of; /* each rule's limit in a run */

enum { M_PROGRESS, M_ERROR, M_GATE, M_DONE };

typedef struct {
    long ok_allowed, ok_denied, open_allowed, closed_denied, unknown;
} allow_count;

typedef struct {
    int child, kind, code, n;
    long recorded, duplicates, errors[TALLY_ESYSTEM + 1];
    allow_count allow[NALGO];
} msg;

static const int algos[NALGO] = { TALLY_ALGO_SLIDING_LOG, TALLY_ALGO_SLIDING_WINDOW, TALLY_ALGO_GCRA,
                                  TALLY_ALGO_FIXED };

static int transient(int rc) { return rc == TALLY_ECONNECT || rc == TALLY_EIO || rc == TALLY_ETIMEOUT; }

static void event_of(int i, tally_event *e, char bufs[4][64]) {
    snprintf(bufs[0], 64, "fk-%02d", i % NKEYS);
    snprintf(bufs[1], 64, "model-%d", i % 3);
    snprintf(bufs[2], 64, "acct-%d", i % NACCOUNTS);
    snprintf(bufs[3], 64, "ev-%d", i);
    memset(e, 0, sizeof *e);
    e->key = bufs[0];
    e->model = bufs[1];
    e->account = bufs[2];
    e->request_id = bufs[3];
    e->input_tokens = 1 + i % 1000;
    e->output_tokens = 2 * (i % 777);
    e->cache_read_tokens = i % 13;
    e->cost_nanos = 1000 + (int64_t)i * 7;
    e->at_ms = at0;
}

static void send_msg(int fd, const msg *m) {
    if (write(fd, m, sizeof *m) != (ssize_t)sizeof *m) _exit(3); /* < PIPE_BUF: atomic */
}

static void backoff(void) { /* retry pacing while the server is away, not synchronisation */
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    nanosleep(&ts, NULL);
}

static void child_fail(const char *what, tally *t) {
    fprintf(stderr, "client %d: %s: %s\n", (int)getpid(), what, t ? tally_errmsg(t) : "");
    _exit(1);
}

static void ask(tally *t, int c, msg *st);

/* Sends events idx[0..m), resending unanswered ones until each has an answer. */
static void send_chunk(tally *t, int c, int fd, const int *idx, int m, msg *st) {
    tally_event ev[CHUNK];
    tally_result res[CHUNK];
    static char bufs[CHUNK][4][64];
    int todo[CHUNK], n = m;
    memcpy(todo, idx, (size_t)m * sizeof *idx);
    for (int attempt = 0; n > 0; attempt++) {
        if (attempt > 20000) child_fail("gave up resending", t);
        for (int k = 0; k < n; k++) event_of(todo[k], &ev[k], bufs[k]);
        if (c % 2 == 0) {
            tally_record_batch(t, ev, (size_t)n, res);
        } else {
            for (int k = 0; k < n; k++) {
                res[k].code = tally_record(t, &ev[k], &res[k].duplicate);
                if (transient(res[k].code))
                    for (int j = k + 1; j < n; j++) res[j].code = res[k].code; /* retry the rest later */
                if (transient(res[k].code)) break;
            }
        }
        int keep = 0, failed = 0;
        for (int k = 0; k < n; k++) {
            if (res[k].code == TALLY_OK) {
                if (res[k].duplicate) st->duplicates++;
                else st->recorded++;
            } else if (transient(res[k].code)) {
                if (!failed) {
                    failed = 1;
                    st->errors[res[k].code]++;
                    msg e = { .child = c, .kind = M_ERROR, .code = res[k].code };
                    send_msg(fd, &e);
                    ask(t, c, st); /* admission while the fault may still last */
                }
                todo[keep++] = todo[k];
            } else {
                child_fail("event refused", t);
            }
        }
        n = keep;
        if (n) backoff();
    }
}

static void ask(tally *t, int c, msg *st) {
    for (int a = 0; a < NALGO; a++) {
        char key[32];
        snprintf(key, sizeof key, "lim-%d", a);
        tally_rule r = { TALLY_COUNT_REQUESTS, algos[a], limit_of, 3600000, 0 };
        tally_request req = { 0, 0, c % 2 ? TALLY_FAIL_OPEN : TALLY_FAIL_CLOSED };
        tally_decision d;
        int rc = tally_allow(t, key, &r, 1, &req, &d);
        allow_count *n = &st->allow[a];
        if (rc == TALLY_OK) {
            if (d.decided != TALLY_DECIDED_BY_REDIS) child_fail("decision not by redis", t);
            if (d.allowed) n->ok_allowed++;
            else n->ok_denied++;
        } else if (transient(rc)) {
            if (rc != TALLY_ECONNECT) n->unknown++; /* the script may have run and consumed */
            if (d.allowed != (c % 2) || d.decided != (c % 2 ? TALLY_DECIDED_FAIL_OPEN : TALLY_DECIDED_FAIL_CLOSED))
                child_fail("failure policy not honoured", t);
            if (d.allowed) n->open_allowed++;
            else n->closed_denied++;
        } else {
            child_fail("allow failed", t);
        }
    }
}

static void client(int c, int fd, int gate, int timeout_ms) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    cfg.command_timeout_ms = timeout_ms;
    cfg.test_clock = 1;
    tally *t = NULL;
    if (tally_open(&cfg, &t) != TALLY_OK) child_fail("open", t);
    if (tally_test_clock(t, T0) != TALLY_OK) child_fail("clock", t);
    int total = 0, *mine = malloc(sizeof(int) * (size_t)(n_events / NPROC + 1));
    for (int i = c; i < n_events; i += NPROC) mine[total++] = i;
    msg st = { .child = c, .kind = M_DONE };
    int half = total / 2;
    for (int done = 0; done < total;) {
        if (done == half) {
            msg g = { .child = c, .kind = M_GATE };
            send_msg(fd, &g);
            char b;
            while (read(gate, &b, 1) < 0 && errno == EINTR) {
            }
        }
        int m = total - done < CHUNK ? total - done : CHUNK;
        if (done < half && done + m > half) m = half - done;
        if (c % 2) ask(t, c, &st); /* fail-open clients meet a fault first in tally_allow */
        send_chunk(t, c, fd, mine + done, m, &st);
        done += m;
        msg p = { .child = c, .kind = M_PROGRESS, .n = m };
        send_msg(fd, &p);
        if (c % 2 == 0) ask(t, c, &st);
    }
    send_msg(fd, &st);
    free(mine);
    tally_close(t);
    _exit(0);
}

/* What is left of a rule for `key` at the run's instant T0 (peek: consumes nothing). */
static int remaining_at_t0(const char *key, int algo, int64_t limit, int64_t *left) {
    tally *t = th_open_clock(T0);
    tally_rule r = { TALLY_COUNT_REQUESTS, algo, limit, 3600000, 0 };
    tally_decision d;
    int rc = tally_limits(t, key, &r, 1, NULL, &d);
    *left = d.rules[0].remaining;
    tally_close(t);
    return rc;
}

enum { F_FLUSH, F_KILL, F_RESTART, F_STALL };
static const char *const fault_names[] = { "script-flush", "client-kill", "restart", "stall" };

static long errorstat(const char *name) {
    redisReply *r = th_cmd("INFO errorstats");
    char pat[64];
    snprintf(pat, sizeof pat, "errorstat_%s:count=", name);
    const char *p = strstr(r->str, pat);
    long v = p ? atol(p + strlen(pat)) : 0;
    freeReplyObject(r);
    return v;
}

static void read_msg(int fd, msg *m) {
    size_t got = 0;
    while (got < sizeof *m) {
        ssize_t n = read(fd, (char *)m + got, sizeof *m - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail_msg("a client went away without reporting");
        got += (size_t)n;
    }
}

/* Failure policy while the server is down: decided by the caller's choice. */
static void policy_while_down(tally *t) {
    tally_rule r = { TALLY_COUNT_REQUESTS, TALLY_ALGO_FIXED, 5, 60000, 0 };
    for (int k = 0; k < 4; k++) {
        int open = k % 2;
        tally_request req = { 0, 0, open ? TALLY_FAIL_OPEN : TALLY_FAIL_CLOSED };
        tally_decision d;
        int rc = tally_allow(t, "down", &r, 1, &req, &d);
        if (!transient(rc))
            fail_msg("allow while down: %s (%s), expected a connection error", tally_strerror(rc), tally_errmsg(t));
        assert_int_equal(d.allowed, open);
        assert_int_equal(d.decided, open ? TALLY_DECIDED_FAIL_OPEN : TALLY_DECIDED_FAIL_CLOSED);
        assert_string_not_equal(tally_errmsg(t), "");
    }
}

static void run_fault(int fault) {
    th_clean(NULL);
    at0 = (int64_t)time(NULL) * 1000 - 1000;
    int chunks = 0;
    for (int c = 0; c < NPROC; c++) {
        int mine = n_events / NPROC + (c < n_events % NPROC), half = mine / 2;
        chunks += (half + CHUNK - 1) / CHUNK + (mine - half + CHUNK - 1) / CHUNK;
    }
    limit_of = chunks / 3 > 0 ? chunks / 3 : 1; /* about 3 attempts per unit of limit */
    int timeout_ms = fault == F_STALL ? 250 : 5000;
    long noscript_before = errorstat("NOSCRIPT");
    int pipefd[2], gatefd[2];
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(pipe(gatefd), 0);
    fflush(NULL);
    pid_t pids[NPROC];
    for (int c = 0; c < NPROC; c++) {
        pids[c] = fork();
        th_assert_ge(pids[c], 0);
        if (pids[c] == 0) {
            close(pipefd[0]);
            close(gatefd[1]);
            client(c, pipefd[1], gatefd[0], timeout_ms);
        }
    }
    close(pipefd[1]);
    close(gatefd[0]);
    tally *probe = fault == F_RESTART ? th_open(NULL) : NULL;
    int at_gate = 0, done = 0, gate_open = 0, injected = 0;
    long progress = 0, after_gate = 0, errors_seen = 0, killed = -1;
    msg total = { 0 };
    while (done < NPROC) {
        msg m;
        read_msg(pipefd[0], &m);
        switch (m.kind) {
        case M_GATE: at_gate++; break;
        case M_PROGRESS:
            progress += m.n;
            if (gate_open) after_gate += m.n;
            break;
        case M_ERROR: errors_seen++; break;
        case M_DONE:
            done++;
            total.recorded += m.recorded;
            total.duplicates += m.duplicates;
            for (int k = 0; k <= TALLY_ESYSTEM; k++) total.errors[k] += m.errors[k];
            for (int a = 0; a < NALGO; a++) {
                total.allow[a].ok_allowed += m.allow[a].ok_allowed;
                total.allow[a].ok_denied += m.allow[a].ok_denied;
                total.allow[a].open_allowed += m.allow[a].open_allowed;
                total.allow[a].closed_denied += m.allow[a].closed_denied;
                total.allow[a].unknown += m.allow[a].unknown;
            }
            break;
        }
        if (!gate_open && at_gate == NPROC) {
            close(gatefd[1]); /* every client stands at its gate with half its events left */
            gate_open = 1;
        }
        if (gate_open && !injected && after_gate >= FAULT_AFTER) {
            injected = 1;
            if (fault == F_FLUSH) {
                freeReplyObject(th_cmd("SCRIPT FLUSH"));
            } else if (fault == F_KILL) {
                killed = th_int("CLIENT KILL TYPE normal SKIPME yes");
            } else if (fault == F_STALL) {
                freeReplyObject(th_cmd("DEBUG SLEEP 1.5"));
            } else {
                th_server_kill();
                policy_while_down(probe);
                injected = 2; /* restart once a client has seen the server gone */
            }
        }
        if (injected == 2 && errors_seen > 0) {
            th_server_start();
            injected = 3;
        }
    }
    close(pipefd[0]);
    for (int c = 0; c < NPROC; c++) th_reap(pids[c]);
    assert_int_equal(injected, fault == F_RESTART ? 3 : 1);

    /* Recording: every event exactly once. */
    print_message("fault %-12s events sent %d, recorded %ld, duplicate answers %ld, client errors: "
                  "econnect %ld, eio %ld, etimeout %ld\n",
                  fault_names[fault], n_events, total.recorded, total.duplicates,
                  total.errors[TALLY_ECONNECT], total.errors[TALLY_EIO], total.errors[TALLY_ETIMEOUT]);
    /* Each event got exactly one answer: "recorded", or "duplicate" when an
     * earlier send whose answer was lost (timeout, I/O error) had run. */
    assert_int_equal(total.recorded + total.duplicates, n_events);
    if (fault == F_FLUSH) th_assert_gt(errorstat("NOSCRIPT"), noscript_before);
    if (fault == F_KILL) th_assert_ge(killed, 1);
    if (fault == F_KILL || fault == F_RESTART) th_assert_ge(errors_seen, 1);
    if (fault == F_STALL) th_assert_ge(total.errors[TALLY_ETIMEOUT], 1);

    tally_bucket want_key[NKEYS] = { { 0 } }, want_acct[NACCOUNTS] = { { 0 } }, want = { 0 };
    for (int i = 0; i < n_events; i++) {
        tally_event e;
        char bufs[4][64];
        event_of(i, &e, bufs);
        ru_add(&want_key[i % NKEYS], &e);
        ru_add(&want_acct[i % NACCOUNTS], &e);
        ru_add(&want, &e);
    }
    tally *t = probe ? probe : th_open(NULL);
    tally_period tot = ru_total(), day = ru_period_of(TALLY_DAY, at0, 0);
    tally_bucket b;
    for (int k = 0; k < NKEYS; k++) {
        char key[16];
        snprintf(key, sizeof key, "fk-%02d", k);
        assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, key, &tot, &b), TALLY_OK);
        assert_memory_equal(&b, &want_key[k], sizeof b);
        assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, key, &day, &b), TALLY_OK);
        assert_memory_equal(&b, &want_key[k], sizeof b);
    }
    for (int k = 0; k < NACCOUNTS; k++) {
        char acct[16];
        snprintf(acct, sizeof acct, "acct-%d", k);
        assert_int_equal(tally_stats(t, TALLY_SCOPE_ACCOUNT, acct, &tot, &b), TALLY_OK);
        assert_memory_equal(&b, &want_acct[k], sizeof b);
    }
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &tot, &b), TALLY_OK);
    assert_memory_equal(&b, &want, sizeof b);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &day, &b), TALLY_OK);
    assert_memory_equal(&b, &want, sizeof b);
    int64_t sums[3] = { 0 }, wants[3] = { want.cost_nanos, want.total_tokens, want.requests };
    for (int by = TALLY_RANK_COST; by <= TALLY_RANK_REQUESTS; by++) {
        tally_rank *r;
        size_t n;
        assert_int_equal(tally_top(t, by, &tot, 1000, &r, &n), TALLY_OK);
        assert_int_equal(n, NKEYS);
        for (size_t i = 0; i < n; i++) { /* every key's own value, not only their sum */
            int key = atoi(r[i].key + strlen("fk-"));
            if (key < 0 || key >= NKEYS) fail_msg("unknown key '%s' in the ranking", r[i].key);
            const tally_bucket *k = &want_key[key];
            assert_int_equal(r[i].value, by == TALLY_RANK_COST ? k->cost_nanos
                                         : by == TALLY_RANK_TOKENS ? k->total_tokens : k->requests);
            sums[by] += r[i].value;
        }
        tally_top_free(r, n);
        assert_int_equal(sums[by], wants[by]);
    }

    /* Admission: never more than the limit let in by Redis. */
    for (int a = 0; a < NALGO; a++) {
        allow_count *n = &total.allow[a];
        char key[32];
        snprintf(key, sizeof key, "lim-%d", a);
        assert_int_equal(remaining_at_t0(key, algos[a], limit_of, &b.requests), TALLY_OK);
        print_message("fault %-12s %-14s limit %lld: allowed by redis %ld (over the limit: %lld), "
                      "denied %ld, allowed fail-open on error %ld, denied fail-closed on error %ld, "
                      "outcome unknown %ld, left %lld\n",
                      fault_names[fault], tally_algo_name(algos[a]), (long long)limit_of, n->ok_allowed,
                      n->ok_allowed > limit_of ? (long long)(n->ok_allowed - limit_of) : 0LL, n->ok_denied,
                      n->open_allowed, n->closed_denied, n->unknown, (long long)b.requests);
        th_assert_le(n->ok_allowed, limit_of);
        assert_int_equal(b.requests, 0);                      /* the limit was used up ... */
        th_assert_ge(n->ok_allowed + n->unknown, limit_of);   /* ... by answered or unknown calls */
    }
    tally_close(t);
}

static void script_flush_during_run(void **state) { (void)state; run_fault(F_FLUSH); }
static void client_kill_during_run(void **state) { (void)state; run_fault(F_KILL); }
static void restart_during_run(void **state) { (void)state; run_fault(F_RESTART); }
static void stall_during_run(void **state) { (void)state; run_fault(F_STALL); }

int main(void) {
    const char *e = getenv("TALLY_FAULT_EVENTS");
    n_events = e ? atoi(e) : 20000;
    if (n_events < 400) n_events = 400;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(script_flush_during_run),
        cmocka_unit_test(client_kill_during_run),
        cmocka_unit_test(restart_during_run),
        cmocka_unit_test(stall_during_run),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_done();
    return rc;
}
