/* report.c -- grouped reports over a range of days (tally_report,
 * tally_report_for): one row per API key, model or account (and per day or
 * month of the range), then a total row; or the rows of one key or one
 * account alone, read from its own buckets as tally_stats_range reads them (a
 * call per row). Built on the queries: each span's rows are read from the
 * parts that cover it (months where whole, else days, as tally_stats_range
 * reads them) with tally__keys, tally_models_range or tally__accounts (the
 * shards' hashes, in bounded pages): every read is bounded and exact as
 * theirs are. */
#include <stdlib.h>
#include <string.h>

#include "breakdown.h"
#include "error.h"
#include "handle.h"
#include "queries.h"
#include "table.h"
#include "timecal.h"

void tally_report_free(tally_report_row *rows, size_t n) {
    for (size_t i = 0; rows && i < n; i++) free(rows[i].group);
    free(rows);
}

typedef tally_vec row_list; /* of tally_report_row */

/* Adds b to *sum; 0, or 1 when a sum passes 2^63-1. */
static int add_bucket(tally_bucket *sum, const tally_bucket *b) {
    int64_t *d[7] = { &sum->requests, &sum->input_tokens, &sum->output_tokens, &sum->cache_create_tokens,
                      &sum->cache_read_tokens, &sum->total_tokens, &sum->cost_nanos };
    const int64_t s[7] = { b->requests, b->input_tokens, b->output_tokens, b->cache_create_tokens,
                           b->cache_read_tokens, b->total_tokens, b->cost_nanos };
    int over = 0;
    for (int i = 0; i < 7; i++) over |= __builtin_add_overflow(*d[i], s[i], d[i]);
    return over;
}

/* Appends a row (group copied; NULL for the total). TALLY_OK or ENOMEM. */
static int push(tally *t, row_list *l, const char *group, const tally_range *span, const tally_bucket *b) {
    tally_report_row row = { group ? strdup(group) : NULL, *span, *b };
    if ((group && !row.group) || tally__vec_push(l, &row, sizeof row) < 0) {
        free(row.group);
        return tally__oom(t);
    }
    return TALLY_OK;
}

/* Appends a row with usage (none: left out) and adds it to *total. TALLY_OK,
 * ENOMEM, or TALLY_ERANGE (no message: span_rows names it). */
static int add_row(tally *t, row_list *l, const char *group, const tally_range *span, const tally_bucket *b,
                   tally_bucket *total) {
    if (!b->requests && !b->total_tokens && !b->cost_nanos) return TALLY_OK;
    int rc = push(t, l, group, span, b);
    return rc == TALLY_OK && add_bucket(total, b) ? TALLY_ERANGE : rc;
}

/* The spans of range r a report has rows for: r itself, or its days, or its
 * months (clipped to r). Their count into spans[TALLY_RANGE_MAX_DAYS]. */
static int spans_of(const tally_range *r, int per, tally_range *spans) {
    int64_t first = tally__days_from_civil(r->from.year, r->from.month, r->from.day);
    int64_t last = tally__days_from_civil(r->to.year, r->to.month, r->to.day);
    if (per == TALLY_REPORT_WHOLE) return spans[0] = *r, 1;
    int n = 0;
    for (int64_t d = first; d <= last; d++) {
        tally_period day = tally__day_period(d);
        if (per == TALLY_REPORT_PER_DAY || d == first || day.day == 1) spans[n].from = day, n++;
        spans[n - 1].to = day;
    }
    return n;
}

/* The rows of one span: the one key's or account's bucket (`id`, when the
 * report groups by the entity it is of), or each key's, model's or account's
 * (the models of key `id` when one is given). */
static int span_rows(tally *t, int by, const tally_range *span, int of, const char *id, row_list *l,
                     tally_bucket *total) {
    int rc = TALLY_OK;
    if (id && by == of) {
        tally_bucket b;
        rc = tally_stats_range(t, of == TALLY_RANK_OF_KEY ? TALLY_SCOPE_KEY : TALLY_SCOPE_ACCOUNT, id, span, &b);
        if (rc == TALLY_OK) rc = add_row(t, l, id, span, &b, total);
    } else {
        tally_model_stats *m;
        size_t n;
        rc = by == TALLY_RANK_OF_MODEL ? tally_models_range(t, id, span, &m, &n)
             : by == TALLY_RANK_OF_KEY ? tally__keys(t, NULL, span, &m, &n)
                                       : tally__accounts(t, NULL, span, &m, &n);
        if (rc != TALLY_OK) return rc;
        for (size_t i = 0; i < n && rc == TALLY_OK; i++) rc = add_row(t, l, m[i].model, span, &m[i].b, total);
        tally_models_free(m, n);
    }
    if (rc == TALLY_ERANGE) return tally__fail(t, TALLY_ERANGE, "sum overflows: the report's total passes 2^63-1");
    return rc;
}

