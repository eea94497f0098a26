/* tally.h -- usage statistics and admission control kept in Redis, atomically.
 *
 * Every operation is one Lua script (in lua/), embedded at build time, loaded
 * with SCRIPT LOAD and run with EVALSHA; the library only marshals arguments.
 *
 * Conventions (as in SQLite and hiredis):
 *   - a tally handle is opaque; tally_open() creates it, tally_close() frees it;
 *   - every call returns a TALLY_* result code; on failure the handle keeps the
 *     code (tally_errcode) and a message (tally_errmsg) until the next call;
 *   - the library never aborts, exits or prints, and never puts a password in a
 *     message;
 *   - results the library allocates for the caller say so, with the one call
 *     that frees them.
 * A handle is not thread-safe: use one per thread.
 * fork(): a handle or recorder belongs to the process that opened it. A
 * pre-fork server opens them in each child, after fork: a child's copy of a
 * parent's handle would share its connections with the parent (answers would
 * reach the wrong process), so it must not be used there (tally_close() on it
 * only frees the copy and closes its descriptors, sending nothing); a copy of a
 * recorder answers every call with TALLY_EINVAL (see the async recorder).
 * SIGPIPE: the library writes with send(MSG_NOSIGNAL), so a server that drops
 * the connection cannot raise SIGPIPE; the program's own handling is untouched.
 */
#ifndef TALLY_H
#define TALLY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility: what this header declares is
 * its whole exported interface. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* Result codes. The tool maps them to exit status: EINVAL -> 2,
 * ECONNECT/EAUTH -> 3, EEVICT -> 5, everything else -> 4 (see tally --help). */
enum {
    TALLY_OK = 0,
    TALLY_EINVAL,    /* bad argument or input; nothing was written */
    TALLY_ECONNECT,  /* Redis unreachable (connection refused), the connection
                        found closed before any byte of the command was
                        written, or the server still loading its dataset
                        (LOADING): the command did not run */
    TALLY_EAUTH,     /* authentication or SELECT refused, or the Redis
                        user may not (NOPERM), e.g. load prices */
    TALLY_ETIMEOUT,  /* no reply in time: a write may or may not have happened */
    TALLY_EIO,       /* connection lost after sending, or the server sent what
                        is no RESP or a reply past the library's bounds (at most
                        1,048,576 elements, 64 MiB of strings, 4 MiB in one
                        piece; about 140 MiB in all): outcome unknown */
    TALLY_EREDIS,    /* Redis answered with an error (OOM, WRONGTYPE, ...) */
    TALLY_ESCRIPT,   /* a script's SHA differs from the build's, or it misbehaved */
    TALLY_ENOMEM,    /* out of memory */
    TALLY_ERANGE,    /* a query's sum passes 2^63-1: every stored bucket is
                        valid, but the sum asked for (shards, models or minutes
                        merged, or a bucket's total tokens) is no int64 */
    TALLY_ESYSTEM,   /* the system refused what the call needs (no random bytes
                        for a lease id); nothing was sent */
    TALLY_EFULL,     /* a recorder's buffer is full and it drops: the event
                        was not recorded (tally_recorder_record) */
    TALLY_EEVICT     /* a write refused before it was sent: the server's
                        maxmemory-policy is not noeviction (or INFO could not
                        tell), so Redis may evict tally's keys; nothing was
                        written (tally_config.allow_eviction) */
};

typedef struct tally tally;

/* Where the read-only queries go (tally_config.read_from). */
enum { TALLY_READ_PRIMARY = 0, TALLY_READ_REPLICA = 1 };

/* Options for tally_open(). Always start from tally_config_init(); fields may be
 * added at the end in later versions. Strings are copied by tally_open(). */
typedef struct tally_config {
    const char *url;          /* NULL: $TALLY_URL, else redis://127.0.0.1:6379/0;
                                 redis-cluster://host:port[,host:port...] for a
                                 Redis Cluster (seed nodes) */
    int connect_timeout_ms;   /* default 2000, per connection made */
    int command_timeout_ms;   /* default 5000; 0 waits forever. One deadline per
                                 call, not per read: all its writes and reads
                                 (retries, redirections, a batch's round trip
                                 of up to 512 calls) end by it with
                                 TALLY_ETIMEOUT, whatever the server sends */
    const char *prefix;       /* key prefix, default "tally" */
    int tz_offset_min;        /* statistics timezone, minutes east of UTC
                                 (+-TALLY_TZ_MAX_MIN); 0 = UTC. Stored with
                                 the data at the first write under the prefix,
                                 with shards and idempotency_s: a handle with
                                 other values is refused (TALLY_EINVAL) */
    int shards;               /* shards of shared aggregates, default 8 (1..256) */
    /* Retention of each bucket after its period ends, in seconds. */
    int64_t ttl_minute_s;     /* default 2 h (TALLY_TTL_MINUTE_DEFAULT_S);
                                 tally_metrics reads at most this long back */
    int64_t ttl_hour_s;       /* default 8 days */
    int64_t ttl_day_s;        /* default 32 days */
    int64_t ttl_month_s;      /* default 400 days */
    int64_t idempotency_s;    /* request ids remembered at least this long, 24 h */
    int64_t max_future_ms;    /* events later than server time + this are refused,
                                 default 5 minutes, at most a day */
    int64_t max_script_us;    /* how long one script call of a batch may hold
                                 Redis (other clients wait meanwhile): batches
                                 are cut into calls of about this much measured
                                 work, one in flight per 1250 us of it (1 to
                                 4); default 5000 (5 ms), 100..10000000 */
    int defer_script_load;    /* 1: do not SCRIPT LOAD on connect (for inspecting
                                 the cache); NOSCRIPT still loads on demand.
                                 Such an open only connects: it does not check
                                 the prefix for a dataset of an older key
                                 schema (v1, v2), so tally_migrate() uses it */
    int test_clock;           /* 1: allow tally_test_clock() (tests only) */
    int read_from;            /* TALLY_READ_PRIMARY (default), or
                                 TALLY_READ_REPLICA: on a Redis Cluster the
                                 read-only calls (tally_stats, tally_models,
                                 tally_price_versions, tally_trend, tally_top,
                                 tally_metrics, tally_limits) run with
                                 EVALSHA_RO on a replica of their slot (READONLY
                                 connections), on its primary when no replica
                                 is up or a replica's connection fails during
                                 the call. Replicas lag their primary (async
                                 replication): a read may miss the latest
                                 writes; tally_wait_replicas() on the writer's
                                 handle waits for them (a tally_limits peek
                                 may see fewer units consumed). Writes and
                                 admission (record, allow, reserve, settle,
                                 leases) always run on the primary. On a single
                                 server the reads use EVALSHA_RO on it (a
                                 read-only replica's URL then serves them). */
    int prices_refresh_ms;    /* pricing (below): the handle's copy of Redis's
                                 price table is read again when older than this,
                                 default 1000; so a load reaches every recording
                                 host within it (0: before every priced call) */
    int price_missing_zero;   /* 1: an event asking for its price whose model
                                 has none in the loaded table is recorded
                                 unpriced, at cost 0; 0 (default): it is
                                 refused with TALLY_EINVAL. With no table
                                 loaded every such event is recorded
                                 unpriced, whatever this says */
    int allow_eviction;       /* Eviction. Redis evicts keys under maxmemory
                                 unless maxmemory-policy is noeviction: an
                                 evicted bucket reads low, an evicted request
                                 id is forgotten (a resend counts again), an
                                 evicted limit, lease or reservation admits
                                 too much. So every write checks the policy of
                                 the primary it goes to (INFO memory, needing
                                 no CONFIG rights: read at tally_open, on
                                 every new connection, when older than
                                 prices_refresh_ms, and after an OOM answer;
                                 the policy alone counts, whatever maxmemory
                                 is, as CONFIG SET may change that at any
                                 time). 0 (default): under any other policy,
                                 or when INFO cannot tell, every write is
                                 refused with TALLY_EEVICT, nothing sent.
                                 1: recording (tally_record, _batch, settle,
                                 the recorder, tally_prices_load) goes ahead,
                                 approximate: counts may be lost and a resent
                                 request id may count twice. Admission
                                 (tally_allow, leases, tally_reserve, tally_cancel) stays
                                 refused either way. Reads never check. */
    const char *limits_url;   /* Where the rate limits live. NULL (default):
                                 $TALLY_LIMITS_URL when set and not empty, else
                                 on the server of `url`; "": there, whatever
                                 the environment says. Otherwise a URL as
                                 `url` takes (a server or a cluster of its
                                 own): tally_allow and tally_limits run there,
                                 so an import on `url` cannot stall them. The
                                 handle opens a handle of its own on it with
                                 this configuration (scripts, eviction check,
                                 timeouts, read_from, test clock) at
                                 tally_open, which fails when it cannot
                                 (messages begin "limits server ADDR: "); its
                                 errors are this handle's. Reservations and
                                 leases stay on `url`: settling releases them
                                 atomically with the usage it records. */
} tally_config;

