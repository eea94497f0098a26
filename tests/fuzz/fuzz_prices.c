/* fuzz_prices.c -- libFuzzer target: price tables from JSON
 * (tally_prices_parse_ex, both forms, a zone and the empty flag taken from the
 * input's size) and the cost formula. Invariants: a refused text yields no
 * table and a message; an accepted one has an entry unless empty was allowed,
 * and notes each with a model, a kind and a reason, a rounded model loaded;
 * an accepted table's entries are sorted,
 * within bounds, findable by model and from time, survive the canonical text
 * prices.lua stores, and price an event within the cost bound or refuse it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "price_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tally_prices *p = (tally_prices *)1;
    char err[256] = "";
    unsigned flags = size % 2 ? TALLY_PRICES_ALLOW_EMPTY : 0;
    int tz_min = (int)(size % 1681) - 840;
    if (tally_prices_parse_ex((const char *)data, size, tz_min, flags, &p, err, sizeof err) != TALLY_OK) {
        if (p || !err[0]) abort();
        return 0;
    }
    if (!tally_prices_count(p) && !flags) abort();
    for (size_t i = 0; i < tally_prices_note_count(p); i++) {
        const tally_price_note *n = tally_prices_note_at(p, i);
        if (!n->model || !n->why[0] || (n->what != TALLY_PRICE_NOTE_SKIPPED && n->what != TALLY_PRICE_NOTE_ROUNDED))
            abort();
        if (n->what == TALLY_PRICE_NOTE_ROUNDED && !tally_prices_find(p, n->model, 0)) abort();
    }
    tally_prices *back = tally__prices_new();
    char text[8192];
    for (size_t i = 0; back && i < tally_prices_count(p);) {
        const tally_price *e = tally_prices_at(p, i);
        if (e->input < 0 || e->input > TALLY_PRICE_MAX_NANOS || e->from_ms < 0) abort();
        if (tally_prices_find(p, e->model, e->from_ms) != e) abort();
        size_t run = tally__prices_run(p, i), n = tally__prices_encode(p, i, run, text, sizeof text);
        if (n && tally__prices_decode(back, e->model, strlen(e->model), text, n) < 0) abort();
        tally_event ev = { "k", e->model, NULL, (int64_t)size * 1000, 7, 11, 13, TALLY_COST_FROM_PRICES, 0, NULL };
        int64_t cost = -1;
        int rc = tally_price_cost(e, &ev, &cost);
        if ((rc == TALLY_OK) != (cost >= 0 && cost <= TALLY_MAX_COST_NANOS)) abort();
        i += run;
    }
    tally_prices_free(back);
    tally_prices_free(p);
    return 0;
}
