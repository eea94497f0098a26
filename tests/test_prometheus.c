/* test_prometheus.c -- redis: `tally metrics --format prometheus` passes
 * Prometheus's own checker (promtool check metrics), every sample equals what
 * `tally stats --json` says for the same scope and id over all time, the series
 * are exactly the models in use, the accounts asked for and the top N keys, and
 * the counters follow Prometheus's conventions: one monotonic series per entity
 * (no period label), so sum() over the models is the global total. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "json_read.h"

static const char weird_key[] = "we\"ird\\key";

static void record(tally *t, const char *key, const char *model, const char *account, int64_t in, int64_t out,
                   const char *usd, int64_t at_ms) {
    tally_event ev = { .key = key, .model = model, .account = account, .input_tokens = in,
                       .output_tokens = out, .cache_create_tokens = 3, .cache_read_tokens = 4, .at_ms = at_ms };
    assert_int_equal(tally_usd_to_nanos(usd, &ev.cost_nanos), TALLY_OK);
    assert_int_equal(tally_record(t, &ev, NULL), TALLY_OK);
}

/* Five keys; k-old's event is 40 days old (its month is over: it counts all
 * the same). Top 3 by cost: k-old, k-gamma, weird; k-alpha and k-beta not. */
static void seed(void) {
    tally *t = th_open(NULL);
    record(t, "k-alpha", "m1", "acct-1", 10, 20, "1.5", TALLY_AT_NOW);
    record(t, "k-beta", "m2", "acct-2", 100, 0, "0.25", TALLY_AT_NOW);
    record(t, weird_key, "m1", "acct-1", 1, 0, "2.000000001", TALLY_AT_NOW);
    record(t, "k-gamma", "m2", NULL, 7, 7, "3", TALLY_AT_NOW);
    record(t, "k-old", "m3", "acct-2", 5, 5, "5", ((int64_t)time(NULL) - 40 * 86400) * 1000);
    tally_close(t);
}

static char *metrics(const char *top, const char *a1, const char *a2) {
    char *out, *err;
    int code = RUN(&out, &err, "metrics", "--url", th_url(), "--format", "prometheus", "--top", top, "--account", a1,
                   "--account", a2);
    if (code != 0) fail_msg("tally metrics --format prometheus: exit %d: %s", code, err);
    free(err);
    return out;
}

static void promtool_accepts(const char *text) {
    char *out, *err;
    int code = th_exec("promtool", (const char *const[]){ "check", "metrics", NULL }, text, &out, &err);
    if (code != 0 || *out || *err) fail_msg("promtool check metrics: exit %d: %s%s", code, out, err);
    free(out);
    free(err);
}

static void output_passes_promtool(void **state) {
    (void)state;
    seed();
    char *text = metrics("3", "acct-1", "acct-2");
    promtool_accepts(text);
    assert_non_null(strstr(text, "# TYPE tally_requests_total counter\n"));
    assert_non_null(strstr(text, "tally_key_requests_total{key=\"we\\\"ird\\\\key\"} 1\n"));
    free(text);
    /* and checks something: the same text with a sample repeated under another
     * TYPE is refused */
    char *bad = metrics("0", "acct-1", "acct-2");
    bad = realloc(bad, strlen(bad) + 64);
    strcat(bad, "# TYPE tally_requests_total gauge\n");
    char *out, *err;
    assert_int_not_equal(th_exec("promtool", (const char *const[]){ "check", "metrics", NULL }, bad, &out, &err), 0);
    free(out);
    free(err);
    free(bad);
}

/* One sample line: metric name, label values and the value as text. */
typedef struct {
    char name[64], kind[16], value[40];
    char id[300];
    int has_id;
} sample;

/* Reads a quoted label value at p (after '="'), unescaping; returns the end. */
static const char *label_value(const char *p, char *out, size_t cap) {
    size_t n = 0;
    for (; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') c = *++p == 'n' ? '\n' : *p;
        if (n + 1 < cap) out[n++] = c;
    }
    out[n] = '\0';
    return p + 1;
}

