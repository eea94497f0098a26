/* cli.h -- what the tally tool's commands share: the command line parsed
 * against a table of typed options (opt.h), the options every command takes,
 * opening a handle from them, exit codes and error messages. */
#ifndef TALLY_CLI_H
#define TALLY_CLI_H

#include <stdio.h>

#include "opt.h"
#include "tally.h"

/* Exit status, as documented in `tally --help`. */
enum {
    EXIT_OK_ = 0,
    EXIT_NO = 1,          /* denied, missing */
    EXIT_USAGE = 2,       /* bad usage or bad input; nothing written */
    EXIT_UNREACHABLE = 3, /* Redis unreachable or authentication failed */
    EXIT_FAILED = 4,      /* Redis or script error, timeout */
    EXIT_EVICT = 5        /* a write refused: the server may evict (TALLY_EEVICT) */
};

/* Options every command takes: --url, --tz (else $TALLY_TZ), --prefix,
 * --timeout, --read-from (else $TALLY_READ_FROM), --allow-eviction (else
 * $TALLY_ALLOW_EVICTION), --json, --help (-h). */
typedef struct cli_common {
    const char *url, *prefix;
    int tz_min;           /* minutes east of UTC */
    int64_t timeout_ms;   /* 0: the library's defaults */
    int read_from;        /* TALLY_READ_PRIMARY or TALLY_READ_REPLICA */
    int allow_eviction;   /* tally_config.allow_eviction */
    int json, help;
    int defer_load;       /* set by commands that inspect the script cache */
    int price_missing_zero; /* record: an event without a cost or a price costs 0 */
    int64_t max_script_us;  /* record --stdin: tally_config.max_script_us, 0: the default */
    int limits;             /* set by allow and limits: the handle opens
                               tally_config.limits_url (others leave it "") */
    const char *limits_url; /* their --limits-url; NULL: $TALLY_LIMITS_URL */
} cli_common;

/* Parses argv[2..] (argv[1] is the command) against the common options and
 * the command's `opts` (ended by OPT_END), storing every value by its kind;
 * positional arguments go to pos[0..*npos) (at most maxpos). Every value is
 * checked here, before anything connects. With --help given, values are not
 * converted. Returns 0, or EXIT_USAGE after printing a message naming the
 * option. */
int cli_parse(const char *cmd, int argc, char **argv, cli_common *c, opt *opts, char **pos, int maxpos,
              int *npos);

/* How often the option `name` of opts was given (0: not given). */
int cli_given(opt *opts, const char *name);

/* The handle's configuration from the common options (checked by cli_parse). */
void cli_config(const cli_common *c, tally_config *cfg);
/* Opens a handle from the common options and returns the library's result
 * code (*t is set even on failure, except out of memory; tally_close it). */
int cli_connect(const cli_common *c, tally **t);
/* cli_connect, printing the error on failure: 0, or the exit status (then
 * *t is NULL). */
int cli_open(const char *cmd, const cli_common *c, tally **t);

/* 1 for the results that mean Redis could not be reached or did not answer
 * (ECONNECT, EIO, ETIMEOUT): the call may be tried again. */
int cli_transient(int rc);

/* A library message as "tally CMD: " goes before it: without a leading "CMD: "
 * (a script's refusal names the script, lease.lua's "lease: ..."), which the
 * prefix says already. */
const char *cli_message(const char *cmd, const char *msg);
/* Prints "tally CMD: message" for a library error and returns its exit status. */
int cli_fail(const char *cmd, tally *t, int rc);
int cli_exit_for(int rc);
/* Prints "tally CMD: message" for a usage problem and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
