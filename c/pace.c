/* pace.c -- the size of a batch's script calls and the calls in flight.
 *
 * Size: calls are cut at a budget of work units (aggregate.c) worth about 60%
 * of cfg.max_script_us, at the microseconds per unit of the last
 * TALLY_PACE_SAMPLES calls: their median weighted by size. A call the OS
 * descheduled mid-run reports many times its real cost; the median passes
 * over it (unless it outweighs the calls around it), and it leaves the ring
 * after TALLY_PACE_SAMPLES more calls whatever it weighed, so no single
 * measure can shrink calls for good. Small calls count too: they carry the
 * script's fixed cost per call, so they overstate the cost per unit, which
 * errs towards shorter calls, and the next bigger call corrects it.
 *
 * Calls in flight: Redis runs the commands a client has sent back to back, so
 * another client's command (an admission decision) waits behind every call a
 * batch has in flight, up to window x call. More than one in flight only
 * hides the host's building of the next call and the round trip; at small
 * bounds, the ones chosen to keep other clients' waits short, one is in
 * flight. Layer: pure. */
#include "pace.h"

#define BUDGET_MIN 64        /* units: about one event */
#define BUDGET_MAX 10000000
#define US_PER_FLIGHT 1250   /* a call in flight per this much of the bound */
#define FLIGHT_MAX 4

void tally__pace_learn(tally_pace *p, size_t units, long long us) {
    if (!units || us <= 0) return;
    p->rate[p->next] = (double)us / (double)units;
    p->units[p->next] = units;
    p->next = (p->next + 1) % TALLY_PACE_SAMPLES;
    if (p->n < TALLY_PACE_SAMPLES) p->n++;
}

/* The samples' median rate, each weighted by its units. */
static double weighted_median(const tally_pace *p) {
    int order[TALLY_PACE_SAMPLES];
    double total = 0;
    for (int i = 0; i < p->n; i++) { /* insertion sort by rate: at most 8 */
        int j = i;
        for (; j > 0 && p->rate[order[j - 1]] > p->rate[i]; j--) order[j] = order[j - 1];
        order[j] = i;
        total += (double)p->units[i];
    }
    double seen = 0;
    for (int i = 0; i < p->n; i++)
        if ((seen += (double)p->units[order[i]]) * 2 >= total) return p->rate[order[i]];
    return p->rate[order[p->n - 1]];
}

size_t tally__pace_budget(const tally_pace *p, int64_t max_script_us) {
    if (!p->n) return TALLY_PACE_FIRST;
    double units = 0.6 * (double)max_script_us / weighted_median(p);
    return units < BUDGET_MIN ? BUDGET_MIN : units > BUDGET_MAX ? BUDGET_MAX : (size_t)units;
}

int tally__pace_window(int64_t max_script_us) {
    int64_t w = max_script_us / US_PER_FLIGHT;
    return w < 1 ? 1 : w > FLIGHT_MAX ? FLIGHT_MAX : (int)w;
}
