/* cli.c -- option parsing, handle opening and output helpers for the commands. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "tally %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'tally %s --help')\n", cmd);
    return EXIT_USAGE;
}

int cli_parse(const char *cmd, int argc, char **argv, int first, const cli_opt *opts,
              char **pos, int maxpos, int *npos) {
    *npos = 0;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (*npos >= maxpos) return cli_usage_error(cmd, "unexpected argument '%s'", arg);
            pos[(*npos)++] = argv[i];
            continue;
        }
        /* --name=value is accepted as well as --name value */
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        const cli_opt *o = opts;
        while (o->name && !(strlen(o->name) == nlen && strncmp(o->name, arg, nlen) == 0)) o++;
        if (!o->name) return cli_usage_error(cmd, "unknown option '%.*s'", (int)nlen, arg);
        if (o->flag) {
            if (eq) return cli_usage_error(cmd, "option '%s' takes no value", o->name);
            *o->flag = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) return cli_usage_error(cmd, "option '%s' needs a value", o->name);
        if (o->many) {
            if (*o->count >= o->max)
                return cli_usage_error(cmd, "option '%s' given more than %d times", o->name, o->max);
            o->many[(*o->count)++] = val;
        } else {
            *o->value = val;
        }
    }
    return 0;
}

int cli_parse_tz(const char *s, int *minutes) {
    if (strcmp(s, "Z") == 0 || strcmp(s, "UTC") == 0) {
        *minutes = 0;
        return 0;
    }
    int sign = s[0] == '+' ? 1 : s[0] == '-' ? -1 : 0;
    if (!sign || strlen(s) != 6 || s[3] != ':') return -1;
    for (int i = 1; i < 6; i++)
        if (i != 3 && (s[i] < '0' || s[i] > '9')) return -1;
    int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 14 || m > 59 || h * 60 + m > 14 * 60) return -1;
    *minutes = sign * (h * 60 + m);
    return 0;
}

int cli_exit_for(int rc) {
    switch (rc) {
    case TALLY_OK: return EXIT_OK_;
    case TALLY_EINVAL: return EXIT_USAGE;
    case TALLY_ECONNECT:
    case TALLY_EAUTH: return EXIT_UNREACHABLE;
    default: return EXIT_FAILED;
    }
}

int cli_fail(const char *cmd, tally *t, int rc) {
    fprintf(stderr, "tally %s: %s\n", cmd, t ? tally_errmsg(t) : tally_strerror(rc));
    return cli_exit_for(rc);
}

int cli_config(const char *cmd, const cli_common *c, tally_config *cfg) {
    tally_config_init(cfg);
    cfg->url = c->url; /* NULL: the library reads $TALLY_URL */
    if (c->prefix) cfg->prefix = c->prefix;
    cfg->defer_script_load = c->defer_load;
    const char *tz = c->tz ? c->tz : getenv("TALLY_TZ");
    if (tz && *tz && cli_parse_tz(tz, &cfg->tz_offset_min) < 0)
        return cli_usage_error(cmd, "timezone '%s' must look like +08:00, -03:30 or UTC%s", tz,
                               c->tz ? "" : " (from TALLY_TZ)");
    if (c->timeout) {
        char *end;
        long ms = strtol(c->timeout, &end, 10);
        if (*end || ms <= 0 || ms > 3600000)
            return cli_usage_error(cmd, "--timeout must be milliseconds from 1 to 3600000");
        cfg->command_timeout_ms = cfg->connect_timeout_ms = (int)ms;
    }
    return 0;
}

int cli_open(const char *cmd, const cli_common *c, tally **t) {
    tally_config cfg;
    int code = cli_config(cmd, c, &cfg);
    if (code) return code;
    int rc = tally_open(&cfg, t);
    if (rc != TALLY_OK) {
        code = cli_fail(cmd, *t, rc);
        tally_close(*t);
        *t = NULL;
        return code;
    }
    return 0;
}

int cli_number(const char *cmd, const char *flag, const char *text, int min, int max, int *out) {
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min || v > max)
        return cli_usage_error(cmd, "%s '%s' must be a whole number from %d to %d", flag, text, min, max);
    *out = (int)v;
    return 0;
}

void json_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}
