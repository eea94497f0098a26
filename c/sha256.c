/* sha256.c -- SHA-256 as FIPS 180-4 specifies it (sha256.h). Written here
 * rather than taken from a crypto library: hiredis 0.14 brings none, and the
 * request-id fingerprint needs this one function only. Checked against the
 * standard's test vectors in tests/test_keys.c. */
#include "sha256.h"

#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* One round: t1 into d (the next e) and into h (the next a); the caller
 * renames the eight words instead of moving them (8 rounds per pass). Ch and
 * Maj in their forms with fewer operations. */
#define ROUND(a, b, c, d, e, f, g, h, i)                                                                         \
    do {                                                                                                       \
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + (g ^ (e & (f ^ g))) + K[i] + w[i];           \
        d += t1;                                                                                               \
        h = t1 + (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) | (c & (a | b)));                            \
    } while (0)

static void compress(uint32_t h[8], const unsigned char *b) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i += 8) {
        ROUND(a, bb, c, d, e, f, g, k, i);
        ROUND(k, a, bb, c, d, e, f, g, i + 1);
        ROUND(g, k, a, bb, c, d, e, f, i + 2);
        ROUND(f, g, k, a, bb, c, d, e, i + 3);
        ROUND(e, f, g, k, a, bb, c, d, i + 4);
        ROUND(d, e, f, g, k, a, bb, c, i + 5);
        ROUND(c, d, e, f, g, k, a, bb, i + 6);
        ROUND(bb, c, d, e, f, g, k, a, i + 7);
    }
    h[0] += a, h[1] += bb, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void tally__sha256_init(tally_sha256 *s) {
    static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(s->h, h0, sizeof h0);
    s->bytes = 0;
}

void tally__sha256_add(tally_sha256 *s, const void *p, size_t n) {
    const unsigned char *b = p;
    while (n) {
        size_t at = (size_t)(s->bytes % 64), take = 64 - at < n ? 64 - at : n;
        if (at == 0 && n >= 64) {
            compress(s->h, b); /* a whole block straight from the input */
            take = 64;
        } else {
            memcpy(s->block + at, b, take);
            if (at + take == 64) compress(s->h, s->block);
        }
        s->bytes += take, b += take, n -= take;
    }
}

void tally__sha256_end(tally_sha256 *s, unsigned char out[32]) {
    uint64_t bits = s->bytes * 8;
    static const unsigned char pad[64] = { 0x80 };
    size_t at = (size_t)(s->bytes % 64);
    tally__sha256_add(s, pad, at < 56 ? 56 - at : 120 - at); /* to 56 mod 64 */
    unsigned char len[8];
    for (int i = 7; i >= 0; i--, bits >>= 8) len[i] = (unsigned char)bits;
    tally__sha256_add(s, len, 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(s->h[i] >> (24 - 8 * j));
}
