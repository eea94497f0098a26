/* test_merge.c -- unit (no server): merging a batch's events into one record
 * call (c/aggregate.c, records of c/merge.h). Every bucket field and request
 * id the merge holds is named as docs/keys.md names it and
 * compared with an oracle computed here apart from the library: the local
 * calendar from gmtime_r, the shard from FNV-1a-32 (keys.h), the fields of
 * each entity from docs/keys.md's bucket table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "aggregate.h"
#include "bounds.h"
#include "keys.h"
#include "merge.h"
#include "oracle_util.h"

#define NOW_MS 1796083200000LL /* 2026-12-01T00:00:00Z */
#define NAME_MAX_LEN 160

/* One named sum: a bucket field ("k:key_1 D:20261130 07", "s:3 M:202611
 * k:key_1") or a hash. */
typedef struct {
    char name[NAME_MAX_LEN];
    int64_t d[6];
} sum;

typedef struct {
    sum *p;
    size_t n, cap;
} sums;

static void sums_add(sums *s, const char *name, const int64_t *d, int nd) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->p = realloc(s->p, s->cap * sizeof *s->p);
        assert_non_null(s->p);
    }
    sum *x = &s->p[s->n++];
    memset(x, 0, sizeof *x);
    assert_true(strlen(name) < sizeof x->name);
    strcpy(x->name, name);
    for (int i = 0; i < nd; i++) x->d[i] = d[i];
}

/* sums_add of a name made by format `fmt`, which must fit. */
static void sums_addf(sums *s, const int64_t *d, int nd, const char *fmt, ...) {
    char name[NAME_MAX_LEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof name);
    sums_add(s, name, d, nd);
}

static int by_name(const void *a, const void *b) { return strcmp(((const sum *)a)->name, ((const sum *)b)->name); }

/* Sorts by name and adds up the sums of equal names (the oracle's merge). */
static void sums_merge(sums *s) {
    if (!s->n) return;
    qsort(s->p, s->n, sizeof *s->p, by_name);
    size_t m = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->p[i].name, s->p[m].name) == 0) {
            for (int j = 0; j < 6; j++) s->p[m].d[j] += s->p[i].d[j];
        } else {
            s->p[++m] = s->p[i];
        }
    }
    s->n = m + 1;
}

/* What the merge holds, sorted: each name at most once (distinct buckets). */
static void sums_sort_distinct(sums *s) {
    if (!s->n) return;
    qsort(s->p, s->n, sizeof *s->p, by_name);
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->p[i].name, s->p[i - 1].name) == 0) fail_msg("%s is in the call twice", s->p[i].name);
}

/* Every name and every sum of `got` equal to `want`'s. */
static void sums_equal(const sums *got, const sums *want, const char *what) {
    for (size_t i = 0, j = 0; i < got->n || j < want->n;) {
        int c = i == got->n ? 1 : j == want->n ? -1 : strcmp(got->p[i].name, want->p[j].name);
        if (c < 0) fail_msg("%s: the call has %s, the oracle does not", what, got->p[i].name);
        if (c > 0) fail_msg("%s: the oracle has %s, the call does not", what, want->p[j].name);
        for (int k = 0; k < 6; k++)
            if (got->p[i].d[k] != want->p[j].d[k])
                fail_msg("%s: %s count %d is %lld, the oracle's %lld", what, got->p[i].name, k,
                         (long long)got->p[i].d[k], (long long)want->p[j].d[k]);
        i++, j++;
    }
    assert_int_equal(got->n, want->n);
}

/* ---- the oracle: docs/keys.md's buckets, computed apart from the library */

typedef struct {
    int shards, tz_min;
    int64_t ttl_hour_s; /* 0: the default */
} layout;

static unsigned shard_of(const layout *l, const char *key) { return ou_shard_of(key, l->shards); }

typedef struct {
    char ym[32], ymd[32];
    int hh;
    long long minute;
} local_time;

