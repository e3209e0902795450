/* SPDX-License-Identifier: MIT */
/*
 * Description: libFuzzer target for the chunked body path of the http
 * plugin's echo route. The input is a chunked request body: it is posted
 * to a buffering echo route, whole and cut into pieces, and to a
 * streaming one. The streamed answer says what the body was (complete,
 * malformed, unfinished), and the buffered answer must agree: a 200 with
 * exactly the decoded body and its Content-Length, a 4xx and a close, or
 * nothing yet. Never a 200 before the body proved well-formed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/alog.c"
#include "http/conf.c"
#include "http/parse.c"
#include "http/chunked.c"
#include "http/handler.c"
#include "http/http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NCONF 2

/* Default limits, and small ones so max_body_size and the trailer limits
 * are reached. Both have a buffering (/b) and a streaming (/s) route. */
static const char *const fz_confs[FZ_NCONF] = {
    "{\"routes\":[{\"path\":\"/b\",\"type\":\"echo\"},"
    "{\"path\":\"/s\",\"type\":\"echo\",\"buffering\":false}]}",
    "{\"limits\":{\"max_header_size\":96,\"max_headers\":4,"
    "\"max_body_size\":64},"
    "\"routes\":[{\"path\":\"/b\",\"type\":\"echo\"},"
    "{\"path\":\"/s\",\"type\":\"echo\",\"buffering\":false}]}",
};

#include "host.h"

#define FZ_HEAD(path)                                                          \
    "POST " path " HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\n\r\n"

/* What the first response of a streamed echo says about the body. */
enum { BODY_WAIT = 0, BODY_DONE, BODY_CUT };

/* The end of the head of the response at o[0..n), or 0. */
static size_t fz_head_end(const unsigned char *o, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++) {
        if (memcmp(o + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    }
    return 0;
}

/* Decode the streamed response's chunked body into *body (malloc). It
 * is our own output, so it must be well-formed as far as it goes. */
static int fz_streamed(const fz_out_t *s, unsigned char **body, size_t *blen)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\n";
    size_t i = fz_head_end(s->buf, s->len);

    *body = malloc(s->len + 1);
    *blen = 0;
    if (*body == NULL)
        abort();
    if (s->len < sizeof(ok) - 1 || memcmp(s->buf, ok, sizeof(ok) - 1) != 0 ||
        i == 0)
        abort(); /* a well-formed head is answered at once */
    for (;;) {
        uint64_t size = 0;
        size_t d = 0;

        while (i + d < s->len && (zg_http_ctab[s->buf[i + d]] & T_HEX)) {
            unsigned x = s->buf[i + d] | 0x20;

            size = size * 16 + (x <= '9' ? x - '0' : x - 'a' + 10);
            d++;
        }
        if (i + d + 2 > s->len)
            break;
        if (d == 0 || memcmp(s->buf + i + d, "\r\n", 2) != 0)
            abort();
        i += d + 2;
        if (size == 0) {
            if (i + 2 > s->len)
                break;
            if (memcmp(s->buf + i, "\r\n", 2) != 0)
                abort();
            return BODY_DONE;
        }
        if (size > s->len - i || s->len - i - size < 2)
            break;
        memcpy(*body + *blen, s->buf + i, size);
        *blen += size;
        i += size;
        if (memcmp(s->buf + i, "\r\n", 2) != 0)
            abort();
        i += 2;
    }
    return s->closed ? BODY_CUT : BODY_WAIT;
}

/* The buffered answer agrees with what the streamed one found. */
static void fz_agree(const fz_out_t *b, int verdict, const unsigned char *body,
                     size_t blen)
{
    char cl[48];
    size_t h = fz_head_end(b->buf, b->len);
    int n = snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", blen);

    switch (verdict) {
    case BODY_WAIT:
        if (b->len != 0 || b->closed)
            abort(); /* nothing is said before the body ends */
        return;
    case BODY_CUT:
        /* refused with a status of its own, and closed */
        if (b->len < 12 || memcmp(b->buf, "HTTP/1.1 4", 10) != 0 || !b->closed)
            abort();
        return;
    }
    if (h == 0 || memcmp(b->buf, "HTTP/1.1 200 OK\r\n", 17) != 0 ||
        memmem(b->buf, h, cl, (size_t)n) == NULL || b->len - h < blen ||
        memcmp(b->buf + h, body, blen) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char hb[] = FZ_HEAD("/b"), hs[] = FZ_HEAD("/s");
    static const uint8_t one[1] = {0};
    fz_out_t *a, *c, *s;
    unsigned char *req, *body;
    size_t ncuts, skip, n, blen;
    const uint8_t *cuts;
    int conf, verdict;

    if (size < 2 || size > FZ_MAX_PIECES / 2)
        return 0;
    fz_setup();
    /* data[0]: the listener; data[1]: how many bytes steer the cuts */
    conf = data[0] & 1;
    ncuts = data[1] % 8;
    cuts = data + 2;
    skip = 2 + ncuts;
    if (skip > size)
        skip = size, ncuts = size - 2;
    n = size - skip;
    req = malloc(sizeof(hb) + n);
    a = calloc(1, sizeof(*a));
    c = calloc(1, sizeof(*c));
    s = calloc(1, sizeof(*s));
    if (req == NULL || a == NULL || c == NULL || s == NULL)
        abort();
    memcpy(req + sizeof(hs) - 1, data + skip, n);
    memcpy(req, hs, sizeof(hs) - 1);
    fz_run(conf, req, sizeof(hs) - 1 + n, NULL, 0, s);
    memcpy(req, hb, sizeof(hb) - 1);
    fz_run(conf, req, sizeof(hb) - 1 + n, NULL, 0, a);
    /* no steering bytes: one byte per piece */
    if (ncuts == 0)
        cuts = one, ncuts = 1;
    fz_run(conf, req, sizeof(hb) - 1 + n, cuts, ncuts, c);
    if (!fz_same(a, c)) {
        fprintf(stderr, "split changed the buffered echo: %zu vs %zu bytes\n",
                a->len, c->len);
        abort();
    }
    if (!fz_log_ok(conf, a)) /* no access log configured: no line */
        abort();
    verdict = fz_streamed(s, &body, &blen);
    fz_agree(a, verdict, body, blen);
    free(body);
    free(req);
    free(a->buf);
    free(c->buf);
    free(s->buf);
    free(a);
    free(c);
    free(s);
    return 0;
}
