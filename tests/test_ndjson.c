/* test_ndjson.c -- unit (no server): the `tally record --stdin` line parser
 * (tools/tally/ndjson.c, compiled into this test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ndjson.h"

static ndjson_event ev;
static char err[256];

static int parse_tz(const char *line, int tz) {
    err[0] = '\0';
    return ndjson_parse(line, strlen(line), tz, &ev, err, sizeof err);
}

static const tally_event *ok(const char *line) {
    if (parse_tz(line, 0) != 0) fail_msg("refused %s: %s", line, err);
    return &ev.ev;
}

/* Expects the line refused with a message containing `word`. */
static void refused(const char *line, const char *word) {
    if (parse_tz(line, 0) == 0) fail_msg("accepted %s", line);
    if (!strstr(err, word)) fail_msg("%s: message '%s' does not say '%s'", line, err, word);
}

static void full_line(void **state) {
    (void)state;
    const tally_event *e = ok("{\"key\":\"k\",\"model\":\"m\",\"account\":\"a\",\"input\":1,\"output\":2,"
                              "\"cache_create\":3,\"cache_read\":4,\"cost\":\"0.0123\",\"id\":\"req-1\","
                              "\"at\":1764151200000}");
    assert_string_equal(e->key, "k");
    assert_string_equal(e->model, "m");
    assert_string_equal(e->account, "a");
    assert_string_equal(e->request_id, "req-1");
    assert_int_equal(e->input_tokens, 1);
    assert_int_equal(e->output_tokens, 2);
    assert_int_equal(e->cache_create_tokens, 3);
    assert_int_equal(e->cache_read_tokens, 4);
    assert_int_equal(e->cost_nanos, 12300000);
    assert_int_equal(e->at_ms, 1764151200000LL);
}

static void minimal_line_and_whitespace(void **state) {
    (void)state;
    const tally_event *e = ok("  { \"model\" : \"m\" ,\t\"key\":\"k\" }  \r");
    assert_string_equal(e->key, "k");
    assert_string_equal(e->model, "m");
    assert_null(e->account);
    assert_null(e->request_id);
    assert_int_equal(e->input_tokens + e->output_tokens + e->cache_create_tokens + e->cache_read_tokens, 0);
    assert_true(e->cost_nanos == TALLY_COST_FROM_PRICES); /* no "cost": the price table's */
    assert_int_equal(e->at_ms, 0);
    /* a parse clears what the previous line set */
    ok("{\"key\":\"k\",\"model\":\"m\",\"input\":5,\"id\":\"x\"}");
    e = ok("{\"key\":\"k2\",\"model\":\"m\"}");
    assert_int_equal(e->input_tokens, 0);
    assert_null(e->request_id);
    /* a max-size count */
    e = ok("{\"key\":\"k\",\"model\":\"m\",\"input\":1000000000000}");
    assert_int_equal(e->input_tokens, 1000000000000LL);
}

static void cost_literal_is_exact(void **state) {
    (void)state;
    assert_int_equal(ok("{\"key\":\"k\",\"model\":\"m\",\"cost\":0.0123}")->cost_nanos, 12300000);
    assert_int_equal(ok("{\"key\":\"k\",\"model\":\"m\",\"cost\":0.1}")->cost_nanos, 100000000);
    assert_int_equal(ok("{\"key\":\"k\",\"model\":\"m\",\"cost\":0.000000001}")->cost_nanos, 1);
    assert_int_equal(ok("{\"key\":\"k\",\"model\":\"m\",\"cost\":3}")->cost_nanos, 3000000000LL);
    assert_int_equal(ok("{\"key\":\"k\",\"model\":\"m\",\"cost\":\"12.5\"}")->cost_nanos, 12500000000LL);
    refused("{\"key\":\"k\",\"model\":\"m\",\"cost\":1e3}", "cost");
    refused("{\"key\":\"k\",\"model\":\"m\",\"cost\":1.5E-3}", "cost");
    refused("{\"key\":\"k\",\"model\":\"m\",\"cost\":-0.1}", "cost");
    refused("{\"key\":\"k\",\"model\":\"m\",\"cost\":0.1234567891}", "cost");
    refused("{\"key\":\"k\",\"model\":\"m\",\"cost\":\"abc\"}", "cost");
}

static void escapes_and_unicode(void **state) {
    (void)state;
    const tally_event *e = ok("{\"key\":\"a\\\"b\\\\c\\/d\",\"model\":\"\\u00e9\\u6a21\"}");
    assert_string_equal(e->key, "a\"b\\c/d");
    assert_string_equal(e->model, "\xc3\xa9\xe6\xa8\xa1");
    e = ok("{\"key\":\"\\ud83d\\ude00\",\"model\":\"\\uD83D\\uDE00x\"}"); /* U+1F600 */
    assert_string_equal(e->key, "\xf0\x9f\x98\x80");
    assert_string_equal(e->model, "\xf0\x9f\x98\x80x");
    e = ok("{\"key\":\"\\b\\f\\n\\r\\t\",\"model\":\"raw \xc3\xa9 bytes\"}");
    assert_string_equal(e->key, "\b\f\n\r\t"); /* tally_event_check refuses these later */
    assert_string_equal(e->model, "raw \xc3\xa9 bytes");
    e = ok("{\"key\":\"\\u007f\\u0041\",\"model\":\"m\"}");
    assert_string_equal(e->key, "\x7f" "A");
    refused("{\"key\":\"\\ud83d\",\"model\":\"m\"}", "surrogate");
    refused("{\"key\":\"\\ud83dx\",\"model\":\"m\"}", "surrogate");
    refused("{\"key\":\"\\ude00\",\"model\":\"m\"}", "surrogate");
    refused("{\"key\":\"\\ud83d\\u0041\",\"model\":\"m\"}", "surrogate");
    refused("{\"key\":\"\\u0000\",\"model\":\"m\"}", "NUL");
    refused("{\"key\":\"\\u12\",\"model\":\"m\"}", "escape");
    refused("{\"key\":\"\\x41\",\"model\":\"m\"}", "escape");
    refused("{\"key\":\"a\tb\",\"model\":\"m\"}", "control character");
}

