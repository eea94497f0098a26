/* bench.c -- tally-bench: throughput, latency, CPU and memory of tally against
 * the seed-shaped baseline (seed.c), all measured in one run on the same machine
 * and server, with uniform and Zipf(1.1) keys.
 *
 *   tally-bench --url URL [--tally PATH] [--json] [--scale F] [--record-only]
 *               [--live-rate N] [--live-secs S] [--live-flush-ms LIST] [--live-only]
 *   tally-bench --figures [--single-url URL] [--url CLUSTER_URL] [--json] [--scale F]
 *   tally-bench --list-figures            (sizing.c: docs/capacity.md's inputs)
 *
 * Needs an EMPTY database (it refuses otherwise): it flushes it between phases.
 * tools/bench starts a private redis-server for it unless --url is given.
 * Not a test: it asserts nothing; it prints each performance target with
 * "met" or "not met" and exits 0 either way (1 on an error).
 *
 * Allocation counting: this program is linked with -Wl,--wrap=malloc (calloc,
 * realloc), so every allocation made by libtally (linked statically) or by this
 * file goes through the counters below; hiredis is a shared library and its
 * allocations (replies, command buffers) are not counted ("hiredis aside"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "pace.h" /* the calls in flight at a bound */

/* ------------------------------------------------------------------ main */

typedef struct {
    double scale, live_rate, live_secs;
    int json, record_only, live_only, admission_only;
    const char *tally_bin;
    int nflush, flush_ms[LIVE_FLUSH_MAX]; /* --live-flush-ms */
} options;

/* --live-flush-ms: comma-separated flush_ms values, 1..60000 (the recorder's
 * range), at most LIVE_FLUSH_MAX; "" for none. Their count, -1 if bad. */
static int parse_flush_list(const char *s, int out[LIVE_FLUSH_MAX]) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 60000 || n == LIVE_FLUSH_MAX || (*end && *end != ',') || (*end && !end[1]))
            return -1;
        out[n++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return n;
}

/* One live row: JSON (flush_ms > 0: a recorder row by flush_ms) or text. */
static void print_live_row(const live_run *r, const live_run *seed, int flush_ms, int json, int last) {
    double per_call = r->calls > 0 ? r->events / r->calls : 0;
    if (json) {
        printf("    {");
        if (flush_ms > 0) printf("\"flush_ms\":%d,\"events_per_call\":%.1f,", flush_ms, per_call);
        else printf("\"name\":\"%s\",", r->name);
        printf("\"caller_threads\":%d,\"events\":%.0f,\"events_per_s\":%.0f,"
               "\"server_cpu_us_per_event\":%.2f,\"of_seed_request_path\":%.3f,\"script_calls\":%.0f,"
               "\"latency_us\":{\"unit\":\"1 event\",\"p50\":%.1f,\"p99\":%.1f}}%s\n",
               r->threads, r->events, r->rate, r->server_cpu_us, r->server_cpu_us / seed->server_cpu_us, r->calls,
               r->p50, r->p99, last ? "" : ",");
        return;
    }
    char name[64], ev_call[16] = "-";
    if (flush_ms > 0) snprintf(name, sizeof name, "%s %d", r->name, flush_ms);
    else snprintf(name, sizeof name, "%s", r->name);
    if (per_call > 0) snprintf(ev_call, sizeof ev_call, "%.1f", per_call);
    printf("  %-38s %7d %9.0f %9.2f %6.2fx %6.0fus %6.0fus %7.0f %7s\n", name, r->threads, r->rate, r->server_cpu_us,
           r->server_cpu_us / seed->server_cpu_us, r->p50, r->p99, r->calls, ev_call);
}

