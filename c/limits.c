/* limits.c -- rate limits: parsing rule text ("100/1m", "tokens:100000/1m",
 * "cost:5/1d"), and tally_allow()/tally_limits(), which marshal the rules of one
 * subject into a single run of lua/allow.lua (lua/peek.lua, the same flagged
 * no-writes, to peek) and read its decision back, on the handle's limits
 * server when tally_config.limits_url names one (open.c opens it). Also the
 * opt-in test clock shared with the leases (and that server's handle).
 *
 * Keys (keys.c, docs/keys.md), all under the subject's hash tag: one per rule,
 * named by its unit, algorithm and window (a sliding log has a second); the
 * limit is not part of the key, so changing a rule's limit keeps its state. */
#include <stdio.h>
#include <string.h>

#include "bounds.h"
#include "exec.h"
#include "keys.h"
#include "money.h"
#include "open.h"

/* By TALLY_ALGO_*: the rule text's name and allow.lua's. */
#define ALGOS (TALLY_ALGO_FIXED + 1)
static const char *const algo_names[ALGOS] = { "sliding-window", "sliding-log", "gcra", "fixed" };
static const char *const algo_script[ALGOS] = { "window", "log", "gcra", "fixed" };
/* By TALLY_COUNT_*. */
#define COUNTS (TALLY_COUNT_COST + 1)
static const char *const counts_names[COUNTS] = { "requests", "tokens", "cost" };

/* What a call does: allow.lua decides and consumes; peek.lua only decides.
 * By mode, its name as allow.lua's ARGV[1] takes it. */
typedef enum { MODE_ALLOW, MODE_PEEK } mode;
static const char *const mode_names[] = { "allow", "peek" };

const char *tally_algo_name(int algo) {
    return algo >= 0 && algo < ALGOS ? algo_names[algo] : NULL;
}

const char *tally_counts_name(int counts) {
    return counts >= 0 && counts < COUNTS ? counts_names[counts] : NULL;
}

