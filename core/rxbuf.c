/* SPDX-License-Identifier: MIT */
/*
 * Description: receive-buffer accounting (see rxbuf.h): reference counts on
 * provided buffers, per-connection queues of unconsumed input, and the
 * compaction that moves held bytes out of the ring when it runs short.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxbuf.h"

int zg_bufpool_init(zg_bufpool_t *p, unsigned char *base, uint32_t bufsize,
                    uint32_t nbufs)
{
    memset(p, 0, sizeof(*p));
    p->refs = calloc(nbufs, sizeof(*p->refs));
    p->ret = calloc(nbufs, sizeof(*p->ret));
    p->koff = calloc(nbufs, sizeof(*p->koff));
    if (p->refs == NULL || p->ret == NULL || p->koff == NULL) {
        zg_bufpool_free(p);
        return -ENOMEM;
    }
    p->base = base;
    p->bufsize = bufsize;
    p->nbufs = nbufs;
    p->segs.size = ZG_RXQ_SEGS * sizeof(zg_rxseg_t);
    p->nkernel = nbufs;
    for (uint32_t i = 0; i < nbufs; i++)
        p->refs[i] = 1; /* the kernel's */
    return 0;
}

void zg_bufpool_free(zg_bufpool_t *p)
{
    zg_blk_trim(&p->segs, 1);
    free(p->refs);
    free(p->ret);
    free(p->koff);
    free(p->spare);
    free(p->given);
    free(p->rbid);
    free(p->rpos);
    free(p->rlen);
    p->rbid = p->rpos = NULL;
    p->rlen = NULL;
    p->given = NULL;
    p->refs = NULL;
    p->ret = NULL;
    p->koff = NULL;
    p->spare = NULL;
}

int zg_bufpool_window(zg_bufpool_t *p, uint32_t window)
{
    if (window == 0 || window >= p->nbufs)
        return 0;
    p->spare = calloc(p->nbufs, sizeof(*p->spare));
    p->given = calloc(p->nbufs, 1);
    if (p->spare == NULL || p->given == NULL)
        return -ENOMEM;
    /* Highest ids at the bottom: the lowest come out first. */
    for (uint32_t bid = p->nbufs; bid-- > window;) {
        p->spare[p->nspare++] = (uint16_t)bid;
        p->refs[bid] = 0;
        p->koff[bid] = UINT32_MAX;
    }
    p->nkernel = window;
    p->window = window;
    p->wmin = window;
    p->kmin = window;
    p->clean = p->nspare; /* never touched: no memory behind them */
    return 0;
}

uint32_t zg_bufpool_refill(zg_bufpool_t *p, uint16_t *out)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < p->nret; i++)
        p->spare[p->nspare++] = p->ret[i];
    p->nret = 0;
    while (p->nkernel < p->window && p->nspare > 0) {
        uint16_t bid = p->spare[--p->nspare];

        p->refs[bid] = 1;
        p->koff[bid] = 0;
        p->nkernel++;
        out[n++] = bid;
    }
    if (p->clean > p->nspare)
        p->clean = p->nspare;
    return n;
}

int zg_bufpool_shadow(zg_bufpool_t *p, const struct io_uring_buf *ring)
{
    p->rbid = calloc(2 * (size_t)p->nbufs, sizeof(*p->rbid));
    p->rpos = calloc(p->nbufs, sizeof(*p->rpos));
    p->rlen = calloc(p->nbufs, sizeof(*p->rlen));
    if (p->rbid == NULL || p->rpos == NULL || p->rlen == NULL)
        return -ENOMEM;
    p->ring = ring;
    return 0;
}

uint32_t zg_bufpool_ring_put(zg_bufpool_t *p, uint16_t bid)
{
    uint16_t pos = p->rtail++;
    uint32_t slot = pos & (p->nbufs - 1);

    if (p->rbid != NULL) {
        /* The slot's previous entry, a ring's length back: if the kernel
         * consumed it and its completion is still to come, its length
         * would be lost with the entry. */
        uint16_t prev = (uint16_t)(pos - p->nbufs);
        uint16_t old = p->rbid[prev & (2 * p->nbufs - 1)];

        if (p->ring != NULL && p->rpos[old] == prev &&
            p->koff[old] != UINT32_MAX && p->rlen[old] == 0)
            p->rlen[old] = p->ring[slot].len;
        p->rbid[pos & (2 * p->nbufs - 1)] = bid;
        p->rpos[bid] = pos;
        p->rlen[bid] = 0;
    }
    return slot;
}

