/* handle.h -- the layout of a tally handle, shared by the library's units and
 * never by callers. The transport's state (node.c's connections, cluster.c's
 * slot map) is behind pointers to types only those units know, so a feature
 * sees the configuration, its argument buffer, the test clock and the error
 * state, nothing of the connections. No hiredis here. */
#ifndef TALLY_HANDLE_H
#define TALLY_HANDLE_H

#include <stdint.h>

#include "args.h"
#include "error.h"
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
    char *url_text;
    char *prefix;
    tally_url url;
    struct tally_nodes *nodes;     /* node.c: the servers and their connections */
    struct tally_cluster *cluster; /* cluster.c: the slot map; NULL for one server */
    tally_args args;      /* scratch for the features' calls */
    tally_args aux;       /* scratch for the library's own commands (CLUSTER SLOTS,
                             SCRIPT ...) made while `args` holds a call */
    tally_feature_state feature[TALLY_FEATURES_];
    int64_t test_now_us;  /* tally_test_clock(); 0: Redis TIME */
    int schema_known;     /* schema.c: 1 once the parameters stored under the
                             prefix are known to equal cfg's (read or claimed) */
    int accounts_marked;  /* schema.c: 1 once this handle's first write stored
                             (or found) the day account fields begin */
    int err;
    char errmsg[TALLY_ERRMSG_MAX];
};

#endif
