/* test_ranges.c -- redis: statistics over ranges of days (tally_stats_range,
 * tally_models_range, `tally stats|models --from --to`), rankings of keys,
 * accounts and models over periods and ranges (tally_top_of, tally_top_range,
 * `tally top --of --from --to`) and the keys, accounts and models active in
 * them, page by page (tally_active, tally_active_range, `tally active`), and
 * grouped reports by key, account and model (tally_report, `tally report`,
 * CSV read back by Python's csv module) against an oracle:
 * random events over 70 days (200 keys, 20 accounts, 5 models) in two
 * timezones, every entity's day buckets summed by the test for random ranges,
 * whole months (read from month buckets) included, with calls cut small and
 * large; the refusals: a range backwards, too long, or reaching buckets no
 * longer kept; and accounts on a prefix recorded before their buckets
 * existed, refused before the day they begin; and the breakdowns of shard
 * hashes of hundreds of accounts each read in HSCAN pages: 2,000 accounts in
 * a day, exact by account and by model, in many calls under a small
 * max_script_us (INFO commandstats counts them) and in few under the default,
 * and exact while another client grows and shrinks those hashes between the
 * pages (fields of another kind: a field a resized hash returns again is
 * counted once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "json_read.h"
#include "rec_util.h"

enum { DAYS = 76, NKEYS = 200, NACCOUNTS = 20, NMODELS = 5, NEVENTS = 6000 };
static const char *const models[NMODELS] = { "m-a", "m-b", "m-c", "m-d", "m-e" };
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

/* One oracle entry of a ranking or list: a name and its value. */
typedef struct {
    const char *name;
    int64_t value;
} want_row;

static int64_t metric(const tally_bucket *b, int by) {
    return by == TALLY_RANK_COST ? b->cost_nanos : by == TALLY_RANK_TOKENS ? b->total_tokens : b->requests;
}

static int by_value_then_name(const void *x, const void *y) {
    const want_row *a = x, *b = y;
    if (a->value != b->value) return a->value < b->value ? 1 : -1;
    return strcmp(a->name, b->name);
}

static int by_name_only(const void *x, const void *y) {
    return strcmp(((const want_row *)x)->name, ((const want_row *)y)->name);
}

/* The number of groups of `of` (TALLY_RANK_OF_*). */
static int group_count(int of) {
    return of == TALLY_RANK_OF_KEY ? NKEYS : of == TALLY_RANK_OF_ACCOUNT ? NACCOUNTS : NMODELS;
}

/* Group i of `of`: its day buckets in the oracle, its name into *name. */
static const tally_bucket *group(const oracle *o, int of, int i, const char **name) {
    if (of == TALLY_RANK_OF_KEY) return *name = keys[i], o->key[i];
    if (of == TALLY_RANK_OF_ACCOUNT) return *name = accounts[i], o->account[i];
    return *name = models[i], o->model[i];
}

static const char *const of_name[] = { "keys", "models", "accounts" };

/* The oracle's rows of `of` over days [a, b], valued by `by`: the names with a
 * request in the range (the keys, models and accounts with buckets). */
static size_t want_rows(const oracle *o, int of, int by, int a, int b, want_row *rows) {
    size_t n = 0;
    const char *name;
    for (int i = 0; i < group_count(of); i++) {
        tally_bucket s;
        sum(group(o, of, i, &name), a, b, &s);
        if (s.requests) rows[n++] = (want_row){ name, metric(&s, by) };
    }
    return n;
}

static void same_rows(const tally_rank *got, size_t ngot, const want_row *want, size_t nwant, const char *what, int a,
                      int b) {
    if (ngot != nwant) fail_msg("%s, days %d..%d: %zu rows, want %zu", what, a, b, ngot, nwant);
    for (size_t i = 0; i < ngot; i++)
        if (strcmp(got[i].key, want[i].name) != 0 || got[i].value != want[i].value)
            fail_msg("%s, days %d..%d, row %zu: %s %lld, want %s %lld", what, a, b, i, got[i].key,
                     (long long)got[i].value, want[i].name, (long long)want[i].value);
}

/* Rankings of keys, models and accounts over days [a, b] (ties by name), the
 * whole list and a random head, equal the oracle's. */
static void check_top(tally *t, const oracle *o, int a, int b, unsigned *seed) {
    tally_range r = { day_of(o, a), day_of(o, b) };
    for (int of = TALLY_RANK_OF_KEY; of <= TALLY_RANK_OF_ACCOUNT; of++)
        for (int by = TALLY_RANK_COST; by <= TALLY_RANK_REQUESTS; by++) {
            want_row want[NKEYS];
            size_t nw = want_rows(o, of, by, a, b, want), n = 1 + (size_t)rand_r(seed) % (nw + 1), got_n;
            qsort(want, nw, sizeof *want, by_value_then_name);
            tally_rank *got;
            assert_int_equal(tally_top_range(t, of, by, &r, TALLY_TOP_MAX, &got, &got_n), TALLY_OK);
            same_rows(got, got_n, want, nw, of_name[of], a, b);
            tally_top_free(got, got_n);
            assert_int_equal(tally_top_range(t, of, by, &r, n, &got, &got_n), TALLY_OK);
            same_rows(got, got_n, want, nw < n ? nw : n, "a head of top", a, b);
            tally_top_free(got, got_n);
        }
}

