/* timecal.c -- calendar arithmetic for statistics buckets: event time in a fixed
 * UTC offset to local month/day/hour, bucket ends in epoch seconds, parsing
 * of event times (epoch ms or ISO-8601), UTC offsets and periods, and event
 * times written as ISO-8601 for messages. Proleptic Gregorian, no time zone
 * database: offsets are fixed minutes east of UTC. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tally.h"
#include "timecal.h"

#define MS_PER_DAY 86400000LL

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
int64_t tally__days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int64_t tally__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tally__mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t floor_div(int64_t a, int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

void tally__when(int64_t at_ms, int tz_min, tally_when *w) {
    int64_t local = at_ms + (int64_t)tz_min * 60000;
    int64_t days = floor_div(local, MS_PER_DAY);
    civil_from_days(days, &w->year, &w->month, &w->day);
    w->hour = (int)((local - days * MS_PER_DAY) / 3600000);
    int64_t off_s = (int64_t)tz_min * 60;
    w->day_end_s = (days + 1) * 86400 - off_s;
    w->hour_end_s = days * 86400 + (w->hour + 1) * 3600LL - off_s;
    int ny = w->month == 12 ? w->year + 1 : w->year, nm = w->month == 12 ? 1 : w->month + 1;
    w->month_end_s = tally__days_from_civil(ny, nm, 1) * 86400 - off_s;
    w->minute = floor_div(at_ms, 60000);
    snprintf(w->ym, sizeof w->ym, "%04d%02d", w->year, w->month);
    snprintf(w->ymd, sizeof w->ymd, "%04d%02d%02d", w->year, w->month, w->day);
    snprintf(w->hh, sizeof w->hh, "%02d", w->hour);
}

/* Reads exactly n digits at s into *v. */
static int digits(const char *s, int n, int *v) {
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

static int days_in_month(int y, int m) {
    static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : dm[m - 1];
}

int tally__date_valid(int y, int m, int d) {
    return y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* Reads "+HH:MM" or "-HH:MM" at s into minutes east of UTC, within
 * +-TALLY_TZ_MAX_MIN: the one rule for --tz, tz_offset_min and the offsets of
 * ISO-8601 times. */
static int offset_at(const char *s, int *min) {
    int h, m;
    if ((s[0] != '+' && s[0] != '-') || digits(s + 1, 2, &h) || s[3] != ':' || digits(s + 4, 2, &m) ||
        m > 59 || h * 60 + m > TALLY_TZ_MAX_MIN)
        return -1;
    *min = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 0;
}

int tally_parse_offset(const char *s, int *minutes) {
    if (!s) return TALLY_EINVAL;
    if (strcmp(s, "Z") == 0 || strcmp(s, "UTC") == 0) {
        *minutes = 0;
        return TALLY_OK;
    }
    return strlen(s) == 6 && offset_at(s, minutes) == 0 ? TALLY_OK : TALLY_EINVAL;
}

/* Reads "YYYY-MM" at s (a real month). */
static int month_at(const char *s, int *y, int *m) {
    return digits(s, 4, y) || s[4] != '-' || digits(s + 5, 2, m) || !tally__date_valid(*y, *m, 1) ? -1 : 0;
}

/* Reads "YYYY-MM-DD" at s (a real date). */
static int date_at(const char *s, int *y, int *m, int *d) {
    return month_at(s, y, m) || s[7] != '-' || digits(s + 8, 2, d) || !tally__date_valid(*y, *m, *d) ? -1 : 0;
}

int tally_parse_period(const char *s, int tz_min, tally_period *p) {
    memset(p, 0, sizeof *p);
    size_t n = s ? strlen(s) : 0;
    int y, m, d, h;
    tally_when w;
    if (tz_min < -TALLY_TZ_MAX_MIN || tz_min > TALLY_TZ_MAX_MIN) return TALLY_EINVAL;
    tally__when(tally__now_ms(), tz_min, &w); /* for today, month and hour */
    if (n == 5 && strcmp(s, "total") == 0)
        *p = (tally_period){ TALLY_TOTAL, 0, 0, 0, 0 };
    else if (n == 5 && strcmp(s, "today") == 0)
        *p = (tally_period){ TALLY_DAY, w.year, w.month, w.day, 0 };
    else if (n == 5 && strcmp(s, "month") == 0)
        *p = (tally_period){ TALLY_MONTH, w.year, w.month, 0, 0 };
    else if (n == 4 && strcmp(s, "hour") == 0)
        *p = (tally_period){ TALLY_HOUR, w.year, w.month, w.day, w.hour };
    else if (n == 14 && memcmp(s, "day:", 4) == 0 && date_at(s + 4, &y, &m, &d) == 0)
        *p = (tally_period){ TALLY_DAY, y, m, d, 0 };
    else if (n == 10 && date_at(s, &y, &m, &d) == 0) /* a bare date: a day, as --from/--to take it */
        *p = (tally_period){ TALLY_DAY, y, m, d, 0 };
    else if (n == 13 && memcmp(s, "month:", 6) == 0 && month_at(s + 6, &y, &m) == 0)
        *p = (tally_period){ TALLY_MONTH, y, m, 0, 0 };
    else if (n == 18 && memcmp(s, "hour:", 5) == 0 && date_at(s + 5, &y, &m, &d) == 0 && s[15] == 'T' &&
             digits(s + 16, 2, &h) == 0 && h <= 23)
        *p = (tally_period){ TALLY_HOUR, y, m, d, h };
    else
        return TALLY_EINVAL;
    return TALLY_OK;
}

int tally_format_time(int64_t at_ms, int tz_min, char *buf, size_t cap) {
    if (at_ms < 0 || at_ms > TALLY_AT_MAX || tz_min < -TALLY_TZ_MAX_MIN || tz_min > TALLY_TZ_MAX_MIN)
        return snprintf(buf, cap, "%lld ms", (long long)at_ms);
    int64_t local = at_ms + (int64_t)tz_min * 60000, days = floor_div(local, MS_PER_DAY), in_day = local - days * MS_PER_DAY;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    char zone[8] = "Z";
    int off = tz_min < 0 ? -tz_min : tz_min;
    if (tz_min) snprintf(zone, sizeof zone, "%c%02d:%02d", tz_min < 0 ? '-' : '+', off / 60, off % 60);
    return snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s", y, m, d, (int)(in_day / 3600000),
                    (int)(in_day / 60000 % 60), (int)(in_day / 1000 % 60), (int)(in_day % 1000), zone);
}

int tally_parse_time(const char *s, int tz_min, int64_t *at_ms) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0) return TALLY_EINVAL;
    if (strspn(s, "0123456789") == n) { /* epoch milliseconds */
        if (n > 15) return TALLY_EINVAL;
        int64_t v = 0;
        for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
        if (v == TALLY_AT_NOW) return TALLY_EINVAL;
        *at_ms = v;
        return TALLY_OK;
    }
    /* YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM] */
    int y, mo, d, h, mi, sec = 0, ms = 0;
    if (n < 16 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &mi))
        return TALLY_EINVAL;
    const char *p = s + 16;
    if (*p == ':') {
        if (digits(p + 1, 2, &sec)) return TALLY_EINVAL;
        p += 3;
        if (*p == '.') {
            int k = 0, frac = 0;
            for (p++; *p >= '0' && *p <= '9'; p++, k++)
                if (k < 3) frac = frac * 10 + (*p - '0');
            if (k == 0) return TALLY_EINVAL;
            for (; k < 3; k++) frac *= 10;
            ms = frac;
        }
    }
    int off = tz_min;
    if (*p == 'Z') {
        off = 0;
        p++;
    } else if (*p == '+' || *p == '-') {
        if (offset_at(p, &off) < 0) return TALLY_EINVAL;
        p += 6;
    }
    if (*p || !tally__date_valid(y, mo, d) || h > 23 || mi > 59 || sec > 59) return TALLY_EINVAL;
    int64_t days = tally__days_from_civil(y, mo, d);
    int64_t v = days * MS_PER_DAY + h * 3600000LL + mi * 60000LL + sec * 1000LL + ms - off * 60000LL;
    if (v <= TALLY_AT_NOW) return TALLY_EINVAL; /* before the epoch, or the epoch: "now" */
    *at_ms = v;
    return TALLY_OK;
}

