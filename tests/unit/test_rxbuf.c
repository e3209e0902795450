/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for receive-buffer accounting (core/rxbuf.c),
 * driven without a kernel ring: buffers are "received" by taking them from
 * the pool and filling them by hand, as the reactor does with CQEs.
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

typedef struct {
    unsigned char mem[BSZ * NB];
    zg_bufpool_t pool;
    zg_rxq_t q;
} fix_t;

static int setup(void **state)
{
    fix_t *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(zg_bufpool_init(&f->pool, f->mem, BSZ, NB), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix_t *f = *state;

    zg_rxq_release(&f->q, &f->pool);
    zg_bufpool_free(&f->pool);
    free(f);
    return 0;
}

/* "Receive" text into buffer bid and queue it, as a completion would;
 * more = the kernel keeps filling this buffer (incremental mode). */
static void rx_piece(fix_t *f, uint32_t bid, const char *text, int more)
{
    size_t n = strlen(text);
    uint32_t off;

    assert_true(n <= BSZ);
    assert_int_equal(zg_bufpool_take(&f->pool, bid, (uint32_t)n, more, &off),
                     0);
    memcpy(zg_bufpool_addr(&f->pool, bid) + off, text, n);
    assert_int_equal(zg_rxq_push(&f->q, &f->pool, bid, off, (uint32_t)n), 0);
}

static void rx(fix_t *f, uint32_t bid, const char *text)
{
    rx_piece(f, bid, text, 0);
}

/* The queue's bytes, concatenated. */
static char *flat(fix_t *f)
{
    static char out[BSZ * NB * 4];
    zg_view_t v[ZG_RXQ_SEGS];
    unsigned n = zg_rxq_views(&f->q, &f->pool, v);
    size_t pos = 0;

    for (unsigned i = 0; i < n; i++) {
        memcpy(out + pos, v[i].data, v[i].len);
        pos += v[i].len;
    }
    out[pos] = '\0';
    assert_int_equal(pos, f->q.held);
    return out;
}

static void test_take_and_return(void **state)
{
    fix_t *f = *state;

    assert_int_equal(f->pool.nkernel, NB);
    rx(f, 3, "hello");
    assert_int_equal(f->pool.nkernel, NB - 1);
    assert_int_equal(f->pool.refs[3], 1);
    /* The kernel cannot hand out a held buffer: that is a ring bug. */
    uint32_t off;

    assert_int_equal(zg_bufpool_take(&f->pool, 3, 1, 0, &off), -EINVAL);
    assert_int_equal(zg_bufpool_take(&f->pool, NB, 1, 0, &off), -EINVAL);
    zg_rxq_consume(&f->q, &f->pool, 5);
    assert_int_equal(f->q.held, 0);
    assert_int_equal(f->pool.nret, 1);
    assert_int_equal(f->pool.ret[0], 3);
    assert_int_equal(f->pool.refs[3], 0);
}

static void test_partial_consumption_across_buffers(void **state)
{
    fix_t *f = *state;
    zg_view_t v[ZG_RXQ_SEGS];

    rx(f, 0, "GET / HT");
    rx(f, 1, "TP/1.1\r\n");
    rx(f, 2, "\r\nGET");
    assert_string_equal(flat(f), "GET / HTTP/1.1\r\n\r\nGET");
    /* Consume the first request: buffers 0 and 1 return, 2 stays. */
    zg_rxq_consume(&f->q, &f->pool, 18);
    assert_string_equal(flat(f), "GET");
    assert_int_equal(f->pool.nret, 2);
    assert_int_equal(f->pool.ret[0], 0);
    assert_int_equal(f->pool.ret[1], 1);
    assert_int_equal(f->pool.refs[2], 1);
    /* The rest is presented first, with the next data. */
    rx(f, 4, " /x");
    assert_int_equal(zg_rxq_views(&f->q, &f->pool, v), 2);
    assert_ptr_equal(v[0].data, f->mem + 2 * BSZ + 2);
    assert_string_equal(flat(f), "GET /x");
}

static void test_return_order_is_consumption_order(void **state)
{
    fix_t *f = *state;

    rx(f, 5, "a");
    rx(f, 1, "b");
    rx(f, 7, "c");
    zg_rxq_consume(&f->q, &f->pool, 1);
    zg_rxq_consume(&f->q, &f->pool, 2);
    assert_int_equal(f->pool.nret, 3);
    assert_int_equal(f->pool.ret[0], 5);
    assert_int_equal(f->pool.ret[1], 1);
    assert_int_equal(f->pool.ret[2], 7);
}

static void test_compaction_when_segments_run_out(void **state)
{
    fix_t *f = *state;
    char want[2 * ZG_RXQ_SEGS + 4] = "";

    /* One byte per receive (a slow client) must not pin one buffer per
     * byte. With all 8 buffers held the ring is empty (the reactor sees
     * -ENOBUFS and compacts every queue); a queue whose segment array is
     * full compacts on its own when the next buffer arrives. */
    for (uint32_t i = 0; i < 2 * ZG_RXQ_SEGS + 3; i++) {
        char b[2] = {(char)('a' + i % 26), 0};
        uint32_t bid = NB;

        for (uint32_t k = 0; k < NB && bid == NB; k++) {
            if (f->pool.koff[k] != UINT32_MAX)
                bid = k; /* still in the kernel's ring */
        }
        if (bid == NB) {
            assert_int_equal(zg_rxq_compact(&f->q, &f->pool), 0);
            assert_int_equal(f->pool.nret, NB);
            bid = f->pool.ret[0];
        }
        /* The reactor re-adds returned buffers at the end of each loop. */
        zg_bufpool_published(&f->pool);
        rx(f, bid, b);
        strcat(want, b);
    }
    assert_string_equal(flat(f), want);
    assert_true(f->q.n <= ZG_RXQ_SEGS);
    assert_non_null(f->q.heap);
    zg_rxq_consume(&f->q, &f->pool, strlen(want));
    assert_int_equal(f->q.held, 0);
    assert_null(f->q.heap); /* an idle connection keeps no heap */
}

static void test_compact_releases_every_ring_buffer(void **state)
{
    fix_t *f = *state;

    rx(f, 0, "0123456789");
    zg_rxq_consume(&f->q, &f->pool, 4);
    rx(f, 1, "abc");
    assert_true(zg_rxq_pins_ring(&f->q));
    assert_int_equal(zg_rxq_compact(&f->q, &f->pool), 0);
    assert_false(zg_rxq_pins_ring(&f->q));
    assert_int_equal(f->pool.refs[0], 0);
    assert_int_equal(f->pool.refs[1], 0);
    assert_int_equal(f->pool.nret, 2);
    assert_string_equal(flat(f), "456789abc");
    /* New data after compaction queues behind the heap segment. */
    rx(f, 2, "XY");
    assert_string_equal(flat(f), "456789abcXY");
    assert_int_equal(zg_rxq_compact(&f->q, &f->pool), 0);
    assert_string_equal(flat(f), "456789abcXY");
    zg_rxq_consume(&f->q, &f->pool, 10);
    assert_string_equal(flat(f), "Y");
}

static void test_retained_buffer_outlives_consumption(void **state)
{
    fix_t *f = *state;

    /* send_view takes a second reference: consuming the input must not
     * hand the buffer back while the send still reads it. */
    rx(f, 6, "payload");
    assert_int_equal(zg_bufpool_bid_of(&f->pool, f->mem + 6 * BSZ + 3), 6);
    assert_int_equal(zg_bufpool_bid_of(&f->pool, f->mem + NB * BSZ), -1);
    zg_bufpool_ref(&f->pool, 6);
    zg_rxq_consume(&f->q, &f->pool, 7);
    assert_int_equal(f->pool.nret, 0);
    zg_bufpool_unref(&f->pool, 6);
    assert_int_equal(f->pool.nret, 1);
    assert_int_equal(f->pool.ret[0], 6);
}

static void test_release_on_close(void **state)
{
    fix_t *f = *state;

    rx(f, 0, "x");
    rx(f, 1, "y");
    zg_rxq_release(&f->q, &f->pool);
    assert_int_equal(f->q.held, 0);
    assert_int_equal(f->q.n, 0);
    assert_int_equal(f->pool.nret, 2);
}

static void test_scarcity(void **state)
{
    fix_t *f = *state;

    assert_false(zg_bufpool_scarce(&f->pool));
    for (uint32_t i = 0; i < NB - 2; i++)
        rx(f, i, "z");
    /* 2 of 8 left: scarce (fewer than a quarter plus one). */
    assert_true(zg_bufpool_scarce(&f->pool));
}

static void test_incremental_pieces_share_a_buffer(void **state)
{
    fix_t *f = *state;
    uint32_t off;

    /* Three receives land in one buffer, one after the other. */
    rx_piece(f, 2, "ab", 1);
    rx_piece(f, 2, "cde", 1);
    assert_string_equal(flat(f), "abcde");
    assert_int_equal(f->pool.nkernel, NB); /* still the kernel's to fill */
    /* Consuming both pieces must not return it: the kernel still fills. */
    zg_rxq_consume(&f->q, &f->pool, 5);
    assert_int_equal(f->pool.nret, 0);
    assert_int_equal(f->pool.refs[2], 1);
    /* The last piece ends the kernel's use; it returns once consumed. */
    rx_piece(f, 2, "fgh", 0);
    assert_int_equal(f->pool.nkernel, NB - 1);
    assert_int_equal(f->q.seg[f->q.head].off, 5);
    assert_string_equal(flat(f), "fgh");
    /* Overfilling a buffer is a ring bug, not a silent overrun. */
    assert_int_equal(zg_bufpool_take(&f->pool, 4, BSZ + 1, 1, &off), -EINVAL);
    zg_rxq_consume(&f->q, &f->pool, 3);
    assert_int_equal(f->pool.nret, 1);
    zg_bufpool_published(&f->pool);
    assert_int_equal(f->pool.nkernel, NB);
    assert_int_equal(f->pool.koff[2], 0);
    assert_int_equal(f->pool.refs[2], 1);
}

/* The publishing window: 2 of 8 buffers start in the kernel's hands, the
 * rest on the spare stack; returned buffers come back most recent first;
 * ENOBUFS doubles the window; a quiet tick halves it and hands the deep
 * spare buffers over to be given back, each once. */
static void test_window_grows_shrinks_and_recycles_hot_buffers(void **state)
{
    fix_t *f = *state;
    uint16_t out[NB];
    uint32_t n;

    assert_int_equal(zg_bufpool_window(&f->pool, 2), 0);
    assert_int_equal(f->pool.nkernel, 2);
    assert_int_equal(f->pool.nspare, 6);
    assert_int_equal(f->pool.clean, 6); /* untouched: nothing to give back */
    assert_false(zg_bufpool_scarce(&f->pool)); /* spare buffers are free */
    /* Only 0 and 1 are the kernel's: 2 cannot be filled. */
    assert_int_equal(zg_bufpool_take(&f->pool, 2, 1, 0, (uint32_t[]){0}),
                     -EINVAL);
    rx(f, 0, "a");
    rx(f, 1, "b");
    assert_int_equal(f->pool.nkernel, 0);
    /* Refill tops the window up from the spare stack, lowest id first. */
    n = zg_bufpool_refill(&f->pool, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 3);
    /* Buffers returned later are reused before older spare ones. */
    zg_rxq_consume(&f->q, &f->pool, 2); /* returns 0 and 1 */
    rx(f, 2, "c");
    n = zg_bufpool_refill(&f->pool, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 1); /* the most recently returned */
    /* Starving doubles the window: up to 4 buffers now. */
    zg_bufpool_starved(&f->pool);
    assert_int_equal(f->pool.window, 4);
    n = zg_bufpool_refill(&f->pool, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 4);
    assert_int_equal(f->pool.nkernel, 4);
    /* A tick right after starving does not shrink. */
    assert_int_equal(zg_bufpool_tick(&f->pool, out, NB, 0), 0);
    assert_int_equal(f->pool.window, 4);
    /* A quiet period (the window stayed at least half unused): halved,
     * never below the starting size. */
    zg_bufpool_tick(&f->pool, out, NB, 0);
    assert_int_equal(f->pool.window, 2);
    zg_bufpool_tick(&f->pool, out, NB, 0);
    assert_int_equal(f->pool.window, 2);
    zg_rxq_consume(&f->q, &f->pool, 1); /* buffer 2 returns */
    assert_int_equal(zg_bufpool_refill(&f->pool, out), 0); /* 4 >= 2 */
    assert_int_equal(f->pool.nspare, 4); /* 5, 6, 7 and the returned 2 */
    /* Deep spare buffers that were touched are handed out once to be
     * given back; untouched ones (never filled) are not. Here all of
     * spare[0..nspare-window) were never filled (7, 6, 5): nothing to
     * give. */
    assert_int_equal(zg_bufpool_tick(&f->pool, out, NB, 0), 0);
    assert_int_equal(f->pool.clean, 3);
}

static void test_window_gives_back_touched_buffers_once(void **state)
{
    fix_t *f = *state;
    uint16_t out[NB];
    uint32_t n, got = 0;

    assert_int_equal(zg_bufpool_window(&f->pool, 2), 0);
    /* Fill every buffer once, growing the window as a busy reactor
     * would, then return them all. */
    zg_bufpool_starved(&f->pool);
    zg_bufpool_starved(&f->pool); /* window 8: all buffers */
    zg_bufpool_refill(&f->pool, out);
    for (uint32_t b = 0; b < NB; b++)
        rx(f, b, "x");
    zg_rxq_consume(&f->q, &f->pool, NB);
    zg_bufpool_refill(&f->pool, out); /* all 8 back to the kernel */
    /* Nothing is spare while the window covers the ring. */
    assert_int_equal(zg_bufpool_tick(&f->pool, out, NB, 0), 0);
    /* A busy period: every buffer filled and returned; no shrinking. */
    for (uint32_t b = 0; b < NB; b++)
        rx(f, b, "y");
    zg_rxq_consume(&f->q, &f->pool, NB);
    zg_bufpool_refill(&f->pool, out);
    zg_bufpool_tick(&f->pool, out, NB, 0);
    assert_int_equal(f->pool.window, 8);
    /* Quiet periods: 8 -> 4 -> 2 (the start size). */
    zg_bufpool_tick(&f->pool, out, NB, 0);
    assert_int_equal(f->pool.window, 4);
    zg_bufpool_tick(&f->pool, out, NB, 0);
    assert_int_equal(f->pool.window, 2);
    /* The kernel returns what it held; only 2 go back to it. */
    for (uint32_t b = 0; b < NB; b++)
        rx(f, b, "z");
    zg_rxq_consume(&f->q, &f->pool, NB);
    n = zg_bufpool_refill(&f->pool, out);
    assert_int_equal(n, 2);
    assert_int_equal(f->pool.nspare, 6);
    /* The 4 deepest spare buffers (below the top `window`) were touched:
     * handed out once, at most max at a time. */
    got = zg_bufpool_tick(&f->pool, out, 3, 0);
    assert_int_equal(got, 3);
    got += zg_bufpool_tick(&f->pool, out, 3, 0);
    assert_int_equal(got, 4);
    assert_int_equal(zg_bufpool_tick(&f->pool, out, 3, 0), 0);
    /* Taking them back out of the stack makes them count as touched. */
    zg_bufpool_starved(&f->pool);
    zg_bufpool_starved(&f->pool);
    zg_bufpool_refill(&f->pool, out);
    assert_int_equal(f->pool.nspare, 0);
    assert_int_equal(f->pool.clean, 0);
}

/* Published buffers the kernel has not started to fill are given back on
 * a quiet tick when the owner says it is safe, once each; a buffer filled
 * since counts as holding memory again. */
static void test_window_gives_back_idle_published_buffers(void **state)
{
    fix_t *f = *state;
    uint16_t out[NB];
    uint32_t n;

    assert_int_equal(zg_bufpool_window(&f->pool, 4), 0);
    rx(f, 0, "a"); /* buffer 0 is in use: not given */
    n = zg_bufpool_tick(&f->pool, out, NB, 0);
    assert_int_equal(n, 0); /* not allowed: nothing published is given */
    n = zg_bufpool_tick(&f->pool, out, NB, 1);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[2], 3);
    assert_int_equal(zg_bufpool_tick(&f->pool, out, NB, 1), 0); /* once */
    rx(f, 1, "b"); /* filled again, then returned and republished */
    zg_rxq_consume(&f->q, &f->pool, 2);
    zg_bufpool_refill(&f->pool, out);
    n = zg_bufpool_tick(&f->pool, out, NB, 1);
    assert_true(n >= 1);
    /* A tick after starving gives nothing published back. */
    zg_bufpool_starved(&f->pool);
    rx(f, 2, "c");
    zg_rxq_consume(&f->q, &f->pool, 1);
    zg_bufpool_refill(&f->pool, out);
    assert_int_equal(zg_bufpool_tick(&f->pool, out, NB, 1), 0);
}

