/* harness.c -- see harness.h. */
#include "harness.h"

#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <sys/prctl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

long long th_evalsha_calls(void) {
    redisReply *r = th_cmd("INFO commandstats");
    const char *at = strstr(r->str, "cmdstat_evalsha:calls=");
    long long n = at ? atoll(at + strlen("cmdstat_evalsha:calls=")) : 0;
    freeReplyObject(r);
    return n;
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

static char baseline[41];

void th_baseline(void) { th_digest(baseline); }

void th_unchanged(const char *what) {
    char now[41];
    th_digest(now);
    if (strcmp(now, baseline) != 0) fail_msg("%s changed the dataset", what);
}

int th_seed(void **state) {
    th_clean(state);
    tally *t = th_open(NULL);
    tally_event e = { .key = "seed", .model = "m", .account = "acct", .input_tokens = 5, .cost_nanos = 7,
                      .request_id = "seed-1" };
    if (tally_record(t, &e, NULL) != TALLY_OK) fail_msg("seed: tally_record: %s", tally_errmsg(t));
    tally_rule r = { 0, TALLY_ALGO_SLIDING_LOG, 5, 60000, 0 };
    tally_decision d;
    if (tally_allow(t, "seed", &r, 1, NULL, &d) != TALLY_OK) fail_msg("seed: tally_allow: %s", tally_errmsg(t));
    tally_close(t);
    th_baseline();
    return 0;
}

int th_mentions(const char *text, const char *word) {
    size_t n = strlen(word);
    for (; text && *text; text++)
        if (strncasecmp(text, word, n) == 0) return 1;
    return 0;
}

void th_mentions_at(const char *file, int line, const char *text, const char *word) {
    if (th_mentions(text, word)) return;
    print_error("'%s' does not mention '%s'\n", text ? text : "(null)", word);
    _fail(file, line);
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

tally *th_open_clock(int64_t now_us) {
    tally_config cfg;
    tally_config_init(&cfg);
    cfg.test_clock = 1;
    tally *t = th_open(&cfg);
    if (tally_test_clock(t, now_us) != TALLY_OK) fail_msg("tally_test_clock: %s", tally_errmsg(t));
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

long th_children_sum_at(const char *file, int line, int n, int (*fn)(int child, void *arg), void *arg) {
    int fds[2];
    if (pipe(fds) != 0) fail_msg("pipe: %s", strerror(errno));
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    fflush(NULL);
    for (int c = 0; c < n; c++) {
        pids[c] = fork();
        if (pids[c] < 0) fail_msg("fork: %s", strerror(errno));
        if (pids[c] == 0) {
            close(fds[0]);
            int count = fn(c, arg);
            if (count < 0) _exit(-count);
            _exit(write(fds[1], &count, sizeof count) == sizeof count ? 0 : 125);
        }
    }
    close(fds[1]);
    for (int c = 0; c < n; c++) th_reap_at(file, line, pids[c]);
    free(pids);
    long total = 0;
    int count, reports = 0;
    while (read(fds[0], &count, sizeof count) == sizeof count) total += count, reports++;
    close(fds[0]);
    if (reports == n) return total;
    print_error("%d of %d children reported a count\n", reports, n);
    _fail(file, line);
    return -1;
}

void th_reap_at(const char *file, int line, pid_t pid) {
    int status;
    pid_t got = waitpid(pid, &status, 0);
    if (got < 0) print_error("waitpid(%d): %s\n", (int)pid, strerror(errno));
    else if (WIFSIGNALED(status)) print_error("child %d was killed by signal %d\n", (int)got, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0) print_error("child %d exited with status %d\n", (int)got, WEXITSTATUS(status));
    else return;
    _fail(file, line);
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

/* ----------------------------------------------------------- fake servers */

static pid_t fake_pid;

/* Waits up to ms for the client to send something, reading it away; 1 when
 * it did, 0 when it closed or the wait ended. */
static int drain(int fd, int ms) {
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, ms) <= 0) return 0;
    char buf[65536];
    return read(fd, buf, sizeof buf) > 0;
}

/* Lets ms pass, reading away what the client sends; -1 when it closed. */
static int idle(int fd, int ms) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        if (left <= 0) return 0;
        struct pollfd p = { fd, POLLIN, 0 };
        char buf[65536];
        if (poll(&p, 1, (int)left) > 0 && read(fd, buf, sizeof buf) <= 0) return -1;
    }
}

