/* SPDX-License-Identifier: MIT */
/*
 * Description: the http plugin's listener config (see conf.h): the key
 * table the host checks the operator's "config" object against (errors
 * come from the host, at their file:line:column, with "did you mean"),
 * and the route table with prepared response heads built from the struct
 * the host fills.
 *
 * Keys (all optional):
 *   "limits": {
 *     "max_request_line": 64..1048576, default 8192 (else 414)
 *     "max_header_size":  64..1048576, default 32768: field lines and the
 *                         final CRLF; also bounds a chunked trailer (431)
 *     "max_headers":      1..10000, default 100 field lines (431)
 *     "max_body_size":    0..2^40, default 1048576 bytes (413) }
 *     (sizes: bytes, or a string with k, m or g: "64k")
 *   "timeouts": {
 *     "header_ms":    0..3600000, default 10000: a request head (from the
 *                     connection's start or the end of the previous
 *                     response) must be complete within this, else 408
 *                     and close; slow-drip clients (slowloris) are cut
 *     "keepalive_ms": 0..3600000, default 75000: an idle connection
 *                     between requests is closed; 0 disables either
 *     (ms, or a string with ms, s, m or h: "10s") }
 *   "default_routes": true|false, default true: /plaintext and /json
 *   "routes": up to 1024 of {
 *     "path":         "/x", required (the query is ignored)
 *     "match":        "exact" (default) | "prefix": the request's path
 *                     starts with "path"; an exact route wins, then the
 *                     longest prefix
 *     "handler":      a handler's name (searched in $ZERG_PLUGIN_PATH,
 *                     beside http.so and in the plugin directory) or an
 *                     absolute path to its .so:
 *                     the handler answers (handler.c)
 *     "config":       the handler's configuration, checked against its
 *                     key table once it is loaded
 *     "max_body_size": bytes of a request body on this route; 0 (the
 *                     default): limits.max_body_size (413 past it)
 *     "type":         "static" (default) | "echo" (the request body back)
 *     "status":       200..599, default 200
 *     "content_type": default "text/plain" (static),
 *                     "application/octet-stream" (echo)
 *     "body":         static only, up to 1 MiB, default ""
 *     "methods":      1..16 tokens, default ["GET", "HEAD"] (static),
 *                     ["POST", "PUT"] (echo), all (handler); others get
 *                     405 with Allow
 *     "buffering":    echo only, default true: the whole body is read
 *                     (up to max_body_size) before the status is sent;
 *                     false streams it back as it arrives }
 *   "access_log": {
 *     "path":     the file (relative to the configuration file's
 *                 directory; created, appended to, reopened on SIGUSR1),
 *                 "stderr", or "off" (the default): no access log
 *     "format":   "combined" (default): nginx's, with the request time
 *                 appended | "json": one object per line, same fields
 *     "buffer":   4096..16m, default 64k: bytes buffered per reactor
 *     "flush_ms": 1..60000, default 1000: longest a line waits }
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define ZG_HTTP_MAX_ROUTES   1024
#define ZG_HTTP_MAX_PATH     4096
#define ZG_HTTP_MAX_CTYPE    256
#define ZG_HTTP_MAX_BODY_CFG (1u << 20)

static int zg_http_cerr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int zg_http_cerr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

const char *zg_http_reason(unsigned status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 410:
        return "Gone";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 418:
        return "I'm a teapot";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "";
}

/* A route path: '/' then URI path characters, complete %HH escapes. */
static int zg_http_path_ok(const char *s, size_t n)
{
    static const char extra[] = "-._~!$&'()*+,;=:@/%";

    if (n == 0 || s[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '%') {
            if (n - i < 3 || !strchr("0123456789abcdefABCDEF", s[i + 1]) ||
                !strchr("0123456789abcdefABCDEF", s[i + 2]) ||
                s[i + 1] == '\0' || s[i + 2] == '\0')
                return 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c != 0 && strchr(extra, c))))
            return 0;
    }
    return 1;
}

