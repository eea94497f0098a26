/* price_table.c -- the price table in memory: exact decimal prices (integer nano-USD per
 * million tokens), entries by model and effective-from time, the entry in
 * force at an event time, an event's cost in 128-bit integers, and the
 * canonical text lua/prices.lua stores. No floating point anywhere.
 * Layer: pure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "price_table.h"

struct tally_prices {
    int64_t version;
    tally_price *e;
    size_t n, cap;
    tally_price_note *notes; /* what a parse skipped or rounded, in file order */
    size_t nnotes, notes_cap;
};

#define AMOUNTS 9 /* input .. tier_cache_read, from tally_price.input on */

static int64_t *amounts(tally_price *e) { return &e->input; }
static const int64_t *camounts(const tally_price *e) { return &e->input; }

/* Both readers: `round` 0 refuses a digit below the resolution, 1 rounds it
 * half up (TALLY_PRICE_ROUNDED when that changed the value). */
static int price_text(const char *s, size_t n, int shift, int round, int64_t *out) {
    size_t i = 0;
    if (n > 0 && s[0] == '-' && (n == 1 || s[1] != '-')) { /* a number, below zero */
        int64_t v;
        return price_text(s + 1, n - 1, shift, round, &v) == TALLY_PRICE_BAD ? TALLY_PRICE_BAD : TALLY_PRICE_NEGATIVE;
    }
    char digits[40];
    int nd = 0, seen = 0, lost = 0; /* lost: a non-zero digit past the 40 kept */
    long exp10 = shift;
    for (int frac = 0;; i++) {
        if (i < n && s[i] == '.' && !frac && seen) {
            frac = 1;
            if (i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9') return TALLY_PRICE_BAD;
            continue;
        }
        if (i >= n || s[i] < '0' || s[i] > '9') break;
        seen = 1;
        if (frac) exp10--;
        if (nd == 0 && s[i] == '0') continue; /* leading zeros */
        if (nd == (int)sizeof digits) { /* past 40 significant digits: only its place counts */
            lost |= s[i] != '0';
            exp10++;
            continue;
        }
        digits[nd++] = s[i];
    }
    if (!seen) return TALLY_PRICE_BAD;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int neg = 0, ed = 0;
        long e = 0;
        if (++i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ed++)
            if (e < 100000) e = e * 10 + (s[i] - '0');
        if (!ed) return TALLY_PRICE_BAD;
        exp10 += neg ? -e : e;
    }
    if (i != n) return TALLY_PRICE_BAD;
    while (nd > 0 && digits[nd - 1] == '0') nd--, exp10++; /* exact zeros past the resolution */
    if (nd == 0) return lost ? TALLY_PRICE_FINE : (*out = 0, TALLY_PRICE_OK);
    if (nd + exp10 > 16) return TALLY_PRICE_LARGE; /* at least 10^16 */
    /* Below the resolution: the kept digits from place exp10 < 0 on, and any
     * lost one (exp10 <= -24 then: 40 digits, at most 16 whole). */
    int whole = exp10 < 0 ? nd + (int)exp10 : nd, up = 0;
    if (exp10 < 0 || lost) {
        if (!round) return TALLY_PRICE_FINE;
        up = whole >= 0 && whole < nd && digits[whole] >= '5'; /* half up: the first digit dropped */
    }
    int64_t v = 0;
    for (int k = 0; k < whole; k++) v = v * 10 + (digits[k] - '0');
    for (long k = 0; k < exp10; k++) v *= 10;
    v += up;
    if (v > TALLY_PRICE_MAX_NANOS) return TALLY_PRICE_LARGE;
    if (v == 0) return TALLY_PRICE_FINE; /* not zero, but nothing left on the grid */
    *out = v;
    return exp10 < 0 || lost ? TALLY_PRICE_ROUNDED : TALLY_PRICE_OK;
}

int tally__price_parse(const char *s, size_t n, int shift, int64_t *out) { return price_text(s, n, shift, 0, out); }
int tally__price_round(const char *s, size_t n, int shift, int64_t *out) { return price_text(s, n, shift, 1, out); }

const char *tally__price_problem(int code) {
    switch (code) {
    case TALLY_PRICE_NEGATIVE: return "is negative";
    case TALLY_PRICE_FINE: return "is finer than 1 nano-USD per million tokens (10^-15 USD per token)";
    case TALLY_PRICE_LARGE: return "is above 1000000 USD per million tokens";
    default: return "is not a decimal number";
    }
}

