/* test_cli.c -- redis: the tally tool's commands, their output and exit status. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json_read.h"

static void scripts_list_needs_no_server(void **state) {
    (void)state;
    char *out;
    assert_int_equal(RUN(&out, NULL, "scripts", "list", "--url", "redis://127.0.0.1:1"), 0);
    for (int i = 0; i < tally_script_count(); i++)
        assert_non_null(strstr(out, tally_script_at(i)->sha1));
    assert_non_null(strstr(out, "  KEYS[1] leases: "));
    free(out);
    assert_int_equal(RUN(&out, NULL, "scripts", "list", "--json"), 0);
    /* each script with its contract entry by entry: one per KEYS[..]/ARGV[..]
     * line of its header */
    tj *list = tj_parse(out);
    assert_non_null(list);
    assert_int_equal(list->n, tally_script_count());
    for (int i = 0; i < tally_script_count(); i++) {
        const tally_script_info *s = tally_script_at(i);
        const tj *e = tj_at(list, i);
        assert_string_equal(tj_str(e, "name"), s->name);
        assert_string_equal(tj_str(e, "sha1"), s->sha1);
        assert_int_equal(tj_int(e, "bytes"), s->length);
        assert_string_equal(tj_str(e, "returns"), s->returns);
        int keys = 0, argv = 0;
        for (const char *p = s->source; (p = strstr(p, "\n-- ")); p++) {
            keys += strncmp(p, "\n-- KEYS[", 9) == 0;
            argv += strncmp(p, "\n-- ARGV[", 9) == 0;
        }
        assert_int_equal(s->nkey_params, keys);
        assert_int_equal(s->narg_params, argv);
        th_assert_gt(keys, 0);
        th_assert_gt(argv, 0);
        assert_string_not_equal(s->returns, "");
        const tj *jk = tj_get(e, "keys"), *ja = tj_get(e, "argv");
        assert_int_equal(jk->n, keys);
        assert_int_equal(ja->n, argv);
        for (int k = 0; k < s->nkey_params; k++) {
            assert_string_equal(tj_str(tj_at(jk, k), "position"), s->key_params[k].position);
            assert_string_equal(tj_str(tj_at(jk, k), "name"), s->key_params[k].name);
            assert_string_equal(tj_str(tj_at(jk, k), "description"), s->key_params[k].description);
        }
        for (int k = 0; k < s->narg_params; k++) {
            assert_string_equal(tj_str(tj_at(ja, k), "position"), s->arg_params[k].position);
            assert_string_equal(tj_str(tj_at(ja, k), "name"), s->arg_params[k].name);
        }
    }
    /* and the examples the contracts name */
    const tj *lease = NULL, *record = NULL;
    for (size_t i = 0; i < list->n; i++) {
        if (strcmp(tj_str(tj_at(list, i), "name"), "lease") == 0) lease = tj_at(list, i);
        if (strcmp(tj_str(tj_at(list, i), "name"), "record") == 0) record = tj_at(list, i);
    }
    assert_non_null(lease);
    assert_non_null(record);
    assert_string_equal(tj_str(tj_at(tj_get(lease, "keys"), 0), "name"), "leases");
    assert_string_equal(tj_str(tj_at(tj_get(lease, "argv"), 0), "name"), "mode");
    assert_string_equal(tj_str(tj_at(tj_get(record, "argv"), 0), "name"), "nums");
    const char *nums = tj_str(tj_at(tj_get(record, "argv"), 0), "description");
    assert_non_null(strstr(nums, "a JSON array of whole numbers (layout in c/wire.h): the head latest_ms (the "
                                 "latest event time of the call, epoch ms)"));
    tj_free(list);
    free(out);
}

