/* price_json.c -- tally_prices_parse: a price table from JSON text, in tally's
 * own form or LiteLLM's model_prices_and_context_window.json (tally.h says
 * which fields). A small strict reader: numbers are kept as their literal
 * text and converted by tally__price_parse, never through a double.
 * Layer: pure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "prices.h"

#define DEPTH_MAX 64
#define TEXT_MAX 1024 /* a name or a value we keep */

typedef struct {
    const char *start, *p, *end;
    char *err;
    size_t cap;
    int depth;
} reader;

static int bad(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(reader *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->cap, fmt, ap);
    va_end(ap);
    return -1;
}

static void ws(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n')) r->p++;
}

static int peek(reader *r, char c) {
    ws(r);
    return r->p < r->end && *r->p == c;
}

static int expect(reader *r, char c) {
    if (!peek(r, c)) return bad(r, "bad JSON at byte %zu: expected '%c'", (size_t)(r->p - r->start) + 1, c);
    r->p++;
    return 0;
}

/* A string into buf (cap bytes, NUL-terminated; \u escapes as UTF-8). */
static int string(reader *r, char *buf, size_t cap) {
    size_t o = 0;
    if (expect(r, '"')) return -1;
    while (r->p < r->end && *r->p != '"') {
        unsigned c = (unsigned char)*r->p++;
        if (c < 0x20) return bad(r, "bad JSON: control character in a string");
        if (c == '\\') {
            if (r->p >= r->end) break;
            char e = *r->p++;
            if (e == 'u') {
                unsigned cp = 0;
                for (int i = 0; i < 4; i++, r->p++) {
                    char h = r->p < r->end ? *r->p : 'x';
                    int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                                : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (v < 0) return bad(r, "bad JSON: bad \\u escape");
                    cp = cp << 4 | (unsigned)v;
                }
                if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return bad(r, "bad JSON: unsupported \\u escape");
                unsigned char u[3];
                int un = cp < 0x80 ? (u[0] = (unsigned char)cp, 1)
                         : cp < 0x800 ? (u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), 2)
                                      : (u[0] = (unsigned char)(0xE0 | cp >> 12),
                                         u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
                                         u[2] = (unsigned char)(0x80 | (cp & 0x3F)), 3);
                for (int i = 0; i < un; i++)
                    if (o + 1 < cap) buf[o++] = (char)u[i];
                    else return bad(r, "a string is longer than %d bytes", TEXT_MAX - 1);
                continue;
            }
            switch (e) {
            case '"': case '\\': case '/': c = (unsigned char)e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: return bad(r, "bad JSON: bad escape");
            }
        }
        if (o + 1 >= cap) return bad(r, "a string is longer than %d bytes", TEXT_MAX - 1);
        buf[o++] = (char)c;
    }
    if (r->p >= r->end) return bad(r, "bad JSON: unterminated string");
    r->p++;
    buf[o] = '\0';
    return 0;
}

/* A scalar's text: a string's contents, or a number's literal text. */
static int scalar(reader *r, char *buf, size_t cap, int *quoted) {
    ws(r);
    *quoted = peek(r, '"');
    if (*quoted) return string(r, buf, cap);
    size_t o = 0;
    while (r->p < r->end && strchr("0123456789+-.eE", *r->p) && *r->p) {
        if (o + 1 >= cap) return bad(r, "a number is longer than %d bytes", TEXT_MAX - 1);
        buf[o++] = *r->p++;
    }
    if (!o) return bad(r, "bad JSON: expected a string or a number");
    buf[o] = '\0';
    return 0;
}

/* Skips any value. */
static int skip(reader *r) {
    char tmp[TEXT_MAX];
    int q;
    ws(r);
    if (r->p >= r->end) return bad(r, "bad JSON: unexpected end");
    char c = *r->p;
    if (c == '{' || c == '[') {
        if (++r->depth > DEPTH_MAX) return bad(r, "bad JSON: nested too deep");
        r->p++;
        char close = c == '{' ? '}' : ']';
        if (peek(r, close)) return r->p++, r->depth--, 0;
        for (;;) {
            if (c == '{' && (string(r, tmp, sizeof tmp) || expect(r, ':'))) return -1;
            if (skip(r)) return -1;
            if (peek(r, ',')) { r->p++; continue; }
            if (expect(r, close)) return -1;
            r->depth--;
            return 0;
        }
    }
    static const char *const words[] = { "true", "false", "null" };
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(r->end - r->p) >= n && memcmp(r->p, words[i], n) == 0) return r->p += n, 0;
    }
    if (c == '"') return string(r, tmp, sizeof tmp);
    return scalar(r, tmp, sizeof tmp, &q);
}

