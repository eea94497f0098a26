/* exec.c -- running the scripts: EVALSHA routed to the node serving its keys,
 * for single calls, pipelined batches and calls split by slot
 * (tally__eval_keyed), and the public SCRIPT commands and WAIT over every
 * node.
 *
 * Recovery rule: NOSCRIPT guarantees the script did not run, so the call is sent
 * again after loading; MOVED, ASK, TRYAGAIN and CLUSTERDOWN likewise. A timeout
 * or I/O error does not: the script may have run, so the error goes to the
 * caller and nothing is retried here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "evict.h"
#include "exec.h"
#include "node.h"
#include "scripts.h"

#define BATCH_CHUNK 512 /* calls in flight per round trip */
#define MAX_TRIES 12

/* The public SCRIPT commands: one call, one deadline, every node. */
static int load_all(tally *t) {
    if (tally__cluster_sync(t) != TALLY_OK) return t->err;
    for (int i = 0; i < t->nodes->n; i++) {
        int rc = tally__node_connect(t, i);
        if (rc == TALLY_OK) rc = tally__scripts_load_on(t, i);
        if (rc != TALLY_OK) return rc;
    }
    return tally__ok(t);
}

int tally_scripts_load(tally *t) {
    tally__io_begin(t);
    int rc = load_all(t);
    tally__io_end(t);
    return rc;
}

int tally_scripts_exists(tally *t, int *loaded) {
    int here[TALLY_SCRIPT_COUNT_], rc = TALLY_OK;
    for (int k = 0; k < TALLY_SCRIPT_COUNT_; k++) loaded[k] = 1;
    tally__io_begin(t);
    for (int i = 0; i < t->nodes->n && rc == TALLY_OK; i++) {
        rc = tally_scripts_exists_on(t, i, here);
        for (int k = 0; rc == TALLY_OK && k < TALLY_SCRIPT_COUNT_; k++) loaded[k] &= here[k];
    }
    tally__io_end(t);
    return rc;
}

int tally_scripts_flush(tally *t) {
    int rc = TALLY_OK;
    tally__io_begin(t);
    for (int i = 0; i < t->nodes->n && rc == TALLY_OK; i++) rc = tally__scripts_flush_on(t, i);
    if (rc == TALLY_OK) rc = load_all(t);
    tally__io_end(t);
    return rc;
}

/* WAIT on every primary this handle wrote to, each within its own command
 * deadline. */
int tally_wait_replicas(tally *t, int replicas, int timeout_ms, int *acked) {
    int budget = t->cfg.command_timeout_ms;
    if (replicas < 1 || timeout_ms < 0 || (budget > 0 && (timeout_ms == 0 || timeout_ms >= budget)))
        return tally__fail(t, TALLY_EINVAL,
                           "tally_wait_replicas: replicas must be at least 1 and timeout_ms from 1 to below the "
                           "command timeout (%d ms; 0 waits for ever only without one)", budget);
    long long fewest = -1;
    for (int i = 0; i < t->nodes->n; i++) {
        if (t->nodes->v[i].replica || !t->nodes->v[i].wrote) continue;
        tally__args_reset(&t->aux);
        if (tally__args_str(&t->aux, "WAIT") || tally__args_i64(&t->aux, replicas) ||
            tally__args_i64(&t->aux, timeout_ms))
            return tally__oom(t);
        redisReply *r = tally__node_command(t, i, &t->aux);
        if (!r) return t->err;
        int rc = r->type == REDIS_REPLY_INTEGER ? TALLY_OK : tally__reply_error(t, r);
        if (rc == TALLY_OK && (fewest < 0 || r->integer < fewest)) fewest = r->integer;
        freeReplyObject(r);
        if (rc != TALLY_OK) return rc;
    }
    if (acked) *acked = fewest < 0 ? replicas : (int)fewest; /* nothing written: nothing to wait for */
    if (fewest >= 0 && fewest < replicas)
        return tally__fail(t, TALLY_ETIMEOUT, "WAIT: a primary had %lld of %d replicas acknowledge within %d ms",
                           fewest, replicas, timeout_ms);
    return tally__ok(t);
}

enum { USE = TALLY_REPLY_USE, RELOAD = TALLY_REPLY_RELOAD, MOVED = TALLY_REPLY_MOVED, ASK = TALLY_REPLY_ASK,
       WAIT = TALLY_REPLY_WAIT };

int tally__eval_next(tally *t, const redisReply *r, int *target) {
    int kind = tally__reply_kind(r);
    if (kind != MOVED && kind != ASK) return kind;
    switch (tally__redirect(t, r, target)) {
    case 1: return MOVED;
    case 2: return ASK;
    default: return USE;
    }
}

/* 1 when reply r says that replica i cannot serve reads now (loading its
 * data, or cut off from its primary): i then rests, and the read goes to the
 * primary. */
static int replica_unready(tally *t, const redisReply *r, int i) {
    if (r->type != REDIS_REPLY_ERROR || !t->nodes->v[i].replica) return 0;
    if (!tally__reply_is(r, "LOADING") && !tally__reply_is(r, "MASTERDOWN")) return 0;
    tally__node_rest(t, i);
    return 1;
}