/* Pages of `limit` names; every name of the list exactly once, in order. */
static void check_pages(tally *t, int of, const tally_period *p, const tally_range *r, const want_row *want,
                        size_t nw, size_t limit, int a, int b) {
    char after[64] = "";
    size_t seen = 0;
    for (int more = 1; more;) {
        tally_rank *got;
        size_t n;
        int rc = r ? tally_active_range(t, of, r, seen ? after : NULL, limit, &got, &n, &more)
                   : tally_active(t, of, p, seen ? after : NULL, limit, &got, &n, &more);
        assert_int_equal(rc, TALLY_OK);
        if (seen + n > nw || (more && n != limit)) fail_msg("days %d..%d: page after %zu of %zu: %zu", a, b, seen, nw, n);
        same_rows(got, n, want + seen, n, "active", a, b);
        seen += n;
        if (n) snprintf(after, sizeof after, "%s", got[n - 1].key);
        tally_top_free(got, n);
    }
    if (seen != nw) fail_msg("active, days %d..%d: %zu names in all, want %zu", a, b, seen, nw);
}

/* The keys, models and accounts active over days [a, b], and on day a alone,
 * page by page; the models and accounts of day a ranked by cost. */
static void check_active(tally *t, const oracle *o, int a, int b, unsigned *seed) {
    tally_range r = { day_of(o, a), day_of(o, b) };
    tally_period day = day_of(o, a);
    for (int of = TALLY_RANK_OF_KEY; of <= TALLY_RANK_OF_ACCOUNT; of++) {
        want_row want[NKEYS];
        /* pages of a few names (each page reads the period whole again: keys
         * in pages of tens, or 200 keys would take 200 reads) */
        size_t page = of == TALLY_RANK_OF_KEY ? 25 : 1;
        size_t nw = want_rows(o, of, TALLY_RANK_REQUESTS, a, b, want);
        qsort(want, nw, sizeof *want, by_name_only);
        check_pages(t, of, NULL, &r, want, nw, page + (size_t)rand_r(seed) % (7 * page), a, b);
        nw = want_rows(o, of, TALLY_RANK_REQUESTS, a, a, want);
        qsort(want, nw, sizeof *want, by_name_only);
        check_pages(t, of, &day, NULL, want, nw, page + (size_t)rand_r(seed) % (7 * page), a, a);
        if (of == TALLY_RANK_OF_KEY) continue; /* keys over a day: tally_top, tests/test_queries.c */
        nw = want_rows(o, of, TALLY_RANK_COST, a, a, want);
        qsort(want, nw, sizeof *want, by_value_then_name);
        tally_rank *got;
        size_t n;
        assert_int_equal(tally_top_of(t, of, TALLY_RANK_COST, &day, NKEYS, &got, &n), TALLY_OK);
        same_rows(got, n, want, nw, of_name[of], a, a);
        tally_top_free(got, n);
    }
}

/* tally_report over days [a, b] by `of`, per `per`, equals the oracle's rows:
 * groups by name, spans in time order, rows without usage left out, a total.
 * With `only` (an account's index, else -1) the report of that account alone
 * (tally_report_for), from its own buckets. */
