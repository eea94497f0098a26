/* test_pricing.c -- redis: the price table stored by `tally prices load`
 * (list, show, versions, refusals that store nothing), events priced on the
 * host (the version per event and per bucket, effective-from with late
 * events, an explicit cost kept, unknown models refused with nothing written
 * unless cost 0 is opted into, the caller's own table), and an import of
 * 20,000 events through `tally record --stdin` whose summed cost equals the
 * test's own 128-bit computation from the prices as written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "json_read.h"
#include "rec_util.h"

/* USD per million tokens, as the JSON says, and the same in nano-USD: the
 * oracle below uses these integers, written by hand, not the parser. */
#define SONNET "{\"input\": \"3\", \"output\": \"15\", \"cache_create\": \"3.75\", \"cache_read\": \"0.30\"}"
#define OPUS "{\"input\": 15, \"output\": 75, \"cache_create\": 18.75, \"cache_read\": 1.5}"
#define TINY "{\"input\": \"0.0375\", \"output\": \"0.000000007\", \"cache_create\": \"1.000000001\", \"cache_read\": \"0\"}"
static const int64_t sonnet_nanos[4] = { 3000000000LL, 15000000000LL, 3750000000LL, 300000000LL };
static const int64_t opus_nanos[4] = { 15000000000LL, 75000000000LL, 18750000000LL, 1500000000LL };
static const int64_t tiny_nanos[4] = { 37500000LL, 7LL, 1000000001LL, 0 };

static char *write_file(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/tally-prices-%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int load_text(const char *json, char **out, char **err) {
    const char *path = write_file(json);
    int code = RUN(out, err, "prices", "load", path, "--url", th_url(), "--json");
    unlink(path);
    return code;
}

static int64_t load_ok(const char *json) {
    char *out;
    assert_int_equal(load_text(json, &out, NULL), 0);
    tj *j = tj_parse(out);
    assert_non_null(j);
    int64_t v = tj_int(j, "version");
    tj_free(j);
    free(out);
    return v;
}

/* The half-up cost of tokens t[4] at prices p[4] (nano-USD per Mtok). */
static int64_t oracle(const int64_t *t, const int64_t *p) {
    __int128 sum = 0;
    for (int k = 0; k < 4; k++) sum += (__int128)t[k] * p[k];
    return (int64_t)((sum * 2 + 1000000) / 2000000);
}

static void load_list_show_and_versions(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(&out, NULL, "prices", "list", "--url", th_url()), 0); /* nothing loaded yet */
    th_assert_mentions(out, "price table version 0");
    free(out);
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " SONNET ", \"opus\": " OPUS "}}"), 1);
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " SONNET "}}"), 2);
    assert_int_equal(RUN(&out, NULL, "prices", "list", "--url", th_url(), "--json"), 0);
    tj *v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(tj_int(v, "version"), 2);
    assert_int_equal(tj_get(v, "prices")->n, 1); /* a load replaces the whole table */
    assert_string_equal(tj_str(tj_at(tj_get(v, "prices"), 0), "cache_read"), "0.30");
    tj_free(v);
    free(out);
    assert_int_equal(RUN(&out, NULL, "prices", "show", "sonnet", "--url", th_url()), 0);
    th_assert_mentions(out, "3.75");
    free(out);
    assert_int_equal(RUN(NULL, &err, "prices", "show", "opus", "--url", th_url()), 1);
    th_assert_mentions(err, "opus has no price");
    free(err);
    /* a bad file: exit 2 naming model and field, nothing stored */
    th_baseline();
    assert_int_equal(load_text("{\"models\": {\"sonnet\": " SONNET ", \"bad\": {\"input\": \"-1\", \"output\": 1,"
                               " \"cache_create\": 1, \"cache_read\": 1}}}", NULL, &err), 2);
    th_assert_mentions(err, "model bad: input '-1' is negative");
    free(err);
    assert_int_equal(load_text("{\"models\": {\"fine\": {\"input\": \"0.0000000001\", \"output\": 1,"
                               " \"cache_create\": 1, \"cache_read\": 1}}}", NULL, &err), 2);
    th_assert_mentions(err, "model fine: input '0.0000000001' is finer");
    free(err);
    th_unchanged("a refused price file");
    /* the script refuses what the parser would: a table sent by hand */
    th_baseline();
    redisReply *r = th_cmd("EVALSHA %s 1 tally:v3:{p:prices}:P m 1,2,3", tally_script_find("prices")->sha1);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    th_assert_mentions(r->str, "EINVAL prices");
    freeReplyObject(r);
    th_unchanged("a refused prices.lua load");
    /* a table deleted by hand reads as none, not as a broken table: events
     * without a cost are recorded unpriced (README: do not delete it) */
    tally *t = th_open(NULL);
    assert_int_equal(tally_prices_refresh(t), TALLY_OK);
    freeReplyObject(th_cmd("DEL tally:v3:{p:prices}:P"));
    assert_int_equal(tally_prices_refresh(t), TALLY_OK);
    tally_event e = ru_event("k", "sonnet", NULL, 1, 0, 0, 0, TALLY_COST_FROM_PRICES, 0, NULL);
    tally_result res;
    assert_int_equal(tally_record_batch(t, &e, 1, &res), TALLY_OK);
    assert_int_equal(res.code, TALLY_OK);
    assert_int_equal(res.price_version, TALLY_UNPRICED);
    tally_close(t);
}

