/* import.c -- `tally record --stdin`: reads NDJSON events (ndjson.c), records
 * them in pipelined batches (tally_record_batch) and reports each event that
 * was not recorded with its line number and the library's own message. Events
 * that were not sent (TALLY_ECONNECT: they did not run) are sent again, and so
 * are events that carry a request id after a connection error or timeout
 * (recording is idempotent): an import survives a server restart. */
#include "import.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "ndjson.h"

/* A report of a line not recorded, held until the lines before it are
 * answered: a batch's events are answered at its end, a retried one later. */
typedef struct {
    long line;
    char *text;
} held;

typedef struct {
    tally *t;
    tally_event *plain;   /* the batch's events; strings in `text` (by offset until sent) */
    long *line;           /* input line of each */
    tally_result *res;
    char *text;           /* the batch's strings */
    size_t n, used, cap;  /* events; bytes of text used, allocated */
    long recorded, duplicates, rejected, failed, unknown, unsent;
    long unpriced;        /* of the recorded: no price for them, cost 0 */
    int failed_code;      /* the first failure on Redis's side */
    int unknown_code;     /* the first error that left an outcome unknown */
    held *held;           /* reports of lines not recorded, printed in line order */
    size_t nheld, held_cap;
} importer;

/* Input lines, read with read(2) so that the importer can tell when no more
 * input is ready now and send what it holds instead of waiting for a full
 * batch. */
typedef struct {
    int fd, eof;
    char *buf;
    size_t cap, start, end; /* buffered bytes: buf[start .. end) */
} lines;

enum { LINE = 1, LINES_END = 0, LINES_IDLE = 2, LINES_ERROR = -1 };

/* The next line, without its end, in *line (valid until the next call) and
 * *n: LINE; LINES_END at the end of input; LINES_ERROR (errno set) on a read
 * error or when memory ran out; LINES_IDLE, with may_wait 0, when no whole
 * line is buffered and no input is ready to read now. */
static int next_line(lines *l, int may_wait, char **line, size_t *n) {
    for (;;) {
        /* (no memchr/memmove on the empty buffer: buf is NULL before the first read) */
        char *nl = l->end > l->start ? memchr(l->buf + l->start, '\n', l->end - l->start) : NULL;
        if (nl || (l->eof && l->start < l->end)) {
            char *end = nl ? nl : l->buf + l->end;
            *line = l->buf + l->start;
            *n = (size_t)(end - *line);
            l->start = nl ? (size_t)(nl - l->buf) + 1 : l->end;
            return LINE;
        }
        if (l->eof) return LINES_END;
        struct pollfd p = { l->fd, POLLIN, 0 };
        if (!may_wait && poll(&p, 1, 0) == 0) return LINES_IDLE;
        if (l->start) memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->end -= l->start;
        l->start = 0;
        if (l->end == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 65536;
            char *b = realloc(l->buf, cap);
            if (!b) return LINES_ERROR;
            l->buf = b, l->cap = cap;
        }
        ssize_t r = read(l->fd, l->buf + l->end, l->cap - l->end);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return LINES_ERROR;
        if (r == 0) l->eof = 1;
        l->end += (size_t)r;
    }
}

/* Keeps a parsed event's string in the batch's text; its offset + 1 (0 for
 * NULL) stands in for the pointer until the batch is sent. 0 or -1 (OOM). */
static int keep_string(importer *im, const char **s) {
    if (!*s) return 0;
    size_t n = strlen(*s) + 1;
    if (im->used + n > im->cap) {
        size_t cap = im->cap ? 2 * im->cap : 1 << 16;
        while (cap < im->used + n) cap *= 2;
        char *t = realloc(im->text, cap);
        if (!t) return -1;
        im->text = t, im->cap = cap;
    }
    memcpy(im->text + im->used, *s, n);
    *s = (const char *)(uintptr_t)(im->used + 1);
    im->used += n;
    return 0;
}

static void point_at(const importer *im, const char **s) {
    if (*s) *s = im->text + ((uintptr_t)*s - 1);
}

