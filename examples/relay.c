/* relay.c -- a worked example: what an LLM API relay does for each request
 * with libtally, in order:
 *
 *   1. rate limits    requests and tokens per minute for the API key, checked
 *                     together without consuming (tally_limits)
 *   2. budget         reserve the request's worst-case cost against the key's
 *                     daily cap (tally_reserve)
 *   3. rate limits    consume, all rules or none (tally_allow)
 *   4. concurrency    a lease: at most N requests of the key in flight
 *                     (tally_lease_acquire)
 *   5. upstream       the model call -- simulated here
 *   6. settle         record the actual usage and give the estimate back, in
 *                     one script (tally_settle)
 *   7. release        end the lease (tally_lease_release)
 * A request refused after step 2 never reaches the upstream: its estimate is
 * given back without recording usage (tally_cancel).
 *
 * Why this order: a request the budget refuses must not use up rate-limit
 * units (the caller would be rate limited for requests that never ran), and a
 * rate-limited request must not hold a budget reservation (a client retrying
 * while rate limited would lock its whole budget). Rate-limit units cannot be
 * given back, so nothing is taken before both would pass: step 1 peeks
 * (writes nothing), step 2 reserves, step 3 consumes. Only if another request
 * of the same key takes the last units between steps 1 and 3 (or holds the
 * last lease at step 4) is this one refused after reserving; it then cancels
 * its reservation, which gives the estimate back at once and counts no
 * request (settling would count one). Should the cancel fail, the reservation
 * still ends with its lease_ms (a short lease keeps that cheap).
 *
 * Failure policy when Redis cannot be reached (the choice is per call):
 *   - rate limits and the lease FAIL OPEN: they protect capacity, and refusing
 *     every request during a Redis outage hurts more than a short burst;
 *   - the budget FAILS CLOSED: it protects money, and without Redis nobody
 *     knows what is left;
 *   - settling is retried with the same request id (tally_settle is
 *     idempotent by it): after a timeout the first try may have run, and the
 *     retry then answers "duplicate" instead of counting twice. A relay that
 *     still cannot settle should spool the event and import it later
 *     (`tally record --stdin`, with the same "id").
 * Every other error (bad input, a Redis error) refuses the request: a bug
 * should be seen, not waved through.
 *
 * Build: cc relay.c $(pkg-config --cflags --libs tally)
 * Run:   ./relay [URL [API_KEY]]   (URL default $TALLY_URL)
 * Without API_KEY each run uses a new key, "demo-<time>-<pid>" (named on
 * standard error), so every run prints the same: 7 requests; 4 pass, the 5th
 * (a long prompt) is refused by the $0.10 daily budget without using a
 * rate-limit unit, so the 6th still passes the 5-per-minute limit, and the 7th
 * is refused by it. With an API_KEY a second run within the day continues that
 * key's minute and day. Exit status 0, or 1 if a call failed in a way the
 * relay did not expect. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tally.h>

#define REQUESTS 7
#define MAX_OUTPUT_TOKENS 1000        /* what the relay lets the model produce */
#define NANOS_PER_INPUT_TOKEN 3000    /* $3 per million input tokens */
#define NANOS_PER_OUTPUT_TOKEN 15000  /* $15 per million output tokens */

/* The prompts' sizes: the 5th is long, its worst case more than is left. */
static const int64_t input_tokens_of[REQUESTS + 1] = { 0, 1100, 1200, 1300, 1400, 20000, 1500, 1600 };
/* Sliding logs: exact, so what the example prints does not depend on where a
 * minute boundary falls during the run (a sliding window's estimate would). */
static const char *const limits[2] = { "5/1m,algo=sliding-log", "tokens:50000/1m,algo=sliding-log" };

typedef struct {
    tally *t;
    const char *key, *account, *model;
    tally_rule rules[2];
    tally_budget budget;
} relay;

/* What the simulated upstream answers for request i. */
typedef struct {
    int64_t input_tokens, output_tokens, cost_nanos;
} usage;

static int unreachable(int rc) {
    return rc == TALLY_ECONNECT || rc == TALLY_EIO || rc == TALLY_ETIMEOUT;
}

static usage upstream(int i, int64_t input_tokens) {
    usage u = { input_tokens, 200 + 50 * i, 0 };
    u.cost_nanos = u.input_tokens * NANOS_PER_INPUT_TOKEN + u.output_tokens * NANOS_PER_OUTPUT_TOKEN;
    return u;
}

