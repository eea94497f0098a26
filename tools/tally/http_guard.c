/* http_guard.c -- the exporter's connection slots (http_guard.h). libmicrohttpd's
 * own timeout is an idle timeout: one byte per interval keeps a connection
 * forever, and once every slot is taken the daemon stops accepting, so a
 * scrape waits behind clients that never finish a request. Here each phase of a
 * connection has a deadline fixed when it begins, and a connection is closed
 * by shutting its socket down: libmicrohttpd then reads end-of-file and closes
 * it itself. Only the daemon's thread calls these functions, so a socket is
 * never shut down after libmicrohttpd closed it (its close is announced
 * through guard_on_connection first). */
#include "http_guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct guard_conn {
    guard_conn *prev, *next;
    guard_list *list; /* the phase it is in; NULL once closed by the guard */
    int64_t since_ms; /* when that phase began */
    MHD_socket fd;
    int closed;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void guard_init(guard *g, int64_t phase_ms, unsigned waiting_max) {
    memset(g, 0, sizeof *g);
    g->phase_ms = phase_ms;
    g->waiting_max = waiting_max;
    g->log_since_ms = now_ms();
}

static void unlink_conn(guard_conn *c) {
    guard_list *l = c->list;
    if (!l) return;
    *(c->prev ? &c->prev->next : &l->head) = c->next;
    *(c->next ? &c->next->prev : &l->tail) = c->prev;
    c->prev = c->next = NULL;
    c->list = NULL;
    l->n--;
}

/* Starts a new phase: c goes to the end of l (phases begin in time order, so
 * each list stays sorted by deadline). A closed connection stays closed. */
static void begin_phase(guard_conn *c, guard_list *l) {
    if (!c || c->closed) return;
    unlink_conn(c);
    c->since_ms = now_ms();
    c->prev = l->tail;
    *(l->tail ? &l->tail->next : &l->head) = c;
    l->tail = c;
    c->list = l;
    l->n++;
}

static void close_conn(guard_conn *c) {
    unlink_conn(c);
    c->closed = 1;
    shutdown(c->fd, SHUT_RDWR);
}

static guard_conn *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void guard_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe) {
    guard *g = cls;
    guard_conn *gc = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (gc) unlink_conn(gc);
        free(gc);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    gc = calloc(1, sizeof *gc);
    if (!gc) { /* a connection without a deadline would escape every bound */
        if (ci) shutdown(ci->connect_fd, SHUT_RDWR);
        guard_log(g, "out of memory: a connection is closed");
        return;
    }
    gc->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
    begin_phase(gc, &g->waiting);
    *socket_context = gc;
    if (g->waiting.n > g->waiting_max && g->waiting.head != gc) close_conn(g->waiting.head);
}

void guard_on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe) {
    (void)req_cls, (void)toe;
    guard *g = cls;
    begin_phase(conn_of(c), &g->waiting);
}

void guard_answering(guard *g, struct MHD_Connection *c) { begin_phase(conn_of(c), &g->answering); }

void guard_log_flush(guard *g) {
    if (g->unlogged)
        fprintf(stderr, "tally exporter: %u more messages about clients not shown (at most %d in %d s)\n", g->unlogged,
                GUARD_LOG_LINES, GUARD_LOG_WINDOW_MS / 1000);
    g->unlogged = 0;
}

/* Opens the log limit's next window once the current one has ended, after a
 * line saying how many were left out of it. */
static void roll_log(guard *g, int64_t now) {
    if (now - g->log_since_ms < GUARD_LOG_WINDOW_MS) return;
    guard_log_flush(g);
    g->log_since_ms = now;
    g->logged = 0;
}

static void vlog(guard *g, const char *fmt, va_list ap) {
    roll_log(g, now_ms());
    if (g->logged == GUARD_LOG_LINES) {
        g->unlogged++;
        return;
    }
    g->logged++;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    fprintf(stderr, "tally exporter: %s\n", line);
}

void guard_log(guard *g, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(g, fmt, ap);
    va_end(ap);
}

void guard_on_log(void *cls, const char *fmt, va_list ap) { vlog(cls, fmt, ap); }

int guard_sweep(guard *g) {
    int64_t now = now_ms(), next = -1;
    guard_list *lists[2] = { &g->waiting, &g->answering };
    for (int i = 0; i < 2; i++) {
        while (lists[i]->head && lists[i]->head->since_ms + g->phase_ms <= now) close_conn(lists[i]->head);
        if (lists[i]->head) {
            int64_t due = lists[i]->head->since_ms + g->phase_ms - now;
            if (next < 0 || due < next) next = due;
        }
    }
    roll_log(g, now);
    if (g->unlogged) {
        int64_t due = g->log_since_ms + GUARD_LOG_WINDOW_MS - now;
        if (next < 0 || due < next) next = due;
    }
    return next < 0 ? -1 : next > 86400000 ? 86400000 : (int)next;
}
