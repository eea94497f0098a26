/* scripts.c -- the embedded scripts and their life in Redis: SCRIPT LOAD with SHA
 * checks, SCRIPT EXISTS, SCRIPT FLUSH (on every node), and EVALSHA routed to the
 * node serving its keys, for single calls, pipelined batches and calls split by
 * slot (tally__eval_keyed).
 *
 * Recovery rule: NOSCRIPT guarantees the script did not run, so the call is sent
 * again after loading; MOVED, ASK, TRYAGAIN and CLUSTERDOWN likewise. A timeout
 * or I/O error does not: the script may have run, so the error goes to the
 * caller and nothing is retried here. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define BATCH_CHUNK 512 /* calls in flight per round trip */

int tally_script_count(void) { return TALLY_SCRIPT_COUNT_; }

const tally_script_info *tally_script_at(int i) {
    return i >= 0 && i < TALLY_SCRIPT_COUNT_ ? &tally__scripts[i] : NULL;
}

const tally_script_info *tally_script_find(const char *name) {
    for (int i = 0; i < TALLY_SCRIPT_COUNT_; i++)
        if (strcmp(tally__scripts[i].name, name) == 0) return &tally__scripts[i];
    return NULL;
}

static int starts_with(const redisReply *r, const char *word) {
    size_t n = strlen(word);
    return r->type == REDIS_REPLY_ERROR && r->len >= n && memcmp(r->str, word, n) == 0;
}

int tally__script_error(tally *t, const redisReply *r) {
    if (starts_with(r, "LOADING")) /* the command did not run: not reachable yet */
        return tally__fail(t, TALLY_ECONNECT, "server not ready: %s", r->str);
    if (starts_with(r, "EINVAL "))
        return tally__fail(t, TALLY_EINVAL, "%s", r->str[7] ? r->str + 7 : "invalid argument (empty message)");
    if (starts_with(r, "NOAUTH") || starts_with(r, "NOPERM") || starts_with(r, "WRONGPASS"))
        return tally__fail(t, TALLY_EAUTH, "%s", r->str);
    if (r->type == REDIS_REPLY_ERROR) /* never an empty message, whatever the server sent */
        return tally__fail(t, TALLY_EREDIS, "%s", r->str && r->str[0] ? r->str : "Redis error (empty message)");
    return tally__fail(t, TALLY_ESCRIPT, "unexpected reply of type %d", r->type);
}

static int load_scripts(tally *t, int i);

int tally__load_scripts_on(tally *t, int i) {
    tally_pipe_guard g;
    tally__pipe_guard_on(&g);
    int rc = load_scripts(t, i);
    tally__pipe_guard_off(&g);
    return rc;
}

static int load_scripts(tally *t, int i) {
    redisContext *ctx = t->nodes[i].ctx;
    for (int k = 0; k < TALLY_SCRIPT_COUNT_; k++)
        if (redisAppendCommand(ctx, "SCRIPT LOAD %b", tally__scripts[k].source, tally__scripts[k].length) != REDIS_OK)
            return tally__oom(t);
    /* Read every reply even after a failure, so the connection stays in step. */
    int rc = TALLY_OK;
    char at[300];
    tally__node_addr(t, i, at, sizeof at);
    for (int k = 0; k < TALLY_SCRIPT_COUNT_; k++) {
        redisReply *r;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK) return tally__io_failed(t, &t->nodes[i], "loading scripts");
        const tally_script_info *s = &tally__scripts[k];
        if (rc != TALLY_OK) {
            /* keep the first error */
        } else if (r->type == REDIS_REPLY_ERROR) {
            rc = starts_with(r, "NOAUTH") || starts_with(r, "NOPERM")
                     ? tally__fail(t, TALLY_EAUTH, "%s: loading script '%s' refused: %s", at, s->name, r->str)
                 : starts_with(r, "LOADING")
                     ? tally__fail(t, TALLY_ECONNECT, "%s: server not ready: %s", at, r->str)
                     : tally__fail(t, TALLY_ESCRIPT, "%s: loading script '%s' failed: %s", at, s->name, r->str);
        } else if (r->type != REDIS_REPLY_STRING || r->len != 40 || memcmp(r->str, s->sha1, 40) != 0) {
            rc = tally__fail(t, TALLY_ESCRIPT, "%s: script '%s': server answered SHA %.40s, the build has %s", at,
                             s->name, r->type == REDIS_REPLY_STRING ? r->str : "?", s->sha1);
        }
        freeReplyObject(r);
    }
    return rc;
}

/* Connects node i and makes sure the scripts are loaded there. */
static int load_on(tally *t, int i) {
    int was_connected = t->nodes[i].ctx != NULL;
    int rc = tally__connect_node(t, i); /* loads, unless loading is deferred */
    if (rc == TALLY_OK && (was_connected || t->cfg.defer_script_load)) rc = tally__load_scripts_on(t, i);
    return rc;
}

