/* harness.c -- see harness.h. */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static redisContext *raw;

const char *th_url(void) {
    const char *u = getenv("TALLY_TEST_URL");
    if (!u) fail_msg("TALLY_TEST_URL is not set: run under tests/with-redis");
    return u;
}

redisContext *th_redis(void) {
    if (raw) return raw;
    const char *sock = getenv("TALLY_TEST_SOCK");
    if (!sock) fail_msg("TALLY_TEST_SOCK is not set: run under tests/with-redis");
    raw = redisConnectUnix(sock);
    if (!raw || raw->err) fail_msg("cannot connect to the test server at %s", sock);
    return raw;
}

static redisReply *vcmd(const char *fmt, va_list ap) {
    redisReply *r = redisvCommand(th_redis(), fmt, ap);
    if (!r) fail_msg("raw command '%s' failed: %s", fmt, raw->errstr);
    return r;
}

redisReply *th_cmd(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(fmt, ap);
    va_end(ap);
    return r;
}

long long th_int(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(fmt, ap);
    va_end(ap);
    if (r->type != REDIS_REPLY_INTEGER) fail_msg("'%s' did not answer an integer: %s", fmt, r->str ? r->str : "");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

int th_clean(void **state) {
    (void)state;
    freeReplyObject(th_cmd("FLUSHALL"));
    freeReplyObject(th_cmd("SCRIPT FLUSH"));
    return 0;
}

void th_digest(char out[41]) {
    redisReply *r = th_cmd("DEBUG DIGEST");
    if (r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_STRING) fail_msg("DEBUG DIGEST failed");
    snprintf(out, 41, "%s", r->str);
    freeReplyObject(r);
}

tally *th_open(tally_config *cfg) {
    tally_config defaults;
    if (!cfg) {
        tally_config_init(&defaults);
        cfg = &defaults;
    }
    cfg->url = th_url();
    tally *t = NULL;
    int rc = tally_open(cfg, &t);
    if (rc != TALLY_OK) fail_msg("tally_open: %s", tally_errmsg(t));
    return t;
}

/* Reads all of fd into a new NUL-terminated buffer. */
static char *slurp(int fd) {
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;
    while (buf && (n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 2048) buf = realloc(buf, cap *= 2);
    }
    if (buf) buf[len] = '\0';
    return buf;
}

int th_run(const char *const *argv, const char *input, char **out, char **err) {
    const char *bin = getenv("TALLY_BIN");
    if (!bin) fail_msg("TALLY_BIN is not set");
    char errpath[] = "/tmp/tally-th-err.XXXXXX", outpath[] = "/tmp/tally-th-out.XXXXXX";
    int efd = mkstemp(errpath), ofd = mkstemp(outpath), in[2];
    if (efd < 0 || ofd < 0 || pipe(in) < 0) fail_msg("th_run: cannot make temp files");
    unlink(errpath);
    unlink(outpath);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(ofd, 1);
        dup2(efd, 2);
        close(in[1]);
        int n = 0;
        while (argv[n]) n++;
        char **args = calloc((size_t)n + 2, sizeof *args);
        args[0] = (char *)bin;
        for (int i = 0; i < n; i++) args[i + 1] = (char *)argv[i];
        execv(bin, args);
        _exit(127);
    }
    close(in[0]);
    signal(SIGPIPE, SIG_IGN);
    if (input) {
        size_t len = strlen(input), off = 0;
        while (off < len) {
            ssize_t w = write(in[1], input + off, len - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
    }
    close(in[1]);
    int status;
    waitpid(pid, &status, 0);
    lseek(ofd, 0, SEEK_SET);
    lseek(efd, 0, SEEK_SET);
    char *o = slurp(ofd), *e = slurp(efd);
    close(ofd);
    close(efd);
    if (out) *out = o; else free(o);
    if (err) *err = e; else free(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void th_done(void) {
    if (raw) redisFree(raw);
    raw = NULL;
}