/* The live rows (live.c), text or JSON; ratios to the seed request path. */
static void print_live(const live_result *lv, int json) {
    const live_run *seed = &lv->rows[LIVE_SEED];
    const char *cpu = lv->main_thread_cpu ? "main_thread" : "process";
    if (json) {
        printf("  \"live\":{\"events_per_s\":%.0f,\"secs\":%.1f,\"keys\":\"zipf1.1\",\"redis_cpu\":\"%s\",\"rows\":[\n",
               lv->rate, lv->secs, cpu);
        for (int i = 0; i < LIVE_N; i++) print_live_row(&lv->rows[i], seed, 0, 1, i == LIVE_N - 1);
        printf("  ],\"recorder_by_flush_ms\":[\n");
        for (int i = 0; i < lv->nflush; i++)
            print_live_row(&lv->flush_rows[i], seed, lv->flush_ms[i], 1, i == lv->nflush - 1);
        printf("  ]}");
        return;
    }
    printf("LIVE  %.0f events/s for %.1f s arriving one at a time; Zipf(1.1) keys over %d API keys, %d models,\n"
           "      %d accounts, request ids on; each row on an emptied database\n", lv->rate, lv->secs, NKEYS,
           NMODELS, NACCOUNTS);
    printf("  %-38s %7s %9s %9s %7s %8s %8s %7s %7s\n", "path", "callers", "events/s", "srv us/ev", "x seed", "p50",
           "p99", "calls", "ev/call");
    for (int i = 0; i < LIVE_N; i++) print_live_row(&lv->rows[i], seed, 0, 0, 0);
    for (int i = 0; i < lv->nflush; i++) print_live_row(&lv->flush_rows[i], seed, lv->flush_ms[i], 0, 0);
    printf("  srv us/ev: Redis's %s CPU per event (INFO cpu used_cpu_user%s + used_cpu_sys%s)\n"
           "  x seed: Redis CPU per event over the seed request path's; p50/p99: one caller's call per event\n"
           "    (the async recorder: tally_recorder_record, which only queues; its CPU counts until a flush\n"
           "    has every event answered); calls: EVALSHA calls of the row, ev/call: events per call\n"
           "  flush_ms N: the async recorder with tally_recorder_config.flush_ms N (the tally_recorder (async)\n"
           "    row: the default, 5); an event waits up to N ms in the process before it is sent\n",
           lv->main_thread_cpu ? "main thread's" : "process's", lv->main_thread_cpu ? "_main_thread" : "",
           lv->main_thread_cpu ? "_main_thread" : "");
}

/* The live path's targets: Redis CPU per event against the seed request path. */
static void print_live_targets(const live_result *lv) {
    double a = lv->rows[LIVE_ASYNC].server_cpu_us / lv->rows[LIVE_SEED].server_cpu_us,
           r = lv->rows[LIVE_SYNC].server_cpu_us / lv->rows[LIVE_SEED].server_cpu_us;
    printf("  live: async recorder <= 1.0x seed request  %6.2fx      %s   (Redis CPU per event)\n", a,
           a <= 1 ? "met" : "NOT MET");
    printf("  live: tally_record <= 2.0x seed request    %6.2fx      %s\n", r, r <= 2 ? "met" : "NOT MET");
}

static void print_row(const run *r, const run *seed) {
    char longest[48] = "< 1 ms", ratio[16] = "";
    if (r->longest_ms >= 0)
        snprintf(longest, sizeof longest, "%.1f ms %.0f/%.0f", r->longest_ms, r->over_bound, r->calls);
    if (seed) snprintf(ratio, sizeof ratio, "%.2fx", r->rate / seed->rate);
    printf("  %-38s %-8s %9.0f %8s %9.2f %9.2f  %s\n", r->name, dist_names[r->dist], r->rate, ratio,
           r->server_cpu_us, r->client_cpu_us, longest);
}

static void print_row_json(const run *r, const run *seed, int last) {
    printf("    {\"name\":\"%s\",\"keys\":\"%s\",\"events_per_s\":%.0f,\"of_seed\":%.3f,"
           "\"server_cpu_us_per_event\":%.3f,\"client_cpu_us_per_event\":%.3f,"
           "\"libtally_allocs_per_event\":%.4f,\"longest_script_ms\":%.2f,\"script_calls\":%.0f,"
           "\"script_calls_over_bound\":%.0f,\"latency_us\":{\"unit\":\"%s\",\"p50\":%.1f,\"p99\":%.1f}}%s\n",
           r->name, dist_names[r->dist], r->rate, seed ? r->rate / seed->rate : 1.0, r->server_cpu_us,
           r->client_cpu_us, r->allocs, r->longest_ms, r->calls, r->over_bound, r->lat_unit, r->p50, r->p99,
           last ? "" : ",");
}

