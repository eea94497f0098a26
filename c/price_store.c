/* price_store.c -- the price table stored in Redis (loaded by
 * lua/prices.lua, read by lua/read.lua, which is read-only) and kept on the
 * handle: a copy of Redis's table read again when older than
 * cfg.prices_refresh_ms, or a table the caller set; and the pricing of one
 * event for record.c and budgets.c. Layer: feature (below record and
 * budgets). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "keys.h"
#include "price_store.h"
#include "price_table.h"
#include "timecal.h"

struct pricing_state {
    tally_prices *table;  /* NULL: none (Redis has none, or none was read yet) */
    int caller;           /* 1: the caller's (tally_set_prices): never refreshed */
    int read;             /* 1: Redis's table was read at read_ms */
    int64_t read_ms;      /* monotonic time of the last read */
    int fail_rc;          /* the last read failed (at fail_ms) with this code */
    int64_t fail_ms;
    char fail_msg[TALLY_ERRMSG_MAX];
};

/* After a failed read, priced events fail with its error for this long
 * without another attempt: a batch of 2048 events against a server that is
 * down costs one connection timeout, not 2048. */
#define FAIL_HOLD_MS 100

static void release(void *state) {
    struct pricing_state *s = state;
    tally_prices_free(s->table);
    free(s);
}

static struct pricing_state *state_of(tally *t) {
    tally_feature_state *f = &t->feature[TALLY_FEATURE_PRICES];
    if (!f->state && (f->state = calloc(1, sizeof(struct pricing_state)))) f->release = release;
    return f->state;
}

/* Starts the call of prices.lua that loads a table, in t->args. */
static int begin_load(tally *t) {
    char key[TALLY_ENTITY_MAX];
    tally_args *a = &t->args;
    int err = tally__args_script(a, TALLY_SCRIPT_PRICES) | tally__args_add(a, key, tally__prices_key(&t->schema, key));
    tally__args_end_keys(a);
    return err;
}

/* A load refused by Redis's ACL (NOPERM: the application's user of
 * docs/acl.md may read the price table but not write it): says what is
 * missing. Other failures keep their message. Returns the handle's code. */
static int refused_load(tally *t) {
    char why[TALLY_ERRMSG_MAX], key[TALLY_ENTITY_MAX];
    if (t->err != TALLY_EAUTH || strncmp(t->errmsg, "NOPERM", 6) != 0) return t->err;
    snprintf(why, sizeof why, "%s", t->errmsg);
    tally__prices_key(&t->schema, key);
    return tally__fail(t, TALLY_EAUTH,
                       "this Redis user may not load prices (the price table is unchanged): writing %s needs "
                       "a user like the operator's of docs/acl.md; Redis said: %s",
                       key, why);
}

int tally_prices_load(tally *t, const tally_prices *p, int64_t *version) {
    return tally_prices_load_ex(t, p, version, NULL);
}

int tally_prices_load_ex(tally *t, const tally_prices *p, int64_t *version, int *changed) {
    if (!p) return tally__fail(t, TALLY_EINVAL, "no price table");
    size_t n = tally_prices_count(p), cap = 4096;
    char *text = malloc(cap);
    int err = !text || begin_load(t);
    for (size_t i = 0; !err && i < n;) {
        size_t run = tally__prices_run(p, i), len;
        while (!(len = tally__prices_encode(p, i, run, text, cap))) {
            char *bigger = realloc(text, cap *= 2);
            if (!bigger) break;
            text = bigger;
        }
        err = !len || tally__args_str(&t->args, tally_prices_at(p, i)->model) | tally__args_add(&t->args, text, len);
        i += run;
    }
    free(text);
    if (err) return tally__oom(t);
    redisReply *r = tally__eval(t, &t->args);
    if (!r) return refused_load(t);
    /* {version, changed}: the stored version is kept when the table was the same */
    int rc = tally__reply_fits(r, 2, "i") ? tally__ok(t) : tally__fail(t, TALLY_ESCRIPT, "prices.lua answered something unexpected");
    if (rc == TALLY_OK && version) *version = r->element[0]->integer;
    if (rc == TALLY_OK && changed) *changed = r->element[1]->integer != 0;
    freeReplyObject(r);
    return rc;
}

