/* cmd_report.c -- `tally report`: tally_report's rows as a table, JSON or CSV
 * (RFC 4180: CRLF line ends, fields with a comma, quote, CR or LF quoted, quotes
 * doubled), so a bill opens in a spreadsheet. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json.h"

static const char usage_report[] =
    "usage: tally report --from DAY --to DAY [--by key|account|model] [--per day|month]\n"
    "                    [--key ID | --account ID] [--format table|json|csv]\n"
    "  one row per API key (the default: the keys active in the range), account\n"
    "  (those active in the range; not with --key) or model (of all keys, or of\n"
    "  --key alone), and per day or month of the range with --per,\n"
    "  or with --account the rows of that account alone (by account, the only\n"
    "  grouping it has: --by key or model is refused, exit 2), read from its own\n"
    "  buckets as tally stats --account reads them (a call per row),\n"
    "  with requests, tokens by kind and cost in exact decimal USD; sorted by\n"
    "  name, then day; then a total row (an empty name, period \"total\"). On a\n"
    "  prefix recorded before account buckets existed, --by account covers only\n"
    "  the days from the one its refusal names (exit 2)\n"
    "  a --key or --account with no data in the range prints the total row of\n"
    "  zeros, exit 0, and a notice on standard error (\"no data for account A in\n"
    "  FROM..TO\")\n"
    "  DAY as for tally stats (YYYY-MM-DD or today). Keys' buckets are read many\n"
    "  keys a call, each call about 5 ms (10^4 keys over a week: ~130 calls)\n"
    "  --json is --format json. Exit: 0 ok, 2 bad usage, 3 Redis unreachable,\n"
    "  4 Redis error, timeout or a sum past 2^63-1\n"
    "options: --url URL --tz ±HH:MM --timeout MS --prefix P --json --help\n";

/* --by, in TALLY_RANK_OF_* order: also the group's CSV and JSON column and
 * table header. */
static const char *const groups[] = { "key", "model", "account", NULL };

