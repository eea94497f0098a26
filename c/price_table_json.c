/* price_table_json.c -- tally_prices_parse(_ex): a price table from JSON text, in
 * tally's own form or LiteLLM's model_prices_and_context_window.json (tally.h
 * says which fields), read with the project's strict JSON reader
 * (json_reader.c): numbers are kept as their literal text and converted by tally__price_parse (ours: exact or refused)
 * or tally__price_round (LiteLLM's doubles), never through a double. Ours
 * refuses any doubt (an unknown or repeated member); from LiteLLM's file a
 * model that cannot be read is skipped with a note on the table, so one model
 * never stops the load. A text yielding no entry is refused unless allowed.
 * Layer: pure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_reader.h"
#include "keys.h"
#include "price_table.h"

#define TEXT_MAX 1024 /* a name or a value we keep */

typedef tally_json reader;

/* A string into buf (cap bytes, NUL-terminated). */
static int string(reader *r, char *buf, size_t cap) {
    int rc = tally__json_string(r, buf, cap, NULL);
    return rc == TALLY_JSON_FULL ? tally__json_fail(r, "a string is longer than %d bytes", TEXT_MAX - 1) : rc;
}

/* A scalar's text: a string's contents, or a number's literal text. */
static int scalar(reader *r, char *buf, size_t cap, int *quoted) {
    int rc = tally__json_scalar(r, buf, cap, NULL, quoted);
    if (rc != TALLY_JSON_FULL) return rc;
    return tally__json_fail(r, "a %s is longer than %d bytes", *quoted ? "string" : "number", TEXT_MAX - 1);
}

/* Object members: calls member(r, name, ctx) positioned at each value. */
static int members(reader *r, int (*member)(reader *, const char *, void *), void *ctx) {
    char name[TEXT_MAX];
    if (tally__json_expect(r, '{')) return -1;
    if (tally__json_peek(r, '}')) return r->p++, 0;
    for (;;) {
        if (string(r, name, sizeof name) || tally__json_expect(r, ':') || member(r, name, ctx)) return -1;
        if (tally__json_peek(r, ',')) { r->p++; continue; }
        return tally__json_expect(r, '}');
    }
}

/* ------------------------------------------------------------ our form */

/* The whole parse: the table, the zone of a "from" without an offset, and
 * the model names met, one per top-level model member (pointers to the
 * table's copies), to find a model given twice. */
typedef struct {
    tally_prices *p;
    int tz_min;
    const char **names;
    size_t nnames, names_cap;
} parse_ctx;

static int met(reader *r, parse_ctx *pc, const char *model) {
    if (pc->nnames == pc->names_cap) {
        size_t cap = pc->names_cap ? 2 * pc->names_cap : 64;
        const char **nn = realloc(pc->names, cap * sizeof *nn);
        if (!nn) return tally__json_fail(r, "out of memory");
        pc->names = nn, pc->names_cap = cap;
    }
    pc->names[pc->nnames++] = model;
    return 0;
}

typedef struct {
    parse_ctx *pc;
    tally_price e;
    int given;   /* bits: 1 << field index (tier fields from bit 8) */
} entry_ctx;

static const char *const price_names[4] = { "input", "output", "cache_create", "cache_read" };
enum { GIVEN_FROM = 1 << 4, GIVEN_TIER_ABOVE = 1 << 5, GIVEN_TIER = 1 << 6 };

/* Marks field `bit` given, refusing it a second time (as record --stdin
 * refuses a duplicate NDJSON field): the last value must not silently win. */
static int once(reader *r, entry_ctx *c, int bit, const char *what, const char *name) {
    if (c->given & bit) return tally__json_fail(r, "model %s: %s\"%s\" is given twice", c->e.model, what, name);
    c->given |= bit;
    return 0;
}

