/* cmd_budget.c -- `tally reserve`: hold an estimate against cost and token caps
 * before a request runs (`tally settle` gives it back with the actual usage);
 * `tally cancel`: give it back without usage, for a request that never ran. */
#include "cli.h"
#include "commands.h"
#include "json.h"

static const char usage[] =
    "usage: tally reserve --key ID [--account ID] --id REQUEST_ID --budget SPEC...\n"
    "                     [--cost USD | --model NAME] [--tokens N] [--lease-ms MS]\n"
    "                     [options]\n"
    "\n"
    "Checks every --budget and, only if all allow, reserves the estimate (--cost,\n"
    "--tokens) under the request id. Settle it with 'tally settle --id ...', or\n"
    "cancel it with 'tally cancel --id ...' if the request never ran; if neither,\n"
    "it is released when the lease ends (--lease-ms: default 300000, at most a\n"
    "day). With --model and no --cost the cost estimate is --tokens of that\n"
    "model at the highest of its prices in force now (tally prices): an upper\n"
    "bound for any mix of input, output and cache tokens.\n"
    "  SPEC: [key:|account:]cost:USD/day|month|total or [key:|account:]tokens:N/PERIOD\n"
    "        e.g. --budget cost:5/day --budget account:tokens:1000000/month\n"
    "        periods are the current day or month in --tz (default $TALLY_TZ, UTC);\n"
    "        an account's month or total is summed over the shards (refused, exit 2,\n"
    "        before the day accounts are listed from); on a Redis Cluster its month\n"
    "        sums its days instead and its total is refused (exit 2)\n"
    "  also: --url URL --timeout MS --prefix P --json --help\n"
    "  The same --id again with the same estimate prints 'already reserved' (exit\n"
    "  0); with another estimate it is refused as a conflict (exit 2, nothing\n"
    "  written): settle it or let its lease end first.\n"
    "exit: 0 reserved (or already reserved), 1 denied, 2 bad input (or a conflict),\n"
    "      3 Redis unreachable, 4 Redis error or timeout, 5 the server may evict\n"
    "      keys (maxmemory-policy not noeviction: refused even with --allow-eviction)\n";

#define MAX_CAPS 16

static void print_left(const tally_budget *b, int64_t left) {
    char v[32];
    if (b->metric == TALLY_BUDGET_COST) tally_nanos_to_usd(left, v, sizeof v);
    else snprintf(v, sizeof v, "%lld", (long long)left);
    printf("%s", v);
}

static void print_json(const tally_budget_decision *d, const char *const *specs, const tally_budget *caps,
                       int n) {
    json_out j;
    json_begin(&j, stdout);
    json_object(&j, NULL);
    json_bool(&j, "allowed", d->allowed);
    json_bool(&j, "duplicate", d->duplicate);
    if (d->denied_by >= 0) json_str(&j, "denied_by", specs[d->denied_by]);
    else json_null(&j, "denied_by");
    json_array(&j, "remaining");
    for (int i = 0; i < n; i++) {
        json_object(&j, NULL);
        json_str(&j, "budget", specs[i]);
        if (caps[i].metric == TALLY_BUDGET_COST) json_usd(&j, "left", "left_nanos", d->remaining[i]);
        else json_int(&j, "left", d->remaining[i]);
        json_close(&j);
    }
    json_close(&j);
    json_int(&j, "server_time_ms", d->server_time_ms);
    json_close(&j);
}

