/* test_keys.c -- unit (no server): docs/keys.md describes exactly the keys and
 * bucket fields that c/keys.c builds. Every key shape the library can send
 * (built here through keys.c, for each entity and period) matches exactly one
 * row of the doc's tables, every row is matched by some built key, and the
 * bucket fields agree both ways. Known answers for the id encoding (the doc's
 * own example), the shard choice and the request id fingerprint come from the
 * FNV and SHA-256 specifications and sha256sum(1), not from the code under
 * test. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keys.h"
#include "sha256.h"

#define MAX_ITEMS 256

typedef struct {
    char text[128];  /* a shape as the doc writes it, e.g. "{k:ID}:M:YYYYMM" */
    regex_t re;
    int hits;
} shape;

static shape doc_keys[MAX_ITEMS], doc_fields[MAX_ITEMS];
static int ndoc_keys, ndoc_fields;
static char doc_example[2][128]; /* "team:a {prod}" -> "tally:v3:{k:...}:t" */
/* request id, API key, its field in the key's ids hash, in a shared one (hex) */
static char doc_id_example[4][128];

/* The doc's notation as an anchored POSIX regex: ID and N inside the hash tag,
 * YYYYMMDD, YYYYMM and HH digits, <anything> one part between colons. */
static void compile(shape *s) {
    char re[512];
    size_t o = 0;
    re[o++] = '^';
    for (const char *p = s->text; *p && o < sizeof re - 16;) {
        if (strncmp(p, "ID}", 3) == 0) o += (size_t)sprintf(re + o, "[^}]+"), p += 2;
        else if (strncmp(p, "N}", 2) == 0) o += (size_t)sprintf(re + o, "[0-9]+"), p += 1;
        else if (strncmp(p, "YYYYMMDD", 8) == 0) o += (size_t)sprintf(re + o, "[0-9]{8}"), p += 8;
        else if (strncmp(p, "YYYYMM", 6) == 0) o += (size_t)sprintf(re + o, "[0-9]{6}"), p += 6;
        else if (strncmp(p, "HH", 2) == 0) o += (size_t)sprintf(re + o, "[0-9]{2}"), p += 2;
        else if (*p == '<' && strchr(p, '>')) o += (size_t)sprintf(re + o, "[^:]+"), p = strchr(p, '>') + 1;
        else {
            if (strchr("{}[]().*+?^$|\\", *p)) re[o++] = '\\';
            re[o++] = *p++;
        }
    }
    re[o++] = '$';
    re[o] = '\0';
    if (regcomp(&s->re, re, REG_EXTENDED | REG_NOSUB) != 0) fail_msg("cannot compile '%s' (%s)", s->text, re);
}

/* Appends every `backticked` token of cell [from, to) to list. */
static void tokens(const char *from, const char *to, shape *list, int *n) {
    for (const char *p = memchr(from, '`', (size_t)(to - from)); p && p < to;) {
        const char *end = memchr(p + 1, '`', (size_t)(to - p - 1));
        if (!end) break;
        if (*n == MAX_ITEMS) fail_msg("docs/keys.md: too many shapes");
        snprintf(list[*n].text, sizeof list[*n].text, "%.*s", (int)(end - p - 1), p + 1);
        compile(&list[(*n)++]);
        p = memchr(end + 1, '`', (size_t)(to - end - 1));
    }
}

/* Reads the tables: in each row whose first cell names keys ("`{..."), every
 * backticked key shape; in the Buckets section, the fields cell's shapes too. */
