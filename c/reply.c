/* reply.c -- Redis replies as the library sees them: built within a budget,
 * whatever the server sends, and error replies turned into a code and a
 * message (handle.c sets them as the handle's error). Layer: pure.
 *
 * hiredis 0.14's reader allocates an array's element pointers as soon as it
 * reads "*N": a reply announcing *2147483647 makes it allocate and walk 16 GB.
 * The reader takes a table of object constructors (r->fn); ours build the same
 * redisReply objects hiredis does (so freeReplyObject frees them), after
 * checking the declared size against the reply's budget (the reader's
 * privdata, handed to every task). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

int tally__reply_is(const redisReply *r, const char *word) {
    size_t n = strlen(word);
    return r->type == REDIS_REPLY_ERROR && r->len >= n && memcmp(r->str, word, n) == 0;
}

int tally__reply_kind(const redisReply *r) {
    if (r->type != REDIS_REPLY_ERROR) return TALLY_REPLY_USE;
    if (tally__reply_is(r, "NOSCRIPT")) return TALLY_REPLY_RELOAD;
    if (tally__reply_is(r, "TRYAGAIN") || tally__reply_is(r, "CLUSTERDOWN")) return TALLY_REPLY_WAIT;
    if (tally__reply_is(r, "MOVED ")) return TALLY_REPLY_MOVED;
    if (tally__reply_is(r, "ASK ")) return TALLY_REPLY_ASK;
    return TALLY_REPLY_USE;
}

int tally__reply_problem(const redisReply *r, char *msg, size_t cap) {
    if (tally__reply_is(r, "LOADING")) /* the command did not run: not reachable yet */
        return snprintf(msg, cap, "server not ready: %s", r->str), TALLY_ECONNECT;
    if (tally__reply_is(r, "EINVAL "))
        return snprintf(msg, cap, "%s", r->str[7] ? r->str + 7 : "invalid argument (empty message)"), TALLY_EINVAL;
    if (tally__reply_is(r, "NOAUTH") || tally__reply_is(r, "NOPERM") || tally__reply_is(r, "WRONGPASS"))
        return snprintf(msg, cap, "%s", r->str), TALLY_EAUTH;
    if (r->type == REDIS_REPLY_ERROR) /* never an empty message, whatever the server sent */
        return snprintf(msg, cap, "%s", r->str && r->str[0] ? r->str : "Redis error (empty message)"), TALLY_EREDIS;
    return snprintf(msg, cap, "unexpected reply of type %d", r->type), TALLY_ESCRIPT;
}

int tally__reply_misfit(const redisReply *r, size_t n, const char *shape) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) return TALLY_REPLY_NOT_ARRAY;
    size_t last = strlen(shape) - 1;
    for (size_t k = 0; k < n; k++) {
        int type = r->element[k]->type;
        switch (shape[k < last ? k : last]) {
        case 'i': if (type != REDIS_REPLY_INTEGER) return (int)k + 1; break;
        case 's': if (type != REDIS_REPLY_STRING) return (int)k + 1; break;
        case 'a': if (type != REDIS_REPLY_ARRAY) return (int)k + 1; break;
        default: break;
        }
    }
    return 0;
}

int tally__reply_fits(const redisReply *r, size_t n, const char *shape) {
    return tally__reply_misfit(r, n, shape) == 0;
}

/* Links a new object into its parent array, as hiredis's constructors do. */
static void *attach(const redisReadTask *task, redisReply *r) {
    if (task->parent) ((redisReply *)task->parent->obj)->element[task->idx] = r;
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len) {
    tally_reply_budget *b = task->privdata;
    if (len > TALLY_REPLY_MAX_BYTES - b->bytes) {
        b->refused = 1;
        return NULL;
    }
    b->bytes += len;
    redisReply *r = calloc(1, sizeof *r);
    char *copy = r ? malloc(len + 1) : NULL;
    if (!copy) {
        free(r);
        return NULL;
    }
    memcpy(copy, str, len);
    copy[len] = '\0';
    r->type = task->type; /* string, status or error */
    r->str = copy;
    r->len = len;
    return attach(task, r);
}

static void *create_array(const redisReadTask *task, int elements) {
    tally_reply_budget *b = task->privdata;
    size_t n = elements > 0 ? (size_t)elements : 0;
    if (n > TALLY_REPLY_MAX_ELEMENTS - b->elements) {
        b->refused = 1;
        return NULL;
    }
    b->elements += n;
    redisReply *r = calloc(1, sizeof *r);
    if (!r || (n && !(r->element = calloc(n, sizeof *r->element)))) {
        free(r);
        return NULL;
    }
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    return attach(task, r);
}

static void *create_integer(const redisReadTask *task, long long value) {
    redisReply *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->type = REDIS_REPLY_INTEGER;
    r->integer = value;
    return attach(task, r);
}

static void *create_nil(const redisReadTask *task) {
    redisReply *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->type = REDIS_REPLY_NIL;
    return attach(task, r);
}

static redisReplyObjectFunctions bounded = { create_string, create_array, create_integer, create_nil,
                                             freeReplyObject };

void tally__reply_bound(redisReader *r, tally_reply_budget *b) {
    memset(b, 0, sizeof *b);
    r->fn = &bounded;
    r->privdata = b;
}
