/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the ring shadow that maps receive-bundle
 * completions to their buffers (core/rxbuf.c), against a small model of
 * the kernel's side of a provided-buffer ring: it consumes entries from its
 * head in ring order, fills them up to each entry's length, may shorten
 * the last entry it maps (as Linux 6.10-6.x does), and its completions
 * reach the owner in any order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/rxbuf.c"

#define BSZ 16
#define NB  8
#define NC  3 /* connections of the random test */

/* One completion of the model kernel. */
typedef struct {
    int conn;
    uint32_t bid;
    uint32_t res;
} cqe_t;

typedef struct {
    unsigned char *mem;
    uint32_t nb;
    struct io_uring_buf *ring; /* the kernel ring: nb entries */
    uint16_t head;             /* the kernel's consumer position */
    uint16_t tail;             /* the owner's producer position */
    zg_bufpool_t pool;
    zg_rxq_t q[NC];
    uint64_t sent[NC]; /* stream bytes the kernel received */
    uint64_t seen[NC]; /* stream bytes the application consumed */
} fix_t;

static unsigned char stream_byte(int conn, uint64_t off)
{
    return (unsigned char)((off * 131 + off / 7 + (uint64_t)conn * 71) & 0xff);
}

static fix_t *fix_new(uint32_t nb, int shadow)
{
    fix_t *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->nb = nb;
    f->mem = calloc(nb, BSZ);
    f->ring = calloc(nb, sizeof(*f->ring));
    assert_non_null(f->mem);
    assert_non_null(f->ring);
    assert_int_equal(zg_bufpool_init(&f->pool, f->mem, BSZ, nb), 0);
    if (shadow)
        assert_int_equal(zg_bufpool_shadow(&f->pool, f->ring), 0);
    return f;
}

static void fix_free(fix_t *f)
{
    for (int i = 0; i < NC; i++)
        zg_rxq_release(&f->q[i], &f->pool);
    zg_bufpool_free(&f->pool);
    free(f->ring);
    free(f->mem);
    free(f);
}

/* The owner puts bid at the ring's tail, as the reactor does. */
static void put(fix_t *f, uint16_t bid)
{
    uint32_t slot = zg_bufpool_ring_put(&f->pool, bid);

    assert_int_equal(slot, f->tail & (f->nb - 1));
    f->ring[slot].addr = (uint64_t)(uintptr_t)zg_bufpool_addr(&f->pool, bid);
    f->ring[slot].len = BSZ;
    f->ring[slot].bid = bid;
    f->tail++;
}

/* The model kernel's bundle receive for conn: it maps entries from its
 * head for up to max_len bytes (0: no limit), shortening the last entry
 * it maps to what is left of max_len when `shorten`, then receives got
 * (<= mapped) bytes of conn's stream into them and consumes every entry
 * that got a byte. Returns the completion; res 0 = no buffer was there. */
static cqe_t kernel_recv(fix_t *f, int conn, uint32_t max_len, uint32_t got,
                         int shorten)
{
    cqe_t c = {conn, 0, 0};
    uint32_t mapped = 0, want = max_len ? max_len : UINT32_MAX;
    uint16_t h = f->head;

    if (f->head == f->tail)
        return c;
    c.bid = f->ring[f->head & (f->nb - 1)].bid;
    while (h != f->tail && mapped < want) {
        struct io_uring_buf *e = &f->ring[h & (f->nb - 1)];

        if (e->len > want - mapped && shorten)
            e->len = want - mapped;
        mapped += e->len < want - mapped ? e->len : want - mapped;
        h++;
    }
    if (got > mapped)
        got = mapped;
    c.res = got;
    while (got > 0) {
        struct io_uring_buf *e = &f->ring[f->head & (f->nb - 1)];
        uint32_t n = got < e->len ? got : e->len;
        unsigned char *dst = (unsigned char *)(uintptr_t)e->addr;

        for (uint32_t i = 0; i < n; i++)
            dst[i] = stream_byte(conn, f->sent[conn]++);
        got -= n;
        f->head++;
    }
    return c;
}

