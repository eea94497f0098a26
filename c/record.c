/* record.c -- recording usage events: tally_record_batch, and tally_record
 * and tally_settle (batches of one): events merged on this host into script
 * calls of lua/record.lua
 * (aggregate.c), each bounded in the time it holds
 * Redis, sent with a window of calls in flight so that the next call is merged
 * while Redis runs the current one.
 *
 * A call is atomic: it records all of its events or none. Its answer decides
 * what happens next:
 *   recorded   every event of the call counts (once per entity on a cluster);
 *   duplicate  the named events were recorded before: they are answered so,
 *              and the rest go again in a new call;
 *   an error   that names data (EINVAL, WRONGTYPE, a bucket that is not one):
 *              the call is split in halves until the event at fault is alone,
 *              so one bad event never blocks the others; any other error
 *              (OOM, NOPERM, ...) answers every event of the call;
 *   no answer (a connection error or timeout): the outcome is unknown, its
 *              events get the error (resend those with request ids);
 *   not sent   (the connection refused, or closed before the call was
 *              written): its events get TALLY_ECONNECT, it did not run.
 * window.c sends the calls, a window of them in flight, and deals with
 * NOSCRIPT and the cluster's redirections.
 * On a single server a call covers every entity of its events; on a cluster
 * one entity (one slot), so an event is answered once its key, account and
 * shard calls are: recorded, or duplicate when every one of them says so.
 *
 * Call size and calls in flight: pace.c, from cfg.max_script_us and the times
 * the script reports, learned per handle. The first call is small, to measure. */
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "cluster.h"
#include "encode.h"
#include "event.h"
#include "group.h"
#include "keys.h"
#include "pace.h"
#include "price_store.h"
#include "schema.h"
#include "table.h"
#include "timecal.h"
#include "window.h"

#define CALL_EVENTS_MAX 2048 /* keeps the script's unpack() lists under Lua's limit */

typedef tally_item item;
/* items [off, off + n); units: the call's work (aggregate.h) when it asked
 * for its time, which the pace learns from, else 0 (retries too) */
typedef struct { size_t off, n, units; } call;

/* Per-handle state, kept between batches so that a batch allocates nothing
 * once the arrays have grown. */
struct tally_batch {
    tally_agg *agg;
    tally_pace pace;         /* the calls' measured times */
    tally_vec items, calls, retry; /* retry: ids of calls to send (again) */
    tally_vec deferred;      /* items whose request id an earlier item holds */
    tally_window window;
    tally_vec left, dups, groups, failed, mark;   /* per event */
    tally_grouping grouping;              /* the items as sources (group.c) */
    tally_map seen;                       /* (key, request id, entity) this round */
    tally_vec holders;                    /* seen's items, in the order they came */
};

typedef struct {
    tally *t;
    struct tally_batch *s;
    const tally_event *ev;
    tally_result *res;
    int64_t now_ms;
    int settle, single;      /* tally_settle; a batch of one (tally_record) */
    size_t src, src_end;     /* the next items of the current source */
    size_t group, ngroups;   /* sources: grouping.start[group .. ngroups] */
    int first_code, conn_code; /* the first failure; the first connection error */
    char first[TALLY_ERRMSG_MAX];
} run;


/* The release hook of this unit's state on the handle (tally_close). */
static void release(void *state) {
    struct tally_batch *s = state;
    tally__agg_free(s->agg);
    tally__window_free(&s->window);
    tally_vec *v[] = { &s->items, &s->calls, &s->retry, &s->deferred, &s->left, &s->dups,
                       &s->groups, &s->failed, &s->mark, &s->holders };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) free(v[i]->p);
    tally__group_free(&s->grouping);
    tally__map_free(&s->seen);
    free(s);
}

/* Copies the handle's message into res->message, cut at a UTF-8 boundary. */
static void keep_message(tally_result *res, const tally *t) {
    size_t n = strlen(t->errmsg);
    if (n >= sizeof res->message)
        for (n = sizeof res->message - 1; n > 0 && ((unsigned char)t->errmsg[n] & 0xC0) == 0x80;) n--;
    memcpy(res->message, t->errmsg, n);
    res->message[n] = '\0';
}

/* Event k failed with `code`; the handle's message says why. */
static void note_failure(run *r, size_t k, int code) {
    r->res[k].code = code;
    keep_message(&r->res[k], r->t);
    if (r->first_code) return;
    r->first_code = code;
    if (r->single) snprintf(r->first, sizeof r->first, "%s", r->t->errmsg);
    else snprintf(r->first, sizeof r->first, "event %zu: %.480s", k + 1, r->t->errmsg);
}

