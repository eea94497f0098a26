/* test_exporter.c -- redis: `tally exporter` scraped over real HTTP: /metrics
 * is `tally metrics --format prometheus` and the exporter's own tally_up,
 * tally_scrape_duration_seconds and tally_scrape_errors_total; odd requests
 * get an answer and never stop it; a stopped or stalled Redis gives 200 with
 * tally_up 0 (and tally_up 1 once it is back); --listen :PORT listens on every
 * interface, the default port is 10108, a busy port is named; SIGTERM stops it
 * with exit status 0; and hostile clients (many half-sent requests from many
 * addresses, a dripping request) neither take every slot nor flood stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

typedef struct {
    pid_t pid;
    int port;
    char errpath[64];  /* the exporter's stderr */
} exporter;

/* Starts `tally exporter --listen LISTEN` with extra arguments and reads the
 * port it prints once it listens. It dies with the test. */
static exporter start_at(const char *url, const char *listen, const char *const *extra) {
    exporter x = { .errpath = "/tmp/tally-exporter-err.XXXXXX" };
    int out[2], efd = mkstemp(x.errpath);
    if (efd < 0 || pipe(out) < 0) fail_msg("start: cannot make a pipe or temp file");
    x.pid = fork();
    if (x.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        dup2(efd, 2);
        close(out[0]);
        const char *argv[24] = { getenv("TALLY_BIN"), "exporter", "--url", url, "--listen", listen };
        int n = 6;
        for (int i = 0; extra && extra[i] && n < 23; i++) argv[n++] = extra[i];
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    close(out[1]);
    close(efd);
    char line[256] = "";
    size_t len = 0;
    struct pollfd p = { out[0], POLLIN, 0 };
    while (len + 1 < sizeof line && !strchr(line, '\n') && poll(&p, 1, 10000) == 1) {
        ssize_t r = read(out[0], line + len, sizeof line - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
        line[len] = '\0';
    }
    close(out[0]);
    const char *at = strstr(line, "listening on http://"), *end = strstr(line, "/metrics\n");
    while (at && end && end > at && end[-1] != ':') end--;
    if (!at || !end || end == at || sscanf(end, "%d/metrics", &x.port) != 1)
        fail_msg("the exporter did not say where it listens: '%s'", line);
    return x;
}

static exporter start(const char *url, const char *const *extra) { return start_at(url, "127.0.0.1:0", extra); }

/* SIGTERM, then the exit status (-1 if it did not exit normally). */
static int stop(exporter *x) {
    int status;
    kill(x->pid, SIGTERM);
    waitpid(x->pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *stderr_of(exporter *x) {
    FILE *f = fopen(x->errpath, "r");
    char *buf = calloc(1, 65536);
    if (f) {
        size_t n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
        fclose(f);
    }
    unlink(x->errpath);
    return buf;
}

typedef struct {
    int status;     /* 0: no status line (connection closed) */
    char *head;     /* status line and headers */
    char *body;
} http_reply;

/* Connects to 127.0.0.1:port from the loopback address `from` (any of
 * 127.0.0.0/8 on Linux: one client address each), or from 127.0.0.1. */
static int connect_from(const char *from, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = { 10, 0 }; /* bounds a failure, never a success */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in src = { .sin_family = AF_INET };
    if (from && (inet_pton(AF_INET, from, &src.sin_addr) != 1 || bind(fd, (struct sockaddr *)&src, sizeof src) < 0))
        fail_msg("cannot bind a client socket to %s", from);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_to(int port) { return connect_from(NULL, port); }

/* Sends a raw request and reads the answer until the server closes. */
static http_reply http_raw(int port, const char *req, size_t n) {
    http_reply r = { 0 };
    int fd = connect_to(port);
    if (fd < 0) fail_msg("cannot connect to the exporter on port %d", port);
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may refuse early: read what it said */
        off += (size_t)w;
    }
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap + 1);
    ssize_t got;
    while ((got = recv(fd, buf + len, cap - len, 0)) > 0) {
        len += (size_t)got;
        if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    close(fd);
    buf[len] = '\0';
    char *split = strstr(buf, "\r\n\r\n");
    r.body = strdup(split ? split + 4 : "");
    if (split) *split = '\0';
    r.head = buf;
    if (sscanf(buf, "HTTP/1.%*d %d", &r.status) != 1) r.status = 0;
    return r;
}

static http_reply http(int port, const char *method, const char *path) {
    char req[512];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", method, path);
    return http_raw(port, req, (size_t)n);
}

static void http_free(http_reply *r) {
    free(r->head);
    free(r->body);
}

static void promtool_accepts(const char *text) {
    char *out, *err;
    int code = th_exec("promtool", (const char *const[]){ "check", "metrics", NULL }, text, &out, &err);
    if (code != 0 || *out || *err) fail_msg("promtool check metrics: exit %d: %s%s\n%s", code, out, err, text);
    free(out);
    free(err);
}

static void seed(void) {
    tally *t = th_open(NULL);
    tally_event a = { .key = "k1", .model = "m1", .account = "a1", .input_tokens = 10, .cost_nanos = 1500000000 };
    tally_event b = { .key = "k2", .model = "m2", .output_tokens = 7, .cost_nanos = 1 };
    assert_int_equal(tally_record(t, &a, NULL), TALLY_OK);
    assert_int_equal(tally_record(t, &b, NULL), TALLY_OK);
    tally_close(t);
}

static void scrape_equals_tally_metrics(void **state) {
    (void)state;
    seed();
    exporter x = start(th_url(), (const char *const[]){ "--top", "5", "--top-accounts", "3", "--account", "a1", NULL });
    char *want = NULL;
    assert_int_equal(RUN(&want, NULL, "metrics", "--url", th_url(), "--format", "prometheus", "--top", "5",
                         "--top-accounts", "3", "--account", "a1"), 0);
    http_reply r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    /* the one-shot exposition, then the exporter's own three families */
    assert_int_equal(strncmp(r.body, want, strlen(want)), 0);
    const char *own = r.body + strlen(want);
    for (const char *line = own; *line; line = strchr(line, '\n') + 1)
        if (*line != '#' && strncmp(line, "tally_up ", 9) != 0 && strncmp(line, "tally_scrape_", 13) != 0)
            fail_msg("not the exporter's own: %.80s", line);
    assert_non_null(strstr(own, "\ntally_up 1\n"));
    const char *d = strstr(own, "# TYPE tally_scrape_duration_seconds gauge\ntally_scrape_duration_seconds ");
    assert_non_null(d);
    char *after;
    double seconds = strtod(strchr(d, '\n') + 31, &after);
    assert_true(after > strchr(d, '\n') + 31 && *after == '\n' && seconds >= 0);
    assert_non_null(strstr(own, "# TYPE tally_scrape_errors_total counter\ntally_scrape_errors_total 0\n"));
    assert_null(strstr(want, "tally_up"));
    assert_non_null(strstr(r.body, "tally_key_requests_total{key=\"k1\"} 1\n"));
    const char *a1 = strstr(r.body, "tally_account_cost_usd_total{account=\"a1\"} 1.50\n");
    assert_non_null(a1);
    assert_null(strstr(strchr(a1, '\n'), "{account=\"a1\"} 1.50\n")); /* named and in the top: once */
    promtool_accepts(r.body);
    free(want);
    http_free(&r);
    assert_int_equal(stop(&x), 0);
    free(stderr_of(&x));
}

static void odd_requests_get_answers(void **state) {
    (void)state;
    seed();
    exporter x = start(th_url(), NULL);
    http_reply r = http(x.port, "HEAD", "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    http_free(&r);
    static const char post[] = "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";
    r = http_raw(x.port, post, sizeof post - 1);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "Allow: GET, HEAD"));
    http_free(&r);
    r = http(x.port, "GET", "/nope");
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "/metrics"));
    http_free(&r);
    r = http(x.port, "GET", "/"); /* a landing page, as README says */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Type: text/html"));
    assert_non_null(strstr(r.body, "<title>tally exporter</title>"));
    assert_non_null(strstr(r.body, "href=\"/metrics\""));
    char version[64];
    snprintf(version, sizeof version, "<p>tally %s</p>", tally_version());
    assert_non_null(strstr(r.body, version));
    http_free(&r);
    r = http(x.port, "DELETE", "/metrics");
    assert_int_equal(r.status, 405);
    http_free(&r);
    /* not HTTP at all: closed or 400, never a crash */
    r = http_raw(x.port, "GARBAGE\r\n\r\n", 11);
    if (r.status != 0 && r.status != 400) fail_msg("not HTTP: status %d, expected 400 or none", r.status);
    http_free(&r);
    /* a header far past the server's memory limit */
    size_t big = 200000;
    char *req = malloc(big + 100);
    int n = snprintf(req, 100, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 5);
    r = http_raw(x.port, req, (size_t)n + big + 4);
    if (r.status != 431 && r.status != 413 && r.status != 400 && r.status != 0)
        fail_msg("a 200 kB header: status %d, expected 431, 413, 400 or none", r.status);
    http_free(&r);
    free(req);
    /* a client that connects and leaves without a word, one that sends half a
     * request line and leaves, and an HTTP/1.0 request */
    close(connect_to(x.port));
    int fd = connect_to(x.port);
    assert_int_equal(send(fd, "GET /met", 8, MSG_NOSIGNAL), 8);
    close(fd);
    static const char old[] = "GET /metrics HTTP/1.0\r\n\r\n";
    r = http_raw(x.port, old, sizeof old - 1);
    assert_int_equal(r.status, 200);
    http_free(&r);
    /* still serving */
    r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\ntally_requests_total 2\n"));
    http_free(&r);
    assert_int_equal(waitpid(x.pid, NULL, WNOHANG), 0);
    assert_int_equal(stop(&x), 0);
    free(stderr_of(&x));
}

/* A scrape while Redis cannot be read: 200, tally_up 0, the errors so far,
 * the reason in a comment, no statistics, and an exposition promtool accepts. */
static void assert_down(const http_reply *r, int errors, const char *reason) {
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "\ntally_up 0\n"));
    char want[64];
    snprintf(want, sizeof want, "\ntally_scrape_errors_total %d\n", errors);
    if (!strstr(r->body, want)) fail_msg("no '%s' in:\n%s", want + 1, r->body);
    assert_non_null(strstr(r->body, "\n# tally exporter: Redis unreachable: "));
    if (reason && !strstr(r->body, reason)) fail_msg("no '%s' in:\n%s", reason, r->body);
    assert_null(strstr(r->body, "tally_requests_total"));
    assert_non_null(strstr(r->body, "tally_build_info{version="));
    promtool_accepts(r->body);
}

