/* error.c -- the names of result codes (tally_strerror). The handle's error
 * state is handle.c's. Layer: pure. */
#include "error.h"

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
