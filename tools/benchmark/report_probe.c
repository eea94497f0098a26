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
#define BATCH 65536

char (*probe_key_ids)[16], (*probe_acct_ids)[32];
size_t probe_accounts = 100;

void probe_ids(size_t nkeys, size_t naccounts) {
    probe_free_ids();
    probe_key_ids = xmalloc(nkeys * sizeof *probe_key_ids);
    for (size_t k = 0; k < nkeys; k++) snprintf(probe_key_ids[k], sizeof probe_key_ids[k], "rk-%06u", (unsigned)k);
    probe_acct_ids = xmalloc(naccounts * sizeof *probe_acct_ids);
    for (size_t a = 0; a < naccounts; a++) snprintf(probe_acct_ids[a], sizeof probe_acct_ids[a], "acct-%05zu", a);
    probe_accounts = naccounts;
}

void probe_free_ids(void) {
    free(probe_key_ids);
    free(probe_acct_ids);
    probe_key_ids = NULL;
    probe_acct_ids = NULL;
}

redisContext *probe_connect(void) {
    char err[256];
    if (tally__url_parse(bench_url_text, &bench_url, err, sizeof err) < 0) die("%s", err);
    redisContext *c = raw_connect();
    redisReply *r = bench_cmd(c, "DBSIZE");
    if (r->integer != 0) die("the database is not empty (%lld keys)", r->integer);
    freeReplyObject(r);
    return c;
}

void script_stats(redisContext *c, double *calls, double *usec) {
    redisReply *r = bench_cmd(c, "INFO commandstats");
    *calls = *usec = 0;
    static const char *const names[] = { "\ncmdstat_evalsha:", "\ncmdstat_evalsha_ro:" };
    for (int i = 0; i < 2; i++) {
        const char *p = strstr(r->str, names[i]);
        double n, u;
        if (p && sscanf(p + strlen(names[i]), "calls=%lf,usec=%lf", &n, &u) == 2) *calls += n, *usec += u;
    }
    freeReplyObject(r);
}

void probe_record(tally *t, size_t nkeys, int64_t at_ms, int turn) {
    static tally_event ev[BATCH];
    static tally_result res[BATCH];
    static const char *const models[3] = { "model-a", "model-b", "model-c" };
    for (size_t i = 0; i < nkeys; i += BATCH) {
        size_t m = nkeys - i < BATCH ? nkeys - i : BATCH;
        for (size_t k = 0; k < m; k++)
            ev[k] = (tally_event){ .key = probe_key_ids[i + k], .account = probe_acct_ids[(i + k) % probe_accounts],
                                   .model = models[(i + k + (size_t)turn) % 3], .input_tokens = 100 + (int64_t)k % 7,
                                   .output_tokens = 20, .cost_nanos = 1000 + (int64_t)(i + k), .at_ms = at_ms };
        if (tally_record_batch(t, ev, m, res) != TALLY_OK) die("record: %s", tally_errmsg(t));
        for (size_t k = 0; k < m; k++)
            if (res[k].code != TALLY_OK) die("record: event %zu: %s", i + k, res[k].message);
    }
}

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
