/* queries.c -- reading statistics back: one bucket (stats), ranges of days,
 * trends and the system minute metrics (the breakdowns by model, price
 * version, account and API key are breakdown.c's). Each query is one EVALSHA
 * (EVALSHA_RO with TALLY_READ_REPLICA) of read.lua (no KEYS, no SCAN): the
 * keys to read follow from the schema in docs/keys.md. Shared aggregates
 * (model, global, minute) are spread over cfg.shards shards and summed here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "exec.h"
#include "keys.h"
#include "queries.h"
#include "schema.h"
#include "table.h"
#include "timecal.h"

int tally_period_parse(tally *t, const char *s, tally_period *p) {
    if (tally_parse_period(s, t->cfg.tz_offset_min, p) != TALLY_OK)
        return tally__fail(t, TALLY_EINVAL,
                           "period '%.64s' must be total, today, month, hour, day:YYYY-MM-DD, "
                           "month:YYYY-MM or hour:YYYY-MM-DDTHH, of a real date", s ? s : "");
    return tally__ok(t);
}

void tally_period_format(const tally_period *p, char buf[24]) {
    switch (p->kind) {
    case TALLY_MONTH: snprintf(buf, 24, "%04d-%02d", p->year, p->month); break;
    case TALLY_DAY: snprintf(buf, 24, "%04d-%02d-%02d", p->year, p->month, p->day); break;
    case TALLY_HOUR: snprintf(buf, 24, "%04d-%02d-%02dT%02d", p->year, p->month, p->day, p->hour); break;
    default: snprintf(buf, 24, "total");
    }
}

/* Starts a call of read-only script `id`: EVALSHA_RO with TALLY_READ_REPLICA,
 * which routes it to a replica (cluster.c). 0, or -1 on OOM. */
static int start_read(tally *t, tally_args *a, int id) {
    return t->cfg.read_from == TALLY_READ_REPLICA ? tally__args_script_ro(a, id) : tally__args_script(a, id);
}

/* Whether scope's bucket of period p is summed over the shards' hashes:
 * always for models and global; an account's total and month are its a:
 * fields there (it has a hash of its own only per day: docs/keys.md). */
static int in_shards(int scope, const tally_period *p) {
    return scope == TALLY_SCOPE_MODEL || scope == TALLY_SCOPE_GLOBAL ||
           (scope == TALLY_SCOPE_ACCOUNT && (p->kind == TALLY_TOTAL || p->kind == TALLY_MONTH));
}

/* queries.h */
int tally__accounts_complete(tally *t, int64_t earliest) {
    int64_t from;
    if (tally__accounts_from(t, &from) != TALLY_OK) return t->err;
    if (from < 0)
        return tally__fail(t, TALLY_EINVAL,
                           "prefix '%s' holds only data recorded by a tally without account buckets in the shards' "
                           "hashes: accounts are listed from the day after this version's first record (docs/keys.md)",
                           t->cfg.prefix);
    if (earliest >= from) return TALLY_OK;
    char asked[24] = "the total";
    if (earliest) snprintf(asked, sizeof asked, "%04d-%02d-%02d", (int)(earliest / 10000), (int)(earliest / 100 % 100),
                           (int)(earliest % 100));
    return tally__fail(t, TALLY_EINVAL,
                       "accounts are listed from %04d-%02d-%02d on under prefix '%s' (events recorded before by a "
                       "tally without account buckets are missing from them): %s reaches before it; ask from that "
                       "day (docs/keys.md)",
                       (int)(from / 10000), (int)(from / 100 % 100), (int)(from % 100), t->cfg.prefix, asked);
}

/* Whether a bucket of scope in period p is an API key's "k:<id>" field of its
 * shard's hash (a key's own total, month and day hashes hold no "_":
 * docs/keys.md); its hours are fields of its own day hash. */
static int key_in_shard(int scope, const tally_period *p) {
    return scope == TALLY_SCOPE_KEY && p->kind != TALLY_HOUR;
}

/* Adds the field of a bucket inside the hash add_keys named: the entity's
 * own, a model's (scope MODEL), a key's or an account's in a shard's hash. 0,
 * or -1 on OOM. */
static int add_field(tally_args *a, int scope, const char *id, const tally_period *p) {
    if (key_in_shard(scope, p)) return tally__args_cat(a, TALLY_FIELD_KEY, strlen(TALLY_FIELD_KEY), id, strlen(id));
    if (scope == TALLY_SCOPE_ACCOUNT && in_shards(scope, p))
        return tally__args_cat(a, TALLY_FIELD_ACCOUNT, strlen(TALLY_FIELD_ACCOUNT), id, strlen(id));
    const char *model = scope == TALLY_SCOPE_MODEL ? id : NULL;
    char pre[8];
    size_t n = tally__field_prefix(p, model != NULL, pre);
    return tally__args_cat(a, pre, n, model ? model : "", model ? strlen(model) : 0);
}