static local_time local_of(const layout *l, int64_t at_ms) {
    time_t s = (time_t)(at_ms / 1000 + l->tz_min * 60);
    struct tm tm;
    assert_non_null(gmtime_r(&s, &tm));
    local_time t;
    snprintf(t.ym, sizeof t.ym, "%04d%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    snprintf(t.ymd, sizeof t.ymd, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    t.hh = tm.tm_hour;
    t.minute = (long long)(at_ms / 60000); /* the system minute: no timezone */
    return t;
}

static int named(const char *s) { return s && *s; }

/* The event's bucket fields (into f) for the entities in mask. */
static void oracle_event(const layout *l, const tally_event *e, int64_t at, int64_t cost, int64_t version, int mask,
                         sums *f) {
    int64_t d[6] = { 1, e->input_tokens, e->output_tokens, e->cache_create_tokens, e->cache_read_tokens, cost };
    local_time t = local_of(l, at);
    char per[3][48];
    snprintf(per[0], sizeof per[0], "t");
    snprintf(per[1], sizeof per[1], "M:%s", t.ym);
    snprintf(per[2], sizeof per[2], "D:%s", t.ymd);
    if (mask & TALLY_AGG_KEY) {
        for (int p = 0; p < 3; p++) { /* no "_": its bucket is k:<key> of its shard's hash */
            sums_addf(f, d, 6, "k:%s %s m:%s", e->key, per[p], e->model);
            if (version >= 0) sums_addf(f, d, 6, "k:%s %s p:%lld", e->key, per[p], (long long)version);
            if (version == TALLY_UNPRICED) sums_addf(f, d, 6, "k:%s %s p:none", e->key, per[p]);
        }
        sums_addf(f, d, 6, "k:%s %s %02d", e->key, per[2], t.hh);
    }
    if ((mask & TALLY_AGG_ACCOUNT) && named(e->account)) {
        sums_addf(f, d, 6, "a:%s %s _", e->account, per[2]); /* its total and month: its shards' a: fields */
        sums_addf(f, d, 6, "a:%s %s %02d", e->account, per[2], t.hh);
    }
    if (mask & TALLY_AGG_SHARD) {
        unsigned s = shard_of(l, e->key);
        for (int p = 0; p < 3; p++) {
            sums_addf(f, d, 6, "s:%u %s _", s, per[p]);
            sums_addf(f, d, 6, "s:%u %s m:%s", s, per[p], e->model);
            if (named(e->account)) sums_addf(f, d, 6, "s:%u %s a:%s", s, per[p], e->account);
            sums_addf(f, d, 6, "s:%u %s k:%s", s, per[p], e->key);
        }
        sums_addf(f, d, 6, "s:%u %s %02d", s, per[2], t.hh);
        sums_addf(f, d, 6, "s:%u %s %02dm:%s", s, per[2], t.hh, e->model);
        sums_addf(f, d, 6, "s:%u n:%lld _", s, t.minute);
    }
}

/* The distinct containers of named sums: each name up to its last space (a
 * field's hash). */
static void containers_of(const sums *in, sums *out) {
    for (size_t i = 0; i < in->n; i++) {
        char name[NAME_MAX_LEN];
        strcpy(name, in->p[i].name);
        *strrchr(name, ' ') = 0;
        sums_add(out, name, NULL, 0);
    }
    sums_merge(out);
}

/* ---- the merge's records, named as the oracle names them */

static const char *str_of(const tally_agg *g, uint32_t i) {
    assert_true(i < g->strs.n);
    return AT(g->strs, str, i).s;
}

static void hash_name(const tally_agg *g, uint64_t tuple, char *out, size_t cap) {
    unsigned kind = tally__tuple_kind(tuple), period = tally__tuple_period(tuple);
    uint32_t entity = tally__tuple_entity(tuple);
    long long v = (long long)tally__tuple_value(tuple);
    size_t n = kind == E_SHARD ? (size_t)snprintf(out, cap, "s:%u", entity)
                               : (size_t)snprintf(out, cap, "%c:%s", kind == E_KEY ? 'k' : 'a', str_of(g, entity));
    assert_true(n < cap);
    out += n, cap -= n;
    switch (period) {
    case P_TOTAL: snprintf(out, cap, " t"); break;
    case P_MONTH: snprintf(out, cap, " M:%lld", v); break;
    case P_DAY: snprintf(out, cap, " D:%lld", v); break;
    case P_MINUTE: snprintf(out, cap, " n:%lld", v); break;
    case P_IDS: snprintf(out, cap, " i:%lld", v); break;
    default: fail_msg("hash %s has period %u", out - n, period);
    }
}

static void field_name(const tally_agg *g, uint32_t code, char *out, size_t cap) {
    unsigned hh = tally__code_hour(code);
    switch (tally__code_kind(code)) {
    case F_ALL: snprintf(out, cap, "_"); break;
    case F_MODEL: snprintf(out, cap, "m:%s", str_of(g, tally__code_name(code))); break;
    case F_HOUR: snprintf(out, cap, "%02u", hh); break;
    case F_HOUR_MODEL: snprintf(out, cap, "%02um:%s", hh, str_of(g, tally__code_name(code))); break;
    case F_PRICE: snprintf(out, cap, "p:%lld", (long long)tally__code_version(code)); break;
    case F_UNPRICED: snprintf(out, cap, "p:none"); break;
    case F_ACCOUNT: snprintf(out, cap, "a:%s", str_of(g, tally__code_name(code))); break;
    case F_KEY: snprintf(out, cap, "k:%s", str_of(g, tally__code_name(code))); break;
    default: fail_msg("field code %u has no kind", code);
    }
}

static void merged_fields(const tally_agg *g, sums *out) {
    for (size_t i = 0; i < g->fields.n; i++) {
        const field_rec *f = &AT(g->fields, field_rec, i);
        char h[NAME_MAX_LEN], fld[NAME_MAX_LEN], name[2 * NAME_MAX_LEN];
        assert_true(f->hash < g->hashes.n);
        hash_name(g, AT(g->hashes, hash_rec, f->hash).tuple, h, sizeof h);
        field_name(g, f->code, fld, sizeof fld);
        snprintf(name, sizeof name, "%s %s", h, fld);
        sums_add(out, name, f->d, 6);
    }
    sums_sort_distinct(out);
}

/* ---- the whole comparison */

typedef struct {
    const tally_event *e;
    int64_t at, cost, version;
    int mask;
} add_arg;

static tally_config config_of(const layout *l) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.shards = l->shards;
    cfg.tz_offset_min = l->tz_min;
    if (l->ttl_hour_s) cfg.ttl_hour_s = l->ttl_hour_s;
    return cfg;
}

