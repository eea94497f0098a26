/* cmd_exporter.c -- `tally exporter`: serves prom.c's exposition at /metrics
 * over HTTP with libmicrohttpd (a maintained HTTP/1.1 server: request parsing,
 * keep-alive and limits are its job, not ours).
 *
 * Redis is read on every scrape with the handle's timeouts; when it cannot be
 * read the scrape still answers 200, with tally_up 0 and the exporter's own
 * metrics (the convention of redis_exporter and mysqld_exporter): Prometheus's
 * `up` says whether the exporter answers, tally_up whether it read Redis.
 * The listening socket is ours, so a busy port is reported with its address
 * and the system's reason. The main thread runs the daemon
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
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "http_guard.h"
#include "prom.h"

#define SLOTS 64
#define PER_ADDRESS 8
#define WAITING_MAX 56 /* so 8 slots stay for new connections */
#define REQUEST_TIMEOUT_MS 10000
/* The default port: Prometheus's list of default ports ("Default port
 * allocations" in its wiki) filled 9100-9999 by 2023 and goes on past 10000
 * (10019 was taken in 2024); 9108, which the examples used, is the Graphite
 * exporter's. 10108 is past the allocations found, and keeps the examples'
 * 108. */
#define DEFAULT_PORT 10108
#define TEXT(x) TEXT_(x)
#define TEXT_(x) #x

static const char usage[] =
    "usage: tally exporter [--listen [HOST]:PORT] [--top N] [--top-accounts N]\n"
    "                      [--account ID]...\n"
    "                      [--request-timeout MS]\n"
    "\n"
    "  Serves the statistics of `tally metrics --format prometheus` at\n"
    "  http://HOST:PORT/metrics, reading Redis on every scrape (with --timeout),\n"
    "  with tally_up (1, or 0 when Redis could not be read: the statistics are\n"
    "  then left out, the answer is still 200), tally_scrape_duration_seconds and\n"
    "  tally_scrape_errors_total. / is a page linking /metrics; other paths\n"
    "  answer 404. SIGTERM or SIGINT stops it (exit 0).\n"
    "\n"
    "  --listen [HOST]:PORT  address to listen on (default :" TEXT(DEFAULT_PORT) ", every\n"
    "                      interface): 127.0.0.1:" TEXT(DEFAULT_PORT) ", [::1]:" TEXT(DEFAULT_PORT) ", 0.0.0.0:" TEXT(DEFAULT_PORT) ";\n"
    "                      port 0 picks a free one (printed on stdout:\n"
    "                      'listening on http://...')\n"
    "  --top N, --top-accounts N, --account ID\n"
    "                      as for tally metrics --format prometheus\n"
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
    "exit: 0 stopped by a signal, 2 bad usage, 4 cannot listen (the address and\n"
    "      the reason are printed) or wait\n";

