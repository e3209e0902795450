/* SPDX-License-Identifier: MIT */
/*
 * A free list of equal-sized heap blocks, for per-connection parts that
 * only a busy connection needs (a receive queue's segments, a sendmsg's
 * header and iovecs): an idle connection holds none, and a block goes
 * back to the list the moment its user is done, most recently used on
 * top, so a busy reactor reuses a few hot blocks without malloc.
 * zg_blk_trim, from the owner's periodic tick, frees the blocks beyond
 * the most that were in use at once since the previous trim: memory
 * follows the number of busy connections, not the traffic seen.
 *
 * One thread (the owner's). Blocks come from malloc (so any alignment a
 * struct needs) and are at least a pointer's size.
 */
#ifndef ZG_BLKCACHE_H
#define ZG_BLKCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct zg_blk_s {
    struct zg_blk_s *next;
} zg_blk_t;

typedef struct zg_blkcache_s {
    zg_blk_t *free;
    size_t size;    /* bytes per block */
    uint32_t nfree; /* blocks on the list */
    uint32_t nbusy; /* blocks handed out now */
    uint32_t peak;  /* most handed out at once since the last trim */
} zg_blkcache_t;

/* A block of bc->size bytes (contents undefined), or NULL. */
static inline void *zg_blk_get(zg_blkcache_t *bc)
{
    zg_blk_t *b = bc->free;

    if (b != NULL) {
        bc->free = b->next;
        bc->nfree--;
    } else if ((b = malloc(bc->size < sizeof(*b) ? sizeof(*b) : bc->size)) ==
               NULL) {
        return NULL;
    }
    if (++bc->nbusy > bc->peak)
        bc->peak = bc->nbusy;
    return b;
}

static inline void zg_blk_put(zg_blkcache_t *bc, void *block)
{
    zg_blk_t *b = block;

    b->next = bc->free;
    bc->free = b;
    bc->nfree++;
    bc->nbusy--;
}

/* Free the list's blocks beyond what the period's peak needs; with
 * all_free, every block on the list (teardown). */
static inline void zg_blk_trim(zg_blkcache_t *bc, int all_free)
{
    uint32_t keep = bc->peak > bc->nbusy ? bc->peak - bc->nbusy : 0;

    if (all_free)
        keep = 0;
    while (bc->nfree > keep) {
        zg_blk_t *b = bc->free;

        bc->free = b->next;
        bc->nfree--;
        free(b);
    }
    bc->peak = bc->nbusy;
}

#endif
