/* test_import.c -- faults: `tally record --stdin` across server restarts, a
 * short one and one that lasts longer than 2 s. Needs a server with the
 * append-only file on (TALLY_TEST_AOF=1, set in tests/meson.build).
 *
 * The importer runs as a child with its standard streams on pipes. The test
 * follows its progress through them, never by sleeping: the server is killed
 * once the importer has read more than a pipe holds (so it is importing), and
 * for the long restart it stays down until the importer has reported its 7th
 * retry on stderr, 3.15 s of back-off after the failure. Lines without ids
 * that were never sent (the server down) are sent again. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "json_read.h"

#define EVENTS 6000 /* more than a pipe holds */

typedef struct {
    pid_t pid;
    int in, out, err;       /* our ends of its stdin, stdout, stderr; -1 once closed */
    char *text;
    size_t len, off;        /* its input, and how much of it was written */
    int64_t sum_in, sum_cost; /* of the input's events */
    char out_buf[1024];
    size_t out_n;
    char *err_buf;
    size_t err_n, err_cap;
} importer;

/* EVENTS NDJSON lines, with ids or without, one minute ago; *half is the
 * offset of the line after the middle. Sets the sums of input tokens and
 * nano-USD. */
static char *input(int ids, size_t *len, size_t *half, int64_t *sum_in, int64_t *sum_cost) {
    int64_t at = (int64_t)time(NULL) * 1000 - 60000;
    size_t cap = (size_t)EVENTS * 160 + 1;
    char *text = malloc(cap);
    *len = 0;
    *sum_in = *sum_cost = 0;
    for (int i = 0; i < EVENTS; i++) {
        char id[32] = "";
        if (ids) snprintf(id, sizeof id, "\"id\":\"imp-%d\",", i);
        *len += (size_t)snprintf(text + *len, cap - *len,
                                 "{\"key\":\"imp-%d\",\"model\":\"m\",\"input\":%d,\"cost\":\"0.%09d\","
                                 "%s\"at\":%lld,\"account\":\"padding-padding-%d\"}\n",
                                 i % 7, i + 1, i + 1, id, (long long)at, i % 3);
        *sum_in += i + 1;
        *sum_cost += i + 1;
        if (i == EVENTS / 2) *half = *len;
    }
    th_assert_gt(*half, 200 * 1024); /* more than a pipe holds */
    return text;
}

/* On a clean server, starts an importer of input() and feeds it the first
 * half: more than the pipe holds, so the tool has read, so it is connected
 * and importing. */
