/* ndjson.h -- a usage event as input: its fields, declared once as typed
 * options (opt.h) that serve both as the flags of `tally record`/`settle`
 * and, by their NDJSON names, as the fields of one line of `record --stdin`.
 * No I/O, so the line parser can be fuzzed alone. */
#ifndef TALLY_NDJSON_H
#define TALLY_NDJSON_H

#include <stddef.h>

#include "opt.h"
#include "tally.h"

#define NDJSON_TEXT_MAX 4096
#define EVENT_FIELDS 10

/* Fills fields[EVENT_FIELDS + 1] (the last one OPT_END) with the fields of
 * an event, writing into *e: key, model, account, input, output, cache_create,
 * cache_read, cost, id, at. Names are the flags ("--cache-create") or, with
 * ndjson, the NDJSON names ("cache_create"). */
void event_fields(tally_event *e, int ndjson, opt fields[EVENT_FIELDS + 1]);

typedef struct ndjson_event {
    tally_event ev;             /* string fields point into text */
    char text[NDJSON_TEXT_MAX];
} ndjson_event;

/* 1 when the line holds nothing but white space (skipped like an empty line). */
int ndjson_blank(const char *line, size_t n);

/* Parses one line (without its newline) of
 *   {"key":"k","model":"m","account":"a","input":1,"output":2,"cache_create":0,
 *    "cache_read":0,"cost":"0.0123","id":"req-1","at":1764151200000}
 * Each value is read as the matching flag's would be (opt.h); "cost" and "at"
 * may be strings or numbers, counts are numbers, ids are strings. "cost" is
 * taken from its literal text, so it is exact; "at" without an offset is read
 * in tz_min. Returns 0, or -1 with a message naming the problem in err. */
int ndjson_parse(const char *line, size_t n, int tz_min, ndjson_event *out, char *err, size_t errlen);

#endif