/* The request ids of the call: an event with one is checked in the id hash of
 * its event time's slice and the slice before, and added to the first; the
 * hashes are the first entity's of the call's mask (key, else account, else
 * shard), the fingerprint scoped by key unless the hash is the key's. */
static void check_ids(const tally_agg *g, const layout *l, const tally_schema *sc, const add_arg *a, size_t n) {
    sums want_hashes = { 0 };
    size_t want_ids = 0;
    for (size_t k = 0; k < n; k++) {
        const tally_event *e = a[k].e;
        size_t got = 0;
        for (size_t i = 0; i < g->ids.n; i++) got += AT(g->ids, id_rec, i).event == k;
        if (!named(e->request_id)) {
            assert_int_equal(got, 0);
            continue;
        }
        int64_t slice = a[k].at / (sc->idempotency_s * 1000);
        assert_int_equal(got, slice > 0 ? 2 : 1);
        want_ids += got;
        char ent[NAME_MAX_LEN];
        int scoped = 1;
        if (a[k].mask & TALLY_AGG_KEY) snprintf(ent, sizeof ent, "k:%s", e->key), scoped = 0;
        else if ((a[k].mask & TALLY_AGG_ACCOUNT) && named(e->account)) snprintf(ent, sizeof ent, "a:%s", e->account);
        else snprintf(ent, sizeof ent, "s:%u", shard_of(l, e->key));
        unsigned char fp[TALLY_ID_ENTRY], other[TALLY_ID_ENTRY];
        tally__id_field(e->key, e->request_id, scoped, fp);
        tally__id_field(e->key, e->request_id, !scoped, other);
        assert_memory_not_equal(fp, other, TALLY_ID_FIELD); /* the scope is seen */
        for (size_t i = 0; i < g->ids.n; i++) {
            const id_rec *r = &AT(g->ids, id_rec, i);
            if (r->event != k) continue;
            assert_true(r->hash < g->idhashes.n);
            const idhash_rec *h = &AT(g->idhashes, idhash_rec, r->hash);
            char got_name[NAME_MAX_LEN], want_name[2 * NAME_MAX_LEN];
            hash_name(g, h->tuple, got_name, sizeof got_name);
            snprintf(want_name, sizeof want_name, "%s i:%lld", ent, (long long)(r->add ? slice : slice - 1));
            assert_string_equal(got_name, want_name);
            sums_add(&want_hashes, want_name, NULL, 0);
            assert_memory_equal(r->fp, fp, TALLY_ID_ENTRY);
            if (r->add) { /* (slice + 2) windows, and a window from now at least */
                int64_t x = (slice + 2) * sc->idempotency_s, min_x = NOW_MS / 1000 + sc->idempotency_s;
                assert_int_equal(h->expiry, x > min_x ? x : min_x);
            }
        }
    }
    sums_merge(&want_hashes);
    assert_int_equal(g->ids.n, want_ids);
    assert_int_equal(g->idhashes.n, want_hashes.n);
    free(want_hashes.p);
}

/* Days since 1970-01-01 of the local date yyyymmdd (days + d: that many
 * later), and the epoch second its local midnight is. */
static int64_t days_of(int64_t ymd, int d) {
    struct tm tm = { 0 };
    tm.tm_year = (int)(ymd / 10000) - 1900, tm.tm_mon = (int)(ymd / 100 % 100) - 1, tm.tm_mday = (int)(ymd % 100) + d;
    return (int64_t)timegm(&tm) / 86400;
}
static int64_t midnight_s(const tally_schema *sc, int64_t days) { return days * 86400 - sc->tz_offset_min * 60; }

/* A period hash's expiry (EXPIREAT) and how long its fields may be written,
 * from docs/keys.md's bucket table: a month's end + ttl_month_s, a day's end
 * + ttl_day_s (its hours until its end + ttl_hour_s), a minute's end +
 * ttl_minute_s; the totals never expire. */
