/* recorder.c -- the asynchronous recorder (tally_recorder_*): a request path
 * copies each event into a bounded in-process buffer and returns; a background
 * thread with its own handle sends the buffer as batches (tally_record_batch)
 * every few milliseconds or as soon as enough events wait.
 *
 * Two buffers: callers append to the front one under a mutex; the thread swaps
 * it with the back one and records the back one with the mutex released, so
 * callers never wait on Redis (unless the front one is full and they asked to
 * block). An event is "done" once Redis answered it (recorded, duplicate, or
 * refused) or it is given up. Events that were not sent (TALLY_ECONNECT: the
 * server refused the connection, or had closed it before the call was
 * written) did not run: they are held and sent again, through an outage of
 * any length. Events sent without an answer (TALLY_EIO, TALLY_ETIMEOUT) may
 * have run: those with a request id are sent again too (a resend that had run
 * answers "duplicate"); those without one are given up as unknown (a resend
 * might count them twice). Flush and close answer TALLY_OK only when nothing
 * was given up or refused since they last said so.
 *
 * After fork() the child has a copy of the recorder but not its thread, and
 * shares its connection with the parent: every call there answers
 * TALLY_EINVAL at once, without touching the mutex (another thread of the
 * parent may have held it at the fork) or Redis. A pthread_atfork() handler
 * counts forks, so the check costs a load, not a getpid() system call. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "event.h"
#include "keys.h"
#include "timecal.h"

#define SLICE 16384 /* events per tally_record_batch (more merge; a result holds its message: 264 B) */

typedef struct {
    tally_event *ev;
    char *bytes;          /* the events' strings */
    size_t n, used;       /* events, bytes */
} buffer;

struct tally_recorder {
    tally *t;             /* the thread's handle; NULL before it is open */
    tally_recorder_config rc;
    pthread_t thread;
    int started;
    unsigned forks;       /* fork_count when opened */
    pid_t pid;            /* the process that opened it */
    pthread_mutex_t io;   /* held by the thread while it uses t (see child_close) */
    pthread_mutex_t mu;
    pthread_cond_t wake, room, done; /* thread; blocked callers; flushers */
    buffer buf[2];
    int front;
    int stop;
    uint64_t accepted, finished; /* events taken in, and answered or given up */
    uint64_t told_unknown, told_refused; /* stats.unknown, .refused a flush reported */
    char lost[TALLY_ERRMSG_MAX]; /* why the last events given up or refused were */
    int flush_asked;
    tally_result *res;
    tally_recorder_stats stats;
    char errmsg[TALLY_ERRMSG_MAX];
};

/* Forks since the library was loaded, counted in the child (by the thread
 * that forked, the only one there): a recorder whose count differs was opened
 * in a parent. Never written in the process that reads it concurrently. */
static unsigned fork_count;
static pthread_once_t fork_hook = PTHREAD_ONCE_INIT;

static void count_fork(void) { fork_count++; }
static void hook_fork(void) { pthread_atfork(NULL, NULL, count_fork); }

static int forked(const tally_recorder *r) { return r->forks != fork_count; }

static void fork_message(const tally_recorder *r, char *buf, size_t n) {
    snprintf(buf, n,
             "recorder: opened in process %ld and used in its forked child %ld, which has no recorder thread and "
             "shares the parent's connection: nothing is recorded from here; open a recorder in the child, after "
             "fork", (long)r->pid, (long)getpid());
}

void tally_recorder_config_init(tally_recorder_config *rc) {
    memset(rc, 0, sizeof *rc);
    rc->capacity = 65536;
    rc->bytes = 0; /* 96 per event */
    rc->flush_ms = 5;
    rc->flush_events = 2048;
    rc->when_full = TALLY_RECORDER_BLOCK;
    rc->retry_ms = 100;
}

static void deadline_in(struct timespec *ts, int64_t ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) ts->tv_sec++, ts->tv_nsec -= 1000000000;
}

