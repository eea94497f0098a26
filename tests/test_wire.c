/* test_wire.c -- unit (no server): the record call's numbers (c/wire.h), packed
 * by wire.c and written by aggregate.c's encoder, read back in C apart from
 * lua/record.lua and compared with what was merged (wire_check.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aggregate.h"
#include "encode.h"
#include "handle.h"
#include "wire.h"
#include "wire_check.h"

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

/* Merges events of one key, encodes the call and reads it back. */
static void check_call(const tally_event *ev, size_t n, int mask) {
    tally_config cfg;
    tally_config_init(&cfg);
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    int64_t now = 1795687200000;
    tally_schema schema = tally__schema_of(&cfg);
    tally__agg_begin(g, &schema, now);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tally__agg_add(g, &ev[i], now, ev[i].cost_nanos, -1, mask, 0, i), TALLY_AGG_ADDED);
    tally_args a = { 0 };
    tally__args_reset(&a);
    assert_int_equal(tally__agg_encode(g, &a), 0);
    char why[256] = "";
    int rc = wire_check(&a, ev, n, why, sizeof why);
    if (rc) fail_msg("%s", why);
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

static void a_cluster_shard_call_sends_the_key_fields(void **state) {
    (void)state;
    tally_event e = { "key_123", "m0", NULL, 1, 2, 3, 4, 5, 0, NULL };
    check_call(&e, 1, TALLY_AGG_SHARD); /* no key hashes: the key's fields in its shard's */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(packs_numbers),
        cmocka_unit_test(one_event_decodes_to_its_merge),
        cmocka_unit_test(small_batch_of_one_key_decodes_to_its_sums),
        cmocka_unit_test(a_cluster_shard_call_sends_the_key_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
