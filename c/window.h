/* window.h -- script calls with a window in flight (window.c). Layer:
 * transport. */
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
 * are handled here); lost() says it got no answer (code: TALLY_EIO or
 * TALLY_ETIMEOUT when it was sent, the outcome unknown; TALLY_ECONNECT when
 * it was not sent, so it did not run; else why it was not sent, e.g.
 * TALLY_EAUTH). A cluster's call that needs a redirection goes through
 * tally__eval_raw, whose failures keep their codes. Returns 0 when every
 * call was taken or lost, -1 when a callback ran out of memory. mem keeps this
 * unit's arrays between runs (zeroed at first; tally__window_free). */
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
void tally__window_free(tally_window *mem);

#endif