/* Parses 1..16 decimal digits exactly filling s[0..n) into *v. 0 or -1. */
static int parse_digits(const char *s, size_t n, int64_t *v) {
    if (n == 0 || n > 16) return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

int tally_window_parse(const char *text, size_t n, int64_t *ms) {
    if (!text) return TALLY_EINVAL;
    size_t d = 0;
    while (d < n && text[d] >= '0' && text[d] <= '9') d++;
    int64_t v, mult;
    if (parse_digits(text, d, &v) < 0) return TALLY_EINVAL;
    const char *u = text + d;
    size_t un = n - d;
    if (un == 2 && memcmp(u, "ms", 2) == 0) mult = 1;
    else if (un == 1 && *u == 's') mult = 1000;
    else if (un == 1 && *u == 'm') mult = 60000;
    else if (un == 1 && *u == 'h') mult = 3600000;
    else if (un == 1 && *u == 'd') mult = 86400000;
    else return TALLY_EINVAL;
    if (v <= 0 || v > TALLY_WINDOW_MAX_MS / mult) return TALLY_EINVAL;
    *ms = v * mult;
    return TALLY_OK;
}

/* An amount in the rule's unit: a positive integer, or decimal USD for cost.
 * 0 or -1. */
static int parse_amount(int counts, const char *s, size_t n, int64_t *v) {
    if (counts == TALLY_COUNT_COST) {
        if (tally__usd_parse(s, n, v) < 0) return -1;
    } else if (parse_digits(s, n, v) < 0) {
        return -1;
    }
    return *v >= 1 && *v <= TALLY_LIMIT_MAX ? 0 : -1;
}

#define PERR(...) (err ? (void)snprintf(err, cap, __VA_ARGS__) : (void)0, TALLY_EINVAL)

int tally_rule_parse(const char *text, size_t n, tally_rule *rule, char *err, size_t cap) {
    if (err && cap) err[0] = '\0';
    if (!text || !rule) return PERR("no rule given");
    int show = n > 60 ? 60 : (int)n; /* how much of the text a message quotes */
    tally_rule r = { TALLY_COUNT_REQUESTS, TALLY_ALGO_SLIDING_WINDOW, 0, 0, 0 };
    const char *p = text, *end = text + n;
    const char *slash = memchr(p, '/', n);
    if (!slash) return PERR("limit '%.*s' must look like N/WINDOW, e.g. 100/1m", show, text);
    const char *colon = memchr(p, ':', (size_t)(slash - p));
    if (colon) {
        size_t un = (size_t)(colon - p);
        int found = -1;
        for (int i = 0; i < COUNTS; i++)
            if (strlen(counts_names[i]) == un && memcmp(p, counts_names[i], un) == 0) found = i;
        if (found < 0)
            return PERR("limit '%.*s': unknown unit '%.*s' (use requests, tokens or cost)", show, text,
                        (int)(un > 20 ? 20 : un), p);
        r.counts = found;
        p = colon + 1;
    }
    if (parse_amount(r.counts, p, (size_t)(slash - p), &r.limit) < 0)
        return PERR(r.counts == TALLY_COUNT_COST
                        ? "limit '%.*s': cost must be positive decimal USD (at most 9 decimals, up to 1000000)"
                        : "limit '%.*s': the amount must be a positive integer up to 1e15",
                    show, text);
    p = slash + 1;
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *wend = comma ? comma : end;
    if (tally_window_parse(p, (size_t)(wend - p), &r.window_ms) != TALLY_OK)
        return PERR("limit '%.*s': window '%.*s' must be a positive number and ms, s, m, h or d "
                    "(e.g. 500ms, 60s, 1m, 1h, 1d), at most 365d",
                    show, text, (int)(wend - p > 20 ? 20 : wend - p), p);
    int have_burst = 0;
    while (comma) {
        p = comma + 1;
        comma = memchr(p, ',', (size_t)(end - p));
        const char *oend = comma ? comma : end;
        size_t on = (size_t)(oend - p);
        if (on > 5 && memcmp(p, "algo=", 5) == 0) {
            int found = -1;
            for (int i = 0; i < ALGOS; i++)
                if (strlen(algo_names[i]) == on - 5 && memcmp(p + 5, algo_names[i], on - 5) == 0) found = i;
            if (found < 0)
                return PERR("limit '%.*s': unknown algorithm '%.*s' (use sliding-window, "
                            "sliding-log, gcra or fixed)", show, text, (int)(on - 5 > 20 ? 20 : on - 5), p + 5);
            r.algo = found;
        } else if (on > 6 && memcmp(p, "burst=", 6) == 0) {
            if (parse_amount(r.counts, p + 6, on - 6, &r.burst) < 0)
                return PERR("limit '%.*s': burst must be positive, in the rule's unit", show, text);
            have_burst = 1;
        } else {
            return PERR("limit '%.*s': unknown option '%.*s' (use algo=NAME or burst=N)", show, text,
                        (int)(on > 20 ? 20 : on), p);
        }
    }
    if (have_burst && r.algo != TALLY_ALGO_GCRA)
        return PERR("limit '%.*s': burst applies to the gcra algorithm only", show, text);
    *rule = r;
    return TALLY_OK;
}

int tally_test_clock(tally *t, int64_t now_us) {
    if (!t->cfg.test_clock)
        return tally__fail(t, TALLY_EINVAL, "the test clock is off (open the handle with test_clock = 1)");
    if (now_us < 0 || now_us > TALLY_TEST_CLOCK_MAX_US)
        return tally__fail(t, TALLY_EINVAL, "test clock must be 0 or microseconds before year 2096");
    t->test_now_us = now_us;
    if (t->limits) t->limits->test_now_us = now_us;
    return tally__ok(t);
}

/* Checks the caller's rules and request; TALLY_OK or TALLY_EINVAL with the
 * handle's message naming the rule as the caller counts them: 1 for rules[0]
 * (as lua/allow.lua and the tool number them). */
static int check_rules(tally *t, const tally_rule *rules, int nrules, const tally_request *req) {
    if (!rules || nrules < 1 || nrules > TALLY_RULES_MAX)
        return tally__fail(t, TALLY_EINVAL, "give 1 to %d rules", TALLY_RULES_MAX);
    for (int i = 0; i < nrules; i++) {
        const tally_rule *r = &rules[i];
        if (r->counts < 0 || r->counts >= COUNTS) return tally__fail(t, TALLY_EINVAL, "rule %d: unknown unit", i + 1);
        if (r->algo < 0 || r->algo >= ALGOS) return tally__fail(t, TALLY_EINVAL, "rule %d: unknown algorithm", i + 1);
        if (r->limit < 1 || r->limit > TALLY_LIMIT_MAX)
            return tally__fail(t, TALLY_EINVAL, "rule %d: limit must be 1 to 1e15", i + 1);
        if (r->window_ms < 1 || r->window_ms > TALLY_WINDOW_MAX_MS)
            return tally__fail(t, TALLY_EINVAL, "rule %d: window must be 1 ms to 365 days", i + 1);
        if (r->burst < 0 || r->burst > TALLY_LIMIT_MAX || (r->burst && r->algo != TALLY_ALGO_GCRA))
            return tally__fail(t, TALLY_EINVAL, "rule %d: burst must be 0..1e15, and only for gcra", i + 1);
        for (int j = 0; j < i; j++)
            if (rules[j].counts == r->counts && rules[j].algo == r->algo && rules[j].window_ms == r->window_ms)
                return tally__fail(t, TALLY_EINVAL,
                                   "rules %d and %d count %s over the same window with the same algorithm",
                                   j + 1, i + 1, counts_names[r->counts]);
    }
    if (req && (req->tokens < 0 || req->tokens > TALLY_LIMIT_MAX || req->cost_nanos < 0 ||
                req->cost_nanos > TALLY_LIMIT_MAX))
        return tally__fail(t, TALLY_EINVAL, "tokens and cost must be 0 to 1e15");
    if (req && req->fail != TALLY_FAIL_CLOSED && req->fail != TALLY_FAIL_OPEN)
        return tally__fail(t, TALLY_EINVAL, "failure policy must be TALLY_FAIL_CLOSED or TALLY_FAIL_OPEN");
    return TALLY_OK;
}

/* Builds the call into t->args: allow.lua to decide and consume, peek.lua
 * (allow.lua flagged no-writes) to peek, with EVALSHA_RO under
 * TALLY_READ_REPLICA so a replica answers. 0, or -1 when memory ran out. */
static int build(tally *t, mode m, const char *key, const tally_rule *rules, int nrules,
                 const tally_request *req) {
    char base[TALLY_ENTITY_MAX], suffix[64];
    size_t bn = tally__entity(&t->schema, TALLY_ENTITY_KEY, key, strlen(key), base);
    tally_args *a = &t->args;
    int rc = m == MODE_ALLOW ? tally__args_script(a, TALLY_SCRIPT_ALLOW)
             : t->cfg.read_from == TALLY_READ_REPLICA ? tally__args_script_ro(a, TALLY_SCRIPT_PEEK)
                                                     : tally__args_script(a, TALLY_SCRIPT_PEEK);
    if (rc < 0) return -1;
    for (int i = 0; i < nrules; i++) {
        const tally_rule *r = &rules[i];
        /* a sliding log has a second key: its sum and sequence */
        for (int sum = 0; sum <= (r->algo == TALLY_ALGO_SLIDING_LOG); sum++) {
            size_t sn = tally__limit_suffix(r->counts, algo_script[r->algo], r->window_ms, sum, suffix);
            if (tally__args_cat(a, base, bn, suffix, sn) < 0) return -1;
        }
    }
    tally__args_end_keys(a);
    if (tally__args_str(a, mode_names[m]) < 0 || tally__args_i64(a, t->test_now_us) < 0 ||
        tally__args_i64(a, nrules) < 0)
        return -1;
    for (int i = 0; i < nrules; i++) {
        const tally_rule *r = &rules[i];
        int64_t amount = r->counts == TALLY_COUNT_REQUESTS ? 1
                         : !req                            ? 0
                         : r->counts == TALLY_COUNT_TOKENS ? req->tokens
                                                           : req->cost_nanos;
        if (tally__args_str(a, algo_script[r->algo]) < 0 || tally__args_i64(a, r->limit) < 0 ||
            tally__args_i64(a, r->window_ms) < 0 || tally__args_i64(a, r->burst) < 0 ||
            tally__args_i64(a, amount) < 0)
            return -1;
    }
    return 0;
}

/* What rule i lets through at once: its limit; GCRA: its burst. */
static int64_t most_at_once(const tally_rule *r) {
    return r->algo == TALLY_ALGO_GCRA && r->burst ? r->burst : r->limit;
}

int tally_decision_rule(const tally_decision *d, const tally_rule *rules) {
    if (!d || !rules || d->decided != TALLY_DECIDED_BY_REDIS || d->nrules < 1 || d->nrules > TALLY_RULES_MAX)
        return -1;
    if (!d->allowed) return d->denied_by;
    int pick = 0;
    double best = 2.0;
    for (int i = 0; i < d->nrules; i++) {
        double share = (double)d->rules[i].remaining / (double)most_at_once(&rules[i]);
        if (share < best) best = share, pick = i;
    }
    return pick;
}

/* allow.lua's reply: {allowed, now, then per rule (remaining, retry, reset)},
 * all integers. */
enum { A_ALLOWED, A_NOW, A_RULES, A_PER_RULE = 3 };
#define A_FIELD(r, i, k) ((r)->element[A_RULES + A_PER_RULE * (i) + (k)]->integer)

/* Fills d from allow.lua's reply. TALLY_OK, or TALLY_ESCRIPT when the reply
 * has another shape. */
static int take(tally *t, const redisReply *r, const tally_rule *rules, int nrules, tally_decision *d) {
    int misfit = tally__reply_misfit(r, A_RULES + A_PER_RULE * (size_t)nrules, "i");
    if (misfit == TALLY_REPLY_NOT_ARRAY) return tally__fail(t, TALLY_ESCRIPT, "allow: unexpected reply shape");
    if (misfit) return tally__fail(t, TALLY_ESCRIPT, "allow: unexpected reply element %d", misfit - 1);
    d->allowed = r->element[A_ALLOWED]->integer == 1;
    d->server_time_us = r->element[A_NOW]->integer;
    d->decided = TALLY_DECIDED_BY_REDIS;
    for (int i = 0; i < nrules; i++) {
        tally_rule_state *s = &d->rules[i];
        s->limit = rules[i].limit; /* as given; a GCRA burst stays the caller's rules[i].burst */
        s->remaining = A_FIELD(r, i, 0);
        s->retry_after_ms = A_FIELD(r, i, 1);
        s->reset_after_ms = A_FIELD(r, i, 2);
        if (d->allowed || s->retry_after_ms == 0) continue;
        /* the denying rule: the one needing the longest wait, -1 (never) first */
        int64_t mine = s->retry_after_ms, cur = d->denied_by < 0 ? 0 : d->rules[d->denied_by].retry_after_ms;
        if (d->denied_by < 0 || (cur != -1 && (mine == -1 || mine > cur))) d->denied_by = i;
    }
    if (!d->allowed && d->denied_by < 0) /* every rule fit on its own: cannot happen */
        return tally__fail(t, TALLY_ESCRIPT, "allow: denied without a denying rule");
    int pick = tally_decision_rule(d, rules);
    d->limit = d->rules[pick].limit;
    d->remaining = d->rules[pick].remaining;
    d->retry_after_ms = d->rules[pick].retry_after_ms;
    d->reset_after_ms = d->rules[pick].reset_after_ms;
    return TALLY_OK;
}

/* The body of tally_allow() and tally_limits(): check -> build -> eval -> take. */
static int decide(tally *t, mode m, const char *key, const tally_rule *rules, int nrules,
                  const tally_request *req, tally_decision *d) {
    memset(d, 0, sizeof *d);
    d->denied_by = -1;
    d->decided = TALLY_DECIDED_ERROR;
    int rc = tally__id_check(t, "key", key, key ? strlen(key) : 0);
    if (rc == TALLY_OK) rc = check_rules(t, rules, nrules, req);
    if (rc != TALLY_OK) return rc;
    d->nrules = nrules;
    tally *on = t->limits ? t->limits : t; /* the server the limits live on */
    if (build(on, m, key, rules, nrules, req) < 0) return tally__oom(t);
    redisReply *r = tally__eval(on, &on->args);
    if (!r) {
        rc = on == t ? t->err : tally__limits_fail(t);
        if (rc == TALLY_ECONNECT || rc == TALLY_EIO || rc == TALLY_ETIMEOUT) {
            int open = req && req->fail == TALLY_FAIL_OPEN;
            d->allowed = open;
            d->decided = open ? TALLY_DECIDED_FAIL_OPEN : TALLY_DECIDED_FAIL_CLOSED;
        }
        return rc;
    }
    rc = take(t, r, rules, nrules, d);
    freeReplyObject(r);
    if (rc != TALLY_OK) {
        d->allowed = 0;
        d->decided = TALLY_DECIDED_ERROR;
    }
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

int tally_allow(tally *t, const char *key, const tally_rule *rules, int nrules,
                const tally_request *req, tally_decision *d) {
    return decide(t, MODE_ALLOW, key, rules, nrules, req, d);
}

int tally_limits(tally *t, const char *key, const tally_rule *rules, int nrules,
                 const tally_request *req, tally_decision *d) {
    return decide(t, MODE_PEEK, key, rules, nrules, req, d);
}