void tally_config_init(tally_config *cfg);
#define TALLY_TTL_MINUTE_DEFAULT_S 7200 /* ttl_minute_s's default: 2 h */

/* Opens a handle: parses the URL, connects, authenticates, selects the database
 * and loads every script, checking each SHA against the build's.
 * *out receives a handle even on failure (except TALLY_ENOMEM, where it is NULL)
 * so the caller can read tally_errmsg(); close it with tally_close() either way.
 * A prefix that holds a dataset of an older key schema is refused with
 * TALLY_EINVAL naming the key found (v2: convert it with tally_migrate()).
 * cfg may be NULL for all defaults. */
int tally_open(const tally_config *cfg, tally **out);
void tally_close(tally *t);

/* The handle's configuration, with defaults and $TALLY_URL applied. Owned by
 * the handle. */
const tally_config *tally_config_of(const tally *t);

int tally_errcode(const tally *t);
/* Message of the last failure on this handle, or "" after success. Owned by the
 * handle; valid until the next call on it. */
const char *tally_errmsg(const tally *t);
/* Static name of a result code, e.g. "invalid argument". */
const char *tally_strerror(int code);
/* The library's version, e.g. "0.1.0" (static). */
const char *tally_version(void);

/* -------------------------------------------------------------------- money */

/* Money is integer nano-USD (1 USD = 1,000,000,000). Converts decimal USD text
 * such as "0.0123" exactly: digits, optionally '.' and 1 to 9 decimals; no sign,
 * exponent or spaces. TALLY_OK, or TALLY_EINVAL (no handle, no message). */
int tally_usd_to_nanos(const char *text, int64_t *nanos);
/* Writes nanos as decimal USD with at least 2 decimals ("0.25", "0.0123") into
 * buf; returns the length (as snprintf). 32 bytes always suffice. */
size_t tally_nanos_to_usd(int64_t nanos, char *buf, size_t cap);

/* --------------------------------------------------------------------- time */

/* Offsets from UTC, in minutes east, are within +-TALLY_TZ_MAX_MIN (-14:00 to
 * +14:00, the range of real zones): tz_offset_min, ISO-8601 offsets and
 * tally_parse_offset() share this rule. */
#define TALLY_TZ_MAX_MIN (14 * 60)

/* Parses a UTC offset "+HH:MM" or "-HH:MM" (MM < 60), or "Z" or "UTC", into
 * minutes east of UTC. TALLY_OK or TALLY_EINVAL (no handle, no message). */
int tally_parse_offset(const char *text, int *minutes);

/* An event's at_ms is TALLY_AT_NOW (0, what a zero-initialised event holds)
 * for "now, by this host's clock". Event times are 1 ms past the epoch
 * (1970-01-01T00:00:00.001Z) to 9999-12-31T23:59:59.999Z, so no event time can
 * mean "now": the epoch instant itself is not an event time. */
#define TALLY_AT_NOW 0
#define TALLY_AT_MAX 253402300799999LL

/* Parses an event time: epoch milliseconds ("1764151200000") or ISO-8601
 * "YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]"; without an offset the time is
 * read in tz_min (minutes east of UTC). TALLY_OK, or TALLY_EINVAL for text that
 * is not an event time (the epoch instant "0" / 1970-01-01T00:00:00Z included:
 * that value is TALLY_AT_NOW). */
int tally_parse_time(const char *text, int tz_min, int64_t *at_ms);
/* Writes time at_ms (epoch ms, 0 to TALLY_AT_MAX) as ISO-8601 to the ms in the
 * zone tz_min minutes east of UTC, as the library's messages show event times:
 * "2026-11-26T10:00:00.000Z" (tz_min 0), "2026-11-26T18:00:00.000+08:00";
 * tally_parse_time() reads it back. Outside those ranges: "<at_ms> ms".
 * Returns what snprintf(buf, cap, ...) returns; TALLY_TIME_TEXT_MAX bytes hold
 * any of them. */
