/* cmd_budget.c -- `tally reserve`: hold an estimate against cost and token caps
 * before a request runs (`tally settle` gives it back with the actual usage). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char usage[] =
    "usage: tally reserve --key ID [--account ID] --id REQUEST_ID --budget SPEC...\n"
    "                     [--cost USD] [--tokens N] [--lease-ms MS] [options]\n"
    "\n"
    "Checks every --budget and, only if all allow, reserves the estimate (--cost,\n"
    "--tokens) under the request id. Settle it with 'tally settle --id ...'; if never\n"
    "settled it is released when the lease ends (default 300000 ms).\n"
    "  SPEC: [key:|account:]cost:USD/day|month|total or [key:|account:]tokens:N/PERIOD\n"
    "        e.g. --budget cost:5/day --budget account:tokens:1000000/month\n"
    "        periods are the current day or month in --tz (default $TALLY_TZ, UTC)\n"
    "  also: --url URL --timeout MS --prefix P --json --help\n"
    "exit: 0 reserved (or already reserved), 1 denied, 2 bad input, 3 Redis\n"
    "      unreachable, 4 Redis error or timeout\n";

#define MAX_CAPS 16

static void print_left(const tally_budget *b, int64_t left) {
    char v[32];
    if (b->metric == TALLY_BUDGET_COST) tally_nanos_to_usd(left, v, sizeof v);
    else snprintf(v, sizeof v, "%lld", (long long)left);
    printf("%s", v);
}

int cmd_reserve(int argc, char **argv) {
    cli_common c = { 0 };
    const char *key = NULL, *account = NULL, *id = NULL, *cost = NULL, *tokens = NULL, *lease = NULL;
    const char *specs[MAX_CAPS];
    int nspecs = 0;
    cli_opt opts[] = {
        CLI_COMMON_OPTS(c),
        { "--key", &key, 0, 0, 0, 0 }, { "--account", &account, 0, 0, 0, 0 },
        { "--id", &id, 0, 0, 0, 0 }, { "--cost", &cost, 0, 0, 0, 0 },
        { "--tokens", &tokens, 0, 0, 0, 0 }, { "--lease-ms", &lease, 0, 0, 0, 0 },
        { "--budget", 0, 0, specs, &nspecs, MAX_CAPS }, { 0 },
    };
    char *pos[1];
    int npos, code = cli_parse("reserve", argc, argv, 2, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    if (!key || !id) return cli_usage_error("reserve", "--key and --id are required");
    if (nspecs == 0) return cli_usage_error("reserve", "give at least one --budget");
    tally_budget caps[MAX_CAPS];
    for (int i = 0; i < nspecs; i++)
        if (tally_budget_parse(specs[i], &caps[i]) != TALLY_OK)
            return cli_usage_error("reserve", "--budget '%s' must look like cost:5/day or account:tokens:1000/month",
                                   specs[i]);
    tally_reservation r = { key, account, id, 0, 0, 300000 };
    if (cost && tally_usd_to_nanos(cost, &r.cost_nanos) != TALLY_OK)
        return cli_usage_error("reserve", "--cost '%s' must be decimal USD with at most 9 decimals", cost);
    char *end;
    if (tokens && ((r.tokens = strtoll(tokens, &end, 10)) < 0 || *end || !*tokens))
        return cli_usage_error("reserve", "--tokens '%s' must be a whole number", tokens);
    if (lease && ((r.lease_ms = strtoll(lease, &end, 10)) <= 0 || *end || !*lease))
        return cli_usage_error("reserve", "--lease-ms '%s' must be a positive number of ms", lease);
    tally *t;
    if ((code = cli_open("reserve", &c, &t))) return code;
    tally_budget_decision d;
    int rc = tally_reserve(t, &r, caps, nspecs, &d);
    if (rc != TALLY_OK) {
        code = cli_fail("reserve", t, rc);
    } else if (c.json) {
        printf("{\"allowed\":%s,\"duplicate\":%s,\"denied_by\":", d.allowed ? "true" : "false",
               d.duplicate ? "true" : "false");
        if (d.denied_by >= 0) json_string(stdout, specs[d.denied_by], strlen(specs[d.denied_by]));
        else printf("null");
        printf(",\"remaining\":[");
        for (int i = 0; i < nspecs; i++) {
            printf("%s{\"budget\":", i ? "," : "");
            json_string(stdout, specs[i], strlen(specs[i]));
            printf(",\"left\":");
            if (caps[i].metric == TALLY_BUDGET_COST) putchar('"');
            print_left(&caps[i], d.remaining[i]);
            if (caps[i].metric == TALLY_BUDGET_COST) putchar('"');
            printf("}");
        }
        printf("],\"server_time_ms\":%lld}\n", (long long)d.server_time_ms);
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