tally_prices *tally__prices_new(void) { return calloc(1, sizeof(tally_prices)); }

void tally_prices_free(tally_prices *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) free((char *)p->e[i].model);
    for (size_t i = 0; i < p->nnotes; i++) free((char *)p->notes[i].model), free((char *)p->notes[i].why);
    free(p->e);
    free(p->notes);
    free(p);
}

int tally__prices_note(tally_prices *p, const char *model, int what, const char *why) {
    if (p->nnotes == p->notes_cap) {
        size_t cap = p->notes_cap ? 2 * p->notes_cap : 16;
        tally_price_note *nn = realloc(p->notes, cap * sizeof *nn);
        if (!nn) return -1;
        p->notes = nn, p->notes_cap = cap;
    }
    char *m = strdup(model), *w = strdup(why);
    if (!m || !w) return free(m), free(w), -1;
    p->notes[p->nnotes++] = (tally_price_note){ m, what, w };
    return 0;
}

void tally__prices_drop(tally_prices *p, const char *model) {
    size_t o = 0;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->e[i].model, model) == 0) free((char *)p->e[i].model);
        else p->e[o++] = p->e[i];
    p->n = o;
    o = 0; /* a rounding of what is no longer loaded says nothing */
    for (size_t i = 0; i < p->nnotes; i++)
        if (p->notes[i].what == TALLY_PRICE_NOTE_ROUNDED && strcmp(p->notes[i].model, model) == 0)
            free((char *)p->notes[i].model), free((char *)p->notes[i].why);
        else p->notes[o++] = p->notes[i];
    p->nnotes = o;
}

size_t tally_prices_note_count(const tally_prices *p) { return p ? p->nnotes : 0; }
const tally_price_note *tally_prices_note_at(const tally_prices *p, size_t i) {
    return p && i < p->nnotes ? &p->notes[i] : NULL;
}

int tally__prices_add(tally_prices *p, const tally_price *e) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        tally_price *ne = realloc(p->e, cap * sizeof *ne);
        if (!ne) return -1;
        p->e = ne, p->cap = cap;
    }
    char *model = strdup(e->model);
    if (!model) return -1;
    p->e[p->n] = *e;
    p->e[p->n++].model = model;
    return 0;
}

static int by_model_from(const void *a, const void *b) {
    const tally_price *x = a, *y = b;
    int c = strcmp(x->model, y->model);
    return c ? c : (x->from_ms > y->from_ms) - (x->from_ms < y->from_ms);
}

int tally__prices_finish(tally_prices *p, char *err, size_t cap) {
    if (p->n) qsort(p->e, p->n, sizeof *p->e, by_model_from);
    size_t models = 0;
    for (size_t i = 0; i < p->n; i++) {
        const tally_price *e = &p->e[i];
        const int64_t *a = camounts(e);
        int first = i == 0 || strcmp(p->e[i - 1].model, e->model) != 0;
        if (tally__id_problem("model", e->model, strlen(e->model), err, cap) < 0) return -1;
        if (!first && p->e[i - 1].from_ms == e->from_ms)
            return snprintf(err, cap, "model %s: two entries from %lld", e->model, (long long)e->from_ms), -1;
        if (e->from_ms < 0 || e->from_ms > TALLY_AT_MAX)
            return snprintf(err, cap, "model %s: from is not an event time", e->model), -1;
        for (int k = 0; k < AMOUNTS; k++)
            if (a[k] < 0 || a[k] > (k == 4 ? TALLY_MAX_TOKENS : TALLY_PRICE_MAX_NANOS))
                return snprintf(err, cap, "model %s: an amount is out of range", e->model), -1;
        if (!e->tier_above && (e->tier_input || e->tier_output || e->tier_cache_create || e->tier_cache_read))
            return snprintf(err, cap, "model %s: tier prices without tier_above", e->model), -1;
        models += first;
        if (!first && i >= TALLY_PRICE_ENTRIES_MAX && strcmp(p->e[i - TALLY_PRICE_ENTRIES_MAX].model, e->model) == 0)
            return snprintf(err, cap, "model %s: more than %d entries", e->model, TALLY_PRICE_ENTRIES_MAX), -1;
    }
    if (models > TALLY_PRICE_MODELS_MAX)
        return snprintf(err, cap, "more than %d models", TALLY_PRICE_MODELS_MAX), -1;
    return 0;
}

