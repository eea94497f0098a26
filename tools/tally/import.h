/* import.h -- `tally record --stdin`: NDJSON events from a stream, recorded in
 * pipelined batches, resent after connection failures with a back-off. */
#ifndef TALLY_IMPORT_H
#define TALLY_IMPORT_H

#include <stdio.h>
#include <time.h>

#include "cli.h"

/* Events per tally_record_batch, which merges them (the more events of one key
 * a batch holds, the fewer writes) and keeps its calls in flight; a batch is
 * also sent once its strings pass IMPORT_BATCH_BYTES, or when no more input
 * is ready (a live stream's events go as they come). */
#define IMPORT_BATCH 65536
#define IMPORT_BATCH_BYTES (8 << 20)
#define IMPORT_RETRIES 8

/* The wait before retry `n` (1..IMPORT_RETRIES) of a batch: 50 ms, doubling
 * up to 1.6 s; 6.35 s over all retries, enough for a server restart. A valid
 * nanosleep() argument (tv_nsec below 10^9). */
struct timespec import_backoff(int n);

/* Reads events from file descriptor fd until its end and records them with handle t,
 * printing a line on stderr for every event not recorded and a summary on
 * stdout (JSON with c->json). Returns the exit status: 0 all recorded (or
 * duplicates); 4 (3 for an authentication refusal) when Redis refused a line
 * or left its outcome unknown; else 3 when a line could not be sent; else 2
 * when a line was bad. */
int import_events(tally *t, const cli_common *c, int fd);

#endif