#define TALLY_TIME_TEXT_MAX 40
int tally_format_time(int64_t at_ms, int tz_min, char *buf, size_t cap);

/* ---------------------------------------------------------------- recording */

#define TALLY_MAX_TOKENS 1000000000000LL         /* per count, per event */
#define TALLY_MAX_COST_NANOS 1000000000000000LL  /* 1,000,000 USD per event */
/* cost_nanos of an event that gives no cost: the library computes it from
 * the price table (see "prices" below). */
#define TALLY_COST_FROM_PRICES INT64_MIN
/* tally_result.price_version of an event recorded unpriced, at cost 0: no
 * price table is loaded (a fresh install counting tokens), or its model has
 * no price and cfg.price_missing_zero is set. */
#define TALLY_UNPRICED (-2)

/* One usage event. Ids are 1 to 256 bytes of UTF-8 without control characters;
 * any other byte (':', '{', '}', ' ', '*', '%', ...) is allowed. */
typedef struct tally_event {
    const char *key;          /* API key id; required */
    const char *model;        /* required */
    const char *account;      /* NULL or "": none */
    int64_t input_tokens, output_tokens, cache_create_tokens, cache_read_tokens;
    int64_t cost_nanos;       /* 0..TALLY_MAX_COST_NANOS, or
                                 TALLY_COST_FROM_PRICES: from the price table */
    int64_t at_ms;            /* event time, epoch ms, 1..TALLY_AT_MAX; or
                                 TALLY_AT_NOW (0): now, by this host's clock */
    const char *request_id;   /* NULL or "": no idempotency; scoped to the key */
} tally_event;

/* Records one event with one EVALSHA: per key (total, month, day, hour, and
 * per model for total, month, day), per account (total, month, day, hour), per
 * model and global (total, month, day, hour), the system minute, and the key's
 * and the account's buckets in the key's shard's hashes (total, month, day:
 * what the rankings of keys and accounts read). Everything is
 * validated before anything is written. With a request id the event counts at
 * most once: *duplicate (if not NULL) is set to 1 when it was already recorded. */
int tally_record(tally *t, const tally_event *ev, int *duplicate);

/* Checks an event as tally_record() would, without sending it: TALLY_OK or
 * TALLY_EINVAL with a message naming the problem. */
int tally_event_check(tally *t, const tally_event *ev);

/* The same check without a handle, e.g. before connecting (thread-safe):
 * TALLY_OK, or TALLY_EINVAL with the message (cut to cap bytes, NUL-terminated)
 * in msg. */
int tally_event_validate(const tally_event *ev, char *msg, size_t cap);

/* Outcome of one event of a batch. Every field is written by
 * tally_record_batch() for every event. */
#define TALLY_RESULT_MESSAGE_MAX 256
typedef struct tally_result {
    int code;       /* TALLY_OK, or why this event was not recorded */
    int duplicate;  /* 1: already recorded under its request id */
    char message[TALLY_RESULT_MESSAGE_MAX];
                    /* "" when code is TALLY_OK, else why: the text that
                       tally_errmsg() gives after tally_record() of this event
                       alone (a bad argument, the script's or Redis's error, or
                       the connection's error for events left without an
                       answer), cut to fit and always NUL-terminated. It lives
                       in the caller's array, not in the handle: later calls do
                       not change it. Filling it allocates nothing. */
    int64_t cost_nanos;     /* the cost recorded: the event's, or the one
                               computed from the price table */
    int64_t price_version;  /* the version of the price table that priced
                               it, -1 when the event gave its cost, or
                               TALLY_UNPRICED when it asked for a price and
                               got none (recorded at cost 0; see "prices") */
} tally_result;

/* Records n events. They are merged on this host into the deltas of the
 * distinct bucket fields they touch and sent in script calls
 * that each record their events atomically and hold Redis at most about
 * cfg.max_script_us (calls are sized by the measured time of earlier ones);
 * one call is in flight per 1.25 ms of the bound, from 1 to 4 (another
 * client's command waits behind every call in flight). Invalid events are reported in res[i]
 * and skipped; an event Redis refuses (a foreign key of the wrong type, an
 * overflow, an event time too far ahead) is found by halving its call and
 * refused alone, and the others are recorded. On a single server the events
 * are grouped by shard and API key before they are cut into calls, so that a
 * call's events share buckets (the larger the batch, the more they merge);
 * each key's events keep their order, so events repeating a request id are
 * answered as if recorded one by one, in order. Returns TALLY_OK when every
 * event got an answer (check res[i].code and res[i].message), else the
 * connection's error, and the events without an answer say why in res[i]:
 * TALLY_ECONNECT when their call was never sent (the connection refused, or
 * found closed before the call was written, or the scripts could not be
 * loaded): they did not run, so resending them is safe with or without a
 * request id; TALLY_EIO or TALLY_ETIMEOUT when it was sent and no answer came:
 * the outcome is unknown, resend only those with request ids. On a cluster an
 * event goes in one call per entity (key, account, shard); it is
 * TALLY_ECONNECT only when none of them was sent or answered. The handle's
 * message describes the first failure ("event 3: ..."). */
int tally_record_batch(tally *t, const tally_event *ev, size_t n, tally_result *res);

/* ----------------------------------------------------------- async recorder */

/* For a service's request path: tally_recorder_record() copies the event into
 * a bounded in-process buffer and returns (no Redis round trip); a background
 * thread with its own handle sends what waits as batches (tally_record_batch)
 * every flush_ms, or as soon as flush_events wait. Thread-safe: any number of
 * threads may record into one recorder.
 *
 * What a crash loses: the events accepted but not yet answered by Redis, that
 * is the buffer (at most `capacity` events; with Redis keeping up, what
 * arrived during the last flush_ms plus the batch being sent) and, after a
 * connection failure, the events waiting to be sent again. Bound it with
 * flush_ms and capacity; call tally_recorder_flush() where an event must be
 * durable before going on (it waits until Redis has answered it).
 * Events that were not sent (TALLY_ECONNECT: Redis down or unreachable) did
 * not run: they are held and sent again every retry_ms until Redis answers,
 * however long the outage (while the buffer fills, record blocks or drops as
 * when_full says). Events sent without an answer (a connection lost or a
 * timeout mid-call) may have run: those with a request id are sent again too,
 * which is safe (a resend that had run answers "duplicate"); those without
 * one are given up and counted as `unknown` (a resend might count them twice).
 *
 * fork(): the recorder belongs to the process that opened it; a pre-fork
 * server opens one in each child, after fork. In a child, a copy of the
 * parent's recorder has no thread and shares the parent's connection: record,
 * flush and close answer TALLY_EINVAL at once (close frees the child's copy;
 * tally_recorder_errmsg() says why), nothing is sent from the child, and the
 * parent's recorder is unaffected. */
