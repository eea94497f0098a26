/* aggregate.c -- a batch's events merged into one call of lua/record.lua:
 * every distinct bucket field (hash + field) with the sum of the deltas of the
 * events that touch it, every distinct leaderboard member with its increments,
 * and the request-id fingerprints to check and add, per id hash. Strings are
 * interned once per call and buckets are found by small integer tuples, so an
 * event costs a few dozen hash-table probes; key names are written once per
 * distinct hash when the call is encoded. Pure: no I/O.
 *
 * The schema (which buckets an event touches) is the table `plan` below; the
 * key and field names follow docs/keys.md. */
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "bounds.h"
#include "keys.h"
#include "table.h"
#include "timecal.h"
#include "wire.h"


/* Bucket periods (the hash a field lives in; P_IDS: request ids), field kinds
 * and entities. */
enum { P_TOTAL, P_MONTH, P_DAY, P_MINUTE, P_IDS = 7 };
enum { F_ALL, F_MODEL, F_HOUR, F_HOUR_MODEL, F_PRICE, F_UNPRICED };
enum { E_KEY, E_ACCOUNT, E_SHARD };

/* Every bucket field an event touches, per entity: docs/keys.md, schema v2
 * (the hours of a day are fields of the day's hash). */
static const struct { unsigned char entity, period, field; } plan[] = {
    { E_KEY, P_TOTAL, F_ALL },     { E_KEY, P_TOTAL, F_MODEL },   { E_KEY, P_MONTH, F_ALL },
    { E_KEY, P_MONTH, F_MODEL },   { E_KEY, P_DAY, F_ALL },       { E_KEY, P_DAY, F_MODEL },
    { E_KEY, P_DAY, F_HOUR },      { E_ACCOUNT, P_TOTAL, F_ALL }, { E_ACCOUNT, P_MONTH, F_ALL },
    { E_ACCOUNT, P_DAY, F_ALL },   { E_ACCOUNT, P_DAY, F_HOUR },  { E_SHARD, P_TOTAL, F_ALL },
    { E_SHARD, P_TOTAL, F_MODEL }, { E_SHARD, P_MONTH, F_ALL },   { E_SHARD, P_MONTH, F_MODEL },
    { E_SHARD, P_DAY, F_ALL },     { E_SHARD, P_DAY, F_MODEL },   { E_SHARD, P_DAY, F_HOUR },
    { E_SHARD, P_DAY, F_HOUR_MODEL }, { E_SHARD, P_MINUTE, F_ALL },
    { E_KEY, P_TOTAL, F_PRICE },   { E_KEY, P_MONTH, F_PRICE },   { E_KEY, P_DAY, F_PRICE },
};
#define PLAN_N (sizeof plan / sizeof plan[0])

typedef struct { const char *s; uint32_t n, shard; } str;
/* A local hour's periods; per period the hash's expiry and how long its
 * fields may be written (until), the hours' own until, and the day whose hours
 * go when this day's hash is created (0: none). */
typedef struct { int64_t minute, ym, ymd, x[4], until[4], hours_until, prune_ymd; int hh; } hour_ctx;
typedef struct { uint64_t tuple; int64_t expiry, until, hours_until; uint32_t prune; } hash_rec;
typedef struct { uint32_t hash, code; int64_t d[6]; } field_rec;
typedef struct { uint64_t tuple; int64_t expiry; } group_rec; /* three leaderboards */
/* A leaderboard member: its increments (cost, tokens, requests), or, when the
 * call also holds the key's bucket hash of the period (source: its index + 1),
 * the script takes the member's scores from that hash's "_" bucket instead. */
typedef struct { uint32_t group, key, source; int64_t inc[3]; } member_rec;
typedef struct { uint64_t tuple; int64_t expiry; uint32_t nadd; } idhash_rec;
typedef struct { uint32_t hash; int add; unsigned char fp[TALLY_ID_ENTRY]; size_t event; } id_rec;