/* Admission against an import (probes.c) at each importer bound, and the
 * configuration the target reads: one where both halves hold (allow p99 <= 3x
 * idle, the import >= 4x the uniform seed row), else the nearest: the lowest
 * p99 ratio among those importing at >= 4x, else among all. */
static const int64_t import_bounds[] = { 5000, 2500, 1000, 500 };
enum { NIMPORT = sizeof import_bounds / sizeof import_bounds[0] };
/* With a second Redis (bench_limits_url), the import at the default bound
 * beside decisions on a Redis of their own, back to back; and, the host's
 * cores being shared, decisions arriving at LIVE_PER_S on one server and on
 * their own (a closed loop of fast decisions takes a core from the import). */
#define LIVE_PER_S 2000.0
enum { SPLIT, PACED_ONE, PACED_SPLIT, NEXTRA };
static const struct { const char *label; int split; double per_s; } extras[NEXTRA] = {
    { "limits server", 1, 0 }, { "2000/s, one server", 0, LIVE_PER_S }, { "2000/s, limits server", 1, LIVE_PER_S } };
typedef struct { allow_import r[NIMPORT], extra[NEXTRA]; int pick, have_split; double seed_rate; } admission;

static double p99_ratio(const allow_import *x) { return x->busy_p99 / x->idle_p99; }

/* The seed-shaped row is measured again right before the imports, on uniform
 * keys (as the importer's): a baseline from the same minutes of a shared host. */
static void admission_run(redisContext *c, size_t n, size_t n_seed, admission *a) {
    events e = make_events(n_seed, 1, DIST_UNIFORM, NACCOUNTS);
    a->seed_rate = bench_seed(c, &e).rate;
    free_events(&e);
    flush_db(c);
    for (int i = 0; i < NIMPORT; i++) {
        a->r[i] = bench_allow_during_import(c, n, import_bounds[i], NULL, 0);
        flush_db(c);
    }
    a->have_split = bench_limits_url_text != NULL;
    for (int i = 0; a->have_split && i < NEXTRA; i++) {
        a->extra[i] = bench_allow_during_import(c, n, import_bounds[0], extras[i].split ? bench_limits_url_text : NULL,
                                                extras[i].per_s);
        flush_db(c);
        redisContext *l = raw_connect_to(&bench_limits_url);
        flush_db(l);
        redisFree(l);
    }
    a->pick = -1;
    for (int pass = 0; pass < 2 && a->pick < 0; pass++)
        for (int i = 0; i < NIMPORT; i++) {
            if (pass == 0 && a->r[i].import_rate < 4 * a->seed_rate) continue;
            if (a->pick < 0 || p99_ratio(&a->r[i]) < p99_ratio(&a->r[a->pick])) a->pick = i;
        }
}

