/* SPDX-License-Identifier: MIT */
/*
 * Description: the zerg HTTP handler ABI. An application handler is a .so
 * that the http plugin loads for the routes that name it; it gets each
 * request of those routes parsed, checked and complete (body included)
 * and answers through a response handle, at once or later from threads of
 * its own. Plain C11 over zerg/plugin.h, like it free of io_uring,
 * liburing and jansson types and of any #if on build options: a handler
 * built against handler ABI 1.x loads into any http plugin of major 1
 * whose minor is at least the handler's abi_minor. See
 * zerg-http-handler(3).
 *
 * A handler exports exactly one symbol, ZG_HTTP_HANDLER_ENTRY
 * (zg_http_handler_entry_v1), returning a pointer to a const
 * zg_http_handler_t that lives as long as the .so. Structs are
 * append-only and carry their size both ways, as in zerg/plugin.h.
 */
#ifndef ZG_HTTP_H
#define ZG_HTTP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <zerg/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZG_HTTP_HANDLER_MAGIC 0x7a676868u /* "zghh" */
#define ZG_HTTP_ABI_MAJOR     1
#define ZG_HTTP_ABI_MINOR     0

#define ZG_HTTP_HANDLER_ENTRY      zg_http_handler_entry_v1
#define ZG_HTTP_HANDLER_ENTRY_NAME "zg_http_handler_entry_v1"

/* A response being built. Opaque; from the handler's handle() until the
 * handler's finish(), whatever happens to the connection meanwhile. */
typedef struct zg_http_response_s zg_http_response_t;

/*
 * A complete request, as handle() gets it. The struct and every view in
 * it are valid for the duration of the handle() call only: copy what a
 * later answer needs. Views point straight into the receive buffers where
 * the bytes are contiguous there (zero copy), else into a copy the http
 * plugin made; a view of length 0 has a valid, non-NULL data pointer.
 * Nothing is decoded: percent-escapes stay as sent (see
 * zg_http_pct_decode() below).
 */
typedef struct zg_http_request_s {
    uint32_t struct_size;  /* sizeof(zg_http_request_t) as the host built it */
    uint8_t version_minor; /* HTTP/1.0 or HTTP/1.1 (1.2..1.9 read as 1.1) */
    uint8_t keep_alive;    /* the connection stays open after the response */
    uint16_t reserved;
    zg_view_t method; /* a token, case-sensitive: "GET", "POST", ... */
    zg_view_t target; /* the request-target as sent */
    zg_view_t path;   /* the target's path: "/" then path characters, no
                         query ("/" for "http://host" targets) */
    zg_view_t query;  /* after the '?', without it; empty if none */
    /* The whole body: Content-Length bytes, or a chunked body decoded
     * (trailers dropped), at most the route's max_body_size; empty if
     * the request has none. */
    zg_view_t body;
    zg_view_t route;  /* the "path" of the route that matched */
    zg_view_t rest;   /* path after route: what a prefix route left over */
    void *route_data; /* what init() stored for this route */
    /* The connection. zerg/plugin.h calls (peer_addr, conn_id, log...)
     * on it are allowed on this thread during the call; never send,
     * close or pause it: answer through the response. */
    zg_conn_t *conn;
    uint64_t conn_id; /* api->zg->conn_id(conn): the id api->zg->post takes */
    const void *host; /* the http plugin's: header lookups use it */
} zg_http_request_t;

/*
 * The http plugin's functions, handed to init(); the table lives as long
 * as the process. "Reactor thread" means: inside handle() for that
 * request, or inside a function that api->zg->post() runs for the
 * request's conn_id. Functions return 0 or -errno unless stated.
 */
