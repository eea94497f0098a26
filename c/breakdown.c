/* breakdown.c -- the breakdowns by model, price version, account and API key
 * (tally_models, tally_models_range, tally_price_versions, tally__accounts,
 * tally__keys): the fields of one kind ("m:", "p:", "a:", "k:") of a key's
 * bucket hashes, or of
 * every shard's, over a period or the parts of a range, summed by name here.
 * The hashes are read in HSCAN pages (read.lua "scan"), each call given as many
 * hashes and fields as cfg.max_script_us allows, so no call holds Redis much
 * longer whatever the number of accounts, models or hours in a hash; a field
 * that a later page of its hash returns again (the hash grew between calls)
 * is counted once (docs/keys.md: what a paged read sees of writes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breakdown.h"
#include "keys.h"
#include "queries.h"
#include "table.h"
#include "timecal.h"

/* Redis time per field an HSCAN page returns, in nanoseconds: the command, the
 * Lua glue and the reply. INFO commandstats of read.lua's scan over 8 shards'
 * day hashes of 1,250 accounts each on a loaded 2-core machine gave 1.2-1.6 us
 * a field, and over 10^5 API keys' k: fields 1.7 us (tally-bench-report --top:
 * 169 ms for 100,000 fields; HSCAN copies each field and value before
 * replying: about twice HGETALL's cost; a field MATCH skips costs a quarter of
 * it). Reckoned at 2.5 us, so that a page takes about 60% of max_script_us, as
 * the record path's calls do (pace.c), and the noise of a busy host stays
 * under the bound. */
#define SCAN_NS_PER_FIELD 2500
/* Redis keeps a hash of up to hash-max-listpack-entries fields (128 by
 * default) as a listpack, and HSCAN answers such a hash whole whatever its
 * COUNT: a call reckons that many fields for each of its hashes. */
#define LISTPACK_FIELDS 128
/* COUNT's ceiling, the same as read.lua's. */
#define SCAN_COUNT_MAX 1000000

static int by_cost_then_name(const void *x, const void *y) {
    const tally_model_stats *a = x, *b = y;
    if (a->b.cost_nanos != b->b.cost_nanos) return a->b.cost_nanos < b->b.cost_nanos ? 1 : -1;
    return strcmp(a->model, b->model);
}

void tally_models_free(tally_model_stats *m, size_t n) {
    for (size_t i = 0; m && i < n; i++) free(m[i].model);
    free(m);
}

/* A breakdown being summed: its rows, and their names' index (name hash ->
 * row + 1), so that many names (accounts) merge in linear time. */
typedef struct {
    tally_vec v; /* of tally_model_stats */
    tally_map index;
} breakdown_rows;

typedef struct {
    const char *s;
    size_t n;
} name_ref;

static int same_row(void *ctx, uint32_t i, const void *sought) {
    const char *have = AT(((breakdown_rows *)ctx)->v, tally_model_stats, i).model;
    const name_ref *r = sought;
    return strlen(have) == r->n && memcmp(have, r->s, r->n) == 0;
}

/* Adds one bucket (its name: mn bytes at name) to the rows, merging equal
 * names. With `seen` (the rows a hash read in pages has given so far, by the
 * same names), a name that hash gave before is skipped. Returns
 * tally__add_packed()'s answer, or -2 when memory ran out. */
static int merge_row(breakdown_rows *l, tally_map *seen, const char *name, size_t mn, const redisReply *v) {
    name_ref ref = { name, mn };
    uint64_t h = tally__fnv64(TALLY_FNV64_BASIS, name, mn);
    uint32_t *slot = tally__map_find(&l->index, h, same_row, l, &ref);
    if (!slot) return -2;
    if (!*slot) {
        tally_model_stats row = { strndup(name, mn), { 0 } };
        if (!row.model || tally__vec_push(&l->v, &row, sizeof row) < 0) {
            free(row.model);
            return -2;
        }
        *slot = (uint32_t)l->v.n;
    }
    uint32_t row = *slot;
    if (seen) {
        uint32_t *was = tally__map_find(seen, h, same_row, l, &ref);
        if (!was) return -2;
        if (*was) return 0; /* a page again: this hash's field is in already */
        *was = row;
    }
    return tally__add_packed(&AT(l->v, tally_model_stats, row - 1).b, v->str, v->len);
}

/* What a breakdown is by: the fields it takes from the hashes it reads. */
enum { BY_MODEL, BY_VERSION, BY_ACCOUNT, BY_KEY };
static const char *const by_what[] = { "model", "price-version", "account", "key" };
static const char *const by_field[] = { TALLY_FIELD_MODEL, TALLY_FIELD_PRICE, TALLY_FIELD_ACCOUNT, TALLY_FIELD_KEY };

