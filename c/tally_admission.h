/* tally_admission.h -- admission control: rate limits and concurrency leases,
 * decided inside Redis. Part of tally.h, which includes it (and its
 * conventions): include tally.h. */
#ifndef TALLY_ADMISSION_H
#define TALLY_ADMISSION_H
#ifndef TALLY_H
#error "include tally.h, which includes tally_admission.h"
#endif

/* Rate limits and concurrency leases, decided inside Redis by one script per
 * call (lua/allow.lua, lua/lease.lua) against Redis's own clock (TIME, in
 * microseconds), never the caller's. Every key of one limited subject lives
 * under that subject's hash tag ({k:<id>}), so a call stays atomic in a cluster.
 *
 * Algorithms (chosen per rule; memory per limited key and rule measured on
 * Redis 7.0, see README "Admission control"):
 *   SLIDING_LOG     exact: one sorted-set entry per counted call inside the
 *                   window (a 100-entry log is about 10 KB); for low limits.
 *   SLIDING_WINDOW  counts of the current and previous aligned windows, the
 *                   previous weighted by the share still inside the sliding
 *                   window. O(1) memory. Approximate: never more than `limit`
 *                   in one aligned window, and never more than
 *                   limit + limit * d / window in any interval of length d <=
 *                   window (so < 2 * limit per sliding window); it may deny
 *                   while the true sliding count is below the limit.
 *   GCRA            smooth rate of limit/window with up to `burst` units at once
 *                   (burst 0 means limit). O(1) memory.
 *   FIXED           a count per window aligned to the Unix epoch (UTC): up to
 *                   2 * limit across a window boundary. O(1) memory.
 * Counts are exact integers. The sliding window weighting and GCRA's refill
 * are computed in double precision (exact while the products of amounts and
 * window microseconds stay below 2^53). */
enum { TALLY_COUNT_REQUESTS = 0, TALLY_COUNT_TOKENS, TALLY_COUNT_COST };
enum {
    TALLY_ALGO_SLIDING_WINDOW = 0, /* the default */
    TALLY_ALGO_SLIDING_LOG,
    TALLY_ALGO_GCRA,
    TALLY_ALGO_FIXED
};

#define TALLY_RULES_MAX 8
#define TALLY_LIMIT_MAX 1000000000000000LL    /* 1e15 units (cost: $1,000,000) */
#define TALLY_WINDOW_MAX_MS 31536000000LL     /* 365 days */

typedef struct tally_rule {
    int counts;         /* TALLY_COUNT_*: what one call adds */
    int algo;           /* TALLY_ALGO_* */
    int64_t limit;      /* units per window, 1..TALLY_LIMIT_MAX; cost in nano-USD */
    int64_t window_ms;  /* 1..TALLY_WINDOW_MAX_MS */
    int64_t burst;      /* GCRA only: units that may pass at once; 0 = limit */
} tally_rule;

/* Parses one rule written as  [UNIT:]AMOUNT/WINDOW[,algo=NAME][,burst=N]
 *   UNIT    requests (the default), tokens or cost
 *   AMOUNT  a positive integer; for cost, decimal USD ("5", "0.25")
 *   WINDOW  a positive integer and a unit: ms, s, m, h or d ("500ms", "60s",
 *           "1m", "1h", "1d"); at most 365 days
 *   NAME    sliding-window (default), sliding-log, gcra or fixed
 *   N       like AMOUNT (gcra only)
 * e.g. "100/1m", "tokens:100000/1m", "cost:5/1d", "10/1s,algo=gcra,burst=20".
 * `text` is n bytes (need not be NUL-terminated). Returns TALLY_OK and fills
 * *rule, or TALLY_EINVAL and writes a message naming the problem into err
 * (cap bytes, may be NULL). Needs no handle; never allocates. */
int tally_rule_parse(const char *text, size_t n, tally_rule *rule, char *err, size_t cap);
/* Parses a window such as "500ms", "60s", "1m", "1h", "1d" into milliseconds.
 * TALLY_OK or TALLY_EINVAL. */
int tally_window_parse(const char *text, size_t n, int64_t *ms);
/* Static names: "sliding-window", ...; "requests", "tokens", "cost". NULL if
 * out of range. */
const char *tally_algo_name(int algo);
const char *tally_counts_name(int counts);

/* Failure policy, chosen per call, applied only when Redis cannot be reached
 * (TALLY_ECONNECT, TALLY_EIO, TALLY_ETIMEOUT). */
enum { TALLY_FAIL_CLOSED = 0, TALLY_FAIL_OPEN = 1 };

/* What one call asks for: 1 request, plus `tokens` for TOKENS rules and
 * `cost_nanos` for COST rules (each 0..TALLY_LIMIT_MAX). */
typedef struct tally_request {
    int64_t tokens;
    int64_t cost_nanos;
    int fail;           /* TALLY_FAIL_CLOSED (default) or TALLY_FAIL_OPEN */
} tally_request;

/* How the decision was made. */
enum {
    TALLY_DECIDED_BY_REDIS = 0,
    TALLY_DECIDED_FAIL_OPEN,    /* Redis unreachable: allowed by policy */
    TALLY_DECIDED_FAIL_CLOSED,  /* Redis unreachable: denied by policy */
    TALLY_DECIDED_ERROR         /* another error (bad input, Redis error): denied */
};

/* Units are the rule's: requests, tokens, or nano-USD for cost rules.
 * reset_after_ms is 0 when the rule counts nothing now, else the time until the
 * rule's current window ends if nothing more is counted, rounded up to whole
 * ms, never more than the rule's window_ms:
 *   FIXED           the end of the aligned window: the count starts again at 0;
 *   SLIDING_LOG     when the newest counted call leaves the window: the whole
 *                   limit is free again;
 *   SLIDING_WINDOW  the end of the current aligned window: the previous
 *                   window's count no longer counts (the current one's weighs
 *                   less and less over the next window);
 *   GCRA            when the bucket has drained enough to let the whole limit
 *                   through at once (the whole burst when it is smaller). */