static void redis_stopped_gives_up_0_then_recovers(void **state) {
    (void)state;
    seed();
    exporter x = start(th_url(), NULL);
    http_reply r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\ntally_up 1\n"));
    http_free(&r);
    th_server_kill();
    /* the first scrape finds the connection closed; the next opens a new
     * handle and cannot connect */
    for (int i = 0; i < 2; i++) {
        r = http(x.port, "GET", "/metrics");
        assert_down(&r, i + 1, i == 1 ? "cannot connect" : NULL);
        http_free(&r);
    }
    th_server_start();
    r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "# TYPE tally_requests_total counter\n"));
    assert_non_null(strstr(r.body, "\ntally_up 1\n"));
    assert_non_null(strstr(r.body, "\ntally_scrape_errors_total 2\n")); /* a counter: kept */
    http_free(&r);
    assert_int_equal(stop(&x), 0);
    char *err = stderr_of(&x);
    assert_non_null(strstr(err, "Redis unreachable"));
    assert_non_null(strstr(err, "Redis reachable again"));
    free(err);
}

/* A server that stops answering costs a scrape the handle's timeout, not the
 * stall: CLIENT PAUSE holds every command for 3 s, the exporter's timeout is
 * 200 ms. */
static void redis_stalled_gives_up_0_within_timeout(void **state) {
    (void)state;
    exporter x = start(th_url(), (const char *const[]){ "--timeout", "200", NULL });
    http_reply r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    http_free(&r);
    freeReplyObject(th_cmd("CLIENT PAUSE 3000 ALL"));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = http(x.port, "GET", "/metrics");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_down(&r, 1, NULL);
    http_free(&r);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms >= 3000) fail_msg("the stalled scrape took %ld ms: longer than the pause, not cut by the timeout", ms);
    assert_int_equal(stop(&x), 0);
    free(stderr_of(&x));
}

