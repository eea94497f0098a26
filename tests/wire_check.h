/* wire_check.h -- a record call as aggregate.c encodes it, read back in C apart
 * from lua/record.lua by c/wire.h's layout and checked against the events that
 * were merged into it: for test_wire.c (unit) and fuzz/fuzz_wire.c. */
#ifndef TALLY_WIRE_CHECK_H
#define TALLY_WIRE_CHECK_H

#include <stddef.h>

#include "args.h"
#include "tally.h"

/* Checks call `a` (EVALSHA record.lua, built by tally__agg_encode) made of the
 * n events ev[] of one API key, all merged with the same mask at one time:
 *   - ARGV[1] is a JSON array of whole numbers whose head counts match the
 *     call's keys and arguments, walked by the layout to its exact end;
 *   - every name is used once, in order: each hash's day fields, then its hour
 *     fields (whose names start with a digit);
 *   - every delta index is in range; the entity bucket "_" of every hash, and
 *     the key's field "k:<key>" of its shard's total, month and day hashes
 *     (one in each), gain the events' sums.
 * 0, or -1 with what is wrong in why. */
int wire_check(const tally_args *a, const tally_event *ev, size_t n, char *why, size_t why_n);

#endif
