/* SPDX-License-Identifier: MIT */
/*
 * Description: libFuzzer target for the http plugin's handler routes
 * (handler.c, http.c's dispatch) and the helpers of zerg/http.h. The input
 * is a byte stream to one connection whose routes a compiled-in handler
 * answers with everything it was handed (method, target, path, query
 * pairs, route, rest, every field line, lookups by name, the body), at
 * once, later through post, after several posts, or by failing; it is
 * delivered whole, then cut into exact-size heap views, and both must
 * give the same output and ending. Inputs whose first byte is 0xfe drive
 * the inline helpers (query pairs, integers, percent-decoding) against
 * reference implementations instead.
 */
#include <errno.h>
#include <stdarg.h>
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

static const char *const fz_confs[FZ_NCONF] = {
    "{\"routes\":[{\"path\":\"/d\",\"handler\":\"fzh\"},"
    "{\"path\":\"/p/\",\"match\":\"prefix\",\"handler\":\"fzh\","
    "\"methods\":[\"GET\",\"POST\"]},"
    "{\"path\":\"/later\",\"handler\":\"fzh\"},"
    "{\"path\":\"/chain\",\"handler\":\"fzh\"},"
    "{\"path\":\"/fail\",\"handler\":\"fzh\"},"
    "{\"path\":\"/big\",\"handler\":\"fzh\"},"
    "{\"path\":\"/\",\"match\":\"prefix\",\"body\":\"root\"},"
    "{\"path\":\"/small\",\"handler\":\"fzh\",\"max_body_size\":16}],"
    "\"access_log\":{\"path\":\"fuzz.log\"}}",
    "{\"limits\":{\"max_request_line\":64,\"max_header_size\":128,"
    "\"max_headers\":4,\"max_body_size\":48},"
    "\"routes\":[{\"path\":\"/\",\"match\":\"prefix\",\"handler\":\"fzh\"}],"
    "\"access_log\":{\"path\":\"fuzz.log\",\"format\":\"json\"}}",
};

#include "host.h"

/* ---- the compiled-in handler ---- */

static const zg_http_api_t *fzh;

