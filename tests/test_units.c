/* test_units.c -- unit (no server): money conversion, event-time parsing, bucket
 * calendar (tally__when) across timezone edges, and id/amount validation
 * through tally_event_check. The NDJSON parser has its own file,
 * test_ndjson.c. Expected instants come from timegm(), not from the code under
 * test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "json_reader.h"
#include "reply.h"
#include "timecal.h"
#include "harness.h"
#include "rec_util.h" /* ru_utc_ms: epoch ms by timegm(), an independent oracle */


/* ------------------------------------------------------------------- money */

static int64_t usd(const char *s) {
    int64_t v = -42;
    assert_int_equal(tally_usd_to_nanos(s, &v), TALLY_OK);
    return v;
}

static void usd_to_nanos_exact(void **state) {
    (void)state;
    assert_int_equal(usd("0.0123"), 12300000);
    assert_int_equal(usd("0.000000001"), 1);
    assert_int_equal(usd("0"), 0);
    assert_int_equal(usd("0.00"), 0);
    assert_int_equal(usd("1"), 1000000000);
    assert_int_equal(usd("0.1"), 100000000);
    assert_int_equal(usd("0.123456789"), 123456789);
    assert_int_equal(usd("007.5"), 7500000000LL);
    assert_int_equal(usd("125.50"), 125500000000LL);
    assert_int_equal(usd("9223372036.854775807"), INT64_MAX);
    assert_int_equal(usd("9223372036.854775806"), INT64_MAX - 1);
    assert_int_equal(usd("9223372036"), 9223372036000000000LL);
}

static void usd_to_nanos_rejects(void **state) {
    (void)state;
    static const char *const bad[] = {
        "", "-1", "+1", "1e3", "1E3", "NaN", "nan", "inf", "Infinity", ".5", "1.", ".",
        "0.1234567891", " 1", "1 ", "1,5", "0x10", "1.2.3", "$1", "1..2",
        "9223372036.854775808",  /* one nano past int64 */
        "9223372037", "99999999999999999999", "18446744073709551616.0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = -42;
        if (tally_usd_to_nanos(bad[i], &v) != TALLY_EINVAL) fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(v, -42); /* untouched on failure */
    }
    int64_t v;
    assert_int_equal(tally_usd_to_nanos(NULL, &v), TALLY_EINVAL);
}