/* Issue 23: loading the same table again (a configuration-management
 * re-deploy) keeps its version and writes nothing; any change makes one. */
static void an_identical_load_keeps_its_version(void **state) {
    (void)state;
    char *out;
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " SONNET ", \"opus\": " OPUS "}}"), 1);
    th_baseline();
    assert_int_equal(load_text("{\"models\": {\"sonnet\": " SONNET ", \"opus\": " OPUS "}}", &out, NULL), 0);
    tj *j = tj_parse(out);
    assert_non_null(j);
    assert_int_equal(tj_int(j, "version"), 1);
    assert_true(tj_bool(j, "unchanged"));
    tj_free(j);
    free(out);
    /* the same table in another order of models, and without --json */
    const char *path = write_file("{\"models\": {\"opus\": " OPUS ", \"sonnet\": " SONNET "}}");
    assert_int_equal(RUN(&out, NULL, "prices", "load", path, "--url", th_url()), 0);
    unlink(path);
    assert_string_equal(out, "unchanged: the stored table has these 2 models (2 entries) already: price table "
                             "version 1 kept\n");
    free(out);
    th_unchanged("a load of the stored table");
    /* the library says which, and *version is the kept one */
    tally *t = th_open(NULL);
    tally_prices *p;
    const char *json = "{\"models\": {\"sonnet\": " SONNET "}}";
    assert_int_equal(tally_prices_parse(json, strlen(json), &p, NULL, 0), TALLY_OK);
    int64_t version = 0;
    int changed = -1;
    assert_int_equal(tally_prices_load_ex(t, p, &version, &changed), TALLY_OK); /* a model fewer: a new table */
    assert_int_equal(version, 2);
    assert_int_equal(changed, 1);
    assert_int_equal(tally_prices_load_ex(t, p, &version, &changed), TALLY_OK);
    assert_int_equal(version, 2);
    assert_int_equal(changed, 0);
    assert_int_equal(tally_prices_load(t, p, &version), TALLY_OK);
    assert_int_equal(version, 2);
    tally_prices_free(p);
    tally_close(t);
    /* one price changed, or a model more: a new version */
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " OPUS "}}"), 3);
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " OPUS ", \"opus\": " OPUS "}}"), 4);
    assert_int_equal(load_text("{\"models\": {\"sonnet\": " OPUS ", \"opus\": " OPUS "}}", &out, NULL), 0);
    j = tj_parse(out);
    assert_non_null(j);
    assert_int_equal(tj_int(j, "version"), 4);
    assert_true(tj_bool(j, "unchanged"));
    tj_free(j);
    free(out);
}