/* Sends all of s; -1 once the client is gone. */
static int put(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        s += w, n -= (size_t)w;
    }
    return 0;
}

/* One client of a fake server, until it goes away. */
static void serve(int kind, int fd) {
    static const char garbage[] = "\x16\x03\x01\x02\x00 garbage, not RESP\r\n\xff\xfe";
    static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
                               "Connection: close\r\n\r\nBad Request";
    static char flood[65536];
    if (!drain(fd, 60000)) return; /* the answer follows a request */
    switch (kind) {
    case TH_FAKE_DRIP:
        if (put(fd, "$1000000\r\n", 10) < 0) return;
        while (idle(fd, 300) == 0 && put(fd, "x", 1) == 0) {}
        return;
    case TH_FAKE_HUGE:
        if (put(fd, "*2147483647\r\n", 13) < 0) return;
        break;
    case TH_FAKE_FLOOD:
        memset(flood, 'x', sizeof flood);
        if (put(fd, "$2147483647\r\n", 13) < 0) return;
        while (put(fd, flood, sizeof flood) == 0) {}
        return;
    case TH_FAKE_GARBAGE:
        if (put(fd, garbage, sizeof garbage - 1) < 0) return;
        break;
    case TH_FAKE_HTTP:
        put(fd, http, sizeof http - 1);
        return;
    default:
        break;
    }
    while (drain(fd, 60000)) {} /* hold the connection open, answering nothing */
}

int th_fake_start(int kind) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, ports[2];
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0 || pipe(ports) < 0)
        fail_msg("fake server: cannot listen");
    pid_t parent = getpid();
    fake_pid = fork();
    if (fake_pid < 0) fail_msg("fake server: fork failed");
    if (fake_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
        signal(SIGCHLD, SIG_IGN); /* connection children are reaped by the kernel */
        setpgid(0, 0);            /* th_fake_stop() kills the whole group */
        close(ports[0]);
        if (write(ports[1], &one, sizeof one) != sizeof one) _exit(1);
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c < 0) continue;
            if (fork() == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                serve(kind, c);
                _exit(0);
            }
            close(c);
        }
    }
    setpgid(fake_pid, fake_pid);
    close(fd);
    close(ports[1]);
    if (read(ports[0], &one, sizeof one) != sizeof one) fail_msg("fake server did not start");
    close(ports[0]);
    return ntohs(a.sin_port);
}

void th_fake_stop(void) {
    if (fake_pid <= 0) return;
    kill(-fake_pid, SIGKILL);
    kill(fake_pid, SIGKILL);
    waitpid(fake_pid, NULL, 0);
    fake_pid = 0;
}

void th_acl_setuser(const char *user, const char *password) {
    const char *doc = getenv("TALLY_ACL_DOC");
    if (!doc) fail_msg("TALLY_ACL_DOC is not set");
    FILE *f = fopen(doc, "r");
    if (!f) fail_msg("cannot read %s", doc);
    char line[2048], head[64], pw[128], *rule = NULL;
    snprintf(head, sizeof head, "ACL SETUSER %s ", user);
    snprintf(pw, sizeof pw, ">%s", password);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, head, strlen(head)) == 0) {
            rule = line;
            break;
        }
    fclose(f);
    if (!rule) fail_msg("docs/acl.md has no '%s' line", head);
    rule[strcspn(rule, "\n")] = '\0';
    const char *argv[80];
    int argc = 0;
    for (char *tok = strtok(rule, " "); tok && argc < 80; tok = strtok(NULL, " "))
        argv[argc++] = strcmp(tok, ">PASSWORD") == 0 ? pw : tok;
    redisReply *r = redisCommandArgv(th_redis(), argc, argv, NULL);
    if (!r || r->type == REDIS_REPLY_ERROR) fail_msg("ACL SETUSER %s failed: %s", user, r ? r->str : "");
    freeReplyObject(r);
}
