/* budgets.c -- cost and token caps with reservations: tally_reserve() runs
 * lua/reserve.lua, tally_cancel() lua/cancel.lua; settling is recording
 * (record.c) with the reservation given back in the same script. Reservations of an entity live in two keys under its
 * hash tag: {E}:B (hash: "=" the held sums, "r:<member>" each estimate, as
 * "cost,tokens") and {E}:Bx (sorted set: member -> lease end, server ms), where
 * a member is "<key id>\x1f<request id>" (docs/keys.md). */
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "cluster.h"
#include "exec.h"
#include "keys.h"
#include "money.h"
#include "price_store.h"
#include "queries.h"
#include "timecal.h"

/* reserve.lua's cap metrics (ARGV: "c" cost, "k" tokens). */
#define CAP_COST "c"
#define CAP_TOKENS "k"

int tally_budget_parse(const char *text, tally_budget *b) {
    memset(b, 0, sizeof *b);
    if (!text) return TALLY_EINVAL;
    const char *s = text;
    b->scope = TALLY_SCOPE_KEY;
    if (strncmp(s, "key:", 4) == 0) s += 4;
    else if (strncmp(s, "account:", 8) == 0) s += 8, b->scope = TALLY_SCOPE_ACCOUNT;
    const char *slash = strrchr(s, '/');
    if (!slash) return TALLY_EINVAL;
    const char *per = slash + 1;
    if (strcmp(per, "day") == 0) b->period = TALLY_DAY;
    else if (strcmp(per, "month") == 0) b->period = TALLY_MONTH;
    else if (strcmp(per, "total") == 0) b->period = TALLY_TOTAL;
    else return TALLY_EINVAL;
    if (strncmp(s, "cost:", 5) == 0) {
        b->metric = TALLY_BUDGET_COST;
        if (tally__usd_parse(s + 5, (size_t)(slash - s - 5), &b->cap) < 0) return TALLY_EINVAL;
    } else if (strncmp(s, "tokens:", 7) == 0) {
        b->metric = TALLY_BUDGET_TOKENS;
        const char *d = s + 7;
        size_t n = (size_t)(slash - d);
        if (n == 0 || n > 15 || strspn(d, "0123456789") < n) return TALLY_EINVAL;
        for (size_t i = 0; i < n; i++) b->cap = b->cap * 10 + (d[i] - '0');
    } else {
        return TALLY_EINVAL;
    }
    return b->cap > 0 ? TALLY_OK : TALLY_EINVAL;
}

/* The estimate to reserve: r's cost, or with TALLY_COST_FROM_PRICES its
 * tokens priced at the highest price of r's model now (tally.h). */
static int estimate(tally *t, const tally_reservation *r, int64_t *cost) {
    *cost = r->cost_nanos;
    if (r->cost_nanos != TALLY_COST_FROM_PRICES) return TALLY_OK;
    int rc = r->model ? tally__id_check(t, "model", r->model, strlen(r->model))
                      : tally__fail(t, TALLY_EINVAL, "an estimate from the prices needs the model");
    const tally_prices *p;
    if (rc != TALLY_OK || (rc = tally__prices_current(t, &p)) != TALLY_OK) return rc;
    const tally_price *e = tally_prices_find(p, r->model, tally__now_ms());
    if (!e) {
        *cost = 0;
        if (tally__prices_none(p)) /* an unpriced event costs 0: nothing to hold */
            return tally__fail(t, TALLY_EINVAL, "no price table is loaded: give the estimate's cost");
        return t->cfg.price_missing_zero ? TALLY_OK
                                         : tally__fail(t, TALLY_EINVAL, "model %s has no price now", r->model);
    }
    tally_price top = *e;
    const int64_t *a = &e->input;
    int kinds = e->tier_above > 0 && r->tokens > e->tier_above ? 9 : 4;
    for (int k = 0; k < kinds; k++)
        if (k != 4 && a[k] > top.input) top.input = a[k]; /* a[4] is the tier's threshold */
    top.tier_above = 0;
    tally_event all_input = { r->key, r->model, NULL, r->tokens < 0 ? 0 : r->tokens, 0, 0, 0, 0, 0, NULL };
    if (tally_price_cost(&top, &all_input, cost) != TALLY_OK)
        return tally__fail(t, TALLY_EINVAL, "the estimate of %lld tokens of %s is above %lld nano-USD",
                           (long long)r->tokens, r->model, TALLY_MAX_COST_NANOS);
    return TALLY_OK;
}

