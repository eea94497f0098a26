/* cmd_prices.c -- `tally prices load FILE|list|show MODEL`: the price table
 * that prices events recorded without a cost (tally.h: tally_prices_*). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "json.h"

static const char usage[] =
    "usage: tally prices load FILE|list|show MODEL [--at TIME] [options]\n"
    "\n"
    "  load FILE   read a price table from FILE ('-': standard input) and store\n"
    "              it under the prefix, replacing the old one at once; prints the\n"
    "              new version (one more than the last), or 'unchanged' and the\n"
    "              stored version, kept, when the stored table is the same (a\n"
    "              re-deploy of one file makes no new version). FILE is JSON:\n"
    "              {\"models\": {\"MODEL\": ENTRY or [ENTRY...]}} with ENTRY\n"
    "              {\"from\": TIME (optional), \"input\": USD, \"output\": USD,\n"
    "               \"cache_create\": USD, \"cache_read\": USD, and optionally\n"
    "               \"tier_above\": TOKENS, \"tier\": {the four prices}}\n"
    "              in USD per million tokens (no other top-level member, no\n"
    "              field or model twice; a \"from\" without an offset is in --tz,\n"
    "              as --at is), or LiteLLM's model_prices_and_context_window.json\n"
    "              (USD per token; input, output, cache creation and cache read\n"
    "              costs, *_above_200k_tokens).\n"
    "              Our form is read exactly: a negative price, garbage or a price\n"
    "              finer than 1 nano-USD per million tokens is refused with the\n"
    "              model and field, and nothing is stored. From LiteLLM's file a\n"
    "              model not priced per token, or with a bad price, is skipped and\n"
    "              a price finer than 10^-15 USD per token rounded half up to it;\n"
    "              load prints each one skipped or rounded, and why\n"
    "  list        every entry of the stored table, by model and from time\n"
    "  show MODEL  the entry in force at --at TIME (default now)\n"
    "\n"
    "  --allow-empty  store a file that yields no model, an empty table; without\n"
    "              it such a file is refused (exit 2, nothing stored): a mistyped\n"
    "              file must not wipe the prices\n"
    "\n"
    "An event recorded without --cost gets cost = the sum over its four kinds of\n"
    "tokens x price / 10^6, in integers, rounded half up to a nano-USD; with a\n"
    "prompt (input + cache tokens) above an entry's tier_above, all its tokens are\n"
    "priced at the tier's prices. A recording host reads a new table within 1 s.\n"
    "  also: --url URL --timeout MS --prefix P --tz ±HH:MM --json --help\n"
    "exit: 0 ok, 1 no price for MODEL (show), 2 bad usage or a bad or empty price\n"
    "      file (nothing stored), 3 Redis unreachable or the user may not (load:\n"
    "      only a user that may write the price table, docs/acl.md), 4 Redis\n"
    "      error or timeout, 5 load: the server may evict keys (see tally --help,\n"
    "      --allow-eviction)\n";

static char *slurp(const char *path, size_t *n) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (bad) free(buf), buf = NULL;
    *n = len;
    return buf;
}

static void from_text(int64_t ms, char *buf, size_t cap) {
    if (ms == 0) snprintf(buf, cap, "always");
    else tally_format_time(ms, 0, buf, cap);
}

static void json_four(json_out *j, const int64_t *v) {
    static const char *const names[4] = { "input", "output", "cache_create", "cache_read" };
    for (int k = 0; k < 4; k++) json_usd(j, names[k], NULL, v[k]);
}

static void print_entry(const cli_common *c, json_out *j, const tally_price *p) {
    char from[80], v[8][32];
    from_text(p->from_ms, from, sizeof from);
    if (c->json) {
        json_object(j, NULL);
        json_str(j, "model", p->model);
        json_int(j, "from_ms", p->from_ms);
        json_str(j, "from", from);
        json_four(j, &p->input);
        if (p->tier_above) {
            json_int(j, "tier_above", p->tier_above);
            json_object(j, "tier");
            json_four(j, &p->tier_input);
            json_close(j);
        }
        json_close(j);
        return;
    }
    const int64_t *a = &p->input;
    for (int k = 0; k < 8; k++) tally_nanos_to_usd(k < 4 ? a[k] : a[k + 1], v[k], sizeof v[k]);
    printf("%-32s %-24s %12s %12s %12s %12s", p->model, from, v[0], v[1], v[2], v[3]);
    if (p->tier_above)
        printf("  above %lld: %s %s %s %s", (long long)p->tier_above, v[4], v[5], v[6], v[7]);
    putchar('\n');
}

/* The notes of kind `what` (TALLY_PRICE_NOTE_*): JSON array `key` of
 * {"model", "why"}, or one "WORD MODEL: WHY" line each on f. */
