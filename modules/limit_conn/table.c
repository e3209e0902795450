/* SPDX-License-Identifier: MIT */
/*
 * Description: the per-address connection table (see table.h): buckets
 * with a spinlock each, chains of entries taken from one preallocated
 * array, and a lock-free stack of the free entries.
 *
 * Invariants: an entry is either in exactly one bucket's chain, with
 * count > 0 and a key no other entry of that chain has, or on the free
 * stack, or (for the instant between the two) held by the one thread that
 * unlinked or popped it. A chain and the key and count of its entries are
 * touched only under the bucket's lock; an entry's next link is atomic
 * because a thread popping the free stack may read it after another has
 * taken the entry (its CAS then fails and it retries).
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/random.h>

#include "zerg/plugin.h"
#include "table.h"

#define ZG_LC_NIL UINT32_MAX

typedef struct zg_lc_entry_s {
    uint64_t key[2];       /* the address, 16 bytes, IPv4 as ::ffff:a.b.c.d */
    uint32_t count;        /* connections open; > 0 while in a chain */
    _Atomic uint32_t next; /* next entry in the chain or the free stack */
} zg_lc_entry_t;

typedef struct zg_lc_bucket_s {
    atomic_uint lock; /* 1 while held */
    uint32_t head;    /* first entry of the chain, or ZG_LC_NIL */
} zg_lc_bucket_t;

struct zg_lc_table_s {
    /* Set at creation, read-only afterwards. */
    zg_lc_bucket_t *buckets; /* mask + 1 of them, a power of two */
    zg_lc_entry_t *entries;  /* capacity of them */
    uint32_t mask;
    uint32_t capacity;
    uint64_t seed[2]; /* the hash key */

    /* The free stack: the top entry's index (or ZG_LC_NIL) in the low 32
     * bits, a counter bumped by every change in the high 32, so a pop
     * that read a top which was popped and pushed back meanwhile fails
     * its CAS instead of installing a stale next (ABA). Written on every
     * first acquire and last release of an address: its own cache line. */
    _Alignas(64) _Atomic uint64_t free_top;
};

static inline void zg_lc_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline void zg_lc_lock(zg_lc_bucket_t *b)
{
    unsigned spins = 0;

    while (atomic_exchange_explicit(&b->lock, 1, memory_order_acquire) != 0) {
        while (atomic_load_explicit(&b->lock, memory_order_relaxed) != 0) {
            /* The holder may have been preempted (more threads than
             * CPUs): give it the CPU rather than spin a whole slice. */
            if (++spins % 1024 == 0)
                sched_yield();
            else
                zg_lc_pause();
        }
    }
}

static inline void zg_lc_unlock(zg_lc_bucket_t *b)
{
    atomic_store_explicit(&b->lock, 0, memory_order_release);
}

/* SipHash-2-4 (Aumasson and Bernstein) of len bytes at p. */

