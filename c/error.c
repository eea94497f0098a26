/* error.c -- the handle's error state and the names of result codes. */
#include <stdarg.h>
#include <stdio.h>

#include "handle.h"

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

const char *tally_strerror(int code) {
    switch (code) {
    case TALLY_OK: return "ok";
    case TALLY_EINVAL: return "invalid argument";
    case TALLY_ECONNECT: return "cannot connect";
    case TALLY_EAUTH: return "authentication failed";
    case TALLY_ETIMEOUT: return "timed out";
    case TALLY_EIO: return "connection lost";
    case TALLY_EREDIS: return "redis error";
    case TALLY_ESCRIPT: return "script error";
    case TALLY_ENOMEM: return "out of memory";
    case TALLY_ERANGE: return "sum out of range";
    case TALLY_EFULL: return "buffer full";
    case TALLY_EEVICT: return "server may evict keys";
    case TALLY_ESYSTEM: return "system error";
    default: return "unknown error";
    }
}