typedef struct zg_http_api_s {
    uint32_t struct_size; /* sizeof(zg_http_api_t) as the host was built */
    uint16_t abi_major;   /* ZG_HTTP_ABI_MAJOR of the http plugin */
    uint16_t abi_minor;   /* ZG_HTTP_ABI_MINOR of the http plugin */
    /* The server's own table (zerg/plugin.h): log, post, conn_id,
     * peer_addr, reactor_id, draining. */
    const zg_api_t *zg;

    /* ---- requests (during handle() only) ---- */

    /* The value of the first field line whose name is name[0..name_len)
     * (compared without regard to case), without the white space around
     * it: 1 and *value, or 0 (none; *value is empty). Several lines of
     * one field are not joined: walk them with header_at(). Linear in the
     * head's size. */
    int (*header)(const zg_http_request_t *req, const char *name,
                  size_t name_len, zg_view_t *value);

    /* Field line i (0 = the first) of the head, in order: 1 with *name
     * and *value, or 0 past the last line. */
    int (*header_at)(const zg_http_request_t *req, size_t i, zg_view_t *name,
                     zg_view_t *value);

    /* ---- responses (reactor thread; see finish() for the one
     * exception) ---- */

    /* The status: 200..599, 200 by default. 204 and 304 send no body and
     * no Content-Length (a body written is dropped). -EINVAL. */
    int (*status)(zg_http_response_t *r, unsigned status);

    /* Add the field line "name: value" (copies both). name is a token of
     * 1..64 characters, value is visible ASCII, spaces and tabs inside,
     * at most 4096 bytes. The plugin owns Content-Length,
     * Transfer-Encoding, Connection, Keep-Alive, Upgrade, Trailer, Date
     * and Server: -EPERM for those. -EINVAL (syntax), -ENOSPC (over 16
     * KiB of fields in one response), -ENOMEM. */
    int (*add_header)(zg_http_response_t *r, const char *name, size_t name_len,
                      const char *value, size_t value_len);

    /* Append len bytes (copied) to the body. A HEAD request gets the
     * Content-Length of the body but not the body. -EFBIG past
     * ZG_HTTP_MAX_RESPONSE bytes of body, -ENOMEM. */
    int (*write)(zg_http_response_t *r, const void *data, size_t len);

    /* Format the body in place: at least min bytes of room at its end
     * (*avail gets the real room), or NULL (-EFBIG or -ENOMEM as write()
     * would say). Nothing is added until commit(r, len) with len <=
     * *avail; another call on r in between drops the reservation. */
    void *(*reserve)(zg_http_response_t *r, size_t min, size_t *avail);
    int (*commit)(zg_http_response_t *r, size_t len);

    /* Send the response (the status line, the fields, Content-Length,
     * Date, Server, Connection, the body) and free r: r is invalid
     * afterwards, whatever the result. Exactly once per response. Its
     * connection may have gone meanwhile (a reset, a timeout, a stop):
     * then nothing is sent, r is only freed and finish() returns -EPIPE.
     * Reactor thread; the one exception: when api->zg->post() refused
     * with -ESHUTDOWN, the server has stopped and closed every
     * connection, and the thread holding r calls finish(r) to free it.
     * Responses go out in the order of their requests: a pipelined
     * request behind one that is still pending waits for it. */
    int (*finish)(zg_http_response_t *r);

    /* 1 while r's connection is open, 0 once it has gone (finish() will
     * only free r). Reactor thread. Lets a handler skip work nobody will
     * read. */
    int (*alive)(const zg_http_response_t *r);
} zg_http_api_t;

/* True if the plugin's table has member fn (it may be older than ours). */
#define ZG_HTTP_API_HAS(api, fn)                                               \
    ((api)->struct_size >= offsetof(zg_http_api_t, fn) + sizeof((api)->fn) &&  \
     (api)->fn != NULL)

/* The most body bytes a response holds. */
#define ZG_HTTP_MAX_RESPONSE ((size_t)64 << 20)

/* What handle() returns. */
#define ZG_HTTP_DONE                                                           \
    0 /* answered: the plugin calls finish() if the                            \
         handler did not */
#define ZG_HTTP_LATER                                                          \
    1 /* the handler keeps r and calls finish() later,                         \
         normally from a function run by api->zg->post() */
/* Anything negative: the request failed. Unless the handler called
 * finish() already, the plugin drops what r holds and answers 500. */

/*
 * The handler descriptor. The plugin copies it into a zeroed struct of
 * its own size, so fields appended after the handler was built read as
 * 0/NULL.
 */
typedef struct zg_http_handler_s {
    uint32_t magic;       /* ZG_HTTP_HANDLER_MAGIC */
    uint16_t abi_major;   /* ZG_HTTP_ABI_MAJOR the handler was built with */
    uint16_t abi_minor;   /* lowest plugin minor the handler needs */
    uint32_t struct_size; /* sizeof(zg_http_handler_t) as built */
    uint32_t flags;       /* 0 */
    const char *name;     /* [a-z0-9_-]+, for logs */
    const char *version;  /* free text */

    /* The keys of a route's "config" object (zerg/plugin.h, host-owned
     * configuration) and the size of the struct they fill. The server
     * checks the operator's "config" against them with its usual
     * messages and `zerg -T` shows the result with every default. NULL:
     * the route takes no "config" (an empty one is fine). */
    const zg_key_t *conf_keys;
    size_t conf_size;

    /* Main thread, once per route naming the handler, before any socket
     * is opened. conf is the filled struct (NULL without conf_keys),
     * valid until fini() returns. *route_data is given to every request
     * of the route (req->route_data). A non-zero return refuses the
     * configuration; errbuf (errlen bytes) takes a one-line reason.
     * init() runs before the server blocks the signals it handles on its
     * main thread (INT, TERM, QUIT, HUP, USR1): start threads here with
     * every signal blocked (pthread_sigmask around pthread_create), or a
     * stop signal may be delivered to them and kill the process.
     * Optional. */
    int (*init)(const zg_http_api_t *api, const void *conf, void **route_data,
                char *errbuf, size_t errlen);

    /* Main thread, once per successful init(), after every reactor has
     * stopped (every post has run or been refused). Join worker threads
     * here; after it returns nothing of the handler may run. Optional. */
    void (*fini)(void *route_data);

    /* A complete request of one of the handler's routes, on the reactor
     * thread that owns its connection. Answer through r; return
     * ZG_HTTP_DONE, ZG_HTTP_LATER or a negative value (above). Calls for
     * one connection never overlap: the next request of a connection is
     * handed over only once the previous response is finished. Must not
     * block: hand slow work to threads of your own. Required. */
    int (*handle)(const zg_http_request_t *req, zg_http_response_t *r);
} zg_http_handler_t;