static size_t print_notes(const tally_prices *p, int what, json_out *j, const char *key, FILE *f) {
    size_t count = 0;
    if (j) json_array(j, key);
    for (size_t i = 0; i < tally_prices_note_count(p); i++) {
        const tally_price_note *n = tally_prices_note_at(p, i);
        if (n->what != what) continue;
        count++;
        if (j) json_object(j, NULL), json_str(j, "model", n->model), json_str(j, "why", n->why), json_close(j);
        else fprintf(f, "%s %s: %s\n", what == TALLY_PRICE_NOTE_SKIPPED ? "skipped" : "rounded", n->model, n->why);
    }
    if (j) json_close(j);
    return count;
}

/* The table in file `path`, read before anything connects (a "from" without
 * an offset in the zone of --tz, as --at): 0, or the exit status after saying
 * why not. A file yielding no model is refused unless allow_empty, after the
 * list of what it skipped. */
static int read_file(const char *path, const cli_common *c, int allow_empty, tally_prices **p) {
    size_t n;
    char *text = slurp(path, &n), err[512];
    if (!text) return cli_usage_error("prices", "cannot read %s", path);
    int rc = tally_prices_parse_ex(text, n, c->tz_min, TALLY_PRICES_ALLOW_EMPTY, p, err, sizeof err);
    free(text);
    if (rc != TALLY_OK) {
        fprintf(stderr, "tally prices: %s: %s\n", path, err);
        return cli_exit_for(rc);
    }
    if (tally_prices_count(*p) || allow_empty) return 0;
    print_notes(*p, TALLY_PRICE_NOTE_SKIPPED, NULL, NULL, stderr);
    fprintf(stderr, "tally prices: %s yields no model priced per token: nothing stored (--allow-empty stores an "
                    "empty table)\n", path);
    tally_prices_free(*p), *p = NULL;
    return EXIT_USAGE;
}

/* Stores table p (freed here), then says what it skipped and rounded. */
static int load(tally *t, const cli_common *c, tally_prices *p) {
    int64_t version = 0;
    int changed = 1;
    size_t entries = tally_prices_count(p), models = 0;
    for (size_t i = 0; i < entries; i++)
        models += i == 0 || strcmp(tally_prices_at(p, i)->model, tally_prices_at(p, i - 1)->model) != 0;
    int rc = tally_prices_load_ex(t, p, &version, &changed);
    if (rc != TALLY_OK) return tally_prices_free(p), cli_fail("prices", t, rc);
    if (c->json) {
        json_out j;
        json_begin(&j, stdout);
        json_object(&j, NULL);
        json_int(&j, "version", version);
        json_bool(&j, "unchanged", !changed);
        json_int(&j, "models", (int64_t)models);
        json_int(&j, "entries", (int64_t)entries);
        print_notes(p, TALLY_PRICE_NOTE_ROUNDED, &j, "rounded", NULL);
        print_notes(p, TALLY_PRICE_NOTE_SKIPPED, &j, "skipped", NULL);
        json_close(&j);
    } else {
        size_t rounded = print_notes(p, TALLY_PRICE_NOTE_ROUNDED, NULL, NULL, stdout);
        size_t skipped = print_notes(p, TALLY_PRICE_NOTE_SKIPPED, NULL, NULL, stdout);
        if (changed)
            printf("loaded %zu models (%zu entries): price table version %lld", models, entries, (long long)version);
        else
            printf("unchanged: the stored table has these %zu models (%zu entries) already: price table version %lld "
                   "kept", models, entries, (long long)version);
        if (rounded || skipped) printf("; %zu rounded, %zu skipped (listed above)", rounded, skipped);
        putchar('\n');
    }
    tally_prices_free(p);
    return EXIT_OK_;
}