static int check(tally *t, const tally_reservation *r, const tally_budget *caps, int ncaps) {
    int rc;
    if ((rc = tally__id_check(t, "key", r->key, r->key ? strlen(r->key) : 0)) ||
        (rc = tally__id_check(t, "request id", r->request_id, r->request_id ? strlen(r->request_id) : 0)))
        return rc;
    if (r->account && (rc = tally__id_check(t, "account", r->account, strlen(r->account)))) return rc;
    if (r->cost_nanos < 0 || r->cost_nanos > TALLY_MAX_COST_NANOS)
        return tally__fail(t, TALLY_EINVAL, "estimated cost must be 0 to %lld nano-USD", TALLY_MAX_COST_NANOS);
    if (r->tokens < 0 || r->tokens > TALLY_MAX_TOKENS)
        return tally__fail(t, TALLY_EINVAL, "estimated tokens must be 0 to %lld", TALLY_MAX_TOKENS);
    if (r->lease_ms < 1 || r->lease_ms > TALLY_RESERVE_LEASE_MAX_MS)
        return tally__fail(t, TALLY_EINVAL, "lease must be 1 ms to 1 day");
    if (ncaps < 1 || ncaps > TALLY_BUDGET_CAPS_MAX)
        return tally__fail(t, TALLY_EINVAL, "give 1 to %d caps", TALLY_BUDGET_CAPS_MAX);
    for (int i = 0; i < ncaps; i++) {
        const tally_budget *b = &caps[i];
        if (b->scope != TALLY_SCOPE_KEY && b->scope != TALLY_SCOPE_ACCOUNT)
            return tally__fail(t, TALLY_EINVAL, "cap %d: a budget belongs to a key or an account", i + 1);
        if (b->scope == TALLY_SCOPE_ACCOUNT && !r->account)
            return tally__fail(t, TALLY_EINVAL, "cap %d is an account cap but no account was given", i + 1);
        if (b->period != TALLY_DAY && b->period != TALLY_MONTH && b->period != TALLY_TOTAL)
            return tally__fail(t, TALLY_EINVAL, "cap %d: the period must be day, month or total", i + 1);
        if (b->metric != TALLY_BUDGET_COST && b->metric != TALLY_BUDGET_TOKENS)
            return tally__fail(t, TALLY_EINVAL, "cap %d: a cap limits cost or tokens", i + 1);
        if (b->cap <= 0) return tally__fail(t, TALLY_EINVAL, "cap %d must be positive", i + 1);
    }
    return TALLY_OK;
}

/* The entities holding a reservation's caps, and where each cap's bucket lies:
 * the key, and the account when there is one. On a cluster they live in
 * different slots, so one call serves the caps of one entity only. */
typedef struct {
    char kb[TALLY_ENTITY_MAX], ab[TALLY_ENTITY_MAX];
    size_t kbn, abn;
    const char *base[2];
    size_t base_n[2];
    int n;            /* entities of the call: 1 or 2 */
    int acct_entity;  /* the account's number in the call (1-based), 0: none */
} holders;

/* Where cap b's bucket lies: the entity's own hash of the period (a key's, an
 * account's day); an account's month or total: its a: fields summed over the
 * shards' hashes (docs/keys.md); on a cluster, where those lie in other slots
 * than the account's reservations, its month is the sum of its own day hashes
 * of the month instead (its total cannot be read there). */
enum { CAP_OWN, CAP_SHARDS, CAP_DAYS };
static int cap_source(tally *t, const tally_budget *b) {
    if (b->scope != TALLY_SCOPE_ACCOUNT || b->period == TALLY_DAY) return CAP_OWN;
    return tally__is_cluster(t) && b->period == TALLY_MONTH ? CAP_DAYS : CAP_SHARDS;
}

/* The caps of one call: all of the key's or all of the account's on a
 * cluster; an account's month or total from the shards is complete from the
 * accounts marker's day on, from its days while they are kept. */