static int period_cmp(const tally_period *a, const tally_period *b) {
    int x = (a->year * 12 + a->month) * 32 + a->day, y = (b->year * 12 + b->month) * 32 + b->day;
    return (x > y) - (x < y);
}

/* Groups in byte order, each group's spans in time order. */
static int by_group_then_span(const void *x, const void *y) {
    const tally_report_row *a = x, *b = y;
    int c = strcmp(a->group, b->group);
    return c ? c : period_cmp(&a->span.from, &b->span.from);
}

/* Checks a report's arguments before anything is read: TALLY_OK, or
 * TALLY_EINVAL naming what is wrong. */
static int report_check(tally *t, int by, int per, const tally_range *r, int of, const char *id) {
    if (by != TALLY_RANK_OF_KEY && by != TALLY_RANK_OF_MODEL && by != TALLY_RANK_OF_ACCOUNT)
        return tally__fail(t, TALLY_EINVAL, "a report groups by API key (TALLY_RANK_OF_KEY), model "
                                            "(TALLY_RANK_OF_MODEL) or account (TALLY_RANK_OF_ACCOUNT)");
    if (of != TALLY_RANK_OF_KEY && of != TALLY_RANK_OF_ACCOUNT)
        return tally__fail(t, TALLY_EINVAL, "a report is of one API key (TALLY_RANK_OF_KEY) or one account "
                                            "(TALLY_RANK_OF_ACCOUNT)");
    if (id && of == TALLY_RANK_OF_KEY && by == TALLY_RANK_OF_ACCOUNT)
        return tally__fail(t, TALLY_EINVAL, "a report by account covers every key: the shards' account buckets "
                                            "are not kept per key");
    if (id && of == TALLY_RANK_OF_ACCOUNT && by == TALLY_RANK_OF_KEY)
        return tally__fail(t, TALLY_EINVAL, "a report of one account cannot group by API key: no index keeps "
                                            "which keys an account's events came from");
    if (id && of == TALLY_RANK_OF_ACCOUNT && by == TALLY_RANK_OF_MODEL)
        return tally__fail(t, TALLY_EINVAL, "a report of one account cannot group by model: an account's "
                                            "buckets are not kept per model");
    if (id && tally__check_scope(t, of == TALLY_RANK_OF_KEY ? TALLY_SCOPE_KEY : TALLY_SCOPE_ACCOUNT, id) != TALLY_OK)
        return t->err;
    if (per != TALLY_REPORT_WHOLE && per != TALLY_REPORT_PER_DAY && per != TALLY_REPORT_PER_MONTH)
        return tally__fail(t, TALLY_EINVAL, "a report has rows for the whole range, per day or per month");
    tally_period parts[TALLY_RANGE_MAX_PARTS];
    return tally__range_parts(t, r, parts) < 0 ? t->err : TALLY_OK;
}

int tally_report(tally *t, int by, int per, const tally_range *r, const char *key, tally_report_row **out,
                 size_t *n) {
    return tally_report_for(t, by, per, r, TALLY_RANK_OF_KEY, key, out, n);
}

int tally_report_for(tally *t, int by, int per, const tally_range *r, int of, const char *id,
                     tally_report_row **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (report_check(t, by, per, r, of, id) != TALLY_OK) return t->err;
    tally_range *spans = malloc(TALLY_RANGE_MAX_DAYS * sizeof *spans);
    if (!spans) return tally__oom(t);
    int ns = spans_of(r, per, spans);
    int rc = TALLY_OK;
    row_list l = { 0 };
    tally_bucket total = { 0 };
    for (int i = 0; i < ns && rc == TALLY_OK; i++) rc = span_rows(t, by, &spans[i], of, id, &l, &total);
    if (rc == TALLY_OK && l.n) qsort(l.p, l.n, sizeof(tally_report_row), by_group_then_span);
    if (rc == TALLY_OK) rc = push(t, &l, NULL, r, &total);
    free(spans);
    if (rc != TALLY_OK) {
        tally_report_free(l.p, l.n);
        return rc;
    }
    *out = l.p;
    *n = l.n;
    return tally__ok(t);
}
