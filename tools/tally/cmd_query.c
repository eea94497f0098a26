/* cmd_query.c -- the read side of the tool: `tally stats`, `models`, `trend`,
 * `top` and `active` (`metrics` is in cmd_metrics.c). Human tables by default, --json
 * for programs; every command is one round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json.h"

static const char usage_stats[] =
    "usage: tally stats (--key ID | --account ID | --model NAME | --global)\n"
    "                   [--period P | --from DAY --to DAY]\n"
    "  --period total|today|month|hour|day:..|month:..|hour:..\n"
    "     total (default), today, month, hour, day:YYYY-MM-DD, month:YYYY-MM,\n"
    "     hour:YYYY-MM-DDTHH -- in the --tz timezone (default $TALLY_TZ, else UTC)\n"
    "  --from DAY --to DAY: the days from one to the other, both included\n"
    "     (YYYY-MM-DD or today; at most 1000 days, all still kept: day buckets\n"
    "     32 days after the day, month buckets 400 days after the month), summed\n"
    "     exactly from the month buckets of whole months and the day buckets of\n"
    "     the other days\n"
    "  a name with no data in the period prints zeros, exit 0, and a notice on\n"
    "  standard error (\"no data for key K in P\"); --json says \"found\": false\n";
static const char usage_models[] =
    "usage: tally models [--key ID] [--period total|today|month|day:..|month:..]\n"
    "                    [--from DAY --to DAY] [--by-price-version]\n"
    "  the per-model breakdown of one key, or of all keys without --key; with\n"
    "  --by-price-version (and --key) the key's events priced by each version of\n"
    "  the price table (events recorded with their own cost are in none; events\n"
    "  recorded unpriced, at cost 0, are in version \"none\", null in --json);\n"
    "  --from DAY --to DAY as for tally stats\n";
static const char usage_trend[] =
    "usage: tally trend (--key ID | --account ID | --model NAME | --global)\n"
    "                   --by hour|day|month [--last N] [--metric tokens|requests|cost]\n"
    "  the last N buckets (default 24 hours, 30 days or 12 months), drawn as bars\n"
    "  of the --metric (default tokens) under a header naming it\n";
static const char usage_top[] =
    "usage: tally top [--of key|account|model] [--by cost|tokens|requests]\n"
    "                 [--window total|today|month|day:..|month:.. | --from DAY --to DAY] [-n N]\n"
    "  API keys (the default), accounts or models ranked by cost (the default),\n"
    "  tokens or requests over the window (default total) or the days --from to\n"
    "  --to (as for tally stats), N from 1 to 1000 (default 10); equal values rank\n"
    "  by name (byte order), so -n N is the head of any larger -n. Keys, accounts\n"
    "  and models are read from the shards' buckets in short calls (a few per 10^4\n"
    "  keys a day), exact; on\n"
    "  a prefix recorded before account buckets existed, accounts are ranked only\n"
    "  from the day named in the refusal on (exit 2)\n";
static const char usage_active[] =
    "usage: tally active [--of key|account|model] [--period total|today|month|day:..|month:.. |\n"
    "                    --from DAY --to DAY] [--limit N] [--after NAME]\n"
    "  the API keys (the default), accounts or models with usage in the period\n"
    "  (default today) or the days --from to --to, with their requests, in byte\n"
    "  order of their names: the first N (1 to 10000, default 100) after NAME.\n"
    "  When more follow, the table ends with a line \"more: --after NAME\" (on\n"
    "  stderr) and --json gives \"next\". Accounts: as for tally top\n";
static const char common_help[] =
    "options: --url URL --tz ±HH:MM --timeout MS --prefix P --json --help\n"
    "         --read-from primary|replica (a Redis Cluster's replicas; see tally --help)\n"
    "exit: 0 ok, 2 bad usage, 3 Redis unreachable, 4 Redis error, timeout, or a sum\n"
    "      past 2^63-1 (shards, models or minutes merged)\n";

/* Whose statistics: exactly one of --key, --account, --model, --global. */
typedef struct {
    const char *key, *account, *model;
    int global;
} scope_opts;

