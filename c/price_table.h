/* price_table.h -- the price table in memory (price_table.c): exact decimal
 * prices, entries by model and effective-from time, an event's cost, and the
 * table's canonical text as stored in Redis (lua/prices.lua). The JSON forms a
 * table is read from are price_table_json.c's; the table stored in Redis and
 * kept on the handle is price_store.c's. Layer: pure; no I/O. */
#ifndef TALLY_PRICE_TABLE_H
#define TALLY_PRICE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "tally.h"

/* Kinds of tokens, in the order of a price's four amounts. */
enum { TALLY_KIND_INPUT, TALLY_KIND_OUTPUT, TALLY_KIND_CACHE_CREATE, TALLY_KIND_CACHE_READ };

/* tally__price_parse's answers. */
enum {
    TALLY_PRICE_OK = 0,
    TALLY_PRICE_ROUNDED = 1,   /* tally__price_round: read, and rounded to the grid */
    TALLY_PRICE_BAD = -1,      /* not a number */
    TALLY_PRICE_NEGATIVE = -2,
    TALLY_PRICE_FINE = -3,     /* finer than 1 nano-USD per million tokens (rounding: not
                                  0, but rounds to 0) */
    TALLY_PRICE_LARGE = -4     /* above TALLY_PRICE_MAX_NANOS */
};

/* Parses n bytes of decimal text -- digits, optionally '.' and digits, an
 * optional exponent (e/E, sign, digits) -- worth `text` x 10^shift nano-USD
 * per million tokens (shift 9: the text is USD per million tokens; 15: USD per
 * token, LiteLLM's form) exactly, with integer arithmetic only. A leading '-'
 * reads as TALLY_PRICE_NEGATIVE. Trailing zeros past the resolution are exact
 * and accepted; digits past 40 significant ones count only by their place.
 * TALLY_PRICE_OK or one of the refusals above. */
int tally__price_parse(const char *s, size_t n, int shift, int64_t *out);
/* The same, but a value finer than the resolution is rounded half up to it
 * (TALLY_PRICE_ROUNDED; the first dropped digit decides: 5..9 up); one that
 * would round to 0 without being 0 is TALLY_PRICE_FINE. For LiteLLM's
 * per-token numbers, which are binary doubles printed in decimal. */
int tally__price_round(const char *s, size_t n, int shift, int64_t *out);
/* The words for a refusal of tally__price_parse ("is negative", ...). */
const char *tally__price_problem(int code);

/* An empty table (version 0) to fill; NULL on OOM. */
tally_prices *tally__prices_new(void);
/* Appends a copy of entry e (its model string copied too): 0, or -1 (OOM). */
int tally__prices_add(tally_prices *p, const tally_price *e);
/* Sorts the entries by model, then from; checks that no model has two entries
 * from one time, the tier rules and the bounds. 0, or -1 with the message. */
int tally__prices_finish(tally_prices *p, char *err, size_t cap);
void tally__prices_set_version(tally_prices *p, int64_t version);
/* Appends a note on `model` (both strings copied): 0, or -1 (OOM). */
int tally__prices_note(tally_prices *p, const char *model, int what, const char *why);
/* Removes every entry of `model` and the notes that it was rounded (`model`
 * must not point into either). */
void tally__prices_drop(tally_prices *p, const char *model);

/* Canonical text of one model's entries, as prices.lua stores them: per entry
 * "from,in,out,cc,cr,above,tin,tout,tcc,tcr" (decimal integers), entries
 * joined by ';' in from order. Entries [i, i + count) of the sorted table;
 * writes into buf (cap bytes) and returns the length, or 0 when it does not
 * fit. */
size_t tally__prices_encode(const tally_prices *p, size_t i, size_t count, char *buf, size_t cap);
/* The number of entries of the model at entry i (sorted table). */
size_t tally__prices_run(const tally_prices *p, size_t i);
/* Adds the entries of `model` from canonical text (n bytes). 0, or -1 when
 * the text is not canonical or memory ran out. */
int tally__prices_decode(tally_prices *p, const char *model, size_t mn, const char *text, size_t n);

#endif
