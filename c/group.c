/* group.c -- a record batch's items ordered into sources (group.h). Why the
 * order matters: a script call covers the items it is cut from, in order, and
 * merges what they share. On a cluster a call can cover one entity (one
 * slot); on a single server it covers everything. Grouping by key (inside a
 * shard: a single server's items, a cluster's shard parts) makes a call's
 * events share their key's hashes and its fields in the shard's hashes, which
 * the merge turns into fewer writes. Each key's items keep their order, so its request
 * ids resolve as if recorded one by one. Counting sorts throughout: O(n). */
#include "group.h"

#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "keys.h"


typedef struct {
    const tally_schema *schema;
    const tally_event *ev;
    const tally_vec *items, *start; /* start[group]: an item of the group, while grouping */
} ctx;

/* The id an item is grouped by (its account for an account's part, else its
 * API key: a shard's part is grouped by key inside its shard) and a 64-bit
 * hash of the item's kind and that id. */
static const char *entity_of(const ctx *c, const tally_item *it, size_t *n, uint64_t *h) {
    const tally_event *e = &c->ev[it->event];
    const char *id = it->mask == TALLY_AGG_ACCOUNT ? e->account : e->key;
    *n = strlen(id);
    *h = tally__fnv64(TALLY_FNV64_BASIS ^ (uint64_t)it->mask, id, *n);
    return id;
}

static int same_entity(void *vc, uint32_t group, const void *sought) {
    const ctx *c = vc;
    const tally_item *a = &AT(*c->items, tally_item, AT(*c->start, size_t, group)), *b = sought;
    if (a->mask != b->mask) return 0;
    size_t xn, yn;
    uint64_t h;
    const char *x = entity_of(c, a, &xn, &h), *y = entity_of(c, b, &yn, &h);
    return xn == yn && memcmp(x, y, xn) == 0;
}

/* The groups in the order of their sources, stable: on a single server by
 * their key's shard; on a cluster the key and account groups first, then the
 * shards' groups (by key) shard by shard. group_of[i] becomes its group's
 * rank; g->rank keeps each rank's shard + 1 (0: a source of its own). */
static int rank_groups(tally_grouping *g, const ctx *c, size_t n, size_t groups, int by_entity) {
    size_t buckets = (size_t)c->schema->shards + 1;
    if (tally__vec_reserve(&g->rank, 2 * groups + buckets + 1, sizeof(uint32_t)) < 0) return -1;
    uint32_t *rank = g->rank.p, *shard_of = rank + groups, *at = shard_of + groups;
    memset(at, 0, (buckets + 1) * sizeof *at);
    for (size_t k = 0; k < groups; k++) {
        const tally_item *it = &AT(*c->items, tally_item, AT(g->start, size_t, k));
        const char *key = c->ev[it->event].key;
        int own = by_entity && it->mask != TALLY_AGG_SHARD; /* a key's or account's source */
        rank[k] = own ? 0 : tally__shard_of(c->schema, key, strlen(key)) + 1;
        at[rank[k] + 1]++;
    }
    for (size_t b = 0; b < buckets; b++) at[b + 1] += at[b];
    for (size_t k = 0; k < groups; k++) {
        uint32_t bucket = rank[k];
        rank[k] = at[bucket]++;
        shard_of[rank[k]] = bucket;
    }
    for (size_t i = 0; i < n; i++) AT(g->group_of, uint32_t, i) = rank[AT(g->group_of, uint32_t, i)];
    memmove(rank, shard_of, groups * sizeof *rank);
    return 0;
}

int tally__group(tally_grouping *g, const tally_schema *schema, const tally_event *ev, tally_vec *items, size_t off, size_t n,
                 int by_entity, size_t *sources) {
    tally__map_clear(&g->map);
    if (tally__vec_reserve(&g->group_of, n, sizeof(uint32_t)) < 0 ||
        tally__vec_reserve(&g->start, n + 2, sizeof(size_t)) < 0 ||
        tally__vec_reserve(items, off + 2 * n, sizeof(tally_item)) < 0)
        return -1;
    ctx c = { schema, ev, items, &g->start };
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
    if (rank_groups(g, &c, n, groups, by_entity) < 0) return -1;
    memset(start, 0, (groups + 2) * sizeof *start);
    for (size_t i = 0; i < n; i++) start[AT(g->group_of, uint32_t, i) + 2]++;
    for (size_t k = 0; k <= groups; k++) start[k + 1] += start[k];
    tally_item *its = (tally_item *)items->p + off;
    for (size_t i = 0; i < n; i++) its[n + start[AT(g->group_of, uint32_t, i) + 1]++] = its[i];
    for (size_t k = 0; k <= groups; k++) start[k] += off + n;
    items->n = off + 2 * n;
    /* sources: a single server's groups make one; a cluster's shard groups
     * one per shard; every other group its own */
    const uint32_t *shard_of = g->rank.p;
    size_t m = 0;
    for (size_t k = 0; k < groups; k++)
        if (k == 0 || (by_entity && (!shard_of[k] || shard_of[k] != shard_of[k - 1]))) start[m++] = start[k];
    start[m] = off + 2 * n;
    *sources = m;
    return 0;
}

void tally__group_free(tally_grouping *g) {
    free(g->group_of.p);
    free(g->start.p);
    free(g->rank.p);
    tally__map_free(&g->map);
}