static int load_doc(void **state) {
    (void)state;
    const char *path = getenv("TALLY_KEYS_DOC");
    if (!path) fail_msg("TALLY_KEYS_DOC is not set");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot read %s", path);
    char line[1024];
    int buckets = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "## ", 3) == 0) buckets = strncmp(line, "## Buckets", 10) == 0;
        const char *ex = strstr(line, "Example: API key `");
        if (ex && sscanf(ex, "Example: API key `%127[^`]` \xe2\x86\x92 `%127[^`]`", doc_example[0], doc_example[1]) != 2)
            fail_msg("docs/keys.md: the id encoding example is not in the expected form");
        const char *rx = strstr(line, "Example: request id `");
        if (rx && sscanf(rx, "Example: request id `%127[^`]` of API key `%127[^`]` \xe2\x86\x92 field `%127[^`]`, "
                             "shared `%127[^`]`", doc_id_example[0], doc_id_example[1], doc_id_example[2],
                         doc_id_example[3]) != 4)
            fail_msg("docs/keys.md: the request id field example is not in the expected form");
        if (strncmp(line, "| `{", 4) != 0) continue;
        const char *cell2 = strchr(line + 1, '|'), *cell3 = cell2 ? strchr(cell2 + 1, '|') : NULL;
        if (!cell3) fail_msg("docs/keys.md: a key row without three cells: %s", line);
        tokens(line + 1, cell2, doc_keys, &ndoc_keys);
        if (buckets) tokens(cell2 + 1, cell3, doc_fields, &ndoc_fields);
    }
    fclose(f);
    if (ndoc_keys < 10 || ndoc_fields < 4) fail_msg("docs/keys.md: found %d key and %d field shapes", ndoc_keys, ndoc_fields);
    return 0;
}

/* A handle as keys.c sees one: prefix and shard count. */
/* The schema context of the default configuration: keys.c needs no handle. */
static tally_schema *schema(void) {
    static tally_schema s;
    s.prefix = "tally";
    s.shards = 8;
    return &s;
}

typedef struct {
    char key[TALLY_ENTITY_MAX + 64];
} built;
static built keys_built[MAX_ITEMS];
static int nbuilt;

static void add(const char *base, size_t bn, const char *suffix, size_t sn) {
    const char *head = "tally:v3:";
    if (bn <= strlen(head) || memcmp(base, head, strlen(head)) != 0)
        fail_msg("key '%.*s' does not start with %s", (int)bn, base, head);
    snprintf(keys_built[nbuilt++].key, sizeof keys_built[0].key, "%.*s%.*s", (int)(bn - strlen(head)),
             base + strlen(head), (int)sn, suffix);
}

/* Adds the keys that tally_args-based builders put into an argument list. */
static void add_args(tally_args *a) {
    for (int i = 0; i < a->argc; i++) add(a->buf + a->off[i], a->lens[i], "", 0);
    tally__args_reset(a);
}

/* Every key shape the library sends, built through keys.c: the features'
 * combinations of entity and suffix (record.c, queries.c, budgets.c, leases.c,
 * limits.c, migrate.c). */
static void build_all(void) {
    tally_schema *t = schema();
    char k[TALLY_ENTITY_MAX], a[TALLY_ENTITY_MAX], s[TALLY_ENTITY_MAX], suffix[64];
    size_t kn = tally__entity(t, TALLY_ENTITY_KEY, "ID", 2, k);
    size_t an = tally__entity(t, TALLY_ENTITY_ACCOUNT, "ID", 2, a);
    size_t sn = tally__shard_entity(t, tally__shard_of(t, "ID", 2), s);
    const tally_period periods[4] = { { TALLY_TOTAL, 0, 0, 0, 0 }, { TALLY_MONTH, 2026, 11, 0, 0 },
                                      { TALLY_DAY, 2026, 11, 26, 0 }, { TALLY_HOUR, 2026, 11, 26, 7 } };
    nbuilt = 0;
    for (int p = 0; p < 4; p++) {
        size_t n = tally__period_suffix(&periods[p], suffix);
        add(k, kn, suffix, n);
        if (p >= 2) add(a, an, suffix, n); /* an account's total and month are its shards' a: fields */
        add(s, sn, suffix, n);
    }
    add(s, sn, suffix, tally__minute_suffix(29436000, suffix));
    size_t in = tally__ids_suffix(20418, suffix); /* the key's; an account's and a shard's on a cluster */
    add(k, kn, suffix, in);
    add(a, an, suffix, in);
    add(s, sn, suffix, in);
    static const char *const algos[] = { "window", "log", "gcra", "fixed" };
    for (int u = TALLY_COUNT_REQUESTS; u <= TALLY_COUNT_COST; u++)
        for (int g = 0; g < 4; g++)
            for (int sum = 0; sum <= (g == 1); sum++)
                add(k, kn, suffix, tally__limit_suffix(u, algos[g], 60000, sum, suffix));
    tally_args args = { 0 };
    tally__args_reset(&args);
    assert_int_equal(tally__add_held_keys(&args, k, kn) | tally__add_held_keys(&args, a, an), 0);
    add_args(&args);
    assert_int_equal(tally__add_lease_key(&args, k, kn), 0);
    add_args(&args);
    char prices[TALLY_ENTITY_MAX];
    add(prices, tally__prices_key(t, prices), "", 0);
    add(prices, tally__schema_key(t, prices), "", 0);
    add(prices, tally__accounts_key(t, prices), "", 0);
    add(prices, tally__migrated_key(t, prices), "", 0); /* migrate.c's mark */
    assert_int_equal(tally__add_shard_keys(t, &args, "t", 1), 0);
    assert_int_equal(args.argc, 8);
    add_args(&args);
    tally__args_free(&args);
}