#define SCOPE_OPTS(s)                                                                           \
    OPT_TEXT("--key", &(s).key), OPT_TEXT("--account", &(s).account), OPT_TEXT("--model", &(s).model), \
        OPT_FLAG("--global", &(s).global)

static int scope_of(const char *cmd, const scope_opts *s, int *scope, const char **id) {
    if (!!s->key + !!s->account + !!s->model + s->global != 1)
        return cli_usage_error(cmd, "give exactly one of --key, --account, --model, --global");
    *scope = s->key ? TALLY_SCOPE_KEY : s->account ? TALLY_SCOPE_ACCOUNT : s->model ? TALLY_SCOPE_MODEL
                                                                               : TALLY_SCOPE_GLOBAL;
    *id = s->key ? s->key : s->account ? s->account : s->model;
    return 0;
}

/* Parses the command line; -1 after printing the help. */
static int parse(const char *cmd, int argc, char **argv, cli_common *c, opt *opts, const char *usage) {
    char *pos[1];
    int npos, code = cli_parse(cmd, argc, argv, c, opts, pos, 0, &npos);
    if (code) return code;
    if (c->help) {
        fputs(usage, stdout);
        fputs(common_help, stdout);
        return -1;
    }
    return 0;
}

static const char table_head[] =
    "%-24s %10s %12s %12s %12s %12s %12s %14s\n";

static void table_header(const char *first) {
    printf(table_head, first, "requests", "input", "output", "cache_create", "cache_read", "total", "cost_usd");
}

static void table_row(const char *name, const tally_bucket *b) {
    char usd[32];
    tally_nanos_to_usd(b->cost_nanos, usd, sizeof usd);
    printf("%-24s %10lld %12lld %12lld %12lld %12lld %12lld %14s\n", name, (long long)b->requests,
           (long long)b->input_tokens, (long long)b->output_tokens, (long long)b->cache_create_tokens,
           (long long)b->cache_read_tokens, (long long)b->total_tokens, usd);
}

static const tally_period TOTAL = { TALLY_TOTAL, 0, 0, 0, 0 };

/* --from and --to: a range of days instead of --period. */
#define RANGE_OPTS(r) OPT_PERIOD("--from", &(r).from, TALLY_DAY, TALLY_DAY), OPT_PERIOD("--to", &(r).to, TALLY_DAY, TALLY_DAY)

/* 1 when --from and --to are given (the period then is the range: "FROM..TO"
 * into when), 0 when neither is, or -1 after a usage error. */
static int range_of(const char *cmd, opt *opts, const tally_range *r, char when[24]) {
    int from = cli_given(opts, "--from"), to = cli_given(opts, "--to");
    if (!from && !to) return 0;
    if (from != to) return cli_usage_error(cmd, "--from and --to go together"), -1;
    if (cli_given(opts, "--period")) return cli_usage_error(cmd, "give --period or --from/--to, not both"), -1;
    char a[24], b[24];
    tally_period_format(&r->from, a);
    tally_period_format(&r->to, b);
    snprintf(when, 24, "%.10s..%.10s", a, b);
    return 1;
}