struct tally_agg {
    const tally *t;
    int64_t now_ms, latest_ms, total[7]; /* the call's sums: 6 counts, tokens */
    tally_vec strs, hours, hashes, fields, groups, members, idhashes, ids, events, prunes;
    const tally_event *settle; /* the event whose reservations the call releases */
    int settle_mask;
    tally_map str_map, hour_map, hash_map, field_map, group_map, member_map, idhash_map;
    /* encoding */
    tally_vec order, start, deltas, delta_of, dup_events, text;
    tally_map delta_map;
};

#define AT(v, type, i) (((type *)(v).p)[i])

tally_agg *tally__agg_new(void) { return calloc(1, sizeof(tally_agg)); }

void tally__agg_free(tally_agg *g) {
    if (!g) return;
    tally_vec *v[] = { &g->strs, &g->hours, &g->hashes, &g->fields, &g->groups, &g->members, &g->idhashes,
                       &g->ids, &g->events, &g->prunes, &g->order, &g->start, &g->deltas, &g->delta_of,
                       &g->dup_events, &g->text };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) free(v[i]->p);
    tally_map *m[] = { &g->str_map, &g->hour_map, &g->hash_map, &g->field_map, &g->group_map, &g->member_map,
                       &g->idhash_map, &g->delta_map };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) tally__map_free(m[i]);
    free(g);
}

void tally__agg_begin(tally_agg *g, const tally *t, int64_t now_ms) {
    g->t = t;
    g->now_ms = now_ms;
    g->latest_ms = 0;
    memset(g->total, 0, sizeof g->total);
    g->strs.n = g->hours.n = g->hashes.n = g->fields.n = g->groups.n = g->members.n = 0;
    g->idhashes.n = g->ids.n = g->events.n = g->prunes.n = 0;
    g->settle = NULL;
    tally_map *m[] = { &g->str_map, &g->hour_map, &g->hash_map, &g->field_map, &g->group_map, &g->member_map,
                       &g->idhash_map };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) tally__map_clear(m[i]);
}

size_t tally__agg_count(const tally_agg *g) { return g->events.n; }

size_t tally__agg_units(const tally_agg *g) {
    return 4 * g->fields.n + 16 * g->hashes.n + 12 * g->members.n + g->ids.n + 16 * g->idhashes.n;
}

static int same_str(void *ctx, uint32_t i, const void *key) {
    const str *a = &AT(((tally_agg *)ctx)->strs, str, i), *b = key;
    return a->n == b->n && memcmp(a->s, b->s, b->n) == 0;
}

/* The index of string s in the call's table, added if new; -1 on OOM. */
static int64_t intern(tally_agg *g, const char *s) {
    str k = { s, (uint32_t)strlen(s), 0 };
    uint32_t *slot = tally__map_find(&g->str_map, tally__fnv64(TALLY_FNV64_BASIS, s, k.n), same_str, g, &k);
    if (!slot) return -1;
    if (!*slot) {
        k.shard = tally__shard_of(g->t, s, k.n);
        if (tally__vec_push(&g->strs, &k, sizeof k) < 0) return -1;
        *slot = (uint32_t)g->strs.n;
    }
    return *slot - 1;
}

