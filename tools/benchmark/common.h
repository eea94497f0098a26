/* common.h -- what the parts of tally-bench share: the workload (events with a
 * uniform or a Zipf(1.1) key distribution), timing and CPU helpers, the raw
 * connection, and one measured run. */
#ifndef TALLY_BENCH_H
#define TALLY_BENCH_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "tally.h"
#include "url.h"

#define NKEYS 1000    /* API keys */
#define NACCOUNTS 50  /* accounts: key k belongs to account k % NACCOUNTS */
#define NMODELS 3

extern const char *const bench_models[NMODELS];
extern char bench_key_ids[NKEYS][16], bench_acct_ids[NKEYS][16];
extern const char *bench_url_text;
extern tally_url bench_url;
/* A second, empty Redis for the rate limits (tally_config.limits_url) in the
 * admission rows; NULL: none, those rows run on one server alone. */
extern const char *bench_limits_url_text;
extern tally_url bench_limits_url;

/* Key distributions: round robin over the keys, or Zipf(1.1) over them (key of
 * rank r drawn with probability proportional to 1 / r^1.1; seeded, so every run
 * and every contender sees the same sequence). */
enum { DIST_UNIFORM, DIST_ZIPF };
extern const char *const dist_names[2];

/* n events with every dimension on: key, model, account, a 28-byte request id
 * unique per tag, all four token counts and a cost; event time now (0) unless
 * at0_ms is set. accounts: NACCOUNTS, or NKEYS for one account per key. */
typedef struct { tally_event *ev; char *ids; size_t n; } events;
events make_events(size_t n, int tag, int dist, int accounts);
void free_events(events *e);
/* The ids of bench_key_ids/bench_acct_ids are filled once by bench_init(). */
void bench_init(void);

double now_s(void);
/* Sleeps until monotonic time t (seconds, as now_s()). */
void wait_until(double t);
double cpu_s(void);           /* this process, user + system */
double thread_cpu_s(void);    /* this thread, user + system */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xmalloc(size_t n);

/* Latencies in microseconds. */
typedef struct { double *v; size_t n, cap; } lat;
void lat_add(lat *l, double us);
/* Sorts l and returns the p-quantile (0..1). */
double lat_pct(lat *l, double p);

redisContext *raw_connect(void);
redisContext *raw_connect_to(const tally_url *u);
redisReply *bench_cmd(redisContext *c, const char *fmt, ...);
void cmd_ok(redisContext *c, const char *fmt, ...);
double info_field(redisContext *c, const char *section, const char *name);
double server_cpu(redisContext *c);
/* Redis's main thread's CPU (INFO cpu used_cpu_{user,sys}_main_thread, Redis
 * 7+; *main_thread 1), else the whole process's (*main_thread 0). */
double server_main_cpu(redisContext *c, int *main_thread);
/* EVALSHA calls the server has run (INFO commandstats). */
double evalsha_calls(redisContext *c);
void flush_db(redisContext *c);
/* Reads n pipelined replies; any error reply ends the bench (who: its source). */
void read_replies(redisContext *c, size_t n, const char *who);
tally *open_handle(void);
/* The same with calls bounded at max_script_us (0: the default). */
tally *open_handle_bounded(int64_t max_script_us);
/* The same with the rate limits on limits_url (NULL: on bench_url). */
tally *open_handle_with(int64_t max_script_us, const char *limits_url);

/* One measured run of a recorder. */
typedef struct {
    const char *name;
    int dist;
    double events, secs, rate;
    double p50, p99;          /* µs, of one unit (a call, a batch) */
    const char *lat_unit;
    double client_cpu_us, server_cpu_us, allocs; /* per event; < 0: not measured */
    double cmds;              /* Redis commands per event, < 0: not counted */
    double longest_ms;        /* the longest command the server ran (SLOWLOG), < 0: none logged */
    double calls, over_bound; /* EVALSHA calls of the run; of them, longer than BOUND_MS */
} run;

/* seed.c: the seed's own per-event commands, pipelined 64 events deep. */
run bench_seed(redisContext *c, const events *e);

/* One event's 19 commands as one pipeline (multi: inside MULTI/EXEC), sent
 * and answered. */
void seed_send_event(redisContext *c, const tally_event *e, int multi);

/* runs.c: tally's recorders. The longest script call of a run comes from
 * SLOWLOG (commands slower than 1 ms are logged); -1 when none was. */
void slowlog_start(redisContext *c);
#define BOUND_MS 5.0 /* the default max_script_us */
/* common.c: the longest EVALSHA (or EVALSHA_RO) in SLOWLOG (ms, < 0: none);
 * *over (if not NULL): how many took longer than BOUND_MS. */
