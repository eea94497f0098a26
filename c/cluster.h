/* cluster.h -- Redis Cluster routing: key slots, the slot map and MOVED / ASK
 * redirections. A single server has no map: node 0 serves every slot. */
#ifndef TALLY_CLUSTER_H
#define TALLY_CLUSTER_H

#include "handle.h"
#include "reply.h"

#define TALLY_SLOTS 16384

/* 1 when the handle talks to a Redis Cluster (redis-cluster:// URL). */
int tally__is_cluster(const tally *t);
/* CRC16 slot of a key (of its first non-empty {hash tag}). */
unsigned tally__key_slot(const char *key, size_t n);
/* Reads the slot map from the URL's seed nodes (tally_open on a cluster URL). */
int tally__cluster_open(tally *t);
void tally__cluster_close(tally *t);
/* On a cluster whose topology may have changed (a redirection, a failed
 * connection), reads the slot map again. TALLY_OK or the error. */
int tally__cluster_sync(tally *t);
/* The node serving the first key of `a` (EVALSHA: argument 3), connected: for
 * an EVALSHA_RO with TALLY_READ_REPLICA a replica of the slot's primary when
 * one is up (not failed in the last TALLY_NODE_REST_MS), else the primary.
 * With may_refresh, a stale slot map is read again first, and again when the
 * node cannot be reached (nothing was sent). -1 with the handle's error set. */
int tally__route(tally *t, const tally_args *a, int may_refresh);
/* The same for a key given apart. */
int tally__route_key(tally *t, const char *key, size_t n, int may_refresh);
/* Parses "MOVED 3999 host:port" / "ASK 3999 host:port": 1 for MOVED (the map
 * is updated and marked stale), 2 for ASK, 0 otherwise; the node index (added
 * to the list if new) into *node. */
int tally__redirect(tally *t, const redisReply *r, int *node);
/* A TRYAGAIN or CLUSTERDOWN answer: read the map again before the next call. */
void tally__cluster_unsettled(tally *t);

#endif