typedef struct {
    tally_config cfg;
    tally *t;             /* NULL until a scrape opens it, and again after it failed */
    prom_options o;
    int down;             /* the last scrape could not reach Redis (logged once) */
    int64_t errors;       /* scrapes that could not read Redis: tally_scrape_errors_total */
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

/* The exporter's own families, after the statistics (or in their place). */
static void process_metrics(FILE *f, int up, double seconds, int64_t errors) {
    fprintf(f, "# HELP tally_up 1 when this scrape read the statistics from Redis, 0 when it could not "
               "(they are then left out; the reason is in a comment above and on the exporter's stderr).\n"
               "# TYPE tally_up gauge\ntally_up %d\n", up);
    fprintf(f, "# HELP tally_scrape_duration_seconds How long this scrape took to read the statistics.\n"
               "# TYPE tally_scrape_duration_seconds gauge\ntally_scrape_duration_seconds %.6f\n", seconds);
    fprintf(f, "# HELP tally_scrape_errors_total Scrapes that could not read the statistics since the "
               "exporter started.\n# TYPE tally_scrape_errors_total counter\ntally_scrape_errors_total %lld\n",
            (long long)errors);
}

/* Notes a scrape that could not read Redis: counted, logged (an unreachable
 * Redis once until it is back, anything else within the log limit: a client
 * asked for it), said in a comment line of the answer, and the handle dropped
 * to be opened again by the next scrape. */
static void scrape_failed(exporter *x, int rc, FILE *f) {
    char msg[700];
    snprintf(msg, sizeof msg, "%s: %s", unreachable(rc) ? "Redis unreachable" : "scrape failed",
             x->t && rc != TALLY_ENOMEM ? tally_errmsg(x->t) : tally_strerror(rc));
    for (char *nl; (nl = strchr(msg, '\n'));) *nl = ' ';
    if (!unreachable(rc)) guard_log(&x->g, "%s", msg);
    else if (!x->down) fprintf(stderr, "tally exporter: %s\n", msg);
    x->down = unreachable(rc);
    x->errors++;
    tally_close(x->t);
    x->t = NULL;
    prom_build_info(f);
    fprintf(f, "# tally exporter: %s\n", msg);
}

static double since_s(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Reads Redis and answers 200 with the exposition and tally_up 1, or, when
 * Redis cannot be read, 200 with tally_up 0 and no statistics; 500 only when
 * the answer cannot be made (out of memory). */
static enum MHD_Result scrape(exporter *x, struct MHD_Connection *conn) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "tally exporter: out of memory\n", "text/plain");
    int rc = x->t ? TALLY_OK : tally_open(&x->cfg, &x->t);
    if (rc == TALLY_OK) rc = prom_write(x->t, &x->o, f);
    if (rc == TALLY_OK && x->down) fprintf(stderr, "tally exporter: Redis reachable again\n");
    if (rc == TALLY_OK) x->down = 0;
    else scrape_failed(x, rc, f);
    process_metrics(f, rc == TALLY_OK, since_s(&t0), x->errors);
    if (fclose(f) != 0) {
        free(text);
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "tally exporter: out of memory\n", "text/plain");
    }
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

