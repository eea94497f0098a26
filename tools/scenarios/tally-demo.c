/* tally-demo.c -- six everyday statistics jobs of an LLM API relay, run through
 * libtally: how a C program embeds the library. Each job prints its answer as
 * one line of JSON with the field names of the `tally` tool's --json output
 * (snake_case; cost as a decimal USD string beside cost_nanos), so the library
 * and the tool can be read side by side. Every event is one atomic EVALSHA and
 * money is integer nano-USD.
 *
 *   TALLY_URL=redis://127.0.0.1:6379 tally-demo
 * Keys go under a fresh prefix (tally-demo-<time>, or $TALLY_DEMO_PREFIX) so
 * runs never mix; job 5 has a prefix of its own, since the per-minute metrics
 * count every event under a prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tally.h"

static tally *t;
static tally_config cfg;

static void die(const char *what) {
    fprintf(stderr, "tally-demo: %s: %s\n", what, tally_errmsg(t));
    tally_close(t);
    exit(1);
}

static void record(const char *key, const char *model, int64_t in, int64_t out, const char *usd, int64_t at) {
    tally_event e = { 0 };
    e.key = key;
    e.model = model;
    e.input_tokens = in;
    e.output_tokens = out;
    e.at_ms = at;
    if (usd && tally_usd_to_nanos(usd, &e.cost_nanos) != TALLY_OK) die("bad amount");
    if (tally_record(t, &e, NULL) != TALLY_OK) die("record");
}

/* "cost":"0.25","cost_nanos":250000000, as the tool writes money. */
static void print_cost(int64_t nanos) {
    char usd[32];
    tally_nanos_to_usd(nanos, usd, sizeof usd);
    printf("\"cost\":\"%s\",\"cost_nanos\":%lld", usd, (long long)nanos);
}

/* A bucket's fields, in the order of `tally stats --json`. */
static void print_bucket(const tally_bucket *b) {
    printf("\"requests\":%lld,\"input_tokens\":%lld,\"output_tokens\":%lld,\"cache_create_tokens\":%lld,"
           "\"cache_read_tokens\":%lld,\"total_tokens\":%lld,",
           (long long)b->requests, (long long)b->input_tokens, (long long)b->output_tokens,
           (long long)b->cache_create_tokens, (long long)b->cache_read_tokens, (long long)b->total_tokens);
    print_cost(b->cost_nanos);
}

/* One key's bucket for a period, printed as `tally stats --key KEY --period P --json`. */
static void stats(const char *key, const char *period) {
    tally_period p;
    tally_bucket b;
    if (tally_period_parse(t, period, &p) != TALLY_OK || tally_stats(t, TALLY_SCOPE_KEY, key, &p, &b) != TALLY_OK)
        die("stats");
    char when[24];
    tally_period_format(&p, when);
    printf("{\"scope\":\"key\",\"id\":\"%s\",\"period\":\"%s\",", key, when);
    print_bucket(&b);
    puts("}");
}

static void job1(void) {
    puts("-- 1. requests and tokens per API key: 3 requests of key_123, today and in total");
    record("key_123", "claude-3-5-sonnet", 1000, 500, NULL, 0);
    record("key_123", "claude-3-5-sonnet", 2000, 800, NULL, 0);
    record("key_123", "claude-3-5-sonnet", 1500, 600, NULL, 0);
    stats("key_123", "today");
    stats("key_123", "total");
}

static void job2(void) {
    puts("\n-- 2. per model: key_456 used two models today");
    record("key_456", "claude-3-5-sonnet", 1000, 500, NULL, 0);
    record("key_456", "claude-3-5-sonnet", 2000, 800, NULL, 0);
    record("key_456", "claude-3-opus", 3000, 1200, NULL, 0);
    tally_period p;
    tally_model_stats *m;
    size_t n = 0;
    if (tally_period_parse(t, "today", &p) != TALLY_OK || tally_models(t, "key_456", &p, &m, &n) != TALLY_OK)
        die("models");
    putchar('[');
    for (size_t i = 0; i < n; i++) {
        printf("%s{\"model\":\"%s\",", i ? "," : "", m[i].model);
        print_bucket(&m[i].b);
        putchar('}');
    }
    puts("]");
    tally_models_free(m, n);
}

static void job3(void) {
    puts("\n-- 3. cost: key_789 spent $0.05 + $0.12 + $0.08 (integer nano-USD, never floats)");
    record("key_789", "claude-3-5-sonnet", 0, 0, "0.05", 0);
    record("key_789", "claude-3-5-sonnet", 0, 0, "0.12", 0);
    record("key_789", "claude-3-5-sonnet", 0, 0, "0.08", 0);
    stats("key_789", "today");
    stats("key_789", "total");
}