static void scripts_show_prints_exact_source(void **state) {
    (void)state;
    char *out;
    for (int i = 0; i < tally_script_count(); i++) {
        const tally_script_info *s = tally_script_at(i);
        assert_int_equal(RUN(&out, NULL, "scripts", "show", s->name), 0);
        assert_int_equal(strlen(out), s->length);
        assert_memory_equal(out, s->source, s->length);
        free(out);
    }
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
        assert_true(tj_bool(tj_at(nodes, i), "loaded"));
        assert_string_equal(tj_str(tj_at(nodes, i), "sha1"), tally_script_at((int)i)->sha1);
    }
    tj_free(nodes);
    free(out);
    freeReplyObject(th_cmd("SCRIPT FLUSH"));
    assert_int_equal(RUN(NULL, NULL, "scripts", "verify", "--url", url), 1);
    assert_int_equal(RUN(NULL, NULL, "scripts", "flush", "--url", url), 0);
    assert_int_equal(RUN(NULL, NULL, "scripts", "verify", "--url", url), 0);
}

/* --summary: one line for all scripts; a missing script keeps its own line;
 * refused (exit 2) with --json and with list or show. */
static void scripts_summary(void **state) {
    (void)state;
    const char *url = th_url();
    int n = tally_script_count();
    char *out, want[128];
    assert_int_equal(RUN(&out, NULL, "scripts", "verify", "--summary", "--url", url), 1);
    snprintf(want, sizeof want, "%s  MISSING\n", tally_script_at(0)->sha1);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "\n%d of %d scripts MISSING, on 1 node\n", n, n);
    assert_non_null(strstr(out, want));
    free(out);
    assert_int_equal(RUN(&out, NULL, "scripts", "load", "--summary", "--url", url), 0);
    snprintf(want, sizeof want, "%d scripts loaded, SHA verified, on 1 node\n", n);
    assert_string_equal(out, want);
    free(out);
    assert_int_equal(RUN(&out, NULL, "scripts", "flush", "--summary", "--url", url), 0);
    assert_string_equal(out, want);
    free(out);
    assert_int_equal(RUN(&out, NULL, "scripts", "verify", "--summary", "--url", url), 0);
    snprintf(want, sizeof want, "%d scripts loaded, on 1 node\n", n);
    assert_string_equal(out, want);
    free(out);
    static const char *const refused[][3] = { { "load", "--json" }, { "list" }, { "show", "read" } };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *err;
        const char *argv[] = { "scripts", refused[i][0], "--summary", "--url", url, refused[i][1], NULL };
        assert_int_equal(th_run(argv, NULL, &out, &err), 2);
        assert_non_null(strstr(err, "--summary goes with load, verify or flush"));
        assert_string_equal(out, "");
        free(out);
        free(err);
    }
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

/* tally --version and tally_version() give the project version of meson.build. */
static void version_matches_project(void **state) {
    (void)state;
    assert_string_equal(tally_version(), TALLY_PROJECT_VERSION);
    char *out, expected[64];
    assert_int_equal(RUN(&out, NULL, "--version"), 0);
    snprintf(expected, sizeof expected, "tally %s\n", TALLY_PROJECT_VERSION);
    assert_string_equal(out, expected);
    free(out);
    assert_int_equal(RUN(&out, NULL, "--help"), 0);
    assert_non_null(strstr(out, "--version"));
    free(out);
}

/* `tally scripts --help` lists every subcommand, flush included, before the
 * paragraph about clusters. */
static void scripts_help_lists_flush_before_cluster(void **state) {
    (void)state;
    char *out;
    assert_int_equal(RUN(&out, NULL, "scripts", "--help"), 0);
    const char *verify = strstr(out, "  verify "), *flush = strstr(out, "  flush "),
               *cluster = strstr(out, "On a cluster");
    assert_non_null(verify);
    assert_non_null(flush);
    assert_non_null(cluster);
    th_assert_lt(verify - out, flush - out); /* offsets in the help text */
    th_assert_lt(flush - out, cluster - out);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(scripts_list_needs_no_server, th_clean),
        cmocka_unit_test_setup(scripts_show_prints_exact_source, th_clean),
        cmocka_unit_test_setup(scripts_verify_load_flush, th_clean),
        cmocka_unit_test_setup(scripts_summary, th_clean),
        cmocka_unit_test_setup(exit_codes_for_usage_and_connection, th_clean),
        cmocka_unit_test_setup(password_never_printed, th_clean),
        cmocka_unit_test(version_matches_project),
        cmocka_unit_test(scripts_help_lists_flush_before_cluster),
    };
    int rc = cmocka_run_group_tests_name("cli", tests, NULL, NULL);
    th_done();
    return rc;
}
