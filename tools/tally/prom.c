/* prom.c -- the statistics in Prometheus's text exposition format: requests,
 * tokens by kind and cost in USD since the statistics began, global, per model,
 * per account (named, or the top accounts) and per top API key, read through
 * the public API (tally_stats, tally_models, tally_top, tally_top_of) for the
 * period "total".
 *
 * Every statistic is a monotonic counter with one series per entity: the day
 * and month buckets restart at each boundary, so they are not exported;
 * Prometheus derives any window from the counters (increase(...[1d])), and the
 * calendar periods in tally's timezone stay with `tally stats --period`.
 *
 * Cost is the one float: the exact nano-USD count written in decimal, which
 * Prometheus keeps as a float64, within half a cent up to 2^46 USD (7e13); the
 * exact integer stays with `tally stats --json` (cost_nanos).
 *
 * Cardinality is bounded on purpose: every series costs Prometheus memory for as
 * long as it is kept, and API keys and accounts are unbounded, so only the top
 * N keys and accounts by cost appear (and the accounts the operator names);
 * models are few by nature. */
#include "prom.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Everything one exposition shows, read before anything is written. */
typedef struct {
    tally_bucket global;
    tally_model_stats *models;
    size_t nmodels;
    const char **account_ids; /* the named accounts, then the top ones not named */
    tally_bucket *accounts;    /* naccounts */
    size_t naccounts;
    tally_rank *top_accounts;
    size_t ntop_accounts;
    tally_rank *top;
    size_t ntop;
    tally_bucket *top_stats; /* ntop */
} snapshot;

enum { S_GLOBAL, S_MODEL, S_ACCOUNT, S_KEY, NSCOPES };
static const struct {
    const char *prefix, *label, *what;
} scopes[NSCOPES] = {
    { "tally_", NULL, "all API keys" },
    { "tally_model_", "model", "per model, all API keys" },
    { "tally_account_", "account", "per account (those given with --account, and the top accounts by cost: --top-accounts)" },
    { "tally_key_", "key", "per API key, for the top keys by cost (--top)" },
};

enum { M_REQUESTS, M_TOKENS, M_COST_USD, NMETRICS };
static const struct {
    const char *name, *help;
} metrics[NMETRICS] = {
    { "requests_total", "Requests recorded since the statistics began" },
    { "tokens_total", "Tokens recorded since the statistics began, by kind (input, output, cache_create, cache_read)" },
    { "cost_usd_total", "Cost in USD recorded since the statistics began (the exact nano-USD count in decimal)" },
};

int prom_options_set(const char *cmd, tally *t, int64_t top, int64_t top_accounts, const char *const *accounts,
                     int naccounts, prom_options *o) {
    o->top = (int)top;
    o->top_accounts = (int)top_accounts;
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
    tally_models_free(s->models, s->nmodels);
    free(s->account_ids);
    free(s->accounts);
    tally_top_free(s->top_accounts, s->ntop_accounts);
    tally_top_free(s->top, s->ntop);
    free(s->top_stats);
}

static int read_snapshot(tally *t, const prom_options *o, snapshot *s) {
    tally_period total;
    int rc = tally_period_parse(t, "total", &total);
    if (rc == TALLY_OK) rc = tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &s->global);
    if (rc == TALLY_OK) rc = tally_models(t, NULL, &total, &s->models, &s->nmodels);
    if (rc == TALLY_OK && o->top_accounts)
        rc = tally_top_of(t, TALLY_RANK_OF_ACCOUNT, TALLY_RANK_COST, &total, (size_t)o->top_accounts, &s->top_accounts,
                          &s->ntop_accounts);
    if (rc != TALLY_OK) return rc;
    size_t most = (size_t)o->naccounts + s->ntop_accounts + 1;
    s->account_ids = calloc(most, sizeof *s->account_ids);
    s->accounts = calloc(most, sizeof *s->accounts);
    if (!s->account_ids || !s->accounts) return TALLY_ENOMEM;
    for (int i = 0; i < o->naccounts; i++) s->account_ids[s->naccounts++] = o->accounts[i];
    for (size_t i = 0; i < s->ntop_accounts; i++) {
        size_t named = 0;
        while (named < (size_t)o->naccounts && strcmp(o->accounts[named], s->top_accounts[i].key) != 0) named++;
        if (named == (size_t)o->naccounts) s->account_ids[s->naccounts++] = s->top_accounts[i].key;
    }
    /* each account's all-time bucket, its a: fields summed over the shards
     * (the ranking gave its cost alone) */
    for (size_t i = 0; i < s->naccounts && rc == TALLY_OK; i++)
        rc = tally_stats(t, TALLY_SCOPE_ACCOUNT, s->account_ids[i], &total, &s->accounts[i]);
    if (rc != TALLY_OK || o->top == 0) return rc;
    if ((rc = tally_top(t, TALLY_RANK_COST, &total, (size_t)o->top, &s->top, &s->ntop)) != TALLY_OK) return rc;
    s->top_stats = calloc(s->ntop + 1, sizeof *s->top_stats);
    if (!s->top_stats) return TALLY_ENOMEM;
    for (size_t i = 0; i < s->ntop && rc == TALLY_OK; i++)
        rc = tally_stats(t, TALLY_SCOPE_KEY, s->top[i].key, &total, &s->top_stats[i]);
    return rc;
}

