/* node.c -- connections to the servers a handle talks to: the node list,
 * connecting (AUTH, SELECT), and the I/O itself: commands queued with hiredis's
 * formatter, then written and read back here, against the call's deadline.
 *
 * hiredis 0.14's blocking calls wait up to the timeout for each read, so a
 * server that drips a byte now and then keeps a call going for ever. Here the
 * socket is non-blocking and every wait is a poll() until the one deadline the
 * call started with (tally__io_begin); the bytes go to hiredis's reader
 * (redisReaderFeed, redisGetReplyFromReader), bounded by reply.c. Writes use
 * send(MSG_NOSIGNAL): a server that closed the connection cannot raise SIGPIPE
 * in the caller. Any failure drops the connection (hiredis cannot reuse it);
 * the next call connects again. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/sds.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "node.h"
#include "timecal.h"

static struct timeval ms_to_tv(int ms) {
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

/* Frees a connection and its reply budget. */
static void close_ctx(redisContext *c) {
    if (!c) return;
    free(c->reader->privdata);
    redisFree(c);
}

struct tally_nodes *tally__nodes_new(void) {
    return calloc(1, sizeof(struct tally_nodes));
}

void tally__nodes_free(struct tally_nodes *list) {
    if (!list) return;
    for (int i = 0; i < list->n; i++) close_ctx(list->v[i].ctx);
    free(list->v);
    free(list);
}

int tally__nodes_add(struct tally_nodes *list, const char *host, size_t hn, int port, int replica) {
    for (int i = 0; i < list->n; i++) {
        tally_node *n = &list->v[i];
        if (n->port == port && strlen(n->host) == hn && memcmp(n->host, host, hn) == 0) {
            if (!replica) n->replica = 0;
            return i;
        }
    }
    tally_node *grown = realloc(list->v, (size_t)(list->n + 1) * sizeof *grown);
    if (!grown) return -1;
    list->v = grown;
    tally_node *n = &list->v[list->n];
    memset(n, 0, sizeof *n);
    snprintf(n->host, sizeof n->host, "%.*s", (int)hn, host);
    n->port = port;
    n->replica = replica;
    return list->n++;
}

int tally__nodes_open(tally *t) {
    if (!(t->nodes = tally__nodes_new())) return TALLY_ENOMEM;
    const char *host = t->url.is_unix ? t->url.path : t->url.host;
    return tally__nodes_add(t->nodes, host, strlen(host), t->url.is_unix ? 0 : t->url.port, 0) < 0 ? TALLY_ENOMEM
                                                                                                 : TALLY_OK;
}

void tally__nodes_close(tally *t) {
    tally__nodes_free(t->nodes);
    t->nodes = NULL;
}

void tally__nodes_adopt(tally *t, struct tally_nodes *fresh) {
    struct tally_nodes *old = t->nodes;
    for (int k = 0; k < old->n; k++) {
        tally_node *o = &old->v[k];
        for (int i = 0; i < fresh->n && o->ctx; i++) {
            tally_node *n = &fresh->v[i];
            /* a primary that became a replica (a failover) reconnects: its
             * connection never sent READONLY, and the replica would answer
             * every read MOVED */
            if (!n->ctx && n->port == o->port && strcmp(n->host, o->host) == 0 && !(n->replica && !o->replica)) {
                n->ctx = o->ctx;
                n->fresh = o->fresh;
                n->policy = o->policy;
                o->ctx = NULL;
            }
        }
        for (int i = 0; i < fresh->n; i++)
            if (fresh->v[i].port == o->port && strcmp(fresh->v[i].host, o->host) == 0) {
                if (o->failed_ms) fresh->v[i].failed_ms = o->failed_ms;
                fresh->v[i].wrote |= o->wrote;
            }
    }
    fresh->io_depth = old->io_depth;
    fresh->deadline_ms = old->deadline_ms;
    tally__nodes_free(old); /* disconnects the nodes that are gone */
    t->nodes = fresh;
}

