/* table.h -- growable arrays and open-addressing hash tables with 64-bit keys,
 * reused from call to call (clearing keeps the memory). Pure: no I/O. */
#ifndef TALLY_TABLE_H
#define TALLY_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct tally_vec {
    void *p;
    size_t n, cap; /* in elements */
} tally_vec;

/* Appends one element of `size` bytes (every push to a vec uses the same size).
 * 0, or -1 when memory ran out (the vec is unchanged). */
int tally__vec_push(tally_vec *v, const void *elem, size_t size);
/* Makes room for n elements; 0 or -1. */
int tally__vec_reserve(tally_vec *v, size_t n, size_t size);

/* Maps a 64-bit key to a value 1..2^32-1; 0 means "absent". Keys that are
 * hashes of something longer may collide: a `same` callback then tells whether
 * the entry with value v is the one sought. */
typedef struct tally_map {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n;
} tally_map;

typedef int (*tally_same_fn)(void *ctx, uint32_t value_minus_1, const void *sought);

/* Doubles the table (table.c; 256 slots first). 0 or -1 (OOM). */
int tally__map_grow(tally_map *m);

/* A 64-bit finaliser (murmur3's): consecutive keys spread over the table. */
static inline size_t tally__map_spread(uint64_t k, size_t cap) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

/* The value slot of key: *slot is 0 when the key was absent, and the caller
 * then stores its value there (the entry exists from now on). With same, an
 * entry counts only if same(ctx, value - 1, sought). NULL when memory ran out.
 * Inline: a batch looks up ~50 entries per event, and most callers pass no
 * `same` (linear probing, the table at most half full). */
static inline uint32_t *tally__map_find(tally_map *m, uint64_t key, tally_same_fn same, void *ctx, const void *sought) {
    if (2 * (m->n + 1) > m->cap && tally__map_grow(m) < 0) return NULL;
    size_t i = tally__map_spread(key, m->cap);
    while (m->vals[i]) {
        if (m->keys[i] == key && (!same || same(ctx, m->vals[i] - 1, sought))) return &m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    /* an empty slot: the caller fills it, so count the entry now */
    m->keys[i] = key;
    m->n++;
    return &m->vals[i];
}
void tally__map_clear(tally_map *m);
void tally__map_free(tally_map *m);

/* FNV-1a, the library's only definition of it. 64 bits, of n bytes,
 * continuing from h (TALLY_FNV64_BASIS to start): the tables' string keys (a
 * `same` callback settles collisions), and the request-id fields of tally
 * before 16-byte fingerprints (keys.c). Not a fingerprint of anything a client
 * chooses: colliding inputs are easy to find. tally__fnv64_str hashes a
 * NUL-terminated string. 32 bits: the shard of an API key (keys.c). */
#define TALLY_FNV64_BASIS 14695981039346656037ull
static inline uint64_t tally__fnv64(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}
static inline uint64_t tally__fnv64_str(uint64_t h, const char *s) {
    return tally__fnv64(h, s, strlen(s));
}
static inline uint32_t tally__fnv32(const void *p, size_t n) {
    const unsigned char *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
    return h;
}

/* Element i of vector v, whose elements are of `type`. */
#define AT(v, type, i) (((type *)(v).p)[i])

/* Appends n bytes to a byte vector. 0 or -1 (OOM). */
int tally__text_add(tally_vec *v, const void *p, size_t n);

/* Counting sort: records 0..n-1 by owner(ctx, r) (below `owners`) into order;
 * the records of owner o are order[start[o] .. start[o + 1]) (uint32_t each).
 * 0 or -1 (OOM). */
int tally__vec_order_by(tally_vec *order, tally_vec *start, size_t owners, size_t n,
                    uint32_t (*owner)(const void *ctx, size_t r), const void *ctx);

#endif
