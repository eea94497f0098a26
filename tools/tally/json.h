/* json.h -- the tally tool's JSON output, built in one place: a writer that
 * places the commas and colons, escapes strings, and ends each document with
 * a newline; and the one rendering of a statistics bucket. */
#ifndef TALLY_JSON_H
#define TALLY_JSON_H

#include <stdint.h>
#include <stdio.h>

#include "tally.h"

#define JSON_DEPTH 8

typedef struct json_out {
    FILE *f;
    int depth;
    int members[JSON_DEPTH]; /* values written so far at each open level */
    char closer[JSON_DEPTH]; /* '}' or ']' for each open level */
} json_out;

/* Nesting deeper than JSON_DEPTH - 1 levels is a bug of the caller; the
 * tool's documents nest at most three. */

void json_begin(json_out *j, FILE *f);
/* Each value is a member named `key` of the enclosing object, or an element
 * (key NULL) of the enclosing array or the whole document. */
void json_object(json_out *j, const char *key);
void json_array(json_out *j, const char *key);
/* Closes the innermost object or array; closing the outermost ends the line. */
void json_close(json_out *j);
void json_str(json_out *j, const char *key, const char *s);
void json_int(json_out *j, const char *key, int64_t v);
void json_bool(json_out *j, const char *key, int v);
void json_null(json_out *j, const char *key);
/* A number given as its literal text, e.g. "0.09". */
void json_number(json_out *j, const char *key, const char *literal);
/* Money as a decimal USD string ("1.75"); key_nanos, when not NULL, also
 * names the integer nano-USD. */
void json_usd(json_out *j, const char *key, const char *key_nanos, int64_t nanos);
/* The fields of a bucket: requests, input_tokens, output_tokens,
 * cache_create_tokens, cache_read_tokens, total_tokens, cost, cost_nanos. */
void json_bucket(json_out *j, const tally_bucket *b);

#endif
