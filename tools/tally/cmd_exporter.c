/* cmd_exporter.c -- `tally exporter`: serves prom.c's exposition at /metrics
 * over HTTP with libmicrohttpd (a maintained HTTP/1.1 server: request parsing,
 * keep-alive and limits are its job, not ours).
 *
 * Redis is read on every scrape with the handle's timeouts; when it cannot be
 * reached the scrape answers 503 with the reason, so Prometheus records the
 * target as down instead of stale numbers. The main thread runs the daemon
 * (libmicrohttpd's epoll, polled here with a signalfd for SIGTERM and SIGINT),
 * so the single tally handle and http_guard.c's bookkeeping are only ever used
 * by it. Slots: SLOTS connections at most, PER_ADDRESS of them from one client
 * address (more are closed at once), and at most WAITING_MAX waiting for a
 * request: a newcomer past that closes the one that has waited longest, so
 * a scraper always gets in, however many clients hold connections open. */
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "http_guard.h"
#include "prom.h"

#define SLOTS 64
#define PER_ADDRESS 8
#define WAITING_MAX 56 /* so 8 slots stay for new connections */
#define REQUEST_TIMEOUT_MS 10000
#define TEXT(x) TEXT_(x)
#define TEXT_(x) #x

static const char usage[] =
    "usage: tally exporter --listen HOST:PORT [--top N] [--account ID]...\n"
    "                      [--request-timeout MS]\n"
    "\n"
    "  Serves the statistics of `tally metrics --format prometheus` at\n"
    "  http://HOST:PORT/metrics, reading Redis on every scrape (with --timeout).\n"
    "  A scrape answers 503 with the reason while Redis cannot be reached, and\n"
    "  200 again once it can. SIGTERM or SIGINT stops it (exit 0).\n"
    "\n"
    "  --listen HOST:PORT  address to listen on: 127.0.0.1:9108, [::1]:9108,\n"
    "                      0.0.0.0:9108 (every interface); port 0 picks a free one\n"
    "                      (printed on stdout: 'listening on http://...')\n"
    "  --top N, --account ID   as for tally metrics --format prometheus\n"
    "  --request-timeout MS  a client must send each request within MS of\n"
    "                      connecting (or of its previous answer), and read each\n"
    "                      answer within MS, or it is disconnected; however it\n"
    "                      trickles bytes (default " TEXT(REQUEST_TIMEOUT_MS) ")\n"
    "\n"
    "  Connections: " TEXT(SLOTS) " at most, " TEXT(PER_ADDRESS) " from one client address (more are closed\n"
    "  at once); when " TEXT(WAITING_MAX) " wait for a request, a new one closes the one that has\n"
    "  waited longest. Messages about clients: at most " TEXT(GUARD_LOG_LINES) " a minute (the rest\n"
    "  are counted in one line).\n"
    "\n"
    "options: --url URL --tz ±HH:MM --timeout MS --prefix P --help\n"
    "         --read-from primary|replica (a Redis Cluster's replicas; see tally --help)\n"
    "exit: 0 stopped by a signal, 2 bad usage, 4 cannot listen (or wait)\n";

typedef struct {
    tally_config cfg;
    tally *t;             /* NULL until a scrape opens it, and again after it failed */
    prom_options o;
    int down;             /* the last scrape could not reach Redis (logged once) */
    guard g;              /* the connection slots and the log limit */
} exporter;

/* Answers one request with a copy of `body`. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body, const char *type) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static int unreachable(int rc) {
    return rc == TALLY_ECONNECT || rc == TALLY_EAUTH || rc == TALLY_ETIMEOUT || rc == TALLY_EIO;
}

/* Reads Redis and answers 200 with the exposition, 503 when Redis cannot be
 * reached, 500 on any other failure. The handle is dropped after a failure
 * and opened again by the next scrape. */
