/* json_reader.c -- the project's strict JSON reader (json_reader.h): white
 * space, strings with every escape, numbers as literal text, and skipping a
 * value. Its messages start with "bad JSON". Layer: pure. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json_reader.h"

void tally__json_init(tally_json *j, const char *text, size_t n, char *err, size_t cap) {
    j->start = j->p = text;
    j->end = text + n;
    j->depth = 0;
    j->err = err;
    j->cap = cap;
}

int tally__json_fail(tally_json *j, const char *fmt, ...) {
    if (j->err && j->cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->err, j->cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void tally__json_ws(tally_json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n')) j->p++;
}

int tally__json_peek(tally_json *j, char c) {
    tally__json_ws(j);
    return j->p < j->end && *j->p == c;
}

static size_t at(const tally_json *j) {
    return (size_t)(j->p - j->start) + 1;
}

int tally__json_expect(tally_json *j, char c) {
    if (!tally__json_peek(j, c)) return tally__json_fail(j, "bad JSON at byte %zu: expected '%c'", at(j), c);
    j->p++;
    return 0;
}

/* Four hex digits at p (the text has them) into *v. 0 or -1. */
static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v << 4 | (unsigned)d;
    }
    return 0;
}

/* Code point cp as UTF-8 at buf + *o, within cap (room left for the NUL). 0 or -1. */
static int put_utf8(char *buf, size_t cap, size_t *o, unsigned cp) {
    unsigned char u[4];
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    static const unsigned char lead[5] = { 0, 0, 0xC0, 0xE0, 0xF0 };
    for (size_t i = n - 1; i > 0; i--, cp >>= 6) u[i] = (unsigned char)(0x80 | (cp & 0x3F));
    u[0] = (unsigned char)(lead[n] | cp);
    if (*o + n >= cap) return -1;
    memcpy(buf + *o, u, n);
    *o += n;
    return 0;
}

/* The escape after a backslash (j->p at the letter) decoded into buf. 0, -1 or TALLY_JSON_FULL. */
static int escape(tally_json *j, char *buf, size_t cap, size_t *o) {
    static const char letters[] = "\"\\/bfnrt", plain[] = "\"\\/\b\f\n\r\t";
    char e = *j->p++;
    const char *k = e ? strchr(letters, e) : NULL;
    unsigned cp, lo;
    if (k) {
        cp = (unsigned char)plain[k - letters];
    } else {
        if (e != 'u' || j->end - j->p < 4 || hex4(j->p, &cp)) return tally__json_fail(j, "bad JSON: bad escape in a string");
        j->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) || lo < 0xDC00 ||
                lo > 0xDFFF)
                return tally__json_fail(j, "bad JSON: unpaired surrogate in a string");
            j->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return tally__json_fail(j, "bad JSON: unpaired surrogate in a string");
        }
        if (cp == 0) return tally__json_fail(j, "bad JSON: NUL character in a string");
    }
    return put_utf8(buf, cap, o, cp) < 0 ? TALLY_JSON_FULL : 0;
}

/* The bytes of v (8 bytes of text) that are a control character (below
 * 0x20), a quote or a backslash, as the high bit of each: x - 0x01.. & ~x &
 * 0x80.. marks the bytes of x that are 0 (with 0x20.., those below 0x20). A
 * borrow can mark a byte after a marked one but never before: the first
 * marked byte is exactly the first such byte, and none marked means none. */
