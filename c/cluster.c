/* cluster.c -- Redis Cluster routing, ours because hiredis-cluster needs
 * hiredis >= 1.0 (Debian 12 ships 0.14): key slots (CRC16-XMODEM of the key, or
 * of its first non-empty {hash tag}, mod 16384), the slot map from CLUSTER SLOTS,
 * and MOVED / ASK redirections. A single server is node 0 for every slot.
 *
 * Nodes are only ever appended between refreshes, so node indices stay valid
 * across a redirection; a refresh rebuilds the list and keeps the connections
 * of nodes that are still there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "node.h"

struct tally_cluster {
    int16_t slots[TALLY_SLOTS]; /* node index serving each slot, -1 unknown */
    int stale;                  /* refresh the slot map before the next call */
};

int tally__is_cluster(const tally *t) {
    return t->cluster != NULL;
}

static uint16_t crc16(const char *s, size_t n) {
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)((unsigned char)s[i] << 8);
        for (int b = 0; b < 8; b++) crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned tally__key_slot(const char *key, size_t n) {
    const char *open = memchr(key, '{', n);
    if (open) {
        const char *close = memchr(open + 1, '}', n - (size_t)(open + 1 - key));
        if (close && close > open + 1) return crc16(open + 1, (size_t)(close - open - 1)) & 16383;
    }
    return crc16(key, n) & 16383;
}

/* Builds the node list `list` (empty) and the slot map from a CLUSTER SLOTS
 * reply. -1 when the reply is malformed or memory ran out. */
static int apply_slots(struct tally_cluster *c, struct tally_nodes *list, const redisReply *r,
                       const char *asked_host) {
    for (int s = 0; s < TALLY_SLOTS; s++) c->slots[s] = -1;
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *e = r->element[k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            return -1;
        long long from = e->element[0]->integer, to = e->element[1]->integer;
        int primary = -1;
        for (size_t j = 2; j < e->elements; j++) {
            const redisReply *n = e->element[j];
            if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 || n->element[0]->type != REDIS_REPLY_STRING ||
                n->element[1]->type != REDIS_REPLY_INTEGER)
                return -1;
            const char *host = n->element[0]->len ? n->element[0]->str : asked_host;
            int i = tally__nodes_add(list, host, strlen(host), (int)n->element[1]->integer, j > 2);
            if (i < 0) return -1;
            if (j > 2) {
                list->v[i].of = primary;
                continue;
            }
            primary = i;
            for (long long s = from; s <= to && s < TALLY_SLOTS; s++)
                if (s >= 0) c->slots[s] = (int16_t)i;
        }
    }
    return 0;
}

