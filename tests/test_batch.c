/* test_batch.c -- redis: tally_record_batch (events merged on the host into one
 * script call per slice) against a naive oracle: the same events recorded one
 * by one with tally_record (lua/record.lua, one call per event) under another
 * prefix; so is the async recorder. Random events, random request ids
 * repeated within and across batches, bad events of every kind (refused by
 * the library, by the script's checks, by a foreign key of the wrong type, by
 * an overflow); then every event's outcome and every key of the two datasets
 * are compared, field by field and member by member. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rec_util.h"

#define SCHEMA "v3"

typedef struct { uint64_t s; } rng;

static uint64_t next(rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static int64_t below(rng *r, int64_t n) { return (int64_t)(next(r) % (uint64_t)n); }

enum { NEV = 3000 };
static const char *const keys[] = { "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k/8", "k 9", "bad", "big" };
static const char *const models[] = { "m0", "m1", "model:two", "m3" };
static const char *const accounts[] = { NULL, "", "a0", "a1", "a2", "a3", "a4" };
static char ids[NEV][24];
static tally_event ev[NEV];

/* Random events around `now`: about a tenth of them bad in some way. */
static void make_events(rng *r, int64_t now) {
    for (int i = 0; i < NEV; i++) {
        tally_event *e = &ev[i];
        *e = (tally_event){ keys[below(r, 12)], models[below(r, 4)], accounts[below(r, 7)], below(r, 5000),
                            below(r, 3000), below(r, 4) ? 0 : below(r, 9000), below(r, 20000),
                            below(r, 2000000000), now - below(r, 3 * DAY_MS), NULL };
        int64_t id = below(r, 10);
        if (id < 4) { /* a new id */
            snprintf(ids[i], sizeof ids[i], "r%d", i);
            e->request_id = ids[i];
        } else if (id < 6 && i > 0) { /* an earlier event's id, for the same or another key */
            int j = (int)below(r, i);
            e->request_id = ev[j].request_id ? ev[j].request_id : "r-shared";
            if (below(r, 2)) e->key = ev[j].key;
        }
        switch (below(r, 40)) {
        case 0: e->model = ""; break;                              /* refused by the library */
        case 1: e->input_tokens = -1; break;                       /* refused by the library */
        case 2: e->at_ms = now + 3600000; break;                   /* past max_future_ms: the script */
        case 3: e->at_ms = now - 60 * DAY_MS; break;               /* past day retention: skipped buckets */
        case 4: e->cost_nanos = TALLY_MAX_COST_NANOS; break;       /* the largest event */
        case 5: e->key = "k\x01"; break;                           /* a control character */
        default: break;
        }
    }
}

/* Keys that make some events fail inside Redis: a foreign string where a
 * key's total hash belongs, and a key total one request short of 2^63 (its
 * "k:big" field of its shard's total hash: FNV-1a-32 of "big" mod 4 shards is
 * SHARD_BIG; a key's own hashes hold no "_"). */
#define SHARD_BIG "1"
static void plant(const char *prefix) {
    redisReply *r = th_cmd("SET %s:" SCHEMA ":{k:bad}:t x", prefix);
    freeReplyObject(r);
    r = th_cmd("HSET %s:" SCHEMA ":{s:" SHARD_BIG "}:t k:big 9223372036854775807,0,0,0,0,0", prefix);
    freeReplyObject(r);
}

static tally *open_prefix(const char *prefix, int64_t max_script_us) {
    tally_config cfg = ru_config(0, 4);
    cfg.prefix = prefix;
    if (max_script_us) cfg.max_script_us = max_script_us;
    return th_open(&cfg);
}

/* The oracle: every event alone, in order. */
static void record_one_by_one(const char *prefix, int *code, int *dup) {
    tally *t = open_prefix(prefix, 0);
    for (int i = 0; i < NEV; i++) {
        dup[i] = 0;
        code[i] = tally_record(t, &ev[i], &dup[i]);
    }
    tally_close(t);
}

/* The batch path, in batches of random sizes. */
static void record_in_batches(rng *r, const char *prefix, int64_t max_script_us, tally_result *res) {
    tally *t = open_prefix(prefix, max_script_us);
    for (int i = 0; i < NEV;) {
        int n = (int)(1 + below(r, 900));
        if (n > NEV - i) n = NEV - i;
        assert_int_equal(tally_record_batch(t, &ev[i], (size_t)n, &res[i]), TALLY_OK);
        i += n;
    }
    tally_close(t);
}

