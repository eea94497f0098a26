/* test_security.c -- redis: passwords never in messages, output or logs; the
 * least-privilege users of docs/acl.md (the application's and the operator's)
 * run every operation each is for, the application's may read the price
 * table but not load one, and keys outside the prefix are refused; ids cannot
 * reach another entity's keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define GOOD_PW "S3cret-pw-9f8e7d6c"
#define WRONG_PW "Wr0ng-pw-1a2b3c4d"
#define OPERATOR "tally-operator"

static char url_good[300], url_wrong[300], url_operator[300];

static void make_urls(void) {
    const char *port = getenv("TALLY_TEST_PORT");
    if (!port) fail_msg("TALLY_TEST_PORT is not set");
    snprintf(url_good, sizeof url_good, "redis://tally:%s@127.0.0.1:%s", GOOD_PW, port);
    snprintf(url_wrong, sizeof url_wrong, "redis://tally:%s@127.0.0.1:%s", WRONG_PW, port);
    snprintf(url_operator, sizeof url_operator, "redis://" OPERATOR ":%s@127.0.0.1:%s", GOOD_PW, port);
}

/* Creates the application's user "tally" and the operator's from docs/acl.md. */
static int acl_user(void **state) {
    th_clean(state);
    th_acl_setuser("tally", GOOD_PW);
    th_acl_setuser(OPERATOR, GOOD_PW);
    freeReplyObject(th_cmd("ACL LOG RESET"));
    make_urls();
    return 0;
}

static void no_secret(const char *where, const char *text) {
    if (text && (strstr(text, GOOD_PW) || strstr(text, WRONG_PW)))
        fail_msg("a password appears in %s: %s", where, text);
}

static void passwords_never_shown(void **state) {
    (void)state;
    /* library: wrong password, then a right one with a refused operation */
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = url_wrong;
    tally *t = NULL;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EAUTH);
    assert_string_not_equal(tally_errmsg(t), "");
    no_secret("tally_open's message (wrong password)", tally_errmsg(t));
    tally_close(t);
    cfg.url = url_good;
    cfg.prefix = "other";
    assert_int_equal(tally_open(&cfg, &t), TALLY_OK);
    tally_event e = { .key = "k", .model = "m" };
    assert_int_equal(tally_record(t, &e, NULL), TALLY_EAUTH);
    no_secret("tally_record's message (NOPERM)", tally_errmsg(t));
    tally_close(t);
    char bad[400];
    snprintf(bad, sizeof bad, "redis://tally:%s@127.0.0.1:0", GOOD_PW);
    cfg.url = bad;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EINVAL);
    no_secret("a bad URL's message", tally_errmsg(t));
    tally_close(t);
    snprintf(bad, sizeof bad, "redis://tally:%s@127.0.0.1:1", GOOD_PW);
    assert_int_equal(tally_open(&cfg, &t), TALLY_ECONNECT);
    no_secret("an unreachable server's message", tally_errmsg(t));
    tally_close(t);

    /* tool: the same with --url, and via TALLY_URL */
    const char *const runs[][12] = {
        { "stats", "--global", "--url", url_wrong },
        { "record", "--key", "k", "--model", "m", "--url", url_wrong },
        { "stats", "--global", "--url", url_good, "--prefix", "other" },
        { "record", "--key", "k", "--model", "m", "--url", url_good, "--prefix", "other", "--json" },
        { "stats", "--global", "--url", url_good, "--json" },
        { "allow", "--key", "k", "--limit", "5/1m", "--url", url_wrong, "--fail-open", "--json" },
        { "scripts", "flush", "--url", url_good },
        { "stats", "--global", "--url", bad },
    };
    const int want[] = { 3, 3, 3, 3, 0, 3, 3, 3 }; /* a refused AUTH is no reason to fail open */
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char *out, *err;
        int code = th_run(runs[i], NULL, &out, &err);
        if (code != want[i]) fail_msg("run %zu: exit %d, want %d: %s", i, code, want[i], err);
        no_secret("the tool's output", out);
        no_secret("the tool's errors", err);
        free(out);
        free(err);
    }
    setenv("TALLY_URL", url_wrong, 1);
    char *out, *err;
    assert_int_equal(th_run((const char *const[]){ "stats", "--global", NULL }, NULL, &out, &err), 3);
    no_secret("the tool's errors (TALLY_URL)", err);
    free(out);
    free(err);
    unsetenv("TALLY_URL");

    /* the server's log and ACL LOG */
    char path[4096];
    snprintf(path, sizeof path, "%s/redis.log", getenv("TALLY_TEST_DIR"));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    while (fgets(line, sizeof line, f)) no_secret("redis.log", line);
    fclose(f);
    redisReply *r = th_cmd("ACL LOG");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    th_assert_ge(r->elements, 1); /* the failures were logged ... */
    for (size_t i = 0; i < r->elements; i++)
        for (size_t k = 0; k < r->element[i]->elements; k++)
            if (r->element[i]->element[k]->type == REDIS_REPLY_STRING)
                no_secret("ACL LOG", r->element[i]->element[k]->str); /* ... without the passwords */
    freeReplyObject(r);
}

