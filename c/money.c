/* money.c -- exact conversion between decimal USD text and integer nano-USD.
 * No floating point: "0.0123" is 12300000 nanos, always. */
#include <stdio.h>
#include <string.h>

#include "money.h"
#include "tally.h"

#define NANOS_PER_USD 1000000000LL

/* Returns 0 and the amount, or -1 when `s` is not a plain non-negative decimal
 * with at most 9 decimals that fits in int64 nanos. */
static int parse(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int64_t whole = 0, frac = 0;
    int digits = 0, fdigits = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (whole > (INT64_MAX / NANOS_PER_USD) / 10 + 1) return -1;
        whole = whole * 10 + (s[i] - '0');
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, fdigits++) {
            if (fdigits == 9) return -1;
            frac = frac * 10 + (s[i] - '0');
        }
        if (fdigits == 0) return -1;
    }
    if (i != n || digits == 0) return -1;
    for (int k = fdigits; k < 9; k++) frac *= 10;
    if (whole > (INT64_MAX - frac) / NANOS_PER_USD) return -1;
    *out = whole * NANOS_PER_USD + frac;
    return 0;
}

int tally__usd_parse(const char *s, size_t n, int64_t *nanos) {
    return parse(s, n, nanos);
}

int tally_usd_to_nanos(const char *text, int64_t *nanos) {
    return text && parse(text, strlen(text), nanos) == 0 ? TALLY_OK : TALLY_EINVAL;
}

size_t tally_nanos_to_usd(int64_t nanos, char *buf, size_t cap) {
    uint64_t u = nanos < 0 ? (uint64_t)0 - (uint64_t)nanos : (uint64_t)nanos;
    char frac[10];
    snprintf(frac, sizeof frac, "%09llu", (unsigned long long)(u % NANOS_PER_USD));
    int keep = 9;
    while (keep > 2 && frac[keep - 1] == '0') keep--; /* at least cents: 0.25, 125.50 */
    int n = snprintf(buf, cap, "%s%llu.%.*s", nanos < 0 ? "-" : "",
                     (unsigned long long)(u / NANOS_PER_USD), keep, frac);
    return n < 0 ? 0 : (size_t)n;
}