double slowlog_longest_ms(redisContext *c, double *over);
/* A run's measurement: meter_start() before the timed loop (SLOWLOG reset,
 * server CPU, clock), meter_stop() after it fills r's time, rate, server CPU
 * per event, longest script and, with l, latency percentiles (freeing l). */
typedef struct { double t0, srv0, calls0; } meter;
meter meter_start(redisContext *c);
void meter_stop(const meter *m, redisContext *c, run *r, lat *l);
run bench_sync(redisContext *c, const events *e);
#define BULK_BATCH 65536 /* events per tally_record_batch for bulk recording, as `record --stdin` sends */
run bench_batch(redisContext *c, const events *e, size_t per_call);
run bench_batch_priced(redisContext *c, const events *e);
run bench_tool(redisContext *c, const events *e, const char *tally_bin);

/* v1.c: record.lua as it was (schema v1), one event per call, `depth` calls
 * (1..64) per round trip: the reference for Redis CPU per event. */
run bench_v1(redisContext *c, const events *e, size_t depth);
/* runs.c: a recorder on the bench's prefix, default configuration; _with:
 * that recorder configuration (NULL: the defaults). */
tally_recorder *open_recorder(void);
tally_recorder *open_recorder_with(const tally_recorder_config *rc);
/* runs.c: the async recorder from one caller thread; client CPU is the
 * caller's per record() call. */
run bench_async(redisContext *c, const events *e);

/* live.c: the live path, events arriving one at a time at `rate` per second
 * for `secs` seconds (Zipf keys), on an emptied database per row: the seed's
 * request path (one pipeline per event), the seed's commands in MULTI/EXEC per
 * event, the async recorder fed by LIVE_THREADS callers, and tally_record from
 * LIVE_THREADS threads with a handle each; then the async recorder again
 * with each flush_ms of the list (--live-flush-ms, up to LIVE_FLUSH_MAX).
 * Redis CPU per event is the main thread's where INFO gives it
 * (main_thread_cpu). */
#define LIVE_THREADS 8
#define LIVE_FLUSH_MAX 8
enum { LIVE_SEED, LIVE_SEED_MULTI, LIVE_ASYNC, LIVE_SYNC, LIVE_N };
typedef struct {
    const char *name;
    int threads;
    double events, rate;      /* events/s achieved (arrivals are paced at the asked rate) */
    double server_cpu_us;     /* Redis CPU per event */
    double p50, p99;          /* µs, one caller's call per event */
    double calls;             /* EVALSHA calls of the row */
} live_run;
typedef struct {
    double rate, secs;
    int main_thread_cpu;
    live_run rows[LIVE_N];
    int nflush, flush_ms[LIVE_FLUSH_MAX]; /* the recorder's rows by flush_ms */
    live_run flush_rows[LIVE_FLUSH_MAX];
} live_result;
live_result bench_live(redisContext *c, double rate, double secs, const int *flush_ms, int nflush);

/* probes.c */
/* tally_allow's latency (one rule, 1 call at a time): p50 and p99 in µs, idle
 * (half of the n decisions before the import, half after) and while a second
 * handle imports fresh events with tally_record_batch, BULK_BATCH a batch, as
 * fast as it can, with calls bounded at max_script_us; the import's events/s
 * over whole batches. */
typedef struct { double idle_p50, idle_p99, busy_p50, busy_p99, import_rate, longest_ms; int64_t bound_us; } allow_import;
/* The decisions on limits_url's server when given (NULL: on c's, beside the
 * import), back to back (per_s 0) or arriving at per_s a second. */
allow_import bench_allow_during_import(redisContext *c, size_t n, int64_t max_script_us, const char *limits_url,
                                       double per_s);

typedef struct { const char *name; double rate, ratio, server_cpu_us; } allow_run;
/* tally_allow per algorithm (a limit never reached), against INCR; with the
 * server's CPU per decision (the node `c` is connected to). */
void bench_allow(redisContext *c, size_t n, allow_run out[5]);
/* MEMORY USAGE of one rule's keys after 1, 10, 100, 1000 calls, per algorithm. */
void allow_memory(redisContext *c, long long mem[4][4]);
/* A day of traffic: 24 events per API key, one per hour of yesterday (UTC),
 * models rotating, one account per key, every dimension on. */
enum { C_KT, C_KM, C_KD, C_KI, C_AT, C_AM, C_AD, C_SHARED, C_N };
extern const char *const class_names[C_N];
typedef struct {
    int events_per_key;
    double used_delta, per_key, keys_per_key;
    long long bytes[C_N], count[C_N];
} mem_result;
mem_result bench_memory(redisContext *c);

/* sizing.c: tally-bench --figures / --list-figures, the inputs of
 * docs/capacity.md's sizing model as named figures. Returns the exit status. */
int sizing_main(int argc, char **argv);

/* bench.c: libtally's allocations so far (the bench wraps malloc). */
unsigned long long alloc_count(void);

#endif