/* Sends `a` to node i, after ASKING when `asking` (an ASK redirection), once
 * the eviction gate lets it (nothing else is queued on node i here). */
static redisReply *send_call(tally *t, int i, tally_args *a, int asking) {
    if (tally__scripts_ready(t, i) != TALLY_OK || tally__evict_gate(t, i, a, 1) != TALLY_OK) return NULL;
    static const char asking_cmd[] = "*1\r\n$6\r\nASKING\r\n";
    if ((asking && tally__node_send(t, i, asking_cmd, sizeof asking_cmd - 1) != TALLY_OK) ||
        tally__node_send_call(t, i, a) != TALLY_OK)
        return NULL;
    if (asking) {
        redisReply *ok = tally__node_reply(t, i, "following an ASK redirection");
        if (!ok) return NULL;
        freeReplyObject(ok);
    }
    char doing[40];
    tally__args_doing(a, doing, sizeof doing);
    return tally__node_reply(t, i, asking ? "following an ASK redirection" : doing);
}

/* 1 when call `a`, whose connection to node i just failed, may be sent again
 * to another node: a read (EVALSHA_RO) that a replica was serving. */
static int read_elsewhere(tally *t, const tally_args *a, int i) {
    return i >= 0 && t->nodes->v[i].replica && tally__args_is_ro(a) && (t->err == TALLY_EIO || t->err == TALLY_ECONNECT);
}

/* tally__eval_raw's retries, inside the call's deadline. */
static redisReply *eval_call(tally *t, tally_args *a) {
    int ask_node = -1, moved_node = -1;
    for (int attempt = 0; attempt < MAX_TRIES; attempt++) {
        /* A redirection names the node to try next; it outranks a slot map read
         * from a node that may not know of the failover yet. */
        int node = ask_node >= 0 ? ask_node : moved_node >= 0 ? moved_node : tally__route(t, a, 1);
        if (node < 0) return NULL;
        redisReply *r = send_call(t, node, a, ask_node >= 0);
        ask_node = moved_node = -1;
        if (!r) {
            /* A connection that failed before anything was sent is safe to
             * redo; so is a read whose replica failed (it wrote nothing): the
             * replica now rests, and the read goes to the primary. */
            if ((t->err == TALLY_ECONNECT && tally__is_cluster(t)) || read_elsewhere(t, a, node)) continue;
            return NULL;
        }
        int target = -1;
        tally__evict_note(t, node, r);
        if (tally__args_is_ro(a) && replica_unready(t, r, node)) {
            freeReplyObject(r);
            continue;
        }
        switch (tally__eval_next(t, r, &target)) {
        case USE:
            return r;
        case RELOAD: /* the script did not run */
            freeReplyObject(r);
            if (tally__scripts_load_on(t, node) != TALLY_OK) return NULL;
            break;
        case ASK:
            ask_node = target;
            freeReplyObject(r);
            break;
        case MOVED:
            moved_node = target;
            freeReplyObject(r);
            break;
        case WAIT: { /* resharding or failover under way: back off, then look again */
            struct timespec ts = { 0, (long)(25000000L << (attempt < 5 ? attempt : 5)) };
            freeReplyObject(r);
            tally__cluster_unsettled(t);
            nanosleep(&ts, NULL);
            break;
        }
        }
    }
    tally__fail(t, TALLY_EREDIS, "gave up after %d redirections or retries", MAX_TRIES);
    return NULL;
}

