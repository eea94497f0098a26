/* internal.h -- what the units of libtally share and callers never see:
 * the handle's layout, the argument builder, the connection and script calls. */
#ifndef TALLY_INTERNAL_H
#define TALLY_INTERNAL_H

#include <hiredis/hiredis.h>

#include "tally.h"
#include "scripts_gen.h"
#include "url.h"

#define TALLY_ERRMSG_MAX 512

/* Command arguments built in one growing buffer that the handle reuses, so a call
 * costs no allocation once the buffers have grown to its size. Arguments are
 * binary-safe (pointer + length). */
typedef struct tally_args {
    char *buf;
    size_t len, cap;
    size_t *off;          /* offset of each argument in buf */
    size_t *lens;
    const char **ptrs;    /* filled by tally__args_argv() */
    int argc, cap_argc;
    int nkeys_at;         /* argc when the keys ended, for EVALSHA's numkeys */
    char numkeys[24];
    char *resp;           /* the command in RESP, filled by tally__args_resp() */
    size_t resp_cap;
} tally_args;

void tally__args_free(tally_args *a);
/* Adds one argument made of two parts, e.g. an entity base and a key suffix. */
int tally__args_cat(tally_args *a, const char *p1, size_t n1, const char *p2, size_t n2);
void tally__args_reset(tally_args *a);
int tally__args_add(tally_args *a, const void *p, size_t n);
int tally__args_str(tally_args *a, const char *s);
int tally__args_i64(tally_args *a, int64_t v);
/* Starts an EVALSHA of script `id`: keys follow, then tally__args_end_keys(),
 * then the script's ARGV. */
int tally__args_script(tally_args *a, int id);
void tally__args_end_keys(tally_args *a);
/* Pointer array for hiredis; valid until the next change to `a`. */
const char **tally__args_argv(tally_args *a);
/* The command encoded in RESP ("*argc\r\n" and "$len\r\narg\r\n" per
 * argument) in a buffer the builder reuses, for redisAppendFormattedCommand():
 * hiredis 0.14's own argv formatting (sdscatfmt per argument, one allocation per
 * command) cost more client CPU than building the call. Sets *n; NULL when
 * memory ran out. Valid until the next change to `a`. */
const char *tally__args_resp(tally_args *a, size_t *n);

struct tally {
    tally_config cfg;     /* string fields point into the copies below */
    char *url_text;
    char *prefix;
    tally_url url;
    redisContext *ctx;    /* NULL until connected, and again after any I/O error */
    tally_args args;      /* scratch for single calls */
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

/* connection.c */
int tally__ensure_connected(tally *t);
void tally__disconnect(tally *t);
/* After hiredis reported a failure on t->ctx: set the matching error, drop the
 * connection (hiredis cannot reuse it) and return the code. */
int tally__io_failed(tally *t, const char *doing);
/* One command, one reply. Returns the reply (the caller frees it; it may be an
 * error reply) or NULL with the handle's error set. */
redisReply *tally__command(tally *t, tally_args *a);

/* scripts.c */
/* Runs the EVALSHA built in `a`. On NOSCRIPT, loads the scripts and retries once
 * (safe: NOSCRIPT means the script did not run). Never retries after an I/O error
 * or a timeout. Returns a non-error reply for the caller to free, or NULL with the
 * handle's error set; script errors of the form "EINVAL message" become
 * TALLY_EINVAL. */
redisReply *tally__eval(tally *t, tally_args *a);

/* A pipelined batch of script calls. build(ctx, i, a) fills `a` for call i;
 * take(ctx, i, reply) consumes the reply of call i (error replies included; the
 * reply is freed after take returns). Calls answered NOSCRIPT are rebuilt and
 * sent again after loading the scripts. Returns TALLY_OK when every call got a
 * reply, else the connection error (replies already taken stay taken). */
typedef int (*tally_build_fn)(void *ctx, size_t i, tally_args *a);
typedef void (*tally_take_fn)(void *ctx, size_t i, redisReply *reply);
int tally__eval_batch(tally *t, size_t n, tally_build_fn build, tally_take_fn take,
                      void *ctx);

/* Maps a script's error reply to a code and sets the handle's error. */
int tally__script_error(tally *t, const redisReply *reply);

extern const tally_script_info tally__scripts[TALLY_SCRIPT_COUNT_];

#endif
