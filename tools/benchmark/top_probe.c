/* top_probe.c -- tally-bench-report --top: what ranking the API keys costs
 * Redis at 10^3, 10^4 and 10^5 active keys (issue 19's "what a top call
 * costs"). Through the public API only, so the same probe measures any
 * layout of the rankings (leaderboards, or fields read in pages).
 *
 *   tally-bench-report --url URL --top [--keys N[,N...]] [--runs N]
 *
 * For each number of keys (default 1000,10000,100000), on the emptied
 * database: two events per key today (two of 3 models, 100 accounts) and one
 * 20 days ago, recorded with tally_record_batch; then each query once to warm
 * up and --runs times (default 5) measured: the top 10 by cost of today, of
 * this month and of the total (tally_top_of), of the last 30 days
 * (tally_top_range), and today's active keys walked to the end in pages of
 * 1,000 (tally_active). Per query: the rows, the script calls of one run and
 * their Redis time (INFO commandstats, EVALSHA and EVALSHA_RO; medians over
 * the runs), the longest call of all runs (SLOWLOG, every call logged) and
 * the wall time (median). A measurement, not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

#define RUNS_MAX 99
#define TOP_N 10
#define PAGE 1000

enum { Q_DAY, Q_MONTH, Q_TOTAL, Q_RANGE, Q_ACTIVE, Q_N };
static const char *const query_names[Q_N] = {
    "top_of 10 by cost, today", "top_of 10 by cost, this month", "top_of 10 by cost, total",
    "top_range 10 by cost, last 30 days", "active today, pages of 1,000 to the end",
};

typedef struct {
    tally_period day, month, total;
    tally_range last30;
} periods;

static tally_period day_of(int64_t day) {
    time_t s = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&s, &tm);
    return (tally_period){ TALLY_DAY, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, 0 };
}

/* Runs query q once; returns its rows. */
static size_t run_query(tally *t, int q, const periods *p) {
    tally_rank *r;
    size_t n = 0;
    int rc = TALLY_OK;
    if (q == Q_ACTIVE) {
        char after[64] = "";
        size_t rows = 0;
        for (int more = 1; more;) {
            rc = tally_active(t, TALLY_RANK_OF_KEY, &p->day, rows ? after : NULL, PAGE, &r, &n, &more);
            if (rc != TALLY_OK) break;
            rows += n;
            if (n) snprintf(after, sizeof after, "%s", r[n - 1].key);
            tally_top_free(r, n);
            if (!n) break;
        }
        if (rc != TALLY_OK) die("%s: %s", query_names[q], tally_errmsg(t));
        return rows;
    }
    if (q == Q_RANGE) rc = tally_top_range(t, TALLY_RANK_OF_KEY, TALLY_RANK_COST, &p->last30, TOP_N, &r, &n);
    else
        rc = tally_top_of(t, TALLY_RANK_OF_KEY, TALLY_RANK_COST,
                          q == Q_DAY ? &p->day : q == Q_MONTH ? &p->month : &p->total, TOP_N, &r, &n);
    if (rc != TALLY_OK) die("%s: %s", query_names[q], tally_errmsg(t));
    tally_top_free(r, n);
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void measure(redisContext *c, tally *t, int q, const periods *p, int runs) {
    double calls[RUNS_MAX], usec[RUNS_MAX], wall[RUNS_MAX];
    size_t rows = run_query(t, q, p); /* warm-up */
    cmd_ok(c, "SLOWLOG RESET");
    for (int i = 0; i < runs; i++) {
        double calls0, usec0, calls1, usec1;
        script_stats(c, &calls0, &usec0);
        double t0 = now_s();
        if (run_query(t, q, p) != rows) die("%s: the rows changed between runs", query_names[q]);
        wall[i] = (now_s() - t0) * 1000;
        script_stats(c, &calls1, &usec1);
        calls[i] = calls1 - calls0, usec[i] = usec1 - usec0; /* nothing else runs scripts meanwhile */
    }
    double n = median(calls, runs), us = median(usec, runs);
    printf("  %-40s %7zu %6.0f %9.2f %8.1f %8.2f %8.2f\n", query_names[q], rows, n, us / 1000, n ? us / n : 0,
           slowlog_longest_ms(c, NULL), median(wall, runs));
}

static void probe(redisContext *c, size_t nkeys, int runs) {
    flush_db(c);
    probe_ids(nkeys, nkeys < 100 ? nkeys : 100);
    tally *t = open_handle();
    int64_t now = (int64_t)time(NULL) * 1000, today = now / 86400000;
    fprintf(stderr, "tally-bench-report: recording %zu keys x 3 events...\n", nkeys);
    double t0 = now_s();
    probe_record(t, nkeys, today * 86400000 + 1000, 0);
    probe_record(t, nkeys, today * 86400000 + 2000, 1);
    probe_record(t, nkeys, (today - 20) * 86400000 + 1000, 2);
    double rec_s = now_s() - t0;
    periods p = { day_of(today), { TALLY_MONTH, 0, 0, 0, 0 }, { TALLY_TOTAL, 0, 0, 0, 0 }, { day_of(today - 29), day_of(today) } };
    p.month.year = p.day.year, p.month.month = p.day.month;
    /* every call logged, so the longest is known below 1 ms too */
    cmd_ok(c, "CONFIG SET slowlog-log-slower-than 0");
    cmd_ok(c, "CONFIG SET slowlog-max-len 100000");
    printf("RANKINGS of %zu active API keys (2 events each today, 1 twenty days ago; 3 models, %zu accounts; "
           "recorded in %.1f s; used_memory %.1f MB), one server, medians of %d runs\n",
           nkeys, probe_accounts, rec_s, info_field(c, "memory", "used_memory") / 1e6, runs);
    printf("  %-40s %7s %6s %9s %8s %8s %8s\n", "query", "rows", "calls", "redis ms", "us/call", "longest", "wall ms");
    for (int q = 0; q < Q_N; q++) measure(c, t, q, &p, runs);
    printf("  (calls, redis ms: INFO commandstats, EVALSHA + EVALSHA_RO, one run; longest: SLOWLOG, ms, of all runs)\n");
    fflush(stdout);
    tally_close(t);
}

int top_probe_main(int argc, char **argv) {
    static const char usage[] = "usage: tally-bench-report --url URL --top [--keys N[,N...] (1..10^6)] [--runs N (1..99)]";
    const char *list = "1000,10000,100000";
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) bench_url_text = argv[++i];
        else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) list = argv[++i];
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--top") != 0) die("%s", usage);
    }
    if (!bench_url_text || runs < 1 || runs > RUNS_MAX) die("%s", usage);
    size_t sizes[16], nsizes = 0;
    for (const char *s = list; *s;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1000000 || nsizes == 16 || (*end && *end != ',')) die("%s", usage);
        sizes[nsizes++] = (size_t)v;
        s = *end ? end + 1 : end;
    }
    redisContext *c = probe_connect();
    for (size_t i = 0; i < nsizes; i++) probe(c, sizes[i], runs);
    flush_db(c);
    redisFree(c);
    probe_free_ids();
    return 0;
}
