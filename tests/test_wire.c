/* test_wire.c -- unit (no server): the record call's numbers (c/wire.h, packed
 * by wire.c, written by aggregate.c's encoder) decoded here in C, apart from
 * lua/record.lua, and compared with what was merged: the head's counts against
 * the call's keys and arguments, the layout walked to its exact end with the
 * names in the order it uses them (day fields before hour fields), every
 * index in range, and the deltas equal to the events' sums. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aggregate.h"
#include "handle.h"
#include "wire.h"

/* The numbers of a JSON array of whole numbers, as record.lua accepts it:
 * digits and commas between brackets. The count, or -1. */
static long parse(const char *s, size_t n, int64_t *out, long max) {
    if (n < 2 || s[0] != '[' || s[n - 1] != ']') return -1;
    long k = 0;
    for (size_t i = 1; i + 1 < n;) {
        if (k == max || s[i] < '0' || s[i] > '9') return -1;
        int64_t x = 0;
        for (; s[i] >= '0' && s[i] <= '9'; i++) x = 10 * x + (s[i] - '0');
        out[k++] = x;
        if (s[i] == ',') i++;
        else if (i + 1 != n) return -1;
    }
    return k;
}

static void packs_numbers(void **state) {
    (void)state;
    tally_vec v = { 0 };
    assert_int_equal(tally__wire_open(&v) | tally__wire_close(&v), 0);
    assert_memory_equal(v.p, "[]", 2);
    assert_int_equal(tally__wire_open(&v), 0);
    int64_t xs[] = { 0, 7, 1795687200000, TALLY_WIRE_NUM_MAX };
    for (int i = 0; i < 4; i++) assert_int_equal(tally__wire_num(&v, xs[i]), 0);
    assert_int_equal(tally__wire_close(&v), 0);
    const char *want = "[0,7,1795687200000,9007199254740991]";
    assert_int_equal(v.n, strlen(want));
    assert_memory_equal(v.p, want, v.n);
    free(v.p);
}

static const char *arg(const tally_args *a, int i, size_t *n) {
    *n = a->lens[i];
    return a->buf + a->off[i];
}

