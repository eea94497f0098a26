/* json_reader.h -- the one strict JSON reader of the project: price tables
 * (price_table_json.c), the tool's NDJSON events (tools/tally/ndjson.c) and
 * the tests' reading of --json output (tests/json_read.c) all read with it.
 * A cursor over the text; the caller walks objects and arrays itself (peek,
 * expect) and takes strings decoded and numbers as their literal text, never
 * through a double. Layer: pure; no I/O, no allocation. */
#ifndef TALLY_JSON_READER_H
#define TALLY_JSON_READER_H

#include <stddef.h>

#define TALLY_JSON_DEPTH_MAX 64

typedef struct tally_json {
    const char *start, *p, *end;
    int depth;            /* of tally__json_skip's nesting */
    char *err;            /* the message of a problem (cap bytes) */
    size_t cap;
} tally_json;

/* A cursor over text[0..n), writing problems into err (cap bytes; may be 0). */
void tally__json_init(tally_json *j, const char *text, size_t n, char *err, size_t cap);
/* Writes the message and returns -1. */
int tally__json_fail(tally_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Skips white space (space, tab, CR, LF). */
void tally__json_ws(tally_json *j);
/* After white space: 1 when the next byte is c (not consumed). */
int tally__json_peek(tally_json *j, char c);
/* After white space: consumes c, or fails naming the byte where it was expected. */
int tally__json_expect(tally_json *j, char c);

/* tally__json_string's answer when the decoded string does not fit in buf
 * (no message: the caller says what was too long). */
#define TALLY_JSON_FULL (-2)
/* A string (after white space, at its opening quote) decoded into buf (cap bytes, NUL-terminated;
 * *len its length): escapes, \u escapes as UTF-8 with surrogate pairs; a
 * control character, a bad escape, an unpaired surrogate or \u0000 is
 * refused. 0, -1 with the message, or TALLY_JSON_FULL. */
int tally__json_string(tally_json *j, char *buf, size_t cap, size_t *len);
/* A number's literal text (the bytes of 0-9 + - . e E at the cursor) into
 * buf; the caller's parser judges it (tally__json_number_strict: RFC 8259's
 * grammar). 0, -1 (none there) or TALLY_JSON_FULL. */
int tally__json_number(tally_json *j, char *buf, size_t cap, size_t *len);
/* A string or a number (after white space): *quoted says which. */
int tally__json_scalar(tally_json *j, char *buf, size_t cap, size_t *len, int *quoted);
/* 1 when text is a number by RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
int tally__json_number_strict(const char *text);
/* true, false or null at the cursor (after white space): consumed, and
 * 1, 0 or 2 returned; -1 (nothing consumed) when it is none of them. */
#define TALLY_JSON_NULL 2
int tally__json_literal(tally_json *j);
/* Skips one value of any kind, nested at most TALLY_JSON_DEPTH_MAX deep. 0 or -1. */
int tally__json_skip(tally_json *j);

#endif