typedef struct tally_recorder tally_recorder;
enum { TALLY_RECORDER_BLOCK = 0, TALLY_RECORDER_DROP = 1 };
typedef struct tally_recorder_config {
    size_t capacity;      /* events the buffer holds, default 65536 */
    size_t bytes;         /* room for their strings, default 96 per event */
    int flush_ms;         /* an event waits at most this long, default 5 */
    size_t flush_events;  /* or until this many wait, default 2048 */
    int when_full;        /* TALLY_RECORDER_BLOCK (default): the caller waits
                             for room; TALLY_RECORDER_DROP: the event is
                             dropped, counted, and record answers TALLY_EFULL */
    int retry_ms;         /* wait before sending again after a connection
                             failure, default 100 */
} tally_recorder_config;
void tally_recorder_config_init(tally_recorder_config *rc);

typedef struct tally_recorder_stats {
    uint64_t recorded, duplicates;  /* answered by Redis */
    uint64_t refused;     /* refused by Redis (a bad value, a foreign key...) */
    uint64_t rejected;    /* refused by tally_recorder_record (TALLY_EINVAL) */
    uint64_t dropped;     /* buffer full, TALLY_RECORDER_DROP */
    uint64_t blocked;     /* callers that waited for room */
    uint64_t unknown;     /* given up: sent without a request id and not
                             answered (may or may not count), or still
                             unanswered when close ran out of time */
    uint64_t resent;      /* sends again after a connection failure */
    size_t queued;        /* accepted and not answered yet */
} tally_recorder_stats;

/* Opens the recorder's handle from cfg (NULL: defaults; as tally_open) and
 * starts its thread; rc NULL: defaults. *out receives a recorder even on
 * failure (except TALLY_ENOMEM before any is allocated): read
 * tally_recorder_errmsg(), then tally_recorder_close() it. */
int tally_recorder_open(const tally_config *cfg, const tally_recorder_config *rc, tally_recorder **out);
/* Validates the event (as tally_event_check) and copies it, strings and all;
 * at_ms TALLY_AT_NOW is read from this host's clock now. TALLY_OK,
 * TALLY_EINVAL (bad event, the recorder is closing, or it was opened in a
 * parent of this process), TALLY_EFULL (DROP mode, full). Never waits on
 * Redis; in BLOCK mode waits for room. */
int tally_recorder_record(tally_recorder *r, const tally_event *ev);
/* Waits until every event accepted before the call has been answered by Redis
 * or given up, at most timeout_ms (< 0: no limit). TALLY_OK only when none was
 * given up or refused; TALLY_ETIMEOUT: they are still being sent (during an
 * outage, until Redis is back); TALLY_EIO: some were given up as unknown, or
 * TALLY_EREDIS: Redis refused some (a bad value, a foreign key), with the
 * counts and the last reason in tally_recorder_errmsg(). A loss is reported
 * by every flush (or close) that began before one of them reported it, and by
 * no later one. TALLY_EINVAL in a forked child. */
int tally_recorder_flush(tally_recorder *r, int timeout_ms);
/* Flushes (at most timeout_ms, < 0: no limit), stops the thread and frees the
 * recorder; returns as tally_recorder_flush() (flush first to read the
 * message). After a timeout what is still unanswered gets one more try and is
 * then given up (counted as unknown); returns TALLY_ETIMEOUT then. In a forked
 * child: TALLY_EINVAL at once, the child's copy freed. */
int tally_recorder_close(tally_recorder *r, int timeout_ms);
void tally_recorder_get_stats(tally_recorder *r, tally_recorder_stats *out);
/* Copies the last failure's message (a rejected event, Redis's error, the
 * connection's) into buf (n bytes). */
void tally_recorder_errmsg(tally_recorder *r, char *buf, size_t n);

/* ------------------------------------------------------------------ queries */

/* One bucket of statistics. total_tokens = input + output + cache-create +
 * cache-read. */
typedef struct tally_bucket {
    int64_t requests;
    int64_t input_tokens, output_tokens, cache_create_tokens, cache_read_tokens;
    int64_t total_tokens;
    int64_t cost_nanos;
} tally_bucket;

/* Whose statistics. */
enum { TALLY_SCOPE_KEY, TALLY_SCOPE_ACCOUNT, TALLY_SCOPE_MODEL, TALLY_SCOPE_GLOBAL };
/* Bucket sizes. */
enum { TALLY_TOTAL, TALLY_MONTH, TALLY_DAY, TALLY_HOUR };

/* A bucket's period in the statistics timezone; unused fields are 0. */
typedef struct tally_period {
    int kind;                    /* TALLY_TOTAL ... TALLY_HOUR */
    int year, month, day, hour;
} tally_period;

/* Parses "total", "today", "month" (this month), "hour" (this hour),
 * "day:YYYY-MM-DD" (or a bare "YYYY-MM-DD"), "month:YYYY-MM" or
 * "hour:YYYY-MM-DDTHH" (exactly these digits, of a real date), in the
 * handle's timezone ("today" by this host's clock). TALLY_OK or TALLY_EINVAL
 * with a message. */
int tally_period_parse(tally *t, const char *text, tally_period *out);
/* The same without a handle, in timezone tz_min (minutes east of UTC):
 * TALLY_OK or TALLY_EINVAL (no message). */
int tally_parse_period(const char *text, int tz_min, tally_period *out);
/* Writes "total", "2026-11", "2026-11-26" or "2026-11-26T07" into buf[24]. */
void tally_period_format(const tally_period *p, char buf[24]);