int zg_bufpool_bundle(zg_bufpool_t *p, zg_bundle_t *b, uint32_t bid,
                      uint32_t res)
{
    if (p->rbid == NULL || bid >= p->nbufs || p->koff[bid] == UINT32_MAX)
        return -EINVAL;
    b->pos = p->rpos[bid];
    b->left = res;
    return 0;
}

int zg_bufpool_bundle_next(zg_bufpool_t *p, zg_bundle_t *b, uint32_t *bid,
                           uint32_t *off, uint32_t *len)
{
    uint16_t pos = b->pos;
    uint32_t id, elen;

    if (b->left == 0)
        return 0;
    id = p->rbid[pos & (2 * p->nbufs - 1)];
    if (p->rpos[id] != pos || p->koff[id] != 0)
        return -EINVAL;
    if (p->rlen[id] != 0)
        elen = p->rlen[id];
    else if (p->ring != NULL)
        elen = __atomic_load_n(&p->ring[pos & (p->nbufs - 1)].len,
                               __ATOMIC_RELAXED);
    else
        elen = p->bufsize;
    /* An empty entry is never mapped; a longer one was never put. */
    if (elen == 0 || elen > p->bufsize)
        return -EINVAL;
    *len = b->left < elen ? b->left : elen;
    if (zg_bufpool_take(p, id, *len, 0, off) < 0)
        return -EINVAL;
    *bid = id;
    b->left -= *len;
    b->pos = (uint16_t)(pos + 1);
    return 1;
}

void zg_bufpool_starved(zg_bufpool_t *p)
{
    p->starved = 1;
    if (p->spare != NULL)
        p->window = p->window * 2 < p->nbufs ? p->window * 2 : p->nbufs;
}

uint32_t zg_bufpool_tick(zg_bufpool_t *p, uint16_t *out, uint32_t max,
                         int published_too)
{
    uint32_t n = 0, keep;
    int quiet;

    if (p->spare == NULL)
        return 0;
    quiet = !p->starved && p->kmin >= p->window / 2;
    if (quiet && p->window / 2 >= p->wmin)
        p->window /= 2;
    p->starved = 0;
    p->kmin = p->nkernel;
    keep = p->window < p->nspare ? p->nspare - p->window : 0;
    while (p->clean < keep && n < max)
        out[n++] = p->spare[p->clean++];
    /* Published but untouched since: the kernel took none of it. */
    for (uint32_t bid = 0; quiet && published_too && bid < p->nbufs && n < max;
         bid++) {
        if (p->koff[bid] == 0 && p->refs[bid] == 1 && !p->given[bid]) {
            p->given[bid] = 1;
            out[n++] = (uint16_t)bid;
        }
    }
    return n;
}

int zg_bufpool_take(zg_bufpool_t *p, uint32_t bid, uint32_t len, int more,
                    uint32_t *off)
{
    /* Only a buffer still carrying the kernel's reference can be filled. */
    if (bid >= p->nbufs || p->koff[bid] == UINT32_MAX ||
        p->koff[bid] + (uint64_t)len > p->bufsize)
        return -EINVAL;
    *off = p->koff[bid];
    if (p->given != NULL)
        p->given[bid] = 0;
    if (more) {
        p->refs[bid]++; /* the piece; the kernel keeps its reference */
        p->koff[bid] += len;
    } else {
        /* The kernel's reference passes to the piece. */
        p->koff[bid] = UINT32_MAX;
        p->nkernel--;
        if (p->nkernel < p->kmin)
            p->kmin = p->nkernel;
    }
    return 0;
}

void zg_bufpool_published(zg_bufpool_t *p)
{
    for (uint32_t i = 0; i < p->nret; i++) {
        p->refs[p->ret[i]] = 1;
        p->koff[p->ret[i]] = 0;
    }
    p->nkernel += p->nret;
    p->nret = 0;
}

void zg_bufpool_ref(zg_bufpool_t *p, uint32_t bid)
{
    p->refs[bid]++;
}

void zg_bufpool_unref(zg_bufpool_t *p, uint32_t bid)
{
    if (--p->refs[bid] == 0)
        p->ret[p->nret++] = (uint16_t)bid;
}

int32_t zg_bufpool_bid_of(const zg_bufpool_t *p, const void *ptr)
{
    const unsigned char *c = ptr;

    if (p->base == NULL || c < p->base ||
        c >= p->base + (size_t)p->nbufs * p->bufsize)
        return -1;
    return (int32_t)((size_t)(c - p->base) / p->bufsize);
}

/* A queue about to hold its first segment takes an array from the pool;
 * an empty one gives it back. */
static int zg_rxq_attach(zg_rxq_t *q, zg_bufpool_t *p)
{
    q->seg = zg_blk_get(&p->segs);
    q->head = 0;
    return q->seg != NULL ? 0 : -ENOMEM;
}

