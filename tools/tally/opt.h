/* opt.h -- typed values for the tally tool: one strict parser per kind of
 * value (count, milliseconds, USD, time, UTC offset, period, choice, text),
 * used for command-line options and for the fields of `record --stdin`'s
 * NDJSON alike, so a text is accepted or refused, with the same message, in
 * both. No I/O.
 *
 * Numbers are plain decimal digits: no sign, no spaces, no leading zero ("0"
 * itself aside), no exponent, no trailing text. */
#ifndef TALLY_OPT_H
#define TALLY_OPT_H

#include <stddef.h>
#include <stdint.h>

#include "tally.h"

typedef enum {
    KIND_FLAG,   /* no value; int, set to 1 */
    KIND_TEXT,   /* non-empty text (an id, name, URL, rule): const char *, which
                   points at the text given; with `times`, repeatable */
    KIND_COUNT,  /* a whole number in [min, max]: int64_t */
    KIND_MS,     /* milliseconds in [min, max]: int64_t */
    KIND_USD,    /* decimal USD, at most 9 decimals, up to max nano-USD: int64_t */
    KIND_TIME,   /* epoch ms or ISO-8601 (read in the timezone when it has no
                   offset), after 1970-01-01T00:00:00Z: int64_t epoch ms */
    KIND_OFFSET, /* +HH:MM, -HH:MM (within +-14:00), Z or UTC: int, minutes east */
    KIND_PERIOD, /* total, today, month, hour, day:.., month:.., hour:.. whose
                   kind is in [min, max] (TALLY_TOTAL..TALLY_HOUR): tally_period */
    KIND_CHOICE  /* one of `words` (NULL-terminated): int, the word's index */
} opt_kind;

/* One option (or NDJSON field) of a command: declared by the command, filled
 * by the parser. Declare with the OPT_* macros below. */
typedef struct opt {
    const char *name;         /* "--input" on the command line, "input" in NDJSON */
    opt_kind kind;
    void *dst;                /* the value, of the kind's type */
    int64_t min, max;         /* bounds, as the kind says */
    const char *const *words; /* KIND_CHOICE */
    int times;                /* repeatable KIND_TEXT: dst is const char *[times] */
    int given;                /* set by the parser: how often it was given */
    const char *text;         /* set by the parser: the last value given */
} opt;

/* The declarations. Each checks that `p` points to the kind's type. */
#define OPT_FLAG(n, p) { .name = n, .kind = KIND_FLAG, .dst = (1 ? (p) : (int *)0) }
#define OPT_TEXT(n, p) { .name = n, .kind = KIND_TEXT, .dst = (1 ? (p) : (const char **)0) }
#define OPT_TEXTS(n, arr, max) \
    { .name = n, .kind = KIND_TEXT, .dst = (1 ? (arr) : (const char **)0), .times = (max) }
#define OPT_COUNT(n, p, lo, hi) \
    { .name = n, .kind = KIND_COUNT, .dst = (1 ? (p) : (int64_t *)0), .min = (lo), .max = (hi) }
#define OPT_MS(n, p, lo, hi) \
    { .name = n, .kind = KIND_MS, .dst = (1 ? (p) : (int64_t *)0), .min = (lo), .max = (hi) }
#define OPT_USD(n, p, hi) { .name = n, .kind = KIND_USD, .dst = (1 ? (p) : (int64_t *)0), .max = (hi) }
#define OPT_TIME(n, p) { .name = n, .kind = KIND_TIME, .dst = (1 ? (p) : (int64_t *)0) }
#define OPT_OFFSET(n, p) { .name = n, .kind = KIND_OFFSET, .dst = (1 ? (p) : (int *)0) }
#define OPT_PERIOD(n, p, lo, hi) \
    { .name = n, .kind = KIND_PERIOD, .dst = (1 ? (p) : (tally_period *)0), .min = (lo), .max = (hi) }
#define OPT_CHOICE(n, p, w) { .name = n, .kind = KIND_CHOICE, .dst = (1 ? (p) : (int *)0), .words = (w) }
#define OPT_END { 0 }

/* Converts `text` by o's kind and stores it in o->dst (a repeatable text: in
 * slot o->given - 1). tz_min is the timezone of KIND_TIME and KIND_PERIOD.
 * Returns 0, or -1 with a message naming o->name into err (cap bytes). */
int opt_set(const opt *o, const char *text, int tz_min, char *err, size_t cap);

/* 1 when `text` is a plain decimal number as above (digits only, no leading
 * zero) of at most 19 digits. */
int opt_plain_number(const char *text);

/* The entry named `name` in opts (ended by OPT_END), or NULL. */
opt *opt_find(opt *opts, const char *name, size_t n);

#endif
