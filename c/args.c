/* args.c -- command arguments written straight into RESP in one buffer the
 * handle reuses.
 *
 * Layout of buf: HEAD bytes kept free for "*argc\r\n", then each argument as
 * "$len\r\n<bytes>\r\n". An EVALSHA's numkeys is only known after its keys, so
 * tally__args_script() leaves a fixed-width slot for it; tally__args_resp()
 * writes numkeys right-aligned in the slot, slides the two arguments before it
 * (EVALSHA or EVALSHA_RO, and the SHA) up against it and puts the header in front.
 * The finished command is one contiguous run of bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

#define HEAD 16  /* "*" + up to 10 digits + "\r\n" */
#define SLOT 12  /* numkeys: "$" + up to 5 digits + "\r\n" ... "\r\n" */

void tally__args_free(tally_args *a) {
    free(a->buf);
    free(a->off);
    free(a->lens);
    memset(a, 0, sizeof *a);
}

void tally__args_reset(tally_args *a) {
    a->len = HEAD;
    a->argc = 0;
    a->nkeys_at = -1;
    a->start = 0;
    a->primary = 0;
}

static int grow_argc(tally_args *a) {
    int cap = a->cap_argc ? a->cap_argc * 2 : 64;
    size_t *off = realloc(a->off, (size_t)cap * sizeof *off);
    if (!off) return -1;
    a->off = off;
    size_t *lens = realloc(a->lens, (size_t)cap * sizeof *lens);
    if (!lens) return -1;
    a->lens = lens;
    a->cap_argc = cap;
    return 0;
}

char *tally__utoa_end(uint64_t u, char *end) {
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

/* Makes room for one more argument of up to `extra` encoded bytes; -1 OOM. */
static int ensure(tally_args *a, size_t extra) {
    if (a->len < HEAD) a->len = HEAD; /* a builder that was never reset */
    if (a->argc == a->cap_argc && grow_argc(a) < 0) return -1;
    if (a->len + extra > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->len + extra) cap *= 2;
        char *buf = realloc(a->buf, cap);
        if (!buf) return -1;
        a->buf = buf;
        a->cap = cap;
    }
    return 0;
}

/* Starts argument argc with room for n bytes and returns where to write them,
 * or NULL when memory ran out. The "$n\r\n" before and "\r\n" after are
 * written here. */
static char *reserve(tally_args *a, size_t n) {
    if ((a->argc == a->cap_argc || a->len < HEAD || a->len + n + 26 > a->cap) && ensure(a, 24 + n + 2) < 0)
        return NULL;
    char *o = a->buf + a->len;
    *o++ = '$';
    if (n < 10) { /* most arguments: a digit or two of length */
        *o++ = (char)('0' + n);
    } else if (n < 100) {
        *o++ = (char)('0' + n / 10);
        *o++ = (char)('0' + n % 10);
    } else {
        char tmp[24], *d = tally__utoa_end(n, tmp + sizeof tmp);
        size_t dn = (size_t)(tmp + sizeof tmp - d);
        memcpy(o, d, dn);
        o += dn;
    }
    *o++ = '\r';
    *o++ = '\n';
    o[n] = '\r';
    o[n + 1] = '\n';
    a->off[a->argc] = (size_t)(o - a->buf);
    a->lens[a->argc++] = n;
    a->len = (size_t)(o - a->buf) + n + 2;
    a->start = 0;
    return o;
}

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

int tally__args_i64(tally_args *a, int64_t v) {
    char tmp[24];
    char *p = tally__utoa_end(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, tmp + sizeof tmp);
    if (v < 0) *--p = '-';
    return tally__args_add(a, p, (size_t)(tmp + sizeof tmp - p));
}

int tally__args_script(tally_args *a, int id) {
    return tally__args_evalsha(a, "EVALSHA", tally__scripts[id].sha1);
}

int tally__args_script_ro(tally_args *a, int id) {
    return tally__args_evalsha(a, "EVALSHA_RO", tally__scripts[id].sha1);
}

int tally__args_script_ro_primary(tally_args *a, int id) {
    int err = tally__args_script_ro(a, id);
    a->primary = 1;
    return err;
}

int tally__args_is_ro(const tally_args *a) {
    return a->argc > 0 && a->lens[0] == 10 && memcmp(a->buf + a->off[0], "EVALSHA_RO", 10) == 0;
}

int tally__args_evalsha(tally_args *a, const char *cmd, const char *sha1) {
    tally__args_reset(a);
    if (tally__args_str(a, cmd) < 0 || tally__args_add(a, sha1, 40) < 0 || ensure(a, SLOT) < 0)
        return -1;
    a->off[a->argc] = a->len; /* numkeys' slot, filled by tally__args_resp() */
    a->lens[a->argc++] = 0;
    a->len += SLOT;
    return 0;
}

void tally__args_end_keys(tally_args *a) {
    a->nkeys_at = a->argc;
}

/* Fills the numkeys slot ("$<d>\r\n<digits>\r\n", right-aligned) and slides the
 * two arguments before it up against it; returns where the arguments start. */
static size_t fill_numkeys(tally_args *a) {
    size_t slot = a->off[2];
    char tmp[24], *d = tally__utoa_end((uint64_t)(a->nkeys_at - 3), tmp + sizeof tmp);
    size_t dn = (size_t)(tmp + sizeof tmp - d);
    char *o = a->buf + slot + SLOT - (4 + dn + 2);
    o[0] = '$';
    o[1] = (char)('0' + dn); /* numkeys < 10^5: one digit of length */
    o[2] = '\r';
    o[3] = '\n';
    memcpy(o + 4, d, dn);
    o[4 + dn] = '\r';
    o[5 + dn] = '\n';
    a->off[2] = (size_t)(o + 4 - a->buf);
    a->lens[2] = dn;
    size_t gap = (size_t)(o - a->buf) - slot;
    memmove(a->buf + HEAD + gap, a->buf + HEAD, slot - HEAD);
    a->off[0] += gap;
    a->off[1] += gap;
    return HEAD + gap;
}

const char *tally__args_resp(tally_args *a, size_t *n) {
    if (!a->start) {
        size_t start = a->nkeys_at >= 3 ? fill_numkeys(a) : HEAD;
        char tmp[24], *d = tally__utoa_end((uint64_t)a->argc, tmp + sizeof tmp);
        size_t dn = (size_t)(tmp + sizeof tmp - d);
        start -= dn + 3;
        a->buf[start] = '*';
        memcpy(a->buf + start + 1, d, dn);
        a->buf[start + 1 + dn] = '\r';
        a->buf[start + 2 + dn] = '\n';
        a->start = start;
    }
    *n = a->len - a->start;
    return a->buf + a->start;
}

void tally__args_doing(const tally_args *a, char *buf, size_t n) {
    snprintf(buf, n, "running %.*s", (int)(a->lens[0] < 20 ? a->lens[0] : 20), a->buf + a->off[0]);
}
