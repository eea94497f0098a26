/* json_read.c -- see json_read.h. A recursive-descent reader of RFC 8259
 * JSON; \u escapes are decoded to UTF-8 (surrogate pairs included). */
#include "json_read.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct {
    const char *p;
    int depth;
} reader;

static void ws(reader *r) {
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r') r->p++;
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1; /* a NUL stops here too */
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

/* A string at r->p (at its opening quote), decoded into a new buffer. */
static char *string(reader *r) {
    if (*r->p != '"') return NULL;
    size_t cap = strlen(r->p) + 1, n = 0;
    char *out = malloc(cap);
    for (r->p++; out && *r->p != '"'; r->p++) {
        unsigned char c = (unsigned char)*r->p;
        if (!c || c < 0x20) goto bad;
        if (c != '\\') {
            out[n++] = (char)c;
            continue;
        }
        static const char escapes[] = "\"\\/bfnrt", plain[] = "\"\\/\b\f\n\r\t";
        char e = *++r->p;
        const char *at = e ? strchr(escapes, e) : NULL;
        if (at) {
            out[n++] = plain[at - escapes];
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || hex4(r->p + 1, &cp)) goto bad;
        r->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (r->p[1] != '\\' || r->p[2] != 'u' || hex4(r->p + 3, &lo) || lo < 0xDC00 || lo > 0xDFFF) goto bad;
            r->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp < 0x80) {
            out[n++] = (char)cp;
        } else if (cp < 0x800) {
            out[n++] = (char)(0xC0 | cp >> 6);
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[n++] = (char)(0xE0 | cp >> 12);
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[n++] = (char)(0xF0 | cp >> 18);
            out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    if (!out) return NULL;
    r->p++;
    out[n] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* A number literal: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static char *number(reader *r) {
    const char *s = r->p;
    if (*r->p == '-') r->p++;
    if (*r->p == '0') r->p++;
    else if (*r->p >= '1' && *r->p <= '9') while (*r->p >= '0' && *r->p <= '9') r->p++;
    else return NULL;
    if (*r->p == '.') {
        if (!(*++r->p >= '0' && *r->p <= '9')) return NULL;
        while (*r->p >= '0' && *r->p <= '9') r->p++;
    }
    if (*r->p == 'e' || *r->p == 'E') {
        if (*++r->p == '+' || *r->p == '-') r->p++;
        if (!(*r->p >= '0' && *r->p <= '9')) return NULL;
        while (*r->p >= '0' && *r->p <= '9') r->p++;
    }
    return strndup(s, (size_t)(r->p - s));
}

static int value(reader *r, tj *v);

/* The items of an array or object, after its opening bracket. */
static int items(reader *r, tj *v, char close) {
    ws(r);
    if (*r->p == close) {
        r->p++;
        return 0;
    }
    for (;;) {
        v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
        if (close == '}') v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
        memset(&v->items[v->n], 0, sizeof *v->items);
        if (close == '}') {
            ws(r);
            if (!(v->keys[v->n] = string(r))) return -1;
            ws(r);
            if (*r->p++ != ':') {
                v->n++;
                return -1;
            }
        }
        int rc = value(r, &v->items[v->n++]);
        if (rc < 0) return -1;
        ws(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        return *r->p++ == close ? 0 : -1;
    }
}

static int value(reader *r, tj *v) {
    ws(r);
    if (++r->depth > 64) return -1;
    int rc = 0;
    if (*r->p == '{' || *r->p == '[') {
        v->type = *r->p == '{' ? TJ_OBJECT : TJ_ARRAY;
        char close = *r->p++ == '{' ? '}' : ']';
        rc = items(r, v, close);
    } else if (*r->p == '"') {
        v->type = TJ_STRING;
        rc = (v->text = string(r)) ? 0 : -1;
    } else if (strncmp(r->p, "true", 4) == 0 || strncmp(r->p, "false", 5) == 0) {
        v->type = TJ_BOOL;
        v->boolean = r->p[0] == 't';
        r->p += v->boolean ? 4 : 5;
    } else if (strncmp(r->p, "null", 4) == 0) {
        v->type = TJ_NULL;
        r->p += 4;
    } else {
        v->type = TJ_NUMBER;
        rc = (v->text = number(r)) ? 0 : -1;
    }
    r->depth--;
    return rc;
}

static void release(tj *v) {
    for (size_t i = 0; i < v->n; i++) {
        release(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
}

tj *tj_parse(const char *text) {
    reader r = { text, 0 };
    tj *v = calloc(1, sizeof *v);
    if (!text || !v) return v;
    int rc = value(&r, v);
    ws(&r);
    if (rc < 0 || *r.p) {
        tj_free(v);
        return NULL;
    }
    return v;
}

void tj_free(tj *v) {
    if (!v) return;
    release(v);
    free(v);
}

int tj_equal(const tj *a, const tj *b) {
    if (a->type != b->type || a->n != b->n) return 0;
    switch (a->type) {
    case TJ_BOOL: return a->boolean == b->boolean;
    case TJ_NUMBER:
    case TJ_STRING: return strcmp(a->text, b->text) == 0;
    case TJ_ARRAY:
        for (size_t i = 0; i < a->n; i++)
            if (!tj_equal(&a->items[i], &b->items[i])) return 0;
        return 1;
    case TJ_OBJECT:
        for (size_t i = 0; i < a->n; i++) {
            const tj *other = tj_get(b, a->keys[i]);
            if (!other || !tj_equal(&a->items[i], other)) return 0;
        }
        return 1;
    default: return 1;
    }
}

const tj *tj_get(const tj *obj, const char *key) {
    if (!obj || obj->type != TJ_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

const tj *tj_at(const tj *arr, size_t i) {
    return arr && arr->type == TJ_ARRAY && i < arr->n ? &arr->items[i] : NULL;
}

long long tj_int(const tj *obj, const char *key) {
    const tj *v = tj_get(obj, key);
    char *end;
    if (!v || v->type != TJ_NUMBER) fail_msg("no number \"%s\" in the JSON", key);
    long long x = strtoll(v->text, &end, 10);
    if (*end) fail_msg("\"%s\" is %s, not an integer", key, v->text);
    return x;
}

const char *tj_str(const tj *obj, const char *key) {
    const tj *v = tj_get(obj, key);
    if (!v || v->type != TJ_STRING) fail_msg("no string \"%s\" in the JSON", key);
    return v->text;
}

int tj_bool(const tj *obj, const char *key) {
    const tj *v = tj_get(obj, key);
    if (!v || v->type != TJ_BOOL) fail_msg("no boolean \"%s\" in the JSON", key);
    return v->boolean;
}

void tj_assert_equal(const char *actual, const char *expected) {
    tj *a = tj_parse(actual), *e = tj_parse(expected);
    if (!e) fail_msg("the expected text is not JSON: %s", expected);
    if (!a) fail_msg("the output is not one JSON document: %s", actual ? actual : "(null)");
    int same = tj_equal(a, e);
    tj_free(a);
    tj_free(e);
    if (!same) fail_msg("JSON differs:\n  got  %s\n  want %s", actual, expected);
}
