/* cli.h -- what the tally tool's commands share: option parsing, opening a
 * handle from the common options, exit codes and JSON output. */
#ifndef TALLY_CLI_H
#define TALLY_CLI_H

#include <stdio.h>

#include "tally.h"

/* Exit status, as documented in `tally --help`. */
enum {
    EXIT_OK_ = 0,
    EXIT_NO = 1,        /* denied, missing */
    EXIT_USAGE = 2,     /* bad usage or bad input; nothing written */
    EXIT_UNREACHABLE = 3, /* Redis unreachable or authentication failed */
    EXIT_FAILED = 4     /* Redis or script error, timeout */
};

typedef struct cli_opt {
    const char *name;       /* "--key" */
    const char **value;     /* set for options taking a value */
    int *flag;              /* set to 1 for flags */
    const char **many;      /* repeatable: values appended here ... */
    int *count;             /* ... and counted here, up to `max` */
    int max;
} cli_opt;

/* Options every command takes. */
typedef struct cli_common {
    const char *url, *tz, *prefix, *timeout;
    int json, help;
    int defer_load;   /* set by commands that inspect the script cache */
} cli_common;

#define CLI_COMMON_OPTS(c) \
    { "--url", &(c).url, 0, 0, 0, 0 }, { "--tz", &(c).tz, 0, 0, 0, 0 }, \
    { "--prefix", &(c).prefix, 0, 0, 0, 0 }, { "--timeout", &(c).timeout, 0, 0, 0, 0 }, \
    { "--json", 0, &(c).json, 0, 0, 0 }, { "--help", 0, &(c).help, 0, 0, 0 }, \
    { "-h", 0, &(c).help, 0, 0, 0 }

/* Parses argv[first..] against opts (terminated by a zero entry). Positional
 * arguments are left in pos[0..*npos) (at most maxpos). Prints a message naming
 * the problem and returns EXIT_USAGE on an unknown option, a missing value or too
 * many arguments; 0 on success. */
int cli_parse(const char *cmd, int argc, char **argv, int first, const cli_opt *opts,
              char **pos, int maxpos, int *npos);

/* Fills *cfg from the common options ($TALLY_URL, $TALLY_TZ as fallbacks). On a
 * bad value prints the problem and returns EXIT_USAGE, else 0. */
int cli_config(const char *cmd, const cli_common *c, tally_config *cfg);
/* Opens a handle from the common options (cli_config). On failure prints the
 * error and returns its exit status, else 0. */
int cli_open(const char *cmd, const cli_common *c, tally **t);

/* Parses a whole number from min to max given for option `flag` into *out.
 * Prints the problem and returns EXIT_USAGE, or 0. */
int cli_number(const char *cmd, const char *flag, const char *text, int min, int max, int *out);

/* Parses "+HH:MM"/"-HH:MM" (or "Z"/"UTC") into minutes east of UTC. -1 on error
 * is not possible as a value, so the status is returned and the value stored. */
int cli_parse_tz(const char *s, int *minutes);

/* Prints "tally CMD: message" for a library error and returns its exit status. */
int cli_fail(const char *cmd, tally *t, int rc);
int cli_exit_for(int rc);
/* Prints "tally CMD: message" for a usage problem and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void json_string(FILE *f, const char *s, size_t n);

#endif