/* The call's context for the local hour of at_ms: periods and expiries. */
static hour_ctx *hour_of(tally_agg *g, int64_t at) {
    const tally_config *c = &g->t->cfg;
    int64_t local = at + c->tz_offset_min * 60000LL;
    int64_t hour = local >= 0 ? local / 3600000 : -((-local + 3599999) / 3600000);
    int64_t minute = at >= 0 ? at / 60000 : -((-at + 59999) / 60000);
    uint64_t key = (uint64_t)hour << 32 ^ (uint64_t)minute;
    uint32_t *slot = tally__map_find(&g->hour_map, key, NULL, NULL, NULL);
    if (!slot) return NULL;
    if (*slot) return &AT(g->hours, hour_ctx, *slot - 1);
    tally_when w;
    tally__when(at, c->tz_offset_min, &w);
    int64_t day_x = w.day_end_s + c->ttl_day_s, hours_x = w.day_end_s + c->ttl_hour_s;
    int64_t minute_x = (minute + 1) * 60 + c->ttl_minute_s, month_x = w.month_end_s + c->ttl_month_s;
    hour_ctx h = { minute, w.year * 100 + w.month, (w.year * 100 + w.month) * 100 + w.day,
                   { 0, month_x, day_x > hours_x ? day_x : hours_x, minute_x },
                   { 0, month_x, day_x, minute_x }, hours_x, 0, w.hour };
    if (c->ttl_hour_s < c->ttl_day_s) {
        /* The hours of the day that ended more than the hour retention (and the
         * future allowance) before this day began go when this day's hash is
         * created: hours are kept at least ttl_hour_s after their day. */
        int64_t back = 1 + (c->ttl_hour_s + c->max_future_ms / 1000 + 86399) / 86400;
        tally__when(at - back * 86400000, c->tz_offset_min, &w);
        h.prune_ymd = (w.year * 100 + w.month) * 100 + w.day;
    }
    if (tally__vec_push(&g->hours, &h, sizeof h) < 0) return NULL;
    *slot = (uint32_t)g->hours.n;
    return &AT(g->hours, hour_ctx, g->hours.n - 1);
}

/* Tuples: kind 2 bits | entity 24 bits | period 3 bits | value 35 bits. */
static uint64_t tuple(unsigned kind, uint32_t entity, unsigned period, int64_t value) {
    return (uint64_t)kind << 62 | (uint64_t)(entity & 0xffffff) << 38 | (uint64_t)period << 35 |
           ((uint64_t)value & 0x7ffffffffull);
}

static int64_t period_value(const hour_ctx *h, unsigned period) {
    switch (period) {
    case P_MONTH: return h->ym;
    case P_DAY: return h->ymd;
    case P_MINUTE: return h->minute;
    default: return 0;
    }
}

/* Index of the record for tuple in (vec, map), added with `init` if new; -1 OOM. */
static int64_t record_of(tally_vec *v, tally_map *m, uint64_t key, const void *init, size_t size) {
    uint32_t *slot = tally__map_find(m, key, NULL, NULL, NULL);
    if (!slot) return -1;
    if (!*slot) {
        if (tally__vec_push(v, init, size) < 0) return -1;
        *slot = (uint32_t)v->n;
    }
    return *slot - 1;
}

/* The request id goes to the id hashes of the call's first entity: its slice
 * (checked and added) and the slice before (checked). */
static int add_ids(tally_agg *g, const tally_event *e, int64_t at, unsigned kind, uint32_t entity, size_t k) {
    id_rec r = { 0, 1, { 0 }, k };
    tally__id_field(e->key, e->request_id, kind != E_KEY, r.fp);
    const tally_config *c = &g->t->cfg;
    int64_t slice = at / (c->idempotency_s * 1000);
    /* Ids live in the slice of their event time until (slice + 2) windows; for a
     * late event that is already past, and EXPIREAT in the past deletes the id
     * at once: keep them a window from now at least. */
    int64_t x = (slice + 2) * c->idempotency_s, min_x = g->now_ms / 1000 + c->idempotency_s;
    for (int back = 0; back < 2 && slice - back >= 0; back++) {
        idhash_rec init = { tuple(kind, entity, P_IDS, slice - back), 0, 0 };
        int64_t h = record_of(&g->idhashes, &g->idhash_map, init.tuple, &init, sizeof init);
        if (h < 0) return TALLY_AGG_NOMEM;
        if (!back) AT(g->idhashes, idhash_rec, h).expiry = x > min_x ? x : min_x;
        r.hash = (uint32_t)h;
        r.add = !back;
        if (tally__vec_push(&g->ids, &r, sizeof r) < 0) return TALLY_AGG_NOMEM;
    }
    return TALLY_AGG_ADDED;
}