static void acl_user_runs_everything_and_nothing_else(void **state) {
    (void)state;
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = url_good;
    tally *t = NULL;
    if (tally_open(&cfg, &t) != TALLY_OK) fail_msg("open as the ACL user: %s", tally_errmsg(t));
    tally_event e = { .key = "k", .model = "m", .account = "a", .input_tokens = 10, .cost_nanos = 5,
                      .request_id = "r1" };
    int dup;
    assert_int_equal(tally_record(t, &e, &dup), TALLY_OK);
    tally_result res;
    e.request_id = "r2";
    assert_int_equal(tally_record_batch(t, &e, 1, &res), TALLY_OK);
    assert_int_equal(res.code, TALLY_OK);
    tally_period tot = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k", &tot, &b), TALLY_OK);
    assert_int_equal(b.requests, 2);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &tot, &b), TALLY_OK);
    tally_model_stats *m;
    size_t n;
    assert_int_equal(tally_models(t, "k", &tot, &m, &n), TALLY_OK);
    tally_models_free(m, n);
    tally_point pts[3];
    assert_int_equal(tally_trend(t, TALLY_SCOPE_ACCOUNT, "a", TALLY_DAY, 3, pts), TALLY_OK);
    tally_rank *rk;
    assert_int_equal(tally_top(t, TALLY_RANK_COST, &tot, 1, &rk, &n), TALLY_OK); /* a full head: ties read too */
    assert_int_equal(n, 1);
    tally_top_free(rk, n);
    assert_int_equal(tally_metrics(t, 5, &b), TALLY_OK);
    for (int algo = 0; algo < 4; algo++) {
        tally_rule r = { 0, algo, 5, 60000, 0 };
        tally_decision d;
        assert_int_equal(tally_allow(t, "k", &r, 1, NULL, &d), TALLY_OK);
        assert_true(d.allowed);
        assert_int_equal(tally_limits(t, "k", &r, 1, NULL, &d), TALLY_OK);
    }
    tally_lease l;
    assert_int_equal(tally_lease_acquire(t, "k", 2, 10000, &l), TALLY_OK);
    assert_true(l.ok);
    assert_int_equal(tally_lease_renew(t, "k", l.id, 10000, &l), TALLY_OK);
    assert_int_equal(tally_lease_release(t, "k", l.id, &l), TALLY_OK);
    tally_budget cap = { TALLY_SCOPE_KEY, TALLY_DAY, TALLY_BUDGET_COST, 1000000 };
    tally_reservation rs = { "k", "a", "r3", 100, 0, 10000, NULL };
    tally_budget_decision bd;
    assert_int_equal(tally_reserve(t, &rs, &cap, 1, &bd), TALLY_OK);
    assert_true(bd.allowed);
    e.request_id = "r3";
    assert_int_equal(tally_settle(t, &e, &dup), TALLY_OK);
    /* The price table: the operator's user loads it (twice: the second drops
     * a model); the application's may not, and still prices with it. */
    tally *op = NULL;
    cfg.url = url_operator;
    if (tally_open(&cfg, &op) != TALLY_OK) fail_msg("open as the operator's user: %s", tally_errmsg(op));
    const char *json = "{\"models\": {\"m\": {\"input\": 1, \"output\": 2, \"cache_create\": 3, \"cache_read\": 4},"
                       " \"gone\": {\"input\": 1, \"output\": 1, \"cache_create\": 1, \"cache_read\": 1}}}";
    tally_prices *p, *got;
    int64_t version;
    assert_int_equal(tally_prices_parse(json, strlen(json), &p, NULL, 0), TALLY_OK);
    assert_int_equal(tally_prices_load(op, p, &version), TALLY_OK);
    char before[41], after[41];
    th_digest(before);
    version = -1;
    assert_int_equal(tally_prices_load(t, p, &version), TALLY_EAUTH); /* refused before prices.lua runs */
    assert_int_equal(version, -1);
    th_assert_mentions(tally_errmsg(t), "may not load prices");
    th_assert_mentions(tally_errmsg(t), "tally:v3:{p:prices}:P");
    th_assert_mentions(tally_errmsg(t), "NOPERM");
    char *out, *err;
    assert_int_equal(RUN_IN(json, &out, &err, "prices", "load", "-", "--url", url_good), 3);
    th_assert_mentions(err, "may not load prices");
    assert_string_equal(out, "");
    free(out);
    free(err);
    th_digest(after);
    assert_string_equal(before, after); /* the table is unchanged */
    tally_prices_free(p);
    json = "{\"models\": {\"m\": {\"input\": 1, \"output\": 2, \"cache_create\": 3, \"cache_read\": 4}}}";
    assert_int_equal(tally_prices_parse(json, strlen(json), &p, NULL, 0), TALLY_OK);
    assert_int_equal(tally_prices_load(op, p, &version), TALLY_OK);
    assert_int_equal(version, 2);
    tally_prices_free(p);
    assert_int_equal(tally_prices_get(t, &got), TALLY_OK);
    assert_int_equal(tally_prices_count(got), 1);
    assert_int_equal(tally_prices_version(got), 2);
    tally_prices_free(got);
    e.request_id = "r5";
    e.cost_nanos = TALLY_COST_FROM_PRICES;
    assert_int_equal(tally_record_batch(t, &e, 1, &res), TALLY_OK);
    assert_int_equal(res.code, TALLY_OK);
    assert_int_equal(res.price_version, 2);
    assert_int_equal(res.cost_nanos, 10000); /* 10 input tokens x 1 USD per million, in nano-USD */
    e.cost_nanos = 5;
    assert_int_equal(RUN(&out, &err, "prices", "show", "m", "--url", url_good), 0);
    free(out);
    free(err);
    /* ... and the operator's user nothing but prices and the script cache */
    e.request_id = "r6";
    assert_int_equal(tally_record(op, &e, NULL), TALLY_EAUTH);
    assert_int_equal(tally_stats(op, TALLY_SCOPE_KEY, "k", &tot, &b), TALLY_EAUTH);
    assert_int_equal(tally_allow(op, "k", &(tally_rule){ 0, TALLY_ALGO_FIXED, 5, 60000, 0 }, 1, NULL, &(tally_decision){ 0 }),
                     TALLY_EAUTH);
    assert_int_equal(tally_prices_get(op, &got), TALLY_OK);
    assert_int_equal(tally_prices_version(got), 2);
    tally_prices_free(got);
    assert_int_equal(tally_scripts_flush(op), TALLY_OK);
    tally_close(op);
    int loaded[16];
    assert_int_equal(tally_scripts_exists(t, loaded), TALLY_OK);
    for (int i = 0; i < tally_script_count(); i++) assert_int_equal(loaded[i], 1); /* it loaded them all */
    /* ... and nothing else: no SCRIPT FLUSH for the application */
    assert_int_equal(tally_scripts_flush(t), TALLY_EAUTH);
    tally_close(t);

    /* A write outside the prefix: NOPERM before the script runs. */
    th_digest(before);
    cfg.prefix = "other";
    assert_int_equal(tally_open(&cfg, &t), TALLY_OK);
    e.request_id = "r4";
    assert_int_equal(tally_record(t, &e, NULL), TALLY_EAUTH);
    assert_non_null(strstr(tally_errmsg(t), "NOPERM"));
    tally_rule r = { 0, TALLY_ALGO_FIXED, 5, 60000, 0 };
    tally_decision d;
    assert_int_equal(tally_allow(t, "k", &r, 1, NULL, &d), TALLY_EAUTH);
    assert_int_equal(d.allowed, 0);
    assert_int_equal(tally_lease_acquire(t, "k", 2, 1000, &l), TALLY_EAUTH);
    tally_close(t);
    th_digest(after);
    assert_string_equal(before, after);
    /* and plain commands outside tally's list */
    redisContext *c = redisConnect("127.0.0.1", atoi(getenv("TALLY_TEST_PORT")));
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *rep = redisCommand(c, "AUTH tally %s", GOOD_PW);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    const char *refused[] = { "SET tally:x 1", "FLUSHALL", "KEYS *", "CONFIG GET *", "EVAL return 1 0",
                              "HSET other:x f 1", "HSET tally:v3:{p:prices}:P version 9",
                              "HDEL tally:v3:{p:prices}:P m:m" };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        rep = redisCommand(c, refused[i]);
        if (rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "NOPERM", 6) != 0)
            fail_msg("'%s' was not refused", refused[i]);
        freeReplyObject(rep);
    }
    redisFree(c);
}