/* A range of whole days, from and to included: two TALLY_DAY periods (as
 * tally_period_parse gives for "today", "day:YYYY-MM-DD" or a bare
 * "YYYY-MM-DD"), in the handle's timezone, at most TALLY_RANGE_MAX_DAYS days.
 * A range is read from month buckets for the whole calendar months it holds
 * and from day buckets for the other days, so every part of it must still be
 * kept (cfg.ttl_day_s and ttl_month_s after the bucket's end): a range
 * reaching an expired bucket is refused with TALLY_EINVAL naming it. The
 * reads are cut into calls that each hold Redis about cfg.max_script_us at
 * most, and summed here exactly; a sum past 2^63-1 fails with TALLY_ERANGE. */
#define TALLY_RANGE_MAX_DAYS 1000
typedef struct tally_range {
    tally_period from, to;
} tally_range;
/* tally_stats over range r. */
int tally_stats_range(tally *t, int scope, const char *id, const tally_range *r, tally_bucket *out);

/* Reads one bucket: scope and id (the key, account or model; NULL for global)
 * for period p. Missing data reads as zeros. Every recorded event counts one
 * request, so out->requests == 0 means exactly "no data" (a name never
 * recorded in p, or a typo). One round trip. */
int tally_stats(tally *t, int scope, const char *id, const tally_period *p, tally_bucket *out);

/* Per-model breakdown of one key (or of all keys when key is NULL) for a total,
 * month or day period, most expensive first. The hashes are read in calls of
 * about cfg.max_script_us each (HSCAN pages when thousands of accounts make
 * the shards' hashes large) and summed exactly (docs/keys.md: what a read in
 * pages sees while events are recorded). *out is allocated for the caller:
 * free it with tally_models_free(). */
typedef struct tally_model_stats {
    char *model;
    tally_bucket b;
} tally_model_stats;
int tally_models(tally *t, const char *key, const tally_period *p, tally_model_stats **out, size_t *n);
void tally_models_free(tally_model_stats *m, size_t n);
/* tally_models over range r (see tally_stats_range). */
int tally_models_range(tally *t, const char *key, const tally_range *r, tally_model_stats **out, size_t *n);
/* The same breakdown of one key by the price table version that priced its
 * events (the key's "p:<version>" buckets: events given a cost are in none);
 * `model` holds the version's digits, or "none" for the events recorded
 * unpriced (TALLY_UNPRICED). Free with tally_models_free(). */
int tally_price_versions(tally *t, const char *key, const tally_period *p, tally_model_stats **out, size_t *n);

/* The last n buckets of size `by` (TALLY_HOUR, TALLY_DAY or TALLY_MONTH) up to
 * and including the current one, oldest first, into points[n] (caller's array).
 * n is 1 to 1000. */
typedef struct tally_point {
    tally_period period;
    tally_bucket b;
} tally_point;
int tally_trend(tally *t, int scope, const char *id, int by, int n, tally_point *points);

/* Rankings: API keys ranked by cost, tokens or requests over a total, month
 * or day period, from each key's bucket in its shard's hashes ("k:<key id>",
 * docs/keys.md), read in bounded pages and ranked on this host: exact int64
 * values, at a cost that grows with the keys active in the period. */
enum { TALLY_RANK_COST, TALLY_RANK_TOKENS, TALLY_RANK_REQUESTS };
typedef struct tally_rank {
    char *key;
    int64_t value;   /* nano-USD, tokens or requests */
} tally_rank;
#define TALLY_TOP_MAX 1000
/* Top n (1..TALLY_TOP_MAX) keys, highest value first; equal values rank by key id (byte
 * order, lowest first), so the answer for n is the first n rows of the answer
 * for any larger n, on one server and across shards or cluster nodes alike.
 * *out is allocated for the caller: free it with tally_top_free(). */
int tally_top(tally *t, int by, const tally_period *p, size_t n, tally_rank **out, size_t *count);
void tally_top_free(tally_rank *r, size_t count);

/* Rankings of API keys or of models (`of`), over one period (total, month,
 * day) or over a range of days; the same order and tie rule as tally_top
 * (equal values by name, byte order). Models are ranked from their buckets
 * (tally_models's, summed over shards and the range's parts). Keys are ranked
 * from their buckets in their shards' hashes (a key's field "k:<key id>" of
 * each of the range's months and days), read in HSCAN pages of calls of about
 * cfg.max_script_us each and summed here: exact, at a cost that grows with the
 * keys active in the range (docs/keys.md). A hash still being written while it
 * is read (today's, this month's) may give a key's value from a moment later
 * than another's; no key present when the read began is missed.
 * Accounts (TALLY_RANK_OF_ACCOUNT) are ranked from their buckets in the
 * shards' hashes, as models are (summed over shards: an account's keys spread
 * over them); events recorded without an account are in no account's. A
 * prefix whose data a tally without those buckets recorded lists accounts
 * only from a day on (docs/keys.md): a period or range reaching before it is
 * refused with TALLY_EINVAL naming the day. */
enum { TALLY_RANK_OF_KEY, TALLY_RANK_OF_MODEL, TALLY_RANK_OF_ACCOUNT };
int tally_top_of(tally *t, int of, int by, const tally_period *p, size_t n, tally_rank **out, size_t *count);
int tally_top_range(tally *t, int of, int by, const tally_range *r, size_t n, tally_rank **out, size_t *count);

/* Who was active: the API keys, models or accounts (every key, model or
 * account with a bucket in the shards' hashes) with usage in period p (total,
 * month, day) or range r,
 * in byte order of their names, the first `limit` (1..TALLY_ACTIVE_MAX) after
 * `after` (NULL: from the first): pass the last name of a page to get the
 * next. value is the requests in the period. *more is 1 when names follow the
 * page. Each page reads the key, model or account buckets of the period again:
 * no SCAN, no KEYS, no extra write per event. Accounts: as for
 * tally_top_of (refused before the day their buckets begin). Free with
 * tally_top_free(). */
#define TALLY_ACTIVE_MAX 10000
int tally_active(tally *t, int of, const tally_period *p, const char *after, size_t limit, tally_rank **out,
                 size_t *count, int *more);
int tally_active_range(tally *t, int of, const tally_range *r, const char *after, size_t limit, tally_rank **out,
                       size_t *count, int *more);

