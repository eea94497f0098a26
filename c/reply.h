/* reply.h -- Redis replies as the library sees them: hiredis's redisReply, and
 * an error reply turned into a code and a message. Layer: pure; no handle. */
#ifndef TALLY_REPLY_H
#define TALLY_REPLY_H

#include <hiredis/hiredis.h>

#include "tally.h"

/* What one reply may hold, whatever the server sends: array elements declared,
 * all levels together; bytes of string data; and unparsed input (the element
 * being received: no string the library reads comes near). A reply past a
 * bound is refused and the connection dropped, so a hostile or broken server
 * cannot make a call allocate more than 1,048,576 reply objects (72 MiB on
 * 64-bit, with their pointers), 64 MiB of strings and 4 MiB of input: about
 * 140 MiB. The largest legitimate reply, tally_metrics over 1440 minutes of
 * 256 shards, declares 737,281 elements. */
#define TALLY_REPLY_MAX_ELEMENTS 1048576
#define TALLY_REPLY_MAX_BYTES (64u << 20)
#define TALLY_REPLY_MAX_PENDING (4u << 20)

/* The part of those bounds the reply being read has used. */
typedef struct tally_reply_budget {
    size_t elements;
    size_t bytes;
    int refused;          /* 1: the reply went past a bound */
} tally_reply_budget;

/* Makes reader r build its replies within *b: hiredis's own reply objects
 * (freeReplyObject frees them), but an array declaring more elements, or a
 * string of more bytes, than the budget has left is refused before anything is
 * allocated for it, and the reader fails. Zero *b before each reply. */
void tally__reply_bound(redisReader *r, tally_reply_budget *b);

/* 1 when r is an error reply whose text starts with `word` ("NOSCRIPT"). */
int tally__reply_is(const redisReply *r, const char *word);
/* Replies decoded in one place: a feature declares the shape it expects and
 * reads the elements only after the reply fits it. A shape is a letter per
 * element of an array, in order: 'i' an integer, 's' a bulk string, 'a' an
 * array, '.' anything; its last letter stands for every further element
 * ("i": all integers). */
/* 0 when r is an array of n elements of `shape`; TALLY_REPLY_NOT_ARRAY when
 * r is not an array of n elements; or k + 1 when element k is of another type. */
#define TALLY_REPLY_NOT_ARRAY (-1)
int tally__reply_misfit(const redisReply *r, size_t n, const char *shape);
/* 1 when r fits (misfit 0). */
int tally__reply_fits(const redisReply *r, size_t n, const char *shape);

/* What a reply to an EVALSHA asks for: use it (an answer, or an error to
 * report), load the scripts and send it again (NOSCRIPT: it did not run),
 * follow MOVED or ASK (to the node it names: window.c asks cluster.c
 * which), or wait and send it again (TRYAGAIN, CLUSTERDOWN). */
enum { TALLY_REPLY_USE, TALLY_REPLY_RELOAD, TALLY_REPLY_MOVED, TALLY_REPLY_ASK, TALLY_REPLY_WAIT };
int tally__reply_kind(const redisReply *r);

/* Maps an error reply to a code, with its message into msg (cap bytes):
 * LOADING -> ECONNECT (the command did not run), "EINVAL message" (the
 * scripts' refusals) -> EINVAL, NOAUTH/NOPERM/WRONGPASS -> EAUTH, any other
 * error -> EREDIS, a non-error reply -> ESCRIPT. Returns the code
 * (tally__reply_error, handle.h, sets them as the handle's error). */
int tally__reply_problem(const redisReply *r, char *msg, size_t cap);

#endif
