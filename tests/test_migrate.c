/* test_migrate.c -- redis suite: key schema v3 against a v2 dataset. A v2
 * dataset (planted with plain commands, as a v2 tally left it: keys, fields,
 * leaderboards, TTLs) is refused at open, never misread; tally_migrate and
 * `tally migrate` convert it in place: every key renamed with its value and
 * TTL, every board member's bucket as a k: field of its shard's hash, the
 * boards gone; a second run, a dry run and every refusal write nothing; a run
 * cut short is finished by the next. Asserts on raw keys only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

/* The expiries planted: a day's and a month's buckets. */
static long long exp_day, exp_month;

/* Sets a key's absolute expiry. */
static void expire_at(const char *key, long long at) {
    freeReplyObject(th_cmd("EXPIREAT %s %lld", key, at));
}

/* One key's buckets of all time, of a month and of a day (with hours), and
 * the shard's hashes and boards of the same periods that list it. */
static void plant_key(const char *enc, const char *raw, int shard, const char *bucket) {
    char key[256];
    const char *periods[3] = { "t", "M:202612", "D:20261207" };
    for (int p = 0; p < 3; p++) {
        snprintf(key, sizeof key, "tally:v2:{k:%s}:%s", enc, periods[p]);
        freeReplyObject(th_cmd("HSET %s _ %s m:m1 %s p:none %s", key, bucket, bucket, bucket));
        if (p == 2) freeReplyObject(th_cmd("HSET %s 10 %s", key, bucket));
        if (p) expire_at(key, p == 1 ? exp_month : exp_day);
        snprintf(key, sizeof key, "tally:v2:{s:%d}:%s", shard, periods[p]);
        freeReplyObject(th_cmd("HINCRBY %s n:%s 1", key, raw)); /* something of the shard's own */
        freeReplyObject(th_cmd("HSET %s _ 9,9,9,9,9,9 m:m1 9,9,9,9,9,9", key));
        if (p) expire_at(key, p == 1 ? exp_month : exp_day);
        for (const char *m = "crk"; *m; m++) {
            snprintf(key, sizeof key, "tally:v2:{s:%d}:L%c:%s", shard, *m, periods[p]);
            freeReplyObject(th_cmd("ZADD %s 3 %s", key, raw));
            if (p) expire_at(key, p == 1 ? exp_month : exp_day);
        }
    }
}

/* The dataset: keys "alpha" (shard 2) and "b {x}" (shard 5, encoded), a
 * board whose member's bucket expired, a board whose shard hash expired, the
 * account's, the schema's, the prices', request ids, a rate limit, a lease, a
 * minute. Returns the number of keys that are not boards. */
