/* test_exporter.c -- redis: `tally exporter` scraped over real HTTP: /metrics
 * equals `tally metrics --format prometheus`, odd requests get an answer and
 * never stop it, a stopped or stalled Redis gives 503 (and 200 again once it is
 * back), and SIGTERM stops it with exit status 0. */
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

/* Starts `tally exporter --listen 127.0.0.1:0` with extra arguments and reads
 * the port it prints once it listens. It dies with the test. */
static exporter start(const char *url, const char *const *extra) {
    exporter x = { .errpath = "/tmp/tally-exporter-err.XXXXXX" };
    int out[2], efd = mkstemp(x.errpath);
    if (efd < 0 || pipe(out) < 0) fail_msg("start: cannot make a pipe or temp file");
    x.pid = fork();
    if (x.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        dup2(efd, 2);
        close(out[0]);
        const char *argv[24] = { getenv("TALLY_BIN"), "exporter", "--url", url, "--listen", "127.0.0.1:0" };
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
    const char *at = strstr(line, "listening on http://127.0.0.1:");
    if (!at || sscanf(at, "listening on http://127.0.0.1:%d/metrics", &x.port) != 1)
        fail_msg("the exporter did not say where it listens: '%s'", line);
    return x;
}

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

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = { 10, 0 }; /* bounds a failure, never a success */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

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
    exporter x = start(th_url(), (const char *const[]){ "--top", "5", "--account", "a1", NULL });
    http_reply r = { 0 };
    char *want = NULL;
    for (int attempt = 0; attempt < 3; attempt++) { /* again only if the day turned between the reads */
        free(want);
        http_free(&r);
        assert_int_equal(RUN(&want, NULL, "metrics", "--url", th_url(), "--format", "prometheus", "--top", "5",
                             "--account", "a1"), 0);
        r = http(x.port, "GET", "/metrics");
        if (strcmp(r.body, want) == 0) break;
    }
    assert_string_equal(r.body, want);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert_non_null(strstr(r.body, "tally_key_requests_total{period=\"total\",key=\"k1\"} 1\n"));
    assert_non_null(strstr(r.body, "tally_account_cost_usd_total{period=\"total\",account=\"a1\"} 1.50\n"));
    char *out, *err;
    assert_int_equal(th_exec("promtool", (const char *const[]){ "check", "metrics", NULL }, r.body, &out, &err), 0);
    assert_string_equal(out, "");
    assert_string_equal(err, "");
    free(out);
    free(err);
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
    r = http(x.port, "GET", "/");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "href=\"/metrics\""));
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
    assert_non_null(strstr(r.body, "tally_requests_total{period=\"total\"} 2\n"));
    http_free(&r);
    assert_int_equal(waitpid(x.pid, NULL, WNOHANG), 0);
    assert_int_equal(stop(&x), 0);
    free(stderr_of(&x));
}

static void redis_stopped_gives_503_then_recovers(void **state) {
    (void)state;
    seed();
    exporter x = start(th_url(), NULL);
    http_reply r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    http_free(&r);
    th_server_kill();
    /* the first scrape finds the connection closed; the next opens a new
     * handle and cannot connect */
    for (int i = 0; i < 2; i++) {
        r = http(x.port, "GET", "/metrics");
        assert_int_equal(r.status, 503);
        assert_non_null(strstr(r.body, "tally exporter: Redis unreachable: "));
        if (i == 1 && !strstr(r.body, "cannot connect")) fail_msg("503 body: %s", r.body);
        http_free(&r);
    }
    th_server_start();
    r = http(x.port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "# TYPE tally_requests_total counter\n"));
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
static void redis_stalled_gives_503_within_timeout(void **state) {
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
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "Redis unreachable"));
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
    assert_int_equal(r.status, 503);
    http_free(&r);
    assert_int_equal(stop(&x), 0);
    char *err = stderr_of(&x);
    assert_non_null(strstr(err, "stopped by SIGTERM"));
    free(err);
    int fd = connect_to(x.port);
    assert_int_equal(fd, -1); /* nobody listens any more */
}

static void bad_usage_exits_2(void **state) {
    (void)state;
    static const char *const cases[][5] = {
        { "exporter" },
        { "exporter", "--listen", "nohostport" },
        { "exporter", "--listen", "127.0.0.1:65536" },
        { "exporter", "--listen", "127.0.0.1:0", "--json" },
        { "exporter", "--listen", "127.0.0.1:0", "--top" },
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
        cmocka_unit_test_setup(redis_stopped_gives_503_then_recovers, th_clean),
        cmocka_unit_test_setup(redis_stalled_gives_503_within_timeout, th_clean),
        cmocka_unit_test(starts_while_redis_is_down_and_stops_on_sigterm),
        cmocka_unit_test(bad_usage_exits_2),
    };
    int rc = cmocka_run_group_tests_name("exporter", tests, NULL, NULL);
    th_done();
    return rc;
}
