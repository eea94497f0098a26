/* http_guard.h -- keeps `tally exporter`'s connection slots for scrapers:
 * every phase of a connection (sending a request, reading its answer) has one
 * deadline that trickled bytes do not move; when the connections waiting for a
 * request fill their share of the slots, the one that has waited longest is
 * closed for the newcomer; and what clients make the server log is limited to
 * a few lines a minute. It plugs into libmicrohttpd's callbacks and runs in the
 * one thread that runs the daemon (cmd_exporter.c's loop). */
#ifndef TALLY_HTTP_GUARD_H
#define TALLY_HTTP_GUARD_H

#include <microhttpd.h>
#include <stdarg.h>
#include <stdint.h>

#define GUARD_LOG_LINES 10        /* client-caused log lines per window, */
#define GUARD_LOG_WINDOW_MS 60000 /* the rest counted and summed up in one line */

typedef struct guard_conn guard_conn;

typedef struct {
    guard_conn *head, *tail; /* oldest phase first */
    unsigned n;
} guard_list;

typedef struct {
    int64_t phase_ms;       /* how long each phase may take */
    unsigned waiting_max;   /* connections waiting for a request, at most */
    guard_list waiting;     /* connected, or answered, and no complete request yet */
    guard_list answering;   /* a response queued and not yet sent */
    int64_t log_since_ms;   /* the log limit's current window */
    unsigned logged, unlogged;
} guard;

void guard_init(guard *g, int64_t phase_ms, unsigned waiting_max);

/* libmicrohttpd callbacks, with the guard as their closure:
 * MHD_OPTION_NOTIFY_CONNECTION, MHD_OPTION_NOTIFY_COMPLETED and
 * MHD_OPTION_EXTERNAL_LOGGER. */
void guard_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe);
void guard_on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe);
void guard_on_log(void *cls, const char *fmt, va_list ap);

/* The access handler calls this once it has queued the answer to a request:
 * the connection's answer phase begins. */
void guard_answering(guard *g, struct MHD_Connection *c);

/* Writes the log limit's summary of the lines left out so far, if any (when
 * the daemon stops). */
void guard_log_flush(guard *g);

/* Writes one line to stderr within the log limit. */
void guard_log(guard *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Closes the connections whose phase is over, writes the log limit's summary
 * when its window has ended, and returns how many ms until the next of those
 * is due (-1: none). */
int guard_sweep(guard *g);

#endif
