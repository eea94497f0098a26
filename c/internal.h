/* internal.h -- what the units of libtally share and callers never see:
 * the handle's layout, the argument builder, the connection and script calls. */
#ifndef TALLY_INTERNAL_H
#define TALLY_INTERNAL_H

#include <hiredis/hiredis.h>
#include <signal.h>

#include "tally.h"
#include "scripts_gen.h"
#include "url.h"

#define TALLY_ERRMSG_MAX 512

/* Command arguments, written straight into the RESP encoding of the command
 * ("$len\r\narg\r\n" each) in one growing buffer that the handle reuses: a
 * call costs no allocation once the buffers have grown to its size, and no copy
 * but the one into hiredis's output buffer. Arguments are binary-safe; off[i] and
 * lens[i] locate argument i's bytes in buf. */
typedef struct tally_args {
    char *buf;
    size_t len, cap;
    size_t *off;
    size_t *lens;
    int argc, cap_argc;
    int nkeys_at;         /* argc when the keys ended, for EVALSHA's numkeys; -1 */
    size_t start;         /* where the finished command starts in buf; 0: not yet */
} tally_args;

void tally__args_free(tally_args *a);
/* Writes u in decimal ending just before `end` (24 bytes suffice) and returns
 * where it starts; two digits per division, no locale, no printf. */
char *tally__utoa_end(uint64_t u, char *end);
void tally__args_reset(tally_args *a);
/* Each adder returns 0, or -1 when memory ran out (the builder stays usable). */
int tally__args_add(tally_args *a, const void *p, size_t n);
/* Adds one argument made of two parts, e.g. an entity base and a key suffix. */
int tally__args_cat(tally_args *a, const char *p1, size_t n1, const char *p2, size_t n2);
int tally__args_str(tally_args *a, const char *s);
int tally__args_i64(tally_args *a, int64_t v);
/* Starts an EVALSHA of script `id`: keys follow, then tally__args_end_keys(),
 * then the script's ARGV. */
int tally__args_script(tally_args *a, int id);
/* The same, by the script's SHA1 (40 hex digits). */
int tally__args_evalsha(tally_args *a, const char *sha1);
void tally__args_end_keys(tally_args *a);
/* The whole command in RESP, for redisAppendFormattedCommand(): hiredis 0.14's
 * own argv formatting (sdscatfmt per argument, one allocation per command) cost
 * more client CPU than building the call. Sets *n. Valid until the builder is
 * reset; calling it again returns the same bytes. */
const char *tally__args_resp(tally_args *a, size_t *n);

/* A Redis server the handle talks to: the one server of a redis:// or unix://
 * URL, or a primary or replica of a cluster. */
typedef struct tally_node {
    char host[256];       /* for unix:// the socket path */
    int port;             /* 0 for unix:// */
    int replica;          /* cluster replicas only receive the scripts */
    redisContext *ctx;    /* NULL until connected, and again after any I/O error */
} tally_node;

#define TALLY_SLOTS 16384

struct tally {
    tally_config cfg;     /* string fields point into the copies below */
    char *url_text;
    char *prefix;
    tally_url url;
    tally_node *nodes;    /* one for a single server; a cluster's primaries and replicas */
    int nnodes;
    int16_t *slots;       /* cluster only: node index serving each slot, -1 unknown */
    int map_stale;        /* cluster: refresh the slot map before the next call */
    tally_args args;      /* scratch for single calls */
    struct tally_hour_cache *hour_cache; /* record.c's strings for the last hour */
    struct tally_batch_scratch *batch_scratch; /* record.c's arrays for batches */
    tally_args aux;       /* scratch for the library's own commands (CLUSTER SLOTS,
                             SCRIPT ...) made while `args` holds a call */
    int64_t test_now_us;  /* tally_test_clock(); 0: Redis TIME */
    int err;
    char errmsg[TALLY_ERRMSG_MAX];
};

/* error.c: set the handle's error; returns `code` so callers can
 * `return tally__fail(t, ...)`. */
