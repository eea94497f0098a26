/* harness.h -- helpers for the C suites that run against the private
 * redis-server started by tests/with-redis (harness.c), and asserts that print
 * the values they compare (the th_assert_* macros need no server and no
 * harness.c: the unit suites use them too). */
#ifndef TALLY_HARNESS_H
#define TALLY_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "tally.h"

/* The server's URL ($TALLY_TEST_URL); the test fails when it is not set. */
const char *th_url(void);
/* A raw hiredis connection to the same server, for setting up and inspecting
 * state behind the library's back. Owned by the harness. */
redisContext *th_redis(void);
/* Runs a command on th_redis() and returns the reply (caller frees). */
redisReply *th_cmd(const char *fmt, ...);
long long th_int(const char *fmt, ...);
/* EVALSHA calls the server has run (INFO commandstats; CONFIG RESETSTAT zeroes it). */
long long th_evalsha_calls(void);
/* FLUSHALL + SCRIPT FLUSH: each test starts from a clean server. cmocka setup. */
int th_clean(void **state);
/* DEBUG DIGEST of the whole dataset (keys, values and expiry) into out[41]. */
void th_digest(char out[41]);
/* cmocka setup: a clean server holding a dataset that is not empty, so that a
 * digest can change: one event of key "seed" (account "acct", request id
 * "seed-1", 5 input tokens, 7 nano-USD) and one rate-limit decision for
 * "seed". Takes the baseline for th_unchanged(). */
int th_seed(void **state);
/* Takes the dataset's digest as the baseline for th_unchanged(). */
void th_baseline(void);
/* Fails the test, naming `what`, when the digest differs from the baseline. */
void th_unchanged(const char *what);
/* Opens a handle on the test server with the given config (NULL: defaults);
 * fails the test when it cannot. */
tally *th_open(tally_config *cfg);
/* th_open with the test clock on (cfg.test_clock), set to now_us. */
tally *th_open_clock(int64_t now_us);
/* Runs the tally tool (path from $TALLY_BIN) with argv (NULL-terminated) and
 * optional stdin text; captures stdout and stderr (caller frees) and returns the
 * exit status. */
int th_run(const char *const *argv, const char *input, char **out, char **err);
#define RUN(out, err, ...) th_run((const char *const[]){ __VA_ARGS__, NULL }, NULL, out, err)
#define RUN_IN(input, out, err, ...) th_run((const char *const[]){ __VA_ARGS__, NULL }, input, out, err)
/* The same for another program (found on $PATH when bin has no slash). */
int th_exec(const char *bin, const char *const *argv, const char *input, char **out, char **err);
/* Server restarts (the server must run with TALLY_TEST_AOF=1 to keep its data).
 * th_server_kill() SIGKILLs the server and returns once its socket refuses
 * connections; th_server_start() starts it again with the same arguments (same
 * port, dir and append-only file) as a child of this process that dies with it,
 * and returns once it answers PING (AOF loaded). th_redis() reconnects. */
void th_server_kill(void);
void th_server_start(void);
/* Closes th_redis(). */
void th_done(void);

/* Fake servers: peers that are not Redis, or not a sane one, for the tests of
 * the library's deadline and reply bounds (never for behaviour: that is tested
 * against the real server). Each listens on a loopback port, reads and discards
 * whatever a client sends, and answers, once the client has sent something:
 *   TH_FAKE_DRIP      "$1000000\r\n" and then one 'x' every 300 ms, for ever
 *   TH_FAKE_HUGE      "*2147483647\r\n" (an array of 2^31-1 elements), then nothing
 *   TH_FAKE_FLOOD     "$2147483647\r\n" and then 'x' as fast as it can send
 *   TH_FAKE_GARBAGE   bytes that are no RESP ("\x16\x03\x01 garbage..."), then nothing
 *   TH_FAKE_HTTP      an HTTP/1.1 400 response, then it closes
 *   TH_FAKE_SILENT    nothing: it accepts and never answers
 * A child process serves each connection; all die with the test. */
enum { TH_FAKE_DRIP, TH_FAKE_HUGE, TH_FAKE_FLOOD, TH_FAKE_GARBAGE, TH_FAKE_HTTP, TH_FAKE_SILENT };
/* Starts a fake server; returns its port. */
int th_fake_start(int kind);
/* Stops it and every connection it serves. */
void th_fake_stop(void);

/* Runs docs/acl.md's (TALLY_ACL_DOC) "ACL SETUSER <user> ..." line with
 * PASSWORD replaced by `password`; fails the test when it cannot. */
void th_acl_setuser(const char *user, const char *password);

/* 1 when `text` (may be NULL) contains `word`, ignoring case. */
int th_mentions(const char *text, const char *word);
/* Fails the test, showing `text`, unless it mentions `word` (ignoring case). */
void th_mentions_at(const char *file, int line, const char *text, const char *word);
#define th_assert_mentions(text, word) th_mentions_at(__FILE__, __LINE__, text, word)

/* Forks n children that each run fn(child, arg), 0 <= child < n, and report
 * the count it returns. A negative return is a failure: that child exits with
 * status -return. fn runs in the child, so it must not use cmocka's asserts
 * (a failed one would go on to run the rest of the suite there). Returns the
 * sum of the counts once every child has exited 0 and reported. */
long th_children_sum_at(const char *file, int line, int n, int (*fn)(int child, void *arg), void *arg);
#define th_children_sum(n, fn, arg) th_children_sum_at(__FILE__, __LINE__, n, fn, arg)

/* Waits for child `pid` (any child when pid is -1) and fails the test, naming
 * its exit status or signal, unless it exited 0. */
void th_reap_at(const char *file, int line, pid_t pid);
#define th_reap(pid) th_reap_at(__FILE__, __LINE__, pid)

/* Ordered comparisons of two integers that print both values on failure
 * (cmocka 1.1 has assert_int_equal but no <, <=, >, >=). Each operand is
 * evaluated once, as a long long. */
enum { TH_LT, TH_LE, TH_GT, TH_GE };
static inline void th_order_at(const char *file, int line, const char *text, long long a, int op, long long b) {
    static const char *const ops[] = { "<", "<=", ">", ">=" };
    int ok = op == TH_LT ? a < b : op == TH_LE ? a <= b : op == TH_GT ? a > b : a >= b;
    if (ok) return;
    print_error("%s: %lld is not %s %lld\n", text, a, ops[op], b);
    _fail(file, line);
}
#define th_assert_lt(a, b) th_order_at(__FILE__, __LINE__, #a " < " #b, (a), TH_LT, (b))
#define th_assert_le(a, b) th_order_at(__FILE__, __LINE__, #a " <= " #b, (a), TH_LE, (b))
#define th_assert_gt(a, b) th_order_at(__FILE__, __LINE__, #a " > " #b, (a), TH_GT, (b))
#define th_assert_ge(a, b) th_order_at(__FILE__, __LINE__, #a " >= " #b, (a), TH_GE, (b))

#endif
