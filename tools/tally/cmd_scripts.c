/* cmd_scripts.c -- `tally scripts list|show|load|verify|flush`: the operator's
 * view of the embedded scripts and of Redis's script cache. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json.h"

static const char usage[] =
    "usage: tally scripts list|show NAME|load|verify|flush [options]\n"
    "\n"
    "  list     the embedded scripts: name, SHA1, size, KEYS/ARGV contract (with\n"
    "           --json: each KEYS and ARGV position, its name and description)\n"
    "  show     print a script's exact source (what SCRIPT LOAD receives)\n"
    "  load     SCRIPT LOAD every script and check each SHA against the build\n"
    "  verify   SCRIPT EXISTS for every script; exit 1 if any is missing\n"
    "  flush    SCRIPT FLUSH, then load every script again (the ops reload)\n"
    "\n"
    "  --summary  load, verify, flush: one line for all scripts and nodes (e.g.\n"
    "             '9 scripts loaded, SHA verified, on 1 node') instead of one\n"
    "             per script and node; a missing script still gets its line.\n"
    "             Not with --json\n"
    "\n"
    "On a cluster (redis-cluster:// URL) load, verify and flush act on every\n"
    "primary and replica and report per node.\n"
    "\n"
    "options: --url URL (default $TALLY_URL, else redis://127.0.0.1:6379/0;\n"
    "         redis-cluster://host:port[,host:port...] for a cluster)\n"
    "         --timeout MS  --summary  --json  --help\n"
    "exit: 0 ok, 1 scripts missing (verify), 2 bad usage, 3 Redis unreachable or\n"
    "      authentication failed, 4 Redis or script error\n";

static void json_params(json_out *j, const char *label, const tally_script_param *p, int n) {
    json_array(j, label);
    for (int i = 0; i < n; i++) {
        json_object(j, NULL);
        json_str(j, "position", p[i].position);
        json_str(j, "name", p[i].name);
        json_str(j, "description", p[i].description);
        json_close(j);
    }
    json_close(j);
}

static void text_params(const char *label, const tally_script_param *p, int n) {
    for (int i = 0; i < n; i++) printf("  %s[%s] %s: %s\n", label, p[i].position, p[i].name, p[i].description);
}

static int list(const cli_common *c) {
    int n = tally_script_count();
    json_out j;
    json_begin(&j, stdout);
    if (c->json) json_array(&j, NULL);
    for (int i = 0; i < n; i++) {
        const tally_script_info *s = tally_script_at(i);
        if (c->json) {
            json_object(&j, NULL);
            json_str(&j, "name", s->name);
            json_str(&j, "sha1", s->sha1);
            json_int(&j, "bytes", (int64_t)s->length);
            json_str(&j, "summary", s->summary);
            json_params(&j, "keys", s->key_params, s->nkey_params);
            json_params(&j, "argv", s->arg_params, s->narg_params);
            json_str(&j, "returns", s->returns);
            json_str(&j, "notes", s->notes);
            json_close(&j);
        } else {
            printf("%-10s %s %6zu bytes  %s\n", s->name, s->sha1, s->length, s->summary);
            text_params("KEYS", s->key_params, s->nkey_params);
            text_params("ARGV", s->arg_params, s->narg_params);
            printf("  returns: %s\n", s->returns);
        }
    }
    if (c->json) json_close(&j);
    return EXIT_OK_;
}

static int show(const char *name) {
    const tally_script_info *s = tally_script_find(name);
    if (!s) return cli_usage_error("scripts", "no script named '%s' (see 'tally scripts list')", name);
    fwrite(s->source, 1, s->length, stdout);
    return EXIT_OK_;
}

/* Prints one line (or JSON entry) per script and node with its state in that
 * node's cache; the node column appears when there is more than one. With
 * `summary` only the missing ones get a line, and one line counts them all.
 * Returns the number of scripts missing somewhere, or -1 (error printed). */
static int report(tally *t, const cli_common *c, int summary, const char *yes) {
    int n = tally_script_count(), nodes = tally_node_count(t), missing = 0;
    int *loaded = calloc((size_t)n, sizeof *loaded);
    if (!loaded) return -1;
    json_out j;
    json_begin(&j, stdout);
    if (c->json) json_array(&j, NULL);
    for (int k = 0; k < nodes; k++) {
        char node[320];
        tally_node_name(t, k, node, sizeof node);
        int rc = tally_scripts_exists_on(t, k, loaded);
        if (rc != TALLY_OK) {
            if (c->json) json_close(&j);
            cli_fail("scripts", t, rc);
            free(loaded);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            const tally_script_info *s = tally_script_at(i);
            missing += !loaded[i];
            if (c->json) {
                json_object(&j, NULL);
                json_str(&j, "node", node);
                json_str(&j, "name", s->name);
                json_str(&j, "sha1", s->sha1);
                json_bool(&j, "loaded", loaded[i]);
                json_close(&j);
            } else if (summary && loaded[i]) {
                continue;
            } else if (nodes > 1) {
                printf("%-32s %-10s %s  %s\n", node, s->name, s->sha1, loaded[i] ? yes : "MISSING");
            } else {
                printf("%-10s %s  %s\n", s->name, s->sha1, loaded[i] ? yes : "MISSING");
            }
        }
    }
    if (c->json) json_close(&j);
    free(loaded);
    const char *plural = nodes == 1 ? "" : "s";
    if (summary && missing == 0) printf("%d scripts %s, on %d node%s\n", n, yes, nodes, plural);
    else if (summary) printf("%d of %d scripts MISSING, on %d node%s\n", missing, n * nodes, nodes, plural);
    return missing;
}

static int server(const char *what, cli_common *c, int summary) {
    tally *t;
    int code = cli_open("scripts", c, &t);
    if (code) return code;
    int rc = TALLY_OK;
    if (strcmp(what, "flush") == 0) rc = tally_scripts_flush(t);
    else if (strcmp(what, "load") == 0) rc = tally_scripts_load(t);
    if (rc != TALLY_OK) {
        code = cli_fail("scripts", t, rc);
    } else {
        int missing = report(t, c, summary, strcmp(what, "verify") == 0 ? "loaded" : "loaded, SHA verified");
        code = missing < 0 ? EXIT_FAILED : missing ? EXIT_NO : EXIT_OK_;
    }
    tally_close(t);
    return code;
}

int cmd_scripts(int argc, char **argv) {
    cli_common c = { 0 };
    int summary = 0;
    opt opts[] = { OPT_FLAG("--summary", &summary), OPT_END };
    char *pos[2];
    int npos;
    int code = cli_parse("scripts", argc, argv, &c, opts, pos, 2, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    if (npos == 0) return cli_usage_error("scripts", "missing subcommand: list, show, load, verify or flush");
    const char *sub = pos[0];
    if (summary && (c.json || strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0))
        return cli_usage_error("scripts", "--summary goes with load, verify or flush, without --json");
    if (strcmp(sub, "show") == 0) {
        if (npos != 2) return cli_usage_error("scripts", "'show' needs one script name");
        return show(pos[1]);
    }
    if (npos != 1) return cli_usage_error("scripts", "unexpected argument '%s'", pos[1]);
    if (strcmp(sub, "list") == 0) return list(&c);
    if (strcmp(sub, "load") == 0 || strcmp(sub, "flush") == 0) return server(sub, &c, summary);
    if (strcmp(sub, "verify") == 0) {
        c.defer_load = 1;
        return server(sub, &c, summary);
    }
    return cli_usage_error("scripts", "unknown subcommand '%s'", sub);
}
