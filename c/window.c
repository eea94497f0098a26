/* window.c -- script calls sent with a window in flight: the caller builds
 * the next call while Redis runs the ones before it. The caller (batch.c)
 * names its calls by ids and says how to build, rebuild and take each one;
 * this unit routes, sends, reads the answers in order, and recovers:
 *   NOSCRIPT  the call did not run: once that node's window is drained, the
 *             scripts are loaded there and the call is built and sent again;
 *   MOVED, ASK, TRYAGAIN, CLUSTERDOWN  the call goes again through
 *             scripts.c's redirection loop once nothing is in flight;
 *   I/O error or timeout  the calls in flight on that connection are lost
 *             (their outcome is unknown); later calls connect again. A call
 *             that was never written (the connection refused, or found closed
 *             before its first byte went out) did not run: it is lost with
 *             TALLY_ECONNECT, which the caller may resend without a request id;
 *   eviction  a write that evict.c's gate refuses is lost unsent; when the
 *             gate must read the primaries' policies, the window drains first.
 * Answers reach the caller in the order each node sent them. Layer: transport
 * (beside exec.c, whose redirection loop it uses). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "evict.h"
#include "exec.h"
#include "node.h"
#include "scripts.h"
#include "window.h"

#define WINDOW_MAX 16

typedef struct { size_t id; int node; } flight;

typedef struct {
    tally *t;
    const tally_window_ops *ops;
    int window;
    flight in[WINDOW_MAX];
    int nin;
    tally_vec *resend, *slow, *reload; /* ids; ids; per node: load the scripts first */
} win;

#define AT(v, type, i) (((type *)(v).p)[i])

/* Every call in flight on node lost its connection: its outcome is unknown. */
static void lost_node(win *w, int node, int code) {
    int keep = 0;
    for (int i = 0; i < w->nin; i++) {
        if (w->in[i].node == node) w->ops->lost(w->ops->ctx, w->in[i].id, code);
        else w->in[keep++] = w->in[i];
    }
    w->nin = keep;
}

/* Call id was not sent, so it did not run: a connection failure (the server
 * refused the connection, had closed it before the call was written, or did
 * not answer the scripts' loading) becomes TALLY_ECONNECT, safe to send
 * again; any other failure (EAUTH, ENOMEM, a refused script) stays itself. */
