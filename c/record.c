/* record.c -- recording usage events: validation, the bucket keys and fields of
 * every dimension, and the one EVALSHA of lua/record.lua per event (pipelined
 * for batches). docs/keys.md lists the keys this writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "cluster.h"
#include "exec.h"
#include "keys.h"
#include "timecal.h"

static int check_amount(tally *t, const char *what, int64_t v, int64_t max) {
    if (v < 0) return tally__fail(t, TALLY_EINVAL, "%s is negative", what);
    if (v > max) return tally__fail(t, TALLY_EINVAL, "%s is above %lld", what, (long long)max);
    return TALLY_OK;
}

static int has(const char *s) { return s && *s; }

int tally_event_check(tally *t, const tally_event *e) {
    int rc;
    if ((rc = tally__id_check(t, "key", e->key, e->key ? strlen(e->key) : 0)) ||
        (rc = tally__id_check(t, "model", e->model, e->model ? strlen(e->model) : 0)))
        return rc;
    if (has(e->account) && (rc = tally__id_check(t, "account", e->account, strlen(e->account))))
        return rc;
    if (has(e->request_id) && (rc = tally__id_check(t, "request id", e->request_id, strlen(e->request_id))))
        return rc;
    if ((rc = check_amount(t, "input tokens", e->input_tokens, TALLY_MAX_TOKENS)) ||
        (rc = check_amount(t, "output tokens", e->output_tokens, TALLY_MAX_TOKENS)) ||
        (rc = check_amount(t, "cache-create tokens", e->cache_create_tokens, TALLY_MAX_TOKENS)) ||
        (rc = check_amount(t, "cache-read tokens", e->cache_read_tokens, TALLY_MAX_TOKENS)) ||
        (rc = check_amount(t, "cost", e->cost_nanos, TALLY_MAX_COST_NANOS)))
        return rc;
    if (e->at_ms < 0 || e->at_ms > TALLY_AT_MAX)
        return tally__fail(t, TALLY_EINVAL, "event time %lld is not between 1970 and 9999",
                           (long long)e->at_ms);
    return tally__ok(t);
}

/* The key suffixes, fields and expiries that depend only on the hour of the
 * event time: consecutive events mostly share an hour, and formatting these
 * strings per event was a third of the client's work. Kept on the handle. */
typedef struct {
    char s[32];
    size_t n;
} text;
#define TEXT(literal) { literal, sizeof literal - 1 }

struct hour_cache {
    int64_t hour;                   /* the local hour it was built for, or -1 */
    text month, day, hours, hh, hm; /* "M:202611", "D:..", "H:..", "07", "07m:" */
    text boards[9];                 /* "Lc:t", "Lc:M:202611", ... */
    text x_month, x_day, x_hour;    /* expiries, epoch seconds, as text */
    int64_t minute;                 /* the system minute, rebuilt each minute */
    text minute_key, x_minute;
};

/* An epoch time (an expiry) as decimal text. */
static text time_text(int64_t v) {
    text t;
    char *p = tally__utoa_end((uint64_t)v, t.s + sizeof t.s);
    t.n = (size_t)(t.s + sizeof t.s - p);
    memmove(t.s, p, t.n);
    return t;
}

/* The batch's per-call and per-event arrays, grown to the largest batch seen,
 * so that recording a batch allocates nothing. */
struct batch_scratch {
    size_t events;        /* capacity, in events (calls: 3 per event) */
    size_t *event_of;
    unsigned char *bytes; /* mask_of[3n], left[n], dups[n], calls[n] */
};

/* This unit's state on the handle, made on first use; tally_close frees it
 * through the release hook. */
typedef struct {
    struct hour_cache hours;
    struct batch_scratch batch;
} record_state;

static void release(void *state) {
    record_state *s = state;
    free(s->batch.event_of);
    free(s->batch.bytes);
    free(s);
}

static record_state *state_of(tally *t) {
    tally_feature_state *f = &t->feature[TALLY_FEATURE_RECORD];
    if (!f->state) {
        record_state *s = calloc(1, sizeof *s);
        if (!s) return NULL;
        s->hours.hour = s->hours.minute = -1;
        f->state = s;
        f->release = release;
    }
    return f->state;
}

