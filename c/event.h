/* event.h -- a usage event's validity (event.c). Layer: pure. */
#ifndef TALLY_EVENT_H
#define TALLY_EVENT_H

#include <stddef.h>

#include "tally.h"

/* tally_event_check without a handle (thread-safe): 0, or -1 with the message
 * naming the problem in msg (cap bytes). */
int tally__event_problem(const tally_event *e, char *msg, size_t cap);

#endif
