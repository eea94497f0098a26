/* json_read.c -- see json_read.h. RFC 8259 JSON read into a tree with the
 * library's strict JSON reader (c/json_reader.c: strings, numbers, literals);
 * the tree and its comparisons are the tests' own. */
#include "json_read.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_reader.h"

typedef tally_json reader;

/* A string at the cursor, decoded into a new buffer (never longer than the
 * rest of the text). */
static char *string(reader *r) {
    char *out = malloc((size_t)(r->end - r->p) + 1);
    if (out && tally__json_string(r, out, (size_t)(r->end - r->p) + 1, NULL) == 0) return out;
    free(out);
    return NULL;
}

/* A number literal, strictly by RFC 8259's grammar. */
static char *number(reader *r) {
    char *out = malloc((size_t)(r->end - r->p) + 1);
    if (out && tally__json_number(r, out, (size_t)(r->end - r->p) + 1, NULL) == 0 && tally__json_number_strict(out))
        return out;
    free(out);
    return NULL;
}

static int value(reader *r, tj *v);

/* The items of an array or object, after its opening bracket. */
static int items(reader *r, tj *v, char close) {
    if (tally__json_peek(r, close)) {
        r->p++;
        return 0;
    }
    for (;;) {
        v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
        if (close == '}') v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
        memset(&v->items[v->n], 0, sizeof *v->items);
        if (close == '}') {
            if (!(v->keys[v->n] = string(r))) return -1;
            if (tally__json_expect(r, ':')) {
                v->n++;
                return -1;
            }
        }
        int rc = value(r, &v->items[v->n++]);
        if (rc < 0) return -1;
        if (tally__json_peek(r, ',')) {
            r->p++;
            continue;
        }
        return tally__json_expect(r, close);
    }
}

static int value(reader *r, tj *v) {
    tally__json_ws(r);
    if (++r->depth > TALLY_JSON_DEPTH_MAX) return -1;
    int rc = 0, word;
    if (r->p < r->end && (*r->p == '{' || *r->p == '[')) {
        v->type = *r->p == '{' ? TJ_OBJECT : TJ_ARRAY;
        char close = *r->p++ == '{' ? '}' : ']';
        rc = items(r, v, close);
    } else if (r->p < r->end && *r->p == '"') {
        v->type = TJ_STRING;
        rc = (v->text = string(r)) ? 0 : -1;
    } else if ((word = tally__json_literal(r)) >= 0) {
        v->type = word == TALLY_JSON_NULL ? TJ_NULL : TJ_BOOL;
        v->boolean = word == 1;
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
    reader r;
    tj *v = calloc(1, sizeof *v);
    if (!text || !v) return v;
    tally__json_init(&r, text, strlen(text), NULL, 0);
    int rc = value(&r, v);
    tally__json_ws(&r);
    if (rc < 0 || r.p != r.end) {
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