typedef struct { const redisReply *field, *value; } pair;

static int by_field(const void *a, const void *b) {
    const redisReply *x = ((const pair *)a)->field, *y = ((const pair *)b)->field;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The field/value pairs of a hash, sorted by field, as "f=v;" text (values may
 * be binary: compared as bytes by strcmp only up to a NUL, so hex them). */
static char *hash_text(const char *key) {
    redisReply *r = th_cmd("HGETALL %b", key, strlen(key));
    size_t n = r->elements / 2, len = 1;
    pair *p = calloc(n + 1, sizeof *p);
    for (size_t i = 0; i < n; i++) {
        p[i] = (pair){ r->element[2 * i], r->element[2 * i + 1] };
        len += 2 * (p[i].field->len + p[i].value->len) + 2;
    }
    qsort(p, n, sizeof *p, by_field);
    char *out = calloc(1, len), *o = out;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < p[i].field->len; k++) o += sprintf(o, "%02x", (unsigned char)p[i].field->str[k]);
        *o++ = '=';
        for (size_t k = 0; k < p[i].value->len; k++) o += sprintf(o, "%02x", (unsigned char)p[i].value->str[k]);
        *o++ = ';';
    }
    free(p);
    freeReplyObject(r);
    return out;
}

/* Every key of prefix `a` exists under `b` with the same type, contents and
 * expiry (request-id hashes: expiries a few seconds apart, as they count from
 * the moment of recording), and the two hold as many keys. */