/* Object members: calls member(r, name, ctx) positioned at each value. */
static int members(reader *r, int (*member)(reader *, const char *, void *), void *ctx) {
    char name[TEXT_MAX];
    if (expect(r, '{')) return -1;
    if (peek(r, '}')) return r->p++, 0;
    for (;;) {
        if (string(r, name, sizeof name) || expect(r, ':') || member(r, name, ctx)) return -1;
        if (peek(r, ',')) { r->p++; continue; }
        return expect(r, '}');
    }
}

/* ------------------------------------------------------------ our form */

typedef struct {
    tally_prices *p;
    tally_price e;
    int given;   /* bits: 1 << field index */
    int in_tier;
} entry_ctx;

static const char *const price_names[4] = { "input", "output", "cache_create", "cache_read" };

static int price_field(reader *r, const char *name, entry_ctx *c, int shift, int64_t *dst, const char *what) {
    char text[TEXT_MAX];
    int q;
    if (scalar(r, text, sizeof text, &q)) return -1;
    int rc = tally__price_parse(text, strlen(text), shift, dst);
    if (rc != TALLY_PRICE_OK)
        return bad(r, "model %s: %s%s '%s' %s", c->e.model, what, name, text, tally__price_problem(rc));
    return 0;
}

static int tier_member(reader *r, const char *name, void *ctx) {
    entry_ctx *c = ctx;
    for (int k = 0; k < 4; k++)
        if (strcmp(name, price_names[k]) == 0) {
            c->given |= 1 << (8 + k);
            return price_field(r, name, c, 9, &c->e.tier_input + k, "tier ");
        }
    return bad(r, "model %s: unknown tier field \"%s\"", c->e.model, name);
}

static int entry_member(reader *r, const char *name, void *ctx) {
    entry_ctx *c = ctx;
    char text[TEXT_MAX];
    int q;
    for (int k = 0; k < 4; k++)
        if (strcmp(name, price_names[k]) == 0) {
            c->given |= 1 << k;
            return price_field(r, name, c, 9, &c->e.input + k, "");
        }
    if (strcmp(name, "from") == 0) {
        if (scalar(r, text, sizeof text, &q)) return -1;
        if (tally_parse_time(text, 0, &c->e.from_ms) != TALLY_OK)
            return bad(r, "model %s: from '%s' is not an epoch ms or ISO-8601 time", c->e.model, text);
        return 0;
    }
    if (strcmp(name, "tier_above") == 0) {
        if (scalar(r, text, sizeof text, &q)) return -1;
        size_t n = strlen(text);
        if (q || n == 0 || n > 13 || strspn(text, "0123456789") != n || (n > 1 && text[0] == '0'))
            return bad(r, "model %s: tier_above '%s' is not a token count", c->e.model, text);
        c->e.tier_above = strtoll(text, NULL, 10);
        return c->e.tier_above > 0 ? 0 : bad(r, "model %s: tier_above must be positive", c->e.model);
    }
    if (strcmp(name, "tier") == 0) return members(r, tier_member, c);
    return bad(r, "model %s: unknown field \"%s\"", c->e.model, name);
}

