/* SPDX-License-Identifier: MIT */
/*
 * Description: receive-buffer accounting, kept apart from io_uring so unit
 * tests can drive it without a kernel ring. A pool is the memory behind one
 * reactor's provided-buffer ring; each buffer is either owned by the kernel
 * (in the ring) or held by the application with a reference count. A
 * receive queue is one connection's unconsumed input: segments of held
 * buffers, oldest first, plus at most one heap segment at the front holding
 * bytes copied out of the ring (compaction).
 *
 * A buffer in the kernel ring carries one reference for the kernel. With
 * incremental consumption (IOU_PBUF_RING_INC) the kernel fills a buffer
 * piece by piece: each piece delivered adds an application reference and
 * the kernel keeps its own until a completion without IORING_CQE_F_BUF_MORE
 * says it moved on. Without it, every completion ends the kernel's use.
 *
 * Invariants: a buffer with refs > 0 is never handed to the kernel again; a
 * buffer whose refs drop to 0 is queued in ret[] exactly once and handed
 * back by the owner at the next publish (zg_bufpool_published). Single
 * thread (the reactor).
 *
 * Receive bundles (IORING_RECVSEND_BUNDLE) fill several buffers with one
 * completion: the CQE names the first, the others are the ones that
 * followed it in the kernel ring. The pool keeps a shadow of the ring for
 * them: which buffer the owner put at which ring position (positions count
 * the ring's 16-bit tail), so a completion of res bytes maps back to its
 * (buffer, offset, length) pieces whatever order completions arrive in.
 * A bundle's buffers are whole-buffer ones (never IOU_PBUF_RING_INC): the
 * first starts at offset 0, each is filled up to the length its ring entry
 * had (the kernel may have shortened an entry it mapped last), the last
 * holds the rest.
 */
#ifndef ZG_RXBUF_H
#define ZG_RXBUF_H

#include <stddef.h>
#include <stdint.h>
#include <linux/io_uring.h>
#include "zerg/plugin.h"
#include "blkcache.h"

typedef struct zg_bufpool_s {
    unsigned char *base; /* nbufs * bufsize bytes */
    uint32_t bufsize;
    uint32_t nbufs;   /* power of two, <= 32768 */
    uint32_t nkernel; /* buffers the kernel may still fill */
    uint32_t *refs;   /* per buffer: references, the kernel's included */
    uint32_t *koff;   /* per buffer: bytes the kernel already filled */
    uint16_t *ret;    /* buffers to hand back at the next publish */
    uint32_t nret;
    /* The publishing window (zg_bufpool_window): free buffers beyond it
     * wait on a stack, most recently returned on top, so the kernel keeps
     * refilling the same few hot buffers and the rest stay untouched
     * (and, once the reactor is quiet, their memory is given back). */
    uint16_t *spare; /* the stack; NULL without a window */
    uint32_t nspare;
    uint32_t clean;  /* spare[0..clean) hold no memory (given back) */
    uint32_t window; /* buffers the kernel is given at most */
    uint32_t wmin;   /* the window never shrinks below this */
    uint32_t kmin;   /* the fewest kernel buffers since the last tick */
    int starved;     /* a receive ran out of buffers since the last tick */
    uint8_t *given;  /* per buffer: its memory was given back, untouched
                        since (zg_bufpool_tick) */
    /* The ring shadow (zg_bufpool_shadow; NULL without bundles). rbid has
     * 2 x nbufs entries, twice the kernel ring: a position the kernel
     * consumed is still known after the owner reused its ring slot, until
     * its completion is seen (completions of one kernel batch may come out
     * of ring order, never further apart than a ring's length). */
    uint16_t rtail; /* positions handed out: the kernel ring's tail */
    uint16_t *rbid; /* per position mod 2 x nbufs: the buffer put there */
    uint16_t *rpos; /* per buffer: the position it was last put at */
    uint32_t *rlen; /* per buffer: its entry's length, saved when its ring
                       slot was reused before its completion came; 0 =
                       read it from the ring */
    const struct io_uring_buf *ring; /* the kernel ring's entries, or NULL
                                        (every entry then holds bufsize) */
    /* Segment arrays of receive queues (zg_rxq_t): a queue holds one only
     * while it holds input, so an idle connection costs a pointer. */
    zg_blkcache_t segs;
} zg_bufpool_t;

/* Where the mapping of one bundle completion stands. */
typedef struct zg_bundle_s {
    uint16_t pos;  /* ring position of the next buffer */
    uint32_t left; /* bytes not mapped yet */
} zg_bundle_t;

/* Segments a receive queue keeps before it compacts into its heap. */
#define ZG_RXQ_SEGS 32

typedef struct zg_rxseg_s {
    uint32_t off; /* first unconsumed byte, from the buffer start */
    uint32_t len; /* unconsumed bytes */
    int32_t bid;  /* buffer id, or -1 for the heap segment */
} zg_rxseg_t;

typedef struct zg_rxq_s {
    zg_rxseg_t *seg; /* circular, oldest at head; from the pool while n > 0 */
    uint8_t head;
    uint8_t n;
    uint32_t heap_cap;   /* bytes allocated at heap */
    unsigned char *heap; /* heap segment storage, or NULL */
    size_t held;         /* sum of segment lengths */
} zg_rxq_t;

/* Set up a pool over caller-provided memory (base may be NULL in tests
 * that never touch bytes). All buffers start owned by the kernel.
 * Returns 0 or -ENOMEM. */
int zg_bufpool_init(zg_bufpool_t *p, unsigned char *base, uint32_t bufsize,
                    uint32_t nbufs);
void zg_bufpool_free(zg_bufpool_t *p);

