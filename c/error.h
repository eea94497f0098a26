/* error.h -- the handle's error state: every failing call sets a code and a
 * message on the handle (tally_errcode / tally_errmsg). Layer: bottom; no I/O. */
#ifndef TALLY_ERROR_H
#define TALLY_ERROR_H

#include "tally.h"

#define TALLY_ERRMSG_MAX 512

/* Sets the handle's error and returns `code`, so callers can write
 * `return tally__fail(t, ...)`. */
int tally__fail(tally *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Clears the error; returns TALLY_OK. */
int tally__ok(tally *t);
/* tally__fail(t, TALLY_ENOMEM, "out of memory"). */
int tally__oom(tally *t);

#endif