static int price_field(reader *r, const char *name, entry_ctx *c, int64_t *dst, const char *what) {
    char text[TEXT_MAX];
    int q;
    if (scalar(r, text, sizeof text, &q)) return -1;
    int rc = tally__price_parse(text, strlen(text), 9, dst);
    if (rc != TALLY_PRICE_OK)
        return tally__json_fail(r, "model %s: %s%s '%s' %s", c->e.model, what, name, text, tally__price_problem(rc));
    return 0;
}

static int tier_member(reader *r, const char *name, void *ctx) {
    entry_ctx *c = ctx;
    for (int k = 0; k < 4; k++)
        if (strcmp(name, price_names[k]) == 0)
            return once(r, c, 1 << (8 + k), "tier ", name) ? -1 : price_field(r, name, c, &c->e.tier_input + k, "tier ");
    return tally__json_fail(r, "model %s: unknown tier field \"%s\"", c->e.model, name);
}

static int entry_member(reader *r, const char *name, void *ctx) {
    entry_ctx *c = ctx;
    char text[TEXT_MAX];
    int q;
    for (int k = 0; k < 4; k++)
        if (strcmp(name, price_names[k]) == 0)
            return once(r, c, 1 << k, "", name) ? -1 : price_field(r, name, c, &c->e.input + k, "");
    if (strcmp(name, "from") == 0) {
        if (once(r, c, GIVEN_FROM, "", name) || scalar(r, text, sizeof text, &q)) return -1;
        if (tally_parse_time(text, c->pc->tz_min, &c->e.from_ms) != TALLY_OK)
            return tally__json_fail(r, "model %s: from '%s' is not an epoch ms or ISO-8601 time", c->e.model, text);
        return 0;
    }
    if (strcmp(name, "tier_above") == 0) {
        if (once(r, c, GIVEN_TIER_ABOVE, "", name) || scalar(r, text, sizeof text, &q)) return -1;
        size_t n = strlen(text);
        if (q || n == 0 || n > 13 || strspn(text, "0123456789") != n || (n > 1 && text[0] == '0'))
            return tally__json_fail(r, "model %s: tier_above '%s' is not a token count", c->e.model, text);
        c->e.tier_above = strtoll(text, NULL, 10);
        return c->e.tier_above > 0 ? 0 : tally__json_fail(r, "model %s: tier_above must be positive", c->e.model);
    }
    if (strcmp(name, "tier") == 0) return once(r, c, GIVEN_TIER, "", name) ? -1 : members(r, tier_member, c);
    return tally__json_fail(r, "model %s: unknown field \"%s\"", c->e.model, name);
}