static enum MHD_Result scrape(exporter *x, struct MHD_Connection *conn) {
    char *text = NULL, msg[700];
    size_t len = 0;
    int rc = x->t ? TALLY_OK : tally_open(&x->cfg, &x->t);
    if (rc == TALLY_OK) rc = prom_render(x->t, &x->o, &text, &len);
    if (rc == TALLY_OK) {
        if (x->down) fprintf(stderr, "tally exporter: Redis reachable again\n");
        x->down = 0;
        struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(text);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
        enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ok;
    }
    snprintf(msg, sizeof msg, "tally exporter: %s: %s\n", unreachable(rc) ? "Redis unreachable" : "scrape failed",
             x->t && rc != TALLY_ENOMEM ? tally_errmsg(x->t) : tally_strerror(rc));
    if (!unreachable(rc)) guard_log(&x->g, "%s", msg + strlen("tally exporter: ")); /* a client asked for it */
    else if (!x->down) fputs(msg, stderr);
    x->down = unreachable(rc);
    tally_close(x->t);
    x->t = NULL;
    return reply(conn, unreachable(rc) ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR, msg,
                 "text/plain; charset=utf-8");
}

static enum MHD_Result route(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                             const char *version, const char *upload_data, size_t *upload_data_size,
                             void **req_cls) {
    (void)version, (void)upload_data;
    static int seen;
    if (!*req_cls) { /* first call: headers only; answer once the request is complete */
        *req_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) { /* a body nobody asked for: read and ignore it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "tally exporter: only GET and HEAD\n",
                     "text/plain; charset=utf-8");
    if (strcmp(url, "/metrics") == 0) return scrape(cls, conn);
    if (strcmp(url, "/") == 0)
        return reply(conn, MHD_HTTP_OK, "<html><body><a href=\"/metrics\">tally metrics</a></body></html>\n",
                     "text/html; charset=utf-8");
    return reply(conn, MHD_HTTP_NOT_FOUND, "tally exporter: not found; metrics are at /metrics\n",
                 "text/plain; charset=utf-8");
}

/* Every complete request is answered: its connection's answer phase begins. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
    int complete = *req_cls && !*upload_data_size;
    enum MHD_Result r = route(cls, conn, url, method, version, upload_data, upload_data_size, req_cls);
    if (complete) guard_answering(&((exporter *)cls)->g, conn);
    return r;
}

/* Splits HOST:PORT or [V6]:PORT and resolves it. 0 or an exit status. */
static int resolve(const char *listen, struct addrinfo **ai) {
    char host[256];
    const char *colon = strrchr(listen, ':'), *h = listen;
    size_t hn = colon ? (size_t)(colon - listen) : 0;
    if (hn >= 2 && listen[0] == '[' && listen[hn - 1] == ']') h++, hn -= 2;
    if (!colon || hn == 0 || hn >= sizeof host || !colon[1])
        return cli_usage_error("exporter", "--listen '%s' must be HOST:PORT, e.g. 127.0.0.1:9108", listen);
    memcpy(host, h, hn);
    host[hn] = '\0';
    int64_t port;
    opt port_opt = OPT_COUNT("--listen port", &port, 0, 65535);
    char err[256];
    if (opt_set(&port_opt, colon + 1, 0, err, sizeof err) < 0) return cli_usage_error("exporter", "%s", err);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    int gai = getaddrinfo(host, colon + 1, &hints, ai);
    if (gai != 0) return cli_usage_error("exporter", "--listen host '%s': %s", host, gai_strerror(gai));
    return 0;
}

/* Runs the daemon until SIGTERM or SIGINT: waits for its sockets, a signal,
 * or the next deadline of the guard, whichever comes first. The signal that
 * stopped it, or 0 (said on stderr) when it cannot wait. */
static int run(exporter *x, struct MHD_Daemon *d, int sigfd) {
    int epfd = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
    MHD_socket lfd = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD)->listen_fd;
    for (;;) {
        int wait = guard_sweep(&x->g);
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        if (MHD_get_timeout(d, &mhd_ms) == MHD_YES && (wait < 0 || mhd_ms < (MHD_UNSIGNED_LONG_LONG)wait))
            wait = mhd_ms > INT_MAX ? INT_MAX : (int)mhd_ms;
        /* With every slot taken libmicrohttpd drops its listening socket from
         * its epoll set, and adds it back only when run again after a slot
         * was freed: so while a slot is free, a waiting client wakes us too. */
        unsigned conns = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS)->num_connections;
        struct pollfd p[3] = { { epfd, POLLIN, 0 }, { sigfd, POLLIN, 0 }, { conns < (unsigned)SLOTS ? lfd : -1, POLLIN, 0 } };
        if (poll(p, 3, wait) < 0 && errno != EINTR) {
            fprintf(stderr, "tally exporter: cannot wait for connections: %s\n", strerror(errno));
            return 0;
        }
        struct signalfd_siginfo si;
        if ((p[1].revents & POLLIN) && read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) return (int)si.ssi_signo;
        MHD_run(d);
    }
}

