/* leaderboards.c -- tally_top: the head of a leaderboard (keys by cost,
 * tokens or requests over a total, month or day), read with lua/top.lua from
 * every shard's board and merged here, largest first, ties by key. Boards of
 * other entities and ranges of days are rankings.c's. */
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "keys.h"
#include "queries.h"

void tally_top_free(tally_rank *r, size_t count) {
    for (size_t i = 0; r && i < count; i++) free(r[i].key);
    free(r);
}

typedef struct {
    const redisReply *member;
    int64_t value;
} ranked;

static int by_value_then_key(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    if (a->value != b->value) return a->value < b->value ? 1 : -1;
    size_t n = a->member->len < b->member->len ? a->member->len : b->member->len;
    int c = memcmp(a->member->str, b->member->str, n);
    return c ? c : (a->member->len > b->member->len) - (a->member->len < b->member->len);
}

int tally_top(tally *t, int by, const tally_period *p, size_t n, tally_rank **out, size_t *count) {
    *out = NULL;
    *count = 0;
    if (by < TALLY_RANK_COST || by > TALLY_RANK_REQUESTS)
        return tally__fail(t, TALLY_EINVAL, "rank by cost, tokens or requests");
    if (p->kind == TALLY_HOUR) return tally__fail(t, TALLY_EINVAL, "leaderboards are kept for total, month and day");
    if (n < 1 || n > TALLY_TOP_MAX) return tally__fail(t, TALLY_EINVAL, "n must be from 1 to %d", TALLY_TOP_MAX);
    char suffix[32];
    tally_args *a = &t->args;
    int err = tally__start_read(t, a, TALLY_SCRIPT_TOP);
    err |= tally__add_shard_keys(&t->schema, a, suffix, tally__board_suffix(by, p, suffix));
    tally__args_end_keys(a);
    if (err || tally__args_i64(a, (int64_t)n)) return tally__oom(t);
    tally_keyed got;
    int rc = tally__read_whole(t, &got);
    if (rc != TALLY_OK) return rc;
    /* per shard {member, score, ...}: members and scores are strings */
    size_t total = 0, shards = (size_t)t->cfg.shards;
    for (size_t k = 0; k < shards && rc == TALLY_OK; k++) {
        const redisReply *s = got.per_key[k];
        if (!tally__reply_fits(s, s->elements, "s") || s->elements % 2)
            rc = tally__fail(t, TALLY_ESCRIPT, "top.lua answered something unexpected");
        else total += s->elements / 2;
    }
    ranked *all = malloc((total ? total : 1) * sizeof *all);
    if (!all && rc == TALLY_OK) rc = tally__oom(t);
    size_t m = 0;
    for (size_t k = 0; rc == TALLY_OK && k < shards; k++)
        for (size_t i = 0; i + 1 < got.per_key[k]->elements; i += 2)
            all[m++] = (ranked){ got.per_key[k]->element[i], strtoll(got.per_key[k]->element[i + 1]->str, NULL, 10) };
    if (rc == TALLY_OK) {
        qsort(all, m, sizeof *all, by_value_then_key);
        size_t keep = m < n ? m : n;
        *out = calloc(keep ? keep : 1, sizeof **out);
        for (size_t i = 0; *out && i < keep; i++) {
            (*out)[i].key = strndup(all[i].member->str, all[i].member->len);
            (*out)[i].value = all[i].value;
            if (!(*out)[i].key) {
                tally_top_free(*out, i);
                *out = NULL;
            }
        }
        if (*out) *count = keep;
        else rc = tally__oom(t);
    }
    free(all);
    tally__keyed_free(&got);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}
