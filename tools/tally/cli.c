/* cli.c -- the command line of every command: options looked up in the
 * command's table (opt.h) and the common one, each value converted by its
 * kind before anything connects; opening a handle; exit codes. */
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

/* The option of `arg` ("--name" or "--name=value"), in the command's table or
 * the common one; *eq points at the '=' or is NULL. */
static opt *lookup(opt *opts, opt *common, const char *arg, const char **eq) {
    *eq = strchr(arg, '=');
    size_t n = *eq ? (size_t)(*eq - arg) : strlen(arg);
    opt *o = opt_find(opts, arg, n);
    return o ? o : opt_find(common, arg, n);
}

/* Converts every value given for `opts` by its kind. */
static int convert(const char *cmd, opt *opts, int tz_min) {
    char err[512];
    for (opt *o = opts; o->name; o++) {
        opt one = *o;
        for (int k = 0; o->text && k < (o->times ? o->given : 1); k++) {
            one.given = k + 1; /* a repeatable text: each of its values */
            if (opt_set(&one, o->times ? ((const char **)o->dst)[k] : o->text, tz_min, err, sizeof err) < 0)
                return cli_usage_error(cmd, "%s", err);
        }
    }
    return 0;
}

int cli_parse(const char *cmd, int argc, char **argv, cli_common *c, opt *opts, char **pos, int maxpos,
              int *npos) {
    static const char *const read_froms[] = { "primary", "replica", NULL }; /* TALLY_READ_* */
    static const char *const booleans[] = { "0", "1", NULL };
    opt common[] = {
        OPT_TEXT("--url", &c->url),       OPT_OFFSET("--tz", &c->tz_min),
        OPT_TEXT("--prefix", &c->prefix), OPT_MS("--timeout", &c->timeout_ms, 1, 3600000),
        OPT_FLAG("--json", &c->json),     OPT_FLAG("--help", &c->help),
        OPT_FLAG("-h", &c->help),         OPT_CHOICE("--read-from", &c->read_from, read_froms),
        OPT_FLAG("--allow-eviction", &c->allow_eviction), OPT_END,
    };
    *npos = 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *eq;
        if (arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (*npos >= maxpos) return cli_usage_error(cmd, "unexpected argument '%s'", arg);
            pos[(*npos)++] = argv[i];
            continue;
        }
        opt *o = lookup(opts, common, arg, &eq);
        if (!o) return cli_usage_error(cmd, "unknown option '%.*s'", (int)(eq ? eq - arg : (long)strlen(arg)), arg);
        if (o->kind == KIND_FLAG) {
            if (eq) return cli_usage_error(cmd, "option '%s' takes no value", o->name);
            *(int *)o->dst = 1;
            o->given++;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) return cli_usage_error(cmd, "option '%s' needs a value", o->name);
        if (o->times && o->given >= o->times)
            return cli_usage_error(cmd, "option '%s' given more than %d times", o->name, o->times);
        if (o->times) ((const char **)o->dst)[o->given] = val;
        o->given++;
        o->text = val;
    }
    if (c->help) return 0;
    /* The timezone first: times and periods are read in it. $TALLY_TZ set but
     * empty counts as unset. */
    int code = convert(cmd, common, 0);
    const char *env = getenv("TALLY_TZ");
    opt from_env = OPT_OFFSET("TALLY_TZ", &c->tz_min);
    from_env.text = env;
    if (!code && !common[1].given && env && *env) code = convert(cmd, (opt[]){ from_env, OPT_END }, 0);
    /* $TALLY_READ_FROM likewise, under --read-from. */
    env = getenv("TALLY_READ_FROM");
    opt read_env = OPT_CHOICE("TALLY_READ_FROM", &c->read_from, read_froms);
    read_env.text = env;
    if (!code && !cli_given(common, "--read-from") && env && *env) code = convert(cmd, (opt[]){ read_env, OPT_END }, 0);
    /* $TALLY_ALLOW_EVICTION: 1 or 0 (empty: unset), under --allow-eviction. */
    env = getenv("TALLY_ALLOW_EVICTION");
    opt evict_env = OPT_CHOICE("TALLY_ALLOW_EVICTION", &c->allow_eviction, booleans);
    evict_env.text = env;
    if (!code && !c->allow_eviction && env && *env) code = convert(cmd, (opt[]){ evict_env, OPT_END }, 0);
    return code ? code : convert(cmd, opts, c->tz_min);
}

int cli_given(opt *opts, const char *name) {
    opt *o = opt_find(opts, name, strlen(name));
    return o ? o->given : 0;
}

int cli_transient(int rc) {
    return rc == TALLY_ECONNECT || rc == TALLY_EIO || rc == TALLY_ETIMEOUT;
}

int cli_exit_for(int rc) {
    switch (rc) {
    case TALLY_OK: return EXIT_OK_;
    case TALLY_EINVAL: return EXIT_USAGE;
    case TALLY_ECONNECT:
    case TALLY_EAUTH: return EXIT_UNREACHABLE;
    case TALLY_EEVICT: return EXIT_EVICT;
    default: return EXIT_FAILED;
    }
}

const char *cli_message(const char *cmd, const char *msg) {
    size_t n = strlen(cmd);
    return strncmp(msg, cmd, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

int cli_fail(const char *cmd, tally *t, int rc) {
    fprintf(stderr, "tally %s: %s\n", cmd, t ? cli_message(cmd, tally_errmsg(t)) : tally_strerror(rc));
    return cli_exit_for(rc);
}

void cli_config(const cli_common *c, tally_config *cfg) {
    tally_config_init(cfg);
    cfg->url = c->url; /* NULL: the library reads $TALLY_URL */
    /* NULL: the library reads $TALLY_LIMITS_URL; "": no limits server (a
     * command that decides nothing connects to none) */
    cfg->limits_url = c->limits ? c->limits_url : "";
    if (c->prefix) cfg->prefix = c->prefix;
    cfg->tz_offset_min = c->tz_min;
    cfg->defer_script_load = c->defer_load;
    cfg->price_missing_zero = c->price_missing_zero;
    cfg->read_from = c->read_from;
    cfg->allow_eviction = c->allow_eviction;
    if (c->max_script_us) cfg->max_script_us = c->max_script_us;
    if (c->timeout_ms) cfg->command_timeout_ms = cfg->connect_timeout_ms = (int)c->timeout_ms;
}

int cli_connect(const cli_common *c, tally **t) {
    tally_config cfg;
    cli_config(c, &cfg);
    return tally_open(&cfg, t);
}

int cli_open(const char *cmd, const cli_common *c, tally **t) {
    int rc = cli_connect(c, t);
    if (rc == TALLY_OK) return 0;
    int code = cli_fail(cmd, *t, rc);
    tally_close(*t);
    *t = NULL;
    return code;
}
