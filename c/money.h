/* money.h -- exact decimal USD <-> integer nano-USD (the public conversions are
 * in tally.h). Layer: pure; no I/O, no handle. */
#ifndef TALLY_MONEY_H
#define TALLY_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* Parses n bytes of plain decimal USD (at most 9 decimals) into nano-USD:
 * 0, or -1 when the text is not such an amount or does not fit in int64. */
int tally__usd_parse(const char *s, size_t n, int64_t *nanos);

#endif
