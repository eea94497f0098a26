/* ndjson.h -- one line of `tally record --stdin` input: a flat JSON object whose
 * fields are named like the record flags. No I/O, so it can be fuzzed alone. */
#ifndef TALLY_NDJSON_H
#define TALLY_NDJSON_H

#include <stddef.h>

#include "tally.h"

#define NDJSON_TEXT_MAX 4096

typedef struct ndjson_event {
    tally_event ev;             /* string fields point into text */
    char text[NDJSON_TEXT_MAX];
} ndjson_event;

/* Parses one line (without its newline) of
 *   {"key":"k","model":"m","account":"a","input":1,"output":2,"cache_create":0,
 *    "cache_read":0,"cost":"0.0123","id":"req-1","at":1764151200000}
 * "cost" is decimal USD as a string or a number literal, converted exactly;
 * "at" is epoch ms or an ISO-8601 string read in tz_min when it has no offset.
 * Returns 0, or -1 with a message naming the problem in err. */
int ndjson_parse(const char *line, size_t n, int tz_min, ndjson_event *out, char *err, size_t errlen);

#endif
