/* schema.c -- the schema's parameters stored with the data. Three settings
 * decide which key and bucket an event lands in: the timezone cuts the day,
 * month and hour buckets, the shard count picks the shard of a key's shared
 * aggregates, and the idempotency window names the request-id hashes (slices
 * of it). A handle with other values than the data was written with reads
 * other buckets (a +14:00 writer's "today" is not a UTC reader's), misses
 * shards, or counts a retried event twice; all without an error. So the first
 * write under a prefix stores them, as one string such as
 * "tz=+14:00 shards=8 idempotency_s=86400", and a handle whose own differ is
 * refused with a message naming both. The retention periods (ttl_*) and
 * max_future_ms are not stored: they decide when keys expire and which events
 * are accepted, never a key's name, so handles may differ in them; the prefix
 * is part of every key already.
 *
 * Plain commands, not a script: GET at open, SET NX GET at the first write
 * (one atomic command: of two first writers one stores, the other reads what
 * it stored), as tally_open's v1 check uses EXISTS.
 *
 * Next to them, the day from which the shards' hashes hold every event's
 * account field ("a:<account>": the lists and rankings of accounts), which
 * tally before them did not write: "0" when the write that stored the
 * parameters was the prefix's first (no data without them), else the day
 * after the first write of a tally that has them (that day's and earlier
 * events may lack them). Readers of accounts refuse periods before it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "evict.h"
#include "keys.h"
#include "node.h"
#include "reply.h"
#include "schema.h"
#include "timecal.h"

#define TEXT_MAX 96

/* The handle's parameters as stored. */
static void describe(const tally_config *c, char *out) {
    int m = c->tz_offset_min, a = m < 0 ? -m : m;
    snprintf(out, TEXT_MAX, "tz=%c%02d:%02d shards=%d idempotency_s=%lld", m < 0 ? '-' : '+', a / 60, a % 60,
             c->shards, (long long)c->idempotency_s);
}

/* The parameter `name=value` of text s that differs from the same name's in
 * mine, as "<stored> (this handle: <mine>)"s into out; 0 when none does by
 * name (a text tally did not write). */
static int differences(const char *stored, const char *mine, char *out, size_t cap) {
    size_t o = 0;
    int found = 0;
    for (const char *p = mine; *p;) {
        size_t len = strcspn(p, " "), name = strcspn(p, "=");
        for (const char *q = stored; *q;) {
            size_t qlen = strcspn(q, " ");
            if (qlen > name && memcmp(q, p, name + 1) == 0 && (qlen != len || memcmp(q, p, len) != 0) && o < cap) {
                o += (size_t)snprintf(out + o, cap - o, "%s%.*s (this handle: %.*s)", found ? ", " : "", (int)qlen, q,
                                      (int)len, p);
                found = 1;
            }
            q += qlen + (q[qlen] == ' ');
        }
        p += len + (p[len] == ' ');
    }
    return found;
}

/* Compares the stored text with the handle's parameters. */
static int compare(tally *t, const redisReply *r, const char *mine) {
    char diff[2 * TALLY_ERRMSG_MAX / 3];
    if (r->len == strlen(mine) && memcmp(r->str, mine, r->len) == 0) {
        t->schema_known = 1;
        return TALLY_OK;
    }
    if (r->len >= TEXT_MAX || memchr(r->str, '\0', r->len) || !differences(r->str, mine, diff, sizeof diff))
        return tally__fail(t, TALLY_EINVAL,
                           "prefix '%s' holds schema parameters tally did not write ('%.*s'; this handle: %s): "
                           "use another prefix (docs/keys.md)",
                           t->cfg.prefix, r->len < TEXT_MAX ? (int)r->len : TEXT_MAX, r->str, mine);
    return tally__fail(t, TALLY_EINVAL,
                       "prefix '%s' was written with %s: every handle on a prefix must use the parameters its data "
                       "was written with (tally_config; the tool's --tz or $TALLY_TZ), or another prefix (docs/keys.md)",
                       t->cfg.prefix, diff);
}

/* GET (claim 0), SET NX GET (claim 1) or SET GET (claim 2: overwrites) of
 * the schema key into t->aux. */
static int build(tally *t, int claim, const char *key, size_t n, const char *mine) {
    tally_args *a = &t->aux;
    tally__args_reset(a);
    int err = tally__args_str(a, claim ? "SET" : "GET") | tally__args_add(a, key, n);
    if (claim) err |= tally__args_str(a, mine) | (claim == 1 ? tally__args_str(a, "NX") : 0) | tally__args_str(a, "GET");
    return err ? tally__oom(t) : TALLY_OK;
}

/* Runs GET or SET NX GET on the node serving the schema key: the reply, or
 * NULL with the handle's error set (*down: the node could not be asked). A
 * SET passes the eviction gate as recording does (it is the first record's
 * write). A MOVED answer (a stale slot map) is followed once. */