tally_period tally__day_period(int64_t epoch_day) {
    tally_period p = { TALLY_DAY, 0, 0, 0, 0 };
    civil_from_days(epoch_day, &p.year, &p.month, &p.day);
    return p;
}

int64_t tally__period_end_s(const tally_period *p, int tz_min) {
    int64_t days;
    if (p->kind == TALLY_MONTH)
        days = tally__days_from_civil(p->month == 12 ? p->year + 1 : p->year, p->month % 12 + 1, 1);
    else
        days = tally__days_from_civil(p->year, p->month, p->day) + 1;
    return days * 86400 - (int64_t)tz_min * 60;
}

int tally__range_days(const tally_range *r) {
    if (r->from.kind != TALLY_DAY || r->to.kind != TALLY_DAY ||
        !tally__date_valid(r->from.year, r->from.month, r->from.day) ||
        !tally__date_valid(r->to.year, r->to.month, r->to.day))
        return -1;
    int64_t n = tally__days_from_civil(r->to.year, r->to.month, r->to.day) -
                tally__days_from_civil(r->from.year, r->from.month, r->from.day) + 1;
    return n < 1 || n > TALLY_RANGE_MAX_DAYS ? -1 : (int)n;
}

int tally__range_cover(const tally_range *r, tally_period *out) {
    int64_t day = tally__days_from_civil(r->from.year, r->from.month, r->from.day);
    int64_t last = tally__days_from_civil(r->to.year, r->to.month, r->to.day);
    int n = 0;
    while (day <= last) {
        int y, m, d;
        civil_from_days(day, &y, &m, &d);
        int64_t month_last = day + days_in_month(y, m) - 1;
        if (d == 1 && month_last <= last) { /* a whole month: its month bucket */
            out[n++] = (tally_period){ TALLY_MONTH, y, m, 0, 0 };
            day = month_last + 1;
        } else {
            out[n++] = (tally_period){ TALLY_DAY, y, m, d, 0 };
            day++;
        }
    }
    return n;
}