static void same_dataset(const char *a, const char *b) {
    long long na = 0;
    char cursor[32] = "0", pattern[16];
    snprintf(pattern, sizeof pattern, "%s:*", a);
    size_t pa = strlen(a);
    do {
        redisReply *r = th_cmd("SCAN %s MATCH %s COUNT 500", cursor, pattern);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++, na++) {
            const char *ka = r->element[1]->element[i]->str;
            char kb[1024];
            snprintf(kb, sizeof kb, "%s%s", b, ka + pa);
            redisReply *ta = th_cmd("TYPE %s", ka), *tb = th_cmd("TYPE %s", kb);
            if (strcmp(ta->str, tb->str) != 0) fail_msg("%s is a %s, %s a %s", ka, ta->str, kb, tb->str);
            if (strcmp(ta->str, "hash") == 0) {
                char *ha = hash_text(ka), *hb = hash_text(kb);
                if (strcmp(ha, hb) != 0) fail_msg("%s holds %s\n%s holds %s", ka, ha, kb, hb);
                free(ha), free(hb);
            } else if (strcmp(ta->str, "zset") == 0) {
                redisReply *za = th_cmd("ZRANGE %s 0 -1 WITHSCORES", ka), *zb = th_cmd("ZRANGE %s 0 -1 WITHSCORES", kb);
                assert_int_equal(za->elements, zb->elements);
                for (size_t k = 0; k < za->elements; k++)
                    if (strcmp(za->element[k]->str, zb->element[k]->str) != 0)
                        fail_msg("%s[%zu] is %s, %s has %s", ka, k, za->element[k]->str, kb, zb->element[k]->str);
                freeReplyObject(za), freeReplyObject(zb);
            }
            long long xa = th_int("EXPIRETIME %s", ka), xb = th_int("EXPIRETIME %s", kb);
            int ids_hash = strstr(ka, "}:i:") != NULL;
            if (ids_hash ? llabs(xa - xb) > 30 || (xa < 0) != (xb < 0) : xa != xb)
                fail_msg("%s expires at %lld, %s at %lld", ka, xa, kb, xb);
            freeReplyObject(ta), freeReplyObject(tb);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    snprintf(pattern, sizeof pattern, "%s:*", b);
    long long count_b = th_int("EVAL %s 0 %s", "return #redis.call('KEYS', ARGV[1])", pattern);
    assert_int_equal(na, count_b);
    assert_true(na > 100);
}

static void same_outcomes(const int *code, const int *dup, const tally_result *res) {
    int recorded = 0, duplicates = 0, refused = 0;
    for (int i = 0; i < NEV; i++) {
        if (code[i] != res[i].code || (code[i] == TALLY_OK && dup[i] != res[i].duplicate))
            fail_msg("event %d (key %s, id %s, at %lld): one by one %d%s, batched %d%s", i, ev[i].key,
                     ev[i].request_id ? ev[i].request_id : "-", (long long)ev[i].at_ms, code[i],
                     dup[i] ? " duplicate" : "", res[i].code, res[i].duplicate ? " duplicate" : "");
        recorded += code[i] == TALLY_OK && !dup[i];
        duplicates += code[i] == TALLY_OK && dup[i];
        refused += code[i] != TALLY_OK;
    }
    /* the mix this test is about: every kind of outcome, many of each */
    assert_true(recorded > NEV / 2 && duplicates > 100 && refused > 100);
}

/* An account's total and this month are its fields in the shards' hashes (it
 * has no hash of its own for them): tally_stats gives each account's sums of
 * the events the oracle recorded, and no {a:ID}:t or {a:ID}:M: key exists. */
static void accounts_match_the_events(const char *prefix, const int *code, const int *dup) {
    tally *t = open_prefix(prefix, 0);
    tally_period total = ru_total(), month = ru_period_of(TALLY_MONTH, ru_now_ms(), 0);
    for (size_t a = 2; a < sizeof accounts / sizeof *accounts; a++) {
        int64_t want[2][2] = { { 0 } }; /* total, month: requests, cost */
        for (int i = 0; i < NEV; i++) {
            if (code[i] != TALLY_OK || dup[i] || !ev[i].account || strcmp(ev[i].account, accounts[a]) != 0) continue;
            tally_period m = ru_period_of(TALLY_MONTH, ev[i].at_ms, 0);
            for (int w = 0; w < 2; w++)
                if (!w || (m.year == month.year && m.month == month.month))
                    want[w][0] += 1, want[w][1] += ev[i].cost_nanos; /* an event is one request */
        }
        tally_bucket b;
        for (int w = 0; w < 2; w++) {
            assert_int_equal(tally_stats(t, TALLY_SCOPE_ACCOUNT, accounts[a], w ? &month : &total, &b), TALLY_OK);
            if (b.requests != want[w][0] || b.cost_nanos != want[w][1])
                fail_msg("account %s %s: %lld requests, %lld nano-USD; the events: %lld, %lld", accounts[a],
                         w ? "month" : "total", (long long)b.requests, (long long)b.cost_nanos,
                         (long long)want[w][0], (long long)want[w][1]);
        }
    }
    tally_close(t);
    char pattern[64];
    for (int w = 0; w < 2; w++) {
        snprintf(pattern, sizeof pattern, "%s:" SCHEMA ":{a:*}:%s", prefix, w ? "M:*" : "t");
        assert_int_equal(th_int("EVAL %s 0 %s", "return #redis.call('KEYS', ARGV[1])", pattern), 0);
    }
}

static void run_against_oracle(uint64_t seed, int64_t max_script_us) {
    rng r = { seed };
    make_events(&r, ru_now_ms() - 60000);
    plant("o");
    plant("b");
    static int code[NEV], dup[NEV];
    static tally_result res[NEV];
    record_one_by_one("o", code, dup);
    record_in_batches(&r, "b", max_script_us, res);
    same_outcomes(code, dup, res);
    same_dataset("o", "b");
    accounts_match_the_events("b", code, dup);
}

static void batches_equal_one_by_one(void **state) {
    (void)state;
    run_against_oracle(0x9E3779B97F4A7C15ull, 0);
}

/* A bound of 100 us cuts the batches into many small calls: the same data. */
static void small_calls_equal_one_by_one(void **state) {
    (void)state;
    long long before = th_int("EVAL %s 0", "local s = redis.call('INFO', 'commandstats') "
                                          "return tonumber(s:match('cmdstat_evalsha:calls=(%d+)') or 0)");
    run_against_oracle(0x1234567887654321ull, 100);
    long long after = th_int("EVAL %s 0", "local s = redis.call('INFO', 'commandstats') "
                                         "return tonumber(s:match('cmdstat_evalsha:calls=(%d+)') or 0)");
    /* one per event for the oracle, and many more than one per batch call for the rest */
    assert_true(after - before > NEV + 2 * (NEV / 450));
}

/* The async recorder (tally_recorder_record from one thread, sent in batches
 * of at most 7 events as the thread finds them): every outcome counted as the
 * one-by-one oracle's, and the same dataset. */
static void recorder_equals_one_by_one(void **state) {
    (void)state;
    rng r = { 0xC0FFEE0DDBA11ULL };
    make_events(&r, ru_now_ms() - 60000);
    plant("o");
    plant("q");
    static int code[NEV], dup[NEV];
    record_one_by_one("o", code, dup);
    tally_config cfg = ru_config(0, 4);
    cfg.prefix = "q";
    cfg.url = th_url();
    tally_recorder_config rc;
    tally_recorder_config_init(&rc);
    rc.flush_events = 7;
    rc.flush_ms = 1;
    tally_recorder *q = NULL;
    assert_int_equal(tally_recorder_open(&cfg, &rc, &q), TALLY_OK);
    uint64_t rejected = 0;
    for (int i = 0; i < NEV; i++) rejected += tally_recorder_record(q, &ev[i]) == TALLY_EINVAL;
    tally_recorder_flush(q, -1); /* TALLY_EREDIS: the refused ones, counted below */
    tally_recorder_stats st;
    tally_recorder_get_stats(q, &st);
    assert_int_equal(tally_recorder_close(q, -1), TALLY_OK);
    uint64_t recorded = 0, duplicates = 0, refused = 0;
    for (int i = 0; i < NEV; i++) {
        recorded += code[i] == TALLY_OK && !dup[i];
        duplicates += code[i] == TALLY_OK && dup[i];
        refused += code[i] != TALLY_OK;
    }
    assert_int_equal(st.rejected, rejected);
    assert_int_equal(st.recorded, recorded);
    assert_int_equal(st.duplicates, duplicates);
    assert_int_equal(st.refused + st.rejected, refused);
    assert_int_equal(st.unknown + st.dropped, 0);
    th_assert_gt((long long)st.rejected, 10);
    th_assert_gt((long long)st.refused, 10);
    same_dataset("o", "q");
}

/* A batch sent again (say after a timeout) answers every event with an id as a
 * duplicate and changes nothing; events without ids count again. */
static void resent_batch_changes_nothing(void **state) {
    (void)state;
    tally *t = open_prefix("b", 0);
    static tally_event e[500];
    static char rid[500][16];
    static tally_result res[500];
    int64_t now = ru_now_ms() - 60000;
    for (int i = 0; i < 500; i++) {
        snprintf(rid[i], sizeof rid[i], "id-%d", i);
        e[i] = ru_event(keys[i % 8], models[i % 4], accounts[i % 7], i, 2 * i, 0, 1, 1000 + i, now, rid[i]);
    }
    assert_int_equal(tally_record_batch(t, e, 500, res), TALLY_OK);
    for (int i = 0; i < 500; i++) assert_true(res[i].code == TALLY_OK && !res[i].duplicate);
    char before[41], after[41];
    th_digest(before);
    assert_int_equal(tally_record_batch(t, e, 500, res), TALLY_OK);
    for (int i = 0; i < 500; i++) assert_true(res[i].code == TALLY_OK && res[i].duplicate);
    th_digest(after);
    assert_string_equal(before, after);
    tally_close(t);
}

/* One request id on every event of ten keys, the keys interleaved (and in
 * different shards, which the host reorders by): per key the first event
 * counts and every later one is a duplicate, as if recorded one by one. */
static void a_keys_first_event_wins_in_a_reordered_batch(void **state) {
    (void)state;
    enum { N = 2000 };
    tally *t = open_prefix("o", 0);
    static tally_event e[N];
    static tally_result res[N];
    const char *ten[10] = { "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k/8", "k 9" };
    int64_t now = ru_now_ms() - 60000;
    for (int i = 0; i < N; i++) e[i] = ru_event(ten[i % 10], "m0", NULL, 1, 1, 0, 0, 1000 + i, now, "same");
    assert_int_equal(tally_record_batch(t, e, N, res), TALLY_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].code, TALLY_OK);
        assert_int_equal(res[i].duplicate, i >= 10);
    }
    tally_period total;
    assert_int_equal(tally_period_parse(t, "total", &total), TALLY_OK);
    for (int k = 0; k < 10; k++) {
        tally_bucket b;
        assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, ten[k], &total, &b), TALLY_OK);
        assert_int_equal(b.requests, 1);
        assert_int_equal(b.cost_nanos, 1000 + k);
    }
    tally_close(t);
}