void tally__prices_set_version(tally_prices *p, int64_t version) { p->version = version; }
int64_t tally_prices_version(const tally_prices *p) { return p ? p->version : 0; }
size_t tally_prices_count(const tally_prices *p) { return p ? p->n : 0; }
const tally_price *tally_prices_at(const tally_prices *p, size_t i) { return p && i < p->n ? &p->e[i] : NULL; }

const tally_price *tally_prices_find(const tally_prices *p, const char *model, int64_t at_ms) {
    if (!p || !model) return NULL;
    size_t lo = 0, hi = p->n; /* the first entry of a model >= `model` */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(p->e[mid].model, model) < 0) lo = mid + 1;
        else hi = mid;
    }
    const tally_price *found = NULL;
    for (size_t i = lo; i < p->n && strcmp(p->e[i].model, model) == 0 && p->e[i].from_ms <= at_ms; i++)
        found = &p->e[i];
    return found;
}

int tally_price_cost(const tally_price *pr, const tally_event *e, int64_t *cost_nanos) {
    const int64_t tokens[4] = { e->input_tokens, e->output_tokens, e->cache_create_tokens, e->cache_read_tokens };
    const int64_t *price = &pr->input;
    for (int k = 0; k < 4; k++)
        if (tokens[k] < 0 || tokens[k] > TALLY_MAX_TOKENS) return TALLY_EINVAL; /* before any sum */
    if (pr->tier_above > 0 && tokens[0] + tokens[2] + tokens[3] > pr->tier_above) price = &pr->tier_input;
    unsigned __int128 sum = 0;
    for (int k = 0; k < 4; k++) {
        if (tokens[k] < 0 || price[k] < 0) return TALLY_EINVAL;
        sum += (unsigned __int128)(uint64_t)tokens[k] * (uint64_t)price[k];
    }
    unsigned __int128 cost = (sum + 500000) / 1000000; /* nano-USD, half up */
    if (cost > (unsigned __int128)TALLY_MAX_COST_NANOS) return TALLY_EINVAL;
    *cost_nanos = (int64_t)cost;
    return TALLY_OK;
}

/* ------------------------------------------------------ canonical text */

size_t tally__prices_run(const tally_prices *p, size_t i) {
    size_t j = i;
    while (j < p->n && strcmp(p->e[j].model, p->e[i].model) == 0) j++;
    return j - i;
}

size_t tally__prices_encode(const tally_prices *p, size_t i, size_t count, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t k = i; k < i + count; k++) {
        const tally_price *e = &p->e[k];
        const int64_t *a = camounts(e);
        int w = snprintf(buf + o, cap - o, "%s%lld", k > i ? ";" : "", (long long)e->from_ms);
        for (int m = 0; w >= 0 && (size_t)w < cap - o && m < AMOUNTS; m++) {
            o += (size_t)w;
            w = snprintf(buf + o, cap - o, ",%lld", (long long)a[m]);
        }
        if (w < 0 || (size_t)w >= cap - o) return 0;
        o += (size_t)w;
    }
    return o;
}

/* A decimal integer of at most 16 digits at *s (< end), then `sep` or the end. */
static int canonical_int(const char **s, const char *end, int64_t *v) {
    const char *p = *s;
    *v = 0;
    if (p >= end || *p < '0' || *p > '9') return -1;
    for (int d = 0; p < end && *p >= '0' && *p <= '9'; p++)
        if (++d > 16) return -1;
        else *v = *v * 10 + (*p - '0');
    *s = p;
    return 0;
}

int tally__prices_decode(tally_prices *p, const char *model, size_t mn, const char *text, size_t n) {
    char name[TALLY_ID_MAX + 1];
    if (mn > TALLY_ID_MAX) return -1;
    memcpy(name, model, mn);
    name[mn] = '\0';
    const char *s = text, *end = text + n;
    while (s < end) {
        tally_price e = { name, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        int64_t *a = amounts(&e);
        if (canonical_int(&s, end, &e.from_ms) < 0) return -1;
        for (int m = 0; m < AMOUNTS; m++)
            if (s >= end || *s++ != ',' || canonical_int(&s, end, &a[m]) < 0) return -1;
        if (s < end && *s++ != ';') return -1;
        if (tally__prices_add(p, &e) < 0) return -1;
    }
    return 0;
}