/* The bucket value of `field` in hash `key`, "" when absent. */
static void field_of(const char *key, const char *field, char *buf, size_t cap) {
    redisReply *r = th_cmd("HGET %s %s", key, field);
    snprintf(buf, cap, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

static void priced_events_count_per_version(void **state) {
    (void)state;
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " SONNET "}}"), 1);
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.prices_refresh_ms = 0; /* read the table before every priced call */
    tally *t = th_open(&cfg);
    tally_event ev[3] = {
        ru_event("k", "sonnet", NULL, 1000, 500, 0, 0, TALLY_COST_FROM_PRICES, 0, NULL), /* 0.0105 USD */
        ru_event("k", "sonnet", NULL, 7, 0, 0, 1, TALLY_COST_FROM_PRICES, 0, NULL),      /* 21000 + 300 */
        ru_event("k", "sonnet", NULL, 1000, 500, 0, 0, 4200, 0, NULL),                   /* its own cost */
    };
    tally_result res[3];
    freeReplyObject(th_cmd("CONFIG RESETSTAT"));
    assert_int_equal(tally_record_batch(t, ev, 3, res), TALLY_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(res[i].code, TALLY_OK);
    /* the call reads the table once (its version, then the table, read-only:
     * EVALSHA_RO), whatever the number of events it prices, and records in
     * one call */
    redisReply *info = th_cmd("INFO commandstats");
    assert_true(th_mentions(info->str, "cmdstat_evalsha_ro:calls=2,"));
    assert_true(th_mentions(info->str, "cmdstat_evalsha:calls=1,"));
    freeReplyObject(info);
    assert_int_equal(res[0].cost_nanos, 10500000);
    assert_int_equal(res[0].price_version, 1);
    assert_int_equal(res[1].cost_nanos, 21300);
    assert_int_equal(res[2].cost_nanos, 4200);
    assert_int_equal(res[2].price_version, -1);
    char v[128];
    field_of("tally:v3:{k:k}:t", "p:1", v, sizeof v);
    assert_string_equal(v, "2,1007,500,0,1,10521300");
    /* the key's total: its field of its shard's hash */
    EXPECT_B(GET(t, TALLY_SCOPE_KEY, "k", ru_total()), 3, 2007, 1000, 0, 1, 10525500);
    /* a new version prices the next events; both stay explainable */
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " OPUS "}}"), 2);
    assert_int_equal(tally_record_batch(t, ev, 1, res), TALLY_OK);
    assert_int_equal(res[0].price_version, 2);
    assert_int_equal(res[0].cost_nanos, 52500000); /* 0.015 + 0.0375 USD */
    field_of("tally:v3:{k:k}:t", "p:2", v, sizeof v);
    assert_string_equal(v, "1,1000,500,0,0,52500000");
    tally_period today = ru_period_of(TALLY_DAY, ru_now_ms(), 0);
    char day[64];
    snprintf(day, sizeof day, "tally:v3:{k:k}:D:%04d%02d%02d", today.year, today.month, today.day);
    field_of(day, "p:1", v, sizeof v);
    assert_string_equal(v, "2,1007,500,0,1,10521300");
    /* the per-model and key totals read as before: p: fields are no model */
    tally_model_stats *m;
    size_t n;
    tally_period total = ru_total();
    assert_int_equal(tally_models(t, "k", &total, &m, &n), TALLY_OK);
    assert_int_equal(n, 1);
    assert_int_equal(m[0].b.cost_nanos, 10525500 + 52500000);
    tally_models_free(m, n);
    assert_int_equal(tally_price_versions(t, "k", &total, &m, &n), TALLY_OK);
    assert_int_equal(n, 2); /* most expensive first */
    assert_string_equal(m[0].model, "2");
    assert_int_equal(m[0].b.cost_nanos, 52500000);
    assert_string_equal(m[1].model, "1");
    assert_int_equal(m[1].b.requests, 2);
    assert_int_equal(m[1].b.cost_nanos, 10521300);
    tally_models_free(m, n);
    tally_close(t);
    char *out;
    assert_int_equal(RUN(&out, NULL, "models", "--key", "k", "--by-price-version", "--json", "--url", th_url()), 0);
    tj *j = tj_parse(out);
    assert_non_null(j);
    assert_int_equal(j->n, 2);
    assert_int_equal(tj_int(tj_at(j, 1), "price_version"), 1);
    assert_string_equal(tj_str(tj_at(j, 1), "cost"), "0.0105213");
    tj_free(j);
    free(out);
}

