/* args.c -- binary-safe command arguments in one reusable buffer.
 *
 * The handle keeps one builder and resets it per call: after the first calls have
 * grown its buffers, building a command allocates nothing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void tally__args_free(tally_args *a) {
    free(a->buf);
    free(a->off);
    free(a->lens);
    free(a->ptrs);
    free(a->resp);
    memset(a, 0, sizeof *a);
}

void tally__args_reset(tally_args *a) {
    a->len = 0;
    a->argc = 0;
    a->nkeys_at = -1;
}

static int grow_argc(tally_args *a) {
    int cap = a->cap_argc ? a->cap_argc * 2 : 32;
    size_t *off = realloc(a->off, (size_t)cap * sizeof *off);
    if (!off) return -1;
    a->off = off;
    size_t *lens = realloc(a->lens, (size_t)cap * sizeof *lens);
    if (!lens) return -1;
    a->lens = lens;
    const char **ptrs = realloc(a->ptrs, (size_t)cap * sizeof *ptrs);
    if (!ptrs) return -1;
    a->ptrs = ptrs;
    a->cap_argc = cap;
    return 0;
}

/* Starts a new argument of n bytes and returns where to write them, or NULL when
 * memory ran out (the builder stays usable). */
static char *reserve(tally_args *a, size_t n) {
    if (a->argc == a->cap_argc && grow_argc(a) < 0) return NULL;
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 1024;
        while (cap < a->len + n) cap *= 2;
        char *buf = realloc(a->buf, cap);
        if (!buf) return NULL;
        a->buf = buf;
        a->cap = cap;
    }
    char *at = a->buf + a->len;
    a->off[a->argc] = a->len;
    a->lens[a->argc] = n;
    a->len += n;
    a->argc++;
    return at;
}

/* Each adder returns 0, or -1 when memory ran out. */
int tally__args_add(tally_args *a, const void *p, size_t n) {
    char *at = reserve(a, n);
    if (!at) return -1;
    if (n) memcpy(at, p, n);
    return 0;
}

int tally__args_cat(tally_args *a, const char *p1, size_t n1, const char *p2, size_t n2) {
    char *at = reserve(a, n1 + n2);
    if (!at) return -1;
    memcpy(at, p1, n1);
    if (n2) memcpy(at + n1, p2, n2);
    return 0;
}

int tally__args_str(tally_args *a, const char *s) {
    return tally__args_add(a, s, strlen(s));
}

/* Writes u in decimal ending just before `end`; returns where it starts. Two
 * digits per division. */
static char *utoa_end(uint64_t u, char *end) {
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";
    char *p = end;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = pairs[d + 1];
        *--p = pairs[d];
    }
    if (u >= 10) {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    return p;
}

int tally__args_i64(tally_args *a, int64_t v) {
    char tmp[24];
    char *p = utoa_end(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, tmp + sizeof tmp);
    if (v < 0) *--p = '-';
    return tally__args_add(a, p, (size_t)(tmp + sizeof tmp - p));
}

int tally__args_script(tally_args *a, int id) {
    tally__args_reset(a);
    if (tally__args_str(a, "EVALSHA") < 0) return -1;
    if (tally__args_str(a, tally__scripts[id].sha1) < 0) return -1;
    return tally__args_add(a, "", 0); /* numkeys, filled by tally__args_argv */
}

void tally__args_end_keys(tally_args *a) {
    a->nkeys_at = a->argc;
}

const char **tally__args_argv(tally_args *a) {
    for (int i = 0; i < a->argc; i++) a->ptrs[i] = a->buf + a->off[i];
    if (a->nkeys_at >= 3) { /* an EVALSHA from tally__args_script */
        int n = snprintf(a->numkeys, sizeof a->numkeys, "%d", a->nkeys_at - 3);
        a->ptrs[2] = a->numkeys;
        a->lens[2] = (size_t)n;
    }
    return a->ptrs;
}

const char *tally__args_resp(tally_args *a, size_t *n) {
    const char **argv = tally__args_argv(a);
    size_t need = 16 + (size_t)a->argc * 26; /* headers: "*" and "$" lines */
    for (int i = 0; i < a->argc; i++) need += a->lens[i];
    if (need > a->resp_cap) {
        size_t cap = a->resp_cap ? a->resp_cap : 2048;
        while (cap < need) cap *= 2;
        char *r = realloc(a->resp, cap);
        if (!r) return NULL;
        a->resp = r;
        a->resp_cap = cap;
    }
    char *o = a->resp, tmp[24];
    *o++ = '*';
    char *d = utoa_end((uint64_t)a->argc, tmp + sizeof tmp);
    memcpy(o, d, (size_t)(tmp + sizeof tmp - d));
    o += tmp + sizeof tmp - d;
    *o++ = '\r';
    *o++ = '\n';
    for (int i = 0; i < a->argc; i++) {
        *o++ = '$';
        d = utoa_end((uint64_t)a->lens[i], tmp + sizeof tmp);
        memcpy(o, d, (size_t)(tmp + sizeof tmp - d));
        o += tmp + sizeof tmp - d;
        *o++ = '\r';
        *o++ = '\n';
        if (a->lens[i]) memcpy(o, argv[i], a->lens[i]);
        o += a->lens[i];
        *o++ = '\r';
        *o++ = '\n';
    }
    *n = (size_t)(o - a->resp);
    return a->resp;
}