int tally__check_scope(tally *t, int scope, const char *id) {
    static const char *const what[] = { "key", "account", "model" };
    if (scope == TALLY_SCOPE_GLOBAL) return tally__ok(t);
    if (scope < TALLY_SCOPE_KEY || scope > TALLY_SCOPE_GLOBAL)
        return tally__fail(t, TALLY_EINVAL, "unknown scope %d", scope);
    return tally__id_check(t, what[scope], id, id ? strlen(id) : 0);
}

/* Keys holding one bucket: the entity's own hash (a key's shard's for its
 * total, month or day), or one per shard (in_shards). Returns how many keys
 * were added, or -1 on OOM. */
static int add_keys(tally *t, tally_args *a, int scope, const char *id, const tally_period *p) {
    char base[TALLY_ENTITY_MAX], suffix[24];
    size_t sn = tally__period_suffix(p, suffix);
    if (key_in_shard(scope, p)) {
        size_t bn = tally__shard_entity(&t->schema, tally__shard_of(&t->schema, id, strlen(id)), base);
        return tally__args_cat(a, base, bn, suffix, sn) ? -1 : 1;
    }
    if (!in_shards(scope, p)) {
        char kind = scope == TALLY_SCOPE_KEY ? TALLY_ENTITY_KEY : TALLY_ENTITY_ACCOUNT;
        return tally__args_cat(a, base, tally__entity(&t->schema, kind, id, strlen(id), base), suffix, sn) ? -1 : 1;
    }
    return tally__add_shard_keys(&t->schema, a, suffix, sn) ? -1 : t->cfg.shards;
}

/* queries.h. A positive failure of tally__add_packed is the 1-based index of
 * the sum in sum_names that passed 2^63-1 (each stored bucket is valid, their
 * sum is not an int64). */
static const char *const sum_names[] = { "requests", "input tokens", "output tokens", "cache-create tokens",
                                         "cache-read tokens", "cost", "total tokens" };

int tally__add_packed(tally_bucket *b, const char *s, size_t n) {
    int64_t *dst[6] = { &b->requests, &b->input_tokens, &b->output_tokens,
                        &b->cache_create_tokens, &b->cache_read_tokens, &b->cost_nanos };
    int64_t parts[6];
    const char *end = s + n;
    for (int i = 0; i < 6; i++) {
        int64_t v = 0;
        const char *start = s;
        for (; s < end && *s >= '0' && *s <= '9'; s++)
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v)) return -1;
        if (s == start || (i < 5 ? (s >= end || *s != ',') : s != end)) return -1;
        s++;
        parts[i] = v;
    }
    for (int i = 0; i < 6; i++)
        if (__builtin_add_overflow(*dst[i], parts[i], dst[i])) return i + 1;
    int64_t tokens = 0;
    if (__builtin_add_overflow(b->input_tokens, b->output_tokens, &tokens) ||
        __builtin_add_overflow(tokens, b->cache_create_tokens, &tokens) ||
        __builtin_add_overflow(tokens, b->cache_read_tokens, &b->total_tokens))
        return 7;
    return 0;
}

int tally__packed_failed(tally *t, int got, const char *where) {
    if (got < 0) return tally__fail(t, TALLY_ESCRIPT, "%s holds something that is not a tally bucket", where);
    return tally__fail(t, TALLY_ERANGE, "sum overflows: %s in %s passes 2^63-1", sum_names[got - 1], where);
}

/* Runs read.lua "get" built in t->args (keys already added, `nkeys` of them,
 * each followed by one field in the ARGV) and sums the value of key i into
 * out[owner[i]] (owner NULL: all into *out). */