/* A sample line: NAME VALUE or NAME{LABELS} VALUE. A label other than the
 * entity's (model, account, key), kind and version is refused. */
static int parse_sample(const char *line, sample *s) {
    memset(s, 0, sizeof *s);
    size_t n = strcspn(line, "{ ");
    if (n >= sizeof s->name || !line[n]) return -1;
    memcpy(s->name, line, n);
    if (line[n] == ' ') {
        snprintf(s->value, sizeof s->value, "%s", line + n + 1);
        s->value[strcspn(s->value, "\n")] = '\0';
        return 0;
    }
    const char *p = line + n + 1;
    while (*p && *p != '}') {
        const char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"') return -1;
        char label[32], value[300];
        snprintf(label, sizeof label, "%.*s", (int)(eq - p), p);
        p = label_value(eq + 2, value, sizeof value);
        if (strcmp(label, "kind") == 0) snprintf(s->kind, sizeof s->kind, "%.15s", value);
        else if (strcmp(label, "model") == 0 || strcmp(label, "account") == 0 || strcmp(label, "key") == 0)
            s->has_id = 1, snprintf(s->id, sizeof s->id, "%s", value);
        else if (strcmp(label, "version") != 0) return -1;
        if (*p == ',') p++;
    }
    if (*p != '}' || p[1] != ' ') return -1;
    snprintf(s->value, sizeof s->value, "%s", p + 2);
    s->value[strcspn(s->value, "\n")] = '\0';
    return 0;
}

/* The JSON value of "field": in text (a number's literal, or a string). */
static void json_field(const char *json, const char *field, char *out, size_t cap) {
    tj *doc = tj_parse(json);
    const tj *v = tj_get(doc, field);
    if (!v || (v->type != TJ_NUMBER && v->type != TJ_STRING)) fail_msg("no \"%s\" in %s", field, json);
    snprintf(out, cap, "%s", v->text);
    tj_free(doc);
}

/* `tally stats` over all time for the scope the metric name says, as JSON. noinline: gcc 12
 * otherwise takes the returned buffer for this function's local pointer (a false
 * -Wdangling-pointer). */
__attribute__((noinline)) static char *stats_for(const sample *s) {
    const char *flag = strncmp(s->name, "tally_model_", 12) == 0     ? "--model"
                       : strncmp(s->name, "tally_account_", 14) == 0 ? "--account"
                       : strncmp(s->name, "tally_key_", 10) == 0     ? "--key"
                                                                     : "--global";
    const char *argv[9] = { "stats", "--url", th_url(), "--period", "total", "--json", flag };
    if (s->has_id) argv[7] = s->id;
    char *out = NULL, *err = NULL;
    int code = th_run(argv, NULL, &out, &err);
    if (code != 0) fail_msg("tally stats %s %s: exit %d: %s", flag, s->id, code, err);
    free(err);
    return out;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Compares every sample with tally stats; returns the number of samples. */
static int compare_with_stats(const char *text) {
    int n = 0;
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        if (*line != '#' && strncmp(line, "tally_build_info", 16) != 0) {
            sample s;
            if (parse_sample(line, &s) < 0) fail_msg("cannot parse sample: %.100s", line);
            char field[40], want[40];
            if (ends_with(s.name, "_requests_total")) snprintf(field, sizeof field, "requests");
            else if (ends_with(s.name, "_tokens_total")) snprintf(field, sizeof field, "%s_tokens", s.kind);
            else if (ends_with(s.name, "_cost_usd_total")) snprintf(field, sizeof field, "cost");
            else fail_msg("unexpected metric %s", s.name);
            char *json = stats_for(&s);
            json_field(json, field, want, sizeof want);
            if (strcmp(want, s.value) != 0)
                fail_msg("%s{id=%s,kind=%s} is %s, tally stats says %s", s.name, s.id, s.kind, s.value, want);
            free(json);
            n++;
        }
        if (!strchr(line, '\n')) break;
    }
    return n;
}