/* A grouped report over range r: one row per API key (by TALLY_RANK_OF_KEY:
 * the keys active in r, or only `key`), per model (TALLY_RANK_OF_MODEL: of
 * all keys, or of `key` alone) or per account (TALLY_RANK_OF_ACCOUNT: the
 * accounts with usage in r, as tally_active lists them; `key` must be NULL),
 * for the whole range or per day or per month of
 * it (TALLY_REPORT_*: months clipped to r), rows with no usage left out;
 * sorted by group (byte order), then span; then one total row (group NULL,
 * span r). Each row's bucket is read as tally_stats_range / tally_models_range
 * read it (exact; a range reaching buckets no longer kept is refused): the
 * keys', models' and accounts' from the shards' hashes per span (in HSCAN
 * pages, calls of about cfg.max_script_us), one key's from its own buckets.
 * Free with tally_report_free(). */
enum { TALLY_REPORT_WHOLE, TALLY_REPORT_PER_DAY, TALLY_REPORT_PER_MONTH };
typedef struct tally_report_row {
    char *group;       /* the key, model or account; NULL in the total row */
    tally_range span;  /* the days of the row */
    tally_bucket b;
} tally_report_row;
int tally_report(tally *t, int by, int per, const tally_range *r, const char *key, tally_report_row **rows, size_t *n);
/* The same report of one API key (`of` TALLY_RANK_OF_KEY: tally_report) or of
 * one account (TALLY_RANK_OF_ACCOUNT; `id` NULL: of everyone, as tally_report
 * with key NULL). An account's report groups by account only (by
 * TALLY_RANK_OF_ACCOUNT): one row per span with usage, read from the
 * account's own buckets as tally_stats_range reads them (exact, one call or
 * more per row), then the total row; by key or by model it is refused with
 * TALLY_EINVAL before anything is read (no index keeps which keys an
 * account's events came from; an account's buckets are not kept per model).
 * An account with no usage in r gives the total row alone, requests 0. */
int tally_report_for(tally *t, int by, int per, const tally_range *r, int of, const char *id,
                     tally_report_row **rows, size_t *n);
void tally_report_free(tally_report_row *rows, size_t n);

/* Sums the system minute buckets of the last `minutes` epoch minutes, the
 * current one included: from 1 to what cfg.ttl_minute_s keeps, ttl_minute_s /
 * 60 minutes (120 with the default), and at most TALLY_METRICS_MINUTES_MAX.
 * More is refused (TALLY_EINVAL): older minutes have expired and would read as
 * zeros. The writers' ttl_minute_s is the one that counts: use the same. */
#define TALLY_METRICS_MINUTES_MAX 1440 /* a day */
int tally_metrics(tally *t, int minutes, tally_bucket *sum);

/* ------------------------------------------------------------------- prices */

/* Prices are integer nano-USD per million tokens (1 USD per million tokens is
 * 1,000,000,000), read exactly from decimal text, never through a double. An
 * event's cost is
 *     cost_nanos = round(sum over the four kinds of tokens x price / 10^6)
 * computed in 128-bit integers and divided once, rounding half up (an exact
 * half nano-USD goes up: 0.5 -> 1, 1.5 -> 2; below a half goes down). A cost
 * past TALLY_MAX_COST_NANOS refuses the event (TALLY_EINVAL).
 * A price entry holds for its model from `from_ms` until the model's next
 * entry: an event uses the entry in force at its event time. With tier_above
 * > 0, an event whose prompt (input + cache-create + cache-read tokens) is
 * above tier_above tokens has all its tokens priced at the tier's four prices
 * (Anthropic's and LiteLLM's "above 200k tokens" form). */
#define TALLY_PRICE_MAX_NANOS 1000000000000000LL /* 1,000,000 USD per million tokens */
#define TALLY_PRICE_ENTRIES_MAX 64               /* entries (from times) per model */
#define TALLY_PRICE_MODELS_MAX 100000
#define TALLY_PRICES_VERSION_MAX 268435455LL     /* 2^28 - 1 loads */
typedef struct tally_price {
    const char *model;
    int64_t from_ms;          /* in force from this event time (epoch ms; 0: always) */
    int64_t input, output, cache_create, cache_read;  /* nano-USD per million tokens */
    int64_t tier_above;       /* prompt tokens above which the tier applies; 0: no tier */
    int64_t tier_input, tier_output, tier_cache_create, tier_cache_read;
} tally_price;
typedef struct tally_prices tally_prices;

/* Reads a price table from JSON text (n bytes), in either form:
 *   ours: {"models": {"MODEL": ENTRY or [ENTRY, ...], ...}} (no other
 *     top-level member) where ENTRY is
 *     {"from": EPOCH_MS or "ISO-8601" (optional: always), "input": USD,
 *      "output": USD, "cache_create": USD, "cache_read": USD (all four
 *      required; USD per million tokens, a JSON string or number),
 *      "tier_above": TOKENS, "tier": {the four prices}  (optional, together)};
 *     a field or a model given twice is refused;
 *   LiteLLM's model_prices_and_context_window.json (any text without a
 *     top-level "models"): per model input_cost_per_token,
 *     output_cost_per_token (an "embedding" model without it: output 0, as
 *     LiteLLM charges), cache_creation_input_token_cost,
 *     cache_read_input_token_cost (missing: the input price) and the tier
 *     fields *_above_<N>k_tokens (one N per model; a missing tier price is the
 *     base one), USD per token.
 * Numbers are read from their literal text. In our form bad input (a negative
 * price, garbage, a price finer than 1 nano-USD per million tokens, a missing
 * field) gives TALLY_EINVAL with a message naming the model and the field in
 * err (cap bytes). LiteLLM's file is third-party: a model it does not price
 * per token, or prices with a bad value, is skipped and one finer than the
 * grid rounded half up to 10^-15 USD per token, each with a note (below). A
 * text that yields no entry at all is refused (a mistyped file must not
 * replace a table with nothing). On TALLY_OK *out is a table of version 0
 * owned by the caller: tally_prices_free() it (or give it to
 * tally_set_prices()). A "from" without an offset is UTC here. */
int tally_prices_parse(const char *json, size_t n, tally_prices **out, char *err, size_t cap);
/* The same, with a "from" without an offset read in the timezone
 * tz_offset_min minutes east of UTC (as tally_parse_time() reads it) and
 * flags: TALLY_PRICES_ALLOW_EMPTY accepts a text yielding no entry (an empty
 * table, to store on purpose). */
#define TALLY_PRICES_ALLOW_EMPTY 1u
int tally_prices_parse_ex(const char *json, size_t n, int tz_offset_min, unsigned flags, tally_prices **out,
                          char *err, size_t cap);
