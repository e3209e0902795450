/* SPDX-License-Identifier: MIT */
/*
 * Description: reads the http plugin's listener config into limits and a
 * route table (see conf.h). Strict like the rest of zerg: unknown keys
 * (with a suggestion), wrong types and out-of-range values are one-line
 * errors naming the key path.
 *
 * Keys (all optional):
 *   "limits": {
 *     "max_request_line": 64..1048576, default 8192 (else 414)
 *     "max_header_size":  64..1048576, default 32768: field lines and the
 *                         final CRLF; also bounds a chunked trailer (431)
 *     "max_headers":      1..10000, default 100 field lines (431)
 *     "max_body_size":    0..2^40, default 1048576 bytes (413) }
 *   "timeouts": {
 *     "header_ms":    0..3600000, default 10000: a request head (from the
 *                     connection's start or the end of the previous
 *                     response) must be complete within this, else 408
 *                     and close; slow-drip clients (slowloris) are cut
 *     "keepalive_ms": 0..3600000, default 75000: an idle connection
 *                     between requests is closed; 0 disables either }
 *   "default_routes": true|false, default true: /plaintext and /json
 *   "routes": [ {
 *     "path":         "/x", required, exact match (the query is ignored)
 *     "type":         "static" (default) | "echo" (the request body back)
 *     "status":       200..599, default 200
 *     "content_type": default "text/plain" (static),
 *                     "application/octet-stream" (echo)
 *     "body":         static only, default ""
 *     "methods":      default ["GET", "HEAD"] (static), ["POST", "PUT"]
 *                     (echo); others get 405 with Allow
 *     "buffering":    echo only, default true: the whole body is read
 *                     (up to max_body_size) before the status is sent;
 *                     false streams it back as it arrives } ]
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "json.h"

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
    return -1;
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

/* Edit distance of two short strings, for "did you mean". */
static size_t zg_http_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[40], prev, tmp;

    if (la >= 40 || lb >= 40)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            tmp = row[j];
            row[j] = prev + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < row[j])
                row[j] = row[j - 1] + 1;
            if (tmp + 1 < row[j])
                row[j] = tmp + 1;
            prev = tmp;
        }
    }
    return row[lb];
}

/* Refuse keys of obj not in known (NULL-terminated). */
static int zg_http_keys(const zg_json_t *obj, const char *where,
                        const char *const *known, char *err, size_t errlen)
{
    for (const zg_json_t *k = obj->kids; k != NULL; k = k->next) {
        const char *best = NULL;
        size_t bestd = 3, d;
        char shown[48];
        int ok = 0;

        for (const char *const *n = known; *n != NULL; n++) {
            if (strlen(*n) == k->klen && memcmp(*n, k->key, k->klen) == 0)
                ok = 1;
            d = zg_http_distance(k->key, *n);
            if (d < bestd) {
                bestd = d;
                best = *n;
            }
        }
        if (ok)
            continue;
        zg_json_clean(k->key, k->klen, shown, sizeof(shown));
        if (best != NULL)
            return zg_http_cerr(err, errlen,
                                "%s%s%s: unknown key (did you mean \"%s\"?)",
                                where, *where ? "." : "", shown, best);
        return zg_http_cerr(err, errlen, "%s%s%s: unknown key", where,
                            *where ? "." : "", shown);
    }
    return 0;
}

static int zg_http_int(const zg_json_t *v, const char *where, int64_t lo,
                       int64_t hi, int64_t *out, char *err, size_t errlen)
{
    if (v->type != ZG_JSON_INT || v->num < lo || v->num > hi)
        return zg_http_cerr(
            err, errlen, "%s: expected an integer %lld..%lld, got %s", where,
            (long long)lo, (long long)hi,
            v->type == ZG_JSON_INT ? "an integer out of range"
                                   : zg_json_type_name(v->type));
    *out = v->num;
    return 0;
}