/* Asks node i for CLUSTER SLOTS; NULL (error set) when it cannot answer. */
static redisReply *ask_slots(tally *t, int i) {
    tally_args *a = &t->aux;
    tally__args_reset(a);
    if (tally__args_str(a, "CLUSTER") || tally__args_str(a, "SLOTS")) return NULL;
    redisReply *r = tally__node_command(t, i, a);
    if (r && (r->type != REDIS_REPLY_ARRAY || r->elements == 0)) {
        tally__fail(t, TALLY_EREDIS, "CLUSTER SLOTS answered %s", r->type == REDIS_REPLY_ERROR ? r->str : "no slots");
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* Reads CLUSTER SLOTS from any reachable node and rebuilds the node list
 * (connections to nodes still present are kept). */
static int refresh(tally *t) {
    /* Ask the nodes we know, connected ones first, then the seeds. */
    redisReply *r = NULL;
    int asked = -1;
    for (int pass = 0; pass < 2 && !r; pass++)
        for (int i = 0; i < t->nodes->n && !r; i++)
            if ((pass == 0) == (t->nodes->v[i].ctx != NULL) && (r = ask_slots(t, i))) asked = i;
    for (int s = 0; s < t->url.nseeds && !r; s++) {
        int i = tally__nodes_add(t->nodes, t->url.seeds[s].host, strlen(t->url.seeds[s].host),
                                 t->url.seeds[s].port, 0);
        if (i < 0) return tally__oom(t);
        if ((r = ask_slots(t, i))) asked = i;
    }
    if (!r) return t->err ? t->err : tally__fail(t, TALLY_ECONNECT, "no cluster node answered");
    char asked_host[256];
    snprintf(asked_host, sizeof asked_host, "%s", t->nodes->v[asked].host);
    struct tally_nodes *fresh = tally__nodes_new();
    int bad = !fresh || apply_slots(t->cluster, fresh, r, asked_host);
    freeReplyObject(r);
    if (bad) {
        tally__nodes_free(fresh);
        return tally__fail(t, TALLY_EREDIS, "CLUSTER SLOTS answered something unexpected");
    }
    tally__nodes_adopt(t, fresh);
    t->cluster->stale = 0;
    t->nodes->changed = 0;
    return tally__ok(t);
}

int tally__cluster_open(tally *t) {
    if (!(t->cluster = malloc(sizeof *t->cluster))) return tally__oom(t);
    return refresh(t);
}

void tally__cluster_close(tally *t) {
    free(t->cluster);
    t->cluster = NULL;
}

int tally__cluster_sync(tally *t) {
    if (!t->cluster || !(t->cluster->stale || t->nodes->changed)) return TALLY_OK;
    return refresh(t);
}

void tally__cluster_unsettled(tally *t) {
    if (t->cluster) t->cluster->stale = 1;
}

/* A replica of primary p that is up (not resting after a failure), connected;
 * -1 when none is. */
static int replica_of(tally *t, int p) {
    for (int i = 0; i < t->nodes->n; i++)
        if (t->nodes->v[i].replica && t->nodes->v[i].of == p && !tally__node_resting(t, i) &&
            tally__node_connect(t, i) == TALLY_OK)
            return i;
    return -1;
}

/* tally__route_key for a call from `a`: reads (EVALSHA_RO) with
 * TALLY_READ_REPLICA go to a replica of the slot's primary when one is up,
 * unless they must stay on the primary (tally__args_script_ro_primary). */
static int route(tally *t, const char *key, size_t n, int may_refresh, int read) {
    if (!t->cluster) return tally__node_connect(t, 0) == TALLY_OK ? 0 : -1;
    if (may_refresh && tally__cluster_sync(t) != TALLY_OK) return -1;
    unsigned slot = tally__key_slot(key, n);
    if (read && t->cfg.read_from == TALLY_READ_REPLICA && t->cluster->slots[slot] >= 0) {
        int r = replica_of(t, t->cluster->slots[slot]);
        if (r >= 0) return r;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int i = t->cluster->slots[slot];
        if (i < 0) {
            tally__fail(t, TALLY_EREDIS, "no node serves slot %u (is the cluster down?)", slot);
        } else if (tally__node_connect(t, i) == TALLY_OK) {
            return i;
        } else if (t->err != TALLY_ECONNECT || !may_refresh) {
            return -1;
        }
        /* Nothing was sent: look again where the slot lives now (failover). */
        if (attempt == 0 && refresh(t) != TALLY_OK) return -1;
    }
    return -1;
}

int tally__route(tally *t, const tally_args *a, int may_refresh) {
    int read = tally__args_is_ro(a) && !a->primary;
    return a->argc > 3 ? route(t, a->buf + a->off[3], a->lens[3], may_refresh, read) : route(t, "", 0, may_refresh, read);
}

int tally__route_key(tally *t, const char *key, size_t n, int may_refresh) {
    return route(t, key, n, may_refresh, 0);
}

int tally__redirect(tally *t, const redisReply *r, int *node) {
    int kind = 0;
    if (r->type != REDIS_REPLY_ERROR) return 0;
    if (r->len > 6 && memcmp(r->str, "MOVED ", 6) == 0) kind = 1;
    else if (r->len > 4 && memcmp(r->str, "ASK ", 4) == 0) kind = 2;
    else return 0;
    unsigned slot;
    char addr[300];
    if (sscanf(r->str + (kind == 1 ? 6 : 4), "%u %299s", &slot, addr) != 2 || slot >= TALLY_SLOTS) return 0;
    char *colon = strrchr(addr, ':');
    if (!colon || !t->cluster) return 0;
    int i = tally__nodes_add(t->nodes, addr, (size_t)(colon - addr), atoi(colon + 1), 0);
    if (i < 0) return 0;
    if (kind == 1) {
        t->cluster->slots[slot] = (int16_t)i;
        t->cluster->stale = 1; /* the topology changed: re-read it before the next call */
    }
    *node = i;
    return kind;
}