/* One CSV field: quoted when it holds a comma, quote, CR or LF. */
static void csv_field(const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* The row's period: the day, the month, "FROM..TO", or "total". */
static void span_text(const tally_report_row *row, int per, char buf[32]) {
    char a[24], b[24];
    tally_period_format(&row->span.from, a);
    tally_period_format(&row->span.to, b);
    if (!row->group) snprintf(buf, 32, "total");
    else if (per == TALLY_REPORT_PER_DAY) snprintf(buf, 32, "%s", a);
    else if (per == TALLY_REPORT_PER_MONTH) snprintf(buf, 32, "%.7s", a);
    else snprintf(buf, 32, "%.10s..%.10s", a, b);
}

static void print_csv(const tally_report_row *rows, size_t n, int by, int per) {
    printf("%s,period,requests,input_tokens,output_tokens,cache_create_tokens,cache_read_tokens,total_tokens,"
           "cost_usd\r\n", groups[by]);
    for (size_t i = 0; i < n; i++) {
        const tally_bucket *b = &rows[i].b;
        char when[32], usd[32];
        span_text(&rows[i], per, when);
        tally_nanos_to_usd(b->cost_nanos, usd, sizeof usd);
        csv_field(rows[i].group ? rows[i].group : "");
        printf(",%s,%lld,%lld,%lld,%lld,%lld,%lld,%s\r\n", when, (long long)b->requests, (long long)b->input_tokens,
               (long long)b->output_tokens, (long long)b->cache_create_tokens, (long long)b->cache_read_tokens,
               (long long)b->total_tokens, usd);
    }
}

static void print_json(const tally_report_row *rows, size_t n, int by, int per) {
    json_out j;
    json_begin(&j, stdout);
    json_array(&j, NULL);
    for (size_t i = 0; i < n; i++) {
        char when[32];
        span_text(&rows[i], per, when);
        json_object(&j, NULL);
        if (rows[i].group) json_str(&j, groups[by], rows[i].group);
        else json_null(&j, groups[by]);
        json_str(&j, "period", when);
        json_bucket(&j, &rows[i].b);
        json_close(&j);
    }
    json_close(&j);
}

static void print_table(const tally_report_row *rows, size_t n, int by, int per) {
    printf("%-24s %-22s %10s %12s %12s %12s %12s %12s %14s\n", groups[by], "period", "requests", "input", "output", "cache_create",
           "cache_read", "total", "cost_usd");
    for (size_t i = 0; i < n; i++) {
        const tally_bucket *b = &rows[i].b;
        char when[32], usd[32];
        span_text(&rows[i], per, when);
        tally_nanos_to_usd(b->cost_nanos, usd, sizeof usd);
        printf("%-24s %-22s %10lld %12lld %12lld %12lld %12lld %12lld %14s\n", rows[i].group ? rows[i].group : "TOTAL",
               when, (long long)b->requests, (long long)b->input_tokens, (long long)b->output_tokens,
               (long long)b->cache_create_tokens, (long long)b->cache_read_tokens, (long long)b->total_tokens, usd);
    }
}

int cmd_report(int argc, char **argv) {
    cli_common c = { 0 };
    static const char *const pers[] = { "day", "month", NULL },
                             *const formats[] = { "table", "json", "csv", NULL };
    int by = TALLY_RANK_OF_KEY, per = -1, format = 0;
    const char *key = NULL, *account = NULL;
    tally_range r;
    opt opts[] = { OPT_PERIOD("--from", &r.from, TALLY_DAY, TALLY_DAY),
                   OPT_PERIOD("--to", &r.to, TALLY_DAY, TALLY_DAY),
                   OPT_CHOICE("--by", &by, groups),
                   OPT_CHOICE("--per", &per, pers),
                   OPT_TEXT("--key", &key),
                   OPT_TEXT("--account", &account),
                   OPT_CHOICE("--format", &format, formats),
                   OPT_END };
    char *pos[1];
    int npos, code = cli_parse("report", argc, argv, &c, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) return fputs(usage_report, stdout), EXIT_OK_;
    if (!cli_given(opts, "--from") || !cli_given(opts, "--to"))
        return cli_usage_error("report", "--from DAY and --to DAY are required");
    if (c.json && cli_given(opts, "--format") && format != 1)
        return cli_usage_error("report", "--json and --format %s disagree", formats[format]);
    if (c.json) format = 1;
    if (key && account) return cli_usage_error("report", "give --key or --account, not both");
    if (account && !cli_given(opts, "--by")) by = TALLY_RANK_OF_ACCOUNT; /* its only grouping */
    if (account && by != TALLY_RANK_OF_ACCOUNT)
        return cli_usage_error("report", by == TALLY_RANK_OF_KEY
                                             ? "--account reports by account only: no index keeps which keys an "
                                               "account's events came from"
                                             : "--account reports by account only: an account's buckets are not "
                                               "kept per model");
    int kind = per < 0 ? TALLY_REPORT_WHOLE : per == 0 ? TALLY_REPORT_PER_DAY : TALLY_REPORT_PER_MONTH;
    tally *t;
    if ((code = cli_open("report", &c, &t))) return code;
    tally_report_row *rows;
    size_t n;
    int rc = tally_report_for(t, by, kind, &r, account ? TALLY_RANK_OF_ACCOUNT : TALLY_RANK_OF_KEY,
                              account ? account : key, &rows, &n);
    /* As tally stats: a name given with no request in the range (a typo reads
     * as zeros otherwise); the total row is the last. */
    if (rc == TALLY_OK && (key || account) && rows[n - 1].b.requests == 0) {
        char a[24], b[24];
        tally_period_format(&r.from, a);
        tally_period_format(&r.to, b);
        fprintf(stderr, "tally report: no data for %s %.200s in %.10s..%.10s\n", key ? "key" : "account",
                key ? key : account, a, b);
    }
    if (rc != TALLY_OK) code = cli_fail("report", t, rc);
    else if (format == 2) print_csv(rows, n, by, kind);
    else if (format == 1) print_json(rows, n, by, kind);
    else print_table(rows, n, by, kind);
    tally_report_free(rows, n);
    tally_close(t);
    return code;
}
