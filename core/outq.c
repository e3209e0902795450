/* SPDX-License-Identifier: MIT */
/*
 * Description: output chains and the chunk pool (see outq.h). Allocation
 * happens only when the pool is empty; steady state reuses chunks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "outq.h"

#define ZG_CHUNK_ROOM (ZG_CHUNK_SIZE - sizeof(zg_chunk_t))

void zg_chunkpool_init(zg_chunkpool_t *cp, uint32_t max_free,
                       zg_chunk_release_fn release, void *arg)
{
    memset(cp, 0, sizeof(*cp));
    cp->max_free = max_free;
    cp->release = release;
    cp->release_arg = arg;
}

static void zg_chunk_list_free(zg_chunk_t *c)
{
    while (c != NULL) {
        zg_chunk_t *next = c->next;

        free(c);
        c = next;
    }
}

void zg_chunkpool_free(zg_chunkpool_t *cp)
{
    zg_chunk_list_free(cp->free_data);
    zg_chunk_list_free(cp->free_refs);
    cp->free_data = NULL;
    cp->free_refs = NULL;
    cp->nfree_data = 0;
}

static zg_chunk_t *zg_chunk_get_data(zg_chunkpool_t *cp, size_t room)
{
    zg_chunk_t *c;

    if (room <= ZG_CHUNK_ROOM && cp->free_data != NULL) {
        c = cp->free_data;
        cp->free_data = c->next;
        cp->nfree_data--;
    } else {
        size_t sz =
            room <= ZG_CHUNK_ROOM ? ZG_CHUNK_SIZE : sizeof(zg_chunk_t) + room;
        c = malloc(sz);
        if (c == NULL)
            return NULL;
        c->pooled = room <= ZG_CHUNK_ROOM;
        c->cap = (uint32_t)(sz - sizeof(zg_chunk_t));
    }
    c->next = NULL;
    c->ptr = c->data;
    c->start = c->end = 0;
    c->tag = 0;
    c->zc = 0;
    return c;
}

static void zg_chunk_put(zg_chunkpool_t *cp, zg_chunk_t *c)
{
    if (c->cap == 0) {
        cp->release(cp->release_arg, c->tag);
        c->next = cp->free_refs;
        cp->free_refs = c;
    } else if (c->pooled && cp->nfree_data < cp->max_free) {
        c->next = cp->free_data;
        cp->free_data = c;
        cp->nfree_data++;
    } else {
        free(c);
    }
}

static void zg_outq_link(zg_outq_t *q, zg_chunk_t *c)
{
    if (q->tail != NULL)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
}

int zg_outq_append(zg_outq_t *q, zg_chunkpool_t *cp, const void *data,
                   size_t len)
{
    const unsigned char *src = data;
    zg_chunk_t *t = q->tail;
    zg_chunk_t *first = NULL, *last = NULL;
    size_t n;

    /* Fill the tail's room first, then new chunks linked only on success. */
    if (t != NULL && t->cap > t->end) {
        n = t->cap - t->end;
        if (n > len)
            n = len;
    } else {
        n = 0;
    }
    size_t rest = len - n;
    while (rest > 0) {
        zg_chunk_t *c = zg_chunk_get_data(cp, 0);

        if (c == NULL) {
            while (first != NULL) {
                zg_chunk_t *next = first->next;

                zg_chunk_put(cp, first);
                first = next;
            }
            return -ENOMEM;
        }
        size_t k = rest < c->cap ? rest : c->cap;
        memcpy(c->data, src + n + (len - n - rest), k);
        c->end = (uint32_t)k;
        rest -= k;
        if (last != NULL)
            last->next = c;
        else
            first = c;
        last = c;
    }
    if (n > 0) {
        memcpy(t->ptr + t->end, src, n);
        t->end += (uint32_t)n;
    }
    if (first != NULL) {
        zg_outq_link(q, first);
        q->tail = last;
    }
    q->pending += len;
    return 0;
}

int zg_outq_append_ref(zg_outq_t *q, zg_chunkpool_t *cp, const void *ptr,
                       size_t len, uint32_t tag)
{
    zg_chunk_t *c = cp->free_refs;

    if (c != NULL) {
        cp->free_refs = c->next;
    } else {
        c = malloc(sizeof(*c));
        if (c == NULL)
            return -ENOMEM;
    }
    c->next = NULL;
    c->ptr = (unsigned char *)(uintptr_t)ptr;
    c->start = 0;
    c->end = (uint32_t)len;
    c->cap = 0;
    c->tag = tag;
    c->pooled = 0;
    c->zc = 0;
    zg_outq_link(q, c);
    q->pending += len;
    return 0;
}

void *zg_outq_reserve(zg_outq_t *q, zg_chunkpool_t *cp, size_t min,
                      size_t *avail)
{
    zg_chunk_t *t = q->tail;

    if (min > ZG_RESERVE_MAX)
        return NULL;
    if (t == NULL || t->cap - t->end < min || t->cap == 0) {
        t = zg_chunk_get_data(cp, min);
        if (t == NULL)
            return NULL;
        zg_outq_link(q, t);
    }
    *avail = t->cap - t->end;
    return t->ptr + t->end;
}

void zg_outq_commit(zg_outq_t *q, size_t len)
{
    q->tail->end += (uint32_t)len;
    q->pending += len;
}

unsigned zg_outq_iov(const zg_outq_t *q, struct iovec *iov, unsigned max)
{
    unsigned n = 0;

    for (zg_chunk_t *c = q->head; c != NULL && n < max; c = c->next) {
        if (c->end == c->start)
            continue;
        iov[n].iov_base = c->ptr + c->start;
        iov[n].iov_len = c->end - c->start;
        n++;
    }
    return n;
}

void zg_outq_sent(zg_outq_t *q, zg_chunkpool_t *cp, size_t n)
{
    q->pending -= n < q->pending ? n : q->pending;
    while (q->head != NULL) {
        zg_chunk_t *c = q->head;
        size_t k = c->end - c->start;

        if (n < k) {
            c->start += (uint32_t)n;
            return;
        }
        n -= k;
        q->head = c->next;
        if (q->head == NULL)
            q->tail = NULL;
        if (c->zc) {
            c->next = q->zc_done;
            q->zc_done = c;
            q->zc_bytes += c->cap != 0 ? c->cap : c->end;
        } else {
            zg_chunk_put(cp, c);
        }
    }
}

void zg_outq_mark_zc(zg_outq_t *q, unsigned niov)
{
    for (zg_chunk_t *c = q->head; c != NULL && niov > 0; c = c->next) {
        if (c->end == c->start)
            continue;
        c->zc = 1;
        niov--;
    }
}

void zg_outq_zc_release(zg_outq_t *q, zg_chunkpool_t *cp)
{
    while (q->zc_done != NULL) {
        zg_chunk_t *c = q->zc_done;

        q->zc_done = c->next;
        zg_chunk_put(cp, c);
    }
    q->zc_bytes = 0;
}

void zg_outq_drop(zg_outq_t *q, zg_chunkpool_t *cp)
{
    while (q->head != NULL) {
        zg_chunk_t *c = q->head;

        q->head = c->next;
        zg_chunk_put(cp, c);
    }
    q->tail = NULL;
    q->pending = 0;
    zg_outq_zc_release(q, cp);
}