int tally_scripts_load(tally *t) {
    if (t->slots && t->map_stale && tally__cluster_refresh(t) != TALLY_OK) return t->err;
    for (int i = 0; i < t->nnodes; i++) {
        int rc = load_on(t, i);
        if (rc != TALLY_OK) return rc;
    }
    return tally__ok(t);
}

/* Runs one command built in t->aux on node i and checks for an error reply. */
static redisReply *aux_command(tally *t, int i) {
    redisReply *r = tally__command_on(t, i, &t->aux);
    if (r && r->type == REDIS_REPLY_ERROR) {
        tally__script_error(t, r);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

int tally_scripts_exists_on(tally *t, int node, int *loaded) {
    if (node < 0 || node >= t->nnodes) return tally__fail(t, TALLY_EINVAL, "no node %d", node);
    tally_args *a = &t->aux;
    tally__args_reset(a);
    if (tally__args_str(a, "SCRIPT") < 0 || tally__args_str(a, "EXISTS") < 0) return tally__oom(t);
    for (int i = 0; i < TALLY_SCRIPT_COUNT_; i++)
        if (tally__args_str(a, tally__scripts[i].sha1) < 0) return tally__oom(t);
    redisReply *r = aux_command(t, node);
    if (!r) return t->err;
    int rc = TALLY_OK;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != TALLY_SCRIPT_COUNT_) {
        rc = tally__fail(t, TALLY_ESCRIPT, "odd SCRIPT EXISTS reply");
    } else {
        for (int i = 0; i < TALLY_SCRIPT_COUNT_; i++)
            loaded[i] = r->element[i]->type == REDIS_REPLY_INTEGER && r->element[i]->integer == 1;
    }
    freeReplyObject(r);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

int tally_scripts_exists(tally *t, int *loaded) {
    int here[TALLY_SCRIPT_COUNT_];
    for (int k = 0; k < TALLY_SCRIPT_COUNT_; k++) loaded[k] = 1;
    for (int i = 0; i < t->nnodes; i++) {
        int rc = tally_scripts_exists_on(t, i, here);
        if (rc != TALLY_OK) return rc;
        for (int k = 0; k < TALLY_SCRIPT_COUNT_; k++) loaded[k] &= here[k];
    }
    return TALLY_OK;
}

int tally_scripts_flush(tally *t) {
    for (int i = 0; i < t->nnodes; i++) {
        tally__args_reset(&t->aux);
        if (tally__args_str(&t->aux, "SCRIPT") < 0 || tally__args_str(&t->aux, "FLUSH") < 0) return tally__oom(t);
        redisReply *r = aux_command(t, i);
        if (!r) return t->err;
        freeReplyObject(r);
    }
    return tally_scripts_load(t);
}

enum { USE = TALLY_REPLY_USE, RELOAD = TALLY_REPLY_RELOAD, MOVED = TALLY_REPLY_MOVED, ASK = TALLY_REPLY_ASK,
       WAIT = TALLY_REPLY_WAIT };

int tally__reply_kind(tally *t, const redisReply *r, int *target) {
    if (r->type != REDIS_REPLY_ERROR) return USE;
    if (starts_with(r, "NOSCRIPT")) return RELOAD;
    if (starts_with(r, "TRYAGAIN") || starts_with(r, "CLUSTERDOWN")) return WAIT;
    switch (tally__redirect(t, r, target)) {
    case 1: return MOVED;
    case 2: return ASK;
    default: return USE;
    }
}

static redisReply *asking_io(tally *t, int i, tally_args *a);

/* Sends `a` to node i after ASKING (an ASK redirection). */
static redisReply *asking(tally *t, int i, tally_args *a) {
    tally_pipe_guard g;
    tally__pipe_guard_on(&g);
    redisReply *r = asking_io(t, i, a);
    tally__pipe_guard_off(&g);
    return r;
}

static redisReply *asking_io(tally *t, int i, tally_args *a) {
    if (tally__connect_node(t, i) != TALLY_OK) return NULL;
    redisContext *ctx = t->nodes[i].ctx;
    redisReply *ok = NULL, *r = NULL;
    size_t len;
    const char *cmd = tally__args_resp(a, &len);
    if (redisAppendCommand(ctx, "ASKING") != REDIS_OK || redisAppendFormattedCommand(ctx, cmd, len) != REDIS_OK) {
        tally__oom(t);
        return NULL;
    }
    if (redisGetReply(ctx, (void **)&ok) != REDIS_OK || redisGetReply(ctx, (void **)&r) != REDIS_OK) {
        if (ok) freeReplyObject(ok);
        tally__io_failed(t, &t->nodes[i], "following an ASK redirection");
        return NULL;
    }
    freeReplyObject(ok);
    return r;
}

#define MAX_TRIES 12

redisReply *tally__eval_raw(tally *t, tally_args *a) {
    int ask_node = -1, moved_node = -1;
    for (int attempt = 0; attempt < MAX_TRIES; attempt++) {
        /* A redirection names the node to try next; it outranks a slot map read
         * from a node that may not know of the failover yet. */
        int node = ask_node >= 0 ? ask_node : moved_node >= 0 ? moved_node : tally__route(t, a, 1);
        if (node < 0) return NULL;
        redisReply *r = ask_node >= 0 ? asking(t, node, a) : tally__command_on(t, node, a);
        ask_node = moved_node = -1;
        if (!r) {
            /* A connection that failed before anything was sent is safe to redo. */
            if (t->err == TALLY_ECONNECT && t->slots) continue;
            return NULL;
        }
        int target = -1;
        switch (tally__reply_kind(t, r, &target)) {
        case USE:
            return r;
        case RELOAD: /* the script did not run */
            freeReplyObject(r);
            if (tally__load_scripts_on(t, node) != TALLY_OK) return NULL;
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
            if (t->slots) t->map_stale = 1;
            nanosleep(&ts, NULL);
            break;
        }
        }
    }
    tally__fail(t, TALLY_EREDIS, "gave up after %d redirections or retries", MAX_TRIES);
    return NULL;
}

redisReply *tally__eval(tally *t, tally_args *a) {
    redisReply *r = tally__eval_raw(t, a);
    if (!r) return NULL;
    if (r->type == REDIS_REPLY_ERROR) {
        tally__script_error(t, r);
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

/* One chunk of a batch: every call is appended to the connection of the node
 * that serves it, then the replies are read back in order (each connection
 * answers in the order it was sent). Calls that need a redirection, a reload or
 * a wait are redone one by one through tally__eval_raw. Returns TALLY_OK, or the
 * first connection error (calls on the other nodes are still taken). */
static int run_chunk(tally *t, size_t start, size_t m, tally_build_fn build, tally_take_fn take, void *ctx) {
    int node_of[BATCH_CHUNK], redo[BATCH_CHUNK], nredo = 0, rc = TALLY_OK;
    char first[TALLY_ERRMSG_MAX]; /* later successes (a reconnect) clear errmsg */
    tally_args *a = &t->args;
    if (t->slots && t->map_stale && tally__cluster_refresh(t) != TALLY_OK) return t->err;
    for (size_t k = 0; k < m; k++) {
        if (build(ctx, start + k, a) != 0) return tally__oom(t);
        node_of[k] = tally__route(t, a, 0);
        if (node_of[k] < 0) {
            first_failure(t, &rc, first, t->err); /* not sent; the caller sees it unanswered */
            continue;
        }
        size_t len;
        const char *cmd = tally__args_resp(a, &len);
        if (redisAppendFormattedCommand(t->nodes[node_of[k]].ctx, cmd, len) != REDIS_OK) return tally__oom(t);
    }
    for (size_t k = 0; k < m; k++) {
        int i = node_of[k], target;
        redisReply *r;
        if (i < 0 || !t->nodes[i].ctx) continue; /* that node failed earlier in this chunk */
        if (redisGetReply(t->nodes[i].ctx, (void **)&r) != REDIS_OK) {
            first_failure(t, &rc, first, tally__io_failed(t, &t->nodes[i], "running a pipelined batch"));
            continue;
        }
        if (tally__reply_kind(t, r, &target) != USE) redo[nredo++] = (int)k;
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
    tally_pipe_guard g;
    tally__pipe_guard_on(&g);
    for (size_t start = 0; start < n; start += BATCH_CHUNK) {
        int got = run_chunk(t, start, n - start < BATCH_CHUNK ? n - start : BATCH_CHUNK, build, take, ctx);
        if (got != TALLY_OK && rc == TALLY_OK) rc = got;
    }
    tally__pipe_guard_off(&g);
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
    int failed;
} keyed;

static int keyed_build(void *ctx, size_t g, tally_args *a) {
    keyed *k = ctx;
    const tally_args *s = &k->src;
    int from = k->group_start[g], to = k->group_start[g + 1], err = 0;
    err |= tally__args_evalsha(a, s->buf + s->off[1]);
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
        if (!k->failed++) {
            if (r->type == REDIS_REPLY_ERROR) tally__script_error(k->t, r);
            else tally__fail(k->t, TALLY_ESCRIPT, "a script answered something unexpected");
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
    if (!t->slots) {
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
                (int *)chunk, malloc((size_t)nkeys * sizeof(int)), malloc(((size_t)nkeys + 1) * sizeof(int)), out, 0 };
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
        rc = tally__eval_batch(t, ngroups, keyed_build, keyed_take, &k);
        if (rc == TALLY_OK && k.failed) rc = t->err;
    }
    tally__args_free(&k.src);
    free(k.order), free(k.pairs), free(k.chunk_at), free(k.group_start);
    if (rc != TALLY_OK) tally__keyed_free(out);
    return rc;
}