static struct hour_cache *hour_cache(tally *t, int64_t at) {
    record_state *s = state_of(t);
    if (!s) return NULL;
    struct hour_cache *h = &s->hours;
    const tally_config *c = &t->cfg;
    /* Local hours, not UTC ones: with offsets like +05:45 they differ. */
    int64_t local = at + c->tz_offset_min * 60000LL;
    int64_t hour = local >= 0 ? local / 3600000 : -((-local + 3599999) / 3600000);
    if (h->hour != hour) {
        tally_when w;
        tally__when(at, c->tz_offset_min, &w);
        const tally_period total = { TALLY_TOTAL, 0, 0, 0, 0 }, month = { TALLY_MONTH, w.year, w.month, 0, 0 },
                           day = { TALLY_DAY, w.year, w.month, w.day, 0 },
                           hours = { TALLY_HOUR, w.year, w.month, w.day, w.hour };
        h->hour = hour;
        h->month.n = tally__period_suffix(&month, h->month.s);
        h->day.n = tally__period_suffix(&day, h->day.s);
        h->hours.n = tally__period_suffix(&hours, h->hours.s);
        h->hh.n = tally__field_prefix(&hours, 0, h->hh.s);
        h->hm.n = tally__field_prefix(&hours, 1, h->hm.s);
        h->x_month = time_text(w.month_end_s + c->ttl_month_s);
        h->x_day = time_text(w.day_end_s + c->ttl_day_s);
        /* The hours of a day share one hash (H:YYYYMMDD, EXPIREAT NX on
         * creation), so its expiry follows the day's last hour: with the
         * first-written hour's end the later hours would vanish up to 23 h
         * before their retention. */
        h->x_hour = time_text(w.day_end_s + c->ttl_hour_s);
        /* cost, tokens, requests (the order of TALLY_RANK_*), each for total,
         * month, day: the order record.lua's contract fixes */
        const tally_period *per[3] = { &total, &month, &day };
        for (int k = 0; k < 9; k++) h->boards[k].n = tally__board_suffix(k / 3, per[k % 3], h->boards[k].s);
    }
    if (h->minute != at / 60000) {
        h->minute = at / 60000;
        h->minute_key.n = tally__minute_suffix(h->minute, h->minute_key.s);
        h->x_minute = time_text((h->minute + 1) * 60 + c->ttl_minute_s);
    }
    return h;
}

/* The entities whose keys one record.lua call covers. */
enum { G_KEY = 1, G_ACCOUNT = 2, G_SHARD = 4 };

/* The calls of one event, as entity masks into g[3]; returns how many. On a
 * single server one call covers everything, atomically. On a cluster each
 * entity (key, account, shard) lives in its own slot and gets its own call with
 * its own idempotency marker, so a retry completes what a failure left out. */
static int groups_of(const tally *t, const tally_event *e, int g[3]) {
    int n = 0;
    if (!tally__is_cluster(t)) {
        g[n++] = G_KEY | G_ACCOUNT | G_SHARD;
        return n;
    }
    g[n++] = G_KEY;
    if (has(e->account)) g[n++] = G_ACCOUNT;
    g[n++] = G_SHARD;
    return n;
}

/* One bucket hash: entity base + suffix, its expiry and its fields; a field is
 * fixed text, or fixed text followed by the model name. */
typedef struct {
    const char *base;
    size_t base_n;
    const text *suffix, *expiry;
    int nfields;
    const text *field[2];
    int with_model[2];
} bucket;

static const text T_TOTAL = TEXT(TALLY_SUFFIX_TOTAL), T_NEVER = TEXT("0"), T_ALL = TEXT(TALLY_FIELD_ENTITY),
                  T_MODEL = TEXT(TALLY_FIELD_MODEL);
static const text T_COUNT[3] = { { "0", 1 }, { "1", 1 }, { "2", 1 } };

/* Fills `a` with the EVALSHA of record.lua for the entities in `mask` of event
 * e at time `at`; with `settle`, the call also gives back the budget
 * reservations held under the event's key and request id. Every allocation is
 * the handle's, reused from call to call. */