static void check_report(tally *t, const oracle *o, int a, int b, int of, int per, int only) {
    int starts[DAYS + 1], ns = 0;
    for (int d = a; d <= b; d++) {
        tally_period p = day_of(o, d);
        if (d == a || per == TALLY_REPORT_PER_DAY || (per == TALLY_REPORT_PER_MONTH && p.day == 1)) starts[ns++] = d;
    }
    starts[ns] = b + 1;
    tally_report_row *rows;
    size_t n, at = 0;
    tally_range r = { day_of(o, a), day_of(o, b) };
    if (only < 0) assert_int_equal(tally_report(t, of, per, &r, NULL, &rows, &n), TALLY_OK);
    else assert_int_equal(tally_report_for(t, of, per, &r, TALLY_RANK_OF_ACCOUNT, accounts[only], &rows, &n), TALLY_OK);
    tally_bucket total = { 0 };
    want_row order[NKEYS];
    const tally_bucket *days[NKEYS];
    int count = group_count(of);
    for (int i = 0; i < count; i++) days[i] = group(o, of, i, &order[i].name), order[i].value = i;
    qsort(order, (size_t)count, sizeof *order, by_name_only);
    for (int g = 0; g < count; g++)
        for (int k = 0; k < ns; k++) {
            tally_bucket want;
            int i = (int)order[g].value;
            if (only >= 0 && i != only) continue;
            sum(days[i], starts[k], starts[k + 1] - 1, &want);
            if (!want.requests) continue;
            tally_bucket both[2] = { total, want };
            sum(both, 0, 1, &total);
            if (at >= n || !rows[at].group || strcmp(rows[at].group, order[g].name) != 0)
                fail_msg("report days %d..%d, row %zu: %s, want %s", a, b, at, at < n && rows[at].group ? rows[at].group : "-",
                         order[g].name);
            tally_period from = day_of(o, starts[k]), to = day_of(o, starts[k + 1] - 1);
            assert_memory_equal(&rows[at].span.from, &from, sizeof from);
            assert_memory_equal(&rows[at].span.to, &to, sizeof to);
            same(&rows[at].b, &want, order[g].name, starts[k], starts[k + 1] - 1);
            at++;
        }
    assert_int_equal(n, at + 1);
    assert_null(rows[at].group);
    same(&rows[at].b, &total, "the total row", a, b);
    tally_report_free(rows, n);
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
            check_top(t, &o[z], 0, DAYS - 1, &seed);
            check_active(t, &o[z], DAYS - 2, DAYS - 2, &seed);
            check_report(t, &o[z], 0, DAYS - 1, TALLY_RANK_OF_KEY, TALLY_REPORT_PER_MONTH, -1);
            check_report(t, &o[z], 0, DAYS - 1, TALLY_RANK_OF_MODEL, TALLY_REPORT_PER_DAY, -1);
            check_report(t, &o[z], 0, DAYS - 1, TALLY_RANK_OF_ACCOUNT, TALLY_REPORT_PER_DAY, -1);
            check_report(t, &o[z], 0, DAYS - 1, TALLY_RANK_OF_ACCOUNT, TALLY_REPORT_PER_MONTH, -1);
            for (int i = 0; i < 3; i++) {
                int a = rand_r(&seed) % DAYS, b = rand_r(&seed) % DAYS;
                check_report(t, &o[z], a < b ? a : b, a < b ? b : a, TALLY_RANK_OF_KEY, i, -1);
                check_report(t, &o[z], a < b ? a : b, a < b ? b : a, TALLY_RANK_OF_MODEL, 2 - i, -1);
                check_report(t, &o[z], a < b ? a : b, a < b ? b : a, TALLY_RANK_OF_ACCOUNT, (i + 1) % 3, -1);
            }
            for (int i = 0; i < 3; i++) { /* one account's report, from its own buckets */
                int a = rand_r(&seed) % DAYS, b = rand_r(&seed) % DAYS, ac = rand_r(&seed) % NACCOUNTS;
                check_report(t, &o[z], a < b ? a : b, a < b ? b : a, TALLY_RANK_OF_ACCOUNT, i, ac);
                check_report(t, &o[z], 0, DAYS - 1, TALLY_RANK_OF_ACCOUNT, i, ac);
            }
            for (int i = 0; i < (small ? 8 : 20); i++) { /* small calls: many of them, slower */
                int a = rand_r(&seed) % DAYS, b = rand_r(&seed) % DAYS;
                check_range(t, &o[z], a < b ? a : b, a < b ? b : a, &seed);
                check_top(t, &o[z], a < b ? a : b, a < b ? b : a, &seed);
                check_active(t, &o[z], a < b ? a : b, a < b ? b : a, &seed);
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
        tally_event e = ru_event("k", d % 2 ? "m1" : "m2", d % 2 ? "odd" : "even", 100 + d, 1, 0, 0, 1000 + d,
                                 now - d * DAY_MS, NULL);
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
    /* rankings and the active lists over the range: model m2 and account
     * "even" (days 0, 2, 4, 6) before m1 and "odd" (1, 3, 5) by cost */
    static const char *const ranked[2][3] = { { "model", "m2", "m1" }, { "account", "even", "odd" } };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(RUN(&out, NULL, "top", "--of", ranked[i][0], "--from", f, "--to", "today", "--url", th_url(),
                             "--json"), 0);
        v = tj_parse(out);
        assert_non_null(v);
        assert_int_equal(v->n, 2);
        assert_string_equal(tj_str(tj_at(v, 0), ranked[i][0]), ranked[i][1]);
        assert_int_equal(tj_int(tj_at(v, 0), "cost_nanos"), 1000 + 1002 + 1004 + 1006);
        assert_string_equal(tj_str(tj_at(v, 1), ranked[i][0]), ranked[i][2]);
        assert_int_equal(tj_int(tj_at(v, 1), "cost_nanos"), 1001 + 1003 + 1005);
        tj_free(v);
        free(out);
    }
    assert_int_equal(RUN(&out, NULL, "top", "--by", "requests", "--from", f, "--to", tt, "--url", th_url(), "--json"), 0);
    v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(v->n, 1);
    assert_string_equal(tj_str(tj_at(v, 0), "key"), "k");
    assert_int_equal(tj_int(tj_at(v, 0), "requests"), 5); /* days 2..6 */
    tj_free(v);
    free(out);
    assert_int_equal(RUN(&out, NULL, "active", "--of", "model", "--from", f, "--to", tt, "--limit", "1", "--url",
                         th_url(), "--json"), 0);
    v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(tj_get(v, "active")->n, 1);
    assert_string_equal(tj_str(tj_at(tj_get(v, "active"), 0), "model"), "m1");
    assert_string_equal(tj_str(v, "next"), "m1");
    tj_free(v);
    free(out);
    assert_int_equal(RUN(&out, &err, "active", "--of", "model", "--from", f, "--to", tt, "--limit", "1", "--after",
                         "m1", "--url", th_url()), 0);
    th_assert_mentions(out, "m2");
    assert_string_equal(err, "");
    free(out);
    free(err);
    assert_int_equal(RUN(&out, &err, "active", "--of", "model", "--from", f, "--to", tt, "--limit", "1", "--url",
                         th_url()), 0);
    th_assert_mentions(out, "m1");
    th_assert_mentions(err, "more: --after m1");
    free(out);
    free(err);
    assert_int_equal(RUN(&out, NULL, "active", "--url", th_url(), "--of", "model", "--json"), 0); /* today: day 0 */
    v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(tj_get(v, "active")->n, 1);
    assert_string_equal(tj_str(tj_at(tj_get(v, "active"), 0), "model"), "m2");
    tj_free(v);
    free(out);
    /* accounts active on days 2..6, with their requests; today's top account */
    assert_int_equal(RUN(&out, NULL, "active", "--of", "account", "--from", f, "--to", tt, "--url", th_url(), "--json"),
                     0);
    v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(tj_get(v, "active")->n, 2);
    assert_string_equal(tj_str(tj_at(tj_get(v, "active"), 0), "account"), "even");
    assert_int_equal(tj_int(tj_at(tj_get(v, "active"), 0), "requests"), 3); /* days 2, 4, 6 */
    assert_int_equal(tj_int(tj_at(tj_get(v, "active"), 1), "requests"), 2); /* days 3, 5 */
    tj_free(v);
    free(out);
    assert_int_equal(RUN(&out, NULL, "top", "--of", "account", "--window", "today", "--url", th_url(), "--json"), 0);
    v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(v->n, 1);
    assert_string_equal(tj_str(tj_at(v, 0), "account"), "even");
    tj_free(v);
    free(out);
    assert_int_equal(RUN(NULL, &err, "report", "--by", "account", "--key", "k", "--from", f, "--to", tt, "--url",
                         th_url()), 2);
    th_assert_mentions(err, "not kept per key");
    free(err);
    assert_int_equal(RUN(NULL, &err, "top", "--window", "today", "--from", f, "--to", tt, "--url", th_url()), 2);
    th_assert_mentions(err, "not both");
    free(err);
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

/* `tally report --format csv` parsed back with Python's csv module: names with
 * a comma, a quote and non-ASCII bytes come back whole, the numbers and the
 * exact decimal cost as the JSON report has them, and a total row; one
 * account's report per day (`--account`), its refusals by key, by model and
 * with --key, and an account with no data. */
static void the_report_as_csv(void **state) {
    (void)state;
    tally *t = th_open(NULL);
    int64_t now = ru_now_ms();
    static const char *const names[] = { "plain", "a,b", "say \"hi\"", "caf\xc3\xa9 \"x,y\"" };
    for (int i = 0; i < 4; i++)
        for (int d = 0; d <= i; d++) /* each key its own account, of the same name */
            RECORD(t, ru_event(names[i], "m", names[i], 10 * (i + 1), 1, 2, 3, 1000000001LL * (i + 1), now - d * DAY_MS,
                               NULL));
    tally_close(t);
    tally_period from = ru_period_of(TALLY_DAY, now - 3 * DAY_MS, 0);
    char f[24], *csv, *out, *err;
    tally_period_format(&from, f);
    assert_int_equal(RUN(&csv, NULL, "report", "--from", f, "--to", "today", "--format", "csv", "--url", th_url()), 0);
    assert_non_null(strstr(csv, "\r\n"));
    const char *py = "import csv, io, sys\n"
                     "for row in csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding='utf-8', newline='')):\n"
                     "    print('|'.join(row))\n";
    char want[2048];
    /* the JSON report of the same range: its period text, and five rows */
    assert_int_equal(RUN(&out, NULL, "report", "--from", f, "--to", "today", "--json", "--url", th_url()), 0);
    tj *v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(v->n, 5);
    const char *period = tj_str(tj_at(v, 0), "period");
    snprintf(want, sizeof want,
             "key|period|requests|input_tokens|output_tokens|cache_create_tokens|cache_read_tokens|total_tokens|cost_usd\n"
             "a,b|%s|2|40|2|4|6|52|4.000000004\n"
             "caf\xc3\xa9 \"x,y\"|%s|4|160|4|8|12|184|16.000000016\n"
             "plain|%s|1|10|1|2|3|16|1.000000001\n"
             "say \"hi\"|%s|3|90|3|6|9|108|9.000000009\n"
             "|total|10|300|10|20|30|360|30.00000003\n",
             period, period, period, period);
    tj_free(v);
    free(out);
    assert_int_equal(th_exec("python3", (const char *const[]){ "-c", py, NULL }, csv, &out, &err), 0);
    assert_string_equal(out, want);
    free(out);
    free(err);
    free(csv);
    /* by account: the same rows under the header "account" */
    assert_int_equal(RUN(&csv, NULL, "report", "--by", "account", "--from", f, "--to", "today", "--format", "csv",
                         "--url", th_url()), 0);
    assert_int_equal(th_exec("python3", (const char *const[]){ "-c", py, NULL }, csv, &out, &err), 0);
    assert_memory_equal(out, "account|", 8);
    assert_string_equal(out + 8, want + 4);
    free(out);
    free(err);
    free(csv);
    /* by model, per day, of one key */
    assert_int_equal(RUN(&out, NULL, "report", "--from", f, "--to", "today", "--by", "model", "--per", "day", "--key",
                         "say \"hi\"", "--json", "--url", th_url()), 0);
    v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(v->n, 4); /* 3 days with usage, the total */
    assert_string_equal(tj_str(tj_at(v, 0), "model"), "m");
    assert_int_equal(tj_int(tj_at(v, 3), "requests"), 3);
    tj_free(v);
    free(out);
    assert_int_equal(RUN(NULL, &err, "report", "--to", "today", "--url", th_url()), 2);
    th_assert_mentions(err, "--from DAY and --to DAY are required");
    free(err);
    /* one account per day (--by account implied), from its own buckets */
    assert_int_equal(RUN(&csv, &err, "report", "--from", f, "--to", "today", "--account", "a,b", "--per", "day",
                         "--format", "csv", "--url", th_url()), 0);
    assert_string_equal(err, "");
    free(err);
    assert_int_equal(th_exec("python3", (const char *const[]){ "-c", py, NULL }, csv, &out, &err), 0);
    char days[2][24];
    for (int d = 0; d < 2; d++) {
        tally_period p = ru_period_of(TALLY_DAY, now - (1 - d) * DAY_MS, 0);
        tally_period_format(&p, days[d]);
    }
    snprintf(want, sizeof want,
             "account|period|requests|input_tokens|output_tokens|cache_create_tokens|cache_read_tokens|total_tokens|"
             "cost_usd\n"
             "a,b|%s|1|20|1|2|3|26|2.000000002\n"
             "a,b|%s|1|20|1|2|3|26|2.000000002\n"
             "|total|2|40|2|4|6|52|4.000000004\n",
             days[0], days[1]);
    assert_string_equal(out, want);
    free(out);
    free(err);
    free(csv);
    /* an account with no data: the total row of zeros, a notice, exit 0 */
    assert_int_equal(RUN(&out, &err, "report", "--from", f, "--to", "today", "--by", "account", "--account", "nosuch",
                         "--json", "--url", th_url()), 0);
    th_assert_mentions(err, "no data for account nosuch in ");
    free(err);
    v = tj_parse(out);
    assert_non_null(v);
    assert_int_equal(v->n, 1);
    assert_int_equal(tj_int(tj_at(v, 0), "requests"), 0);
    assert_string_equal(tj_str(tj_at(v, 0), "period"), "total");
    tj_free(v);
    free(out);
    assert_int_equal(RUN(NULL, &err, "report", "--from", f, "--to", "today", "--key", "nosuch", "--url", th_url()), 0);
    th_assert_mentions(err, "no data for key nosuch in ");
    free(err);
    /* refused before connecting (an unreachable server: exit 2, not 3), nothing written */
    static const struct { const char *by, *key, *says; } bad[] = {
        { "key", NULL, "no index keeps which keys" },
        { "model", NULL, "not kept per model" },
        { NULL, "a,b", "give --key or --account, not both" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *argv[16] = { "report", "--from", f, "--to", "today", "--account", "a,b", "--url",
                                 "redis://127.0.0.1:1" };
        int n = 9;
        if (bad[i].by) argv[n++] = "--by", argv[n++] = bad[i].by;
        if (bad[i].key) argv[n++] = "--key", argv[n++] = bad[i].key;
        assert_int_equal(th_run(argv, NULL, &out, &err), 2);
        assert_string_equal(out, "");
        th_assert_mentions(err, bad[i].says);
        free(out);
        free(err);
    }
    /* and by the library, before any call */
    t = th_open(NULL);
    tally_range r = { from, ru_period_of(TALLY_DAY, now, 0) };
    tally_report_row *rows;
    size_t n;
    long long before = th_evalsha_calls();
    assert_int_equal(tally_report_for(t, TALLY_RANK_OF_KEY, TALLY_REPORT_WHOLE, &r, TALLY_RANK_OF_ACCOUNT, "a,b",
                                      &rows, &n), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "no index keeps which keys");
    assert_int_equal(tally_report_for(t, TALLY_RANK_OF_MODEL, TALLY_REPORT_WHOLE, &r, TALLY_RANK_OF_ACCOUNT, "a,b",
                                      &rows, &n), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "not kept per model");
    assert_null(rows);
    assert_int_equal(n, 0);
    assert_int_equal(th_evalsha_calls(), before);
    tally_close(t);
}

/* The keys' fields of the shards' hashes read in many pages (calls cut to
 * 100 us: HSCAN pages of about 66 fields, 8 shards' hashes of two days), with
 * tie groups larger than a page: 300 keys over yesterday and today, ranked and
 * listed exactly. */
static void keys_read_in_pages(void **state) {
    (void)state;
    enum { MANY = 300 };
    static char names[MANY][16];
    static want_row want[MANY];
    tally_config cfg = ru_config(0, 8);
    cfg.max_script_us = 100;
    tally *t = th_open(&cfg);
    int64_t now = ru_now_ms();
    if (now % DAY_MS < 3) now -= 3; /* now - e (e < 3 ms) stays today */
    static tally_event ev[MANY * 4];
    static tally_result res[MANY * 4];
    size_t ne = 0;
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "k%03d", (i * 7) % MANY);
        want[i] = (want_row){ names[i], 0 };
        for (int e = 0; e < 1 + i % 3 + i % 2; e++, want[i].value++)
            ev[ne++] = ru_event(names[i], "m", NULL, 10, 1, 0, 0, 5, e > i % 3 ? now - DAY_MS : now - e, NULL);
    }
    assert_int_equal(tally_record_batch(t, ev, ne, res), TALLY_OK);
    tally_range r = { ru_period_of(TALLY_DAY, now - DAY_MS, 0), ru_period_of(TALLY_DAY, now, 0) };
    tally_rank *got;
    size_t n;
    assert_int_equal(tally_top_range(t, TALLY_RANK_OF_KEY, TALLY_RANK_REQUESTS, &r, MANY, &got, &n), TALLY_OK);
    qsort(want, MANY, sizeof *want, by_value_then_name);
    same_rows(got, n, want, MANY, "top of 300 keys", 0, 1);
    tally_top_free(got, n);
    qsort(want, MANY, sizeof *want, by_name_only);
    check_pages(t, TALLY_RANK_OF_KEY, NULL, &r, want, MANY, 7, 0, 1);
    tally_close(t);
}