/* The landing page, as node_exporter's: what this is and where the metrics are. */
static enum MHD_Result landing(struct MHD_Connection *conn) {
    char page[512];
    snprintf(page, sizeof page,
             "<!DOCTYPE html>\n<html><head><title>tally exporter</title></head><body>\n"
             "<h1>tally exporter</h1>\n<p>tally %s</p>\n<p><a href=\"/metrics\">Metrics</a></p>\n"
             "</body></html>\n", tally_version());
    return reply(conn, MHD_HTTP_OK, page, "text/html; charset=utf-8");
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
    if (strcmp(url, "/") == 0) return landing(conn);
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

/* Splits HOST:PORT, [V6]:PORT or :PORT and resolves it. :PORT is every
 * interface, IPv6 and IPv4 on one socket where the system has IPv6 (*every
 * is then 1), else 0.0.0.0. 0 or an exit status. */
static int resolve(const char *listen, struct addrinfo **ai, int *every) {
    char host[256];
    const char *colon = strrchr(listen, ':'), *h = listen;
    size_t hn = colon ? (size_t)(colon - listen) : 0;
    if (hn >= 2 && listen[0] == '[' && listen[hn - 1] == ']') h++, hn -= 2;
    if (!colon || (hn == 0 && colon != listen) || hn >= sizeof host || !colon[1])
        return cli_usage_error("exporter", "--listen '%s' must be HOST:PORT or :PORT, e.g. 127.0.0.1:%d", listen,
                               DEFAULT_PORT);
    memcpy(host, h, hn);
    host[hn] = '\0';
    int64_t port;
    opt port_opt = OPT_COUNT("--listen port", &port, 0, 65535);
    char err[256];
    if (opt_set(&port_opt, colon + 1, 0, err, sizeof err) < 0) return cli_usage_error("exporter", "%s", err);
    *every = 0;
    if (hn == 0) {
        int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        *every = probe >= 0;
        if (probe >= 0) close(probe);
        snprintf(host, sizeof host, "%s", *every ? "::" : "0.0.0.0");
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    int gai = getaddrinfo(host, colon + 1, &hints, ai);
    if (gai != 0) return cli_usage_error("exporter", "--listen host '%s': %s", host, gai_strerror(gai));
    return 0;
}

/* A listening socket on ai (IPv4 too when `every`), or -1 after saying on
 * stderr which address and why (a busy port: "Address already in use"). */
static int listen_on(const struct addrinfo *ai, int every, const char *addr) {
    int one = 1, v6only = !every;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        (ai->ai_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) == 0) &&
        bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
        return fd;
    fprintf(stderr, "tally exporter: cannot listen on %s: %s\n", addr, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
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

/* Serves on the listening socket lfd until SIGTERM or SIGINT. */
static int serve(exporter *x, const struct addrinfo *ai, int lfd, int64_t request_timeout_ms) {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sigfd = signalfd(-1, &stop, SFD_CLOEXEC);
    if (sigfd < 0) {
        fprintf(stderr, "tally exporter: cannot wait for signals: %s\n", strerror(errno));
        close(lfd);
        return EXIT_FAILED;
    }
    guard_init(&x->g, request_timeout_ms, WAITING_MAX);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, x,
                                            MHD_OPTION_EXTERNAL_LOGGER, guard_on_log, &x->g, /* first */
                                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)SLOTS,
                                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_ADDRESS,
                                            MHD_OPTION_NOTIFY_CONNECTION, guard_on_connection, &x->g,
                                            MHD_OPTION_NOTIFY_COMPLETED, guard_on_completed, &x->g, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "tally exporter: cannot start the HTTP server (see above)\n");
        close(sigfd);
        return EXIT_FAILED;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    char host[256], port[16];
    if (getsockname(lfd, (struct sockaddr *)&bound, &blen) != 0 ||
        getnameinfo((struct sockaddr *)&bound, blen, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(host, sizeof host, "?"), snprintf(port, sizeof port, "?");
    printf("tally exporter: listening on http://%s%s%s:%s/metrics\n", ai->ai_family == AF_INET6 ? "[" : "", host,
           ai->ai_family == AF_INET6 ? "]" : "", port);
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
    const char *listen = ":" TEXT(DEFAULT_PORT), *accounts[PROM_ACCOUNTS_MAX];
    int64_t top = PROM_TOP_DEFAULT, top_accounts = 0, request_timeout_ms = REQUEST_TIMEOUT_MS;
    opt opts[] = { OPT_TEXT("--listen", &listen), PROM_OPTS(top, top_accounts, accounts),
                   OPT_MS("--request-timeout", &request_timeout_ms, 1, 3600000), OPT_END };
    char *pos[1];
    int npos, code = cli_parse("exporter", argc, argv, &c, opts, pos, 0, &npos);
    if (code) return code;
    if (c.help) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    if (c.json) return cli_usage_error("exporter", "--json does not apply: the exporter serves Prometheus's format");
    exporter x = { 0 };
    struct addrinfo *ai;
    int every = 0;
    cli_config(&c, &x.cfg);
    if ((code = resolve(listen, &ai, &every))) return code;
    /* A first handle checks the configuration (a bad URL is a usage error) and
     * the account ids; an unreachable Redis is not fatal: scrapes say tally_up 0. */
    int rc = tally_open(&x.cfg, &x.t);
    if (rc == TALLY_EINVAL || rc == TALLY_ENOMEM) {
        code = cli_fail("exporter", x.t, rc);
    } else if (!(code = prom_options_set("exporter", x.t, top, top_accounts, accounts, cli_given(opts, "--account"), &x.o))) {
        if (rc != TALLY_OK) {
            fprintf(stderr, "tally exporter: Redis unreachable for now: %s\n", tally_errmsg(x.t));
            x.down = 1;
            tally_close(x.t);
            x.t = NULL;
        }
        int lfd = listen_on(ai, every, listen);
        code = lfd < 0 ? EXIT_FAILED : serve(&x, ai, lfd, request_timeout_ms);
    }
    freeaddrinfo(ai);
    tally_close(x.t);
    return code;
}
