/* encode.h -- a merged record call (aggregate.h) written as one EVALSHA of
 * lua/record.lua (encode.c; its numbers laid out by wire.h). Layer: pure. */
#ifndef TALLY_ENCODE_H
#define TALLY_ENCODE_H

#include <stddef.h>

#include "aggregate.h"
#include "args.h"

/* Writes the EVALSHA of record.lua for the call into a. 0, or -1 when
 * memory ran out. */
int tally__agg_encode(tally_agg *g, struct tally_args *a);

/* The caller index of the event whose fingerprint a "duplicate" answer names
 * (id hash j, position p as the script reports it), or (size_t)-1 when the
 * answer names none of the call's. Valid after tally__agg_encode(). */
size_t tally__agg_dup_event(const tally_agg *g, long long j, long long p);

#endif
