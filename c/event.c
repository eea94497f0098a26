/* event.c -- what makes a usage event valid: ids, amounts, the event time
 * (tally_event_validate, and tally_event_check through handle.c), also
 * without a handle for the async recorder's callers. Layer: pure. */
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "keys.h"

static int amount_problem(const char *what, int64_t v, int64_t max, char *msg, size_t cap) {
    if (v < 0) return snprintf(msg, cap, "%s is negative", what), -1;
    if (v > max) return snprintf(msg, cap, "%s is above %lld", what, (long long)max), -1;
    return 0;
}

static int has(const char *s) { return s && *s; }

int tally__event_problem(const tally_event *e, char *msg, size_t cap) {
    if (tally__id_problem("key", e->key, e->key ? strlen(e->key) : 0, msg, cap) < 0 ||
        tally__id_problem("model", e->model, e->model ? strlen(e->model) : 0, msg, cap) < 0 ||
        (has(e->account) && tally__id_problem("account", e->account, strlen(e->account), msg, cap) < 0) ||
        (has(e->request_id) && tally__id_problem("request id", e->request_id, strlen(e->request_id), msg, cap) < 0))
        return -1;
    if (amount_problem("input tokens", e->input_tokens, TALLY_MAX_TOKENS, msg, cap) < 0 ||
        amount_problem("output tokens", e->output_tokens, TALLY_MAX_TOKENS, msg, cap) < 0 ||
        amount_problem("cache-create tokens", e->cache_create_tokens, TALLY_MAX_TOKENS, msg, cap) < 0 ||
        amount_problem("cache-read tokens", e->cache_read_tokens, TALLY_MAX_TOKENS, msg, cap) < 0 ||
        (e->cost_nanos != TALLY_COST_FROM_PRICES &&
         amount_problem("cost", e->cost_nanos, TALLY_MAX_COST_NANOS, msg, cap) < 0))
        return -1;
    if (e->at_ms < 0 || e->at_ms > TALLY_AT_MAX)
        return snprintf(msg, cap, "event time %lld is not between 1970 and 9999", (long long)e->at_ms), -1;
    return 0;
}

int tally_event_validate(const tally_event *e, char *msg, size_t cap) {
    char none[1];
    if (!msg || cap == 0) msg = none, cap = sizeof none;
    return tally__event_problem(e, msg, cap) < 0 ? TALLY_EINVAL : TALLY_OK;
}