/* What a parse of LiteLLM's form did not load as written, in file order:
 * a model (or other top-level member) skipped, `why` saying why ("priced per
 * image, not per token"), or a model loaded with a price rounded to the grid,
 * `why` naming the field, its text and the value kept. Owned by the table. */
enum { TALLY_PRICE_NOTE_SKIPPED = 1, TALLY_PRICE_NOTE_ROUNDED = 2 };
typedef struct tally_price_note {
    const char *model;
    int what;          /* TALLY_PRICE_NOTE_* */
    const char *why;
} tally_price_note;
size_t tally_prices_note_count(const tally_prices *p);
const tally_price_note *tally_prices_note_at(const tally_prices *p, size_t i);
void tally_prices_free(tally_prices *p);
/* The version of a table: Redis's load count for one read from Redis, 0 for
 * one parsed by the caller. */
int64_t tally_prices_version(const tally_prices *p);
/* The entries, sorted by model then from_ms. Owned by the table. */
size_t tally_prices_count(const tally_prices *p);
const tally_price *tally_prices_at(const tally_prices *p, size_t i);
/* The entry of `model` in force at event time at_ms, or NULL. */
const tally_price *tally_prices_find(const tally_prices *p, const char *model, int64_t at_ms);
/* The cost of event e under entry `price` (the formula above) into *cost_nanos.
 * TALLY_OK, or TALLY_EINVAL when a token count is outside 0..TALLY_MAX_TOKENS
 * or the cost passes TALLY_MAX_COST_NANOS (no handle, no message). */
int tally_price_cost(const tally_price *price, const tally_event *e, int64_t *cost_nanos);

/* Stores table p in Redis under the prefix (one script, lua/prices.lua: it
 * checks every entry, then replaces the whole table at once) and sets
 * *version (if not NULL) to its new version: the last one plus 1. When the
 * stored table is p already (the same models with the same entries), nothing
 * is written and *version is the stored, kept version: loading the same file
 * again does not make a new version. p stays the caller's. TALLY_EAUTH, table
 * unchanged, when the Redis user may not write the table (the application's
 * user of docs/acl.md: an operator's user loads prices). */
int tally_prices_load(tally *t, const tally_prices *p, int64_t *version);
/* tally_prices_load(), and *changed (if not NULL) 1 when it stored a new
 * version, 0 when the table was the same and its version was kept. */
int tally_prices_load_ex(tally *t, const tally_prices *p, int64_t *version, int *changed);
/* Reads the table stored in Redis (version 0 and no entries: none loaded),
 * with EVALSHA_RO on the primary (read access suffices, whatever read_from
 * says). *out is the caller's: tally_prices_free() it. */
int tally_prices_get(tally *t, tally_prices **out);
/* Events with cost_nanos = TALLY_COST_FROM_PRICES are priced on this host
 * with the handle's copy of Redis's table, read again when older than
 * cfg.prices_refresh_ms; tally_prices_refresh() reads it now. */
int tally_prices_refresh(tally *t);
/* Makes the handle price events with table p instead of Redis's: the handle
 * owns p from this call on (it frees it at tally_close or the next call).
 * NULL: back to Redis's table. TALLY_OK. */
int tally_set_prices(tally *t, tally_prices *p);

/* ------------------------------------------------------------------ budgets */

/* A cap on cost or tokens for a key or an account over the current day, month
 * (in the statistics timezone, by this host's clock) or all time. It counts what
 * recording wrote into that bucket plus the estimates still reserved. */
enum { TALLY_BUDGET_COST, TALLY_BUDGET_TOKENS };
typedef struct tally_budget {
    int scope;    /* TALLY_SCOPE_KEY or TALLY_SCOPE_ACCOUNT */
    int period;   /* TALLY_DAY, TALLY_MONTH or TALLY_TOTAL */
    int metric;   /* TALLY_BUDGET_COST (nano-USD) or TALLY_BUDGET_TOKENS */
    int64_t cap;  /* > 0 */
} tally_budget;

/* Parses "[key:|account:]cost:USD/day|month|total" or
 * "[key:|account:]tokens:N/day|month|total" (scope defaults to key).
 * TALLY_OK or TALLY_EINVAL. */
int tally_budget_parse(const char *text, tally_budget *out);

typedef struct tally_reservation {
    const char *key;          /* required */
    const char *account;      /* NULL: no account caps */
    const char *request_id;   /* required: settle and retries find it by this id;
                                 scoped to the key (keys of one account may
                                 reuse an id) */
    int64_t cost_nanos;       /* the estimate, or TALLY_COST_FROM_PRICES: the
                                 cost of `tokens` of `model` at the highest of
                                 its four prices in force now (the tier's too
                                 when tokens pass its threshold), an upper
                                 bound for any mix of token kinds */
    int64_t tokens;
    int64_t lease_ms;         /* released by itself after this, if not settled:
                                 1..TALLY_RESERVE_LEASE_MAX_MS */
    const char *model;        /* for TALLY_COST_FROM_PRICES; else unused */
} tally_reservation;
#define TALLY_RESERVE_LEASE_MAX_MS 86400000LL  /* a day */

#define TALLY_BUDGET_CAPS_MAX 16 /* caps per tally_reserve() call */
typedef struct tally_budget_decision {
    int allowed;
    int duplicate;            /* 1: this request id already holds a reservation
                                 of this same estimate (another estimate is
                                 refused: TALLY_EINVAL, a conflict) */
    int denied_by;            /* index of the first cap that denied, or -1 */
    int64_t remaining[TALLY_BUDGET_CAPS_MAX]; /* what each cap has left after this call */
    int64_t server_time_ms;   /* Redis TIME used for the leases */
} tally_budget_decision;

/* Checks every cap and, only if all allow, reserves the estimate: one script,
 * all or nothing. A reservation that is never settled is released when its
 * lease ends, exactly once. Returns TALLY_OK with the decision in *out. */
int tally_reserve(tally *t, const tally_reservation *r, const tally_budget *caps, int ncaps,
                  tally_budget_decision *out);

/* Records the actual usage (as tally_record) and gives back the reservation
 * held under ev->request_id by its key and account, in one script: the caps
 * then count the actual amount instead of the estimate. Idempotent by request
 * id. */
int tally_settle(tally *t, const tally_event *ev, int *duplicate);

