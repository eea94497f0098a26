/* cmd_query.c -- the read side of the tool: `tally stats`, `models`, `trend`
 * and `top` (`metrics` is in cmd_metrics.c). Human tables by default, --json
 * for programs; every command is one round trip. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char usage_stats[] =
    "usage: tally stats (--key ID | --account ID | --model NAME | --global) [--period P]\n"
    "  P: total (default), today, month, hour, day:YYYY-MM-DD, month:YYYY-MM,\n"
    "     hour:YYYY-MM-DDTHH -- in the --tz timezone (default $TALLY_TZ, else UTC)\n";
static const char usage_models[] =
    "usage: tally models [--key ID] [--period total|today|month|day:..|month:..]\n"
    "  the per-model breakdown of one key, or of all keys without --key\n";
static const char usage_trend[] =
    "usage: tally trend (--key ID | --account ID | --model NAME | --global)\n"
    "                   --by hour|day|month [--last N] [--metric tokens|requests|cost]\n"
    "  the last N buckets (default 24 hours, 30 days or 12 months), drawn as bars\n";
static const char usage_top[] =
    "usage: tally top [--by cost|tokens|requests] [--window total|today|month|day:..|month:..]\n"
    "                 [-n N]\n"
    "  API keys ranked by cost (the default), tokens or requests over the window\n"
    "  (default total), N from 1 to 1000 (default 10); equal values rank by key id\n"
    "  (byte order), so -n N is the head of any larger -n\n";
static const char common_help[] =
    "options: --url URL --tz ±HH:MM --timeout MS --prefix P --json --help\n"
    "exit: 0 ok, 2 bad usage, 3 Redis unreachable, 4 Redis error, timeout, or a sum\n"
    "      past 2^63-1 (shards, models or minutes merged)\n";

typedef struct {
    cli_common c;
    const char *key, *account, *model, *period, *by, *last, *metric, *window, *n;
    int global;
} query_opts;

static int parse(const char *cmd, int argc, char **argv, query_opts *q, const char *usage) {
    cli_opt opts[] = {
        CLI_COMMON_OPTS(q->c),
        { "--key", &q->key, 0, 0, 0, 0 }, { "--account", &q->account, 0, 0, 0, 0 },
        { "--model", &q->model, 0, 0, 0, 0 }, { "--global", 0, &q->global, 0, 0, 0 },
        { "--period", &q->period, 0, 0, 0, 0 }, { "--by", &q->by, 0, 0, 0, 0 },
        { "--last", &q->last, 0, 0, 0, 0 }, { "--metric", &q->metric, 0, 0, 0, 0 },
        { "--window", &q->window, 0, 0, 0, 0 }, { "-n", &q->n, 0, 0, 0, 0 }, { 0 },
    };
    char *pos[1];
    int npos, code = cli_parse(cmd, argc, argv, 2, opts, pos, 0, &npos);
    if (code) return code;
    if (q->c.help) {
        fputs(usage, stdout);
        fputs(common_help, stdout);
        return -1;
    }
    return 0;
}

/* Rejects options that belong to other query commands. */
static int only(const char *cmd, const query_opts *q, const char *allowed) {
    const struct { const char *name; const void *set; } all[] = {
        { "--key", q->key }, { "--account", q->account }, { "--model", q->model },
        { "--global", q->global ? "" : NULL }, { "--period", q->period }, { "--by", q->by },
        { "--last", q->last }, { "--metric", q->metric }, { "--window", q->window },
        { "-n", q->n },
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char word[16];
        snprintf(word, sizeof word, "%s ", all[i].name);
        if (all[i].set && !strstr(allowed, word))
            return cli_usage_error(cmd, "option '%s' does not apply here", all[i].name);
    }
    return 0;
}

static int scope_of(const char *cmd, const query_opts *q, int *scope, const char **id) {
    int n = !!q->key + !!q->account + !!q->model + q->global;
    if (n != 1) return cli_usage_error(cmd, "give exactly one of --key, --account, --model, --global");
    *scope = q->key ? TALLY_SCOPE_KEY : q->account ? TALLY_SCOPE_ACCOUNT : q->model ? TALLY_SCOPE_MODEL
                                                                                 : TALLY_SCOPE_GLOBAL;
    *id = q->key ? q->key : q->account ? q->account : q->model;
    return 0;
}