int tally__node_resting(const tally *t, int i) {
    int64_t at = t->nodes->v[i].failed_ms;
    return at && tally__mono_ms() - at < TALLY_NODE_REST_MS;
}

void tally__node_rest(tally *t, int i) { t->nodes->v[i].failed_ms = tally__mono_ms(); }

const char *tally__node_addr(const tally *t, int i, char *buf, size_t n) {
    const tally_node *node = &t->nodes->v[i];
    if (node->port) snprintf(buf, n, "%s:%d", node->host, node->port);
    else snprintf(buf, n, "%s", node->host);
    return buf;
}

void tally__node_disconnect(tally *t, int i) {
    tally_node *n = &t->nodes->v[i];
    close_ctx(n->ctx);
    n->ctx = NULL;
    n->fresh = 0;
}

void tally__io_begin(tally *t) {
    struct tally_nodes *l = t->nodes;
    if (l->io_depth++ == 0)
        l->deadline_ms = t->cfg.command_timeout_ms > 0 ? tally__mono_ms() + t->cfg.command_timeout_ms : 0;
}

void tally__io_end(tally *t) {
    t->nodes->io_depth--;
}

/* How an exchange with a node ended. */
enum { IO_OK, IO_TIMEOUT, IO_EOF, IO_ERRNO, IO_READER, IO_TOO_BIG };

/* Sets the handle's error for failure `how` on node i (errno still that of the
 * failed call), drops the connection and returns the code. */
static int failed(tally *t, int i, int how, const char *doing) {
    int error = errno;
    redisContext *c = t->nodes->v[i].ctx;
    char at[300];
    tally__node_addr(t, i, at, sizeof at);
    int code = TALLY_EIO;
    if (how == IO_TIMEOUT) {
        code = tally__fail(t, TALLY_ETIMEOUT, "no reply from %s within the call's %d ms while %s (it may still have run)",
                           at, t->cfg.command_timeout_ms, doing);
    } else if (how == IO_EOF) {
        tally__fail(t, code, "%s closed the connection while %s", at, doing);
    } else if (how == IO_TOO_BIG || (how == IO_READER && ((tally_reply_budget *)c->reader->privdata)->refused)) {
        tally__fail(t, code,
                    "%s sent a reply larger than the library accepts (%d elements, %u bytes, %u bytes at once) "
                    "while %s", at, TALLY_REPLY_MAX_ELEMENTS, TALLY_REPLY_MAX_BYTES, TALLY_REPLY_MAX_PENDING, doing);
    } else if (how == IO_READER && c->reader->err == REDIS_ERR_OOM) {
        code = tally__fail(t, TALLY_ENOMEM, "out of memory while %s", doing);
    } else {
        tally__fail(t, code, "connection to %s failed while %s: %s", at, doing,
                    how == IO_READER ? c->reader->errstr : strerror(error));
    }
    tally__node_disconnect(t, i);
    t->nodes->changed = 1; /* a failover may be under way */
    t->nodes->v[i].failed_ms = tally__mono_ms();
    return code;
}

/* Waits until fd is ready for `events` or the deadline passes: the events
 * that came (an error or hang-up counts as all of them: the next read or write
 * reports it), 0 at the deadline, -1 on error (errno set). */
static int wait_for(tally *t, int fd, short events) {
    for (;;) {
        int64_t deadline = t->nodes->deadline_ms, left = deadline ? deadline - tally__mono_ms() : -1;
        if (deadline && left <= 0) return 0;
        struct pollfd p = { fd, events, 0 };
        int n = poll(&p, 1, left < 0 ? -1 : left < 1 << 30 ? (int)left : 1 << 30);
        if (n < 0 && errno != EINTR) return -1;
        if (n > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) return events;
        if (n > 0 && (p.revents & events)) return p.revents & events;
    }
}

