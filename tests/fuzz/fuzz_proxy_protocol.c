/* SPDX-License-Identifier: MIT */
/*
 * Description: libFuzzer target for the PROXY protocol header parser
 * (modules/proxy_protocol/parse.c). Input: byte 0 says how many of the
 * following bytes (0-7) steer the cuts, the rest is what a client sent.
 * Oracles: the outcome is the same whole, cut as steered (exact-size heap
 * views, empty ones among them) and one byte per view; a complete header
 * lies within the input and is complete exactly when its last byte
 * arrives; a prefix that asks for more can still be completed (checked
 * for the input, or for its longest such prefix); once refused, longer
 * inputs stay refused; and complete headers agree with a
 * plain reference check (inet_pton for v1 addresses, a flat TLV walk for
 * v2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../modules/proxy_protocol/parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX 8192 /* longest input driven */

static void fz_fail(const char *what, size_t n, long a, long b)
{
    fprintf(stderr, "fuzz_proxy_protocol: %s (input %zu bytes: %ld vs %ld)\n",
            what, n, a, b);
    abort();
}

/* out as the parser leaves it when it must not write: a fixed pattern */
static void fz_poison(zg_pp_result_t *r)
{
    memset(r, 0xa5, sizeof(*r));
}

static int fz_poisoned(const zg_pp_result_t *r)
{
    zg_pp_result_t p;

    fz_poison(&p);
    return memcmp(r, &p, sizeof(p)) == 0;
}

