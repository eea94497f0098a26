/* exec.c -- the script calls the features make, each a window of calls in
 * flight (window.c, where NOSCRIPT, redirections, TRYAGAIN and failed
 * replicas are recovered from): one call (tally__eval, a window of one), and
 * one call split by slot (tally__eval_keyed, a window of one call per slot). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "exec.h"
#include "node.h"
#include "window.h"

#define KEYED_WINDOW 512 /* per-slot calls in flight */

/* A window of one: the call is built once, in the caller's arguments, which
 * nothing else touches, so rebuilding it is nothing to do. */
typedef struct {
    redisReply *reply;
    int sent;
} one;

static int one_next(void *ctx, int idle, size_t *id) {
    one *o = ctx;
    (void)idle;
    *id = 0;
    return o->sent ? 0 : (o->sent = 1);
}

static int one_rebuild(void *ctx, size_t id) {
    (void)ctx, (void)id;
    return 0;
}

static int one_take(void *ctx, size_t id, redisReply *r) {
    (void)id;
    ((one *)ctx)->reply = r;
    return 1;
}

static void one_lost(void *ctx, size_t id, int code) {
    (void)ctx, (void)id, (void)code; /* the handle's error says why */
}

redisReply *tally__eval_raw(tally *t, tally_args *a) {
    one o = { NULL, 0 };
    tally_window mem = { { 0 }, { 0 }, { 0 } };
    const tally_window_ops ops = { &o, one_next, one_rebuild, one_take, one_lost };
    tally__io_begin(t);
    int rc = tally__window_send(t, a, 1, NULL, &ops, &mem);
    tally__io_end(t);
    tally__window_free(&mem);
    if (rc < 0) {
        if (o.reply) freeReplyObject(o.reply);
        tally__oom(t);
        return NULL;
    }
    return o.reply;
}

redisReply *tally__eval(tally *t, tally_args *a) {
    redisReply *r = tally__eval_raw(t, a);
    if (!r) return NULL;
    if (r->type == REDIS_REPLY_ERROR) {
        tally__reply_error(t, r);
        freeReplyObject(r);
        return NULL;
    }
    tally__ok(t);
    return r;
}

typedef struct {
    unsigned slot;
    int key;
} slot_key;

static int by_slot(const void *x, const void *y) {
    const slot_key *a = x, *b = y;
    if (a->slot != b->slot) return a->slot < b->slot ? -1 : 1;
    return a->key - b->key;
}

/* The per-slot calls of tally__eval_keyed: keys sorted by slot, and where each
 * key's chunk starts in the original call. */
typedef struct {
    tally *t;
    tally_args src;       /* copy of the original call */
    int ncommon, nkeys;
    int *order;           /* key indices sorted by slot */
    slot_key *pairs;
    int *chunk, *chunk_at;
    int *group_start;     /* per call: first position in order; one past: next */
    size_t ngroups, next; /* calls; the next to build */
    tally_keyed *out;
    int failed, failed_code;  /* calls that failed; the first one's code and message */
    char failed_msg[TALLY_ERRMSG_MAX];
} keyed;

/* Builds the call of slot group g into t->args. 0 or -1 (OOM). */
static int keyed_build(void *ctx, size_t g) {
    keyed *k = ctx;
    const tally_args *s = &k->src;
    tally_args *a = &k->t->args;
    int from = k->group_start[g], to = k->group_start[g + 1], err = 0;
    err |= tally__args_evalsha(a, tally__args_is_ro(s) ? "EVALSHA_RO" : "EVALSHA", s->buf + s->off[1]);
    for (int j = from; j < to; j++) err |= tally__args_add(a, s->buf + s->off[3 + k->order[j]], s->lens[3 + k->order[j]]);
    tally__args_end_keys(a);
    for (int c = 0; c < k->ncommon; c++) err |= tally__args_add(a, s->buf + s->off[3 + k->nkeys + c], s->lens[3 + k->nkeys + c]);
    for (int j = from; j < to; j++)
        for (int c = 0; c < k->chunk[k->order[j]]; c++) {
            int at = k->chunk_at[k->order[j]] + c;
            err |= tally__args_add(a, s->buf + s->off[at], s->lens[at]);
        }
    return err ? -1 : 0;
}

static int keyed_next(void *ctx, int idle, size_t *g) {
    keyed *k = ctx;
    (void)idle;
    if (k->next == k->ngroups) return 0;
    *g = k->next++;
    return keyed_build(ctx, *g) < 0 ? -1 : 1;
}

/* Keeps the first failure, with its message (a later call's success would
 * clear the handle's). */
