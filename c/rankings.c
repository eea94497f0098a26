/* rankings.c -- rankings of API keys, models and accounts over a period or a
 * range of days (tally_top_of, tally_top_range), and the lists of those
 * active in them (tally_active, tally_active_range). Models and accounts come
 * from their buckets in the shards' hashes (tally_models, tally__accounts:
 * an account's field in a shard's hash is written by the same per-event
 * write as the model's). Keys over a range,
 * and the active keys, come from the shards' leaderboards of the range's days
 * and months (docs/keys.md), each read whole with top.lua's "page" mode and
 * summed here: a key lives in one shard, so its sum over a range is the sum of
 * its scores in that shard's boards. No per-event write serves these reads
 * but the leaderboards' and the shards' hashes' own. */
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "breakdown.h"
#include "exec.h"
#include "keys.h"
#include "queries.h"
#include "table.h"
#include "timecal.h"

/* Redis time per member of a board page (ZRANGE WITHSCORES, the Lua table and
 * the reply), in microseconds: INFO commandstats on boards of 10^3 and 10^4
 * members on a loaded 2-core machine gave 1-2 (docs/keys.md, Reading the
 * leaderboards whole); 4 keeps calls near cfg.max_script_us under load. A page
 * holds cfg.max_script_us of members, shared by the boards of one call. */
#define READ_US_PER_MEMBER 4
#define PAGE_MIN 16

/* One key of the boards read: its sum over the boards so far, and its score in
 * the last board of its shard that held it (part: the range part), so a member
 * read again from the same board, after its score grew, counts once. */
typedef struct {
    char *name;
    int64_t sum, last;
    int part;
} member;

typedef struct {
    tally_vec v; /* member */
    tally_map m; /* name hash -> index + 1 */
} members;

static void members_free(members *ms) {
    for (size_t i = 0; i < ms->v.n; i++) free(((member *)ms->v.p)[i].name);
    free(ms->v.p);
    tally__map_free(&ms->m);
}

static int same_name(void *ctx, uint32_t i, const void *sought) {
    const member *e = (const member *)((members *)ctx)->v.p + i;
    const redisReply *r = sought;
    return strlen(e->name) == r->len && memcmp(e->name, r->str, r->len) == 0;
}

/* A score as Redis prints it (a double: digits, or an exponent past 10^17):
 * the int64 it holds, or -1 when it is not a score. */
static int64_t score_of(const redisReply *r) {
    char *end;
    double d = strtod(r->str, &end);
    if (end == r->str || *end || !(d >= 0)) return -1;
    return d >= 9.2e18 ? INT64_MAX : (int64_t)d;
}

/* Adds a member's score in the board of `part`. 0; -1 out of memory; -2 the
 * sum passes 2^63-1. */
static int add_member(members *ms, int part, const redisReply *name, int64_t score) {
    uint32_t *slot = tally__map_find(&ms->m, tally__fnv64(TALLY_FNV64_BASIS, name->str, name->len), same_name, ms, name);
    if (!slot) return -1;
    if (!*slot) {
        member e = { strndup(name->str, name->len), 0, 0, -1 };
        if (!e.name || tally__vec_push(&ms->v, &e, sizeof e)) {
            free(e.name);
            return -1;
        }
        *slot = (uint32_t)ms->v.n;
    }
    member *e = (member *)ms->v.p + (*slot - 1);
    int64_t add = e->part == part ? score - e->last : score;
    e->part = part;
    e->last = score;
    return __builtin_add_overflow(e->sum, add, &e->sum) ? -2 : 0;
}

/* Where a shard's reading stands: the part whose board it reads, and the
 * cursor in it (the score and member that ended the last page; "-" at first). */
typedef struct {
    int part;
    char score[40], member[TALLY_ID_MAX + 1];
    size_t member_len;
} board_cursor;

