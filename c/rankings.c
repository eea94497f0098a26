/* rankings.c -- rankings of API keys, models and accounts over a period or a
 * range of days (tally_top, tally_top_of, tally_top_range), and the lists of
 * those active in them (tally_active, tally_active_range). All come from
 * buckets: the models' (tally_models), and the accounts' and the keys'
 * fields of the shards' hashes (tally__accounts, tally__keys: "a:<account>"
 * and "k:<key id>", written by the same per-event write as the models'),
 * read in bounded pages, summed over the parts of a range and ranked here.
 * No per-event write serves these reads but the shards' hashes' own. */
#include <stdlib.h>
#include <string.h>

#include "breakdown.h"
#include "queries.h"
#include "table.h"

/* One ranked name and its value. */
typedef struct {
    char *name;
    int64_t sum;
} member;

static void members_free(tally_vec *v) {
    for (size_t i = 0; i < v->n; i++) free(((member *)v->p)[i].name);
    free(v->p);
}

void tally_top_free(tally_rank *r, size_t count) {
    for (size_t i = 0; r && i < count; i++) free(r[i].key);
    free(r);
}

static int by_sum_then_name(const void *x, const void *y) {
    const member *a = x, *b = y;
    if (a->sum != b->sum) return a->sum < b->sum ? 1 : -1;
    return strcmp(a->name, b->name);
}

static int by_name(const void *x, const void *y) {
    return strcmp(((const member *)x)->name, ((const member *)y)->name);
}

/* The answer: members [from, from + n) of v (sorted), their names moved out. */
static int answer(tally *t, tally_vec *v, size_t from, size_t n, tally_rank **out, size_t *count) {
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out) return tally__oom(t);
    member *m = (member *)v->p + from;
    for (size_t i = 0; i < n; i++) {
        (*out)[i] = (tally_rank){ m[i].name, m[i].sum };
        m[i].name = NULL;
    }
    *count = n;
    return tally__ok(t);
}

/* The keys, models or accounts (`of`) of period p or range r (tally__keys,
 * tally_models, tally_models_range, tally__accounts) as members valued by
 * `by`, into ms. */
static int read_buckets(tally *t, int of, int by, const tally_period *p, const tally_range *r, tally_vec *ms) {
    tally_model_stats *m;
    size_t n;
    int rc = of == TALLY_RANK_OF_KEY       ? tally__keys(t, p, r, &m, &n)
             : of == TALLY_RANK_OF_ACCOUNT ? tally__accounts(t, p, r, &m, &n)
             : r                           ? tally_models_range(t, NULL, r, &m, &n)
                                           : tally_models(t, NULL, p, &m, &n);
    if (rc != TALLY_OK) return rc;
    if (tally__vec_reserve(ms, n, sizeof(member))) rc = tally__oom(t);
    for (size_t i = 0; i < n && rc == TALLY_OK; i++) {
        const tally_bucket *b = &m[i].b;
        member e = { m[i].model, by == TALLY_RANK_COST     ? b->cost_nanos
                                 : by == TALLY_RANK_TOKENS ? b->total_tokens
                                                           : b->requests };
        m[i].model = NULL;
        tally__vec_push(ms, &e, sizeof e); /* reserved */
    }
    tally_models_free(m, n);
    return rc;
}

/* What the rankings and lists read: `of` over one period p, or over range r;
 * into ms, valued by `by`. */
static int collect(tally *t, int of, int by, const tally_period *p, const tally_range *r, tally_vec *ms) {
    if (of != TALLY_RANK_OF_KEY && of != TALLY_RANK_OF_MODEL && of != TALLY_RANK_OF_ACCOUNT)
        return tally__fail(t, TALLY_EINVAL, "rank or list API keys (TALLY_RANK_OF_KEY), models (TALLY_RANK_OF_MODEL) "
                                            "or accounts (TALLY_RANK_OF_ACCOUNT)");
    if (p && p->kind == TALLY_HOUR)
        return tally__fail(t, TALLY_EINVAL, "key, model and account buckets are kept for total, month and day");
    return read_buckets(t, of, by, p, r, ms);
}

static int top(tally *t, int of, int by, const tally_period *p, const tally_range *r, size_t n, tally_rank **out,
               size_t *count) {
    *out = NULL;
    *count = 0;
    if (by < TALLY_RANK_COST || by > TALLY_RANK_REQUESTS)
        return tally__fail(t, TALLY_EINVAL, "rank by cost, tokens or requests");
    if (n < 1 || n > TALLY_TOP_MAX) return tally__fail(t, TALLY_EINVAL, "n must be from 1 to %d", TALLY_TOP_MAX);
    tally_vec ms = { 0 };
    int rc = collect(t, of, by, p, r, &ms);
    if (rc == TALLY_OK) {
        if (ms.n) qsort(ms.p, ms.n, sizeof(member), by_sum_then_name);
        rc = answer(t, &ms, 0, ms.n < n ? ms.n : n, out, count);
    }
    members_free(&ms);
    return rc;
}

int tally_top(tally *t, int by, const tally_period *p, size_t n, tally_rank **out, size_t *count) {
    return top(t, TALLY_RANK_OF_KEY, by, p, NULL, n, out, count);
}

int tally_top_of(tally *t, int of, int by, const tally_period *p, size_t n, tally_rank **out, size_t *count) {
    return top(t, of, by, p, NULL, n, out, count);
}

int tally_top_range(tally *t, int of, int by, const tally_range *r, size_t n, tally_rank **out, size_t *count) {
    return top(t, of, by, NULL, r, n, out, count);
}

static int active(tally *t, int of, const tally_period *p, const tally_range *r, const char *after, size_t limit,
                  tally_rank **out, size_t *count, int *more) {
    *out = NULL;
    *count = 0;
    *more = 0;
    if (limit < 1 || limit > TALLY_ACTIVE_MAX)
        return tally__fail(t, TALLY_EINVAL, "limit must be from 1 to %d", TALLY_ACTIVE_MAX);
    tally_vec ms = { 0 };
    int rc = collect(t, of, TALLY_RANK_REQUESTS, p, r, &ms);
    if (rc == TALLY_OK) {
        if (ms.n) qsort(ms.p, ms.n, sizeof(member), by_name);
        size_t from = 0;
        while (after && from < ms.n && strcmp(((member *)ms.p)[from].name, after) <= 0) from++;
        size_t n = ms.n - from < limit ? ms.n - from : limit;
        *more = from + n < ms.n;
        rc = answer(t, &ms, from, n, out, count);
    }
    members_free(&ms);
    return rc;
}

int tally_active(tally *t, int of, const tally_period *p, const char *after, size_t limit, tally_rank **out,
                 size_t *count, int *more) {
    return active(t, of, p, NULL, after, limit, out, count, more);
}

int tally_active_range(tally *t, int of, const tally_range *r, const char *after, size_t limit, tally_rank **out,
                       size_t *count, int *more) {
    return active(t, of, NULL, r, after, limit, out, count, more);
}
