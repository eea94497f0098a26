/* fuzz_limits.c -- libFuzzer target: rule, window and budget parsing
 * (tally_rule_parse, tally_window_parse, tally_budget_parse). The first byte
 * picks the parser. Invariants: accepted values are within the documented
 * bounds; a refused rule always has a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] % 3;
    data++, size--;
    char *text = malloc(size + 1); /* the rule and window parsers get exactly size bytes */
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (which == 0) {
        tally_rule r;
        char err[160];
        if (tally_rule_parse(text, size, &r, err, sizeof err) == TALLY_OK) {
            if (r.limit < 1 || r.limit > TALLY_LIMIT_MAX || r.window_ms < 1 || r.window_ms > TALLY_WINDOW_MAX_MS ||
                r.burst < 0 || r.burst > TALLY_LIMIT_MAX || r.counts < 0 || r.counts > 2 || r.algo < 0 || r.algo > 3 ||
                (r.burst && r.algo != TALLY_ALGO_GCRA))
                abort();
        } else if (!err[0] || !memchr(err, 0, sizeof err)) {
            abort();
        }
        /* A tiny message buffer truncates safely. */
        char small[4];
        tally_rule_parse(text, size, &r, small, sizeof small);
        tally_rule_parse(text, size, &r, NULL, 0);
    } else if (which == 1) {
        int64_t ms;
        if (tally_window_parse(text, size, &ms) == TALLY_OK && (ms < 1 || ms > TALLY_WINDOW_MAX_MS)) abort();
    } else {
        tally_budget b;
        if (tally_budget_parse(text, &b) == TALLY_OK &&
            (b.cap <= 0 || (b.scope != TALLY_SCOPE_KEY && b.scope != TALLY_SCOPE_ACCOUNT) ||
             (b.period != TALLY_DAY && b.period != TALLY_MONTH && b.period != TALLY_TOTAL) ||
             (b.metric != TALLY_BUDGET_COST && b.metric != TALLY_BUDGET_TOKENS)))
            abort();
    }
    free(text);
    return 0;
}
