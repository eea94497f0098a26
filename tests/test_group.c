/* test_group.c -- unit (no server): a record batch's items ordered into
 * sources (c/group.c), against what group.h promises, computed here apart
 * from the library: on a single server one source ordered by shard (FNV-1a-32
 * of the key, keys.h), then by API key in order of first appearance; on a
 * cluster one source per key and per account, in order of first appearance,
 * then one per shard, its items grouped by key; each key's items in their
 * order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aggregate.h"
#include "group.h"
#include "keys.h"
#include "oracle_util.h"

/* What an item is grouped by: its mask, and its account for an account's
 * part, else its key. */
static int same_group(const tally_event *ev, const tally_item *a, const tally_item *b) {
    if (a->mask != b->mask) return 0;
    const char *x = a->mask == TALLY_AGG_ACCOUNT ? ev[a->event].account : ev[a->event].key;
    const char *y = b->mask == TALLY_AGG_ACCOUNT ? ev[b->event].account : ev[b->event].key;
    return strcmp(x, y) == 0;
}

typedef struct {
    tally_item it;
    size_t bucket, first, pos; /* the sort key: bucket, group's first item, position */
} ranked;

static int by_rank(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->bucket != b->bucket) return a->bucket < b->bucket ? -1 : 1;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Groups `in` (n items, after `off` filler items) with tally__group into
 * *items (freed by the caller) for a schema of `shards` shards; returns the
 * number of sources. The filler must stay as it is. */
static size_t group_into(tally_grouping *g, int shards, const tally_event *ev, const tally_item *in, size_t n,
                         size_t off, int by_entity, tally_vec *items) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.shards = shards;
    tally_schema sc = tally__schema_of(&cfg);
    *items = (tally_vec){ 0 };
    assert_int_equal(tally__vec_reserve(items, off + n, sizeof(tally_item)), 0);
    for (size_t i = 0; i < off; i++) AT(*items, tally_item, i) = (tally_item){ 1000000 + i, 0 };
    for (size_t i = 0; i < n; i++) AT(*items, tally_item, off + i) = in[i];
    items->n = off + n;
    size_t sources = 12345;
    assert_int_equal(tally__group(g, &sc, ev, items, off, n, by_entity, &sources), 0);
    assert_int_equal(items->n, off + 2 * n);
    for (size_t i = 0; i < off; i++) assert_int_equal(AT(*items, tally_item, i).event, 1000000 + i);
    return sources;
}

/* Groups `in` as group_into and checks the items, the number of sources and
 * their starts against the oracle. */
static void group_and_check(tally_grouping *g, int shards, const tally_event *ev, const tally_item *in, size_t n,
                            size_t off, int by_entity) {
    tally_vec items;
    size_t sources = group_into(g, shards, ev, in, n, off, by_entity, &items);
    /* the oracle's order */
    ranked *want = calloc(n ? n : 1, sizeof *want);
    assert_non_null(want);
    for (size_t i = 0; i < n; i++) {
        size_t first = i;
        for (size_t j = 0; j < i; j++)
            if (same_group(ev, &in[j], &in[i])) {
                first = j;
                break;
            }
        int own = by_entity && in[i].mask != TALLY_AGG_SHARD;
        want[i] = (ranked){ in[i], own ? 0 : 1 + ou_shard_of(ev[in[i].event].key, shards), first, i };
    }
    qsort(want, n, sizeof *want, by_rank);
    for (size_t i = 0; i < n; i++) {
        const tally_item *got = &AT(items, tally_item, off + n + i);
        if (got->event != want[i].it.event || got->mask != want[i].it.mask)
            fail_msg("item %zu is event %zu mask %d; the oracle's event %zu mask %d", i, got->event, got->mask,
                     want[i].it.event, want[i].it.mask);
    }
    /* the oracle's sources: on a cluster a new one at each own group and at
     * each shard's first group; on a single server one */
    size_t want_sources = 0;
    const size_t *start = g->start.p;
    for (size_t i = 0; i < n; i++) {
        int new_group = i == 0 || !same_group(ev, &want[i].it, &want[i - 1].it);
        int new_source = i == 0 || (by_entity && new_group && (want[i].bucket == 0 || want[i].bucket != want[i - 1].bucket));
        if (!new_source) continue;
        assert_true(want_sources < sources);
        assert_int_equal(start[want_sources], off + n + i);
        want_sources++;
    }
    assert_int_equal(sources, want_sources);
    if (n) assert_int_equal(start[sources], off + 2 * n);
    /* each source one entity on a cluster: one mask, one key, account or shard */
    for (size_t k = 0; by_entity && k < sources; k++)
        for (size_t i = start[k] + 1; i < start[k + 1]; i++) {
            const tally_item *a = &AT(items, tally_item, start[k]), *b = &AT(items, tally_item, i);
            assert_int_equal(a->mask, b->mask);
            if (a->mask == TALLY_AGG_SHARD)
                assert_int_equal(ou_shard_of(ev[a->event].key, shards), ou_shard_of(ev[b->event].key, shards));
            else
                assert_true(same_group(ev, a, b));
        }
    free(want);
    free(items.p);
}

/* The items record.c makes of events: on a single server one per event (every
 * entity), on a cluster one per entity the event touches. */