struct timespec import_backoff(int n) {
    long ms = 50L << (n < 1 ? 0 : n > 6 ? 5 : n - 1);
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    return ts;
}

/* 1 when event i, answered `code`, may be sent again: it was not sent (it did
 * not run), or it has a request id and got no answer. */
static int resendable(const importer *im, size_t i, int code) {
    return code == TALLY_ECONNECT || (cli_transient(code) && im->plain[i].request_id);
}

/* Reports line `line` (why, then note): held while events of earlier lines
 * may still be answered (some are pending), printed now otherwise or when
 * memory runs out. */
static void say(importer *im, long line, const char *why, const char *note) {
    size_t n = strlen(why) + strlen(note) + 1;
    char *text = im->n ? malloc(n) : NULL;
    if (text && im->nheld == im->held_cap) {
        size_t cap = im->held_cap ? 2 * im->held_cap : 64;
        held *h = realloc(im->held, cap * sizeof *h);
        if (h) im->held = h, im->held_cap = cap;
    }
    if (!text || im->nheld == im->held_cap) {
        free(text);
        fprintf(stderr, "tally record: line %ld: %s%s\n", line, why, note);
        return;
    }
    snprintf(text, n, "%s%s", why, note);
    im->held[im->nheld++] = (held){ line, text };
}

static int by_line(const void *a, const void *b) {
    long x = ((const held *)a)->line, y = ((const held *)b)->line;
    return (x > y) - (x < y);
}

/* Prints the held reports, in line order. */
static void say_held(importer *im) {
    if (!im->nheld) return;
    qsort(im->held, im->nheld, sizeof *im->held, by_line);
    for (size_t i = 0; i < im->nheld; i++) {
        fprintf(stderr, "tally record: line %ld: %s\n", im->held[i].line, im->held[i].text);
        free(im->held[i].text);
    }
    im->nheld = 0;
}

/* Counts and reports an event that will not be recorded. */
static void report(importer *im, size_t i, const tally_result *r) {
    const char *note = "";
    if (r->code == TALLY_ECONNECT) {
        im->unsent++;
        note = " (not sent, so not recorded: safe to send again)";
    } else if (cli_transient(r->code)) {
        if (!im->unknown++) im->unknown_code = r->code;
        note = im->plain[i].request_id ? " (outcome unknown)" : " (outcome unknown: no request id to resend it safely)";
    } else if (r->code == TALLY_EINVAL) {
        im->rejected++;
    } else if (!im->failed++) {
        im->failed_code = r->code;
    }
    say(im, im->line[i], cli_message("record", r->message), note);
}

/* Records the pending events; resends the events that were not sent, and
 * after a connection error or timeout the unanswered ones that carry a request
 * id, at most IMPORT_RETRIES times. */
static void flush(importer *im) {
    size_t n = im->n;
    for (size_t i = 0; i < n; i++) {
        tally_event *e = &im->plain[i];
        point_at(im, &e->key), point_at(im, &e->model), point_at(im, &e->account), point_at(im, &e->request_id);
    }
    for (int retry = 1; n > 0; retry++) {
        tally_record_batch(im->t, im->plain, n, im->res);
        size_t keep = 0;
        const char *why = NULL;
        for (size_t i = 0; i < n; i++) {
            const tally_result *r = &im->res[i];
            if (r->code == TALLY_OK) {
                if (r->duplicate) im->duplicates++;
                else im->recorded++, im->unpriced += r->price_version == TALLY_UNPRICED;
            } else if (resendable(im, i, r->code) && retry <= IMPORT_RETRIES) {
                if (!why) why = r->message;
                im->plain[keep] = im->plain[i];
                im->line[keep++] = im->line[i];
            } else {
                report(im, i, r);
            }
        }
        if (keep) {
            struct timespec ts = import_backoff(retry);
            fprintf(stderr, "tally record: %s; resending %zu events in %ld ms (retry %d of %d)\n", why, keep,
                    (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, retry, IMPORT_RETRIES);
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
            }
        }
        n = keep;
    }
    say_held(im);
    im->n = im->used = 0;
}