static int check_entities(tally *t, const tally_budget *caps, int ncaps, int *key_caps, int *account_caps) {
    *key_caps = *account_caps = 0;
    int64_t earliest = -1;
    tally_when w;
    tally__when(tally__now_ms(), t->cfg.tz_offset_min, &w);
    for (int i = 0; i < ncaps; i++) {
        *(caps[i].scope == TALLY_SCOPE_ACCOUNT ? account_caps : key_caps) += 1;
        int source = cap_source(t, &caps[i]);
        if (source == CAP_DAYS && t->cfg.ttl_day_s < (int64_t)(w.day - 1) * 86400)
            return tally__fail(t, TALLY_EINVAL,
                               "cap %d: on a cluster an account's month is the sum of its day buckets, and days are "
                               "kept %lld s after their end (ttl_day_s), less than this month so far",
                               i + 1, (long long)t->cfg.ttl_day_s);
        if (source != CAP_SHARDS) continue;
        if (tally__is_cluster(t))
            return tally__fail(t, TALLY_EINVAL,
                               "cap %d: on a cluster an account's total is summed over the shards' hashes in other "
                               "slots, which its reservation cannot read atomically: cap the account per month or "
                               "day, or its keys", i + 1);
        int64_t from = caps[i].period == TALLY_TOTAL ? 0 : (w.year * 100 + w.month) * 100 + 1;
        if (earliest < 0 || from < earliest) earliest = from;
    }
    if (tally__is_cluster(t) && *key_caps && *account_caps)
        return tally__fail(t, TALLY_EINVAL, "on a cluster a reservation's caps belong to one entity: "
                                            "reserve key caps and account caps in two calls");
    return earliest < 0 ? TALLY_OK : tally__accounts_complete(t, earliest);
}

/* Builds reserve.lua's call for priced reservation r into t->args. 0, or -1
 * when memory ran out. */
static int build(tally *t, const tally_reservation *r, const tally_budget *caps, int ncaps, int key_caps,
                 int account_caps) {
    holders h = { .n = 0 };
    h.kbn = tally__entity(&t->schema, TALLY_ENTITY_KEY, r->key, strlen(r->key), h.kb);
    h.abn = r->account ? tally__entity(&t->schema, TALLY_ENTITY_ACCOUNT, r->account, strlen(r->account), h.ab) : 0;
    if (!tally__is_cluster(t) || key_caps) h.base[h.n] = h.kb, h.base_n[h.n++] = h.kbn;
    if (h.abn && (!tally__is_cluster(t) || account_caps)) h.base[h.n] = h.ab, h.base_n[h.n] = h.abn, h.acct_entity = ++h.n;
    tally_when w;
    tally__when(tally__now_ms(), t->cfg.tz_offset_min, &w);
    tally_args *a = &t->args;
    char suffix[24];
    int err = tally__args_script(a, TALLY_SCRIPT_RESERVE);
    for (int e = 0; e < h.n; e++) err |= tally__add_held_keys(a, h.base[e], h.base_n[e]);
    for (int i = 0; i < ncaps; i++) {
        tally_period p = { caps[i].period, w.year, w.month, w.day, 0 };
        size_t sn = tally__period_suffix(&p, suffix);
        int acct = caps[i].scope == TALLY_SCOPE_ACCOUNT, source = cap_source(t, &caps[i]);
        if (source == CAP_SHARDS) err |= tally__add_shard_keys(&t->schema, a, suffix, sn);
        for (int d = 1; source == CAP_DAYS && d <= w.day; d++) {
            tally_period day = { TALLY_DAY, w.year, w.month, d, 0 };
            sn = tally__period_suffix(&day, suffix);
            err |= tally__args_cat(a, h.ab, h.abn, suffix, sn);
        }
        if (source == CAP_OWN) err |= tally__args_cat(a, acct ? h.ab : h.kb, acct ? h.abn : h.kbn, suffix, sn);
    }
    tally__args_end_keys(a);
    err |= tally__add_reservation_member(a, r->key, r->request_id) | tally__args_i64(a, r->lease_ms);
    err |= tally__args_i64(a, r->cost_nanos) | tally__args_i64(a, r->tokens);
    err |= tally__args_i64(a, h.n) | tally__args_i64(a, ncaps);
    err |= tally__args_i64(a, t->test_now_us / 1000); /* 0: the server's TIME */
    for (int i = 0; i < ncaps; i++) {
        int acct = caps[i].scope == TALLY_SCOPE_ACCOUNT;
        err |= tally__args_i64(a, acct ? h.acct_entity : 1);
        int source = cap_source(t, &caps[i]);
        if (source == CAP_SHARDS)
            err |= tally__args_cat(a, TALLY_FIELD_ACCOUNT, strlen(TALLY_FIELD_ACCOUNT), r->account, strlen(r->account));
        else /* a key's hashes keep no "_": its models' fields are summed */
            err |= tally__args_str(a, acct ? TALLY_FIELD_ENTITY : TALLY_FIELD_MODEL);
        err |= tally__args_str(a, caps[i].metric == TALLY_BUDGET_COST ? CAP_COST : CAP_TOKENS);
        err |= tally__args_i64(a, caps[i].cap);
        err |= tally__args_i64(a, source == CAP_SHARDS ? t->cfg.shards : source == CAP_DAYS ? w.day : 1);
    }
    return err ? -1 : 0;
}

