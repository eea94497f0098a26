/* import.h -- `tally record --stdin`: NDJSON events from a stream, recorded in
 * pipelined batches, resent after connection failures with a back-off. */
#ifndef TALLY_IMPORT_H
#define TALLY_IMPORT_H

#include <stdio.h>
#include <time.h>

#include "cli.h"

#define IMPORT_BATCH 2048 /* lines per tally_record_batch, which keeps its calls in flight */
#define IMPORT_RETRIES 8

/* The wait before retry `n` (1..IMPORT_RETRIES) of a batch: 50 ms, doubling
 * up to 1.6 s; 6.35 s over all retries, enough for a server restart. A valid
 * nanosleep() argument (tv_nsec below 10^9). */
struct timespec import_backoff(int n);

/* Reads events from `in` until its end and records them with handle t,
 * printing a line on stderr for every event not recorded and a summary on
 * stdout (JSON with c->json). Returns the exit status: 0 all recorded (or
 * duplicates); 4 (3 when unreachable, per the failure) when Redis refused a
 * line or left its outcome unknown; else 2 when a line was bad. */
int import_events(tally *t, const cli_common *c, FILE *in);

#endif
