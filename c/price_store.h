/* price_store.h -- the price table stored in Redis and kept on the handle,
 * and the pricing of events (price_store.c; the public calls are in tally.h).
 * Layer: feature. */
#ifndef TALLY_PRICE_STORE_H
#define TALLY_PRICE_STORE_H

#include "handle.h"

/* The table events are priced with now: the caller's, or the handle's copy of
 * Redis's, read again first when older than cfg.prices_refresh_ms. *out may
 * be NULL (no table: nothing has a price); owned by the handle, valid until
 * the next call on it. TALLY_OK or the error of the read. */
int tally__prices_current(tally *t, const tally_prices **out);

/* 1 when p is no table: none loaded in Redis (version 0, no entries). */
int tally__prices_none(const tally_prices *p);

/* The cost to record for event e at event time at_ms: its own (and *version
 * -1), or with cost_nanos TALLY_COST_FROM_PRICES the price table's (and the
 * table's version). With no price for it -- no table loaded, or the model
 * missing from the table and cfg.price_missing_zero -- it is recorded
 * unpriced: cost 0, *version TALLY_UNPRICED. TALLY_OK, TALLY_EINVAL with the
 * handle's message (the model missing from a loaded table, or a cost past
 * TALLY_MAX_COST_NANOS), or the error of reading the table. *table is the call's table: NULL at the call's first event, read
 * (refreshed when due) at its first event to price and kept for the rest, so
 * a batch is priced by one table and reads it at most once. */
int tally__price_event(tally *t, const tally_prices **table, const tally_event *e, int64_t at_ms, int64_t *cost,
                       int64_t *version);

#endif
