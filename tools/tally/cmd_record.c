/* cmd_record.c -- `tally record`: one event from flags, or newline-delimited JSON
 * events from standard input, recorded in pipelined batches. Events that carry a
 * request id are sent again after a connection error or timeout: recording is
 * idempotent, so a bulk import survives a server restart. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "ndjson.h"

static const char usage[] =
    "usage: tally record --key ID --model NAME [--account ID] [--input N] [--output N]\n"
    "                    [--cache-create N] [--cache-read N] [--cost USD]\n"
    "                    [--id REQUEST_ID] [--at EPOCH_MS|ISO-8601] [options]\n"
    "       tally record --stdin [options]   < events.ndjson\n"
    "\n"
    "Records one usage event atomically into every dimension: per key (total, month,\n"
    "day, hour, per model), per account, per model, global, the system minute and\n"
    "the leaderboards. Prints 'recorded', or 'duplicate' when the request id was\n"
    "already recorded (ids are remembered for at least 24 h).\n"
    "\n"
    "  --cost USD     decimal USD, up to 9 decimals (0.0123), converted exactly\n"
    "  --at TIME      event time (default now): epoch ms, or ISO-8601; without an\n"
    "                 offset it is read in the --tz timezone. The epoch itself (0,\n"
    "                 1970-01-01T00:00:00Z) is refused: it is not an event time\n"
    "  --tz ±HH:MM    statistics timezone (default $TALLY_TZ, else UTC)\n"
    "  --stdin        one JSON object per line with the fields key, model, account,\n"
    "                 input, output, cache_create, cache_read, cost (string or\n"
    "                 number), id, at. Bad lines are reported with their number and\n"
    "                 skipped; the others are recorded. Events with an id are resent\n"
    "                 after a connection error or timeout.\n"
    "  also: --url URL --timeout MS --prefix P --json --help\n"
    "exit: 0 recorded (or duplicate), 2 bad input (with --stdin: any bad line),\n"
    "      3 Redis unreachable, 4 Redis error or timeout\n";

#define BATCH 512
#define RETRIES 8

static int parse_count(const char *cmd, const char *flag, const char *text, int64_t *out) {
    if (!text) return 0;
    size_t n = strlen(text);
    int64_t v = 0;
    if (n == 0 || n > 13 || strspn(text, "0123456789") != n) v = -1;
    for (size_t i = 0; v >= 0 && i < n; i++) v = v * 10 + (text[i] - '0');
    if (v < 0 || v > TALLY_MAX_TOKENS)
        return cli_usage_error(cmd, "%s '%s' must be a whole number from 0 to %lld", flag, text,
                               (long long)TALLY_MAX_TOKENS);
    *out = v;
    return 0;
}

static int print_status(const cli_common *c, int duplicate) {
    const char *s = duplicate ? "duplicate" : "recorded";
    if (c->json) printf("{\"status\":\"%s\"}\n", s);
    else printf("%s\n", s);
    return EXIT_OK_;
}

static int one(const char *cmd, cli_common *c, const char **f) {
    tally_event e = { 0 };
    e.key = f[0];
    e.model = f[1];
    e.account = f[2];
    e.request_id = f[8];
    if (!e.key || !e.model) return cli_usage_error(cmd, "--key and --model are required");
    /* The library reads "" as "none": given on the command line it is a mistake
     * (an unset variable), and would silently drop idempotency. */
    if ((f[8] && !*f[8]) || (f[2] && !*f[2]))
        return cli_usage_error(cmd, "%s is empty", f[8] && !*f[8] ? "--id (request id)" : "--account");
    int settle = strcmp(cmd, "settle") == 0;
    if (settle && !e.request_id) return cli_usage_error(cmd, "--id of the reservation is required");
    int code;
    if ((code = parse_count(cmd, "--input", f[3], &e.input_tokens)) ||
        (code = parse_count(cmd, "--output", f[4], &e.output_tokens)) ||
        (code = parse_count(cmd, "--cache-create", f[5], &e.cache_create_tokens)) ||
        (code = parse_count(cmd, "--cache-read", f[6], &e.cache_read_tokens)))
        return code;
    if (f[7] && tally_usd_to_nanos(f[7], &e.cost_nanos) != TALLY_OK)
        return cli_usage_error(cmd, "--cost '%s' must be decimal USD with at most 9 decimals", f[7]);
    tally *t;
    if ((code = cli_open(cmd, c, &t))) return code;
    if (f[9] && tally_parse_time(f[9], tally_config_of(t)->tz_offset_min, &e.at_ms) != TALLY_OK) {
        tally_close(t);
        return cli_usage_error(cmd, "--at '%s' must be a time after 1970-01-01T00:00:00Z, as epoch ms or "
                                    "ISO-8601 (2026-11-26T10:00:00Z)", f[9]);
    }
    int dup = 0, rc = settle ? tally_settle(t, &e, &dup) : tally_record(t, &e, &dup);
    code = rc == TALLY_OK ? print_status(c, dup) : cli_fail(cmd, t, rc);
    tally_close(t);
    return code;
}

typedef struct {
    ndjson_event *ev;      /* BATCH parsed events */
    tally_event *plain;    /* their tally_event parts, contiguous for the batch call */
    long *line;            /* input line of each */
    tally_result *res;
    size_t n;
    long recorded, duplicates, rejected, unknown;
} importer;

static void backoff(int attempt) {
    struct timespec ts = { 0, (long)(50000000L << (attempt < 5 ? attempt : 5)) };
    nanosleep(&ts, NULL);
}

static int transient(int rc) {
    return rc == TALLY_ECONNECT || rc == TALLY_EIO || rc == TALLY_ETIMEOUT;
}