int cmd_stats(int argc, char **argv) {
    cli_common c = { 0 };
    scope_opts s = { 0 };
    tally_period p = TOTAL;
    tally_range r;
    opt opts[] = { SCOPE_OPTS(s), OPT_PERIOD("--period", &p, TALLY_TOTAL, TALLY_HOUR), RANGE_OPTS(r), OPT_END };
    int code = parse("stats", argc, argv, &c, opts, usage_stats), scope;
    const char *id;
    if (code) return code < 0 ? EXIT_OK_ : code;
    if ((code = scope_of("stats", &s, &scope, &id))) return code;
    char when[24];
    int ranged = range_of("stats", opts, &r, when);
    if (ranged < 0) return EXIT_USAGE;
    if (!ranged) tally_period_format(&p, when);
    tally *t;
    if ((code = cli_open("stats", &c, &t))) return code;
    tally_bucket b;
    int rc = ranged ? tally_stats_range(t, scope, id, &r, &b) : tally_stats(t, scope, id, &p, &b);
    static const char *const names[] = { "key", "account", "model", "global" };
    /* Every event counts one request: none means nothing was recorded there
     * (a typo of a name reads as zeros otherwise). */
    if (rc == TALLY_OK && b.requests == 0)
        fprintf(stderr, "tally stats: no data for %s%s%.200s in %s\n", names[scope], id ? " " : "", id ? id : "", when);
    if (rc != TALLY_OK) {
        code = cli_fail("stats", t, rc);
    } else if (c.json) {
        json_out j;
        json_begin(&j, stdout);
        json_object(&j, NULL);
        json_str(&j, "scope", names[scope]);
        if (id) json_str(&j, "id", id);
        if (ranged) {
            char day[24];
            tally_period_format(&r.from, day);
            json_str(&j, "from", day);
            tally_period_format(&r.to, day);
            json_str(&j, "to", day);
        } else {
            json_str(&j, "period", when);
        }
        json_bool(&j, "found", b.requests > 0);
        json_bucket(&j, &b);
        json_close(&j);
    } else {
        char title[300];
        snprintf(title, sizeof title, "%s%s%.200s", names[scope], id ? " " : "", id ? id : "");
        table_header(when);
        table_row(title, &b);
    }
    tally_close(t);
    return code;
}

int cmd_models(int argc, char **argv) {
    cli_common c = { 0 };
    const char *key = NULL;
    tally_period p = TOTAL;
    tally_range r;
    int versions = 0;
    opt opts[] = { OPT_TEXT("--key", &key), OPT_PERIOD("--period", &p, TALLY_TOTAL, TALLY_DAY), RANGE_OPTS(r),
                   OPT_FLAG("--by-price-version", &versions), OPT_END };
    int code = parse("models", argc, argv, &c, opts, usage_models);
    if (code) return code < 0 ? EXIT_OK_ : code;
    if (versions && !key) return cli_usage_error("models", "--by-price-version needs --key");
    char when[24];
    int ranged = range_of("models", opts, &r, when);
    if (ranged < 0) return EXIT_USAGE;
    if (ranged && versions) return cli_usage_error("models", "--by-price-version reads one period, not a range");
    tally *t;
    if ((code = cli_open("models", &c, &t))) return code;
    tally_model_stats *m;
    size_t n;
    int rc = ranged     ? tally_models_range(t, key, &r, &m, &n)
             : versions ? tally_price_versions(t, key, &p, &m, &n)
                        : tally_models(t, key, &p, &m, &n);
    if (rc != TALLY_OK) {
        code = cli_fail("models", t, rc);
    } else if (c.json) {
        json_out j;
        json_begin(&j, stdout);
        json_array(&j, NULL);
        for (size_t i = 0; i < n; i++) {
            json_object(&j, NULL);
            if (versions && strcmp(m[i].model, "none") == 0) json_null(&j, "price_version"); /* unpriced */
            else if (versions) json_number(&j, "price_version", m[i].model);
            else json_str(&j, "model", m[i].model);
            json_bucket(&j, &m[i].b);
            json_close(&j);
        }
        json_close(&j);
    } else {
        table_header(versions ? "price version" : "model");
        for (size_t i = 0; i < n; i++) table_row(m[i].model, &m[i].b);
    }
    tally_models_free(m, n);
    tally_close(t);
    return code;
}

enum { METRIC_TOKENS, METRIC_REQUESTS, METRIC_COST };

static int64_t metric_of(const tally_bucket *b, int metric) {
    return metric == METRIC_REQUESTS ? b->requests : metric == METRIC_COST ? b->cost_nanos : b->total_tokens;
}