static int build(tally *t, const tally_event *e, int64_t at, int settle, int mask, tally_args *a) {
    const tally_config *c = &t->cfg;
    struct hour_cache *h = hour_cache(t, at);
    if (!h) return -1;
    size_t kn = strlen(e->key), mn = strlen(e->model);
    char kb[TALLY_ENTITY_MAX], ab[TALLY_ENTITY_MAX], sb[TALLY_ENTITY_MAX];
    size_t kbn = tally__entity(t, TALLY_ENTITY_KEY, e->key, kn, kb);
    size_t abn = has(e->account) && (mask & G_ACCOUNT)
                     ? tally__entity(t, TALLY_ENTITY_ACCOUNT, e->account, strlen(e->account), ab)
                     : 0;
    size_t sbn = tally__shard_entity(t, tally__shard_of(t, e->key, kn), sb);

    bucket b[13];
    int nb = 0;
#define BUCKET(B, BN, S, X, N, F0, M0, F1, M1) b[nb++] = (bucket){ B, BN, S, X, N, { F0, F1 }, { M0, M1 } }
    if (mask & G_KEY) {
        BUCKET(kb, kbn, &T_TOTAL, &T_NEVER, 2, &T_ALL, 0, &T_MODEL, 1);
        BUCKET(kb, kbn, &h->month, &h->x_month, 2, &T_ALL, 0, &T_MODEL, 1);
        BUCKET(kb, kbn, &h->day, &h->x_day, 2, &T_ALL, 0, &T_MODEL, 1);
        BUCKET(kb, kbn, &h->hours, &h->x_hour, 1, &h->hh, 0, NULL, 0);
    }
    if (abn) {
        BUCKET(ab, abn, &T_TOTAL, &T_NEVER, 1, &T_ALL, 0, NULL, 0);
        BUCKET(ab, abn, &h->month, &h->x_month, 1, &T_ALL, 0, NULL, 0);
        BUCKET(ab, abn, &h->day, &h->x_day, 1, &T_ALL, 0, NULL, 0);
        BUCKET(ab, abn, &h->hours, &h->x_hour, 1, &h->hh, 0, NULL, 0);
    }
    if (mask & G_SHARD) {
        BUCKET(sb, sbn, &T_TOTAL, &T_NEVER, 2, &T_ALL, 0, &T_MODEL, 1);
        BUCKET(sb, sbn, &h->month, &h->x_month, 2, &T_ALL, 0, &T_MODEL, 1);
        BUCKET(sb, sbn, &h->day, &h->x_day, 2, &T_ALL, 0, &T_MODEL, 1);
        BUCKET(sb, sbn, &h->hours, &h->x_hour, 2, &h->hh, 0, &h->hm, 1);
        BUCKET(sb, sbn, &h->minute_key, &h->x_minute, 1, &T_ALL, 0, NULL, 0);
    }
#undef BUCKET
    int nz = mask & G_SHARD ? 9 : 0;
    /* The idempotency marker lives with the first entity of the call. */
    int idem = has(e->request_id);
    const char *ib = mask & G_KEY ? kb : abn ? ab : sb;
    size_t ibn = mask & G_KEY ? kbn : abn ? abn : sbn;
    int64_t slice = at / (c->idempotency_s * 1000);
    char ids[2][32];
    size_t ids_n[2] = { tally__ids_suffix(slice, ids[0]), tally__ids_suffix(slice - 1, ids[1]) };

    int err = tally__args_script(a, TALLY_SCRIPT_RECORD);
    for (int i = 0; i < nb; i++) err |= tally__args_cat(a, b[i].base, b[i].base_n, b[i].suffix->s, b[i].suffix->n);
    for (int i = 0; i < nz; i++) err |= tally__args_cat(a, sb, sbn, h->boards[i].s, h->boards[i].n);
    for (int i = 0; idem && i < 2; i++) err |= tally__args_cat(a, ib, ibn, ids[i], ids_n[i]);
    int held = 0;
    if (settle && (mask & G_KEY)) held++, err |= tally__add_held_keys(a, kb, kbn);
    if (settle && abn) held++, err |= tally__add_held_keys(a, ab, abn);
    tally__args_end_keys(a);
    err |= tally__args_i64(a, at) | tally__args_i64(a, c->max_future_ms);
    err |= tally__args_i64(a, e->input_tokens) | tally__args_i64(a, e->output_tokens);
    err |= tally__args_i64(a, e->cache_create_tokens) | tally__args_i64(a, e->cache_read_tokens);
    err |= tally__args_i64(a, e->cost_nanos);
    err |= tally__args_i64(a, nb) | tally__args_add(a, nz ? "9" : "0", 1);
    unsigned char fp[8];
    if (idem) tally__id_field(e->key, e->request_id, !(mask & G_KEY), fp);
    err |= tally__args_add(a, fp, idem ? 8 : 0);
    /* Ids live in the slice of their event time until (slice + 2) windows; for a
     * late event that is already past, and EXPIREAT in the past deletes the id
     * at once, so a retried import would count twice. Keep them a window from
     * now at least. Without an id: "0", so the call depends on the event only. */
    int64_t id_x = (slice + 2) * c->idempotency_s, min_x = idem ? tally__now_ms() / 1000 + c->idempotency_s : 0;
    err |= tally__args_i64(a, idem ? (id_x > min_x ? id_x : min_x) : 0);
    err |= tally__args_i64(a, held);
    err |= held ? tally__add_reservation_member(a, e->key, e->request_id) : tally__args_str(a, "");
    for (int i = 0; i < nb; i++) {
        err |= tally__args_add(a, b[i].expiry->s, b[i].expiry->n);
        err |= tally__args_add(a, T_COUNT[b[i].nfields].s, 1);
        for (int f = 0; f < b[i].nfields; f++)
            err |= b[i].with_model[f] ? tally__args_cat(a, b[i].field[f]->s, b[i].field[f]->n, e->model, mn)
                                      : tally__args_add(a, b[i].field[f]->s, b[i].field[f]->n);
    }
    if (nz) /* the leaderboards' member and their month and day expiries */
        err |= tally__args_add(a, e->key, kn) | tally__args_add(a, h->x_month.s, h->x_month.n) |
               tally__args_add(a, h->x_day.s, h->x_day.n);
    return err ? -1 : 0;
}

