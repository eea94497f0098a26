/* handle.c -- the handle's own state: its error (every failing call sets a
 * code and a message, tally_errcode / tally_errmsg) and its configuration. The
 * pure units below the handle report a problem as a code and a message in a
 * buffer their caller provides; the helpers here set that as the handle's
 * error. Layer: handle, below the transport and the features (c/layers);
 * opening and closing is open.c's. */
#include <stdarg.h>
#include <stdio.h>

#include "event.h"
#include "handle.h"
#include "reply.h"

int tally__fail(tally *t, int code, const char *fmt, ...) {
    va_list ap;
    t->err = code;
    va_start(ap, fmt);
    vsnprintf(t->errmsg, sizeof t->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int tally__ok(tally *t) {
    t->err = TALLY_OK;
    t->errmsg[0] = '\0';
    return TALLY_OK;
}

int tally__oom(tally *t) {
    return tally__fail(t, TALLY_ENOMEM, "out of memory");
}

int tally_errcode(const tally *t) {
    return t ? t->err : TALLY_ENOMEM;
}

const char *tally_errmsg(const tally *t) {
    return t ? t->errmsg : "out of memory";
}

const tally_config *tally_config_of(const tally *t) {
    return &t->cfg;
}

int tally__id_check(tally *t, const char *what, const char *id, size_t n) {
    char msg[TALLY_ERRMSG_MAX];
    return tally__id_problem(what, id, n, msg, sizeof msg) < 0 ? tally__fail(t, TALLY_EINVAL, "%s", msg) : TALLY_OK;
}

int tally__reply_error(tally *t, const redisReply *r) {
    char msg[TALLY_ERRMSG_MAX];
    int code = tally__reply_problem(r, msg, sizeof msg);
    return tally__fail(t, code, "%s", msg);
}

int tally_event_check(tally *t, const tally_event *e) {
    char msg[TALLY_ERRMSG_MAX];
    return tally__event_problem(e, msg, sizeof msg) < 0 ? tally__fail(t, TALLY_EINVAL, "%s", msg) : tally__ok(t);
}
