/* SPDX-License-Identifier: MIT */
/*
 * Description: libFuzzer target for the http plugin. The input is a byte
 * stream sent to one connection; it is delivered whole, then again cut
 * into pieces the way the host presents them (unconsumed bytes first, one
 * exact-size heap view per receive, so a sanitizer sees any over-read),
 * and both deliveries must give the same output, the same ending and
 * the same access log lines, which must be well-formed (escaped client
 * bytes, one line per request). Inputs whose first byte is 0xff are fed
 * to the config reader instead.
 */
#include <errno.h>
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

/* Two listeners: default limits, and tiny ones so limits are reached;
 * an access log in each format. */
static const char *const fz_confs[FZ_NCONF] = {
    "{\"routes\":[{\"path\":\"/echo\",\"type\":\"echo\"},"
    "{\"path\":\"/s\",\"type\":\"echo\",\"buffering\":false},"
    "{\"path\":\"/e2\",\"type\":\"echo\",\"methods\":[\"POST\",\"HEAD\"]},"
    "{\"path\":\"/n\",\"status\":204}],"
    "\"access_log\":{\"path\":\"fuzz.log\"}}",
    "{\"limits\":{\"max_request_line\":64,\"max_header_size\":96,"
    "\"max_headers\":4,\"max_body_size\":48},"
    "\"routes\":[{\"path\":\"/echo\",\"type\":\"echo\"}],"
    "\"access_log\":{\"path\":\"fuzz.log\",\"format\":\"json\"}}",
};

#include "host.h"

/* The config path: the host's checks, then the plugin's build. */
static void fz_config(const uint8_t *data, size_t size)
{
    zg_conf_arena_t arena = {NULL};
    char *text = malloc(size + 1), err[256];
    const zg_http_cfg_t *cfg;
    zg_http_conf_t *c = NULL;

    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    cfg = zg_test_conf_fill(ZG_PLUGIN_ENTRY(), text, size, &arena, err,
                            sizeof(err));
    if (cfg != NULL && zg_http_conf_build(cfg, &c, err, sizeof(err)) == 0) {
        /* every route has its heads, and its path finds it (or, for a
         * prefix route, the exact route of the same path, which wins) */
        for (size_t i = 0; i < c->nroutes; i++) {
            const zg_http_route_t *r = &c->routes[i], *f;

            f = zg_http_route_find(c, (const unsigned char *)r->path,
                                   r->path_len);
            if (f == NULL || r->head == NULL || r->h405 == NULL ||
                (r->match == ZG_HTTP_MATCH_EXACT && f != r) ||
                f->path_len != r->path_len)
                abort();
        }
        zg_http_conf_free(c);
    } else {
        /* errors are one non-empty line, without control bytes */
        if (err[0] == '\0')
            abort();
        for (const char *e = err; *e != '\0'; e++) {
            if ((unsigned char)*e < 0x20 || *e == 0x7f)
                abort();
        }
    }
    zg_conf_arena_free(&arena);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_out_t *a, *b;
    int conf;

    if (size < 2 || size > FZ_MAX_PIECES)
        return 0;
    if (data[0] == 0xff) {
        fz_config(data + 1, size - 1);
        return 0;
    }
    fz_setup();
    conf = data[0] & 1;
    a = calloc(1, sizeof(*a));
    b = calloc(1, sizeof(*b));
    if (a == NULL || b == NULL)
        abort();
    /* data[1]: how many of the following bytes steer the cuts */
    {
        size_t ncuts = data[1] % 8, skip = 2 + ncuts;
        const uint8_t *cuts = data + 2;

        if (skip > size)
            skip = size, ncuts = size - 2;
        fz_run(conf, data + skip, size - skip, NULL, 0, a);
        fz_run(conf, data + skip, size - skip, cuts, ncuts > 0 ? ncuts : 1, b);
        if (ncuts == 0 && size <= 600) {
            /* one byte per piece */
            fz_out_t *c = calloc(1, sizeof(*c));
            static const uint8_t one[1] = {0};

            if (c == NULL)
                abort();
            fz_run(conf, data + skip, size - skip, one, 1, c);
            if (!fz_same(a, c))
                abort();
            free(c->buf);
            free(c->log);
            free(c);
        }
    }
    /* The output must not depend on how the input was cut. */
    if (!fz_same(a, b)) {
        fprintf(stderr,
                "split changed the output: whole %zu bytes "
                "(closed %d), split %zu bytes (closed %d)\n",
                a->len, a->closed, b->len, b->closed);
        fprintf(stderr, "whole's log:\n%.*s\nsplit's log:\n%.*s\n",
                (int)a->loglen, a->log, (int)b->loglen, b->log);
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
    return 0;
}
