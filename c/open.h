/* open.h -- what open.c gives the features beyond tally_open and tally_close:
 * the handle on tally_config.limits_url (t->limits, handle.h), whose errors
 * become the outer handle's naming that server, and EXISTS of keys (the
 * checks for older key schemas, here and in migrate.c). Layer: open (c/layers). */
#ifndef TALLY_OPEN_H
#define TALLY_OPEN_H

#include "handle.h"

/* Sets t->limits's error on t as "limits server ADDR: message" (its first
 * server's host:port or socket path, never the URL: it may hold a password);
 * returns its code. */
int tally__limits_fail(tally *t);

/* EXISTS of keys[0..n) (all of one slot) on the node serving them: the count
 * into *found, or -1 when that node could not be asked (on a cluster: down;
 * or the user may not read the keys, NOPERM), which is no error. TALLY_OK or
 * the error (a single server that cannot be reached). */
int tally__exists(tally *t, char (*keys)[TALLY_ENTITY_MAX], int n, int *found);

#endif