static void admission_print(const admission *a, int json) {
    if (json) {
        printf("  \"allow_during_import\":[\n");
        for (int i = 0; i < NIMPORT; i++) {
            const allow_import *x = &a->r[i];
            printf("    {\"max_script_us\":%lld,\"calls_in_flight\":%d,\"idle_p50_us\":%.1f,\"idle_p99_us\":%.1f,"
                   "\"import_p50_us\":%.1f,\"import_p99_us\":%.1f,\"import_events_per_s\":%.0f,"
                   "\"import_of_seed_uniform\":%.3f,\"longest_script_ms\":%.2f}%s\n",
                   (long long)x->bound_us, tally__pace_window(x->bound_us), x->idle_p50, x->idle_p99, x->busy_p50,
                   x->busy_p99, x->import_rate, x->import_rate / a->seed_rate, x->longest_ms,
                   i == NIMPORT - 1 ? "" : ",");
        }
        printf("  ],\n  \"allow_during_import_seed_events_per_s\":%.0f", a->seed_rate);
        for (int i = 0; a->have_split && i < NEXTRA; i++) {
            const allow_import *x = &a->extra[i];
            printf("%s\n    {\"decisions_on\":\"%s\",\"decisions_per_s\":%.0f,\"max_script_us\":%lld,"
                   "\"calls_in_flight\":%d,\"idle_p50_us\":%.1f,\"idle_p99_us\":%.1f,\"import_p50_us\":%.1f,"
                   "\"import_p99_us\":%.1f,\"import_events_per_s\":%.0f,\"import_of_seed_uniform\":%.3f,"
                   "\"longest_script_ms\":%.2f}%s",
                   i ? "" : ",\n  \"allow_during_import_limits_server\":[", extras[i].split ? "limits_url" : "url",
                   extras[i].per_s, (long long)x->bound_us, tally__pace_window(x->bound_us), x->idle_p50, x->idle_p99,
                   x->busy_p50, x->busy_p99, x->import_rate, x->import_rate / a->seed_rate, x->longest_ms,
                   i == NEXTRA - 1 ? "\n  ]" : ",");
        }
        return;
    }
    printf("ALLOW during an import (1 conn, 1 call at a time; a second handle imports fresh events, batches of\n"
           "  %d, as fast as it can, its calls bounded at max_script_us with that many in flight)\n", BULK_BATCH);
    printf("  %-14s %9s %9s %9s %11s %11s %11s %7s %8s\n", "max_script_us", "in flight", "idle p50", "idle p99",
           "import p50", "import p99", "import ev/s", "x seed", "longest");
    for (int i = 0; i < NIMPORT + (a->have_split ? NEXTRA : 0); i++) {
        const allow_import *x = i < NIMPORT ? &a->r[i] : &a->extra[i - NIMPORT];
        printf("  %-14lld %9d %7.0fus %7.0fus %9.0fus %9.0fus %11.0f %6.2fx %5.1f ms%s%s%s\n", (long long)x->bound_us,
               tally__pace_window(x->bound_us), x->idle_p50, x->idle_p99, x->busy_p50, x->busy_p99, x->import_rate,
               x->import_rate / a->seed_rate, x->longest_ms, i < NIMPORT ? "" : "  (",
               i < NIMPORT ? "" : extras[i - NIMPORT].label, i < NIMPORT ? "" : ")");
    }
    if (a->have_split)
        printf("  (limits server): the decisions on a second Redis (tally_config.limits_url), the import on the\n"
               "    first at its default bound; (2000/s, ...): decisions arriving 2000 a second, not back to\n"
               "    back. Both servers, the importer and the decisions share this host's cores\n");
    printf("  x seed: the import's events/s over a seed-shaped row (uniform keys) measured just before:\n"
           "    %.0f events/s; import p50/p99: the decisions' latency while it runs (Redis runs a client's\n"
           "    sent calls back to back: a decision waits for the importer's calls in flight)\n", a->seed_rate);
}

static void admission_target(const admission *a) {
    const allow_import *x = &a->r[a->pick];
    double ratio = p99_ratio(x), import = x->import_rate / a->seed_rate;
    printf("  allow p99 during an import <= 3x idle      %6.1fx      %s   (max_script_us %lld; the import\n"
           "    meanwhile >= 4x seed: %.2fx, %s)\n", ratio, ratio <= 3 && import >= 4 ? "met" : "NOT MET",
           (long long)x->bound_us, import, import >= 4 ? "met" : "NOT MET");
    for (int i = 0; a->have_split && i < NEXTRA; i++) {
        if (!extras[i].split) continue;
        x = &a->extra[i];
        ratio = p99_ratio(x), import = x->import_rate / a->seed_rate;
        printf("  the same, limits on a Redis of their own   %6.1fx      %s   (%s; the import\n"
               "    meanwhile >= 4x seed: %.2fx, %s)\n", ratio, ratio <= 3 && import >= 4 ? "met" : "NOT MET",
               extras[i].per_s > 0 ? "decisions at 2000/s" : "decisions back to back", import,
               import >= 4 ? "met" : "NOT MET");
    }
}