static int fz_same(long ra, const zg_pp_result_t *a, long rb,
                   const zg_pp_result_t *b)
{
    if (ra != rb)
        return 0;
    if (ra <= 0)
        return 1;
    return a->version == b->version && a->local == b->local &&
           a->proto == b->proto && a->src_len == b->src_len &&
           a->dst_len == b->dst_len && a->tlv_off == b->tlv_off &&
           a->tlv_len == b->tlv_len &&
           memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
           memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

/* Parse n bytes at s as one view. */
static long fz_flat(const uint8_t *s, size_t n, zg_pp_result_t *r)
{
    zg_view_t v = {s, n};
    zg_input_t in = {&v, 1, 0, n};
    long rc;

    fz_poison(r);
    rc = zg_pp_parse(&in, r);
    if (rc <= 0 && !fz_poisoned(r))
        fz_fail("out written without a complete header", n, rc, 0);
    return rc;
}

static zg_view_t fz_views[2 * FZ_MAX + 1];

/* Parse s cut into pieces, each its own exact-size heap block: lengths
 * from cuts (0 = one byte each); a cut byte with its top bit set also
 * puts an empty view before its piece. */
static long fz_cut(const uint8_t *s, size_t n, const uint8_t *cuts,
                   size_t ncuts, zg_pp_result_t *r)
{
    zg_input_t in;
    unsigned nv = 0;
    size_t pos = 0, k = 0;
    long rc;

    while (pos < n) {
        size_t len = 1;
        unsigned char *p;

        if (ncuts > 0) {
            uint8_t c = cuts[k++ % ncuts];

            if (c & 0x80) {
                fz_views[nv].data = NULL;
                fz_views[nv++].len = 0;
            }
            len = 1 + (c & 0x7f) % 64;
        }
        if (len > n - pos)
            len = n - pos;
        p = malloc(len);
        if (p == NULL)
            abort();
        memcpy(p, s + pos, len);
        fz_views[nv].data = p;
        fz_views[nv++].len = len;
        pos += len;
    }
    in.views = fz_views;
    in.nviews = nv;
    in.flags = 0;
    in.total = n;
    fz_poison(r);
    rc = zg_pp_parse(&in, r);
    if (rc <= 0 && !fz_poisoned(r))
        fz_fail("out written without a complete header (cut)", n, rc, 0);
    for (unsigned i = 0; i < nv; i++)
        free((void *)fz_views[i].data);
    return rc;
}

/* ---- reference checks of complete inputs ---- */

/* A v1 port as the spec writes it: 0..65535, no leading zero. */
static int fz_ref_port(const char *t, uint16_t *port)
{
    size_t len = strlen(t);
    unsigned long v = 0;

    if (len == 0 || len > 5 || (len > 1 && t[0] == '0'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] < '0' || t[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(t[i] - '0');
    }
    if (v > 65535)
        return 0;
    *port = (uint16_t)v;
    return 1;
}

/*
 * If s holds a whole v1 line, or 107 bytes without one, say what the
 * parser must answer: the line's length, or -EINVAL. Returns 1 and sets
 * *want (and *ref when valid), or 0 when that is not known yet.
 */
static int fz_ref_v1(const uint8_t *s, size_t n, long *want,
                     zg_pp_result_t *ref)
{
    char line[ZG_PP_V1_MAX_LEN + 1], *tok[8], *save = NULL;
    size_t end = 0, ntok = 0;
    int six;

    memset(ref, 0, sizeof(*ref));
    while (end < n && end < ZG_PP_V1_MAX_LEN && s[end] != '\r' &&
           s[end] != '\n')
        end++;
    *want = -EINVAL;
    if (end == ZG_PP_V1_MAX_LEN)
        return 1; /* no CRLF within 107 bytes */
    if (end == n || (s[end] == '\r' && end + 1 == n))
        return end + 2 > ZG_PP_V1_MAX_LEN;
    if (s[end] != '\r' || s[end + 1] != '\n' || end + 2 > ZG_PP_V1_MAX_LEN)
        return 1;
    /* a whole line of end bytes, without CR or LF */
    if (end >= 13 && memcmp(s, "PROXY UNKNOWN", 13) == 0) {
        if (end == 13 || s[13] == ' ') {
            *want = (long)end + 2;
            ref->version = 1;
            ref->local = 1;
        }
        return 1;
    }
    if (memchr(s, '\0', end) != NULL)
        return 1;
    memcpy(line, s, end);
    line[end] = '\0';
    /* single spaces: no empty token */
    if (strstr(line, "  ") != NULL || line[0] == ' ' ||
        (end > 0 && line[end - 1] == ' '))
        return 1;
    for (char *t = strtok_r(line, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save)) {
        if (ntok == 8)
            return 1;
        tok[ntok++] = t;
    }
    if (ntok != 6 || strcmp(tok[0], "PROXY") != 0)
        return 1;
    if (strcmp(tok[1], "TCP4") == 0)
        six = 0;
    else if (strcmp(tok[1], "TCP6") == 0)
        six = 1;
    else
        return 1;
    {
        unsigned char a[2][16];
        uint16_t p[2];

        if (inet_pton(six ? AF_INET6 : AF_INET, tok[2], a[0]) != 1 ||
            inet_pton(six ? AF_INET6 : AF_INET, tok[3], a[1]) != 1 ||
            !fz_ref_port(tok[4], &p[0]) || !fz_ref_port(tok[5], &p[1]))
            return 1;
        ref->version = 1;
        ref->proto = SOCK_STREAM;
        for (int i = 0; i < 2; i++) {
            struct sockaddr_storage *ss = i ? &ref->dst : &ref->src;
            socklen_t *sl = i ? &ref->dst_len : &ref->src_len;

            if (six) {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons(p[i]);
                memcpy(&a6->sin6_addr, a[i], 16);
                *sl = sizeof(*a6);
            } else {
                struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

                a4->sin_family = AF_INET;
                a4->sin_port = htons(p[i]);
                memcpy(&a4->sin_addr, a[i], 4);
                *sl = sizeof(*a4);
            }
        }
    }
    *want = (long)end + 2;
    return 1;
}

/*
 * If s holds a whole v2 header (by its length field), say what the parser
 * must answer, by a plain walk over the flat bytes. Returns 1 and sets
 * *want, or 0 when the header is not whole or fails earlier checks that
 * the prefix oracle covers.
 */
static int fz_ref_v2(const uint8_t *s, size_t n, long *want)
{
    size_t len, alen, off;

    if (n < 16 || memcmp(s, "\r\n\r\n\0\r\nQUIT\n", 12) != 0)
        return 0;
    if (s[12] >> 4 != 2 || (s[12] & 0xf) > 1) {
        *want = -EPROTONOSUPPORT;
        return 1;
    }
    switch (s[12] == 0x20 ? 0 : s[13]) {
    case 0x00:
        alen = 0;
        break;
    case 0x11:
    case 0x12:
        alen = 12;
        break;
    case 0x21:
    case 0x22:
        alen = 36;
        break;
    case 0x31:
    case 0x32:
        alen = 216;
        break;
    default:
        *want = -EPROTONOSUPPORT;
        return 1;
    }
    len = (size_t)s[14] << 8 | s[15];
    if (16 + len > ZG_PP_V2_MAX_LEN) {
        *want = -EMSGSIZE;
        return 1;
    }
    if (n < 16 + len)
        return 0;
    *want = (long)(16 + len);
    if (s[12] == 0x20 || s[13] == 0x00)
        return 1;
    if (len < alen) {
        *want = -EINVAL;
        return 1;
    }
    for (off = 16 + alen; off < 16 + len;) {
        if (16 + len - off < 3) {
            *want = -EINVAL;
            break;
        }
        off += 3 + ((size_t)s[off + 1] << 8 | s[off + 2]);
        if (off > 16 + len) {
            *want = -EINVAL;
            break;
        }
    }
    return 1;
}

/* ---- oracles ---- */

/* A prefix that asks for more can be completed: append, one byte at a
 * time, a byte the parser still accepts. If none is left before the
 * header completes, the parser answered 0 for a dead prefix. */
static void fz_complete(const uint8_t *s, size_t n)
{
    static const uint8_t pref[] = "\r\n :.0PROXYTCUNKOW46";
    static uint8_t g[ZG_PP_MAX_LEN + 1];
    zg_pp_result_t r;
    size_t len = n;

    if (n >= ZG_PP_MAX_LEN)
        fz_fail("need more past the longest header", n, 0, 0);
    memcpy(g, s, n);
    for (;;) {
        long rc = -1;
        int c;

        if (len >= ZG_PP_MAX_LEN)
            fz_fail("no completion within the longest header", n, 0, 0);
        for (c = 0; c < (int)sizeof(pref) - 1 + 256; c++) {
            g[len] = c < (int)sizeof(pref) - 1
                         ? pref[c]
                         : (uint8_t)(c - sizeof(pref) + 1);
            rc = fz_flat(g, len + 1, &r);
            if (rc >= 0)
                break;
        }
        if (rc < 0)
            fz_fail("0 for a prefix no byte can extend", len, rc, 0);
        len++;
        if (rc > 0) {
            if ((size_t)rc != len)
                fz_fail("completed short of the input", len, rc, 0);
            return;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zg_pp_result_t whole, other, ref;
    const uint8_t *s, *cuts;
    size_t n, ncuts;
    long rc, rc2, want, first = 0;

    if (size < 1 || size > FZ_MAX)
        return 0;
    ncuts = data[0] % 8;
    if (1 + ncuts > size)
        ncuts = size - 1;
    cuts = data + 1;
    s = data + 1 + ncuts;
    n = size - 1 - ncuts;

    /* the same outcome however the bytes arrive */
    rc = fz_flat(s, n, &whole);
    rc2 = fz_cut(s, n, cuts, ncuts, &other);
    if (!fz_same(rc, &whole, rc2, &other))
        fz_fail("cut changed the outcome", n, rc, rc2);
    if (n <= 600) {
        rc2 = fz_cut(s, n, NULL, 0, &other);
        if (!fz_same(rc, &whole, rc2, &other))
            fz_fail("one byte per view changed the outcome", n, rc, rc2);
    }

    /* a complete header lies within the input and within the limits */
    if (rc > 0) {
        if ((size_t)rc > n)
            fz_fail("header longer than the input", n, rc, 0);
        if (whole.version == 1 &&
            (rc > ZG_PP_V1_MAX_LEN || memcmp(s + rc - 2, "\r\n", 2) != 0))
            fz_fail("v1 header too long or without CRLF", n, rc, 0);
        if (whole.version == 2 && (rc < 16 || rc > ZG_PP_V2_MAX_LEN))
            fz_fail("v2 header length out of range", n, rc, 0);
        if (whole.version != 1 && whole.version != 2)
            fz_fail("bad version", n, rc, whole.version);
        if (whole.local && (whole.src_len != 0 || whole.dst_len != 0))
            fz_fail("local with an address", n, rc, 0);
    } else if (rc < 0 && rc != -EINVAL && rc != -EPROTONOSUPPORT &&
               rc != -EMSGSIZE) {
        fz_fail("unexpected error code", n, rc, 0);
    }

    /* prefixes: 0 until decided, then the same answer; a header is
     * complete exactly when its last byte is in */
    for (size_t k = 0; k <= n; k++) {
        if (n > 512 && k % 61 != 0 && k != n &&
            !(rc > 0 && k + 2 >= (size_t)rc && k <= (size_t)rc + 2))
            continue;
        rc2 = fz_flat(s, k, &other);
        if (first == 0 && rc2 != 0) {
            first = rc2;
            if (rc2 > 0 && (size_t)rc2 != k)
                fz_fail("complete before its last byte", k, rc2, 0);
        } else if (first != 0 && rc2 != first) {
            fz_fail("a longer input changed a decided answer", k, first, rc2);
        }
    }
    if (first != rc)
        fz_fail("prefixes disagree with the whole", n, first, rc);

    /* asking for more is honest: for the whole input, and for the
     * longest prefix of a refused one (the last that asked for more) */
    if (rc == 0 && n <= 2048)
        fz_complete(s, n);
    if (rc < 0) {
        size_t lo = 0, hi = n; /* prefix lo asks for more, prefix hi not */

        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;

            if (fz_flat(s, mid, &other) == 0)
                lo = mid;
            else
                hi = mid;
        }
        if (fz_flat(s, hi, &other) != rc || fz_flat(s, lo, &other) != 0)
            fz_fail("refusal not at one point", hi, rc, 0);
        if (lo <= 2048)
            fz_complete(s, lo);
    }

    /* complete headers agree with the reference */
    if (n > 0 && s[0] == 'P' && fz_ref_v1(s, n, &want, &ref)) {
        if (rc != want)
            fz_fail("v1 differs from the reference", n, rc, want);
        if (rc > 0 && !fz_same(rc, &whole, want, &ref))
            fz_fail("v1 result differs from the reference", n, rc, want);
    }
    if (fz_ref_v2(s, n, &want) && rc != want)
        fz_fail("v2 differs from the reference", n, rc, want);
    return 0;
}