static void check_expiries(const tally_agg *g, const tally_schema *sc) {
    size_t days = 0;
    for (size_t i = 0; i < g->hashes.n; i++) {
        const hash_rec *h = &AT(g->hashes, hash_rec, i);
        int64_t v = tally__tuple_value(h->tuple), x = 0, until = 0, hours = 0;
        switch (tally__tuple_period(h->tuple)) {
        case P_MONTH: {
            struct tm tm = { 0 };
            tm.tm_year = (int)(v / 100) - 1900, tm.tm_mon = (int)(v % 100), tm.tm_mday = 1; /* the next month */
            x = until = midnight_s(sc, (int64_t)timegm(&tm) / 86400) + sc->ttl_month_s;
        } break;
        case P_DAY: {
            int64_t end = midnight_s(sc, days_of(v, 1));
            until = end + sc->ttl_day_s, hours = end + sc->ttl_hour_s;
            x = until > hours ? until : hours;
            days++;
            if (sc->ttl_hour_s >= sc->ttl_day_s) {
                assert_int_equal(h->prune, 0);
                break;
            }
            /* the hours the day's creation deletes: the last day that ended
             * the hour retention and the future allowance before it began */
            assert_true(h->prune >= 1 && h->prune <= g->prunes.n);
            uint64_t t = AT(g->prunes, uint64_t, h->prune - 1);
            assert_int_equal(t >> 35, h->tuple >> 35); /* its entity's day */
            int64_t gap_ms = (days_of(v, 0) - days_of(tally__tuple_value(t), 1)) * 86400000LL;
            int64_t keep_ms = sc->ttl_hour_s * 1000 + sc->max_future_ms;
            assert_true(gap_ms >= keep_ms);
            assert_true(gap_ms - 86400000LL < keep_ms);
        } break;
        case P_MINUTE: x = until = (v + 1) * 60 + sc->ttl_minute_s; break;
        default: break;
        }
        if (tally__tuple_period(h->tuple) != P_DAY) assert_int_equal(h->prune, 0);
        assert_int_equal(h->expiry, x);
        assert_int_equal(h->until, until);
        assert_int_equal(h->hours_until, hours);
    }
    assert_int_equal(g->prunes.n, sc->ttl_hour_s < sc->ttl_day_s ? days : 0);
}

/* The schema of the call merge_and_check leaves in g: the call refers to it
 * while events are added. */
static tally_schema merged_schema;

/* Merges the events of a in one call and compares every record with the
 * oracle's; the call is left in g, open for more events. */
static void merge_and_check(tally_agg *g, const layout *l, const add_arg *a, size_t n) {
    tally_config cfg = config_of(l);
    merged_schema = tally__schema_of(&cfg);
    const tally_schema sc = merged_schema;
    tally__agg_begin(g, &merged_schema, NOW_MS);
    sums want_f = { 0 }, want_h = { 0 }, got_f = { 0 };
    int64_t latest = 0, total[7] = { 0 };
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(tally__agg_add(g, a[k].e, a[k].at, a[k].cost, a[k].version, a[k].mask, 0, k), TALLY_AGG_ADDED);
        oracle_event(l, a[k].e, a[k].at, a[k].cost, a[k].version, a[k].mask, &want_f);
        if (a[k].at > latest) latest = a[k].at;
        const tally_event *e = a[k].e;
        int64_t d[7] = { 1, e->input_tokens, e->output_tokens, e->cache_create_tokens, e->cache_read_tokens, a[k].cost,
                         e->input_tokens + e->output_tokens + e->cache_create_tokens + e->cache_read_tokens };
        for (int i = 0; i < 7; i++) total[i] += d[i];
    }
    sums_merge(&want_f);
    containers_of(&want_f, &want_h);
    merged_fields(g, &got_f);
    sums_equal(&got_f, &want_f, "bucket fields");
    assert_int_equal(g->hashes.n, want_h.n); /* no hash without a field */
    check_ids(g, l, &sc, a, n);
    check_expiries(g, &sc);
    assert_int_equal(tally__agg_count(g), n);
    for (size_t k = 0; k < n; k++) assert_int_equal(AT(g->events, size_t, k), k);
    assert_int_equal(g->latest_ms, latest);
    for (int i = 0; i < 7; i++) assert_int_equal(g->total[i], total[i]);
    assert_int_equal(tally__agg_units(g), 4 * want_f.n + 16 * want_h.n + g->ids.n + 16 * g->idhashes.n);
    free(want_f.p), free(want_h.p), free(got_f.p);
}

/* ---- the tests */

static const layout utc8 = { 8, 0, 0 };

static add_arg arg(const tally_event *e, int64_t at, int mask) { return (add_arg){ e, at, e->cost_nanos, -1, mask }; }