typedef struct tally_rule_state {
    int64_t limit;           /* the rule's limit, as given (rules[i].limit; a
                                GCRA burst is rules[i].burst, 0: the limit) */
    int64_t remaining;       /* units that would pass now (GCRA: at most the
                                burst): after this call when it was allowed and
                                consumed, else before it */
    int64_t retry_after_ms;  /* 0 fits; > 0 wait this long (rounded up); -1 the
                                request can never fit this rule */
    int64_t reset_after_ms;  /* see above: 0..window_ms */
} tally_rule_state;

typedef struct tally_decision {
    int allowed;             /* 1: allowed (tally_allow: and consumed) */
    int denied_by;           /* 0-based index into rules[] of the rule that
                                denied (the one needing the longest wait, -1
                                first), or -1. Messages and the tool number
                                rules from 1: rule denied_by + 1. */
    int64_t limit, remaining, retry_after_ms, reset_after_ms;
                             /* the denying rule's; when allowed, those of the
                                rule with the fewest remaining units relative
                                to what it lets through at once (its limit;
                                GCRA: its burst). retry_after_ms is the wait for
                                every rule to fit (-1: never). */
    int64_t server_time_us;  /* Redis TIME used for the decision (0 if none);
                                the tool's JSON gives server_time_ms */
    int decided;             /* TALLY_DECIDED_* */
    int nrules;
    tally_rule_state rules[TALLY_RULES_MAX];
} tally_decision;

/* Checks rules[0..nrules) (1..TALLY_RULES_MAX) for subject `key` (an id, as
 * for statistics) and, when every rule fits, consumes from all of them in the
 * same script call; a denied call consumes nothing. Two rules may not count the
 * same unit over the same window with the same algorithm. req may be NULL (one
 * request, fail closed). *d is always filled:
 *   TALLY_OK        Redis decided (d->decided == TALLY_DECIDED_BY_REDIS);
 *   TALLY_ECONNECT, TALLY_EIO, TALLY_ETIMEOUT
 *                   Redis could not be reached or did not answer; the request's
 *                   policy decided: d->allowed is 1 for TALLY_FAIL_OPEN, 0 for
 *                   TALLY_FAIL_CLOSED, and d->decided says which. After EIO or
 *                   ETIMEOUT the script may have run and consumed.
 *   anything else   d->allowed == 0, d->decided == TALLY_DECIDED_ERROR
 *                   (TALLY_EINVAL: nothing was written).
 * Allocates nothing once the handle's buffers have grown (hiredis's reply
 * aside). */
int tally_allow(tally *t, const char *key, const tally_rule *rules, int nrules,
                const tally_request *req, tally_decision *d);
/* The same decision without consuming and without writing anything:
 * d->allowed says whether the request would be allowed now. */
int tally_limits(tally *t, const char *key, const tally_rule *rules, int nrules,
                 const tally_request *req, tally_decision *d);
/* The index into rules[] (the rules d was decided on) of the rule whose
 * limit, remaining, retry_after_ms and reset_after_ms d repeats: the denying
 * rule, or when allowed the one with the smallest share left. -1 when Redis
 * did not decide (d->decided != TALLY_DECIDED_BY_REDIS). Lets a caller show
 * that rule's unit, window and burst with the numbers. */
int tally_decision_rule(const tally_decision *d, const tally_rule *rules);

/* Concurrency leases: at most `limit` live holders per subject. A lease ends
 * when released or lease_ms after it was acquired or last renewed (server
 * time); ended leases are reclaimed by the next lease call on that subject. */
#define TALLY_LEASE_ID_MAX 48
typedef struct tally_lease {
    int ok;                  /* acquire: got a lease; renew: renewed (0: the
                                lease had ended or never existed); release:
                                1 released, 0 was not held */
    char id[TALLY_LEASE_ID_MAX]; /* acquire: the new lease's id ("" if denied):
                                128 bits from the kernel's random source
                                (getrandom), 32 lowercase hex digits, so only
                                its holder knows it; renew, release: the id given */
    int64_t expires_at_us;   /* acquire/renew: the lease's end, server time */
    int64_t holders;         /* live leases after the call */
    int64_t retry_after_ms;  /* acquire denied: until the earliest lease ends */
    int64_t server_time_us;
} tally_lease;

#define TALLY_LEASE_LIMIT_MAX 1000000   /* holders per lease subject */
/* limit 1..TALLY_LEASE_LIMIT_MAX, lease_ms 1..TALLY_WINDOW_MAX_MS. TALLY_OK whether or not a
 * lease was granted (see out->ok); *out is filled on TALLY_OK. `id` may point
 * into *out (e.g. renewing out->id). */
int tally_lease_acquire(tally *t, const char *key, int64_t limit, int64_t lease_ms,
                        tally_lease *out);
int tally_lease_renew(tally *t, const char *key, const char *id, int64_t lease_ms,
                      tally_lease *out);
int tally_lease_release(tally *t, const char *key, const char *id, tally_lease *out);

/* Test clock. Only when the handle was opened with cfg.test_clock = 1: every
 * later admission-control call on this handle (rate limits, leases,
 * reservations) uses now_us (microseconds since
 * the epoch) instead of Redis TIME; 0 goes back to TIME. Without test_clock:
 * TALLY_EINVAL, and calls always use TIME. */
int tally_test_clock(tally *t, int64_t now_us);

#endif
