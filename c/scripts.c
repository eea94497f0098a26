/* scripts.c -- the embedded scripts (tools/embed.lua's table) and their life on
 * one node: SCRIPT LOAD with SHA checks, SCRIPT EXISTS, SCRIPT FLUSH, and the
 * loading every new connection gets, so that the first EVALSHA finds its
 * script; the public SCRIPT commands over every node, and WAIT for the
 * replicas of what the scripts wrote. Running the scripts is window.c's. */
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "scripts.h"

int tally_script_count(void) { return TALLY_SCRIPT_COUNT_; }

const tally_script_info *tally_script_at(int i) {
    return i >= 0 && i < TALLY_SCRIPT_COUNT_ ? &tally__scripts[i] : NULL;
}

const tally_script_info *tally_script_find(const char *name) {
    for (int i = 0; i < TALLY_SCRIPT_COUNT_; i++)
        if (strcmp(tally__scripts[i].name, name) == 0) return &tally__scripts[i];
    return NULL;
}

int tally__scripts_load_on(tally *t, int i) {
    tally_args *a = &t->aux;
    for (int k = 0; k < TALLY_SCRIPT_COUNT_; k++) {
        size_t len;
        tally__args_reset(a);
        if (tally__args_str(a, "SCRIPT") || tally__args_str(a, "LOAD") ||
            tally__args_add(a, tally__scripts[k].source, tally__scripts[k].length))
            return tally__oom(t);
        const char *cmd = tally__args_resp(a, &len);
        if (tally__node_send(t, i, cmd, len) != TALLY_OK) return t->err;
    }
    /* Read every reply even after a failure, so the connection stays in step. */
    int rc = TALLY_OK;
    char at[300];
    tally__node_addr(t, i, at, sizeof at);
    tally__io_begin(t);
    for (int k = 0; k < TALLY_SCRIPT_COUNT_; k++) {
        redisReply *r = tally__node_reply(t, i, "loading scripts");
        if (!r) {
            rc = t->err;
            break;
        }
        const tally_script_info *s = &tally__scripts[k];
        if (rc != TALLY_OK) {
            /* keep the first error */
        } else if (r->type == REDIS_REPLY_ERROR) {
            rc = tally__reply_is(r, "NOAUTH") || tally__reply_is(r, "NOPERM")
                     ? tally__fail(t, TALLY_EAUTH, "%s: loading script '%s' refused: %s", at, s->name, r->str)
                 : tally__reply_is(r, "LOADING")
                     ? tally__fail(t, TALLY_ECONNECT, "%s: server not ready: %s", at, r->str)
                     : tally__fail(t, TALLY_ESCRIPT, "%s: loading script '%s' failed: %s", at, s->name, r->str);
        } else if (r->type != REDIS_REPLY_STRING || r->len != 40 || memcmp(r->str, s->sha1, 40) != 0) {
            rc = tally__fail(t, TALLY_ESCRIPT, "%s: script '%s': server answered SHA %.40s, the build has %s", at,
                             s->name, r->type == REDIS_REPLY_STRING ? r->str : "?", s->sha1);
        }
        freeReplyObject(r);
    }
    tally__io_end(t);
    if (rc == TALLY_OK) t->nodes->v[i].fresh = 0;
    return rc;
}

int tally__scripts_ready(tally *t, int i) {
    int rc = tally__node_connect(t, i);
    if (rc != TALLY_OK || !t->nodes->v[i].fresh) return rc;
    if (t->cfg.defer_script_load) {
        t->nodes->v[i].fresh = 0; /* NOSCRIPT loads them when they are needed */
        return rc;
    }
    rc = tally__scripts_load_on(t, i);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

/* Runs one command built in t->aux on node i and checks for an error reply. */
static redisReply *aux_command(tally *t, int i) {
    redisReply *r = tally__node_command(t, i, &t->aux);
    if (r && r->type == REDIS_REPLY_ERROR) {
        tally__reply_error(t, r);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* tally_scripts_exists_on() inside the call's deadline. */
static int exists_on(tally *t, int node, int *loaded) {
    if (tally__scripts_ready(t, node) != TALLY_OK) return t->err;
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

int tally_scripts_exists_on(tally *t, int node, int *loaded) {
    if (node < 0 || node >= t->nodes->n) return tally__fail(t, TALLY_EINVAL, "no node %d", node);
    tally__io_begin(t);
    int rc = exists_on(t, node, loaded);
    tally__io_end(t);
    return rc;
}

int tally__scripts_flush_on(tally *t, int i) {
    if (tally__scripts_ready(t, i) != TALLY_OK) return t->err;
    tally__args_reset(&t->aux);
    if (tally__args_str(&t->aux, "SCRIPT") < 0 || tally__args_str(&t->aux, "FLUSH") < 0) return tally__oom(t);
    redisReply *r = aux_command(t, i);
    if (!r) return t->err;
    freeReplyObject(r);
    return TALLY_OK;
}

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