static uint64_t specials(uint64_t v) {
    const uint64_t ones = 0x0101010101010101ull, q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    return (((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b)) & (ones * 0x80);
}

/* The end of the run of plain bytes at p (none of those), before end:
 * 8 bytes at a time, then byte by byte. */
static const char *plain_run(const char *p, const char *end) {
    for (uint64_t v, m; end - p >= 8; p += 8) {
        memcpy(&v, p, 8);
        if ((m = specials(v)) != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return p + __builtin_ctzll(m) / 8; /* the first byte in memory is v's lowest */
#else
            break;
#endif
        }
    }
    while (p < end && (unsigned char)*p >= 0x20 && *p != '"' && *p != '\\') p++;
    return p;
}

int tally__json_string(tally_json *j, char *buf, size_t cap, size_t *len) {
    size_t o = 0;
    tally__json_ws(j);
    if (j->p >= j->end || *j->p != '"') return tally__json_fail(j, "bad JSON at byte %zu: expected a string", at(j));
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        /* a run of plain bytes (no quote, backslash or control character),
         * copied at once: most strings are one run */
        const char *run = j->p;
        j->p = plain_run(j->p, j->end);
        if (j->p > run) {
            size_t n = (size_t)(j->p - run);
            if (o + n >= cap) return TALLY_JSON_FULL;
            memcpy(buf + o, run, n);
            o += n;
            continue;
        }
        if ((unsigned char)*j->p++ < 0x20) return tally__json_fail(j, "bad JSON: control character in a string");
        if (j->p >= j->end) break; /* (a backslash) */
        int rc = escape(j, buf, cap, &o);
        if (rc) return rc;
    }
    if (j->p >= j->end) return tally__json_fail(j, "bad JSON: unterminated string");
    j->p++;
    buf[o] = '\0';
    if (len) *len = o;
    return 0;
}

/* 1 for the bytes a number's literal text is taken from: 0-9 + - . e E */
static int number_byte(char c) {
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

int tally__json_number(tally_json *j, char *buf, size_t cap, size_t *len) {
    size_t o = 0;
    while (j->p < j->end && number_byte(*j->p)) {
        if (o + 1 >= cap) return TALLY_JSON_FULL;
        buf[o++] = *j->p++;
    }
    if (!o) return tally__json_fail(j, "bad JSON: expected a value (a string or a number)");
    buf[o] = '\0';
    if (len) *len = o;
    return 0;
}

int tally__json_scalar(tally_json *j, char *buf, size_t cap, size_t *len, int *quoted) {
    *quoted = tally__json_peek(j, '"');
    return *quoted ? tally__json_string(j, buf, cap, len) : tally__json_number(j, buf, cap, len);
}

static const char *digits(const char *s) {
    while (*s >= '0' && *s <= '9') s++;
    return s;
}

int tally__json_number_strict(const char *s) {
    if (*s == '-') s++;
    if (*s == '0') s++;
    else if (*s >= '1' && *s <= '9') s = digits(s);
    else return 0;
    if (*s == '.') {
        const char *d = s + 1;
        if ((s = digits(d)) == d) return 0;
    }
    if (*s == 'e' || *s == 'E') {
        const char *d = s + 1 + (s[1] == '+' || s[1] == '-');
        if ((s = digits(d)) == d) return 0;
    }
    return *s == '\0';
}

int tally__json_literal(tally_json *j) {
    static const char *const words[] = { "false", "true", "null" };
    tally__json_ws(j);
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, words[i], n) == 0) return j->p += n, i;
    }
    return -1;
}

/* Reads a string or a number into tmp, to be dropped; one too long for tmp is
 * refused, naming which. */
static int drop(tally_json *j, int string) {
    char tmp[1024];
    int q = string, rc = string ? tally__json_string(j, tmp, sizeof tmp, NULL)
                                : tally__json_scalar(j, tmp, sizeof tmp, NULL, &q);
    if (rc != TALLY_JSON_FULL) return rc;
    return tally__json_fail(j, "a %s is longer than %zu bytes", q ? "string" : "number", sizeof tmp - 1);
}

int tally__json_skip(tally_json *j) {
    tally__json_ws(j);
    if (j->p >= j->end) return tally__json_fail(j, "bad JSON: unexpected end");
    char c = *j->p;
    if (c == '{' || c == '[') {
        if (++j->depth > TALLY_JSON_DEPTH_MAX) return tally__json_fail(j, "bad JSON: nested too deep");
        j->p++;
        char close = c == '{' ? '}' : ']';
        if (tally__json_peek(j, close)) return j->p++, j->depth--, 0;
        for (;;) {
            if (c == '{' && (drop(j, 1) || tally__json_expect(j, ':'))) return -1;
            if (tally__json_skip(j)) return -1;
            if (tally__json_peek(j, ',')) { j->p++; continue; }
            if (tally__json_expect(j, close)) return -1;
            j->depth--;
            return 0;
        }
    }
    return tally__json_literal(j) >= 0 ? 0 : drop(j, 0);
}
