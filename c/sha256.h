/* sha256.h -- SHA-256 (FIPS 180-4), incremental. It makes the request-id
 * fingerprints (keys.c, docs/keys.md "Idempotency"): a digest nobody can
 * collide on purpose, so an id a client chooses never passes for another.
 * Layer: pure; no I/O. */
#ifndef TALLY_SHA256_H
#define TALLY_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t bytes;          /* message length so far */
    unsigned char block[64]; /* the partial block: bytes % 64 of them */
} tally_sha256;

/* The compression of one 64-byte block into the state h: with the x86 SHA
 * extensions where the processor has them, unless `portable` (the tests
 * compare the two); the same result either way. */
void tally__sha256_compress(uint32_t h[8], const unsigned char b[64], int portable);

void tally__sha256_init(tally_sha256 *s);
void tally__sha256_add(tally_sha256 *s, const void *p, size_t n);
/* The digest of everything added, into out[32]; s must be initialised again
 * before further use. */
void tally__sha256_end(tally_sha256 *s, unsigned char out[32]);

#endif