static int zg_http_is_token(const char *s, size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c != 0 && strchr(extra, c))))
            return 0;
    }
    return 1;
}

/* A field value we send: visible ASCII and inner spaces. */
static int zg_http_ctype_ok(const char *s, size_t n)
{
    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    }
    return 1;
}

static char *zg_http_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Format the route's response heads (see zg_http_route_t). */
static int zg_http_route_heads(zg_http_route_t *r, const char *ctype)
{
    char allow[ZG_HTTP_MAX_METHODS * (ZG_HTTP_MAX_METHOD_LEN + 2) + 10];
    size_t alen = 0, cap;
    int n;

    for (unsigned i = 0; i < r->nmethods; i++) {
        memcpy(allow + alen, i ? ", " : "", i ? 2 : 0);
        alen += i ? 2 : 0;
        memcpy(allow + alen, r->methods[i].name, r->methods[i].len);
        alen += r->methods[i].len;
    }
    /* A route answers OPTIONS itself unless it lists it: say so. */
    if (!zg_http_route_allows(r, (const unsigned char *)"OPTIONS", 7)) {
        memcpy(allow + alen, alen ? ", OPTIONS" : "OPTIONS", alen ? 9 : 7);
        alen += alen ? 9 : 7;
    }
    allow[alen] = '\0';
    cap = strlen(ctype) + 160;
    r->head = malloc(cap);
    if (r->head == NULL)
        return -1;
    if (r->type == ZG_HTTP_ROUTE_ECHO)
        n = snprintf(r->head, cap,
                     "HTTP/1.1 %u %s\r\nServer: zerg\r\nContent-Type: %s\r\n",
                     r->status, zg_http_reason(r->status), ctype);
    else if (r->status == 204 || r->status == 304)
        /* No content, so no Content-Length (RFC 9110 8.6). */
        n = snprintf(r->head, cap, "HTTP/1.1 %u %s\r\nServer: zerg\r\n",
                     r->status, zg_http_reason(r->status));
    else
        n = snprintf(r->head, cap,
                     "HTTP/1.1 %u %s\r\nServer: zerg\r\nContent-Type: "
                     "%s\r\nContent-Length: %zu\r\n",
                     r->status, zg_http_reason(r->status), ctype, r->body_len);
    r->head_len = (size_t)n;
    cap = alen + 200;
    r->h405 = malloc(cap);
    if (r->h405 == NULL)
        return -1;
    n = snprintf(r->h405, cap,
                 "HTTP/1.1 405 Method Not Allowed\r\nServer: zerg\r\n"
                 "Allow: %s\r\nContent-Type: text/plain\r\n"
                 "Content-Length: %zu\r\n",
                 allow, sizeof(ZG_HTTP_405_BODY) - 1);
    r->h405_len = (size_t)n;
    cap = alen + 80;
    r->hoptions = malloc(cap);
    if (r->hoptions == NULL)
        return -1;
    n = snprintf(r->hoptions, cap,
                 "HTTP/1.1 204 No Content\r\nServer: zerg\r\nAllow: %s\r\n",
                 allow);
    r->hoptions_len = (size_t)n;
    return 0;
}

static void zg_http_method_add(zg_http_route_t *r, const char *name)
{
    size_t n = strlen(name);

    memcpy(r->methods[r->nmethods].name, name, n);
    r->methods[r->nmethods].len = n;
    r->nmethods++;
}

/* ---- checks the host calls on a value it stored ---- */

static int zg_http_check_path(void *value, char *err, size_t errlen)
{
    const char *s = *(const char **)value;

    if (zg_http_path_ok(s, strlen(s)))
        return 0;
    return zg_http_cerr(err, errlen,
                        "expected a path starting with '/' (URI path "
                        "characters, at most %d)",
                        ZG_HTTP_MAX_PATH);
}