static void an_empty_call_holds_nothing(void **state) {
    (void)state;
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    merge_and_check(g, &utc8, NULL, 0);
    assert_int_equal(g->fields.n + g->hashes.n + g->ids.n + g->idhashes.n, 0);
    assert_int_equal(tally__agg_units(g), 0);
    tally__agg_free(g);
}

static void one_event_touches_each_bucket_once(void **state) {
    (void)state;
    tally_event e = { "key_1", "m0", "acct_1", 100, 20, 3, 4, 5000, 0, "req-1" };
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    add_arg a = arg(&e, NOW_MS - 3600000 * 5 + 17, TALLY_AGG_ALL); /* 2026-11-30 19:00 */
    merge_and_check(g, &utc8, &a, 1);
    /* 4 key fields (no "_"), 2 account fields (its day and hour: its total
     * and month are its shard fields), 9 shard fields + 3 account + 3 key fields */
    assert_int_equal(g->fields.n, 4 + 2 + 15);
    assert_int_equal(g->hashes.n, 3 + 1 + 4);
    tally__agg_free(g);
}

/* Events of one key, model, account and hour merge into one delta per field:
 * the sums of every count, exactly. */
static void events_of_one_bucket_merge_into_one_delta(void **state) {
    (void)state;
    tally_event e[5];
    add_arg a[5];
    char ids[5][8];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        e[i] = (tally_event){ "key_1", "m0", "acct_1", 1000 + i, 200 + i, 30 + i, 4 + i, 123456789 + i, 0, ids[i] };
        a[i] = arg(&e[i], NOW_MS - 600000 + i * 1000, TALLY_AGG_ALL);
    }
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    merge_and_check(g, &utc8, a, 5);
    assert_int_equal(g->fields.n, 4 + 2 + 15); /* as for one event */
    for (size_t i = 0; i < g->fields.n; i++) {
        const int64_t *d = AT(g->fields, field_rec, i).d;
        int64_t want[6] = { 5, 5010, 1010, 160, 30, 5 * 123456789LL + 10 };
        for (int j = 0; j < 6; j++) assert_int_equal(d[j], want[j]);
    }
    assert_int_equal(g->latest_ms, NOW_MS - 600000 + 4000);
    tally__agg_free(g);
}

/* Keys, models, accounts, hours, days, months and price versions apart stay
 * apart; what they share merges. */
static void different_buckets_stay_apart(void **state) {
    (void)state;
    tally_event e[] = {
        { "key_1", "m0", "acct_1", 1, 2, 3, 4, 10, 0, NULL },
        { "key_2", "m0", "acct_1", 10, 20, 30, 40, 100, 0, NULL },   /* another key */
        { "key_1", "m1", "acct_1", 100, 0, 0, 0, 1000, 0, NULL },    /* another model */
        { "key_1", "m0", "acct_2", 0, 100, 0, 0, 10000, 0, NULL },   /* another account */
        { "key_1", "m0", NULL, 0, 0, 100, 0, 100000, 0, NULL },      /* no account */
        { "key_1", "m0", "", 0, 0, 0, 100, 1000000, 0, NULL },       /* none either */
        { "key_1", "m0", "acct_1", 7, 0, 0, 0, 7, 0, NULL },         /* another hour */
        { "key_1", "m0", "acct_1", 9, 0, 0, 0, 9, 0, NULL },         /* another day */
        { "key_1", "m0", "acct_1", 11, 0, 0, 0, 11, 0, NULL },       /* another month */
    };
    int64_t at = NOW_MS - 3600000 * 2; /* 2026-11-30 22:00 */
    add_arg a[9];
    for (int i = 0; i < 6; i++) a[i] = arg(&e[i], at + i, TALLY_AGG_ALL);
    a[6] = arg(&e[6], at - 3600000, TALLY_AGG_ALL);
    a[7] = arg(&e[7], at - 86400000, TALLY_AGG_ALL);
    a[8] = arg(&e[8], at + 3 * 3600000, TALLY_AGG_ALL); /* 2026-12-01 01:00 */
    a[1].version = 3, a[2].version = 4, a[3].version = TALLY_UNPRICED; /* other price fields */
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    merge_and_check(g, &utc8, a, 9);
    assert_int_equal(g->latest_ms, at + 3 * 3600000);
    tally__agg_free(g);
}