static void starts_while_redis_is_down_and_stops_on_sigterm(void **state) {
    (void)state;
    exporter x = start("redis://127.0.0.1:1", NULL);
    http_reply r = http(x.port, "GET", "/metrics");
    assert_down(&r, 1, "cannot connect");
    http_free(&r);
    assert_int_equal(stop(&x), 0);
    char *err = stderr_of(&x);
    assert_non_null(strstr(err, "stopped by SIGTERM"));
    free(err);
    int fd = connect_to(x.port);
    assert_int_equal(fd, -1); /* nobody listens any more */
}

static int lines(const char *text) {
    int n = 0;
    for (; *text; text++) n += *text == '\n';
    return n;
}

/* 104 clients from 13 addresses each send half a request and wait: the scrape
 * that comes next is answered while they still hold their connections (a
 * newcomer closes the connection that has waited longest, not the newest),
 * one address gets at most 8 connections (a 9th is closed at once), and stderr
 * gets a few lines, not one per connection. --request-timeout is far past the
 * test's 10 s receive timeout, so only the slots explain the answer. */
static void slow_clients_never_take_every_slot(void **state) {
    (void)state;
    enum { SLOW = 104, PER_ADDRESS = 8 };
    seed();
    exporter x = start(th_url(), (const char *const[]){ "--request-timeout", "600000", NULL });
    int slow[SLOW];
    char from[32];
    for (int i = 0; i < SLOW; i++) {
        snprintf(from, sizeof from, "127.0.0.%d", 2 + i / PER_ADDRESS);
        slow[i] = connect_from(from, x.port);
        assert_true(slow[i] >= 0);
        assert_int_equal(send(slow[i], "GET /met", 8, MSG_NOSIGNAL), 8);
    }
    http_reply r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\ntally_requests_total 2\n"));
    http_free(&r);
    for (int i = SLOW - PER_ADDRESS; i < SLOW; i++) { /* the newest still wait: nothing to read, no end of file */
        struct pollfd p = { slow[i], POLLIN, 0 };
        assert_int_equal(poll(&p, 1, 0), 0);
    }
    for (int i = 0; i < SLOW; i++) close(slow[i]);
    int same[PER_ADDRESS + 1];
    for (int i = 0; i <= PER_ADDRESS; i++) {
        same[i] = connect_from("127.0.0.200", x.port);
        assert_true(same[i] >= 0);
    }
    char c;
    errno = 0;
    ssize_t got = recv(same[PER_ADDRESS], &c, 1, 0); /* end of file or reset, not the receive timeout */
    if (got != 0 && !(got < 0 && errno == ECONNRESET)) fail_msg("a 9th connection from one address: recv %zd, %s", got, strerror(errno));
    for (int i = 0; i <= PER_ADDRESS; i++) close(same[i]);
    r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    http_free(&r);
    assert_int_equal(stop(&x), 0);
    char *err = stderr_of(&x);
    /* at most 10 lines about clients, the count of the rest, the stop */
    if (lines(err) > 12) fail_msg("%d lines on stderr:\n%s", lines(err), err);
    assert_non_null(strstr(err, "stopped by SIGTERM"));
    free(err);
}

