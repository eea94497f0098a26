/* opt.c -- the typed values of opt.h: strict parsers, one per kind, whose
 * messages name the option (or NDJSON field) and say what would be right.
 * Ranges come from the option's declaration, which takes them from tally.h;
 * what only the library can judge (ids, an event against the server's clock)
 * the library judges. */
#include "opt.h"

#include <stdio.h>
#include <string.h>

int opt_plain_number(const char *s) {
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') n++; /* (strspn's set-up costs more for a few digits) */
    return n > 0 && n <= 19 && !s[n] && !(s[0] == '0' && n > 1);
}

/* A plain number's value, or -1 when it is not one or passes max. */
static int64_t plain_value(const char *s, int64_t max) {
    if (!opt_plain_number(s)) return -1;
    uint64_t v = 0;
    for (; *s; s++) v = v * 10 + (uint64_t)(*s - '0'); /* 19 digits fit */
    return v > (uint64_t)max ? -1 : (int64_t)v;
}

static int bad(const opt *o, const char *text, char *err, size_t cap, const char *what) {
    snprintf(err, cap, "%s '%.64s%s' must be %s", o->name, text, strlen(text) > 64 ? "..." : "", what);
    return -1;
}

static int count(const opt *o, const char *text, const char *unit, char *err, size_t cap) {
    int64_t v = plain_value(text, o->max);
    if (v < o->min || v < 0) {
        char what[128];
        if (o->max == INT64_MAX) /* bounded by someone else (the library) */
            snprintf(what, sizeof what, "a whole number%s: plain digits", unit);
        else
            snprintf(what, sizeof what, "a whole number%s from %lld to %lld", unit, (long long)o->min,
                     (long long)o->max);
        return bad(o, text, err, cap, what);
    }
    *(int64_t *)o->dst = v;
    return 0;
}

static int usd(const opt *o, const char *text, char *err, size_t cap) {
    int64_t v;
    /* "010.5" is refused like 010; tally_usd_to_nanos does the rest */
    if ((text[0] == '0' && text[1] >= '0' && text[1] <= '9') || tally_usd_to_nanos(text, &v) != TALLY_OK ||
        v > o->max) {
        char max[32], what[128];
        tally_nanos_to_usd(o->max, max, sizeof max);
        snprintf(what, sizeof what, "decimal USD%s%s with at most 9 decimals, such as 0.0123",
                 o->max == INT64_MAX ? "" : " from 0 to ", o->max == INT64_MAX ? "" : max);
        return bad(o, text, err, cap, what);
    }
    *(int64_t *)o->dst = v;
    return 0;
}

static int event_time(const opt *o, const char *text, int tz_min, char *err, size_t cap) {
    int64_t v;
    int digits = strspn(text, "0123456789") == strlen(text);
    /* the library refuses the epoch itself (TALLY_AT_NOW) */
    if ((digits && !opt_plain_number(text)) || tally_parse_time(text, tz_min, &v) != TALLY_OK)
        return bad(o, text, err, cap, "a time after 1970-01-01T00:00:00Z, as epoch ms or ISO-8601 such as "
                                     "2026-11-26T10:00:00Z (offsets up to 14:00 either way)");
    *(int64_t *)o->dst = v;
    return 0;
}

static int period(const opt *o, const char *text, int tz_min, char *err, size_t cap) {
    tally_period p;
    if (tally_parse_period(text, tz_min, &p) != TALLY_OK || p.kind < o->min || p.kind > o->max)
        return bad(o, text, err, cap,
                   o->min == TALLY_DAY && o->max == TALLY_DAY ? "a day: YYYY-MM-DD or today"
                   : o->max == TALLY_HOUR
                       ? "total, today, month, hour, day:YYYY-MM-DD, month:YYYY-MM or hour:YYYY-MM-DDTHH"
                       : "total, today, month, day:YYYY-MM-DD or month:YYYY-MM");
    *(tally_period *)o->dst = p;
    return 0;
}

static int choice(const opt *o, const char *text, char *err, size_t cap) {
    for (int i = 0; o->words[i]; i++)
        if (strcmp(o->words[i], text) == 0) {
            *(int *)o->dst = i;
            return 0;
        }
    char what[256];
    size_t n = 0;
    for (int i = 0; o->words[i] && n < sizeof what; i++)
        n += (size_t)snprintf(what + n, sizeof what - n, "%s%s", i == 0 ? "" : o->words[i + 1] ? ", " : " or ",
                              o->words[i]);
    return bad(o, text, err, cap, what);
}

int opt_set(const opt *o, const char *text, int tz_min, char *err, size_t cap) {
    if (o->kind == KIND_FLAG) {
        *(int *)o->dst = 1;
        return 0;
    }
    /* An empty value is always a mistake (an unset shell variable): for ids
     * the library would read "" as "none". */
    if (!*text) {
        snprintf(err, cap, "%s is empty", o->name);
        return -1;
    }
    switch (o->kind) {
    case KIND_TEXT:
        ((const char **)o->dst)[o->times && o->given > 0 ? o->given - 1 : 0] = text;
        return 0;
    case KIND_COUNT: return count(o, text, "", err, cap);
    case KIND_MS: return count(o, text, " of milliseconds", err, cap);
    case KIND_USD: return usd(o, text, err, cap);
    case KIND_TIME: return event_time(o, text, tz_min, err, cap);
    case KIND_OFFSET:
        if (tally_parse_offset(text, o->dst) != TALLY_OK)
            return bad(o, text, err, cap, "a timezone offset: +08:00, -03:30 (up to 14:00 either way), Z or UTC");
        return 0;
    case KIND_PERIOD: return period(o, text, tz_min, err, cap);
    case KIND_CHOICE: return choice(o, text, err, cap);
    default: snprintf(err, cap, "%s: unknown kind of option", o->name); return -1;
    }
}

opt *opt_find(opt *opts, const char *name, size_t n) {
    /* byte by byte, no strlen: most names differ at their first byte (this
     * runs for every field of every line of record --stdin) */
    for (; opts->name; opts++) {
        const char *o = opts->name;
        size_t i = 0;
        while (i < n && o[i] && o[i] == name[i]) i++;
        if (i == n && !o[n]) return opts;
    }
    return NULL;
}
