/* leases.c -- concurrency leases: tally_lease_acquire/renew/release marshal one
 * run of lua/lease.lua each. At most `limit` live leases per subject; a lease is
 * a member of a sorted set scored by its expiry in server time, so the lease of a
 * holder that crashed is reclaimed by the next call once it has ended.
 *
 * Key (keys.c, docs/keys.md), under the subject's hash tag: a sorted set of
 * lease id -> expiry (us). A lease id is 128 bits from the kernel's random
 * source, in hex, drawn here: only its holder can renew or release it, since
 * no one can guess it. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "bounds.h"
#include "exec.h"
#include "keys.h"

/* What a call does, and its name as lease.lua's ARGV[1] takes it. */
typedef enum { LEASE_ACQUIRE, LEASE_RENEW, LEASE_RELEASE } mode;
static const char *const mode_names[] = { "acquire", "renew", "release" };

/* Builds lease.lua's call up to and including ARGV[2] (now). 0 or -1 (memory). */
static int start(tally *t, mode m, const char *key) {
    char base[TALLY_ENTITY_MAX];
    size_t bn = tally__entity(&t->schema, TALLY_ENTITY_KEY, key, strlen(key), base);
    tally_args *a = &t->args;
    if (tally__args_script(a, TALLY_SCRIPT_LEASE) < 0 || tally__add_lease_key(a, base, bn) < 0) return -1;
    tally__args_end_keys(a);
    if (tally__args_str(a, mode_names[m]) < 0 || tally__args_i64(a, t->test_now_us) < 0) return -1;
    return 0;
}

/* Writes a new lease id into id[33]: 128 bits from getrandom(2) as 32
 * lowercase hex digits. TALLY_OK, or TALLY_ESYSTEM when the kernel gave no
 * random bytes (then nothing is sent). */
static int new_id(tally *t, char id[33]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char bits[16];
    size_t got = 0;
    while (got < sizeof bits) {
        ssize_t n = getrandom(bits + got, sizeof bits - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return tally__fail(t, TALLY_ESYSTEM, "no random bytes for a lease id (getrandom: errno %d)", errno);
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof bits; i++) {
        id[2 * i] = hex[bits[i] >> 4];
        id[2 * i + 1] = hex[bits[i] & 15];
    }
    id[32] = '\0';
    return TALLY_OK;
}

static int check_id(tally *t, const char *id) {
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n >= TALLY_LEASE_ID_MAX)
        return tally__fail(t, TALLY_EINVAL, "lease id must be 1 to %d bytes", TALLY_LEASE_ID_MAX - 1);
    return TALLY_OK;
}

static int check_ms(tally *t, int64_t lease_ms) {
    if (lease_ms < 1 || lease_ms > TALLY_WINDOW_MAX_MS)
        return tally__fail(t, TALLY_EINVAL, "lease must be 1 ms to 365 days");
    return TALLY_OK;
}

/* Runs the call built in t->args and fills out from the reply; the shapes are
 * in lua/lease.lua's header. Returns TALLY_OK or the error. *out is cleared
 * only here, after the arguments were copied, so `id` (renew and release: kept
 * in out->id) may point into *out. */
static int run(tally *t, int acquire, const char *id, tally_lease *out) {
    char keep[TALLY_LEASE_ID_MAX] = "";
    if (id) memcpy(keep, id, strlen(id) + 1); /* checked shorter by check_id() */
    memset(out, 0, sizeof *out);
    memcpy(out->id, keep, sizeof keep);
    redisReply *r = tally__eval(t, &t->args);
    if (!r) return t->err;
    /* acquire: {ok, id, retry or expiry, holders, now}; renew, release: no id */
    int rc = TALLY_OK, misfit = acquire ? tally__reply_misfit(r, 5, "isi") : tally__reply_misfit(r, 4, "i");
    if (misfit == TALLY_REPLY_NOT_ARRAY) rc = tally__fail(t, TALLY_ESCRIPT, "lease: unexpected reply shape");
    else if (misfit) rc = tally__fail(t, TALLY_ESCRIPT, "lease: unexpected reply element %d", misfit - 1);
    if (rc == TALLY_OK && acquire && r->element[1]->len >= TALLY_LEASE_ID_MAX)
        rc = tally__fail(t, TALLY_ESCRIPT, "lease: id too long");
    if (rc == TALLY_OK) {
        redisReply **e = r->element;
        out->ok = e[0]->integer == 1;
        size_t k = 1;
        if (acquire) {
            memcpy(out->id, e[1]->str, e[1]->len);
            out->id[e[1]->len] = '\0';
            k = 2;
        }
        if (acquire && !out->ok) out->retry_after_ms = e[k]->integer;
        else out->expires_at_us = e[k]->integer;
        out->holders = e[k + 1]->integer;
        out->server_time_us = e[k + 2]->integer;
    }
    freeReplyObject(r);
    return rc;
}

int tally_lease_acquire(tally *t, const char *key, int64_t limit, int64_t lease_ms, tally_lease *out) {
    int rc = tally__id_check(t, "key", key, key ? strlen(key) : 0);
    if (rc != TALLY_OK) return rc;
    if (limit < 1 || limit > TALLY_LEASE_LIMIT_MAX)
        return tally__fail(t, TALLY_EINVAL, "lease limit must be 1 to %d", TALLY_LEASE_LIMIT_MAX);
    if ((rc = check_ms(t, lease_ms)) != TALLY_OK) return rc;
    char id[33];
    if ((rc = new_id(t, id)) != TALLY_OK) return rc;
    if (start(t, LEASE_ACQUIRE, key) < 0 || tally__args_i64(&t->args, limit) < 0 ||
        tally__args_i64(&t->args, lease_ms) < 0 || tally__args_add(&t->args, id, 32) < 0)
        return tally__oom(t);
    return run(t, 1, NULL, out);
}

int tally_lease_renew(tally *t, const char *key, const char *id, int64_t lease_ms, tally_lease *out) {
    int rc = tally__id_check(t, "key", key, key ? strlen(key) : 0);
    if (rc == TALLY_OK) rc = check_id(t, id);
    if (rc == TALLY_OK) rc = check_ms(t, lease_ms);
    if (rc != TALLY_OK) return rc;
    if (start(t, LEASE_RENEW, key) < 0 || tally__args_str(&t->args, id) < 0 ||
        tally__args_i64(&t->args, lease_ms) < 0)
        return tally__oom(t);
    return run(t, 0, id, out);
}

int tally_lease_release(tally *t, const char *key, const char *id, tally_lease *out) {
    int rc = tally__id_check(t, "key", key, key ? strlen(key) : 0);
    if (rc == TALLY_OK) rc = check_id(t, id);
    if (rc != TALLY_OK) return rc;
    if (start(t, LEASE_RELEASE, key) < 0 || tally__args_str(&t->args, id) < 0) return tally__oom(t);
    return run(t, 0, id, out);
}