/* Copies s (n bytes and its NUL) into b's strings; returns the copy. */
static const char *keep(buffer *b, const char *s, size_t n) {
    char *p = b->bytes + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

static size_t len_of(const char *s) { return s ? strlen(s) : 0; }

/* 1 when an event that got `code` may be sent again: it was not sent
 * (TALLY_ECONNECT: it did not run), or it carries a request id and got no
 * answer (a resend that had run answers "duplicate"). */
static int resend(const tally_event *e, int code) {
    if (code == TALLY_ECONNECT) return 1;
    return (code == TALLY_EIO || code == TALLY_ETIMEOUT) && e->request_id && *e->request_id;
}

/* Records the events of buffer b, sending again those that resend() allows,
 * until every event is answered or the recorder stops (then the rest is
 * given up). Runs without the mutex, holding r->io while it uses r->t. */
static void record_buffer(tally_recorder *r, buffer *b) {
    size_t n = b->n, left = n;
    tally_event *ev = b->ev;
    uint64_t recorded = 0, duplicates = 0, refused = 0, unknown = 0, resent = 0;
    pthread_mutex_lock(&r->io);
    while (left > 0) {
        size_t keep_n = 0;
        uint64_t lost_before = refused + unknown;
        for (size_t from = 0; from < left; from += SLICE) {
            size_t m = left - from < SLICE ? left - from : SLICE;
            tally_record_batch(r->t, ev + from, m, r->res);
            for (size_t i = 0; i < m; i++) {
                int code = r->res[i].code;
                int transient = code == TALLY_ECONNECT || code == TALLY_EIO || code == TALLY_ETIMEOUT;
                if (code == TALLY_OK) r->res[i].duplicate ? duplicates++ : recorded++;
                else if (!transient) refused++;
                else if (resend(&ev[from + i], code)) ev[keep_n++] = ev[from + i];
                else unknown++;
            }
        }
        pthread_mutex_lock(&r->mu);
        if (refused || unknown || keep_n) snprintf(r->errmsg, sizeof r->errmsg, "%s", tally_errmsg(r->t));
        if (refused + unknown > lost_before) snprintf(r->lost, sizeof r->lost, "%s", tally_errmsg(r->t));
        int stopping = r->stop == 2;
        pthread_mutex_unlock(&r->mu);
        left = keep_n;
        if (left && stopping) {
            unknown += left; /* closing and out of time: given up */
            break;
        }
        if (left) {
            resent += left;
            struct timespec ts = { r->rc.retry_ms / 1000, (long)(r->rc.retry_ms % 1000) * 1000000 };
            nanosleep(&ts, NULL);
        }
    }
    pthread_mutex_unlock(&r->io); /* before the flushers learn that b is done */
    pthread_mutex_lock(&r->mu);
    r->stats.recorded += recorded;
    r->stats.duplicates += duplicates;
    r->stats.refused += refused;
    r->stats.unknown += unknown;
    r->stats.resent += resent;
    r->finished += n;
    r->stats.queued = (size_t)(r->accepted - r->finished);
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->mu);
}

