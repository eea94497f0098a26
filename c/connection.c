/* connection.c -- opening and closing handles, connecting each node (AUTH,
 * SELECT, timeouts, scripts), reconnecting on the next call after a failure, and
 * single commands.
 *
 * hiredis 0.14 cannot reuse a context after an error, so any I/O failure drops the
 * node's context; the next call connects again (and reloads the scripts). A
 * single server is node 0; cluster nodes come from cluster.c's slot map. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DEFAULT_URL "redis://127.0.0.1:6379/0"

void tally_config_init(tally_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = 2000;
    cfg->command_timeout_ms = 5000;
    cfg->prefix = "tally";
    cfg->shards = 8;
    cfg->ttl_minute_s = 2 * 3600;
    cfg->ttl_hour_s = 8 * 86400;
    cfg->ttl_day_s = 32 * 86400;
    cfg->ttl_month_s = 400 * 86400;
    cfg->idempotency_s = 86400;
    cfg->max_future_ms = 5 * 60 * 1000;
}

static struct timeval ms_to_tv(int ms) {
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

/* Checks the parts of the configuration that do not need the server. */
static int check_config(tally *t) {
    const tally_config *c = &t->cfg;
    size_t pn = strlen(c->prefix);
    if (pn == 0 || pn > 64 || strcspn(c->prefix, "{} \t\r\n") != pn)
        return tally__fail(t, TALLY_EINVAL,
                           "prefix must be 1 to 64 bytes without braces or white space");
    if (c->connect_timeout_ms <= 0 || c->command_timeout_ms < 0)
        return tally__fail(t, TALLY_EINVAL, "timeouts must be positive (command: 0 = none)");
    if (c->tz_offset_min < -TALLY_TZ_MAX_MIN || c->tz_offset_min > TALLY_TZ_MAX_MIN)
        return tally__fail(t, TALLY_EINVAL, "timezone offset must be within -14:00..+14:00");
    if (c->shards < 1 || c->shards > 256)
        return tally__fail(t, TALLY_EINVAL, "shards must be from 1 to 256");
    if (c->ttl_minute_s <= 0 || c->ttl_hour_s <= 0 || c->ttl_day_s <= 0 || c->ttl_month_s <= 0 ||
        c->idempotency_s <= 0)
        return tally__fail(t, TALLY_EINVAL, "retention periods must be positive");
    if (c->max_future_ms < 0 || c->max_future_ms > 86400000)
        return tally__fail(t, TALLY_EINVAL, "max_future_ms must be from 0 to 86400000 (a day)");
    char err[TALLY_ERRMSG_MAX];
    if (tally__url_parse(c->url, &t->url, err, sizeof err) < 0)
        return tally__fail(t, TALLY_EINVAL, "%s", err);
    return TALLY_OK;
}

