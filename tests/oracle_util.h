/* oracle_util.h -- what the unit suites' oracles (test_merge.c, test_group.c)
 * compute apart from the library: an API key's shard, and a fixed
 * pseudo-random stream for their random batches. */
#ifndef TALLY_ORACLE_UTIL_H
#define TALLY_ORACLE_UTIL_H

#include <stdint.h>

/* The shard of the shared aggregates an API key feeds: FNV-1a-32 of its
 * bytes mod shards (docs/keys.md, "Shards of the shared aggregates"). */
static inline unsigned ou_shard_of(const char *key, int shards) {
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 16777619u;
    return h % (unsigned)shards;
}

/* xorshift64*: the same numbers every run from the same nonzero seed. */
static inline uint64_t ou_rnd(uint64_t *state) {
    *state ^= *state >> 12, *state ^= *state << 25, *state ^= *state >> 27;
    return *state * 2685821657736338717ull;
}

#endif
