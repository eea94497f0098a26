/* prom.c -- the statistics in Prometheus's text exposition format: global, per
 * model, per account and per top API key, for today, this month and all time,
 * read through the public API (tally_stats, tally_models, tally_top).
 *
 * Cardinality is bounded on purpose: every series costs Prometheus memory for as
 * long as it is kept, and API keys are unbounded, so only the top N keys by cost
 * of each period appear; accounts are the ones the operator names; models are
 * few by nature. */
#include "prom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { PERIODS = 3 };
static const char *const period_text[PERIODS] = { "today", "month", "total" };
static const char *const period_label[PERIODS] = { "day", "month", "total" };

/* Everything one exposition shows, read before anything is written. */
typedef struct {
    tally_bucket global[PERIODS];
    tally_model_stats *models[PERIODS];
    size_t nmodels[PERIODS];
    tally_bucket *accounts[PERIODS];  /* o->naccounts each */
    tally_rank *top[PERIODS];
    size_t ntop[PERIODS];
    tally_bucket *top_stats[PERIODS]; /* ntop each */
} snapshot;

enum { S_GLOBAL, S_MODEL, S_ACCOUNT, S_KEY, NSCOPES };
static const struct {
    const char *prefix, *label, *what;
} scopes[NSCOPES] = {
    { "tally_", NULL, "all API keys" },
    { "tally_model_", "model", "per model, all API keys" },
    { "tally_account_", "account", "per account (the accounts given with --account)" },
    { "tally_key_", "key", "per API key, for the top keys by cost of each period (--top)" },
};

enum { M_REQUESTS, M_TOKENS, M_COST_USD, M_COST_NANOS, NMETRICS };
static const struct {
    const char *name, *help;
} metrics[NMETRICS] = {
    { "requests_total", "Requests recorded" },
    { "tokens_total", "Tokens recorded, by kind (input, output, cache_create, cache_read)" },
    { "cost_usd_total", "Cost in USD (the exact nano-USD count written in decimal)" },
    { "cost_nanos_total", "Cost in nano-USD (1e-9 USD), exact" },
};

int prom_options_set(const char *cmd, tally *t, int64_t top, const char *const *accounts, int naccounts,
                     prom_options *o) {
    o->top = (int)top;
    o->accounts = accounts;
    o->naccounts = naccounts;
    for (int i = 0; i < naccounts; i++) {
        tally_event probe = { .key = "-", .model = "-", .account = accounts[i] };
        if (tally_event_check(t, &probe) != TALLY_OK)
            return cli_usage_error(cmd, "--account '%s': %s", accounts[i], tally_errmsg(t));
        for (int j = 0; j < i; j++)
            if (strcmp(accounts[i], accounts[j]) == 0)
                return cli_usage_error(cmd, "--account '%s' is given twice", accounts[i]);
    }
    return 0;
}

static void snapshot_free(snapshot *s) {
    for (int p = 0; p < PERIODS; p++) {
        tally_models_free(s->models[p], s->nmodels[p]);
        free(s->accounts[p]);
        tally_top_free(s->top[p], s->ntop[p]);
        free(s->top_stats[p]);
    }
}

static int read_period(tally *t, const prom_options *o, int p, snapshot *s) {
    tally_period period;
    int rc = tally_period_parse(t, period_text[p], &period);
    if (rc == TALLY_OK) rc = tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &period, &s->global[p]);
    if (rc == TALLY_OK) rc = tally_models(t, NULL, &period, &s->models[p], &s->nmodels[p]);
    if (rc != TALLY_OK) return rc;
    s->accounts[p] = calloc((size_t)o->naccounts + 1, sizeof *s->accounts[p]);
    if (!s->accounts[p]) return TALLY_ENOMEM;
    for (int i = 0; i < o->naccounts && rc == TALLY_OK; i++)
        rc = tally_stats(t, TALLY_SCOPE_ACCOUNT, o->accounts[i], &period, &s->accounts[p][i]);
    if (rc != TALLY_OK || o->top == 0) return rc;
    if ((rc = tally_top(t, TALLY_RANK_COST, &period, (size_t)o->top, &s->top[p], &s->ntop[p])) != TALLY_OK)
        return rc;
    s->top_stats[p] = calloc(s->ntop[p] + 1, sizeof *s->top_stats[p]);
    if (!s->top_stats[p]) return TALLY_ENOMEM;
    for (size_t i = 0; i < s->ntop[p] && rc == TALLY_OK; i++)
        rc = tally_stats(t, TALLY_SCOPE_KEY, s->top[p][i].key, &period, &s->top_stats[p][i]);
    return rc;
}

