/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the HTTP/1.1 request parser
 * (plugins/http/parse.c). Every input sits right before a PROT_NONE page,
 * so any read past a view crashes, and every case runs whole, split at
 * each byte across two views, across two calls, and one byte per call:
 * the outcome must not depend on how the bytes arrive.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http/parse.c"
#include "http/chunked.c"

/* ---- guarded memory ---- */

#define NSLOTS    1024 /* one-page slots, each followed by a guard page */
#define BIG_PAGES 64   /* two big slots for long inputs */

static size_t page;
static unsigned char *slots;
static unsigned char *big[2];

static void guard_setup(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    slots = mmap(NULL, 2 * NSLOTS * page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(slots != MAP_FAILED);
    for (size_t i = 0; i < NSLOTS; i++)
        assert_int_equal(mprotect(slots + (2 * i + 1) * page, page, PROT_NONE),
                         0);
    for (int i = 0; i < 2; i++) {
        big[i] = mmap(NULL, (BIG_PAGES + 1) * page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(big[i] != MAP_FAILED);
        assert_int_equal(mprotect(big[i] + BIG_PAGES * page, page, PROT_NONE),
                         0);
    }
}

/* Copy len bytes so that they end right at a guard page. */
static const unsigned char *guard_put(unsigned slot, const void *data,
                                      size_t len)
{
    unsigned char *end;

    if (len > page) {
        assert_true(slot < 2 && len <= BIG_PAGES * page);
        end = big[slot] + BIG_PAGES * page;
    } else {
        assert_true(slot < NSLOTS);
        end = slots + (2 * slot + 1) * page;
    }
    if (len > 0)
        memcpy(end - len, data, len);
    return end - len;
}

/* ---- a miniature of the plugin's request loop, logging outcomes ---- */

typedef struct sess_s {
    zg_http_limits_t lim;
    zg_http_head_t h;
    zg_http_chunked_t ch;
    int phase; /* 0 head, 1 length body, 2 chunked body, 3 closed */
    uint64_t left;
    unsigned char *scratch;
    char log[1 << 16];
    size_t loglen;
} sess_t;

static void logf_(sess_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logf_(sess_t *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    s->loglen += (size_t)vsnprintf(s->log + s->loglen,
                                   sizeof(s->log) - s->loglen, fmt, ap);
    va_end(ap);
    assert_true(s->loglen < sizeof(s->log));
}

static void log_bytes(sess_t *s, const unsigned char *p, size_t n)
{
    assert_true(s->loglen + n < sizeof(s->log));
    memcpy(s->log + s->loglen, p, n);
    s->loglen += n;
    s->log[s->loglen] = '\0';
}

static const zg_http_limits_t default_limits = {8192, 32768, 100, 1 << 20};

static void sess_init(sess_t *s, const zg_http_limits_t *lim)
{
    memset(s, 0, sizeof(*s));
    s->lim = lim != NULL ? *lim : default_limits;
    s->scratch = malloc(ZG_HTTP_SCRATCH(&s->lim));
    assert_non_null(s->scratch);
}

static void sess_fini(sess_t *s)
{
    free(s->scratch);
}

/* Feed one on_data's worth of input; returns the bytes consumed. */
static size_t sess_feed(sess_t *s, const zg_input_t *in)
{
    size_t pos = 0;

    for (;;) {
        if (s->phase == 3)
            return in->total;
        if (s->phase == 0) {
            zg_http_req_t req;
            long n;
            int rc;

            if (pos == in->total)
                return pos;
            n = zg_http_parse_head(&s->h, in, pos, &s->lim, s->scratch);
            if (n == 0)
                return pos;
            if (n < 0) {
                logf_(s, "E%ld;", -n);
                s->phase = 3;
                continue;
            }
            rc = zg_http_finish_head(&s->h, in, pos, &s->lim, s->scratch, &req);
            if (rc < 0) {
                logf_(s, "E%d;", -rc);
                s->phase = 3;
                continue;
            }
            logf_(s, "%.*s %.*s 1.%d %s%s", (int)req.method_len, req.method,
                  (int)req.path_len, req.path, req.minor,
                  req.keepalive ? "keep" : "close",
                  req.expect_continue ? " 100" : "");
            pos += (size_t)n;
            zg_http_head_reset(&s->h);
            if (req.body == ZG_HTTP_BODY_LENGTH) {
                logf_(s, " L%llu <", (unsigned long long)req.content_length);
                s->left = req.content_length;
                s->phase = 1;
            } else if (req.body == ZG_HTTP_BODY_CHUNKED) {
                logf_(s, " C <");
                memset(&s->ch, 0, sizeof(s->ch));
                s->phase = 2;
            } else {
                logf_(s, ";");
            }
        } else if (s->phase == 1) {
            size_t take = in->total - pos;
            unsigned char tmp[4096];

            if (take > s->left)
                take = (size_t)s->left;
            for (size_t k = 0; k < take; k += sizeof(tmp)) {
                size_t m = take - k < sizeof(tmp) ? take - k : sizeof(tmp);

                log_bytes(s, zg_http_gather(in, pos + k, m, tmp), m);
            }
            pos += take;
            s->left -= take;
            if (s->left > 0)
                return pos;
            logf_(s, ">;");
            s->phase = 0;
        } else {
            size_t off = pos;
            unsigned i = 0;
            int done = 0;

            while (i < in->nviews && off >= in->views[i].len) {
                off -= in->views[i].len;
                i++;
            }
            while (i < in->nviews && !done) {
                const zg_view_t *v = &in->views[i];
                zg_http_chunk_ev_t ev;
                size_t used = zg_http_chunked_feed(&s->ch, v->data + off,
                                                   v->len - off, &s->lim, &ev);

                pos += used;
                off += used;
                if (off == v->len) {
                    off = 0;
                    i++;
                }
                if (ev.kind == ZG_HTTP_CH_DATA) {
                    log_bytes(s, ev.data, ev.len);
                } else if (ev.kind == ZG_HTTP_CH_DONE) {
                    logf_(s, ">;");
                    s->phase = 0;
                    done = 1;
                } else if (ev.kind == ZG_HTTP_CH_ERROR) {
                    logf_(s, "E%d;", ev.status);
                    s->phase = 3;
                    done = 1;
                }
            }
            if (!done)
                return pos;
        }
    }
}

/* The whole input as one guarded view, in one call. */
static void run_whole(const zg_http_limits_t *lim, const char *raw, size_t n,
                      char *out, size_t outlen)
{
    sess_t *s = malloc(sizeof(*s));
    zg_view_t v;
    zg_input_t in;

    assert_non_null(s);
    sess_init(s, lim);
    v.data = guard_put(0, raw, n);
    v.len = n;
    in.views = &v;
    in.nviews = 1;
    in.flags = 0;
    in.total = n;
    sess_feed(s, &in);
    snprintf(out, outlen, "%s", s->log);
    sess_fini(s);
    free(s);
}

/* Split at k: views [0,k) and [k,n) in one call (two = 0), or a first
 * call with [0,k) and a second with what is left of it plus [k,n), as
 * the host presents unconsumed bytes again (two = 1). */
static void run_split(const zg_http_limits_t *lim, const char *raw, size_t n,
                      size_t k, int two, char *out, size_t outlen)
{
    sess_t *s = malloc(sizeof(*s));
    zg_view_t v[2];
    zg_input_t in;
    size_t used = 0;

    assert_non_null(s);
    sess_init(s, lim);
    in.views = v;
    in.flags = 0;
    if (two) {
        v[0].data = guard_put(0, raw, k);
        v[0].len = k;
        in.nviews = 1;
        in.total = k;
        used = sess_feed(s, &in);
        assert_true(used <= k);
    }
    v[0].data = guard_put(0, raw + used, k - used);
    v[0].len = k - used;
    v[1].data = guard_put(1, raw + k, n - k);
    v[1].len = n - k;
    in.nviews = 2;
    in.total = n - used;
    sess_feed(s, &in);
    snprintf(out, outlen, "%s", s->log);
    sess_fini(s);
    free(s);
}

/* One byte per call; every unconsumed byte stays its own view. */
static void run_bytewise(const zg_http_limits_t *lim, const char *raw, size_t n,
                         char *out, size_t outlen)
{
    sess_t *s = malloc(sizeof(*s));
    zg_view_t *v = calloc(n + 1, sizeof(*v));
    zg_input_t in;
    size_t first = 0; /* first unconsumed byte */

    assert_non_null(s);
    assert_non_null(v);
    assert_true(n <= NSLOTS);
    sess_init(s, lim);
    for (size_t i = 0; i < n; i++) {
        size_t used;

        v[i].data = guard_put((unsigned)i, raw + i, 1);
        v[i].len = 1;
        in.views = v + first;
        in.nviews = (unsigned)(i + 1 - first);
        in.total = i + 1 - first;
        in.flags = 0;
        used = sess_feed(s, &in);
        assert_true(used <= in.total);
        first += used;
    }
    snprintf(out, outlen, "%s", s->log);
    sess_fini(s);
    free(v);
    free(s);
}

/* Every way of delivering raw must log expect. */
static void check_all(const zg_http_limits_t *lim, const char *raw, size_t n,
                      const char *expect)
{
    static char got[1 << 16];

    run_whole(lim, raw, n, got, sizeof(got));
    if (strcmp(got, expect) != 0)
        fail_msg("whole: input \"%.*s\"\n  got    \"%s\"\n  expect \"%s\"",
                 (int)n, raw, got, expect);
    if (n > page)
        return; /* long inputs: whole only (limits tests split apart) */
    for (size_t k = 0; k <= n; k++) {
        for (int two = 0; two < 2; two++) {
            run_split(lim, raw, n, k, two, got, sizeof(got));
            if (strcmp(got, expect) != 0)
                fail_msg("split at %zu (%s): input \"%.*s\"\n  got    "
                         "\"%s\"\n  expect \"%s\"",
                         k, two ? "two calls" : "two views", (int)n, raw, got,
                         expect);
        }
    }
    run_bytewise(lim, raw, n, got, sizeof(got));
    if (strcmp(got, expect) != 0)
        fail_msg("bytewise: input \"%.*s\"\n  got    \"%s\"\n  expect \"%s\"",
                 (int)n, raw, got, expect);
}

typedef struct pcase_s {
    const char *raw;
    const char *expect;
} pcase_t;

#define H11 " HTTP/1.1\r\nHost: a\r\n"

static const pcase_t valid_cases[] = {
    {"GET /" H11 "\r\n", "GET / 1.1 keep;"},
    {"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: x/1\r\n"
     "Accept: */*\r\n\r\n",
     "GET /plaintext 1.1 keep;"},
    /* blank lines before a request are skipped (RFC 9112 2.2) */
    {"\r\n\r\nGET /" H11 "\r\n", "GET / 1.1 keep;"},
    {"GET / HTTP/1.0\r\n\r\n", "GET / 1.0 close;"},
    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET / 1.0 keep;"},
    {"GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n",
     "GET / 1.0 close;"},
    {"GET /" H11 "Connection: close\r\n\r\n", "GET / 1.1 close;"},
    {"GET /" H11 "Connection:  Upgrade ,CLOSE \r\n\r\n", "GET / 1.1 close;"},
    {"GET /" H11 "Connection:\r\n\r\n", "GET / 1.1 keep;"},
    /* minor versions above 1 are answered as 1.1 */
    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", "GET / 1.1 keep;"},
    {"GET /p?q=1&r=%20" H11 "\r\n", "GET /p 1.1 keep;"},
    {"GET /a/b;c=d/%7Euser?x?y/z" H11 "\r\n", "GET /a/b;c=d/%7Euser 1.1 keep;"},
    {"GET http://example.com/x?y" H11 "\r\n", "GET /x 1.1 keep;"},
    {"GET HTTPS://example.com:8443" H11 "\r\n", "GET / 1.1 keep;"},
    {"GET http://[::1]:80/v6" H11 "\r\n", "GET /v6 1.1 keep;"},
    {"GET http://h?x" H11 "\r\n", "GET / 1.1 keep;"},
    {"OPTIONS *" H11 "\r\n", "OPTIONS * 1.1 keep;"},
    {"HEAD /" H11 "\r\n", "HEAD / 1.1 keep;"},
    {"get /" H11 "\r\n", "get / 1.1 keep;"},
    {"M-SEARCH.x~!#$%&'*+^_`| /" H11 "\r\n",
     "M-SEARCH.x~!#$%&'*+^_`| / 1.1 keep;"},
    {"GET / HTTP/1.1\r\nHOST: [::1]:8080\r\n\r\n", "GET / 1.1 keep;"},
    {"GET /" H11 "X-Obs: caf\xc3\xa9 \x80\xff\r\n\r\n", "GET / 1.1 keep;"},
    {"GET /" H11 "X-Empty:\r\nX-Tabs:\t a \t b\t\r\n\r\n", "GET / 1.1 keep;"},
    {"POST /u" H11 "Content-Length: 5\r\n\r\nhello",
     "POST /u 1.1 keep L5 <hello>;"},
    {"POST /u" H11 "Content-Length: 5 \r\n\r\nhello",
     "POST /u 1.1 keep L5 <hello>;"},
    /* one Content-Type is fine, and so are other repeated fields */
    {"POST /u" H11 "Content-Type: a/b\r\nX: 1\r\nX: 2\r\n"
     "Content-Length: 1\r\n\r\nx",
     "POST /u 1.1 keep L1 <x>;"},
    /* encoded bytes other than NUL, CR, LF pass through */
    {"GET /a%01%7f%0e" H11 "\r\n", "GET /a%01%7f%0e 1.1 keep;"},
    {"POST /u" H11 "Content-Length: 0\r\n\r\n", "POST /u 1.1 keep;"},
    {"POST /u" H11 "Transfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
     "POST /u 1.1 keep C <hello world>;"},
    {"POST /u" H11 "transfer-encoding: CHUNKED\r\n\r\n"
     "A;name=val;x;q=\"a\\\"b\" ; y = z\r\n0123456789\r\n"
     "000\r\nTrailer: yes\r\nX: \r\n\r\n",
     "POST /u 1.1 keep C <0123456789>;"},
    {"POST /u" H11 "Transfer-Encoding: chunked\r\n\r\n"
     "a\r\n0123456789\r\n0;end\r\n\r\n",
     "POST /u 1.1 keep C <0123456789>;"},
    {"POST /u" H11 "Expect: 100-Continue\r\nContent-Length: 2\r\n\r\nok",
     "POST /u 1.1 keep 100 L2 <ok>;"},
    /* HTTP/1.0 knows no Expect: ignored */
    {"POST /u HTTP/1.0\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx",
     "POST /u 1.0 close L1 <x>;"},
    /* pipelined: every request, in order */
    {"GET /a" H11 "\r\nPOST /b" H11 "Content-Length: 3\r\n\r\nxyzGET /c" H11
     "\r\nPOST /d" H11 "Transfer-Encoding: chunked\r\n\r\n1\r\nq\r\n0\r\n\r\n"
     "GET /e HTTP/1.0\r\n\r\n",
     "GET /a 1.1 keep;POST /b 1.1 keep L3 <xyz>;GET /c 1.1 keep;"
     "POST /d 1.1 keep C <q>;GET /e 1.0 close;"},
    /* a body that looks like a request stays a body */
    {"POST /b" H11 "Content-Length: 19\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
     "POST /b 1.1 keep L19 <GET /x HTTP/1.1\r\n\r\n>;"},
    /* incomplete input: nothing yet */
    {"GET / HTTP/1.1\r\nHost: a\r\n", ""},
    {"POST /u" H11 "Content-Length: 9\r\n\r\nabc", "POST /u 1.1 keep L9 <abc"},
};

static const pcase_t bad_cases[] = {
    /* framing: smuggling */
    {"POST /" H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\n\r\n",
     "E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
     "E400;"},
    {"POST /" H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
     "E400;"},
    {"POST /" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
     "E400;"},
    {"POST /" H11 "Content-Length: 5, 5\r\n\r\nhello", "E400;"},
    {"POST /" H11 "Content-Length: +5\r\n\r\nhello", "E400;"},
    {"POST /" H11 "Content-Length: -1\r\n\r\n", "E400;"},
    {"POST /" H11 "Content-Length: 0x5\r\n\r\nhello", "E400;"},
    {"POST /" H11 "Content-Length: 5 5\r\n\r\nhello", "E400;"},
    {"POST /" H11 "Content-Length: 1_0\r\n\r\n", "E400;"},
    {"POST /" H11 "Content-Length: 1.0\r\n\r\n", "E400;"},
    {"POST /" H11 "Content-Length:\r\n\r\n", "E400;"},
    {"POST /" H11 "Content-Length: \"5\"\r\n\r\n", "E400;"},
    {"POST /" H11 "Content-Length: 99999999999999999999\r\n\r\n", "E400;"},
    {"POST /" H11 "Content-Length: 18446744073709551616\r\n\r\n", "E400;"},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     "E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked,\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: ,chunked\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding:\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked;\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: chu nked\r\n\r\n", "E400;"},
    /* chunked is not the final coding: the body length cannot be known
     * (RFC 9112 6.3), 400 */
    {"POST /" H11 "Transfer-Encoding: gzip\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: identity\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n"
     "Transfer-Encoding: gzip\r\n\r\n",
     "E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", "E400;"},
    {"POST /" H11 "Transfer-Encoding: chunkedx\r\n\r\n", "E400;"},
    /* chunked is final, but a coding before it is unknown: 501 */
    {"POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", "E501;"},
    {"POST /" H11 "Transfer-Encoding: gzip\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     "E501;"},
    {"POST /" H11 "Transfer-Encoding: x;a=\"b\\\"c\", chunked\r\n\r\n",
     "E501;"},
    /* leading zeros: a stricter server's choice (octal readings) */
    {"POST /" H11 "Content-Length: 005\r\n\r\nhello", "E400;"},
    {"POST /" H11 "Content-Length: 00\r\n\r\n", "E400;"},
    {"POST /" H11 "Content-Length: 0200\r\n\r\n", "E400;"},
    /* two Content-Type lines: which one is meant? */
    {"POST /" H11 "Content-Type: text/plain\r\nContent-Type: text/html\r\n"
     "Content-Length: 5\r\n\r\nhello",
     "E400;"},
    {"GET /" H11 "content-type: a\r\nCONTENT-TYPE: a\r\n\r\n", "E400;"},
    /* field syntax */
    {"GET /" H11 "X-Fold: a\r\n b\r\n\r\n", "E400;"},
    {"GET /" H11 "X-Fold: a\r\n\tb\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", "E400;"},
    {"GET /" H11 "Host : a\r\n\r\n", "E400;"},
    {"GET /" H11 "X-A\t: a\r\n\r\n", "E400;"},
    {"GET /" H11 ": a\r\n\r\n", "E400;"},
    {"GET /" H11 "X(A): a\r\n\r\n", "E400;"},
    {"GET /" H11 "X\"A: a\r\n\r\n", "E400;"},
    {"GET /" H11 "X\x80: a\r\n\r\n", "E400;"},
    {"GET /" H11 "NoColon\r\n\r\n", "E400;"},
    {"GET /" H11 "X: a\rb\r\n\r\n", "E400;"},
    {"GET /" H11 "X: a\r\r\n\r\n", "E400;"},
    {"GET /" H11 "X: a\nb\r\n\r\n", "E400;"},
    {"GET /" H11 "X: a\n\r\n", "E400;"},
    {"GET /" H11 "\n", "E400;"},
    {"GET /" H11 "\r\r\n", "E400;"},
    {"GET / HTTP/1.1\nHost: a\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1\r\nHost: a\n\n", "E400;"},
    {"GET / HTTP/1.1\rHost: a\r\n\r\n", "E400;"},
    {"GET /" H11 "X: a\x01"
     "b\r\n\r\n",
     "E400;"},
    {"GET /" H11 "X: a\x7f\r\n\r\n", "E400;"},
    {"GET /" H11 "X: \x1b[0m\r\n\r\n", "E400;"},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1\r\nHost: a\"\r\n\r\n", "E400;"},
    /* an http URI has a non-empty host (RFC 9110 4.2.1) */
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1\r\nHost: \t\r\n\r\n", "E400;"},
    {"GET http://a/" H11 "Host: \r\n\r\n", "E400;"},
    /* request line */
    {"\nGET /" H11 "\r\n", "E400;"},
    {"\r\rGET /" H11 "\r\n", "E400;"},
    {" GET /" H11 "\r\n", "E400;"},
    {"GET  /" H11 "\r\n", "E400;"},
    {"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "E400;"},
    {"GET\t/" H11 "\r\n", "E400;"},
    {"G\x01T /" H11 "\r\n", "E400;"},
    {"GE(T /" H11 "\r\n", "E400;"},
    {"GE:T /" H11 "\r\n", "E400;"},
    {"G\xc3\xa9T /" H11 "\r\n", "E400;"},
    {"GET /a b" H11 "\r\n", "E400;"},
    {"GET /a\x01" H11 "\r\n", "E400;"},
    {"GET /a\x7f" H11 "\r\n", "E400;"},
    {"GET /\xc3\xa9" H11 "\r\n", "E400;"},
    {"GET /a\"b" H11 "\r\n", "E400;"},
    {"GET /<a>" H11 "\r\n", "E400;"},
    {"GET /a\\b" H11 "\r\n", "E400;"},
    {"GET /a{b}" H11 "\r\n", "E400;"},
    {"GET /a|b" H11 "\r\n", "E400;"},
    {"GET /a^b" H11 "\r\n", "E400;"},
    {"GET /a`b" H11 "\r\n", "E400;"},
    {"GET /a#frag" H11 "\r\n", "E400;"},
    {"GET /a%zz" H11 "\r\n", "E400;"},
    {"GET /a%4" H11 "\r\n", "E400;"},
    {"GET /a?%" H11 "\r\n", "E400;"},
    {"GET /[x]" H11 "\r\n", "E400;"},
    /* encoded NUL, CR, LF: truncation and header injection downstream */
    {"GET /path%00.html" H11 "\r\n", "E400;"},
    {"GET /path%0d%0aX-Injected:%20true" H11 "\r\n", "E400;"},
    {"GET /p%0A" H11 "\r\n", "E400;"},
    {"GET /p?q=%0D" H11 "\r\n", "E400;"},
    {"GET http://h/a%00" H11 "\r\n", "E400;"},
    {"GET /\r\nHost: a\r\n\r\n", "E400;"},
    {"GET / \r\nHost: a\r\n\r\n", "E400;"},
    {"GET\r\n\r\n", "E400;"},
    {"GET / http/1.1\r\nHost: a\r\n\r\n", "E400;"},
    {"GET / HTTP/1\r\nHost: a\r\n\r\n", "E400;"},
    {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", "E400;"},
    {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", "E400;"},
    {"GET / HTTP/11\r\nHost: a\r\n\r\n", "E400;"},
    {"GET / HTTP/a.1\r\nHost: a\r\n\r\n", "E400;"},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "E505;"},
    {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", "E505;"},
    {"GET / HTTP/3.0\r\n\r\n", "E505;"},
    /* request-target forms */
    {"GET *" H11 "\r\n", "E400;"},
    {"OPTIONS **" H11 "\r\n", "E400;"},
    {"GET example.com:80" H11 "\r\n", "E400;"},
    {"CONNECT example.com:443" H11 "\r\n", "E501;"},
    {"GET ftp://example.com/" H11 "\r\n", "E400;"},
    {"GET http:/example.com/" H11 "\r\n", "E400;"},
    {"GET http:///x" H11 "\r\n", "E400;"},
    {"GET http://" H11 "\r\n", "E400;"},
    {"GET http://user:pw@example.com/" H11 "\r\n", "E400;"},
    {"GET http://exa%zzmple/" H11 "\r\n", "E400;"},
    {"GET http://h/[x]" H11 "\r\n", "E400;"},
    {"GET ?x" H11 "\r\n", "E400;"},
    {"GET %2F" H11 "\r\n", "E400;"},
    /* Expect */
    {"POST /" H11 "Expect: 100-continue-x\r\nContent-Length: 1\r\n\r\nx",
     "E417;"},
    {"POST /" H11 "Expect: 100-continue\r\nExpect: foo\r\n\r\n", "E417;"},
    /* chunked bodies */
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n-5\r\n", "POST / 1.1 "
                                                              "keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5_0\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5\rhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n",
     "POST / 1.1 keep C <helloE400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
     "POST / 1.1 keep C <helloE400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\r\n",
     "POST / 1.1 keep C <helloE400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
     "10000000000000000\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
     "ffffffffffffffff\r\n",
     "POST / 1.1 keep C <E413;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a \r\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n0\r\nX : a\r\n\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n0\r\n\n",
     "POST / 1.1 keep C <E400;"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\n\r\n0\r\n\rX",
     "POST / 1.1 keep C <E400;"},
    /* nothing after an error is parsed */
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /" H11 "\r\n", "E400;"},
};

static void run_table(const pcase_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_all(NULL, t[i].raw, strlen(t[i].raw), t[i].expect);
}

static void test_valid(void **state)
{
    (void)state;
    run_table(valid_cases, sizeof(valid_cases) / sizeof(valid_cases[0]));
}

static void test_malformed(void **state)
{
    (void)state;
    run_table(bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]));
}

/* Cases with NUL bytes need explicit lengths. */
static void test_nul_bytes(void **state)
{
    static const char a[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char b[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    static const char c[] = "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n";
    static const char d[] = "\0GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char e[] = "POST / HTTP/1.1\r\nHost: a\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n5\0\r\n";

    (void)state;
    check_all(NULL, a, sizeof(a) - 1, "E400;");
    check_all(NULL, b, sizeof(b) - 1, "E400;");
    check_all(NULL, c, sizeof(c) - 1, "E400;");
    check_all(NULL, d, sizeof(d) - 1, "E400;");
    check_all(NULL, e, sizeof(e) - 1, "POST / 1.1 keep C <E400;");
}

/* A request of exactly `len` bytes: "GET /xxx... HTTP/1.1\r\n" */
static char *long_line(size_t len, const char *rest)
{
    size_t fixed = strlen("GET / HTTP/1.1\r\n"), n = strlen(rest);
    char *s = malloc(len + n + 1);

    assert_true(len >= fixed);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'x', len - fixed);
    memcpy(s + 5 + len - fixed, " HTTP/1.1\r\n", 11);
    memcpy(s + len, rest, n + 1);
    return s;
}

static void test_limits_request_line(void **state)
{
    zg_http_limits_t lim = {100, 200, 4, 10};
    char *s, expect[200];

    (void)state;
    /* exactly at the limit: fine; one byte over: 414 */
    s = long_line(100, "Host: a\r\n\r\n");
    snprintf(expect, sizeof(expect), "GET /%.*s 1.1 keep;", 100 - 16, s + 5);
    check_all(&lim, s, strlen(s), expect);
    free(s);
    s = long_line(101, "Host: a\r\n\r\n");
    check_all(&lim, s, strlen(s), "E414;");
    /* detected before the line ends */
    check_all(&lim, s, 99, "");
    check_all(&lim, s, 100, "E414;");
    free(s);
    /* the default limit, 8 KiB */
    s = long_line(8193, "Host: a\r\n\r\n");
    check_all(NULL, s, strlen(s), "E414;");
    free(s);
    /* a method that fills the line is a bad request, not a long URI */
    s = malloc(300);
    memset(s, 'A', 150);
    memcpy(s + 150, " / HTTP/1.1\r\nHost: a\r\n\r\n", 24);
    check_all(&lim, s, 174, "E400;");
    check_all(&lim, s, 100, "E400;");
    free(s);
    /* blank lines count too, but are a 400 if they alone fill it */
    s = malloc(201);
    for (int i = 0; i < 100; i++)
        memcpy(s + 2 * i, "\r\n", 2);
    check_all(&lim, s, 200, "E400;");
    free(s);
}

#define CHECK(lim, lit, expect) check_all(lim, lit, sizeof(lit) - 1, expect)

static void test_limits_headers(void **state)
{
    zg_http_limits_t lim = {100, 64, 4, 10};
    char buf[512], fill[128];

    (void)state;
    /* fields: "A: 12\r\n" (7) "Host: a\r\n" (9) "B: <fill>\r\n" (5 + n)
     * and the final CRLF (2): 64 bytes with n = 41 is the limit */
    memset(fill, 'f', sizeof(fill));
    snprintf(buf, sizeof(buf),
             "GET / HTTP/1.1\r\nA: 12\r\nHost: a\r\nB: %.*s\r\n\r\n", 41, fill);
    check_all(&lim, buf, strlen(buf), "GET / 1.1 keep;");
    snprintf(buf, sizeof(buf),
             "GET / HTTP/1.1\r\nA: 12\r\nHost: a\r\nB: %.*s\r\n\r\n", 42, fill);
    check_all(&lim, buf, strlen(buf), "E431;");
    /* without the end in sight: 431 as soon as the limit is passed */
    check_all(&lim, buf, strlen(buf) - 1, "E431;");
    /* too many fields: 4 is fine, 5 is not */
    CHECK(&lim, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
          "GET / 1.1 keep;");
    CHECK(&lim,
          "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
          "E431;");
    /* trailers count against the same limits */
    CHECK(&lim,
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
          "POST / 1.1 keep C <>;");
    CHECK(&lim,
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
          "POST / 1.1 keep C <E431;");
    snprintf(buf, sizeof(buf),
             "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "0\r\nA: %.*s\r\n\r\n",
             64, fill);
    check_all(&lim, buf, strlen(buf), "POST / 1.1 keep C <E431;");
}

static void test_limits_body(void **state)
{
    zg_http_limits_t lim = {100, 200, 4, 10};

    (void)state;
    CHECK(&lim,
          "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
          "0123456789",
          "POST / 1.1 keep L10 <0123456789>;");
    CHECK(&lim, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
          "E413;");
    CHECK(&lim,
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n",
          "POST / 1.1 keep C <0123456789>;");
    CHECK(&lim,
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\n01234\r\n6\r\n",
          "POST / 1.1 keep C <01234E413;");
}

/* Parsing resumes where it stopped: .off advances over what was seen. */
static void test_resume_offset(void **state)
{
    static const char req[] = "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";
    unsigned char *scratch = malloc(ZG_HTTP_SCRATCH(&default_limits));
    zg_http_head_t h;
    zg_view_t v[2];
    zg_input_t in = {v, 1, 0, 17};

    (void)state;
    zg_http_head_reset(&h);
    v[0].data = guard_put(0, req, 17);
    v[0].len = 17;
    assert_int_equal(zg_http_parse_head(&h, &in, 0, &default_limits, scratch),
                     0);
    assert_int_equal(h.off, 17);
    assert_int_equal(h.state, S_VERSION);
    /* Replace the bytes already seen: the parser must not look at them
     * again (they are past its offset). */
    v[0].data = guard_put(0, "XXXXXXXXXXXXXXXXX", 17);
    v[1].data = guard_put(1, req + 17, sizeof(req) - 1 - 17);
    v[1].len = sizeof(req) - 1 - 17;
    in.nviews = 2;
    in.total = sizeof(req) - 1;
    assert_int_equal(zg_http_parse_head(&h, &in, 0, &default_limits, scratch),
                     (long)sizeof(req) - 1);
    free(scratch);
}

static void test_gather(void **state)
{
    zg_view_t v[4];
    zg_input_t in = {v, 4, 0, 10};
    unsigned char dst[16];
    const unsigned char *p;

    (void)state;
    v[0].data = guard_put(0, "abc", 3);
    v[0].len = 3;
    v[1].data = guard_put(1, "", 0);
    v[1].len = 0;
    v[2].data = guard_put(2, "defg", 4);
    v[2].len = 4;
    v[3].data = guard_put(3, "hij", 3);
    v[3].len = 3;
    p = zg_http_gather(&in, 3, 4, dst);
    assert_ptr_equal(p, v[2].data); /* in one view: no copy */
    p = zg_http_gather(&in, 1, 9, dst);
    assert_memory_equal(p, "bcdefghij", 9);
    assert_ptr_equal(p, dst);
    p = zg_http_gather(&in, 0, 10, dst);
    assert_memory_equal(p, "abcdefghij", 10);
}

/* Case-insensitive field names, values split anywhere: the known fields
 * are still found (exercises gathering across views and calls). */
static void test_known_fields_split(void **state)
{
    static const char req[] =
        "POST /x HTTP/1.1\r\nhOsT: example.org\r\n"
        "TRANSFER-ENCODING:   chunked   \r\nCONNECTION: close\r\n"
        "EXPECT: 100-CONTINUE\r\n\r\n3\r\nabc\r\n0\r\n\r\n";

    (void)state;
    check_all(NULL, req, sizeof(req) - 1, "POST /x 1.1 close 100 C <abc>;");
}

/* Deterministic pseudo-random splits of a long pipelined stream into many
 * views and calls, the way the host presents them: each call gets every
 * unconsumed byte, oldest first, one view per receive. */
static void test_random_splits(void **state)
{
    static const char unit[] =
        "GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"
        "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\nabcdefg"
        "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
    static char stream[sizeof(unit) * 20], expect[1 << 14], got[1 << 14];
    size_t n = 0;
    uint32_t seed = 12345;

    (void)state;
    for (int i = 0; i < 20; i++) {
        memcpy(stream + n, unit, sizeof(unit) - 1);
        n += sizeof(unit) - 1;
    }
    run_whole(NULL, stream, n, expect, sizeof(expect));
    for (int round = 0; round < 300; round++) {
        sess_t *s = malloc(sizeof(*s));
        zg_view_t v[256];
        size_t bounds[256], pos = 0, first = 0;
        unsigned nv = 0;

        assert_non_null(s);
        sess_init(s, NULL);
        while (pos < n) {
            zg_input_t in;
            size_t len, used, acc = 0;

            seed = seed * 1103515245u + 12345u;
            len = 1 + (seed >> 16) % (round % 2 ? 7 : 97);
            if (len > n - pos)
                len = n - pos;
            assert_true(nv < 256);
            bounds[nv++] = len;
            pos += len;
            for (unsigned k = 0; k < nv; k++) {
                v[k].data = guard_put(k, stream + first + acc, bounds[k]);
                v[k].len = bounds[k];
                acc += bounds[k];
            }
            in.views = v;
            in.nviews = nv;
            in.total = acc;
            in.flags = 0;
            used = sess_feed(s, &in);
            assert_true(used <= acc);
            first += used;
            while (nv > 0 && used >= bounds[0]) {
                used -= bounds[0];
                memmove(bounds, bounds + 1, (nv - 1) * sizeof(bounds[0]));
                nv--;
            }
            if (nv > 0)
                bounds[0] -= used;
        }
        assert_true(s->loglen < sizeof(got));
        memcpy(got, s->log, s->loglen + 1);
        sess_fini(s);
        free(s);
        if (strcmp(got, expect) != 0)
            fail_msg("round %d: got\n%s\nexpect\n%s", round, got, expect);
    }
}

static int group_setup(void **state)
{
    (void)state;
    guard_setup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_limits_request_line),
        cmocka_unit_test(test_limits_headers),
        cmocka_unit_test(test_limits_body),
        cmocka_unit_test(test_resume_offset),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_known_fields_split),
        cmocka_unit_test(test_random_splits),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