static size_t items_of(const tally_event *ev, size_t n, int cluster, tally_item *out) {
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        if (!cluster) {
            out[m++] = (tally_item){ k, TALLY_AGG_ALL };
            continue;
        }
        out[m++] = (tally_item){ k, TALLY_AGG_KEY };
        if (ev[k].account && *ev[k].account) out[m++] = (tally_item){ k, TALLY_AGG_ACCOUNT };
        out[m++] = (tally_item){ k, TALLY_AGG_SHARD };
    }
    return m;
}

static void check_both(const tally_event *ev, size_t n, int shards, size_t off) {
    tally_item *in = calloc(3 * n + 1, sizeof *in);
    assert_non_null(in);
    tally_grouping g = { 0 };
    for (int cluster = 0; cluster < 2; cluster++) {
        size_t m = items_of(ev, n, cluster, in);
        group_and_check(&g, shards, ev, in, m, off, cluster);
        group_and_check(&g, shards, ev, in, m, off, cluster); /* the memory reused: the same */
    }
    tally__group_free(&g);
    free(in);
}

static void no_items_make_no_source(void **state) {
    (void)state;
    tally_event e = { "key_1", "m0", NULL, 1, 0, 0, 0, 0, 0, NULL };
    check_both(&e, 0, 8, 0);
    check_both(&e, 0, 8, 3);
}

static void one_event_is_one_source_per_entity(void **state) {
    (void)state;
    tally_event e[2] = { { "key_1", "m0", NULL, 1, 0, 0, 0, 0, 0, NULL },
                         { "key_2", "m0", "acct_1", 1, 0, 0, 0, 0, 0, NULL } };
    check_both(&e[0], 1, 8, 0);
    check_both(&e[1], 1, 8, 5);
    /* on a cluster: key, account, shard */
    tally_item in[3] = { { 0, TALLY_AGG_KEY }, { 0, TALLY_AGG_ACCOUNT }, { 0, TALLY_AGG_SHARD } };
    tally_grouping g = { 0 };
    tally_vec items;
    size_t sources = group_into(&g, 8, &e[1], in, 3, 0, 1, &items);
    assert_int_equal(sources, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(AT(g.start, size_t, i), 3 + i);
        assert_int_equal(AT(items, tally_item, 3 + i).mask, in[i].mask);
    }
    assert_int_equal(AT(g.start, size_t, 3), 6);
    tally__group_free(&g);
    free(items.p);
}

/* Events of one key keep their order: one source on a single server, one
 * per entity on a cluster. */
static void one_key_keeps_its_order(void **state) {
    (void)state;
    tally_event e[50];
    for (int i = 0; i < 50; i++) e[i] = (tally_event){ "key_1", "m0", i % 2 ? "acct_1" : NULL, i, 0, 0, 0, 0, 0, NULL };
    check_both(e, 50, 8, 0);
    tally_item in[50];
    for (size_t i = 0; i < 50; i++) in[i] = (tally_item){ i, TALLY_AGG_ALL };
    tally_grouping g = { 0 };
    tally_vec items;
    size_t sources = group_into(&g, 8, e, in, 50, 0, 0, &items);
    assert_int_equal(sources, 1);
    for (size_t i = 0; i < 50; i++) assert_int_equal(AT(items, tally_item, 50 + i).event, i);
    tally__group_free(&g);
    free(items.p);
}

/* Every event its own key: by shard, then in order of appearance. */
static void different_keys_go_by_shard(void **state) {
    (void)state;
    enum { N = 300 };
    static tally_event e[N];
    static char keys[N][16], accounts[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "key_%d", i);
        snprintf(accounts[i], sizeof accounts[i], "acct_%d", i % 7);
        e[i] = (tally_event){ keys[i], "m0", i % 3 ? accounts[i] : NULL, 1, 0, 0, 0, 0, 0, NULL };
    }
    const int shards[] = { 1, 2, 8, 256 };
    for (int s = 0; s < 4; s++) check_both(e, N, shards[s], 0);
    check_both(e, N, 8, 17);
}

/* Random batches over few and many keys and accounts, against the oracle. */
static void random_batches_match_the_oracle(void **state) {
    (void)state;
    enum { N = 2000 };
    static tally_event e[N];
    static char keys[64][16], accounts[16][16];
    for (int i = 0; i < 64; i++) snprintf(keys[i], sizeof keys[i], "k%d", i * 7919);
    for (int i = 0; i < 16; i++) snprintf(accounts[i], sizeof accounts[i], "a%d", i);
    uint64_t rnd_state = 0x2545f4914f6cdd1dull;
    const int nkeys[] = { 1, 3, 64 }, shards[] = { 1, 4, 8 };
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < N; i++) {
            uint64_t x = ou_rnd(&rnd_state);
            const char *acct = x % 5 == 0 ? NULL : x % 5 == 1 ? "" : accounts[x / 5 % 16];
            e[i] = (tally_event){ keys[x / 80 % (uint64_t)nkeys[r]], "m0", acct, 1, 0, 0, 0, 0, 0, NULL };
        }
        check_both(e, N, shards[r], (size_t)r * 11);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_items_make_no_source),
        cmocka_unit_test(one_event_is_one_source_per_entity),
        cmocka_unit_test(one_key_keeps_its_order),
        cmocka_unit_test(different_keys_go_by_shard),
        cmocka_unit_test(random_batches_match_the_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
