/* cmd_record.c -- `tally record` and `tally settle`: one event from flags (the
 * event's fields, declared in ndjson.c), or with --stdin newline-delimited
 * JSON events from standard input (import.c). */
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "import.h"
#include "json.h"
#include "ndjson.h"

static const char usage[] =
    "usage: tally record --key ID --model NAME [--account ID] [--input N] [--output N]\n"
    "                    [--cache-create N] [--cache-read N] [--cost USD]\n"
    "                    [--id REQUEST_ID] [--at EPOCH_MS|ISO-8601]\n"
    "                    [--missing-price-zero] [options]\n"
    "       tally record --stdin [--missing-price-zero] [options]   < events.ndjson\n"
    "\n"
    "Records one usage event atomically into every dimension: per key (total, month,\n"
    "day, hour, per model), per account, per model, global, the system minute and\n"
    "the key's bucket in its shard's hashes (the rankings of keys). Prints\n"
    "'recorded', or 'duplicate' when the request id was\n"
    "already recorded (ids are remembered for at least 24 h).\n"
    "\n"
    "  N              token counts: digits, 0 to 1000000000000\n"
    "  --cost USD     decimal USD, up to 9 decimals (0.0123), converted exactly.\n"
    "                 Without it the cost comes from the price table (tally prices):\n"
    "                 tokens x price per million tokens / 10^6, in integers, half\n"
    "                 up to a nano-USD, at the price in force at the event time;\n"
    "                 prints the cost and the table's version. With no price\n"
    "                 table loaded the event is recorded unpriced (cost 0, and\n"
    "                 counted so: tally models --by-price-version); a model\n"
    "                 missing from a loaded table is refused (exit 2, nothing\n"
    "                 written)\n"
    "  --missing-price-zero  record an event without --cost whose model is\n"
    "                 missing from the loaded table unpriced, at cost 0, instead\n"
    "  --at TIME      event time (default now): epoch ms, or ISO-8601; without an\n"
    "                 offset it is read in the --tz timezone. The epoch itself (0,\n"
    "                 1970-01-01T00:00:00Z) is refused: it is not an event time\n"
    "  --tz ±HH:MM    statistics timezone (default $TALLY_TZ, else UTC)\n"
    "  --stdin        one JSON object per line with the fields key, model, account,\n"
    "                 input, output, cache_create, cache_read, cost (string or\n"
    "                 number), id, at, read as the flags are; blank lines are\n"
    "                 skipped; sent in batches of up to 65536 (less when no more\n"
    "                 input is ready: a live stream goes as it comes). Each line\n"
    "                 not recorded is reported, in line order, with its number\n"
    "                 and reason (event times in --tz, ISO-8601); the\n"
    "                 others are recorded. Events not sent (Redis unreachable),\n"
    "                 and events with an id after a connection error or timeout,\n"
    "                 are resent, up to 8 times over 6.35 s (each retry reported).\n"
    "  --max-script-us US  with --stdin: how long one script call may hold Redis,\n"
    "                 100 to 10000000 (default 5000); one call is in flight per\n"
    "                 1250 us of it (1 to 4). Other clients' commands (allow)\n"
    "                 wait behind every call in flight: 1000 keeps an import's\n"
    "                 delay to them near a millisecond, at a slower import\n"
    "  also: --url URL --timeout MS --prefix P --json --help\n"
    "exit: 0 recorded (or duplicate), 2 bad input, 3 Redis unreachable, 4 Redis\n"
    "      error or timeout, 5 the server may evict keys (see tally --help,\n"
    "      --allow-eviction). With --stdin: 4 (5: eviction) if Redis refused a line\n"
    "      or left it unanswered, else 3 if a line could not be sent, else 2 if a\n"
    "      line was bad.\n";