/* The name inside a field of kind `by`, or NULL when the field is another's. */
static const char *name_in(int by, const char *field, size_t n, size_t *mn) {
    switch (by) {
    case BY_VERSION: return tally__field_price_version(field, n, mn);
    case BY_ACCOUNT: return tally__field_account(field, n, mn);
    case BY_KEY: return tally__field_key(field, n, mn);
    default: return tally__field_model(field, n, mn);
    }
}

/* One hash being read: its period and shard (the key's own hash: shard 0),
 * the cursor of its next page, whether it is done, and once it takes more than
 * one page the rows its fields went to. */
typedef struct {
    const tally_period *p;
    unsigned shard;
    int started, done;
    char cursor[24];
    tally_map seen;
} hash_read;

/* A breakdown's read: its hashes, of one key (NULL: the shards') and kind. */
typedef struct {
    const char *key;
    int by;
    hash_read *h;
    size_t nh, first; /* h[first] is the first hash not done */
    breakdown_rows rows;
} breakdown_read;

/* Adds the key of hash h to a. 0, or -1 on OOM. */
static int add_hash_key(tally *t, tally_args *a, const char *key, const hash_read *h) {
    char base[TALLY_ENTITY_MAX], suffix[24];
    size_t sn = tally__period_suffix(h->p, suffix);
    size_t bn = key ? tally__entity(&t->schema, TALLY_ENTITY_KEY, key, strlen(key), base)
                    : tally__shard_entity(&t->schema, h->shard, base);
    return tally__args_cat(a, base, bn, suffix, sn);
}

/* Takes one hash's page (its part of a scan reply: {cursor, field, value,
 * ...}) into the rows. */
static int take_page(tally *t, breakdown_read *r, hash_read *h, const redisReply *page) {
    if (page->type != REDIS_REPLY_ARRAY || page->elements % 2 != 1 || !tally__reply_fits(page, page->elements, "s") ||
        page->element[0]->len >= sizeof h->cursor)
        return tally__fail(t, TALLY_ESCRIPT, "read.lua answered something unexpected");
    memcpy(h->cursor, page->element[0]->str, page->element[0]->len + 1);
    int last = strcmp(h->cursor, "0") == 0, rc = TALLY_OK;
    tally_map *seen = h->started || !last ? &h->seen : NULL; /* one page: no field twice */
    h->started = 1;
    for (size_t i = 1; rc == TALLY_OK && i + 1 < page->elements; i += 2) {
        const redisReply *f = page->element[i], *v = page->element[i + 1];
        size_t mn;
        const char *name = name_in(r->by, f->str, f->len, &mn);
        if (!name) continue; /* MATCH's pattern matched a field of another shape */
        int added = merge_row(&r->rows, seen, name, mn, v);
        if (added == -2) rc = tally__oom(t);
        else if (added) {
            char where[40];
            snprintf(where, sizeof where, added < 0 ? "a %s's bucket" : "a %s's merged buckets", by_what[r->by]);
            rc = tally__packed_failed(t, added, where);
        }
    }
    if (last) {
        h->done = 1;
        tally__map_free(&h->seen);
    }
    return rc;
}

/* One call: the next page of each of the first hashes not done, as many hashes
 * (each reckoned at least LISTPACK_FIELDS) and fields as max_script_us allows. */
static int scan_call(tally *t, breakdown_read *r) {
    int64_t budget = t->cfg.max_script_us * 1000 / SCAN_NS_PER_FIELD;
    size_t pending = 0;
    for (size_t i = r->first; i < r->nh; i++) pending += !r->h[i].done;
    size_t k = budget / LISTPACK_FIELDS < 1 ? 1 : (size_t)(budget / LISTPACK_FIELDS);
    if (k > pending) k = pending;
    int64_t count = budget / (int64_t)k;
    count = count < 1 ? 1 : count > SCAN_COUNT_MAX ? SCAN_COUNT_MAX : count;
    size_t *pick = malloc(k * sizeof *pick);
    int *chunk = malloc((k + 1) * sizeof *chunk);
    tally_args *a = &t->args;
    int err = !pick || !chunk || tally__start_read(t, a, TALLY_SCRIPT_READ);
    for (size_t i = r->first, j = 0; j < k && !err; i++)
        if (!r->h[i].done) {
            chunk[j] = 2; /* cursor, count */
            pick[j++] = i;
            err = add_hash_key(t, a, r->key, &r->h[i]);
        }
    if (!err) tally__args_end_keys(a);
    err = err || tally__args_str(a, "scan") || tally__args_str(a, by_field[r->by]);
    for (size_t j = 0; j < k && !err; j++)
        err = tally__args_str(a, r->h[pick[j]].cursor) || tally__args_i64(a, count);
    tally_keyed got = { 0 };
    int rc = err ? tally__oom(t) : tally__eval_keyed(t, a, 2, chunk, &got);
    for (size_t j = 0; rc == TALLY_OK && j < k; j++) rc = take_page(t, r, &r->h[pick[j]], got.per_key[j]);
    tally__keyed_free(&got);
    free(pick);
    free(chunk);
    while (r->first < r->nh && r->h[r->first].done) r->first++;
    return rc;
}