/* Ids with ':', '{', '}', '*', '%', '?', '[', ' ' stay inside their own entity. */
static void ids_cannot_reach_other_entities(void **state) {
    (void)state;
    th_clean(NULL);
    tally *t = th_open(NULL);
    const char *ids[] = { "victim", "victim}:t", "victim:t", "{k:victim}", "}:{k:victim", "*", "victim*",
                          "%", "victim%", "vi%63tim", "vi%2563tim", "v?ctim", "[v]ictim", "victim ",
                          "tally:v3:{k:victim}:t", "victim}", "{victim", "a:b", "a%3Ab" };
    size_t nids = sizeof ids / sizeof ids[0];
    for (size_t i = 0; i < nids; i++) {
        tally_event e = { .key = ids[i], .model = ids[i], .account = ids[i], .input_tokens = (int64_t)i + 1 };
        assert_int_equal(tally_record(t, &e, NULL), TALLY_OK);
        tally_rule r = { 0, TALLY_ALGO_FIXED, 1, 60000, 0 };
        tally_decision d;
        assert_int_equal(tally_allow(t, ids[i], &r, 1, NULL, &d), TALLY_OK);
        assert_true(d.allowed); /* nobody else's limit was consumed under this id */
    }
    tally_period tot = { TALLY_TOTAL, 0, 0, 0, 0 };
    for (size_t i = 0; i < nids; i++) {
        tally_bucket b;
        for (int scope = TALLY_SCOPE_KEY; scope <= TALLY_SCOPE_MODEL; scope++) {
            assert_int_equal(tally_stats(t, scope, ids[i], &tot, &b), TALLY_OK);
            if (b.requests != 1 || b.input_tokens != (int64_t)i + 1)
                fail_msg("id '%s' (scope %d) sees %lld requests, %lld tokens", ids[i], scope,
                         (long long)b.requests, (long long)b.input_tokens);
        }
    }
    tally_close(t);
    /* Every key has one hash tag and no raw ':', '{', '}', '*', '?', '[', ' ' in its id. */
    redisReply *r = th_cmd("KEYS *");
    size_t tags = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const char *k = r->element[i]->str, *open = strchr(k, '{'), *close = strchr(k, '}');
        if (strncmp(k, "tally:v3:{", 10) != 0 || !open || !close || strchr(open + 1, '{') ||
            strchr(close + 1, '}') || strchr(k, '*') || strchr(k, '?') || strchr(k, '[') || strchr(k, ' '))
            fail_msg("key '%s' breaks the schema", k);
        const char *colon = strchr(open + 3, ':');
        if (colon && colon < close) fail_msg("key '%s' has a raw ':' in its id", k);
        if (strncmp(open, "{k:", 3) == 0 && strcmp(close, "}:t") == 0) tags++;
    }
    freeReplyObject(r);
    assert_int_equal(tags, nids); /* one total hash per id: no two ids share a key */
}

