/* exec.h -- running the scripts: EVALSHA on the node serving a call's keys,
 * with NOSCRIPT, MOVED, ASK, TRYAGAIN and CLUSTERDOWN recovery; pipelined
 * batches; calls split by slot. What the features call. */
#ifndef TALLY_EXEC_H
#define TALLY_EXEC_H

#include "handle.h"
#include "reply.h"

/* What the call does next with reply r to an EVALSHA: reply.c's
 * tally__reply_kind, with a MOVED or ASK resolved to a node (*node) through
 * the slot map (cluster.c), or TALLY_REPLY_USE when it names none. */
int tally__eval_next(tally *t, const redisReply *r, int *node);

/* Runs the EVALSHA built in `a` on the node serving its first key. On NOSCRIPT,
 * loads the scripts and retries (safe: NOSCRIPT means the script did not run);
 * follows MOVED and ASK, and retries TRYAGAIN and CLUSTERDOWN a few times. Never
 * retries after an I/O error or a timeout. Returns the reply, which may be a
 * script's error reply, or NULL with the handle's error set. */
redisReply *tally__eval_raw(tally *t, tally_args *a);
/* tally__eval_raw, with error replies turned into the handle's error (script
 * errors of the form "EINVAL message" become TALLY_EINVAL): returns a non-error
 * reply for the caller to free, or NULL. */
redisReply *tally__eval(tally *t, tally_args *a);

/* A pipelined batch of script calls, for reads (the keyed queries): writes
 * go through tally__eval_raw or window.c, which pass evict.c's gate.
 * build(ctx, i, a) fills `a` for call i; take(ctx, i, reply) consumes the
 * reply of call i (error replies included) and returns 1 to keep the reply
 * (then it frees it itself), 0 to let it be freed.
 * Calls answered NOSCRIPT are rebuilt and sent again after loading the scripts.
 * Returns TALLY_OK when every call got a reply, else the connection error
 * (replies already taken stay taken). */
typedef int (*tally_build_fn)(void *ctx, size_t i, tally_args *a);
typedef int (*tally_take_fn)(void *ctx, size_t i, redisReply *reply);
int tally__eval_batch(tally *t, size_t n, tally_build_fn build, tally_take_fn take, void *ctx);

/* A script call whose keys may live on several nodes: `a` holds one EVALSHA
 * whose ARGV is `ncommon` shared arguments, then chunk[i] arguments for key i.
 * On a single server that is one call; on a cluster one call per slot, pipelined
 * per node. Each key's part of the reply (an element of its call's array reply)
 * is in per_key[i]; tally__keyed_free() frees them. Clobbers t->args. */
typedef struct tally_keyed {
    redisReply **per_key;
    redisReply **owned;
    size_t nowned;
} tally_keyed;
int tally__eval_keyed(tally *t, tally_args *a, int ncommon, const int *chunk, tally_keyed *out);
void tally__keyed_free(tally_keyed *k);

#endif