static void not_sent(win *w, size_t id) {
    tally *t = w->t;
    if (t->err == TALLY_EIO || t->err == TALLY_ETIMEOUT) {
        char why[TALLY_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", t->errmsg);
        tally__fail(t, TALLY_ECONNECT, "the call was not sent: %.*s", (int)sizeof why - 32, why);
    }
    w->ops->lost(w->ops->ctx, id, t->err);
}

/* Reads the answer of the oldest call in flight. -1: out of memory. */
static int receive(win *w) {
    flight f = w->in[0];
    redisReply *r = tally__node_reply(w->t, f.node, "running a batch");
    if (!r) { /* the connection is dropped: every call in flight on it is lost */
        lost_node(w, f.node, w->t->err);
        return 0;
    }
    memmove(w->in, w->in + 1, (size_t)--w->nin * sizeof *w->in);
    tally__evict_note(w->t, f.node, r);
    int target = -1, rc = 0;
    switch (tally__reply_kind(w->t, r, &target)) {
    case TALLY_REPLY_RELOAD: /* did not run */
        AT(*w->reload, unsigned char, f.node) = 1;
        rc = tally__vec_push(w->resend, &f.id, sizeof f.id);
        break;
    case TALLY_REPLY_MOVED: case TALLY_REPLY_ASK: case TALLY_REPLY_WAIT:
        rc = tally__vec_push(w->slow, &f.id, sizeof f.id);
        break;
    default:
        rc = w->ops->take(w->ops->ctx, f.id, r);
    }
    freeReplyObject(r);
    return rc;
}

/* Waits for every call in flight on node. -1: out of memory. */
static int drain(win *w, int node) {
    for (;;) {
        int i = 0;
        while (i < w->nin && w->in[i].node != node) i++;
        if (i == w->nin) return 0;
        if (receive(w) < 0) return -1;
    }
}

/* Sends call id, built in t->args, to the node serving it, without waiting
 * for the answer. -1: out of memory. */
static int send_call(win *w, size_t id) {
    tally *t = w->t;
    int node = tally__route(t, &t->args, 0);
    if (node >= 0 && tally__scripts_ready(t, node) != TALLY_OK) node = -1;
    if (node < 0) {
        if (!tally__is_cluster(t)) { /* a single server that cannot be reached: nothing was sent */
            not_sent(w, id);
            return 0;
        }
        return tally__vec_push(w->slow, &id, sizeof id); /* through the map refresh */
    }
    if (tally__vec_reserve(w->reload, (size_t)t->nodes->n, 1) < 0) return -1;
    while (w->reload->n < (size_t)t->nodes->n) AT(*w->reload, unsigned char, w->reload->n++) = 0;
    if (AT(*w->reload, unsigned char, node)) {
        /* answers taken meanwhile may build calls of their own: build this one again */
        if (drain(w, node) < 0) return -1;
        AT(*w->reload, unsigned char, node) = 0;
        if (tally__scripts_load_on(t, node) != TALLY_OK) {
            not_sent(w, id);
            return 0;
        }
        if (w->ops->rebuild(w->ops->ctx, id) < 0) return -1;
    }
    int due = tally__evict_due(t, node, &t->args);
    if (due) { /* the policies' INFO needs every window empty */
        while (w->nin)
            if (receive(w) < 0) return -1;
        if (w->ops->rebuild(w->ops->ctx, id) < 0) return -1;
    }
    if (tally__evict_gate(t, node, &t->args, due) != TALLY_OK) { /* not sent */
        w->ops->lost(w->ops->ctx, id, t->err);
        return 0;
    }
    if (tally__node_send_call(t, node, &t->args) != TALLY_OK) return -1;
    w->in[w->nin++] = (flight){ id, node };
    int unsent;
    if (tally__node_push(t, node, "sending a batch", &unsent) != TALLY_OK) {
        w->nin -= unsent;               /* this call never left ... */
        lost_node(w, node, t->err);     /* ... the calls before it did: their outcome is unknown */
        if (unsent) not_sent(w, id);
    }
    return 0;
}

/* A call that needs a redirection or a wait, once nothing is in flight:
 * through scripts.c's loop, which follows MOVED and ASK and waits out
 * TRYAGAIN. -1: out of memory. */
static int send_slow(win *w) {
    size_t id = AT(*w->slow, size_t, --w->slow->n);
    if (w->ops->rebuild(w->ops->ctx, id) < 0) return -1;
    redisReply *r = tally__eval_raw(w->t, &w->t->args); /* answers past redirections */
    if (!r) {
        w->ops->lost(w->ops->ctx, id, w->t->err);
        return 0;
    }
    int rc = w->ops->take(w->ops->ctx, id, r);
    freeReplyObject(r);
    return rc;
}

static int pump(win *w) {
    for (;;) {
        if (w->nin < w->window) {
            size_t id;
            int idle = w->nin == 0 && !w->slow->n && !w->resend->n, got;
            if (w->resend->n) {
                id = AT(*w->resend, size_t, --w->resend->n);
                got = w->ops->rebuild(w->ops->ctx, id) < 0 ? -1 : 1;
            } else {
                got = w->ops->next(w->ops->ctx, idle, &id);
            }
            if (got < 0) return -1;
            if (got > 0) {
                if (send_call(w, id) < 0) return -1;
                continue;
            }
        }
        if (w->nin) {
            if (receive(w) < 0) return -1;
        } else if (w->slow->n) {
            if (send_slow(w) < 0) return -1;
        } else if (!w->resend->n) {
            return 0;
        }
    }
}

int tally__window_run(tally *t, int window, const tally_window_ops *ops, tally_window *mem) {
    mem->resend.n = mem->slow.n = mem->reload.n = 0;
    win w = { t, ops, window < 1 ? 1 : window > WINDOW_MAX ? WINDOW_MAX : window, { { 0, 0 } }, 0,
              &mem->resend, &mem->slow, &mem->reload };
    tally__cluster_sync(t); /* on failure the first call reports the error */
    return pump(&w);
}

void tally__window_free(tally_window *mem) {
    free(mem->resend.p);
    free(mem->slow.p);
    free(mem->reload.p);
}
