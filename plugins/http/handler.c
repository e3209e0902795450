/* SPDX-License-Identifier: MIT */
/*
 * Description: application handlers (see handler.h and zerg/http.h):
 * finding and loading the .so a route names, checking its descriptor the
 * way the server checks a plugin's (one found/need line per refusal), its
 * route config through the server's conf_fill, and the functions a
 * handler calls: request fields, and building its response. Sending the
 * response is http.c's (zg_http_resp_finish).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"

/* Memory a reused response keeps between requests. */
#define HTTP_RESP_KEEP_BODY   (16u << 10)
#define HTTP_RESP_KEEP_FIELDS (4u << 10)

/* ---- finding and loading ---- */

/* Candidate paths for a handler name, tried in order; err lists them. */
static int zg_http_try(const char *cand, char *path, char *err, size_t errlen,
                       size_t *used)
{
    int n;

    if (realpath(cand, path) != NULL)
        return 1;
    n = snprintf(err + *used, errlen - *used, "%s%s", *used ? ", " : "", cand);
    if (n > 0 && (size_t)n < errlen - *used)
        *used += (size_t)n;
    return 0;
}

/* The directory of http.so itself: installed, the plugin directory; in
 * the build tree, plugins/http (handlers in handlers/NAME/NAME.so). */
static int zg_http_own_dir(char *dir, size_t len)
{
    Dl_info info;
    const char *slash;

    if (dladdr((void *)&zg_http_handlers_load, &info) == 0 ||
        info.dli_fname == NULL ||
        (slash = strrchr(info.dli_fname, '/')) == NULL)
        return -1;
    if ((size_t)(slash - info.dli_fname) >= len)
        return -1;
    memcpy(dir, info.dli_fname, (size_t)(slash - info.dli_fname));
    dir[slash - info.dli_fname] = '\0';
    return 0;
}

/* Find the .so of spec: an absolute path as is; a name (".so" optional)
 * in each directory of $ZERG_PLUGIN_PATH (DIR/NAME.so, DIR/NAME/NAME.so),
 * then beside http.so (DIR/NAME.so, DIR/handlers/NAME/NAME.so), then in
 * the plugin directory configure chose. */
static int zg_http_resolve(const char *spec, char *path, char *err,
                           size_t errlen)
{
    char cand[PATH_MAX + 64], dir[PATH_MAX], tried[1024];
    const char *env, *p, *colon;
    size_t used = 0, len = strlen(spec);
    int n;

    tried[0] = '\0';
    if (spec[0] == '/') {
        if (realpath(spec, path) != NULL)
            return 0;
        snprintf(err, errlen, "%s: %s", spec, strerror(errno));
        return -ENOENT;
    }
    if (len > 3 && strcmp(spec + len - 3, ".so") == 0)
        len -= 3;
    if (len > 255)
        len = 255;
    env = secure_getenv("ZERG_PLUGIN_PATH");
    for (p = env; p != NULL && *p != '\0'; p = colon ? colon + 1 : NULL) {
        size_t dl;

        colon = strchr(p, ':');
        dl = colon ? (size_t)(colon - p) : strlen(p);
        if (dl == 0 || dl >= PATH_MAX)
            continue;
        for (int nested = 0; nested < 2; nested++) {
            if (nested)
                n = snprintf(cand, sizeof(cand), "%.*s/%.*s/%.*s.so", (int)dl,
                             p, (int)len, spec, (int)len, spec);
            else
                n = snprintf(cand, sizeof(cand), "%.*s/%.*s.so", (int)dl, p,
                             (int)len, spec);
            if (n > 0 && (size_t)n < sizeof(cand) &&
                zg_http_try(cand, path, tried, sizeof(tried), &used))
                return 0;
        }
    }
    if (zg_http_own_dir(dir, sizeof(dir)) == 0) {
        n = snprintf(cand, sizeof(cand), "%s/%.*s.so", dir, (int)len, spec);
        if (n > 0 && (size_t)n < sizeof(cand) &&
            zg_http_try(cand, path, tried, sizeof(tried), &used))
            return 0;
        n = snprintf(cand, sizeof(cand), "%s/handlers/%.*s/%.*s.so", dir,
                     (int)len, spec, (int)len, spec);
        if (n > 0 && (size_t)n < sizeof(cand) &&
            zg_http_try(cand, path, tried, sizeof(tried), &used))
            return 0;
    }
#ifdef ZG_HTTP_PLUGINDIR
    /* The installed plugin directory, when http.so runs from elsewhere
     * (the build tree). */
    n = snprintf(cand, sizeof(cand), "%s/%.*s.so", ZG_HTTP_PLUGINDIR, (int)len,
                 spec);
    if (n > 0 && (size_t)n < sizeof(cand) &&
        zg_http_try(cand, path, tried, sizeof(tried), &used))
        return 0;
#endif
    snprintf(err, errlen, "\"%s\": not found (searched: %s)", spec,
             used ? tried : "nothing: no $ZERG_PLUGIN_PATH, no own directory");
    return -ENOENT;
}

