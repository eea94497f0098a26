/* window.c -- the library's one primitive for script calls in flight: a
 * window of calls, each sent to the node serving its keys while the caller
 * builds the next; a single call is a window of one (exec.c's tally__eval),
 * a pipelined read a window of many (tally__eval_keyed), record's batch a
 * window its pace sizes (record.c). The caller names its calls by ids and says
 * how to build, rebuild and take each one; this unit routes, sends, reads the
 * answers in order, and recovers, here and nowhere else:
 *   NOSCRIPT  the call did not run: once that node's window is drained, the
 *             scripts are loaded there and the call is built and sent again;
 *   MOVED, ASK  the call goes again, once nothing is in flight, to the node
 *             the answer names (after ASKING for an ASK);
 *   TRYAGAIN, CLUSTERDOWN  the call goes again once nothing is in flight,
 *             after a back-off, with the slot map read again;
 *   a replica's read  a replica that fails, or answers LOADING or
 *             MASTERDOWN, rests: the read goes again, to its primary;
 *   I/O error or timeout  the calls in flight on that connection are lost
 *             (their outcome is unknown); later calls connect again. A call
 *             that was never written (the connection refused, or found closed
 *             before its first byte went out) did not run: on a cluster it
 *             goes again after the slot map is read, else it is lost with
 *             TALLY_ECONNECT, which the caller may resend without a request id;
 *   eviction  a write that evict.c's gate refuses is lost unsent; when the
 *             gate must read the primaries' policies, the window drains first.
 * A call goes at most TALLY_WINDOW_TRIES times. Answers reach the caller in
 * the order each node sent them. Layer: transport (above node.c, cluster.c,
 * evict.c and scripts.c; exec.c builds the features' calls on it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "evict.h"
#include "node.h"
#include "scripts.h"
#include "window.h"

#define WINDOW_MAX 512 /* record's pace asks for up to 4; a keyed read pipelines up to this */

/* A call in flight (node: where it went) or waiting to go again (node: the
 * node a redirection named, or -1 to route it). */
typedef struct {
    size_t id;
    int node, tries;
    unsigned char asking;       /* ASKING goes first (an ASK redirection) */
    unsigned char replica_read; /* in flight: a read a replica serves */
    unsigned char wait;         /* waiting: back off first (TRYAGAIN, CLUSTERDOWN) */
} flight;

/* Call id, to go again to node (-1: routed anew). */
static flight queued(size_t id, int node, int tries, int asking, int wait) {
    return (flight){ id, node, tries, (unsigned char)asking, 0, (unsigned char)wait };
}

typedef struct {
    tally *t;
    tally_args *a; /* where next() and rebuild() build the calls */
    const tally_window_ops *ops;
    const char *doing; /* NULL: a window of one, described by its call */
    int window;
    flight in[WINDOW_MAX];
    int nin;
    tally_vec *resend, *slow, *reload; /* flights; flights; per node: load the scripts first */
} win;

int tally__window_verdict(int kind, int tries) {
    if (kind == TALLY_REPLY_USE) return TALLY_WINDOW_TAKE;
    if (tries + 1 >= TALLY_WINDOW_TRIES) return TALLY_WINDOW_GIVE_UP;
    return kind == TALLY_REPLY_RELOAD ? TALLY_WINDOW_RELOAD : TALLY_WINDOW_AGAIN;
}

long tally__window_backoff_ns(int tries) {
    return 25000000L << (tries < 5 ? tries : 5);
}

int tally__window_unanswered(int replica_read, int code) {
    return replica_read && (code == TALLY_EIO || code == TALLY_ECONNECT) ? TALLY_WINDOW_AGAIN : TALLY_WINDOW_LOST;
}

int tally__window_unsent(int cluster, int map_read, int reached, int code) {
    return cluster && (!map_read || (reached && code == TALLY_ECONNECT)) ? TALLY_WINDOW_AGAIN : TALLY_WINDOW_LOST;
}

/* The call will go again (counted), on `queue`; lost when it has gone
 * TALLY_WINDOW_TRIES times. -1: out of memory. */
static int again(win *w, tally_vec *queue, flight f) {
    if (tally__window_verdict(TALLY_REPLY_WAIT, f.tries) == TALLY_WINDOW_GIVE_UP) {
        w->ops->lost(w->ops->ctx, f.id, tally__fail(w->t, TALLY_EREDIS, "gave up after %d redirections or retries",
                                                    TALLY_WINDOW_TRIES));
        return 0;
    }
    f.tries++;
    return tally__vec_push(queue, &f, sizeof f);
}

/* 1 when the read f, whose replica just failed with the handle's error, may
 * go to the primary instead (it wrote nothing; the replica now rests). */
static int read_elsewhere(const win *w, const flight *f) {
    return tally__window_unanswered(f->replica_read, w->t->err) == TALLY_WINDOW_AGAIN;
}