/* Runs read.lua on the price table with mode `mode` ("get" with the field
 * "version", or "all"): the key's part of the reply (one array), or NULL with
 * the handle's error. read.lua is read-only, so the table can be read under
 * maxmemory; EVALSHA_RO, so a user with read access alone (docs/acl.md) can
 * price events; on the primary, never a replica that may lag or not be
 * synced yet. *reply is the caller's to free. */
static const redisReply *read_call(tally *t, const char *mode, redisReply **reply) {
    char key[TALLY_ENTITY_MAX];
    tally_args *a = &t->args;
    int err = tally__args_script_ro_primary(a, TALLY_SCRIPT_READ) | tally__args_add(a, key, tally__prices_key(&t->schema, key));
    tally__args_end_keys(a);
    err |= tally__args_str(a, mode);
    if (strcmp(mode, "get") == 0) err |= tally__args_str(a, "1") | tally__args_str(a, TALLY_FIELD_VERSION);
    if (err) return tally__oom(t), NULL;
    if (!(*reply = tally__eval(t, a))) return NULL;
    const redisReply *r = *reply;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY)
        return r->element[0];
    tally__fail(t, TALLY_ESCRIPT, "read.lua answered something unexpected");
    return NULL;
}

/* The version in a reply element (a string of digits, or nil: 0), or -1. */
static int64_t version_of(const redisReply *v) {
    if (v->type == REDIS_REPLY_NIL) return 0;
    int64_t n = 0;
    if (v->type != REDIS_REPLY_STRING || v->len == 0 || v->len > 10) return -1;
    for (size_t i = 0; i < v->len; i++)
        if (v->str[i] < '0' || v->str[i] > '9') return -1;
        else n = n * 10 + (v->str[i] - '0');
    return n;
}

/* Reads Redis's table unless its version is still `known` (0: none): one
 * small call for the version, and the whole hash (HGETALL, atomic: its
 * version field comes with it) only when that changed. *out gets a new
 * table, or NULL when unchanged. TALLY_OK or the error. */
static int read_table(tally *t, int64_t known, tally_prices **out) {
    *out = NULL;
    redisReply *reply = NULL;
    const redisReply *r = read_call(t, "get", &reply);
    int64_t version = r && r->elements == 1 ? version_of(r->element[0]) : -1;
    freeReplyObject(reply);
    if (!r) return t->err;
    if (version < 0) return tally__fail(t, TALLY_ESCRIPT, "the price table's version is not a number");
    if (version == known) return tally__ok(t);
    if (version == 0) /* no table (any more): nothing has a price */
        return (*out = tally__prices_new()) ? tally__ok(t) : tally__oom(t);
    if (!(r = read_call(t, "all", &reply))) return freeReplyObject(reply), t->err;
    char err[TALLY_ERRMSG_MAX];
    tally_prices *p = tally__prices_new();
    int rc = p ? TALLY_OK : tally__oom(t);
    version = -1;
    for (size_t i = 0; rc == TALLY_OK && i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *e = r->element[i + 1];
        size_t mn;
        const char *model = f->type == REDIS_REPLY_STRING ? tally__field_model(f->str, f->len, &mn) : NULL;
        if (f->type == REDIS_REPLY_STRING && strcmp(f->str, TALLY_FIELD_VERSION) == 0) version = version_of(e);
        else if (!model || e->type != REDIS_REPLY_STRING || tally__prices_decode(p, model, mn, e->str, e->len) < 0)
            rc = tally__fail(t, TALLY_ESCRIPT, "the price table has a bad field (%.*s)",
                             f->type == REDIS_REPLY_STRING ? (int)f->len : 0, f->type == REDIS_REPLY_STRING ? f->str : "");
    }
    if (rc == TALLY_OK && version < 0) rc = tally__fail(t, TALLY_ESCRIPT, "the price table has no version");
    if (rc == TALLY_OK && tally__prices_finish(p, err, sizeof err) < 0)
        rc = tally__fail(t, TALLY_ESCRIPT, "the stored price table is bad: %s", err);
    freeReplyObject(reply);
    if (rc != TALLY_OK) return tally_prices_free(p), rc;
    tally__prices_set_version(p, version);
    *out = p;
    return tally__ok(t);
}