static int one(const char *cmd, const cli_common *c, tally_event *e) {
    int settle = strcmp(cmd, "settle") == 0;
    if (!e->key || !e->model) return cli_usage_error(cmd, "--key and --model are required");
    if (settle && !e->request_id) return cli_usage_error(cmd, "--id of the reservation is required");
    char why[256];
    if (tally_event_validate(e, why, sizeof why) != TALLY_OK) { /* worded as when Redis refuses it */
        fprintf(stderr, "tally %s: %s\n", cmd, why);
        return cli_exit_for(TALLY_EINVAL);
    }
    tally *t;
    int code = cli_open(cmd, c, &t);
    if (code) return code;
    /* record: a batch of one, whose result says what pricing did */
    tally_result res = { TALLY_OK, 0, "", 0, -1 };
    int rc = settle ? tally_settle(t, e, &res.duplicate) : tally_record_batch(t, e, 1, &res);
    if (rc == TALLY_OK) rc = res.code;
    int dup = res.duplicate;
    if (rc != TALLY_OK) {
        fprintf(stderr, "tally %s: %s\n", cmd, cli_message(cmd, settle ? tally_errmsg(t) : res.message));
        code = cli_exit_for(rc);
    } else if (c->json) {
        json_out j;
        json_begin(&j, stdout);
        json_object(&j, NULL);
        json_str(&j, "status", dup ? "duplicate" : "recorded");
        if (res.price_version >= 0 || res.price_version == TALLY_UNPRICED) {
            json_usd(&j, "cost", "cost_nanos", res.cost_nanos);
            if (res.price_version >= 0) json_int(&j, "price_version", res.price_version);
            else json_null(&j, "price_version");
            json_bool(&j, "priced", res.price_version >= 0);
        }
        json_close(&j);
    } else if (res.price_version >= 0) {
        char usd[32];
        tally_nanos_to_usd(res.cost_nanos, usd, sizeof usd);
        printf("%s: cost %s USD by price table version %lld\n", dup ? "duplicate" : "recorded", usd,
               (long long)res.price_version);
    } else if (res.price_version == TALLY_UNPRICED) {
        printf("%s: unpriced (no price for %s: cost 0)\n", dup ? "duplicate" : "recorded", e->model);
    } else {
        printf("%s\n", dup ? "duplicate" : "recorded");
    }
    tally_close(t);
    return code;
}

static const char usage_settle[] =
    "usage: tally settle --id REQUEST_ID --key ID --model NAME [--account ID]\n"
    "                    [--input N] [--output N] [--cache-create N] [--cache-read N]\n"
    "                    [--cost USD] [--at TIME] [options]\n"
    "\n"
    "Records the actual usage of a request (as 'tally record') and gives back the\n"
    "estimate that 'tally reserve' held under the same --id for its key and\n"
    "account, in one script. Prints 'recorded', or 'duplicate' if already settled.\n"
    "  also: --url URL --tz ±HH:MM --timeout MS --prefix P --json --help\n"
    "exit: 0 settled, 2 bad input, 3 Redis unreachable, 4 Redis error or timeout,\n"
    "      5 the server may evict keys (see tally --help, --allow-eviction)\n";

static int run(const char *cmd, int argc, char **argv) {
    cli_common c = { 0 };
    tally_event e = { 0 };
    e.cost_nanos = TALLY_COST_FROM_PRICES; /* without --cost: the price table's */
    int use_stdin = 0;
    opt opts[EVENT_FIELDS + 4];
    event_fields(&e, 0, opts);
    opts[EVENT_FIELDS] = (opt)OPT_FLAG("--stdin", &use_stdin);
    opts[EVENT_FIELDS + 1] = (opt)OPT_FLAG("--missing-price-zero", &c.price_missing_zero);
    opts[EVENT_FIELDS + 2] = (opt)OPT_COUNT("--max-script-us", &c.max_script_us, 100, 10000000);
    opts[EVENT_FIELDS + 3] = (opt)OPT_END;
    char *pos[1];
    int npos, code = cli_parse(cmd, argc, argv, &c, opts, pos, 0, &npos);
    if (code) return code;
    int settle = strcmp(cmd, "settle") == 0;
    if (c.help) {
        fputs(settle ? usage_settle : usage, stdout);
        return EXIT_OK_;
    }
    if (use_stdin && settle) return cli_usage_error(cmd, "--stdin is for 'tally record'");
    if (c.max_script_us && !use_stdin) return cli_usage_error(cmd, "--max-script-us goes with --stdin");
    if (!use_stdin) return one(cmd, &c, &e);
    for (int i = 0; i < EVENT_FIELDS; i++)
        if (opts[i].given) return cli_usage_error(cmd, "--stdin takes the events from input, not from flags");
    tally *t;
    if ((code = cli_open(cmd, &c, &t))) return code;
    code = import_events(t, &c, STDIN_FILENO);
    tally_close(t);
    return code;
}

int cmd_record(int argc, char **argv) {
    return run("record", argc, argv);
}

int cmd_settle(int argc, char **argv) {
    return run("settle", argc, argv);
}
