/* bounds.h -- bounds that the library and the scripts both enforce, defined
 * once: here, or in tally.h / tally_admission.h where callers need them too.
 * tools/embed.lua copies every numeric TALLY_* define of those headers into
 * each script's prelude (as lib.TALLY_...), so the C checks and the Lua checks
 * cannot drift apart. Layer: pure. */
#ifndef TALLY_BOUNDS_H
#define TALLY_BOUNDS_H

#define TALLY_FUTURE_MAX_MS 86400000LL           /* cfg.max_future_ms: a day at most */
#define TALLY_DELTA_MAX 1000000000000000LL      /* a count of one record call's delta (an
                                                    event's cost at most:
                                                    TALLY_MAX_COST_NANOS) */
#define TALLY_TEST_CLOCK_MAX_US 4000000000000000LL /* tally_test_clock: before 2096 */

#endif