static const zg_http_handler_t *zg_http_dlopen(const char *spec, void **dl,
                                               char *path, char *err,
                                               size_t errlen)
{
    zg_http_handler_entry_fn entry;
    const zg_http_handler_t *d;
    void *sym;

    *dl = NULL;
    if (zg_http_resolve(spec, path, err, errlen) < 0)
        return NULL;
    *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*dl == NULL) {
        snprintf(err, errlen, "%s: %s", path, dlerror());
        return NULL;
    }
    sym = dlsym(*dl, ZG_HTTP_HANDLER_ENTRY_NAME);
    if (sym == NULL) {
        snprintf(err, errlen,
                 "%s: no symbol %s (need a zerg HTTP handler, "
                 "zerg/http.h)",
                 path, ZG_HTTP_HANDLER_ENTRY_NAME);
        return NULL;
    }
    /* dlsym gives an object pointer; POSIX guarantees it converts. */
    memcpy(&entry, &sym, sizeof(entry));
    d = entry();
    if (d == NULL)
        snprintf(err, errlen, "%s: %s() returned NULL", path,
                 ZG_HTTP_HANDLER_ENTRY_NAME);
    return d;
}

const zg_http_handler_t *(*zg_http_handler_open)(
    const char *spec, void **dl, char *path, char *err,
    size_t errlen) = zg_http_dlopen;

/* Check a descriptor as the server checks a plugin's: one found/need
 * line per refusal. */