/* Merges events, encodes the call and walks its numbers by wire.h. */
static void check_call(const tally_event *ev, size_t n, int mask) {
    struct tally t;
    memset(&t, 0, sizeof t);
    tally_config_init(&t.cfg);
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    int64_t now = 1795687200000, sums[TALLY_WIRE_DELTA] = { 0 };
    tally__agg_begin(g, &t, now);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tally__agg_add(g, &ev[i], now, ev[i].cost_nanos, -1, mask, 0, i), TALLY_AGG_ADDED);
        int64_t d[6] = { 1, ev[i].input_tokens, ev[i].output_tokens, ev[i].cache_create_tokens,
                         ev[i].cache_read_tokens, ev[i].cost_nanos };
        for (int m = 0; m < 6; m++) sums[m] += d[m];
    }
    tally_args a = { 0 };
    tally__args_reset(&a);
    assert_int_equal(tally__agg_encode(g, &a), 0);
    int nkeys = a.nkeys_at - 3, argv0 = a.nkeys_at; /* EVALSHA sha numkeys KEYS... */
    size_t len;
    const char *s = arg(&a, argv0, &len);
    int64_t *x = malloc(100000 * sizeof *x);
    long nv = parse(s, len, x, 100000);
    assert_true(nv >= TALLY_WIRE_HEAD);
    int64_t nh = x[2], ng = x[3], ni = x[4], np = x[5], nr = x[6], nd = x[7], nn = x[8];
    assert_int_equal(x[0], now);
    assert_int_equal(nh + 3 * ng + ni + np + 2 * nr, nkeys);
    assert_int_equal(a.argc - argv0, 2 + nn + 2 * ni);
    long at = TALLY_WIRE_HEAD + TALLY_WIRE_DELTA * nd;
    /* every hash's fields are the next names, day fields before hour fields
     * (an hour's name starts with a digit); each names a delta; the entity's
     * bucket "_" gains all of the events (every event here touches it) */
    int name = argv0 + 2, saw_entity_bucket = 0;
    for (int64_t h = 0; h < nh; h++) {
        assert_true(at + TALLY_WIRE_HASH_HEAD <= nv);
        int64_t prune = x[at + 3], days = x[at + 4], hours = x[at + 5];
        assert_true(prune <= np);
        assert_true(days + hours >= 1);
        at += TALLY_WIRE_HASH_HEAD;
        for (int64_t f = 0; f < days + hours; f++, at += TALLY_WIRE_FIELD, name++) {
            int64_t delta = x[at];
            assert_true(delta >= 1 && delta <= nd);
            size_t fn;
            const char *field = arg(&a, name, &fn);
            assert_true(fn > 0);
            assert_int_equal(field[0] >= '0' && field[0] <= '9', f >= days);
            if (fn == 1 && field[0] == '_') {
                saw_entity_bucket = 1;
                const int64_t *d = &x[TALLY_WIRE_HEAD + TALLY_WIRE_DELTA * (delta - 1)];
                for (int m = 0; m < TALLY_WIRE_DELTA; m++) assert_int_equal(d[m], sums[m]);
            }
        }
    }
    assert_true(saw_entity_bucket);
    for (int64_t b = 0; b < ng; b++) {
        int64_t mode = x[at], nm = x[at + 2];
        assert_true(mode == TALLY_WIRE_MODE_SOURCED || mode == TALLY_WIRE_MODE_INC);
        at += TALLY_WIRE_GROUP_HEAD;
        int size = mode == TALLY_WIRE_MODE_SOURCED ? TALLY_WIRE_MEMBER_SOURCED : TALLY_WIRE_MEMBER_INC;
        for (int64_t m = 0; m < nm; m++, at += size, name++) {
            size_t mn;
            const char *member = arg(&a, name, &mn);
            assert_true(mn == strlen(ev[0].key) && memcmp(member, ev[0].key, mn) == 0);
            if (mode == TALLY_WIRE_MODE_SOURCED) assert_true(x[at] >= 1 && x[at] <= nh);
            else {
                assert_int_equal(x[at], sums[5]);
                assert_int_equal(x[at + 2], (int64_t)n);
            }
        }
    }
    assert_int_equal(name, argv0 + 2 + nn); /* every name used, in order */
    at += TALLY_WIRE_IDS * ni;
    assert_int_equal(at, nv); /* the layout ends where the array does */
    free(x);
    tally__args_free(&a);
    tally__agg_free(g);
}

static void one_event_decodes_to_its_merge(void **state) {
    (void)state;
    tally_event e = { "key_123", "claude-3-5-sonnet", "acct_1", 1000, 500, 0, 200, 12300000, 0, "req-42" };
    check_call(&e, 1, TALLY_AGG_ALL);
}

static void small_batch_of_one_key_decodes_to_its_sums(void **state) {
    (void)state;
    tally_event e[10];
    char ids[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        e[i] = (tally_event){ "key_9", "m0", "a0", 10 + i, 5, i, 1, 1000 + i, 0, ids[i] };
    }
    check_call(e, 10, TALLY_AGG_ALL);
}

static void a_cluster_shard_call_sends_increments(void **state) {
    (void)state;
    tally_event e = { "key_123", "m0", NULL, 1, 2, 3, 4, 5, 0, NULL };
    check_call(&e, 1, TALLY_AGG_SHARD); /* no key hashes: leaderboards in mode 0 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(packs_numbers),
        cmocka_unit_test(one_event_decodes_to_its_merge),
        cmocka_unit_test(small_batch_of_one_key_decodes_to_its_sums),
        cmocka_unit_test(a_cluster_shard_call_sends_increments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
