/* exec.h -- the script calls the features make: one EVALSHA (a window of
 * one, window.c), or one split by slot over the nodes serving its keys. */
#ifndef TALLY_EXEC_H
#define TALLY_EXEC_H

#include "handle.h"
#include "reply.h"

/* Runs the EVALSHA built in `a` on the node serving its first key, as a
 * window of one (window.c): NOSCRIPT reloads the scripts and sends it again
 * (safe: NOSCRIPT means the script did not run); MOVED and ASK are followed,
 * TRYAGAIN and CLUSTERDOWN waited out, a failed replica's read sent to its
 * primary. Never resent after an I/O error or a timeout. One deadline for
 * all of it. Returns the reply, which may be a script's error reply, or NULL
 * with the handle's error set. */
redisReply *tally__eval_raw(tally *t, tally_args *a);
/* tally__eval_raw, with error replies turned into the handle's error (script
 * errors of the form "EINVAL message" become TALLY_EINVAL): returns a non-error
 * reply for the caller to free, or NULL. */
redisReply *tally__eval(tally *t, tally_args *a);

/* A script call whose keys may live on several nodes: `a` holds one EVALSHA
 * whose ARGV is `ncommon` shared arguments, then chunk[i] arguments for key i.
 * On a single server that is one call; on a cluster one call per slot, in a
 * window of up to 512 calls in flight, sharing one deadline. Each key's part
 * of the reply (an element of its call's array reply) is in per_key[i];
 * tally__keyed_free() frees them. Clobbers t->args. */
typedef struct tally_keyed {
    redisReply **per_key;
    redisReply **owned;
    size_t nowned;
} tally_keyed;
int tally__eval_keyed(tally *t, tally_args *a, int ncommon, const int *chunk, tally_keyed *out);
void tally__keyed_free(tally_keyed *k);

#endif