redisReply *tally__eval_raw(tally *t, tally_args *a) {
    tally__io_begin(t);
    redisReply *r = eval_call(t, a);
    tally__io_end(t);
    return r;
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

/* Keeps the first failure of a chunk: its code, which was set with the
 * handle's message that goes with it (the argument is evaluated first). */
static void first_failure(tally *t, int *rc, char *first, int code) {
    if (*rc != TALLY_OK) return;
    *rc = code;
    snprintf(first, TALLY_ERRMSG_MAX, "%s", t->errmsg);
}

/* One chunk of a batch: every call is queued on the connection of the node
 * that serves it, then the replies are read back in order (each connection
 * answers in the order it was sent). Calls that need a redirection, a reload or
 * a wait are redone one by one through tally__eval_raw. Returns TALLY_OK, or the
 * first connection error (calls on the other nodes are still taken). */
static int run_chunk(tally *t, size_t start, size_t m, tally_build_fn build, tally_take_fn take, void *ctx) {
    int node_of[BATCH_CHUNK], redo[BATCH_CHUNK], nredo = 0, rc = TALLY_OK;
    char replica_read[BATCH_CHUNK]; /* the call is a read a replica serves */
    char first[TALLY_ERRMSG_MAX]; /* later successes (a reconnect) clear errmsg */
    tally_args *a = &t->args;
    if (tally__cluster_sync(t) != TALLY_OK) return t->err;
    for (size_t k = 0; k < m; k++) {
        if (build(ctx, start + k, a) != 0) return tally__oom(t);
        node_of[k] = tally__route(t, a, 0);
        replica_read[k] = (char)(node_of[k] >= 0 && t->nodes->v[node_of[k]].replica && tally__args_is_ro(a));
        if (node_of[k] >= 0 && tally__scripts_ready(t, node_of[k]) != TALLY_OK) node_of[k] = -1;
        if (node_of[k] < 0) {
            /* not sent: the caller sees it unanswered, or a replica's read is redone */
            if (!replica_read[k]) first_failure(t, &rc, first, t->err);
            continue;
        }
        if (tally__node_send_call(t, node_of[k], a) != TALLY_OK) return t->err;
    }
    for (size_t k = 0; k < m; k++) {
        int i = node_of[k], target;
        int gone = i < 0 || !t->nodes->v[i].ctx; /* not sent, or that node failed earlier in this chunk */
        redisReply *r = gone ? NULL : tally__node_reply(t, i, "running a pipelined batch");
        if (!r && replica_read[k]) { /* the replica failed: the read goes to the primary */
            redo[nredo++] = (int)k;
            continue;
        }
        if (gone) continue;
        if (!r) {
            first_failure(t, &rc, first, t->err);
            continue;
        }
        if ((replica_read[k] && replica_unready(t, r, i)) || tally__eval_next(t, r, &target) != USE)
            redo[nredo++] = (int)k;
        else if (take(ctx, start + k, r)) continue;
        freeReplyObject(r);
    }
    for (int j = 0; j < nredo; j++) {
        if (build(ctx, start + (size_t)redo[j], a) != 0) return tally__oom(t);
        redisReply *r = tally__eval_raw(t, a);
        if (!r) {
            first_failure(t, &rc, first, t->err);
            continue;
        }
        if (!take(ctx, start + (size_t)redo[j], r)) freeReplyObject(r);
    }
    return rc == TALLY_OK ? TALLY_OK : tally__fail(t, rc, "%s", first);
}

int tally__eval_batch(tally *t, size_t n, tally_build_fn build, tally_take_fn take, void *ctx) {
    int rc = TALLY_OK;
    for (size_t start = 0; start < n; start += BATCH_CHUNK) {
        tally__io_begin(t); /* a deadline per round trip */
        int got = run_chunk(t, start, n - start < BATCH_CHUNK ? n - start : BATCH_CHUNK, build, take, ctx);
        tally__io_end(t);
        if (got != TALLY_OK && rc == TALLY_OK) rc = got;
    }
    return rc == TALLY_OK ? tally__ok(t) : rc;
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
    tally_keyed *out;
    int failed, failed_code;  /* calls that failed; the first one's code and message */
    char failed_msg[TALLY_ERRMSG_MAX];
} keyed;

static int keyed_build(void *ctx, size_t g, tally_args *a) {
    keyed *k = ctx;
    const tally_args *s = &k->src;
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
    return err;
}

static int keyed_take(void *ctx, size_t g, redisReply *r) {
    keyed *k = ctx;
    int from = k->group_start[g], to = k->group_start[g + 1];
    if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)(to - from)) {
        if (!k->failed++) { /* kept: the batch's own success would clear the handle's error */
            k->failed_code = r->type == REDIS_REPLY_ERROR ? tally__reply_error(k->t, r)
                                                          : tally__fail(k->t, TALLY_ESCRIPT, "a script answered something unexpected");
            snprintf(k->failed_msg, sizeof k->failed_msg, "%s", k->t->errmsg);
        }
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
                (int *)chunk, malloc((size_t)nkeys * sizeof(int)), malloc(((size_t)nkeys + 1) * sizeof(int)), out, 0, 0,
                "" };
    int rc = TALLY_OK;
    tally__args_reset(&k.src);
    for (int i = 0; i < a->argc && rc == TALLY_OK; i++)
        if (tally__args_add(&k.src, a->buf + a->off[i], a->lens[i])) rc = tally__oom(t);
    if (!k.order || !k.pairs || !k.chunk_at || !k.group_start) rc = tally__oom(t);
    size_t ngroups = 0;
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
            if (j == 0 || k.pairs[j].slot != k.pairs[j - 1].slot) k.group_start[ngroups++] = j;
        }
        k.group_start[ngroups] = nkeys;
        tally__io_begin(t); /* the slots' calls share the call's deadline */
        rc = tally__eval_batch(t, ngroups, keyed_build, keyed_take, &k);
        tally__io_end(t);
        if (rc == TALLY_OK && k.failed) rc = tally__fail(t, k.failed_code, "%s", k.failed_msg);
        for (int i = 0; rc == TALLY_OK && i < nkeys; i++) /* every key answered, or the read failed */
            if (!out->per_key[i]) rc = tally__fail(t, TALLY_EIO, "no answer for a key of the read");
    }
    tally__args_free(&k.src);
    free(k.order), free(k.pairs), free(k.chunk_at), free(k.group_start);
    if (rc != TALLY_OK) tally__keyed_free(out);
    return rc;
}