/* The breakdown by `by` (model, price version, account, API key) of one key,
 * or of every key (the shards' hashes), over np periods: tally_models,
 * tally_price_versions, tally_models_range, tally__accounts and tally__keys. */
static int breakdown(tally *t, const char *key, const tally_period *p, int np, int by, tally_model_stats **out,
                     size_t *n) {
    *out = NULL;
    *n = 0;
    int scope = key ? TALLY_SCOPE_KEY : TALLY_SCOPE_GLOBAL;
    int rc = tally__check_scope(t, scope, key);
    if (rc != TALLY_OK) return rc;
    if (p->kind == TALLY_HOUR)
        return tally__fail(t, TALLY_EINVAL, "the per-%s breakdown is kept for total, month and day", by_what[by]);
    size_t per = key ? 1 : (size_t)t->cfg.shards;
    breakdown_read r = { .key = key, .by = by, .h = calloc((size_t)np * per, sizeof *r.h), .nh = (size_t)np * per };
    if (!r.h) return tally__oom(t);
    for (size_t i = 0; i < r.nh; i++) {
        r.h[i].p = &p[i / per];
        r.h[i].shard = (unsigned)(i % per);
        strcpy(r.h[i].cursor, "0");
    }
    while (rc == TALLY_OK && r.first < r.nh) rc = scan_call(t, &r);
    for (size_t i = 0; i < r.nh; i++) tally__map_free(&r.h[i].seen);
    free(r.h);
    tally__map_free(&r.rows.index);
    if (rc != TALLY_OK) {
        tally_models_free(r.rows.v.p, r.rows.v.n);
        return rc;
    }
    if (r.rows.v.n) qsort(r.rows.v.p, r.rows.v.n, sizeof(tally_model_stats), by_cost_then_name);
    *out = r.rows.v.p;
    *n = r.rows.v.n;
    return tally__ok(t);
}

int tally_models(tally *t, const char *key, const tally_period *p, tally_model_stats **out, size_t *n) {
    return breakdown(t, key, p, 1, BY_MODEL, out, n);
}

int tally_models_range(tally *t, const char *key, const tally_range *r, tally_model_stats **out, size_t *n) {
    *out = NULL;
    *n = 0;
    tally_period p[TALLY_RANGE_MAX_PARTS];
    int np = tally__check_scope(t, key ? TALLY_SCOPE_KEY : TALLY_SCOPE_GLOBAL, key) == TALLY_OK ? tally__range_parts(t, r, p) : -1;
    return np < 0 ? t->err : breakdown(t, key, p, np, BY_MODEL, out, n);
}

int tally__accounts(tally *t, const tally_period *p, const tally_range *r, tally_model_stats **out, size_t *n) {
    *out = NULL;
    *n = 0;
    tally_period parts[TALLY_RANGE_MAX_PARTS];
    int np = 1;
    if (r && (np = tally__range_parts(t, r, parts)) < 0) return t->err;
    const tally_period *first = r ? &parts[0] : p;
    int64_t earliest = first->kind == TALLY_TOTAL ? 0
                                                  : (first->year * 100 + first->month) * 100 + (first->kind == TALLY_MONTH ? 1 : first->day);
    if (first->kind != TALLY_HOUR && tally__accounts_complete(t, earliest) != TALLY_OK) return t->err;
    return breakdown(t, NULL, r ? parts : p, np, BY_ACCOUNT, out, n);
}

int tally__keys(tally *t, const tally_period *p, const tally_range *r, tally_model_stats **out, size_t *n) {
    *out = NULL;
    *n = 0;
    tally_period parts[TALLY_RANGE_MAX_PARTS];
    int np = 1;
    if (r && (np = tally__range_parts(t, r, parts)) < 0) return t->err;
    return breakdown(t, NULL, r ? parts : p, np, BY_KEY, out, n);
}

int tally_price_versions(tally *t, const char *key, const tally_period *p, tally_model_stats **out, size_t *n) {
    if (!key) return *out = NULL, *n = 0, tally__fail(t, TALLY_EINVAL, "the per-price-version breakdown is per key");
    return breakdown(t, key, p, 1, BY_VERSION, out, n);
}
