/* breakdown.h -- what breakdown.c lends rankings.c and report.c beside the
 * public breakdowns (tally_models, tally_models_range, tally_price_versions):
 * the accounts' and the API keys' buckets in the shards' hashes. */
#ifndef TALLY_BREAKDOWN_H
#define TALLY_BREAKDOWN_H

#include "exec.h"

/* The accounts with usage in period p (total, month, day) or range r, from
 * the "a:<account>" fields of the shards' hashes summed over shards and parts,
 * most expensive first (as tally_models). A read reaching before the day every
 * event has those fields (schema.c) is refused (TALLY_EINVAL naming it).
 * Free with tally_models_free(). */
int tally__accounts(tally *t, const tally_period *p, const tally_range *r, tally_model_stats **out, size_t *n);

/* The API keys with usage in period p (total, month, day) or range r, from
 * the "k:<key id>" fields of the shards' hashes (a key's field is in its own
 * shard's hashes only) summed over the parts, most expensive first (as
 * tally_models). Each key's value equals its own "_" buckets'. Free with
 * tally_models_free(). */
int tally__keys(tally *t, const tally_period *p, const tally_range *r, tally_model_stats **out, size_t *n);

#endif