static void keyed_lost(void *ctx, size_t g, int code) {
    keyed *k = ctx;
    (void)g;
    if (!k->failed++) {
        k->failed_code = code;
        snprintf(k->failed_msg, sizeof k->failed_msg, "%s", k->t->errmsg);
    }
}

static int keyed_take(void *ctx, size_t g, redisReply *r) {
    keyed *k = ctx;
    int from = k->group_start[g], to = k->group_start[g + 1];
    if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)(to - from)) {
        keyed_lost(ctx, g, r->type == REDIS_REPLY_ERROR ? tally__reply_error(k->t, r)
                                                        : tally__fail(k->t, TALLY_ESCRIPT, "a script answered something unexpected"));
        return 0;
    }
    for (int j = from; j < to; j++) k->out->per_key[k->order[j]] = r->element[j - from];
    k->out->owned[k->out->nowned++] = r;
    return 1;
}

void tally__keyed_free(tally_keyed *k) {
    for (size_t i = 0; i < k->nowned; i++) freeReplyObject(k->owned[i]);
    free(k->owned);
    free(k->per_key);
    memset(k, 0, sizeof *k);
}

int tally__eval_keyed(tally *t, tally_args *a, int ncommon, const int *chunk, tally_keyed *out) {
    int nkeys = a->nkeys_at - 3;
    memset(out, 0, sizeof *out);
    out->per_key = calloc((size_t)nkeys + 1, sizeof *out->per_key);
    out->owned = calloc((size_t)nkeys + 1, sizeof *out->owned);
    if (!out->per_key || !out->owned) {
        tally__keyed_free(out);
        return tally__oom(t);
    }
    if (!tally__is_cluster(t)) {
        redisReply *r = tally__eval(t, a);
        if (!r) {
            tally__keyed_free(out);
            return t->err;
        }
        out->owned[out->nowned++] = r;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)nkeys) {
            tally__keyed_free(out);
            return tally__fail(t, TALLY_ESCRIPT, "a script answered something unexpected");
        }
        for (int i = 0; i < nkeys; i++) out->per_key[i] = r->element[i];
        return TALLY_OK;
    }
    keyed k = { t, { 0 }, ncommon, nkeys, malloc((size_t)nkeys * sizeof(int)), malloc((size_t)nkeys * sizeof(slot_key)),
                (int *)chunk, malloc((size_t)nkeys * sizeof(int)), malloc(((size_t)nkeys + 1) * sizeof(int)), 0, 0, out,
                0, 0, "" };
    int rc = TALLY_OK;
    tally__args_reset(&k.src);
    for (int i = 0; i < a->argc && rc == TALLY_OK; i++)
        if (tally__args_add(&k.src, a->buf + a->off[i], a->lens[i])) rc = tally__oom(t);
    if (!k.order || !k.pairs || !k.chunk_at || !k.group_start) rc = tally__oom(t);
    if (rc == TALLY_OK) {
        int at = 3 + nkeys + ncommon;
        for (int i = 0; i < nkeys; i++) {
            k.pairs[i] = (slot_key){ tally__key_slot(a->buf + a->off[3 + i], a->lens[3 + i]), i };
            k.chunk_at[i] = at;
            at += chunk[i];
        }
        qsort(k.pairs, (size_t)nkeys, sizeof *k.pairs, by_slot);
        for (int j = 0; j < nkeys; j++) {
            k.order[j] = k.pairs[j].key;
            if (j == 0 || k.pairs[j].slot != k.pairs[j - 1].slot) k.group_start[k.ngroups++] = j;
        }
        k.group_start[k.ngroups] = nkeys;
        tally_window mem = { { 0 }, { 0 }, { 0 } };
        const tally_window_ops ops = { &k, keyed_next, keyed_build, keyed_take, keyed_lost };
        tally__io_begin(t); /* the slots' calls share the call's deadline */
        if (tally__window_send(t, &t->args, KEYED_WINDOW, "running a pipelined batch", &ops, &mem) < 0)
            rc = tally__oom(t);
        tally__io_end(t);
        tally__window_free(&mem);
        if (rc == TALLY_OK && k.failed) rc = tally__fail(t, k.failed_code, "%s", k.failed_msg);
        for (int i = 0; rc == TALLY_OK && i < nkeys; i++) /* every key answered, or the read failed */
            if (!out->per_key[i]) rc = tally__fail(t, TALLY_EIO, "no answer for a key of the read");
        if (rc == TALLY_OK) tally__ok(t); /* a replica's failure the read recovered from is no error */
    }
    tally__args_free(&k.src);
    free(k.order), free(k.pairs), free(k.chunk_at), free(k.group_start);
    if (rc != TALLY_OK) tally__keyed_free(out);
    return rc;
}
