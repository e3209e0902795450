/* SPDX-License-Identifier: MIT */
/*
 * Description: the HTTP/1.1 request head parser (see parse.h). The head is
 * read by a state machine whose inner loops run over one contiguous view
 * at a time and stop anywhere; the few fields that decide framing and
 * connection handling are judged as soon as their line ends. Also the
 * character class table the chunked decoder (chunked.c) shares.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "scan.h"

#define T_TOKEN  ZG_HTTP_C_TOKEN
#define T_TARGET ZG_HTTP_C_TARGET
#define T_FVAL   ZG_HTTP_C_FVAL
#define T_HOST   ZG_HTTP_C_HOST
#define T_HEX    ZG_HTTP_C_HEX
#define T_QTEXT  ZG_HTTP_C_QTEXT

const unsigned char zg_http_ctab[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x00 */
    0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x08 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x10 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x18 */
    0x24, 0x2f, 0x04, 0x25, 0x2f, 0x2f, 0x2f, 0x2f, /* 0x20 */
    0x2e, 0x2e, 0x2f, 0x2f, 0x2e, 0x2f, 0x2f, 0x26, /* 0x28 */
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, /* 0x30 */
    0x3f, 0x3f, 0x2e, 0x2e, 0x24, 0x2e, 0x24, 0x26, /* 0x38 */
    0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2f, /* 0x40 */
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, /* 0x48 */
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, /* 0x50 */
    0x2f, 0x2f, 0x2f, 0x2e, 0x04, 0x2e, 0x25, 0x2f, /* 0x58 */
    0x25, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2f, /* 0x60 */
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, /* 0x68 */
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, /* 0x70 */
    0x2f, 0x2f, 0x2f, 0x24, 0x25, 0x24, 0x2f, 0x00, /* 0x78 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0x80 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0x88 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0x90 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0x98 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xa0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xa8 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xb0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xb8 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xc0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xc8 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xd0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xd8 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xe0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xe8 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xf0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xf8 */
};

/* Head parser states. 0 must be the start. */
enum {
    S_LEAD = 0, /* before the method; blank lines (CRLF) are skipped */
    S_LEAD_LF,  /* after a CR of a blank line */
    S_METHOD,
    S_TARGET0, /* first byte of the request-target */
    S_TARGET,
    S_VERSION, /* "HTTP/x.y" then CR */
    S_RL_LF,   /* the LF ending the request line */
    S_FSTART,  /* start of a field line, or CR of the empty line */
    S_NAME,
    S_OWS,   /* after the colon */
    S_VALUE, /* up to the CR */
    S_F_LF,  /* the LF ending a field line */
    S_END_LF,
    S_DONE,
};

/* Fields whose values the parser judges (zg_http_head_t.field). */
enum { F_NONE = 0, F_HOST, F_EXPECT, F_CONN, F_CL, F_TE, F_CT, F_REF, F_UA };

/* What the head scanner needs besides the state. */
typedef struct zg_http_ctx_s {
    const zg_input_t *in;
    size_t start; /* offset of the request in in */
    const zg_http_limits_t *lim;
    unsigned char *scratch;
} zg_http_ctx_t;

void zg_http_head_reset(zg_http_head_t *h)
{
    memset(h, 0, sizeof(*h));
}

const unsigned char *zg_http_gather(const zg_input_t *in, size_t off, size_t n,
                                    unsigned char *dst)
{
    unsigned i = 0;
    size_t done = 0;

    while (i < in->nviews && off >= in->views[i].len) {
        off -= in->views[i].len;
        i++;
    }
    if (n == 0)
        return dst;
    if (i < in->nviews && n <= in->views[i].len - off)
        return in->views[i].data + off;
    for (; done < n && i < in->nviews; i++, off = 0) {
        size_t take = in->views[i].len - off;

        if (take > n - done)
            take = n - done;
        memcpy(dst + done, in->views[i].data + off, take);
        done += take;
    }
    return dst;
}

