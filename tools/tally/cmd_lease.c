/* cmd_lease.c -- `tally lease acquire|renew|release`: concurrency leases, at most
 * --limit live holders per key; a lease ends when released or --lease-ms after it
 * was acquired or last renewed (server time). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char usage[] =
    "usage: tally lease acquire --key ID --limit N --lease-ms MS\n"
    "       tally lease renew   --key ID --id LEASE --lease-ms MS\n"
    "       tally lease release --key ID --id LEASE\n"
    "\n"
    "  acquire  take one of at most N slots for MS ms; prints the lease id (128\n"
    "           random bits in hex: only its holder can renew or release it)\n"
    "           (exit 1 when all N are held: prints when the earliest ends)\n"
    "  renew    extend a live lease to MS ms from now (exit 1: it had ended)\n"
    "  release  end a lease now (exit 1: it was not held)\n"
    "Leases of holders that stop renewing are reclaimed once they end.\n"
    "\n"
    "options: --url URL  --timeout MS  --prefix P  --json  --help\n"
    "exit: 0 ok, 1 denied/lost/not held, 2 bad usage, 3 Redis unreachable,\n"
    "      4 other error\n";

static int number(const char *s, int64_t max, int64_t *v) {
    char *end;
    if (!s || !*s || *s < '0' || *s > '9') return -1;
    long long x = strtoll(s, &end, 10);
    if (*end || x < 1 || x > max) return -1;
    *v = x;
    return 0;
}

int cmd_lease(int argc, char **argv) {
    cli_common c = { 0 };
    const char *key = NULL, *limit = NULL, *ms = NULL, *id = NULL;
    cli_opt opts[] = { CLI_COMMON_OPTS(c),
                       { "--key", &key, 0, 0, 0, 0 },
                       { "--limit", &limit, 0, 0, 0, 0 },
                       { "--lease-ms", &ms, 0, 0, 0, 0 },
                       { "--id", &id, 0, 0, 0, 0 },
                       { 0 } };
    char *pos[1];
    int npos;
    int code = cli_parse("lease", argc, argv, 2, opts, pos, 1, &npos);
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
    int64_t n = 0, lease_ms = 0;
    if (acquire && number(limit, 1000000, &n) < 0)
        return cli_usage_error("lease", "--limit must be a whole number from 1 to 1000000");
    if (!acquire && limit) return cli_usage_error("lease", "--limit applies to acquire only");
    if (!acquire && !id) return cli_usage_error("lease", "missing --id (the id acquire printed)");
    if (acquire && id) return cli_usage_error("lease", "--id applies to renew and release only");
    if ((acquire || renew) && number(ms, TALLY_WINDOW_MAX_MS, &lease_ms) < 0)
        return cli_usage_error("lease", "--lease-ms must be a whole number of ms from 1 to 365 days");
    if (!acquire && !renew && ms) return cli_usage_error("lease", "--lease-ms does not apply to release");

    tally *t;
    if ((code = cli_open("lease", &c, &t))) return code;
    tally_lease l;
    int rc = acquire ? tally_lease_acquire(t, key, n, lease_ms, &l)
             : renew ? tally_lease_renew(t, key, id, lease_ms, &l)
                     : tally_lease_release(t, key, id, &l);
    if (rc != TALLY_OK) {
        code = cli_fail("lease", t, rc);
        tally_close(t);
        return code;
    }
    if (c.json) {
        printf("{\"ok\":%s,\"id\":", l.ok ? "true" : "false");
        if (acquire && l.ok) json_string(stdout, l.id, strlen(l.id));
        else if (!acquire) json_string(stdout, id, strlen(id));
        else printf("null");
        printf(",\"expires_at_us\":%lld,\"holders\":%lld,\"retry_after_ms\":%lld,\"server_time_us\":%lld}\n",
               (long long)l.expires_at_us, (long long)l.holders, (long long)l.retry_after_ms,
               (long long)l.server_time_us);
    } else if (acquire) {
        if (l.ok) printf("%s\n", l.id);
        else fprintf(stderr, "denied: %lld of %s leases held; the earliest ends in %lld ms\n",
                     (long long)l.holders, limit, (long long)l.retry_after_ms);
    } else if (renew) {
        if (l.ok) printf("renewed until %lld us (server time)\n", (long long)l.expires_at_us);
        else fprintf(stderr, "lease %s has ended or never existed\n", id);
    } else {
        if (l.ok) printf("released\n");
        else fprintf(stderr, "lease %s was not held (ended or released)\n", id);
    }
    tally_close(t);
    return l.ok ? EXIT_OK_ : EXIT_NO;
}