static int entry(reader *r, parse_ctx *pc, const char *model) {
    entry_ctx c = { pc, { model, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 0 };
    if (members(r, entry_member, &c)) return -1;
    for (int k = 0; k < 4; k++)
        if (!(c.given & 1 << k)) return tally__json_fail(r, "model %s: \"%s\" is missing", model, price_names[k]);
    int tier = (c.given >> 8) & 15;
    if ((tier && !c.e.tier_above) || (c.e.tier_above && tier != 15))
        return tally__json_fail(r, "model %s: \"tier_above\" and \"tier\" with its four prices go together", model);
    return tally__prices_add(pc->p, &c.e) < 0 ? tally__json_fail(r, "out of memory") : 0;
}

static int model_member(reader *r, const char *model, void *ctx) {
    parse_ctx *pc = ctx;
    size_t first = tally_prices_count(pc->p);
    if (!tally__json_peek(r, '[')) {
        if (entry(r, pc, model)) return -1;
    } else {
        r->p++;
        if (tally__json_peek(r, ']')) return tally__json_fail(r, "model %s: no entries", model);
        for (;;) {
            if (entry(r, pc, model)) return -1;
            if (tally__json_peek(r, ',')) { r->p++; continue; }
            if (tally__json_expect(r, ']')) return -1;
            break;
        }
    }
    return met(r, pc, tally_prices_at(pc->p, first)->model);
}

static int ours_member(reader *r, const char *name, void *ctx) {
    if (strcmp(name, "models") != 0) return tally__json_fail(r, "unknown top-level field \"%s\" (expected only \"models\")", name);
    return members(r, model_member, ctx);
}

/* ------------------------------------------------------------ LiteLLM's */

/* One model of LiteLLM's file. A bad value does not stop the read: it is
 * kept as `problem` and the model skipped with it. */
typedef struct {
    entry_ctx c;
    int base, tier;           /* bits: input, output, cache_create, cache_read */
    int provider, embedding, tiered_pricing;
    char problem[256];        /* the first reason to skip the model */
    char units[128];          /* what else it is priced per: "image/second" */
    char rounded[1024];       /* "FIELD TEXT rounded to USD per million tokens, ..." */
} litellm_ctx;

static const char *const litellm_names[4] = { "input_cost_per_token", "output_cost_per_token",
                                              "cache_creation_input_token_cost", "cache_read_input_token_cost" };

/* Appends `text` to buf (cap bytes) after `sep` unless buf is empty; what
 * does not fit whole is left out. */
static void append(char *buf, size_t cap, const char *sep, const char *text) {
    size_t o = strlen(buf), sn = o ? strlen(sep) : 0, tn = strlen(text);
    if (o + sn + tn >= cap) return;
    memcpy(buf + o, sep, sn);
    memcpy(buf + o + sn, text, tn + 1);
}

static int problem(litellm_ctx *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int problem(litellm_ctx *l, const char *fmt, ...) {
    if (!l->problem[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->problem, sizeof l->problem, fmt, ap);
        va_end(ap);
    }
    return 0;
}

/* A per-token price in USD, rounded half up to 10^-15 USD (1 nano-USD per
 * million tokens) when finer: the file's values are doubles printed in
 * decimal (2.9999900000000002e-06 for 2.99999 USD per million tokens). */
static int litellm_price(reader *r, litellm_ctx *l, const char *name, int *given, int bit, int64_t *dst) {
    char text[TEXT_MAX], usd[32];
    int q;
    if (*given & bit) return problem(l, "%s is given twice", name), tally__json_skip(r);
    *given |= bit;
    tally__json_ws(r);
    if (r->p < r->end && *r->p != '"' && *r->p != '-' && (*r->p < '0' || *r->p > '9'))
        return problem(l, "%s is not a number", name), tally__json_skip(r);
    if (scalar(r, text, sizeof text, &q)) return -1;
    int rc = tally__price_round(text, strlen(text), 15, dst);
    if (rc == TALLY_PRICE_ROUNDED) {
        tally_nanos_to_usd(*dst, usd, sizeof usd);
        char one[TEXT_MAX + 128];
        snprintf(one, sizeof one, "%s %s rounded to %s USD per million tokens", name, text, usd);
        append(l->rounded, sizeof l->rounded, ", ", one);
    } else if (rc != TALLY_PRICE_OK) {
        problem(l, "%s '%s' %s", name, text, tally__price_problem(rc));
    }
    return 0;
}

static int litellm_field(reader *r, const char *name, void *ctx) {
    litellm_ctx *l = ctx;
    char text[TEXT_MAX];
    for (int k = 0; k < 4; k++) {
        size_t n = strlen(litellm_names[k]);
        if (strncmp(name, litellm_names[k], n) != 0) continue;
        if (name[n] == '\0') return litellm_price(r, l, name, &l->base, 1 << k, &l->c.e.input + k);
        long above;
        int used = 0; /* the whole rest must be the tier form: not "_above_1hr" */
        if (sscanf(name + n, "_above_%ldk_tokens%n", &above, &used) != 1 || !used || name[n + (size_t)used] ||
            above <= 0 || above > 1000000000)
            continue;
        if (l->c.e.tier_above && l->c.e.tier_above != above * 1000)
            return problem(l, "tiers above two token counts (only one tier is supported)"), tally__json_skip(r);
        l->c.e.tier_above = above * 1000;
        return litellm_price(r, l, name, &l->tier, 1 << k, &l->c.e.tier_input + k);
    }
    if (strcmp(name, "litellm_provider") == 0) l->provider = 1;
    if (strcmp(name, "tiered_pricing") == 0) l->tiered_pricing = 1;
    if (strcmp(name, "mode") == 0 && tally__json_peek(r, '"')) {
        if (string(r, text, sizeof text)) return -1;
        l->embedding = strcmp(text, "embedding") == 0;
        return 0;
    }
    const char *per = strstr(name, "_cost_per_");
    if (per) { /* priced per something: the word after it ("image", "second", ...) */
        per += strlen("_cost_per_");
        size_t n = strcspn(per, "_");
        snprintf(text, sizeof text, "%.*s", (int)n, per);
        if (strcmp(text, "token") != 0 && !strstr(l->units, text)) append(l->units, sizeof l->units, "/", text);
    }
    return tally__json_skip(r);
}

/* Why a model read without a problem is not priced per token, or NULL. */
static const char *litellm_unpriced(litellm_ctx *l, char *buf, size_t cap) {
    const char *in = "input_cost_per_token", *out = "output_cost_per_token";
    if ((l->base & 3) == 3 || ((l->base & 3) == 1 && l->embedding)) return NULL;
    if (l->tiered_pricing && !(l->base & 3))
        snprintf(buf, cap, "priced by tiered_pricing (token ranges), which tally does not read");
    else if (l->base & 3)
        snprintf(buf, cap, "%s without %s%s%s%s", l->base & 1 ? in : out, l->base & 1 ? out : in,
                 l->units[0] ? " (priced per " : "", l->units, l->units[0] ? ")" : "");
    else if (l->units[0])
        snprintf(buf, cap, "priced per %s, not per token", l->units);
    else
        snprintf(buf, cap, l->provider ? "no prices" : "not a model (no litellm_provider, no prices)");
    return buf;
}

static int litellm_model(reader *r, const char *model, void *ctx) {
    parse_ctx *pc = ctx;
    char why[256];
    if (strcmp(model, "sample_spec") == 0 || !tally__json_peek(r, '{')) {
        if (tally__json_skip(r)) return -1;
        const char *what = strcmp(model, "sample_spec") == 0 ? "LiteLLM's description of the fields" : "not a model (not an object)";
        return tally__prices_note(pc->p, model, TALLY_PRICE_NOTE_SKIPPED, what) < 0 ? tally__json_fail(r, "out of memory") : 0;
    }
    litellm_ctx l = { { pc, { model, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 0 }, 0, 0, 0, 0, 0, "", "", "" };
    if (members(r, litellm_field, &l)) return -1;
    const char *skipped = l.problem[0] ? l.problem : litellm_unpriced(&l, why, sizeof why);
    if (!skipped && tally__id_problem("its name", model, strlen(model), why, sizeof why) < 0) skipped = why;
    if (skipped)
        return tally__prices_note(pc->p, model, TALLY_PRICE_NOTE_SKIPPED, skipped) < 0 ? tally__json_fail(r, "out of memory") : 0;
    tally_price *e = &l.c.e;
    int64_t *base = &e->input, *tier = &e->tier_input;
    for (int k = 2; k < 4; k++) /* no cache price: cache tokens cost what input costs */
        if (!(l.base & 1 << k)) base[k] = base[0];
    for (int k = 0; e->tier_above && k < 4; k++) /* no tier price: the base one */
        if (!(l.tier & 1 << k)) tier[k] = base[k];
    /* an embedding model without an output price: 0, as LiteLLM charges it */
    if (tally__prices_add(pc->p, e) < 0 ||
        (l.rounded[0] && tally__prices_note(pc->p, model, TALLY_PRICE_NOTE_ROUNDED, l.rounded) < 0))
        return tally__json_fail(r, "out of memory");
    return met(r, pc, tally_prices_at(pc->p, tally_prices_count(pc->p) - 1)->model);
}

/* ------------------------------------------------------------ the table */

static int by_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* A model given twice: refused in ours; in LiteLLM's, where one model must
 * not stop the load, both are dropped with a note. */
static int twice(reader *r, parse_ctx *pc, int ours) {
    if (pc->nnames) qsort(pc->names, pc->nnames, sizeof *pc->names, by_name);
    size_t first = tally_prices_note_count(pc->p);
    for (size_t i = 1; i < pc->nnames; i++) {
        if (strcmp(pc->names[i - 1], pc->names[i]) != 0) continue;
        if (ours) return tally__json_fail(r, "model %s is given twice (several entries go in one list)", pc->names[i]);
        if (tally__prices_note(pc->p, pc->names[i], TALLY_PRICE_NOTE_SKIPPED, "given twice in the file") < 0)
            return tally__json_fail(r, "out of memory");
        while (i + 1 < pc->nnames && strcmp(pc->names[i + 1], pc->names[i]) == 0) i++;
    }
    /* then drop them, by the notes' own copies of the names: the last `dups`
     * notes, as dropping removes only rounding notes, all before them */
    for (size_t k = 0, dups = tally_prices_note_count(pc->p) - first; k < dups; k++)
        tally__prices_drop(pc->p, tally_prices_note_at(pc->p, tally_prices_note_count(pc->p) - dups + k)->model);
    return 0;
}

/* Is there a top-level member "models"? Then the text is ours. */
static int has_models(reader *r, const char *name, void *ctx) {
    *(int *)ctx |= strcmp(name, "models") == 0;
    return tally__json_skip(r);
}

int tally_prices_parse_ex(const char *json, size_t n, int tz_min, unsigned flags, tally_prices **out, char *err,
                          size_t cap) {
    char none[1];
    if (!err || !cap) err = none, cap = sizeof none;
    if (!out) return snprintf(err, cap, "no table pointer"), TALLY_EINVAL;
    *out = NULL;
    if (!json) return snprintf(err, cap, "no JSON"), TALLY_EINVAL;
    if (tz_min < -14 * 60 || tz_min > 14 * 60) return snprintf(err, cap, "timezone offset out of range"), TALLY_EINVAL;
    reader r;
    tally__json_init(&r, json, n, err, cap);
    int ours = 0;
    int rc = members(&r, has_models, &ours);
    parse_ctx pc = { tally__prices_new(), tz_min, NULL, 0, 0 };
    if (!pc.p) return snprintf(err, cap, "out of memory"), TALLY_ENOMEM;
    r.p = json, r.depth = 0;
    if (!rc) rc = members(&r, ours ? ours_member : litellm_model, &pc);
    if (!rc) {
        tally__json_ws(&r);
        if (r.p != r.end) rc = tally__json_fail(&r, "text after the JSON object");
    }
    if (!rc) rc = twice(&r, &pc, ours);
    free(pc.names);
    if (!rc) rc = tally__prices_finish(pc.p, err, cap);
    size_t notes = tally_prices_note_count(pc.p);
    if (!rc && !tally_prices_count(pc.p) && !(flags & TALLY_PRICES_ALLOW_EMPTY)) {
        const tally_price_note *first = tally_prices_note_at(pc.p, 0);
        rc = first ? tally__json_fail(&r, "no model priced per token (%zu skipped; %s: %s)", notes, first->model, first->why)
                   : tally__json_fail(&r, "no model in the text");
    }
    if (rc) {
        tally_prices_free(pc.p);
        return TALLY_EINVAL;
    }
    *out = pc.p;
    return TALLY_OK;
}

int tally_prices_parse(const char *json, size_t n, tally_prices **out, char *err, size_t cap) {
    return tally_prices_parse_ex(json, n, 0, 0, out, err, cap);
}