int tally__fail(tally *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tally__ok(tally *t);
int tally__oom(tally *t);

/* keys.c: ids are 1..TALLY_ID_MAX bytes of valid UTF-8 without control
 * characters. tally__entity() writes "<prefix>:v1:{<kind>:<encoded id>}:" into
 * out (TALLY_ENTITY_MAX bytes) and returns its length; kinds: 'k' API key,
 * 'a' account, 's' shard of the shared aggregates. */
#define TALLY_ID_MAX 256
#define TALLY_ENTITY_MAX (64 + 10 + 3 * TALLY_ID_MAX)
int tally__id_check(tally *t, const char *what, const char *id, size_t n);
size_t tally__entity(const tally *t, char kind, const char *id, size_t n, char *out);
/* The key suffix of a period's bucket hash into buf[24]: "t", "M:202611",
 * "D:20261126", or "H:20261126" for hours (the hour is the field). */
size_t tally__period_suffix(const tally_period *p, char *buf);

/* money.c: exact decimal USD -> nanos; 0 or -1. */
int tally__usd_parse(const char *s, size_t n, int64_t *nanos);

/* timecal.c: an event time seen in the statistics timezone. */
typedef struct tally_when {
    int year, month, day, hour;
    int64_t minute;                            /* epoch minute (timezone-free) */
    int64_t month_end_s, day_end_s, hour_end_s; /* bucket ends, epoch seconds */
    char ym[16], ymd[16], hh[8];               /* "202611", "20261126", "07" */
} tally_when;
void tally__when(int64_t at_ms, int tz_min, tally_when *w);
int64_t tally__days_from_civil(int y, int m, int d);
int tally__date_valid(int y, int m, int d);
int64_t tally__now_ms(void);

/* budgets.c: adds the member naming a reservation in the reservations hash and
 * the leases set: API key id, byte 0x1F, request id. A request id belongs to its
 * key, so two keys of one account that reuse an id hold apart. 0 or -1 (OOM). */
int tally__args_reservation(tally_args *a, const char *key, const char *request_id);

/* record.c: frees the handle's batch arrays (tally_close). */
void tally__batch_scratch_free(tally *t);

/* connection.c */
/* hiredis writes with write(2): a server that closed the connection raises
 * SIGPIPE, which kills a program that does not ignore it. Around the library's
 * socket I/O the signal is blocked in the calling thread and a SIGPIPE that the
 * I/O raised is consumed, so the caller's signal handling is left as it was
 * (a single sigaction call when the program ignores SIGPIPE already). */
typedef struct tally_pipe_guard {
    int active, pending_before;
    sigset_t old;
} tally_pipe_guard;
void tally__pipe_guard_on(tally_pipe_guard *g);
void tally__pipe_guard_off(tally_pipe_guard *g);

/* Connects node i if it is not connected: AUTH, SELECT, and (unless deferred)
 * SCRIPT LOAD on that node. TALLY_OK or the error. */
int tally__connect_node(tally *t, int i);
void tally__disconnect(tally_node *n);
/* After hiredis reported a failure on node n: set the matching error, drop the
 * connection (hiredis cannot reuse it) and return the code. */
int tally__io_failed(tally *t, tally_node *n, const char *doing);
/* One command on node i, one reply. Returns the reply (the caller frees it; it
 * may be an error reply) or NULL with the handle's error set. */
redisReply *tally__command_on(tally *t, int i, tally_args *a);
/* "host:port" or the socket path of node i, into buf. */
const char *tally__node_addr(const tally *t, int i, char *buf, size_t n);

/* cluster.c: routing. A single server is node 0 for every slot. */
unsigned tally__key_slot(const char *key, size_t n);
/* The node serving the first key of `a` (EVALSHA: argument 3), connected.
 * With may_refresh, a stale slot map is read again first, and again when the
 * node cannot be reached (nothing was sent). -1 with the handle's error set. */
int tally__route(tally *t, const tally_args *a, int may_refresh);
/* Reads CLUSTER SLOTS from any reachable node and rebuilds the node list
 * (connections to nodes still present are kept). */
int tally__cluster_refresh(tally *t);
/* Parses "MOVED 3999 host:port" / "ASK 3999 host:port": 1 for MOVED, 2 for
 * ASK, 0 otherwise; the node index (added to the list if new) into *node. */
int tally__redirect(tally *t, const redisReply *r, int *node);

/* scripts.c */
/* Loads every script on node i and checks the SHAs. */
int tally__load_scripts_on(tally *t, int i);
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

/* A pipelined batch of script calls. build(ctx, i, a) fills `a` for call i;
 * take(ctx, i, reply) consumes the reply of call i (error replies included) and
 * returns 1 to keep the reply (then it frees it itself), 0 to let it be freed. Calls answered NOSCRIPT are rebuilt and
 * sent again after loading the scripts. Returns TALLY_OK when every call got a
 * reply, else the connection error (replies already taken stay taken). */
typedef int (*tally_build_fn)(void *ctx, size_t i, tally_args *a);
typedef int (*tally_take_fn)(void *ctx, size_t i, redisReply *reply);
int tally__eval_batch(tally *t, size_t n, tally_build_fn build, tally_take_fn take,
                      void *ctx);

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

/* Maps a script's error reply to a code and sets the handle's error. */
int tally__script_error(tally *t, const redisReply *reply);

extern const tally_script_info tally__scripts[TALLY_SCRIPT_COUNT_];

#endif
