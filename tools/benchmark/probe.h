/* probe.h -- what tally-bench-report's two modes (report_probe.c: the month
 * report; top_probe.c: the rankings) share, defined in probe.c: the API keys
 * and accounts they record, one event per key in batches, and the server's
 * script time. */
#ifndef TALLY_BENCH_PROBE_H
#define TALLY_BENCH_PROBE_H

#include "common.h"

/* The key ids "rk-000000".. and account ids "acct-00000".. of a run: key k
 * belongs to account k % probe_accounts. probe_ids() (re)fills them. */
extern char (*probe_key_ids)[16], (*probe_acct_ids)[32];
extern size_t probe_accounts;
void probe_ids(size_t nkeys, size_t naccounts);
void probe_free_ids(void);

/* Parses bench_url_text into bench_url and connects to it; the database must
 * be empty. */
redisContext *probe_connect(void);

/* Records one event per key (the first nkeys) at at_ms, in batches of
 * tally_record_batch; the model rotates with the key and `turn` over 3. */
void probe_record(tally *t, size_t nkeys, int64_t at_ms, int turn);

/* Script calls and their Redis time so far (INFO commandstats, EVALSHA and
 * EVALSHA_RO; usec). */
void script_stats(redisContext *c, double *calls, double *usec);

/* tally-bench-report --top: see top_probe.c. Returns the exit status. */
int top_probe_main(int argc, char **argv);

#endif