static void effective_from_prices_late_events(void **state) {
    (void)state;
    int64_t now = ru_now_ms(), change = now - 2 * DAY_MS;
    char json[1024];
    snprintf(json, sizeof json, "{\"models\": {\"sonnet\": [" SONNET ", {\"from\": %lld, \"input\": 2, \"output\": 10,"
             " \"cache_create\": 2.5, \"cache_read\": 0.2}]}}", (long long)change);
    assert_int_equal(load_ok(json), 1);
    tally *t = th_open(NULL);
    tally_event ev[3] = {
        ru_event("k", "sonnet", NULL, 1000, 0, 0, 0, TALLY_COST_FROM_PRICES, change - 1, NULL),
        ru_event("k", "sonnet", NULL, 1000, 0, 0, 0, TALLY_COST_FROM_PRICES, change, NULL),
        ru_event("k", "sonnet", NULL, 1000, 0, 0, 0, TALLY_COST_FROM_PRICES, 0, NULL),
    };
    tally_result res[3];
    assert_int_equal(tally_record_batch(t, ev, 3, res), TALLY_OK);
    assert_int_equal(res[0].cost_nanos, 3000000); /* the old price: 1000 x 3 USD/Mtok */
    assert_int_equal(res[1].cost_nanos, 2000000); /* in force from `change` on */
    assert_int_equal(res[2].cost_nanos, 2000000);
    tally_close(t);
}

static void unknown_models_are_refused_unless_zero(void **state) {
    th_seed(state);
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " SONNET "}}"), 1);
    /* the refusals below are read in other timezones than the seed's: its
     * stored schema parameters go, as on a prefix nothing was recorded under */
    freeReplyObject(th_cmd("DEL tally:v3:{c:schema}:S"));
    th_baseline();
    char *out, *err;
    assert_int_equal(RUN(NULL, &err, "record", "--url", th_url(), "--key", "k", "--model", "nope", "--input", "5"), 2);
    th_assert_mentions(err, "model nope has no price");
    free(err);
    assert_int_equal(RUN_IN("{\"key\":\"k\",\"model\":\"nope\",\"input\":5}\n", &out, &err, "record", "--stdin",
                            "--url", th_url()), 2);
    th_assert_mentions(err, "line 1: model nope has no price");
    free(out);
    free(err);
    /* the event time as ISO-8601 in the handle's timezone, the epoch ms beside */
    assert_int_equal(RUN(NULL, &err, "record", "--url", th_url(), "--key", "k", "--model", "nope", "--input", "5",
                         "--at", "2026-11-26T10:00:00.250Z", "--tz", "+05:30"), 2);
    assert_string_equal(err, "tally record: model nope has no price at event time 2026-11-26T15:30:00.250+05:30 "
                             "(1795687200250 ms; price table version 1)\n");
    free(err);
    assert_int_equal(RUN(NULL, &err, "prices", "show", "nope", "--url", th_url(), "--at", "2026-11-26T10:00Z",
                         "--tz", "-03:30"), 1);
    assert_string_equal(err, "tally prices: model nope has no price at 2026-11-26T06:30:00.000-03:30 "
                             "(1795687200000 ms; price table version 1)\n");
    free(err);
    th_unchanged("events of a model without a price");
    /* the opt-in: cost 0, unpriced, counted in "p:none" */
    assert_int_equal(RUN(&out, NULL, "record", "--url", th_url(), "--key", "k", "--model", "nope", "--input", "5",
                         "--missing-price-zero", "--json"), 0);
    tj_assert_equal(out, "{\"status\":\"recorded\",\"cost\":\"0.00\",\"cost_nanos\":0,\"price_version\":null,"
                         "\"priced\":false}");
    free(out);
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.price_missing_zero = 1;
    tally *t = th_open(&cfg);
    tally_event e = ru_event("k", "nope", NULL, 5, 0, 0, 0, TALLY_COST_FROM_PRICES, 0, NULL);
    assert_int_equal(tally_record(t, &e, NULL), TALLY_OK);
    tally_close(t);
    char v[128];
    field_of("tally:v3:{k:k}:t", "m:nope", v, sizeof v);
    assert_string_equal(v, "2,10,0,0,0,0");
    field_of("tally:v3:{k:k}:t", "p:none", v, sizeof v);
    assert_string_equal(v, "2,10,0,0,0,0");
    /* the tool prints a priced event's cost and version */
    assert_int_equal(RUN(&out, NULL, "record", "--url", th_url(), "--key", "k", "--model", "sonnet", "--input", "1000",
                         "--output", "500"), 0);
    assert_string_equal(out, "recorded: cost 0.0105 USD by price table version 1\n");
    free(out);
}

