/* node.c -- connections to the servers a handle talks to: the node list,
 * connecting (AUTH, SELECT, timeouts), queuing commands and reading replies,
 * and turning hiredis's failures into the handle's error.
 *
 * hiredis 0.14 cannot reuse a context after an error, so any I/O failure drops
 * the node's connection; the next call connects again. Which node serves a key
 * is cluster.c's business; what a new connection needs (the scripts) is
 * scripts.c's. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node.h"

static struct timeval ms_to_tv(int ms) {
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

struct tally_nodes *tally__nodes_new(void) {
    return calloc(1, sizeof(struct tally_nodes));
}

void tally__nodes_free(struct tally_nodes *list) {
    if (!list) return;
    for (int i = 0; i < list->n; i++)
        if (list->v[i].ctx) redisFree(list->v[i].ctx);
    free(list->v);
    free(list);
}

int tally__nodes_add(struct tally_nodes *list, const char *host, size_t hn, int port, int replica) {
    for (int i = 0; i < list->n; i++) {
        tally_node *n = &list->v[i];
        if (n->port == port && strlen(n->host) == hn && memcmp(n->host, host, hn) == 0) {
            if (!replica) n->replica = 0;
            return i;
        }
    }
    tally_node *grown = realloc(list->v, (size_t)(list->n + 1) * sizeof *grown);
    if (!grown) return -1;
    list->v = grown;
    tally_node *n = &list->v[list->n];
    memset(n, 0, sizeof *n);
    snprintf(n->host, sizeof n->host, "%.*s", (int)hn, host);
    n->port = port;
    n->replica = replica;
    return list->n++;
}

int tally__nodes_open(tally *t) {
    if (!(t->nodes = tally__nodes_new())) return TALLY_ENOMEM;
    const char *host = t->url.is_unix ? t->url.path : t->url.host;
    return tally__nodes_add(t->nodes, host, strlen(host), t->url.is_unix ? 0 : t->url.port, 0) < 0 ? TALLY_ENOMEM
                                                                                                 : TALLY_OK;
}

void tally__nodes_close(tally *t) {
    tally__nodes_free(t->nodes);
    t->nodes = NULL;
}

void tally__nodes_adopt(tally *t, struct tally_nodes *fresh) {
    struct tally_nodes *old = t->nodes;
    for (int k = 0; k < old->n; k++) {
        tally_node *o = &old->v[k];
        for (int i = 0; i < fresh->n && o->ctx; i++) {
            tally_node *n = &fresh->v[i];
            if (!n->ctx && n->port == o->port && strcmp(n->host, o->host) == 0) {
                n->ctx = o->ctx;
                n->fresh = o->fresh;
                o->ctx = NULL;
            }
        }
    }
    fresh->io_depth = old->io_depth;
    fresh->guard = old->guard;
    tally__nodes_free(old); /* disconnects the nodes that are gone */
    t->nodes = fresh;
}

const char *tally__node_addr(const tally *t, int i, char *buf, size_t n) {
    const tally_node *node = &t->nodes->v[i];
    if (node->port) snprintf(buf, n, "%s:%d", node->host, node->port);
    else snprintf(buf, n, "%s", node->host);
    return buf;
}

void tally__node_disconnect(tally *t, int i) {
    tally_node *n = &t->nodes->v[i];
    if (n->ctx) redisFree(n->ctx);
    n->ctx = NULL;
    n->fresh = 0;
}

int tally__node_failed(tally *t, int i, const char *doing) {
    tally_node *n = &t->nodes->v[i];
    char at[300];
    int code = TALLY_EIO;
    const char *what = n->ctx ? n->ctx->errstr : "no connection";
    tally__node_addr(t, i, at, sizeof at);
    if (n->ctx && n->ctx->err == REDIS_ERR_IO && strcmp(what, strerror(EAGAIN)) == 0) {
        code = TALLY_ETIMEOUT;
        tally__fail(t, code, "no reply from %s within %d ms while %s (it may still have run)", at,
                    t->cfg.command_timeout_ms, doing);
    } else if (n->ctx && n->ctx->err == REDIS_ERR_EOF) {
        tally__fail(t, code, "%s closed the connection while %s", at, doing);
    } else if (n->ctx && n->ctx->err == REDIS_ERR_OOM) {
        code = TALLY_ENOMEM;
        tally__fail(t, code, "out of memory while %s", doing);
    } else {
        tally__fail(t, code, "connection to %s failed while %s: %s", at, doing, what);
    }
    tally__node_disconnect(t, i);
    t->nodes->changed = 1; /* a failover may be under way */
    return code;
}