/* One call of this event answered (dup: "duplicate"). */
static void answered(run *r, size_t k, int dup) {
    struct tally_batch *s = r->s;
    unsigned char *left = s->left.p, *dups = s->dups.p;
    dups[k] += (unsigned char)dup;
    if (AT(s->failed, unsigned char, k) && r->res[k].code == TALLY_ECONNECT)
        r->res[k].code = TALLY_EIO; /* partly recorded: no longer "did not run" */
    if (--left[k] == 0 && !AT(s->failed, unsigned char, k)) {
        r->res[k].code = TALLY_OK;
        r->res[k].duplicate = dups[k] == AT(s->groups, unsigned char, k);
    }
}

/* One call of this event failed. TALLY_ECONNECT (not sent: it did not run,
 * safe to resend without a request id) stays the event's code only while no
 * other call of it (a cluster sends one per entity) was answered or failed
 * otherwise. */
static void failed(run *r, size_t k, int code) {
    struct tally_batch *s = r->s;
    if (code == TALLY_ECONNECT && AT(s->failed, unsigned char, k)) return; /* the earlier failure stands */
    if (code == TALLY_ECONNECT && AT(s->left, unsigned char, k) < AT(s->groups, unsigned char, k))
        code = TALLY_EIO; /* partly recorded */
    AT(s->failed, unsigned char, k) = 1;
    note_failure(r, k, code);
}

/* Records a call; 0 and its id in *id, or -1 (OOM). */
static int new_call(struct tally_batch *s, size_t off, size_t n, size_t units, size_t *id) {
    call c = { off, n, units };
    *id = s->calls.n;
    return tally__vec_push(&s->calls, &c, sizeof c);
}

/* A call of items [off, off + n) to send after what is in flight. */
static int retry(struct tally_batch *s, size_t off, size_t n) {
    size_t id;
    return new_call(s, off, n, 0, &id) < 0 ? -1 : tally__vec_push(&s->retry, &id, sizeof id);
}

/* Merges the items of c into the aggregator and encodes the call into t->args. */
static int build(run *r, const call *c) {
    tally_agg *g = r->s->agg;
    tally__agg_begin(g, &r->t->schema, r->now_ms);
    for (size_t i = 0; i < c->n; i++) {
        const item *it = &AT(r->s->items, item, c->off + i);
        const tally_event *e = &r->ev[it->event];
        const tally_result *p = &r->res[it->event];
        if (tally__agg_add(g, e, e->at_ms == TALLY_AT_NOW ? r->now_ms : e->at_ms, p->cost_nanos, p->price_version,
                           it->mask, r->settle, it->event) != TALLY_AGG_ADDED)
            return -1;
    }
    tally__agg_timed(g, c->units > 0);
    return tally__agg_encode(g, &r->t->args);
}

/* Whether holder h of the round has the key, request id and entity of item
 * `sought`. */
static int same_hold(void *ctx, uint32_t h, const void *sought) {
    const run *r = ctx;
    const item *a = &AT(r->s->holders, item, h), *b = sought;
    const tally_event *x = &r->ev[a->event], *y = &r->ev[b->event];
    return a->mask == b->mask && strcmp(x->key, y->key) == 0 && strcmp(x->request_id, y->request_id) == 0;
}

/* The round's mark for the key and request id of `it` and its entity: nonzero
 * (its holder's index in s->holders + 1) when an earlier item holds them (then
 * `it` waits for the next round); the caller sets it once `it` is in a call.
 * The pair is compared whole (same_hold), so ids a client chose to share a
 * hash do not wait on each other. *none when `it` has no id; NULL on OOM. */
static uint32_t *hold_of(run *r, const item *it, uint32_t *none) {
    const tally_event *e = &r->ev[it->event];
    if (!e->request_id || !*e->request_id) return none;
    static const char separator = 0x1f;
    uint64_t h = tally__fnv64(tally__fnv64_str(TALLY_FNV64_BASIS ^ (uint64_t)it->mask, e->key), &separator, 1);
    return tally__map_find(&r->s->seen, tally__fnv64_str(h, e->request_id), same_hold, r, it);
}

static int partition(run *r, size_t off, size_t n);

/* The deferred items, once nothing is in flight, as the next round's sources.
 * No call is in flight or waits to be resent, so the arena and the calls start
 * over: a batch repeating one key and request id n times takes n rounds, not
 * n^2 items of memory. */