int tally__agg_add(tally_agg *g, const tally_event *e, int64_t at, int64_t cost, int64_t version, int mask,
                   int settle, size_t k) {
    int64_t d[6] = { 1, e->input_tokens, e->output_tokens, e->cache_create_tokens, e->cache_read_tokens, cost };
    int64_t tokens = d[1] + d[2] + d[3] + d[4];
    if (g->events.n) {
        for (int i = 0; i < 6; i++)
            if (g->total[i] + d[i] > TALLY_DELTA_MAX) return TALLY_AGG_FULL;
        if (g->total[6] + tokens > TALLY_DELTA_MAX) return TALLY_AGG_FULL;
    }
    int64_t key = intern(g, e->key), model = intern(g, e->model);
    int with_account = (mask & TALLY_AGG_ACCOUNT) && e->account && *e->account;
    int64_t account = with_account ? intern(g, e->account) : -1;
    hour_ctx *h = hour_of(g, at);
    if (key < 0 || model < 0 || !h || (with_account && account < 0))
        return TALLY_AGG_NOMEM;
    uint32_t shard = AT(g->strs, str, key).shard;
    uint32_t entity[3] = { (uint32_t)key, (uint32_t)account, shard };
    int has[3] = { mask & TALLY_AGG_KEY, with_account, mask & TALLY_AGG_SHARD };
    if (e->request_id && *e->request_id) {
        unsigned first = has[E_KEY] ? E_KEY : has[E_ACCOUNT] ? E_ACCOUNT : E_SHARD;
        int rc = add_ids(g, e, at, first, entity[first], k);
        if (rc != TALLY_AGG_ADDED) return rc;
    }
    hour_ctx hc = *h; /* the hour table may move while records are added */
    uint32_t key_hash[3] = { 0 }; /* per period: the key's bucket hash + 1 */
    for (size_t i = 0; i < PLAN_N; i++) {
        unsigned en = plan[i].entity, p = plan[i].period, f = plan[i].field;
        if (!has[en] || (f == F_PRICE && version < 0 && version != TALLY_UNPRICED)) continue;
        hash_rec hinit = { tuple(en, entity[en], p, period_value(&hc, p)), hc.x[p], hc.until[p],
                           p == P_DAY ? hc.hours_until : 0, 0 };
        int64_t hi = record_of(&g->hashes, &g->hash_map, hinit.tuple, &hinit, sizeof hinit);
        if (hi == (int64_t)g->hashes.n - 1 && p == P_DAY && hc.prune_ymd && !AT(g->hashes, hash_rec, hi).prune) {
            uint64_t target = tuple(en, entity[en], P_DAY, hc.prune_ymd);
            if (tally__vec_push(&g->prunes, &target, sizeof target) < 0) return TALLY_AGG_NOMEM;
            AT(g->hashes, hash_rec, hi).prune = (uint32_t)g->prunes.n;
        }
        uint32_t code = f == F_PRICE ? (version == TALLY_UNPRICED ? F_UNPRICED : F_PRICE | (uint32_t)version << 3)
                                     : f | (f >= F_HOUR ? (uint32_t)hc.hh << 3 : 0) |
                                           (f == F_MODEL || f == F_HOUR_MODEL ? (uint32_t)model << 8 : 0);
        field_rec finit = { (uint32_t)hi, code, { 0 } };
        int64_t fi = hi < 0 ? -1 : record_of(&g->fields, &g->field_map, (uint64_t)hi << 32 | code, &finit, sizeof finit);
        if (fi < 0) return TALLY_AGG_NOMEM;
        if (en == E_KEY && f == F_ALL && p <= P_DAY) key_hash[p] = (uint32_t)hi + 1;
        int64_t *sum = AT(g->fields, field_rec, fi).d;
        for (int m = 0; m < 6; m++) sum[m] += d[m];
    }
    if (has[E_SHARD]) {
        static const unsigned periods[3] = { P_TOTAL, P_MONTH, P_DAY };
        for (int b = 0; b < 3; b++) {
            group_rec ginit = { tuple(E_SHARD, shard, periods[b], period_value(&hc, periods[b])), hc.until[periods[b]] };
            int64_t gi = record_of(&g->groups, &g->group_map, ginit.tuple, &ginit, sizeof ginit);
            member_rec minit = { (uint32_t)gi, (uint32_t)key, key_hash[periods[b]], { 0 } };
            int64_t mi = gi < 0 ? -1
                                : record_of(&g->members, &g->member_map, (uint64_t)gi << 32 | (uint64_t)key, &minit,
                                            sizeof minit);
            if (mi < 0) return TALLY_AGG_NOMEM;
            int64_t *inc = AT(g->members, member_rec, mi).inc;
            inc[0] += d[5], inc[1] += tokens, inc[2] += 1;
        }
    }
    for (int i = 0; i < 6; i++) g->total[i] += d[i];
    g->total[6] += tokens;
    if (settle) {
        g->settle = e;
        g->settle_mask = mask;
    }
    if (at > g->latest_ms) g->latest_ms = at;
    return tally__vec_push(&g->events, &k, sizeof k) < 0 ? TALLY_AGG_NOMEM : TALLY_AGG_ADDED;
}