static int zg_http_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Case-insensitive compare of n bytes of s with lower-case lit. */
static int zg_http_ieq(const unsigned char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (zg_http_lower(s[i]) != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

static size_t zg_http_ows(const unsigned char *v, size_t i, size_t n)
{
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    return i;
}

static size_t zg_http_token(const unsigned char *v, size_t i, size_t n)
{
    while (i < n && (zg_http_ctab[v[i]] & T_TOKEN))
        i++;
    return i;
}

/* A quoted-string starting at v[i] == '"'; returns the index after it or
 * 0 if malformed. */
static size_t zg_http_quoted(const unsigned char *v, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (v[i] == '"')
            return i + 1;
        if (v[i] == '\\') {
            if (++i == n || !(zg_http_ctab[v[i]] & T_FVAL))
                return 0;
        } else if (!(zg_http_ctab[v[i]] & T_QTEXT)) {
            return 0;
        }
    }
    return 0;
}

/* Transfer-Encoding: 1#transfer-coding, each token *( OWS ";" OWS
 * token BWS "=" BWS ( token / quoted-string ) ). */
static void zg_http_te(zg_http_head_t *h, const unsigned char *v, size_t n)
{
    size_t i = 0, t, q;
    int chunked, params;

    for (;;) {
        t = i;
        i = zg_http_token(v, i, n);
        if (i == t)
            goto bad;
        chunked = i - t == 7 && zg_http_ieq(v + t, "chunked", 7);
        params = 0;
        i = zg_http_ows(v, i, n);
        while (i < n && v[i] == ';') {
            params = 1;
            i = zg_http_ows(v, i + 1, n);
            t = i;
            i = zg_http_token(v, i, n);
            if (i == t)
                goto bad;
            i = zg_http_ows(v, i, n);
            if (i == n || v[i] != '=')
                goto bad;
            i = zg_http_ows(v, i + 1, n);
            if (i < n && v[i] == '"') {
                q = zg_http_quoted(v, i, n);
                if (q == 0)
                    goto bad;
                i = q;
            } else {
                t = i;
                i = zg_http_token(v, i, n);
                if (i == t)
                    goto bad;
            }
            i = zg_http_ows(v, i, n);
        }
        /* Only the final coding matters for framing, and it may sit on a
         * later field line: te_final follows the list as it grows. */
        h->te_final = chunked && !params;
        if (h->te_final) {
            if (h->te_chunked < 255)
                h->te_chunked++;
        } else {
            h->te_unknown = 1;
        }
        if (i == n)
            return;
        if (v[i] != ',')
            goto bad;
        i = zg_http_ows(v, i + 1, n);
    }
bad:
    h->te_bad = 1;
}

/* Connection: #connection-option (tokens). */
static int zg_http_conn(zg_http_head_t *h, const unsigned char *v, size_t n)
{
    size_t i = 0, t;

    if (n == 0)
        return 0;
    for (;;) {
        t = i;
        i = zg_http_token(v, i, n);
        if (i == t)
            return -400;
        if (i - t == 5 && zg_http_ieq(v + t, "close", 5))
            h->conn |= ZG_HTTP_CONN_CLOSE;
        else if (i - t == 10 && zg_http_ieq(v + t, "keep-alive", 10))
            h->conn |= ZG_HTTP_CONN_KEEP;
        i = zg_http_ows(v, i, n);
        if (i == n)
            return 0;
        if (v[i] != ',')
            return -400;
        i = zg_http_ows(v, i + 1, n);
    }
}

/* Judge the value of the known field h->field (leading OWS already
 * skipped). Returns 0 or -status. */
static int zg_http_value(zg_http_head_t *h, const unsigned char *v, size_t n)
{
    uint64_t cl = 0;

    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    switch (h->field) {
    case F_HOST:
        /* An http(s) URI never has an empty host (RFC 9110 4.2.1), so an
         * empty Host names no authority we could serve. */
        if (++h->nhost > 1 || n == 0)
            return -400;
        for (size_t i = 0; i < n; i++) {
            if (!(zg_http_ctab[v[i]] & T_HOST))
                return -400;
        }
        return 0;
    case F_CL:
        /* Exactly 1*DIGIT: no sign, no list, no second line, and no
         * leading zero (some parsers read "0200" as octal). 19 digits
         * always fit 64 bits. */
        if (++h->ncl > 1 || n == 0 || n > 19 || (n > 1 && v[0] == '0'))
            return -400;
        for (size_t i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -400;
            cl = cl * 10 + (uint64_t)(v[i] - '0');
        }
        h->content_length = cl;
        return 0;
    case F_TE:
        if (h->nte < 255)
            h->nte++;
        zg_http_te(h, v, n);
        return 0;
    case F_CONN:
        return zg_http_conn(h, v, n);
    case F_CT:
        /* Two media types for one body: refuse rather than pick one. */
        return ++h->nct > 1 ? -400 : 0;
    case F_EXPECT:
        if (n == 12 && zg_http_ieq(v, "100-continue", 12))
            h->expect |= ZG_HTTP_EXPECT_CONTINUE;
        else
            h->expect |= ZG_HTTP_EXPECT_OTHER;
        return 0;
    }
    return 0;
}

/* Bytes [a, b) of the request: in the current span (which starts at
 * request offset base, at p0) when they begin there, else gathered. */
static const unsigned char *zg_http_range(const zg_http_ctx_t *x,
                                          const unsigned char *p0,
                                          uint32_t base, uint32_t a, uint32_t b)
{
    if (a >= base)
        return p0 + (a - base);
    return zg_http_gather(x->in, x->start + a, b - a, x->scratch);
}

/* Which known field a name of len bytes is (0 for none). */
static uint8_t zg_http_known(const unsigned char *name, uint32_t len)
{
    switch (len) {
    case 4:
        return zg_http_ieq(name, "host", 4) ? F_HOST : F_NONE;
    case 6:
        return zg_http_ieq(name, "expect", 6) ? F_EXPECT : F_NONE;
    case 7:
        return zg_http_ieq(name, "referer", 7) ? F_REF : F_NONE;
    case 10:
        if (zg_http_ieq(name, "connection", 10))
            return F_CONN;
        return zg_http_ieq(name, "user-agent", 10) ? F_UA : F_NONE;
    case 12:
        return zg_http_ieq(name, "content-type", 12) ? F_CT : F_NONE;
    case 14:
        return zg_http_ieq(name, "content-length", 14) ? F_CL : F_NONE;
    case 17:
        return zg_http_ieq(name, "transfer-encoding", 17) ? F_TE : F_NONE;
    }
    return F_NONE;
}

/* The head machine, once per scanner set (machine.h). */
#define ZG_M_NAME zg_http_scan_scalar
#define ZG_M_ATTR __attribute__((noinline)) /* portable */
#define ZG_M_FIND zg_http_scalar_find
#include "machine.h"

#if ZG_HTTP_HAVE_X86
#define ZG_M_NAME zg_http_scan_sse2
#define ZG_M_ATTR __attribute__((noinline)) /* x86-64 baseline */
#define ZG_M_FIND zg_http_sse2_find
#include "machine.h"

#define ZG_M_NAME zg_http_scan_avx2
#define ZG_M_ATTR __attribute__((noinline)) ZG_HTTP_AVX2
#define ZG_M_FIND zg_http_avx2_find
#include "machine.h"
#endif

static const char *const zg_http_simd_names[ZG_HTTP_SIMD_N] = {"scalar", "sse2",
                                                               "avx2"};

/* The process-wide choice; -1 until zg_http_simd_init() or the first
 * parse. Atomic: a reload may set it while reactors parse. */
static int zg_http_simd_cur = -1;

const char *zg_http_simd_name(zg_http_simd_t s)
{
    return (unsigned)s < ZG_HTTP_SIMD_N ? zg_http_simd_names[s] : "?";
}

int zg_http_simd_supported(zg_http_simd_t s)
{
    switch (s) {
    case ZG_HTTP_SIMD_SCALAR:
        return 1;
#if ZG_HTTP_HAVE_X86
    case ZG_HTTP_SIMD_SSE2:
        return 1;
    case ZG_HTTP_SIMD_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
#endif
    default:
        return 0;
    }
}

int zg_http_simd_init(void)
{
    const char *env = getenv("ZERG_HTTP_SIMD");
    int s, rc = 0;

    if (env != NULL && env[0] != '\0') {
        for (s = 0; s < ZG_HTTP_SIMD_N; s++) {
            if (strcmp(env, zg_http_simd_names[s]) == 0)
                break;
        }
        if (s == ZG_HTTP_SIMD_N)
            rc = -EINVAL;
        else if (!zg_http_simd_supported((zg_http_simd_t)s))
            rc = -ENOTSUP;
        if (rc == 0) {
            __atomic_store_n(&zg_http_simd_cur, s, __ATOMIC_RELAXED);
            return s;
        }
    }
    for (s = ZG_HTTP_SIMD_N - 1; s > 0; s--) {
        if (zg_http_simd_supported((zg_http_simd_t)s))
            break;
    }
    __atomic_store_n(&zg_http_simd_cur, s, __ATOMIC_RELAXED);
    return rc < 0 ? rc : s;
}

zg_http_simd_t zg_http_simd_get(void)
{
    int s = __atomic_load_n(&zg_http_simd_cur, __ATOMIC_RELAXED);

    if (s < 0) {
        s = zg_http_simd_init();
        if (s < 0)
            s = __atomic_load_n(&zg_http_simd_cur, __ATOMIC_RELAXED);
    }
    return (zg_http_simd_t)s;
}

long zg_http_parse_head_simd(zg_http_simd_t s, zg_http_head_t *h,
                             const zg_input_t *in, size_t start,
                             const zg_http_limits_t *lim,
                             unsigned char *scratch)
{
    const zg_http_ctx_t x = {in, start, lim, scratch};
    size_t off = start + h->off;
    unsigned i = 0;
    long rc;

    if (h->state == S_DONE)
        return (long)h->off;
    while (i < in->nviews && off >= in->views[i].len) {
        off -= in->views[i].len;
        i++;
    }
    for (; i < in->nviews; i++, off = 0) {
        const zg_view_t *v = &in->views[i];

        if (off >= v->len)
            continue;
        /* direct calls: the compiler may inline them */
        switch (s) {
#if ZG_HTTP_HAVE_X86
        case ZG_HTTP_SIMD_AVX2:
            rc = zg_http_scan_avx2(h, v->data + off, v->data + v->len, &x);
            break;
        case ZG_HTTP_SIMD_SSE2:
            rc = zg_http_scan_sse2(h, v->data + off, v->data + v->len, &x);
            break;
#endif
        default:
            rc = zg_http_scan_scalar(h, v->data + off, v->data + v->len, &x);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

long zg_http_parse_head(zg_http_head_t *h, const zg_input_t *in, size_t start,
                        const zg_http_limits_t *lim, unsigned char *scratch)
{
    return zg_http_parse_head_simd(zg_http_simd_get(), h, in, start, lim,
                                   scratch);
}

/* Whether the two hex digits at h encode NUL, CR or LF: bytes that,
 * once decoded by an application, truncate strings or inject lines. */
static int zg_http_bad_escape(const unsigned char *h)
{
    if (h[0] != '0')
        return 0;
    return h[1] == '0' || h[1] == 'a' || h[1] == 'A' || h[1] == 'd' ||
           h[1] == 'D';
}

/* Check the rest of a target from a path start: percent-encodings are
 * complete and encode no NUL, CR or LF, no brackets (they belong to the
 * authority only). Sets the path length (up to '?'). */
static int zg_http_path(zg_http_req_t *req, const unsigned char *t, size_t n)
{
    size_t plen = n;

    for (size_t i = 0; i < n; i++) {
        switch (t[i]) {
        case '%':
            if (n - i < 3 || !(zg_http_ctab[t[i + 1]] & T_HEX) ||
                !(zg_http_ctab[t[i + 2]] & T_HEX) ||
                zg_http_bad_escape(t + i + 1))
                return -400;
            i += 2;
            break;
        case '[':
        case ']':
            return -400;
        case '?':
            if (plen == n)
                plen = i;
            break;
        }
    }
    req->path = t;
    req->path_len = plen;
    return 0;
}

/* The request-target forms of RFC 9112 3.2. */
static int zg_http_target(zg_http_req_t *req, const unsigned char *t, size_t n)
{
    static const unsigned char slash[] = "/";
    size_t i = 0, a;
    int rc;

    if (req->method_len == 7 && memcmp(req->method, "CONNECT", 7) == 0)
        return -501; /* a tunnel: not what this server does */
    if (n == 1 && t[0] == '*') {
        /* asterisk-form: OPTIONS only */
        if (req->method_len != 7 || memcmp(req->method, "OPTIONS", 7) != 0)
            return -400;
        req->asterisk = 1;
        req->path = t;
        req->path_len = 1;
        return 0;
    }
    if (t[0] == '/')
        return zg_http_path(req, t, n); /* origin-form */
    /* absolute-form: http or https, a non-empty authority without
     * userinfo, then path-abempty [ "?" query ]. Anything else (an
     * authority-form target without CONNECT included) is malformed. */
    while (i < n && t[i] != ':')
        i++;
    if (!((i == 4 && zg_http_ieq(t, "http", 4)) ||
          (i == 5 && zg_http_ieq(t, "https", 5))))
        return -400;
    if (n - i < 3 || t[i + 1] != '/' || t[i + 2] != '/')
        return -400;
    a = i += 3;
    for (; i < n && t[i] != '/' && t[i] != '?'; i++) {
        if (!(zg_http_ctab[t[i]] & T_HOST))
            return -400; /* '@' (userinfo) among others */
        if (t[i] == '%' && (n - i < 3 || !(zg_http_ctab[t[i + 1]] & T_HEX) ||
                            !(zg_http_ctab[t[i + 2]] & T_HEX)))
            return -400;
    }
    if (i == a)
        return -400;
    rc = zg_http_path(req, t + i, n - i);
    if (rc == 0 && req->path_len == 0) {
        req->path = slash;
        req->path_len = 1;
    }
    return rc;
}

int zg_http_finish_head(const zg_http_head_t *h, const zg_input_t *in,
                        size_t start, const zg_http_limits_t *lim,
                        unsigned char *scratch, zg_http_req_t *req)
{
    const unsigned char *t;
    int rc;

    memset(req, 0, sizeof(*req));
    req->minor = h->minor > 0;
    req->method =
        zg_http_gather(in, start + h->method_off, h->method_len, scratch);
    req->method_len = h->method_len;
    req->is_head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    if (h->nte > 0) {
        /* RFC 9112 6.1 and 6.3: a request with both is a smuggling
         * attempt; HTTP/1.0 has no chunked coding; without "chunked" as
         * the final coding the body's length cannot be known (400, not
         * 501); a coding we lack before it is 501 (RFC 9112 6.1). */
        if (h->ncl > 0 || h->minor == 0 || h->te_bad || !h->te_final ||
            h->te_chunked != 1)
            return -400;
        if (h->te_unknown)
            return -501;
        req->body = ZG_HTTP_BODY_CHUNKED;
    } else if (h->ncl > 0 && h->content_length > 0) {
        req->body = ZG_HTTP_BODY_LENGTH;
        req->content_length = h->content_length;
    }
    if (h->minor > 0 && h->nhost == 0)
        return -400;
    t = zg_http_gather(in, start + h->target_off, h->target_len,
                       scratch + h->method_len);
    rc = zg_http_target(req, t, h->target_len);
    if (rc < 0)
        return rc;
    if (req->body == ZG_HTTP_BODY_LENGTH &&
        req->content_length > lim->max_body_size)
        return -413;
    if (h->minor > 0) {
        /* HTTP/1.0 clients do not know Expect: ignore it (RFC 9110
         * 10.1.1). */
        if (h->expect & ZG_HTTP_EXPECT_OTHER)
            return -417;
        req->expect_continue = (h->expect & ZG_HTTP_EXPECT_CONTINUE) != 0;
        req->keepalive = !(h->conn & ZG_HTTP_CONN_CLOSE);
    } else {
        req->keepalive = (h->conn & (ZG_HTTP_CONN_KEEP | ZG_HTTP_CONN_CLOSE)) ==
                         ZG_HTTP_CONN_KEEP;
    }
    return 0;
}
