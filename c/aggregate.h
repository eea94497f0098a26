/* aggregate.h -- merging a batch's events into one script call: the deltas of
 * the distinct bucket fields they touch, and their request-id
 * fingerprints (merge.h); encode.h writes the call for lua/record.lua. Pure:
 * no I/O. */
#ifndef TALLY_AGGREGATE_H
#define TALLY_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "tally.h"

struct tally_schema;

/* The entities whose buckets a call covers: on a single server everything, on
 * a cluster one entity (one slot) per call. */
enum { TALLY_AGG_KEY = 1, TALLY_AGG_ACCOUNT = 2, TALLY_AGG_SHARD = 4, TALLY_AGG_ALL = 7 };

/* tally__agg_add's answers. */
enum {
    TALLY_AGG_ADDED = 0,
    TALLY_AGG_FULL,   /* the event would push a delta of the call past 10^15:
                         send the call, then add the event to the next one */
    TALLY_AGG_NOMEM = -1
};

typedef struct tally_agg tally_agg;

tally_agg *tally__agg_new(void);
void tally__agg_free(tally_agg *g);

/* Starts an empty call for schema context `schema` (prefix, timezone, shards,
 * retention; kept until the call is encoded). now_ms is this host's clock: request ids live
 * at least a window from it. Keeps the memory of earlier calls. */
void tally__agg_begin(tally_agg *g, const struct tally_schema *schema, int64_t now_ms);

/* Adds event e, valid by tally_event_check(), at event time at_ms with cost
 * `cost` (its own, or the price table's), for the entities in mask; k is the
 * caller's index for it. With version >= 0 (priced by that price table
 * version, < 2^28) the key's total, month and day hashes count it in field
 * "p:<version>" too, and with TALLY_UNPRICED in "p:none". With settle (an event
 * alone in its call) the call also gives back the reservations held under its
 * key and request id, by its key and account as far as mask covers them. TALLY_AGG_ADDED, _FULL
 * (nothing added) or _NOMEM. Strings of e must stay valid until the call is
 * encoded. A call must not hold two events with one key and request id: the
 * script would not see the first when it checks the second. */
int tally__agg_add(tally_agg *g, const tally_event *e, int64_t at_ms, int64_t cost, int64_t version, int mask,
                   int settle, size_t k);

/* Whether the call asks record.lua how long it ran (its second TIME, for
 * pace.c): tally__agg_begin sets 1; a call whose size tells the pace nothing
 * (one event, not cut by the budget) sets 0 and gets {"recorded"} back. */
void tally__agg_timed(tally_agg *g, int timed);

/* How many events the call holds. */
size_t tally__agg_count(const tally_agg *g);

/* The work the call gives the script, in units of about a quarter of a
 * bucket field: a request id 1, a field (read, added to, written) 4, a
 * hash or request-id hash 16 (its reads and writes
 * and expiry). Weights fitted to the script's own times in tools/bench: a
 * call's microseconds per unit then vary about 1.6x from its 10th to 90th
 * percentile, whether its events share one hot key or spread over many. The
 * caller sizes calls by it. */
size_t tally__agg_units(const tally_agg *g);

#endif
