/* fuzz_wire.c -- libFuzzer target: the record call's encoding (c/wire.h,
 * aggregate.c's encoder). The input makes up to 16 valid events of one API key
 * at one time (models, accounts, counts, request ids, the timezone, the shard
 * count and the entities a call covers come from its bytes); they are merged
 * and encoded, and the call is read back in C by wire_check.c, which aborts
 * on any difference from the events. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "encode.h"
#include "handle.h"
#include "wire_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct { const uint8_t *p; size_t n; } input;

static unsigned take(input *in, unsigned bytes) {
    unsigned v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v = v << 8 | (in->n ? *in->p : 0);
        if (in->n) in->p++, in->n--;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const models[] = { "m0", "claude-3-5-sonnet", "model:two", "m/3", "\xc3\xa9" };
    static const char *const accounts[] = { NULL, "", "a0", "acct 1" };
    static const int masks[] = { TALLY_AGG_ALL, TALLY_AGG_KEY, TALLY_AGG_ACCOUNT, TALLY_AGG_SHARD };
    input in = { data, size };
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.tz_offset_min = (int)(take(&in, 2) % 1561) - 720;
    cfg.shards = 1 + (int)(take(&in, 1) % 64);
    int mask = masks[take(&in, 1) % 4];
    int64_t now = 1795687200000, at = now - (int64_t)take(&in, 3) * 60000;
    size_t n = 1 + take(&in, 1) % 16;
    tally_event ev[16];
    char ids[16][8];
    const char *account = accounts[take(&in, 1) % 4];
    if (mask == TALLY_AGG_ACCOUNT && !(account && *account)) mask = TALLY_AGG_ALL;
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "r%zu", i);
        ev[i] = (tally_event){ "key 9", models[take(&in, 1) % 5], account, take(&in, 4) & 0xffffff,
                               take(&in, 4) & 0xffffff, take(&in, 2), take(&in, 3), take(&in, 4), at,
                               take(&in, 1) & 1 ? ids[i] : NULL };
    }
    tally_agg *g = tally__agg_new();
    tally_args a = { 0 };
    if (!g) return 0;
    tally_schema schema = tally__schema_of(&cfg);
    tally__agg_begin(g, &schema, now);
    for (size_t i = 0; i < n; i++)
        if (tally__agg_add(g, &ev[i], at, ev[i].cost_nanos, -1, mask, 0, i) != TALLY_AGG_ADDED) abort();
    tally__args_reset(&a);
    char why[256];
    if (tally__agg_encode(g, &a) < 0) abort();
    if (wire_check(&a, ev, n, why, sizeof why) != 0) {
        fprintf(stderr, "fuzz_wire: %s\n", why);
        abort();
    }
    tally__args_free(&a);
    tally__agg_free(g);
    return 0;
}