/* A queue holds a segment array only while it holds input, and the pool
 * keeps freed arrays only as long as a period's peak needs them. */
static void test_idle_queue_holds_no_segments(void **state)
{
    fix_t *f = *state;
    zg_rxq_t q2 = {0};
    uint32_t off;
    void *last;

    assert_null(f->q.seg);
    rx_piece(f, 0, "abc", 0);
    assert_non_null(f->q.seg);
    assert_int_equal(f->pool.segs.nbusy, 1);
    assert_int_equal(zg_bufpool_take(&f->pool, 1, 2, 0, &off), 0);
    assert_int_equal(zg_rxq_push(&q2, &f->pool, 1, off, 2), 0);
    assert_int_equal(f->pool.segs.nbusy, 2);
    zg_rxq_consume(&f->q, &f->pool, 2);
    assert_non_null(f->q.seg); /* a byte left */
    zg_rxq_consume(&f->q, &f->pool, 1);
    assert_null(f->q.seg);
    assert_int_equal(f->pool.segs.nfree, 1);
    last = q2.seg;
    zg_rxq_release(&q2, &f->pool);
    assert_null(q2.seg);
    assert_int_equal(f->pool.segs.nbusy, 0);
    assert_int_equal(f->pool.segs.nfree, 2);
    /* The most recently freed array is reused first. */
    rx_piece(f, 2, "d", 0);
    assert_ptr_equal(f->q.seg, last);
    zg_rxq_consume(&f->q, &f->pool, 1);
    /* A trim keeps what the period's peak (2 at once) needs; the next,
     * after a period with none held, frees them all. */
    zg_blk_trim(&f->pool.segs, 0);
    assert_int_equal(f->pool.segs.nfree, 2);
    zg_blk_trim(&f->pool.segs, 0);
    assert_int_equal(f->pool.segs.nfree, 0);
    /* The queue still works after its array went away. */
    rx_piece(f, 3, "xyz", 0);
    assert_int_equal(f->q.held, 3);
    zg_rxq_consume(&f->q, &f->pool, 3);
    assert_null(f->q.seg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_take_and_return, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_consumption_across_buffers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_return_order_is_consumption_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_when_segments_run_out,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_releases_every_ring_buffer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_retained_buffer_outlives_consumption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_on_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scarcity, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_window_grows_shrinks_and_recycles_hot_buffers, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_window_gives_back_touched_buffers_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_window_gives_back_idle_published_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_pieces_share_a_buffer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_queue_holds_no_segments,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