static void every_built_key_is_in_the_doc_once(void **state) {
    (void)state;
    build_all();
    for (int i = 0; i < nbuilt; i++) {
        int rows = 0;
        for (int d = 0; d < ndoc_keys; d++)
            if (regexec(&doc_keys[d].re, keys_built[i].key, 0, NULL, 0) == 0) rows++, doc_keys[d].hits++;
        if (rows != 1) fail_msg("key '%s' matches %d shapes of docs/keys.md (want 1)", keys_built[i].key, rows);
    }
}

static void every_doc_key_is_built(void **state) {
    (void)state;
    build_all();
    for (int d = 0; d < ndoc_keys; d++) {
        int hits = 0;
        for (int i = 0; i < nbuilt; i++) hits += regexec(&doc_keys[d].re, keys_built[i].key, 0, NULL, 0) == 0;
        if (!hits) fail_msg("docs/keys.md lists '%s', which keys.c never builds", doc_keys[d].text);
    }
}

/* docs/acl.md's patterns rest on this: the price table is the only key whose
 * hash tag starts with "{p", so "<prefix>:v3:{p:*" grants it alone and
 * "<prefix>:v3:{[^p]*" every other key. */
static void only_the_price_table_is_kind_p(void **state) {
    (void)state;
    build_all();
    char prices[TALLY_ENTITY_MAX];
    tally__prices_key(schema(), prices);
    const char *own = prices + strlen("tally:v3:");
    for (int i = 0; i < nbuilt; i++) {
        const char *k = keys_built[i].key;
        if (k[0] != '{') fail_msg("key '%s' does not start with its hash tag", k);
        if ((k[1] == 'p') != (strcmp(k, own) == 0)) fail_msg("key '%s': only the price table may be kind p", k);
    }
}

static void bucket_fields_agree(void **state) {
    (void)state;
    const tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 }, hour = { TALLY_HOUR, 2026, 11, 26, 7 };
    char fields[8][32];
    int nf = 0;
    tally__field_price(7, fields[nf++]);
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 2; m++) {
            size_t n = tally__field_prefix(h ? &hour : &total, m, fields[nf]);
            if (m) snprintf(fields[nf] + n, sizeof fields[0] - n, "gpt-x");
            nf++;
        }
    snprintf(fields[nf++], sizeof fields[0], "%s", TALLY_FIELD_UNPRICED);
    snprintf(fields[nf++], sizeof fields[0], "%sacct", TALLY_FIELD_ACCOUNT);
    snprintf(fields[nf++], sizeof fields[0], "%skey_1", TALLY_FIELD_KEY);
    for (int i = 0; i < nf; i++) {
        int rows = 0;
        for (int d = 0; d < ndoc_fields; d++) rows += regexec(&doc_fields[d].re, fields[i], 0, NULL, 0) == 0;
        if (!rows) fail_msg("field '%s' is not in docs/keys.md's bucket table", fields[i]);
    }
    for (int d = 0; d < ndoc_fields; d++) {
        int hits = 0;
        for (int i = 0; i < nf; i++) hits += regexec(&doc_fields[d].re, fields[i], 0, NULL, 0) == 0;
        if (!hits) fail_msg("docs/keys.md lists field '%s', which keys.c never builds", doc_fields[d].text);
    }
    size_t mn;
    const char *model = tally__field_model(fields[2], strlen(fields[2]), &mn);
    assert_non_null(model);
    assert_int_equal(mn, 5);
    assert_memory_equal(model, "gpt-x", 5);
    assert_null(tally__field_model(fields[1], strlen(fields[1]), &mn));
    assert_null(tally__field_model(fields[0], strlen(fields[0]), &mn)); /* p:7 is no model's */
    const char *account = tally__field_account(fields[nf - 2], strlen(fields[nf - 2]), &mn);
    assert_non_null(account);
    assert_int_equal(mn, 4);
    assert_memory_equal(account, "acct", 4);
    assert_null(tally__field_account(fields[2], strlen(fields[2]), &mn)); /* m:gpt-x is no account's */
    const char *key = tally__field_key(fields[nf - 1], strlen(fields[nf - 1]), &mn);
    assert_non_null(key);
    assert_int_equal(mn, 5);
    assert_memory_equal(key, "key_1", 5);
    assert_null(tally__field_key(fields[nf - 2], strlen(fields[nf - 2]), &mn)); /* a:acct is no key's */
}

