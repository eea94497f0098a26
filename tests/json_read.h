/* json_read.h -- a small JSON reader for the tests: the tool's --json output
 * is parsed and compared as data (member order and spacing do not matter),
 * never as exact text. Numbers keep their literal text. */
#ifndef TALLY_JSON_READ_H
#define TALLY_JSON_READ_H

#include <stddef.h>

enum { TJ_NULL, TJ_BOOL, TJ_NUMBER, TJ_STRING, TJ_ARRAY, TJ_OBJECT };

typedef struct tj {
    int type;
    char *text;        /* TJ_NUMBER: the literal; TJ_STRING: the decoded bytes */
    int boolean;       /* TJ_BOOL */
    size_t n;          /* TJ_ARRAY, TJ_OBJECT: how many items */
    struct tj *items;  /* elements, or member values */
    char **keys;       /* TJ_OBJECT: member names */
} tj;

/* Parses one JSON document (white space around it allowed); NULL when it is
 * not exactly one valid value. Free with tj_free(). */
tj *tj_parse(const char *text);
void tj_free(tj *v);

/* Structural equality: same types, numbers with the same literal, strings
 * with the same bytes, arrays in order, objects with the same members in any
 * order. */
int tj_equal(const tj *a, const tj *b);

/* Member `key` of an object, element i of an array; NULL when absent. */
const tj *tj_get(const tj *obj, const char *key);
const tj *tj_at(const tj *arr, size_t i);

/* The value of a number (fails the test unless an integer), a string
 * (fails unless a string) or a boolean (fails unless true or false), of
 * member `key` of obj. */
long long tj_int(const tj *obj, const char *key);
const char *tj_str(const tj *obj, const char *key);
int tj_bool(const tj *obj, const char *key);

/* Fails the test unless `actual` is one JSON document equal to `expected`. */
void tj_assert_equal(const char *actual, const char *expected);

#endif