static int zg_http_check_ctype(void *value, char *err, size_t errlen)
{
    const char *s = *(const char **)value;

    if (zg_http_ctype_ok(s, strlen(s)))
        return 0;
    return zg_http_cerr(err, errlen,
                        "expected a media type of 1..%d visible ASCII "
                        "characters",
                        ZG_HTTP_MAX_CTYPE);
}

static int zg_http_check_methods(void *value, char *err, size_t errlen)
{
    const zg_list_t *l = value;
    const char *const *m = l->items;

    for (size_t i = 0; i < l->n; i++) {
        size_t len = strlen(m[i]);

        if (len >= ZG_HTTP_MAX_METHOD_LEN || !zg_http_is_token(m[i], len))
            return zg_http_cerr(err, errlen,
                                "element %zu is not a method name (an HTTP "
                                "token of 1..%d characters)",
                                i, ZG_HTTP_MAX_METHOD_LEN - 1);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(m[j], m[i]) == 0)
                return zg_http_cerr(err, errlen,
                                    "element %zu (\"%s\") is listed twice", i,
                                    m[i]);
        }
    }
    return 0;
}

/* The host calls a key's check with a pointer to the value inside the
 * route it is filling; record that "buffering" was given (its default is
 * true, so the value alone cannot tell) for zg_http_check_route. */
static int zg_http_check_buffering(void *value, char *err, size_t errlen)
{
    zg_http_route_cfg_t *r =
        (zg_http_route_cfg_t *)((char *)value -
                                offsetof(zg_http_route_cfg_t, buffering));

    (void)err;
    (void)errlen;
    r->buffering_set = 1;
    return 0;
}

static int zg_http_check_config(void *value, char *err, size_t errlen)
{
    zg_http_route_cfg_t *r =
        (zg_http_route_cfg_t *)((char *)value -
                                offsetof(zg_http_route_cfg_t, config));

    (void)err;
    (void)errlen;
    r->config_set = 1;
    return 0;
}

/* A handler: a name ([a-z0-9_-], searched) or an absolute path. */
static int zg_http_check_handler(void *value, char *err, size_t errlen)
{
    const char *s = *(const char **)value;

    if (s[0] == '/')
        return 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return zg_http_cerr(err, errlen,
                                "expected a handler name ([a-z0-9_-], "
                                "searched in $ZERG_PLUGIN_PATH and beside "
                                "http.so) or an absolute path to a .so");
    }
    return 0;
}

/* Rules across a route's keys, once all of them are stored. */
static int zg_http_check_route(void *value, char *err, size_t errlen)
{
    const zg_http_route_cfg_t *r = value;
    int echo = r->type == ZG_HTTP_ROUTE_ECHO;
    int empty = r->status == 204 || r->status == 304;

    if (r->handler != NULL) {
        if (echo)
            return zg_http_cerr(err, errlen,
                                "handler: a handler route has no \"type\": "
                                "its handler answers");
        if (r->body != NULL || r->content_type != NULL || r->status != 200)
            return zg_http_cerr(err, errlen,
                                "handler: a handler route takes no "
                                "\"%s\": its handler answers",
                                r->body != NULL           ? "body"
                                : r->content_type != NULL ? "content_type"
                                                          : "status");
    } else if (r->config_set) {
        return zg_http_cerr(err, errlen,
                            "config: only a route with a \"handler\" takes "
                            "a \"config\"");
    }

    if (!echo && r->buffering_set)
        return zg_http_cerr(err, errlen,
                            "buffering: only an echo route reads a body to "
                            "send back");
    if (echo && empty)
        return zg_http_cerr(err, errlen,
                            "status: %d has no content, an echo route needs "
                            "one",
                            (int)r->status);
    if (echo && r->body != NULL)
        return zg_http_cerr(err, errlen,
                            "body: an echo route sends the request body, it "
                            "takes no \"body\"");
    if (empty && r->body != NULL && r->body[0] != '\0')
        return zg_http_cerr(err, errlen, "body: status %d has no content",
                            (int)r->status);
    return 0;
}

