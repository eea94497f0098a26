/* record.c -- recording one usage event: its validation, and tally_record and
 * tally_settle, which are batches of one (batch.c: one call of lua/record.lua,
 * one per entity on a cluster). docs/keys.md lists the keys this writes. */
#include <string.h>

#include "internal.h"

static int check_amount(tally *t, const char *what, int64_t v, int64_t max) {
    if (v < 0) return tally__fail(t, TALLY_EINVAL, "%s is negative", what);
    if (v > max) return tally__fail(t, TALLY_EINVAL, "%s is above %lld", what, (long long)max);
    return TALLY_OK;
}

static int has(const char *s) { return s && *s; }

int tally_event_check(tally *t, const tally_event *e) {
    int rc;
    if ((rc = tally__id_check(t, "key", e->key, e->key ? strlen(e->key) : 0)) ||
        (rc = tally__id_check(t, "model", e->model, e->model ? strlen(e->model) : 0)))
        return rc;
    if (has(e->account) && (rc = tally__id_check(t, "account", e->account, strlen(e->account))))
        return rc;
    if (has(e->request_id) && (rc = tally__id_check(t, "request id", e->request_id, strlen(e->request_id))))
        return rc;
    if ((rc = check_amount(t, "input tokens", e->input_tokens, TALLY_MAX_TOKENS)) ||
        (rc = check_amount(t, "output tokens", e->output_tokens, TALLY_MAX_TOKENS)) ||
        (rc = check_amount(t, "cache-create tokens", e->cache_create_tokens, TALLY_MAX_TOKENS)) ||
        (rc = check_amount(t, "cache-read tokens", e->cache_read_tokens, TALLY_MAX_TOKENS)) ||
        (rc = check_amount(t, "cost", e->cost_nanos, TALLY_MAX_COST_NANOS)))
        return rc;
    if (e->at_ms < 0 || e->at_ms > TALLY_AT_MAX)
        return tally__fail(t, TALLY_EINVAL, "event time %lld is not between 1970 and 9999",
                           (long long)e->at_ms);
    return tally__ok(t);
}

int tally_record(tally *t, const tally_event *ev, int *duplicate) {
    return tally__record_one(t, ev, 0, duplicate);
}

int tally_settle(tally *t, const tally_event *ev, int *duplicate) {
    if (tally_event_check(t, ev) == TALLY_OK && !has(ev->request_id))
        return tally__fail(t, TALLY_EINVAL, "settling needs the request id of the reservation");
    return tally__record_one(t, ev, 1, duplicate);
}