static int plant_v2(void) {
    exp_day = (long long)time(NULL) + 30 * 86400, exp_month = (long long)time(NULL) + 400 * 86400;
    plant_key("alpha", "alpha", 2, "3,10,5,0,0,700");
    plant_key("b%20%7Bx%7D", "b {x}", 5, "1,4,0,2,0,90");
    /* a day whose "gone" bucket expired: the member is skipped */
    freeReplyObject(th_cmd("HSET tally:v2:{k:alpha}:D:20261130 _ 1,1,0,0,0,1"));
    expire_at("tally:v2:{k:alpha}:D:20261130", exp_day);
    freeReplyObject(th_cmd("HSET tally:v2:{s:2}:D:20261130 _ 2,2,0,0,0,2"));
    expire_at("tally:v2:{s:2}:D:20261130", exp_day);
    freeReplyObject(th_cmd("ZADD tally:v2:{s:2}:Lr:D:20261130 1 alpha 1 gone"));
    freeReplyObject(th_cmd("ZADD tally:v2:{s:2}:Lc:D:20261130 1 alpha 1 gone"));
    expire_at("tally:v2:{s:2}:Lr:D:20261130", exp_day);
    expire_at("tally:v2:{s:2}:Lc:D:20261130", exp_day);
    /* a day whose shard hash expired (its board not yet): nothing created */
    freeReplyObject(th_cmd("HSET tally:v2:{k:alpha}:D:20261129 _ 1,1,0,0,0,1"));
    expire_at("tally:v2:{k:alpha}:D:20261129", exp_day);
    freeReplyObject(th_cmd("ZADD tally:v2:{s:2}:Lr:D:20261129 1 alpha"));
    expire_at("tally:v2:{s:2}:Lr:D:20261129", exp_day);
    freeReplyObject(th_cmd("HSET tally:v2:{a:acct}:t _ 4,14,5,2,0,790"));
    freeReplyObject(th_cmd("SET tally:v2:{c:schema}:S %s", "tz=+00:00 shards=8 idempotency_s=86400"));
    freeReplyObject(th_cmd("SET tally:v2:{c:schema}:A 0"));
    freeReplyObject(th_cmd("HSET tally:v2:{p:prices}:P version 1 m:m1 0,1,2,3,4,0,0,0,0,0"));
    freeReplyObject(th_cmd("HSET tally:v2:{k:alpha}:i:20794 0123456789abcdef 1 v 1"));
    expire_at("tally:v2:{k:alpha}:i:20794", exp_day);
    freeReplyObject(th_cmd("HSET tally:v2:{k:alpha}:rl:r:window:60000 a 1"));
    freeReplyObject(th_cmd("PEXPIRE tally:v2:{k:alpha}:rl:r:window:60000 600000000"));
    freeReplyObject(th_cmd("ZADD tally:v2:{k:alpha}:ls 99999999999999 0123456789abcdef0123456789abcdef"));
    freeReplyObject(th_cmd("HSET tally:v2:{s:2}:n:29944596 _ 1,1,0,0,0,1"));
    expire_at("tally:v2:{s:2}:n:29944596", exp_day);
    /* 2 keys x 3 periods x (key hash + shard hash) + 2 day hashes + the
     * shard's expired day's + 8 others */
    return 12 + 2 + 1 + 8;
}

#define BOARDS (2 * 3 * 3 + 2 + 1) /* 2 shards x 3 periods x 3 metrics, and the days' */
#define FIELDS (2 * 3 + 1 + 1)     /* each key in its 3 periods, alpha on 11-30; acct's total folded */
#define SKIPPED 2                  /* "gone" (11-30), alpha on 11-29 (no shard hash) */

static int by_name(const void *a, const void *b) {
    return strcmp((*(redisReply *const *)a)->str, (*(redisReply *const *)b)->str);
}

/* Every key of one version but the boards and the migration's mark, sorted,
 * one a line, named as in version 3, with its PEXPIRETIME and DUMP: what must
 * be the same after a rename (value and expiry). The caller frees it. */
static char *snapshot(int version) {
    redisReply *keys = th_cmd("KEYS tally:v%d:*", version);
    const char *from = version == 2 ? ":v2:" : ":v3:", *to = ":v3:";
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    qsort(keys->element, keys->elements, sizeof *keys->element, by_name);
    for (size_t i = 0; i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        if (strstr(k, "}:L") || strstr(k, "{c:schema}:F")) continue;
        if (strncmp(strchr(k, '{'), "{a:", 3) == 0 && (strstr(k, "}:t") || strstr(k, "}:M:"))) continue; /* folded */
        redisReply *d = th_cmd("DUMP %s", k);
        char name[512];
        snprintf(name, sizeof name, "%s", k);
        char *v = strstr(name, from);
        if (v) memcpy(v, to, strlen(to));
        len += (size_t)snprintf(out + len, cap - len, "%s %lld %zu:", name, th_int("PEXPIRETIME %s", k), d->len);
        for (size_t b = 0; b < d->len && len + 3 < cap; b++)
            len += (size_t)snprintf(out + len, cap - len, "%02x", (unsigned char)d->str[b]);
        len += (size_t)snprintf(out + len, cap - len, "\n");
        freeReplyObject(d);
    }
    freeReplyObject(keys);
    return out;
}

/* How many keys of version 2 are left. */
static size_t v2_keys(void) {
    redisReply *r = th_cmd("KEYS tally:v2:*");
    size_t n = r->elements;
    freeReplyObject(r);
    return n;
}