/* ---- the key table ---- */

static const char *const zg_http_route_types[] = {"static", "echo", NULL};
static const char *const zg_http_matches[] = {"exact", "prefix", NULL};

static const zg_key_t zg_http_limit_keys[] = {
    {.name = "max_request_line",
     .type = ZG_KEY_SIZE,
     .offset = offsetof(zg_http_limits_cfg_t, max_request_line),
     .min = 64,
     .max = 1 << 20,
     .def = "8192",
     .doc = "bytes of the request line, CRLF included; over it: 414"},
    {.name = "max_header_size",
     .type = ZG_KEY_SIZE,
     .offset = offsetof(zg_http_limits_cfg_t, max_header_size),
     .min = 64,
     .max = 1 << 20,
     .def = "32768",
     .doc = "bytes of the field lines and final CRLF (or of a chunked "
            "trailer); over it: 431"},
    {.name = "max_headers",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_http_limits_cfg_t, max_headers),
     .min = 1,
     .max = 10000,
     .def = "100",
     .doc = "field lines in a head or trailer; over it: 431"},
    {.name = "max_body_size",
     .type = ZG_KEY_SIZE,
     .offset = offsetof(zg_http_limits_cfg_t, max_body_size),
     .min = 0,
     .max = (int64_t)1 << 40,
     .def = "1048576",
     .doc = "bytes of a request body, decoded; over it: 413"},
    {.name = NULL},
};

static const zg_key_t zg_http_timeout_keys[] = {
    {.name = "header_ms",
     .type = ZG_KEY_MSEC,
     .offset = offsetof(zg_http_timeouts_cfg_t, header_ms),
     .min = 0,
     .max = 3600000,
     .def = "10000",
     .doc = "a request head must be complete within this, else 408 and "
            "close; 0: no limit"},
    {.name = "keepalive_ms",
     .type = ZG_KEY_MSEC,
     .offset = offsetof(zg_http_timeouts_cfg_t, keepalive_ms),
     .min = 0,
     .max = 3600000,
     .def = "75000",
     .doc = "an idle connection between requests is closed after this; 0: "
            "never"},
    {.name = NULL},
};

/* Filled in this order; zg_http_check_route runs after all of them. */
static const zg_key_t zg_http_route_keys[] = {
    {.name = "path",
     .type = ZG_KEY_STRING,
     .flags = ZG_KEY_REQUIRED,
     .offset = offsetof(zg_http_route_cfg_t, path),
     .max = ZG_HTTP_MAX_PATH,
     .doc = "matched against the request-target's path (the query is "
            "ignored): '/' then URI path characters",
     .check = zg_http_check_path},
    {.name = "match",
     .type = ZG_KEY_ENUM,
     .offset = offsetof(zg_http_route_cfg_t, match),
     .def = "\"exact\"",
     .doc = "\"exact\": the path is the request's; \"prefix\": the "
            "request's path starts with it (an exact route wins, then the "
            "longest prefix)",
     .names = zg_http_matches},
    {.name = "handler",
     .type = ZG_KEY_STRING,
     .offset = offsetof(zg_http_route_cfg_t, handler),
     .min = 1,
     .max = 4096,
     .doc = "an application handler answers: its name (searched in "
            "$ZERG_PLUGIN_PATH and beside http.so) or the absolute path of "
            "its .so",
     .check = zg_http_check_handler},
    {.name = "config",
     .type = ZG_KEY_NODE,
     .offset = offsetof(zg_http_route_cfg_t, config),
     .doc = "the handler's configuration, checked against its keys",
     .check = zg_http_check_config},
    {.name = "max_body_size",
     .type = ZG_KEY_SIZE,
     .offset = offsetof(zg_http_route_cfg_t, max_body_size),
     .min = 0,
     .max = (int64_t)1 << 40,
     .def = "0",
     .doc = "bytes of a request body on this route, decoded; 0: "
            "limits.max_body_size; over it: 413"},
    {.name = "type",
     .type = ZG_KEY_ENUM,
     .offset = offsetof(zg_http_route_cfg_t, type),
     .def = "\"static\"",
     .doc = "\"static\": a fixed response; \"echo\": the request body "
            "comes back",
     .names = zg_http_route_types},
    {.name = "status",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_http_route_cfg_t, status),
     .min = 200,
     .max = 599,
     .def = "200",
     .doc = "the response status; 204 and 304 send no body"},
    {.name = "content_type",
     .type = ZG_KEY_STRING,
     .offset = offsetof(zg_http_route_cfg_t, content_type),
     .max = ZG_HTTP_MAX_CTYPE,
     .doc = "the Content-Type value (default text/plain, echo: "
            "application/octet-stream)",
     .check = zg_http_check_ctype},
    {.name = "body",
     .type = ZG_KEY_STRING,
     .offset = offsetof(zg_http_route_cfg_t, body),
     .max = ZG_HTTP_MAX_BODY_CFG,
     .doc = "static routes: the response body (default empty)"},
    {.name = "methods",
     .type = ZG_KEY_LIST,
     .elem = ZG_KEY_STRING,
     .offset = offsetof(zg_http_route_cfg_t, methods),
     .min = 1,
     .max = ZG_HTTP_MAX_METHODS,
     .doc = "methods served, case-sensitive (default GET, HEAD; echo: POST, "
            "PUT; handler: all); others get 405",
     .check = zg_http_check_methods},
    {.name = "buffering",
     .type = ZG_KEY_BOOL,
     .offset = offsetof(zg_http_route_cfg_t, buffering),
     .def = "true",
     .doc = "echo routes: read the whole body before answering; false "
            "streams it back",
     .check = zg_http_check_buffering},
    {.name = NULL},
};

