/* cmd_limits.c -- `tally allow` (decide and consume) and `tally limits` (the same
 * decision, consuming nothing): several rules for one key, all or nothing. */
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json.h"

static const char usage_fmt[] =
    "usage: tally %s --key ID --limit [UNIT:]N/WINDOW [--limit ...] [options]\n"
    "\n"
    "%s"
    "\n"
    "  --limit RULE    repeatable (up to 8): [requests:|tokens:|cost:]N/WINDOW\n"
    "                  [,algo=NAME][,burst=N]; WINDOW like 500ms, 60s, 1m, 1h, 1d;\n"
    "                  cost N in USD. e.g. 60/1m  tokens:100000/1m  cost:5/1d\n"
    "  --algo sliding-window|sliding-log|gcra|fixed\n"
    "                  for rules that do not name one (default sliding-window)\n"
    "  --burst N       gcra: units that may pass at once (default: the limit)\n"
    "  --tokens N      tokens this request counts against tokens: rules\n"
    "  --cost USD      cost this request counts against cost: rules\n"
    "  --fail-open     if Redis cannot be reached, allow (exit 0) and say so\n"
    "  --fail-closed   if Redis cannot be reached, deny (exit 1) and say so\n"
    "                  (neither: exit 3, as for every command)\n"
    "  --url URL  --timeout MS  --prefix P  --json  --help\n"
    "  --limits-url URL   the Redis the rate limits live on (else $TALLY_LIMITS_URL,\n"
    "                  else the one of --url): a server of their own, so that an\n"
    "                  import on --url cannot slow decisions down\n"
    "  --read-from primary|replica   limits only: peek at a Redis Cluster's\n"
    "                  replicas (see tally --help); allow always uses the primary\n"
    "\n"
    "Rules are numbered from 1 in the order given. A decision names the rule\n"
    "that denied (the one needing the longest wait), or when allowed the one with\n"
    "the smallest share left, with its limit as given and its gcra burst.\n"
    "reset in MS: until the rule's current window ends (0: it counts nothing),\n"
    "at most its window; tally(1) says what that means for each algorithm.\n"
    "\n"
    "JSON: allowed, rule (its number), counts, limit, burst (gcra, else null),\n"
    "      remaining, retry_after_ms (-1: can never fit), reset_after_ms,\n"
    "      denied_by (rule number or null), server_time_ms, policy (redis,\n"
    "      fail-open or fail-closed) and rules[] (each: rule, counts, limit,\n"
    "      burst, remaining, algo, window_ms, retry_after_ms, reset_after_ms).\n"
    "      Cost amounts are USD text (\"5.00\") with an integer *_nanos beside.\n"
    "exit: 0 allowed, 1 denied, 2 bad usage, 3 Redis unreachable, 4 other error,\n"
    "      5 allow: the server may evict keys (maxmemory-policy not noeviction:\n"
    "      refused even with --allow-eviction)\n";

static const char *policy_name(int decided) {
    switch (decided) {
    case TALLY_DECIDED_FAIL_OPEN: return "fail-open";
    case TALLY_DECIDED_FAIL_CLOSED: return "fail-closed";
    default: return "redis";
    }
}

/* What a GCRA rule lets through at once (burst 0 means the limit); -1 for
 * the other algorithms, which have no burst. */
static int64_t burst_of(const tally_rule *r) {
    if (r->algo != TALLY_ALGO_GCRA) return -1;
    return r->burst ? r->burst : r->limit;
}

/* An amount in the rule's unit as text: "60", or money as "5.00 USD". */
static const char *amount_text(int counts, int64_t v, char buf[48]) {
    if (counts == TALLY_COUNT_COST) {
        size_t n = tally_nanos_to_usd(v, buf, 40); /* at most "1000000.00": rules cap at TALLY_LIMIT_MAX */
        snprintf(buf + (n < 40 ? n : 39), 9, " USD");
    } else {
        snprintf(buf, 48, "%lld", (long long)v);
    }
    return buf;
}

/* A window as it is written in a rule: the largest of d, h, m, s that divides
 * it ("1d", "90s"), else "1500ms". */
static const char *window_text(int64_t ms, char buf[32]) {
    static const struct { int64_t ms; const char *unit; } units[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }, { 1, "ms" } };
    size_t i = 0;
    while (ms % units[i].ms) i++;
    snprintf(buf, 32, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
    return buf;
}