int main(int argc, char **argv) {
    options o = { 1, 2000, 5, 0, 0, 0, 0, NULL, 3, { 5, 50, 250 } };
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--figures") == 0 || strcmp(argv[i], "--list-figures") == 0) return sizing_main(argc, argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) o.json = 1;
        else if (strcmp(argv[i], "--record-only") == 0) o.record_only = 1;
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) bench_url_text = argv[++i];
        else if (strcmp(argv[i], "--limits-url") == 0 && i + 1 < argc) bench_limits_url_text = argv[++i];
        else if (strcmp(argv[i], "--tally") == 0 && i + 1 < argc) o.tally_bin = argv[++i];
        else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) o.scale = atof(argv[++i]);
        else if (strcmp(argv[i], "--live-rate") == 0 && i + 1 < argc) o.live_rate = atof(argv[++i]);
        else if (strcmp(argv[i], "--live-secs") == 0 && i + 1 < argc) o.live_secs = atof(argv[++i]);
        else if (strcmp(argv[i], "--live-flush-ms") == 0 && i + 1 < argc) {
            if ((o.nflush = parse_flush_list(argv[++i], o.flush_ms)) < 0)
                die("--live-flush-ms must be a comma-separated list of at most %d values from 1 to 60000 ms",
                    LIVE_FLUSH_MAX);
        } else if (strcmp(argv[i], "--live-only") == 0) o.live_only = 1;
        else if (strcmp(argv[i], "--admission-only") == 0) o.admission_only = 1;
        else {
            fprintf(stderr, "usage: tally-bench [--url URL] [--limits-url URL] [--tally PATH] [--json] [--scale F]\n"
                            "                   [--record-only]\n"
                            "                   [--live-rate N] [--live-secs S] [--live-flush-ms LIST]\n"
                            "                   [--live-only] [--admission-only]\n"
                            "  needs an empty database; flushes it between phases\n"
                            "  --tally: the tally tool, for the `record --stdin` rows\n"
                            "  --record-only: record throughput alone, no flush (works on a cluster)\n"
                            "  --live-rate, --live-secs: the live rows' arrivals, events/s (default 2000)\n"
                            "    and seconds (default 5); --live-only: the live rows alone\n"
                            "  --live-flush-ms LIST: the async recorder's live row again per flush_ms\n"
                            "    (default 5,50,250; \"\" for none)\n"
                            "  --admission-only: allow during an import alone, beside the uniform seed row\n"
                            "  --limits-url: a second empty Redis; allow during an import also with the\n"
                            "    decisions there (tally_config.limits_url); flushed afterwards\n");
            return 2;
        }
    }
    if (!bench_url_text) bench_url_text = getenv("TALLY_TEST_URL");
    if (!bench_url_text) bench_url_text = getenv("TALLY_URL");
    if (!bench_url_text) bench_url_text = "redis://127.0.0.1:6379/0";
    if (o.scale <= 0 || o.scale > 100) die("--scale must be in (0, 100]");
    if (!(o.live_rate >= 1 && o.live_rate <= 1e6)) die("--live-rate must be from 1 to 1000000 events/s");
    if (!(o.live_secs > 0 && o.live_secs <= 3600) || o.live_rate * o.live_secs < 1)
        die("--live-secs must be in (0, 3600] and give at least one event");
    char err[256];
    if (tally__url_parse(bench_url_text, &bench_url, err, sizeof err) < 0) die("%s", err);
    if (bench_limits_url_text && tally__url_parse(bench_limits_url_text, &bench_limits_url, err, sizeof err) < 0)
        die("--limits-url: %s", err);
    bench_init();
    redisContext *c = raw_connect();
    redisReply *r = bench_cmd(c, "DBSIZE");
    if (r->integer != 0 && !o.record_only) die("the database is not empty (%lld keys); the bench flushes it", r->integer);
    freeReplyObject(r);
    if (bench_limits_url_text) {
        redisContext *l = raw_connect_to(&bench_limits_url);
        r = bench_cmd(l, "DBSIZE");
        if (r->integer != 0) die("--limits-url: the database is not empty (%lld keys); the bench flushes it", r->integer);
        freeReplyObject(r);
        redisFree(l);
    }
    r = bench_cmd(c, "INFO server");
    char version[32] = "?";
    const char *v = strstr(r->str, "redis_version:");
    if (v) sscanf(v + 14, "%31[^\r\n]", version);
    freeReplyObject(r);
    size_t n_sync = (size_t)(5000 * o.scale), n_bulk = (size_t)(60000 * o.scale), n_allow = (size_t)(10000 * o.scale);
    if (o.live_only || o.admission_only) { /* one section, its targets */
        live_result lv;
        admission adm;
        if (o.live_only) lv = bench_live(c, o.live_rate, o.live_secs, o.flush_ms, o.nflush);
        else admission_run(c, n_allow / 2, n_bulk, &adm);
        redisFree(c);
        if (o.json) {
            printf("{\n  \"redis_version\":\"%s\",\n", version);
            if (o.live_only) print_live(&lv, 1);
            else admission_print(&adm, 1);
            printf("\n}\n");
            return 0;
        }
        printf("tally-bench  redis %s  %s\n\n", version, bench_url.is_unix ? "unix socket" : "TCP loopback");
        if (o.live_only) print_live(&lv, 0);
        else admission_print(&adm, 0);
        printf("\nTARGETS\n");
        if (o.live_only) print_live_targets(&lv);
        else admission_target(&adm);
        return 0;
    }
    if (!o.json) fprintf(stderr, "tally-bench: measuring (a few minutes)...\n");

    /* rows: per distribution, the seed first (the ratios' denominator), then
     * record.lua v1 (Redis CPU's reference), then tally's recorders; before
     * tally_record's row, record.lua v1 one call at a time over the same
     * events, each on an empty database: Redis CPU per event like for like */
    enum { R_SEED, R_V1, R_V1_SYNC, R_SYNC, R_BATCH_SMALL, R_BATCH, R_PRICED, R_TOOL, R_ASYNC };
    run rows[16];
    int kind[16], nrows = 0, seed_row[2], v1_row[2];
    for (int d = DIST_UNIFORM; d <= DIST_ZIPF; d++) {
        events e = make_events(n_bulk, 1 + d, d, NACCOUNTS);
        for (int k = R_SEED; k <= R_ASYNC; k++) {
            int one_at_a_time = k == R_V1_SYNC || k == R_SYNC;
            if ((one_at_a_time && d != DIST_UNIFORM) || (k == R_TOOL && !o.tally_bin)) continue;
            if (k == R_PRICED && d != DIST_UNIFORM) continue;
            /* a cluster: tally's library rows only (the baselines are single-server) */
            if (o.record_only && k != R_SYNC && k != R_BATCH) continue;
            if (k == R_SEED) seed_row[d] = nrows;
            if (k == R_V1) v1_row[d] = nrows;
            events sync = one_at_a_time ? make_events(n_sync, 3, d, NACCOUNTS) : e;
            rows[nrows] = k == R_SEED ? bench_seed(c, &e) : k == R_V1 ? bench_v1(c, &e, 64)
                        : k == R_V1_SYNC ? bench_v1(c, &sync, 1) : k == R_SYNC ? bench_sync(c, &sync)
                        : k == R_BATCH_SMALL ? bench_batch(c, &e, 4096)
                        : k == R_BATCH ? bench_batch(c, &e, BULK_BATCH) : k == R_PRICED ? bench_batch_priced(c, &e)
                        : k == R_TOOL ? bench_tool(c, &e, o.tally_bin)
                                                                  : bench_async(c, &e);
            if (one_at_a_time) free_events(&sync);
            rows[nrows].dist = d;
            kind[nrows++] = k;
            if (!o.record_only) flush_db(c);
        }
        free_events(&e);
    }
    if (o.record_only) {
        printf("RECORD ONLY  %s\n  %-38s %-8s %9s %8s %9s %9s %9s\n", bench_url.is_cluster ? "Redis Cluster" : "single server",
               "run", "keys", "events/s", "", "srv us/ev", "cli us/ev", "longest");
        for (int i = 0; i < nrows; i++) print_row(&rows[i], NULL);
        printf("  (srv us/ev: the node the bench is connected to; on a cluster only part of the work)\n");
        redisFree(c);
        return 0;
    }
    live_result lv = bench_live(c, o.live_rate, o.live_secs, o.flush_ms, o.nflush);
    admission adm;
    admission_run(c, n_allow / 2, n_bulk, &adm);
    flush_db(c);
    cmd_ok(c, "CONFIG SET slowlog-log-slower-than 10000"); /* Redis's defaults again */
    cmd_ok(c, "CONFIG SET slowlog-max-len 128");
    cmd_ok(c, "SLOWLOG RESET");
    allow_run al[5];
    long long amem[4][4];
    mem_result mem = { 0 };
    if (!o.record_only) {
        bench_allow(c, n_allow, al);
        flush_db(c);
        allow_memory(c, amem);
        mem = bench_memory(c);
    }
    redisFree(c);

    /* targets: the worst row of each kind; bulk is `record --stdin` and
     * tally_record_batch of BULK_BATCH (the 4096 and async rows are printed
     * beside them, and count for the longest call) */
    double worst_ratio[2] = { 1e9, 1e9 }, worst_cpu = 0, worst_cli = 0, worst_async = 0, longest = -1;
    for (int i = 0; i < nrows; i++) {
        const run *x = &rows[i];
        if (kind[i] == R_SEED || kind[i] == R_V1 || kind[i] == R_V1_SYNC || kind[i] == R_SYNC) continue;
        if (x->longest_ms > longest) longest = x->longest_ms;
        if (kind[i] == R_ASYNC) {
            if (x->client_cpu_us > worst_async) worst_async = x->client_cpu_us;
            continue;
        }
        if (kind[i] == R_BATCH_SMALL || kind[i] == R_PRICED) continue;
        double cpu = x->server_cpu_us / rows[v1_row[x->dist]].server_cpu_us;
        if (cpu > worst_cpu) worst_cpu = cpu;
        double ratio = x->rate / rows[seed_row[x->dist]].rate;
        if (ratio < worst_ratio[x->dist]) worst_ratio[x->dist] = ratio;
        if (x->client_cpu_us > worst_cli) worst_cli = x->client_cpu_us;
    }
    const allow_import *ai = &adm.r[adm.pick];
    const char *workload = "1000 API keys x 3 models x 50 accounts, request ids on, event time now";
    const char *day = "1000 API keys x 3 models x 1 account each; 24 events per key, one per hour of yesterday "
                      "(UTC), models rotating; every dimension on; request ids 28 bytes";
    if (o.json) {
        printf("{\n  \"redis_version\":\"%s\",\n  \"workload\":\"%s\",\n  \"record\":[\n", version, workload);
        for (int i = 0; i < nrows; i++)
            print_row_json(&rows[i], i == seed_row[rows[i].dist] ? NULL : &rows[seed_row[rows[i].dist]],
                           i == nrows - 1);
        printf("  ]");
        if (!o.record_only) {
            printf(",\n  \"allow\":[\n");
            for (int i = 0; i < 5; i++)
                printf("    {\"name\":\"%s\",\"decisions_per_s\":%.0f,\"of_incr\":%.3f}%s\n", al[i].name, al[i].rate,
                       al[i].ratio, i == 4 ? "" : ",");
            printf("  ],\n  \"allow_memory_bytes\":{");
            for (int a = 0; a < 4; a++)
                printf("%s\"%s\":[%lld,%lld,%lld,%lld]", a ? "," : "", tally_algo_name(a), amem[a][0], amem[a][1],
                       amem[a][2], amem[a][3]);
            printf("},\n  \"memory\":{\"workload\":\"%s\",\"used_memory_delta\":%.0f,"
                   "\"bytes_per_api_key_per_day\":%.0f,\"keys_per_api_key_per_day\":%.2f,\"components\":[\n",
                   day, mem.used_delta, mem.per_key, mem.keys_per_key);
            for (int i = 0; i < C_N; i++)
                printf("    {\"type\":\"%s\",\"keys\":%lld,\"memory_usage_bytes\":%lld,\"per_api_key\":%.0f}%s\n",
                       class_names[i], mem.count[i], mem.bytes[i], (double)mem.bytes[i] / NKEYS,
                       i == C_N - 1 ? "" : ",");
            printf("  ]}");
        }
        printf(",\n");
        print_live(&lv, 1);
        printf(",\n");
        admission_print(&adm, 1);
        printf(",\n  \"targets\":{\"bulk_of_seed_uniform\":%.2f,\"bulk_of_seed_zipf\":%.2f,"
               "\"server_cpu_of_record_lua_v1\":%.3f,\"client_cpu_us_per_event\":%.2f,"
               "\"async_caller_cpu_us_per_record\":%.3f,\"longest_script_ms\":%.2f,"
               "\"allow_p99_import_over_idle\":%.2f,\"allow_import_of_seed\":%.2f,\"allow_import_max_script_us\":%lld,"
               "\"live_async_of_seed_request_path\":%.2f,\"live_record_of_seed_request_path\":%.2f,"
               "\"memory_per_key_day\":%.0f}\n}\n",
               worst_ratio[0], worst_ratio[1], worst_cpu, worst_cli, worst_async, longest, p99_ratio(ai),
               ai->import_rate / adm.seed_rate, (long long)ai->bound_us, lv.rows[LIVE_ASYNC].server_cpu_us / lv.rows[LIVE_SEED].server_cpu_us,
               lv.rows[LIVE_SYNC].server_cpu_us / lv.rows[LIVE_SEED].server_cpu_us, mem.per_key);
        return 0;
    }
    printf("tally-bench  redis %s  %s\n\n", version, bench_url.is_unix ? "unix socket" : "TCP loopback");
    printf("RECORD  %s\n", workload);
    printf("  %-38s %-8s %9s %8s %9s %9s  %s\n", "run", "keys", "events/s", "x seed", "srv us/ev", "cli us/ev",
           "longest over/calls");
    for (int i = 0; i < nrows; i++) print_row(&rows[i], &rows[seed_row[rows[i].dist]]);
    printf("  x seed: events/s over the seed-shaped row of the same key distribution (same run, same server)\n");
    printf("  longest: the longest EVALSHA of the run (SLOWLOG, commands over 1 ms; wall time, so a server\n"
           "    the OS preempts counts it); over/calls: EVALSHA calls over the 5 ms bound, of all the row made\n");
    printf("  cli us/ev: the recording threads' CPU (the tool: the child process; async: the caller's thread)\n");
    printf("  record.lua v1, 1 call in flight and tally_record: the same %zu events, each on an empty database\n", n_sync);
    printf("\n");
    print_live(&lv, 0);
    printf("\n");
    admission_print(&adm, 0);
    if (!o.record_only) {
        printf("\nALLOW (one rule, limit never reached; 1 conn, 1 call at a time)\n");
        for (int i = 0; i < 5; i++)
            printf("  %-28s %9.0f decisions/s  %5.0f%% of INCR\n", al[i].name, al[i].rate, 100 * al[i].ratio);
        printf("  memory per limited key and rule (MEMORY USAGE, limit 1e6/1h) after 1 / 10 / 100 / 1000 calls:\n");
        for (int a = 0; a < 4; a++)
            printf("    %-16s %7lld %7lld %7lld %7lld B\n", tally_algo_name(a), amem[a][0], amem[a][1], amem[a][2],
                   amem[a][3]);
        printf("\nMEMORY  %s\n", day);
        printf("  used_memory delta %.0f B: %.0f B per API key per day, %.2f keys per API key per day\n",
               mem.used_delta, mem.per_key, mem.keys_per_key);
        printf("  %-40s %6s %10s %8s\n", "component (MEMORY USAGE)", "keys", "bytes", "B/API key");
        for (int i = 0; i < C_N; i++)
            printf("  %-40s %6lld %10lld %8.0f\n", class_names[i], mem.count[i], mem.bytes[i],
                   (double)mem.bytes[i] / NKEYS);
    }
    printf("\nTARGETS (worst row of each kind; bulk: `record --stdin` and tally_record_batch of %d)\n", BULK_BATCH);
    printf("  bulk record >= 4x seed, uniform keys       %6.2fx      %s\n", worst_ratio[0],
           worst_ratio[0] >= 4 ? "met" : "NOT MET");
    printf("  bulk record >= 8x seed, Zipf keys          %6.2fx      %s\n", worst_ratio[1],
           worst_ratio[1] >= 8 ? "met" : "NOT MET");
    printf("  Redis CPU/event <= 25%% of record.lua v1's  %6.0f%%      %s   (bulk)\n", 100 * worst_cpu,
           worst_cpu <= 0.25 ? "met" : "NOT MET");
    printf("  client CPU < 2 us per event (bulk)         %6.2f us    %s\n", worst_cli,
           worst_cli < 2 ? "met" : "NOT MET");
    printf("  caller CPU < 1 us per async record         %6.3f us    %s\n", worst_async,
           worst_async < 1 ? "met" : "NOT MET");
    admission_target(&adm);
    print_live_targets(&lv);
    if (longest < 0) printf("  longest script call <= 5 ms                < 1 ms      met\n");
    else printf("  longest script call <= 5 ms               %6.1f ms    %s\n", longest, longest <= 5 ? "met" : "NOT MET");
    if (!o.record_only)
        printf("  memory <= 2048 B per API key per day       %6.0f B     %s\n", mem.per_key,
               mem.per_key <= 2048 ? "met" : "NOT MET");
    return 0;
}
