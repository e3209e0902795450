/* SPDX-License-Identifier: MIT */
/*
 * Description: application handlers inside the http plugin: loading the
 * .so files routes name (zerg/http.h), the function table handlers call
 * (request fields, the response under construction) and the response
 * object, whose finish() http.c carries out on the connection.
 */
#ifndef ZG_HTTP_HANDLER_H
#define ZG_HTTP_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include <zerg/http.h>
#include <zerg/plugin.h>

#include "conf.h"

/* A handler loaded for one route: its .so and a copy of its descriptor,
 * zero-filled past what the handler was built with. */
typedef struct zg_http_hmod_s {
    void *dl;
    char *path; /* resolved path of the .so */
    zg_http_handler_t desc;
} zg_http_hmod_t;

/* What header()/header_at() read: the request's head, contiguous (in a
 * receive buffer, or a copy), and where its field lines are. */
typedef struct zg_http_hreq_s {
    const unsigned char *head;
    size_t fields; /* offset of the first field line */
    size_t end;    /* offset of the empty line that ends the head */
} zg_http_hreq_t;

/* Limits of a response under construction (zerg/http.h promises them). */
#define ZG_HTTP_RESP_FIELDS_MAX (16u << 10)
#define ZG_HTTP_RESP_NAME_MAX   64
#define ZG_HTTP_RESP_VALUE_MAX  4096

/*
 * A response. Owned by its connection while its handler runs and, if the
 * handler keeps it (ZG_HTTP_LATER), by the handler until finish(). The
 * connection side sets conn to NULL when the connection ends first; then
 * finish() only frees it.
 */
struct zg_http_response_s {
    void *conn;        /* the http plugin's connection, or NULL */
    unsigned status;   /* 200 by default */
    uint8_t in_handle; /* handle() for it is running */
    uint8_t finished;  /* finish() ran during handle() */
    uint8_t rsv_on;    /* reserve() room is waiting for commit() */
    size_t rsv;        /* its size */
    char *fields;      /* "Name: value\r\n" lines the handler added */
    size_t fields_len, fields_cap;
    unsigned char *body; /* the body written so far */
    size_t body_len, body_cap;
};

/* The table handlers get. conf_fill is taken from host, the server's. */
extern zg_http_api_t zg_http_handler_api;

/* Load and init the handler of every handler route of conf, checking
 * each route's "config" with host->conf_fill. Main thread, at start-up.
 * 0, or -EINVAL / -ENOMEM with one line in err naming the route. On
 * failure, what was loaded is undone. */
int zg_http_handlers_load(zg_http_conf_t *conf, const zg_api_t *host, char *err,
                          size_t errlen);

/* fini() every handler that init()ed and unload them. Main thread, after
 * every reactor stopped. */
void zg_http_handlers_unload(zg_http_conf_t *conf);

/* Reset r for a new request (keeping its memory, up to a bound). */
void zg_http_resp_reset(zg_http_response_t *r);

/* Free r and everything it holds (NULL is fine). */
void zg_http_resp_free(zg_http_response_t *r);

/* finish(): carried out by http.c on r's connection. */
int zg_http_resp_finish(zg_http_response_t *r);

/* A test hook: how a handler spec becomes a descriptor. By default,
 * dlopen. Tests point it at descriptors compiled in. Returns the
 * descriptor with *dl (a handle for dlclose, or NULL) and the resolved
 * path in path (PATH_MAX bytes), or NULL with a reason in err. */
extern const zg_http_handler_t *(*zg_http_handler_open)(const char *spec,
                                                        void **dl, char *path,
                                                        char *err,
                                                        size_t errlen);

#endif /* ZG_HTTP_HANDLER_H */