/* "rule 2 (tokens, gcra, 100 per 1m, burst 20)": rules are numbered from 1 in
 * the order given. */
static void print_rule(const tally_rule *rules, int i) {
    const tally_rule *r = &rules[i];
    char a[48], w[32];
    printf("rule %d (%s, %s, %s per %s", i + 1, tally_counts_name(r->counts), tally_algo_name(r->algo),
           amount_text(r->counts, r->limit, a), window_text(r->window_ms, w));
    if (burst_of(r) >= 0) printf(", burst %s", amount_text(r->counts, burst_of(r), a));
    putchar(')');
}

/* An amount member: an integer, or for cost USD text plus KEY_nanos. */
static void json_amount(json_out *j, const char *key, int counts, int64_t v) {
    char nanos[32];
    if (counts != TALLY_COUNT_COST) {
        json_int(j, key, v);
        return;
    }
    snprintf(nanos, sizeof nanos, "%s_nanos", key);
    json_usd(j, key, nanos, v);
}

/* The members that say which rule and its numbers; every member is null when
 * no rule was checked (the failure policy decided). */
static void json_rule(json_out *j, const tally_rule *r, int i, const tally_rule_state *s) {
    static const char *const amounts[] = { "limit", "burst", "remaining" };
    if (!r) {
        json_null(j, "rule");
        json_null(j, "counts");
        for (int k = 0; k < 3; k++) json_null(j, amounts[k]);
        return;
    }
    json_int(j, "rule", i + 1);
    json_str(j, "counts", tally_counts_name(r->counts));
    json_amount(j, "limit", r->counts, s->limit);
    if (burst_of(r) >= 0) json_amount(j, "burst", r->counts, burst_of(r));
    else json_null(j, "burst");
    json_amount(j, "remaining", r->counts, s->remaining);
}

static void print_json(const tally_decision *d, const tally_rule *rules) {
    int pick = tally_decision_rule(d, rules);
    json_out j;
    json_begin(&j, stdout);
    json_object(&j, NULL);
    json_bool(&j, "allowed", d->allowed);
    json_rule(&j, pick >= 0 ? &rules[pick] : NULL, pick, pick >= 0 ? &d->rules[pick] : NULL);
    json_int(&j, "retry_after_ms", d->retry_after_ms);
    json_int(&j, "reset_after_ms", d->reset_after_ms);
    if (d->denied_by >= 0) json_int(&j, "denied_by", d->denied_by + 1);
    else json_null(&j, "denied_by");
    json_int(&j, "server_time_ms", d->server_time_us / 1000);
    json_str(&j, "policy", policy_name(d->decided));
    json_array(&j, "rules");
    for (int i = 0; d->decided == TALLY_DECIDED_BY_REDIS && i < d->nrules; i++) {
        const tally_rule_state *s = &d->rules[i];
        json_object(&j, NULL);
        json_rule(&j, &rules[i], i, s);
        json_str(&j, "algo", tally_algo_name(rules[i].algo));
        json_int(&j, "window_ms", rules[i].window_ms);
        json_int(&j, "retry_after_ms", s->retry_after_ms);
        json_int(&j, "reset_after_ms", s->reset_after_ms);
        json_close(&j);
    }
    json_close(&j);
    json_close(&j);
}

static void print_text(const char *cmd, const tally_decision *d, const tally_rule *rules) {
    const char *verb = strcmp(cmd, "allow") == 0 ? "" : "would be ";
    if (d->decided != TALLY_DECIDED_BY_REDIS) {
        printf("%s%s (policy %s: Redis could not be reached)\n", verb, d->allowed ? "allowed" : "denied",
               policy_name(d->decided));
        return;
    }
    int pick = tally_decision_rule(d, rules);
    char a[48];
    if (d->allowed) {
        printf("%sallowed: %s left of ", verb, amount_text(rules[pick].counts, d->remaining, a));
        print_rule(rules, pick);
        printf(", reset in %lld ms\n", (long long)d->reset_after_ms);
        return;
    }
    printf("%sdenied by ", verb);
    print_rule(rules, pick);
    if (d->retry_after_ms < 0) printf(": this request can never fit\n");
    else printf(": retry after %lld ms\n", (long long)d->retry_after_ms);
}

/* The rules of the --limit options, with --algo and --burst applied to those
 * that do not say otherwise. 0 or the exit status. */
