/* reply.h -- Redis replies as the library sees them: hiredis's redisReply, and
 * an error reply turned into the handle's error. */
#ifndef TALLY_REPLY_H
#define TALLY_REPLY_H

#include <hiredis/hiredis.h>

#include "handle.h"

/* 1 when r is an error reply whose text starts with `word` ("NOSCRIPT"). */
int tally__reply_is(const redisReply *r, const char *word);
/* Maps an error reply to a code and sets the handle's error: LOADING ->
 * ECONNECT (the command did not run), "EINVAL message" (the scripts' refusals)
 * -> EINVAL, NOAUTH/NOPERM/WRONGPASS -> EAUTH, any other error -> EREDIS, a
 * non-error reply -> ESCRIPT. Returns the code. */
int tally__reply_error(tally *t, const redisReply *r);

#endif