/* With no price table loaded, an event without a cost is counted unpriced
 * (a fresh install counting tokens, as the seed does); once a table is
 * loaded, a model missing from it is refused again. */
static void no_table_records_unpriced(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "record", "--url", th_url(), "--key", "key_123", "--model", "claude-3-5-sonnet",
                         "--input", "1000", "--output", "500"), 0);
    assert_string_equal(out, "recorded: unpriced (no price for claude-3-5-sonnet: cost 0)\n");
    assert_string_equal(err, "");
    free(out);
    free(err);
    assert_int_equal(RUN_IN("{\"key\":\"key_123\",\"model\":\"claude-3-opus\",\"input\":7}\n"
                            "{\"key\":\"key_123\",\"model\":\"claude-3-opus\",\"input\":3,\"cost\":\"0.5\"}\n",
                            &out, NULL, "record", "--stdin", "--url", th_url(), "--json"), 0);
    tj *v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(tj_int(v, "recorded"), 2);
    assert_int_equal(tj_int(v, "unpriced"), 1);
    tj_free(v);
    free(out);
    /* the library: the outcome says unpriced, the key's buckets count it */
    tally *t = th_open(NULL);
    tally_event e = ru_event("key_123", "claude-3-5-sonnet", NULL, 10, 0, 0, 0, TALLY_COST_FROM_PRICES, 0, NULL);
    tally_result res;
    assert_int_equal(tally_record_batch(t, &e, 1, &res), TALLY_OK);
    assert_int_equal(res.code, TALLY_OK);
    assert_int_equal(res.cost_nanos, 0);
    assert_int_equal(res.price_version, TALLY_UNPRICED);
    tally_period today;
    assert_int_equal(tally_period_parse(t, "today", &today), TALLY_OK);
    tally_model_stats *m;
    size_t n;
    assert_int_equal(tally_price_versions(t, "key_123", &today, &m, &n), TALLY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].model, "none");
    assert_int_equal(m[0].b.requests, 3);
    assert_int_equal(m[0].b.input_tokens, 1017);
    assert_int_equal(m[0].b.cost_nanos, 0);
    tally_models_free(m, n);
    assert_int_equal(RUN(&out, NULL, "models", "--url", th_url(), "--key", "key_123", "--by-price-version", "--json"), 0);
    v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(v->n, 1);
    assert_int_equal(tj_int(tj_at(v, 0), "requests"), 3);
    tj_free(v);
    free(out);
    /* a loaded table: its models are priced, a model missing from it refused */
    assert_int_equal(load_ok("{\"models\": {\"claude-3-5-sonnet\": " SONNET "}}"), 1);
    assert_int_equal(tally_prices_refresh(t), TALLY_OK);
    assert_int_equal(tally_record_batch(t, &e, 1, &res), TALLY_OK);
    assert_int_equal(res.price_version, 1);
    assert_int_equal(res.cost_nanos, 30000);
    e.model = "claude-3-opus";
    assert_int_equal(tally_record_batch(t, &e, 1, &res), TALLY_OK);
    assert_int_equal(res.code, TALLY_EINVAL);
    th_assert_mentions(res.message, "model claude-3-opus has no price");
    tally_close(t);
}

/* Issue 21 item 2: a mistyped or empty file is refused (exit 2) and the
 * stored table kept, unless the operator says --allow-empty; item 3: a field
 * given twice; item 6: a price too fine says so. */