int tally_open(const tally_config *cfg, tally **out) {
    tally_config defaults;
    if (!cfg) {
        tally_config_init(&defaults);
        cfg = &defaults;
    }
    *out = NULL;
    tally *t = calloc(1, sizeof *t);
    if (!t) return TALLY_ENOMEM;
    t->cfg = *cfg;
    tally__args_reset(&t->args);
    tally__args_reset(&t->aux);
    const char *url = cfg->url ? cfg->url : getenv("TALLY_URL");
    if (!url || !*url) url = DEFAULT_URL;
    t->url_text = strdup(url);
    t->prefix = strdup(cfg->prefix ? cfg->prefix : "tally");
    t->nodes = calloc(1, sizeof *t->nodes);
    if (!t->url_text || !t->prefix || !t->nodes) {
        tally_close(t);
        return TALLY_ENOMEM;
    }
    t->cfg.url = t->url_text;
    t->cfg.prefix = t->prefix;
    *out = t;
    int rc = check_config(t);
    if (rc != TALLY_OK) return rc;
    t->nnodes = 1;
    snprintf(t->nodes[0].host, sizeof t->nodes[0].host, "%s", t->url.is_unix ? t->url.path : t->url.host);
    t->nodes[0].port = t->url.is_unix ? 0 : t->url.port;
    if (!t->url.is_cluster) return tally__connect_node(t, 0);
    t->slots = malloc(TALLY_SLOTS * sizeof *t->slots);
    if (!t->slots) return tally__oom(t);
    rc = tally__cluster_refresh(t);
    /* Every primary and replica gets the scripts, so a failover finds them. A
     * node that cannot be reached now does not fail the open: calls reach it
     * later through the slot map, and NOSCRIPT loads the scripts there. */
    for (int i = 0; rc == TALLY_OK && !t->cfg.defer_script_load && i < t->nnodes; i++) {
        rc = tally__connect_node(t, i);
        if (rc == TALLY_ECONNECT || rc == TALLY_EIO || rc == TALLY_ETIMEOUT) rc = TALLY_OK;
    }
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

const tally_config *tally_config_of(const tally *t) {
    return &t->cfg;
}

int tally_node_count(const tally *t) {
    return t->nnodes;
}

const char *tally__node_addr(const tally *t, int i, char *buf, size_t n) {
    const tally_node *node = &t->nodes[i];
    if (node->port) snprintf(buf, n, "%s:%d", node->host, node->port);
    else snprintf(buf, n, "%s", node->host);
    return buf;
}

const char *tally_node_name(const tally *t, int i, char *buf, size_t n) {
    if (i < 0 || i >= t->nnodes) return NULL;
    char addr[300];
    snprintf(buf, n, "%s%s", tally__node_addr(t, i, addr, sizeof addr), t->nodes[i].replica ? " (replica)" : "");
    return buf;
}

void tally_close(tally *t) {
    if (!t) return;
    for (int i = 0; i < t->nnodes; i++) tally__disconnect(&t->nodes[i]);
    tally__args_free(&t->args);
    tally__args_free(&t->aux);
    if (t->url_text) memset(t->url_text, 0, strlen(t->url_text)); /* holds the password */
    memset(t->url.password, 0, sizeof t->url.password);
    free(t->url_text);
    free(t->prefix);
    free(t->nodes);
    free(t->slots);
    free(t->hour_cache);
    tally__batch_scratch_free(t);
    free(t);
}

void tally__disconnect(tally_node *n) {
    if (n->ctx) redisFree(n->ctx);
    n->ctx = NULL;
}

int tally__io_failed(tally *t, tally_node *n, const char *doing) {
    char at[300];
    int code = TALLY_EIO;
    const char *what = n->ctx ? n->ctx->errstr : "no connection";
    tally__node_addr(t, (int)(n - t->nodes), at, sizeof at);
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
    tally__disconnect(n);
    if (t->slots) t->map_stale = 1; /* a failover may be under way */
    return code;
}

void tally__pipe_guard_on(tally_pipe_guard *g) {
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

void tally__pipe_guard_off(tally_pipe_guard *g) {
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

/* Sends one command during the handshake; an error reply becomes `code`. */
static int handshake(tally *t, tally_node *n, int code, const char *what, int argc, const char **argv) {
    tally_pipe_guard g;
    tally__pipe_guard_on(&g);
    redisReply *r = redisCommandArgv(n->ctx, argc, argv, NULL);
    tally__pipe_guard_off(&g);
    if (!r) return tally__io_failed(t, n, what);
    int rc = TALLY_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = tally__fail(t, code, "%s refused: %s", what, r->str);
        tally__disconnect(n);
    }
    freeReplyObject(r);
    return rc;
}

int tally__connect_node(tally *t, int i) {
    tally_node *n = &t->nodes[i];
    if (n->ctx) return TALLY_OK;
    char at[300];
    struct timeval ctv = ms_to_tv(t->cfg.connect_timeout_ms);
    n->ctx = n->port ? redisConnectWithTimeout(n->host, n->port, ctv) : redisConnectUnixWithTimeout(n->host, ctv);
    if (!n->ctx) return tally__oom(t);
    if (n->ctx->err) {
        tally__fail(t, TALLY_ECONNECT, "cannot connect to %s: %s", tally__node_addr(t, i, at, sizeof at),
                    n->ctx->errstr);
        tally__disconnect(n);
        if (t->slots) t->map_stale = 1;
        return TALLY_ECONNECT;
    }
    if (t->cfg.command_timeout_ms > 0 &&
        redisSetTimeout(n->ctx, ms_to_tv(t->cfg.command_timeout_ms)) != REDIS_OK)
        return tally__io_failed(t, n, "setting the command timeout");
    int rc = TALLY_OK;
    if (t->url.password[0]) {
        const char *argv[3] = { "AUTH", t->url.user, t->url.password };
        rc = t->url.user[0] ? handshake(t, n, TALLY_EAUTH, "AUTH", 3, argv)
                            : handshake(t, n, TALLY_EAUTH, "AUTH", 2, (const char *[]){ "AUTH", t->url.password });
    }
    if (rc == TALLY_OK && t->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", t->url.db);
        rc = handshake(t, n, TALLY_EAUTH, "SELECT", 2, (const char *[]){ "SELECT", db });
    }
    if (rc == TALLY_OK && !t->cfg.defer_script_load) rc = tally__load_scripts_on(t, i);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

redisReply *tally__command_on(tally *t, int i, tally_args *a) {
    if (tally__connect_node(t, i) != TALLY_OK) return NULL;
    size_t len;
    const char *cmd = tally__args_resp(a, &len);
    redisReply *r = NULL;
    tally_pipe_guard g;
    tally__pipe_guard_on(&g);
    if (redisAppendFormattedCommand(t->nodes[i].ctx, cmd, len) != REDIS_OK ||
        redisGetReply(t->nodes[i].ctx, (void **)&r) != REDIS_OK)
        r = NULL;
    tally__pipe_guard_off(&g);
    if (!r) {
        char doing[40];
        snprintf(doing, sizeof doing, "running %.*s", (int)(a->lens[0] < 20 ? a->lens[0] : 20), a->buf + a->off[0]);
        tally__io_failed(t, &t->nodes[i], doing);
    }
    return r;
}