/* The day a tally with account buckets first wrote to a prefix it did not
 * create: "YYYYMMDD" of tomorrow (UTC) as of at_ms. */
static void day_after(int64_t at_ms, char out[40]) {
    tally_period p = ru_period_of(TALLY_DAY, at_ms + DAY_MS, 0);
    snprintf(out, 40, "%04d%02d%02d", p.year, p.month, p.day);
}

/* Accounts are listed from the shards' "a:" fields, which a tally before them
 * did not write: a prefix's first write marks every day ("0"); the first
 * write to a prefix written before marks the next day, and account rankings,
 * lists and reports reaching before it are refused naming it, while keys and
 * models answer as before; a prefix no such tally wrote refuses them all. */
static void accounts_before_their_buckets_are_refused(void **state) {
    (void)state;
    tally_config cfg = ru_config(0, 8);
    tally *t = th_open(&cfg);
    int64_t now = ru_now_ms();
    RECORD(t, ru_event("k", "m", "acct", 10, 1, 0, 0, 5, now, NULL));
    tally_close(t);
    redisReply *r = th_cmd("GET tally:v3:{c:schema}:A"), *params = th_cmd("GET tally:v3:{c:schema}:S");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "0");
    freeReplyObject(r);
    assert_int_equal(params->type, REDIS_REPLY_STRING);

    /* "old": written before (its parameters stored, no account marker) */
    freeReplyObject(th_cmd("SET old:v3:{c:schema}:S %s", params->str));
    freeReplyObject(th_cmd("SET older:v3:{c:schema}:S %s", params->str));
    freeReplyObject(params);
    cfg.prefix = "old";
    t = th_open(&cfg);
    now = ru_now_ms();
    RECORD(t, ru_event("k", "m", "acct", 10, 1, 0, 0, 5, now, NULL));
    char before[40], after[40], day[16];
    day_after(now, before);
    day_after(ru_now_ms(), after);
    r = th_cmd("GET old:v3:{c:schema}:A");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    if (strcmp(r->str, before) != 0) assert_string_equal(r->str, after);
    snprintf(day, sizeof day, "%.4s-%.2s-%.2s", r->str, r->str + 4, r->str + 6);
    freeReplyObject(r);
    tally_period today = ru_period_of(TALLY_DAY, now, 0), total = ru_total();
    tally_range range = { today, today };
    tally_rank *got;
    size_t n;
    int more;
    assert_int_equal(tally_top_of(t, TALLY_RANK_OF_ACCOUNT, TALLY_RANK_COST, &total, 10, &got, &n), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), day);
    th_assert_mentions(tally_errmsg(t), "the total reaches before it");
    assert_int_equal(tally_active_range(t, TALLY_RANK_OF_ACCOUNT, &range, NULL, 10, &got, &n, &more), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), day);
    tally_report_row *rows;
    assert_int_equal(tally_report(t, TALLY_RANK_OF_ACCOUNT, TALLY_REPORT_WHOLE, &range, NULL, &rows, &n), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), day);
    /* from the marked day on, and keys and models at any time, as before */
    tally_period tomorrow = ru_day(atoi(day), atoi(day + 5), atoi(day + 8));
    tally_range from_then = { tomorrow, tomorrow };
    assert_int_equal(tally_top_range(t, TALLY_RANK_OF_ACCOUNT, TALLY_RANK_COST, &from_then, 10, &got, &n), TALLY_OK);
    tally_top_free(got, n);
    assert_int_equal(tally_top_of(t, TALLY_RANK_OF_MODEL, TALLY_RANK_COST, &total, 10, &got, &n), TALLY_OK);
    assert_int_equal(n, 1);
    tally_top_free(got, n);
    assert_int_equal(tally_active(t, TALLY_RANK_OF_KEY, &today, NULL, 10, &got, &n, &more), TALLY_OK);
    assert_int_equal(n, 1);
    tally_top_free(got, n);
    tally_close(t);
    char *err;
    assert_int_equal(RUN(NULL, &err, "top", "--of", "account", "--prefix", "old", "--url", th_url()), 2);
    th_assert_mentions(err, day);
    free(err);

    /* "older": only a tally without account buckets wrote; "none": nothing */
    cfg.prefix = "older";
    t = th_open(&cfg);
    assert_int_equal(tally_active(t, TALLY_RANK_OF_ACCOUNT, &today, NULL, 10, &got, &n, &more), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "holds only data recorded by a tally without account buckets");
    tally_close(t);
    cfg.prefix = "none";
    t = th_open(&cfg);
    assert_int_equal(tally_active(t, TALLY_RANK_OF_ACCOUNT, &today, NULL, 10, &got, &n, &more), TALLY_OK);
    assert_int_equal(n, 0);
    tally_top_free(got, n);
    tally_close(t);
}