static int next_round(run *r) {
    struct tally_batch *s = r->s;
    s->items.n = s->calls.n = 0;
    size_t off = 0, n = s->deferred.n;
    if (tally__vec_reserve(&s->items, off + n, sizeof(item)) < 0) return -1;
    memcpy((item *)s->items.p + off, s->deferred.p, n * sizeof(item));
    s->items.n += n;
    s->deferred.n = 0;
    tally__map_clear(&s->seen);
    s->holders.n = 0;
    return partition(r, off, n);
}

/* window.c's next(): a retry first, else items of the current source in order
 * while the call has room (a source is every valid event on a single server,
 * one entity's events on a cluster). An event whose key and request id an
 * earlier event of the round holds waits for the next round, which begins when
 * nothing is in flight (idle) and the holder's fate is known: the first event
 * sent with an id is the one that counts, as if the events had been recorded
 * one by one, even when the holder's call has to be sent again. */
static int next_call(void *ctx, int idle, size_t *id) {
    run *r = ctx;
    struct tally_batch *s = r->s;
    if (s->retry.n) {
        *id = AT(s->retry, size_t, --s->retry.n);
        return build(r, &AT(s->calls, call, *id)) < 0 ? -1 : 1;
    }
    tally_agg *g = s->agg;
    size_t budget = tally__pace_budget(&s->pace, r->t->cfg.max_script_us);
    for (;;) {
        if (r->src == r->src_end) {
            if (r->group + 1 >= r->ngroups) {
                if (!idle || !s->deferred.n) return 0;
                if (next_round(r) < 0) return -1;
                continue;
            }
            r->group++;
            r->src = AT(s->grouping.start, size_t, r->group);
            r->src_end = AT(s->grouping.start, size_t, r->group + 1);
            continue;
        }
        tally__agg_begin(g, &r->t->schema, r->now_ms);
        size_t off = r->src;
        while (r->src < r->src_end && tally__agg_count(g) < CALL_EVENTS_MAX && tally__agg_units(g) < budget) {
            item it = AT(s->items, item, r->src);
            const tally_event *e = &r->ev[it.event];
            uint32_t none = 0, *hold = hold_of(r, &it, &none);
            if (!hold) return -1;
            if (*hold) {
                if (tally__vec_push(&s->deferred, &it, sizeof it) < 0) return -1;
                r->src++;
                continue;
            }
            const tally_result *p = &r->res[it.event];
            int rc = tally__agg_add(g, e, e->at_ms == TALLY_AT_NOW ? r->now_ms : e->at_ms, p->cost_nanos,
                                    p->price_version, it.mask, r->settle, it.event);
            if (rc == TALLY_AGG_FULL) break;
            if (rc == TALLY_AGG_NOMEM) return -1;
            if (hold != &none) { /* it holds its key and id from now on */
                if (tally__vec_push(&s->holders, &it, sizeof it) < 0) return -1;
                *hold = (uint32_t)s->holders.n;
            }
            /* the call's items are the ones added: kept in place, in order */
            AT(s->items, item, off + tally__agg_count(g) - 1) = it;
            r->src++;
        }
        if (!tally__agg_count(g)) continue; /* every item waits for the next round */
        /* A call of one event that the budget did not cut (tally_record, the
         * last of a source) says nothing of the cost per unit: it skips the
         * script's second TIME, and the pace learns nothing from it. One the
         * budget cut is timed, so that calls grow again from the smallest. */
        int timed = tally__agg_count(g) > 1 || tally__agg_units(g) >= budget;
        tally__agg_timed(g, timed);
        if (new_call(s, off, tally__agg_count(g), timed ? tally__agg_units(g) : 0, id) < 0) return -1;
        return tally__agg_encode(g, &r->t->args) < 0 ? -1 : 1;
    }
}

/* Errors caused by the data of some event (so halving the call finds it), as
 * against errors of the server or the connection, which every event shares. */
static int names_data(const redisReply *rep) {
    static const char *const data[] = { "EINVAL ", "ERR tally:", "WRONGTYPE" };
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
        if (strncmp(rep->str, data[i], strlen(data[i])) == 0) return 1;
    return 0;
}

/* A call answered "duplicate": the named events are answered so, the others go
 * again. The call is merged once more to map the answer to its events. */