static int zg_http_hcheck(const zg_http_handler_t *d, const char *path,
                          char *err, size_t errlen)
{
    size_t need = offsetof(zg_http_handler_t, handle) + sizeof(d->handle);

    if (d->magic != ZG_HTTP_HANDLER_MAGIC) {
        snprintf(err, errlen,
                 "%s: magic 0x%08x (need 0x%08x: not a zerg HTTP handler)",
                 path, (unsigned)d->magic, ZG_HTTP_HANDLER_MAGIC);
        return -EINVAL;
    }
    if (d->abi_major != ZG_HTTP_ABI_MAJOR) {
        snprintf(err, errlen, "%s: built for handler ABI %u (need %d)", path,
                 (unsigned)d->abi_major, ZG_HTTP_ABI_MAJOR);
        return -EINVAL;
    }
    if (d->abi_minor > ZG_HTTP_ABI_MINOR) {
        snprintf(err, errlen,
                 "%s: needs handler ABI minor %u (the http plugin has %d.%d)",
                 path, (unsigned)d->abi_minor, ZG_HTTP_ABI_MAJOR,
                 ZG_HTTP_ABI_MINOR);
        return -EINVAL;
    }
    if (d->struct_size < need) {
        snprintf(err, errlen, "%s: descriptor of %u bytes (need at least %zu)",
                 path, (unsigned)d->struct_size, need);
        return -EINVAL;
    }
    if (d->flags != 0) {
        snprintf(err, errlen, "%s: flags 0x%x (need 0)", path,
                 (unsigned)d->flags);
        return -EINVAL;
    }
    if (d->handle == NULL) {
        snprintf(err, errlen, "%s: no handle() (it is required)", path);
        return -EINVAL;
    }
    if (d->conf_keys != NULL && d->conf_size == 0) {
        snprintf(err, errlen, "%s: conf_keys without conf_size", path);
        return -EINVAL;
    }
    if (d->name == NULL || d->name[0] == '\0' || strlen(d->name) > 64 ||
        strspn(d->name, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
            strlen(d->name)) {
        snprintf(err, errlen, "%s: bad name (need [a-z0-9_-], 1..64)", path);
        return -EINVAL;
    }
    return 0;
}

zg_http_api_t zg_http_handler_api; /* filled below */
static void zg_http_api_setup(const zg_api_t *host);

/* Load, check, configure and init the handler of route r (routes[i]). */
static int zg_http_load_one(zg_http_route_t *r, size_t i, const zg_api_t *host,
                            char *err, size_t errlen)
{
    static const zg_key_t none[] = {{.name = NULL}};
    char path[PATH_MAX], why[256];
    const zg_http_handler_t *d;
    zg_http_hmod_t *m;
    void *conf = NULL, *dl = NULL;
    size_t n;
    int rc;

    path[0] = '\0';
    why[0] = '\0';
    d = zg_http_handler_open(r->handler_spec, &dl, path, why, sizeof(why));
    if (d == NULL || zg_http_hcheck(d, path, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "routes[%zu].handler: %s", i, why);
        goto fail;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL || (m->path = strdup(path)) == NULL) {
        free(m);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    n = d->struct_size < sizeof(m->desc) ? d->struct_size : sizeof(m->desc);
    memcpy(&m->desc, d, n);
    m->dl = dl;
    r->hmod = m;
    /* The route's "config", checked against the handler's keys by the
     * server (file:line:column, "did you mean"); a handler without keys
     * takes an empty one. */
    if (!ZG_API_HAS(host, conf_fill)) {
        snprintf(err, errlen,
                 "routes[%zu].handler: the server lacks conf_fill (need "
                 "plugin ABI 1.4)",
                 i);
        return -EINVAL;
    }
    rc = host->conf_fill(
        r->handler_conf, m->desc.conf_keys ? m->desc.conf_keys : none,
        m->desc.conf_keys ? m->desc.conf_size : 1, &conf, err, errlen);
    if (rc < 0)
        return rc;
    if (m->desc.init != NULL) {
        why[0] = '\0';
        rc = m->desc.init(&zg_http_handler_api, m->desc.conf_keys ? conf : NULL,
                          &r->route_data, why, sizeof(why));
        if (rc != 0) {
            snprintf(err, errlen,
                     "routes[%zu] (\"%s\"): handler %s refused its config: "
                     "%s",
                     i, r->path, m->desc.name,
                     why[0] ? why : "no reason given");
            r->route_data = NULL;
            return -EINVAL;
        }
    }
    r->inited = 1;
    host->log(
        ZG_LOG_INFO, "route %s: handler %s %s (handler ABI %u.%u) from %s",
        r->path, m->desc.name, m->desc.version ? m->desc.version : "",
        (unsigned)m->desc.abi_major, (unsigned)m->desc.abi_minor, m->path);
    return 0;
fail:
    if (dl != NULL)
        dlclose(dl);
    return -EINVAL;
}

int zg_http_handlers_load(zg_http_conf_t *conf, const zg_api_t *host, char *err,
                          size_t errlen)
{
    int rc;

    zg_http_api_setup(host);
    for (size_t i = 0; i < conf->nroutes; i++) {
        zg_http_route_t *r = &conf->routes[i];

        if (r->type != ZG_HTTP_ROUTE_HANDLER)
            continue;
        rc = zg_http_load_one(r, i, host, err, errlen);
        if (rc < 0) {
            zg_http_handlers_unload(conf);
            return rc;
        }
    }
    return 0;
}

void zg_http_handlers_unload(zg_http_conf_t *conf)
{
    for (size_t i = 0; conf != NULL && i < conf->nroutes; i++) {
        zg_http_route_t *r = &conf->routes[i];
        zg_http_hmod_t *m = r->hmod;

        if (m == NULL)
            continue;
        if (r->inited && m->desc.fini != NULL)
            m->desc.fini(r->route_data);
        r->inited = 0;
        r->route_data = NULL;
        if (m->dl != NULL)
            dlclose(m->dl);
        free(m->path);
        free(m);
        r->hmod = NULL;
    }
}

/* ---- requests ---- */

static int zg_http_lc(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* The field line starting at *at (< end): its name and value (white
 * space trimmed); *at moves past its CRLF. The parser checked the head:
 * every line before end is "name:" then a value, ending in CRLF. */
static void zg_http_field(const unsigned char *h, size_t *at, size_t end,
                          zg_view_t *name, zg_view_t *value)
{
    const unsigned char *line = h + *at;
    const unsigned char *cr = memchr(line, '\r', end - *at);
    const unsigned char *colon = memchr(line, ':', (size_t)(cr - line));
    const unsigned char *v = colon + 1, *e = cr;

    name->data = line;
    name->len = (size_t)(colon - line);
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    value->data = v;
    value->len = (size_t)(e - v);
    *at = (size_t)(cr - h) + 2;
}

static int zg_http_api_header(const zg_http_request_t *req, const char *name,
                              size_t name_len, zg_view_t *value)
{
    const zg_http_hreq_t *hr = req->host;
    size_t at = hr->fields;
    zg_view_t n, v;

    while (at < hr->end) {
        size_t i = 0;

        zg_http_field(hr->head, &at, hr->end, &n, &v);
        if (n.len != name_len)
            continue;
        while (i < name_len &&
               zg_http_lc(n.data[i]) == zg_http_lc((unsigned char)name[i]))
            i++;
        if (i == name_len) {
            *value = v;
            return 1;
        }
    }
    value->data = (const unsigned char *)"";
    value->len = 0;
    return 0;
}

static int zg_http_api_header_at(const zg_http_request_t *req, size_t i,
                                 zg_view_t *name, zg_view_t *value)
{
    const zg_http_hreq_t *hr = req->host;
    size_t at = hr->fields;

    while (at < hr->end) {
        zg_http_field(hr->head, &at, hr->end, name, value);
        if (i-- == 0)
            return 1;
    }
    return 0;
}

/* ---- responses ---- */

/* Make room for n more bytes at *buf (len used, cap allocated), up to
 * max in all. */
static int zg_http_grow(void *bufp, size_t len, size_t *cap, size_t n,
                        size_t max, size_t first)
{
    unsigned char **buf = bufp, *b;
    size_t c = *cap;

    if (n > max - len)
        return -1;
    if (len + n <= c)
        return 0;
    if (c < first)
        c = first;
    while (c < len + n)
        c = c > max / 2 ? max : c * 2;
    b = realloc(*buf, c);
    if (b == NULL)
        return -ENOMEM;
    *buf = b;
    *cap = c;
    return 0;
}

static int zg_http_api_status(zg_http_response_t *r, unsigned status)
{
    r->rsv_on = 0;
    if (status < 200 || status > 599)
        return -EINVAL;
    r->status = status;
    return 0;
}

/* 1 if n[0..len) is lc (lower case) without regard to case. */
static int zg_http_is(const char *n, size_t len, const char *lc)
{
    for (size_t i = 0; i < len; i++) {
        if (zg_http_lc((unsigned char)n[i]) != lc[i])
            return 0;
    }
    return 1;
}

/* Fields the plugin writes itself. */
static int zg_http_owned(const char *n, size_t len)
{
    switch (len) {
    case 4:
        return zg_http_is(n, 4, "date");
    case 6:
        return zg_http_is(n, 6, "server");
    case 7:
        return zg_http_is(n, 7, "upgrade") || zg_http_is(n, 7, "trailer");
    case 10:
        return zg_http_is(n, 10, "connection") ||
               zg_http_is(n, 10, "keep-alive");
    case 14:
        return zg_http_is(n, 14, "content-length");
    case 17:
        return zg_http_is(n, 17, "transfer-encoding");
    }
    return 0;
}

static int zg_http_api_add_header(zg_http_response_t *r, const char *name,
                                  size_t name_len, const char *value,
                                  size_t value_len)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    size_t need = name_len + value_len + 4;
    char *d;
    int rc;

    r->rsv_on = 0;
    if (name == NULL || name_len == 0 || name_len > ZG_HTTP_RESP_NAME_MAX ||
        (value == NULL && value_len > 0) || value_len > ZG_HTTP_RESP_VALUE_MAX)
        return -EINVAL;
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c != 0 && strchr(tchar, c))))
            return -EINVAL;
    }
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -EINVAL;
    }
    if (value_len > 0 &&
        (value[0] == ' ' || value[0] == '\t' || value[value_len - 1] == ' ' ||
         value[value_len - 1] == '\t'))
        return -EINVAL;
    if (zg_http_owned(name, name_len))
        return -EPERM;
    rc = zg_http_grow(&r->fields, r->fields_len, &r->fields_cap, need,
                      ZG_HTTP_RESP_FIELDS_MAX, 256);
    if (rc < 0)
        return rc == -1 ? -ENOSPC : rc;
    d = r->fields + r->fields_len;
    memcpy(d, name, name_len);
    d[name_len] = ':';
    d[name_len + 1] = ' ';
    if (value_len > 0)
        memcpy(d + name_len + 2, value, value_len);
    d[need - 2] = '\r';
    d[need - 1] = '\n';
    r->fields_len += need;
    return 0;
}

