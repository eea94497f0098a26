/* import.c -- `tally record --stdin`: reads NDJSON events (ndjson.c), records
 * them in pipelined batches (tally_record_batch) and reports each event that
 * was not recorded with its line number and the library's own message. Events
 * that carry a request id are sent again after a connection error or timeout:
 * recording is idempotent, so an import survives a server restart. */
#include "import.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "ndjson.h"

typedef struct {
    tally *t;
    ndjson_event *ev;     /* the batch's parsed events, owning their strings */
    tally_event *plain;   /* their tally_event parts, contiguous for the batch call */
    long *line;           /* input line of each */
    tally_result *res;
    size_t n;
    long recorded, duplicates, rejected, failed, unknown;
    int failed_code;      /* the first failure on Redis's side */
    int unknown_code;     /* the first error that left an outcome unknown */
} importer;

struct timespec import_backoff(int n) {
    long ms = 50L << (n < 1 ? 0 : n > 6 ? 5 : n - 1);
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    return ts;
}

/* Counts and reports an event that will not be recorded. */
static void report(importer *im, size_t i, const tally_result *r) {
    const char *note = "";
    if (cli_transient(r->code)) {
        if (!im->unknown++) im->unknown_code = r->code;
        note = im->plain[i].request_id ? " (outcome unknown)" : " (outcome unknown: no request id to resend it safely)";
    } else if (r->code == TALLY_EINVAL) {
        im->rejected++;
    } else if (!im->failed++) {
        im->failed_code = r->code;
    }
    fprintf(stderr, "tally record: line %ld: %s%s\n", im->line[i], r->message, note);
}

/* Records the pending events; after a connection error or timeout, resends the
 * unanswered events that carry a request id, at most IMPORT_RETRIES times. */
static void flush(importer *im) {
    size_t n = im->n;
    for (int retry = 1; n > 0; retry++) {
        tally_record_batch(im->t, im->plain, n, im->res);
        size_t keep = 0;
        const char *why = NULL;
        for (size_t i = 0; i < n; i++) {
            const tally_result *r = &im->res[i];
            if (r->code == TALLY_OK) {
                if (r->duplicate) im->duplicates++;
                else im->recorded++;
            } else if (cli_transient(r->code) && im->plain[i].request_id && retry <= IMPORT_RETRIES) {
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
    im->n = 0;
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
        json_close(&j);
        return;
    }
    printf("recorded %ld, duplicate %ld, rejected %ld", im->recorded, im->duplicates, im->rejected);
    if (im->failed) printf(", failed %ld (refused by Redis)", im->failed);
    if (im->unknown) printf(", outcome unknown for %ld", im->unknown);
    printf("%s\n", im->failed || im->unknown ? " (see above)" : "");
}

int import_events(tally *t, const cli_common *c, FILE *in) {
    importer im = { t, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0 };
    im.ev = malloc(IMPORT_BATCH * sizeof *im.ev);
    im.plain = malloc(IMPORT_BATCH * sizeof *im.plain);
    im.line = malloc(IMPORT_BATCH * sizeof *im.line);
    im.res = malloc(IMPORT_BATCH * sizeof *im.res);
    char *buf = NULL;
    size_t cap = 0;
    long lineno = 0;
    int tty = isatty(2), code = EXIT_FAILED;
    if (!im.ev || !im.plain || !im.line || !im.res) {
        fprintf(stderr, "tally record: out of memory\n");
        goto done;
    }
    ssize_t len;
    while ((len = getline(&buf, &cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
        if (ndjson_blank(buf, (size_t)len)) continue;
        char err[256];
        ndjson_event *ne = &im.ev[im.n];
        if (ndjson_parse(buf, (size_t)len, c->tz_min, ne, err, sizeof err) < 0) {
            fprintf(stderr, "tally record: line %ld: %s\n", lineno, err);
            im.rejected++;
            continue;
        }
        im.plain[im.n] = ne->ev;
        im.line[im.n++] = lineno;
        if (im.n == IMPORT_BATCH) flush(&im);
        if (tty && lineno % 10000 == 0) fprintf(stderr, "\rtally record: %ld lines", lineno);
    }
    if (im.n) flush(&im);
    if (tty && lineno >= 10000) fputc('\n', stderr);
    summary(&im, c);
    code = im.failed    ? cli_exit_for(im.failed_code)
           : im.unknown ? cli_exit_for(im.unknown_code)
           : im.rejected ? EXIT_USAGE
                        : EXIT_OK_;
done:
    free(buf);
    free(im.ev);
    free(im.plain);
    free(im.line);
    free(im.res);
    return code;
}