int tally_prices_get(tally *t, tally_prices **out) {
    int rc = read_table(t, 0, out);
    if (rc == TALLY_OK && !*out && !(*out = tally__prices_new())) return tally__oom(t); /* none loaded */
    return rc;
}

int tally_prices_refresh(tally *t) {
    struct pricing_state *s = state_of(t);
    if (!s) return tally__oom(t);
    if (s->caller) return tally__ok(t);
    tally_prices *fresh;
    int rc = read_table(t, tally_prices_version(s->table), &fresh);
    if (rc != TALLY_OK) return rc;
    if (fresh) {
        tally_prices_free(s->table);
        s->table = fresh;
    }
    s->read_ms = tally__mono_ms();
    s->read = 1;
    return TALLY_OK;
}

int tally_set_prices(tally *t, tally_prices *p) {
    struct pricing_state *s = state_of(t);
    if (!s) return tally_prices_free(p), tally__oom(t);
    tally_prices_free(s->table);
    s->table = p;
    s->caller = p != NULL;
    s->read = 0;
    return tally__ok(t);
}

int tally__prices_current(tally *t, const tally_prices **out) {
    struct pricing_state *s = state_of(t);
    if (!s) return tally__oom(t);
    if (!s->caller && (!s->read || tally__mono_ms() - s->read_ms >= t->cfg.prices_refresh_ms)) {
        if (s->fail_rc && tally__mono_ms() - s->fail_ms < FAIL_HOLD_MS) return tally__fail(t, s->fail_rc, "%s", s->fail_msg);
        int rc = tally_prices_refresh(t);
        s->fail_rc = rc;
        if (rc != TALLY_OK) {
            s->fail_ms = tally__mono_ms();
            snprintf(s->fail_msg, sizeof s->fail_msg, "%s", t->errmsg);
            return tally__fail(t, rc, "%s", s->fail_msg);
        }
    }
    *out = s->table;
    return TALLY_OK;
}

int tally__prices_none(const tally_prices *p) {
    return !p || (tally_prices_version(p) == 0 && tally_prices_count(p) == 0);
}

int tally__price_event(tally *t, const tally_prices **table, const tally_event *e, int64_t at_ms, int64_t *cost,
                       int64_t *version) {
    *cost = e->cost_nanos;
    *version = -1;
    if (e->cost_nanos != TALLY_COST_FROM_PRICES) return TALLY_OK;
    if (!*table) { /* once per call: every event of a batch is priced by one table */
        int rc = tally__prices_current(t, table);
        if (rc != TALLY_OK) return rc;
    }
    const tally_prices *p = *table;
    const tally_price *price = tally_prices_find(p, e->model, at_ms);
    if (!price) {
        /* No table at all is a fresh install counting tokens: recorded
         * unpriced. A loaded table missing the model is a billing gap. */
        if (!t->cfg.price_missing_zero && !tally__prices_none(p)) {
            char when[TALLY_TIME_TEXT_MAX];
            tally_format_time(at_ms, t->cfg.tz_offset_min, when, sizeof when);
            return tally__fail(t, TALLY_EINVAL,
                               "model %s has no price at event time %s (%lld ms; price table version %lld)", e->model,
                               when, (long long)at_ms, (long long)tally_prices_version(p));
        }
        *cost = 0;
        *version = TALLY_UNPRICED;
        return TALLY_OK;
    }
    if (tally_price_cost(price, e, cost) != TALLY_OK)
        return tally__fail(t, TALLY_EINVAL, "the cost of this event by the price of model %s is above %lld nano-USD",
                           e->model, TALLY_MAX_COST_NANOS);
    *version = tally_prices_version(p);
    return TALLY_OK;
}