static int zg_http_api_write(zg_http_response_t *r, const void *data,
                             size_t len)
{
    int rc;

    r->rsv_on = 0;
    if (len == 0)
        return 0;
    if (data == NULL)
        return -EINVAL;
    rc = zg_http_grow(&r->body, r->body_len, &r->body_cap, len,
                      ZG_HTTP_MAX_RESPONSE, 1024);
    if (rc < 0)
        return rc == -1 ? -EFBIG : rc;
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    return 0;
}

static void *zg_http_api_reserve(zg_http_response_t *r, size_t min,
                                 size_t *avail)
{
    r->rsv_on = 0;
    if (zg_http_grow(&r->body, r->body_len, &r->body_cap, min ? min : 1,
                     ZG_HTTP_MAX_RESPONSE, 1024) < 0)
        return NULL;
    r->rsv_on = 1;
    r->rsv = r->body_cap - r->body_len;
    if (avail != NULL)
        *avail = r->rsv;
    return r->body + r->body_len;
}

static int zg_http_api_commit(zg_http_response_t *r, size_t len)
{
    if (!r->rsv_on || len > r->rsv)
        return -EINVAL;
    r->rsv_on = 0;
    r->body_len += len;
    return 0;
}

static int zg_http_api_alive(const zg_http_response_t *r)
{
    return r->conn != NULL;
}

