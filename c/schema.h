/* schema.h -- the schema's parameters stored with the data (schema.c): the
 * settings that decide which key and bucket an event lands in, kept under
 * the prefix so that a handle configured otherwise is refused instead of
 * reading or writing other keys. Layer: transport (above node.c, cluster.c;
 * called by handle.c and the writing features). */
#ifndef TALLY_SCHEMA_H
#define TALLY_SCHEMA_H

#include "handle.h"

/* At tally_open: reads the parameters stored under the prefix (GET, on the
 * primary of their slot). TALLY_OK when none are stored yet or they equal
 * the handle's (then the handle's first write needs no claim), and when the
 * user may not read them (NOPERM) or, on a cluster, their node is down;
 * TALLY_EINVAL naming both values when they differ; or the connection's
 * error. */
int tally__schema_check(tally *t);

/* Before a write whose keys depend on the parameters (recording, settling;
 * not reserving, which reads buckets but writes none): stores the handle's
 * parameters if none are stored yet (SET NX GET: one atomic command, so two
 * first writers cannot both win; through the eviction gate) and refuses
 * (TALLY_EINVAL, naming both values) when other ones are. One round trip per
 * handle, the first time only. TALLY_OK also when the server may not be
 * written by this user or node (NOPERM, READONLY): the write itself then
 * fails on its own terms. */
int tally__schema_claim(tally *t);

/* The first day (YYYYMMDD in the schema's timezone) from which the shards'
 * hashes hold the account field of every event recorded under the prefix:
 * 0 when all of them (or nothing was recorded), -1 when none are complete
 * (only a tally without account fields has written). The first write of a
 * handle stores it (tally__schema_claim). Read once per handle once found:
 * the marker is set once (SET NX) and never changes. TALLY_OK, or the error. */
int tally__accounts_from(tally *t, int64_t *ymd);

#endif
