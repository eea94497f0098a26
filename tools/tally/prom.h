/* prom.h -- the statistics in Prometheus's text exposition format (0.0.4), for
 * `tally metrics --format prometheus` and `tally exporter`. */
#ifndef TALLY_PROM_H
#define TALLY_PROM_H

#include <stdio.h>

#include "opt.h"
#include "tally.h"

#define PROM_TOP_DEFAULT 20
#define PROM_TOP_MAX 1000
#define PROM_ACCOUNTS_MAX 100

/* What to export besides the global totals and the models (every model in use):
 * the accounts named by the operator, the top `top_accounts` accounts by
 * all-time cost (0: none; those named are not repeated) and the top `top`
 * API keys by all-time cost (0: none). */
typedef struct prom_options {
    int top, top_accounts;
    const char *const *accounts;
    int naccounts;
} prom_options;

/* The options --top and --top-accounts (0..PROM_TOP_MAX, read by the
 * command's option table) and --account (repeatable) shared by `metrics` and
 * `exporter`, as table entries. */
#define PROM_OPTS(top, top_accounts, accounts)                                                                     \
    OPT_COUNT("--top", &(top), 0, PROM_TOP_MAX), OPT_COUNT("--top-accounts", &(top_accounts), 0, PROM_TOP_MAX),    \
        OPT_TEXTS("--account", accounts, PROM_ACCOUNTS_MAX)

/* Fills *o from --top, --top-accounts and the --account list. Checks each
 * account id with the library's rules on handle t (no I/O) and that none is
 * given twice. Prints the problem and returns EXIT_USAGE, or 0. */
int prom_options_set(const char *cmd, tally *t, int64_t top, int64_t top_accounts, const char *const *accounts,
                     int naccounts, prom_options *o);

/* Writes tally_build_info, the one family every exposition has. */
void prom_build_info(FILE *f);

/* Reads the all-time statistics through the public API and writes
 * tally_build_info and the statistics' families to f. Nothing is written until
 * everything was read, so a failure never leaves half an exposition. Returns
 * TALLY_OK, or the library's error with the message on t. */
int prom_write(tally *t, const prom_options *o, FILE *f);

#endif