static tally *migrate_handle(int64_t max_script_us) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    cfg.defer_script_load = 1; /* only connects: a full open refuses the v2 prefix */
    if (max_script_us) cfg.max_script_us = max_script_us;
    return th_open(&cfg);
}

/* Opens a handle as an application would: its code, the message into msg. */
static int open_plain(char *msg, size_t cap) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    tally *t = NULL;
    int rc = tally_open(&cfg, &t);
    snprintf(msg, cap, "%s", t ? tally_errmsg(t) : "");
    tally_close(t);
    return rc;
}

/* The k: fields a finished migration wrote, each the key's own bucket. */
static void assert_fields(void) {
    static const struct { const char *hash, *field, *bucket; } want[] = {
        { "{s:2}:t", "k:alpha", "{k:alpha}:t" },
        { "{s:2}:M:202612", "k:alpha", "{k:alpha}:M:202612" },
        { "{s:2}:D:20261207", "k:alpha", "{k:alpha}:D:20261207" },
        { "{s:2}:D:20261130", "k:alpha", "{k:alpha}:D:20261130" },
        { "{s:5}:t", "k:b {x}", "{k:b%20%7Bx%7D}:t" },
        { "{s:5}:M:202612", "k:b {x}", "{k:b%20%7Bx%7D}:M:202612" },
        { "{s:5}:D:20261207", "k:b {x}", "{k:b%20%7Bx%7D}:D:20261207" },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        redisReply *got = th_cmd("HGET tally:v3:%s %s", want[i].hash, want[i].field);
        redisReply *own = th_cmd("HGET tally:v3:%s _", want[i].bucket);
        if (got->type != REDIS_REPLY_STRING || own->type != REDIS_REPLY_STRING || strcmp(got->str, own->str) != 0)
            fail_msg("%s %s: '%s', the key's bucket '%s'", want[i].hash, want[i].field,
                     got->type == REDIS_REPLY_STRING ? got->str : "(none)",
                     own->type == REDIS_REPLY_STRING ? own->str : "(none)");
        freeReplyObject(got), freeReplyObject(own);
    }
    assert_int_equal(th_int("HEXISTS tally:v3:{s:2}:D:20261130 k:gone"), 0);
    assert_int_equal(th_int("EXISTS tally:v3:{s:2}:D:20261129"), 0); /* never created without its expiry */
    assert_int_equal(th_int("HLEN tally:v3:{s:2}:t"), 2 + 1 + 1 + 1); /* _, m:m1, n:alpha, k:alpha, a:acct */
}

/* Removes the k: fields, so the shards' hashes can be compared with v2's. */
static void drop_fields(void) {
    redisReply *keys = th_cmd("KEYS tally:v3:{s:*");
    for (size_t i = 0; i < keys->elements; i++)
        if (strstr(keys->element[i]->str, "}:n:") == NULL) {
            freeReplyObject(th_cmd("HDEL %s k:alpha", keys->element[i]->str));
            freeReplyObject(th_cmd("HDEL %s %s", keys->element[i]->str, "k:b {x}"));
            freeReplyObject(th_cmd("HDEL %s a:acct", keys->element[i]->str)); /* folded: shard 2 */
        }
    freeReplyObject(keys);
}

/* Issue 19 item 3: a v2 prefix whose accounts marker is a later day (its
 * shards' a: fields miss the events before it). The migration folds each
 * account's own buckets (total, month, day) into its a: fields where they
 * fall short, exactly, deletes its total and month hashes (v3 reads those
 * from the shards), keeps its days and sets the marker to 0; a second run
 * changes nothing; account reads then equal the v2 buckets. */
