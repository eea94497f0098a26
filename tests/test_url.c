/* test_url.c -- unit: connection URL parsing, good and bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "url.h"

static void parses_tcp_forms(void **state) {
    (void)state;
    tally_url u;
    char err[256];
    assert_int_equal(tally__url_parse("redis://localhost", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_int_equal(u.is_unix, 0);
    assert_int_equal(tally__url_parse("redis://app:s%40cr%2Ft@10.0.0.1:7000/3", &u, err, sizeof err), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "s@cr/t");
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 3);
    assert_int_equal(tally__url_parse("redis://:pw@[::1]:6380", &u, err, sizeof err), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6380);
}

static void parses_unix_forms(void **state) {
    (void)state;
    tally_url u;
    char err[256];
    assert_int_equal(tally__url_parse("unix:///run/redis.sock?db=2", &u, err, sizeof err), 0);
    assert_int_equal(u.is_unix, 1);
    assert_string_equal(u.path, "/run/redis.sock");
    assert_int_equal(u.db, 2);
    assert_int_equal(tally__url_parse("unix://u:p@/tmp/r.sock", &u, err, sizeof err), 0);
    assert_string_equal(u.user, "u");
    assert_string_equal(u.path, "/tmp/r.sock");
}

static void rejects_bad_urls_without_leaking_password(void **state) {
    (void)state;
    static const struct { const char *url, *needle; } bad[] = {
        { "", "empty" },
        { "http://localhost", "scheme" },
        { "redis://", "missing host" },
        { "redis://host:0", "port" },
        { "redis://host:70000", "port" },
        { "redis://host:12ab", "port" },
        { "redis://host/-1", "database" },
        { "redis://host/x", "database must be a number" },
        { "redis://host/1000001", "database number out of range" },
        { "redis://host/99999999999999999999", "database number out of range" },
        { "unix:///s.sock?db=2000000", "database number out of range" },
        { "redis://[::1", "IPv6" },
        { "redis://u:topsecret%zz@host", "password" },
        { "unix://relative.sock", "absolute" },
        { "unix:///s.sock?db=x", "database must be a number" },
        { "unix:///s.sock?foo=1", "db=N" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tally_url u;
        char err[256];
        assert_int_equal(tally__url_parse(bad[i].url, &u, err, sizeof err), -1);
        if (!strstr(err, bad[i].needle)) fail_msg("'%s': message '%s' lacks '%s'", bad[i].url, err, bad[i].needle);
        assert_null(strstr(err, "topsecret"));
    }
}

/* Issue 10, item 8: malformed URLs whose credentials sit where a host, a port,
 * a database or a path would be: no message shows them, and what cannot hold
 * them is still shown. */
static void malformed_urls_never_show_credentials(void **state) {
    (void)state;
    static const char *const bad[] = {
        "redis://u:topsecret",           "redis://u:topsecret/0",          "redis://:topsecret",
        "redis://topsecret:",            "redis://u:topsecret#x",          "redis://u:topsecret?db=1",
        "redis://[::1]:topsecret",       "redis://host/u:topsecret",       "redis://host:1/topsecret",
        "redis-cluster://u:topsecret",   "redis-cluster://h1:7000,u:topsecret",
        "redis-cluster://u:topsecret,h1:7000",                             "unix://u:topsecret/tmp/s.sock",
        "unix://u:topsecret",            "unix:///tmp/s.sock?db=topsecret", "u:topsecret@host",
        "u:topsecret",                   "redis//u:topsecret",             "REDIS://u:topsecret",
        "http://u:topsecret@host",       "redis://u:topsecret@x@host:0",   "redis://u:topsecret@",
        "redis://u:topsecret@[::1",      "redis://u:topsecret@host:99999/0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tally_url u;
        char err[256];
        if (tally__url_parse(bad[i], &u, err, sizeof err) != -1) fail_msg("accepted '%s'", bad[i]);
        if (strstr(err, "topsecret")) fail_msg("'%s': message '%s' shows the password", bad[i], err);
        if (strncmp(err, "bad URL '", 9) != 0) fail_msg("'%s': message '%s'", bad[i], err);
    }
    static const struct { const char *url, *message; } shown[] = {
        { "redis://u:topsecret", "bad URL 'redis://…': port must be a number from 1 to 65535" },
        { "redis://host/x", "bad URL 'redis://host/…': database must be a number (0 to 1000000)" },
        { "redis://host/1000001", "bad URL 'redis://host/1000001': database number out of range (0 to 1000000)" },
        { "redis://u:topsecret@host/x", "bad URL 'redis://…@host/…': database must be a number (0 to 1000000)" },
        { "redis://[::1]:0", "bad URL 'redis://…': port must be a number from 1 to 65535" },
        { "unix://u:p@relative.sock", "bad URL 'unix://…@…': socket path must be absolute (unix:///path)" },
        { "redis-cluster://h1:7000,h2:7001/2", "bad URL 'redis-cluster://h1:7000,h2:7001/2': a cluster has only database 0" },
    };
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) {
        tally_url u;
        char err[256];
        assert_int_equal(tally__url_parse(shown[i].url, &u, err, sizeof err), -1);
        assert_string_equal(err, shown[i].message);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_tcp_forms),
        cmocka_unit_test(parses_unix_forms),
        cmocka_unit_test(rejects_bad_urls_without_leaking_password),
        cmocka_unit_test(malformed_urls_never_show_credentials),
    };
    return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
