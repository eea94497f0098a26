/* pace.h -- how big a batch's script calls are and how many are in flight,
 * from cfg.max_script_us and the times the script reports (pace.c). Layer:
 * pure (no I/O). */
#ifndef TALLY_PACE_H
#define TALLY_PACE_H

#include <stddef.h>
#include <stdint.h>

#define TALLY_PACE_SAMPLES 8 /* the calls the estimate remembers */

/* The last calls' sizes (aggregate.c's units) and measured microseconds per
 * unit, a ring; zeroed: nothing measured yet. */
typedef struct tally_pace {
    double rate[TALLY_PACE_SAMPLES];
    size_t units[TALLY_PACE_SAMPLES];
    int n, next;
} tally_pace;

/* A call of `units` ran `us` microseconds (the script's own measure). Every
 * timed call counts, however small (record.c times every call but one of a
 * single event its budget did not cut, which says nothing of the rate); a time of 0 or less (under the clock's
 * resolution, or the clock stepped) is not a measure and is ignored. */
void tally__pace_learn(tally_pace *p, size_t units, long long us);

/* The units the next call may hold to run about 60% of max_script_us (the
 * rest is margin for noise); TALLY_PACE_FIRST before any call was measured. */
#define TALLY_PACE_FIRST 1024
size_t tally__pace_budget(const tally_pace *p, int64_t max_script_us);

/* How many calls of a batch may be in flight at once under max_script_us. */
int tally__pace_window(int64_t max_script_us);

#endif
