/* test_cli.c -- redis: the tally tool's commands, their output and exit status. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json_read.h"

#define RUN(out, err, ...) th_run((const char *const[]){ __VA_ARGS__, NULL }, NULL, out, err)

static void scripts_list_needs_no_server(void **state) {
    (void)state;
    char *out;
    assert_int_equal(RUN(&out, NULL, "scripts", "list", "--url", "redis://127.0.0.1:1"), 0);
    for (int i = 0; i < tally_script_count(); i++)
        assert_non_null(strstr(out, tally_script_at(i)->sha1));
    assert_non_null(strstr(out, "KEYS:"));
    free(out);
    assert_int_equal(RUN(&out, NULL, "scripts", "list", "--json"), 0);
    tj *list = tj_parse(out);
    assert_non_null(list);
    assert_int_equal(list->n, tally_script_count());
    for (int i = 0; i < tally_script_count(); i++) {
        const tally_script_info *s = tally_script_at(i);
        assert_string_equal(tj_str(tj_at(list, i), "name"), s->name);
        assert_string_equal(tj_str(tj_at(list, i), "sha1"), s->sha1);
        assert_int_equal(tj_int(tj_at(list, i), "bytes"), s->length);
        assert_string_equal(tj_str(tj_at(list, i), "keys"), s->keys);
    }
    tj_free(list);
    free(out);
}

static void scripts_show_prints_exact_source(void **state) {
    (void)state;
    const tally_script_info *s = tally_script_at(0);
    char *out;
    assert_int_equal(RUN(&out, NULL, "scripts", "show", s->name), 0);
    assert_int_equal(strlen(out), s->length);
    assert_memory_equal(out, s->source, s->length);
    free(out);
    char *err;
    assert_int_equal(RUN(NULL, &err, "scripts", "show", "nonesuch"), 2);
    assert_non_null(strstr(err, "nonesuch"));
    free(err);
}

static void scripts_verify_load_flush(void **state) {
    (void)state;
    const char *url = th_url();
    char *out;
    assert_int_equal(RUN(&out, NULL, "scripts", "verify", "--url", url), 1);
    assert_non_null(strstr(out, "MISSING"));
    free(out);
    assert_int_equal(RUN(&out, NULL, "scripts", "load", "--url", url), 0);
    assert_non_null(strstr(out, "SHA verified"));
    free(out);
    assert_int_equal(RUN(&out, NULL, "scripts", "verify", "--url", url, "--json"), 0);
    tj *nodes = tj_parse(out);
    assert_non_null(nodes);
    assert_int_equal(nodes->n, tally_script_count());
    for (size_t i = 0; i < nodes->n; i++) {
        assert_true(tj_get(tj_at(nodes, i), "loaded")->boolean);
        assert_string_equal(tj_str(tj_at(nodes, i), "sha1"), tally_script_at((int)i)->sha1);
    }
    tj_free(nodes);
    free(out);
    freeReplyObject(th_cmd("SCRIPT FLUSH"));
    assert_int_equal(RUN(NULL, NULL, "scripts", "verify", "--url", url), 1);
    assert_int_equal(RUN(NULL, NULL, "scripts", "flush", "--url", url), 0);
    assert_int_equal(RUN(NULL, NULL, "scripts", "verify", "--url", url), 0);
}

static void exit_codes_for_usage_and_connection(void **state) {
    (void)state;
    char *err;
    assert_int_equal(RUN(NULL, &err, "scripts", "verify", "--url", "redis://127.0.0.1:1"), 3);
    assert_non_null(strstr(err, "cannot connect"));
    free(err);
    assert_int_equal(RUN(NULL, &err, "scripts", "verify", "--url", "ftp://x"), 2);
    assert_non_null(strstr(err, "scheme"));
    free(err);
    assert_int_equal(RUN(NULL, &err, "scripts", "list", "--frobnicate"), 2);
    assert_non_null(strstr(err, "--frobnicate"));
    free(err);
    assert_int_equal(RUN(NULL, &err, "nonesuch"), 2);
    free(err);
    assert_int_equal(RUN(NULL, &err, "scripts", "load", "--url", th_url(), "--timeout", "abc"), 2);
    free(err);
    char *out;
    assert_int_equal(RUN(&out, NULL, "--help"), 0);
    assert_non_null(strstr(out, "exit status"));
    free(out);
}

static void password_never_printed(void **state) {
    (void)state;
    char url[256], *out, *err;
    snprintf(url, sizeof url, "redis://nobody:hunter2secret@%s", th_url() + strlen("redis://"));
    assert_int_equal(RUN(&out, &err, "scripts", "load", "--url", url), 3);
    assert_null(strstr(err, "hunter2secret"));
    assert_null(strstr(out, "hunter2secret"));
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(scripts_list_needs_no_server, th_clean),
        cmocka_unit_test_setup(scripts_show_prints_exact_source, th_clean),
        cmocka_unit_test_setup(scripts_verify_load_flush, th_clean),
        cmocka_unit_test_setup(exit_codes_for_usage_and_connection, th_clean),
        cmocka_unit_test_setup(password_never_printed, th_clean),
    };
    int rc = cmocka_run_group_tests_name("cli", tests, NULL, NULL);
    th_done();
    return rc;
}