/* Gives back the estimate held under request_id by key (and by account, when
 * not NULL or "": pass the reservation's account, or its hold stays until
 * its lease ends) without recording usage: for a request that never reached
 * the upstream. One script per entity's slot (one call on a single server).
 * Idempotent by request id like settling: *released (may be NULL) is 1 when
 * an estimate held under a live lease was given back, 0 when none was (never
 * reserved, settled or cancelled before, or its lease had ended); both are
 * TALLY_OK. TALLY_EINVAL for a bad id, nothing written. */
int tally_cancel(tally *t, const char *key, const char *account, const char *request_id, int *released);

/* ------------------------------------------------------------------ scripts */

/* Waits until at least `replicas` replicas of every primary this handle wrote
 * to since it opened have acknowledged those writes (Redis WAIT on each such
 * primary's connection), at most timeout_ms per primary (0: for ever).
 * *acked (may be NULL) receives the fewest acknowledgements a primary gave
 * (`replicas` when the handle wrote nothing: there is nothing to wait for).
 * TALLY_OK when every primary reached `replicas`, TALLY_ETIMEOUT when one did
 * not in time (*acked tells how many did), or the connection's error. Writes
 * sent on a connection that has since been lost and reopened are not covered
 * (WAIT counts what its own connection wrote). For read-your-writes with
 * TALLY_READ_REPLICA: call it on the writer's handle before the read. */
int tally_wait_replicas(tally *t, int replicas, int timeout_ms, int *acked);

/* Nodes: 1 for a single server; for redis-cluster:// URLs every primary and
 * replica of the slot map. tally_node_name writes "host:port" (and
 * " (replica)") into buf and returns it, or NULL for a bad index. */
int tally_node_count(const tally *t);
const char *tally_node_name(const tally *t, int i, char *buf, size_t n);

/* One entry of a script's KEYS or ARGV contract, from the script's header.
 * position is 1-based: "1", a range "2..", "nh+1..nh+nz", or a formula "5i-1"
 * whose letters name counts the other arguments give ("last" is the final
 * argument); docs/scripts.md explains each script's. */
typedef struct tally_script_param {
    const char *position;
    const char *name;         /* stable identifier, e.g. "at_ms" */
    const char *description;
} tally_script_param;

typedef struct tally_script_info {
    const char *name;     /* "record", ... */
    const char *sha1;     /* 40 hex digits, over exactly `source` */
    const char *summary;  /* one line */
    const char *keys;     /* the KEYS contract as text, one line per entry */
    const char *argv;     /* the ARGV contract as text */
    const char *source;   /* exact bytes sent to SCRIPT LOAD */
    size_t length;
    const tally_script_param *key_params;  /* the KEYS contract, in order */
    int nkey_params;
    const tally_script_param *arg_params;  /* the ARGV contract, in order */
    int narg_params;
    const char *returns;  /* what the script answers */
    const char *notes;    /* further rules, one per line ("" if none) */
} tally_script_info;

/* The embedded scripts, sorted by name. Static data: never freed. */
int tally_script_count(void);
const tally_script_info *tally_script_at(int i);
const tally_script_info *tally_script_find(const char *name);

/* SCRIPT LOAD every script (pipelined) on every node and check each SHA. */
int tally_scripts_load(tally *t);
/* SCRIPT EXISTS for every script on node `node`: loaded[i] is set to 1 or 0
 * for script i. `loaded` must hold tally_script_count() ints. */
int tally_scripts_exists_on(tally *t, int node, int *loaded);
/* The same, 1 only where the script is loaded on every node. */
int tally_scripts_exists(tally *t, int *loaded);
/* SCRIPT FLUSH on every node, then tally_scripts_load(). */
int tally_scripts_flush(tally *t);

/* ---------------------------------------------------------------- migration */

/* Converts a key-schema v2 dataset under the handle's prefix to v3 in place
 * (docs/keys.md): every <prefix>:v2:* key but the leaderboards is renamed to
 * <prefix>:v3:* (same slot; RENAMENX keeps its TTL and never overwrites);
 * then, per shard and period of every v2 requests board (`{s:N}:Lr:...`), each
 * member key's bucket of the period (its hash's `_`) is written as the field
 * `k:<key id>` of the shard's v3 hash of that period, and the period's three
 * boards are deleted (the boards of all time last). The keys are found with
 * SCAN MATCH on every primary; every change is a script call (lua/migrate.lua,
 * one entity's keys a call, each holding Redis about cfg.max_script_us).
 *
 * Offline: stop every recording host (and admission) on the prefix first;
 * what is written under v2 meanwhile may be left behind. tally_open refuses a
 * prefix that holds v2 keys, so open the handle with defer_script_load = 1
 * (its open only connects). Resumable: a run cut short (connection lost,
 * killed) leaves each key either renamed or not and each board whole until
 * its period is done; run it again to finish. A second run over a finished
 * migration changes nothing. Before its first write a run stores the mark
 * <prefix>:v3:{c:schema}:F; without it, a prefix that already holds v3 data
 * (its parameters or price table) is refused with TALLY_EINVAL, nothing
 * written. A v2 key whose v3 name exists (a v3 writer ran meanwhile) is left
 * under v2 and counted in `left`: the run then stops before the boards with
 * TALLY_EINVAL naming it. Then each account's buckets (v2 wrote them per
 * event) are folded into its a: fields of the shards' hashes where those fall
 * short, its total and month hashes deleted, and the accounts marker set to 0
 * when every one was. Its writes pass the eviction check as recording
 * does (allow_eviction; TALLY_EEVICT, nothing written). dry_run 1: every
 * check and count, nothing written.
 * out (may be NULL) is filled whatever the outcome. */
typedef struct tally_migrate_stats {
    uint64_t renamed;   /* keys renamed to v3 (dry run: that would be) */
    uint64_t left;      /* v2 keys left: their v3 name exists */
    uint64_t boards;    /* v2 leaderboards deleted (would be) */
    uint64_t fields;    /* k: fields written and a: fields folded (would be) */
    uint64_t skipped;   /* board members given no field: their key's bucket
                           or their shard's hash of the period is gone
                           (expired); and account buckets not folded (the
                           shard's hash is gone, or its a: fields exceed
                           the bucket: the accounts marker stays) */
    uint64_t calls;     /* script calls made (on a cluster one per slot
                           of a batch) */
} tally_migrate_stats;
int tally_migrate(tally *t, int dry_run, tally_migrate_stats *out);

/* -------------------------------------------------------- admission control */
/* Rate limits and concurrency leases: tally_admission.h, part of this header. */
#include "tally_admission.h"

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
