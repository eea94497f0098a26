/* cmd_migrate.c -- `tally migrate [--dry-run]`: converts a key-schema v2
 * dataset under the prefix to v3 in place (tally_migrate). */
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "json.h"

static const char usage[] =
    "usage: tally migrate [--dry-run] [options]\n"
    "\n"
    "Converts the key-schema v2 dataset under the prefix to v3 in place\n"
    "(docs/keys.md): every <prefix>:v2:* key is renamed to <prefix>:v3:* (its\n"
    "TTL kept), each API key's bucket of every period its leaderboards list is\n"
    "written as a k:<key> field of its shard's hash, and the leaderboards are\n"
    "deleted; each account's buckets are folded into its a:<account> fields of\n"
    "the shards' hashes where those fall short, its total and month hashes\n"
    "deleted (v3 sums the shards), and the accounts marker set to 0 once all\n"
    "are. Keys are found with SCAN on every primary; every change is a script\n"
    "call holding Redis about 5 ms.\n"
    "\n"
    "Offline: stop every host that records, settles or admits on the prefix\n"
    "first (other commands refuse a prefix holding v2 keys, exit 2). Safe to\n"
    "run again: a run cut short is finished by the next, and a finished one\n"
    "changes nothing. A prefix that already holds v3 data no migration made is\n"
    "refused, nothing written.\n"
    "\n"
    "  --dry-run  check and count what would be done; write nothing\n"
    "\n"
    "options: --url URL  --timeout MS  --prefix P  --allow-eviction  --json  --help\n"
    "exit: 0 done (or nothing to do), 2 refused: v3 data no migration made, or v2\n"
    "      keys left because their v3 name exists (nothing of them written), 3\n"
    "      Redis unreachable or authentication failed, 4 Redis or script error\n"
    "      or timeout (run it again), 5 the server may evict (nothing written)\n";

static void print(const cli_common *c, int dry, const tally_migrate_stats *s, FILE *f) {
    if (c->json) {
        json_out j;
        json_begin(&j, f);
        json_object(&j, NULL);
        json_bool(&j, "dry_run", dry);
        json_int(&j, "renamed", (int64_t)s->renamed);
        json_int(&j, "left", (int64_t)s->left);
        json_int(&j, "boards", (int64_t)s->boards);
        json_int(&j, "fields", (int64_t)s->fields);
        json_int(&j, "skipped", (int64_t)s->skipped);
        json_int(&j, "calls", (int64_t)s->calls);
        json_close(&j);
        return;
    }
    fprintf(f, "%s%llu keys renamed to v3, %llu k: and a: fields written, %llu leaderboards deleted; %llu board "
               "members or account buckets skipped, %llu keys left under v2; %llu script calls\n",
            dry ? "dry run, nothing written: would have " : "", (unsigned long long)s->renamed,
            (unsigned long long)s->fields, (unsigned long long)s->boards, (unsigned long long)s->skipped,
            (unsigned long long)s->left, (unsigned long long)s->calls);
}

int cmd_migrate(int argc, char **argv) {
    cli_common c = { 0 };
    int dry = 0;
    opt opts[] = { OPT_FLAG("--dry-run", &dry), OPT_END };
    char *pos[1];
    int npos;
    int code = cli_parse("migrate", argc, argv, &c, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    c.defer_load = 1; /* an open that only connects: a full one refuses the v2 prefix */
    tally *t;
    if ((code = cli_open("migrate", &c, &t))) return code;
    tally_migrate_stats s;
    int rc = tally_migrate(t, dry, &s);
    if (rc == TALLY_OK) {
        print(&c, dry, &s, stdout);
    } else {
        code = cli_fail("migrate", t, rc);
        fputs("tally migrate: so far: ", stderr);
        print(&c, dry, &s, stderr);
    }
    tally_close(t);
    return code;
}
