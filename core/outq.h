/* SPDX-License-Identifier: MIT */
/*
 * Description: per-connection output chains built from a per-reactor chunk
 * pool. A chain holds data chunks (bytes copied in) and reference chunks
 * (bytes that live elsewhere, e.g. a held receive buffer, released through
 * a callback once sent). Kept apart from io_uring so unit tests can drive
 * it. Single thread (the reactor).
 *
 * A chunk is in one of three states: free (in the pool), queued (in a
 * chain, bytes [start, end) unsent), or in flight (part of a send the
 * kernel has not completed; it is never modified or freed then, though
 * bytes may be appended after end).
 */
#ifndef ZG_OUTQ_H
#define ZG_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define ZG_CHUNK_SIZE  16384 /* pooled data chunk, header included */
#define ZG_RESERVE_MAX 65536

typedef struct zg_chunk_s zg_chunk_t;
typedef void (*zg_chunk_release_fn)(void *arg, uint32_t tag);

struct zg_chunk_s {
    zg_chunk_t *next;
    unsigned char *ptr;   /* start of the chunk's bytes */
    uint32_t start;       /* first unsent byte (offset from ptr) */
    uint32_t end;         /* end of the bytes written */
    uint32_t cap;         /* room at ptr for data chunks; 0 for refs */
    uint32_t tag;         /* ref chunks: passed to the release callback */
    uint8_t pooled;       /* returns to the pool when done */
    uint8_t zc;           /* a zero-copy send read it: once sent, it waits
                             for the kernel's notification (zc_done) */
    unsigned char data[]; /* data chunks: the bytes */
};

typedef struct zg_chunkpool_s {
    zg_chunk_t *free_data;
    zg_chunk_t *free_refs;
    uint32_t nfree_data;
    uint32_t max_free;           /* data chunks kept for reuse */
    zg_chunk_release_fn release; /* for ref chunks */
    void *release_arg;
} zg_chunkpool_t;

typedef struct zg_outq_s {
    zg_chunk_t *head;
    zg_chunk_t *tail;
    size_t pending; /* unsent bytes */
    /* Sent chunks a zero-copy send may still read: released together
     * once no notification is outstanding (zg_outq_zc_release). */
    zg_chunk_t *zc_done;
    size_t zc_bytes; /* their capacity (data) or length (refs) */
} zg_outq_t;

void zg_chunkpool_init(zg_chunkpool_t *cp, uint32_t max_free,
                       zg_chunk_release_fn release, void *arg);
void zg_chunkpool_free(zg_chunkpool_t *cp);

/* Copy len bytes to the end of q. Returns 0 or -ENOMEM (q unchanged). */
int zg_outq_append(zg_outq_t *q, zg_chunkpool_t *cp, const void *data,
                   size_t len);

/* Queue len bytes at ptr without copying; release(arg, tag) runs once
 * they are sent or the queue is dropped. Returns 0 or -ENOMEM (release is
 * not called then). */
int zg_outq_append_ref(zg_outq_t *q, zg_chunkpool_t *cp, const void *ptr,
                       size_t len, uint32_t tag);

/* Room for at least min contiguous bytes at the end of q, or NULL
 * (min > ZG_RESERVE_MAX or no memory). *avail gets the room. */
void *zg_outq_reserve(zg_outq_t *q, zg_chunkpool_t *cp, size_t min,
                      size_t *avail);
/* Make len bytes written at the last reserve part of the output. */
void zg_outq_commit(zg_outq_t *q, size_t len);

/* Fill at most max iovecs with unsent bytes, oldest first. Returns the
 * number filled. */
unsigned zg_outq_iov(const zg_outq_t *q, struct iovec *iov, unsigned max);

/* n bytes were sent: advance, releasing fully sent chunks (those a
 * zero-copy send read go to zc_done instead). */
void zg_outq_sent(zg_outq_t *q, zg_chunkpool_t *cp, size_t n);

/* The chunks behind the first niov iovecs zg_outq_iov filled go to a
 * zero-copy send: their memory must outlive its notification. */
void zg_outq_mark_zc(zg_outq_t *q, unsigned niov);

/* Every zero-copy notification came: release zc_done. */
void zg_outq_zc_release(zg_outq_t *q, zg_chunkpool_t *cp);

/* Drop everything (connection closed, nothing in flight). */
void zg_outq_drop(zg_outq_t *q, zg_chunkpool_t *cp);

#endif /* ZG_OUTQ_H */
