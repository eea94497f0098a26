/* error.h -- error messages: their size, for the handle's message and for the
 * caller-provided buffers through which the pure units report a problem
 * (handle.c turns one into the handle's error). Layer: pure; no I/O. */
#ifndef TALLY_ERROR_H
#define TALLY_ERROR_H

#include "tally.h"

#define TALLY_ERRMSG_MAX 512

#endif
