/* SPDX-License-Identifier: MIT */
/*
 * Description: the http plugin's per-listener configuration: limits and
 * routes read from the listener's "config" object (keys documented in
 * conf.c and plugins/http/README.md), with each route's response head
 * formatted once at start-up so that answering costs a few memcpy.
 */
#ifndef ZG_HTTP_CONF_H
#define ZG_HTTP_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

#define ZG_HTTP_405_BODY       "Method Not Allowed\n"
#define ZG_HTTP_MAX_METHODS    16
#define ZG_HTTP_MAX_METHOD_LEN 32

typedef enum zg_http_route_type_e {
    ZG_HTTP_ROUTE_STATIC = 0, /* a fixed response */
    ZG_HTTP_ROUTE_ECHO,       /* the request body comes back */
} zg_http_route_type_t;

typedef struct zg_http_method_s {
    char name[ZG_HTTP_MAX_METHOD_LEN];
    size_t len;
} zg_http_method_t;

/* One route. Every string is owned by the conf and lives as long. */
typedef struct zg_http_route_s {
    char *path; /* exact match against the target's path */
    size_t path_len;
    zg_http_route_type_t type;
    uint8_t buffering; /* echo: read the whole body before answering */
    unsigned status;
    unsigned nmethods;
    zg_http_method_t methods[ZG_HTTP_MAX_METHODS];
    char *body; /* static body */
    size_t body_len;
    /* Response head without Date, Connection and the final CRLF: status
     * line, Server, Content-Type and (static routes) Content-Length. */
    char *head;
    size_t head_len;
    /* The whole 405 response for this route but Date, Connection and the
     * final CRLF: its head with Allow; the body follows the head. */
    char *h405;
    size_t h405_len;
    /* The head of the answer to OPTIONS when the route does not list it:
     * 204 with Allow (RFC 9110 9.3.7), no Content-Length (8.6). */
    char *hoptions;
    size_t hoptions_len;
} zg_http_route_t;

typedef struct zg_http_conf_s {
    zg_http_limits_t limits;
    uint32_t header_timeout_ms;    /* a request head must arrive within */
    uint32_t keepalive_timeout_ms; /* an idle keep-alive connection closes */
    zg_http_route_t *routes;
    size_t nroutes;
} zg_http_conf_t;

/*
 * Read a listener's config (JSON text, len bytes). On success returns 0
 * and a conf to free with zg_http_conf_free(); on failure returns -1 with
 * a one-line reason naming the key path in err (e.g. "routes[2].status:
 * expected an integer 200..599"). Main thread, start-up only.
 */
int zg_http_conf_load(const char *text, size_t len, zg_http_conf_t **out,
                      char *err, size_t errlen);

/* Free a conf (NULL is fine). */
void zg_http_conf_free(zg_http_conf_t *conf);

/* The route whose path is exactly path[0..len), or NULL. Any thread. */
const zg_http_route_t *zg_http_route_find(const zg_http_conf_t *conf,
                                          const unsigned char *path,
                                          size_t len);

/* 1 if route r takes method m[0..len), else 0. */
int zg_http_route_allows(const zg_http_route_t *r, const unsigned char *m,
                         size_t len);

/* The reason phrase of a status code ("" if unknown). */
const char *zg_http_reason(unsigned status);

#endif /* ZG_HTTP_CONF_H */