/* The one symbol a handler exports. A handler defines it as
 *     ZG_EXPORT const zg_http_handler_t *ZG_HTTP_HANDLER_ENTRY(void)
 *     { return &desc; }
 * Called once, on the main thread, right after dlopen. */
typedef const zg_http_handler_t *(*zg_http_handler_entry_fn)(void);
ZG_EXPORT const zg_http_handler_t *ZG_HTTP_HANDLER_ENTRY(void);

/* ==================================================================== */
/*
 * Helpers over views: static inline, nothing crosses the ABI, no
 * allocation, no state, any thread.
 */

/* 1 if v holds exactly the NUL-terminated string s. */
static inline int zg_http_view_is(const zg_view_t *v, const char *s)
{
    size_t n = strlen(s);

    return v->len == n && (n == 0 || memcmp(v->data, s, n) == 0);
}

/*
 * The next "name=value" pair of a query at or after *pos (start at 0):
 * pairs are separated by '&', a pair without '=' has an empty value,
 * empty pairs are skipped. 1 with *name, *value and *pos moved past the
 * pair, or 0 at the end. Nothing is decoded.
 */
static inline int zg_http_query_next(const zg_view_t *query, size_t *pos,
                                     zg_view_t *name, zg_view_t *value)
{
    const unsigned char *q = query->data;
    size_t i = *pos, n = query->len, start, eq;

    while (i < n && q[i] == '&')
        i++;
    if (i >= n) {
        *pos = n;
        return 0;
    }
    start = i;
    eq = n;
    while (i < n && q[i] != '&') {
        if (q[i] == '=' && eq == n)
            eq = i;
        i++;
    }
    name->data = q + start;
    if (eq < i) {
        name->len = eq - start;
        value->data = q + eq + 1;
        value->len = i - eq - 1;
    } else {
        name->len = i - start;
        value->data = q + i;
        value->len = 0;
    }
    *pos = i;
    return 1;
}

/*
 * The value of the first parameter of the query named name (compared as
 * sent, undecoded): 1 and *value, or 0 (*value empty).
 */
static inline int zg_http_query_get(const zg_view_t *query, const char *name,
                                    zg_view_t *value)
{
    zg_view_t k, v;
    size_t pos = 0;

    while (zg_http_query_next(query, &pos, &k, &v)) {
        if (zg_http_view_is(&k, name)) {
            *value = v;
            return 1;
        }
    }
    value->data = query->data;
    value->len = 0;
    return 0;
}

/*
 * v as a decimal integer: an optional '-' or '+', then 1..19 digits,
 * nothing else (no spaces). 0 and *out, -EINVAL (not a number) or
 * -ERANGE (outside int64_t).
 */
static inline int zg_http_view_i64(const zg_view_t *v, int64_t *out)
{
    const unsigned char *p = v->data;
    size_t i = 0, n = v->len;
    uint64_t acc = 0, lim;
    int neg = 0;

    if (n > 0 && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (i == n || n - i > 19)
        return -EINVAL;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -EINVAL;
        acc = acc * 10 + (uint64_t)(p[i] - '0');
        if (acc > lim)
            return -ERANGE;
    }
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 0;
}

/*
 * Decode percent-escapes (%XX) of src into dst (room for cap bytes); with
 * plus != 0 a '+' is a space too (HTML form encoding of a query). Returns
 * the decoded length, or -1 if a '%' is not followed by two hex digits or
 * dst is too small. dst may be src's own bytes (decoding only shrinks).
 */
static inline long zg_http_pct_decode(const zg_view_t *src, char *dst,
                                      size_t cap, int plus)
{
    const unsigned char *s = src->data;
    size_t i = 0, o = 0;

    while (i < src->len) {
        unsigned char c = s[i++];

        if (c == '%') {
            int h = 0;

            if (src->len - i < 2)
                return -1;
            for (int k = 0; k < 2; k++) {
                unsigned char x = s[i++];

                h <<= 4;
                if (x >= '0' && x <= '9')
                    h |= x - '0';
                else if ((x | 0x20) >= 'a' && (x | 0x20) <= 'f')
                    h |= (x | 0x20) - 'a' + 10;
                else
                    return -1;
            }
            c = (unsigned char)h;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (o == cap)
            return -1;
        dst[o++] = (char)c;
    }
    return (long)o;
}

#ifdef __cplusplus
}
#endif

#endif /* ZG_HTTP_H */
