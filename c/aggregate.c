/* aggregate.c -- a batch's events merged into one call of lua/record.lua:
 * every distinct bucket field (hash + field) with the sum of the deltas of the
 * events that touch it, and the request-id fingerprints to check and add, per id hash. Strings are
 * interned once per call and buckets are found by small integer tuples, so an
 * event costs a few dozen hash-table probes; encode.c writes the call (key
 * names once per distinct hash). Pure: no I/O.
 *
 * The schema (which buckets an event touches) is the table `plan` below; the
 * key and field names follow docs/keys.md. */
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "bounds.h"
#include "keys.h"
#include "merge.h"
#include "table.h"
#include "timecal.h"


/* Every bucket field an event touches, per entity: docs/keys.md, schema v3
 * (the hours of a day are fields of the day's hash). A key's own hashes hold
 * no "_": its bucket of a period is the "k:<id>" field of its shard's hash (the
 * sum of its "m:" fields, which every event feeds, would be the same). An
 * account's total and month are the sums of its a: fields in the shards'
 * hashes, so it has a hash of its own only per day (its day and hours are not
 * derivable). */
static const struct { unsigned char entity, period, field; } plan[] = {
    { E_KEY, P_TOTAL, F_MODEL },   { E_KEY, P_MONTH, F_MODEL },   { E_KEY, P_DAY, F_MODEL },
    { E_KEY, P_DAY, F_HOUR },
    { E_ACCOUNT, P_DAY, F_ALL },   { E_ACCOUNT, P_DAY, F_HOUR },  { E_SHARD, P_TOTAL, F_ALL },
    { E_SHARD, P_TOTAL, F_MODEL }, { E_SHARD, P_MONTH, F_ALL },   { E_SHARD, P_MONTH, F_MODEL },
    { E_SHARD, P_DAY, F_ALL },     { E_SHARD, P_DAY, F_MODEL },   { E_SHARD, P_DAY, F_HOUR },
    { E_SHARD, P_DAY, F_HOUR_MODEL }, { E_SHARD, P_MINUTE, F_ALL },
    { E_KEY, P_TOTAL, F_PRICE },   { E_KEY, P_MONTH, F_PRICE },   { E_KEY, P_DAY, F_PRICE },
    { E_SHARD, P_TOTAL, F_ACCOUNT }, { E_SHARD, P_MONTH, F_ACCOUNT }, { E_SHARD, P_DAY, F_ACCOUNT },
    { E_SHARD, P_TOTAL, F_KEY },   { E_SHARD, P_MONTH, F_KEY },   { E_SHARD, P_DAY, F_KEY },
};
#define PLAN_N (sizeof plan / sizeof plan[0])

/* A local hour's periods; per period the hash's expiry and how long its
 * fields may be written (until), the hours' own until, and the day whose hours
 * go when this day's hash is created (0: none). */
typedef struct { int64_t minute, ym, ymd, x[4], until[4], hours_until, prune_ymd; int hh; } hour_ctx;

tally_agg *tally__agg_new(void) { return calloc(1, sizeof(tally_agg)); }

void tally__agg_free(tally_agg *g) {
    if (!g) return;
    tally_vec *v[] = { &g->strs, &g->hours, &g->hashes, &g->fields, &g->idhashes, &g->ids, &g->events, &g->prunes, &g->order, &g->start, &g->deltas, &g->delta_of,
                       &g->dup_events, &g->text };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) free(v[i]->p);
    tally_map *m[] = { &g->str_map, &g->hour_map, &g->hash_map, &g->field_map, &g->idhash_map, &g->delta_map };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) tally__map_free(m[i]);
    free(g);
}

void tally__agg_begin(tally_agg *g, const tally_schema *schema, int64_t now_ms) {
    g->schema = schema;
    g->now_ms = now_ms;
    g->latest_ms = 0;
    memset(g->total, 0, sizeof g->total);
    g->strs.n = g->hours.n = g->hashes.n = g->fields.n = 0;
    g->idhashes.n = g->ids.n = g->events.n = g->prunes.n = 0;
    g->settle = NULL;
    g->timed = 1;
    tally_map *m[] = { &g->str_map, &g->hour_map, &g->hash_map, &g->field_map, &g->idhash_map };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) tally__map_clear(m[i]);
}

void tally__agg_timed(tally_agg *g, int timed) { g->timed = timed; }

