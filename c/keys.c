/* keys.c -- the key schema: validation and encoding of entity ids and the
 * entity part of every key. docs/keys.md describes the schema for clients in
 * other languages.
 *
 * Every key is  <prefix>:v1:{<kind>:<encoded id>}:<rest>
 * The braces make the entity the cluster hash tag, so all of one entity's keys
 * share a slot. The encoding is injective and cannot produce ':' '{' '}' '%' or
 * any glob character, so one id can never address another entity's keys. */
#include <stdio.h>
#include <string.h>

#include "keys.h"

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

int tally__id_check(tally *t, const char *what, const char *id, size_t n) {
    if (!id || n == 0) return tally__fail(t, TALLY_EINVAL, "%s is empty", what);
    if (n > TALLY_ID_MAX)
        return tally__fail(t, TALLY_EINVAL, "%s is %zu bytes; the limit is %d", what, n, TALLY_ID_MAX);
    const unsigned char *s = (const unsigned char *)id;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return tally__fail(t, TALLY_EINVAL, "%s has a control character (byte %zu)", what, i + 1);
        size_t len = utf8_seq(s + i, n - i);
        if (!len) return tally__fail(t, TALLY_EINVAL, "%s is not valid UTF-8 (byte %zu)", what, i + 1);
        i += len;
    }
    return TALLY_OK;
}

size_t tally__entity(const tally *t, char kind, const char *id, size_t n, char *out) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0, pn = strlen(t->cfg.prefix);
    memcpy(out, t->cfg.prefix, pn);
    o += pn;
    memcpy(out + o, ":v1:{", 5);
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

/* The key suffix of a period's bucket hash: "t", "M:202611", "D:20261126", or
 * "H:20261126" for hours (the hour is the field). */
size_t tally__period_suffix(const tally_period *p, char *buf) {
    switch (p->kind) {
    case TALLY_MONTH: return (size_t)sprintf(buf, "M:%04d%02d", p->year, p->month);
    case TALLY_DAY: return (size_t)sprintf(buf, "D:%04d%02d%02d", p->year, p->month, p->day);
    case TALLY_HOUR: return (size_t)sprintf(buf, "H:%04d%02d%02d", p->year, p->month, p->day);
    default: return (size_t)sprintf(buf, "t");
    }
}
