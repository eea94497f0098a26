/* keys.h -- the key schema: validation and encoding of entity ids and the
 * entity part of every key (docs/keys.md). Layer: pure; no I/O, no hiredis. */
#ifndef TALLY_KEYS_H
#define TALLY_KEYS_H

#include <stddef.h>

#include "handle.h"

/* Ids are 1..TALLY_ID_MAX bytes of valid UTF-8 without control characters. */
#define TALLY_ID_MAX 256
#define TALLY_ENTITY_MAX (64 + 10 + 3 * TALLY_ID_MAX)

/* TALLY_OK, or TALLY_EINVAL with a message naming `what` and the problem. */
int tally__id_check(tally *t, const char *what, const char *id, size_t n);
/* Writes "<prefix>:v1:{<kind>:<encoded id>}:" into out (TALLY_ENTITY_MAX
 * bytes) and returns its length; kinds: 'k' API key, 'a' account, 's' shard of
 * the shared aggregates. */
size_t tally__entity(const tally *t, char kind, const char *id, size_t n, char *out);
/* The key suffix of a period's bucket hash into buf[24]: "t", "M:202611",
 * "D:20261126", or "H:20261126" for hours (the hour is the field). */
size_t tally__period_suffix(const tally_period *p, char *buf);

#endif
