/* open.c -- opening and closing a handle: configuration defaults and checks,
 * tally_open (the schema context, the node list, the cluster's slot map, the
 * scripts on every node, the handle on limits_url) and tally_close (every part frees its own state: the
 * transport here, each feature through the release hook it left on the
 * handle). Layer: open, above the transport it sets up (c/layers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "cluster.h"
#include "open.h"
#include "evict.h"
#include "keys.h"
#include "node.h"
#include "schema.h"
#include "scripts.h"

#define DEFAULT_URL "redis://127.0.0.1:6379/0"

void tally_config_init(tally_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = 2000;
    cfg->command_timeout_ms = 5000;
    cfg->prefix = "tally";
    cfg->shards = 8;
    cfg->ttl_minute_s = TALLY_TTL_MINUTE_DEFAULT_S;
    cfg->ttl_hour_s = 8 * 86400;
    cfg->ttl_day_s = 32 * 86400;
    cfg->ttl_month_s = 400 * 86400;
    cfg->idempotency_s = 86400;
    cfg->max_future_ms = 5 * 60 * 1000;
    cfg->max_script_us = 5000;
    cfg->prices_refresh_ms = 1000;
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
    if (c->max_script_us < 100 || c->max_script_us > 10000000)
        return tally__fail(t, TALLY_EINVAL, "max_script_us must be from 100 to 10000000 (10 s)");
    if (c->prices_refresh_ms < 0)
        return tally__fail(t, TALLY_EINVAL, "prices_refresh_ms must not be negative");
    if (c->max_future_ms < 0 || c->max_future_ms > TALLY_FUTURE_MAX_MS)
        return tally__fail(t, TALLY_EINVAL, "max_future_ms must be from 0 to %lld (a day)", TALLY_FUTURE_MAX_MS);
    if (c->read_from != TALLY_READ_PRIMARY && c->read_from != TALLY_READ_REPLICA)
        return tally__fail(t, TALLY_EINVAL, "read_from must be TALLY_READ_PRIMARY or TALLY_READ_REPLICA");
    char err[TALLY_ERRMSG_MAX];
    if (tally__url_parse(c->url, &t->url, err, sizeof err) < 0)
        return tally__fail(t, TALLY_EINVAL, "%s", err);
    if (c->limits_url) { /* refused before anything connects */
        tally_url limits;
        int bad = tally__url_parse(c->limits_url, &limits, err, sizeof err) < 0;
        memset(limits.password, 0, sizeof limits.password);
        if (bad) return tally__fail(t, TALLY_EINVAL, "limits_url: %s", err);
    }
    return TALLY_OK;
}

int tally__exists(tally *t, char (*keys)[TALLY_ENTITY_MAX], int n, int *found) {
    *found = -1;
    tally__args_reset(&t->aux);
    int err = tally__args_str(&t->aux, "EXISTS");
    for (int i = 0; i < n; i++) err |= tally__args_str(&t->aux, keys[i]);
    if (err) return tally__oom(t);
    int node = tally__route_key(t, keys[0], strlen(keys[0]), 0);
    redisReply *r = node < 0 ? NULL : tally__node_command(t, node, &t->aux);
    if (!r) return tally__is_cluster(t) ? tally__ok(t) : t->err;
    int rc = TALLY_OK;
    if (r->type == REDIS_REPLY_INTEGER) *found = (int)r->integer;
    else if (r->type == REDIS_REPLY_ERROR && !tally__reply_is(r, "NOPERM")) rc = tally__reply_error(t, r);
    freeReplyObject(r);
    return rc;
}

/* Refuses the dataset of an older schema whose key keys[0] exists. */
static int refuse_older(tally *t, const char *key) {
    int v = tally__key_version(&t->schema, key);
    return tally__fail(t, TALLY_EINVAL,
                       "prefix '%s' holds a dataset of key schema v%d (%s exists); this version reads and writes "
                       "schema v3: %s (docs/keys.md)",
                       t->cfg.prefix, v, key,
                       v == 2 ? "convert it in place with 'tally migrate' (tally_migrate()), or use another prefix"
                              : "use another prefix, or remove or move the v1 keys");
}

/* A prefix that holds a dataset of an older key schema (docs/keys.md) is
 * refused, never misread: per shard one EXISTS (one slot) of v1's total, v2's
 * total and v2's requests board of all time (a v2 migration cut short leaves
 * that board until its very end), then v2's parameters and price table; each
 * is a key that every write of its kind left and nothing expires. On the node
 * that serves them (not with defer_script_load, whose open only connects). A
 * node that cannot be asked (down, or the user may not touch the prefix:
 * NOPERM, so it cannot misread it either) does not fail the open. */
static int refuse_old_versions(tally *t) {
    char keys[3][TALLY_ENTITY_MAX];
    for (int i = 0; i <= t->cfg.shards + 1; i++) {
        int n = 1, found;
        if (i < t->cfg.shards) {
            size_t b = tally__shard_entity(&t->schema, (unsigned)i, keys[0]);
            memcpy(keys[0] + b, "t", 2);
            memcpy(keys[1], keys[0], b + 2);
            memcpy(keys[2], keys[0], b);
            memcpy(keys[2] + b, "Lr:t", 5);
            tally__key_at_version(&t->schema, keys[0], 1);
            tally__key_at_version(&t->schema, keys[1], 2);
            tally__key_at_version(&t->schema, keys[2], 2);
            n = 3;
        } else {
            if (i == t->cfg.shards) tally__schema_key(&t->schema, keys[0]);
            else tally__prices_key(&t->schema, keys[0]);
            tally__key_at_version(&t->schema, keys[0], 2);
        }
        int rc = tally__exists(t, keys, n, &found);
        for (int k = 0, one; rc == TALLY_OK && found > 0 && k < n; k++) /* which one: the message names it */
            if ((rc = tally__exists(t, keys + k, 1, &one)) == TALLY_OK && one > 0) return refuse_older(t, keys[k]);
        if (rc != TALLY_OK) return rc;
    }
    return TALLY_OK;
}