static const char *const zg_http_alog_formats[] = {"combined", "json", NULL};

static const zg_key_t zg_http_alog_keys[] = {
    {.name = "path",
     .type = ZG_KEY_STRING,
     .offset = offsetof(zg_http_alog_cfg_t, path),
     .min = 1,
     .max = 4096,
     .def = "\"off\"",
     .doc = "the log file (relative to the configuration file's directory; "
            "created, appended to, reopened on SIGUSR1), \"stderr\", or "
            "\"off\": no access log"},
    {.name = "format",
     .type = ZG_KEY_ENUM,
     .offset = offsetof(zg_http_alog_cfg_t, format),
     .def = "\"combined\"",
     .names = zg_http_alog_formats,
     .doc = "\"combined\": nginx's combined format with the request time "
            "appended; \"json\": one JSON object per line, same fields"},
    ZG_KEYS_LOG_BUFFERING(zg_http_alog_cfg_t),
    {.name = NULL},
};

const zg_key_t zg_http_conf_keys[] = {
    {.name = "limits",
     .type = ZG_KEY_OBJECT,
     .offset = offsetof(zg_http_cfg_t, limits),
     .def = "{}", /* absent: its keys' defaults */
     .doc = "request size limits",
     .sub = zg_http_limit_keys},
    {.name = "timeouts",
     .type = ZG_KEY_OBJECT,
     .offset = offsetof(zg_http_cfg_t, timeouts),
     .def = "{}", /* absent: its keys' defaults */
     .doc = "request head and keep-alive timeouts",
     .sub = zg_http_timeout_keys},
    {.name = "default_routes",
     .type = ZG_KEY_BOOL,
     .offset = offsetof(zg_http_cfg_t, default_routes),
     .def = "true",
     .doc = "serve /plaintext and /json (GET, HEAD)"},
    {.name = "routes",
     .type = ZG_KEY_LIST,
     .elem = ZG_KEY_OBJECT,
     .offset = offsetof(zg_http_cfg_t, routes),
     .max = ZG_HTTP_MAX_ROUTES,
     .def = "[]",
     .doc = "routes by path (exact or prefix); a route may replace a "
            "default one",
     .sub = zg_http_route_keys,
     .elem_size = sizeof(zg_http_route_cfg_t),
     .check = zg_http_check_route},
    {.name = "access_log",
     .type = ZG_KEY_OBJECT,
     .offset = offsetof(zg_http_cfg_t, access_log),
     .doc = "one line per request (nginx's combined format, or JSON) "
            "through the host's buffered log files",
     .sub = zg_http_alog_keys},
    {.name = NULL},
};