/* Reads what the socket has into the reader, keeping the unparsed input within
 * its bound (the reader drops what it has parsed at each
 * redisGetReplyFromReader). IO_OK, or how it failed. */
static int take_input(redisContext *c) {
    char buf[16384];
    ssize_t got = recv(c->fd, buf, sizeof buf, 0);
    if (got == 0) return IO_EOF;
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? IO_OK : IO_ERRNO;
    if (c->reader->len - c->reader->pos + (size_t)got > TALLY_REPLY_MAX_PENDING) return IO_TOO_BIG;
    return redisReaderFeed(c->reader, buf, (size_t)got) == REDIS_OK ? IO_OK : IO_READER;
}

/* Writes everything queued on c, reading what arrives meanwhile (a server
 * answering a long pipeline must not stall on its output). */
static int flush(tally *t, redisContext *c) {
    while (sdslen(c->obuf) > 0) {
        int ready = wait_for(t, c->fd, POLLIN | POLLOUT);
        if (ready <= 0) return ready == 0 ? IO_TIMEOUT : IO_ERRNO;
        if (ready & POLLIN) {
            int how = take_input(c);
            if (how != IO_OK) return how;
        }
        if (ready & POLLOUT) {
            ssize_t put = send(c->fd, c->obuf, sdslen(c->obuf), MSG_NOSIGNAL);
            if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return IO_ERRNO;
            if (put > 0) sdsrange(c->obuf, (int)put, -1);
        }
    }
    return IO_OK;
}

int tally__node_send_call(tally *t, int i, tally_args *a) {
    size_t len;
    const char *cmd = tally__args_resp(a, &len);
    int rc = tally__node_send(t, i, cmd, len);
    if (rc == TALLY_OK && !tally__args_is_ro(a)) t->nodes->v[i].wrote = 1;
    return rc;
}

int tally__node_send(tally *t, int i, const char *cmd, size_t len) {
    return redisAppendFormattedCommand(t->nodes->v[i].ctx, cmd, len) == REDIS_OK ? TALLY_OK : tally__oom(t);
}

int tally__node_push(tally *t, int i, const char *doing, int *unsent) {
    redisContext *c = t->nodes->v[i].ctx;
    *unsent = 1;
    if (!c) return tally__fail(t, TALLY_EIO, "no connection while %s", doing);
    size_t queued = sdslen(c->obuf);
    tally__io_begin(t);
    int how = flush(t, c);
    tally__io_end(t);
    if (how == IO_OK) return *unsent = 0, TALLY_OK;
    /* flush() reads before it writes: a connection the server had already
     * closed fails here with nothing written */
    *unsent = sdslen(c->obuf) == queued;
    return failed(t, i, how, doing);
}

redisReply *tally__node_reply(tally *t, int i, const char *doing) {
    redisContext *c = t->nodes->v[i].ctx;
    if (!c) {
        tally__fail(t, TALLY_EIO, "no connection while %s", doing);
        return NULL;
    }
    tally__io_begin(t);
    redisReply *r = NULL;
    int how = flush(t, c);
    while (how == IO_OK) {
        if (redisGetReplyFromReader(c, (void **)&r) != REDIS_OK) {
            how = IO_READER;
            break;
        }
        if (r) break;
        int ready = wait_for(t, c->fd, POLLIN);
        how = ready > 0 ? take_input(c) : ready == 0 ? IO_TIMEOUT : IO_ERRNO;
    }
    tally__io_end(t);
    if (r) memset(c->reader->privdata, 0, sizeof(tally_reply_budget)); /* the next reply starts afresh */
    else failed(t, i, how, doing);
    return r;
}

/* The socket goes non-blocking and the reader gets its bounds. */
static int prepare(redisContext *c) {
    tally_reply_budget *b = malloc(sizeof *b);
    int flags = fcntl(c->fd, F_GETFL);
    if (!b || flags < 0 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        free(b);
        return -1;
    }
    tally__reply_bound(c->reader, b);
    return 0;
}

