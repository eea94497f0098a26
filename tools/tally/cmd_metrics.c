/* cmd_metrics.c -- `tally metrics`: the last minutes' requests and tokens (text
 * or JSON), or every statistic in Prometheus's text format (prom.c), e.g. for
 * node_exporter's textfile collector. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "prom.h"

static const char usage[] =
    "usage: tally metrics [--minutes N]\n"
    "       tally metrics --format prometheus [--top N] [--account ID]...\n"
    "\n"
    "  --minutes N     requests and tokens over the last N minutes (default 5, at\n"
    "                  most 1440), with requests/min and tokens/min\n"
    "  --format text|json|prometheus\n"
    "                  text (default), json (the same as --json) or prometheus:\n"
    "                  requests, tokens by kind and cost (USD, and exact nano-USD)\n"
    "                  for today, this month and all time -- global, per model,\n"
    "                  per --account and per API key for the top N keys by cost\n"
    "                  (text exposition format 0.0.4, no timestamps: suitable for\n"
    "                  node_exporter's textfile collector; write it to a temp file\n"
    "                  and rename it into place)\n"
    "  --top N         API keys per period, by cost (default 20, 0 to 1000); a\n"
    "                  series per key would grow without bound\n"
    "  --account ID    an account to export (repeatable, up to 100): tally keeps\n"
    "                  no index of accounts, so they are named here\n"
    "\n"
    "options: --url URL --tz ±HH:MM --timeout MS --prefix P --json --help\n"
    "exit: 0 ok, 2 bad usage, 3 Redis unreachable, 4 Redis error, timeout, or a sum\n"
    "      past 2^63-1 (shards, models or minutes merged)\n";

/* v / minutes with two decimals, in integers. */
static void per_minute(int64_t v, int minutes, char *buf, size_t n) {
    int64_t hundredths = v * 100 / minutes;
    snprintf(buf, n, "%lld.%02lld", (long long)(hundredths / 100), (long long)(hundredths % 100));
}

static int recent(tally *t, int minutes, int json) {
    tally_bucket b;
    int rc = tally_metrics(t, minutes, &b);
    if (rc != TALLY_OK) return cli_fail("metrics", t, rc);
    char rpm[32], tpm[32];
    per_minute(b.requests, minutes, rpm, sizeof rpm);
    per_minute(b.total_tokens, minutes, tpm, sizeof tpm);
    if (json)
        printf("{\"minutes\":%d,\"requests\":%lld,\"total_tokens\":%lld,\"rpm\":%s,\"tpm\":%s}\n", minutes,
               (long long)b.requests, (long long)b.total_tokens, rpm, tpm);
    else
        printf("last %d minutes: %lld requests, %lld tokens, %s requests/min, %s tokens/min\n", minutes,
               (long long)b.requests, (long long)b.total_tokens, rpm, tpm);
    return EXIT_OK_;
}

static int prometheus(tally *t, const prom_options *o) {
    char *text;
    size_t len;
    int rc = prom_render(t, o, &text, &len);
    if (rc != TALLY_OK) return rc == TALLY_ENOMEM ? cli_fail("metrics", NULL, rc) : cli_fail("metrics", t, rc);
    fwrite(text, 1, len, stdout);
    free(text);
    return EXIT_OK_;
}

int cmd_metrics(int argc, char **argv) {
    cli_common c = { 0 };
    const char *minutes_text = NULL, *format = NULL, *top = NULL, *accounts[PROM_ACCOUNTS_MAX];
    int naccounts = 0, minutes = 5;
    cli_opt opts[] = {
        CLI_COMMON_OPTS(c),
        { "--minutes", &minutes_text, 0, 0, 0, 0 }, { "--format", &format, 0, 0, 0, 0 },
        { "--top", &top, 0, 0, 0, 0 }, { "--account", 0, 0, accounts, &naccounts, PROM_ACCOUNTS_MAX },
        { 0 },
    };
    char *pos[1];
    int npos, code = cli_parse("metrics", argc, argv, 2, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    int prom = format && strcmp(format, "prometheus") == 0;
    if (format && !prom && strcmp(format, "json") != 0 && strcmp(format, "text") != 0)
        return cli_usage_error("metrics", "--format '%s' must be text, json or prometheus", format);
    if (format && strcmp(format, "json") == 0) c.json = 1;
    if (prom && (c.json || minutes_text))
        return cli_usage_error("metrics", "%s does not apply to --format prometheus",
                               c.json ? "--json" : "--minutes");
    if (!prom && (top || naccounts))
        return cli_usage_error("metrics", "%s applies to --format prometheus only", top ? "--top" : "--account");
    if (minutes_text && (code = cli_number("metrics", "--minutes", minutes_text, 1, 1440, &minutes)))
        return code;
    tally *t;
    if ((code = cli_open("metrics", &c, &t))) return code;
    prom_options o;
    if (prom && !(code = prom_options_parse("metrics", t, top, accounts, naccounts, &o))) code = prometheus(t, &o);
    else if (!prom) code = recent(t, minutes, c.json);
    tally_close(t);
    return code;
}
