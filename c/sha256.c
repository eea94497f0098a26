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

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#define SHA_NI 1

/* 1 when the processor has the SHA extensions and SSE4.1 (CPUID leaf 7 EBX
 * bit 29, leaf 1 ECX bit 19), asked once: CPUID is slow, and a virtual
 * machine's exits on it. Threads that race to ask store the same answer. */
static int has_sha_ni(void) {
    static _Atomic int known = -1;
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (v < 0) {
        unsigned a, b, c, d;
        v = __get_cpuid(1, &a, &b, &c, &d) && (c & 1u << 19) && __get_cpuid_count(7, 0, &a, &b, &c, &d) &&
            (b & 1u << 29);
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v;
}

/* The same compression with the x86 SHA extensions (Intel SHA-NI, AMD since
 * Zen), when the processor has them (tally__sha256_compress): a request id's
 * fingerprint, one block, took 66-71 ns instead of 256-263 here. The state is
 * held as Intel's guide to the extensions holds it: ABEF and CDGH. */
__attribute__((target("sha,sse4.1"))) static void compress_ni(uint32_t h[8], const unsigned char *b) {
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bll, 0x0405060700010203ll); /* big-endian words */
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* B A D C */
    __m128i cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* H G F E */
    __m128i abef = _mm_alignr_epi8(t, cdgh, 8);                                  /* F E B A */
    cdgh = _mm_blend_epi16(cdgh, t, 0xF0);                                         /* H G D C */
    const __m128i abef0 = abef, cdgh0 = cdgh;
    /* Four rounds of group g with its message words w (W[4g .. 4g+3]). */
#define ROUNDS4(w, g)                                                                     \
    do {                                                                                  \
        __m128i wk = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&K[4 * (g)]));     \
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk); /* two rounds: the new ABEF */      \
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));            \
    } while (0)
    /* W[i] = s1(W[i-2]) + W[i-7] + s0(W[i-15]) + W[i-16], four at a time: the
     * group 4 before (a), 3 before (b), 2 before (c) and the last one (d) */
#define NEXT(a, b, c, d) \
    (a = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(a, b), _mm_alignr_epi8(d, c, 4)), d))
    __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)b), swap);
    __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 16)), swap);
    __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 32)), swap);
    __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 48)), swap);
    ROUNDS4(m0, 0);
    ROUNDS4(m1, 1);
    ROUNDS4(m2, 2);
    ROUNDS4(m3, 3);
    for (int g = 4; g < 16; g += 4) {
        ROUNDS4(NEXT(m0, m1, m2, m3), g);
        ROUNDS4(NEXT(m1, m2, m3, m0), g + 1);
        ROUNDS4(NEXT(m2, m3, m0, m1), g + 2);
        ROUNDS4(NEXT(m3, m0, m1, m2), g + 3);
    }
#undef ROUNDS4
#undef NEXT
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
    t = _mm_shuffle_epi32(abef, 0x1B);  /* A B E F */
    cdgh = _mm_shuffle_epi32(cdgh, 0xB1); /* G H C D */
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(t, cdgh, 0xF0)); /* A B C D */
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(cdgh, t, 8));    /* E F G H */
}
#endif

void tally__sha256_compress(uint32_t h[8], const unsigned char b[64], int portable) {
#ifdef SHA_NI
    if (!portable && has_sha_ni()) {
        compress_ni(h, b);
        return;
    }
#else
    (void)portable;
#endif
    compress(h, b);
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
            tally__sha256_compress(s->h, b, 0); /* a whole block straight from the input */
            take = 64;
        } else {
            memcpy(s->block + at, b, take);
            if (at + take == 64) tally__sha256_compress(s->h, s->block, 0);
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