/* reserve.lua's answer: {allowed, denied_by, {left per cap}, server ms, status}. */
enum { R_ALLOWED, R_DENIED_BY, R_LEFT, R_SERVER_MS, R_STATUS, R_FIELDS };

/* Fills out from reserve.lua's reply r. TALLY_OK, or TALLY_ESCRIPT when the
 * reply has another shape. */
static int take(tally *t, const redisReply *r, int ncaps, tally_budget_decision *out) {
    if (!tally__reply_fits(r, R_FIELDS, "iiais") || r->element[R_DENIED_BY]->integer < 0 ||
        r->element[R_DENIED_BY]->integer > ncaps || !tally__reply_fits(r->element[R_LEFT], (size_t)ncaps, "i"))
        return tally__fail(t, TALLY_ESCRIPT, "reserve.lua answered something unexpected");
    out->allowed = r->element[R_ALLOWED]->integer == 1;
    out->denied_by = (int)r->element[R_DENIED_BY]->integer - 1;
    for (int i = 0; i < ncaps; i++) out->remaining[i] = r->element[R_LEFT]->element[i]->integer;
    out->server_time_ms = r->element[R_SERVER_MS]->integer;
    out->duplicate = strcmp(r->element[R_STATUS]->str, "duplicate") == 0;
    return TALLY_OK;
}

/* price -> check -> build -> eval -> take. */
int tally_reserve(tally *t, const tally_reservation *r, const tally_budget *caps, int ncaps,
                  tally_budget_decision *out) {
    tally_reservation priced = *r;
    int key_caps, account_caps;
    int rc = estimate(t, r, &priced.cost_nanos);
    if (rc != TALLY_OK || (rc = check(t, &priced, caps, ncaps)) != TALLY_OK ||
        (rc = check_entities(t, caps, ncaps, &key_caps, &account_caps)) != TALLY_OK)
        return rc;
    if (build(t, &priced, caps, ncaps, key_caps, account_caps) < 0) return tally__oom(t);
    redisReply *reply = tally__eval(t, &t->args);
    if (!reply) return t->err;
    rc = take(t, reply, ncaps, out);
    freeReplyObject(reply);
    return rc;
}

/* One cancel.lua call over entities [0, n) of base/base_n: ORs its answer
 * into *released. */
static int cancel_call(tally *t, const char *const *base, const size_t *base_n, int n, const char *key,
                       const char *request_id, int *released) {
    tally_args *a = &t->args;
    int err = tally__args_script(a, TALLY_SCRIPT_CANCEL);
    for (int e = 0; e < n; e++) err |= tally__add_held_keys(a, base[e], base_n[e]);
    tally__args_end_keys(a);
    err |= tally__add_reservation_member(a, key, request_id) | tally__args_i64(a, t->test_now_us / 1000);
    if (err) return tally__oom(t);
    redisReply *r = tally__eval(t, a);
    if (!r) return t->err;
    int rc = TALLY_OK; /* {released 1|0, server ms} */
    if (!tally__reply_fits(r, 2, "i."))
        rc = tally__fail(t, TALLY_ESCRIPT, "cancel.lua answered something unexpected");
    else
        *released |= r->element[0]->integer == 1;
    freeReplyObject(r);
    return rc;
}

int tally_cancel(tally *t, const char *key, const char *account, const char *request_id, int *released) {
    int rc, got = 0;
    if (account && !*account) account = NULL;
    if ((rc = tally__id_check(t, "key", key, key ? strlen(key) : 0)) ||
        (rc = tally__id_check(t, "request id", request_id, request_id ? strlen(request_id) : 0)) ||
        (account && (rc = tally__id_check(t, "account", account, strlen(account)))))
        return rc;
    char kb[TALLY_ENTITY_MAX], ab[TALLY_ENTITY_MAX];
    const char *base[2] = { kb, ab };
    size_t base_n[2] = { tally__entity(&t->schema, TALLY_ENTITY_KEY, key, strlen(key), kb),
                         account ? tally__entity(&t->schema, TALLY_ENTITY_ACCOUNT, account, strlen(account), ab) : 0 };
    int n = account ? 2 : 1;
    /* On a cluster the key and the account live in different slots: one call
     * each (each is idempotent, so a retry after a failure between them is
     * safe). */
    if (!tally__is_cluster(t)) rc = cancel_call(t, base, base_n, n, key, request_id, &got);
    else
        for (int e = 0; e < n && rc == TALLY_OK; e++) rc = cancel_call(t, base + e, base_n + e, 1, key, request_id, &got);
    if (released) *released = got;
    return rc;
}
