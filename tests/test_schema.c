/* test_schema.c -- redis: the schema's parameters stored with the data
 * (docs/keys.md): the first write under a prefix stores the timezone, the
 * shard count and the idempotency window; a handle or a tool command with
 * other ones is refused naming both values, at open and at its first write;
 * a fresh prefix, a reader, a user that may only read and a read-only replica
 * are handled; and a name with no data says so (tally stats' notice and
 * --json "found"). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SCHEMA_KEY "tally:v3:{c:schema}:S"

static tally_event event(const char *key) {
    return (tally_event){ .key = key, .model = "m", .input_tokens = 5, .cost_nanos = 7 };
}

static tally_config config(int tz_min, int shards) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = th_url();
    cfg.tz_offset_min = tz_min;
    cfg.shards = shards;
    return cfg;
}

/* The stored text, or "" when none ("nil"). */
static void stored(char *out, size_t n) {
    redisReply *r = th_cmd("GET " SCHEMA_KEY);
    snprintf(out, n, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* Opening writes nothing; the first record stores the handle's parameters. */
static void stored_on_first_write(void **state) {
    (void)state;
    tally_config cfg = config(330, 4);
    tally *t = th_open(&cfg);
    char text[128];
    stored(text, sizeof text);
    assert_string_equal(text, "");
    tally_bucket b;
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k", &total, &b), TALLY_OK); /* a read stores nothing */
    assert_int_equal(th_int("EXISTS " SCHEMA_KEY), 0);
    tally_event ev = event("k");
    assert_int_equal(tally_record(t, &ev, NULL), TALLY_OK);
    stored(text, sizeof text);
    assert_string_equal(text, "tz=+05:30 shards=4 idempotency_s=86400");
    assert_int_equal(th_int("TTL " SCHEMA_KEY), -1);
    tally_close(t);
    /* the same parameters open and write again */
    t = th_open(&cfg);
    assert_int_equal(tally_record(t, &ev, NULL), TALLY_OK);
    tally_close(t);
}

/* A prefix whose parameters a first record stored: +14:00, 8 shards. */
static tally_config recorded_at_plus_14(void) {
    tally_config cfg = config(840, 8);
    tally *t = th_open(&cfg);
    tally_event ev = event("k");
    assert_int_equal(tally_record(t, &ev, NULL), TALLY_OK);
    tally_close(t);
    return cfg;
}

/* A handle with another timezone or shard count is refused at open, with a
 * message naming both values; another prefix is a fresh start. */
static void other_parameters_refused_at_open(void **state) {
    (void)state;
    recorded_at_plus_14();
    tally *t;
    tally_event ev = event("k");
    char before[41];
    th_digest(before);

    tally_config other = config(0, 8);
    assert_int_equal(tally_open(&other, &t), TALLY_EINVAL);
    const char *msg = tally_errmsg(t);
    if (!strstr(msg, "tz=+14:00") || !strstr(msg, "tz=+00:00"))
        fail_msg("the refusal does not name both timezones: %s", msg);
    assert_null(strstr(msg, "shards")); /* only what differs */
    tally_close(t);

    other = config(840, 16);
    assert_int_equal(tally_open(&other, &t), TALLY_EINVAL);
    msg = tally_errmsg(t);
    if (!strstr(msg, "shards=8") || !strstr(msg, "shards=16")) fail_msg("the refusal does not name both: %s", msg);
    tally_close(t);

    other = config(840, 8);
    other.idempotency_s = 3600;
    assert_int_equal(tally_open(&other, &t), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "idempotency_s=86400 (this handle: idempotency_s=3600)"));
    tally_close(t);

    /* retention is not a parameter of the keys: it may differ */
    other = config(840, 8);
    other.ttl_day_s = 40 * 86400;
    assert_int_equal(tally_open(&other, &t), TALLY_OK);
    tally_close(t);
    char after[41];
    th_digest(after);
    assert_string_equal(before, after); /* refusals wrote nothing */

    other = config(0, 16);
    other.prefix = "fresh";
    assert_int_equal(tally_open(&other, &t), TALLY_OK);
    assert_int_equal(tally_record(t, &ev, NULL), TALLY_OK);
    tally_close(t);
    char text[128];
    redisReply *r = th_cmd("GET fresh:v3:{c:schema}:S");
    snprintf(text, sizeof text, "%s", r->str);
    freeReplyObject(r);
    assert_string_equal(text, "tz=+00:00 shards=16 idempotency_s=86400");
}

/* Two handles opened on an empty prefix: the first to write stores its
 * parameters; the other's first write is refused, nothing written; a handle
 * opened with defer_script_load (no round trip at open) likewise. */
static void first_writer_wins(void **state) {
    (void)state;
    tally_config ca = config(60, 8), cb = config(-60, 8);
    tally *a = th_open(&ca), *b = th_open(&cb);
    tally_event ev = event("k");
    assert_int_equal(tally_record(a, &ev, NULL), TALLY_OK);
    char before[41], after[41];
    th_digest(before);
    assert_int_equal(tally_record(b, &ev, NULL), TALLY_EINVAL);
    const char *msg = tally_errmsg(b);
    if (!strstr(msg, "tz=+01:00") || !strstr(msg, "tz=-01:00")) fail_msg("the refusal does not name both: %s", msg);
    tally_result res[2];
    tally_event two[2] = { event("k"), event("k2") };
    assert_int_equal(tally_record_batch(b, two, 2, res), TALLY_EINVAL);
    assert_int_equal(res[0].code, TALLY_EINVAL);
    assert_int_equal(res[1].code, TALLY_EINVAL);
    assert_non_null(strstr(res[1].message, "tz=+01:00"));
    two[0].request_id = "r1";
    assert_int_equal(tally_settle(b, &two[0], NULL), TALLY_EINVAL);
    cb.defer_script_load = 1;
    tally *d = th_open(&cb);
    assert_int_equal(tally_record(d, &ev, NULL), TALLY_EINVAL);
    th_digest(after);
    assert_string_equal(before, after);
    tally_close(a);
    tally_close(b);
    tally_close(d);
}

/* A user that may only read (GET and the read scripts) is checked at open;
 * the operator's user, which may not read the key, is not refused. */
static void read_only_user(void **state) {
    (void)state;
    tally_config cfg = recorded_at_plus_14();
    tally *t;
    freeReplyObject(th_cmd("ACL SETUSER reader reset on >pw %%R~tally:* resetchannels -@all +script|load "
                           "+evalsha_ro +exists +get +info +hmget"));
    freeReplyObject(th_cmd("ACL SETUSER op reset on >pw ~tally:v3:{p:* resetchannels -@all +script|load "
                           "+evalsha +evalsha_ro +exists +info"));
    const char *port = strrchr(th_url(), ':');
    char url[128];
    snprintf(url, sizeof url, "redis://reader:pw@127.0.0.1%.*s", (int)strcspn(port, "/"), port);
    cfg = config(0, 8);
    cfg.url = url;
    assert_int_equal(tally_open(&cfg, &t), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "tz=+14:00 (this handle: tz=+00:00)"));
    tally_close(t);
    cfg.tz_offset_min = 840;
    cfg.read_from = TALLY_READ_REPLICA; /* EVALSHA_RO: what this user may run */
    assert_int_equal(tally_open(&cfg, &t), TALLY_OK);
    tally_bucket b;
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k", &total, &b), TALLY_OK);
    assert_int_equal(b.input_tokens, 5);
    tally_close(t);
    snprintf(url, sizeof url, "redis://op:pw@127.0.0.1%.*s", (int)strcspn(port, "/"), port);
    cfg = config(0, 8);
    cfg.url = url;
    assert_int_equal(tally_open(&cfg, &t), TALLY_OK); /* NOPERM on the key: not checked */
    tally_close(t);
}