static void usd(int64_t nanos, char buf[32]) {
    tally_nanos_to_usd(nanos, buf, 32);
}

/* Settles with bounded retries. TALLY_OK, or the last error. */
static int settle(relay *r, const char *request_id, const usage *u) {
    tally_event ev = { .key = r->key, .model = r->model, .account = r->account,
                       .input_tokens = u->input_tokens, .output_tokens = u->output_tokens,
                       .cost_nanos = u->cost_nanos, .request_id = request_id };
    int rc = TALLY_OK, duplicate = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        rc = tally_settle(r->t, &ev, &duplicate);
        if (!unreachable(rc)) break;
        fprintf(stderr, "  settle: %s; trying again\n", tally_errmsg(r->t));
    }
    if (rc == TALLY_OK && duplicate) printf("  (settled by an earlier try)\n");
    return rc;
}

/* Gives the reservation back for a request that will not reach the upstream.
 * Not fatal when it fails: the estimate is then held until its lease ends.
 * Prints nothing on success, so every run prints the same. */
static void cancel(relay *r, const char *request_id) {
    if (tally_cancel(r->t, r->key, r->account, request_id, NULL) != TALLY_OK)
        fprintf(stderr, "  cancel: %s (the estimate is held until its lease ends)\n", tally_errmsg(r->t));
}

/* A rate-limit refusal: 429, naming the rule as the relay wrote it. A real
 * relay also sends Retry-After: d->retry_after_ms rounded up to seconds (not
 * printed: it depends on the moment, and this example prints the same on
 * every run). */
static void refuse_rate(const relay *r, const tally_decision *d, const char *why) {
    int i = tally_decision_rule(d, r->rules); /* denied with the fail-open policy: Redis decided */
    printf("  refused (429): rate limit %d (%s)%s\n", i + 1, i >= 0 ? limits[i] : "?", why);
}

/* One request through the seven steps. Returns 0 when it went as the relay
 * expects (served or refused), -1 on an unexpected failure. */