static void account_buckets_are_folded(void **state) {
    (void)state;
    plant_v2();
    freeReplyObject(th_cmd("SET tally:v2:{c:schema}:A 20261201"));
    /* v2 wrote the account's own buckets; its fields only from 12-01 on,
     * spread over the shards of its keys (2 and 5) */
    freeReplyObject(th_cmd("HSET tally:v2:{a:acct}:M:202612 _ 3,10,4,2,0,600"));
    expire_at("tally:v2:{a:acct}:M:202612", exp_month);
    freeReplyObject(th_cmd("HSET tally:v2:{a:acct}:M:202611 _ 1,4,1,0,0,190"));
    expire_at("tally:v2:{a:acct}:M:202611", exp_month);
    freeReplyObject(th_cmd("HSET tally:v2:{a:acct}:D:20261207 _ 2,6,3,1,0,400 10 2,6,3,1,0,400"));
    expire_at("tally:v2:{a:acct}:D:20261207", exp_day);
    freeReplyObject(th_cmd("HSET tally:v2:{s:2}:M:202611 _ 1,4,1,0,0,190"));
    expire_at("tally:v2:{s:2}:M:202611", exp_month);
    freeReplyObject(th_cmd("HSET tally:v2:{s:5}:t a:acct 1,2,1,1,0,150"));
    freeReplyObject(th_cmd("HSET tally:v2:{s:5}:M:202612 a:acct 1,2,1,1,0,150"));
    freeReplyObject(th_cmd("HSET tally:v2:{s:2}:D:20261207 a:acct 1,4,2,0,0,250"));
    freeReplyObject(th_cmd("HSET tally:v2:{s:5}:D:20261207 a:acct 1,2,1,1,0,150"));
    tally *t = migrate_handle(0);
    tally_migrate_stats s;
    assert_int_equal(tally_migrate(t, 0, &s), TALLY_OK);
    assert_int_equal(s.fields, FIELDS - 1 + 3); /* total, 2026-12, 2026-11 (the day's fields were whole) */
    assert_int_equal(s.skipped, SKIPPED);
    redisReply *r = th_cmd("GET tally:v3:{c:schema}:A");
    assert_string_equal(r->str, "0");
    freeReplyObject(r);
    assert_int_equal(th_int("EVAL %s 0", "return #redis.call('KEYS', 'tally:v3:{a:*}:[tM]*')"), 0);
    assert_int_equal(th_int("EXISTS tally:v3:{a:acct}:D:20261207"), 1);
    /* the difference lands in shard FNV-1a("acct") mod 8 = 2 */
    r = th_cmd("HGET tally:v3:{s:2}:t a:acct");
    assert_string_equal(r->str, "3,12,4,1,0,640");
    freeReplyObject(r);
    r = th_cmd("HGET tally:v3:{s:2}:M:202611 a:acct");
    assert_string_equal(r->str, "1,4,1,0,0,190");
    freeReplyObject(r);
    char d1[41], d2[41];
    th_digest(d1);
    assert_int_equal(tally_migrate(t, 0, &s), TALLY_OK);
    th_digest(d2);
    assert_string_equal(d1, d2);
    assert_int_equal(s.fields + s.skipped + s.renamed, 0);
    tally_close(t);
    /* reads as v3: each equal to the v2 bucket */
    t = th_open(NULL);
    static const struct { int kind, y, m, d; int64_t req, cost; } want[] = {
        { TALLY_TOTAL, 0, 0, 0, 4, 790 }, { TALLY_MONTH, 2026, 12, 0, 3, 600 }, { TALLY_DAY, 2026, 12, 7, 2, 400 } };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        tally_period p = { want[i].kind, want[i].y, want[i].m, want[i].d, 0 };
        tally_bucket b;
        assert_int_equal(tally_stats(t, TALLY_SCOPE_ACCOUNT, "acct", &p, &b), TALLY_OK);
        assert_int_equal(b.requests, want[i].req);
        assert_int_equal(b.cost_nanos, want[i].cost);
    }
    tally_close(t);
}

/* The whole migration: every key renamed with its value and expiry, every
 * k: field, no v2 key left, the mark; the prefix then opens. */