/* Entity i of a scope in period p: its bucket, and its label value in *id. */
static size_t scope_count(const snapshot *s, const prom_options *o, int scope, int p) {
    switch (scope) {
    case S_GLOBAL: return 1;
    case S_MODEL: return s->nmodels[p];
    case S_ACCOUNT: return (size_t)o->naccounts;
    default: return s->ntop[p];
    }
}

static const tally_bucket *scope_at(const snapshot *s, const prom_options *o, int scope, int p, size_t i,
                                    const char **id) {
    switch (scope) {
    case S_GLOBAL: *id = NULL; return &s->global[p];
    case S_MODEL: *id = s->models[p][i].model; return &s->models[p][i].b;
    case S_ACCOUNT: *id = o->accounts[i]; return &s->accounts[p][i];
    default: *id = s->top[p][i].key; return &s->top_stats[p][i];
    }
}

/* A label value: backslash, double quote and line feed escaped. */
static void label_value(FILE *f, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') fprintf(f, "\\%c", *v);
        else if (*v == '\n') fputs("\\n", f);
        else fputc(*v, f);
    }
}

static void sample(FILE *f, int scope, int metric, int p, const char *id, const char *kind, const char *value) {
    fprintf(f, "%s%s{period=\"%s\"", scopes[scope].prefix, metrics[metric].name, period_label[p]);
    if (id) {
        fprintf(f, ",%s=\"", scopes[scope].label);
        label_value(f, id);
        fputc('"', f);
    }
    if (kind) fprintf(f, ",kind=\"%s\"", kind);
    fprintf(f, "} %s\n", value);
}

static void family(FILE *f, const snapshot *s, const prom_options *o, int scope, int metric) {
    fprintf(f, "# HELP %s%s %s, %s. period: day and month are the current ones in the statistics "
               "timezone (restarting with each), total is all time.\n",
            scopes[scope].prefix, metrics[metric].name, metrics[metric].help, scopes[scope].what);
    fprintf(f, "# TYPE %s%s counter\n", scopes[scope].prefix, metrics[metric].name);
    static const char *const kinds[4] = { "input", "output", "cache_create", "cache_read" };
    for (int p = 0; p < PERIODS; p++) {
        for (size_t i = 0; i < scope_count(s, o, scope, p); i++) {
            const char *id;
            const tally_bucket *b = scope_at(s, o, scope, p, i, &id);
            char v[32];
            if (metric == M_TOKENS) {
                const int64_t counts[4] = { b->input_tokens, b->output_tokens, b->cache_create_tokens,
                                            b->cache_read_tokens };
                for (int k = 0; k < 4; k++) {
                    snprintf(v, sizeof v, "%lld", (long long)counts[k]);
                    sample(f, scope, metric, p, id, kinds[k], v);
                }
                continue;
            }
            if (metric == M_COST_USD) tally_nanos_to_usd(b->cost_nanos, v, sizeof v);
            else snprintf(v, sizeof v, "%lld", (long long)(metric == M_REQUESTS ? b->requests : b->cost_nanos));
            sample(f, scope, metric, p, id, NULL, v);
        }
    }
}

int prom_render(tally *t, const prom_options *o, char **text, size_t *len) {
    *text = NULL;
    snapshot s = { 0 };
    int rc = TALLY_OK;
    for (int p = 0; p < PERIODS && rc == TALLY_OK; p++) rc = read_period(t, o, p, &s);
    FILE *f = rc == TALLY_OK ? open_memstream(text, len) : NULL;
    if (f) {
        fprintf(f, "# HELP tally_build_info The version of the tally tool that wrote this.\n"
                   "# TYPE tally_build_info gauge\ntally_build_info{version=\"%s\"} 1\n", tally_version());
        for (int scope = 0; scope < NSCOPES; scope++)
            for (int m = 0; m < NMETRICS; m++) family(f, &s, o, scope, m);
        if (fclose(f) != 0) {
            free(*text);
            *text = NULL;
        }
    }
    if (rc == TALLY_OK && !*text) rc = TALLY_ENOMEM;
    snapshot_free(&s);
    return rc;
}