/* Reads record.lua's answer: 1 duplicate, 0 recorded, -1 anything else. */
static int outcome(const redisReply *r) {
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) return -1;
    if (r->len == 9 && memcmp(r->str, "duplicate", 9) == 0) return 1;
    if (r->len == 8 && memcmp(r->str, "recorded", 8) == 0) return 0;
    return -1;
}

/* One event, recorded (and with `settle`, its reservations released): one call,
 * or on a cluster one per entity. It is a duplicate only if every call says so. */
static int record_one(tally *t, const tally_event *ev, int settle, int *duplicate) {
    int rc = tally_event_check(t, ev);
    if (rc != TALLY_OK) return rc;
    if (settle && !has(ev->request_id))
        return tally__fail(t, TALLY_EINVAL, "settling needs the request id of the reservation");
    int64_t at = ev->at_ms == TALLY_AT_NOW ? tally__now_ms() : ev->at_ms;
    int g[3], n = groups_of(t, ev, g), dups = 0;
    for (int i = 0; i < n; i++) {
        if (build(t, ev, at, settle, g[i], &t->args) < 0) return tally__oom(t);
        redisReply *r = tally__eval(t, &t->args);
        if (!r) return t->err;
        int dup = outcome(r);
        freeReplyObject(r);
        if (dup < 0) return tally__fail(t, TALLY_ESCRIPT, "record.lua answered something unexpected");
        dups += dup;
    }
    if (duplicate) *duplicate = dups == n;
    return TALLY_OK;
}

int tally_record(tally *t, const tally_event *ev, int *duplicate) {
    return record_one(t, ev, 0, duplicate);
}

int tally_settle(tally *t, const tally_event *ev, int *duplicate) {
    return record_one(t, ev, 1, duplicate);
}

/* Batch state: the calls of the valid events (each event's calls adjacent), the
 * answers, and the time "now" stands for, fixed once so a rebuilt call (after
 * NOSCRIPT or a redirection) lands in the same buckets. */
typedef struct {
    tally *t;
    const tally_event *ev;
    tally_result *res;
    size_t *event_of;  /* per call: the event */
    unsigned char *mask_of;
    unsigned char *left;  /* per event: calls not yet answered */
    unsigned char *dups;  /* per event: calls answered "duplicate" */
    unsigned char *calls; /* per event: how many calls it has */
    int64_t now_ms;
    size_t first;         /* the first failed event + 1, for the handle's message */
} batch;