static void converts_in_place(void **state) {
    (void)state;
    int plain = plant_v2();
    char *before = snapshot(2);
    tally *t = migrate_handle(0);
    tally_migrate_stats s;
    assert_int_equal(tally_migrate(t, 0, &s), TALLY_OK);
    assert_int_equal(s.renamed, plain);
    assert_int_equal(s.boards, BOARDS);
    assert_int_equal(s.fields, FIELDS);
    assert_int_equal(s.skipped, SKIPPED);
    assert_int_equal(s.left, 0);
    assert_int_equal(v2_keys(), 0);
    redisReply *mark = th_cmd("GET tally:v3:{c:schema}:F");
    assert_string_equal(mark->str, "v2");
    freeReplyObject(mark);
    assert_int_equal(th_int("TTL tally:v3:{c:schema}:F"), -1);
    assert_fields();
    char msg[512];
    assert_int_equal(open_plain(msg, sizeof msg), TALLY_OK);
    /* a second run changes nothing */
    char d1[41], d2[41];
    th_digest(d1);
    assert_int_equal(tally_migrate(t, 0, &s), TALLY_OK);
    th_digest(d2);
    assert_string_equal(d1, d2);
    assert_int_equal(s.renamed + s.boards + s.fields + s.skipped + s.left, 0);
    tally_close(t);
    drop_fields();
    char *after = snapshot(3);
    assert_string_equal(before, after); /* every value and expiry kept */
    free(before), free(after);
}

/* A dry run counts what the run does and writes nothing; the tool says it. */
static void dry_run_writes_nothing(void **state) {
    (void)state;
    int plain = plant_v2();
    char d1[41], d2[41];
    th_digest(d1);
    tally *t = migrate_handle(0);
    tally_migrate_stats s;
    assert_int_equal(tally_migrate(t, 1, &s), TALLY_OK);
    tally_close(t);
    th_digest(d2);
    assert_string_equal(d1, d2);
    assert_int_equal(s.renamed, plain);
    assert_int_equal(s.boards, BOARDS);
    assert_int_equal(s.fields, FIELDS);
    assert_int_equal(s.skipped, SKIPPED);
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "migrate", "--dry-run", "--json", "--url", th_url()), 0);
    th_assert_mentions(out, "\"dry_run\":true");
    th_assert_mentions(out, "\"fields\":8");
    free(out), free(err);
    th_digest(d2);
    assert_string_equal(d1, d2);
}

/* Every key that marks a v2 dataset makes the open refuse the prefix, naming
 * the key and what to do; nothing is written; the tool exits 2. */
static void v2_dataset_is_refused(void **state) {
    (void)state;
    static const char *const markers[] = {
        "HSET tally:v2:{s:3}:t _ 1,1,0,0,0,1",
        "ZADD tally:v2:{s:7}:Lr:t 1 k", /* a migration cut short: only boards left */
        "SET tally:v2:{c:schema}:S x",
        "HSET tally:v2:{p:prices}:P version 1",
    };
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        th_clean(NULL);
        freeReplyObject(th_cmd(markers[i]));
        char d1[41], d2[41], msg[512];
        th_digest(d1);
        assert_int_equal(open_plain(msg, sizeof msg), TALLY_EINVAL);
        th_assert_mentions(msg, "key schema v2");
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)strcspn(strchr(markers[i], ' ') + 1, " "), strchr(markers[i], ' ') + 1);
        th_assert_mentions(msg, key); /* the key found */
        th_assert_mentions(msg, "tally migrate");
        char *out, *err;
        assert_int_equal(RUN(&out, &err, "record", "--key", "k", "--model", "m", "--input", "1", "--cost", "0.1",
                             "--url", th_url()),
                         2);
        th_assert_mentions(err, "key schema v2");
        free(out), free(err);
        th_digest(d2);
        assert_string_equal(d1, d2);
    }
}

/* A prefix that already holds v3 data no migration made is refused, nothing
 * written; so are v2 keys whose v3 name exists (left, named, boards kept). */
