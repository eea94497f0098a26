/* connection.c -- opening and closing handles, connecting, AUTH and SELECT,
 * timeouts, reconnecting on the next call after a failure, and single commands.
 *
 * hiredis 0.14 cannot reuse a context after an error, so any I/O failure drops the
 * context; the next call connects again (and reloads the scripts). */
#include <errno.h>
#include <stdio.h>
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
    if (c->tz_offset_min < -14 * 60 || c->tz_offset_min > 14 * 60)
        return tally__fail(t, TALLY_EINVAL, "timezone offset must be within -14:00..+14:00");
    if (c->shards < 1 || c->shards > 256)
        return tally__fail(t, TALLY_EINVAL, "shards must be from 1 to 256");
    if (c->ttl_minute_s <= 0 || c->ttl_hour_s <= 0 || c->ttl_day_s <= 0 || c->ttl_month_s <= 0 ||
        c->idempotency_s <= 0 || c->max_future_ms < 0)
        return tally__fail(t, TALLY_EINVAL, "retention periods must be positive");
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
    const char *url = cfg->url ? cfg->url : getenv("TALLY_URL");
    if (!url || !*url) url = DEFAULT_URL;
    t->url_text = strdup(url);
    t->prefix = strdup(cfg->prefix ? cfg->prefix : "tally");
    if (!t->url_text || !t->prefix) {
        tally_close(t);
        return TALLY_ENOMEM;
    }
    t->cfg.url = t->url_text;
    t->cfg.prefix = t->prefix;
    *out = t;
    int rc = check_config(t);
    if (rc != TALLY_OK) return rc;
    return tally__ensure_connected(t);
}

const tally_config *tally_config_of(const tally *t) {
    return &t->cfg;
}

void tally_close(tally *t) {
    if (!t) return;
    tally__disconnect(t);
    tally__args_free(&t->args);
    if (t->url_text) memset(t->url_text, 0, strlen(t->url_text)); /* holds the password */
    memset(t->url.password, 0, sizeof t->url.password);
    free(t->url_text);
    free(t->prefix);
    free(t);
}

void tally__disconnect(tally *t) {
    if (t->ctx) redisFree(t->ctx);
    t->ctx = NULL;
}

static const char *where(const tally *t, char *buf, size_t n) {
    if (t->url.is_unix) snprintf(buf, n, "%s", t->url.path);
    else snprintf(buf, n, "%s:%d", t->url.host, t->url.port);
    return buf;
}

int tally__io_failed(tally *t, const char *doing) {
    char at[400];
    int code = TALLY_EIO;
    const char *what = t->ctx ? t->ctx->errstr : "no connection";
    if (t->ctx && t->ctx->err == REDIS_ERR_IO && strcmp(what, strerror(EAGAIN)) == 0) {
        code = TALLY_ETIMEOUT;
        tally__fail(t, code, "no reply from %s within %d ms while %s (it may still have run)",
                    where(t, at, sizeof at), t->cfg.command_timeout_ms, doing);
    } else if (t->ctx && t->ctx->err == REDIS_ERR_EOF) {
        tally__fail(t, code, "%s closed the connection while %s", where(t, at, sizeof at), doing);
    } else if (t->ctx && t->ctx->err == REDIS_ERR_OOM) {
        code = TALLY_ENOMEM;
        tally__fail(t, code, "out of memory while %s", doing);
    } else {
        tally__fail(t, code, "connection to %s failed while %s: %s", where(t, at, sizeof at),
                    doing, what);
    }
    tally__disconnect(t);
    return code;
}

/* Sends one command during the handshake; an error reply becomes `code`. */
static int handshake(tally *t, int code, const char *what, int argc, const char **argv) {
    redisReply *r = redisCommandArgv(t->ctx, argc, argv, NULL);
    if (!r) return tally__io_failed(t, what);
    int rc = TALLY_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = tally__fail(t, code, "%s refused: %s", what, r->str);
        tally__disconnect(t);
    }
    freeReplyObject(r);
    return rc;
}

static int connect_now(tally *t) {
    char at[400];
    struct timeval ctv = ms_to_tv(t->cfg.connect_timeout_ms);
    t->ctx = t->url.is_unix ? redisConnectUnixWithTimeout(t->url.path, ctv)
                            : redisConnectWithTimeout(t->url.host, t->url.port, ctv);
    if (!t->ctx) return tally__oom(t);
    if (t->ctx->err) {
        tally__fail(t, TALLY_ECONNECT, "cannot connect to %s: %s", where(t, at, sizeof at),
                    t->ctx->errstr);
        tally__disconnect(t);
        return TALLY_ECONNECT;
    }
    if (t->cfg.command_timeout_ms > 0 &&
        redisSetTimeout(t->ctx, ms_to_tv(t->cfg.command_timeout_ms)) != REDIS_OK)
        return tally__io_failed(t, "setting the command timeout");
    int rc = TALLY_OK;
    if (t->url.password[0]) {
        const char *argv[3] = { "AUTH", t->url.user, t->url.password };
        rc = t->url.user[0] ? handshake(t, TALLY_EAUTH, "AUTH", 3, argv)
                            : handshake(t, TALLY_EAUTH, "AUTH", 2, (const char *[]){ "AUTH", t->url.password });
    }
    if (rc == TALLY_OK && t->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", t->url.db);
        rc = handshake(t, TALLY_EAUTH, "SELECT", 2, (const char *[]){ "SELECT", db });
    }
    if (rc == TALLY_OK && !t->cfg.defer_script_load) rc = tally_scripts_load(t);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

int tally__ensure_connected(tally *t) {
    if (t->ctx) return TALLY_OK;
    return connect_now(t);
}

redisReply *tally__command(tally *t, tally_args *a) {
    if (tally__ensure_connected(t) != TALLY_OK) return NULL;
    size_t len;
    const char *cmd = tally__args_resp(a, &len);
    if (!cmd) {
        tally__oom(t);
        return NULL;
    }
    const char **argv = tally__args_argv(a);
    redisReply *r = NULL;
    if (redisAppendFormattedCommand(t->ctx, cmd, len) != REDIS_OK ||
        redisGetReply(t->ctx, (void **)&r) != REDIS_OK)
        r = NULL;
    if (!r) {
        char doing[40];
        snprintf(doing, sizeof doing, "running %.*s", (int)(a->lens[0] < 20 ? a->lens[0] : 20), argv[0]);
        tally__io_failed(t, doing);
    }
    return r;
}