/* Takes the page of shard cursor c (r: top.lua's {done, member, score, ...}) into ms. */
static int take_page(tally *t, int by, const redisReply *r, board_cursor *c, members *ms) {
    int shape = r->type == REDIS_REPLY_ARRAY && r->elements % 2 == 1;
    for (size_t k = 0; shape && k < r->elements; k++) shape = r->element[k]->type == REDIS_REPLY_STRING;
    for (size_t k = 1; shape && k < r->elements; k += 2) {
        int64_t score = score_of(r->element[k + 1]);
        int added = score < 0 ? 0 : add_member(ms, c->part, r->element[k], score);
        if (added == -1) return tally__oom(t);
        if (added == -2)
            return tally__fail(t, TALLY_ERANGE, "sum overflows: a key's %s over the range passes 2^63-1",
                               by == TALLY_RANK_COST ? "cost" : by == TALLY_RANK_TOKENS ? "tokens" : "requests");
        shape = score >= 0;
    }
    if (shape && r->element[0]->len == 1 && r->element[0]->str[0] == '1') {
        c->part++;
        strcpy(c->score, "-");
        c->member_len = 0;
        return TALLY_OK;
    }
    const redisReply *m = shape && r->elements >= 3 ? r->element[r->elements - 2] : NULL;
    const redisReply *sc = m ? r->element[r->elements - 1] : NULL;
    if (!m || m->len > TALLY_ID_MAX || sc->len >= sizeof c->score)
        return tally__fail(t, TALLY_ESCRIPT, "top.lua answered something unexpected");
    memcpy(c->score, sc->str, sc->len + 1);
    memcpy(c->member, m->str, m->len);
    c->member_len = m->len;
    return TALLY_OK;
}

/* Reads the boards by `by` of np periods p (every shard's) into ms: per call,
 * one page of the current board of each shard not yet done, a shard's boards
 * one after the other (so a key, which lives in one shard, meets its boards
 * in turn: add_member's dedup). */
