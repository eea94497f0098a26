/* group.c -- a record batch's items ordered into sources (group.h). Why the
 * order matters: a script call covers the items it is cut from, in order, and
 * merges what they share. On a cluster a call can cover one entity (one
 * slot); on a single server it covers everything, and grouping by shard and
 * key makes a call's events share their shard's hashes and leaderboards and
 * their key's hashes, which the merge turns into fewer writes. Each key's
 * items keep their order, so its request ids resolve as if recorded one by
 * one. Counting sorts throughout: O(n). */
#include "group.h"

#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "keys.h"

#define AT(v, type, i) (((type *)(v).p)[i])

typedef struct {
    const tally *t;
    const tally_event *ev;
    const tally_vec *items, *start; /* start[group]: an item of the group, while grouping */
} ctx;

/* The entity of item it: its id (a key or account id, or the key whose shard
 * it is) and a 64-bit hash of its kind and id. */
static const char *entity_of(const ctx *c, const tally_item *it, size_t *n, uint64_t *h) {
    const tally_event *e = &c->ev[it->event];
    const char *id = it->mask == TALLY_AGG_ACCOUNT ? e->account : e->key;
    *n = strlen(id);
    if (it->mask == TALLY_AGG_SHARD) *h = (uint64_t)tally__shard_of(c->t, id, *n) << 8 | TALLY_AGG_SHARD;
    else *h = tally__fnv64(TALLY_FNV64_BASIS ^ (uint64_t)it->mask, id, *n);
    return id;
}

static int same_entity(void *vc, uint32_t group, const void *sought) {
    const ctx *c = vc;
    const tally_item *a = &AT(*c->items, tally_item, AT(*c->start, size_t, group)), *b = sought;
    if (a->mask != b->mask) return 0;
    if (a->mask == TALLY_AGG_SHARD) return 1; /* the hash was the shard number */
    size_t xn, yn;
    uint64_t h;
    const char *x = entity_of(c, a, &xn, &h), *y = entity_of(c, b, &yn, &h);
    return xn == yn && memcmp(x, y, xn) == 0;
}

/* The key groups in shard order: group_of[i] becomes its group's rank when
 * the groups are sorted by their key's shard (stable). */
static int rank_by_shard(tally_grouping *g, const ctx *c, size_t n, size_t groups) {
    size_t shards = (size_t)c->t->cfg.shards;
    if (tally__vec_reserve(&g->rank, groups + shards + 1, sizeof(uint32_t)) < 0) return -1;
    uint32_t *rank = g->rank.p, *at = rank + groups; /* at: per shard, then its first rank */
    memset(at, 0, (shards + 1) * sizeof *at);
    for (size_t k = 0; k < groups; k++) {
        const char *key = c->ev[AT(*c->items, tally_item, AT(g->start, size_t, k)).event].key;
        rank[k] = tally__shard_of(c->t, key, strlen(key));
        at[rank[k] + 1]++;
    }
    for (size_t h = 0; h < shards; h++) at[h + 1] += at[h];
    for (size_t k = 0; k < groups; k++) rank[k] = at[rank[k]]++;
    for (size_t i = 0; i < n; i++) AT(g->group_of, uint32_t, i) = rank[AT(g->group_of, uint32_t, i)];
    return 0;
}

int tally__group(tally_grouping *g, const tally *t, const tally_event *ev, tally_vec *items, size_t off, size_t n,
                 int by_entity, size_t *sources) {
    tally__map_clear(&g->map);
    if (tally__vec_reserve(&g->group_of, n, sizeof(uint32_t)) < 0 ||
        tally__vec_reserve(&g->start, n + 2, sizeof(size_t)) < 0 ||
        tally__vec_reserve(items, off + 2 * n, sizeof(tally_item)) < 0)
        return -1;
    ctx c = { t, ev, items, &g->start };
    size_t groups = 0, *start = g->start.p;
    for (size_t i = 0; i < n; i++) {
        const tally_item *it = &AT(*items, tally_item, off + i);
        size_t idn;
        uint64_t h;
        entity_of(&c, it, &idn, &h);
        uint32_t *slot = tally__map_find(&g->map, h, same_entity, &c, it);
        if (!slot) return -1;
        if (!*slot) {
            start[groups] = off + i; /* for same_entity: a member, until the sort below */
            *slot = (uint32_t)++groups;
        }
        AT(g->group_of, uint32_t, i) = *slot - 1;
    }
    if (!by_entity && rank_by_shard(g, &c, n, groups) < 0) return -1;
    memset(start, 0, (groups + 2) * sizeof *start);
    for (size_t i = 0; i < n; i++) start[AT(g->group_of, uint32_t, i) + 2]++;
    for (size_t k = 0; k <= groups; k++) start[k + 1] += start[k];
    tally_item *its = (tally_item *)items->p + off;
    for (size_t i = 0; i < n; i++) its[n + start[AT(g->group_of, uint32_t, i) + 1]++] = its[i];
    for (size_t k = 0; k <= groups; k++) start[k] += off + n;
    items->n = off + 2 * n;
    if (!by_entity && groups) groups = 1, start[1] = off + 2 * n; /* one source: all of them */
    *sources = groups;
    return 0;
}

void tally__group_free(tally_grouping *g) {
    free(g->group_of.p);
    free(g->start.p);
    free(g->rank.p);
    tally__map_free(&g->map);
}
