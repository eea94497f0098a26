/* main.c -- the tally tool: dispatch to commands, global help and version. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    { "record", cmd_record, "record a usage event, or NDJSON events from stdin" },
    { "settle", cmd_settle, "record a request's actual usage and release its estimate" },
    { "stats", cmd_stats, "one bucket of a key, account, model or everything" },
    { "models", cmd_models, "the per-model breakdown of a key or of all keys" },
    { "trend", cmd_trend, "a series of hourly, daily or monthly buckets" },
    { "top", cmd_top, "API keys or models ranked by cost, tokens or requests" },
    { "active", cmd_active, "the API keys or models with usage in a period or range" },
    { "report", cmd_report, "usage per key or model (and day or month) of a range: table, JSON, CSV" },
    { "metrics", cmd_metrics, "recent requests and tokens per minute, or Prometheus metrics" },
    { "exporter", cmd_exporter, "serve the Prometheus metrics over HTTP at /metrics" },
    { "allow", cmd_allow, "rate limits: decide and consume, all rules or none" },
    { "limits", cmd_limits, "rate limits: the same decision without consuming" },
    { "reserve", cmd_reserve, "hold an estimate against cost and token budgets" },
    { "cancel", cmd_cancel, "give a reserved estimate back without recording usage" },
    { "lease", cmd_lease, "concurrency leases: acquire, renew or release" },
    { "prices", cmd_prices, "load, list or show the price table that prices events" },
    { "migrate", cmd_migrate, "convert a key-schema v2 dataset to v3 in place (offline)" },
    { "scripts", cmd_scripts, "list, show, load, verify or flush the Lua scripts" },
};

static void help(FILE *f) {
    fputs("usage: tally COMMAND [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "common options:\n"
          "  --url URL      redis://[user:password@]host[:port][/db],\n"
          "                 unix:///path/to.sock[?db=N] or, for a Redis Cluster,\n"
          "                 redis-cluster://host:port[,host:port...]; default\n"
          "                 $TALLY_URL, else redis://127.0.0.1:6379/0\n"
          "  --timeout MS   connect timeout, and the deadline of each call, 1 to 3600000\n"
          "                 (default 2000 / 5000)\n"
          "  --tz ±HH:MM    statistics timezone, -14:00 to +14:00, Z or UTC (default\n"
          "                 $TALLY_TZ; unset or empty: UTC); messages show event\n"
          "                 times in it (ISO-8601, epoch ms beside)\n"
          "  --prefix P     key prefix (default tally)\n"
          "  --read-from primary|replica\n"
          "                 where stats, models, trend, top, active, metrics, exporter and\n"
          "                 limits read\n"
          "                 on a Redis Cluster (default $TALLY_READ_FROM, else primary):\n"
          "                 replica reads a replica of each slot (READONLY,\n"
          "                 EVALSHA_RO), the primary when none is up; replicas lag\n"
          "                 (asynchronous replication), so a read may miss the latest\n"
          "                 writes. On one server: that server (EVALSHA_RO). Writes,\n"
          "                 allow and reading the price table always use the primary\n"
          "  --allow-eviction\n"
          "                 record although the server's maxmemory-policy is not\n"
          "                 noeviction (default $TALLY_ALLOW_EVICTION=1, else off):\n"
          "                 Redis may then evict tally's keys, so statistics are\n"
          "                 approximate (lost counts, a resent request id counted\n"
          "                 again); allow, lease, reserve, cancel stay refused (exit 5)\n"
          "  --json         machine-readable output (not exporter)\n"
          "  --help         help for a command: tally COMMAND --help\n"
          "  --version      print the version (tally --version)\n"
          "Numbers are plain digits: no sign, spaces, leading zero or exponent. Every\n"
          "value is checked before anything connects (an event's ranges by the\n"
          "library's own rules); none may be empty.\n"
          "\n"
          "exit status:\n"
          "  0 success\n"
          "  1 denied, or missing (scripts verify)\n"
          "  2 bad usage or bad input; nothing was written. Also a prefix written\n"
          "    with another timezone or shard count, or holding an older key\n"
          "    schema's data (v2: see tally migrate --help)\n"
          "  3 Redis unreachable or authentication failed\n"
          "  4 Redis error (OOM, wrong key type), script error, timeout, sum past\n"
          "    2^63-1; exporter: cannot listen\n"
          "  5 a write refused, nothing written: the server's maxmemory-policy is\n"
          "    not noeviction (or INFO is not allowed), so Redis may evict tally's\n"
          "    keys; see --allow-eviction\n",
          f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        help(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        help(stdout);
        return EXIT_OK_;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tally %s\n", tally_version());
        return EXIT_OK_;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc, argv);
    fprintf(stderr, "tally: unknown command '%s' (see 'tally --help')\n", argv[1]);
    return EXIT_USAGE;
}