/* A request sent one byte at a time, each well within the bound, is cut when
 * the whole request took longer than --request-timeout (libmicrohttpd's idle
 * timeout alone would wait for ever), without an answer; scrapes go on. */
static void a_dripping_request_is_cut_at_the_request_timeout(void **state) {
    (void)state;
    exporter x = start(th_url(), (const char *const[]){ "--request-timeout", "300", NULL });
    int fd = connect_to(x.port);
    static const char head[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Drip: ";
    assert_int_equal(send(fd, head, sizeof head - 1, MSG_NOSIGNAL), (ssize_t)(sizeof head - 1));
    int closed = 0;
    char buf[256];
    /* one byte every 50 ms; 400 of them (20 s) bound a failure only */
    for (int drip = 0; drip < 400 && !closed; drip++) {
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1) {
            closed = 1;
            break;
        }
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) == 1) {
            ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got > 0) fail_msg("the dripping request got an answer: %.*s", (int)got, buf);
            closed = 1;
        }
    }
    close(fd);
    assert_true(closed);
    http_reply r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    http_free(&r);
    assert_int_equal(stop(&x), 0);
    free(stderr_of(&x));
}

/* A TCP socket listening on ADDR:port (0: a free one, *port says which);
 * -1 with errno when it cannot bind. */
static int listener(in_addr_t addr, int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port) };
    a.sin_addr.s_addr = htonl(addr);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* --listen :PORT, as node_exporter's ":9100": every interface (IPv4 among
 * them), on that port. The port is one the system just gave out. */