static int read_boards(tally *t, int by, const tally_period *p, int np, members *ms) {
    int shards = t->cfg.shards, rc = TALLY_OK;
    board_cursor *c = calloc((size_t)shards, sizeof *c);
    int *in = malloc((size_t)shards * sizeof *in), *chunk = malloc(((size_t)shards + 1) * sizeof *chunk);
    if (!c || !in || !chunk) rc = tally__oom(t);
    for (int s = 0; rc == TALLY_OK && s < shards; s++) strcpy(c[s].score, "-"), chunk[s] = 2;
    while (rc == TALLY_OK) {
        int nb = 0;
        for (int s = 0; s < shards; s++)
            if (c[s].part < np) in[nb++] = s;
        if (!nb) break;
        int64_t count = t->cfg.max_script_us / ((int64_t)nb * READ_US_PER_MEMBER);
        count = count < PAGE_MIN ? PAGE_MIN : count > TALLY_BOARD_PAGE_MAX ? TALLY_BOARD_PAGE_MAX : count;
        tally_args *a = &t->args;
        int err = tally__start_read(t, a, TALLY_SCRIPT_TOP);
        for (int i = 0; i < nb && !err; i++) {
            char base[TALLY_ENTITY_MAX], suffix[32];
            size_t bn = tally__shard_entity(&t->schema, (unsigned)in[i], base);
            err = tally__args_cat(a, base, bn, suffix, tally__board_suffix(by, &p[c[in[i]].part], suffix));
        }
        tally__args_end_keys(a);
        err = err || tally__args_str(a, "page") || tally__args_i64(a, count);
        for (int i = 0; i < nb && !err; i++)
            err = tally__args_str(a, c[in[i]].score) || tally__args_cat(a, c[in[i]].member, c[in[i]].member_len, "", 0);
        if (err) {
            rc = tally__oom(t);
            break;
        }
        tally_keyed got;
        if ((rc = tally__eval_keyed(t, a, 2, chunk, &got)) != TALLY_OK) break;
        for (int i = 0; i < nb && rc == TALLY_OK; i++) rc = take_page(t, by, got.per_key[i], &c[in[i]], ms);
        tally__keyed_free(&got);
    }
    free(c);
    free(in);
    free(chunk);
    return rc;
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

/* The models or accounts (`of`) of period p or range r (tally_models,
 * tally_models_range, tally__accounts) as members valued by `by`. */
static int read_buckets(tally *t, int of, int by, const tally_period *p, const tally_range *r, members *ms) {
    tally_model_stats *m;
    size_t n;
    int rc = of == TALLY_RANK_OF_ACCOUNT ? tally__accounts(t, p, r, &m, &n)
             : r                         ? tally_models_range(t, NULL, r, &m, &n)
                                         : tally_models(t, NULL, p, &m, &n);
    if (rc != TALLY_OK) return rc;
    if (tally__vec_reserve(&ms->v, n, sizeof(member))) rc = tally__oom(t);
    for (size_t i = 0; i < n && rc == TALLY_OK; i++) {
        const tally_bucket *b = &m[i].b;
        member e = { m[i].model, by == TALLY_RANK_COST ? b->cost_nanos : by == TALLY_RANK_TOKENS ? b->total_tokens
                                                                                                  : b->requests, 0, 0 };
        m[i].model = NULL;
        tally__vec_push(&ms->v, &e, sizeof e); /* reserved */
    }
    tally_models_free(m, n);
    return rc;
}

/* What the rankings and lists read: `of` over one period p, or over range r;
 * into ms, valued by `by`. */
static int collect(tally *t, int of, int by, const tally_period *p, const tally_range *r, members *ms) {
    if (of != TALLY_RANK_OF_KEY && of != TALLY_RANK_OF_MODEL && of != TALLY_RANK_OF_ACCOUNT)
        return tally__fail(t, TALLY_EINVAL, "rank or list API keys (TALLY_RANK_OF_KEY), models (TALLY_RANK_OF_MODEL) "
                                            "or accounts (TALLY_RANK_OF_ACCOUNT)");
    if (p && p->kind == TALLY_HOUR)
        return tally__fail(t, TALLY_EINVAL, "leaderboards, model and account buckets are kept for total, month and day");
    if (of != TALLY_RANK_OF_KEY) return read_buckets(t, of, by, p, r, ms);
    tally_period parts[TALLY_RANGE_MAX_PARTS];
    int np = 1;
    if (r && (np = tally__range_parts(t, r, parts)) < 0) return t->err;
    return read_boards(t, by, r ? parts : p, np, ms);
}

static int top(tally *t, int of, int by, const tally_period *p, const tally_range *r, size_t n, tally_rank **out,
               size_t *count) {
    *out = NULL;
    *count = 0;
    if (by < TALLY_RANK_COST || by > TALLY_RANK_REQUESTS)
        return tally__fail(t, TALLY_EINVAL, "rank by cost, tokens or requests");
    if (n < 1 || n > TALLY_TOP_MAX) return tally__fail(t, TALLY_EINVAL, "n must be from 1 to %d", TALLY_TOP_MAX);
    if (of == TALLY_RANK_OF_KEY && p) return tally_top(t, by, p, n, out, count); /* the boards' heads */
    members ms = { 0 };
    int rc = collect(t, of, by, p, r, &ms);
    if (rc == TALLY_OK) {
        if (ms.v.n) qsort(ms.v.p, ms.v.n, sizeof(member), by_sum_then_name);
        rc = answer(t, &ms.v, 0, ms.v.n < n ? ms.v.n : n, out, count);
    }
    members_free(&ms);
    return rc;
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
    members ms = { 0 };
    int rc = collect(t, of, TALLY_RANK_REQUESTS, p, r, &ms);
    if (rc == TALLY_OK) {
        if (ms.v.n) qsort(ms.v.p, ms.v.n, sizeof(member), by_name);
        size_t from = 0;
        while (after && from < ms.v.n && strcmp(((member *)ms.v.p)[from].name, after) <= 0) from++;
        size_t n = ms.v.n - from < limit ? ms.v.n - from : limit;
        *more = from + n < ms.v.n;
        rc = answer(t, &ms.v, from, n, out, count);
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