/* Calls whose hashes get more fields than Lua's unpack takes at once (a
 * shard's day hash: a day and an hour field per model, 2,048 models): every
 * event is recorded, in full. */
static void one_call_with_thousands_of_fields(void **state) {
    (void)state;
    enum { N = 2048 };
    tally *t = open_prefix("f", 10000000);
    static tally_event e[N];
    static char model[N][16];
    static tally_result res[N];
    int64_t now = ru_now_ms() - 60000;
    for (int i = 0; i < N; i++) {
        snprintf(model[i], sizeof model[i], "m-%d", i);
        e[i] = ru_event("k0", model[i], "a0", 1, 2, 0, 0, 10, now, NULL);
    }
    /* twice: the first batch teaches the handle its cost, so the second goes
     * in one call of CALL_EVENTS_MAX events */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(tally_record_batch(t, e, N, res), TALLY_OK);
        for (int i = 0; i < N; i++)
            if (res[i].code != TALLY_OK) fail_msg("round %d, event %d: %d %s", round, i, res[i].code, res[i].message);
    }
    tally_period total;
    assert_int_equal(tally_period_parse(t, "total", &total), TALLY_OK);
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &total, &b), TALLY_OK);
    assert_int_equal(b.requests, 2 * N);
    assert_int_equal(b.output_tokens, 4 * N);
    assert_int_equal(b.cost_nanos, 20 * N);
    assert_int_equal(tally_stats(t, TALLY_SCOPE_MODEL, model[N - 1], &total, &b), TALLY_OK);
    assert_int_equal(b.requests, 2);
    tally_close(t);
}