/* A header naming the bucket and the metric drawn, then a bar per bucket. */
static void draw_trend(const tally_point *pt, int n, const char *by, int metric) {
    printf("%-14s %14s\n", by, metric == METRIC_COST ? "cost USD" : metric == METRIC_REQUESTS ? "requests" : "tokens");
    int64_t max = 0;
    for (int i = 0; i < n; i++)
        if (metric_of(&pt[i].b, metric) > max) max = metric_of(&pt[i].b, metric);
    for (int i = 0; i < n; i++) {
        char when[24], value[32];
        tally_period_format(&pt[i].period, when);
        int64_t v = metric_of(&pt[i].b, metric);
        if (metric == METRIC_COST) tally_nanos_to_usd(v, value, sizeof value);
        else snprintf(value, sizeof value, "%lld", (long long)v);
        int width = max ? (int)((double)v / (double)max * 40 + 0.5) : 0; /* display only */
        printf("%-14s %14s ", when, value);
        for (int k = 0; k < width; k++) fputs("█", stdout);
        if (v && !width) fputs("▏", stdout);
        putchar('\n');
    }
}

int cmd_trend(int argc, char **argv) {
    cli_common c = { 0 };
    scope_opts s = { 0 };
    static const char *const bys[] = { "hour", "day", "month", NULL };
    static const char *const metrics[] = { "tokens", "requests", "cost", NULL };
    static const int kinds[] = { TALLY_HOUR, TALLY_DAY, TALLY_MONTH }, defaults[] = { 24, 30, 12 };
    int by = -1, metric = METRIC_TOKENS;
    int64_t last = 0;
    opt opts[] = { SCOPE_OPTS(s),
                   OPT_CHOICE("--by", &by, bys),
                   OPT_COUNT("--last", &last, 1, 1000),
                   OPT_CHOICE("--metric", &metric, metrics),
                   OPT_END };
    int code = parse("trend", argc, argv, &c, opts, usage_trend), scope;
    const char *id;
    if (code) return code < 0 ? EXIT_OK_ : code;
    if ((code = scope_of("trend", &s, &scope, &id))) return code;
    if (by < 0) return cli_usage_error("trend", "--by hour, day or month is required");
    int n = last ? (int)last : defaults[by];
    tally *t;
    if ((code = cli_open("trend", &c, &t))) return code;
    tally_point *pt = malloc((size_t)n * sizeof *pt);
    int rc = pt ? tally_trend(t, scope, id, kinds[by], n, pt) : TALLY_ENOMEM;
    if (rc != TALLY_OK) {
        code = cli_fail("trend", t, rc);
    } else if (c.json) {
        json_out j;
        json_begin(&j, stdout);
        json_array(&j, NULL);
        for (int i = 0; i < n; i++) {
            char when[24];
            tally_period_format(&pt[i].period, when);
            json_object(&j, NULL);
            json_str(&j, "bucket", when);
            json_bucket(&j, &pt[i].b);
            json_close(&j);
        }
        json_close(&j);
    } else {
        draw_trend(pt, n, bys[by], metric);
    }
    free(pt);
    tally_close(t);
    return code;
}

/* --of: what `top` and `active` rank or list (TALLY_RANK_OF_*, in order). */
static const char *const ofs[] = { "key", "model", "account", NULL };