static int rules_of(const char *cmd, const char *const *limits, int n, int algo, const char *burst,
                    tally_rule *rules) {
    int gcra = 0;
    char err[256];
    for (int i = 0; i < n; i++) {
        if (tally_rule_parse(limits[i], strlen(limits[i]), &rules[i], err, sizeof err) != TALLY_OK)
            return cli_usage_error(cmd, "%s", err);
        if (algo >= 0 && !strstr(limits[i], "algo=")) rules[i].algo = algo;
        if (rules[i].algo != TALLY_ALGO_GCRA) continue;
        gcra++;
        /* --burst is counted in the rule's unit: USD for a cost rule */
        opt b = rules[i].counts == TALLY_COUNT_COST ? (opt)OPT_USD("--burst", &rules[i].burst, TALLY_LIMIT_MAX)
                                                    : (opt)OPT_COUNT("--burst", &rules[i].burst, 1, TALLY_LIMIT_MAX);
        if (!burst || rules[i].burst) continue; /* a rule's own burst= wins */
        if (opt_set(&b, burst, 0, err, sizeof err) < 0) return cli_usage_error(cmd, "%s, in the rule's unit", err);
        if (!rules[i].burst) return cli_usage_error(cmd, "--burst must be positive");
    }
    if (burst && !gcra) return cli_usage_error(cmd, "--burst applies to gcra rules only (use --algo gcra)");
    return 0;
}

/* `tally allow` and `tally limits`: same options, peek for limits. */
static int run(const char *cmd, int argc, char **argv) {
    cli_common c = { .limits = 1 };
    const char *key = NULL, *burst = NULL, *limits[TALLY_RULES_MAX];
    const char *algos[] = { tally_algo_name(0), tally_algo_name(1), tally_algo_name(2), tally_algo_name(3), NULL };
    int algo = -1, fail_open = 0, fail_closed = 0;
    tally_request req = { 0, 0, TALLY_FAIL_CLOSED };
    opt opts[] = { OPT_TEXT("--key", &key),
                   OPT_TEXTS("--limit", limits, TALLY_RULES_MAX),
                   OPT_CHOICE("--algo", &algo, algos),
                   OPT_TEXT("--burst", &burst),
                   OPT_COUNT("--tokens", &req.tokens, 0, TALLY_LIMIT_MAX),
                   OPT_USD("--cost", &req.cost_nanos, TALLY_LIMIT_MAX),
                   OPT_FLAG("--fail-open", &fail_open),
                   OPT_FLAG("--fail-closed", &fail_closed),
                   OPT_TEXT("--limits-url", &c.limits_url),
                   OPT_END };
    char *pos[1];
    int npos, code = cli_parse(cmd, argc, argv, &c, opts, pos, 0, &npos);
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
    int nlimits = cli_given(opts, "--limit");
    if (!key) return cli_usage_error(cmd, "missing --key");
    if (nlimits == 0) return cli_usage_error(cmd, "missing --limit (e.g. --limit 60/1m)");
    if (fail_open && fail_closed) return cli_usage_error(cmd, "--fail-open and --fail-closed exclude each other");
    tally_rule rules[TALLY_RULES_MAX];
    if ((code = rules_of(cmd, limits, nlimits, algo, burst, rules))) return code;
    if (fail_open) req.fail = TALLY_FAIL_OPEN;

    /* A server that cannot be reached at open is left to the call, which
     * applies the failure policy; other failures (authentication) end here. */
    tally *t = NULL;
    tally_decision d;
    int rc = cli_connect(&c, &t), called = t && (rc == TALLY_OK || cli_transient(rc));
    if (called)
        rc = strcmp(cmd, "allow") == 0 ? tally_allow(t, key, rules, nlimits, &req, &d)
                                       : tally_limits(t, key, rules, nlimits, &req, &d);
    if (rc != TALLY_OK && (!called || d.decided == TALLY_DECIDED_ERROR || !(fail_open || fail_closed))) {
        code = cli_fail(cmd, t, rc);
        tally_close(t);
        return code;
    }
    if (rc != TALLY_OK)
        fprintf(stderr, "tally %s: %s; applied %s\n", cmd, cli_message(cmd, tally_errmsg(t)), policy_name(d.decided));
    if (c.json) print_json(&d, rules);
    else print_text(cmd, &d, rules);
    tally_close(t);
    return d.allowed ? EXIT_OK_ : EXIT_NO;
}

int cmd_allow(int argc, char **argv) { return run("allow", argc, argv); }
int cmd_limits(int argc, char **argv) { return run("limits", argc, argv); }