/* The test server as a read-only replica (of a port where nothing listens: it
 * keeps its data and serves it, stale): the stored parameters are read and
 * checked at open; a write cannot store them (READONLY), which refuses
 * nothing by itself. */
static void read_only_replica(void **state) {
    (void)state;
    tally_config cfg = recorded_at_plus_14();
    tally *t;
    tally_event ev = event("k");
    freeReplyObject(th_cmd("REPLICAOF 127.0.0.1 1"));
    cfg = config(0, 8);
    assert_int_equal(tally_open(&cfg, &t), TALLY_EINVAL);
    assert_non_null(strstr(tally_errmsg(t), "tz=+14:00 (this handle: tz=+00:00)"));
    tally_close(t);
    cfg = config(840, 8);
    cfg.read_from = TALLY_READ_REPLICA;
    t = th_open(&cfg);
    tally_bucket b;
    tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    assert_int_equal(tally_stats(t, TALLY_SCOPE_KEY, "k", &total, &b), TALLY_OK);
    assert_int_equal(b.requests, 1);
    tally_close(t);
    cfg = config(0, 8);
    cfg.prefix = "empty";
    t = th_open(&cfg); /* nothing stored under this prefix: nothing to check */
    assert_int_not_equal(tally_record(t, &ev, NULL), TALLY_OK); /* the replica refuses the write itself */
    assert_int_equal(th_int("EXISTS empty:v3:{c:schema}:S"), 0);
    tally_close(t);
}