static void at_forms(void **state) {
    (void)state;
    assert_int_equal(ok("{\"key\":\"k\",\"model\":\"m\",\"at\":\"1764151200000\"}")->at_ms, 1764151200000LL);
    assert_int_equal(ok("{\"key\":\"k\",\"model\":\"m\",\"at\":\"2025-11-26T10:00:00Z\"}")->at_ms, 1764151200000LL);
    assert_int_equal(parse_tz("{\"key\":\"k\",\"model\":\"m\",\"at\":\"2025-11-26T18:00:00\"}", 480), 0);
    assert_int_equal(ev.ev.at_ms, 1764151200000LL); /* no offset: read in tz */
    refused("{\"key\":\"k\",\"model\":\"m\",\"at\":0}", "at");
    refused("{\"key\":\"k\",\"model\":\"m\",\"at\":-5}", "at");
    refused("{\"key\":\"k\",\"model\":\"m\",\"at\":1.5}", "at");
    refused("{\"key\":\"k\",\"model\":\"m\",\"at\":\"2026-02-29T00:00Z\"}", "at");
    refused("{\"key\":\"k\",\"model\":\"m\",\"at\":\"yesterday\"}", "at");
}

static void refuses_bad_lines(void **state) {
    (void)state;
    refused("{\"key\":\"k\",\"model\":\"m\",\"tokens\":1}", "unknown field \"tokens\"");
    refused("{\"key\":\"k\",\"model\":\"m\",\"Key\":\"x\"}", "unknown field");
    refused("{\"key\":\"k\",\"model\":\"m\",\"key\":\"k2\"}", "twice");
    refused("{\"key\":\"k\",\"model\":\"m\",\"input\":1,\"input\":1}", "twice");
    refused("{\"key\":\"k\",\"model\":\"m\",\"input\":1e3}", "input");
    refused("{\"key\":\"k\",\"model\":\"m\",\"output\":-1}", "output");
    refused("{\"key\":\"k\",\"model\":\"m\",\"cache_read\":1.5}", "cache_read");
    refused("{\"key\":\"k\",\"model\":\"m\",\"cache_create\":1.0}", "cache_create");
    refused("{\"key\":\"k\",\"model\":\"m\",\"input\":\"5\"}", "not a string");
    /* past TALLY_MAX_TOKENS: read, and left to the library to refuse */
    assert_int_equal(ok("{\"key\":\"k\",\"model\":\"m\",\"input\":1000000000001}")->input_tokens, 1000000000001LL);
    refused("{\"key\":\"k\",\"model\":\"m\",\"input\":01}", "input");
    refused("{\"key\":\"k\",\"model\":\"m\",\"input\":9223372036854775808}", "input");
    refused("{\"key\":\"k\",\"model\":\"m\",\"input\":99999999999999999999}", "input");
    refused("{\"key\":\"k\",\"model\":\"m\",\"input\":}", "value");
    refused("{\"key\":5,\"model\":\"m\"}", "must be a string");
    refused("{\"key\":\"k\",\"model\":null}", "value");
    refused("{\"key\":\"k\",\"model\":\"m\",\"account\":true}", "value");
    refused("{\"model\":\"m\"}", "required");
    refused("{\"key\":\"k\"}", "required");
    refused("{}", "required");
    refused("{\"key\":\"k\",\"model\":\"m\"} x", "text after");
    refused("{\"key\":\"k\",\"model\":\"m\"}{}", "text after");
    refused("{\"key\":\"k\",\"model\":\"m\"", "expected ',' or '}'");
    refused("{\"key\":\"k\",\"model\":\"m\",}", "string");
    refused("{\"key\" \"k\",\"model\":\"m\"}", "':'");
    refused("{\"key\":\"k", "unterminated");
    refused("[\"key\",\"k\"]", "JSON object");
    refused("", "JSON object");
    refused("key=k model=m", "JSON object");
    refused("{'key':'k','model':'m'}", "string");
}

static void long_line_is_refused_not_overflowed(void **state) {
    (void)state;
    static char line[3 * NDJSON_TEXT_MAX];
    size_t n = (size_t)snprintf(line, sizeof line, "{\"key\":\"");
    memset(line + n, 'x', 2 * NDJSON_TEXT_MAX);
    n += 2 * NDJSON_TEXT_MAX;
    snprintf(line + n, sizeof line - n, "\",\"model\":\"m\"}");
    refused(line, "too long");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_line),
        cmocka_unit_test(minimal_line_and_whitespace),
        cmocka_unit_test(cost_literal_is_exact),
        cmocka_unit_test(escapes_and_unicode),
        cmocka_unit_test(at_forms),
        cmocka_unit_test(refuses_bad_lines),
        cmocka_unit_test(long_line_is_refused_not_overflowed),
    };
    return cmocka_run_group_tests_name("ndjson", tests, NULL, NULL);
}
