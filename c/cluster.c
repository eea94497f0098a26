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

#include "internal.h"

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

/* Index of host:port in the node list, appended (unconnected) if new; -1 OOM. */
static int node_index(tally *t, const char *host, size_t hn, int port, int replica) {
    for (int i = 0; i < t->nnodes; i++)
        if (t->nodes[i].port == port && strlen(t->nodes[i].host) == hn && memcmp(t->nodes[i].host, host, hn) == 0) {
            if (!replica) t->nodes[i].replica = 0;
            return i;
        }
    tally_node *grown = realloc(t->nodes, (size_t)(t->nnodes + 1) * sizeof *grown);
    if (!grown) return -1;
    t->nodes = grown;
    tally_node *n = &t->nodes[t->nnodes];
    memset(n, 0, sizeof *n);
    snprintf(n->host, sizeof n->host, "%.*s", (int)hn, host);
    n->port = port;
    n->replica = replica;
    return t->nnodes++;
}

/* Builds the node list and slot map from a CLUSTER SLOTS reply into t (whose
 * node list starts empty). -1 when the reply is malformed or memory ran out. */
static int apply_slots(tally *t, const redisReply *r, const char *asked_host) {
    for (int s = 0; s < TALLY_SLOTS; s++) t->slots[s] = -1;
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *e = r->element[k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            return -1;
        long long from = e->element[0]->integer, to = e->element[1]->integer;
        for (size_t j = 2; j < e->elements; j++) {
            const redisReply *n = e->element[j];
            if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 || n->element[0]->type != REDIS_REPLY_STRING ||
                n->element[1]->type != REDIS_REPLY_INTEGER)
                return -1;
            const char *host = n->element[0]->len ? n->element[0]->str : asked_host;
            int i = node_index(t, host, strlen(host), (int)n->element[1]->integer, j > 2);
            if (i < 0) return -1;
            if (j == 2)
                for (long long s = from; s <= to && s < TALLY_SLOTS; s++)
                    if (s >= 0) t->slots[s] = (int16_t)i;
        }
    }
    return 0;
}

/* Asks node i for CLUSTER SLOTS; NULL (error set) when it cannot answer. */
static redisReply *ask_slots(tally *t, int i) {
    tally_args *a = &t->aux;
    tally__args_reset(a);
    if (tally__args_str(a, "CLUSTER") || tally__args_str(a, "SLOTS")) return NULL;
    redisReply *r = tally__command_on(t, i, a);
    if (r && (r->type != REDIS_REPLY_ARRAY || r->elements == 0)) {
        tally__fail(t, TALLY_EREDIS, "CLUSTER SLOTS answered %s", r->type == REDIS_REPLY_ERROR ? r->str : "no slots");
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

int tally__cluster_refresh(tally *t) {
    /* Ask the nodes we know, connected ones first, then the seeds. */
    redisReply *r = NULL;
    int asked = -1;
    for (int pass = 0; pass < 2 && !r; pass++)
        for (int i = 0; i < t->nnodes && !r; i++)
            if ((pass == 0) == (t->nodes[i].ctx != NULL) && (r = ask_slots(t, i))) asked = i;
    for (int s = 0; s < t->url.nseeds && !r; s++) {
        int i = node_index(t, t->url.seeds[s].host, strlen(t->url.seeds[s].host), t->url.seeds[s].port, 0);
        if (i < 0) return tally__oom(t);
        if ((r = ask_slots(t, i))) asked = i;
    }
    if (!r) return t->err ? t->err : tally__fail(t, TALLY_ECONNECT, "no cluster node answered");
    tally_node *old = t->nodes;
    int nold = t->nnodes;
    char asked_host[256];
    snprintf(asked_host, sizeof asked_host, "%s", old[asked].host);
    t->nodes = NULL;
    t->nnodes = 0;
    int bad = apply_slots(t, r, asked_host);
    freeReplyObject(r);
    if (bad) {
        for (int i = 0; i < t->nnodes; i++) tally__disconnect(&t->nodes[i]);
        free(t->nodes);
        t->nodes = old;
        t->nnodes = nold;
        return tally__fail(t, TALLY_EREDIS, "CLUSTER SLOTS answered something unexpected");
    }
    for (int k = 0; k < nold; k++) {
        int kept = 0;
        for (int i = 0; i < t->nnodes && !kept; i++)
            if (!t->nodes[i].ctx && t->nodes[i].port == old[k].port && strcmp(t->nodes[i].host, old[k].host) == 0) {
                t->nodes[i].ctx = old[k].ctx;
                kept = 1;
            }
        if (!kept) tally__disconnect(&old[k]);
    }
    free(old);
    t->map_stale = 0;
    return tally__ok(t);
}

int tally__route(tally *t, const tally_args *a, int may_refresh) {
    if (!t->slots) return tally__connect_node(t, 0) == TALLY_OK ? 0 : -1;
    if (may_refresh && t->map_stale && tally__cluster_refresh(t) != TALLY_OK) return -1;
    unsigned slot = a->argc > 3 ? tally__key_slot(a->buf + a->off[3], a->lens[3]) : 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int i = t->slots[slot];
        if (i < 0) {
            tally__fail(t, TALLY_EREDIS, "no node serves slot %u (is the cluster down?)", slot);
        } else if (tally__connect_node(t, i) == TALLY_OK) {
            return i;
        } else if (t->err != TALLY_ECONNECT || !may_refresh) {
            return -1;
        }
        /* Nothing was sent: look again where the slot lives now (failover). */
        if (attempt == 0 && tally__cluster_refresh(t) != TALLY_OK) return -1;
    }
    return -1;
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
    if (!colon || !t->slots) return 0;
    int i = node_index(t, addr, (size_t)(colon - addr), atoi(colon + 1), 0);
    if (i < 0) return 0;
    if (kind == 1) {
        t->slots[slot] = (int16_t)i;
        t->map_stale = 1; /* the topology changed: re-read it before the next call */
    }
    *node = i;
    return kind;
}