/* What list and show print before their entries: the version, and in text
 * a line naming the columns of print_entry. */
static void header(const cli_common *c, json_out *j, const tally_prices *p) {
    if (c->json) {
        json_object(j, NULL), json_int(j, "version", tally_prices_version(p)), json_array(j, "prices");
        return;
    }
    printf("price table version %lld; USD per million tokens\n", (long long)tally_prices_version(p));
    printf("%-32s %-24s %12s %12s %12s %12s\n", "model", "from", "input", "output", "cache-create", "cache-read");
}

static int show(tally *t, const cli_common *c, const char *model, int64_t at_ms) {
    tally_prices *p;
    int rc = tally_prices_get(t, &p);
    if (rc != TALLY_OK) return cli_fail("prices", t, rc);
    json_out j;
    json_begin(&j, stdout);
    int code = EXIT_OK_;
    if (model) {
        const tally_price *e = tally_prices_find(p, model, at_ms);
        if (!e) {
            char when[TALLY_TIME_TEXT_MAX];
            tally_format_time(at_ms, c->tz_min, when, sizeof when);
            fprintf(stderr, "tally prices: model %s has no price at %s (%lld ms; price table version %lld)\n", model,
                    when, (long long)at_ms, (long long)tally_prices_version(p));
            code = EXIT_NO;
        } else {
            header(c, &j, p);
            print_entry(c, &j, e);
            if (c->json) json_close(&j), json_close(&j);
        }
    } else {
        header(c, &j, p);
        for (size_t i = 0; i < tally_prices_count(p); i++) print_entry(c, &j, tally_prices_at(p, i));
        if (c->json) json_close(&j), json_close(&j);
    }
    tally_prices_free(p);
    return code;
}

int cmd_prices(int argc, char **argv) {
    cli_common c = { 0 };
    int64_t at_ms = 0;
    int allow_empty = 0;
    opt opts[] = { OPT_TIME("--at", &at_ms), OPT_FLAG("--allow-empty", &allow_empty), OPT_END };
    char *pos[2];
    int npos, code = cli_parse("prices", argc, argv, &c, opts, pos, 2, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    const char *sub = npos ? pos[0] : "";
    int is_load = strcmp(sub, "load") == 0, is_show = strcmp(sub, "show") == 0, is_list = strcmp(sub, "list") == 0;
    if (!is_load && !is_show && !is_list) return cli_usage_error("prices", "say load FILE, list or show MODEL");
    if ((is_list && npos != 1) || (!is_list && npos != 2))
        return cli_usage_error("prices", is_load ? "load takes one FILE" : is_show ? "show takes one MODEL" : "list takes no argument");
    if (opts[0].given && !is_show) return cli_usage_error("prices", "--at is for 'prices show'");
    if (allow_empty && !is_load) return cli_usage_error("prices", "--allow-empty is for 'prices load'");
    if (!at_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        at_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    tally_prices *table = NULL;
    if (is_load && (code = read_file(pos[1], &c, allow_empty, &table))) return code;
    tally *t;
    if ((code = cli_open("prices", &c, &t))) return tally_prices_free(table), code;
    code = is_load ? load(t, &c, table) : show(t, &c, is_show ? pos[1] : NULL, at_ms);
    tally_close(t);
    return code;
}