static void summary(const importer *im, const cli_common *c) {
    if (c->json) {
        json_out j;
        json_begin(&j, stdout);
        json_object(&j, NULL);
        json_int(&j, "recorded", im->recorded);
        json_int(&j, "duplicate", im->duplicates);
        json_int(&j, "rejected", im->rejected);
        json_int(&j, "failed", im->failed);
        json_int(&j, "unknown", im->unknown);
        json_int(&j, "unsent", im->unsent);
        json_int(&j, "unpriced", im->unpriced);
        json_close(&j);
        return;
    }
    printf("recorded %ld", im->recorded);
    if (im->unpriced) printf(" (%ld unpriced)", im->unpriced);
    printf(", duplicate %ld, rejected %ld", im->duplicates, im->rejected);
    if (im->failed) printf(", failed %ld (refused by Redis)", im->failed);
    if (im->unknown) printf(", outcome unknown for %ld", im->unknown);
    if (im->unsent) printf(", not sent %ld (Redis unreachable)", im->unsent);
    printf("%s\n", im->failed || im->unknown || im->unsent ? " (see above)" : "");
}

int import_events(tally *t, const cli_common *c, int fd) {
    importer im = { .t = t };
    im.plain = malloc(IMPORT_BATCH * sizeof *im.plain);
    im.line = malloc(IMPORT_BATCH * sizeof *im.line);
    im.res = malloc(IMPORT_BATCH * sizeof *im.res);
    ndjson_event *ne = malloc(sizeof *ne);
    lines in = { fd, 0, NULL, 0, 0, 0 };
    long lineno = 0;
    int tty = isatty(2), code = EXIT_FAILED, got;
    if (!im.plain || !im.line || !im.res || !ne) {
        fprintf(stderr, "tally record: out of memory\n");
        goto done;
    }
    char *buf;
    size_t len;
    while ((got = next_line(&in, im.n == 0, &buf, &len)) != LINES_END) {
        if (got == LINES_IDLE) {
            flush(&im);
            continue;
        }
        if (got == LINES_ERROR) {
            fprintf(stderr, "tally record: reading standard input: %s\n", strerror(errno));
            if (!im.failed++) im.failed_code = TALLY_EIO;
            break;
        }
        lineno++;
        while (len > 0 && buf[len - 1] == '\r') len--;
        if (ndjson_blank(buf, len)) continue;
        char err[256];
        if (ndjson_parse(buf, len, c->tz_min, ne, err, sizeof err) < 0) {
            say(&im, lineno, err, "");
            im.rejected++;
            if (im.nheld >= IMPORT_BATCH) flush(&im); /* bounds what is held */
            continue;
        }
        tally_event *e = &im.plain[im.n];
        *e = ne->ev;
        if (keep_string(&im, &e->key) < 0 || keep_string(&im, &e->model) < 0 ||
            keep_string(&im, &e->account) < 0 || keep_string(&im, &e->request_id) < 0) {
            fprintf(stderr, "tally record: out of memory: the rest of the input is not read\n");
            if (!im.failed++) im.failed_code = TALLY_ENOMEM;
            break;
        }
        im.line[im.n++] = lineno;
        if (im.n == IMPORT_BATCH || im.used >= IMPORT_BATCH_BYTES) flush(&im);
        if (tty && lineno % 10000 == 0) fprintf(stderr, "\rtally record: %ld lines", lineno);
    }
    flush(&im); /* (with no event left: the held reports) */
    if (tty && lineno >= 10000) fputc('\n', stderr);
    summary(&im, c);
    code = im.failed     ? cli_exit_for(im.failed_code)
           : im.unknown  ? cli_exit_for(im.unknown_code)
           : im.unsent   ? cli_exit_for(TALLY_ECONNECT)
           : im.rejected ? EXIT_USAGE
                         : EXIT_OK_;
done:
    say_held(&im); /* (none, but freed on every path) */
    free(im.held);
    free(in.buf);
    free(ne);
    free(im.text);
    free(im.plain);
    free(im.line);
    free(im.res);
    return code;
}