static int take_duplicates(run *r, const call *c, const redisReply *rep) {
    struct tally_batch *s = r->s;
    if (build(r, c) < 0) return -1;
    unsigned char *mark = s->mark.p; /* named in this answer */
    for (size_t i = 2; i + 1 < rep->elements; i += 2) {
        size_t k = tally__agg_dup_event(s->agg, rep->element[i]->integer, rep->element[i + 1]->integer);
        if (k == (size_t)-1 || mark[k]) continue;
        mark[k] = 1;
        answered(r, k, 1);
    }
    size_t keep = 0;
    item *its = (item *)s->items.p + c->off;
    for (size_t i = 0; i < c->n; i++) {
        if (mark[its[i].event]) mark[its[i].event] = 0;
        else its[keep++] = its[i];
    }
    return keep ? retry(s, c->off, keep) : 0;
}

static void fail_call(run *r, const call *c, int code) {
    for (size_t i = 0; i < c->n; i++) failed(r, AT(r->s->items, item, c->off + i).event, code);
}

/* An error answer as the handle's error. record.lua refuses an event time too
 * far past Redis's clock without knowing the timezone: once the event at
 * fault is alone, its time is added as the caller sees it. Returns the code. */
#define FUTURE_REFUSAL "EINVAL record: an event time is in the future"
static int call_error(run *r, const call *c, const redisReply *rep) {
    int code = tally__reply_error(r->t, rep);
    if (c->n != 1 || !tally__reply_is(rep, FUTURE_REFUSAL)) return code;
    const tally_event *e = &r->ev[AT(r->s->items, item, c->off).event];
    int64_t at = e->at_ms == TALLY_AT_NOW ? r->now_ms : e->at_ms;
    char when[TALLY_TIME_TEXT_MAX], why[TALLY_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", r->t->errmsg);
    tally_format_time(at, r->t->cfg.tz_offset_min, when, sizeof when);
    return tally__fail(r->t, code, "%s: this event's time is %s (%lld ms)", why, when, (long long)at);
}

/* window.c's take(): acts on the answer of a call (see the head of this file). */
static int take(void *ctx, size_t id, redisReply *rep) {
    run *r = ctx;
    struct tally_batch *s = r->s;
    call c = AT(s->calls, call, id); /* a copy: new calls may move the array */
    if (rep->type == REDIS_REPLY_ERROR) {
        if (c.n > 1 && names_data(rep)) /* halves: nothing was written */
            return retry(s, c.off, c.n / 2) | retry(s, c.off + c.n / 2, c.n - c.n / 2);
        fail_call(r, &c, call_error(r, &c, rep));
        return 0;
    }
    /* record.lua's answer: {"recorded", us}, {"recorded"} when the call did
     * not ask for its time, or {"duplicate", us, J, P, ...} */
    int shape = rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 && tally__reply_fits(rep, rep->elements, "si");
    if (shape && strcmp(rep->element[0]->str, "recorded") == 0 && rep->elements <= 2) {
        if (rep->elements == 2) tally__pace_learn(&s->pace, c.units, rep->element[1]->integer);
        for (size_t i = 0; i < c.n; i++) answered(r, AT(s->items, item, c.off + i).event, 0);
        return 0;
    }
    if (shape && strcmp(rep->element[0]->str, "duplicate") == 0 && rep->elements >= 2 && rep->elements % 2 == 0)
        return take_duplicates(r, &c, rep);
    fail_call(r, &c, tally__fail(r->t, TALLY_ESCRIPT, "record.lua answered something unexpected"));
    return 0;
}

/* window.c's lost(): no answer; the outcome is unknown, or it was not sent. */
static void lost(void *ctx, size_t id, int code) {
    run *r = ctx;
    call c = AT(r->s->calls, call, id);
    fail_call(r, &c, code);
    if (!r->conn_code) r->conn_code = code;
}

static int rebuild(void *ctx, size_t id) {
    run *r = ctx;
    return build(r, &AT(r->s->calls, call, id));
}

/* Makes the items [off, off + n) the sources (group.c): on a cluster one per
 * entity, on a single server one, by shard and key. 0 or -1 (OOM). */
static int partition(run *r, size_t off, size_t n) {
    r->group = 0;
    if (tally__group(&r->s->grouping, &r->t->schema, r->ev, &r->s->items, off, n, tally__is_cluster(r->t), &r->ngroups) < 0)
        return -1;
    r->src = r->ngroups ? AT(r->s->grouping.start, size_t, 0) : 0;
    r->src_end = r->ngroups ? AT(r->s->grouping.start, size_t, 1) : 0;
    return 0;
}

static int record(tally *t, const tally_event *ev, size_t n, tally_result *res, int settle, int single) {
    tally_feature_state *f = &t->feature[TALLY_FEATURE_RECORD];
    struct tally_batch *s = f->state;
    if (!s) {
        if (!(s = f->state = calloc(1, sizeof *s))) return tally__oom(t);
        f->release = release;
    }
    if (!s->agg && !(s->agg = tally__agg_new())) return tally__oom(t);
    run r = { t, s, ev, res, tally__now_ms(), settle, single, 0, 0, 0, 0, 0, 0, "" };
    tally_vec *per_event[] = { &s->left, &s->dups, &s->groups, &s->failed, &s->mark };
    for (size_t i = 0; i < sizeof per_event / sizeof per_event[0]; i++) {
        if (tally__vec_reserve(per_event[i], n, 1) < 0) return tally__oom(t);
        memset(per_event[i]->p, 0, n);
    }
    s->items.n = s->calls.n = s->retry.n = s->deferred.n = 0;
    tally__map_clear(&s->seen);
    s->holders.n = 0;
    if (tally__vec_reserve(&s->items, 3 * n, sizeof(item)) < 0) return tally__oom(t);
    const tally_prices *prices = NULL; /* read at the first event to price */
    for (size_t k = 0; k < n; k++) {
        res[k].duplicate = 0;
        res[k].message[0] = '\0';
        res[k].code = tally_event_check(t, &ev[k]);
        res[k].cost_nanos = 0;
        res[k].price_version = -1;
        if (res[k].code == TALLY_OK) /* an event without a cost gets the price table's */
            res[k].code = tally__price_event(t, &prices, &ev[k], ev[k].at_ms == TALLY_AT_NOW ? r.now_ms : ev[k].at_ms,
                                             &res[k].cost_nanos, &res[k].price_version);
        if (res[k].code != TALLY_OK) {
            note_failure(&r, k, res[k].code);
            continue;
        }
        int masks[3] = { TALLY_AGG_ALL, 0, 0 }, m = 1;
        if (tally__is_cluster(t)) {
            m = 0;
            masks[m++] = TALLY_AGG_KEY;
            if (ev[k].account && *ev[k].account) masks[m++] = TALLY_AGG_ACCOUNT;
            masks[m++] = TALLY_AGG_SHARD;
        }
        for (int j = 0; j < m; j++) AT(s->items, item, s->items.n++) = (item){ k, masks[j] };
        AT(s->left, unsigned char, k) = AT(s->groups, unsigned char, k) = (unsigned char)m;
        res[k].code = TALLY_EIO; /* until every call is answered */
    }
    if (s->items.n && tally__schema_claim(t) != TALLY_OK) { /* nothing sent: the valid events fail with it */
        char why[TALLY_ERRMSG_MAX];
        int code = t->err;
        snprintf(why, sizeof why, "%s", t->errmsg);
        for (size_t k = 0; k < n; k++)
            if (AT(s->left, unsigned char, k)) note_failure(&r, k, code);
        return tally__fail(t, code, "%s", why);
    }
    if (partition(&r, 0, s->items.n) < 0) return tally__oom(t);
    tally_window_ops ops = { &r, next_call, rebuild, take, lost };
    int rc = tally__window_run(t, tally__pace_window(t->cfg.max_script_us), &ops, &s->window);
    if (rc < 0) {
        for (size_t k = 0; k < n; k++)
            if (AT(s->left, unsigned char, k) && !AT(s->failed, unsigned char, k)) failed(&r, k, TALLY_ENOMEM);
        return tally__oom(t);
    }
    if (r.conn_code) return tally__fail(t, r.conn_code, "%s", r.first);
    if (r.first_code) tally__fail(t, r.first_code, "%s", r.first);
    else tally__ok(t);
    return TALLY_OK;
}

int tally_record_batch(tally *t, const tally_event *ev, size_t n, tally_result *res) {
    return record(t, ev, n, res, 0, 0);
}

/* One event as a batch of one (with settle, tally_settle): the event's code,
 * its message on the handle, *duplicate when recorded. */
static int record_one(tally *t, const tally_event *ev, int settle, int *duplicate) {
    tally_result res;
    int rc = record(t, ev, 1, &res, settle, 1);
    if (rc == TALLY_OK && duplicate) *duplicate = res.duplicate;
    return rc == TALLY_OK ? res.code : rc;
}

int tally_record(tally *t, const tally_event *ev, int *duplicate) {
    return record_one(t, ev, 0, duplicate);
}

int tally_settle(tally *t, const tally_event *ev, int *duplicate) {
    if (tally_event_check(t, ev) == TALLY_OK && !(ev->request_id && *ev->request_id))
        return tally__fail(t, TALLY_EINVAL, "settling needs the request id of the reservation");
    return record_one(t, ev, 1, duplicate);
}
