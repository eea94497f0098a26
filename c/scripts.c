/* scripts.c -- the embedded scripts and their life in Redis: SCRIPT LOAD with SHA
 * checks, SCRIPT EXISTS, SCRIPT FLUSH, and EVALSHA that survives a flushed script
 * cache, for single calls and for pipelined batches.
 *
 * Recovery rule: NOSCRIPT guarantees the script did not run, so the call is sent
 * again after loading. A timeout or I/O error does not: the script may have run,
 * so the error goes to the caller and nothing is retried here. */
#include <stdlib.h>
#include <string.h>

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

int tally_scripts_load(tally *t) {
    int rc = tally__ensure_connected(t);
    if (rc != TALLY_OK) return rc;
    for (int i = 0; i < TALLY_SCRIPT_COUNT_; i++)
        if (redisAppendCommand(t->ctx, "SCRIPT LOAD %b", tally__scripts[i].source,
                               tally__scripts[i].length) != REDIS_OK)
            return tally__oom(t);
    /* Read every reply even after a failure, so the connection stays in step. */
    rc = TALLY_OK;
    for (int i = 0; i < TALLY_SCRIPT_COUNT_; i++) {
        redisReply *r;
        if (redisGetReply(t->ctx, (void **)&r) != REDIS_OK)
            return tally__io_failed(t, "loading scripts");
        const tally_script_info *s = &tally__scripts[i];
        if (rc != TALLY_OK) {
            /* keep the first error */
        } else if (r->type == REDIS_REPLY_ERROR) {
            rc = starts_with(r, "NOAUTH") || starts_with(r, "NOPERM")
                     ? tally__fail(t, TALLY_EAUTH, "loading script '%s' refused: %s", s->name, r->str)
                 : starts_with(r, "LOADING")
                     ? tally__fail(t, TALLY_ECONNECT, "server not ready: %s", r->str)
                     : tally__fail(t, TALLY_ESCRIPT, "loading script '%s' failed: %s", s->name, r->str);
        } else if (r->type != REDIS_REPLY_STRING || r->len != 40 || memcmp(r->str, s->sha1, 40) != 0) {
            rc = tally__fail(t, TALLY_ESCRIPT,
                             "script '%s': server answered SHA %.40s, the build has %s",
                             s->name, r->type == REDIS_REPLY_STRING ? r->str : "?", s->sha1);
        }
        freeReplyObject(r);
    }
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

int tally_scripts_exists(tally *t, int *loaded) {
    tally_args *a = &t->args;
    tally__args_reset(a);
    if (tally__args_str(a, "SCRIPT") < 0 || tally__args_str(a, "EXISTS") < 0) return tally__oom(t);
    for (int i = 0; i < TALLY_SCRIPT_COUNT_; i++)
        if (tally__args_str(a, tally__scripts[i].sha1) < 0) return tally__oom(t);
    redisReply *r = tally__command(t, a);
    if (!r) return t->err;
    int rc = TALLY_OK;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != TALLY_SCRIPT_COUNT_) {
        rc = r->type == REDIS_REPLY_ERROR ? tally__script_error(t, r)
                                          : tally__fail(t, TALLY_ESCRIPT, "odd SCRIPT EXISTS reply");
    } else {
        for (int i = 0; i < TALLY_SCRIPT_COUNT_; i++)
            loaded[i] = r->element[i]->type == REDIS_REPLY_INTEGER && r->element[i]->integer == 1;
    }
    freeReplyObject(r);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

int tally_scripts_flush(tally *t) {
    tally_args *a = &t->args;
    tally__args_reset(a);
    if (tally__args_str(a, "SCRIPT") < 0 || tally__args_str(a, "FLUSH") < 0) return tally__oom(t);
    redisReply *r = tally__command(t, a);
    if (!r) return t->err;
    int rc = r->type == REDIS_REPLY_ERROR ? tally__script_error(t, r) : TALLY_OK;
    freeReplyObject(r);
    return rc == TALLY_OK ? tally_scripts_load(t) : rc;
}

redisReply *tally__eval(tally *t, tally_args *a) {
    redisReply *r = tally__command(t, a);
    if (r && starts_with(r, "NOSCRIPT")) {
        freeReplyObject(r);
        if (tally_scripts_load(t) != TALLY_OK) return NULL;
        r = tally__command(t, a);
    }
    if (!r) return NULL;
    if (r->type == REDIS_REPLY_ERROR) {
        tally__script_error(t, r);
        freeReplyObject(r);
        return NULL;
    }
    tally__ok(t);
    return r;
}

/* Appends calls idx[0..n) and reads their replies. Calls answered NOSCRIPT are
 * put back into idx (their count returned in *again) when `retry` is set;
 * otherwise every reply goes to take(). */
static int send_and_read(tally *t, size_t *idx, size_t n, size_t *again, int retry,
                         tally_build_fn build, tally_take_fn take, void *ctx) {
    tally_args *a = &t->args;
    for (size_t k = 0; k < n; k++) {
        if (build(ctx, idx[k], a) != 0) return tally__oom(t);
        if (redisAppendCommandArgv(t->ctx, a->argc, tally__args_argv(a), a->lens) != REDIS_OK)
            return tally__oom(t);
    }
    *again = 0;
    for (size_t k = 0; k < n; k++) {
        redisReply *r;
        if (redisGetReply(t->ctx, (void **)&r) != REDIS_OK)
            return tally__io_failed(t, "running a pipelined batch");
        if (retry && starts_with(r, "NOSCRIPT")) idx[(*again)++] = idx[k];
        else take(ctx, idx[k], r);
        freeReplyObject(r);
    }
    return TALLY_OK;
}

int tally__eval_batch(tally *t, size_t n, tally_build_fn build, tally_take_fn take, void *ctx) {
    size_t idx[BATCH_CHUNK];
    for (size_t start = 0; start < n; start += BATCH_CHUNK) {
        int rc = tally__ensure_connected(t);
        if (rc != TALLY_OK) return rc;
        size_t m = n - start < BATCH_CHUNK ? n - start : BATCH_CHUNK, again;
        for (size_t k = 0; k < m; k++) idx[k] = start + k;
        rc = send_and_read(t, idx, m, &again, 1, build, take, ctx);
        if (rc == TALLY_OK && again) {
            /* The cache was flushed mid-batch: those calls did not run. */
            rc = tally_scripts_load(t);
            if (rc == TALLY_OK) rc = send_and_read(t, idx, again, &again, 0, build, take, ctx);
        }
        if (rc != TALLY_OK) return rc;
    }
    return tally__ok(t);
}
