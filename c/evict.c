/* evict.c -- eviction: Redis evicts keys under maxmemory unless its
 * maxmemory-policy is noeviction, and an evicted key is silently gone (a
 * bucket reads low, a request id is forgotten so a resend counts twice, a
 * limit's or a budget's state vanishes so it admits too much). So every script
 * call that writes passes a gate that knows each node's policy, read with
 * INFO memory (no CONFIG rights needed): at tally_open, on every new
 * connection, again when older than cfg.prices_refresh_ms, and after an OOM
 * answer. The policy alone decides, not maxmemory: maxmemory 0 never evicts,
 * but CONFIG SET maxmemory can change that at any moment without a
 * reconnect, and nothing tells a client when it does. */
#include <stdio.h>
#include <string.h>

#include "evict.h"
#include "timecal.h"

/* What a script call does, by its script (the SHA in argument 2). */
enum { READS, RECORDS, ADMITS };

static int kind_of(const tally_args *a) {
    static const struct { int id, kind; } writers[] = {
        { TALLY_SCRIPT_RECORD, RECORDS }, { TALLY_SCRIPT_PRICES, RECORDS }, { TALLY_SCRIPT_MIGRATE, RECORDS }, { TALLY_SCRIPT_ALLOW, ADMITS },
        { TALLY_SCRIPT_LEASE, ADMITS },   { TALLY_SCRIPT_RESERVE, ADMITS }, { TALLY_SCRIPT_CANCEL, ADMITS },
    };
    if (a->argc >= 1 && a->lens[0] == 3 && memcmp(a->buf + a->off[0], "SET", 3) == 0)
        return RECORDS; /* schema.c: the schema's parameters, stored by the first record */
    if (a->argc < 2 || a->lens[1] != 40 || tally__args_is_ro(a)) return READS;
    const char *sha = a->buf + a->off[1];
    for (size_t k = 0; k < sizeof writers / sizeof writers[0]; k++)
        if (memcmp(sha, tally__scripts[writers[k].id].sha1, 40) == 0) return writers[k].kind;
    return READS; /* read.lua, peek.lua */
}

/* The value of "name:" in INFO text s, as a string into out (cap bytes);
 * 0 when the field is missing. */
static int field(const char *s, const char *name, char *out, size_t cap) {
    size_t n = strlen(name);
    for (const char *p = s; p; p = strchr(p, '\n')) {
        if (*p == '\n') p++;
        if (strncmp(p, name, n) == 0 && p[n] == ':') {
            size_t len = strcspn(p + n + 1, "\r\n");
            snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), p + n + 1);
            return 1;
        }
    }
    return 0;
}

int tally__evict_read(tally *t, int i) {
    tally_policy *p = &t->nodes->v[i].policy;
    tally__args_reset(&t->aux);
    if (tally__args_str(&t->aux, "INFO") || tally__args_str(&t->aux, "memory")) return tally__oom(t);
    redisReply *r = tally__node_command(t, i, &t->aux);
    if (!r) return t->err;
    memset(p, 0, sizeof *p);
    p->read_ms = tally__mono_ms();
    if (r->type == REDIS_REPLY_ERROR) {
        p->evicts = -1;
        snprintf(p->name, sizeof p->name, "INFO refused: %.*s", (int)strcspn(r->str, " "), r->str);
    } else if (r->type != REDIS_REPLY_STRING || !field(r->str, "maxmemory_policy", p->name, sizeof p->name)) {
        p->evicts = -1;
        snprintf(p->name, sizeof p->name, "INFO has no maxmemory_policy");
    } else {
        p->evicts = strcmp(p->name, "noeviction") != 0;
    }
    freeReplyObject(r);
    return TALLY_OK;
}

/* 1 when node j's policy must be read again. */
static int stale(const tally *t, int j) {
    const tally_policy *p = &t->nodes->v[j].policy;
    return p->read_ms == 0 || tally__mono_ms() - p->read_ms >= t->cfg.prices_refresh_ms;
}

/* The nodes a write to node i answers to: node i, and on a cluster every
 * primary the handle is connected to (all of them after tally_open), so that
 * an operation whose calls span several primaries is refused before its
 * first call rather than half written. */
static int watched(const tally *t, int j, int i) {
    return j == i || (!t->nodes->v[j].replica && t->nodes->v[j].ctx);
}

int tally__evict_due(const tally *t, int i, const tally_args *a) {
    if (kind_of(a) == READS) return 0;
    for (int j = 0; j < t->nodes->n; j++)
        if (watched(t, j, i) && stale(t, j)) return 1;
    return 0;
}

/* The refusal of a write of `kind` because of node j's policy p. Kept under
 * TALLY_RESULT_MESSAGE_MAX, where a batch's events carry it. */
static int refuse(tally *t, int j, int kind, const tally_policy *p) {
    char at[300];
    tally__node_addr(t, j, at, sizeof at);
    if (kind == ADMITS && t->cfg.allow_eviction)
        return tally__fail(t, TALLY_EEVICT,
                           "%s: maxmemory-policy %s: limits, leases and budgets are refused even with "
                           "allow_eviction (evicted state would admit too much); set maxmemory-policy noeviction",
                           at, p->name);
    if (p->evicts < 0)
        return tally__fail(t, TALLY_EEVICT,
                           "%s: cannot tell whether Redis may evict tally's keys (%s); writes refused. Allow the "
                           "user INFO (+info), or accept approximate statistics: allow_eviction, --allow-eviction, "
                           "TALLY_ALLOW_EVICTION=1", at, p->name);
    return tally__fail(t, TALLY_EEVICT,
                       "%s: maxmemory-policy %s: Redis may evict tally's keys; writes refused. Set maxmemory-policy "
                       "noeviction, or accept approximate statistics (lost counts, recounted request ids): "
                       "allow_eviction, --allow-eviction, TALLY_ALLOW_EVICTION=1", at, p->name);
}

int tally__evict_gate(tally *t, int i, const tally_args *a, int may_read) {
    int kind = kind_of(a);
    if (kind == READS) return TALLY_OK;
    /* Another primary that cannot be asked now (its connection just failed)
     * holds none of this call's keys: it is asked again when it reconnects. */
    for (int j = 0; may_read && j < t->nodes->n; j++)
        if (watched(t, j, i) && stale(t, j) && tally__evict_read(t, j) != TALLY_OK && j == i) return t->err;
    for (int j = 0; j < t->nodes->n; j++) {
        const tally_policy *p = &t->nodes->v[j].policy;
        if (!watched(t, j, i) || p->read_ms == 0 || p->evicts == 0 || (kind == RECORDS && t->cfg.allow_eviction))
            continue;
        return refuse(t, j, kind, p);
    }
    return TALLY_OK;
}

void tally__evict_note(tally *t, int i, const redisReply *r) {
    if (i >= 0 && i < t->nodes->n && r->type == REDIS_REPLY_ERROR && tally__reply_is(r, "OOM"))
        t->nodes->v[i].policy.read_ms = 0;
}