#define ZG_LC_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline void zg_lc_sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ZG_LC_ROTL(v[1], 13) ^ v[0];
    v[0] = ZG_LC_ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ZG_LC_ROTL(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = ZG_LC_ROTL(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = ZG_LC_ROTL(v[1], 17) ^ v[2];
    v[2] = ZG_LC_ROTL(v[2], 32);
}

static inline uint64_t zg_lc_le64(const uint8_t *p)
{
    uint64_t x = 0;

    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

static uint64_t zg_lc_siphash(const uint64_t k[2], const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t v[4] = {k[0] ^ 0x736f6d6570736575ull, k[1] ^ 0x646f72616e646f6dull,
                     k[0] ^ 0x6c7967656e657261ull,
                     k[1] ^ 0x7465646279746573ull};
    uint64_t m;
    size_t left = len;

    for (; left >= 8; p += 8, left -= 8) {
        m = zg_lc_le64(p);
        v[3] ^= m;
        zg_lc_sipround(v);
        zg_lc_sipround(v);
        v[0] ^= m;
    }
    /* Last block: the leftover bytes and the length's low byte on top. */
    m = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < left; i++)
        m |= (uint64_t)p[i] << (8 * i);
    v[3] ^= m;
    zg_lc_sipround(v);
    zg_lc_sipround(v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        zg_lc_sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* sa's address as a key: 0, or -EAFNOSUPPORT. */
static int zg_lc_key(const struct sockaddr *sa, uint64_t key[2])
{
    uint8_t a[16];

    if (sa->sa_family == AF_INET) {
        memcpy(a, ZG_CIDR_V4MAPPED, 12);
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return -EAFNOSUPPORT;
    }
    memcpy(key, a, 16);
    return 0;
}

static inline zg_lc_bucket_t *zg_lc_bucket(zg_lc_table_t *t,
                                           const uint64_t key[2])
{
    return &t->buckets[zg_lc_siphash(t->seed, key, 16) & t->mask];
}

static inline uint32_t zg_lc_next(zg_lc_table_t *t, uint32_t i)
{
    return atomic_load_explicit(&t->entries[i].next, memory_order_relaxed);
}

/* The entry for key in b's chain, or ZG_LC_NIL; *prev gets the one before
 * it (ZG_LC_NIL if first). Under b's lock. */
static uint32_t zg_lc_find(zg_lc_table_t *t, zg_lc_bucket_t *b,
                           const uint64_t key[2], uint32_t *prev)
{
    uint32_t p = ZG_LC_NIL;

    *prev = ZG_LC_NIL;
    for (uint32_t i = b->head; i != ZG_LC_NIL; p = i, i = zg_lc_next(t, i)) {
        const zg_lc_entry_t *e = &t->entries[i];

        if (e->key[0] == key[0] && e->key[1] == key[1]) {
            *prev = p;
            return i;
        }
    }
    return ZG_LC_NIL;
}

/* Take an entry off the free stack, or ZG_LC_NIL if it is empty. */
static uint32_t zg_lc_pop(zg_lc_table_t *t)
{
    uint64_t top = atomic_load_explicit(&t->free_top, memory_order_acquire);
    uint64_t want;
    uint32_t i;

    do {
        i = (uint32_t)top;
        if (i == ZG_LC_NIL)
            return ZG_LC_NIL;
        want = ((top >> 32) + 1) << 32 | zg_lc_next(t, i);
    } while (!atomic_compare_exchange_weak_explicit(
        &t->free_top, &top, want, memory_order_acquire, memory_order_acquire));
    return i;
}

/* Put entry i, which no chain holds, on the free stack. The release
 * orders this thread's last use of the entry before the next popper's. */
static void zg_lc_push(zg_lc_table_t *t, uint32_t i)
{
    uint64_t top = atomic_load_explicit(&t->free_top, memory_order_relaxed);
    uint64_t want;

    do {
        atomic_store_explicit(&t->entries[i].next, (uint32_t)top,
                              memory_order_relaxed);
        want = ((top >> 32) + 1) << 32 | i;
    } while (!atomic_compare_exchange_weak_explicit(
        &t->free_top, &top, want, memory_order_release, memory_order_relaxed));
}

/* A hash key nobody outside can guess. Without the kernel's random bytes
 * (before its pool is ready) the clock and the table's address still make
 * one per process and table, weaker but not fixed. */
static void zg_lc_seed(zg_lc_table_t *t)
{
    struct timespec ts;

    if (getrandom(t->seed, sizeof(t->seed), GRND_NONBLOCK) ==
        (ssize_t)sizeof(t->seed))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->seed[0] = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t->seed[1] = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)t ^
                 (uint64_t)getpid();
}

int zg_lc_create(uint32_t capacity, zg_lc_table_t **out)
{
    zg_lc_table_t *t;
    uint32_t nb = 1;

    if (capacity == 0 || capacity > ZG_LC_MAX_CAPACITY)
        return -EINVAL;
    /* As many buckets as entries or up to twice as many: chains average
     * at most one entry even when every entry is in use. */
    while (nb < capacity)
        nb <<= 1;
    t = aligned_alloc(_Alignof(zg_lc_table_t), sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    memset(t, 0, sizeof(*t));
    t->buckets = calloc(nb, sizeof(*t->buckets));
    t->entries = calloc(capacity, sizeof(*t->entries));
    if (t->buckets == NULL || t->entries == NULL)
        goto fail;
    t->mask = nb - 1;
    t->capacity = capacity;
    for (uint32_t i = 0; i < nb; i++) {
        atomic_init(&t->buckets[i].lock, 0);
        t->buckets[i].head = ZG_LC_NIL;
    }
    for (uint32_t i = 0; i < capacity; i++)
        atomic_init(&t->entries[i].next, i + 1 < capacity ? i + 1 : ZG_LC_NIL);
    atomic_init(&t->free_top, 0); /* entry 0 on top, counter 0 */
    zg_lc_seed(t);
    *out = t;
    return 0;

fail:
    zg_lc_destroy(t);
    return -ENOMEM;
}

void zg_lc_destroy(zg_lc_table_t *t)
{
    if (t == NULL)
        return;
    free(t->buckets);
    free(t->entries);
    free(t);
}

int zg_lc_acquire(zg_lc_table_t *t, const struct sockaddr *sa, uint32_t limit)
{
    uint64_t key[2];
    zg_lc_bucket_t *b;
    uint32_t i, prev;
    int rc;

    if (zg_lc_key(sa, key) != 0)
        return -EAFNOSUPPORT;
    b = zg_lc_bucket(t, key);
    zg_lc_lock(b);
    i = zg_lc_find(t, b, key, &prev);
    if (i != ZG_LC_NIL) {
        zg_lc_entry_t *e = &t->entries[i];

        rc = e->count < limit;
        e->count += (uint32_t)rc;
    } else if (limit == 0) {
        rc = 0;
    } else if ((i = zg_lc_pop(t)) == ZG_LC_NIL) {
        rc = -ENOSPC;
    } else {
        zg_lc_entry_t *e = &t->entries[i];

        e->key[0] = key[0];
        e->key[1] = key[1];
        e->count = 1;
        atomic_store_explicit(&e->next, b->head, memory_order_relaxed);
        b->head = i;
        rc = 1;
    }
    zg_lc_unlock(b);
    return rc;
}

void zg_lc_release(zg_lc_table_t *t, const struct sockaddr *sa)
{
    uint64_t key[2];
    zg_lc_bucket_t *b;
    uint32_t i, prev, freed = ZG_LC_NIL;

    if (zg_lc_key(sa, key) != 0)
        return;
    b = zg_lc_bucket(t, key);
    zg_lc_lock(b);
    i = zg_lc_find(t, b, key, &prev);
    if (i != ZG_LC_NIL && --t->entries[i].count == 0) {
        uint32_t next = zg_lc_next(t, i);

        if (prev == ZG_LC_NIL)
            b->head = next;
        else
            atomic_store_explicit(&t->entries[prev].next, next,
                                  memory_order_relaxed);
        freed = i;
    }
    zg_lc_unlock(b);
    /* Outside the lock: the entry is ours alone now. */
    if (freed != ZG_LC_NIL)
        zg_lc_push(t, freed);
}

uint32_t zg_lc_count(zg_lc_table_t *t, const struct sockaddr *sa)
{
    uint64_t key[2];
    zg_lc_bucket_t *b;
    uint32_t i, prev, n = 0;

    if (zg_lc_key(sa, key) != 0)
        return 0;
    b = zg_lc_bucket(t, key);
    zg_lc_lock(b);
    i = zg_lc_find(t, b, key, &prev);
    if (i != ZG_LC_NIL)
        n = t->entries[i].count;
    zg_lc_unlock(b);
    return n;
}