static void mistyped_files_keep_the_table(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " SONNET "}}"), 1);
    th_baseline();
    assert_int_equal(load_text("{\"version\": 2, \"models\": {\"sonnet\": " SONNET "}}", NULL, &err), 2);
    th_assert_mentions(err, "unknown top-level field \"version\"");
    free(err);
    assert_int_equal(load_text("{\"model\": {\"sonnet\": " SONNET "}}", NULL, &err), 2);
    th_assert_mentions(err, "skipped model: not a model"); /* what it skipped, and why */
    th_assert_mentions(err, "yields no model priced per token: nothing stored");
    free(err);
    assert_int_equal(load_text("{\"models\": {}}", NULL, &err), 2);
    th_assert_mentions(err, "--allow-empty");
    free(err);
    assert_int_equal(load_text("{\"models\": {\"sonnet\": {\"input\": \"3\", \"output\": \"15\", \"cache_create\": \"3.75\","
                               " \"cache_read\": \"0.30\", \"input\": \"0\"}}}", NULL, &err), 2);
    th_assert_mentions(err, "model sonnet: \"input\" is given twice");
    free(err);
    assert_int_equal(load_text("{\"models\": {\"sonnet\": {\"input\": \"3.0000000000000000000000000000000000000001\","
                               " \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}}}", NULL, &err), 2);
    th_assert_mentions(err, "is finer than 1 nano-USD per million tokens");
    free(err);
    th_unchanged("mistyped price files");
    /* said explicitly: an empty table is stored */
    const char *path = write_file("{\"models\": {}}");
    assert_int_equal(RUN(&out, NULL, "prices", "load", path, "--allow-empty", "--url", th_url()), 0);
    unlink(path);
    th_assert_mentions(out, "loaded 0 models (0 entries): price table version 2");
    free(out);
    assert_int_equal(RUN(NULL, &err, "prices", "list", "--allow-empty", "--url", th_url()), 2);
    free(err);
}

/* Issue 21 item 4: a "from" without an offset is in --tz / TALLY_TZ, as --at
 * is: with +08:00 the change at local midnight applies from local midnight. */
static void from_follows_the_timezone(void **state) {
    (void)state;
    char json[1024], day[16], before[32], from[32], after[32], *out;
    time_t local = (time_t)((ru_now_ms() - 2 * DAY_MS) / 1000 + 8 * 3600); /* two days ago, at +08:00 */
    struct tm tm;
    gmtime_r(&local, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    snprintf(from, sizeof from, "%sT00:00:00", day);
    snprintf(after, sizeof after, "%sT03:00", day); /* 19:00 the day before in UTC */
    local -= DAY_MS / 1000;
    gmtime_r(&local, &tm);
    strftime(before, sizeof before, "%Y-%m-%dT23:59", &tm);
    snprintf(json, sizeof json, "{\"models\": {\"sonnet\": [" SONNET ", {\"from\": \"%s\", \"input\": 2, \"output\": 10,"
             " \"cache_create\": 2.5, \"cache_read\": 0.2}]}}", from);
    const char *path = write_file(json);
    assert_int_equal(RUN(NULL, NULL, "prices", "load", path, "--tz", "+08:00", "--url", th_url()), 0);
    unlink(path);
    const char *at[2] = { before, after }, *want[2] = { "cost 0.003 USD", "cost 0.002 USD" };
    for (int k = 0; k < 2; k++) {
        assert_int_equal(RUN(&out, NULL, "prices", "show", "sonnet", "--at", at[k], "--tz", "+08:00", "--url", th_url(),
                             "--json"), 0);
        tj *j = tj_parse(out);
        assert_string_equal(tj_str(tj_at(tj_get(j, "prices"), 0), "input"), k ? "2.00" : "3.00");
        tj_free(j);
        free(out);
        /* 1000 input tokens at 3 or 2 USD per million */
        assert_int_equal(RUN(&out, NULL, "record", "--key", "k", "--model", "sonnet", "--input", "1000", "--at", at[k],
                             "--tz", "+08:00", "--url", th_url()), 0);
        th_assert_mentions(out, want[k]);
        free(out);
    }
}

/* Issue 21 items 2 and 5: LiteLLM's own entries (tests/data) load, the float
 * artefacts rounded, and the tool lists what it rounded and skipped, why. */
static void litellm_file_loads_and_lists_what_it_skipped(void **state) {
    (void)state;
    const char *path = getenv("TALLY_LITELLM_EXCERPT");
    char *out;
    assert_non_null(path);
    assert_int_equal(RUN(&out, NULL, "prices", "load", path, "--url", th_url(), "--json"), 0);
    tj *j = tj_parse(out);
    assert_non_null(j);
    assert_int_equal(tj_int(j, "models"), 30);
    assert_int_equal(tj_get(j, "rounded")->n, 23);
    assert_int_equal(tj_get(j, "skipped")->n, 13);
    tj_free(j);
    free(out);
    assert_int_equal(RUN(&out, NULL, "prices", "load", path, "--url", th_url()), 0);
    th_assert_mentions(out, "rounded databricks/databricks-claude-opus-4: input_cost_per_token 1.5000020000000002e-05 "
                            "rounded to 15.00002 USD per million tokens");
    th_assert_mentions(out, "skipped dall-e-3: priced per image, not per token");
    th_assert_mentions(out, "skipped dashscope/qwen-flash: priced by tiered_pricing");
    th_assert_mentions(out, "unchanged: the stored table has these 30 models (30 entries) already: price table "
                            "version 1 kept; 23 rounded, 13 skipped");
    free(out);
    /* 1,000,000 input tokens at 15.00002 USD per million; an embedding priced */
    assert_int_equal(RUN(&out, NULL, "record", "--key", "k", "--model", "databricks/databricks-claude-opus-4",
                         "--input", "1000000", "--url", th_url()), 0);
    th_assert_mentions(out, "cost 15.00002 USD");
    free(out);
    assert_int_equal(RUN(&out, NULL, "record", "--key", "k", "--model", "mistral/mistral-embed", "--input", "1000000",
                         "--url", th_url()), 0);
    th_assert_mentions(out, "cost 0.10 USD");
    free(out);
}

/* A table the caller gives: version 0, never replaced by Redis's. */
static void the_callers_table(void **state) {
    (void)state;
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " OPUS "}}"), 1);
    const char *json = "{\"models\": {\"sonnet\": " SONNET "}}";
    tally_prices *p;
    assert_int_equal(tally_prices_parse(json, strlen(json), &p, NULL, 0), TALLY_OK);
    tally *t = th_open(NULL);
    assert_int_equal(tally_set_prices(t, p), TALLY_OK);
    tally_event e = ru_event("k", "sonnet", NULL, 1000, 500, 0, 0, TALLY_COST_FROM_PRICES, 0, NULL);
    tally_result res;
    assert_int_equal(tally_record_batch(t, &e, 1, &res), TALLY_OK);
    assert_int_equal(res.cost_nanos, 10500000);
    assert_int_equal(res.price_version, 0);
    assert_int_equal(tally_set_prices(t, NULL), TALLY_OK); /* back to Redis's: opus prices */
    assert_int_equal(tally_record_batch(t, &e, 1, &res), TALLY_OK);
    assert_int_equal(res.cost_nanos, 52500000);
    assert_int_equal(res.price_version, 1);
    tally_prices *got;
    assert_int_equal(tally_prices_get(t, &got), TALLY_OK);
    assert_int_equal(tally_prices_version(got), 1);
    assert_int_equal(tally_prices_count(got), 1);
    assert_int_equal(tally_prices_at(got, 0)->cache_create, opus_nanos[2]);
    tally_prices_free(got);
    tally_close(t);
}

