/* SPDX-License-Identifier: MIT */
/*
 * Description: byte-class scanners for the request head parser: find the
 * first byte from p that is not a tchar, not a request-target byte or not
 * a field-value byte. Portable scalar code, and on x86-64 SSE2 (the
 * baseline) and AVX2 code (with target("avx2"), for callers chosen at run
 * time). The vector scanners classify a block of up to 64 bytes once into
 * one bit mask per class, kept in a zg_http_blk_t, so the many short
 * fields of a head that share a block cost a shift and a bit count each.
 * -DZG_HTTP_SCALAR_ONLY builds the portable code alone, as other
 * architectures get it (to test that build on x86-64).
 */
#ifndef ZG_HTTP_SCAN_H
#define ZG_HTTP_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

#if defined(__x86_64__) && !defined(ZG_HTTP_SCALAR_ONLY)
#define ZG_HTTP_HAVE_X86 1
#include <immintrin.h>
#else
#define ZG_HTTP_HAVE_X86 0
#endif

/* Scanners are small and called from a few places: always inlined. */
#define ZG_HTTP_INLINE inline __attribute__((always_inline))

/*
 * The block a vector scanner classified: bytes [bp, bp + w), w 16, 32 or
 * 64 (0: none yet). Bit i of out[k] is set when bp[i] is outside class
 * 1 << k (ZG_HTTP_C_TOKEN, _TARGET, _FVAL); a mask is computed the first
 * time it is asked for (have). Zero it before the first scan of a span
 * of memory, and use it only for that span.
 */
typedef struct zg_http_blk_s {
    const unsigned char *bp;
    unsigned w;
    unsigned have; /* ZG_HTTP_C_* bits of the masks computed */
    uint64_t out[3];
} zg_http_blk_t;

/*
 * Contract of every scanner zg_http_ISA_find(b, lo, p, end, cls): cls is
 * one of ZG_HTTP_C_TOKEN, _TARGET, _FVAL (a constant); lo <= p <= end,
 * the bytes [lo, end) are readable and b belongs to that span. Returns
 * the first q in [p, end) whose byte is not in cls (zg_http_ctab), or
 * end. Reads nothing outside [lo, end): when fewer than 64 bytes lie
 * between p and end, the block is the last 64 (or 32, 16) bytes of
 * [lo, end); a span shorter than 16 bytes is read byte by byte. end may
 * come down between calls with the same b (a block placed for a larger
 * end is still readable): a result never passes end. Pure but for b;
 * any thread.
 */

/* ---- scalar: one byte at a time through the class table ---- */

static ZG_HTTP_INLINE const unsigned char *
zg_http_scalar_find(zg_http_blk_t *b, const unsigned char *lo,
                    const unsigned char *p, const unsigned char *end,
                    unsigned cls)
{
    (void)b;
    (void)lo;
    while (p < end && (zg_http_ctab[*p] & cls))
        p++;
    return p;
}

/* Where the next block starts, and how wide it is, for a scan at p:
 * 0 if [lo, end) is shorter than 16 bytes. */
static ZG_HTTP_INLINE unsigned zg_http_blk_place(zg_http_blk_t *b,
                                                 const unsigned char *lo,
                                                 const unsigned char *p,
                                                 const unsigned char *end)
{
    size_t span = (size_t)(end - lo);
    unsigned w = span >= 64 ? 64 : span >= 32 ? 32 : span >= 16 ? 16 : 0;

    b->w = w;
    b->have = 0;
    b->bp = (size_t)(end - p) >= w ? p : end - w;
    return w;
}

/*
 * The loop every vector scanner shares; mask(bp, w, cls) classifies a
 * block. The mask's bits past w are clear, so a block with no byte
 * outside the class moves p to its end.
 */
#define ZG_HTTP_FIND_BODY(mask)                                                \
    do {                                                                       \
        const unsigned k = cls >> 1; /* 1, 2, 4: 0, 1, 2 */                    \
        uint64_t m;                                                            \
                                                                               \
        while (p < end) {                                                      \
            if (b->w == 0 || p < b->bp || p >= b->bp + b->w) {                 \
                if (zg_http_blk_place(b, lo, p, end) == 0)                     \
                    return zg_http_scalar_find(b, lo, p, end, cls);            \
            }                                                                  \
            if (!(b->have & cls)) {                                            \
                b->out[k] = mask(b->bp, b->w, cls);                            \
                b->have |= cls;                                                \
            }                                                                  \
            m = b->out[k] >> (p - b->bp);                                      \
            if (m != 0) {                                                      \
                p += __builtin_ctzll(m);                                       \
                return p < end ? p : end;                                      \
            }                                                                  \
            p = b->bp + b->w;                                                  \
        }                                                                      \
        return end;                                                            \
    } while (0)