/* Every key's field in its shard's hashes ("k:<id>" of {s:N}:t, :M:, :D:)
 * equals the sum of the "m:" fields of its own hash of the period, which
 * holds no "_", exactly (no saturation: a planted
 * key total 10 nano-USD short of 2^53 passes it), and no leaderboard is
 * written. */
static void key_fields_are_their_buckets(void **state) {
    (void)state;
    rng r = { 0x5eed5eedULL };
    make_events(&r, ru_now_ms() - 60000);
    static tally_result res[NEV];
    record_in_batches(&r, "L", 0, res);
    /* planted: sat's total, and its field in its shard's total (FNV-1a-32 of
     * "sat" mod 4 shards is 3) */
    redisReply *p = th_cmd("HSET L:" SCHEMA ":{k:sat}:t m:m0 1,0,0,0,0,9007199254740982");
    freeReplyObject(p);
    p = th_cmd("HSET L:" SCHEMA ":{s:3}:t k:sat 1,0,0,0,0,9007199254740982");
    freeReplyObject(p);
    tally *t = open_prefix("L", 0);
    tally_event sat = ru_event("sat", "m0", NULL, 0, 0, 0, 0, 20, ru_now_ms() - 60000, NULL);
    int dup;
    assert_int_equal(tally_record(t, &sat, &dup), TALLY_OK);
    tally_period total = ru_total();
    tally_rank *top;
    size_t n;
    assert_int_equal(tally_top(t, TALLY_RANK_COST, &total, 1, &top, &n), TALLY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(top[0].key, "sat");
    assert_int_equal(top[0].value, 9007199254741002LL); /* 2^53 + 10: exact */
    tally_top_free(top, n);
    tally_close(t);
    redisContext *node = th_redis();
    th_assert_gt((long long)ru_key_fields_match(&node, 1, "L"), 50);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(one_call_with_thousands_of_fields, th_clean),
        cmocka_unit_test_setup(batches_equal_one_by_one, th_clean),
        cmocka_unit_test_setup(small_calls_equal_one_by_one, th_clean),
        cmocka_unit_test_setup(recorder_equals_one_by_one, th_clean),
        cmocka_unit_test_setup(resent_batch_changes_nothing, th_clean),
        cmocka_unit_test_setup(key_fields_are_their_buckets, th_clean),
        cmocka_unit_test_setup(a_keys_first_event_wins_in_a_reordered_batch, th_clean),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_done();
    return rc;
}