static void refusals_write_nothing(void **state) {
    (void)state;
    plant_v2();
    freeReplyObject(th_cmd("SET tally:v3:{c:schema}:S %s", "tz=+00:00 shards=8 idempotency_s=86400"));
    char d1[41], d2[41];
    th_digest(d1);
    tally *t = migrate_handle(0);
    tally_migrate_stats s;
    assert_int_equal(tally_migrate(t, 0, &s), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "tally:v3:{c:schema}:S");
    th_digest(d2);
    assert_string_equal(d1, d2);
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "migrate", "--url", th_url()), 2);
    th_assert_mentions(err, "no migration made");
    free(out), free(err);
    th_digest(d2);
    assert_string_equal(d1, d2);
    /* a v3 key written while migrating: left under v2, the boards kept */
    freeReplyObject(th_cmd("DEL tally:v3:{c:schema}:S"));
    freeReplyObject(th_cmd("SET tally:v3:{c:schema}:F v2"));
    freeReplyObject(th_cmd("HSET tally:v3:{a:acct}:t _ 1,0,0,0,0,0"));
    assert_int_equal(tally_migrate(t, 0, &s), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "tally:v2:{a:acct}:t");
    assert_int_equal(s.left, 1);
    assert_int_equal(s.boards, 0);
    assert_int_equal(th_int("EXISTS tally:v2:{a:acct}:t"), 1);
    assert_int_equal(th_int("EXISTS tally:v2:{s:2}:Lr:t"), 1);
    redisReply *kept = th_cmd("HGET tally:v3:{a:acct}:t _");
    assert_string_equal(kept->str, "1,0,0,0,0,0");
    freeReplyObject(kept);
    tally_close(t);
}

/* Under a maxmemory-policy that may evict, the migration is refused before
 * its first write, as recording is (TALLY_EEVICT; the tool exits 5). */
static void refused_where_redis_may_evict(void **state) {
    (void)state;
    plant_v2();
    freeReplyObject(th_cmd("CONFIG SET maxmemory-policy allkeys-lru"));
    char d1[41], d2[41];
    th_digest(d1);
    tally *t = migrate_handle(0);
    tally_migrate_stats s;
    int rc = tally_migrate(t, 0, &s);
    tally_close(t);
    char *out, *err;
    int code = RUN(&out, &err, "migrate", "--url", th_url());
    freeReplyObject(th_cmd("CONFIG SET maxmemory-policy noeviction"));
    assert_int_equal(rc, TALLY_EEVICT);
    assert_int_equal(code, 5);
    th_assert_mentions(err, "allkeys-lru");
    free(out), free(err);
    th_digest(d2);
    assert_string_equal(d1, d2);
}

/* A run cut short (here: by a key of the wrong type where a shard's hash
 * should be, after the renames and some boards) is finished by the next,
 * with the same result as one run; meanwhile the prefix stays refused. Small
 * calls (max_script_us 100: 20 keys or members a call) page the boards. */
static void cut_short_run_is_finished_by_the_next(void **state) {
    (void)state;
    plant_v2();
    for (int i = 0; i < 45; i++) { /* a board of 47 members: three pages */
        freeReplyObject(th_cmd("HSET tally:v2:{k:many%d}:t _ %d,1,0,0,0,0", i, i + 1));
        freeReplyObject(th_cmd("ZADD tally:v2:{s:2}:Lr:t 1 many%d", i));
    }
    freeReplyObject(th_cmd("SET tally:v2:{s:5}:M:202612 not-a-hash")); /* periods go D:, M:, then t */
    tally *t = migrate_handle(100);
    tally_migrate_stats s;
    assert_int_equal(tally_migrate(t, 0, &s), TALLY_EREDIS);
    th_assert_mentions(tally_errmsg(t), "tally:v3:{s:5}:M:202612");
    assert_int_equal(th_int("EXISTS tally:v2:{s:2}:Lr:D:20261130"), 0); /* done before */
    assert_int_equal(th_int("EXISTS tally:v2:{s:5}:Lr:M:202612"), 1);   /* not done */
    char msg[512];
    assert_int_equal(open_plain(msg, sizeof msg), TALLY_EINVAL); /* the boards of all time are left */
    th_assert_mentions(msg, "Lr:t");
    freeReplyObject(th_cmd("DEL tally:v3:{s:5}:M:202612"));
    freeReplyObject(th_cmd("HSET tally:v3:{s:5}:M:202612 _ 9,9,9,9,9,9"));
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "migrate", "--url", th_url()), 0);
    th_assert_mentions(out, "keys renamed");
    free(out), free(err);
    assert_int_equal(v2_keys(), 0);
    for (int i = 0; i < 45; i++) {
        redisReply *f = th_cmd("HGET tally:v3:{s:2}:t k:many%d", i);
        char want[32];
        snprintf(want, sizeof want, "%d,1,0,0,0,0", i + 1);
        assert_string_equal(f->str, want);
        freeReplyObject(f);
    }
    redisReply *f = th_cmd("HGET tally:v3:{s:5}:M:202612 %s", "k:b {x}");
    assert_string_equal(f->str, "1,4,0,2,0,90");
    freeReplyObject(f);
    assert_int_equal(open_plain(msg, sizeof msg), TALLY_OK);
    tally_close(t);
}

