/* wire_check.c -- see wire_check.h. */
#include "wire_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const char *arg(const tally_args *a, int i, size_t *n) {
    *n = a->lens[i];
    return a->buf + a->off[i];
}

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            snprintf(why, why_n, __VA_ARGS__);                                                                         \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

int wire_check(const tally_args *a, const tally_event *ev, size_t n, char *why, size_t why_n) {
    int64_t sums[TALLY_WIRE_DELTA] = { 0 }, *x = NULL;
    for (size_t i = 0; i < n; i++) {
        int64_t d[TALLY_WIRE_DELTA] = { 1, ev[i].input_tokens, ev[i].output_tokens, ev[i].cache_create_tokens,
                                        ev[i].cache_read_tokens, ev[i].cost_nanos };
        for (int m = 0; m < TALLY_WIRE_DELTA; m++) sums[m] += d[m];
    }
    int rc = -1, nkeys = a->nkeys_at - 3, argv0 = a->nkeys_at; /* EVALSHA sha numkeys KEYS... ARGV... */
    size_t len, kn = strlen(ev[0].key);
    const char *s = arg(a, argv0, &len);
    long max = (long)len / 2 + 1, nv;
    x = malloc((size_t)max * sizeof *x);
    CHECK(x, "out of memory");
    nv = parse(s, len, x, max);
    CHECK(nv >= TALLY_WIRE_HEAD, "ARGV[1] is not a JSON array of at least a head");
    int64_t nh = x[2], ni = x[3], np = x[4], nr = x[5], nd = x[6], nn = x[7];
    CHECK(nh + ni + np + 2 * nr == nkeys, "the counts give %lld keys, the call has %d",
          (long long)(nh + ni + np + 2 * nr), nkeys);
    CHECK(a->argc - argv0 == 2 + nn + 2 * ni, "the counts give %lld arguments, the call has %d",
          (long long)(2 + nn + 2 * ni), a->argc - argv0);
    long at = TALLY_WIRE_HEAD + TALLY_WIRE_DELTA * nd;
    CHECK(at <= nv, "ARGV[1] is shorter than its deltas");
    int name = argv0 + 2, shard_periods = 0, key_fields = 0;
    for (int64_t h = 0; h < nh; h++) {
        size_t hn, i = 0;
        const char *hash = arg(a, 3 + (int)h, &hn); /* "<prefix>:v3:{s:N}:<period>" for a shard's */
        while (i + 3 <= hn && memcmp(hash + i, "{s:", 3) != 0) i++;
        while (i + 3 <= hn && hash[i] != '}') i++;
        shard_periods += i + 3 <= hn && (hash[i + 2] == 't' || hash[i + 2] == 'M' || hash[i + 2] == 'D');
        CHECK(at + TALLY_WIRE_HASH_HEAD <= nv, "hash %lld: no head", (long long)h + 1);
        int64_t prune = x[at + 3], days = x[at + 4], hours = x[at + 5];
        CHECK(prune <= np && days + hours >= 1, "hash %lld: bad head", (long long)h + 1);
        at += TALLY_WIRE_HASH_HEAD;
        CHECK(at + TALLY_WIRE_FIELD * (days + hours) <= nv && name + days + hours <= argv0 + 2 + nn,
              "hash %lld: its fields pass the end", (long long)h + 1);
        for (int64_t f = 0; f < days + hours; f++, at += TALLY_WIRE_FIELD, name++) {
            int64_t delta = x[at];
            CHECK(delta >= 1 && delta <= nd, "hash %lld: field %lld names delta %lld", (long long)h + 1,
                  (long long)f + 1, (long long)delta);
            size_t fn;
            const char *field = arg(a, name, &fn);
            CHECK(fn > 0 && (field[0] >= '0' && field[0] <= '9') == (f >= days),
                  "hash %lld: field %lld is not in its place (day fields, then hour fields)", (long long)h + 1,
                  (long long)f + 1);
            /* the entity's own bucket, and the key's field in its shard's hashes */
            int key_field = fn == kn + 2 && memcmp(field, "k:", 2) == 0;
            key_fields += key_field;
            CHECK(!key_field || memcmp(field + 2, ev[0].key, kn) == 0, "hash %lld: field %lld names another key",
                  (long long)h + 1, (long long)f + 1);
            if ((fn == 1 && field[0] == '_') || key_field) {
                const int64_t *d = &x[TALLY_WIRE_HEAD + TALLY_WIRE_DELTA * (delta - 1)];
                for (int m = 0; m < TALLY_WIRE_DELTA; m++)
                    CHECK(d[m] == sums[m], "hash %lld: its %.*s gains %lld in count %d, the events sum to %lld",
                          (long long)h + 1, (int)fn, field, (long long)d[m], m + 1, (long long)sums[m]);
            }
        }
    }
    CHECK(key_fields == shard_periods, "%d shard hashes of a total, month or day, %d key fields", shard_periods,
          key_fields);
    CHECK(name == argv0 + 2 + nn, "%d names used of %lld", name - argv0 - 2, (long long)nn);
    CHECK(at + TALLY_WIRE_IDS * ni == nv, "the layout ends at %lld numbers, ARGV[1] holds %ld",
          (long long)(at + TALLY_WIRE_IDS * ni), nv);
    rc = 0;
out:
    free(x);
    return rc;
}
