/* cmd_lease.c -- `tally lease acquire|renew|release`: concurrency leases, at most
 * --limit live holders per key; a lease ends when released or --lease-ms after it
 * was acquired or last renewed (server time). */
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json.h"

static const char usage[] =
    "usage: tally lease acquire --key ID --limit N --lease-ms MS\n"
    "       tally lease renew   --key ID --id LEASE --lease-ms MS\n"
    "       tally lease release --key ID --id LEASE\n"
    "\n"
    "  acquire  take one of at most N slots for MS ms; prints the lease id (128\n"
    "           random bits in hex: only its holder can renew or release it)\n"
    "           (exit 1 when all N are held: prints when the earliest ends)\n"
    "  renew    extend a live lease to MS ms from now (exit 1: it had ended);\n"
    "           prints its new end, ISO-8601 UTC by the server's clock\n"
    "  release  end a lease now (exit 1: it was not held)\n"
    "Leases of holders that stop renewing are reclaimed once they end.\n"
    "\n"
    "options: --url URL  --timeout MS  --prefix P  --json  --help\n"
    "JSON: ok, id, expires_at_ms (server time, ms since the epoch), holders,\n"
    "      retry_after_ms, server_time_ms\n"
    "exit: 0 ok, 1 denied/lost/not held, 2 bad usage, 3 Redis unreachable,\n"
    "      4 other error, 5 the server may evict keys (maxmemory-policy not\n"
    "      noeviction: refused even with --allow-eviction)\n";

static void print_json(const tally_lease *l, int acquire, const char *id) {
    json_out j;
    json_begin(&j, stdout);
    json_object(&j, NULL);
    json_bool(&j, "ok", l->ok);
    if (acquire && l->ok) json_str(&j, "id", l->id);
    else if (!acquire) json_str(&j, "id", id);
    else json_null(&j, "id");
    /* ms like every time in the tool's JSON (tally(1) "JSON"): the lease ends
     * at that ms or later, never before */
    json_int(&j, "expires_at_ms", l->expires_at_us / 1000);
    json_int(&j, "holders", l->holders);
    json_int(&j, "retry_after_ms", l->retry_after_ms);
    json_int(&j, "server_time_ms", l->server_time_us / 1000);
    json_close(&j);
}

int cmd_lease(int argc, char **argv) {
    cli_common c = { 0 };
    const char *key = NULL, *id = NULL;
    int64_t limit = 0, lease_ms = 0;
    opt opts[] = { OPT_TEXT("--key", &key),
                   OPT_COUNT("--limit", &limit, 1, TALLY_LEASE_LIMIT_MAX),
                   OPT_MS("--lease-ms", &lease_ms, 1, TALLY_WINDOW_MAX_MS),
                   OPT_TEXT("--id", &id),
                   OPT_END };
    char *pos[1];
    int npos;
    int code = cli_parse("lease", argc, argv, &c, opts, pos, 1, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    if (npos != 1) return cli_usage_error("lease", "missing subcommand: acquire, renew or release");
    const char *sub = pos[0];
    int acquire = strcmp(sub, "acquire") == 0, renew = strcmp(sub, "renew") == 0;
    if (!acquire && !renew && strcmp(sub, "release") != 0)
        return cli_usage_error("lease", "unknown subcommand '%s' (use acquire, renew or release)", sub);
    if (!key) return cli_usage_error("lease", "missing --key");
    if (acquire && !limit) return cli_usage_error("lease", "missing --limit (the number of slots)");
    if (!acquire && limit) return cli_usage_error("lease", "--limit applies to acquire only");
    if (!acquire && !id) return cli_usage_error("lease", "missing --id (the id acquire printed)");
    if (acquire && id) return cli_usage_error("lease", "--id applies to renew and release only");
    if ((acquire || renew) && !lease_ms) return cli_usage_error("lease", "missing --lease-ms");
    if (!acquire && !renew && lease_ms) return cli_usage_error("lease", "--lease-ms does not apply to release");

    tally *t;
    if ((code = cli_open("lease", &c, &t))) return code;
    tally_lease l;
    int rc = acquire ? tally_lease_acquire(t, key, limit, lease_ms, &l)
             : renew ? tally_lease_renew(t, key, id, lease_ms, &l)
                     : tally_lease_release(t, key, id, &l);
    if (rc != TALLY_OK) {
        code = cli_fail("lease", t, rc);
        tally_close(t);
        return code;
    }
    if (c.json) {
        print_json(&l, acquire, id);
    } else if (acquire) {
        if (l.ok) printf("%s\n", l.id);
        else fprintf(stderr, "denied: %lld of %lld leases held; the earliest ends in %lld ms\n",
                     (long long)l.holders, (long long)limit, (long long)l.retry_after_ms);
    } else if (renew) {
        if (l.ok) {
            char until[TALLY_TIME_TEXT_MAX];
            tally_format_time(l.expires_at_us / 1000, 0, until, sizeof until);
            printf("renewed until %s (server time), %lld ms from now\n", until,
                   (long long)((l.expires_at_us - l.server_time_us) / 1000));
        }
        else fprintf(stderr, "lease %s has ended or never existed\n", id);
    } else {
        if (l.ok) printf("released\n");
        else fprintf(stderr, "lease %s was not held (ended or released)\n", id);
    }
    tally_close(t);
    return l.ok ? EXIT_OK_ : EXIT_NO;
}