/* ------------------------------------------------------------- encoding */

static int same_delta(void *ctx, uint32_t i, const void *sought) {
    const field_rec *a = &AT(((tally_agg *)ctx)->fields, field_rec, AT(((tally_agg *)ctx)->deltas, uint32_t, i));
    return memcmp(a->d, sought, sizeof a->d) == 0;
}

/* Numbers the distinct deltas of the call, in first-use order: g->deltas
 * holds the field whose sums stand for each; each field's number goes to
 * delta_of. */
static int number(tally_agg *g, uint32_t *delta_of) {
    tally__map_clear(&g->delta_map);
    g->deltas.n = 0;
    for (size_t i = 0; i < g->fields.n; i++) {
        const int64_t *d = AT(g->fields, field_rec, i).d;
        uint32_t f = (uint32_t)i;
        uint32_t *slot = tally__map_find(&g->delta_map, tally__fnv64(TALLY_FNV64_BASIS, d, 6 * sizeof *d), same_delta, g, d);
        if (!slot || (!*slot && (tally__vec_push(&g->deltas, &f, sizeof f) < 0 || !(*slot = (uint32_t)g->deltas.n))))
            return -1;
        delta_of[i] = *slot;
    }
    return 0;
}

/* An hour bucket (its name starts with the hour's digits): written while the
 * hours of its day are kept, the others while the day is. */
static int is_hour(uint32_t code) {
    unsigned f = code & 7;
    return f == F_HOUR || f == F_HOUR_MODEL;
}

/* The entity part of a key ("<prefix>:v2:{k:<id>}:") of tuple t, into out. */
static size_t entity_of(const tally_agg *g, uint64_t t, char *out) {
    unsigned kind = (unsigned)(t >> 62);
    uint32_t e = (uint32_t)(t >> 38) & 0xffffff;
    if (kind == E_SHARD) return tally__shard_entity(g->t, e, out);
    const str *s = &AT(g->strs, str, e);
    return tally__entity(g->t, kind == E_KEY ? TALLY_ENTITY_KEY : TALLY_ENTITY_ACCOUNT, s->s, s->n, out);
}

/* The period of a tuple's value: month 202611, day 20261126. */
static tally_period period_of(unsigned p, int64_t v) {
    if (p == P_MONTH) return (tally_period){ TALLY_MONTH, (int)(v / 100), (int)(v % 100), 0, 0 };
    if (p == P_DAY) return (tally_period){ TALLY_DAY, (int)(v / 10000), (int)(v / 100 % 100), (int)(v % 100), 0 };
    return (tally_period){ TALLY_TOTAL, 0, 0, 0, 0 };
}