#if ZG_HTTP_HAVE_X86

/*
 * The classes as SSE2 tests (lanes of 0xff where a byte is in the
 * class). SSE2 has no byte shuffle, so each class is the printable range
 * [0x21, 0x7e] less a few punctuation bytes, found by comparisons:
 * unsigned x <= k is min(x, k) == x; two bytes one bit apart are one
 * masked comparison.
 */
#define ZG_HTTP_V_LE(x, k)                                                     \
    _mm_cmpeq_epi8(_mm_min_epu8((x), _mm_set1_epi8((char)(k))), (x))
#define ZG_HTTP_V_EQ(x, k) _mm_cmpeq_epi8((x), _mm_set1_epi8((char)(k)))
/* x in [a, a + n] */
#define ZG_HTTP_V_IN(x, a, n)                                                  \
    ZG_HTTP_V_LE(_mm_sub_epi8((x), _mm_set1_epi8((char)(a))), n)
/* x & ~bit == k: k and k | bit */
#define ZG_HTTP_V_EQ2(x, bit, k)                                               \
    ZG_HTTP_V_EQ(_mm_and_si128((x), _mm_set1_epi8((char)~(bit))), k)
#define ZG_HTTP_V_OR4(a, b, c, d)                                              \
    _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))

/* Bit mask of the bytes of x outside cls. */
static ZG_HTTP_INLINE unsigned zg_http_sse2_out16(__m128i x, unsigned cls)
{
    __m128i in, bad;

    if (cls == ZG_HTTP_C_FVAL) {
        /* all but the controls other than HTAB, and DEL */
        bad = _mm_or_si128(
            _mm_andnot_si128(ZG_HTTP_V_EQ(x, 0x09), ZG_HTTP_V_LE(x, 0x1f)),
            ZG_HTTP_V_EQ(x, 0x7f));
        return (unsigned)_mm_movemask_epi8(bad);
    }
    if (cls == ZG_HTTP_C_TOKEN) {
        /* less "(),/:;<=>?@[\]{} and DQUOTE */
        bad = _mm_or_si128(
            ZG_HTTP_V_OR4(ZG_HTTP_V_EQ(x, 0x22), ZG_HTTP_V_EQ2(x, 0x01, 0x28),
                          ZG_HTTP_V_EQ(x, 0x2c), ZG_HTTP_V_EQ(x, 0x2f)),
            ZG_HTTP_V_OR4(ZG_HTTP_V_IN(x, 0x3a, 6), ZG_HTTP_V_IN(x, 0x5b, 2),
                          ZG_HTTP_V_EQ(x, 0x7b), ZG_HTTP_V_EQ(x, 0x7d)));
    } else {
        /* request-target: less "#<>\^`{|} and DQUOTE */
        bad = _mm_or_si128(ZG_HTTP_V_OR4(ZG_HTTP_V_EQ2(x, 0x01, 0x22),
                                         ZG_HTTP_V_EQ2(x, 0x02, 0x3c),
                                         ZG_HTTP_V_EQ2(x, 0x02, 0x5c),
                                         ZG_HTTP_V_EQ(x, 0x60)),
                           ZG_HTTP_V_IN(x, 0x7b, 2));
    }
    in = _mm_andnot_si128(bad, ZG_HTTP_V_IN(x, 0x21, 0x5d));
    return (unsigned)_mm_movemask_epi8(in) ^ 0xffffu;
}

static ZG_HTTP_INLINE uint64_t zg_http_sse2_mask(const unsigned char *bp,
                                                 unsigned w, unsigned cls)
{
    uint64_t m = 0;

    for (unsigned i = 0; i < w; i += 16)
        m |= (uint64_t)zg_http_sse2_out16(
                 _mm_loadu_si128((const __m128i *)(const void *)(bp + i)), cls)
             << i;
    return m;
}

static ZG_HTTP_INLINE const unsigned char *
zg_http_sse2_find(zg_http_blk_t *b, const unsigned char *lo,
                  const unsigned char *p, const unsigned char *end,
                  unsigned cls)
{
    ZG_HTTP_FIND_BODY(zg_http_sse2_mask);
}

#define ZG_HTTP_AVX2 __attribute__((target("avx2")))