/* Records the pending events; after a connection error or timeout, resends the
 * unanswered events that carry a request id (at most RETRIES times). */
static int flush(tally *t, importer *im) {
    size_t n = im->n;
    int rc = TALLY_OK;
    for (int attempt = 0; n > 0; attempt++) {
        rc = tally_record_batch(t, im->plain, n, im->res);
        size_t keep = 0;
        for (size_t i = 0; i < n; i++) {
            tally_result *r = &im->res[i];
            if (r->code == TALLY_OK) {
                if (r->duplicate) im->duplicates++;
                else im->recorded++;
            } else if (transient(r->code) && im->plain[i].request_id && attempt < RETRIES) {
                im->plain[keep] = im->plain[i];
                im->line[keep++] = im->line[i];
                continue;
            } else if (transient(r->code)) {
                im->unknown++;
                fprintf(stderr, "tally record: line %ld: %s (outcome unknown%s)\n", im->line[i],
                        tally_strerror(r->code), im->plain[i].request_id ? "" : ": no request id to resend it safely");
            } else {
                im->rejected++;
                fprintf(stderr, "tally record: line %ld: %s\n", im->line[i], tally_strerror(r->code));
            }
        }
        n = keep;
        if (n) backoff(attempt);
    }
    im->n = 0;
    return rc;
}

static int from_stdin(cli_common *c) {
    tally *t;
    int code = cli_open("record", c, &t);
    if (code) return code;
    importer im = { 0 };
    im.ev = malloc(BATCH * sizeof *im.ev);
    im.plain = malloc(BATCH * sizeof *im.plain);
    im.line = malloc(BATCH * sizeof *im.line);
    im.res = malloc(BATCH * sizeof *im.res);
    char *buf = NULL;
    size_t cap = 0;
    long lineno = 0;
    int tty = isatty(2), rc = TALLY_OK;
    if (!im.ev || !im.plain || !im.line || !im.res) {
        fprintf(stderr, "tally record: out of memory\n");
        code = EXIT_FAILED;
        goto done;
    }
    ssize_t len;
    while ((len = getline(&buf, &cap, stdin)) >= 0) {
        lineno++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
        if (len == 0) continue;
        char err[256];
        ndjson_event *ne = &im.ev[im.n];
        if (ndjson_parse(buf, (size_t)len, tally_config_of(t)->tz_offset_min, ne, err, sizeof err) < 0) {
            fprintf(stderr, "tally record: line %ld: %s\n", lineno, err);
            im.rejected++;
            continue;
        }
        if (tally_event_check(t, &ne->ev) != TALLY_OK) {
            fprintf(stderr, "tally record: line %ld: %s\n", lineno, tally_errmsg(t));
            im.rejected++;
            continue;
        }
        im.plain[im.n] = ne->ev;
        im.line[im.n++] = lineno;
        if (im.n == BATCH) rc = flush(t, &im);
        if (tty && lineno % 10000 == 0) fprintf(stderr, "\rtally record: %ld lines", lineno);
    }
    if (im.n) rc = flush(t, &im);
    if (tty && lineno >= 10000) fputc('\n', stderr);
    if (c->json)
        printf("{\"recorded\":%ld,\"duplicate\":%ld,\"rejected\":%ld,\"unknown\":%ld}\n", im.recorded,
               im.duplicates, im.rejected, im.unknown);
    else
        printf("recorded %ld, duplicate %ld, rejected %ld%s\n", im.recorded, im.duplicates, im.rejected,
               im.unknown ? ", outcome unknown for some (see above)" : "");
    code = im.unknown ? cli_exit_for(rc == TALLY_OK ? TALLY_EIO : rc) : im.rejected ? EXIT_USAGE : EXIT_OK_;
done:
    free(buf);
    free(im.ev);
    free(im.plain);
    free(im.line);
    free(im.res);
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
    "exit: 0 settled, 2 bad input, 3 Redis unreachable, 4 Redis error or timeout\n";

static int run(const char *cmd, int argc, char **argv) {
    cli_common c = { 0 };
    const char *f[10] = { 0 };
    int use_stdin = 0;
    cli_opt opts[] = {
        CLI_COMMON_OPTS(c),
        { "--key", &f[0], 0, 0, 0, 0 }, { "--model", &f[1], 0, 0, 0, 0 },
        { "--account", &f[2], 0, 0, 0, 0 }, { "--input", &f[3], 0, 0, 0, 0 },
        { "--output", &f[4], 0, 0, 0, 0 }, { "--cache-create", &f[5], 0, 0, 0, 0 },
        { "--cache-read", &f[6], 0, 0, 0, 0 }, { "--cost", &f[7], 0, 0, 0, 0 },
        { "--id", &f[8], 0, 0, 0, 0 }, { "--at", &f[9], 0, 0, 0, 0 },
        { "--stdin", 0, &use_stdin, 0, 0, 0 }, { 0 },
    };
    char *pos[1];
    int npos;
    int code = cli_parse(cmd, argc, argv, 2, opts, pos, 0, &npos);
    if (code) return code;
    int settle = strcmp(cmd, "settle") == 0;
    if (c.help) {
        fputs(settle ? usage_settle : usage, stdout);
        return EXIT_OK_;
    }
    if (use_stdin && settle) return cli_usage_error(cmd, "--stdin is for 'tally record'");
    if (use_stdin) {
        for (int i = 0; i < 10; i++)
            if (f[i]) return cli_usage_error("record", "--stdin takes the events from input, not from flags");
        return from_stdin(&c);
    }
    return one(cmd, &c, f);
}

int cmd_record(int argc, char **argv) {
    return run("record", argc, argv);
}

int cmd_settle(int argc, char **argv) {
    return run("settle", argc, argv);
}