static void fzh_printf(zg_http_response_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fzh_printf(zg_http_response_t *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0 &&
        fzh->write(r, buf,
                   (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0)
        abort();
}

#define V(v) (int)(v).len, (const char *)(v).data

/* A later answer: after arg->left more posts. */
typedef struct fzh_later_s {
    zg_http_response_t *r;
    int left;
} fzh_later_t;

static void fzh_later(zg_conn_t *c, void *conn_data, void *arg)
{
    fzh_later_t *l = arg;

    (void)conn_data;
    if (l->left-- > 0 && c != NULL && fz_post(1, fzh_later, l) == 0)
        return;
    if (c != NULL)
        fzh_printf(l->r, "later\n");
    fzh->finish(l->r);
    free(l);
}

/* Everything the handler was handed, as text. */
static void fzh_dump(const zg_http_request_t *req, zg_http_response_t *r)
{
    zg_view_t name, value;
    uint32_t sum = 0;
    size_t pos = 0, nh = 0;

    fzh_printf(r, "%.*s %.*s\npath=%.*s\nquery=%.*s\nroute=%.*s\nrest=%.*s\n",
               V(req->method), V(req->target), V(req->path), V(req->query),
               V(req->route), V(req->rest));
    fzh_printf(r, "keep=%d minor=%d\n", req->keep_alive, req->version_minor);
    while (zg_http_query_next(&req->query, &pos, &name, &value))
        fzh_printf(r, "q %.*s=%.*s\n", V(name), V(value));
    for (; fzh->header_at(req, nh, &name, &value); nh++) {
        zg_view_t first;

        /* a lookup by the same name finds this line or an earlier one */
        if (!fzh->header(req, (const char *)name.data, name.len, &first))
            abort();
        fzh_printf(r, "h %.*s: %.*s (%.*s)\n", V(name), V(value), V(first));
    }
    for (size_t i = 0; i < req->body.len; i++)
        sum = sum * 31 + req->body.data[i];
    fzh_printf(r, "fields=%zu body=%zu %u\n", nh, req->body.len, (unsigned)sum);
}

static int fzh_handle(const zg_http_request_t *req, zg_http_response_t *r)
{
    if (req->struct_size != sizeof(*req) || !fzh->alive(r))
        abort();
    fzh->add_header(r, "X-Fz", 4, "1", 1);
    if (zg_http_view_is(&req->path, "/fail")) {
        fzh_printf(r, "dropped");
        return -EIO;
    }
    if (zg_http_view_is(&req->path, "/later") ||
        zg_http_view_is(&req->path, "/chain")) {
        fzh_later_t *l = malloc(sizeof(*l));

        if (l == NULL)
            abort();
        l->r = r;
        l->left = req->path.data[1] == 'c' ? (int)(req->query.len % 5) : 0;
        fzh_dump(req, r);
        if (fzh->zg->post(req->conn_id, fzh_later, l) != 0)
            abort();
        return ZG_HTTP_LATER;
    }
    if (zg_http_view_is(&req->path, "/big")) {
        size_t n = req->query.len % 64 * 1000, room;
        char *p = fzh->reserve(r, n + 1, &room);

        if (p == NULL || room < n + 1)
            abort();
        memset(p, 'b', n);
        if (fzh->commit(r, n) != 0 || fzh->commit(r, 1) != -EINVAL)
            abort();
        fzh->status(r, req->query.len % 2 ? 204 : 200);
        fzh->finish(r);
        return ZG_HTTP_DONE;
    }
    fzh_dump(req, r);
    return ZG_HTTP_DONE;
}

static int fzh_init(const zg_http_api_t *hapi, const void *conf,
                    void **route_data, char *errbuf, size_t errlen)
{
    fzh = hapi;
    return 0;
}

static const zg_http_handler_t fzh_desc = {
    .magic = ZG_HTTP_HANDLER_MAGIC,
    .abi_major = ZG_HTTP_ABI_MAJOR,
    .struct_size = sizeof(zg_http_handler_t),
    .name = "fzh",
    .version = "1",
    .init = fzh_init,
    .handle = fzh_handle,
};

static const zg_http_handler_t *fzh_open(const char *spec, void **dl,
                                         char *path, char *err, size_t errlen)
{
    *dl = NULL;
    snprintf(path, 64, "<builtin:%s>", spec);
    if (strcmp(spec, "fzh") != 0) {
        snprintf(err, errlen, "no handler %s", spec);
        return NULL;
    }
    return &fzh_desc;
}

/* ---- the helpers against references ---- */

static void fz_helpers(const uint8_t *data, size_t size)
{
    zg_view_t q = {data, size}, k, v, first;
    size_t pos = 0, prev = 0, pairs = 0;
    char dec[256];
    long n;

    while (zg_http_query_next(&q, &pos, &k, &v)) {
        /* pairs come in order, inside the query, without '&' */
        if (pos <= prev || pos > size || k.data < data + prev ||
            memchr(k.data, '&', k.len) || memchr(v.data, '&', v.len))
            abort();
        prev = pos;
        pairs++;
        if (k.len < 32) {
            char key[32];

            memcpy(key, k.data, k.len);
            key[k.len] = '\0';
            /* the first pair of that name, which may be this one */
            if (memchr(key, '\0', k.len) == NULL &&
                (!zg_http_query_get(&q, key, &first) || first.data > v.data))
                abort();
        }
    }
    if (pairs > size)
        abort();
    /* integers: the reference is strtoll over a NUL-terminated copy */
    if (size < 40) {
        char s[41], *end;
        int64_t got;
        long long want;
        int rc;

        memcpy(s, data, size);
        s[size] = '\0';
        rc = zg_http_view_i64(&q, &got);
        errno = 0;
        want = strtoll(s, &end, 10);
        if (rc == 0 && (errno != 0 || *end != '\0' || got != want ||
                        memchr(s, ' ', size) || size == 0))
            abort();
        if (rc == 0 && size - (s[0] == '-' || s[0] == '+') > 19)
            abort();
        /* and every plain integer in range is read */
        if (size > 0 &&
            strspn(s + (s[0] == '-' || s[0] == '+'), "0123456789") ==
                size - (s[0] == '-' || s[0] == '+') &&
            size - (s[0] == '-' || s[0] == '+') > 0 &&
            size - (s[0] == '-' || s[0] == '+') <= 18 && rc != 0)
            abort();
    }
    n = zg_http_pct_decode(&q, dec, sizeof(dec), data[0] & 1);
    if (n > (long)size)
        abort();
    if (size <= sizeof(dec) && memchr(data, '%', size) == NULL &&
        n != (long)size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_out_t *a, *b;
    size_t ncuts, skip;
    int conf;

    if (size < 2 || size > FZ_MAX_PIECES)
        return 0;
    if (data[0] == 0xfe) {
        fz_helpers(data + 1, size - 1);
        return 0;
    }
    zg_http_handler_open = fzh_open;
    fz_setup();
    conf = data[0] & 1;
    a = calloc(1, sizeof(*a));
    b = calloc(1, sizeof(*b));
    if (a == NULL || b == NULL)
        abort();
    ncuts = data[1] % 8;
    skip = 2 + ncuts;
    if (skip > size)
        skip = size, ncuts = size - 2;
    fz_run(conf, data + skip, size - skip, NULL, 0, a);
    fz_run(conf, data + skip, size - skip, data + 2, ncuts > 0 ? ncuts : 1, b);
    if (!fz_same(a, b)) {
        fprintf(stderr,
                "split changed the output: whole %zu bytes (closed %d), "
                "split %zu bytes (closed %d)\n",
                a->len, a->closed, b->len, b->closed);
        if (getenv("FZ_DUMP") != NULL) {
            fwrite(a->buf, 1, a->len, stderr);
            fputs("\n----\n", stderr);
            fwrite(b->buf, 1, b->len, stderr);
        }
        abort();
    }
    if (!fz_log_ok(conf, a)) {
        fprintf(stderr, "a bad access log (%u requests):\n%.*s", a->counted,
                (int)a->loglen, a->log);
        abort();
    }
    free(a->buf);
    free(b->buf);
    free(a->log);
    free(b->log);
    free(a);
    free(b);
    fz = NULL;
    return 0;
}