static void json_bucket_fields(const tally_bucket *b) {
    char usd[32];
    tally_nanos_to_usd(b->cost_nanos, usd, sizeof usd);
    printf("\"requests\":%lld,\"input_tokens\":%lld,\"output_tokens\":%lld,"
           "\"cache_create_tokens\":%lld,\"cache_read_tokens\":%lld,\"total_tokens\":%lld,"
           "\"cost\":\"%s\",\"cost_nanos\":%lld",
           (long long)b->requests, (long long)b->input_tokens, (long long)b->output_tokens,
           (long long)b->cache_create_tokens, (long long)b->cache_read_tokens,
           (long long)b->total_tokens, usd, (long long)b->cost_nanos);
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

/* Opens the handle and parses the period (default `fallback`). 0 or an exit code. */
static int open_with_period(const char *cmd, query_opts *q, const char *text, tally **t, tally_period *p) {
    int code = cli_open(cmd, &q->c, t);
    if (code) return code;
    int rc = tally_period_parse(*t, text, p);
    if (rc != TALLY_OK) {
        code = cli_fail(cmd, *t, rc);
        tally_close(*t);
    }
    return code;
}

int cmd_stats(int argc, char **argv) {
    query_opts q = { 0 };
    int code = parse("stats", argc, argv, &q, usage_stats), scope;
    const char *id;
    if (code) return code < 0 ? EXIT_OK_ : code;
    if ((code = only("stats", &q, "--key --account --model --global --period ")) ||
        (code = scope_of("stats", &q, &scope, &id)))
        return code;
    tally *t;
    tally_period p;
    if ((code = open_with_period("stats", &q, q.period ? q.period : "total", &t, &p))) return code;
    tally_bucket b;
    int rc = tally_stats(t, scope, id, &p, &b);
    if (rc != TALLY_OK) {
        code = cli_fail("stats", t, rc);
    } else {
        char when[24];
        tally_period_format(&p, when);
        static const char *const names[] = { "key", "account", "model", "global" };
        if (q.c.json) {
            printf("{\"scope\":\"%s\",", names[scope]);
            if (id) {
                printf("\"id\":");
                json_string(stdout, id, strlen(id));
                printf(",");
            }
            printf("\"period\":\"%s\",", when);
            json_bucket_fields(&b);
            printf("}\n");
        } else {
            char title[300];
            snprintf(title, sizeof title, "%s%s%.200s", names[scope], id ? " " : "", id ? id : "");
            table_header(when);
            table_row(title, &b);
        }
    }
    tally_close(t);
    return code;
}

int cmd_models(int argc, char **argv) {
    query_opts q = { 0 };
    int code = parse("models", argc, argv, &q, usage_models);
    if (code) return code < 0 ? EXIT_OK_ : code;
    if ((code = only("models", &q, "--key --period "))) return code;
    tally *t;
    tally_period p;
    if ((code = open_with_period("models", &q, q.period ? q.period : "total", &t, &p))) return code;
    tally_model_stats *m;
    size_t n;
    int rc = tally_models(t, q.key, &p, &m, &n);
    if (rc != TALLY_OK) {
        code = cli_fail("models", t, rc);
    } else if (q.c.json) {
        printf("[");
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"model\":", i ? "," : "");
            json_string(stdout, m[i].model, strlen(m[i].model));
            printf(",");
            json_bucket_fields(&m[i].b);
            printf("}");
        }
        printf("]\n");
    } else {
        table_header("model");
        for (size_t i = 0; i < n; i++) table_row(m[i].model, &m[i].b);
    }
    tally_models_free(m, n);
    tally_close(t);
    return code;
}

static int64_t metric_of(const tally_bucket *b, char metric) {
    return metric == 'r' ? b->requests : metric == 'c' ? b->cost_nanos : b->total_tokens;
}

static void draw_trend(const tally_point *pt, int n, char metric) {
    int64_t max = 0;
    for (int i = 0; i < n; i++)
        if (metric_of(&pt[i].b, metric) > max) max = metric_of(&pt[i].b, metric);
    for (int i = 0; i < n; i++) {
        char when[24], value[32];
        tally_period_format(&pt[i].period, when);
        int64_t v = metric_of(&pt[i].b, metric);
        if (metric == 'c') tally_nanos_to_usd(v, value, sizeof value);
        else snprintf(value, sizeof value, "%lld", (long long)v);
        int width = max ? (int)((double)v / (double)max * 40 + 0.5) : 0; /* display only */
        printf("%-14s %14s ", when, value);
        for (int k = 0; k < width; k++) fputs("█", stdout);
        if (v && !width) fputs("▏", stdout);
        putchar('\n');
    }
}