/* ---- the runtime conf ---- */

/* The benchmark routes every listener has unless told otherwise. */
static int zg_http_default_route(zg_http_conf_t *c, const char *path,
                                 const char *ctype, const char *body)
{
    zg_http_route_t *r;

    for (size_t i = 0; i < c->nroutes; i++) {
        if (c->routes[i].match == ZG_HTTP_MATCH_EXACT &&
            strcmp(c->routes[i].path, path) == 0)
            return 0; /* the operator's route wins */
    }
    r = &c->routes[c->nroutes];
    memset(r, 0, sizeof(*r));
    r->max_body = c->limits.max_body_size;
    r->path = zg_http_strndup(path, strlen(path));
    r->body = zg_http_strndup(body, strlen(body));
    if (r->path == NULL || r->body == NULL)
        return -1;
    c->nroutes++;
    r->path_len = strlen(path);
    r->body_len = strlen(body);
    r->status = 200;
    zg_http_method_add(r, "GET");
    zg_http_method_add(r, "HEAD");
    return zg_http_route_heads(r, ctype);
}

static int zg_http_route_build(zg_http_route_t *r,
                               const zg_http_route_cfg_t *rc,
                               const zg_http_limits_t *lim)
{
    const char *const *m = rc->methods.items;
    const char *body = rc->body != NULL ? rc->body : "";
    const char *ctype = rc->content_type;

    r->path_len = strlen(rc->path);
    r->path = zg_http_strndup(rc->path, r->path_len);
    r->body_len = strlen(body);
    r->body = zg_http_strndup(body, r->body_len);
    if (r->path == NULL || r->body == NULL)
        return -1;
    r->match = rc->match == ZG_HTTP_MATCH_PREFIX ? ZG_HTTP_MATCH_PREFIX
                                                 : ZG_HTTP_MATCH_EXACT;
    r->max_body =
        rc->max_body_size > 0 ? rc->max_body_size : lim->max_body_size;
    if (rc->handler != NULL) {
        r->handler_spec = zg_http_strndup(rc->handler, strlen(rc->handler));
        if (r->handler_spec == NULL)
            return -1;
        r->handler_conf = rc->config;
    }
    r->type = rc->handler != NULL              ? ZG_HTTP_ROUTE_HANDLER
              : rc->type == ZG_HTTP_ROUTE_ECHO ? ZG_HTTP_ROUTE_ECHO
                                               : ZG_HTTP_ROUTE_STATIC;
    r->buffering =
        r->type == ZG_HTTP_ROUTE_ECHO ? (uint8_t) !!rc->buffering : 1;
    r->status = (unsigned)rc->status;
    if (ctype == NULL)
        ctype = r->type == ZG_HTTP_ROUTE_ECHO ? "application/octet-stream"
                                              : "text/plain";
    for (size_t i = 0; i < rc->methods.n && i < ZG_HTTP_MAX_METHODS; i++)
        zg_http_method_add(r, m[i]);
    if (r->nmethods == 0 && r->type == ZG_HTTP_ROUTE_HANDLER) {
        r->any_method = 1;
    } else if (r->nmethods == 0 && r->type == ZG_HTTP_ROUTE_ECHO) {
        zg_http_method_add(r, "POST");
        zg_http_method_add(r, "PUT");
    } else if (r->nmethods == 0) {
        zg_http_method_add(r, "GET");
        zg_http_method_add(r, "HEAD");
    }
    return zg_http_route_heads(r, ctype);
}