/* reserve estimates from tokens and model: the highest price in force (an
 * upper bound for any mix of kinds), the tier's above its threshold. */
static void reserve_estimates_from_prices(void **state) {
    (void)state;
    char *out, *err;
    /* no table: an estimate from prices cannot be made (an unpriced event
     * costs 0), so it is refused with what to do */
    assert_int_equal(RUN(NULL, &err, "reserve", "--url", th_url(), "--key", "k", "--id", "r0", "--budget",
                         "cost:1/day", "--tokens", "2000", "--model", "sonnet"), 2);
    th_assert_mentions(err, "no price table is loaded");
    free(err);
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": [{\"input\": 3, \"output\": 15, \"cache_create\": 3.75,"
                             " \"cache_read\": 0.3, \"tier_above\": 200000, \"tier\": {\"input\": 6,"
                             " \"output\": 22.5, \"cache_create\": 7.5, \"cache_read\": 0.6}}]}}"), 1);
    tally *t = th_open(NULL);
    tally_budget cap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1000000000 }; /* 1 USD */
    tally_reservation r = { "k", NULL, "r1", TALLY_COST_FROM_PRICES, 1000, 60000, "sonnet" };
    tally_budget_decision d;
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_true(d.allowed);
    assert_int_equal(d.remaining[0], 1000000000 - 15000000); /* 1000 tokens x 15 USD/Mtok */
    r.request_id = "r2";
    r.tokens = 200001; /* above the tier: 200001 x 22.5 USD/Mtok = 4.5000225 USD */
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_OK);
    assert_false(d.allowed);
    r.model = "nope";
    assert_int_equal(tally_reserve(t, &r, &cap, 1, &d), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "model nope has no price");
    tally_close(t);
    assert_int_equal(RUN(&out, NULL, "reserve", "--url", th_url(), "--key", "k", "--id", "r3", "--budget",
                         "cost:1/day", "--tokens", "2000", "--model", "sonnet"), 0);
    assert_string_equal(out, "reserved; cost:1/day left 0.955\n"); /* 1 - 0.015 - 0.03 */
    free(out);
}