/* Starts `tally record --stdin` as a child with its standard streams on pipes. */
static void spawn(importer *im, char *text, size_t len, int64_t sum_in, int64_t sum_cost) {
    const char *bin = getenv("TALLY_BIN");
    assert_non_null(bin);
    int in[2], out[2], err[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    fflush(NULL);
    pid_t pid = fork();
    th_assert_ge(pid, 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(in[1]);
        close(out[0]);
        close(err[0]);
        execl(bin, bin, "record", "--stdin", "--url", th_url(), "--json", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    signal(SIGPIPE, SIG_IGN);
    *im = (importer){ pid, in[1], out[0], err[0], text, len, 0, sum_in, sum_cost, "", 0, NULL, 0, 0 };
    im->err_buf = calloc(im->err_cap = 1 << 16, 1);
}

static void start(importer *im) {
    th_clean(NULL);
    size_t len, half = 0;
    int64_t sum_in, sum_cost;
    char *text = input(1, &len, &half, &sum_in, &sum_cost);
    spawn(im, text, len, sum_in, sum_cost);
    while (im->off < half) { /* blocking: it reads as it records */
        ssize_t w = write(im->in, im->text + im->off, half - im->off);
        th_assert_gt(w, 0);
        im->off += (size_t)w;
    }
}

/* Writes the rest of its input (then closes it) while reading its outputs,
 * until `needle` shows on its stderr (returns 1) or both outputs end (0). */
static int pump(importer *im, const char *needle) {
    fcntl(im->in, F_SETFL, O_NONBLOCK);
    for (;;) {
        if (needle && strstr(im->err_buf, needle)) return 1;
        if (im->in >= 0 && im->off == im->len) {
            close(im->in);
            im->in = -1;
        }
        if (im->out < 0 && im->err < 0) return 0;
        struct pollfd p[3] = { { im->in, POLLOUT, 0 }, { im->out, POLLIN, 0 }, { im->err, POLLIN, 0 } };
        if (poll(p, 3, -1) < 0) {
            assert_int_equal(errno, EINTR);
            continue;
        }
        if (p[0].revents) {
            ssize_t w = write(im->in, im->text + im->off, im->len - im->off);
            if (w > 0) im->off += (size_t)w;
        }
        if (p[1].revents) {
            ssize_t r = read(im->out, im->out_buf + im->out_n, sizeof im->out_buf - 1 - im->out_n);
            if (r > 0) im->out_n += (size_t)r;
            else close(im->out), im->out = -1;
            im->out_buf[im->out_n] = '\0';
        }
        if (p[2].revents) {
            if (im->err_cap - im->err_n < 4096) im->err_buf = realloc(im->err_buf, im->err_cap *= 2);
            ssize_t r = read(im->err, im->err_buf + im->err_n, im->err_cap - 1 - im->err_n);
            if (r > 0) im->err_n += (size_t)r;
            else close(im->err), im->err = -1;
            im->err_buf[im->err_n] = '\0';
        }
    }
}

/* Waits for the importer and checks that every event counts exactly once. */
static void finish(importer *im) {
    assert_int_equal(pump(im, NULL), 0);
    int status;
    waitpid(im->pid, &status, 0);
    print_message("import: tool says %s\n", im->out_buf);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("importer exit %d: %s", status, im->err_buf);
    tj *summary = tj_parse(im->out_buf);
    assert_non_null(summary);
    assert_int_equal(tj_int(summary, "recorded") + tj_int(summary, "duplicate"), EVENTS);
    assert_int_equal(tj_int(summary, "rejected"), 0);
    assert_int_equal(tj_int(summary, "failed"), 0);
    assert_int_equal(tj_int(summary, "unknown"), 0);
    tj_free(summary);
    tally *t = th_open(NULL);
    tally_period tot = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &tot, &b), TALLY_OK);
    assert_int_equal(b.requests, EVENTS);
    assert_int_equal(b.input_tokens, im->sum_in);
    assert_int_equal(b.cost_nanos, im->sum_cost);
    tally_close(t);
    free(im->err_buf);
    free(im->text);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Killed mid-import and started again at once. */
static void import_survives_restart(void **state) {
    (void)state;
    importer im;
    start(&im);
    th_server_kill();
    th_server_start();
    finish(&im);
}

/* Down until the importer has waited through 7 retries (3.15 s): the
 * back-off really waits, and the 8th attempt finds the server back. */
static void import_survives_long_restart(void **state) {
    (void)state;
    importer im;
    start(&im);
    th_server_kill();
    int64_t down = now_ms();
    if (!pump(&im, "(retry 7 of 8)")) fail_msg("the importer gave up before its 7th retry: %s", im.err_buf);
    int64_t down_ms = now_ms() - down;
    th_server_start();
    print_message("server down for %lld ms while the importer retried\n", (long long)down_ms);
    th_assert_gt(down_ms, 2000); /* the restart this test is about */
    for (int retry = 1; retry <= 7; retry++) {
        char want[32];
        snprintf(want, sizeof want, "(retry %d of 8)", retry);
        if (!strstr(im.err_buf, want)) fail_msg("no '%s' in: %s", want, im.err_buf);
    }
    finish(&im);
}

/* Global requests recorded so far. */
static long long recorded_requests(void) {
    tally *t = th_open(NULL);
    tally_period tot = { TALLY_TOTAL, 0, 0, 0, 0 };
    tally_bucket b;
    assert_int_equal(tally_stats(t, TALLY_SCOPE_GLOBAL, NULL, &tot, &b), TALLY_OK);
    tally_close(t);
    return b.requests;
}

/* Waits until `want` requests are recorded; fails after 20 s. */
static void wait_recorded(long long want) {
    int64_t give_up = now_ms() + 20000;
    while (recorded_requests() < want) {
        if (now_ms() > give_up) fail_msg("%lld requests recorded after 20 s, %lld sent", recorded_requests(), want);
        struct timespec tick = { 0, 10000000 };
        nanosleep(&tick, NULL);
    }
}

/* A live stream (its standard input stays open): each line is recorded once
 * no more input is ready, not when a batch is full or the input ends. */
static void a_live_stream_is_recorded_as_it_comes(void **state) {
    (void)state;
    th_clean(NULL);
    static const char line[] = "{\"key\":\"live\",\"model\":\"m\",\"input\":1,\"cost\":\"0.000000001\"}\n";
    importer im;
    spawn(&im, NULL, 0, 0, 0);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(write(im.in, line, sizeof line - 1), (ssize_t)(sizeof line - 1));
        wait_recorded(i);
    }
    assert_int_equal(pump(&im, NULL), 0); /* closes its input, reads its outputs */
    int status;
    waitpid(im.pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("importer exit %d: %s", status, im.err_buf);
    assert_non_null(strstr(im.out_buf, "\"recorded\":3"));
    assert_int_equal(recorded_requests(), 3);
    free(im.err_buf);
}

/* Lines without ids while the server is down (it refuses connections, and
 * closed the one the importer had): they were never sent, so they did not
 * run; the importer sends them again instead of reporting them "outcome
 * unknown", and once the server is back every line counts exactly once. */
static void unsent_lines_are_resent(void **state) {
    (void)state;
    th_clean(NULL);
    size_t len, half = 0;
    int64_t sum_in, sum_cost;
    char *text = input(0, &len, &half, &sum_in, &sum_cost);
    importer im;
    spawn(&im, text, len, sum_in, sum_cost);
    size_t first = (size_t)(strchr(text, '\n') + 1 - text);
    assert_int_equal(write(im.in, text, first), (ssize_t)first);
    im.off = first;
    wait_recorded(1); /* connected, and the connection idle */
    th_server_kill();
    if (!pump(&im, "(retry 1 of 8)")) fail_msg("no retry while the server was down: %s", im.err_buf);
    th_server_start();
    if (strstr(im.err_buf, "outcome unknown")) fail_msg("lines never sent reported unknown: %s", im.err_buf);
    finish(&im);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(import_survives_restart),
        cmocka_unit_test(import_survives_long_restart),
        cmocka_unit_test(a_live_stream_is_recorded_as_it_comes),
        cmocka_unit_test(unsent_lines_are_resent),
    };
    int rc = cmocka_run_group_tests_name("import", tests, NULL, NULL);
    th_done();
    return rc;
}
