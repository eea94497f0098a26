/* url.c -- connection URL parsing.
 *
 * Accepted forms:
 *   redis://[user:password@]host[:port][/db]     host may be [IPv6]
 *   unix://[user:password@]/path/to.sock[?db=N]
 *   redis-cluster://[user:password@]host[:port][,host[:port]...]   (seed nodes)
 * A missing port is 6379 and a missing db is 0 (a cluster has only db 0). No
 * credentials are ever copied into an error message, however malformed the URL:
 * a message shows only the parts of it that cannot hold them (shown()). */
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when [s, s+n) is host[:port] or [IPv6][:port] pieces separated by commas,
 * every port 1..65535: text that cannot be user:password. */
static int plain_hosts(const char *s, size_t n) {
    const char *end = s + n;
    while (s <= end) {
        const char *piece_end = memchr(s, ',', (size_t)(end - s));
        if (!piece_end) piece_end = end;
        const char *colon = *s == '[' ? memchr(s, ']', (size_t)(piece_end - s)) : s;
        if (!colon) return 0;
        colon = memchr(colon, ':', (size_t)(piece_end - colon));
        if (colon) {
            size_t pn = (size_t)(piece_end - colon - 1);
            if (pn == 0 || pn > 5 || strspn(colon + 1, "0123456789") < pn) return 0;
            if (atoi(colon + 1) < 1 || atoi(colon + 1) > 65535) return 0;
        }
        s = piece_end + 1;
    }
    return 1;
}

/* Writes what a message may show of `url` into out: the scheme, a "…" for
 * the credentials (everything up to the last '@'), the hosts when they are
 * plainly host[:port] (else "…": "redis://u:pw" without "@host" would put a
 * password there), and a database or socket path; anything else is "…". An
 * unknown scheme shows nothing. */
static void shown(const char *url, char *out, size_t cap) {
    static const char *const schemes[] = { "redis://", "unix://", "redis-cluster://" };
    size_t sn = 0;
    for (int i = 0; i < 3 && !sn; i++)
        if (strncmp(url, schemes[i], strlen(schemes[i])) == 0) sn = strlen(schemes[i]);
    if (!sn) {
        snprintf(out, cap, "…");
        return;
    }
    int is_unix = url[0] == 'u';
    const char *rest = url + sn, *at = strrchr(rest, '@');
    if (at) rest = at + 1;
    size_t hn = strcspn(rest, "/?#");
    int hosts_ok = is_unix ? hn == 0 : plain_hosts(rest, hn);
    const char *tail = rest + hn;
    /* shown: the socket path, or the '/' before a database; then q if it is
     * "?db=N" (unix) or the database number */
    size_t tn = *tail == '/' ? (is_unix ? strcspn(tail, "?#") : 1) : 0;
    const char *q = tail + tn;
    size_t qn = strlen(q);
    int tail_ok = is_unix ? qn == 0 || (strncmp(q, "?db=", 4) == 0 && strspn(q + 4, "0123456789") == qn - 4)
                          : strspn(q, "0123456789") == qn;
    static const char hidden[] = "…";
    snprintf(out, cap, "%.*s%s%.*s%.*s%s", (int)sn, url, at ? "…@" : "", hosts_ok ? (int)hn : (int)strlen(hidden),
             hosts_ok ? rest : hidden, (int)tn, tail, tail_ok ? q : hidden);
}

