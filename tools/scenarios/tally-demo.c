/* tally-demo.c -- the seed's statistics scenarios, run through libtally: how a C
 * program embeds the library. Each scenario prints the numbers the seed prints;
 * here every event is one atomic EVALSHA and money is integer nano-USD.
 *
 *   TALLY_URL=redis://127.0.0.1:6379 tally-demo
 * Keys go under a fresh prefix (tally-demo-<time>) so runs never mix; scenario 5
 * has a prefix of its own, since system metrics count every event. */
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

static void stats(const char *key, const char *period, tally_bucket *b) {
    tally_period p;
    if (tally_period_parse(t, period, &p) != TALLY_OK || tally_stats(t, TALLY_SCOPE_KEY, key, &p, b) != TALLY_OK)
        die("stats");
}

static void scenario1(void) {
    puts("=== scenario 1: basic counters ===");
    record("key_123", "claude-3-5-sonnet", 1000, 500, NULL, 0);
    record("key_123", "claude-3-5-sonnet", 2000, 800, NULL, 0);
    record("key_123", "claude-3-5-sonnet", 1500, 600, NULL, 0);
    puts("recorded: API key key_123 (3 requests)");
    tally_bucket total, today;
    stats("key_123", "total", &total);
    stats("key_123", "today", &today);
    printf("stats: {\n"
           "  \"total\": { \"requests\": %lld, \"inputTokens\": %lld, \"outputTokens\": %lld },\n"
           "  \"today\": { \"requests\": %lld, \"inputTokens\": %lld, \"outputTokens\": %lld }\n}\n",
           (long long)total.requests, (long long)total.input_tokens, (long long)total.output_tokens,
           (long long)today.requests, (long long)today.input_tokens, (long long)today.output_tokens);
}

static void scenario2(void) {
    puts("\n=== scenario 2: per-model statistics ===");
    record("key_456", "claude-3-5-sonnet", 1000, 500, NULL, 0);
    record("key_456", "claude-3-5-sonnet", 2000, 800, NULL, 0);
    record("key_456", "claude-3-opus", 3000, 1200, NULL, 0);
    tally_period p;
    tally_model_stats *m;
    size_t n = 0;
    if (tally_period_parse(t, "today", &p) != TALLY_OK || tally_models(t, "key_456", &p, &m, &n) != TALLY_OK)
        die("models");
    puts("model stats: [");
    for (size_t i = 0; i < n; i++)
        printf("  { \"model\": \"%s\", \"requests\": %lld, \"inputTokens\": %lld, \"outputTokens\": %lld }%s\n",
               m[i].model, (long long)m[i].b.requests, (long long)m[i].b.input_tokens,
               (long long)m[i].b.output_tokens, i + 1 < n ? "," : "");
    puts("]");
    tally_models_free(m, n);
}

static void scenario3(void) {
    puts("\n=== scenario 3: cost (integer nano-USD, never floats) ===");
    record("key_789", "claude-3-5-sonnet", 0, 0, "0.05", 0);
    record("key_789", "claude-3-5-sonnet", 0, 0, "0.12", 0);
    record("key_789", "claude-3-5-sonnet", 0, 0, "0.08", 0);
    tally_bucket day, total;
    stats("key_789", "today", &day);
    stats("key_789", "total", &total);
    char d[32], tt[32];
    tally_nanos_to_usd(day.cost_nanos, d, sizeof d);
    tally_nanos_to_usd(total.cost_nanos, tt, sizeof tt);
    printf("cost stats: { dailyCost: %s, totalCost: %s }  (%lld nano-USD)\n", d, tt, (long long)total.cost_nanos);
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

static void scenario5(void) {
    puts("\n=== scenario 5: real-time metrics (per-minute buckets) ===");
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
        printf("recorded minute %d: 100 requests, 50000 tokens (one pipelined batch)\n", minute + 1);
    }
    tally_bucket b;
    if (tally_metrics(t, 5, &b) != TALLY_OK) die("metrics");
    char rpm[32], tpm[32];
    per_minute(b.requests, rpm, sizeof rpm);
    per_minute(b.total_tokens, tpm, sizeof tpm);
    printf("metrics: {\n  \"window\": \"5 minutes\",\n  \"totalRequests\": %lld,\n  \"totalTokens\": %lld,\n"
           "  \"avgRequestsPerMinute\": \"%s\",\n  \"avgTokensPerMinute\": \"%s\"\n}\n",
           (long long)b.requests, (long long)b.total_tokens, rpm, tpm);
    tally_close(t);
    t = main_handle;
}

static void scenario6(void) {
    puts("\n=== scenario 6: leaderboard ===");
    static const char *const keys[] = { "key_001", "key_002", "key_003", "key_004", "key_005" };
    static const char *const costs[] = { "125.50", "89.30", "210.75", "45.20", "178.90" };
    for (int i = 0; i < 5; i++) record(keys[i], "claude-3-opus", 0, 0, costs[i], 0);
    tally_period p;
    tally_rank *r;
    size_t n = 0;
    if (tally_period_parse(t, "total", &p) != TALLY_OK || tally_top(t, TALLY_RANK_COST, &p, 3, &r, &n) != TALLY_OK)
        die("top");
    puts("cost top 3: [");
    for (size_t i = 0; i < n; i++) {
        char usd[32];
        tally_nanos_to_usd(r[i].value, usd, sizeof usd);
        printf("  { \"apiKeyId\": \"%s\", \"totalCost\": %s }%s\n", r[i].key, usd, i + 1 < n ? "," : "");
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
    scenario1();
    scenario2();
    scenario3();
    scenario5();
    scenario6();
    tally_close(t);
    return 0;
}
