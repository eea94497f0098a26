/* open.h -- what open.c gives the features beyond tally_open and tally_close:
 * the handle on tally_config.limits_url (t->limits, handle.h), whose errors
 * become the outer handle's naming that server. Layer: open (c/layers). */
#ifndef TALLY_OPEN_H
#define TALLY_OPEN_H

#include "handle.h"

/* Sets t->limits's error on t as "limits server ADDR: message" (its first
 * server's host:port or socket path, never the URL: it may hold a password);
 * returns its code. */
int tally__limits_fail(tally *t);

#endif
