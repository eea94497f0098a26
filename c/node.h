/* node.h -- the servers a handle talks to and one connection to each: connect,
 * AUTH, SELECT, the call's deadline, sending commands and reading replies.
 * Knows nothing of scripts or of the cluster's slots: cluster.c decides which
 * node serves a key, scripts.c prepares new connections, window.c runs calls. */
#ifndef TALLY_NODE_H
#define TALLY_NODE_H

#include <stdint.h>

#include "handle.h"
#include "reply.h"

/* What a node's INFO memory said about eviction (evict.c). */
typedef struct tally_policy {
    int64_t read_ms;      /* monotonic time it was read; 0: not on this
                             connection, or an OOM answer came since */
    int evicts;           /* 0: maxmemory-policy noeviction; 1: another policy;
                             -1: unknown (INFO refused or without the field) */
    char name[48];        /* the policy, or why it is unknown */
} tally_policy;

/* A Redis server: the one server of a redis:// or unix:// URL, or a primary or
 * replica of a cluster. */
typedef struct tally_node {
    char host[256];       /* for unix:// the socket path */
    int port;             /* 0 for unix:// */
    int replica;          /* a cluster replica: it gets the scripts, and with
                             TALLY_READ_REPLICA serves the reads of its
                             primary's slots (READONLY on connect) */
    int of;               /* a replica's primary: its index in the list */
    int64_t failed_ms;    /* monotonic time its connection last failed (or it
                             answered a replica read LOADING / MASTERDOWN); 0 never */
    int wrote;            /* a write was sent to it since the handle opened
                             (tally_wait_replicas waits on these) */
    int fresh;            /* connected, and not yet prepared by the layers above
                             (scripts.c loads the scripts and clears it) */
    tally_policy policy;  /* evict.c's; reset by every new connection */
    redisContext *ctx;    /* NULL until connected, and again after any I/O error;
                             its socket is non-blocking, its reader bounded
                             (reply.c; the budget is the reader's privdata) */
} tally_node;

struct tally_nodes {
    tally_node *v;
    int n;
    int changed;          /* a connection failed or could not be made: the
                             topology may have changed (cluster.c reads the slot
                             map again and clears it) */
    int io_depth;         /* nesting of tally__io_begin() */
    int64_t deadline_ms;  /* monotonic clock; 0: none (command_timeout_ms 0) */
};

/* The node list: node 0 from the handle's URL. TALLY_OK or TALLY_ENOMEM. */
int tally__nodes_open(tally *t);
/* Drops every connection and frees the list (tally_close). */
void tally__nodes_close(tally *t);
/* An empty list, for cluster.c to fill from a slot map; NULL when out of memory. */
struct tally_nodes *tally__nodes_new(void);
void tally__nodes_free(struct tally_nodes *list);
/* Index of host:port in `list`, appended (unconnected) if new; a node named
 * again as a primary stops being a replica. -1 when out of memory. */
int tally__nodes_add(struct tally_nodes *list, const char *host, size_t hn, int port, int replica);
/* Makes `fresh` the handle's list: nodes present in both keep their
 * connections, the others are disconnected; the old list is freed. */
void tally__nodes_adopt(tally *t, struct tally_nodes *fresh);

/* Connects node i if it is not connected: AUTH and SELECT. A new connection is
 * marked fresh. TALLY_OK, or the error (ECONNECT, EAUTH, ...). */
int tally__node_connect(tally *t, int i);
void tally__node_disconnect(tally *t, int i);
/* Queues a command (RESP bytes) on connected node i; it is sent by the next
 * tally__node_reply(). TALLY_OK or TALLY_ENOMEM. */
int tally__node_send(tally *t, int i, const char *cmd, size_t len);
/* Queues script call `a` (EVALSHA or EVALSHA_RO) the same way; a call that may
 * write marks node i written (tally_wait_replicas waits on it). */
int tally__node_send_call(tally *t, int i, tally_args *a);
/* Sends what is queued on node i without waiting for a reply (replies that
 * arrive meanwhile are kept for tally__node_reply), by the call's deadline.
 * TALLY_OK, or the error with the connection dropped, as tally__node_reply;
 * then *unsent is 1 when no byte of what was queued had been written (those
 * commands did not run; commands sent before them may have), else 0. */
int tally__node_push(tally *t, int i, const char *doing, int *unsent);
/* Sends what is queued and reads node i's next reply, by the call's deadline.
 * Returns the reply (the caller frees it; it may be an error reply), or NULL
 * with the handle's error set (ETIMEOUT at the deadline, whatever the server
 * sent until then; EIO for a closed connection, a protocol error or a reply
 * past reply.c's bounds; ENOMEM) and the connection dropped: hiredis cannot
 * reuse it, and a late reply must not answer the next command. */
redisReply *tally__node_reply(tally *t, int i, const char *doing);
/* One command on node i (connected first), one reply; as tally__node_reply. */
redisReply *tally__node_command(tally *t, int i, tally_args *a);
/* 1 when node i's connection failed within the last TALLY_NODE_REST_MS, so a
 * read that may go elsewhere (a replica's primary) should. */
#define TALLY_NODE_REST_MS 5000
int tally__node_resting(const tally *t, int i);
/* Node i rests from now on, as after a failure (its connection is kept). */
void tally__node_rest(tally *t, int i);
/* "host:port" or the socket path of node i, into buf. */
const char *tally__node_addr(const tally *t, int i, char *buf, size_t n);

/* Brackets one call's I/O: the outermost tally__io_begin() starts the
 * deadline, cfg.command_timeout_ms from now, which every send and read inside
 * the bracket shares (pairs nest). Time spent opening TCP connections (bounded
 * by cfg.connect_timeout_ms each) does not count against it. The node
 * functions bracket themselves, so a lone reply gets the whole timeout. */
void tally__io_begin(tally *t);
void tally__io_end(tally *t);

/* For tests and fuzzers: node i's connection becomes the socket fd (already
 * connected to something that speaks, or not, RESP), with no handshake. */
int tally__node_attach_fd(tally *t, int i, int fd);

#endif