/* A prefix is a glob in SCAN's pattern: its glob characters match
 * themselves only, so another prefix's keys are never taken; a key that is no
 * tally key is left where it is. */
static void prefix_glob_matches_itself(void **state) {
    (void)state;
    freeReplyObject(th_cmd("HSET a*b:v2:{k:x}:t _ 1,0,0,0,0,0"));
    freeReplyObject(th_cmd("HSET axb:v2:{k:x}:t _ 1,0,0,0,0,0"));
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    cfg.prefix = "a*b";
    cfg.defer_script_load = 1;
    tally *t = th_open(&cfg);
    tally_migrate_stats s;
    assert_int_equal(tally_migrate(t, 0, &s), TALLY_OK);
    assert_int_equal(s.renamed, 1);
    assert_int_equal(th_int("EXISTS a*b:v3:{k:x}:t"), 1);
    assert_int_equal(th_int("EXISTS axb:v2:{k:x}:t"), 1);
    /* a key under the prefix that is no entity's is left, and named */
    freeReplyObject(th_cmd("SET a*b:v2:junk x"));
    assert_int_equal(tally_migrate(t, 0, &s), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "a*b:v2:junk");
    assert_int_equal(s.left, 1);
    assert_int_equal(th_int("EXISTS a*b:v2:junk"), 1);
    tally_close(t);
}

/* The users of docs/acl.md: the application's sees the v2 dataset (its
 * check may read v2 keys) and is refused; the migration's converts it; the
 * application's then opens the prefix. */
static void runs_as_the_users_of_acl_md(void **state) {
    (void)state;
    plant_v2();
    th_acl_setuser("tally", "pw-9d8c");
    th_acl_setuser("tally-migrate", "pw-9d8c");
    const char *port = getenv("TALLY_TEST_PORT");
    assert_non_null(port);
    char app[128], mig[128];
    snprintf(app, sizeof app, "redis://tally:pw-9d8c@127.0.0.1:%s", port);
    snprintf(mig, sizeof mig, "redis://tally-migrate:pw-9d8c@127.0.0.1:%s", port);
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = app;
    tally *t = NULL;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EINVAL);
    th_assert_mentions(tally_errmsg(t), "key schema v2");
    tally_close(t);
    cfg.url = mig;
    cfg.defer_script_load = 1;
    t = th_open(&cfg);
    tally_migrate_stats s;
    if (tally_migrate(t, 0, &s) != TALLY_OK) fail_msg("migrate as tally-migrate: %s", tally_errmsg(t));
    assert_int_equal(s.fields, FIELDS);
    tally_close(t);
    assert_int_equal(v2_keys(), 0);
    cfg.url = app;
    cfg.defer_script_load = 0;
    t = th_open(&cfg);
    tally_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(converts_in_place, th_clean),
        cmocka_unit_test_setup(account_buckets_are_folded, th_clean),
        cmocka_unit_test_setup(dry_run_writes_nothing, th_clean),
        cmocka_unit_test_setup(v2_dataset_is_refused, th_clean),
        cmocka_unit_test_setup(refusals_write_nothing, th_clean),
        cmocka_unit_test_setup(refused_where_redis_may_evict, th_clean),
        cmocka_unit_test_setup(cut_short_run_is_finished_by_the_next, th_clean),
        cmocka_unit_test_setup(prefix_glob_matches_itself, th_clean),
        cmocka_unit_test_setup(runs_as_the_users_of_acl_md, th_clean),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_done();
    return rc;
}