static void id_encoding_matches_the_doc_example(void **state) {
    (void)state;
    char key[TALLY_ENTITY_MAX + 24];
    const tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 };
    size_t n = tally__entity(schema(), TALLY_ENTITY_KEY, doc_example[0], strlen(doc_example[0]), key);
    n += tally__period_suffix(&total, key + n);
    assert_int_equal(n, strlen(doc_example[1]));
    assert_string_equal(key, doc_example[1]);
}

/* FNV-1a test vectors (draft-eastlake-fnv): "a" -> 0xe40c292c (32 bits),
 * 0xaf63dc4c8601ec8c (64 bits): the shard, and the last 8 bytes of a request
 * id's entry (the field tally wrote before 16-byte fingerprints). */
static void shard_and_old_fingerprint_follow_fnv(void **state) {
    (void)state;
    tally_schema *t = schema();
    assert_int_equal(tally__shard_of(t, "a", 1), 0xe40c292cu % 8);
    t->shards = 256;
    assert_int_equal(tally__shard_of(t, "a", 1), 0xe40c292cu % 256);
    t->shards = 8;
    unsigned char fp[TALLY_ID_ENTRY];
    static const unsigned char want[8] = { 0xaf, 0x63, 0xdc, 0x4c, 0x86, 0x01, 0xec, 0x8c };
    tally__id_field("ignored", "a", 0, fp);
    assert_memory_equal(fp + TALLY_ID_FIELD, want, 8);
    tally__id_field("k", "a", 1, fp); /* scoped: "k" 0x1f "a" */
    assert_memory_not_equal(fp + TALLY_ID_FIELD, want, 8);
}

static void hex(const char *text, unsigned char *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(text + 2 * i, "%2x", &v) != 1) fail_msg("not %zu hex bytes: %s", n, text);
        out[i] = (unsigned char)v;
    }
}

static void digest_is(const char *what, size_t repeat, size_t chunk, const char *want_hex) {
    unsigned char want[32], got[32];
    hex(want_hex, want, 32);
    tally_sha256 s;
    tally__sha256_init(&s);
    size_t n = strlen(what), total = n * repeat, done = 0;
    char *all = malloc(total + 1);
    assert_non_null(all);
    for (size_t r = 0; r < repeat; r++) memcpy(all + r * n, what, n);
    for (; done < total; done += chunk) tally__sha256_add(&s, all + done, total - done < chunk ? total - done : chunk);
    free(all);
    tally__sha256_end(&s, got);
    assert_memory_equal(got, want, 32);
}

/* SHA-256 test vectors of FIPS 180-4 (the NIST examples, and the one million
 * "a" of FIPS 180-2), added whole and in pieces that straddle blocks; and
 * lengths on each side of the padding's block boundary (55, 56, 64 bytes),
 * known answers from sha256sum(1). */