/* Every call in flight on node lost its connection: its outcome is unknown,
 * except for reads, which go again elsewhere. -1: out of memory. */
static int lost_node(win *w, int node, int code) {
    int keep = 0, rc = 0;
    for (int i = 0; i < w->nin; i++) {
        flight f = w->in[i];
        if (f.node != node) w->in[keep++] = f;
        else if (read_elsewhere(w, &f)) rc |= again(w, w->slow, queued(f.id, -1, f.tries, 0, 0));
        else w->ops->lost(w->ops->ctx, f.id, code);
    }
    w->nin = keep;
    return rc;
}

/* Call f was not sent, so it did not run: a connection failure (the server
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

/* MOVED or ASK resolved to a node (*node) through the slot map, or
 * TALLY_REPLY_USE when the answer names none. */
static int kind_of(tally *t, const redisReply *r, int *node) {
    int kind = tally__reply_kind(r);
    if (kind != TALLY_REPLY_MOVED && kind != TALLY_REPLY_ASK) return kind;
    switch (tally__redirect(t, r, node)) {
    case 1: return TALLY_REPLY_MOVED;
    case 2: return TALLY_REPLY_ASK;
    default: return TALLY_REPLY_USE;
    }
}

/* 1 when reply r says that replica i cannot serve reads now (loading its
 * data, or cut off from its primary): i then rests. */
static int replica_unready(tally *t, const redisReply *r, int i) {
    if (r->type != REDIS_REPLY_ERROR) return 0;
    if (!tally__reply_is(r, "LOADING") && !tally__reply_is(r, "MASTERDOWN")) return 0;
    tally__node_rest(t, i);
    return 1;
}

/* Acts on reply r to call f. -1: out of memory. */
static int answer(win *w, flight f, redisReply *r) {
    tally *t = w->t;
    tally__evict_note(t, f.node, r);
    if (f.replica_read && replica_unready(t, r, f.node)) {
        freeReplyObject(r);
        return again(w, w->slow, queued(f.id, -1, f.tries, 0, 0));
    }
    int target = -1, kind = kind_of(t, r, &target), rc = 0;
    switch (tally__window_verdict(kind, f.tries)) {
    case TALLY_WINDOW_TAKE:
        rc = w->ops->take(w->ops->ctx, f.id, r);
        if (rc > 0) return 0; /* take keeps the reply */
        break;
    case TALLY_WINDOW_RELOAD: /* did not run */
        if (tally__vec_reserve(w->reload, (size_t)t->nodes->n, 1) < 0) rc = -1;
        while (rc == 0 && w->reload->n < (size_t)t->nodes->n) AT(*w->reload, unsigned char, w->reload->n++) = 0;
        if (rc == 0) AT(*w->reload, unsigned char, f.node) = 1;
        if (rc == 0) rc = again(w, w->resend, queued(f.id, -1, f.tries, 0, 0));
        break;
    default: /* a redirection names its node; a wait routes again */
        rc = again(w, w->slow, queued(f.id, kind == TALLY_REPLY_WAIT ? -1 : target, f.tries, kind == TALLY_REPLY_ASK,
                                      kind == TALLY_REPLY_WAIT));
    }
    freeReplyObject(r);
    return rc;
}

/* What the window is doing, for a message: a window of one names its call. */
static const char *doing(const win *w, char *buf, size_t n) {
    if (w->doing) return w->doing;
    tally__args_doing(w->a, buf, n);
    return buf;
}

/* Reads the answer of the oldest call in flight. -1: out of memory. */
static int receive(win *w) {
    flight f = w->in[0];
    char buf[40];
    if (f.asking) { /* ASKING's own answer comes first */
        redisReply *ok = tally__node_reply(w->t, f.node, "following an ASK redirection");
        if (!ok) return lost_node(w, f.node, w->t->err);
        freeReplyObject(ok);
        w->in[0].asking = 0;
    }
    redisReply *r = tally__node_reply(w->t, f.node, f.asking ? "following an ASK redirection" : doing(w, buf, sizeof buf));
    if (!r) return lost_node(w, f.node, w->t->err); /* every call in flight on it */
    memmove(w->in, w->in + 1, (size_t)--w->nin * sizeof *w->in);
    return answer(w, f, r);
}

/* Waits for every call in flight on node (-1: every node). -1: out of memory. */
static int drain(win *w, int node) {
    for (;;) {
        int i = 0;
        while (i < w->nin && node >= 0 && w->in[i].node != node) i++;
        if (i == w->nin) return 0;
        if (receive(w) < 0) return -1;
    }
}

/* The node call f goes to, connected and with the scripts ready, or -1 when
 * it was handled (lost, or queued to go again). */
