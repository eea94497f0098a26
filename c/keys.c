/* keys.c -- the key schema: validation and encoding of entity ids, the entity
 * part of every key, the shard an API key feeds, and every suffix and field
 * name. docs/keys.md describes the schema for clients in other languages;
 * tests/test_keys.c checks that it describes what this unit builds.
 *
 * Every key is  <prefix>:v3:{<kind>:<encoded id>}:<rest>  (key schema version 3)
 * The braces make the entity the cluster hash tag, so all of one entity's keys
 * share a slot. The encoding is injective and cannot produce ':' '{' '}' '%' or
 * any glob character, so one id can never address another entity's keys. */
#include <stdio.h>
#include <string.h>

#include "args.h"

#include "keys.h"
#include "sha256.h"
#include "table.h"

/* Bytes kept as they are; every other byte becomes %XX. Bytes >= 0x80 (valid
 * UTF-8, checked before) are kept so that Unicode ids stay readable. */
static int keep_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '@' || c == '+' || c == '=' || c == '~' ||
           c == '/' || c == ',' || c >= 0x80;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0) { len = 2; cp = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; cp = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; cp = s[0] & 0x07; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

tally_schema tally__schema_of(const tally_config *cfg) {
    tally_schema s = { cfg->prefix,      cfg->shards,     cfg->tz_offset_min, cfg->ttl_minute_s, cfg->ttl_hour_s,
                       cfg->ttl_day_s,   cfg->ttl_month_s, cfg->idempotency_s, cfg->max_future_ms };
    return s;
}

/* 1 when the 8 bytes at s are all printable ASCII (0x20 to 0x7e): a byte
 * below 0x20 borrows (- 0x20..), 0x7f carries into its high bit (+ 0x01..),
 * higher ones have it; a borrow or carry from a lower byte comes only from a
 * byte that is already marked. */
static int printable8(const unsigned char *s) {
    const uint64_t ones = 0x0101010101010101ull;
    uint64_t v;
    memcpy(&v, s, 8);
    return !(((v - ones * 0x20) | (v + ones) | v) & (ones * 0x80));
}

int tally__id_problem(const char *what, const char *id, size_t n, char *msg, size_t cap) {
    if (!id || n == 0) return snprintf(msg, cap, "%s is empty", what), -1;
    if (n > TALLY_ID_MAX) return snprintf(msg, cap, "%s is %zu bytes; the limit is %d", what, n, TALLY_ID_MAX), -1;
    const unsigned char *s = (const unsigned char *)id;
    for (size_t i = 0; i < n;) {
        if (i + 8 <= n && printable8(s + i)) { /* printable ASCII, most ids' every byte */
            i += 8;
            continue;
        }
        if (s[i] >= 0x20 && s[i] < 0x7f) {
            i++;
            continue;
        }
        if (s[i] < 0x20 || s[i] == 0x7f)
            return snprintf(msg, cap, "%s has a control character (byte %zu)", what, i + 1), -1;
        size_t len = utf8_seq(s + i, n - i);
        if (!len) return snprintf(msg, cap, "%s is not valid UTF-8 (byte %zu)", what, i + 1), -1;
        i += len;
    }
    return 0;
}

size_t tally__entity(const tally_schema *s, char kind, const char *id, size_t n, char *out) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0, pn = strlen(s->prefix);
    memcpy(out, s->prefix, pn);
    o += pn;
    memcpy(out + o, ":v3:{", 5);
    o += 5;
    out[o++] = kind;
    out[o++] = ':';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (keep_byte(c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o++] = '}';
    out[o++] = ':';
    return o;
}

unsigned tally__shard_of(const tally_schema *s, const char *key, size_t n) {
    return tally__fnv32(key, n) % (unsigned)s->shards;
}

size_t tally__shard_entity(const tally_schema *s, unsigned shard, char *out) {
    char digits[12], *d = tally__utoa_end(shard, digits + sizeof digits);
    return tally__entity(s, TALLY_ENTITY_SHARD, d, (size_t)(digits + sizeof digits - d), out);
}

void tally__key_at_version(const tally_schema *s, char *key, int version) {
    key[strlen(s->prefix) + 2] = (char)('0' + version);
}

int tally__key_version(const tally_schema *s, const char *key) {
    return key[strlen(s->prefix) + 2] - '0';
}

int tally__add_shard_keys(const tally_schema *s, tally_args *a, const char *suffix, size_t n) {
    char base[TALLY_ENTITY_MAX];
    for (int i = 0; i < s->shards; i++)
        if (tally__args_cat(a, base, tally__shard_entity(s, (unsigned)i, base), suffix, n)) return -1;
    return 0;
}

int tally__add_held_keys(tally_args *a, const char *base, size_t n) {
    return tally__args_cat(a, base, n, "B", 1) | tally__args_cat(a, base, n, "Bx", 2);
}

int tally__add_reservation_member(tally_args *a, const char *key, const char *request_id) {
    char member[2 * TALLY_ID_MAX + 1];
    size_t kn = strlen(key), rn = strlen(request_id);
    if (kn > TALLY_ID_MAX || rn > TALLY_ID_MAX) return -1; /* checked before: cannot happen */
    memcpy(member, key, kn);
    member[kn] = 0x1f;
    memcpy(member + kn + 1, request_id, rn);
    return tally__args_add(a, member, kn + 1 + rn);
}

int tally__add_lease_key(tally_args *a, const char *base, size_t n) {
    return tally__args_cat(a, base, n, "ls", 2);
}

/* v in exactly `width` decimal digits at buf (v >= 0 and fits); returns buf + width. */
static char *digits(char *buf, int v, int width) {
    for (int i = width - 1; i >= 0; i--, v /= 10) buf[i] = (char)('0' + v % 10);
    return buf + width;
}

/* Per distinct hash of a record call: no printf. */
size_t tally__period_suffix(const tally_period *p, char *buf) {
    char *e = buf;
    switch (p->kind) {
    case TALLY_MONTH:
        *e++ = 'M', *e++ = ':';
        e = digits(digits(e, p->year, 4), p->month, 2);
        break;
    case TALLY_DAY:
    case TALLY_HOUR: /* since v2: the hours live in the day's hash */
        *e++ = 'D', *e++ = ':';
        e = digits(digits(digits(e, p->year, 4), p->month, 2), p->day, 2);
        break;
    default:
        memcpy(e, TALLY_SUFFIX_TOTAL, sizeof TALLY_SUFFIX_TOTAL - 1);
        e += sizeof TALLY_SUFFIX_TOTAL - 1;
    }
    *e = '\0';
    return (size_t)(e - buf);
}

/* "<head><decimal>" into buf (v >= 0); returns the length. Per event: no printf. */
static size_t head_number(char *buf, const char *head, int64_t v) {
    char tmp[24], *p = tally__utoa_end((uint64_t)v, tmp + sizeof tmp);
    size_t hn = strlen(head), n = (size_t)(tmp + sizeof tmp - p);
    memcpy(buf, head, hn);
    memcpy(buf + hn, p, n);
    buf[hn + n] = '\0';
    return hn + n;
}

/* The schema's key whose suffix is the one letter `which`. */
static size_t config_key(const tally_schema *s, char which, char *out) {
    size_t n = tally__entity(s, TALLY_ENTITY_CONFIG, "schema", 6, out);
    out[n++] = which;
    out[n] = '\0';
    return n;
}

size_t tally__schema_key(const tally_schema *s, char *out) {
    return config_key(s, 'S', out);
}

size_t tally__accounts_key(const tally_schema *s, char *out) {
    return config_key(s, 'A', out);
}

size_t tally__migrated_key(const tally_schema *s, char *out) {
    return config_key(s, 'F', out);
}

size_t tally__prices_key(const tally_schema *s, char *out) {
    size_t n = tally__entity(s, TALLY_ENTITY_PRICES, "prices", 6, out);
    out[n++] = 'P';
    out[n] = '\0';
    return n;
}

size_t tally__field_price(int64_t version, char *buf) {
    return head_number(buf, TALLY_FIELD_PRICE, version);
}

size_t tally__minute_suffix(int64_t minute, char *buf) {
    return head_number(buf, "n:", minute);
}

size_t tally__ids_suffix(int64_t slice, char *buf) {
    return head_number(buf, "i:", slice);
}

size_t tally__limit_suffix(int counts, const char *algo, int64_t window_ms, int sum, char *buf) {
    static const char unit[] = { 'r', 't', 'c' }; /* TALLY_COUNT_REQUESTS, _TOKENS, _COST */
    return (size_t)sprintf(buf, "rl:%c:%s:%lld%s", unit[counts], algo, (long long)window_ms, sum ? ":s" : "");
}

size_t tally__field_prefix(const tally_period *p, int per_model, char *buf) {
    char *e = p->kind == TALLY_HOUR ? digits(buf, p->hour, 2) : buf;
    const char *tail = per_model ? TALLY_FIELD_MODEL : p->kind == TALLY_HOUR ? "" : TALLY_FIELD_ENTITY;
    size_t n = strlen(tail);
    memcpy(e, tail, n + 1);
    return (size_t)(e - buf) + n;
}

/* The part of `field` after `head`, or NULL. */
static const char *field_after(const char *head, const char *field, size_t n, size_t *rest) {
    size_t hn = strlen(head);
    if (n < hn || memcmp(field, head, hn) != 0) return NULL;
    *rest = n - hn;
    return field + hn;
}

const char *tally__field_model(const char *field, size_t n, size_t *mn) {
    return field_after(TALLY_FIELD_MODEL, field, n, mn);
}

const char *tally__field_price_version(const char *field, size_t n, size_t *vn) {
    return field_after(TALLY_FIELD_PRICE, field, n, vn);
}

const char *tally__field_account(const char *field, size_t n, size_t *an) {
    return field_after(TALLY_FIELD_ACCOUNT, field, n, an);
}

const char *tally__field_key(const char *field, size_t n, size_t *kn) {
    return field_after(TALLY_FIELD_KEY, field, n, kn);
}

void tally__id_field(const char *key, const char *request_id, int scoped, unsigned char out[TALLY_ID_ENTRY]) {
    static const char separator = 0x1f;
    tally_sha256 s;
    unsigned char digest[32];
    tally__sha256_init(&s);
    uint64_t h = TALLY_FNV64_BASIS;
    if (scoped) {
        tally__sha256_add(&s, key, strlen(key));
        tally__sha256_add(&s, &separator, 1);
        h = tally__fnv64(tally__fnv64_str(h, key), &separator, 1);
    }
    tally__sha256_add(&s, request_id, strlen(request_id));
    tally__sha256_end(&s, digest);
    memcpy(out, digest, TALLY_ID_FIELD);
    h = tally__fnv64_str(h, request_id);
    for (int i = TALLY_ID_ENTRY - 1; i >= TALLY_ID_FIELD; i--, h >>= 8) out[i] = (unsigned char)h;
}
