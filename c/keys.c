/* keys.c -- the key schema: validation and encoding of entity ids, the entity
 * part of every key, the shard of an API key and the stored form of a request
 * id. docs/keys.md describes the schema for clients in other languages.
 *
 * Every key is  <prefix>:v2:{<kind>:<encoded id>}:<rest>  (v2: key schema version 2)
 * The braces make the entity the cluster hash tag, so all of one entity's keys
 * share a slot. The encoding is injective and cannot produce ':' '{' '}' '%' or
 * any glob character, so one id can never address another entity's keys. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

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

int tally__id_problem(const char *what, const char *id, size_t n, char *msg, size_t cap) {
    if (!id || n == 0) return snprintf(msg, cap, "%s is empty", what), -1;
    if (n > TALLY_ID_MAX) return snprintf(msg, cap, "%s is %zu bytes; the limit is %d", what, n, TALLY_ID_MAX), -1;
    const unsigned char *s = (const unsigned char *)id;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return snprintf(msg, cap, "%s has a control character (byte %zu)", what, i + 1), -1;
        size_t len = utf8_seq(s + i, n - i);
        if (!len) return snprintf(msg, cap, "%s is not valid UTF-8 (byte %zu)", what, i + 1), -1;
        i += len;
    }
    return 0;
}

int tally__id_check(tally *t, const char *what, const char *id, size_t n) {
    char msg[TALLY_ERRMSG_MAX];
    return tally__id_problem(what, id, n, msg, sizeof msg) < 0 ? tally__fail(t, TALLY_EINVAL, "%s", msg) : TALLY_OK;
}

size_t tally__entity(const tally *t, char kind, const char *id, size_t n, char *out) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0, pn = strlen(t->cfg.prefix);
    memcpy(out, t->cfg.prefix, pn);
    o += pn;
    memcpy(out + o, ":v2:{", 5);
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

/* The key suffix of a period's bucket hash: "t", "M:202611", "D:20261126", and
 * for hours the day's hash too (the hour is the field). */
size_t tally__period_suffix(const tally_period *p, char *buf) {
    switch (p->kind) {
    case TALLY_MONTH: return (size_t)sprintf(buf, "M:%04d%02d", p->year, p->month);
    case TALLY_DAY: return (size_t)sprintf(buf, "D:%04d%02d%02d", p->year, p->month, p->day);
    case TALLY_HOUR: return (size_t)sprintf(buf, "D:%04d%02d%02d", p->year, p->month, p->day);
    default: return (size_t)sprintf(buf, "t");
    }
}

/* FNV-1a-32: which shard of the shared aggregates an API key feeds. */
uint32_t tally__shard_of(const char *s, size_t n, int shards) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h % (uint32_t)shards;
}

/* Request ids are stored as 8 bytes: FNV-1a-64 of the id (of key 0x1f id
 * outside the key's own hashes, since ids are scoped to their key), big-endian. */
void tally__id_fingerprint(const tally_event *e, int scoped, unsigned char out[8]) {
    uint64_t h = 14695981039346656037ull;
    if (scoped) {
        for (const char *p = e->key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ 0x1f) * 1099511628211ull;
    }
    for (const char *p = e->request_id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (int i = 7; i >= 0; i--, h >>= 8) out[i] = (unsigned char)h;
}
