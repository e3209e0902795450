/* SPDX-License-Identifier: MIT */
/*
 * Description: the http plugin's block scanners as plain functions of the
 * class (a constant inside each call, the way the parser calls them), the
 * list of those this CPU runs, and the reference they must agree with,
 * for the SIMD unit test and fuzz target. Include after http/parse.c.
 */
#ifndef ZG_TEST_SCAN_FNS_H
#define ZG_TEST_SCAN_FNS_H

typedef const unsigned char *(*zg_scan_fn)(zg_http_blk_t *b,
                                           const unsigned char *lo,
                                           const unsigned char *p,
                                           const unsigned char *end,
                                           unsigned cls);

#define ZG_SCAN_FN(isa, attr)                                                  \
    static attr const unsigned char *zg_scan_##isa(                            \
        zg_http_blk_t *b, const unsigned char *lo, const unsigned char *p,     \
        const unsigned char *end, unsigned cls)                                \
    {                                                                          \
        if (cls == ZG_HTTP_C_TOKEN)                                            \
            return zg_http_##isa##_find(b, lo, p, end, ZG_HTTP_C_TOKEN);       \
        if (cls == ZG_HTTP_C_TARGET)                                           \
            return zg_http_##isa##_find(b, lo, p, end, ZG_HTTP_C_TARGET);      \
        return zg_http_##isa##_find(b, lo, p, end, ZG_HTTP_C_FVAL);            \
    }

ZG_SCAN_FN(scalar, )
#if ZG_HTTP_HAVE_X86
ZG_SCAN_FN(sse2, )
ZG_SCAN_FN(avx2, ZG_HTTP_AVX2)
#endif

/* fns gets every scanner this CPU runs, the scalar one first; returns
 * how many (at most ZG_HTTP_SIMD_N). */
static inline int zg_scan_fns(zg_scan_fn *fns)
{
    int n = 0;

    fns[n++] = zg_scan_scalar;
#if ZG_HTTP_HAVE_X86
    fns[n++] = zg_scan_sse2;
    if (zg_http_simd_supported(ZG_HTTP_SIMD_AVX2))
        fns[n++] = zg_scan_avx2;
#endif
    return n;
}

/* The reference: the first byte from p outside cls, straight from the
 * class table. */
static inline const unsigned char *
zg_scan_ref(const unsigned char *p, const unsigned char *end, unsigned cls)
{
    while (p < end && (zg_http_ctab[*p] & cls))
        p++;
    return p;
}

#endif