/* The kernel delivered len bytes into buffer bid; more is true when it
 * keeps filling the same buffer (IORING_CQE_F_BUF_MORE). The bytes start at
 * *off within the buffer. Adds one reference for the delivered piece.
 * Returns -EINVAL if bid is out of range or not the kernel's (a ring bug). */
int zg_bufpool_take(zg_bufpool_t *p, uint32_t bid, uint32_t len, int more,
                    uint32_t *off);

/* The owner re-added every buffer of ret[] to the kernel ring (pools
 * without a window). */
void zg_bufpool_published(zg_bufpool_t *p);

/* Publish through a window of window buffers (>= 1) from now on, right
 * after init: buffers window..nbufs-1 leave the kernel's hands for the
 * spare stack (the owner publishes only 0..window-1). 0 or -ENOMEM. */
int zg_bufpool_window(zg_bufpool_t *p, uint32_t window);

/* Windowed pools, at publish time: returned buffers go onto the spare
 * stack, then up to window - nkernel come off its top (most recently
 * returned first) into out, now the kernel's: the owner adds exactly
 * these to the ring. Returns how many. */
uint32_t zg_bufpool_refill(zg_bufpool_t *p, uint16_t *out);

/* Keep the ring shadow from now on, right after init (before anything is
 * put in the ring). ring: the kernel ring's entries, read for the lengths
 * the kernel may shorten (NULL: each entry holds bufsize). 0 or -ENOMEM. */
int zg_bufpool_shadow(zg_bufpool_t *p, const struct io_uring_buf *ring);

/* The owner is putting buffer bid at the ring's tail: remember where. Call
 * it for every buffer put in the ring, in ring order, before writing the
 * entry (the entry it replaces may still be needed). Returns the ring
 * slot, position & (nbufs - 1). Costs nothing without a shadow. */
uint32_t zg_bufpool_ring_put(zg_bufpool_t *p, uint16_t bid);

/* A bundle completion: res > 0 bytes starting in buffer bid. Sets b up for
 * zg_bufpool_bundle_next. Returns 0, or -EINVAL if bid is not a buffer the
 * kernel holds or the pool keeps no shadow. */
int zg_bufpool_bundle(zg_bufpool_t *p, zg_bundle_t *b, uint32_t bid,
                      uint32_t res);

/* The next piece of bundle b: takes its buffer (as zg_bufpool_take, the
 * kernel's reference passes to the piece) and returns 1 with *bid, *off
 * and *len set; 0 once all res bytes are mapped; -EINVAL if the ring
 * position holds no buffer of the kernel's (the shadow and the kernel
 * disagree: the rest of the bundle is lost). */
int zg_bufpool_bundle_next(zg_bufpool_t *p, zg_bundle_t *b, uint32_t *bid,
                           uint32_t *off, uint32_t *len);

/* A receive found no buffer (ENOBUFS): the window doubles. */
void zg_bufpool_starved(zg_bufpool_t *p);

/* Once a second or so: if nothing starved and at least half the window
 * stayed unused all along, halve it (not below wmin). Then the spare
 * buffers below the top `window` of the stack that still hold memory go
 * to out (at most max), for the owner to give back (MADV_DONTNEED); they
 * count as clean from now on. With published_too, and if nothing starved
 * in the period, so do published buffers the kernel has not started to
 * fill (safe only when the kernel writes buffers solely inside the
 * owner's own io_uring_enter, as with DEFER_TASKRUN). Returns how many. */
uint32_t zg_bufpool_tick(zg_bufpool_t *p, uint16_t *out, uint32_t max,
                         int published_too);
void zg_bufpool_ref(zg_bufpool_t *p, uint32_t bid);
void zg_bufpool_unref(zg_bufpool_t *p, uint32_t bid);

/* The buffer holding address ptr, or -1 if ptr is not in the pool. */
int32_t zg_bufpool_bid_of(const zg_bufpool_t *p, const void *ptr);

static inline unsigned char *zg_bufpool_addr(const zg_bufpool_t *p,
                                             uint32_t bid)
{
    return p->base + (size_t)bid * p->bufsize;
}

/* True if the application holds buffer bid (references taken). */
static inline int zg_bufpool_held(const zg_bufpool_t *p, uint32_t bid)
{
    return p->refs[bid] != 0;
}

/* True when few enough buffers are left in the kernel's hands that the
 * application should stop pinning them (copy instead). */
static inline int zg_bufpool_scarce(const zg_bufpool_t *p)
{
    return p->nkernel + p->nret + p->nspare < p->nbufs / 4 + 1;
}

/* Append len bytes received at offset off of buffer bid (already taken).
 * Compacts the queue first when its segment array is full. Returns 0 or
 * -ENOMEM (then the piece's reference is dropped). */
int zg_rxq_push(zg_rxq_t *q, zg_bufpool_t *p, uint32_t bid, uint32_t off,
                uint32_t len);

/* Fill views (room for ZG_RXQ_SEGS) with the unconsumed bytes, oldest
 * first. Returns the number of views. */
unsigned zg_rxq_views(const zg_rxq_t *q, const zg_bufpool_t *p,
                      zg_view_t *views);

/* Drop n bytes (n <= held) from the front, releasing buffers fully consumed. */
void zg_rxq_consume(zg_rxq_t *q, zg_bufpool_t *p, size_t n);

/* Copy every ring segment into the heap segment and release the buffers.
 * Returns 0 or -ENOMEM (queue unchanged). */
int zg_rxq_compact(zg_rxq_t *q, zg_bufpool_t *p);

/* True if the queue holds at least one ring buffer. */
int zg_rxq_pins_ring(const zg_rxq_t *q);

/* Release everything (connection closed). */
void zg_rxq_release(zg_rxq_t *q, zg_bufpool_t *p);

#endif /* ZG_RXBUF_H */
