/* SPDX-License-Identifier: MIT */
/*
 * Description: the http plugin's per-listener configuration: the key
 * table the host checks the listener's "config" object against (keys
 * documented in conf.c and plugins/http/README.md), the struct it fills,
 * and the runtime conf built from it, with each route's response head
 * formatted once at start-up so that answering costs a few memcpy.
 */
#ifndef ZG_HTTP_CONF_H
#define ZG_HTTP_CONF_H

#include <stddef.h>
#include <stdint.h>

#include <zerg/plugin.h>

#include "alog.h"
#include "parse.h"

#define ZG_HTTP_405_BODY       "Method Not Allowed\n"
#define ZG_HTTP_MAX_METHODS    16
#define ZG_HTTP_MAX_METHOD_LEN 32

typedef enum zg_http_route_type_e {
    ZG_HTTP_ROUTE_STATIC = 0, /* a fixed response */
    ZG_HTTP_ROUTE_ECHO,       /* the request body comes back */
    ZG_HTTP_ROUTE_HANDLER,    /* an application handler (.so) answers */
} zg_http_route_type_t;

/* How a route's path matches the request's. */
typedef enum zg_http_match_e {
    ZG_HTTP_MATCH_EXACT = 0,
    ZG_HTTP_MATCH_PREFIX, /* the request's path starts with it */
} zg_http_match_t;

struct zg_http_hmod_s; /* a loaded handler (handler.h) */

typedef struct zg_http_method_s {
    char name[ZG_HTTP_MAX_METHOD_LEN];
    size_t len;
} zg_http_method_t;

/* One route. Every string is owned by the conf and lives as long. */
typedef struct zg_http_route_s {
    char *path; /* matched against the target's path */
    size_t path_len;
    zg_http_route_type_t type;
    zg_http_match_t match;
    uint8_t buffering;  /* echo: read the whole body before answering */
    uint8_t any_method; /* handler without "methods": it takes them all */
    uint64_t max_body;  /* bytes of a request body (decoded) */
    /* Handler routes: the spec as configured (a name or a path), the
     * operator's "config" object (unchecked until the handler is
     * loaded), the loaded handler and what its init() stored. */
    char *handler_spec;
    const zg_conf_node_t *handler_conf;
    struct zg_http_hmod_s *hmod;
    void *route_data;
    uint8_t inited; /* the handler's init() ran: its fini() is owed */
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
    /* The access log (http_init_conf opens it): NULL for none. */
    zg_logsink_t *alog;
    int alog_format;               /* ZG_HTTP_ALOG_* */
    uint64_t max_body_any;         /* the largest max_body of any route */
    zg_http_limits_t limits_any;   /* limits, with max_body_any */
    size_t nhandlers;              /* routes a handler answers */
    uint32_t header_timeout_ms;    /* a request head must arrive within */
    uint32_t keepalive_timeout_ms; /* an idle keep-alive connection closes */
    zg_http_route_t *routes;
    size_t nroutes;
} zg_http_conf_t;

/* One element of "routes", as the host fills it (strings and the methods
 * array are the host's, valid until the plugin's fini). */
typedef struct zg_http_route_cfg_s {
    const char *path;             /* required */
    int type;                     /* zg_http_route_type_t */
    int64_t status;               /* 200..599 */
    const char *content_type;     /* NULL: by type */
    const char *body;             /* NULL: absent */
    zg_list_t methods;            /* of const char *; n == 0: by type */
    int buffering;                /* echo only */
    int buffering_set;            /* "buffering" was given (set by its check) */
    int match;                    /* zg_http_match_t */
    const char *handler;          /* NULL: not a handler route */
    const zg_conf_node_t *config; /* the handler's "config" (a node even
                                     when absent) */
    int config_set;               /* "config" was given (set by its check) */
    uint64_t max_body_size;       /* 0: limits.max_body_size */
} zg_http_route_cfg_t;

/* "limits" and "timeouts", as the host fills them. */
typedef struct zg_http_limits_cfg_s {
    uint64_t max_request_line;
    uint64_t max_header_size;
    int64_t max_headers;
    uint64_t max_body_size;
} zg_http_limits_cfg_t;

typedef struct zg_http_timeouts_cfg_s {
    uint32_t header_ms;
    uint32_t keepalive_ms;
} zg_http_timeouts_cfg_t;

/* "access_log", as the host fills it. */
typedef struct zg_http_alog_cfg_s {
    const char *path; /* "off": no access log */
    int format;       /* ZG_HTTP_ALOG_* */
    uint64_t buffer;
    uint32_t flush_ms;
} zg_http_alog_cfg_t;

/* The listener's "config" object, as the host fills it. */
typedef struct zg_http_cfg_s {
    zg_http_limits_cfg_t limits;
    zg_http_timeouts_cfg_t timeouts;
    int default_routes;
    zg_list_t routes; /* of zg_http_route_cfg_t */
    zg_http_alog_cfg_t access_log;
} zg_http_cfg_t;

/* The keys of zg_http_cfg_t, for the descriptor's conf_keys. Each check
 * refuses a value with a one-line reason the host reports at its
 * position; rules across routes (a path listed twice) are left to
 * zg_http_conf_build(). */
extern const zg_key_t zg_http_conf_keys[];

/*
 * Build the runtime conf from a filled cfg (which it only reads during
 * the call: every string is copied). Returns 0 and a conf to free with
 * zg_http_conf_free(), or -EINVAL / -ENOMEM with a one-line reason in err
 * (errlen bytes) naming the key path ("routes[1].path: \"/a\" is already
 * routes[0].path") or "out of memory". Main thread, start-up only.
 */
int zg_http_conf_build(const zg_http_cfg_t *cfg, zg_http_conf_t **out,
                       char *err, size_t errlen);

/* Free a conf (NULL is fine). */
void zg_http_conf_free(zg_http_conf_t *conf);

/* The route for a request's path[0..len): the route whose path equals
 * it, else the prefix route with the longest path it starts with, else
 * NULL. Any thread. */
const zg_http_route_t *zg_http_route_find(const zg_http_conf_t *conf,
                                          const unsigned char *path,
                                          size_t len);

/* 1 if route r takes method m[0..len), else 0. */
int zg_http_route_allows(const zg_http_route_t *r, const unsigned char *m,
                         size_t len);

/* The reason phrase of a status code ("" if unknown). */
const char *zg_http_reason(unsigned status);

#endif /* ZG_HTTP_CONF_H */