/* The calendar is the statistics timezone's; the system minute is UTC's. */
static void buckets_follow_the_timezone(void **state) {
    (void)state;
    tally_event e = { "key_1", "m0", "acct_1", 1, 2, 3, 4, 5, 0, NULL };
    add_arg a[3] = { arg(&e, NOW_MS - 1, TALLY_AGG_ALL), arg(&e, NOW_MS, TALLY_AGG_ALL),
                     arg(&e, NOW_MS - 5 * 3600000 - 30 * 60000, TALLY_AGG_ALL) };
    const layout zones[] = { { 8, 0, 0 }, { 8, 330, 0 }, { 3, -600, 0 }, { 1, 840, 32 * 86400 } }; /* hours: as days */
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) merge_and_check(g, &zones[z], a, 3);
    /* In UTC+05:30 UTC's midnight is 05:30 local: the first two events fall in
     * hour 05 of December 1st, the third (18:30 UTC) in its hour 00. */
    tally_config cfg = config_of(&zones[1]);
    tally_schema sc = tally__schema_of(&cfg);
    tally__agg_begin(g, &sc, NOW_MS);
    for (int i = 0; i < 3; i++) assert_int_equal(tally__agg_add(g, a[i].e, a[i].at, 5, -1, TALLY_AGG_KEY, 0, i), 0);
    sums got = { 0 };
    merged_fields(g, &got);
    const char *want[] = { "k:key_1 D:20261201 00", "k:key_1 D:20261201 05", "k:key_1 D:20261201 m:m0",
                           "k:key_1 M:202612 m:m0", "k:key_1 t m:m0" };
    assert_int_equal(got.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < got.n; i++) assert_string_equal(got.p[i].name, want[i]);
    free(got.p);
    tally__agg_free(g);
}

/* A cluster's calls: each covers one entity's buckets. */
static void each_entity_mask_covers_its_buckets(void **state) {
    (void)state;
    tally_event e[] = { { "key_1", "m0", "acct_1", 1, 2, 3, 4, 10, 0, "r1" },
                        { "key_2", "m1", "acct_1", 5, 6, 7, 8, 20, 0, "r2" },
                        { "key_1", "m1", NULL, 9, 10, 11, 12, 30, 0, "r3" } };
    const int masks[] = { TALLY_AGG_KEY, TALLY_AGG_ACCOUNT, TALLY_AGG_SHARD, TALLY_AGG_ALL };
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    for (size_t m = 0; m < 4; m++) {
        add_arg a[3];
        size_t n = 0;
        for (int i = 0; i < 3; i++)
            if (masks[m] != TALLY_AGG_ACCOUNT || named(e[i].account))
                a[n++] = arg(&e[i], NOW_MS - 1000 * i, masks[m]);
        merge_and_check(g, &utc8, a, n);
    }
    tally__agg_free(g);
}

/* A delta may reach 10^15 (TALLY_DELTA_MAX) exactly; the event that would
 * pass it is refused whole (TALLY_AGG_FULL) and goes in the next call. */
static void sums_up_to_the_bound_stay_exact(void **state) {
    (void)state;
    tally_event big = { "key_1", "m0", "acct_1", 0, 0, 0, 0, TALLY_DELTA_MAX - 1, 0, NULL };
    tally_event one = { "key_1", "m0", "acct_1", 0, 0, 0, 0, 1, 0, NULL };
    add_arg a[2] = { arg(&big, NOW_MS, TALLY_AGG_ALL), arg(&one, NOW_MS, TALLY_AGG_ALL) };
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    merge_and_check(g, &utc8, a, 2);
    for (size_t i = 0; i < g->fields.n; i++) assert_int_equal(AT(g->fields, field_rec, i).d[5], TALLY_DELTA_MAX);
    size_t fields = g->fields.n, strs = g->strs.n;
    tally_event other = { "key_9", "m9", "acct_9", 0, 0, 0, 0, 1, 0, "r9" }; /* would add buckets */
    assert_int_equal(tally__agg_add(g, &other, NOW_MS, 1, -1, TALLY_AGG_ALL, 0, 2), TALLY_AGG_FULL);
    assert_int_equal(tally__agg_count(g), 2);
    assert_int_equal(g->fields.n, fields);
    assert_int_equal(g->strs.n, strs);
    assert_int_equal(g->ids.n, 0);
    assert_int_equal(g->total[5], TALLY_DELTA_MAX);
    for (size_t i = 0; i < g->fields.n; i++) assert_int_equal(AT(g->fields, field_rec, i).d[5], TALLY_DELTA_MAX);
    /* the next call takes it */
    add_arg next = arg(&other, NOW_MS, TALLY_AGG_ALL);
    merge_and_check(g, &utc8, &next, 1);
    /* the maximal cost alone */
    tally_event max = { "key_1", "m0", NULL, 0, 0, 0, 0, TALLY_MAX_COST_NANOS, 0, NULL };
    add_arg alone = arg(&max, NOW_MS, TALLY_AGG_ALL);
    merge_and_check(g, &utc8, &alone, 1);
    assert_int_equal(tally__agg_add(g, &one, NOW_MS, 0, -1, TALLY_AGG_ALL, 0, 1), TALLY_AGG_ADDED);
    assert_int_equal(tally__agg_add(g, &one, NOW_MS, 1, -1, TALLY_AGG_ALL, 0, 2), TALLY_AGG_FULL);
    tally__agg_free(g);
}