static int zg_http_limits(const zg_json_t *obj, zg_http_limits_t *lim,
                          char *err, size_t errlen)
{
    static const char *const known[] = {"max_request_line", "max_header_size",
                                        "max_headers", "max_body_size", NULL};
    const zg_json_t *v;
    int64_t n = 0;

    if (obj->type != ZG_JSON_OBJECT)
        return zg_http_cerr(err, errlen, "limits: expected an object, got %s",
                            zg_json_type_name(obj->type));
    if (zg_http_keys(obj, "limits", known, err, errlen) < 0)
        return -1;
    if ((v = zg_json_get(obj, "max_request_line")) != NULL) {
        if (zg_http_int(v, "limits.max_request_line", 64, 1 << 20, &n, err,
                        errlen) < 0)
            return -1;
        lim->max_request_line = (uint32_t)n;
    }
    if ((v = zg_json_get(obj, "max_header_size")) != NULL) {
        if (zg_http_int(v, "limits.max_header_size", 64, 1 << 20, &n, err,
                        errlen) < 0)
            return -1;
        lim->max_header_size = (uint32_t)n;
    }
    if ((v = zg_json_get(obj, "max_headers")) != NULL) {
        if (zg_http_int(v, "limits.max_headers", 1, 10000, &n, err, errlen) < 0)
            return -1;
        lim->max_headers = (uint32_t)n;
    }
    if ((v = zg_json_get(obj, "max_body_size")) != NULL) {
        if (zg_http_int(v, "limits.max_body_size", 0, (int64_t)1 << 40, &n, err,
                        errlen) < 0)
            return -1;
        lim->max_body_size = (uint64_t)n;
    }
    return 0;
}