static int primary_again(void **state) {
    (void)state;
    freeReplyObject(th_cmd("REPLICAOF NO ONE"));
    return 0;
}

/* Under a maxmemory-policy that may evict, the first record is refused
 * before anything is sent, its parameters included; with allow_eviction
 * they are stored with it. */
static void evicting_server_stores_nothing(void **state) {
    (void)state;
    freeReplyObject(th_cmd("CONFIG SET maxmemory-policy volatile-lru"));
    tally_config cfg = config(0, 8);
    tally *t = th_open(&cfg);
    tally_event ev = event("k");
    int rc = tally_record(t, &ev, NULL);
    long long stored_then = th_int("EXISTS " SCHEMA_KEY), keys = th_int("DBSIZE");
    tally_close(t);
    cfg.allow_eviction = 1;
    t = th_open(&cfg);
    int allowed = tally_record(t, &ev, NULL);
    tally_close(t);
    freeReplyObject(th_cmd("CONFIG SET maxmemory-policy noeviction"));
    assert_int_equal(rc, TALLY_EEVICT);
    assert_int_equal(stored_then, 0);
    assert_int_equal(keys, 0);
    assert_int_equal(allowed, TALLY_OK);
    assert_int_equal(th_int("EXISTS " SCHEMA_KEY), 1);
}

/* The tool: `record --tz +14:00`, then `stats` without --tz is refused (exit
 * 2) naming both; with --tz +14:00 it reads the event. */
static void tool_refuses_another_timezone(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "record", "--key", "k", "--model", "m", "--input", "5", "--tz", "+14:00",
                         "--url", th_url()),
                     0);
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "stats", "--key", "k", "--period", "today", "--url", th_url()), 2);
    if (!strstr(err, "tz=+14:00") || !strstr(err, "tz=+00:00")) fail_msg("stderr does not name both: %s", err);
    assert_string_equal(out, "");
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "record", "--key", "k", "--model", "m", "--input", "5", "--url", th_url()), 2);
    assert_non_null(strstr(err, "tz=+14:00"));
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "stats", "--key", "k", "--period", "today", "--tz", "+14:00", "--json", "--url",
                         th_url()),
                     0);
    assert_non_null(strstr(out, "\"requests\":1"));
    assert_non_null(strstr(out, "\"found\":true"));
    assert_string_equal(err, "");
    free(out), free(err);
}

/* A name with no data reads as zeros, exit 0, with a notice on stderr, and
 * --json "found": false. */
static void no_data_says_so(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "record", "--key", "k", "--model", "m", "--input", "5", "--url", th_url()), 0);
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "stats", "--key", "nosuchkey", "--url", th_url()), 0);
    assert_string_equal(err, "tally stats: no data for key nosuchkey in total\n");
    assert_non_null(strstr(out, "key nosuchkey"));
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "stats", "--account", "nobody", "--period", "day:2026-01-02", "--json", "--url",
                         th_url()),
                     0);
    assert_string_equal(err, "tally stats: no data for account nobody in 2026-01-02\n");
    assert_non_null(strstr(out, "\"found\":false"));
    assert_non_null(strstr(out, "\"requests\":0"));
    free(out), free(err);
    assert_int_equal(RUN(&out, &err, "stats", "--key", "k", "--url", th_url()), 0);
    assert_string_equal(err, "");
    free(out), free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(stored_on_first_write, th_clean),
        cmocka_unit_test_setup(other_parameters_refused_at_open, th_clean),
        cmocka_unit_test_setup(first_writer_wins, th_clean),
        cmocka_unit_test_setup(read_only_user, th_clean),
        cmocka_unit_test_setup_teardown(read_only_replica, th_clean, primary_again),
        cmocka_unit_test_setup(evicting_server_stores_nothing, th_clean),
        cmocka_unit_test_setup(tool_refuses_another_timezone, th_clean),
        cmocka_unit_test_setup(no_data_says_so, th_clean),
    };
    int rc = cmocka_run_group_tests_name("schema", tests, NULL, NULL);
    th_done();
    return rc;
}
