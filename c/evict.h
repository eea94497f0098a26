/* evict.h -- whether a server may evict tally's keys, and the gate every
 * script call that writes passes (evict.c). Layer: transport (above node.c,
 * below window.c). */
#ifndef TALLY_EVICT_H
#define TALLY_EVICT_H

#include "node.h"

/* Reads node i's maxmemory-policy and maxmemory (INFO memory) into its
 * tally_policy. Nothing may be queued on node i (the reply is read next).
 * TALLY_OK, also when the server refuses INFO (NOPERM, a renamed command: the
 * policy is then unknown and writes are refused), or the connection's error. */
int tally__evict_read(tally *t, int i);

/* 1 when script call `a` writes and, before it may go to node i, the policy
 * of node i or of another primary the handle is connected to must be read
 * (never read on its connection, read longer than cfg.prices_refresh_ms ago,
 * or an OOM answer since). */
int tally__evict_due(const tally *t, int i, const tally_args *a);

/* The gate, just before call `a` is queued on node i: with may_read, reads
 * the policies that are due (so nothing may be queued on any primary); a
 * caller with calls in flight passes may_read 0 -- the due check it drained
 * for, tally__evict_due, may have said no a moment before a policy went
 * stale, and an INFO sent now would take another call's answer -- and the
 * last policies read decide. Then TALLY_OK for a
 * call that reads, or that writes while node i and every other primary the
 * handle is connected to run maxmemory-policy noeviction; with
 * cfg.allow_eviction also for recording (record.lua, prices.lua, schema.c's SET) under any
 * policy; else TALLY_EEVICT with a message naming the node, its policy and
 * what to do. Or the connection's error from reading node i's policy. */
int tally__evict_gate(tally *t, int i, const tally_args *a, int may_read);

/* Reply r came from node i: an OOM answer means the server's memory or its
 * policy changed, so the policy is read again before the next write there. */
void tally__evict_note(tally *t, int i, const redisReply *r);

#endif