static void job4(void) {
    puts("\n-- 4. rate limit: at most 10 requests per 60 s for key_123; the 11th is denied");
    tally_rule rule;
    char err[128];
    if (tally_rule_parse("10/60s", 6, &rule, err, sizeof err) != TALLY_OK) {
        fprintf(stderr, "tally-demo: rule: %s\n", err);
        exit(1);
    }
    for (int i = 0; i < 11; i++) {
        tally_decision d;
        int rc = tally_allow(t, "key_123", &rule, 1, NULL, &d);
        if (rc != TALLY_OK) die("allow");
        printf("{\"allowed\":%s,\"limit\":%lld,\"remaining\":%lld,\"retry_after_ms\":%lld,\"reset_after_ms\":%lld,",
               d.allowed ? "true" : "false", (long long)d.limit, (long long)d.remaining,
               (long long)d.retry_after_ms, (long long)d.reset_after_ms);
        if (d.denied_by < 0) puts("\"denied_by\":null}");
        else printf("\"denied_by\":%d}\n", d.denied_by + 1); /* rules numbered from 1, as the tool does */
    }
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* v / 5 with two decimals, in integers. */
static void per_minute(int64_t v, char *buf, size_t n) {
    snprintf(buf, n, "%lld.%02lld", (long long)(v / 5), (long long)(v * 100 / 5 % 100));
}

static void job5(void) {
    puts("\n-- 5. real-time metrics: 100 requests a minute for 5 minutes, then the last 5 minutes' rates");
    tally *main_handle = t;
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%.50s-metrics", cfg.prefix);
    tally_config own = cfg;
    own.prefix = prefix;
    if (tally_open(&own, &t) != TALLY_OK) die("connect");
    /* Stay clear of a minute boundary so "the last 5 minutes" covers what we write. */
    while (now_ms() % 60000 > 57000) {
        struct timespec ts = { 0, 200000000 };
        nanosleep(&ts, NULL);
    }
    int64_t now = now_ms();
    tally_event ev[100];
    tally_result res[100];
    for (int minute = 0; minute < 5; minute++) {
        for (int i = 0; i < 100; i++)
            ev[i] = (tally_event){ .key = "key_metrics", .model = "claude-3-5-sonnet", .input_tokens = 300,
                                   .output_tokens = 200, .at_ms = now - (4 - minute) * 60000LL };
        if (tally_record_batch(t, ev, 100, res) != TALLY_OK) die("record batch");
    }
    tally_bucket b;
    if (tally_metrics(t, 5, &b) != TALLY_OK) die("metrics");
    char rpm[32], tpm[32];
    per_minute(b.requests, rpm, sizeof rpm);
    per_minute(b.total_tokens, tpm, sizeof tpm);
    printf("{\"minutes\":5,\"requests\":%lld,\"total_tokens\":%lld,\"rpm\":%s,\"tpm\":%s}\n", (long long)b.requests,
           (long long)b.total_tokens, rpm, tpm);
    tally_close(t);
    t = main_handle;
}

static void job6(void) {
    puts("\n-- 6. leaderboard: the 3 API keys that cost the most, of 5");
    static const char *const keys[] = { "key_001", "key_002", "key_003", "key_004", "key_005" };
    static const char *const costs[] = { "125.50", "89.30", "210.75", "45.20", "178.90" };
    for (int i = 0; i < 5; i++) record(keys[i], "claude-3-opus", 0, 0, costs[i], 0);
    tally_period p;
    tally_rank *r;
    size_t n = 0;
    if (tally_period_parse(t, "total", &p) != TALLY_OK || tally_top(t, TALLY_RANK_COST, &p, 3, &r, &n) != TALLY_OK)
        die("top");
    putchar('[');
    for (size_t i = 0; i < n; i++) {
        printf("%s{\"rank\":%zu,\"key\":\"%s\",", i ? "," : "", i + 1, r[i].key);
        print_cost(r[i].value);
        putchar('}');
    }
    puts("]");
    tally_top_free(r, n);
}

int main(void) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "tally-demo-%lld", (long long)now_ms());
    tally_config_init(&cfg);
    cfg.prefix = getenv("TALLY_DEMO_PREFIX") ? getenv("TALLY_DEMO_PREFIX") : prefix;
    if (tally_open(&cfg, &t) != TALLY_OK) die("connect");
    printf("(keys under the prefix '%s')\n\n", cfg.prefix);
    job1();
    job2();
    job3();
    job4();
    job5();
    job6();
    tally_close(t);
    return 0;
}