/* The same for tokens: each count, and the four counts' sum (a bucket's
 * total tokens). */
static void token_sums_up_to_the_bound_stay_exact(void **state) {
    (void)state;
    /* 250 events of 4 x 10^12 tokens make 10^15 tokens exactly */
    tally_event e = { "key_1", "m0", NULL, TALLY_MAX_TOKENS, TALLY_MAX_TOKENS, TALLY_MAX_TOKENS, TALLY_MAX_TOKENS,
                      0, 0, NULL };
    add_arg a[250];
    for (int i = 0; i < 250; i++) a[i] = arg(&e, NOW_MS - 3600000 - i, TALLY_AGG_ALL);
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    merge_and_check(g, &utc8, a, 250);
    assert_int_equal(g->total[6], TALLY_DELTA_MAX);
    tally_event one = { "key_1", "m0", NULL, 0, 0, 0, 1, 0, 0, NULL };
    assert_int_equal(tally__agg_add(g, &one, NOW_MS, 0, -1, TALLY_AGG_ALL, 0, 250), TALLY_AGG_FULL);
    /* one count alone at the bound: 1000 events of 10^12 input tokens */
    tally_event in = { "key_1", "m0", NULL, TALLY_MAX_TOKENS, 0, 0, 0, 0, 0, NULL };
    tally_config cfg = config_of(&utc8);
    tally_schema sc = tally__schema_of(&cfg);
    tally__agg_begin(g, &sc, NOW_MS);
    for (size_t i = 0; i < 1000; i++) assert_int_equal(tally__agg_add(g, &in, NOW_MS, 0, -1, TALLY_AGG_ALL, 0, i), 0);
    for (size_t i = 0; i < g->fields.n; i++) assert_int_equal(AT(g->fields, field_rec, i).d[1], TALLY_DELTA_MAX);
    tally_event in1 = { "key_1", "m0", NULL, 1, 0, 0, 0, 0, 0, NULL };
    assert_int_equal(tally__agg_add(g, &in1, NOW_MS, 0, -1, TALLY_AGG_ALL, 0, 1000), TALLY_AGG_FULL);
    tally__agg_free(g);
}

/* A new call forgets the last one's records (keeping the memory). */
static void a_new_call_starts_empty(void **state) {
    (void)state;
    tally_event e1 = { "key_1", "m0", "acct_1", 1, 2, 3, 4, 5, 0, "r1" };
    tally_event e2 = { "key_2", "m1", NULL, 6, 7, 8, 9, 10, 0, NULL };
    add_arg a1 = arg(&e1, NOW_MS, TALLY_AGG_ALL), a2 = arg(&e2, NOW_MS - 86400000 * 40LL, TALLY_AGG_ALL);
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    merge_and_check(g, &utc8, &a1, 1);
    merge_and_check(g, &utc8, &a2, 1);
    assert_int_equal(g->latest_ms, a2.at);
    assert_null(g->settle);
    tally__agg_free(g);
}

static uint64_t rnd_state;
static int64_t rnd_below(int64_t n) { return (int64_t)(ou_rnd(&rnd_state) % (uint64_t)n); }

/* One request id on two keys: two ids, kept apart by key in the hashes that
 * keys share (an account's, a shard's on a cluster). */
static void request_ids_are_scoped_by_key(void **state) {
    (void)state;
    tally_event e[2] = { { "key_1", "m0", "acct_1", 1, 0, 0, 0, 0, 0, "req-1" },
                         { "key_2", "m0", "acct_1", 1, 0, 0, 0, 0, 0, "req-1" } };
    const layout one_shard = { 1, 0, 0 };
    const int masks[] = { TALLY_AGG_ALL, TALLY_AGG_ACCOUNT, TALLY_AGG_SHARD };
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    for (int m = 0; m < 3; m++) {
        add_arg a[2] = { arg(&e[0], NOW_MS, masks[m]), arg(&e[1], NOW_MS, masks[m]) };
        merge_and_check(g, &one_shard, a, 2);
        assert_int_equal(g->ids.n, 4);
        assert_int_equal(g->idhashes.n, masks[m] == TALLY_AGG_ALL ? 4 : 2); /* two keys' or one shared */
        const id_rec *r = g->ids.p; /* the two events' slice, then slice before */
        for (int i = 0; i < 2; i++) {
            if (masks[m] == TALLY_AGG_ALL) { /* each key's own hash: the id alone */
                assert_int_not_equal(r[i].hash, r[2 + i].hash);
                assert_memory_equal(r[i].fp, r[2 + i].fp, TALLY_ID_ENTRY);
            } else { /* one hash: the key and the id */
                assert_int_equal(r[i].hash, r[2 + i].hash);
                assert_memory_not_equal(r[i].fp, r[2 + i].fp, TALLY_ID_ENTRY);
            }
        }
    }
    tally__agg_free(g);
}