static int node_for(win *w, flight *f, int *rc) {
    tally *t = w->t;
    int refresh = w->nin == 0, node = f->node >= 0 ? f->node : tally__route(t, w->a, refresh);
    if (node >= 0 && tally__scripts_ready(t, node) == TALLY_OK) return node;
    if (tally__window_unsent(tally__is_cluster(t), refresh, node >= 0, t->err) == TALLY_WINDOW_AGAIN)
        *rc = again(w, w->slow, queued(f->id, -1, f->tries, 0, 0));
    else
        not_sent(w, f->id);
    return -1;
}

/* Sends call f, built in w->a, without waiting for the answer. -1: out of
 * memory. */
static int send_call(win *w, flight f) {
    tally *t = w->t;
    int rc = 0, node = node_for(w, &f, &rc);
    if (node < 0) return rc;
    if ((size_t)node < w->reload->n && AT(*w->reload, unsigned char, node)) {
        /* answers taken meanwhile may build calls of their own: build this one again */
        if (drain(w, node) < 0) return -1;
        AT(*w->reload, unsigned char, node) = 0;
        if (tally__scripts_load_on(t, node) != TALLY_OK) {
            not_sent(w, f.id);
            return 0;
        }
        if (w->ops->rebuild(w->ops->ctx, f.id) < 0) return -1;
    }
    int due = tally__evict_due(t, node, w->a);
    if (due && w->nin) { /* the policies' INFO needs every window empty */
        if (drain(w, -1) < 0 || w->ops->rebuild(w->ops->ctx, f.id) < 0) return -1;
    }
    if (tally__evict_gate(t, node, w->a, due) != TALLY_OK) { /* not sent */
        w->ops->lost(w->ops->ctx, f.id, t->err);
        return 0;
    }
    static const char asking_cmd[] = "*1\r\n$6\r\nASKING\r\n";
    if ((f.asking && tally__node_send(t, node, asking_cmd, sizeof asking_cmd - 1) != TALLY_OK) ||
        tally__node_send_call(t, node, w->a) != TALLY_OK)
        return -1;
    f.node = node;
    f.replica_read = (unsigned char)(t->nodes->v[node].replica && tally__args_is_ro(w->a));
    w->in[w->nin++] = f;
    int unsent;
    char buf[40];
    if (tally__node_push(t, node, doing(w, buf, sizeof buf), &unsent) != TALLY_OK) {
        w->nin -= unsent; /* this call never left ... */
        if (lost_node(w, node, t->err) < 0) return -1; /* ... the calls before it did: their outcome is unknown */
        if (unsent && read_elsewhere(w, &f)) return again(w, w->slow, queued(f.id, -1, f.tries, 0, 0));
        if (unsent) not_sent(w, f.id);
    }
    return 0;
}

/* A call that goes again once nothing is in flight: a redirection, a wait, a
 * read its replica failed, a call whose node could not be reached. -1: out
 * of memory. */
static int send_slow(win *w) {
    flight f = AT(*w->slow, flight, --w->slow->n);
    if (f.wait) { /* TRYAGAIN, CLUSTERDOWN: resharding or failover under way */
        struct timespec ts = { 0, tally__window_backoff_ns(f.tries - 1) };
        tally__cluster_unsettled(w->t);
        nanosleep(&ts, NULL);
        f.wait = 0;
    }
    if (w->ops->rebuild(w->ops->ctx, f.id) < 0) return -1;
    return send_call(w, f);
}

static int pump(win *w) {
    for (;;) {
        if (w->nin < w->window) {
            flight f = queued(0, -1, 0, 0, 0);
            int idle = w->nin == 0 && !w->slow->n && !w->resend->n, got;
            if (w->resend->n) {
                f = AT(*w->resend, flight, --w->resend->n);
                got = w->ops->rebuild(w->ops->ctx, f.id) < 0 ? -1 : 1;
            } else {
                got = w->ops->next(w->ops->ctx, idle, &f.id);
            }
            if (got < 0) return -1;
            if (got > 0) {
                if (send_call(w, f) < 0) return -1;
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

int tally__window_send(tally *t, tally_args *a, int window, const char *what, const tally_window_ops *ops,
                       tally_window *mem) {
    win w; /* in[] is filled as calls go */
    w.t = t, w.a = a, w.ops = ops, w.doing = what, w.nin = 0;
    w.window = window < 1 ? 1 : window > WINDOW_MAX ? WINDOW_MAX : window;
    mem->resend.n = mem->slow.n = mem->reload.n = 0;
    w.resend = &mem->resend, w.slow = &mem->slow, w.reload = &mem->reload;
    if (window > 1) tally__cluster_sync(t); /* on failure the first call reports the error */
    return pump(&w);
}

int tally__window_run(tally *t, int window, const tally_window_ops *ops, tally_window *mem) {
    return tally__window_send(t, &t->args, window, "running a batch", ops, mem);
}

void tally__window_free(tally_window *mem) {
    free(mem->resend.p);
    free(mem->slow.p);
    free(mem->reload.p);
}