/* Serves until SIGTERM or SIGINT. */
static int serve(exporter *x, const struct addrinfo *ai, const char *listen, int64_t request_timeout_ms) {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sigfd = signalfd(-1, &stop, SFD_CLOEXEC);
    if (sigfd < 0) {
        fprintf(stderr, "tally exporter: cannot wait for signals: %s\n", strerror(errno));
        return EXIT_FAILED;
    }
    guard_init(&x->g, request_timeout_ms, WAITING_MAX);
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, x,
                                            MHD_OPTION_EXTERNAL_LOGGER, guard_on_log, &x->g, /* first */
                                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)SLOTS,
                                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_ADDRESS,
                                            MHD_OPTION_NOTIFY_CONNECTION, guard_on_connection, &x->g,
                                            MHD_OPTION_NOTIFY_COMPLETED, guard_on_completed, &x->g, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "tally exporter: cannot listen on %s (address in use, or not ours?)\n", listen);
        close(sigfd);
        return EXIT_FAILED;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[256];
    getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, NULL, 0, NI_NUMERICHOST);
    printf("tally exporter: listening on http://%s%s%s:%u/metrics\n", ai->ai_family == AF_INET6 ? "[" : "", host,
           ai->ai_family == AF_INET6 ? "]" : "", info ? info->port : 0);
    fflush(stdout);
    int sig = run(x, d, sigfd);
    MHD_stop_daemon(d);
    guard_log_flush(&x->g);
    close(sigfd);
    if (!sig) return EXIT_FAILED;
    fprintf(stderr, "tally exporter: stopped by %s\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    return EXIT_OK_;
}

int cmd_exporter(int argc, char **argv) {
    cli_common c = { 0 };
    const char *listen = NULL, *accounts[PROM_ACCOUNTS_MAX];
    int64_t top = PROM_TOP_DEFAULT, request_timeout_ms = REQUEST_TIMEOUT_MS;
    opt opts[] = { OPT_TEXT("--listen", &listen), PROM_OPTS(top, accounts),
                   OPT_MS("--request-timeout", &request_timeout_ms, 1, 3600000), OPT_END };
    char *pos[1];
    int npos, code = cli_parse("exporter", argc, argv, &c, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    if (c.json) return cli_usage_error("exporter", "--json does not apply: the exporter serves Prometheus's format");
    if (!listen) return cli_usage_error("exporter", "--listen HOST:PORT is required");
    exporter x = { 0 };
    struct addrinfo *ai;
    cli_config(&c, &x.cfg);
    if ((code = resolve(listen, &ai))) return code;
    /* A first handle checks the configuration (a bad URL is a usage error) and
     * the account ids; an unreachable Redis is not fatal: scrapes answer 503. */
    int rc = tally_open(&x.cfg, &x.t);
    if (rc == TALLY_EINVAL || rc == TALLY_ENOMEM) {
        code = cli_fail("exporter", x.t, rc);
    } else if (!(code = prom_options_set("exporter", x.t, top, accounts, cli_given(opts, "--account"), &x.o))) {
        if (rc != TALLY_OK) {
            fprintf(stderr, "tally exporter: Redis unreachable for now: %s\n", tally_errmsg(x.t));
            x.down = 1;
            tally_close(x.t);
            x.t = NULL;
        }
        code = serve(&x, ai, listen, request_timeout_ms);
    }
    freeaddrinfo(ai);
    tally_close(x.t);
    return code;
}
