/* group.h -- a record batch's items ordered into sources for record.c: on a
 * cluster one source per entity (one slot per script call), a shard's items
 * grouped by API key; on a single server one source, ordered by shard, then
 * by API key in order of first appearance. Each key's items keep their order.
 * Pure: no I/O. */
#ifndef TALLY_GROUP_H
#define TALLY_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "table.h"
#include "tally.h"

struct tally_schema;

/* An event's part in a batch: the event's index and the entities it covers
 * (TALLY_AGG_* of aggregate.h). */
typedef struct { size_t event; int mask; } tally_item;

/* The grouping's memory, kept from batch to batch. */
typedef struct tally_grouping {
    tally_vec group_of, start, rank;
    tally_map map;
} tally_grouping;

/* Orders the items [off, off + n) of `items` (tally_item; room for off + 2n
 * is made) into [off + n, off + 2n), by entity (by_entity: a cluster) or by
 * shard and key (a single server); items->n becomes off + 2n. Source k is
 * items [start[k], start[k + 1]) with start = g->start (size_t); *sources is
 * their count. ev: the batch's events; schema: for the shard count. 0, or -1 when
 * memory ran out. */
int tally__group(tally_grouping *g, const struct tally_schema *schema, const tally_event *ev, tally_vec *items, size_t off, size_t n,
                 int by_entity, size_t *sources);

void tally__group_free(tally_grouping *g);

#endif