static int fail(char *err, size_t errlen, const char *msg, const char *url) {
    char url_shown[600];
    shown(url, url_shown, sizeof url_shown);
    snprintf(err, errlen, "bad URL '%s': %s", url_shown, msg);
    return -1;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [s, s+n) into out (cap bytes with the NUL). -1 on a bad
 * escape, a NUL byte or overflow. */
static int decode(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap) return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Parses a decimal number in [min, max] from [s, s+n): 0, -1 when it is not
 * digits, -2 when it is digits out of the range. */
static int number(const char *s, size_t n, int min, int max, int *out) {
    if (n == 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return -1;
    long long v = 0;
    for (size_t i = 0; i < n && v <= max; i++) v = v * 10 + (s[i] - '0');
    if (v < min || v > max) return -2;
    *out = (int)v;
    return 0;
}

/* The database number of a URL, with a message saying what is wrong. */
static int database(const char *url, const char *s, size_t n, tally_url *u, char *err, size_t errlen) {
    int rc = number(s, n, 0, 1000000, &u->db);
    if (rc == -2) return fail(err, errlen, "database number out of range (0 to 1000000)", url);
    if (rc < 0) return fail(err, errlen, "database must be a number (0 to 1000000)", url);
    return 0;
}

static int credentials(const char *s, size_t n, tally_url *u) {
    const char *colon = memchr(s, ':', n);
    if (!colon) /* "password@host": a password alone, as redis-cli accepts */
        return decode(s, n, u->password, sizeof u->password);
    if (decode(s, (size_t)(colon - s), u->user, sizeof u->user) < 0) return -1;
    return decode(colon + 1, n - (size_t)(colon - s) - 1, u->password, sizeof u->password);
}

static int parse_tcp(const char *url, const char *p, tally_url *u, char *err, size_t errlen) {
    const char *end = p + strcspn(p, "/?#");
    const char *host = p, *host_end, *port = NULL;
    if (*host == '[') {
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end) return fail(err, errlen, "unclosed '[' in IPv6 host", url);
        host++;
        if (host_end + 1 < end) {
            if (host_end[1] != ':') return fail(err, errlen, "junk after ']'", url);
            port = host_end + 2;
        }
    } else {
        host_end = memchr(host, ':', (size_t)(end - host));
        if (host_end) port = host_end + 1;
        else host_end = end;
    }
    size_t hn = (size_t)(host_end - host);
    if (hn == 0) return fail(err, errlen, "missing host", url);
    if (hn >= sizeof u->host) return fail(err, errlen, "host name too long", url);
    memcpy(u->host, host, hn);
    u->host[hn] = '\0';
    if (strcspn(u->host, " \t\r\n@") != hn) return fail(err, errlen, "bad character in host", url);
    if (port && number(port, (size_t)(end - port), 1, 65535, &u->port) < 0)
        return fail(err, errlen, "port must be a number from 1 to 65535", url);
    if (*end == '/') {
        const char *db = end + 1;
        size_t dn = strlen(db);
        if (dn > 0 && database(url, db, dn, u, err, errlen) < 0) return -1;
    } else if (*end) {
        return fail(err, errlen, "unexpected text after host", url);
    }
    return 0;
}

static int parse_unix(const char *url, const char *p, tally_url *u, char *err, size_t errlen) {
    if (*p != '/') return fail(err, errlen, "socket path must be absolute (unix:///path)", url);
    size_t pn = strcspn(p, "?");
    if (pn >= sizeof u->path) return fail(err, errlen, "socket path too long", url);
    memcpy(u->path, p, pn);
    u->path[pn] = '\0';
    const char *q = p + pn;
    if (*q == '?') {
        if (strncmp(q, "?db=", 4) != 0) return fail(err, errlen, "only '?db=N' may follow the path", url);
        if (database(url, q + 4, strlen(q + 4), u, err, errlen) < 0) return -1;
    }
    return 0;
}

int tally__url_parse(const char *text, tally_url *u, char *err, size_t errlen) {
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (!text || !*text) return fail(err, errlen, "empty", "");
    const char *p;
    if (strncmp(text, "redis://", 8) == 0) {
        p = text + 8;
    } else if (strncmp(text, "unix://", 7) == 0) {
        p = text + 7;
        u->is_unix = 1;
    } else if (strncmp(text, "redis-cluster://", 16) == 0) {
        p = text + 16;
        u->is_cluster = 1;
    } else {
        return fail(err, errlen, "scheme must be redis://, unix:// or redis-cluster://", text);
    }
    /* Credentials end at the last '@' before the first '/': encode a '/' or '@'
     * inside a password as %2F or %40. */
    const char *slash = p + strcspn(p, "/");
    const char *at = NULL;
    for (const char *s = p; s < slash; s++)
        if (*s == '@') at = s;
    if (at) {
        if (credentials(p, (size_t)(at - p), u) < 0)
            return fail(err, errlen, "bad user or password (check its %-escapes and length)", text);
        p = at + 1;
    }
    if (u->is_unix) return parse_unix(text, p, u, err, errlen);
    if (!u->is_cluster) return parse_tcp(text, p, u, err, errlen);
    /* A comma-separated list of seeds, each parsed like a redis:// host. */
    char one[300];
    for (const char *s = p;; s++) {
        size_t n = strcspn(s, ",");
        if (u->nseeds == TALLY_SEEDS_MAX) return fail(err, errlen, "more than 16 seed nodes", text);
        if (n >= sizeof one) return fail(err, errlen, "seed too long", text);
        memcpy(one, s, n);
        one[n] = '\0';
        u->port = 6379;
        if (parse_tcp(text, one, u, err, errlen) < 0) return -1;
        if (u->db != 0) return fail(err, errlen, "a cluster has only database 0", text);
        snprintf(u->seeds[u->nseeds].host, sizeof u->seeds[0].host, "%s", u->host);
        u->seeds[u->nseeds++].port = u->port;
        s += n;
        if (!*s) break;
    }
    snprintf(u->host, sizeof u->host, "%s", u->seeds[0].host);
    u->port = u->seeds[0].port;
    return 0;
}
