/* SPDX-License-Identifier: MIT */
/*
 * Description: the "arena" HTTP handler, HttpArena's HTTP/1.1 endpoints
 * and the example of a handler that answers at once (copy it):
 *
 *   GET  /baseline11?a=1&b=2   "3": the sum of the query's integers
 *   POST /baseline11?a=1&b=2   with the body "20": "23", the query's sum
 *                              plus the integer body (Content-Length or
 *                              chunked: the http plugin decodes it)
 *   GET  /pipeline             "ok"
 *
 * text/plain; a value that is not an integer (or a sum that overflows)
 * is a 400. Route it with
 *   { "path": "/baseline11", "handler": "arena" },
 *   { "path": "/pipeline", "handler": "arena" }
 * or once with { "path": "/", "match": "prefix", "handler": "arena" }
 * (other paths get 404 from it).
 */
#include <stdint.h>

#include <zerg/http.h>

static const zg_http_api_t *http; /* the http plugin's functions */

/* An answer in text/plain. */
static int arena_reply(zg_http_response_t *r, unsigned status, const char *text,
                       size_t len)
{
    http->status(r, status);
    http->add_header(r, "Content-Type", 12, "text/plain", 10);
    http->write(r, text, len);
    return ZG_HTTP_DONE; /* the plugin sends it (finish) */
}

/* Add every integer value of the query to *sum; -1 on a bad one. */
static int arena_query_sum(const zg_view_t *query, int64_t *sum)
{
    zg_view_t name, value;
    size_t pos = 0;
    int64_t n;

    while (zg_http_query_next(query, &pos, &name, &value)) {
        if (zg_http_view_i64(&value, &n) < 0 ||
            __builtin_add_overflow(*sum, n, sum))
            return -1;
    }
    return 0;
}

/* The body as an integer, white space around it allowed. */
static int arena_body_int(const zg_view_t *body, int64_t *n)
{
    zg_view_t v = *body;

    while (v.len > 0 && (v.data[0] == ' ' || v.data[0] == '\t' ||
                         v.data[0] == '\r' || v.data[0] == '\n')) {
        v.data++;
        v.len--;
    }
    while (v.len > 0 &&
           (v.data[v.len - 1] == ' ' || v.data[v.len - 1] == '\t' ||
            v.data[v.len - 1] == '\r' || v.data[v.len - 1] == '\n'))
        v.len--;
    return zg_http_view_i64(&v, n);
}

/* sum in decimal into d (24 bytes); returns the length. */
static size_t arena_itoa(char *d, int64_t sum)
{
    uint64_t u = sum < 0 ? 0 - (uint64_t)sum : (uint64_t)sum;
    char tmp[24];
    size_t n = 0, k = 0;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (sum < 0)
        d[k++] = '-';
    while (n > 0)
        d[k++] = tmp[--n];
    return k;
}

static int arena_handle(const zg_http_request_t *req, zg_http_response_t *r)
{
    int get = zg_http_view_is(&req->method, "GET") ||
              zg_http_view_is(&req->method, "HEAD");
    int post = zg_http_view_is(&req->method, "POST");
    int64_t sum = 0, n;
    char text[24];

    if (zg_http_view_is(&req->path, "/pipeline")) {
        if (!get)
            goto not_allowed;
        return arena_reply(r, 200, "ok", 2);
    }
    if (!zg_http_view_is(&req->path, "/baseline11"))
        return arena_reply(r, 404, "Not Found\n", 10);
    if (!get && !post)
        goto not_allowed;
    if (arena_query_sum(&req->query, &sum) < 0)
        return arena_reply(r, 400, "bad number\n", 11);
    if (post && (arena_body_int(&req->body, &n) < 0 ||
                 __builtin_add_overflow(sum, n, &sum)))
        return arena_reply(r, 400, "bad number\n", 11);
    return arena_reply(r, 200, text, arena_itoa(text, sum));
not_allowed:
    http->add_header(r, "Allow", 5, "GET, HEAD, POST", 15);
    return arena_reply(r, 405, "Method Not Allowed\n", 19);
}

static int arena_init(const zg_http_api_t *api, const void *conf,
                      void **route_data, char *errbuf, size_t errlen)
{
    (void)conf;
    (void)route_data;
    (void)errbuf;
    (void)errlen;
    http = api;
    return 0;
}

static const zg_http_handler_t arena_handler = {
    .magic = ZG_HTTP_HANDLER_MAGIC,
    .abi_major = ZG_HTTP_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = sizeof(zg_http_handler_t),
    .name = "arena",
    .version = "1.0.0",
    .init = arena_init,
    .handle = arena_handle,
};

ZG_EXPORT const zg_http_handler_t *ZG_HTTP_HANDLER_ENTRY(void)
{
    return &arena_handler;
}
