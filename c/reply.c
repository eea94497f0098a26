/* reply.c -- Redis replies as the library sees them: error replies turned into
 * the handle's error. */
#include <string.h>

#include "reply.h"

int tally__reply_is(const redisReply *r, const char *word) {
    size_t n = strlen(word);
    return r->type == REDIS_REPLY_ERROR && r->len >= n && memcmp(r->str, word, n) == 0;
}

int tally__reply_error(tally *t, const redisReply *r) {
    if (tally__reply_is(r, "LOADING")) /* the command did not run: not reachable yet */
        return tally__fail(t, TALLY_ECONNECT, "server not ready: %s", r->str);
    if (tally__reply_is(r, "EINVAL "))
        return tally__fail(t, TALLY_EINVAL, "%s", r->str[7] ? r->str + 7 : "invalid argument (empty message)");
    if (tally__reply_is(r, "NOAUTH") || tally__reply_is(r, "NOPERM") || tally__reply_is(r, "WRONGPASS"))
        return tally__fail(t, TALLY_EAUTH, "%s", r->str);
    if (r->type == REDIS_REPLY_ERROR) /* never an empty message, whatever the server sent */
        return tally__fail(t, TALLY_EREDIS, "%s", r->str && r->str[0] ? r->str : "Redis error (empty message)");
    return tally__fail(t, TALLY_ESCRIPT, "unexpected reply of type %d", r->type);
}