/* Sends one command during the handshake; an error reply becomes `code`. */
static int handshake(tally *t, int i, int code, const char *what, int argc, const char **argv) {
    if (redisAppendCommandArgv(t->nodes->v[i].ctx, argc, argv, NULL) != REDIS_OK) return tally__oom(t);
    redisReply *r = tally__node_reply(t, i, what);
    if (!r) return t->err;
    int rc = TALLY_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = tally__fail(t, code, "%s refused: %s", what, r->str);
        tally__node_disconnect(t, i);
    }
    freeReplyObject(r);
    return rc;
}

int tally__node_connect(tally *t, int i) {
    if (i < 0 || i >= t->nodes->n) return tally__fail(t, TALLY_ECONNECT, "no server to connect to");
    tally_node *n = &t->nodes->v[i];
    if (n->ctx) return TALLY_OK;
    char at[300];
    struct timeval ctv = ms_to_tv(t->cfg.connect_timeout_ms);
    int64_t started = tally__mono_ms();
    n->ctx = n->port ? redisConnectWithTimeout(n->host, n->port, ctv) : redisConnectUnixWithTimeout(n->host, ctv);
    if (t->nodes->deadline_ms) t->nodes->deadline_ms += tally__mono_ms() - started; /* connect_timeout_ms's */
    if (!n->ctx) return tally__oom(t);
    if (n->ctx->err) {
        tally__fail(t, TALLY_ECONNECT, "cannot connect to %s: %s", tally__node_addr(t, i, at, sizeof at),
                    n->ctx->errstr);
        redisFree(n->ctx);
        n->ctx = NULL;
        t->nodes->changed = 1;
        n->failed_ms = tally__mono_ms();
        return TALLY_ECONNECT;
    }
    if (prepare(n->ctx) < 0) {
        redisFree(n->ctx);
        n->ctx = NULL;
        return tally__oom(t);
    }
    int rc = TALLY_OK;
    if (t->url.password[0]) {
        const char *argv[3] = { "AUTH", t->url.user, t->url.password };
        rc = t->url.user[0] ? handshake(t, i, TALLY_EAUTH, "AUTH", 3, argv)
                            : handshake(t, i, TALLY_EAUTH, "AUTH", 2, (const char *[]){ "AUTH", t->url.password });
    }
    if (rc == TALLY_OK && n->replica && t->cfg.read_from == TALLY_READ_REPLICA)
        rc = handshake(t, i, TALLY_EAUTH, "READONLY", 1, (const char *[]){ "READONLY" });
    if (rc == TALLY_OK && t->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", t->url.db);
        rc = handshake(t, i, TALLY_EAUTH, "SELECT", 2, (const char *[]){ "SELECT", db });
    }
    if (rc != TALLY_OK) {
        n->failed_ms = tally__mono_ms();
        return rc;
    }
    n->fresh = 1;
    memset(&n->policy, 0, sizeof n->policy); /* perhaps another server now: read it again */
    return tally__ok(t);
}

redisReply *tally__node_command(tally *t, int i, tally_args *a) {
    if (tally__node_connect(t, i) != TALLY_OK) return NULL;
    size_t len;
    const char *cmd = tally__args_resp(a, &len);
    if (tally__node_send(t, i, cmd, len) != TALLY_OK) return NULL;
    char doing[40];
    tally__args_doing(a, doing, sizeof doing);
    return tally__node_reply(t, i, doing);
}

int tally__node_attach_fd(tally *t, int i, int fd) {
    tally__node_disconnect(t, i);
    tally_node *n = &t->nodes->v[i];
    if (!(n->ctx = redisConnectFd(fd))) return tally__oom(t);
    if (prepare(n->ctx) < 0) {
        redisFree(n->ctx);
        n->ctx = NULL;
        return tally__oom(t);
    }
    return TALLY_OK;
}