/* Issue 10, item 8: URLs with a forgotten "@host" or other damage put the
 * password where a host, port, database or path would be; no message of the
 * library or the tool shows it (exit 2: a bad URL is bad input). */
static void malformed_urls_never_show_the_password(void **state) {
    (void)state;
    static const char *const forms[][2] = { /* what comes before and after the password */
        { "redis://tally:", "" },          { "redis://tally:", "/0" },         { "redis://:", "" },
        { "redis://", ":" },               { "redis://tally:", "?x" },         { "redis-cluster://tally:", "" },
        { "redis-cluster://127.0.0.1:7000,tally:", "" },                       { "unix://tally:", "/tmp/r.sock" },
        { "unix://tally:", "" },           { "tally:", "@127.0.0.1" },         { "tally:", "" },
        { "redis://127.0.0.1/", "" },      { "redis://tally:", "@127.0.0.1:0" }, { "redis://tally:", "@@" },
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char url[300];
        snprintf(url, sizeof url, "%s%s%s", forms[i][0], GOOD_PW, forms[i][1]);
        tally_config cfg;
        tally_config_init(&cfg);
        cfg.url = url;
        tally *t = NULL;
        if (tally_open(&cfg, &t) != TALLY_EINVAL) fail_msg("'%s' was not refused: %s", url, tally_errmsg(t));
        assert_non_null(strstr(tally_errmsg(t), "bad URL"));
        no_secret("a malformed URL's message", tally_errmsg(t));
        tally_close(t);
        char *out, *err;
        int code = th_run((const char *const[]){ "stats", "--global", "--url", url, NULL }, NULL, &out, &err);
        if (code != 2) fail_msg("'%s': exit %d: %s", url, code, err);
        no_secret("the tool's output", out);
        no_secret("the tool's errors", err);
        free(out);
        free(err);
        setenv("TALLY_URL", url, 1);
        code = th_run((const char *const[]){ "record", "--key", "k", "--model", "m", NULL }, NULL, &out, &err);
        unsetenv("TALLY_URL");
        if (code != 2) fail_msg("TALLY_URL '%s': exit %d: %s", url, code, err);
        no_secret("the tool's errors (TALLY_URL)", err);
        free(out);
        free(err);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(passwords_never_shown, acl_user),
        cmocka_unit_test_setup(acl_user_runs_everything_and_nothing_else, acl_user),
        cmocka_unit_test(ids_cannot_reach_other_entities),
        cmocka_unit_test(malformed_urls_never_show_the_password),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_done();
    return rc;
}
