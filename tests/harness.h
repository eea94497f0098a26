/* harness.h -- helpers for the C suites that run against the private
 * redis-server started by tests/with-redis. */
#ifndef TALLY_HARNESS_H
#define TALLY_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
/* FLUSHALL + SCRIPT FLUSH: each test starts from a clean server. cmocka setup. */
int th_clean(void **state);
/* DEBUG DIGEST of the whole dataset (keys, values and expiry) into out[41]. */
void th_digest(char out[41]);
/* Opens a handle on the test server with the given config (NULL: defaults);
 * fails the test when it cannot. */
tally *th_open(tally_config *cfg);
/* Runs the tally tool (path from $TALLY_BIN) with argv (NULL-terminated) and
 * optional stdin text; captures stdout and stderr (caller frees) and returns the
 * exit status. */
int th_run(const char *const *argv, const char *input, char **out, char **err);
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

#endif