/* 20,000 events, three models (one with prices that round at every event),
 * imported as NDJSON; the cost summed by the library equals the test's own
 * 128-bit sum of each event's half-up cost. */
static void import_of_20000_events_is_exact(void **state) {
    (void)state;
    assert_int_equal(load_ok("{\"models\": {\"sonnet\": " SONNET ", \"opus\": " OPUS ", \"tiny\": " TINY "}}"), 1);
    enum { N = 20000 };
    const char *models[3] = { "sonnet", "opus", "tiny" };
    const int64_t *prices[3] = { sonnet_nanos, opus_nanos, tiny_nanos };
    size_t cap = (size_t)N * 160, len = 0;
    char *input = malloc(cap);
    assert_non_null(input);
    __int128 want = 0, want_key0 = 0;
    uint64_t x = 88172645463325252ull; /* xorshift64: the same events every run */
    for (int i = 0; i < N; i++) {
        int64_t tok[4];
        for (int k = 0; k < 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            tok[k] = (int64_t)(x % (k == 1 ? 20000 : 300000));
        }
        int m = i % 3;
        int64_t cost = oracle(tok, prices[m]);
        want += cost;
        if (i % 7 == 0) want_key0 += cost;
        len += (size_t)snprintf(input + len, cap - len,
                                "{\"key\":\"key-%d\",\"model\":\"%s\",\"input\":%lld,\"output\":%lld,"
                                "\"cache_create\":%lld,\"cache_read\":%lld}\n",
                                i % 7, models[m], (long long)tok[0], (long long)tok[1], (long long)tok[2],
                                (long long)tok[3]);
    }
    char *out;
    assert_int_equal(RUN_IN(input, &out, NULL, "record", "--stdin", "--url", th_url()), 0);
    assert_string_equal(out, "recorded 20000, duplicate 0, rejected 0\n");
    free(out);
    free(input);
    tally *t = th_open(NULL);
    tally_period total = ru_total();
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &b), TALLY_OK);
    assert_int_equal(b.requests, N);
    assert_int_equal(b.cost_nanos, (int64_t)want);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "key-0", &total, &b), TALLY_OK);
    assert_int_equal(b.cost_nanos, (int64_t)want_key0);
    char v[128], w[128];
    field_of("tally:v3:{k:key-0}:t", "p:1", v, sizeof v); /* every event of the key priced by version 1 */
    snprintf(w, sizeof w, "%lld,%lld,%lld,%lld,%lld,%lld", (long long)b.requests, (long long)b.input_tokens,
             (long long)b.output_tokens, (long long)b.cache_create_tokens, (long long)b.cache_read_tokens,
             (long long)b.cost_nanos); /* the key's total, as tally_stats read it */
    assert_string_equal(v, w);
    tally_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(load_list_show_and_versions, th_clean),
        cmocka_unit_test_setup(an_identical_load_keeps_its_version, th_clean),
        cmocka_unit_test_setup(priced_events_count_per_version, th_clean),
        cmocka_unit_test_setup(effective_from_prices_late_events, th_clean),
        cmocka_unit_test_setup(unknown_models_are_refused_unless_zero, th_clean),
        cmocka_unit_test_setup(no_table_records_unpriced, th_clean),
        cmocka_unit_test_setup(mistyped_files_keep_the_table, th_clean),
        cmocka_unit_test_setup(from_follows_the_timezone, th_clean),
        cmocka_unit_test_setup(litellm_file_loads_and_lists_what_it_skipped, th_clean),
        cmocka_unit_test_setup(the_callers_table, th_clean),
        cmocka_unit_test_setup(reserve_estimates_from_prices, th_clean),
        cmocka_unit_test_setup(import_of_20000_events_is_exact, th_clean),
    };
    int rc = cmocka_run_group_tests_name("pricing", tests, NULL, NULL);
    th_done();
    return rc;
}