/* The key of tuple t (a bucket hash, an id hash), or with board >= 0 the
 * leaderboard by TALLY_RANK_<board> of its period: all built by keys.c. */
static int add_key(tally_agg *g, tally_args *a, uint64_t t, int board) {
    char base[TALLY_ENTITY_MAX], suffix[64];
    size_t n = entity_of(g, t, base), sn;
    unsigned p = (unsigned)(t >> 35) & 7;
    int64_t v = (int64_t)(t & 0x7ffffffffull);
    tally_period period = period_of(p, v);
    if (board >= 0) sn = tally__board_suffix(board, &period, suffix);
    else if (p == P_MINUTE) sn = tally__minute_suffix(v, suffix);
    else if (p == P_IDS) sn = tally__ids_suffix(v, suffix);
    else sn = tally__period_suffix(&period, suffix);
    return tally__args_cat(a, base, n, suffix, sn);
}

/* Writes the name with key k: a field ("_", "m:<model>", and for an hour "HH",
 * "HHm:<model>", as keys.c spells them) or a leaderboard member (the API key
 * id). */
static int add_name(tally_agg *g, tally_args *a, uint64_t k) {
    if (k >> 63) {
        const str *s = &AT(g->strs, str, (uint32_t)k);
        return tally__args_add(a, s->s, s->n);
    }
    unsigned f = (unsigned)k & 7, hh = (unsigned)(k >> 3) & 31;
    char pre[32];
    if (f == F_PRICE) return tally__args_add(a, pre, tally__field_price((int64_t)(k >> 3), pre));
    if (f == F_UNPRICED) return tally__args_str(a, TALLY_FIELD_UNPRICED);
    tally_period hour = { f >= F_HOUR ? TALLY_HOUR : TALLY_DAY, 0, 0, 0, (int)hh };
    size_t pn = tally__field_prefix(&hour, f == F_MODEL || f == F_HOUR_MODEL, pre);
    if (f == F_ALL || f == F_HOUR) return tally__args_add(a, pre, pn);
    const str *s = &AT(g->strs, str, (uint32_t)(k >> 8));
    return tally__args_cat(a, pre, pn, s->s, s->n);
}

static uint32_t field_owner(const void *g, size_t r) { return AT(((const tally_agg *)g)->fields, field_rec, r).hash; }
static uint32_t member_owner(const void *g, size_t r) { return AT(((const tally_agg *)g)->members, member_rec, r).group; }
static uint32_t id_owner(const void *g, size_t r) { return AT(((const tally_agg *)g)->ids, id_rec, r).hash; }

/* Per hash, its fields in the call's order: the day fields, then the hour
 * fields (wire.h); fn(g, field, ctx) for each. */
static int each_field(tally_agg *g, size_t h, int (*fn)(tally_agg *, uint32_t, void *), void *ctx) {
    const uint32_t *start = g->start.p, *order = g->order.p;
    int err = 0;
    for (int hour = 0; hour <= 1; hour++)
        for (uint32_t i = start[h]; i < start[h + 1]; i++)
            if (is_hour(AT(g->fields, field_rec, order[i]).code) == hour) err |= fn(g, order[i], ctx);
    return err;
}

static int put_delta(tally_agg *g, uint32_t f, void *v) { return tally__wire_num(v, AT(g->delta_of, uint32_t, f)); }
static int put_name(tally_agg *g, uint32_t f, void *a) { return add_name(g, a, AT(g->fields, field_rec, f).code); }

/* The call's numbers (wire.h) into g->text: head, deltas, hashes, boards,
 * id hashes. Each id hash's nadd is counted first: it decides the expiry.
 */
