/* test_ranges.c -- redis: statistics over ranges of days (tally_stats_range,
 * tally_models_range, `tally stats|models --from --to`) against an oracle:
 * random events over 70 days in two timezones, every entity's day buckets
 * summed by the test for random ranges, whole months (read from month
 * buckets) included, with calls cut small and large; and the refusals: a
 * range backwards, too long, or reaching buckets no longer kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json_read.h"
#include "rec_util.h"

enum { DAYS = 76, NKEYS = 20, NACCOUNTS = 4, NMODELS = 4, NEVENTS = 3000 };
static const char *const models[NMODELS] = { "m-a", "m-b", "m-c", "m-d" };
static char keys[NKEYS][16], accounts[NACCOUNTS][16];

/* The oracle: per local day (index from base_day) and entity. */
typedef struct {
    int tz;
    const char *prefix;
    int64_t base_day; /* epoch day (local) of index 0 */
    tally_bucket key[NKEYS][DAYS], account[NACCOUNTS][DAYS], model[NMODELS][DAYS], global[DAYS];
    tally_bucket key_model[NKEYS][NMODELS][DAYS];
} oracle;

static void add(tally_bucket *b, const tally_event *e) {
    ru_add(b, e);
}

static tally_period day_of(const oracle *o, int i) {
    time_t s = (time_t)((o->base_day + i) * 86400);
    struct tm tm;
    gmtime_r(&s, &tm);
    return ru_day(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static void sum(const tally_bucket *days, int a, int b, tally_bucket *out) {
    memset(out, 0, sizeof *out);
    for (int i = a; i <= b; i++) {
        out->requests += days[i].requests;
        out->input_tokens += days[i].input_tokens;
        out->output_tokens += days[i].output_tokens;
        out->cache_create_tokens += days[i].cache_create_tokens;
        out->cache_read_tokens += days[i].cache_read_tokens;
        out->cost_nanos += days[i].cost_nanos;
    }
    out->total_tokens = out->input_tokens + out->output_tokens + out->cache_create_tokens + out->cache_read_tokens;
}

static void same(const tally_bucket *got, const tally_bucket *want, const char *what, int a, int b) {
    if (memcmp(got, want, sizeof *got) != 0)
        fail_msg("%s, days %d..%d: requests %lld (want %lld), input %lld (%lld), cost %lld (%lld)", what, a, b,
                 (long long)got->requests, (long long)want->requests, (long long)got->input_tokens,
                 (long long)want->input_tokens, (long long)got->cost_nanos, (long long)want->cost_nanos);
}

static void record_events(oracle *o, unsigned *seed) {
    tally_config cfg = ru_config(o->tz, 8);
    cfg.prefix = o->prefix;
    tally *t = th_open(&cfg);
    int64_t now = ru_now_ms();
    o->base_day = (now + o->tz * 60000LL) / DAY_MS - (DAYS - 2);
    static tally_event ev[NEVENTS];
    static tally_result res[NEVENTS];
    for (int i = 0; i < NEVENTS; i++) {
        int k = rand_r(seed) % NKEYS, m = rand_r(seed) % NMODELS, a = rand_r(seed) % (NACCOUNTS + 1);
        int64_t at = now - 60000 - (int64_t)(rand_r(seed) % 70) * DAY_MS - rand_r(seed) % DAY_MS;
        ev[i] = ru_event(keys[k], models[m], a < NACCOUNTS ? accounts[a] : NULL, rand_r(seed) % 5000,
                         rand_r(seed) % 900, rand_r(seed) % 3, rand_r(seed) % 70, rand_r(seed) % 100000, at, NULL);
        int d = (int)((at + o->tz * 60000LL) / DAY_MS - o->base_day);
        assert_true(d >= 0 && d < DAYS);
        add(&o->key[k][d], &ev[i]);
        add(&o->key_model[k][m][d], &ev[i]);
        add(&o->model[m][d], &ev[i]);
        add(&o->global[d], &ev[i]);
        if (a < NACCOUNTS) add(&o->account[a][d], &ev[i]);
    }
    assert_int_equal(tally_record_batch(t, ev, NEVENTS, res), TALLY_OK);
    for (int i = 0; i < NEVENTS; i++)
        if (res[i].code != TALLY_OK) fail_msg("event %d: %s", i, res[i].message);
    tally_close(t);
}

/* Every scope over days [a, b] through handle t equals the oracle. */
static void check_range(tally *t, const oracle *o, int a, int b, unsigned *seed) {
    tally_range r = { day_of(o, a), day_of(o, b) };
    tally_bucket got, want;
    int k = rand_r(seed) % NKEYS, ac = rand_r(seed) % NACCOUNTS, m = rand_r(seed) % NMODELS;
    assert_int_equal(tally_stats_range(t, TALLY_SCOPE_KEY, keys[k], &r, &got), TALLY_OK);
    sum(o->key[k], a, b, &want);
    same(&got, &want, keys[k], a, b);
    assert_int_equal(tally_stats_range(t, TALLY_SCOPE_ACCOUNT, accounts[ac], &r, &got), TALLY_OK);
    sum(o->account[ac], a, b, &want);
    same(&got, &want, accounts[ac], a, b);
    assert_int_equal(tally_stats_range(t, TALLY_SCOPE_MODEL, models[m], &r, &got), TALLY_OK);
    sum(o->model[m], a, b, &want);
    same(&got, &want, models[m], a, b);
    assert_int_equal(tally_stats_range(t, TALLY_SCOPE_GLOBAL, NULL, &r, &got), TALLY_OK);
    sum(o->global, a, b, &want);
    same(&got, &want, "global", a, b);
    tally_model_stats *ms;
    size_t n;
    assert_int_equal(tally_models_range(t, keys[k], &r, &ms, &n), TALLY_OK);
    size_t used = 0;
    for (int i = 0; i < NMODELS; i++) {
        sum(o->key_model[k][i], a, b, &want);
        if (!want.requests) continue;
        used++;
        size_t j = 0;
        while (j < n && strcmp(ms[j].model, models[i]) != 0) j++;
        if (j == n) fail_msg("%s days %d..%d: model %s missing", keys[k], a, b, models[i]);
        same(&ms[j].b, &want, models[i], a, b);
    }
    assert_int_equal(n, used);
    tally_models_free(ms, n);
}

static void ranges_equal_the_oracle(void **state) {
    (void)state;
    for (int i = 0; i < NKEYS; i++) snprintf(keys[i], sizeof keys[i], "key-%d", i);
    for (int i = 0; i < NACCOUNTS; i++) snprintf(accounts[i], sizeof accounts[i], "acct-%d", i);
    static oracle o[2] = { { .tz = 345, .prefix = "east" }, { .tz = -480, .prefix = "west" } };
    unsigned seed = 20261207;
    for (int z = 0; z < 2; z++) {
        record_events(&o[z], &seed);
        for (int small = 0; small < 2; small++) {
            tally_config cfg = ru_config(o[z].tz, 8);
            cfg.prefix = o[z].prefix;
            if (small) cfg.max_script_us = 100; /* many calls a range, summed on the host */
            tally *t = th_open(&cfg);
            check_range(t, &o[z], 0, DAYS - 1, &seed);           /* whole months inside */
            check_range(t, &o[z], DAYS - 2, DAYS - 2, &seed);    /* one day: today */
            for (int i = 0; i < 40; i++) {
                int a = rand_r(&seed) % DAYS, b = rand_r(&seed) % DAYS;
                check_range(t, &o[z], a < b ? a : b, a < b ? b : a, &seed);
            }
            tally_close(t);
        }
    }
    /* the tool keeps the default retention (days 32 days after the day): the
     * same span, 70 days back with a partial month, is refused, not summed
     * from what is left */
    tally_period from = day_of(&o[0], 1), to = day_of(&o[0], DAYS - 1);
    if (from.day == 1) from = day_of(&o[0], 2); /* a part of a month: its days */
    char f[24], tt[24], *err;
    tally_period_format(&from, f);
    tally_period_format(&to, tt);
    assert_int_equal(RUN(NULL, &err, "stats", "--global", "--from", f, "--to", tt, "--tz", "+05:45", "--prefix", "east",
                         "--url", th_url()),
                     2);
    th_assert_mentions(err, "day bucket is gone");
    free(err);
}

/* `stats --from --to` through the tool, over days still kept by default. */
static void the_tool_reads_ranges(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t now = ru_now_ms();
    tally_bucket want = { 0 };
    for (int d = 0; d < 10; d++) {
        tally_event e = ru_event("k", d % 2 ? "m1" : "m2", NULL, 100 + d, 1, 0, 0, 1000 + d, now - d * DAY_MS, NULL);
        RECORD(t, e);
        if (d >= 2 && d <= 6) ru_add(&want, &e);
    }
    tally_close(t);
    tally_period from = ru_period_of(TALLY_DAY, now - 6 * DAY_MS, 0), to = ru_period_of(TALLY_DAY, now - 2 * DAY_MS, 0);
    char f[24], tt[24], *out, *err;
    tally_period_format(&from, f);
    tally_period_format(&to, tt);
    assert_int_equal(RUN(&out, NULL, "stats", "--key", "k", "--from", f, "--to", tt, "--url", th_url(), "--json"), 0);
    tj *v = tj_parse(out);
    assert_non_null(v);
    assert_string_equal(tj_str(v, "from"), f);
    assert_string_equal(tj_str(v, "to"), tt);
    assert_int_equal(tj_int(v, "requests"), want.requests);
    assert_int_equal(tj_int(v, "input_tokens"), want.input_tokens);
    assert_int_equal(tj_int(v, "cost_nanos"), want.cost_nanos);
    tj_free(v);
    free(out);
    assert_int_equal(RUN(&out, NULL, "models", "--key", "k", "--from", f, "--to", "today", "--url", th_url(), "--json"), 0);
    v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(v->n, 2);
    assert_int_equal(tj_int(tj_at(v, 0), "requests") + tj_int(tj_at(v, 1), "requests"), 7); /* days 0..6 */
    tj_free(v);
    free(out);
    /* refusals: exit 2, a message naming the problem */
    static const struct { const char *from, *to, *says; } bad[] = {
        { "2026-02-30", "2026-03-01", "--from" },
        { "today", NULL, "--from and --to go together" },
        { "2030-01-02", "2030-01-01", "same or a later day" },
        { "2027-01-01", "2030-01-01", "at most 1000 days" },
        { "2020-01-01", "2020-01-31", "2020-01, whose month bucket is gone" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *argv[16] = { "stats", "--key", "k", "--url", th_url(), "--from", bad[i].from };
        int n = 7;
        if (bad[i].to) argv[n++] = "--to", argv[n++] = bad[i].to;
        argv[n] = NULL;
        assert_int_equal(th_run(argv, NULL, NULL, &err), 2);
        th_assert_mentions(err, bad[i].says);
        free(err);
    }
    assert_int_equal(RUN(NULL, &err, "stats", "--key", "k", "--period", "today", "--from", f, "--to", tt, "--url",
                         th_url()), 2);
    th_assert_mentions(err, "not both");
    free(err);
    /* a day past its retention, inside no whole month */
    from = ru_period_of(TALLY_DAY, now - 40 * DAY_MS, 0);
    tally_period_format(&from, f);
    assert_int_equal(RUN(NULL, &err, "stats", "--key", "k", "--from", f, "--to", f, "--url", th_url()), 2);
    th_assert_mentions(err, "day bucket is gone (kept 32 days");
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ranges_equal_the_oracle, th_clean),
        cmocka_unit_test_setup(the_tool_reads_ranges, th_clean),
    };
    int rc = cmocka_run_group_tests_name("ranges", tests, NULL, NULL);
    th_done();
    return rc;
}
