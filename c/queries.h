/* queries.h -- what queries.c lends the other readers (rankings.c,
 * leaderboards.c, report.c): a range's checks and cover, the start of a
 * read-only call and running it whole, many keys' buckets read at once, and
 * the accounts' buckets. */
#ifndef TALLY_QUERIES_H
#define TALLY_QUERIES_H

#include "exec.h"

/* Checks range r and covers it with the buckets that hold it (tally.h's
 * tally_range): their count into p[TALLY_RANGE_MAX_PARTS], or -1 with the
 * handle's error (a range backwards, too long, or reaching a bucket no longer
 * kept). */
int tally__range_parts(tally *t, const tally_range *r, tally_period *p);
/* Starts a call of read-only script `id` in a: EVALSHA_RO with
 * TALLY_READ_REPLICA. 0, or -1 on OOM. */
int tally__start_read(tally *t, tally_args *a, int id);
/* Runs the call in t->args (ARGV: one shared argument, nothing per key) on
 * whichever nodes hold its keys, into k (tally__keyed_free frees it). */
int tally__read_whole(tally *t, tally_keyed *k);

/* The buckets of n API keys (ids checked) over the np periods p, summed per
 * key into out[n]: as many keys per call as cfg.max_script_us allows (one at
 * least). For reports: a call per many keys instead of one per key. */
int tally__stats_keys(tally *t, const char *const *ids, size_t n, const tally_period *p, int np, tally_bucket *out);

/* The accounts with usage in period p (total, month, day) or range r, from
 * the "a:<account>" fields of the shards' hashes summed over shards and parts,
 * most expensive first (as tally_models). A read reaching before the day every
 * event has those fields (schema.c) is refused (TALLY_EINVAL naming it).
 * Free with tally_models_free(). */
int tally__accounts(tally *t, const tally_period *p, const tally_range *r, tally_model_stats **out, size_t *n);

#endif