void zg_http_resp_reset(zg_http_response_t *r)
{
    r->status = 200;
    r->in_handle = r->finished = r->rsv_on = 0;
    r->rsv = 0;
    r->fields_len = r->body_len = 0;
    if (r->body_cap > HTTP_RESP_KEEP_BODY) {
        free(r->body);
        r->body = NULL;
        r->body_cap = 0;
    }
    if (r->fields_cap > HTTP_RESP_KEEP_FIELDS) {
        free(r->fields);
        r->fields = NULL;
        r->fields_cap = 0;
    }
}

void zg_http_resp_free(zg_http_response_t *r)
{
    if (r == NULL)
        return;
    free(r->fields);
    free(r->body);
    free(r);
}

/* Fill the table once (every listener's init_conf gets the same host
 * table; none runs while reactors do). */
static void zg_http_api_setup(const zg_api_t *host)
{
    zg_http_api_t *a = &zg_http_handler_api;

    if (a->struct_size != 0)
        return;
    a->struct_size = sizeof(*a);
    a->abi_major = ZG_HTTP_ABI_MAJOR;
    a->abi_minor = ZG_HTTP_ABI_MINOR;
    a->zg = host;
    a->header = zg_http_api_header;
    a->header_at = zg_http_api_header_at;
    a->status = zg_http_api_status;
    a->add_header = zg_http_api_add_header;
    a->write = zg_http_api_write;
    a->reserve = zg_http_api_reserve;
    a->commit = zg_http_api_commit;
    a->finish = zg_http_resp_finish;
    a->alive = zg_http_api_alive;
}