static void guard_on(tally_pipe_guard *g) {
    struct sigaction sa;
    g->active = !(sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN);
    if (!g->active) return;
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    g->pending_before = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
}

static void guard_off(tally_pipe_guard *g) {
    if (!g->active) return;
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (!g->pending_before && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec now = { 0, 0 };
        sigtimedwait(&pipe, NULL, &now); /* ours: consume it */
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

void tally__io_begin(tally *t) {
    if (t->nodes->io_depth++ == 0) guard_on(&t->nodes->guard);
}

void tally__io_end(tally *t) {
    if (--t->nodes->io_depth == 0) guard_off(&t->nodes->guard);
}

int tally__node_send(tally *t, int i, const char *cmd, size_t len) {
    return redisAppendFormattedCommand(t->nodes->v[i].ctx, cmd, len) == REDIS_OK ? TALLY_OK : tally__oom(t);
}

redisReply *tally__node_reply(tally *t, int i, const char *doing) {
    tally_node *n = &t->nodes->v[i];
    redisReply *r = NULL;
    tally__io_begin(t);
    if (!n->ctx || redisGetReply(n->ctx, (void **)&r) != REDIS_OK) r = NULL;
    tally__io_end(t);
    if (!r) tally__node_failed(t, i, doing);
    return r;
}

/* Sends one command during the handshake; an error reply becomes `code`. */
static int handshake(tally *t, int i, int code, const char *what, int argc, const char **argv) {
    if (redisAppendCommandArgv(t->nodes->v[i].ctx, argc, argv, NULL) != REDIS_OK) return tally__oom(t);
    redisReply *r = tally__node_reply(t, i, what);
    if (!r) return t->err;
    int rc = TALLY_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = tally__fail(t, code, "%s refused: %s", what, r->str);
        tally__node_disconnect(t, i);
    }
    freeReplyObject(r);
    return rc;
}

int tally__node_connect(tally *t, int i) {
    if (i < 0 || i >= t->nodes->n) return tally__fail(t, TALLY_ECONNECT, "no server to connect to");
    tally_node *n = &t->nodes->v[i];
    if (n->ctx) return TALLY_OK;
    char at[300];
    struct timeval ctv = ms_to_tv(t->cfg.connect_timeout_ms);
    n->ctx = n->port ? redisConnectWithTimeout(n->host, n->port, ctv) : redisConnectUnixWithTimeout(n->host, ctv);
    if (!n->ctx) return tally__oom(t);
    if (n->ctx->err) {
        tally__fail(t, TALLY_ECONNECT, "cannot connect to %s: %s", tally__node_addr(t, i, at, sizeof at),
                    n->ctx->errstr);
        tally__node_disconnect(t, i);
        t->nodes->changed = 1;
        return TALLY_ECONNECT;
    }
    if (t->cfg.command_timeout_ms > 0 &&
        redisSetTimeout(n->ctx, ms_to_tv(t->cfg.command_timeout_ms)) != REDIS_OK)
        return tally__node_failed(t, i, "setting the command timeout");
    int rc = TALLY_OK;
    if (t->url.password[0]) {
        const char *argv[3] = { "AUTH", t->url.user, t->url.password };
        rc = t->url.user[0] ? handshake(t, i, TALLY_EAUTH, "AUTH", 3, argv)
                            : handshake(t, i, TALLY_EAUTH, "AUTH", 2, (const char *[]){ "AUTH", t->url.password });
    }
    if (rc == TALLY_OK && t->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", t->url.db);
        rc = handshake(t, i, TALLY_EAUTH, "SELECT", 2, (const char *[]){ "SELECT", db });
    }
    if (rc != TALLY_OK) return rc;
    n->fresh = 1;
    return tally__ok(t);
}

redisReply *tally__node_command(tally *t, int i, tally_args *a) {
    if (tally__node_connect(t, i) != TALLY_OK) return NULL;
    size_t len;
    const char *cmd = tally__args_resp(a, &len);
    if (tally__node_send(t, i, cmd, len) != TALLY_OK) return NULL;
    char doing[40];
    snprintf(doing, sizeof doing, "running %.*s", (int)(a->lens[0] < 20 ? a->lens[0] : 20), a->buf + a->off[0]);
    return tally__node_reply(t, i, doing);
}

int tally__node_attach_fd(tally *t, int i, int fd) {
    tally__node_disconnect(t, i);
    tally_node *n = &t->nodes->v[i];
    if (!(n->ctx = redisConnectFd(fd))) return tally__oom(t);
    if (t->cfg.command_timeout_ms > 0) redisSetTimeout(n->ctx, ms_to_tv(t->cfg.command_timeout_ms));
    return TALLY_OK;
}