int cmd_top(int argc, char **argv) {
    cli_common c = { 0 };
    static const char *const bys[] = { "cost", "tokens", "requests", NULL }; /* TALLY_RANK_* */
    int by = TALLY_RANK_COST, of = TALLY_RANK_OF_KEY;
    int64_t n = 10;
    tally_period p = TOTAL;
    tally_range range;
    opt opts[] = { OPT_CHOICE("--of", &of, ofs),
                   OPT_CHOICE("--by", &by, bys),
                   OPT_PERIOD("--window", &p, TALLY_TOTAL, TALLY_DAY),
                   RANGE_OPTS(range),
                   OPT_COUNT("-n", &n, 1, TALLY_TOP_MAX),
                   OPT_END };
    int code = parse("top", argc, argv, &c, opts, usage_top);
    if (code) return code < 0 ? EXIT_OK_ : code;
    char when[24];
    if (cli_given(opts, "--window") && (cli_given(opts, "--from") || cli_given(opts, "--to")))
        return cli_usage_error("top", "give --window or --from/--to, not both");
    int ranged = range_of("top", opts, &range, when);
    if (ranged < 0) return EXIT_USAGE;
    tally *t;
    if ((code = cli_open("top", &c, &t))) return code;
    tally_rank *r;
    size_t count;
    int rc = ranged ? tally_top_range(t, of, by, &range, (size_t)n, &r, &count)
                    : tally_top_of(t, of, by, &p, (size_t)n, &r, &count);
    static const char *const field[] = { "cost", "total_tokens", "requests" };
    if (rc != TALLY_OK) {
        code = cli_fail("top", t, rc);
    } else if (c.json) {
        json_out j;
        json_begin(&j, stdout);
        json_array(&j, NULL);
        for (size_t i = 0; i < count; i++) {
            json_object(&j, NULL);
            json_int(&j, "rank", (int64_t)i + 1);
            json_str(&j, ofs[of], r[i].key);
            if (by == TALLY_RANK_COST) json_usd(&j, "cost", "cost_nanos", r[i].value);
            else json_int(&j, field[by], r[i].value);
            json_close(&j);
        }
        json_close(&j);
    } else {
        printf("%-5s %-40s %s\n", "rank", ofs[of], field[by]);
        for (size_t i = 0; i < count; i++) {
            char value[32];
            if (by == TALLY_RANK_COST) tally_nanos_to_usd(r[i].value, value, sizeof value);
            else snprintf(value, sizeof value, "%lld", (long long)r[i].value);
            printf("%-5zu %-40s %s\n", i + 1, r[i].key, value);
        }
    }
    tally_top_free(r, count);
    tally_close(t);
    return code;
}

int cmd_active(int argc, char **argv) {
    cli_common c = { 0 };
    int of = TALLY_RANK_OF_KEY;
    int64_t limit = 100;
    const char *after = NULL;
    tally_period p;
    tally_range range;
    opt opts[] = { OPT_CHOICE("--of", &of, ofs),
                   OPT_PERIOD("--period", &p, TALLY_TOTAL, TALLY_DAY),
                   RANGE_OPTS(range),
                   OPT_COUNT("--limit", &limit, 1, TALLY_ACTIVE_MAX),
                   OPT_TEXT("--after", &after),
                   OPT_END };
    int code = parse("active", argc, argv, &c, opts, usage_active);
    if (code) return code < 0 ? EXIT_OK_ : code;
    char when[24];
    int ranged = range_of("active", opts, &range, when);
    if (ranged < 0) return EXIT_USAGE;
    tally *t;
    if ((code = cli_open("active", &c, &t))) return code;
    if (!cli_given(opts, "--period")) tally_period_parse(t, "today", &p); /* the handle's timezone */
    tally_rank *r;
    size_t count;
    int more;
    int rc = ranged ? tally_active_range(t, of, &range, after, (size_t)limit, &r, &count, &more)
                    : tally_active(t, of, &p, after, (size_t)limit, &r, &count, &more);
    if (rc != TALLY_OK) {
        code = cli_fail("active", t, rc);
    } else if (c.json) {
        json_out j;
        json_begin(&j, stdout);
        json_object(&j, NULL);
        json_array(&j, "active");
        for (size_t i = 0; i < count; i++) {
            json_object(&j, NULL);
            json_str(&j, ofs[of], r[i].key);
            json_int(&j, "requests", r[i].value);
            json_close(&j);
        }
        json_close(&j);
        if (more) json_str(&j, "next", r[count - 1].key);
        else json_null(&j, "next");
        json_close(&j);
    } else {
        printf("%-40s %s\n", ofs[of], "requests");
        for (size_t i = 0; i < count; i++) printf("%-40s %lld\n", r[i].key, (long long)r[i].value);
        if (more) fprintf(stderr, "more: --after %s\n", r[count - 1].key);
    }
    tally_top_free(r, count);
    tally_close(t);
    return code;
}