static void *run(void *arg) {
    tally_recorder *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        buffer *f = &r->buf[r->front];
        if (f->n == 0) {
            if (r->stop) break;
            pthread_cond_wait(&r->wake, &r->mu);
            continue;
        }
        if (f->n < r->rc.flush_events && !r->flush_asked && !r->stop) {
            /* the first event of a batch waits at most flush_ms for others */
            struct timespec ts;
            deadline_in(&ts, r->rc.flush_ms);
            while (f->n < r->rc.flush_events && !r->flush_asked && !r->stop &&
                   pthread_cond_timedwait(&r->wake, &r->mu, &ts) != ETIMEDOUT) {
            }
        }
        r->flush_asked = 0;
        buffer *b = f;
        r->front ^= 1;
        r->buf[r->front].n = r->buf[r->front].used = 0;
        pthread_cond_broadcast(&r->room);
        pthread_mutex_unlock(&r->mu);
        record_buffer(r, b);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int tally_recorder_open(const tally_config *cfg, const tally_recorder_config *rc, tally_recorder **out) {
    pthread_once(&fork_hook, hook_fork);
    tally_recorder *r = calloc(1, sizeof *r);
    *out = r;
    if (!r) return TALLY_ENOMEM;
    r->forks = fork_count;
    r->pid = getpid();
    if (rc) r->rc = *rc;
    else tally_recorder_config_init(&r->rc);
    pthread_mutex_init(&r->io, NULL);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->wake, NULL);
    pthread_cond_init(&r->room, NULL);
    pthread_cond_init(&r->done, NULL);
    tally_recorder_config *c = &r->rc;
    if (!c->bytes) c->bytes = 96 * c->capacity;
    if (c->capacity < 1 || c->capacity > 100000000 || c->bytes < 4 * (TALLY_ID_MAX + 1) || c->flush_ms < 1 ||
        c->flush_ms > 60000 || c->flush_events < 1 || c->retry_ms < 1 || c->retry_ms > 60000 ||
        (c->when_full != TALLY_RECORDER_BLOCK && c->when_full != TALLY_RECORDER_DROP)) {
        snprintf(r->errmsg, sizeof r->errmsg,
                 "recorder: capacity 1..1e8, bytes >= %d, flush_ms and retry_ms 1..60000, flush_events >= 1, "
                 "when_full BLOCK or DROP",
                 4 * (TALLY_ID_MAX + 1));
        return TALLY_EINVAL;
    }
    for (int i = 0; i < 2; i++) {
        r->buf[i].ev = malloc(c->capacity * sizeof *r->buf[i].ev);
        r->buf[i].bytes = malloc(c->bytes);
        if (!r->buf[i].ev || !r->buf[i].bytes) return TALLY_ENOMEM;
    }
    if (!(r->res = malloc((c->capacity < SLICE ? c->capacity : SLICE) * sizeof *r->res))) return TALLY_ENOMEM;
    int rc_open = tally_open(cfg, &r->t);
    if (rc_open != TALLY_OK) {
        snprintf(r->errmsg, sizeof r->errmsg, "%s", r->t ? tally_errmsg(r->t) : "out of memory");
        return rc_open;
    }
    if (pthread_create(&r->thread, NULL, run, r) != 0) {
        snprintf(r->errmsg, sizeof r->errmsg, "recorder: cannot start its thread");
        return TALLY_ENOMEM;
    }
    r->started = 1;
    return TALLY_OK;
}

int tally_recorder_record(tally_recorder *r, const tally_event *ev) {
    if (forked(r)) return TALLY_EINVAL;
    char msg[TALLY_ERRMSG_MAX];
    if (tally__event_problem(ev, msg, sizeof msg) < 0) {
        pthread_mutex_lock(&r->mu);
        r->stats.rejected++;
        snprintf(r->errmsg, sizeof r->errmsg, "%s", msg);
        pthread_mutex_unlock(&r->mu);
        return TALLY_EINVAL;
    }
    size_t kn = strlen(ev->key), mn = strlen(ev->model), an = len_of(ev->account), in = len_of(ev->request_id);
    size_t need = kn + mn + an + in + 4;
    int64_t at = ev->at_ms == TALLY_AT_NOW ? tally__now_ms() : ev->at_ms; /* "now" is when it happened */
    pthread_mutex_lock(&r->mu);
    for (;;) {
        buffer *f = &r->buf[r->front];
        if (r->stop) {
            pthread_mutex_unlock(&r->mu);
            return TALLY_EINVAL; /* closing: callers must not record any more */
        }
        if (f->n < r->rc.capacity && f->used + need <= r->rc.bytes) break;
        if (r->rc.when_full == TALLY_RECORDER_DROP) {
            r->stats.dropped++;
            pthread_mutex_unlock(&r->mu);
            return TALLY_EFULL;
        }
        r->stats.blocked++;
        pthread_cond_signal(&r->wake);
        pthread_cond_wait(&r->room, &r->mu);
    }
    buffer *f = &r->buf[r->front];
    tally_event *e = &f->ev[f->n++];
    *e = *ev;
    e->at_ms = at;
    e->key = keep(f, ev->key, kn);
    e->model = keep(f, ev->model, mn);
    e->account = an ? keep(f, ev->account, an) : NULL;
    e->request_id = in ? keep(f, ev->request_id, in) : NULL;
    r->accepted++;
    r->stats.queued = (size_t)(r->accepted - r->finished);
    if (f->n == r->rc.flush_events || f->n == 1) pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
    return TALLY_OK;
}

/* Waits until the events accepted before the call are done, or timeout_ms
 * (< 0: no limit). Called with the mutex held. */