static void values_equal_tally_stats(void **state) {
    (void)state;
    seed();
    char *text = metrics("3", "acct-1", "acct-2");
    int n = compare_with_stats(text);
    free(text);
    /* 6 samples each (requests, 4 token kinds, cost): global, m1..m3, both
     * accounts, 3 keys */
    assert_int_equal(n, 6 * (1 + 3 + 2 + 3));
}

/* The series are the models in use, the accounts given and the top N keys by
 * cost, each once. */
static void series_are_bounded_and_unique(void **state) {
    (void)state;
    seed();
    char *text = metrics("3", "acct-1", "acct-2");
    static const char *const want[] = {
        "tally_key_requests_total{key=\"k-old\"} 1\n",
        "tally_key_requests_total{key=\"k-gamma\"} 1\n",
        "tally_key_requests_total{key=\"we\\\"ird\\\\key\"} 1\n",
        "tally_model_requests_total{model=\"m3\"} 1\n",
        "tally_account_requests_total{account=\"acct-2\"} 2\n",
        "tally_requests_total 5\n",
        "tally_cost_usd_total 11.750000001\n",
        "tally_key_cost_usd_total{key=\"we\\\"ird\\\\key\"} 2.000000001\n",
        "tally_model_tokens_total{model=\"m2\",kind=\"input\"} 107\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i])) fail_msg("missing: %s", want[i]);
    assert_null(strstr(text, "k-beta"));
    assert_null(strstr(text, "key=\"k-alpha\""));
    /* each sample line once */
    for (const char *line = text; (line = strchr(line, '\n')) && line[1]; line++) {
        size_t len = strcspn(line + 1, "\n") + 2;
        char *copy = strndup(line, len);
        assert_ptr_equal(strstr(text, copy), line);
        free(copy);
    }
    free(text);
    char *none = metrics("0", "acct-1", "acct-2");
    assert_null(strstr(none, "tally_key_requests_total{"));
    assert_non_null(strstr(none, "tally_model_requests_total{model=\"m1\"} 2\n"));
    free(none);
}

/* A sample's value in integer units: a count, or USD as nano-USD. */
static int64_t units(const sample *s) {
    int64_t v;
    if (ends_with(s->name, "_cost_usd_total")) assert_int_equal(tally_usd_to_nanos(s->value, &v), TALLY_OK);
    else v = strtoll(s->value, NULL, 10);
    return v;
}

/* Prometheus's conventions for counters: every family typed counter ends in
 * _total, has one series per entity (a label set appears once: no period
 * label that would put a day, a month and all time in one family), so sum()
 * over the models equals the global series, metric by metric and kind by
 * kind -- on main, sum(tally_requests_total) was 3 times the truth. */
static void counters_are_one_series_per_entity(void **state) {
    (void)state;
    seed();
    char *text = metrics("3", "acct-1", "acct-2");
    assert_null(strstr(text, "period"));
    static const char *const kinds[] = { "", "input", "output", "cache_create", "cache_read" };
    int64_t global[3][5] = { { 0 } }, models[3][5] = { { 0 } };
    int counters = 0;
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        char name[64], type[16];
        if (sscanf(line, "# TYPE %63s %15s", name, type) == 2 && strcmp(type, "counter") == 0) {
            if (!ends_with(name, "_total")) fail_msg("counter %s does not end in _total", name);
            counters++;
        } else if (*line != '#') {
            sample s;
            if (parse_sample(line, &s) < 0) fail_msg("cannot parse sample: %.100s", line);
            /* the name and labels of this series start no later line */
            char series[400];
            snprintf(series, sizeof series, "\n%.*s ", (int)strcspn(line, " "), line);
            if (strstr(line, series)) fail_msg("series given twice:%s", series);
            int m = ends_with(s.name, "requests_total") ? 0 : ends_with(s.name, "cost_usd_total") ? 1 : 2;
            int k = 0;
            while (k < 5 && strcmp(kinds[k], s.kind) != 0) k++;
            assert_true(k < 5);
            if (strncmp(s.name, "tally_model_", 12) == 0) models[m][k] += units(&s);
            else if (!s.has_id && strcmp(s.name, "tally_build_info") != 0) global[m][k] += units(&s);
        }
        if (!strchr(line, '\n')) break;
    }
    assert_int_equal(counters, 3 * 4); /* requests, tokens, cost: global, model, account, key */
    assert_int_equal(global[0][0], 5);
    assert_int_equal(global[1][0], 11750000001LL);
    for (int m = 0; m < 3; m++)
        for (int k = 0; k < 5; k++) assert_int_equal(models[m][k], global[m][k]);
    free(text);
}

