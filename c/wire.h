/* wire.h -- the numbers of a record call (lua/record.lua's ARGV[1]), written
 * once: its layout here, the packing in wire.c, the unpacking in record.lua,
 * which gets every TALLY_WIRE_* below in its prelude (tools/embed.lua), as
 * lib.TALLY_WIRE_*. Layer: pure.
 *
 * ARGV[1] is a JSON array of whole numbers, one cjson.decode for the whole
 * call instead of fixed-width decimal cut apart in Lua:
 *   head      TALLY_WIRE_HEAD numbers: latest_ms, future_ms, nh, ni, np, nr,
 *             nd, nn (docs/scripts.md), timed (1: the answer reports how
 *             long the script ran, a second TIME; 0: it does not);
 *   deltas    nd times TALLY_WIRE_DELTA: requests, input, output,
 *             cache_create, cache_read, cost;
 *   hashes    nh times TALLY_WIRE_HASH_HEAD (expiry, until, hours_until,
 *             prune, days, hours), then days + hours times TALLY_WIRE_FIELD
 *             (the field's delta);
 *   id hashes ni times TALLY_WIRE_IDS: expiry.
 * The names are arguments of their own (ARGV[3..2+nn]), in the order the
 * numbers use them: each hash's day fields, then its hour fields (their names
 * start with the hour), hash by hash. The script reads them in ranges
 * straight from ARGV. Deltas and prune keys count from 1. */
#ifndef TALLY_WIRE_H
#define TALLY_WIRE_H

#include <stdint.h>

#include "table.h"

#define TALLY_WIRE_HEAD 9
#define TALLY_WIRE_DELTA 6
#define TALLY_WIRE_HASH_HEAD 6
#define TALLY_WIRE_FIELD 1
#define TALLY_WIRE_IDS 1
#define TALLY_WIRE_NUM_MAX 9007199254740991LL /* 2^53 - 1: exact in Lua */

/* The array's text is built in a tally_vec: open it, add numbers, close it. */
int tally__wire_open(tally_vec *v);
/* Adds x, 0 <= x <= TALLY_WIRE_NUM_MAX. 0, or -1 when memory ran out. */
int tally__wire_num(tally_vec *v, int64_t x);
int tally__wire_close(tally_vec *v);

#endif