/* Bytes the kernel ring still offers. */
static uint32_t ring_bytes(const fix_t *f)
{
    uint32_t n = 0;

    for (uint16_t h = f->head; h != f->tail; h++)
        n += f->ring[h & (f->nb - 1)].len;
    return n;
}

/* The owner handles completion c: its pieces go to conn's queue. Returns
 * the number of pieces. */
static unsigned complete(fix_t *f, cqe_t c)
{
    zg_bundle_t b;
    uint32_t bid, off, len, total = 0;
    unsigned pieces = 0;
    int k;

    assert_int_equal(zg_bufpool_bundle(&f->pool, &b, c.bid, c.res), 0);
    while ((k = zg_bufpool_bundle_next(&f->pool, &b, &bid, &off, &len)) > 0) {
        assert_true(len > 0 && off + len <= BSZ);
        assert_int_equal(zg_rxq_push(&f->q[c.conn], &f->pool, bid, off, len),
                         0);
        total += len;
        pieces++;
    }
    assert_int_equal(k, 0);
    assert_int_equal(total, c.res);
    return pieces;
}

/* The application reads n bytes of conn's queue and checks each. */
static void consume(fix_t *f, int conn, size_t n)
{
    zg_view_t v[ZG_RXQ_SEGS];
    unsigned nv = zg_rxq_views(&f->q[conn], &f->pool, v);
    size_t left = n;

    assert_true(n <= f->q[conn].held);
    for (unsigned i = 0; i < nv && left > 0; i++) {
        const unsigned char *d = v[i].data;

        for (size_t j = 0; j < v[i].len && left > 0; j++, left--) {
            if (d[j] != stream_byte(conn, f->seen[conn]))
                fail_msg("connection %d: byte %llu is %u, expected %u", conn,
                         (unsigned long long)f->seen[conn], d[j],
                         stream_byte(conn, f->seen[conn]));
            f->seen[conn]++;
        }
    }
    zg_rxq_consume(&f->q[conn], &f->pool, n);
}

/* Piece i of conn's queue, oldest first. */
static const zg_rxseg_t *seg(const fix_t *f, int conn, unsigned i)
{
    assert_true(i < f->q[conn].n);
    return &f->q[conn].seg[(f->q[conn].head + i) % ZG_RXQ_SEGS];
}

/* Hand every returned buffer back, as zg_publish does without a window. */
static void republish(fix_t *f)
{
    for (uint32_t i = 0; i < f->pool.nret; i++)
        put(f, f->pool.ret[i]);
    zg_bufpool_published(&f->pool);
}

static void test_bundle_follows_ring_order_not_ids(void **state)
{
    static const uint16_t order[NB] = {5, 2, 7, 0, 3, 6, 1, 4};
    fix_t *f = fix_new(NB, 1);
    cqe_t c;

    (void)state;
    for (int i = 0; i < NB; i++)
        put(f, order[i]);
    c = kernel_recv(f, 0, 0, 40, 0);
    assert_int_equal(c.bid, 5);
    assert_int_equal(complete(f, c), 3); /* 16 + 16 + 8 */
    assert_int_equal(seg(f, 0, 0)->bid, 5);
    assert_int_equal(seg(f, 0, 1)->bid, 2);
    assert_int_equal(seg(f, 0, 2)->bid, 7);
    assert_int_equal(seg(f, 0, 2)->len, 8);
    assert_int_equal(f->pool.nkernel, NB - 3);
    consume(f, 0, 40);
    assert_int_equal(f->pool.nret, 3);
    /* The last buffer was consumed whole: the next bundle starts at the
     * next entry. */
    c = kernel_recv(f, 0, 0, 17, 0);
    assert_int_equal(c.bid, 0);
    assert_int_equal(complete(f, c), 2);
    consume(f, 0, 17);
    fix_free(f);
}

