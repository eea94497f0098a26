/* ndjson.c -- the fields of a usage event (flags and NDJSON names) and the
 * event parser for `tally record --stdin`: a strict reader of one flat JSON
 * object per line whose values go through the same typed parsers as the
 * flags (opt.c). Numbers are taken from their literal text, so "cost": 0.0123
 * is exact; exponents, signs, leading zeros and fractions of token counts are
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

void event_fields(tally_event *e, int ndjson, opt f[EVENT_FIELDS + 1]) {
    /* Only the syntax is the tool's: an event's ranges (tokens, cost, time,
     * ids) are the library's to judge, once, with its own messages. */
    const opt fields[EVENT_FIELDS + 1] = {
        OPT_TEXT("--key", &e->key),
        OPT_TEXT("--model", &e->model),
        OPT_TEXT("--account", &e->account),
        OPT_COUNT("--input", &e->input_tokens, 0, INT64_MAX),
        OPT_COUNT("--output", &e->output_tokens, 0, INT64_MAX),
        OPT_COUNT("--cache-create", &e->cache_create_tokens, 0, INT64_MAX),
        OPT_COUNT("--cache-read", &e->cache_read_tokens, 0, INT64_MAX),
        OPT_USD("--cost", &e->cost_nanos, INT64_MAX),
        OPT_TEXT("--id", &e->request_id),
        OPT_TIME("--at", &e->at_ms),
        OPT_END,
    };
    static const char *const json_names[EVENT_FIELDS] = { "key",    "model",        "account",    "input",
                                                          "output", "cache_create", "cache_read", "cost",
                                                          "id",     "at" };
    for (int i = 0; i <= EVENT_FIELDS; i++) {
        f[i] = fields[i];
        if (ndjson && i < EVENT_FIELDS) f[i].name = json_names[i];
    }
}

int ndjson_blank(const char *line, size_t n) {
    reader r = { line, line + n, NULL, NULL, NULL, 0 };
    skip_ws(&r);
    return r.p == r.end;
}

/* Reads the value of field o: a string or a number literal, as its kind
 * allows, converted by the kind's parser. */
static int field_value(reader *r, opt *o, int tz_min) {
    const char *text = NULL;
    int quoted = r->p < r->end && *r->p == '"';
    if ((quoted ? string(r, &text) : number_text(r, &text))) return -1;
    if (o->kind == KIND_TEXT && !quoted) return bad(r, "\"%s\" must be a string", o->name);
    if (o->kind == KIND_COUNT && quoted) return bad(r, "\"%s\" must be a number, not a string", o->name);
    o->given++;
    return opt_set(o, text, tz_min, r->err, r->errlen);
}

int ndjson_parse(const char *line, size_t n, int tz_min, ndjson_event *out, char *err, size_t errlen) {
    reader r = { line, line + n, out->text, out->text + sizeof out->text, err, errlen };
    memset(&out->ev, 0, sizeof out->ev);
    out->ev.cost_nanos = TALLY_COST_FROM_PRICES; /* no "cost": the price table's */
    opt fields[EVENT_FIELDS + 1];
    event_fields(&out->ev, 1, fields);
    skip_ws(&r);
    if (r.p >= r.end || *r.p++ != '{') return bad(&r, "expected a JSON object");
    skip_ws(&r);
    if (r.p < r.end && *r.p == '}') return bad(&r, "empty object: \"key\" and \"model\" are required");
    for (;;) {
        const char *name = NULL;
        skip_ws(&r);
        if (string(&r, &name)) return -1;
        opt *o = opt_find(fields, name, strlen(name));
        if (!o) return bad(&r, "unknown field \"%.40s\"", name);
        if (o->given) return bad(&r, "field \"%s\" given twice", name);
        skip_ws(&r);
        if (r.p >= r.end || *r.p++ != ':') return bad(&r, "expected ':' after \"%s\"", name);
        skip_ws(&r);
        if (field_value(&r, o, tz_min) < 0) return -1;
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
    if (!fields[0].given || !fields[1].given) return bad(&r, "\"key\" and \"model\" are required");
    return 0;
}
