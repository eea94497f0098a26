/* timecal.h -- calendar arithmetic for statistics buckets: an event time seen
 * in a fixed UTC offset. Layer: pure; no I/O, no handle. */
#ifndef TALLY_TIMECAL_H
#define TALLY_TIMECAL_H

#include <stdint.h>

#include "tally.h"

/* An event time seen in the statistics timezone. */
typedef struct tally_when {
    int year, month, day, hour;
    int64_t minute;                            /* epoch minute (timezone-free) */
    int64_t month_end_s, day_end_s, hour_end_s; /* bucket ends, epoch seconds */
    char ym[16], ymd[16], hh[8];               /* "202611", "20261126", "07" */
} tally_when;

void tally__when(int64_t at_ms, int tz_min, tally_when *w);
/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t tally__days_from_civil(int y, int m, int d);
/* 1 when y-m-d is a real date in 1970..9999. */
int tally__date_valid(int y, int m, int d);
/* This host's clock, epoch ms (statistics only: admission uses Redis TIME). */
int64_t tally__now_ms(void);
/* This host's monotonic clock, ms: deadlines, rest times and the age of what
 * a handle keeps (a price table, a node's policy). */
int64_t tally__mono_ms(void);
/* The day period of an epoch day (days since 1970-01-01). */
tally_period tally__day_period(int64_t epoch_day);
/* The end of day or month period p in timezone tz_min, epoch seconds. */
int64_t tally__period_end_s(const tally_period *p, int tz_min);
/* The number of days of range r (1..TALLY_RANGE_MAX_DAYS), or -1 when r is
 * not two real days in order within that many. */
int tally__range_days(const tally_range *r);
/* Covers the days of range r (valid by tally__range_days) with whole months
 * where they fit and single days elsewhere, in order, into out (at most
 * TALLY_RANGE_MAX_PARTS); returns how many. */
#define TALLY_RANGE_MAX_PARTS (TALLY_RANGE_MAX_DAYS / 28 + 62)
int tally__range_cover(const tally_range *r, tally_period *out);

#endif