static int pack_numbers(tally_agg *g, int releases, size_t names) {
    tally_vec *v = &g->text;
    for (size_t j = 0; j < g->idhashes.n; j++) AT(g->idhashes, idhash_rec, j).nadd = 0;
    for (size_t i = 0; i < g->ids.n; i++) {
        const id_rec *r = &AT(g->ids, id_rec, i);
        AT(g->idhashes, idhash_rec, r->hash).nadd += (uint32_t)r->add;
    }
    const int64_t head[TALLY_WIRE_HEAD] = { g->latest_ms, g->t->cfg.max_future_ms, (int64_t)g->hashes.n,
                                            (int64_t)g->groups.n, (int64_t)g->idhashes.n, (int64_t)g->prunes.n,
                                            releases, (int64_t)g->deltas.n, (int64_t)names };
    int err = tally__wire_open(v);
    for (int i = 0; i < TALLY_WIRE_HEAD; i++) err |= tally__wire_num(v, head[i]);
    for (size_t d = 0; d < g->deltas.n; d++) {
        const int64_t *x = AT(g->fields, field_rec, AT(g->deltas, uint32_t, d)).d;
        for (int m = 0; m < TALLY_WIRE_DELTA; m++) err |= tally__wire_num(v, x[m]);
    }
    if (err || tally__group_by(&g->order, &g->start, g->hashes.n, g->fields.n, field_owner, g) < 0) return -1;
    for (size_t h = 0; h < g->hashes.n; h++) {
        const hash_rec *hr = &AT(g->hashes, hash_rec, h);
        const uint32_t *start = g->start.p, *order = g->order.p;
        int64_t hours = 0;
        for (uint32_t i = start[h]; i < start[h + 1]; i++) hours += is_hour(AT(g->fields, field_rec, order[i]).code);
        err |= tally__wire_num(v, hr->expiry) | tally__wire_num(v, hr->until) | tally__wire_num(v, hr->hours_until) |
               tally__wire_num(v, hr->prune) | tally__wire_num(v, start[h + 1] - start[h] - hours) |
               tally__wire_num(v, hours) | each_field(g, h, put_delta, v);
    }
    if (err || tally__group_by(&g->order, &g->start, g->groups.n, g->members.n, member_owner, g) < 0) return -1;
    const uint32_t *start = g->start.p, *order = g->order.p;
    for (size_t b = 0; b < g->groups.n; b++) {
        int sourced = 1;
        for (uint32_t i = start[b]; i < start[b + 1]; i++) sourced &= AT(g->members, member_rec, order[i]).source != 0;
        err |= tally__wire_num(v, sourced ? TALLY_WIRE_MODE_SOURCED : TALLY_WIRE_MODE_INC) |
               tally__wire_num(v, AT(g->groups, group_rec, b).expiry) | tally__wire_num(v, start[b + 1] - start[b]);
        for (uint32_t i = start[b]; i < start[b + 1]; i++) {
            const member_rec *m = &AT(g->members, member_rec, order[i]);
            if (sourced) err |= tally__wire_num(v, m->source);
            else
                for (int k = 0; k < 3; k++) err |= tally__wire_num(v, m->inc[k]);
        }
    }
    for (size_t j = 0; j < g->idhashes.n; j++) {
        const idhash_rec *ih = &AT(g->idhashes, idhash_rec, j);
        err |= tally__wire_num(v, ih->nadd ? ih->expiry : 0);
    }
    return err | tally__wire_close(v);
}