int cmd_trend(int argc, char **argv) {
    query_opts q = { 0 };
    int code = parse("trend", argc, argv, &q, usage_trend), scope, last, by;
    const char *id;
    if (code) return code < 0 ? EXIT_OK_ : code;
    if ((code = only("trend", &q, "--key --account --model --global --by --last --metric ")) ||
        (code = scope_of("trend", &q, &scope, &id)))
        return code;
    if (!q.by) return cli_usage_error("trend", "--by hour, day or month is required");
    if (strcmp(q.by, "hour") == 0) by = TALLY_HOUR, last = 24;
    else if (strcmp(q.by, "day") == 0) by = TALLY_DAY, last = 30;
    else if (strcmp(q.by, "month") == 0) by = TALLY_MONTH, last = 12;
    else return cli_usage_error("trend", "--by '%s' must be hour, day or month", q.by);
    if (q.last && (code = cli_number("trend", "--last", q.last, 1, 1000, &last))) return code;
    char metric = 'k';
    if (q.metric) {
        if (strcmp(q.metric, "requests") == 0) metric = 'r';
        else if (strcmp(q.metric, "cost") == 0) metric = 'c';
        else if (strcmp(q.metric, "tokens") != 0)
            return cli_usage_error("trend", "--metric '%s' must be tokens, requests or cost", q.metric);
    }
    tally *t;
    if ((code = cli_open("trend", &q.c, &t))) return code;
    tally_point *pt = malloc((size_t)last * sizeof *pt);
    int rc = pt ? tally_trend(t, scope, id, by, last, pt) : TALLY_ENOMEM;
    if (rc != TALLY_OK) {
        code = cli_fail("trend", t, rc);
    } else if (q.c.json) {
        printf("[");
        for (int i = 0; i < last; i++) {
            char when[24];
            tally_period_format(&pt[i].period, when);
            printf("%s{\"bucket\":\"%s\",", i ? "," : "", when);
            json_bucket_fields(&pt[i].b);
            printf("}");
        }
        printf("]\n");
    } else {
        draw_trend(pt, last, metric);
    }
    free(pt);
    tally_close(t);
    return code;
}

int cmd_top(int argc, char **argv) {
    query_opts q = { 0 };
    int code = parse("top", argc, argv, &q, usage_top), n = 10, by;
    if (code) return code < 0 ? EXIT_OK_ : code;
    if ((code = only("top", &q, "--by --window -n "))) return code;
    if (!q.by || strcmp(q.by, "cost") == 0) by = TALLY_RANK_COST;
    else if (strcmp(q.by, "tokens") == 0) by = TALLY_RANK_TOKENS;
    else if (strcmp(q.by, "requests") == 0) by = TALLY_RANK_REQUESTS;
    else return cli_usage_error("top", "--by '%s' must be cost, tokens or requests", q.by);
    if (q.n && (code = cli_number("top", "-n", q.n, 1, 1000, &n))) return code;
    tally *t;
    tally_period p;
    if ((code = open_with_period("top", &q, q.window ? q.window : "total", &t, &p))) return code;
    tally_rank *r;
    size_t count;
    int rc = tally_top(t, by, &p, (size_t)n, &r, &count);
    static const char *const field[] = { "cost", "total_tokens", "requests" };
    if (rc != TALLY_OK) {
        code = cli_fail("top", t, rc);
    } else {
        if (q.c.json) printf("[");
        else printf("%-5s %-40s %s\n", "rank", "key", field[by]);
        for (size_t i = 0; i < count; i++) {
            char value[32];
            if (by == TALLY_RANK_COST) tally_nanos_to_usd(r[i].value, value, sizeof value);
            else snprintf(value, sizeof value, "%lld", (long long)r[i].value);
            if (q.c.json) {
                printf("%s{\"rank\":%zu,\"key\":", i ? "," : "", i + 1);
                json_string(stdout, r[i].key, strlen(r[i].key));
                if (by == TALLY_RANK_COST)
                    printf(",\"cost\":\"%s\",\"cost_nanos\":%lld}", value, (long long)r[i].value);
                else
                    printf(",\"%s\":%s}", field[by], value);
            } else {
                printf("%-5zu %-40s %s\n", i + 1, r[i].key, value);
            }
        }
        if (q.c.json) printf("]\n");
    }
    tally_top_free(r, count);
    tally_close(t);
    return code;
}

