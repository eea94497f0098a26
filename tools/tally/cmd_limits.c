/* cmd_limits.c -- `tally allow` (decide and consume) and `tally limits` (the same
 * decision, consuming nothing): several rules for one key, all or nothing. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char usage_fmt[] =
    "usage: tally %s --key ID --limit [UNIT:]N/WINDOW [--limit ...] [options]\n"
    "\n"
    "%s"
    "\n"
    "  --limit RULE    repeatable (up to 8): [requests:|tokens:|cost:]N/WINDOW\n"
    "                  [,algo=NAME][,burst=N]; WINDOW like 500ms, 60s, 1m, 1h, 1d;\n"
    "                  cost N in USD. e.g. 60/1m  tokens:100000/1m  cost:5/1d\n"
    "  --algo NAME     sliding-window (default), sliding-log, gcra or fixed, for\n"
    "                  rules that do not name one\n"
    "  --burst N       gcra: units that may pass at once (default: the limit)\n"
    "  --tokens N      tokens this request counts against tokens: rules\n"
    "  --cost USD      cost this request counts against cost: rules\n"
    "  --fail-open     if Redis cannot be reached, allow (exit 0) and say so\n"
    "  --fail-closed   if Redis cannot be reached, deny (exit 1) and say so\n"
    "                  (neither: exit 3, as for every command)\n"
    "  --url URL  --timeout MS  --prefix P  --json  --help\n"
    "\n"
    "JSON: allowed, limit, remaining, retry_after_ms (-1: can never fit),\n"
    "      reset_after_ms, denied_by (rule index or null), server_time_us, policy\n"
    "      (redis, fail-open or fail-closed) and rules[].\n"
    "exit: 0 allowed, 1 denied, 2 bad usage, 3 Redis unreachable, 4 other error\n";

static int parse_units(const char *s, int cost, int64_t *v) {
    if (cost) return tally_usd_to_nanos(s, v) == TALLY_OK && *v <= TALLY_LIMIT_MAX ? 0 : -1;
    char *end;
    if (!*s || *s < '0' || *s > '9') return -1;
    long long x = strtoll(s, &end, 10);
    if (*end || x < 0 || x > TALLY_LIMIT_MAX) return -1;
    *v = x;
    return 0;
}

static const char *policy_name(int decided) {
    switch (decided) {
    case TALLY_DECIDED_FAIL_OPEN: return "fail-open";
    case TALLY_DECIDED_FAIL_CLOSED: return "fail-closed";
    default: return "redis";
    }
}

static void print_json(const tally_decision *d, const tally_rule *rules) {
    printf("{\"allowed\":%s,\"limit\":%lld,\"remaining\":%lld,\"retry_after_ms\":%lld,"
           "\"reset_after_ms\":%lld,\"denied_by\":",
           d->allowed ? "true" : "false", (long long)d->limit, (long long)d->remaining,
           (long long)d->retry_after_ms, (long long)d->reset_after_ms);
    if (d->denied_by >= 0) printf("%d", d->denied_by);
    else printf("null");
    printf(",\"server_time_us\":%lld,\"policy\":\"%s\",\"rules\":[", (long long)d->server_time_us,
           policy_name(d->decided));
    for (int i = 0; d->decided == TALLY_DECIDED_BY_REDIS && i < d->nrules; i++) {
        const tally_rule_state *s = &d->rules[i];
        printf("%s{\"counts\":\"%s\",\"algo\":\"%s\",\"window_ms\":%lld,\"limit\":%lld,"
               "\"remaining\":%lld,\"retry_after_ms\":%lld,\"reset_after_ms\":%lld}",
               i ? "," : "", tally_counts_name(rules[i].counts), tally_algo_name(rules[i].algo),
               (long long)rules[i].window_ms, (long long)s->limit, (long long)s->remaining,
               (long long)s->retry_after_ms, (long long)s->reset_after_ms);
    }
    printf("]}\n");
}

static void print_text(const char *cmd, const tally_decision *d, const tally_rule *rules) {
    const char *verb = strcmp(cmd, "allow") == 0 ? "" : "would be ";
    if (d->decided != TALLY_DECIDED_BY_REDIS) {
        printf("%s%s (policy %s: Redis could not be reached)\n", verb, d->allowed ? "allowed" : "denied",
               policy_name(d->decided));
        return;
    }
    if (d->allowed) {
        printf("%sallowed: remaining %lld of %lld, reset in %lld ms\n", verb, (long long)d->remaining,
               (long long)d->limit, (long long)d->reset_after_ms);
        return;
    }
    const tally_rule *r = &rules[d->denied_by];
    printf("%sdenied by rule %d (%s, %s, %lld per %lld ms): ", verb, d->denied_by,
           tally_counts_name(r->counts), tally_algo_name(r->algo), (long long)d->limit,
           (long long)r->window_ms);
    if (d->retry_after_ms < 0) printf("this request can never fit\n");
    else printf("retry after %lld ms\n", (long long)d->retry_after_ms);
}

/* `tally allow` and `tally limits`: same options, peek for limits. */
static int run(const char *cmd, int argc, char **argv) {
    cli_common c = { 0 };
    const char *key = NULL, *algo = NULL, *burst = NULL, *tokens = NULL, *cost = NULL;
    const char *limits[TALLY_RULES_MAX];
    int nlimits = 0, fail_open = 0, fail_closed = 0;
    cli_opt opts[] = { CLI_COMMON_OPTS(c),
                       { "--key", &key, 0, 0, 0, 0 },
                       { "--limit", 0, 0, limits, &nlimits, TALLY_RULES_MAX },
                       { "--algo", &algo, 0, 0, 0, 0 },
                       { "--burst", &burst, 0, 0, 0, 0 },
                       { "--tokens", &tokens, 0, 0, 0, 0 },
                       { "--cost", &cost, 0, 0, 0, 0 },
                       { "--fail-open", 0, &fail_open, 0, 0, 0 },
                       { "--fail-closed", 0, &fail_closed, 0, 0, 0 },
                       { 0 } };
    char *pos[1];
    int npos;
    int code = cli_parse(cmd, argc, argv, 2, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) {
        printf(usage_fmt, cmd,
               strcmp(cmd, "allow") == 0
                   ? "Decides one request against every rule at once and, when all fit,\n"
                     "consumes from all of them; a denied request consumes nothing.\n"
                   : "The same decision as 'tally allow' without consuming or writing\n"
                     "anything: exit 0 if the request would be allowed now.\n");
        return EXIT_OK_;
    }
    if (!key) return cli_usage_error(cmd, "missing --key");
    if (nlimits == 0) return cli_usage_error(cmd, "missing --limit (e.g. --limit 60/1m)");
    if (fail_open && fail_closed) return cli_usage_error(cmd, "--fail-open and --fail-closed exclude each other");
    int algo_id = -1;
    for (int i = 0; algo && i < 4; i++)
        if (strcmp(algo, tally_algo_name(i)) == 0) algo_id = i;
    if (algo && algo_id < 0)
        return cli_usage_error(cmd, "unknown --algo '%s' (use sliding-window, sliding-log, gcra or fixed)", algo);
    tally_rule rules[TALLY_RULES_MAX];
    int gcra = 0;
    for (int i = 0; i < nlimits; i++) {
        char err[256];
        if (tally_rule_parse(limits[i], strlen(limits[i]), &rules[i], err, sizeof err) != TALLY_OK)
            return cli_usage_error(cmd, "%s", err);
        if (algo_id >= 0 && !strstr(limits[i], "algo=")) rules[i].algo = algo_id;
        if (rules[i].algo == TALLY_ALGO_GCRA) gcra++;
        if (burst && rules[i].algo == TALLY_ALGO_GCRA && !rules[i].burst &&
            (parse_units(burst, rules[i].counts == TALLY_COUNT_COST, &rules[i].burst) < 0 || !rules[i].burst))
            return cli_usage_error(cmd, "--burst '%s' must be a positive amount in the rule's unit", burst);
    }
    if (burst && !gcra) return cli_usage_error(cmd, "--burst applies to gcra rules only (use --algo gcra)");
    tally_request req = { 0, 0, fail_open ? TALLY_FAIL_OPEN : TALLY_FAIL_CLOSED };
    if (tokens && parse_units(tokens, 0, &req.tokens) < 0)
        return cli_usage_error(cmd, "--tokens '%s' must be an integer from 0 to 1e15", tokens);
    if (cost && parse_units(cost, 1, &req.cost_nanos) < 0)
        return cli_usage_error(cmd, "--cost '%s' must be decimal USD such as 0.25", cost);

    /* Opened here rather than with cli_open(): an unreachable server must reach
     * the failure policy, while an authentication failure must not. */
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = c.url;
    if (c.prefix) cfg.prefix = c.prefix;
    if (c.timeout) {
        char *end;
        long ms = strtol(c.timeout, &end, 10);
        if (*end || ms <= 0 || ms > 3600000)
            return cli_usage_error(cmd, "--timeout must be milliseconds from 1 to 3600000");
        cfg.command_timeout_ms = cfg.connect_timeout_ms = (int)ms;
    }
    tally *t = NULL;
    tally_decision d;
    int rc = tally_open(&cfg, &t);
    if (rc == TALLY_OK)
        rc = strcmp(cmd, "allow") == 0 ? tally_allow(t, key, rules, nlimits, &req, &d)
                                       : tally_limits(t, key, rules, nlimits, &req, &d);
    else if (rc == TALLY_ECONNECT) { /* what tally_allow() does when it cannot connect */
        memset(&d, 0, sizeof d);
        d.denied_by = -1;
        d.allowed = fail_open;
        d.decided = fail_open ? TALLY_DECIDED_FAIL_OPEN : TALLY_DECIDED_FAIL_CLOSED;
    } else {
        d.decided = TALLY_DECIDED_ERROR;
    }
    if (rc != TALLY_OK && (d.decided == TALLY_DECIDED_ERROR || !(fail_open || fail_closed))) {
        code = cli_fail(cmd, t, rc);
        tally_close(t);
        return code;
    }
    if (rc != TALLY_OK)
        fprintf(stderr, "tally %s: %s; applied %s\n", cmd, tally_errmsg(t), policy_name(d.decided));
    if (c.json) print_json(&d, rules);
    else print_text(cmd, &d, rules);
    tally_close(t);
    return d.allowed ? EXIT_OK_ : EXIT_NO;
}

int cmd_allow(int argc, char **argv) { return run("allow", argc, argv); }
int cmd_limits(int argc, char **argv) { return run("limits", argc, argv); }
