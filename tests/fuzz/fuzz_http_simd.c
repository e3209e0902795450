/* SPDX-License-Identifier: MIT */
/*
 * Description: libFuzzer target for the head parser's byte scanner sets
 * (plugins/http/scan.h). The input is a request head; byte 0 picks the
 * limits (bits 0-1), how many of the next bytes say where to cut it into views.
 * It is parsed whole and cut with every set this CPU runs (each view an
 * exact-size heap block, so a sanitizer sees any over-read), and every
 * set must give what scalar gives: the verdict, the offsets and the
 * whole parse state; cut or not, the verdict and, on a refusal, how far
 * the parser read must not change. The scanners themselves are also
 * checked against the class table on the raw input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.c"
#include "scan_fns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAXCUTS 7

static const zg_http_limits_t fz_lims[4] = {
    {8192, 32768, 100, 1 << 20},
    {48, 96, 4, 64},
    {400, 20, 8, 64}, /* the field section's bound below the line's */
    {16, 8, 2, 0},
};

typedef struct fz_res_s {
    long rc;
    zg_http_head_t h;
} fz_res_t;

/* Parse head[0..len) with set s, cut at cuts[0..ncuts) (ascending),
 * views arriving one at a time. */
static void fz_parse(zg_http_simd_t s, const uint8_t *head, size_t len,
                     const size_t *cuts, unsigned ncuts,
                     const zg_http_limits_t *lim, fz_res_t *r)
{
    zg_view_t views[FZ_MAXCUTS + 1];
    unsigned char *blocks[FZ_MAXCUTS + 1];
    zg_input_t in = {views, 0, 0, 0};
    unsigned char *scratch = malloc(ZG_HTTP_SCRATCH(lim));
    size_t at = 0;
    unsigned i;

    if (scratch == NULL)
        abort();
    zg_http_head_reset(&r->h);
    r->rc = 0;
    for (i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;

        blocks[i] = malloc(to - at > 0 ? to - at : 1);
        if (blocks[i] == NULL)
            abort();
        memcpy(blocks[i], head + at, to - at);
        views[i].data = blocks[i];
        views[i].len = to - at;
        in.nviews = i + 1;
        in.total = to;
        at = to;
        if (r->rc == 0)
            r->rc = zg_http_parse_head_simd(s, &r->h, &in, 0, lim, scratch);
    }
    for (i = 0; i <= ncuts; i++)
        free(blocks[i]);
    free(scratch);
}

static int fz_same(const fz_res_t *a, const fz_res_t *b)
{
    const zg_http_head_t *x = &a->h, *y = &b->h;

    return a->rc == b->rc && x->state == y->state && x->off == y->off &&
           x->mark == y->mark && x->hstart == y->hstart &&
           x->method_off == y->method_off && x->method_len == y->method_len &&
           x->target_off == y->target_off && x->target_len == y->target_len &&
           x->nfields == y->nfields && x->vpos == y->vpos &&
           x->major == y->major && x->minor == y->minor &&
           x->field == y->field && x->nhost == y->nhost && x->ncl == y->ncl &&
           x->nte == y->nte && x->te_chunked == y->te_chunked &&
           x->te_unknown == y->te_unknown && x->te_bad == y->te_bad &&
           x->te_final == y->te_final && x->nct == y->nct &&
           x->conn == y->conn && x->expect == y->expect &&
           x->content_length == y->content_length && x->ref_off == y->ref_off &&
           x->ref_len == y->ref_len && x->ua_off == y->ua_off &&
           x->ua_len == y->ua_len;
}

static void fz_differ(const char *what, zg_http_simd_t s, const fz_res_t *a,
                      const fz_res_t *b)
{
    fprintf(stderr,
            "%s: %s gives rc %ld off %u state %u, scalar rc %ld off %u "
            "state %u\n",
            what, zg_http_simd_name(s), b->rc, b->h.off, b->h.state, a->rc,
            a->h.off, a->h.state);
    abort();
}

/* Each scanner from a few starting points, against the class table,
 * each with a fresh block and with one block kept along the walk. */
static void fz_scanners(const uint8_t *p0, size_t len)
{
    static const unsigned cls[3] = {ZG_HTTP_C_TOKEN, ZG_HTTP_C_TARGET,
                                    ZG_HTTP_C_FVAL};
    zg_scan_fn fns[ZG_HTTP_SIMD_N];
    unsigned char *buf = malloc(len > 0 ? len : 1);
    const unsigned char *end, *want, *got;
    int nfns = zg_scan_fns(fns);

    if (buf == NULL)
        abort();
    memcpy(buf, p0, len);
    end = buf + len;
    for (int f = 0; f < nfns; f++) {
        zg_http_blk_t kept = {0};

        for (size_t i = 0; i <= len; i += 1 + i / 8) {
            for (int c = 0; c < 3; c++) {
                zg_http_blk_t b = {0};

                want = zg_scan_ref(buf + i, end, cls[c]);
                got = fns[f](&b, buf, buf + i, end, cls[c]);
                if (got == want)
                    got = fns[f](&kept, buf, buf + i, end, cls[c]);
                if (got != want) {
                    fprintf(stderr, "set %d class %u from %zu: %td, want %td\n",
                            f, cls[c], i, got - buf, want - buf);
                    abort();
                }
            }
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const zg_http_limits_t *lim;
    size_t cuts[FZ_MAXCUTS], len;
    const uint8_t *head;
    unsigned ncuts;
    fz_res_t whole, cut, ref;

    if (size < 1 || size > 4096)
        return 0;
    lim = &fz_lims[data[0] & 3];
    ncuts = (data[0] >> 2) % (FZ_MAXCUTS + 1);
    if (size < 1 + ncuts)
        ncuts = (unsigned)(size - 1);
    head = data + 1 + ncuts;
    len = size - 1 - ncuts;
    for (unsigned i = 0; i < ncuts; i++)
        cuts[i] = len > 0 ? data[1 + i] * len / 256 : 0;
    for (unsigned i = 1; i < ncuts; i++) { /* sort */
        for (unsigned j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];

            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    }
    fz_scanners(head, len);
    fz_parse(ZG_HTTP_SIMD_SCALAR, head, len, NULL, 0, lim, &ref);
    for (int s = 0; s < ZG_HTTP_SIMD_N; s++) {
        fz_res_t sc;

        if (!zg_http_simd_supported((zg_http_simd_t)s))
            continue;
        fz_parse((zg_http_simd_t)s, head, len, NULL, 0, lim, &whole);
        if (!fz_same(&ref, &whole))
            fz_differ("whole", (zg_http_simd_t)s, &ref, &whole);
        fz_parse((zg_http_simd_t)s, head, len, cuts, ncuts, lim, &cut);
        fz_parse(ZG_HTTP_SIMD_SCALAR, head, len, cuts, ncuts, lim, &sc);
        if (!fz_same(&sc, &cut))
            fz_differ("cut", (zg_http_simd_t)s, &sc, &cut);
        /* the promise of parse.h, cut or not */
        if (cut.rc != whole.rc || (whole.rc < 0 && cut.h.off != whole.h.off))
            fz_differ("cut vs whole", (zg_http_simd_t)s, &whole, &cut);
    }
    return 0;
}
