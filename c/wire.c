/* wire.c -- packing the numbers of a record call (wire.h): a JSON array of
 * whole numbers, which record.lua unpacks with one cjson.decode. Pure: no I/O. */
#include "wire.h"

#include "args.h"

int tally__wire_open(tally_vec *v) {
    v->n = 0;
    return tally__text_add(v, "[", 1);
}

int tally__wire_num(tally_vec *v, int64_t x) {
    char tmp[24], *p = tally__utoa_end((uint64_t)x, tmp + sizeof tmp);
    *--p = ','; /* the separator, dropped before the first number */
    if (v->n == 1) p++;
    return tally__text_add(v, p, (size_t)(tmp + sizeof tmp - p));
}

int tally__wire_close(tally_vec *v) { return tally__text_add(v, "]", 1); }
