/* fuzz_reply.c -- libFuzzer target: decoding Redis replies. The library talks to
 * a socketpair whose other end holds the fuzzed bytes (RESP, as a server would
 * send them) and then end-of-file; hiredis's reader parses them and every
 * reply-consuming function of the library gets the result: record (single and
 * batch), stats, trend, models, top, metrics, allow, limits, leases, reserve,
 * settle, SCRIPT EXISTS and SCRIPT LOAD (a NOSCRIPT answer makes the library load
 * and retry, so those replies come from the same bytes). The first byte picks the
 * call. Invariants: no crash, leak or undefined behaviour; a failure always has
 * a message; results the library allocates are well formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tally *handle(void) {
    static tally *t;
    if (t) return t;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = "unix:///nonexistent/tally-fuzz.sock"; /* reconnecting fails at once */
    cfg.test_clock = 1;
    cfg.command_timeout_ms = 1000;
    tally_open(&cfg, &t); /* ECONNECT: the handle stays usable */
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 65536) return 0;
    tally *t = handle(); /* replies of any declared size: reply.c bounds them */
    if (!t) return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return 0;
    int big = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    size_t off = 1;
    while (off < size) {
        ssize_t w = write(sv[1], data + off, size - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    shutdown(sv[1], SHUT_WR); /* then EOF: an incomplete reply ends in EIO, not a wait */
    if (tally__node_attach_fd(t, 0, sv[0]) != TALLY_OK) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }

    tally_event ev = { .key = "k", .model = "m", .account = "a", .input_tokens = 1, .cost_nanos = 2,
                       .at_ms = 1764151200000LL, .request_id = "r" };
    tally_period tot = { TALLY_TOTAL, 0, 0, 0, 0 }, day = { TALLY_DAY, 2026, 11, 26, 0 };
    tally_bucket b;
    tally_rule rules[2] = { { 0, TALLY_ALGO_SLIDING_LOG, 5, 60000, 0 }, { 1, TALLY_ALGO_GCRA, 100, 1000, 20 } };
    tally_request req = { 10, 0, TALLY_FAIL_OPEN };
    tally_decision d;
    tally_lease l;
    int dup, rc = TALLY_OK, loaded[16];
    switch (data[0] % 16) {
    case 0: rc = tally_record(t, &ev, &dup); break;
    case 1: {
        tally_event evs[3] = { ev, ev, ev };
        evs[1].request_id = NULL;
        evs[2].key = "";
        tally_result res[3];
        rc = tally_record_batch(t, evs, 3, res);
        for (int i = 0; i < 3; i++)
            if (res[i].code < 0 || res[i].code > TALLY_EEVICT) abort();
        break;
    }
    case 2: rc = tally_stats(t, TALLY_SCOPE_KEY, "k", &day, &b); break;
    case 3: rc = tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &tot, &b); break;
    case 4: {
        tally_point p[3];
        rc = tally_trend(t, TALLY_SCOPE_MODEL, "m", TALLY_DAY, 3, p);
        break;
    }
    case 5: {
        tally_model_stats *m;
        size_t n;
        rc = tally_models(t, data[0] & 16 ? "k" : NULL, &tot, &m, &n);
        for (size_t i = 0; rc == TALLY_OK && i < n; i++)
            if (!m[i].model) abort();
        if (rc == TALLY_OK) tally_models_free(m, n);
        break;
    }
    case 6: {
        tally_rank *r;
        size_t n;
        rc = tally_top(t, TALLY_RANK_COST, &day, 3, &r, &n);
        if (rc == TALLY_OK && n > 3) abort();
        for (size_t i = 0; rc == TALLY_OK && i < n; i++)
            if (!r[i].key) abort();
        if (rc == TALLY_OK) tally_top_free(r, n);
        break;
    }
    case 7: rc = tally_metrics(t, 2, &b); break;
    case 8:
        rc = tally_allow(t, "k", rules, 2, &req, &d);
        if (rc == TALLY_OK && (d.denied_by < -1 || d.denied_by >= 2)) abort();
        break;
    case 9: rc = tally_limits(t, "k", rules, 1, NULL, &d); break;
    case 10:
        rc = tally_lease_acquire(t, "k", 3, 1000, &l);
        if (rc == TALLY_OK && !memchr(l.id, 0, sizeof l.id)) abort();
        break;
    case 11: rc = tally_lease_renew(t, "k", "1-1", 1000, &l); break;
    case 12: rc = tally_lease_release(t, "k", "1-1", &l); break;
    case 13: {
        tally_reservation r = { "k", "a", "r", 10, 5, 1000 };
        tally_budget caps[2] = { { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 100 },
                                 { TALLY_SCOPE_ACCOUNT, TALLY_MONTH, TALLY_BUDGET_TOKENS, 100 } };
        tally_budget_decision bd;
        rc = tally_reserve(t, &r, caps, 2, &bd);
        break;
    }
    case 14: rc = tally_settle(t, &ev, &dup); break;
    default:
        rc = data[0] & 16 ? tally_scripts_load(t) : tally_scripts_exists(t, loaded);
        break;
    }
    if (rc != TALLY_OK && !tally_errmsg(t)[0]) abort();
    if (rc < TALLY_OK || rc > TALLY_EEVICT) abort(); /* the last code */
    tally__node_disconnect(t, 0);
    close(sv[1]);
    return 0;
}
