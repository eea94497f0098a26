/* table.c -- growable arrays and open-addressing hash tables (linear probing,
 * at most half full), byte vectors and a counting sort, for the batch
 * aggregation. */
#include <stdlib.h>
#include <string.h>

#include "table.h"

int tally__vec_reserve(tally_vec *v, size_t n, size_t size) {
    if (n <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < n) cap *= 2;
    void *p = realloc(v->p, cap * size);
    if (!p) return -1;
    v->p = p;
    v->cap = cap;
    return 0;
}

int tally__vec_push(tally_vec *v, const void *elem, size_t size) {
    if (v->n == v->cap && tally__vec_reserve(v, v->n + 1, size) < 0) return -1;
    memcpy((char *)v->p + v->n++ * size, elem, size);
    return 0;
}

int tally__map_grow(tally_map *m) {
    size_t cap = m->cap ? m->cap * 2 : 256;
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint32_t *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->vals[i]) continue;
        size_t j = tally__map_spread(m->keys[i], cap);
        while (vals[j]) j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

void tally__map_clear(tally_map *m) {
    if (m->n) memset(m->vals, 0, m->cap * sizeof *m->vals);
    m->n = 0;
}

void tally__map_free(tally_map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int tally__text_add(tally_vec *v, const void *p, size_t n) {
    if (tally__vec_reserve(v, v->n + n, 1) < 0) return -1;
    memcpy((char *)v->p + v->n, p, n);
    v->n += n;
    return 0;
}

int tally__vec_order_by(tally_vec *order, tally_vec *start, size_t owners, size_t n,
                    uint32_t (*owner)(const void *ctx, size_t r), const void *ctx) {
    if (tally__vec_reserve(start, owners + 1, sizeof(uint32_t)) < 0 || tally__vec_reserve(order, n, sizeof(uint32_t)) < 0)
        return -1;
    uint32_t *st = start->p, *o = order->p;
    memset(st, 0, (owners + 1) * sizeof *st);
    for (size_t r = 0; r < n; r++) st[owner(ctx, r) + 1]++;
    for (size_t k = 0; k < owners; k++) st[k + 1] += st[k];
    for (size_t r = 0; r < n; r++) o[st[owner(ctx, r)]++] = (uint32_t)r;
    for (size_t k = owners; k > 0; k--) st[k] = st[k - 1];
    st[0] = 0;
    return 0;
}
