/* window.h -- the one primitive for script calls in flight (window.c): a
 * window of calls, recovering from NOSCRIPT, redirections, TRYAGAIN and
 * failed replicas in one place. Layer: transport. */
#ifndef TALLY_WINDOW_H
#define TALLY_WINDOW_H

#include "handle.h"
#include "reply.h"
#include "table.h"

/* Runs script calls with up to `window` in flight; the caller names its calls
 * by ids. next() builds the next call into t->args (1 and *id; 0 when there is
 * none now: with idle set nothing is in flight or waiting, so there will be
 * none; -1 OOM); rebuild() builds call id into t->args again; take() consumes
 * its answer (error replies included; never NOSCRIPT or a redirection: those
 * are handled here) and returns 0, 1 when it keeps the reply (it frees it
 * later), or -1 when out of memory; lost() says it got no answer (code:
 * TALLY_EIO or TALLY_ETIMEOUT when it was sent, the outcome unknown;
 * TALLY_ECONNECT when it was not sent, so it did not run; TALLY_EREDIS when it
 * went TALLY_WINDOW_TRIES times without an answer to use; else why it was not
 * sent, e.g. TALLY_EAUTH or TALLY_EEVICT), with the handle's message. Returns
 * 0 when every call was taken or lost, -1 when a callback ran out of memory.
 * mem keeps this unit's arrays between runs (zeroed at first;
 * tally__window_free). The deadline is the caller's: inside tally__io_begin /
 * tally__io_end the calls share one, else each send and answer has its own. */
typedef struct tally_window_ops {
    void *ctx;
    int (*next)(void *ctx, int idle, size_t *id);
    int (*rebuild)(void *ctx, size_t id);
    int (*take)(void *ctx, size_t id, redisReply *reply);
    void (*lost)(void *ctx, size_t id, int code);
} tally_window_ops;
typedef struct tally_window {
    tally_vec resend, slow, reload;
} tally_window;
int tally__window_run(tally *t, int window, const tally_window_ops *ops, tally_window *mem);
/* The same with the calls built in `a` instead of t->args, and `what` the
 * window is doing for messages ("running a batch"; NULL: a window of one,
 * named after its call). */
int tally__window_send(tally *t, tally_args *a, int window, const char *what, const tally_window_ops *ops,
                       tally_window *mem);
void tally__window_free(tally_window *mem);

/* The window's bookkeeping, pure: what it does with a call whose answer is
 * of reply.c's kind (TALLY_REPLY_*) after `tries` earlier sends: take it, load
 * the scripts and send it again, send it again (a redirection or a wait), or
 * give up. A call goes at most TALLY_WINDOW_TRIES times. */
#define TALLY_WINDOW_TRIES 12
enum { TALLY_WINDOW_TAKE, TALLY_WINDOW_RELOAD, TALLY_WINDOW_AGAIN, TALLY_WINDOW_GIVE_UP, TALLY_WINDOW_LOST };
int tally__window_verdict(int kind, int tries);
/* The back-off before the send after a TRYAGAIN or CLUSTERDOWN answer to
 * the send numbered `tries` (0 first): 25 ms doubling, at most 800 ms. */
long tally__window_backoff_ns(int tries);
/* What becomes of a call that got no answer because its connection failed
 * with `code`: a read a replica served (replica_read) goes again, to the
 * primary, after an I/O error or a refused connection (it wrote nothing);
 * anything else is lost (TALLY_WINDOW_LOST: its outcome is unknown). */
int tally__window_unanswered(int replica_read, int code);
/* What becomes of a call that was not sent, failing with `code`: on a
 * cluster it goes again, through the slot map read anew, when the map was
 * not read before it was routed (calls were in flight: map_read 0) or its
 * node was found but did not connect (reached, TALLY_ECONNECT: a failover);
 * else it is lost, as unsent. */
int tally__window_unsent(int cluster, int map_read, int reached, int code);

#endif