/* Copies the handle's message into r->message, cut at a UTF-8 boundary. */
static void keep_message(tally_result *r, const tally *t) {
    size_t n = strlen(t->errmsg);
    if (n >= sizeof r->message)
        for (n = sizeof r->message - 1; n > 0 && ((unsigned char)t->errmsg[n] & 0xC0) == 0x80;) n--;
    memcpy(r->message, t->errmsg, n);
    r->message[n] = '\0';
}

/* Event k failed with `code`; the handle's message says why. */
static void note_failure(batch *b, size_t k, int code) {
    b->res[k].code = code;
    keep_message(&b->res[k], b->t);
    if (!b->first) b->first = k + 1;
}

static int batch_build(void *ctx, size_t i, tally_args *a) {
    batch *b = ctx;
    const tally_event *e = &b->ev[b->event_of[i]];
    return build(b->t, e, e->at_ms == TALLY_AT_NOW ? b->now_ms : e->at_ms, 0, b->mask_of[i], a);
}

static int batch_take(void *ctx, size_t i, redisReply *r) {
    batch *b = ctx;
    size_t k = b->event_of[i];
    tally_result *res = &b->res[k];
    int dup = outcome(r);
    if (dup < 0) {
        note_failure(b, k, r->type == REDIS_REPLY_ERROR
                               ? tally__reply_error(b->t, r)
                               : tally__fail(b->t, TALLY_ESCRIPT, "record.lua answered something unexpected"));
        b->left[k] = 0xff; /* failed: never becomes OK */
        return 0;
    }
    b->dups[k] += (unsigned char)dup;
    if (b->left[k] != 0xff && --b->left[k] == 0) {
        res->code = TALLY_OK;
        res->duplicate = b->dups[k] == b->calls[k];
    }
    return 0;
}

static int scratch_for(tally *t, size_t n, batch *b) {
    record_state *state = state_of(t);
    if (!state) return -1;
    struct batch_scratch *s = &state->batch;
    if (s->events < n || !s->bytes) {
        size_t events = n < 64 ? 64 : n;
        size_t *event_of = realloc(s->event_of, 3 * events * sizeof *event_of);
        if (!event_of) return -1;
        s->event_of = event_of;
        unsigned char *bytes = realloc(s->bytes, 6 * events);
        if (!bytes) return -1;
        s->bytes = bytes;
        s->events = events;
    }
    b->event_of = s->event_of;
    b->mask_of = s->bytes;
    b->left = s->bytes + 3 * n;
    b->dups = b->left + n;
    b->calls = b->dups + n;
    memset(b->left, 0, 3 * n);
    return 0;
}

int tally_record_batch(tally *t, const tally_event *ev, size_t n, tally_result *res) {
    batch b = { t, ev, res, NULL, NULL, NULL, NULL, NULL, tally__now_ms(), 0 };
    if (scratch_for(t, n, &b) < 0) return tally__oom(t);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        res[i].duplicate = 0;
        res[i].message[0] = '\0';
        int rc = tally_event_check(t, &ev[i]);
        if (rc != TALLY_OK) {
            note_failure(&b, i, rc);
            continue;
        }
        int g[3], groups = groups_of(t, &ev[i], g);
        for (int j = 0; j < groups; j++, m++) {
            b.event_of[m] = i;
            b.mask_of[m] = (unsigned char)g[j];
        }
        b.left[i] = b.calls[i] = (unsigned char)groups;
        res[i].code = TALLY_EIO; /* until every call is answered */
    }
    int rc = tally__eval_batch(t, m, batch_build, batch_take, &b);
    if (rc != TALLY_OK) {
        for (size_t k = 0; k < n; k++) /* unanswered: the connection's error */
            if (res[k].code == TALLY_EIO) {
                res[k].code = rc;
                keep_message(&res[k], t);
            }
        return rc;
    }
    if (b.first) tally__fail(t, res[b.first - 1].code, "event %zu: %s", b.first, res[b.first - 1].message);
    return TALLY_OK;
}