static int read_sum(tally *t, int nkeys, const int *owner, tally_bucket *out) {
    int *chunk = calloc((size_t)nkeys + 1, sizeof *chunk);
    if (!chunk) return tally__oom(t);
    for (int i = 0; i < nkeys; i++) chunk[i] = 2; /* "1", the field */
    tally_keyed k;
    int rc = tally__eval_keyed(t, &t->args, 1, chunk, &k);
    free(chunk);
    if (rc != TALLY_OK) return rc;
    for (int i = 0; i < nkeys && rc == TALLY_OK; i++) {
        redisReply *e = k.per_key[i];
        redisReply *v = tally__reply_fits(e, 1, "s") ? e->element[0] : NULL; /* {value}, or no bucket */
        int slot = owner ? owner[i] : 0;
        int got = v ? tally__add_packed(&out[slot], v->str, v->len) : 0;
        if (got) {
            char where[32];
            int merged = owner ? (i > 0 && owner[i - 1] == slot) || (i + 1 < nkeys && owner[i + 1] == slot) : nkeys > 1;
            if (got > 0 && merged) snprintf(where, sizeof where, "the merged buckets");
            else snprintf(where, sizeof where, "bucket %d", i);
            rc = tally__packed_failed(t, got, where);
        }
    }
    tally__keyed_free(&k);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

/* An account's buckets in the shards' hashes (in_shards) hold its events
 * from the accounts marker's day on (docs/keys.md): refuses periods that
 * reach before it, naming the day. */
static int account_periods_complete(tally *t, int scope, const tally_period *p, int n) {
    int64_t earliest = -1;
    for (int i = 0; i < n; i++) {
        if (scope != TALLY_SCOPE_ACCOUNT || !in_shards(scope, &p[i])) continue;
        int64_t from = p[i].kind == TALLY_TOTAL ? 0 : (p[i].year * 100 + p[i].month) * 100 + 1;
        if (earliest < 0 || from < earliest) earliest = from;
    }
    return earliest < 0 ? TALLY_OK : tally__accounts_complete(t, earliest);
}

/* Reads n periods of one scope: keys of every period, then their fields;
 * into out[n], or with merge all of them added to *out. */
static int read_periods(tally *t, int scope, const char *id, const tally_period *p, int n, int merge,
                        tally_bucket *out) {
    if (account_periods_complete(t, scope, p, n) != TALLY_OK) return t->err;
    tally_args *a = &t->args;
    int *owner = malloc((size_t)n * (size_t)(t->cfg.shards > 1 ? t->cfg.shards : 1) * sizeof *owner);
    int err = !owner || start_read(t, a, TALLY_SCRIPT_READ), nkeys = 0;
    for (int i = 0; i < n && !err; i++) {
        int per = add_keys(t, a, scope, id, &p[i]);
        if (per < 0) err = 1;
        for (int k = 0; k < per; k++) owner[nkeys++] = merge ? 0 : i;
    }
    tally__args_end_keys(a);
    err |= tally__args_str(a, "get");
    for (int i = 0; i < n && !err; i++)
        for (int per = in_shards(scope, &p[i]) ? t->cfg.shards : 1; per-- && !err;)
            err |= tally__args_str(a, "1") | add_field(a, scope, id, &p[i]);
    if (err) {
        free(owner);
        return tally__oom(t);
    }
    if (!merge) memset(out, 0, (size_t)n * sizeof *out);
    int rc = read_sum(t, nkeys, owner, out);
    free(owner);
    return rc;
}

int tally_stats(tally *t, int scope, const char *id, const tally_period *p, tally_bucket *out) {
    int rc = tally__check_scope(t, scope, id);
    if (rc != TALLY_OK) return rc;
    return read_periods(t, scope, id, p, 1, 0, out);
}

/* Redis time of reading one bucket field (HGET and its redis.call glue), in
 * microseconds: INFO commandstats over 30-day ranges on a loaded 2-core
 * machine gave 4.5-7. A range's reads are cut into calls of at most
 * cfg.max_script_us by the higher figure. (The breakdowns, which read whole
 * hashes, are cut by their own figures: breakdown.c.) */
#define READ_US_PER_FIELD 7

/* How many periods of `per` keys each (at `us` each) one call may read. */
static int periods_per_call(const tally *t, int per, int us) {
    int64_t n = t->cfg.max_script_us / ((int64_t)per * us);
    return n < 1 ? 1 : n > TALLY_RANGE_MAX_PARTS ? TALLY_RANGE_MAX_PARTS : (int)n;
}

/* Checks range r and covers it with the buckets that hold it (tally.h):
 * their count, or -1 with the handle's error. */
static int range_parts(tally *t, const tally_range *r, tally_period *p) {
    if (tally__range_days(r) < 0)
        return tally__fail(t, TALLY_EINVAL, "a range runs from a day to the same or a later day, at most %d days",
                           TALLY_RANGE_MAX_DAYS), -1;
    int n = tally__range_cover(r, p);
    int64_t now_s = tally__now_ms() / 1000;
    for (int i = 0; i < n; i++) {
        int month = p[i].kind == TALLY_MONTH;
        int64_t kept = month ? t->cfg.ttl_month_s : t->cfg.ttl_day_s;
        if (tally__period_end_s(&p[i], t->cfg.tz_offset_min) + kept <= now_s) {
            char when[24];
            tally_period_format(&p[i], when);
            return tally__fail(t, TALLY_EINVAL,
                               "the range reaches %s, whose %s bucket is gone (kept %lld days after its end)", when,
                               month ? "month" : "day", (long long)(kept / 86400)), -1;
        }
    }
    return n;
}

int tally_stats_range(tally *t, int scope, const char *id, const tally_range *r, tally_bucket *out) {
    memset(out, 0, sizeof *out);
    int rc = tally__check_scope(t, scope, id);
    tally_period p[TALLY_RANGE_MAX_PARTS];
    int n = rc == TALLY_OK ? range_parts(t, r, p) : -1;
    if (n < 0) return t->err;
    int per = scope == TALLY_SCOPE_KEY ? 1 : t->cfg.shards;
    int step = periods_per_call(t, per, READ_US_PER_FIELD);
    for (int i = 0; i < n && rc == TALLY_OK; i += step)
        rc = read_periods(t, scope, id, p + i, n - i < step ? n - i : step, 1, out);
    return rc;
}

int tally_trend(tally *t, int scope, const char *id, int by, int n, tally_point *points) {
    int rc = tally__check_scope(t, scope, id);
    if (rc != TALLY_OK) return rc;
    if (by != TALLY_HOUR && by != TALLY_DAY && by != TALLY_MONTH)
        return tally__fail(t, TALLY_EINVAL, "a trend goes by hour, day or month");
    if (n < 1 || n > 1000) return tally__fail(t, TALLY_EINVAL, "a trend has 1 to 1000 points");
    tally_period *p = malloc((size_t)n * sizeof *p);
    tally_bucket *b = malloc((size_t)n * sizeof *b);
    if (!p || !b) {
        free(p);
        free(b);
        return tally__oom(t);
    }
    int64_t now = tally__now_ms();
    tally_when w;
    tally__when(now, t->cfg.tz_offset_min, &w);
    for (int i = 0; i < n; i++) {
        int back = n - 1 - i;
        if (by == TALLY_MONTH) {
            int months = w.year * 12 + (w.month - 1) - back;
            p[i] = (tally_period){ TALLY_MONTH, months / 12, months % 12 + 1, 0, 0 };
        } else {
            tally_when pw;
            tally__when(now - (int64_t)back * (by == TALLY_DAY ? 86400000 : 3600000), t->cfg.tz_offset_min, &pw);
            p[i] = (tally_period){ by, pw.year, pw.month, pw.day, by == TALLY_HOUR ? pw.hour : 0 };
        }
    }
    rc = read_periods(t, scope, id, p, n, 0, b);
    for (int i = 0; rc == TALLY_OK && i < n; i++) points[i] = (tally_point){ p[i], b[i] };
    free(p);
    free(b);
    return rc;
}

int tally_metrics(tally *t, int minutes, tally_bucket *sum) {
    /* A minute's buckets expire ttl_minute_s after the minute ends (aggregate.c),
     * so the last ttl_minute_s / 60 minutes are all still there (the current
     * one at least). */
    int64_t kept = t->cfg.ttl_minute_s / 60;
    int most = kept < 1 ? 1 : kept > TALLY_METRICS_MINUTES_MAX ? TALLY_METRICS_MINUTES_MAX : (int)kept;
    if (minutes < 1 || minutes > most)
        return tally__fail(t, TALLY_EINVAL,
                           "minutes must be from 1 to %d: minute buckets are kept %lld s (ttl_minute_s)%s", most,
                           (long long)t->cfg.ttl_minute_s, most == TALLY_METRICS_MINUTES_MAX ? ", a day at most" : "");
    int64_t now_min = tally__now_ms() / 60000;
    tally_args *a = &t->args;
    char suffix[32];
    int err = start_read(t, a, TALLY_SCRIPT_READ), nkeys = minutes * t->cfg.shards;
    for (int m = 0; m < minutes; m++)
        err |= tally__add_shard_keys(&t->schema, a, suffix, tally__minute_suffix(now_min - m, suffix));
    tally__args_end_keys(a);
    err |= tally__args_str(a, "get");
    for (int k = 0; k < nkeys; k++) err |= tally__args_str(a, "1") | tally__args_str(a, TALLY_FIELD_ENTITY);
    if (err) return tally__oom(t);
    memset(sum, 0, sizeof *sum);
    return read_sum(t, nkeys, NULL, sum);
}

/* queries.h: for breakdown.c, rankings.c and report.c. */
int tally__range_parts(tally *t, const tally_range *r, tally_period *p) {
    return range_parts(t, r, p);
}

int tally__start_read(tally *t, tally_args *a, int id) {
    return start_read(t, a, id);
}