/* The fields of the shards' day hashes of day p (8 shards). */
static long long day_hash_fields(const tally_period *p) {
    long long n = 0;
    for (int s = 0; s < 8; s++)
        n += th_int("HLEN tally:v3:{s:%d}:D:%04d%02d%02d", s, p->year, p->month, p->day);
    return n;
}

/* Starts redis-cli (a child process, its own connection) toggling every
 * shard's day hash of `day` `times` times: one call adds 3,000 fields of
 * another kind ("x:") to each, the next deletes them, so that a hash read in
 * pages meanwhile is resized between its pages (HSCAN may then return a field
 * again). Each call counts itself in the key "churned". Returns its pid. */
static pid_t churn(const tally_period *day, int times) {
    static const char script[] =
        "local grow, a = redis.call('HEXISTS', KEYS[1], 'x:0') == 0, {} "
        "for i = 0, 2999 do if grow then a[#a + 1] = 'x:' .. i; a[#a + 1] = '1' else a[#a + 1] = 'x:' .. i end end "
        "for k = 1, 8 do redis.call(grow and 'HSET' or 'HDEL', KEYS[k], unpack(a)) end "
        "return redis.call('INCR', KEYS[9])";
    char hashes[8][64], rounds[16];
    for (int sh = 0; sh < 8; sh++)
        snprintf(hashes[sh], sizeof hashes[sh], "tally:v3:{s:%d}:D:%04d%02d%02d", sh, day->year, day->month, day->day);
    snprintf(rounds, sizeof rounds, "%d", times);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1);
        execlp("redis-cli", "redis-cli", "-p", getenv("TALLY_TEST_PORT"), "-r", rounds, "EVAL", script, "9", hashes[0],
               hashes[1], hashes[2], hashes[3], hashes[4], hashes[5], hashes[6], hashes[7], "churned", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The accounts of range r by tally_report: exactly want[MANY] (by name). */
static void accounts_exact(tally *t, const tally_range *r, char (*names)[16], const tally_bucket *want, size_t many) {
    tally_report_row *rows;
    size_t n;
    assert_int_equal(tally_report(t, TALLY_RANK_OF_ACCOUNT, TALLY_REPORT_WHOLE, r, NULL, &rows, &n), TALLY_OK);
    assert_int_equal(n, many + 1); /* by name, then the total */
    for (size_t i = 0; i < many; i++) {
        assert_string_equal(rows[i].group, names[i]);
        assert_memory_equal(&rows[i].b, &want[i], sizeof rows[i].b);
    }
    tally_report_free(rows, n);
}

/* A day of 2,000 accounts (one key each, ~250 accounts in each shard's day
 * hash: hashtables, not listpacks) read by account (tally_top_of, tally_report)
 * and by model (tally_models): exact against the sums of the events. With
 * max_script_us 100 (~80 fields a call) a breakdown takes many calls, each
 * looking at no more than a couple of listpacks' worth of fields on average
 * (a read of the hashes whole takes one call for the day); with the default,
 * one call holds every hash. */
static void breakdowns_of_many_accounts_in_pages(void **state) {
    (void)state;
    enum { MANY = 2000, NEV = 3000 };
    static char names[MANY][16], kname[MANY][16];
    static tally_bucket want_acct[MANY];
    static tally_event ev[NEV];
    static tally_result res[NEV];
    tally_bucket want_model[NMODELS] = { 0 };
    unsigned seed = 22;
    int64_t now = ru_now_ms();
    if (now % DAY_MS < 2000) now -= 2000; /* every event on one day */
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "acct-%04d", i);
        snprintf(kname[i], sizeof kname[i], "k-%04d", i);
    }
    for (int i = 0; i < NEV; i++) {
        int a = i < MANY ? i : rand_r(&seed) % MANY, m = rand_r(&seed) % NMODELS;
        ev[i] = ru_event(kname[a], models[m], names[a], rand_r(&seed) % 5000, rand_r(&seed) % 900, rand_r(&seed) % 3,
                         rand_r(&seed) % 70, rand_r(&seed) % 100000, now - rand_r(&seed) % 1000, NULL);
        ru_add(&want_acct[a], &ev[i]);
        ru_add(&want_model[m], &ev[i]);
    }
    tally_config cfg = ru_config(0, 8);
    tally *t = th_open(&cfg);
    assert_int_equal(tally_record_batch(t, ev, NEV, res), TALLY_OK);
    tally_close(t);
    tally_period day = ru_period_of(TALLY_DAY, now, 0);
    long long fields = day_hash_fields(&day);
    assert_true(fields > MANY);
    int64_t bound = cfg.max_script_us; /* the default */
    for (int small = 1; small >= 0; small--) {
        cfg.max_script_us = small ? 100 : bound;
        t = th_open(&cfg);
        long long before = th_evalsha_calls();
        tally_rank *top;
        size_t n;
        assert_int_equal(tally_top_of(t, TALLY_RANK_OF_ACCOUNT, TALLY_RANK_COST, &day, TALLY_TOP_MAX, &top, &n),
                         TALLY_OK);
        long long calls = th_evalsha_calls() - before;
        if (small) assert_true(calls >= fields / 256);
        else assert_true(calls <= fields * 2500 / (bound * 1000) + 1); /* 2,000 fields a call at 2.5 us */
        assert_int_equal(n, TALLY_TOP_MAX);
        for (size_t i = 0; i < n; i++) { /* the top half of the accounts, by cost */
            int a = atoi(top[i].key + 5);
            assert_string_equal(top[i].key, names[a]);
            assert_int_equal(top[i].value, want_acct[a].cost_nanos);
            if (i) assert_true(top[i].value <= top[i - 1].value);
        }
        tally_top_free(top, n);
        before = th_evalsha_calls();
        tally_model_stats *m;
        assert_int_equal(tally_models(t, NULL, &day, &m, &n), TALLY_OK);
        calls = th_evalsha_calls() - before;
        if (small) assert_true(calls >= fields / 256);
        else assert_true(calls <= fields * 2500 / (bound * 1000) + 1);
        assert_int_equal(n, NMODELS);
        for (size_t i = 0; i < n; i++) {
            int k = m[i].model[2] - 'a';
            assert_string_equal(m[i].model, models[k]);
            assert_memory_equal(&m[i].b, &want_model[k], sizeof m[i].b);
        }
        tally_models_free(m, n);
        tally_range r = { day, day };
        accounts_exact(t, &r, names, want_acct, MANY);
        if (small) { /* read again and again while the hashes are resized */
            pid_t pid = churn(&day, 400);
            assert_true(pid > 0);
            int status = 0, reads = 0;
            do {
                accounts_exact(t, &r, names, want_acct, MANY);
                reads++;
            } while (waitpid(pid, &status, WNOHANG) == 0);
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            redisReply *done = th_cmd("GET churned");
            assert_string_equal(done->str, "400"); /* every toggle ran */
            freeReplyObject(done);
            assert_int_equal(day_hash_fields(&day), fields); /* and the last one shrank them back */
            printf("# %d reads of 2,000 accounts while the hashes were resized\n", reads);
        }
        tally_close(t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ranges_equal_the_oracle, th_clean),
        cmocka_unit_test_setup(the_tool_reads_ranges, th_clean),
        cmocka_unit_test_setup(keys_read_in_pages, th_clean),
        cmocka_unit_test_setup(the_report_as_csv, th_clean),
        cmocka_unit_test_setup(accounts_before_their_buckets_are_refused, th_clean),
        cmocka_unit_test_setup(breakdowns_of_many_accounts_in_pages, th_clean),
    };
    int rc = cmocka_run_group_tests_name("ranges", tests, NULL, NULL);
    th_done();
    return rc;
}