/*
 * AVX2 has a byte shuffle: a byte b of 0x00..0x7f is in a class when bit
 * (b >> 4) of tab[b & 15] is set (bytes from 0x80 shuffle to 0: out).
 * These are zg_http_ctab's token and target bits so arranged. Field
 * values keep the comparisons (every byte from 0x80 is in).
 */
static const unsigned char zg_http_nib_token[16] = {
    0xe8, 0xfc, 0xf8, 0xfc, 0xfc, 0xfc, 0xfc, 0xfc,
    0xf8, 0xf8, 0xf4, 0x54, 0xd0, 0x54, 0xf4, 0x70};
static const unsigned char zg_http_nib_target[16] = {
    0xb8, 0xfc, 0xf8, 0xf8, 0xfc, 0xfc, 0xfc, 0xfc,
    0xfc, 0xfc, 0xfc, 0x7c, 0x54, 0x7c, 0xd4, 0x7c};
static const unsigned char zg_http_nib_row[16] = {
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0, 0, 0, 0, 0, 0, 0, 0};

#define ZG_HTTP_LD16(p) _mm_loadu_si128((const __m128i *)(const void *)(p))

/* Bit mask of the bytes of x (32 of them) outside cls. */
static ZG_HTTP_INLINE ZG_HTTP_AVX2 unsigned zg_http_avx2_out32(__m256i x,
                                                               unsigned cls)
{
    __m256i t, r, hi, bad;

    if (cls == ZG_HTTP_C_FVAL) {
        bad = _mm256_or_si256(
            _mm256_andnot_si256(
                _mm256_cmpeq_epi8(x, _mm256_set1_epi8(0x09)),
                _mm256_cmpeq_epi8(_mm256_min_epu8(x, _mm256_set1_epi8(0x1f)),
                                  x)),
            _mm256_cmpeq_epi8(x, _mm256_set1_epi8(0x7f)));
        return (unsigned)_mm256_movemask_epi8(bad);
    }
    t = _mm256_broadcastsi128_si256(ZG_HTTP_LD16(
        cls == ZG_HTTP_C_TOKEN ? zg_http_nib_token : zg_http_nib_target));
    r = _mm256_broadcastsi128_si256(ZG_HTTP_LD16(zg_http_nib_row));
    hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), _mm256_set1_epi8(0x0f));
    bad = _mm256_cmpeq_epi8(
        _mm256_and_si256(_mm256_shuffle_epi8(t, x), _mm256_shuffle_epi8(r, hi)),
        _mm256_setzero_si256());
    return (unsigned)_mm256_movemask_epi8(bad);
}

/* The same for 16 bytes. */
static ZG_HTTP_INLINE ZG_HTTP_AVX2 unsigned zg_http_avx2_out16(__m128i x,
                                                               unsigned cls)
{
    __m128i t, r, hi, bad;

    if (cls == ZG_HTTP_C_FVAL)
        return zg_http_sse2_out16(x, cls);
    t = ZG_HTTP_LD16(cls == ZG_HTTP_C_TOKEN ? zg_http_nib_token
                                            : zg_http_nib_target);
    r = ZG_HTTP_LD16(zg_http_nib_row);
    hi = _mm_and_si128(_mm_srli_epi16(x, 4), _mm_set1_epi8(0x0f));
    bad = _mm_cmpeq_epi8(
        _mm_and_si128(_mm_shuffle_epi8(t, x), _mm_shuffle_epi8(r, hi)),
        _mm_setzero_si128());
    return (unsigned)_mm_movemask_epi8(bad);
}

static ZG_HTTP_INLINE ZG_HTTP_AVX2 uint64_t
zg_http_avx2_mask(const unsigned char *bp, unsigned w, unsigned cls)
{
    if (w == 64)
        return zg_http_avx2_out32(
                   _mm256_loadu_si256((const __m256i *)(const void *)bp), cls) |
               (uint64_t)zg_http_avx2_out32(
                   _mm256_loadu_si256((const __m256i *)(const void *)(bp + 32)),
                   cls)
                   << 32;
    if (w == 32)
        return zg_http_avx2_out32(
            _mm256_loadu_si256((const __m256i *)(const void *)bp), cls);
    return zg_http_avx2_out16(ZG_HTTP_LD16(bp), cls);
}

static ZG_HTTP_INLINE ZG_HTTP_AVX2 const unsigned char *
zg_http_avx2_find(zg_http_blk_t *b, const unsigned char *lo,
                  const unsigned char *p, const unsigned char *end,
                  unsigned cls)
{
    ZG_HTTP_FIND_BODY(zg_http_avx2_mask);
}

#endif /* ZG_HTTP_HAVE_X86 */

#endif /* ZG_HTTP_SCAN_H */
