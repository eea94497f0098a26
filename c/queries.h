/* queries.h -- what queries.c lends the other readers (breakdown.c,
 * rankings.c, report.c): a scope's and a range's checks, a range's cover, the
 * start of a read-only call, and a bucket's text added up. */
#ifndef TALLY_QUERIES_H
#define TALLY_QUERIES_H

#include "exec.h"

/* Checks a query's scope (TALLY_SCOPE_*) and id: TALLY_OK, or the handle's
 * error naming what is wrong. */
int tally__check_scope(tally *t, int scope, const char *id);

/* Checks range r and covers it with the buckets that hold it (tally.h's
 * tally_range): their count into p[TALLY_RANGE_MAX_PARTS], or -1 with the
 * handle's error (a range backwards, too long, or reaching a bucket no longer
 * kept). */
int tally__range_parts(tally *t, const tally_range *r, tally_period *p);
/* Refuses a read of accounts' buckets in the shards' hashes (their a:
 * fields) that reaches before the day from which those hold every event's
 * account (schema.c, docs/keys.md): earliest is YYYYMMDD, 0 for a total (from
 * the first event). TALLY_OK, or TALLY_EINVAL naming the day. */
int tally__accounts_complete(tally *t, int64_t earliest);
/* Starts a call of read-only script `id` in a: EVALSHA_RO with
 * TALLY_READ_REPLICA. 0, or -1 on OOM. */
int tally__start_read(tally *t, tally_args *a, int id);

/* Adds the packed bucket text "requests,input,output,cache_create,cache_read,
 * cost" (n bytes at s) to b. Returns 0; -1 when the text is not a bucket; or,
 * when a sum passes 2^63-1, a positive code for tally__packed_failed. */
int tally__add_packed(tally_bucket *b, const char *s, size_t n);
/* Sets the handle's error for tally__add_packed()'s failure `got` in `where`
 * (TALLY_ESCRIPT: not a bucket; TALLY_ERANGE: a sum past int64) and returns
 * its code. */
int tally__packed_failed(tally *t, int got, const char *where);

#endif