/* The top accounts by all-time cost, none named: acct-2 (5.25 USD) before
 * acct-1 (3.500000001); named ones and top ones each once, the named first. */
static void top_accounts_without_naming_them(void **state) {
    (void)state;
    seed();
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "metrics", "--url", th_url(), "--format", "prometheus", "--top-accounts", "1"), 0);
    assert_non_null(strstr(out, "tally_account_cost_usd_total{account=\"acct-2\"} 5.25\n"));
    assert_non_null(strstr(out, "tally_account_requests_total{account=\"acct-2\"} 2\n"));
    assert_null(strstr(out, "acct-1"));
    promtool_accepts(out);
    free(out);
    free(err);
    assert_int_equal(RUN(&out, &err, "metrics", "--url", th_url(), "--format", "prometheus", "--top-accounts", "5",
                         "--account", "acct-1"), 0);
    const char *one = strstr(out, "tally_account_cost_usd_total{account=\"acct-1\"} 3.500000001\n");
    const char *two = strstr(out, "tally_account_cost_usd_total{account=\"acct-2\"} 5.25\n");
    assert_true(one && two && one < two);
    assert_null(strstr(strchr(one, '\n'), "{account=\"acct-1\"} 3.500000001\n"));
    promtool_accepts(out);
    free(out);
    free(err);
}

static void bad_options_exit_2(void **state) {
    (void)state;
    const char *url = th_url();
    static const char *const cases[][6] = {
        { "--format", "xml" },
        { "--format", "prometheus", "--minutes", "5" },
        { "--format", "prometheus", "--json" },
        { "--format", "prometheus", "--top", "1001" },
        { "--format", "prometheus", "--top", "-1" },
        { "--format", "prometheus", "--top-accounts", "1001" },
        { "--top-accounts", "3" },
        { "--format", "prometheus", "--account", "a", "--account", "a" },
        { "--format", "prometheus", "--account", "" },
        { "--format", "prometheus", "--account", "bad\x01id" },
        { "--top", "3" },
        { "--account", "a" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[12] = { "metrics", "--url", url };
        int n = 3;
        for (int k = 0; k < 6 && cases[i][k]; k++) argv[n++] = cases[i][k];
        char *out, *err;
        int code = th_run(argv, NULL, &out, &err);
        if (code != 2 || *out || !*err) fail_msg("case %zu: exit %d, out '%s', err '%s'", i, code, out, err);
        free(out);
        free(err);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(output_passes_promtool, th_clean),
        cmocka_unit_test_setup(values_equal_tally_stats, th_clean),
        cmocka_unit_test_setup(series_are_bounded_and_unique, th_clean),
        cmocka_unit_test_setup(counters_are_one_series_per_entity, th_clean),
        cmocka_unit_test_setup(top_accounts_without_naming_them, th_clean),
        cmocka_unit_test_setup(bad_options_exit_2, th_clean),
    };
    int rc = cmocka_run_group_tests_name("prometheus", tests, NULL, NULL);
    th_done();
    return rc;
}