static void zg_rxq_detach(zg_rxq_t *q, zg_bufpool_t *p)
{
    zg_blk_put(&p->segs, q->seg);
    q->seg = NULL;
    q->head = 0;
}

static zg_rxseg_t *zg_rxq_at(zg_rxq_t *q, unsigned i)
{
    return &q->seg[(q->head + i) % ZG_RXQ_SEGS];
}

int zg_rxq_pins_ring(const zg_rxq_t *q)
{
    for (unsigned i = 0; i < q->n; i++) {
        if (q->seg[(q->head + i) % ZG_RXQ_SEGS].bid >= 0)
            return 1;
    }
    return 0;
}

int zg_rxq_compact(zg_rxq_t *q, zg_bufpool_t *p)
{
    zg_rxseg_t *s;
    size_t pos = 0;
    unsigned i = 0;

    if (!zg_rxq_pins_ring(q))
        return 0;
    if (q->held > UINT32_MAX)
        return -ENOMEM;
    if (q->heap_cap < q->held) {
        /* Grow by half again so a slowly arriving message costs O(n). */
        size_t cap = q->held + q->held / 2;
        unsigned char *h;

        if (cap > UINT32_MAX)
            cap = UINT32_MAX;
        h = realloc(q->heap, cap);
        if (h == NULL)
            return -ENOMEM;
        q->heap = h;
        q->heap_cap = (uint32_t)cap;
    }
    if (q->n > 0 && (s = zg_rxq_at(q, 0))->bid < 0) {
        memmove(q->heap, q->heap + s->off, s->len);
        pos = s->len;
        i = 1;
    }
    for (; i < q->n; i++) {
        s = zg_rxq_at(q, i);
        memcpy(q->heap + pos, zg_bufpool_addr(p, (uint32_t)s->bid) + s->off,
               s->len);
        pos += s->len;
        zg_bufpool_unref(p, (uint32_t)s->bid);
    }
    q->head = 0;
    q->n = 1;
    q->seg[0].bid = -1;
    q->seg[0].off = 0;
    q->seg[0].len = (uint32_t)pos;
    return 0;
}

int zg_rxq_push(zg_rxq_t *q, zg_bufpool_t *p, uint32_t bid, uint32_t off,
                uint32_t len)
{
    zg_rxseg_t *s;

    if ((q->n == ZG_RXQ_SEGS && zg_rxq_compact(q, p) < 0) ||
        (q->n == 0 && zg_rxq_attach(q, p) < 0)) {
        zg_bufpool_unref(p, bid);
        return -ENOMEM;
    }
    s = zg_rxq_at(q, q->n);
    s->bid = (int32_t)bid;
    s->off = off;
    s->len = len;
    q->n++;
    q->held += len;
    return 0;
}

unsigned zg_rxq_views(const zg_rxq_t *q, const zg_bufpool_t *p,
                      zg_view_t *views)
{
    for (unsigned i = 0; i < q->n; i++) {
        const zg_rxseg_t *s = &q->seg[(q->head + i) % ZG_RXQ_SEGS];

        views[i].data =
            (s->bid < 0 ? q->heap : zg_bufpool_addr(p, (uint32_t)s->bid)) +
            s->off;
        views[i].len = s->len;
    }
    return q->n;
}

static void zg_rxq_pop(zg_rxq_t *q, zg_bufpool_t *p)
{
    zg_rxseg_t *s = zg_rxq_at(q, 0);

    if (s->bid >= 0) {
        zg_bufpool_unref(p, (uint32_t)s->bid);
    } else {
        /* An idle connection keeps no heap memory. */
        free(q->heap);
        q->heap = NULL;
        q->heap_cap = 0;
    }
    q->head = (uint8_t)((q->head + 1) % ZG_RXQ_SEGS);
    if (--q->n == 0)
        zg_rxq_detach(q, p);
}

void zg_rxq_consume(zg_rxq_t *q, zg_bufpool_t *p, size_t n)
{
    if (n > q->held)
        n = q->held;
    q->held -= n;
    while (n > 0) {
        zg_rxseg_t *s = zg_rxq_at(q, 0);

        if (n < s->len) {
            s->off += (uint32_t)n;
            s->len -= (uint32_t)n;
            return;
        }
        n -= s->len;
        zg_rxq_pop(q, p);
    }
    /* Empty segments (zero-length receives never get here) are dropped. */
    while (q->n > 0 && zg_rxq_at(q, 0)->len == 0)
        zg_rxq_pop(q, p);
}

void zg_rxq_release(zg_rxq_t *q, zg_bufpool_t *p)
{
    while (q->n > 0)
        zg_rxq_pop(q, p);
    q->held = 0;
    q->head = 0;
}