static int entry(reader *r, tally_prices *p, const char *model) {
    entry_ctx c = { p, { model, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 0, 0 };
    if (members(r, entry_member, &c)) return -1;
    for (int k = 0; k < 4; k++)
        if (!(c.given & 1 << k)) return bad(r, "model %s: \"%s\" is missing", model, price_names[k]);
    int tier = (c.given >> 8) & 15;
    if ((tier && !c.e.tier_above) || (c.e.tier_above && tier != 15))
        return bad(r, "model %s: \"tier_above\" and \"tier\" with its four prices go together", model);
    return tally__prices_add(p, &c.e) < 0 ? bad(r, "out of memory") : 0;
}

static int model_member(reader *r, const char *model, void *ctx) {
    if (!peek(r, '[')) return entry(r, ctx, model);
    r->p++;
    if (peek(r, ']')) return bad(r, "model %s: no entries", model);
    for (;;) {
        if (entry(r, ctx, model)) return -1;
        if (peek(r, ',')) { r->p++; continue; }
        return expect(r, ']');
    }
}

static int ours_member(reader *r, const char *name, void *ctx) {
    if (strcmp(name, "models") != 0) return bad(r, "unknown top-level field \"%s\" (expected \"models\")", name);
    return members(r, model_member, ctx);
}

/* ------------------------------------------------------------ LiteLLM's */

typedef struct {
    entry_ctx c;
    int base;                /* bits: input, output, cache_create, cache_read */
    int tier;                /* the same for the tier's */
} litellm_ctx;

static const char *const litellm_names[4] = { "input_cost_per_token", "output_cost_per_token",
                                              "cache_creation_input_token_cost", "cache_read_input_token_cost" };

static int litellm_field(reader *r, const char *name, void *ctx) {
    litellm_ctx *l = ctx;
    for (int k = 0; k < 4; k++) {
        size_t n = strlen(litellm_names[k]);
        if (strncmp(name, litellm_names[k], n) != 0) continue;
        if (name[n] == '\0') {
            l->base |= 1 << k;
            return price_field(r, name, &l->c, 15, &l->c.e.input + k, "");
        }
        long above;
        int used = 0; /* the whole rest must be the tier form: not "_above_1hr" */
        if (sscanf(name + n, "_above_%ldk_tokens%n", &above, &used) != 1 || !used || name[n + (size_t)used] ||
            above <= 0 || above > 1000000000)
            continue;
        if (l->c.e.tier_above && l->c.e.tier_above != above * 1000)
            return bad(r, "model %s: tiers above two token counts (only one tier is supported)", l->c.e.model);
        l->c.e.tier_above = above * 1000;
        l->tier |= 1 << k;
        return price_field(r, name, &l->c, 15, &l->c.e.tier_input + k, "");
    }
    return skip(r);
}

static int litellm_model(reader *r, const char *model, void *ctx) {
    if (strcmp(model, "sample_spec") == 0 || !peek(r, '{')) return skip(r);
    litellm_ctx l = { { ctx, { model, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 0, 0 }, 0, 0 };
    if (members(r, litellm_field, &l)) return -1;
    if ((l.base & 3) != 3) return 0; /* priced per something else: not a token model */
    tally_price *e = &l.c.e;
    int64_t *base = &e->input, *tier = &e->tier_input;
    for (int k = 2; k < 4; k++) /* no cache price: cache tokens cost what input costs */
        if (!(l.base & 1 << k)) base[k] = base[0];
    for (int k = 0; e->tier_above && k < 4; k++) /* no tier price: the base one */
        if (!(l.tier & 1 << k)) tier[k] = base[k];
    return tally__prices_add(ctx, e) < 0 ? bad(r, "out of memory") : 0;
}

/* ------------------------------------------------------------ the table */

int tally_prices_parse(const char *json, size_t n, tally_prices **out, char *err, size_t cap) {
    char none[1];
    if (!err || !cap) err = none, cap = sizeof none;
    *out = NULL;
    if (!json) return snprintf(err, cap, "no JSON"), TALLY_EINVAL;
    tally_prices *p = tally__prices_new();
    if (!p) return snprintf(err, cap, "out of memory"), TALLY_ENOMEM;
    reader r = { json, json, json + n, err, cap, 0 };
    /* Ours has exactly one top-level member, "models", whose value is an
     * object; LiteLLM's is an object of models. */
    const char *q = json;
    while (q < r.end && strchr(" \t\r\n{", *q) && *q) q++;
    int ours = (size_t)(r.end - q) >= 8 && memcmp(q, "\"models\"", 8) == 0;
    int rc = members(&r, ours ? ours_member : litellm_model, p);
    if (!rc) {
        ws(&r);
        if (r.p != r.end) rc = bad(&r, "text after the JSON object");
    }
    if (!rc) rc = tally__prices_finish(p, err, cap);
    if (rc) {
        tally_prices_free(p);
        return TALLY_EINVAL;
    }
    *out = p;
    return TALLY_OK;
}