static int zg_http_timeouts(const zg_json_t *obj, zg_http_conf_t *c, char *err,
                            size_t errlen)
{
    static const char *const known[] = {"header_ms", "keepalive_ms", NULL};
    const zg_json_t *v;
    int64_t n = 0;

    if (obj->type != ZG_JSON_OBJECT)
        return zg_http_cerr(err, errlen, "timeouts: expected an object, got %s",
                            zg_json_type_name(obj->type));
    if (zg_http_keys(obj, "timeouts", known, err, errlen) < 0)
        return -1;
    if ((v = zg_json_get(obj, "header_ms")) != NULL) {
        if (zg_http_int(v, "timeouts.header_ms", 0, 3600000, &n, err, errlen) <
            0)
            return -1;
        c->header_timeout_ms = (uint32_t)n;
    }
    if ((v = zg_json_get(obj, "keepalive_ms")) != NULL) {
        if (zg_http_int(v, "timeouts.keepalive_ms", 0, 3600000, &n, err,
                        errlen) < 0)
            return -1;
        c->keepalive_timeout_ms = (uint32_t)n;
    }
    return 0;
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

static int zg_http_methods(zg_http_route_t *r, const zg_json_t *v,
                           const char *where, char *err, size_t errlen)
{
    size_t i = 0;

    if (v->type != ZG_JSON_ARRAY || v->nkids == 0 ||
        v->nkids > ZG_HTTP_MAX_METHODS)
        return zg_http_cerr(err, errlen,
                            "%s.methods: expected an array of 1..%d method "
                            "names",
                            where, ZG_HTTP_MAX_METHODS);
    for (const zg_json_t *m = v->kids; m != NULL; m = m->next, i++) {
        if (m->type != ZG_JSON_STRING || m->len >= ZG_HTTP_MAX_METHOD_LEN ||
            !zg_http_is_token(m->str, m->len))
            return zg_http_cerr(err, errlen,
                                "%s.methods[%zu]: expected a method name "
                                "(an HTTP token of 1..%d characters)",
                                where, i, ZG_HTTP_MAX_METHOD_LEN - 1);
        for (unsigned j = 0; j < r->nmethods; j++) {
            if (r->methods[j].len == m->len &&
                memcmp(r->methods[j].name, m->str, m->len) == 0)
                return zg_http_cerr(err, errlen,
                                    "%s.methods[%zu]: \"%s\" is listed twice",
                                    where, i, m->str);
        }
        memcpy(r->methods[r->nmethods].name, m->str, m->len);
        r->methods[r->nmethods].len = m->len;
        r->nmethods++;
    }
    return 0;
}

static void zg_http_method_add(zg_http_route_t *r, const char *name)
{
    size_t n = strlen(name);

    memcpy(r->methods[r->nmethods].name, name, n);
    r->methods[r->nmethods].len = n;
    r->nmethods++;
}

static int zg_http_route(zg_http_route_t *r, const zg_json_t *obj,
                         const char *where, char *err, size_t errlen)
{
    static const char *const known[] = {"path",         "type", "status",
                                        "content_type", "body", "methods",
                                        "buffering",    NULL};
    const zg_json_t *v;
    const char *ctype;
    int64_t n = 0;

    if (obj->type != ZG_JSON_OBJECT)
        return zg_http_cerr(err, errlen, "%s: expected an object, got %s",
                            where, zg_json_type_name(obj->type));
    if (zg_http_keys(obj, where, known, err, errlen) < 0)
        return -1;
    v = zg_json_get(obj, "path");
    if (v == NULL)
        return zg_http_cerr(err, errlen,
                            "%s.path: missing (a route needs "
                            "one)",
                            where);
    if (v->type != ZG_JSON_STRING || v->len > ZG_HTTP_MAX_PATH ||
        !zg_http_path_ok(v->str, v->len))
        return zg_http_cerr(err, errlen,
                            "%s.path: expected a path starting with '/' "
                            "(URI path characters, at most %d)",
                            where, ZG_HTTP_MAX_PATH);
    r->path = zg_http_strndup(v->str, v->len);
    if (r->path == NULL)
        return zg_http_cerr(err, errlen, "%s: out of memory", where);
    r->path_len = v->len;
    if ((v = zg_json_get(obj, "type")) != NULL) {
        if (v->type == ZG_JSON_STRING && strcmp(v->str, "static") == 0 &&
            v->len == 6)
            r->type = ZG_HTTP_ROUTE_STATIC;
        else if (v->type == ZG_JSON_STRING && strcmp(v->str, "echo") == 0 &&
                 v->len == 4)
            r->type = ZG_HTTP_ROUTE_ECHO;
        else
            return zg_http_cerr(
                err, errlen, "%s.type: expected \"static\" or \"echo\"", where);
    }
    r->buffering = 1;
    if ((v = zg_json_get(obj, "buffering")) != NULL) {
        if (r->type != ZG_HTTP_ROUTE_ECHO)
            return zg_http_cerr(err, errlen,
                                "%s.buffering: only an echo route reads a "
                                "body to send back",
                                where);
        if (v->type != ZG_JSON_BOOL)
            return zg_http_cerr(err, errlen,
                                "%s.buffering: expected a boolean, got %s",
                                where, zg_json_type_name(v->type));
        r->buffering = (uint8_t)v->num;
    }
    r->status = 200;
    if ((v = zg_json_get(obj, "status")) != NULL) {
        char at[200];

        snprintf(at, sizeof(at), "%s.status", where);
        if (zg_http_int(v, at, 200, 599, &n, err, errlen) < 0)
            return -1;
        r->status = (unsigned)n;
    }
    if (r->type == ZG_HTTP_ROUTE_ECHO && (r->status == 204 || r->status == 304))
        return zg_http_cerr(err, errlen,
                            "%s.status: %u has no content, an echo route "
                            "needs one",
                            where, r->status);
    ctype = r->type == ZG_HTTP_ROUTE_ECHO ? "application/octet-stream"
                                          : "text/plain";
    if ((v = zg_json_get(obj, "content_type")) != NULL) {
        if (v->type != ZG_JSON_STRING || v->len > ZG_HTTP_MAX_CTYPE ||
            !zg_http_ctype_ok(v->str, v->len))
            return zg_http_cerr(err, errlen,
                                "%s.content_type: expected a media type of "
                                "1..%d visible ASCII characters",
                                where, ZG_HTTP_MAX_CTYPE);
        ctype = v->str;
    }
    if ((v = zg_json_get(obj, "body")) != NULL) {
        if (r->type == ZG_HTTP_ROUTE_ECHO)
            return zg_http_cerr(err, errlen,
                                "%s.body: an echo route sends the request "
                                "body, it takes no \"body\"",
                                where);
        if (v->type != ZG_JSON_STRING || v->len > ZG_HTTP_MAX_BODY_CFG)
            return zg_http_cerr(err, errlen,
                                "%s.body: expected a string of at most %u "
                                "bytes",
                                where, ZG_HTTP_MAX_BODY_CFG);
        if (v->len > 0 && (r->status == 204 || r->status == 304))
            return zg_http_cerr(err, errlen,
                                "%s.body: status %u has no content", where,
                                r->status);
        r->body = zg_http_strndup(v->str, v->len);
        if (r->body == NULL)
            return zg_http_cerr(err, errlen, "%s: out of memory", where);
        r->body_len = v->len;
    }
    if ((v = zg_json_get(obj, "methods")) != NULL) {
        if (zg_http_methods(r, v, where, err, errlen) < 0)
            return -1;
    } else if (r->type == ZG_HTTP_ROUTE_ECHO) {
        zg_http_method_add(r, "POST");
        zg_http_method_add(r, "PUT");
    } else {
        zg_http_method_add(r, "GET");
        zg_http_method_add(r, "HEAD");
    }
    if (zg_http_route_heads(r, ctype) < 0)
        return zg_http_cerr(err, errlen, "%s: out of memory", where);
    return 0;
}

/* The benchmark routes every listener has unless told otherwise. */
static int zg_http_default_route(zg_http_conf_t *c, const char *path,
                                 const char *ctype, const char *body)
{
    zg_http_route_t *r;

    if (zg_http_route_find(c, (const unsigned char *)path, strlen(path)))
        return 0; /* the operator's route wins */
    r = &c->routes[c->nroutes];
    memset(r, 0, sizeof(*r));
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

int zg_http_conf_load(const char *text, size_t len, zg_http_conf_t **out,
                      char *err, size_t errlen)
{
    static const char *const known[] = {"limits", "timeouts", "routes",
                                        "default_routes", NULL};
    zg_json_t *root = NULL;
    zg_http_conf_t *c;
    const zg_json_t *v, *routes;
    char jerr[200], where[64];
    int defaults = 1;
    size_t i = 0;

    *out = NULL;
    if (zg_json_parse(text, len, &root, jerr, sizeof(jerr)) < 0)
        return zg_http_cerr(err, errlen, "config: %s", jerr);
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        zg_json_free(root);
        return zg_http_cerr(err, errlen, "config: out of memory");
    }
    c->limits.max_request_line = 8192;
    c->limits.max_header_size = 32768;
    c->limits.max_headers = 100;
    c->limits.max_body_size = 1 << 20;
    c->header_timeout_ms = 10000;
    c->keepalive_timeout_ms = 75000;
    if (root->type != ZG_JSON_OBJECT) {
        zg_http_cerr(err, errlen, "config: expected an object, got %s",
                     zg_json_type_name(root->type));
        goto fail;
    }
    if (zg_http_keys(root, "", known, err, errlen) < 0)
        goto fail;
    if ((v = zg_json_get(root, "limits")) != NULL &&
        zg_http_limits(v, &c->limits, err, errlen) < 0)
        goto fail;
    if ((v = zg_json_get(root, "timeouts")) != NULL &&
        zg_http_timeouts(v, c, err, errlen) < 0)
        goto fail;
    if ((v = zg_json_get(root, "default_routes")) != NULL) {
        if (v->type != ZG_JSON_BOOL) {
            zg_http_cerr(err, errlen,
                         "default_routes: expected a boolean, got %s",
                         zg_json_type_name(v->type));
            goto fail;
        }
        defaults = (int)v->num;
    }
    routes = zg_json_get(root, "routes");
    if (routes != NULL &&
        (routes->type != ZG_JSON_ARRAY || routes->nkids > ZG_HTTP_MAX_ROUTES)) {
        zg_http_cerr(err, errlen,
                     "routes: expected an array of at most %d "
                     "routes",
                     ZG_HTTP_MAX_ROUTES);
        goto fail;
    }
    c->routes =
        calloc((routes != NULL ? routes->nkids : 0) + 2, sizeof(*c->routes));
    if (c->routes == NULL) {
        zg_http_cerr(err, errlen, "config: out of memory");
        goto fail;
    }
    for (v = routes != NULL ? routes->kids : NULL; v != NULL;
         v = v->next, i++) {
        zg_http_route_t *r = &c->routes[c->nroutes];

        snprintf(where, sizeof(where), "routes[%zu]", i);
        c->nroutes++;
        if (zg_http_route(r, v, where, err, errlen) < 0)
            goto fail;
        for (size_t j = 0; j + 1 < c->nroutes; j++) {
            if (c->routes[j].path_len == r->path_len &&
                memcmp(c->routes[j].path, r->path, r->path_len) == 0) {
                zg_http_cerr(err, errlen,
                             "%s.path: \"%s\" is already routes[%zu].path",
                             where, r->path, j);
                goto fail;
            }
        }
    }
    if (defaults &&
        (zg_http_default_route(c, "/plaintext", "text/plain", "Hello, World!") <
             0 ||
         zg_http_default_route(c, "/json", "application/json",
                               "{\"message\":\"Hello, World!\"}") < 0)) {
        zg_http_cerr(err, errlen, "config: out of memory");
        goto fail;
    }
    zg_json_free(root);
    *out = c;
    return 0;
fail:
    zg_json_free(root);
    zg_http_conf_free(c);
    return -1;
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
    }
    free(conf->routes);
    free(conf);
}

const zg_http_route_t *zg_http_route_find(const zg_http_conf_t *conf,
                                          const unsigned char *path, size_t len)
{
    for (size_t i = 0; i < conf->nroutes; i++) {
        const zg_http_route_t *r = &conf->routes[i];

        if (r->path_len == len && memcmp(r->path, path, len) == 0)
            return r;
    }
    return NULL;
}

int zg_http_route_allows(const zg_http_route_t *r, const unsigned char *m,
                         size_t len)
{
    for (unsigned i = 0; i < r->nmethods; i++) {
        if (r->methods[i].len == len && memcmp(r->methods[i].name, m, len) == 0)
            return 1;
    }
    return 0;
}