int cmd_reserve(int argc, char **argv) {
    cli_common c = { 0 };
    tally_reservation r = { NULL, NULL, NULL, 0, 0, 300000, NULL };
    const char *specs[MAX_CAPS];
    opt opts[] = {
        OPT_TEXT("--key", &r.key),
        OPT_TEXT("--account", &r.account),
        OPT_TEXT("--id", &r.request_id),
        OPT_USD("--cost", &r.cost_nanos, TALLY_MAX_COST_NANOS),
        OPT_COUNT("--tokens", &r.tokens, 0, TALLY_MAX_TOKENS),
        OPT_TEXT("--model", &r.model),
        OPT_MS("--lease-ms", &r.lease_ms, 1, TALLY_RESERVE_LEASE_MAX_MS),
        OPT_TEXTS("--budget", specs, MAX_CAPS),
        OPT_END,
    };
    char *pos[1];
    int npos, code = cli_parse("reserve", argc, argv, &c, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    int nspecs = cli_given(opts, "--budget");
    if (!r.key || !r.request_id) return cli_usage_error("reserve", "--key and --id are required");
    if (nspecs == 0) return cli_usage_error("reserve", "give at least one --budget");
    tally_budget caps[MAX_CAPS];
    for (int i = 0; i < nspecs; i++)
        if (tally_budget_parse(specs[i], &caps[i]) != TALLY_OK)
            return cli_usage_error("reserve", "--budget '%s' must look like cost:5/day or account:tokens:1000/month",
                                   specs[i]);
    if (r.model && !cli_given(opts, "--cost")) r.cost_nanos = TALLY_COST_FROM_PRICES;
    tally *t;
    if ((code = cli_open("reserve", &c, &t))) return code;
    tally_budget_decision d;
    int rc = tally_reserve(t, &r, caps, nspecs, &d);
    if (rc != TALLY_OK) {
        code = cli_fail("reserve", t, rc);
    } else if (c.json) {
        print_json(&d, specs, caps, nspecs);
    } else {
        printf("%s", d.duplicate ? "already reserved" : d.allowed ? "reserved" : "denied");
        if (d.denied_by >= 0) printf(" by %s", specs[d.denied_by]);
        for (int i = 0; i < nspecs; i++) {
            printf("%s%s left ", i ? ", " : "; ", specs[i]);
            print_left(&caps[i], d.remaining[i]);
        }
        putchar('\n');
    }
    if (rc == TALLY_OK && !d.allowed) code = EXIT_NO;
    tally_close(t);
    return code;
}

static const char usage_cancel[] =
    "usage: tally cancel --key ID [--account ID] --id REQUEST_ID [options]\n"
    "\n"
    "Gives back the estimate that 'tally reserve' holds under the request id,\n"
    "without recording usage: for a request that never reached the upstream.\n"
    "Give the --account the reservation was made with, or the account's hold\n"
    "stays until the lease ends. Idempotent: a second cancel, or a cancel after\n"
    "settle or after the lease ended, releases nothing and says so (exit 0).\n"
    "  also: --url URL --timeout MS --prefix P --json --help\n"
    "  --json: {\"released\": true|false, \"status\": \"cancelled\"|\"nothing held\"}\n"
    "exit: 0 cancelled, or nothing held; 2 bad input (nothing written), 3 Redis\n"
    "      unreachable, 4 Redis error or timeout, 5 the server may evict keys\n";

int cmd_cancel(int argc, char **argv) {
    cli_common c = { 0 };
    const char *key = NULL, *account = NULL, *id = NULL;
    opt opts[] = { OPT_TEXT("--key", &key), OPT_TEXT("--account", &account), OPT_TEXT("--id", &id), OPT_END };
    char *pos[1];
    int npos, code = cli_parse("cancel", argc, argv, &c, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage_cancel, stdout);
        return EXIT_OK_;
    }
    if (!key || !id) return cli_usage_error("cancel", "--key and --id are required");
    tally *t;
    if ((code = cli_open("cancel", &c, &t))) return code;
    int released = 0, rc = tally_cancel(t, key, account, id, &released);
    const char *status = released ? "cancelled" : "nothing held";
    if (rc != TALLY_OK) {
        code = cli_fail("cancel", t, rc);
    } else if (c.json) {
        json_out j;
        json_begin(&j, stdout);
        json_object(&j, NULL);
        json_bool(&j, "released", released);
        json_str(&j, "status", status);
        json_close(&j);
    } else {
        puts(released ? "cancelled: the estimate is given back"
                      : "nothing held: never reserved, already settled or cancelled, or its lease ended");
    }
    tally_close(t);
    return code;
}