/* The event whose reservations the call gives back, and its entities. */
static void settling_names_the_event(void **state) {
    (void)state;
    tally_event e = { "key_1", "m0", "acct_1", 1, 0, 0, 0, 0, 0, "req-1" };
    tally_config cfg = config_of(&utc8);
    tally_schema sc = tally__schema_of(&cfg);
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    tally__agg_begin(g, &sc, NOW_MS);
    assert_int_equal(tally__agg_add(g, &e, NOW_MS, 0, -1, TALLY_AGG_ACCOUNT, 1, 0), TALLY_AGG_ADDED);
    assert_ptr_equal(g->settle, &e);
    assert_int_equal(g->settle_mask, TALLY_AGG_ACCOUNT);
    tally__agg_begin(g, &sc, NOW_MS);
    assert_null(g->settle);
    assert_int_equal(tally__agg_add(g, &e, NOW_MS, 0, -1, TALLY_AGG_ALL, 0, 0), TALLY_AGG_ADDED);
    assert_null(g->settle);
    tally__agg_free(g);
}

/* 3,000 random events over 7 keys, 4 models, 4 accounts (and none), 4 days
 * across a month's end and 6 price versions (none, unpriced, 0 .. 2^28-1), in
 * three layouts, merged whole (a single server) and per entity (a cluster):
 * every bucket field and id against the oracle. */
static void random_batches_match_the_oracle(void **state) {
    (void)state;
    enum { N = 3000 };
    static const char *keys[] = { "key_0", "key_1", "key_2", "key_3", "key_4", "key_5", "ключ_6" };
    /* names shared by a key, a model and an account stay three entities */
    static const char *models[] = { "m0", "claude-3-5-sonnet", "acct_0", "key_1" };
    static const char *accounts[] = { NULL, "", "acct_0", "acct_1", "m0", "key_2" };
    static const int64_t versions[] = { -1, TALLY_UNPRICED, 0, 1, 7, 268435455 };
    static tally_event e[N];
    static char ids[N][12];
    static add_arg a[N];
    /* hours kept 8 days (the default), an hour, longer than the days (40 d) */
    const layout layouts[] = { { 8, 0, 0 }, { 3, 330, 3600 }, { 1, -480, 40 * 86400 } };
    rnd_state = 0x9e3779b97f4a7c15ull;
    tally_agg *g = tally__agg_new();
    assert_non_null(g);
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        for (size_t i = 0; i < N; i++) {
            ids[i][0] = 0;
            if (rnd_below(2)) snprintf(ids[i], sizeof ids[i], "r%zu", i);
            e[i] = (tally_event){ keys[rnd_below(7)], models[rnd_below(4)], accounts[rnd_below(6)],
                                  rnd_below(100000), rnd_below(100000), rnd_below(3) ? 0 : rnd_below(1000000),
                                  rnd_below(8) ? 0 : TALLY_MAX_TOKENS - rnd_below(10), rnd_below(1000000000), 0,
                                  ids[i] };
            /* from 3 days before the month's end to a day after it */
            a[i] = (add_arg){ &e[i], NOW_MS - 3 * 86400000LL + rnd_below(4 * 86400000LL), e[i].cost_nanos,
                              versions[rnd_below(6)], TALLY_AGG_ALL };
        }
        merge_and_check(g, &layouts[l], a, N);
        /* a cluster's calls: the keys', the accounts', the shards' */
        const int masks[] = { TALLY_AGG_KEY, TALLY_AGG_ACCOUNT, TALLY_AGG_SHARD };
        for (int m = 0; m < 3; m++) {
            static add_arg part[N];
            size_t n = 0;
            for (size_t i = 0; i < N; i++) {
                if (masks[m] == TALLY_AGG_ACCOUNT && !named(e[i].account)) continue;
                part[n] = a[i];
                part[n++].mask = masks[m];
            }
            merge_and_check(g, &layouts[l], part, n);
        }
    }
    tally__agg_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_empty_call_holds_nothing),
        cmocka_unit_test(one_event_touches_each_bucket_once),
        cmocka_unit_test(events_of_one_bucket_merge_into_one_delta),
        cmocka_unit_test(different_buckets_stay_apart),
        cmocka_unit_test(buckets_follow_the_timezone),
        cmocka_unit_test(each_entity_mask_covers_its_buckets),
        cmocka_unit_test(sums_up_to_the_bound_stay_exact),
        cmocka_unit_test(token_sums_up_to_the_bound_stay_exact),
        cmocka_unit_test(a_new_call_starts_empty),
        cmocka_unit_test(request_ids_are_scoped_by_key),
        cmocka_unit_test(settling_names_the_event),
        cmocka_unit_test(random_batches_match_the_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