static void sha256_follows_fips_180_4(void **state) {
    (void)state;
    static const char *const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    digest_is("", 1, 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    digest_is("abc", 1, 3, abc);
    digest_is("abc", 1, 1, abc);
    static const char *const two = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
    digest_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1, 64, two);
    digest_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1, 7, two);
    digest_is("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
              "mnopqrstnopqrstu", 1, 50,
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    digest_is("a", 1000000, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    digest_is("a", 1000000, 333, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    digest_is("x", 55, 55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
    digest_is("x", 56, 56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
    digest_is("x", 64, 64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
}

/* The compression with the processor's SHA extensions (where it has them:
 * the digests above then came from them) gives the portable one's state, for
 * 1,000 blocks and states of splitmix64 bytes. */
static void sha256_extensions_match_the_portable_rounds(void **state) {
    (void)state;
    uint64_t x = 0x5EED;
    for (int n = 0; n < 1000; n++) {
        unsigned char block[64];
        uint32_t h[8], portable[8];
        for (size_t i = 0; i < sizeof block + sizeof h; i += 8) {
            uint64_t z = (x += 0x9E3779B97F4A7C15ull);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            memcpy(i < sizeof block ? block + i : (unsigned char *)h + (i - sizeof block), &z, 8);
        }
        memcpy(portable, h, sizeof h);
        tally__sha256_compress(h, block, 0);
        tally__sha256_compress(portable, block, 1);
        assert_memory_equal(h, portable, sizeof h);
    }
}

/* The doc's example of a request id's field, on a single server (the key's
 * hash) and on a cluster (key id, 0x1F, request id), as the first 16 bytes of
 * SHA-256 (known answers from sha256sum(1)), and the two ids of issue 20 whose
 * old 8-byte fields are equal get different fields. */
static void id_field_matches_the_doc_example(void **state) {
    (void)state;
    if (!doc_id_example[0][0]) fail_msg("docs/keys.md has no request id field example");
    unsigned char fp[TALLY_ID_ENTRY], want[TALLY_ID_FIELD];
    assert_int_equal(strlen(doc_id_example[2]), 2 * TALLY_ID_FIELD);
    hex(doc_id_example[2], want, TALLY_ID_FIELD);
    tally__id_field(doc_id_example[1], doc_id_example[0], 0, fp);
    assert_memory_equal(fp, want, TALLY_ID_FIELD);
    hex("fd1180d9f0c0819f00056b7b9de19fce", want, TALLY_ID_FIELD); /* printf req-42 | sha256sum */
    assert_memory_equal(fp, want, TALLY_ID_FIELD);
    hex(doc_id_example[3], want, TALLY_ID_FIELD);
    tally__id_field(doc_id_example[1], doc_id_example[0], 1, fp);
    assert_memory_equal(fp, want, TALLY_ID_FIELD);
    hex("c22dc57cbdee7986e226bfdbeac1923f", want, TALLY_ID_FIELD); /* key_123 0x1f req-42 */
    assert_memory_equal(fp, want, TALLY_ID_FIELD);

    unsigned char a[TALLY_ID_ENTRY], b[TALLY_ID_ENTRY];
    tally__id_field("k", "2200A0CAAA0E0BA6", 0, a);
    tally__id_field("k", "92R8L0DXOCXAOCG8", 0, b);
    assert_memory_equal(a + TALLY_ID_FIELD, b + TALLY_ID_FIELD, TALLY_ID_FIELD_V0); /* FNV-1a-64 collides */
    assert_memory_not_equal(a, b, TALLY_ID_FIELD);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_built_key_is_in_the_doc_once),
        cmocka_unit_test(every_doc_key_is_built),
        cmocka_unit_test(only_the_price_table_is_kind_p),
        cmocka_unit_test(bucket_fields_agree),
        cmocka_unit_test(id_encoding_matches_the_doc_example),
        cmocka_unit_test(shard_and_old_fingerprint_follow_fnv),
        cmocka_unit_test(sha256_follows_fips_180_4),
        cmocka_unit_test(sha256_extensions_match_the_portable_rounds),
        cmocka_unit_test(id_field_matches_the_doc_example),
    };
    return cmocka_run_group_tests_name("keys", tests, load_doc, NULL);
}