int zg_http_conf_build(const zg_http_cfg_t *cfg, zg_http_conf_t **out,
                       char *err, size_t errlen)
{
    const zg_http_route_cfg_t *rcs = cfg->routes.items;
    zg_http_conf_t *c;
    int rc = -ENOMEM;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    c->limits.max_request_line = (uint32_t)cfg->limits.max_request_line;
    c->limits.max_header_size = (uint32_t)cfg->limits.max_header_size;
    c->limits.max_headers = (uint32_t)cfg->limits.max_headers;
    c->limits.max_body_size = cfg->limits.max_body_size;
    c->alog_format = cfg->access_log.format;
    c->header_timeout_ms = cfg->timeouts.header_ms;
    c->keepalive_timeout_ms = cfg->timeouts.keepalive_ms;
    /* Room for the operator's routes and the two default ones. */
    c->routes = calloc(cfg->routes.n + 2, sizeof(*c->routes));
    if (c->routes == NULL)
        goto nomem;
    for (size_t i = 0; i < cfg->routes.n; i++) {
        zg_http_route_t *r = &c->routes[c->nroutes];

        /* The host checked each route alone; a second route with the same
         * path is the one rule across routes. */
        for (size_t j = 0; j < c->nroutes; j++) {
            if (strcmp(c->routes[j].path, rcs[i].path) == 0 &&
                (int)c->routes[j].match == rcs[i].match) {
                rc = zg_http_cerr(err, errlen,
                                  "routes[%zu].path: \"%s\" is already "
                                  "routes[%zu].path",
                                  i, rcs[i].path, j);
                goto fail;
            }
        }
        c->nroutes++;
        if (zg_http_route_build(r, &rcs[i], &c->limits) < 0)
            goto nomem;
    }
    if (cfg->default_routes &&
        (zg_http_default_route(c, "/plaintext", "text/plain", "Hello, World!") <
             0 ||
         zg_http_default_route(c, "/json", "application/json",
                               "{\"message\":\"Hello, World!\"}") < 0))
        goto nomem;
    c->max_body_any = c->limits.max_body_size;
    for (size_t i = 0; i < c->nroutes; i++) {
        if (c->routes[i].max_body > c->max_body_any)
            c->max_body_any = c->routes[i].max_body;
        c->nhandlers += c->routes[i].type == ZG_HTTP_ROUTE_HANDLER;
    }
    c->limits_any = c->limits;
    c->limits_any.max_body_size = c->max_body_any;
    *out = c;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    zg_http_conf_free(c);
    return rc;
}

void zg_http_conf_free(zg_http_conf_t *conf)
{
    if (conf == NULL)
        return;
    for (size_t i = 0; i < conf->nroutes; i++) {
        free(conf->routes[i].path);
        free(conf->routes[i].body);
        free(conf->routes[i].head);
        free(conf->routes[i].h405);
        free(conf->routes[i].hoptions);
        free(conf->routes[i].handler_spec);
    }
    free(conf->routes);
    free(conf);
}

const zg_http_route_t *zg_http_route_find(const zg_http_conf_t *conf,
                                          const unsigned char *path, size_t len)
{
    const zg_http_route_t *best = NULL;

    for (size_t i = 0; i < conf->nroutes; i++) {
        const zg_http_route_t *r = &conf->routes[i];

        if (r->path_len > len || memcmp(r->path, path, r->path_len) != 0)
            continue;
        if (r->match == ZG_HTTP_MATCH_EXACT) {
            if (r->path_len == len)
                return r;
        } else if (best == NULL || r->path_len > best->path_len) {
            best = r;
        }
    }
    return best;
}

int zg_http_route_allows(const zg_http_route_t *r, const unsigned char *m,
                         size_t len)
{
    if (r->any_method)
        return 1;
    for (unsigned i = 0; i < r->nmethods; i++) {
        if (r->methods[i].len == len && memcmp(r->methods[i].name, m, len) == 0)
            return 1;
    }
    return 0;
}
