/* SPDX-License-Identifier: MIT */
/*
 * Description: integration-test fixture, an HTTP handler (zerg/http.h)
 * that answers with what it was handed: method, target, path, query and
 * its pairs, route and rest, every field line, one looked up by name, the
 * body's length and a checksum. Special paths exercise the rest of the
 * API: /fail returns an error after building a response, /later answers
 * through a post to its own reactor, /fields tries fields the plugin owns
 * or that are malformed, /big answers ?n bytes with reserve/commit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <zerg/http.h>

static const zg_http_api_t *http;

/* Append to the response body, printf-style. */
static void hx_printf(zg_http_response_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void hx_printf(zg_http_response_t *r, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        http->write(r, buf,
                    (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

#define V(v) (int)(v).len, (const char *)(v).data

static void hx_later(zg_conn_t *c, void *conn_data, void *arg)
{
    zg_http_response_t *r = arg;

    (void)conn_data;
    hx_printf(r, "later %s\n", c != NULL ? "open" : "gone");
    http->finish(r);
}

static int hx_handle(const zg_http_request_t *req, zg_http_response_t *r)
{
    zg_view_t name, value;
    uint32_t sum = 0;
    size_t pos = 0;

    http->add_header(r, "Content-Type", 12, "text/plain", 10);
    if (zg_http_view_is(&req->path, "/fail")) {
        hx_printf(r, "never sent");
        return -EIO;
    }
    if (zg_http_view_is(&req->path, "/later")) {
        if (http->zg->post(req->conn_id, hx_later, r) != 0)
            return -EIO;
        return ZG_HTTP_LATER;
    }
    if (zg_http_view_is(&req->path, "/fields")) {
        hx_printf(r, "cl=%d ",
                  http->add_header(r, "content-length", 14, "1", 1));
        hx_printf(r, "server=%d ", http->add_header(r, "Server", 6, "x", 1));
        hx_printf(r, "space=%d ", http->add_header(r, "X Y", 3, "x", 1));
        hx_printf(r, "crlf=%d ", http->add_header(r, "X-Y", 3, "a\r\nb", 4));
        hx_printf(r, "status=%d ", http->status(r, 99));
        hx_printf(r, "ok=%d\n", http->add_header(r, "X-Fixture", 9, "a b", 3));
        http->status(r, 201);
        http->finish(r); /* finishing inside handle() is allowed */
        return ZG_HTTP_DONE;
    }
    if (zg_http_view_is(&req->path, "/big")) {
        int64_t n = 0;
        size_t left, room;

        if (zg_http_query_get(&req->query, "n", &value))
            zg_http_view_i64(&value, &n);
        left = n > 0 ? (size_t)n : 0;
        while (left > 0) {
            char *p = http->reserve(r, left < 4096 ? left : 4096, &room);

            if (p == NULL)
                return -ENOMEM;
            if (room > left)
                room = left;
            for (size_t i = 0; i < room; i++)
                p[i] = (char)('a' + (left - i) % 26);
            http->commit(r, room);
            left -= room;
        }
        return ZG_HTTP_DONE;
    }
    hx_printf(r, "method=%.*s\ntarget=%.*s\npath=%.*s\nquery=%.*s\n",
              V(req->method), V(req->target), V(req->path), V(req->query));
    hx_printf(r, "route=%.*s\nrest=%.*s\nkeep=%d\nminor=%d\n", V(req->route),
              V(req->rest), req->keep_alive, req->version_minor);
    while (zg_http_query_next(&req->query, &pos, &name, &value))
        hx_printf(r, "q %.*s=%.*s\n", V(name), V(value));
    if (http->header(req, "X-TEST", 6, &value))
        hx_printf(r, "x-test=%.*s\n", V(value));
    for (size_t i = 0; http->header_at(req, i, &name, &value); i++)
        hx_printf(r, "h %.*s: %.*s\n", V(name), V(value));
    for (size_t i = 0; i < req->body.len; i++)
        sum = sum * 31 + req->body.data[i];
    hx_printf(r, "body=%zu %u\n", req->body.len, (unsigned)sum);
    if (req->body.len <= 64)
        hx_printf(r, "body_text=%.*s\n", V(req->body));
    return ZG_HTTP_DONE;
}

static int hx_init(const zg_http_api_t *api, const void *conf,
                   void **route_data, char *errbuf, size_t errlen)
{
    (void)conf;
    (void)route_data;
    (void)errbuf;
    (void)errlen;
    http = api;
    return 0;
}

static const zg_http_handler_t hx_handler = {
    .magic = ZG_HTTP_HANDLER_MAGIC,
    .abi_major = ZG_HTTP_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = sizeof(zg_http_handler_t),
    .name = "hx_dump",
    .version = "1",
    .init = hx_init,
    .handle = hx_handle,
};

ZG_EXPORT const zg_http_handler_t *ZG_HTTP_HANDLER_ENTRY(void)
{
    return &hx_handler;
}