int tally__agg_encode(tally_agg *g, tally_args *a) {
    if (tally__vec_reserve(&g->delta_of, g->fields.n, sizeof(uint32_t)) < 0 || number(g, g->delta_of.p) < 0)
        return -1;
    int err = tally__args_script(a, TALLY_SCRIPT_RECORD);
    for (size_t h = 0; h < g->hashes.n; h++) err |= add_key(g, a, AT(g->hashes, hash_rec, h).tuple, -1);
    static const int boards[3] = { TALLY_RANK_COST, TALLY_RANK_TOKENS, TALLY_RANK_REQUESTS };
    for (size_t b = 0; b < g->groups.n; b++)
        for (int m = 0; m < 3; m++) err |= add_key(g, a, AT(g->groups, group_rec, b).tuple, boards[m]);
    for (size_t j = 0; j < g->idhashes.n; j++) err |= add_key(g, a, AT(g->idhashes, idhash_rec, j).tuple, -1);
    for (size_t j = 0; j < g->prunes.n; j++) err |= add_key(g, a, AT(g->prunes, uint64_t, j), -1);
    int releases = 0;
    if (g->settle) { /* the reservations hash and leases set of the key and the account */
        const tally_event *e = g->settle;
        char base[TALLY_ENTITY_MAX];
        size_t n;
        for (int en = E_KEY; en <= E_ACCOUNT; en++) {
            const char *id = en == E_KEY ? e->key : e->account;
            if (!(g->settle_mask & (en == E_KEY ? TALLY_AGG_KEY : TALLY_AGG_ACCOUNT)) || !id || !*id) continue;
            n = tally__entity(g->t, en == E_KEY ? TALLY_ENTITY_KEY : TALLY_ENTITY_ACCOUNT, id, strlen(id), base);
            err |= tally__add_held_keys(a, base, n);
            releases++;
        }
    }
    tally__args_end_keys(a);
    if (err || pack_numbers(g, releases, g->fields.n + g->members.n) < 0) return -1;
    err |= tally__args_add(a, g->text.p, g->text.n);
    err |= releases ? tally__add_reservation_member(a, g->settle->key, g->settle->request_id) : tally__args_add(a, "", 0);
    /* the names: every hash's fields, then the members, board by board (the
     * groupings of pack_numbers again: the counting sort is stable) */
    if (err || tally__group_by(&g->order, &g->start, g->hashes.n, g->fields.n, field_owner, g) < 0) return -1;
    for (size_t h = 0; h < g->hashes.n; h++) err |= each_field(g, h, put_name, a);
    if (err || tally__group_by(&g->order, &g->start, g->groups.n, g->members.n, member_owner, g) < 0) return -1;
    for (size_t i = 0; i < g->members.n; i++)
        err |= add_name(g, a, 1ull << 63 | AT(g->members, member_rec, AT(g->order, uint32_t, i)).key);
    /* the id lists last: their grouping stays for tally__agg_dup_event */
    if (err || tally__group_by(&g->order, &g->start, g->idhashes.n, g->ids.n, id_owner, g) < 0 ||
        tally__vec_reserve(&g->dup_events, g->ids.n, sizeof(size_t)) < 0)
        return -1;
    const uint32_t *start = g->start.p, *order = g->order.p;
    size_t *events = g->dup_events.p;
    for (size_t j = 0; j < g->idhashes.n; j++) {
        size_t w = start[j];
        /* the fingerprints to add first, then those only to check */
        for (int add = 1; add >= 0; add--) {
            g->text.n = 0;
            for (uint32_t i = start[j]; i < start[j + 1]; i++) {
                const id_rec *r = &AT(g->ids, id_rec, order[i]);
                if (r->add != add) continue;
                err |= tally__text_add(&g->text, r->fp, TALLY_ID_ENTRY);
                events[w++] = r->event;
            }
            err |= tally__args_add(a, g->text.p, g->text.n);
        }
    }
    g->text.n = 0;
    return err ? -1 : 0;
}

size_t tally__agg_dup_event(const tally_agg *g, long long j, long long p) {
    if (j < 1 || (size_t)j > g->idhashes.n || p == 0) return (size_t)-1;
    const idhash_rec *ih = &AT(g->idhashes, idhash_rec, j - 1);
    const uint32_t *start = g->start.p;
    size_t n = start[j] - start[j - 1], at = p > 0 ? (size_t)(p - 1) : ih->nadd + (size_t)(-p - 1);
    if ((p > 0 && (size_t)p > ih->nadd) || at >= n) return (size_t)-1;
    return ((const size_t *)g->dup_events.p)[start[j - 1] + at];
}
