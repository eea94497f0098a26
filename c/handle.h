/* handle.h -- the layout of a tally handle, shared by the library's units and
 * never by callers, and its error state (handle.c). The transport's state
 * (node.c's connections, cluster.c's slot map) is behind pointers to types
 * only those units know, so a feature sees the configuration, the schema
 * context, its argument buffer, the test clock and the error state, nothing of
 * the connections. No hiredis here. Layer: handle; the pure units below never
 * include it (c/layers). */
#ifndef TALLY_HANDLE_H
#define TALLY_HANDLE_H

#include <stdint.h>

#include "args.h"
#include "error.h"
#include "keys.h"
#include "tally.h"
#include "url.h"

/* A feature's private state kept on the handle: the feature allocates it on
 * first use and sets `release`, which tally_close calls; nothing else reads it. */
enum tally_feature { TALLY_FEATURE_RECORD, TALLY_FEATURE_PRICES, TALLY_FEATURES_ };
typedef struct tally_feature_state {
    void *state;
    void (*release)(void *state);
} tally_feature_state;

struct tally {
    tally_config cfg;     /* string fields point into the copies below */
    tally_schema schema;  /* built from cfg at open; what the pure units get */
    char *url_text;
    char *limits_url_text; /* cfg.limits_url's copy; NULL: the limits live here */
    char *prefix;
    tally_url url;
    struct tally_nodes *nodes;     /* node.c: the servers and their connections */
    struct tally_cluster *cluster; /* cluster.c: the slot map; NULL for one server */
    struct tally *limits; /* open.c: a handle of its own on cfg.limits_url, where
                             tally_allow and tally_limits run (limits.c);
                             NULL: they run on this one */
    tally_args args;      /* scratch for the features' calls */
    tally_args aux;       /* scratch for the library's own commands (CLUSTER SLOTS,
                             SCRIPT ...) made while `args` holds a call */
    tally_feature_state feature[TALLY_FEATURES_];
    int64_t test_now_us;  /* tally_test_clock(); 0: Redis TIME */
    int schema_known;     /* schema.c: 1 once the parameters stored under the
                             prefix are known to equal cfg's (read or claimed) */
    int accounts_marked;  /* schema.c: 1 once this handle's first write stored
                             (or found) the day account fields begin */
    int accounts_known;   /* schema.c: 1 once accounts_from was read: the
                             marker is set once (SET NX) and never changes */
    int64_t accounts_from;
    int err;
    char errmsg[TALLY_ERRMSG_MAX];
};

struct redisReply;

/* Sets the handle's error and returns `code`, so callers can write
 * `return tally__fail(t, ...)`. */
int tally__fail(tally *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Clears the error; returns TALLY_OK. */
int tally__ok(tally *t);
/* tally__fail(t, TALLY_ENOMEM, "out of memory"). */
int tally__oom(tally *t);

/* The pure units' problems as the handle's error. */
/* TALLY_OK, or TALLY_EINVAL with keys.c's message naming `what` and the problem. */
int tally__id_check(tally *t, const char *what, const char *id, size_t n);
/* reply.c's code and message for reply r (tally__reply_problem), set on the
 * handle; returns the code. */
int tally__reply_error(tally *t, const struct redisReply *r);

#endif