static redisReply *get_or_claim(tally *t, int claim, const char *key, size_t n, const char *mine, int *down) {
    int node = tally__route_key(t, key, n, 1);
    *down = 1;
    if (node < 0 || build(t, claim, key, n, mine) != TALLY_OK) return NULL;
    if (claim && (tally__evict_gate(t, node, &t->aux, 1) != TALLY_OK || build(t, claim, key, n, mine) != TALLY_OK))
        return *down = 0, NULL; /* the gate may have used t->aux */
    for (int tries = 0; tries < 2; tries++) {
        redisReply *r = tally__node_command(t, node, &t->aux);
        if (!r) return NULL;
        *down = 0;
        if (tries || !tally__is_cluster(t) || tally__redirect(t, r, &node) != 1) return r;
        freeReplyObject(r);
    }
    return NULL; /* not reached */
}

/* Takes a reply to GET or SET NX GET: a string is compared with the
 * handle's; nil (nothing stored before) and NOPERM or READONLY (this user or
 * node may not read or write it) are TALLY_OK; other errors the error. */
static int take(tally *t, redisReply *r, const char *mine) {
    int rc = TALLY_OK;
    if (r->type == REDIS_REPLY_STRING) rc = compare(t, r, mine);
    else if (r->type == REDIS_REPLY_ERROR && !tally__reply_is(r, "NOPERM") && !tally__reply_is(r, "READONLY"))
        rc = tally__reply_error(t, r);
    freeReplyObject(r);
    return rc;
}

/* GET (claim 0) or SET NX GET (claim 1) of the schema key; *fresh: 1 when
 * the claim stored them (nothing was stored before). */
static int exchange(tally *t, int claim, int *fresh) {
    char key[TALLY_ENTITY_MAX], mine[TEXT_MAX];
    size_t n = tally__schema_key(&t->schema, key);
    describe(&t->cfg, mine);
    int down;
    redisReply *r = get_or_claim(t, claim, key, n, mine, &down);
    if (!r) return down && !claim && tally__is_cluster(t) ? tally__ok(t) : t->err;
    *fresh = r->type == REDIS_REPLY_NIL;
    int rc = take(t, r, mine);
    if (rc == TALLY_OK && claim) t->schema_known = 1; /* stored now, or this user or node may not: asked once */
    return rc;
}

int tally__schema_check(tally *t) {
    int fresh;
    return exchange(t, 0, &fresh);
}

/* Stores the day account fields begin: "0" after the prefix's first write
 * (SET: it overwrites the day that a writer racing it may have stored, having
 * seen the parameters this write stored), else tomorrow in the handle's
 * timezone unless one is stored (SET NX). */
static int mark_accounts(tally *t, int fresh) {
    char key[TALLY_ENTITY_MAX];
    tally_when w = { .ymd = "0" };
    if (!fresh) tally__when(tally__now_ms() + 86400000, t->cfg.tz_offset_min, &w);
    int down;
    redisReply *r = get_or_claim(t, fresh ? 2 : 1, key, tally__accounts_key(&t->schema, key), w.ymd, &down);
    if (!r) return t->err;
    int rc = TALLY_OK;
    if (r->type == REDIS_REPLY_ERROR && !tally__reply_is(r, "NOPERM") && !tally__reply_is(r, "READONLY"))
        rc = tally__reply_error(t, r);
    freeReplyObject(r);
    if (rc == TALLY_OK) t->accounts_marked = 1;
    return rc;
}

int tally__schema_claim(tally *t) {
    if (t->schema_known && t->accounts_marked) return TALLY_OK;
    tally__io_begin(t);
    int fresh = 0, rc = t->schema_known ? TALLY_OK : exchange(t, 1, &fresh);
    if (rc == TALLY_OK && !t->accounts_marked) rc = mark_accounts(t, fresh);
    tally__io_end(t);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}

int tally__accounts_from(tally *t, int64_t *ymd) {
    char key[TALLY_ENTITY_MAX];
    int rc = TALLY_OK;
    *ymd = t->accounts_known ? t->accounts_from : 0;
    if (t->accounts_known) return TALLY_OK;
    for (int which = 0; which < 2 && rc == TALLY_OK; which++) {
        int down;
        redisReply *r = get_or_claim(t, 0, key, which ? tally__schema_key(&t->schema, key) : tally__accounts_key(&t->schema, key), NULL, &down);
        if (!r) return t->err;
        char *end = NULL;
        int nil = r->type == REDIS_REPLY_NIL;
        if (r->type == REDIS_REPLY_ERROR) rc = tally__reply_error(t, r);
        else if (!which && !nil && (r->type != REDIS_REPLY_STRING || r->len > 8 || (*ymd = strtoll(r->str, &end, 10), *end)))
            rc = tally__fail(t, TALLY_ESCRIPT, "%s holds something tally did not write", key);
        freeReplyObject(r);
        if (which && !nil) *ymd = -1; /* written, but never by a tally that marks accounts */
        if (!which && !nil && rc == TALLY_OK) t->accounts_known = 1, t->accounts_from = *ymd;
        if (!nil) break;
    }
    return rc;
}