/* Completions of one kernel batch may arrive out of ring order, and the
 * owner may reuse the ring slots of a bundle it has not seen yet: the
 * shadow still knows its buffers and entry lengths. */
static void test_bundle_completions_out_of_order(void **state)
{
    fix_t *f = fix_new(NB, 1);
    cqe_t a, b;

    (void)state;
    for (int i = 0; i < NB; i++)
        put(f, (uint16_t)i);
    /* A short receive leaves entry 1 shortened to 4 bytes in the ring. */
    complete(f, kernel_recv(f, 0, 20, 10, 1));
    consume(f, 0, 10);
    a = kernel_recv(f, 0, 0, 20, 0);      /* entries 1 (4 bytes) and 2 */
    b = kernel_recv(f, 1, 0, 4 * BSZ, 0); /* entries 3..6 */
    assert_int_equal(complete(f, b), 4);
    consume(f, 1, 4 * BSZ);
    /* Buffers 0, 3..6 go back at positions 8..12: ring slots 0..4, a's. */
    republish(f);
    assert_int_equal(f->ring[1].len, BSZ);
    assert_int_equal(f->pool.rlen[1], 4);
    assert_int_equal(complete(f, a), 2);
    assert_int_equal(seg(f, 0, 0)->len, 4);
    assert_int_equal(seg(f, 0, 1)->len, 16);
    consume(f, 0, 20);
    fix_free(f);
}

/* An entry the kernel shortened but did not fill (a short receive) stays
 * in the ring shortened: the next bundle fills it only that far. */
static void test_bundle_shortened_entry_left_in_ring(void **state)
{
    fix_t *f = fix_new(NB, 1);
    cqe_t c;

    (void)state;
    for (int i = 0; i < NB; i++)
        put(f, (uint16_t)i);
    c = kernel_recv(f, 0, 20, 10, 1); /* maps 16 + 4, gets 10 */
    assert_int_equal(complete(f, c), 1);
    assert_int_equal(f->ring[1].len, 4);
    c = kernel_recv(f, 0, 0, 30, 0); /* 4 + 16 + 10 */
    assert_int_equal(c.bid, 1);
    assert_int_equal(complete(f, c), 3);
    assert_int_equal(seg(f, 0, 1)->len, 4);
    assert_int_equal(seg(f, 0, 2)->off, 0);
    consume(f, 0, 40);
    fix_free(f);
}

/* A bundle of more buffers than a queue has segments: the queue compacts
 * (the reactor hands the plugin what it has first when it can). */
static void test_bundle_longer_than_the_queue(void **state)
{
    fix_t *f = fix_new(64, 1);
    cqe_t c;

    (void)state;
    for (int i = 0; i < 64; i++)
        put(f, (uint16_t)i);
    c = kernel_recv(f, 2, 0, 40 * BSZ + 3, 0);
    assert_int_equal(complete(f, c), 41);
    assert_true(f->q[2].n <= ZG_RXQ_SEGS);
    assert_int_equal(f->q[2].held, 40 * BSZ + 3);
    consume(f, 2, 40 * BSZ + 3);
    fix_free(f);
}