/* How many entities a scope has, and entity i: its bucket, and its label
 * value in *id. */
static size_t scope_count(const snapshot *s, int scope) {
    switch (scope) {
    case S_GLOBAL: return 1;
    case S_MODEL: return s->nmodels;
    case S_ACCOUNT: return s->naccounts;
    default: return s->ntop;
    }
}

static const tally_bucket *scope_at(const snapshot *s, int scope, size_t i,
                                    const char **id) {
    switch (scope) {
    case S_GLOBAL: *id = NULL; return &s->global;
    case S_MODEL: *id = s->models[i].model; return &s->models[i].b;
    case S_ACCOUNT: *id = s->account_ids[i]; return &s->accounts[i];
    default: *id = s->top[i].key; return &s->top_stats[i];
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

/* One sample: the name, then the entity's label and the kind, when there are. */
static void sample(FILE *f, int scope, int metric, const char *id, const char *kind, const char *value) {
    fprintf(f, "%s%s", scopes[scope].prefix, metrics[metric].name);
    if (id) {
        fprintf(f, "{%s=\"", scopes[scope].label);
        label_value(f, id);
        fputc('"', f);
    }
    if (kind) fprintf(f, "%skind=\"%s\"", id ? "," : "{", kind);
    fprintf(f, "%s %s\n", id || kind ? "}" : "", value);
}

static void family(FILE *f, const snapshot *s, int scope, int metric) {
    fprintf(f, "# HELP %s%s %s, %s.\n", scopes[scope].prefix, metrics[metric].name,
            metrics[metric].help, scopes[scope].what);
    fprintf(f, "# TYPE %s%s counter\n", scopes[scope].prefix, metrics[metric].name);
    static const char *const kinds[4] = { "input", "output", "cache_create", "cache_read" };
    for (size_t i = 0; i < scope_count(s, scope); i++) {
        const char *id;
        const tally_bucket *b = scope_at(s, scope, i, &id);
        char v[32];
        if (metric == M_TOKENS) {
            const int64_t counts[4] = { b->input_tokens, b->output_tokens, b->cache_create_tokens,
                                        b->cache_read_tokens };
            for (int k = 0; k < 4; k++) {
                snprintf(v, sizeof v, "%lld", (long long)counts[k]);
                sample(f, scope, metric, id, kinds[k], v);
            }
            continue;
        }
        if (metric == M_COST_USD) tally_nanos_to_usd(b->cost_nanos, v, sizeof v);
        else snprintf(v, sizeof v, "%lld", (long long)b->requests);
        sample(f, scope, metric, id, NULL, v);
    }
}

void prom_build_info(FILE *f) {
    fprintf(f, "# HELP tally_build_info The version of the tally tool that wrote this.\n"
               "# TYPE tally_build_info gauge\ntally_build_info{version=\"%s\"} 1\n", tally_version());
}

int prom_write(tally *t, const prom_options *o, FILE *f) {
    snapshot s = { 0 };
    int rc = read_snapshot(t, o, &s);
    if (rc == TALLY_OK) {
        prom_build_info(f);
        for (int scope = 0; scope < NSCOPES; scope++)
            for (int m = 0; m < NMETRICS; m++) family(f, &s, scope, m);
    }
    snapshot_free(&s);
    return rc;
}