static int handle(relay *r, int i) {
    char request_id[32], a[32], b[32];
    snprintf(request_id, sizeof request_id, "req-%d", i);
    int64_t input_tokens = input_tokens_of[i];
    printf("%s: %" PRId64 " input tokens\n", request_id, input_tokens);

    /* 1. rate limits, peeked: one request, and the tokens it may use at most */
    tally_request want = { .tokens = input_tokens + MAX_OUTPUT_TOKENS, .fail = TALLY_FAIL_OPEN };
    tally_decision d;
    int rc = tally_limits(r->t, r->key, r->rules, 2, &want, &d);
    if (rc != TALLY_OK && !unreachable(rc)) return fprintf(stderr, "  limits: %s\n", tally_errmsg(r->t)), -1;
    if (!d.allowed) {
        refuse_rate(r, &d, "");
        return 0;
    }

    /* 2. budget: reserve the worst case; the cap counts it until settled */
    tally_reservation res = { .key = r->key, .account = r->account, .request_id = request_id,
                              .cost_nanos = input_tokens * NANOS_PER_INPUT_TOKEN +
                                            MAX_OUTPUT_TOKENS * NANOS_PER_OUTPUT_TOKEN,
                              .tokens = input_tokens + MAX_OUTPUT_TOKENS, .lease_ms = 120000 };
    tally_budget_decision bd;
    rc = tally_reserve(r->t, &res, &r->budget, 1, &bd);
    if (unreachable(rc)) {
        printf("  refused (503): budget unknown, Redis unreachable: %s\n", tally_errmsg(r->t));
        return 0;
    }
    if (rc != TALLY_OK) return fprintf(stderr, "  reserve: %s\n", tally_errmsg(r->t)), -1;
    usd(res.cost_nanos, a);
    usd(bd.remaining[0], b);
    if (!bd.allowed) {
        printf("  refused (402): daily budget, estimate $%s but $%s left; no rate-limit unit used\n", a, b);
        return 0;
    }
    printf("  budget: reserved $%s, $%s left\n", a, b);

    /* 3. rate limits, consumed: all rules or none */
    rc = tally_allow(r->t, r->key, r->rules, 2, &want, &d);
    if (rc != TALLY_OK && !unreachable(rc)) return fprintf(stderr, "  allow: %s\n", tally_errmsg(r->t)), -1;
    if (d.decided == TALLY_DECIDED_FAIL_OPEN) {
        printf("  rate limits: Redis unreachable, allowed by policy\n");
    } else if (!d.allowed) {
        /* another request of this key took the last units since step 1 */
        cancel(r, request_id);
        refuse_rate(r, &d, "; its estimate given back");
        return 0;
    } else {
        int k = tally_decision_rule(&d, r->rules); /* Redis decided: 0 or 1 */
        printf("  rate limits: allowed, %" PRId64 " of %" PRId64 " left (rate limit %d, %s)\n", d.remaining,
               d.limit, k + 1, limits[k]);
    }

    /* 4. concurrency: at most 2 requests of this key in flight */
    tally_lease lease;
    rc = tally_lease_acquire(r->t, r->key, 2, 60000, &lease);
    if (rc != TALLY_OK && !unreachable(rc)) return fprintf(stderr, "  lease: %s\n", tally_errmsg(r->t)), -1;
    int leased = rc == TALLY_OK && lease.ok;
    if (rc == TALLY_OK && !lease.ok) {
        /* Cancelled, not settled: settling would count a request that never ran. */
        cancel(r, request_id);
        printf("  refused (429): %" PRId64 " requests in flight; its estimate given back\n", lease.holders);
        return 0;
    }
    /* the lease id is random: a relay keeps it, the example does not print it */
    printf("  lease: %s\n", leased ? "held" : "Redis unreachable, allowed by policy");

    /* 5. the upstream call */
    usage u = upstream(i, input_tokens);
    usd(u.cost_nanos, a);
    printf("  upstream: %" PRId64 " in, %" PRId64 " out, $%s\n", u.input_tokens, u.output_tokens, a);

    /* 6. settle, 7. release -- the release even when settling failed */
    int failed = 0;
    if ((rc = settle(r, request_id, &u)) != TALLY_OK) {
        fprintf(stderr, "  settle: %s (spool the event and import it later)\n", tally_errmsg(r->t));
        failed = !unreachable(rc);
    } else {
        printf("  settled\n");
    }
    if (leased && (rc = tally_lease_release(r->t, r->key, lease.id, &lease)) != TALLY_OK) {
        /* not fatal: an unreleased lease ends by itself after its 60 s */
        fprintf(stderr, "  release: %s\n", tally_errmsg(r->t));
        failed |= !unreachable(rc);
    }
    return failed ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 3) {
        fprintf(stderr, "usage: %s [URL [API_KEY]]\n", argv[0]);
        return 2;
    }
    /* A new key per run unless one is given: the rate limits, the budget and
     * the request ids are the key's, so a run starts from nothing. */
    char fresh[64];
    snprintf(fresh, sizeof fresh, "demo-%lld-%ld", (long long)time(NULL), (long)getpid());
    relay r = { .key = argc > 2 ? argv[2] : fresh, .account = "demo-account", .model = "claude-3-5-sonnet" };
    fprintf(stderr, "relay: key %s\n", r.key);
    char err[128];
    if (tally_rule_parse(limits[0], strlen(limits[0]), &r.rules[0], err, sizeof err) != TALLY_OK ||
        tally_rule_parse(limits[1], strlen(limits[1]), &r.rules[1], err, sizeof err) != TALLY_OK ||
        tally_budget_parse("cost:0.10/day", &r.budget) != TALLY_OK) {
        fprintf(stderr, "relay: bad limit: %s\n", err);
        return 2;
    }
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.url = argc > 1 ? argv[1] : NULL; /* NULL: $TALLY_URL, else localhost */
    printf("libtally %s\n", tally_version());
    int rc = tally_open(&cfg, &r.t);
    if (rc != TALLY_OK) {
        /* A relay would start anyway and apply its policies per call; the
         * example needs Redis to show anything. */
        fprintf(stderr, "relay: %s\n", r.t ? tally_errmsg(r.t) : tally_strerror(rc));
        tally_close(r.t);
        return 1;
    }
    int failures = 0;
    for (int i = 1; i <= REQUESTS; i++) failures += handle(&r, i) < 0;

    tally_period today;
    tally_bucket b;
    char spent[32];
    if (tally_period_parse(r.t, "today", &today) != TALLY_OK ||
        tally_stats(r.t, TALLY_SCOPE_KEY, r.key, &today, &b) != TALLY_OK) {
        fprintf(stderr, "relay: stats: %s\n", tally_errmsg(r.t));
        failures++;
    } else {
        usd(b.cost_nanos, spent);
        printf("today, this key: %" PRId64 " requests, %" PRId64 " tokens, $%s\n", b.requests, b.total_tokens,
               spent);
    }
    tally_close(r.t);
    return failures ? 1 : 0;
}