static void test_bundle_rejects_what_the_ring_does_not_hold(void **state)
{
    fix_t *f = fix_new(NB, 1), *g = fix_new(NB, 0);
    zg_bundle_t b;
    uint32_t bid, off, len;
    cqe_t c;

    (void)state;
    for (int i = 0; i < 4; i++)
        put(f, (uint16_t)i);
    c = kernel_recv(f, 0, 0, BSZ, 0);
    complete(f, c);
    /* Buffer 0 is the application's now; 9 is no buffer at all. */
    assert_int_equal(zg_bufpool_bundle(&f->pool, &b, 0, 1), -EINVAL);
    assert_int_equal(zg_bufpool_bundle(&f->pool, &b, NB + 1, 1), -EINVAL);
    /* More bytes than the ring held: the positions past its tail hold no
     * buffer of the kernel's. */
    assert_int_equal(zg_bufpool_bundle(&f->pool, &b, 1, 4 * BSZ), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(zg_bufpool_bundle_next(&f->pool, &b, &bid, &off, &len),
                         1);
    assert_int_equal(zg_bufpool_bundle_next(&f->pool, &b, &bid, &off, &len),
                     -EINVAL);
    for (int i = 1; i < 4; i++)
        zg_bufpool_unref(&f->pool, (uint32_t)i);
    /* Without a shadow there is nothing to map with. */
    assert_int_equal(zg_bufpool_bundle(&g->pool, &b, 0, 1), -EINVAL);
    fix_free(f);
    fix_free(g);
}

/* Many rounds of random traffic through a windowed pool: several
 * connections' bundles per kernel batch, shortened entries, completions
 * shuffled, partial consumption by the application, buffers republished
 * most recently returned first. Every byte arrives in order. */
static void test_bundle_random_traffic_through_the_window(void **state)
{
    fix_t *f = fix_new(32, 1);
    uint16_t out[32];
    unsigned seed = 12345;
    int n;

    (void)state;
    assert_int_equal(zg_bufpool_window(&f->pool, 4), 0);
    for (uint16_t i = 0; i < 4; i++)
        put(f, i);
    for (int round = 0; round < 20000; round++) {
        cqe_t batch[NC];
        int nb = 0, first = rand_r(&seed) % NC;

        /* One kernel batch: a receive on up to NC connections, each of
         * what the ring has room for at most. One connection's
         * completions keep their order (one request), the batch's do not. */
        for (int k = rand_r(&seed) % NC; k >= 0; k--) {
            uint32_t avail = ring_bytes(f), max_len, got;
            int conn = (first + k) % NC;

            if (avail == 0) {
                zg_bufpool_starved(&f->pool);
                break;
            }
            max_len = 1 + (uint32_t)rand_r(&seed) % (avail + BSZ);
            got = 1 + (uint32_t)rand_r(&seed) % max_len;
            batch[nb] = kernel_recv(f, conn, max_len, got, rand_r(&seed) % 2);
            if (batch[nb].res > 0)
                nb++;
        }
        for (int i = nb - 1; i > 0; i--) {
            int j = rand_r(&seed) % (i + 1);
            cqe_t t = batch[i];

            batch[i] = batch[j];
            batch[j] = t;
        }
        /* Completions come in two halves with a publish between them, so
         * slots of unseen bundles get reused. */
        for (int i = 0; i < nb; i++) {
            complete(f, batch[i]);
            if (i == nb / 2) {
                n = (int)zg_bufpool_refill(&f->pool, out);
                for (int j = 0; j < n; j++)
                    put(f, out[j]);
            }
        }
        for (int c = 0; c < NC; c++) {
            size_t held = f->q[c].held;

            if (held > 0)
                consume(f, c, 1 + (size_t)rand_r(&seed) % held);
        }
        n = (int)zg_bufpool_refill(&f->pool, out);
        for (int j = 0; j < n; j++)
            put(f, out[j]);
        if (round % 500 == 0)
            zg_bufpool_tick(&f->pool, out, 0, 0);
    }
    for (int c = 0; c < NC; c++) {
        consume(f, c, f->q[c].held);
        assert_int_equal(f->seen[c], f->sent[c]);
        assert_true(f->sent[c] > 20000);
    }
    /* Nothing leaked: every buffer is the kernel's or spare again. */
    n = (int)zg_bufpool_refill(&f->pool, out);
    for (int j = 0; j < n; j++)
        put(f, out[j]);
    assert_int_equal(f->pool.nkernel + f->pool.nspare, 32);
    fix_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundle_follows_ring_order_not_ids),
        cmocka_unit_test(test_bundle_completions_out_of_order),
        cmocka_unit_test(test_bundle_shortened_entry_left_in_ring),
        cmocka_unit_test(test_bundle_longer_than_the_queue),
        cmocka_unit_test(test_bundle_rejects_what_the_ring_does_not_hold),
        cmocka_unit_test(test_bundle_random_traffic_through_the_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
