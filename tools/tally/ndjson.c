/* ndjson.c -- the event parser for `tally record --stdin`: a strict reader of
 * one flat JSON object per line. Numbers are taken from their literal text, so
 * "cost": 0.0123 is exact; exponents, signs and fractions of token counts are
 * refused rather than rounded. */
#include "ndjson.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *p, *end;
    char *out;          /* next free byte of the event's text buffer */
    char *out_end;
    char *err;
    size_t errlen;
} reader;

static int bad(reader *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void skip_ws(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r')) r->p++;
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9') *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') *v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    return 0;
}

static int put(reader *r, unsigned char c) {
    if (r->out >= r->out_end) return -1;
    *r->out++ = (char)c;
    return 0;
}

static int put_utf8(reader *r, unsigned cp) {
    if (cp < 0x80) return put(r, (unsigned char)cp);
    if (cp < 0x800) return put(r, 0xC0 | (cp >> 6)) | put(r, 0x80 | (cp & 0x3F));
    if (cp < 0x10000)
        return put(r, 0xE0 | (cp >> 12)) | put(r, 0x80 | ((cp >> 6) & 0x3F)) | put(r, 0x80 | (cp & 0x3F));
    return put(r, 0xF0 | (cp >> 18)) | put(r, 0x80 | ((cp >> 12) & 0x3F)) |
           put(r, 0x80 | ((cp >> 6) & 0x3F)) | put(r, 0x80 | (cp & 0x3F));
}

/* Reads a JSON string into the text buffer; *s gets its NUL-terminated copy. */
static int string(reader *r, const char **s) {
    if (r->p >= r->end || *r->p != '"') return bad(r, "expected a string");
    r->p++;
    *s = r->out;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p++;
        if (c < 0x20) return bad(r, "control character inside a string");
        if (c != '\\') {
            if (put(r, c)) return bad(r, "line too long");
            continue;
        }
        if (r->p >= r->end) return bad(r, "unfinished escape");
        char e = *r->p++, plain = 0;
        switch (e) {
        case '"': case '\\': case '/': plain = e; break;
        case 'b': plain = '\b'; break;
        case 'f': plain = '\f'; break;
        case 'n': plain = '\n'; break;
        case 'r': plain = '\r'; break;
        case 't': plain = '\t'; break;
        }
        if (plain) {
            if (put(r, (unsigned char)plain)) return bad(r, "line too long");
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || r->end - r->p < 4 || hex4(r->p, &cp)) return bad(r, "bad escape in a string");
        r->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                return bad(r, "unpaired surrogate in a string");
            r->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return bad(r, "unpaired surrogate in a string");
        }
        if (cp == 0) return bad(r, "NUL character in a string");
        if (put_utf8(r, cp)) return bad(r, "line too long");
    }
    if (r->p >= r->end) return bad(r, "unterminated string");
    r->p++;
    if (put(r, 0)) return bad(r, "line too long");
    return 0;
}

/* A number literal's text (JSON grammar), copied into the text buffer. */
static int number_text(reader *r, const char **s) {
    const char *start = r->p;
    while (r->p < r->end && strchr("0123456789+-.eE", *r->p)) r->p++;
    if (r->p == start) return bad(r, "expected a value");
    *s = r->out;
    for (const char *q = start; q < r->p; q++)
        if (put(r, (unsigned char)*q)) return bad(r, "line too long");
    if (put(r, 0)) return bad(r, "line too long");
    return 0;
}

static int whole(reader *r, const char *name, const char *text, int64_t *v) {
    size_t n = strlen(text);
    if (n == 0 || n > 13 || strspn(text, "0123456789") != n)
        return bad(r, "\"%s\" must be a whole number from 0 to %lld", name, (long long)TALLY_MAX_TOKENS);
    *v = 0;
    for (size_t i = 0; i < n; i++) *v = *v * 10 + (text[i] - '0');
    if (*v > TALLY_MAX_TOKENS)
        return bad(r, "\"%s\" must be a whole number from 0 to %lld", name, (long long)TALLY_MAX_TOKENS);
    return 0;
}

int ndjson_parse(const char *line, size_t n, int tz_min, ndjson_event *out, char *err, size_t errlen) {
    reader r = { line, line + n, out->text, out->text + sizeof out->text, err, errlen };
    tally_event *e = &out->ev;
    memset(e, 0, sizeof *e);
    static const char *const names[] = { "key", "model", "account", "input", "output",
                                         "cache_create", "cache_read", "cost", "id", "at" };
    enum { F_COUNT = sizeof names / sizeof names[0] };
    int seen[F_COUNT] = { 0 };
    skip_ws(&r);
    if (r.p >= r.end || *r.p++ != '{') return bad(&r, "expected a JSON object");
    skip_ws(&r);
    if (r.p < r.end && *r.p == '}') return bad(&r, "empty object: \"key\" and \"model\" are required");
    for (;;) {
        const char *name = NULL, *text = NULL;
        skip_ws(&r);
        if (string(&r, &name)) return -1;
        int f = 0;
        while (f < F_COUNT && strcmp(names[f], name) != 0) f++;
        if (f == F_COUNT) return bad(&r, "unknown field \"%.40s\"", name);
        if (seen[f]++) return bad(&r, "field \"%s\" given twice", name);
        skip_ws(&r);
        if (r.p >= r.end || *r.p++ != ':') return bad(&r, "expected ':' after \"%s\"", name);
        skip_ws(&r);
        int quoted = r.p < r.end && *r.p == '"';
        if ((quoted ? string(&r, &text) : number_text(&r, &text))) return -1;
        if (f <= 2 || f == 8) {
            if (!quoted) return bad(&r, "\"%s\" must be a string", name);
            if ((f == 2 || f == 8) && !*text) return bad(&r, "\"%s\" is empty", name);
            const char **dst[] = { &e->key, &e->model, &e->account };
            *(f == 8 ? &e->request_id : dst[f]) = text;
        } else if (f >= 3 && f <= 6) {
            int64_t *dst[] = { &e->input_tokens, &e->output_tokens, &e->cache_create_tokens,
                               &e->cache_read_tokens };
            if (quoted) return bad(&r, "\"%s\" must be a number, not a string", name);
            if (whole(&r, name, text, dst[f - 3])) return -1;
        } else if (f == 7) {
            if (tally_usd_to_nanos(text, &e->cost_nanos) != TALLY_OK)
                return bad(&r, "\"cost\" %.40s is not decimal USD with at most 9 decimals", text);
        } else if (tally_parse_time(text, tz_min, &e->at_ms) != TALLY_OK || e->at_ms == 0) {
            return bad(&r, "\"at\" must be epoch ms or an ISO-8601 time");
        }
        skip_ws(&r);
        if (r.p < r.end && *r.p == ',') {
            r.p++;
            continue;
        }
        if (r.p < r.end && *r.p == '}') {
            r.p++;
            break;
        }
        return bad(&r, "expected ',' or '}' after \"%s\"", name);
    }
    skip_ws(&r);
    if (r.p != r.end) return bad(&r, "text after the object");
    if (!seen[0] || !seen[1]) return bad(&r, "\"key\" and \"model\" are required");
    return 0;
}