/* Loads the scripts on node i and reads its maxmemory-policy (evict.c: a
 * write checks it again when it is older than prices_refresh_ms). */
static int ready(tally *t, int i) {
    int rc = tally__scripts_ready(t, i);
    return rc == TALLY_OK ? tally__evict_read(t, i) : rc;
}

/* Reads the slot map, loads the scripts on every node and reads its policy. */
static int open_cluster(tally *t) {
    int rc = tally__cluster_open(t);
    /* Every primary and replica gets the scripts, so a failover finds them. A
     * node that cannot be reached now does not fail the open: calls reach it
     * later through the slot map, and NOSCRIPT loads the scripts there. */
    for (int i = 0; rc == TALLY_OK && !t->cfg.defer_script_load && i < t->nodes->n; i++) {
        rc = ready(t, i);
        if (rc == TALLY_ECONNECT || rc == TALLY_EIO || rc == TALLY_ETIMEOUT) rc = TALLY_OK;
    }
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

int tally__limits_fail(tally *t) {
    char where[320]; /* the address, never the URL: it may hold a password */
    if (!tally_node_name(t->limits, 0, where, sizeof where)) snprintf(where, sizeof where, "(none)");
    return tally__fail(t, t->limits->err, "limits server %s: %s", where, t->limits->errmsg);
}

/* Opens the handle on limits_url: this configuration there, with no limits
 * server of its own ("": itself, whatever the environment says). Also after
 * the usage server failed (rc, whose error stays the handle's): a caller that
 * goes ahead after a server could not be reached (the tool's allow applies
 * its failure policy) must find the limits where they live, never here. */
static int open_limits(tally *t, int rc) {
    tally_config c = t->cfg;
    c.url = t->cfg.limits_url;
    c.limits_url = "";
    int lrc = tally_open(&c, &t->limits);
    if (!t->limits) return TALLY_ENOMEM;
    return rc != TALLY_OK ? rc : lrc == TALLY_OK ? TALLY_OK : tally__limits_fail(t);
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
    const char *limits = cfg->limits_url ? cfg->limits_url : getenv("TALLY_LIMITS_URL");
    int oom = limits && *limits && !(t->limits_url_text = strdup(limits));
    if (oom || !t->url_text || !t->prefix) {
        tally_close(t);
        return TALLY_ENOMEM;
    }
    t->cfg.url = t->url_text;
    t->cfg.prefix = t->prefix;
    t->cfg.limits_url = t->limits_url_text;
    t->schema = tally__schema_of(&t->cfg);
    int rc = check_config(t);
    /* A handle whose configuration was refused keeps an empty node list: its
     * calls fail cleanly, and the caller reads the message. */
    if (rc == TALLY_OK ? tally__nodes_open(t) != TALLY_OK : !(t->nodes = tally__nodes_new())) {
        tally_close(t);
        return TALLY_ENOMEM;
    }
    *out = t;
    if (rc != TALLY_OK) return rc;
    tally__io_begin(t); /* one deadline for the whole open */
    rc = t->url.is_cluster ? open_cluster(t) : t->cfg.defer_script_load ? tally__scripts_ready(t, 0) : ready(t, 0);
    /* Deferred: no round trip (a write still checks the stored parameters). */
    if (rc == TALLY_OK && !t->cfg.defer_script_load) rc = refuse_old_versions(t);
    if (rc == TALLY_OK && !t->cfg.defer_script_load) rc = tally__schema_check(t);
    tally__io_end(t);
    if (t->cfg.limits_url && (rc = open_limits(t, rc)) == TALLY_ENOMEM) {
        tally_close(t); /* as documented: no handle when memory ran out */
        *out = NULL;
    }
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

int tally_node_count(const tally *t) {
    return t->nodes ? t->nodes->n : 0;
}

const char *tally_node_name(const tally *t, int i, char *buf, size_t n) {
    if (i < 0 || i >= tally_node_count(t)) return NULL;
    char addr[300];
    snprintf(buf, n, "%s%s", tally__node_addr(t, i, addr, sizeof addr),
             t->nodes->v[i].replica ? " (replica)" : "");
    return buf;
}

void tally_close(tally *t) {
    if (!t) return;
    for (int f = 0; f < TALLY_FEATURES_; f++)
        if (t->feature[f].state) t->feature[f].release(t->feature[f].state);
    tally_close(t->limits);
    tally__cluster_close(t);
    tally__nodes_close(t);
    tally__args_free(&t->args);
    tally__args_free(&t->aux);
    if (t->url_text) memset(t->url_text, 0, strlen(t->url_text)); /* holds the password */
    if (t->limits_url_text) memset(t->limits_url_text, 0, strlen(t->limits_url_text));
    memset(t->url.password, 0, sizeof t->url.password);
    free(t->url_text);
    free(t->limits_url_text);
    free(t->prefix);
    free(t);
}
