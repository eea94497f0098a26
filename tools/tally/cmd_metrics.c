/* cmd_metrics.c -- `tally metrics`: the last minutes' requests and tokens (text
 * or JSON), or every statistic in Prometheus's text format (prom.c), e.g. for
 * node_exporter's textfile collector. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json.h"
#include "prom.h"

static const char usage[] =
    "usage: tally metrics [--minutes N]\n"
    "       tally metrics --format prometheus [--top N] [--top-accounts N] [--account ID]...\n"
    "\n"
    "  --minutes N     requests and tokens over the last N minutes (default 5, at\n"
    "                  most 120: minute buckets are kept 2 hours), with\n"
    "                  requests/min and tokens/min\n"
    "  --format text|json|prometheus\n"
    "                  text (default), json (the same as --json) or prometheus:\n"
    "                  counters since the statistics began of requests, tokens by\n"
    "                  kind and cost in USD -- global, per model, per account\n"
    "                  (--account, --top-accounts) and per API key for the top N\n"
    "                  keys by cost; the same\n"
    "                  series as `tally exporter` but for its own (tally_up,\n"
    "                  tally_scrape_*). Text exposition format 0.0.4, no\n"
    "                  timestamps: suitable for node_exporter's textfile\n"
    "                  collector; write it to a temp file and rename it into place\n"
    "  --top N         API keys by all-time cost (default 20, 0 to 1000); a\n"
    "                  series per key would grow without bound\n"
    "  --top-accounts N  accounts by all-time cost (default 0: none, 0 to 1000),\n"
    "                  ranked from the shards' account buckets; refused (exit 2)\n"
    "                  on a prefix recorded before they existed (docs/keys.md)\n"
    "  --account ID    an account to export by name (repeatable, up to 100),\n"
    "                  with or besides the top ones\n"
    "\n"
    "options: --url URL --tz ±HH:MM --timeout MS --prefix P --json --help\n"
    "         --read-from primary|replica (a Redis Cluster's replicas; see tally --help)\n"
    "exit: 0 ok, 2 bad usage, 3 Redis unreachable, 4 Redis error, timeout, or a sum\n"
    "      past 2^63-1 (shards, models or minutes merged)\n";

/* v / minutes with two decimals, in integers. */
static void per_minute(int64_t v, int64_t minutes, char *buf, size_t n) {
    int64_t hundredths = v * 100 / minutes;
    snprintf(buf, n, "%lld.%02lld", (long long)(hundredths / 100), (long long)(hundredths % 100));
}

static int recent(tally *t, int64_t minutes, int json) {
    tally_bucket b;
    int rc = tally_metrics(t, (int)minutes, &b);
    if (rc != TALLY_OK) return cli_fail("metrics", t, rc);
    char rpm[32], tpm[32];
    per_minute(b.requests, minutes, rpm, sizeof rpm);
    per_minute(b.total_tokens, minutes, tpm, sizeof tpm);
    if (json) {
        json_out j;
        json_begin(&j, stdout);
        json_object(&j, NULL);
        json_int(&j, "minutes", minutes);
        json_int(&j, "requests", b.requests);
        json_int(&j, "total_tokens", b.total_tokens);
        json_number(&j, "rpm", rpm);
        json_number(&j, "tpm", tpm);
        json_close(&j);
    } else {
        printf("last %lld minute%s: %lld requests, %lld tokens, %s requests/min, %s tokens/min\n",
               (long long)minutes, minutes == 1 ? "" : "s", (long long)b.requests, (long long)b.total_tokens, rpm, tpm);
    }
    return EXIT_OK_;
}

static int prometheus(tally *t, const prom_options *o) {
    int rc = prom_write(t, o, stdout);
    return rc == TALLY_OK ? EXIT_OK_ : cli_fail("metrics", rc == TALLY_ENOMEM ? NULL : t, rc);
}

enum { FORMAT_TEXT, FORMAT_JSON, FORMAT_PROMETHEUS };

int cmd_metrics(int argc, char **argv) {
    cli_common c = { 0 };
    static const char *const formats[] = { "text", "json", "prometheus", NULL };
    const char *accounts[PROM_ACCOUNTS_MAX];
    int64_t minutes = 5, top = PROM_TOP_DEFAULT, top_accounts = 0;
    int format = FORMAT_TEXT;
    opt opts[] = {
        OPT_COUNT("--minutes", &minutes, 1, TALLY_TTL_MINUTE_DEFAULT_S / 60),
        OPT_CHOICE("--format", &format, formats),
        PROM_OPTS(top, top_accounts, accounts),
        OPT_END,
    };
    char *pos[1];
    int npos, code = cli_parse("metrics", argc, argv, &c, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    int prom = format == FORMAT_PROMETHEUS, naccounts = cli_given(opts, "--account");
    if (format == FORMAT_JSON) c.json = 1;
    if (prom && (c.json || cli_given(opts, "--minutes")))
        return cli_usage_error("metrics", "%s does not apply to --format prometheus",
                               c.json ? "--json" : "--minutes");
    if (!prom && (cli_given(opts, "--top") || cli_given(opts, "--top-accounts") || naccounts))
        return cli_usage_error("metrics", "%s applies to --format prometheus only",
                               cli_given(opts, "--top")            ? "--top"
                               : cli_given(opts, "--top-accounts") ? "--top-accounts"
                                                                   : "--account");
    tally *t;
    if ((code = cli_open("metrics", &c, &t))) return code;
    prom_options o;
    if (prom && !(code = prom_options_set("metrics", t, top, top_accounts, accounts, naccounts, &o))) code = prometheus(t, &o);
    else if (!prom) code = recent(t, minutes, c.json);
    tally_close(t);
    return code;
}
