/* harness.c -- see harness.h. */
#include "harness.h"

#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
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
    return th_exec(bin, argv, input, out, err);
}

int th_exec(const char *bin, const char *const *argv, const char *input, char **out, char **err) {
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
        execvp(bin, args);
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

static pid_t started; /* a server this process started, or 0 */

static char *test_path(const char *name) {
    static char buf[4096];
    const char *dir = getenv("TALLY_TEST_DIR");
    if (!dir) fail_msg("TALLY_TEST_DIR is not set: run under tests/with-redis");
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static void tick(void) { /* readiness poll interval, not synchronisation */
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep(&ts, NULL);
}

/* 1 when the server's unix socket accepts a connection. */
static int socket_accepts(void) {
    const char *sock = getenv("TALLY_TEST_SOCK");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

void th_server_kill(void) {
    th_done();
    FILE *f = fopen(test_path("redis.pid"), "r");
    long pid = 0;
    if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1) fail_msg("no redis.pid in the test dir");
    fclose(f);
    if (kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH) fail_msg("cannot kill the server");
    if (started == (pid_t)pid) {
        waitpid(started, NULL, 0);
        started = 0;
    }
    for (int i = 0; socket_accepts(); i++) {
        if (i > 1000) fail_msg("the killed server still accepts connections");
        tick();
    }
}

void th_server_start(void) {
    FILE *f = fopen(test_path("server.args"), "r");
    if (!f) fail_msg("no server.args in the test dir (tests/with-redis writes it)");
    char *args[64] = { "redis-server" }, line[4200];
    int n = 1;
    while (n < 63 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        args[n++] = strdup(line);
    }
    fclose(f);
    args[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork failed");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* always stopped: dies with this test */
        for (int fd = 3; fd < 1024; fd++) close(fd); /* holds none of the test's pipes */
        execvp("redis-server", args);
        _exit(127);
    }
    for (int i = 1; i < n; i++) free(args[i]);
    started = pid;
    for (int i = 0;; i++) {
        if (i > 3000) fail_msg("the restarted server does not answer");
        if (waitpid(pid, NULL, WNOHANG) == pid) fail_msg("the restarted server exited (see redis.log)");
        const char *sock = getenv("TALLY_TEST_SOCK");
        redisContext *c = redisConnectUnix(sock);
        int up = 0;
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            up = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
            if (r) freeReplyObject(r);
        }
        if (c) redisFree(c);
        if (up) break;
        tick();
    }
}