size_t tally__agg_count(const tally_agg *g) { return g->events.n; }

size_t tally__agg_units(const tally_agg *g) {
    return 4 * g->fields.n + 16 * g->hashes.n + g->ids.n + 16 * g->idhashes.n;
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
        k.shard = tally__shard_of(g->schema, s, k.n);
        if (tally__vec_push(&g->strs, &k, sizeof k) < 0) return -1;
        *slot = (uint32_t)g->strs.n;
    }
    return *slot - 1;
}

/* The call's context for the local hour of at_ms: periods and expiries. */
static hour_ctx *hour_of(tally_agg *g, int64_t at) {
    const tally_schema *c = g->schema;
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
    const tally_schema *c = g->schema;
    int64_t slice = at / (c->idempotency_s * 1000);
    /* Ids live in the slice of their event time until (slice + 2) windows; for a
     * late event that is already past, and EXPIREAT in the past deletes the id
     * at once: keep them a window from now at least. */
    int64_t x = (slice + 2) * c->idempotency_s, min_x = g->now_ms / 1000 + c->idempotency_s;
    for (int back = 0; back < 2 && slice - back >= 0; back++) {
        idhash_rec init = { tally__tuple(kind, entity, P_IDS, slice - back), 0, 0 };
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
    /* an event's account has its own hashes, and a field in its key's shard's
     * hashes (the per-period lists of accounts: docs/keys.md), as the key has */
    int named = e->account && *e->account && (mask & (TALLY_AGG_ACCOUNT | TALLY_AGG_SHARD));
    int with_account = named && (mask & TALLY_AGG_ACCOUNT);
    int64_t account = named ? intern(g, e->account) : -1;
    hour_ctx *h = hour_of(g, at);
    if (key < 0 || model < 0 || !h || (named && account < 0)) return TALLY_AGG_NOMEM;
    uint32_t shard = AT(g->strs, str, key).shard;
    uint32_t entity[3] = { (uint32_t)key, (uint32_t)account, shard };
    int has[3] = { mask & TALLY_AGG_KEY, with_account, mask & TALLY_AGG_SHARD };
    if (e->request_id && *e->request_id) {
        unsigned first = has[E_KEY] ? E_KEY : has[E_ACCOUNT] ? E_ACCOUNT : E_SHARD;
        int rc = add_ids(g, e, at, first, entity[first], k);
        if (rc != TALLY_AGG_ADDED) return rc;
    }
    hour_ctx hc = *h; /* the hour table may move while records are added */
    for (size_t i = 0; i < PLAN_N; i++) {
        unsigned en = plan[i].entity, p = plan[i].period, f = plan[i].field;
        if (!has[en] || (f == F_PRICE && version < 0 && version != TALLY_UNPRICED) || (f == F_ACCOUNT && account < 0))
            continue;
        hash_rec hinit = { tally__tuple(en, entity[en], p, period_value(&hc, p)), hc.x[p], hc.until[p],
                           p == P_DAY ? hc.hours_until : 0, 0 };
        int64_t hi = record_of(&g->hashes, &g->hash_map, hinit.tuple, &hinit, sizeof hinit);
        if (hi == (int64_t)g->hashes.n - 1 && p == P_DAY && hc.prune_ymd && !AT(g->hashes, hash_rec, hi).prune) {
            uint64_t target = tally__tuple(en, entity[en], P_DAY, hc.prune_ymd);
            if (tally__vec_push(&g->prunes, &target, sizeof target) < 0) return TALLY_AGG_NOMEM;
            AT(g->hashes, hash_rec, hi).prune = (uint32_t)g->prunes.n;
        }
        uint32_t code = f == F_PRICE && version == TALLY_UNPRICED
                            ? F_UNPRICED
                            : tally__field_code(f, hc.hh, (uint32_t)(f == F_ACCOUNT ? account : f == F_KEY ? key : model),
                                                version);
        field_rec finit = { (uint32_t)hi, code, { 0 } };
        int64_t fi = hi < 0 ? -1 : record_of(&g->fields, &g->field_map, (uint64_t)hi << 32 | code, &finit, sizeof finit);
        if (fi < 0) return TALLY_AGG_NOMEM;
        int64_t *sum = AT(g->fields, field_rec, fi).d;
        for (int m = 0; m < 6; m++) sum[m] += d[m];
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

