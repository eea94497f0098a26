/* fuzz_ndjson.c -- libFuzzer target: the NDJSON event parser of
 * `tally record --stdin` (ndjson_parse). Invariants: no read past the line, an
 * accepted event has key and model, its strings lie inside the event's text
 * buffer, and its amounts are not negative (a line without "cost" asks for
 * the price table's: TALLY_COST_FROM_PRICES). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ndjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const ndjson_event *ne, const char *s) {
    return !s || (s >= ne->text && s < ne->text + sizeof ne->text && memchr(s, 0, (size_t)(ne->text + sizeof ne->text - s)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *line = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    if (!line) return 0;
    memcpy(line, data, size);
    static ndjson_event ne;
    char err[256];
    if (ndjson_parse(line, size, 0, &ne, err, sizeof err) == 0) {
        tally_event *e = &ne.ev;
        if (!e->key || !e->model) abort();
        if (!inside(&ne, e->key) || !inside(&ne, e->model) || !inside(&ne, e->account) ||
            !inside(&ne, e->request_id))
            abort();
        /* ranges are the library's (tally_event_check); signs never pass */
        if (e->input_tokens < 0 || e->output_tokens < 0 || e->cache_create_tokens < 0 ||
            e->cache_read_tokens < 0 || (e->cost_nanos < 0 && e->cost_nanos != TALLY_COST_FROM_PRICES) || e->at_ms < 0)
            abort();
    } else if (!err[0] || !memchr(err, 0, sizeof err)) {
        abort();
    }
    free(line);
    return 0;
}