static void listen_port_only_is_every_interface(void **state) {
    (void)state;
    seed();
    int port = 0, fd = listener(INADDR_ANY, &port);
    assert_true(fd >= 0);
    close(fd);
    char listen[16];
    snprintf(listen, sizeof listen, ":%d", port);
    exporter x = start_at(th_url(), listen, NULL);
    assert_int_equal(x.port, port);
    http_reply r = http(x.port, "GET", "/metrics"); /* to 127.0.0.1 */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\ntally_up 1\n"));
    http_free(&r);
    assert_int_equal(stop(&x), 0);
    free(stderr_of(&x));
}

/* A port another socket listens on: exit 4 and a message naming the address
 * and the system's reason (on main: "Failed to bind to port 0"). */
static void a_busy_port_is_named(void **state) {
    (void)state;
    int port = 0, fd = listener(INADDR_LOOPBACK, &port);
    assert_true(fd >= 0);
    char listen[32], want[96], *err;
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    assert_int_equal(RUN(NULL, &err, "exporter", "--url", "redis://127.0.0.1:1", "--listen", listen), 4);
    snprintf(want, sizeof want, "tally exporter: cannot listen on %s: Address already in use\n", listen);
    if (!strstr(err, want)) fail_msg("no '%s' in '%s'", want, err);
    assert_null(strstr(err, "port 0"));
    free(err);
    close(fd);
}

/* Without --listen: :10108 (every interface), said by --help; shown by taking
 * that port first, so that the exporter reports it busy, and no test depends
 * on it being free. */
static void the_default_port_is_10108(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(&out, NULL, "exporter", "--help"), 0);
    assert_non_null(strstr(out, "--listen [HOST]:PORT  address to listen on (default :10108, every\n"));
    free(out);
    int port = 10108, fd = listener(INADDR_ANY, &port);
    if (fd < 0 && errno != EADDRINUSE) fail_msg("cannot take port 10108: %s", strerror(errno));
    assert_int_equal(RUN(NULL, &err, "exporter", "--url", "redis://127.0.0.1:1"), 4);
    if (!strstr(err, "tally exporter: cannot listen on :10108: Address already in use\n")) fail_msg("stderr: %s", err);
    free(err);
    if (fd >= 0) close(fd);
}

static void bad_usage_exits_2(void **state) {
    (void)state;
    static const char *const cases[][6] = {
        { "exporter", "--listen", "nohostport" },
        { "exporter", "--listen", ":" },
        { "exporter", "--listen", "[]:9" },
        { "exporter", "--listen", ":http" },
        { "exporter", "--listen", "127.0.0.1:65536" },
        { "exporter", "--listen", "127.0.0.1:0", "--json" },
        { "exporter", "--listen", "127.0.0.1:0", "--top" },
        { "exporter", "--listen", "127.0.0.1:0", "--request-timeout", "0" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        int code = th_run(cases[i], NULL, &out, &err);
        if (code != 2 || !*err) fail_msg("case %zu: exit %d, err '%s'", i, code, err);
        free(out);
        free(err);
    }
    char *err;
    assert_int_equal(RUN(NULL, &err, "exporter", "--listen", "127.0.0.1:0", "--url", "ftp://x"), 2);
    assert_non_null(strstr(err, "scheme"));
    free(err);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(scrape_equals_tally_metrics, th_clean),
        cmocka_unit_test_setup(odd_requests_get_answers, th_clean),
        cmocka_unit_test_setup(redis_stopped_gives_up_0_then_recovers, th_clean),
        cmocka_unit_test_setup(redis_stalled_gives_up_0_within_timeout, th_clean),
        cmocka_unit_test(starts_while_redis_is_down_and_stops_on_sigterm),
        cmocka_unit_test_setup(slow_clients_never_take_every_slot, th_clean),
        cmocka_unit_test_setup(a_dripping_request_is_cut_at_the_request_timeout, th_clean),
        cmocka_unit_test_setup(listen_port_only_is_every_interface, th_clean),
        cmocka_unit_test(a_busy_port_is_named),
        cmocka_unit_test(the_default_port_is_10108),
        cmocka_unit_test(bad_usage_exits_2),
    };
    int rc = cmocka_run_group_tests_name("exporter", tests, NULL, NULL);
    th_done();
    return rc;
}
