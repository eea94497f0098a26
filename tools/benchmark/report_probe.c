/* report_probe.c -- tally-bench-report: what a report of 10^4 API keys over a
 * month costs Redis (issue 22's bench figure): per report, the script calls,
 * their Redis time (INFO commandstats, EVALSHA and EVALSHA_RO: the sum and the
 * mean per call), the longest call (SLOWLOG, calls over 1 ms) and the wall
 * time of tally_report() on this host. With --top, what the rankings cost
 * instead (top_probe.c).
 *
 *   tally-bench-report --url URL [--keys N] [--accounts N]   (an empty database)
 *   tally-bench-report --url URL --top [--keys N[,N...]] [--runs N]
 *
 * It records one event per key and day for the last 30 days (the day
 * buckets a 30-day report reads; 100 accounts unless told, 3 models) and one per key in
 * the month before this one, whose day buckets are gone by then: a calendar
 * month read from its month buckets alone. Then it reports both by key (whole,
 * per day), the 30 days by account and by model per day, and prints a line a
 * report. A measurement, not a test: nothing is asserted but that the rows
 * add up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

#define DAYS 30

static void measure(redisContext *c, tally *t, const char *what, int by, int per, const tally_range *r) {
    double calls0, usec0, calls1, usec1;
    cmd_ok(c, "SLOWLOG RESET");
    script_stats(c, &calls0, &usec0);
    double t0 = now_s();
    tally_report_row *rows;
    size_t n;
    if (tally_report(t, by, per, r, NULL, &rows, &n) != TALLY_OK) die("%s: %s", what, tally_errmsg(t));
    double wall = now_s() - t0;
    script_stats(c, &calls1, &usec1);
    double calls = calls1 - calls0, usec = usec1 - usec0; /* nothing else runs scripts meanwhile */
    double longest = slowlog_longest_ms(c, NULL);
    printf("  %-44s %7zu %6.0f %10.1f %8.2f %8.1f %7.2f\n", what, n - 1, calls, usec / 1000, calls ? usec / calls / 1000 : 0,
           longest > 0 ? longest : 0, wall);
    tally_report_free(rows, n);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--top") == 0) return top_probe_main(argc, argv);
    size_t nkeys = 10000, naccounts = 100;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) bench_url_text = argv[++i];
        else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) nkeys = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc) naccounts = (size_t)atol(argv[++i]);
        else die("usage: tally-bench-report --url URL [--keys N] [--accounts N]");
    }
    if (!bench_url_text || nkeys < 1 || nkeys > 1000000 || naccounts < 1 || naccounts > nkeys)
        die("usage: tally-bench-report --url URL [--keys N (1..10^6)] [--accounts N (1..keys)]");
    redisContext *c = probe_connect();
    probe_ids(nkeys, naccounts);
    tally *t = open_handle();
    int64_t now = (int64_t)time(NULL) * 1000, today = now / 86400000;
    fprintf(stderr, "tally-bench-report: recording %zu keys x %d days...\n", nkeys, DAYS + 1);
    for (int d = 0; d < DAYS; d++) probe_record(t, nkeys, (today - d) * 86400000 + 1000 * (d + 1) % 86400000, d);
    /* the month before this one, from its 20th (its day buckets may be gone) */
    time_t s = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    int y = tm.tm_year + 1900, m = tm.tm_mon + 1;
    int py = m == 1 ? y - 1 : y, pm = m == 1 ? 12 : m - 1;
    struct tm mid = { .tm_year = py - 1900, .tm_mon = pm - 1, .tm_mday = 20, .tm_hour = 12 };
    probe_record(t, nkeys, (int64_t)timegm(&mid) * 1000, 0);
    cmd_ok(c, "CONFIG SET slowlog-log-slower-than 1000");
    cmd_ok(c, "CONFIG SET slowlog-max-len 1000");
    tally_period from = { TALLY_DAY, 0, 0, 0, 0 }, to = from;
    time_t f = (time_t)((today - DAYS + 1) * 86400);
    gmtime_r(&f, &tm);
    from.year = tm.tm_year + 1900, from.month = tm.tm_mon + 1, from.day = tm.tm_mday;
    gmtime_r(&s, &tm);
    to.year = tm.tm_year + 1900, to.month = tm.tm_mon + 1, to.day = tm.tm_mday;
    tally_range last30 = { from, to };
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (py % 4 == 0 && py % 100 != 0) || py % 400 == 0;
    tally_range month = { { TALLY_DAY, py, pm, 1, 0 }, { TALLY_DAY, py, pm, mdays[pm - 1] + (pm == 2 && leap), 0 } };
    printf("REPORTS of %zu API keys (%zu accounts, 3 models), max_script_us default, one server\n", nkeys, probe_accounts);
    printf("  %-44s %7s %6s %10s %8s %8s %7s\n", "report", "rows", "calls", "redis ms", "ms/call", "longest", "wall s");
    char what[64];
    snprintf(what, sizeof what, "--by key, %04d-%02d (month buckets)", py, pm);
    measure(c, t, what, TALLY_RANK_OF_KEY, TALLY_REPORT_WHOLE, &month);
    measure(c, t, "--by key, last 30 days (day buckets)", TALLY_RANK_OF_KEY, TALLY_REPORT_WHOLE, &last30);
    measure(c, t, "--by key --per day, last 30 days", TALLY_RANK_OF_KEY, TALLY_REPORT_PER_DAY, &last30);
    measure(c, t, "--by account --per day, last 30 days", TALLY_RANK_OF_ACCOUNT, TALLY_REPORT_PER_DAY, &last30);
    measure(c, t, "--by model --per day, last 30 days", TALLY_RANK_OF_MODEL, TALLY_REPORT_PER_DAY, &last30);
    printf("  (redis ms: INFO commandstats, EVALSHA + EVALSHA_RO; longest: SLOWLOG, calls over 1 ms)\n");
    tally_close(t);
    redisFree(c);
    probe_free_ids();
    return 0;
}
