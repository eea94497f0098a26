/* fuzz_money.c -- libFuzzer target: decimal USD parsing (tally_usd_to_nanos).
 * Invariants: accepted text is digits with an optional '.' and 1..9 decimals;
 * the value is never negative and round-trips through tally_nanos_to_usd. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t v = -7;
    if (tally_usd_to_nanos(text, &v) == TALLY_OK) {
        if (v < 0) abort();
        if (strspn(text, "0123456789.") != strlen(text)) abort();
        char buf[32];
        size_t n = tally_nanos_to_usd(v, buf, sizeof buf);
        int64_t back = -1;
        if (n == 0 || n >= sizeof buf || tally_usd_to_nanos(buf, &back) != TALLY_OK || back != v) abort();
    } else if (v != -7) {
        abort(); /* a refused text leaves the output alone */
    }
    free(text);
    return 0;
}