static void nanos_to_usd_format(void **state) {
    (void)state;
    static const struct { int64_t n; const char *s; } cases[] = {
        { 0, "0.00" },
        { 1, "0.000000001" },
        { 250000000, "0.25" },
        { 12300000, "0.0123" },
        { 1000000000, "1.00" },
        { 125500000000LL, "125.50" },
        { 123456789, "0.123456789" },
        { 10000000, "0.01" },
        { 1000000, "0.001" },
        { INT64_MAX, "9223372036.854775807" },
        { -1, "-0.000000001" },
        { -250000000, "-0.25" },
        { INT64_MIN, "-9223372036.854775808" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        size_t n = tally_nanos_to_usd(cases[i].n, buf, sizeof buf);
        assert_string_equal(buf, cases[i].s);
        assert_int_equal(n, strlen(cases[i].s));
        if (cases[i].n >= 0) { /* round trip */
            int64_t back;
            assert_int_equal(tally_usd_to_nanos(buf, &back), TALLY_OK);
            assert_int_equal(back, cases[i].n);
        }
    }
    char small[5];
    assert_int_equal(tally_nanos_to_usd(12300000, small, sizeof small), 6); /* as snprintf */
    assert_string_equal(small, "0.01");
}

/* -------------------------------------------------------------------- time */

static int64_t parse_ok(const char *s, int tz) {
    int64_t v = -42;
    if (tally_parse_time(s, tz, &v) != TALLY_OK) fail_msg("refused \"%s\"", s);
    return v;
}

/* Issue 23: messages show event times as ISO-8601 in the timezone, which
 * tally_parse_time() reads back to the same ms. */
static void format_time_reads_back(void **state) {
    (void)state;
    const struct {
        int64_t at;
        int tz;
        const char *want;
    } cases[] = {
        { 1795687200000LL, 0, "2026-11-26T10:00:00.000Z" },
        { 1795687200250LL, 480, "2026-11-26T18:00:00.250+08:00" },
        { 1795687200999LL, -210, "2026-11-26T06:30:00.999-03:30" },
        { 1, -TALLY_TZ_MAX_MIN, "1969-12-31T10:00:00.001-14:00" },
        { TALLY_AT_MAX, TALLY_TZ_MAX_MIN, "10000-01-01T13:59:59.999+14:00" },
        { 1767225599999LL, 345, "2026-01-01T05:44:59.999+05:45" },
    };
    char buf[TALLY_TIME_TEXT_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = tally_format_time(cases[i].at, cases[i].tz, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
        assert_int_equal(n, (int)strlen(cases[i].want));
        int64_t back;
        if (cases[i].at != TALLY_AT_MAX && cases[i].at != 1) { /* outside what an ISO-8601 text may say */
            assert_int_equal(tally_parse_time(buf, 0, &back), TALLY_OK);
            assert_int_equal(back, cases[i].at);
        }
    }
    tally_format_time(-1, 0, buf, sizeof buf);
    assert_string_equal(buf, "-1 ms");
    tally_format_time(0, 15 * 60, buf, sizeof buf);
    assert_string_equal(buf, "0 ms");
}

static void parse_time_forms(void **state) {
    (void)state;
    const int64_t jan1 = ru_utc_ms(2026, 1, 1, 0, 0, 0, 0), nov26 = ru_utc_ms(2026, 11, 26, 10, 0, 0, 0);
    const struct {
        const char *text;
        int tz;
        int64_t want;
    } cases[] = {
        { "1764151200000", 0, 1764151200000LL },
        { "1764151200000", 480, 1764151200000LL }, /* epoch ms ignore tz */
        { "1", 0, 1 },                             /* the first event time */
        { "1970-01-01T00:00:00.001Z", 0, 1 },
        { "2026-11-26T10:00:00Z", 480, nov26 },
        { "2026-11-26T10:00Z", 0, nov26 },
        { "2026-11-26 10:00:00Z", 0, nov26 },
        { "2026-01-01T08:00:00+08:00", 0, jan1 },
        { "2025-12-31T19:00:00-05:00", 0, jan1 },
        { "2026-01-01T05:45+05:45", 0, jan1 },
        { "2025-12-31T20:30-03:30", 0, jan1 },
        /* no offset: read in tz */
        { "2026-01-01T08:00:00", 480, jan1 },
        { "2025-12-31T19:00", -300, jan1 },
        { "2026-01-01T00:00", 0, jan1 },
        /* an explicit offset wins over tz */
        { "2026-01-01T00:00Z", 480, jan1 },
        /* fractional seconds: milliseconds, extra digits truncated */
        { "2026-01-01T00:00:00.5Z", 0, jan1 + 500 },
        { "2026-01-01T00:00:00.12Z", 0, jan1 + 120 },
        { "2026-01-01T00:00:00.999Z", 0, jan1 + 999 },
        { "2026-01-01T00:00:00.123999Z", 0, jan1 + 123 },
        { "2024-02-29T23:59:59.999Z", 0, ru_utc_ms(2024, 2, 29, 23, 59, 59, 999) },
        { "2000-02-29T00:00Z", 0, ru_utc_ms(2000, 2, 29, 0, 0, 0, 0) },
        { "9999-12-31T23:59:59.999Z", 0, 253402300799999LL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = parse_ok(cases[i].text, cases[i].tz);
        if (got != cases[i].want)
            fail_msg("\"%s\" at tz %d: %lld, expected %lld", cases[i].text, cases[i].tz, (long long)got,
                     (long long)cases[i].want);
    }
}

static void parse_time_rejects(void **state) {
    (void)state;
    static const char *const bad[] = {
        "", "garbage", "-1", "1234567890123456", "12a",
        "2026-02-29T00:00Z", "2100-02-29T00:00Z", "2026-13-01T00:00Z", "2026-00-01T00:00Z",
        "2026-04-31T00:00Z", "2026-01-00T00:00Z", "2026-01-01T24:00Z", "2026-01-01T23:60Z",
        "2026-01-01T00:00:60Z", "2026-01-01T00:00:00.Z", "2026-01-01", "2026-01-01T00",
        "2026-1-01T00:00Z", "2026-01-01X00:00Z", "2026-01-01T00:00Zjunk", "2026-01-01T00:00 ",
        "2026-01-01T00:00+15:00", "2026-01-01T00:00+08:60", "2026-01-01T00:00+0800",
        "2026-01-01T00:00+08", "1969-12-31T23:59Z", "1970-01-01T00:00+01:00",
        /* the epoch instant is TALLY_AT_NOW, not an event time */
        "0", "000", "1970-01-01T00:00:00Z", "1970-01-01T00:00Z", "1970-01-01T08:00:00.000+08:00",
        "1970-01-01T00:00", /* read in tz 0 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = -42;
        if (tally_parse_time(bad[i], 0, &v) != TALLY_EINVAL) fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(v, -42);
    }
    int64_t v;
    assert_int_equal(tally_parse_time(NULL, 0, &v), TALLY_EINVAL);
}

/* One offset rule for --tz, tz_offset_min and ISO-8601 times: -14:00..+14:00. */
static void offsets_one_rule(void **state) {
    (void)state;
    static const struct { const char *text; int min; } good[] = {
        { "Z", 0 }, { "UTC", 0 }, { "+00:00", 0 }, { "-00:00", 0 }, { "+08:00", 480 },
        { "-03:30", -210 }, { "+05:45", 345 }, { "+14:00", 840 }, { "-14:00", -840 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int m = -1;
        if (tally_parse_offset(good[i].text, &m) != TALLY_OK) fail_msg("refused %s", good[i].text);
        assert_int_equal(m, good[i].min);
        /* the same offset on a time */
        char iso[40];
        snprintf(iso, sizeof iso, "2026-06-01T12:00%s", strcmp(good[i].text, "UTC") ? good[i].text : "Z");
        int64_t want = ru_utc_ms(2026, 6, 1, 12, 0, 0, 0) - good[i].min * 60000LL, got = parse_ok(iso, 0);
        if (got != want) fail_msg("%s: %lld, want %lld", iso, (long long)got, (long long)want);
    }
    static const char *const bad[] = { "", "+14:01", "+14:30", "+14:59", "-14:01", "+15:00", "+08:60",
                                       "+8:00", "+0800", "08:00", "+08", " +08:00", "+08:00 ", "utc", "z" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int m = 12345;
        if (tally_parse_offset(bad[i], &m) != TALLY_EINVAL) fail_msg("accepted offset '%s'", bad[i]);
        assert_int_equal(m, 12345);
        char iso[40];
        int64_t v;
        snprintf(iso, sizeof iso, "2026-06-01T12:00%s", bad[i]);
        if (bad[i][0] == '+' && tally_parse_time(iso, 0, &v) != TALLY_EINVAL) fail_msg("accepted %s", iso);
    }
    assert_int_equal(tally_parse_offset(NULL, &(int){ 0 }), TALLY_EINVAL);
}

/* Every field of a parsed period, each failure printing both values. */
#define PERIOD_IS(p, k, y, m, d, h)        \
    do {                                   \
        assert_int_equal((p).kind, (k));   \
        assert_int_equal((p).year, (y));   \
        assert_int_equal((p).month, (m));  \
        assert_int_equal((p).day, (d));    \
        assert_int_equal((p).hour, (h));   \
    } while (0)

static void periods_strict(void **state) {
    (void)state;
    tally_period p;
    assert_int_equal(tally_parse_period("day:2026-02-28", 0, &p), TALLY_OK);
    PERIOD_IS(p, TALLY_DAY, 2026, 2, 28, 0);
    assert_int_equal(tally_parse_period("month:2026-11", 0, &p), TALLY_OK);
    PERIOD_IS(p, TALLY_MONTH, 2026, 11, 0, 0);
    assert_int_equal(tally_parse_period("hour:2026-11-30T23", 0, &p), TALLY_OK);
    PERIOD_IS(p, TALLY_HOUR, 2026, 11, 30, 23);
    assert_int_equal(tally_parse_period("total", 0, &p), TALLY_OK);
    PERIOD_IS(p, TALLY_TOTAL, 0, 0, 0, 0);
    /* "today" in the timezone, by this host's clock */
    int64_t now = ru_now_ms();
    tally_period want = ru_period_of(TALLY_DAY, now, 840), got;
    assert_int_equal(tally_parse_period("today", 840, &got), TALLY_OK);
    if (got.day != want.day) want = ru_period_of(TALLY_DAY, ru_now_ms(), 840); /* midnight passed */
    assert_memory_equal(&got, &want, sizeof got);
    static const char *const bad[] = {
        "hour:2026-11-30T+1", "day:2026- 2-28", "day:2026-2-28", "day:+2026-02-28", "day:2026-02-28 ",
        " day:2026-02-28", "day:2026-02-29", "day:2026-02-2x", "month:2026-13", "month:2026-1",
        "month:2026-011", "hour:2026-11-30T24", "hour:2026-11-30 10", "hour:2026-11-30T1", "day:",
        "", "Total", "week", "day:1969-12-31", "day:10000-01-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tally_parse_period(bad[i], 0, &p) != TALLY_EINVAL) fail_msg("accepted period '%s'", bad[i]);
    assert_int_equal(tally_parse_period(NULL, 0, &p), TALLY_EINVAL);
    assert_int_equal(tally_parse_period("total", 15 * 60, &p), TALLY_EINVAL);
}

/* One expectation of tally__when: local civil time and the bucket ends. */
static void expect_when(int64_t at, int tz, int y, int mo, int d, int h, const char *ym,
                        const char *ymd, const char *hh) {
    tally_when w;
    tally__when(at, tz, &w);
    int64_t off = (int64_t)tz * 60;
    assert_int_equal(w.year, y);
    assert_int_equal(w.month, mo);
    assert_int_equal(w.day, d);
    assert_int_equal(w.hour, h);
    assert_string_equal(w.ym, ym);
    assert_string_equal(w.ymd, ymd);
    assert_string_equal(w.hh, hh);
    th_assert_le(w.minute * 60000, at);
    th_assert_lt(at, (w.minute + 1) * 60000);
    /* bucket ends: the local next hour / day / month start, as UTC seconds */
    int ny = mo == 12 ? y + 1 : y, nm = mo == 12 ? 1 : mo + 1;
    assert_int_equal(w.hour_end_s, ru_utc_ms(y, mo, d, h + 1, 0, 0, 0) / 1000 - off);
    assert_int_equal(w.day_end_s, ru_utc_ms(y, mo, d + 1, 0, 0, 0, 0) / 1000 - off);
    assert_int_equal(w.month_end_s, ru_utc_ms(ny, nm, 1, 0, 0, 0, 0) / 1000 - off);
    /* the event lies inside its buckets */
    th_assert_lt(at / 1000, w.hour_end_s);
    th_assert_le(w.hour_end_s - 3600, at / 1000);
}

static void when_at_timezone_edges(void **state) {
    (void)state;
    /* +08:00: 2025-12-31 23:59:59.999 local and the next millisecond */
    int64_t ny8 = ru_utc_ms(2025, 12, 31, 16, 0, 0, 0);
    expect_when(ny8 - 1, 480, 2025, 12, 31, 23, "202512", "20251231", "23");
    expect_when(ny8, 480, 2026, 1, 1, 0, "202601", "20260101", "00");
    /* -05:00 */
    int64_t ny5 = ru_utc_ms(2026, 1, 1, 5, 0, 0, 0);
    expect_when(ny5 - 1, -300, 2025, 12, 31, 23, "202512", "20251231", "23");
    expect_when(ny5, -300, 2026, 1, 1, 0, "202601", "20260101", "00");
    /* the same instants in UTC */
    expect_when(ny8 - 1, 0, 2025, 12, 31, 15, "202512", "20251231", "15");
    expect_when(ny5, 0, 2026, 1, 1, 5, "202601", "20260101", "05");
    /* month end: 2026-03-01 00:00 at -05:00 (after a 28-day February) */
    int64_t mar5 = ru_utc_ms(2026, 3, 1, 5, 0, 0, 0);
    expect_when(mar5 - 1, -300, 2026, 2, 28, 23, "202602", "20260228", "23");
    expect_when(mar5, -300, 2026, 3, 1, 0, "202603", "20260301", "00");
    /* leap day, UTC and +08:00 */
    expect_when(ru_utc_ms(2024, 2, 29, 12, 0, 0, 0), 0, 2024, 2, 29, 12, "202402", "20240229", "12");
    expect_when(ru_utc_ms(2024, 2, 29, 16, 0, 0, 0) - 1, 480, 2024, 2, 29, 23, "202402", "20240229", "23");
    expect_when(ru_utc_ms(2024, 2, 29, 16, 0, 0, 0), 480, 2024, 3, 1, 0, "202403", "20240301", "00");
    expect_when(ru_utc_ms(2024, 2, 28, 16, 0, 0, 0), 480, 2024, 2, 29, 0, "202402", "20240229", "00");
    /* year end in UTC */
    int64_t y27 = ru_utc_ms(2027, 1, 1, 0, 0, 0, 0);
    expect_when(y27 - 1, 0, 2026, 12, 31, 23, "202612", "20261231", "23");
    expect_when(y27, 0, 2027, 1, 1, 0, "202701", "20270101", "00");
    /* +05:45 (Nepal) and -03:30 (Newfoundland): month boundaries */
    int64_t jul = ru_utc_ms(2026, 6, 30, 18, 15, 0, 0);
    expect_when(jul - 1, 345, 2026, 6, 30, 23, "202606", "20260630", "23");
    expect_when(jul, 345, 2026, 7, 1, 0, "202607", "20260701", "00");
    int64_t dec = ru_utc_ms(2026, 12, 1, 3, 30, 0, 0);
    expect_when(dec - 1, -210, 2026, 11, 30, 23, "202611", "20261130", "23");
    expect_when(dec, -210, 2026, 12, 1, 0, "202612", "20261201", "00");
    /* a half-hour offset: the local hour starts at :30 UTC */
    expect_when(ru_utc_ms(2026, 5, 5, 10, 29, 59, 999), -210, 2026, 5, 5, 6, "202605", "20260505", "06");
    expect_when(ru_utc_ms(2026, 5, 5, 10, 30, 0, 0), -210, 2026, 5, 5, 7, "202605", "20260505", "07");
    /* the epoch itself at a negative offset: floor, not truncation */
    expect_when(0, -300, 1969, 12, 31, 19, "196912", "19691231", "19");
    expect_when(0, 840, 1970, 1, 1, 14, "197001", "19700101", "14");
}

static void epoch_minute_is_timezone_free(void **state) {
    (void)state;
    static const int tzs[] = { 0, 480, -300, 345, -210, 840, -720 };
    int64_t ats[] = { 0, 59999, 60000, ru_utc_ms(2026, 1, 1, 0, 0, 0, 0) - 1, ru_utc_ms(2026, 7, 15, 12, 34, 56, 789) };
    for (size_t i = 0; i < sizeof ats / sizeof ats[0]; i++)
        for (size_t k = 0; k < sizeof tzs / sizeof tzs[0]; k++) {
            tally_when w;
            tally__when(ats[i], tzs[k], &w);
            assert_int_equal(w.minute, ats[i] / 60000);
        }
}

/* ------------------------------------------------ validation (no server) */

/* A handle whose connection failed still validates events. */
static int open_offline(void **state) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = "redis://127.0.0.1:1";
    cfg.connect_timeout_ms = 500;
    tally *t = NULL;
    int rc = tally_open(&cfg, &t);
    if (rc != TALLY_ECONNECT || !t) return -1;
    *state = t;
    return 0;
}

static int close_offline(void **state) {
    tally_close(*state);
    return 0;
}

static tally_event good_event(void) {
    tally_event e = { 0 };
    e.key = "k1";
    e.model = "m1";
    e.input_tokens = 1;
    return e;
}

/* Expects EINVAL with a message containing `word`. */
static void expect_bad(tally *t, const tally_event *e, const char *word) {
    assert_int_equal(tally_event_check(t, e), TALLY_EINVAL);
    assert_int_equal(tally_errcode(t), TALLY_EINVAL);
    if (!strstr(tally_errmsg(t), word)) fail_msg("message '%s' does not name '%s'", tally_errmsg(t), word);
}

static void ids_are_validated(void **state) {
    tally *t = *state;
    tally_event e = good_event();
    assert_int_equal(tally_event_check(t, &e), TALLY_OK);
    assert_string_equal(tally_errmsg(t), "");

    char long_id[258];
    memset(long_id, 'x', 257);
    long_id[257] = '\0';
    static const struct { const char *id, *why; } bad[] = {
        { "", "is empty" },
        { "a\x01" "b", "control character" },
        { "a\nb", "control character" },
        { "a\x7f", "control character" },
        { "\xff", "not valid UTF-8" },
        { "ab\xc3", "not valid UTF-8" },            /* truncated sequence */
        { "\xc3\x28", "not valid UTF-8" },          /* bad continuation */
        { "\xc0\xaf", "not valid UTF-8" },          /* overlong '/' */
        { "\xe0\x80\xaf", "not valid UTF-8" },      /* overlong, 3 bytes */
        { "\xf0\x80\x80\xaf", "not valid UTF-8" },  /* overlong, 4 bytes */
        { "\xed\xa0\x80", "not valid UTF-8" },      /* UTF-16 surrogate */
        { "\xf4\x90\x80\x80", "not valid UTF-8" },  /* above U+10FFFF */
        { "\x80", "not valid UTF-8" },              /* lone continuation */
    };
    static const char *const fields[] = { "key", "model", "account", "request id" };
    for (int f = 0; f < 4; f++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0] + 1; i++) {
            const char *id = i < sizeof bad / sizeof bad[0] ? bad[i].id : long_id;
            const char *why = i < sizeof bad / sizeof bad[0] ? bad[i].why : "257 bytes";
            if (f >= 2 && id[0] == '\0') continue; /* empty account / id mean "none" */
            e = good_event();
            const char **slot[] = { &e.key, &e.model, &e.account, &e.request_id };
            *slot[f] = id;
            expect_bad(t, &e, why);
            expect_bad(t, &e, fields[f]);
        }
    }
    e = good_event();
    e.key = NULL;
    expect_bad(t, &e, "key is empty");
    e = good_event();
    e.model = NULL;
    expect_bad(t, &e, "model is empty");

    /* valid: 256 bytes, Unicode of every length, bytes the schema must encode */
    long_id[256] = '\0';
    static const char *const good[] = { "é", "模型", "😀", "a:b", "a%3Ab", "a{b}", "a b", "a*b?[c]", "\xf4\x8f\xbf\xbf" };
    for (int f = 0; f < 4; f++) {
        for (size_t i = 0; i < sizeof good / sizeof good[0] + 1; i++) {
            e = good_event();
            const char **slot[] = { &e.key, &e.model, &e.account, &e.request_id };
            *slot[f] = i < sizeof good / sizeof good[0] ? good[i] : long_id;
            if (tally_event_check(t, &e) != TALLY_OK) fail_msg("%s refused: %s", fields[f], tally_errmsg(t));
        }
    }
    /* empty account and request id mean "none" */
    e = good_event();
    e.account = "";
    e.request_id = "";
    assert_int_equal(tally_event_check(t, &e), TALLY_OK);
}

static void amounts_are_validated(void **state) {
    tally *t = *state;
    static const char *const names[] = { "input tokens", "output tokens", "cache-create tokens", "cache-read tokens" };
    for (int f = 0; f < 4; f++) {
        tally_event e = good_event();
        int64_t *slot[] = { &e.input_tokens, &e.output_tokens, &e.cache_create_tokens, &e.cache_read_tokens };
        *slot[f] = -1;
        expect_bad(t, &e, names[f]);
        expect_bad(t, &e, "negative");
        *slot[f] = TALLY_MAX_TOKENS + 1;
        expect_bad(t, &e, names[f]);
        *slot[f] = INT64_MAX;
        expect_bad(t, &e, "above");
        *slot[f] = TALLY_MAX_TOKENS;
        assert_int_equal(tally_event_check(t, &e), TALLY_OK);
    }
    tally_event e = good_event();
    e.cost_nanos = -1;
    expect_bad(t, &e, "cost is negative");
    e.cost_nanos = TALLY_MAX_COST_NANOS + 1;
    expect_bad(t, &e, "cost is above");
    e.cost_nanos = TALLY_MAX_COST_NANOS;
    assert_int_equal(tally_event_check(t, &e), TALLY_OK);
    e = good_event();
    e.at_ms = -1;
    expect_bad(t, &e, "event time");
    e.at_ms = 253402300800000LL; /* year 10000 */
    expect_bad(t, &e, "event time");
    e.at_ms = 253402300799999LL;
    assert_int_equal(tally_event_check(t, &e), TALLY_OK);
}

/* The reply RESP text reads to (hiredis's own reader). */
static redisReply *resp(const char *text) {
    redisReader *rd = redisReaderCreate();
    void *r = NULL;
    assert_int_equal(redisReaderFeed(rd, text, strlen(text)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &r), REDIS_OK);
    assert_non_null(r);
    redisReaderFree(rd);
    return r;
}

/* reply.c's declared shapes: a letter per element, the last one for the rest. */
static void reply_shapes_are_declared(void **state) {
    (void)state;
    redisReply *r = resp("*4\r\n:1\r\n$2\r\nok\r\n*1\r\n:7\r\n:3\r\n");
    assert_int_equal(tally__reply_misfit(r, 4, "isai"), 0);
    assert_int_equal(tally__reply_misfit(r, 4, "is.i"), 0);
    assert_int_equal(tally__reply_misfit(r, 4, "isa."), 0);
    assert_int_equal(tally__reply_misfit(r, 3, "isai"), TALLY_REPLY_NOT_ARRAY); /* a count of its own */
    assert_int_equal(tally__reply_misfit(r, 4, "i"), 2);                        /* "i" for all: 1 is not */
    assert_int_equal(tally__reply_misfit(r, 4, "iss"), 3);
    assert_int_equal(tally__reply_misfit(r, 4, "isaa"), 4);
    assert_true(tally__reply_fits(r->element[2], 1, "i"));
    assert_false(tally__reply_fits(r->element[0], 0, "i")); /* an integer is no array */
    freeReplyObject(r);
    r = resp("*0\r\n");
    assert_true(tally__reply_fits(r, 0, "s"));
    freeReplyObject(r);
    r = resp("*2\r\n+OK\r\n$1\r\nx\r\n"); /* a status reply is not a bulk string */
    assert_int_equal(tally__reply_misfit(r, 2, "s"), 1);
    freeReplyObject(r);
}

/* reply.c's reading of an EVALSHA's reply: what the call does next. */
static void reply_kinds(void **state) {
    (void)state;
    static const struct { const char *resp; int kind; } cases[] = {
        { ":1\r\n", TALLY_REPLY_USE },
        { "-EINVAL bad\r\n", TALLY_REPLY_USE },
        { "-NOSCRIPT No matching script\r\n", TALLY_REPLY_RELOAD },
        { "-TRYAGAIN Multiple keys\r\n", TALLY_REPLY_WAIT },
        { "-CLUSTERDOWN The cluster is down\r\n", TALLY_REPLY_WAIT },
        { "-MOVED 3999 127.0.0.1:6381\r\n", TALLY_REPLY_MOVED },
        { "-ASK 3999 127.0.0.1:6381\r\n", TALLY_REPLY_ASK },
        { "$5\r\nMOVED\r\n", TALLY_REPLY_USE }, /* a string, not an error */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redisReply *r = resp(cases[i].resp);
        assert_int_equal(tally__reply_kind(r), cases[i].kind);
        freeReplyObject(r);
    }
}

/* Ids longer than the 8 bytes the check takes at a time (c/keys.c): a bad
 * byte at each of the first 20 positions is found and named by its
 * position; the printable ASCII at both ends (space, ~) and UTF-8 pass. */
static void ids_are_validated_at_every_byte(void **state) {
    tally *t = *state;
    static const struct { const char *bytes, *why; } bad[] = {
        { "\x1f", "control character" }, { "\x7f", "control character" }, { "\x80", "not valid UTF-8" },
        { "\xc3(", "not valid UTF-8" },
    };
    for (size_t at = 0; at < 20; at++) {
        char id[24], why[64];
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            memset(id, 'a', 20);
            memcpy(id + at, bad[k].bytes, strlen(bad[k].bytes));
            id[20] = '\0';
            tally_event e = good_event();
            e.request_id = id;
            snprintf(why, sizeof why, "%s (byte %zu)", bad[k].why, at + 1);
            expect_bad(t, &e, why);
        }
        memset(id, 'a', 23);
        id[at] = ' ', id[at + 1] = '~', memcpy(id + at + 2, "\xc3\xa9", 2); /* " ~é" */
        id[23] = '\0';
        tally_event e = good_event();
        e.request_id = id;
        assert_int_equal(tally_event_check(t, &e), TALLY_OK);
    }
}

/* The one JSON reader (c/json_reader.c) reads string text s: 0 and its
 * decoded bytes into out, or the reader's answer with its message. */
static int json_str(const char *s, char *out, size_t cap, char *msg) {
    tally_json j;
    tally__json_init(&j, s, strlen(s), msg, 128);
    msg[0] = '\0';
    return tally__json_string(&j, out, cap, NULL);
}

static void json_reader_is_strict(void **state) {
    (void)state;
    char out[16], msg[128];
    assert_int_equal(json_str(" \"a\\n\\u00e9\\ud83d\\ude00\"", out, sizeof out, msg), 0);
    assert_string_equal(out, "a\n\xc3\xa9\xf0\x9f\x98\x80"); /* escapes, UTF-8, a surrogate pair */
    static const struct { const char *text, *says; } refused[] = {
        { "\"\\ud83d\"", "unpaired surrogate" }, { "\"\\ude00\"", "unpaired surrogate" },
        { "\"\\u0000\"", "NUL character" },      { "\"\\x41\"", "bad escape" },
        { "\"\\u12\"", "bad escape" },            { "\"a\tb\"", "control character" },
        { "\"abc", "unterminated" },                { "\"abc\\", "unterminated" },
        { "abc", "expected a string" },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(json_str(refused[i].text, out, sizeof out, msg), -1);
        if (!strstr(msg, refused[i].says)) fail_msg("%s: '%s' does not say '%s'", refused[i].text, msg, refused[i].says);
    }
    assert_int_equal(json_str("\"0123456789abcdef\"", out, sizeof out, msg), TALLY_JSON_FULL); /* 16 + NUL */
    assert_string_equal(msg, ""); /* the caller says what was too long */
    assert_true(tally__json_number_strict("-0.5e+10"));
    assert_true(tally__json_number_strict("12"));
    static const char *const not_numbers[] = { "01", "+1", "1.", ".5", "1e", "--1", "1.2.3", "" };
    for (size_t i = 0; i < sizeof not_numbers / sizeof not_numbers[0]; i++)
        assert_false(tally__json_number_strict(not_numbers[i]));
    tally_json j;
    const char *doc = " {\"a\": [1, true, null, {\"b\": \"c\"}]} x";
    tally__json_init(&j, doc, strlen(doc), msg, sizeof msg);
    assert_int_equal(tally__json_skip(&j), 0);
    assert_true(tally__json_peek(&j, 'x'));
    char deep[2 * TALLY_JSON_DEPTH_MAX + 8];
    memset(deep, '[', TALLY_JSON_DEPTH_MAX + 1);
    memset(deep + TALLY_JSON_DEPTH_MAX + 1, ']', TALLY_JSON_DEPTH_MAX + 1);
    tally__json_init(&j, deep, 2 * TALLY_JSON_DEPTH_MAX + 2, msg, sizeof msg);
    assert_int_equal(tally__json_skip(&j), -1);
    assert_non_null(strstr(msg, "nested too deep"));
    tally__json_init(&j, deep + 1, 2 * TALLY_JSON_DEPTH_MAX, msg, sizeof msg);
    assert_int_equal(tally__json_skip(&j), 0);
}

/* Strings longer than the reader's 8-byte steps (c/json_reader.c reads runs
 * of plain bytes 8 at a time): a control character, a quote, an escape or a
 * byte of UTF-8 at each of the first 20 positions is still seen for what it
 * is, and a run that does not fit is TALLY_JSON_FULL. */
static void json_string_in_long_runs(void **state) {
    (void)state;
    char text[32], out[32], msg[128];
    for (size_t at = 0; at < 20; at++) {
        memset(text, 'a', sizeof text);
        text[0] = text[23] = '"', text[24] = '\0'; /* 22 bytes between the quotes */
        text[1 + at] = '\x01';
        assert_int_equal(json_str(text, out, sizeof out, msg), -1);
        assert_non_null(strstr(msg, "control character"));
        text[1 + at] = '"';
        assert_int_equal(json_str(text, out, sizeof out, msg), 0);
        assert_int_equal(strlen(out), at);
        text[1 + at] = '\\', text[2 + at] = 'n';
        assert_int_equal(json_str(text, out, sizeof out, msg), 0);
        assert_int_equal(strlen(out), 21);
        assert_int_equal(out[at], '\n');
        text[1 + at] = '\xc3', text[2 + at] = '\xa2'; /* U+00E2: 0xa2 is a quote with the high bit */
        assert_int_equal(json_str(text, out, sizeof out, msg), 0);
        assert_int_equal(strlen(out), 22);
        assert_memory_equal(out + at, "\xc3\xa2", 2);
        assert_int_equal(json_str(text, out, at + 1, msg), TALLY_JSON_FULL); /* room for `at` bytes */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_reader_is_strict),
        cmocka_unit_test(json_string_in_long_runs),
        cmocka_unit_test(reply_shapes_are_declared),
        cmocka_unit_test(reply_kinds),
        cmocka_unit_test(usd_to_nanos_exact),
        cmocka_unit_test(usd_to_nanos_rejects),
        cmocka_unit_test(nanos_to_usd_format),
        cmocka_unit_test(format_time_reads_back),
        cmocka_unit_test(parse_time_forms),
        cmocka_unit_test(parse_time_rejects),
        cmocka_unit_test(offsets_one_rule),
        cmocka_unit_test(periods_strict),
        cmocka_unit_test(when_at_timezone_edges),
        cmocka_unit_test(epoch_minute_is_timezone_free),
        cmocka_unit_test_setup_teardown(ids_are_validated, open_offline, close_offline),
        cmocka_unit_test_setup_teardown(ids_are_validated_at_every_byte, open_offline, close_offline),
        cmocka_unit_test_setup_teardown(amounts_are_validated, open_offline, close_offline),
    };
    return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