static int wait_done(tally_recorder *r, int timeout_ms) {
    uint64_t target = r->accepted;
    struct timespec ts;
    if (timeout_ms >= 0) deadline_in(&ts, timeout_ms);
    while (r->finished < target) {
        r->flush_asked = 1;
        pthread_cond_signal(&r->wake);
        if (timeout_ms < 0) pthread_cond_wait(&r->done, &r->mu);
        else if (pthread_cond_timedwait(&r->done, &r->mu, &ts) == ETIMEDOUT && r->finished < target)
            return TALLY_ETIMEOUT;
    }
    return TALLY_OK;
}

/* TALLY_OK when no event was given up or refused since the flush or close
 * that last said so, else TALLY_EIO (some outcome unknown) or TALLY_EREDIS
 * (refused by Redis) with the counts in the message. Called with the mutex
 * held; told_*: the counts already reported when the caller began. */
static int report_losses(tally_recorder *r, uint64_t told_unknown, uint64_t told_refused) {
    uint64_t unknown = r->stats.unknown - told_unknown, refused = r->stats.refused - told_refused;
    if (!unknown && !refused) return TALLY_OK;
    if (r->stats.unknown > r->told_unknown) r->told_unknown = r->stats.unknown;
    if (r->stats.refused > r->told_refused) r->told_refused = r->stats.refused;
    snprintf(r->errmsg, sizeof r->errmsg,
             "recorder: %llu events not recorded: %llu refused by Redis, %llu without a request id and without "
             "an answer (outcome unknown); the last: %.300s",
             (unsigned long long)(unknown + refused), (unsigned long long)refused, (unsigned long long)unknown,
             r->lost);
    return unknown ? TALLY_EIO : TALLY_EREDIS;
}

int tally_recorder_flush(tally_recorder *r, int timeout_ms) {
    if (forked(r)) return TALLY_EINVAL;
    pthread_mutex_lock(&r->mu);
    uint64_t told_unknown = r->told_unknown, told_refused = r->told_refused;
    int rc = wait_done(r, timeout_ms);
    if (rc == TALLY_OK) rc = report_losses(r, told_unknown, told_refused);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* tally_recorder_close() in a forked child: frees the child's copy of what
 * the recorder owns, without the mutex, the condition variables (the parent's
 * thread may be waiting on one: destroying it could wait for ever) or the
 * thread. The handle goes too, unless the parent's thread was using it at the
 * fork (its state may be half changed): then it is left, connection and all,
 * to the child's exit. Closing a descriptor in the child sends nothing. */
static int child_close(tally_recorder *r) {
    if (pthread_mutex_trylock(&r->io) == 0) tally_close(r->t);
    for (int i = 0; i < 2; i++) {
        free(r->buf[i].ev);
        free(r->buf[i].bytes);
    }
    free(r->res);
    free(r);
    return TALLY_EINVAL;
}

int tally_recorder_close(tally_recorder *r, int timeout_ms) {
    if (!r) return TALLY_OK;
    if (forked(r)) return child_close(r);
    int rc = TALLY_OK;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        uint64_t told_unknown = r->told_unknown, told_refused = r->told_refused;
        rc = wait_done(r, timeout_ms);
        r->stop = rc == TALLY_OK ? 1 : 2; /* 2: give up what is still unanswered */
        pthread_cond_broadcast(&r->wake);
        pthread_cond_broadcast(&r->room);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
        pthread_mutex_lock(&r->mu);
        if (rc == TALLY_OK) rc = report_losses(r, told_unknown, told_refused);
        pthread_mutex_unlock(&r->mu);
    }
    tally_close(r->t);
    for (int i = 0; i < 2; i++) {
        free(r->buf[i].ev);
        free(r->buf[i].bytes);
    }
    free(r->res);
    pthread_mutex_destroy(&r->io);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->room);
    pthread_cond_destroy(&r->done);
    free(r);
    return rc;
}

void tally_recorder_get_stats(tally_recorder *r, tally_recorder_stats *out) {
    if (forked(r)) { /* the parent's counts at the fork */
        *out = r->stats;
        return;
    }
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->mu);
}

void tally_recorder_errmsg(tally_recorder *r, char *buf, size_t n) {
    if (!n) return;
    if (!r) {
        snprintf(buf, n, "out of memory");
        return;
    }
    if (forked(r)) {
        fork_message(r, buf, n);
        return;
    }
    pthread_mutex_lock(&r->mu);
    snprintf(buf, n, "%s", r->errmsg);
    pthread_mutex_unlock(&r->mu);
}
