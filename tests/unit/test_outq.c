/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for output chains (core/outq.c): copies spanning
 * chunks, reserve/commit, zero-copy references and their release, partial
 * sends resuming where they stopped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/outq.c"

static uint32_t released[64];
static unsigned nreleased;

static void on_release(void *arg, uint32_t tag)
{
    (void)arg;
    released[nreleased++] = tag;
}

/* Everything unsent, concatenated through the iovec view a send uses. */
static size_t drain_view(zg_outq_t *q, unsigned char *out, unsigned max_iov)
{
    struct iovec iov[64];
    unsigned n = zg_outq_iov(q, iov, max_iov);
    size_t pos = 0;

    for (unsigned i = 0; i < n; i++) {
        memcpy(out + pos, iov[i].iov_base, iov[i].iov_len);
        pos += iov[i].iov_len;
    }
    return pos;
}

static void test_append_spans_chunks(void **state)
{
    zg_chunkpool_t cp;
    zg_outq_t q = {0};
    size_t big = 3 * ZG_CHUNK_SIZE + 123;
    unsigned char *src = malloc(big), *dst = malloc(big + 2);

    (void)state;
    zg_chunkpool_init(&cp, 4, on_release, NULL);
    for (size_t i = 0; i < big; i++)
        src[i] = (unsigned char)(i * 7);
    assert_int_equal(zg_outq_append(&q, &cp, "ab", 2), 0);
    assert_int_equal(zg_outq_append(&q, &cp, src, big), 0);
    assert_int_equal(q.pending, big + 2);
    assert_int_equal(drain_view(&q, dst, 64), big + 2);
    assert_memory_equal(dst, "ab", 2);
    assert_memory_equal(dst + 2, src, big);
    /* A partial send resumes mid-chunk. */
    zg_outq_sent(&q, &cp, 5);
    assert_int_equal(q.pending, big - 3);
    assert_int_equal(drain_view(&q, dst, 64), big - 3);
    assert_memory_equal(dst, src + 3, big - 3);
    zg_outq_sent(&q, &cp, big - 3);
    assert_int_equal(q.pending, 0);
    assert_null(q.head);
    assert_null(q.tail);
    /* Sent chunks went back to the pool (up to max_free). */
    assert_true(cp.nfree_data >= 1 && cp.nfree_data <= 4);
    zg_chunkpool_free(&cp);
    free(src);
    free(dst);
}

static void test_iov_limit(void **state)
{
    zg_chunkpool_t cp;
    zg_outq_t q = {0};
    unsigned char *buf = calloc(1, 10 * ZG_CHUNK_SIZE);
    struct iovec iov[4];

    (void)state;
    zg_chunkpool_init(&cp, 16, on_release, NULL);
    assert_int_equal(zg_outq_append(&q, &cp, buf, 10 * ZG_CHUNK_SIZE), 0);
    assert_int_equal(zg_outq_iov(&q, iov, 4), 4);
    zg_outq_drop(&q, &cp);
    assert_int_equal(q.pending, 0);
    zg_chunkpool_free(&cp);
    free(buf);
}

static void test_reserve_commit(void **state)
{
    zg_chunkpool_t cp;
    zg_outq_t q = {0};
    unsigned char out[ZG_RESERVE_MAX + 64];
    size_t avail = 0;
    char *p;

    (void)state;
    zg_chunkpool_init(&cp, 4, on_release, NULL);
    assert_int_equal(zg_outq_append(&q, &cp, "HTTP", 4), 0);
    p = zg_outq_reserve(&q, &cp, 100, &avail);
    assert_non_null(p);
    assert_true(avail >= 100);
    memcpy(p, "/1.1 200 OK", 11);
    zg_outq_commit(&q, 11);
    assert_int_equal(q.pending, 15);
    assert_int_equal(drain_view(&q, out, 64), 15);
    assert_memory_equal(out, "HTTP/1.1 200 OK", 15);
    /* Larger than a pooled chunk, up to the limit: an oversize chunk. */
    p = zg_outq_reserve(&q, &cp, ZG_RESERVE_MAX, &avail);
    assert_non_null(p);
    assert_true(avail >= ZG_RESERVE_MAX);
    memset(p, 'x', ZG_RESERVE_MAX);
    zg_outq_commit(&q, ZG_RESERVE_MAX);
    assert_int_equal(q.pending, 15 + ZG_RESERVE_MAX);
    assert_null(zg_outq_reserve(&q, &cp, ZG_RESERVE_MAX + 1, &avail));
    zg_outq_sent(&q, &cp, q.pending);
    assert_null(q.head);
    zg_chunkpool_free(&cp);
}

static void test_refs_released_when_sent(void **state)
{
    zg_chunkpool_t cp;
    zg_outq_t q = {0};
    static const char ext[] = "external bytes";
    unsigned char out[64];

    (void)state;
    nreleased = 0;
    zg_chunkpool_init(&cp, 4, on_release, NULL);
    assert_int_equal(zg_outq_append(&q, &cp, "<", 1), 0);
    assert_int_equal(zg_outq_append_ref(&q, &cp, ext, 8, 42), 0);
    assert_int_equal(zg_outq_append(&q, &cp, ">", 1), 0);
    assert_int_equal(drain_view(&q, out, 64), 10);
    assert_memory_equal(out, "<external>", 10);
    zg_outq_sent(&q, &cp, 4); /* into the middle of the reference */
    assert_int_equal(nreleased, 0);
    zg_outq_sent(&q, &cp, 5); /* reference fully sent */
    assert_int_equal(nreleased, 1);
    assert_int_equal(released[0], 42);
    /* Dropping a queue releases references that were never sent. */
    assert_int_equal(zg_outq_append_ref(&q, &cp, ext, 3, 7), 0);
    zg_outq_drop(&q, &cp);
    assert_int_equal(nreleased, 2);
    assert_int_equal(released[1], 7);
    zg_chunkpool_free(&cp);
}

/* Chunks a zero-copy send read outlive being sent: released only once
 * the kernel's notifications are in (zg_outq_zc_release), or with the
 * queue. Chunks it did not read are released as soon as they are sent. */
static void test_zero_copy_chunks_wait_for_the_notification(void **state)
{
    zg_chunkpool_t cp;
    zg_outq_t q = {0};
    static const char ext[] = "0123456789";
    struct iovec iov[8];

    (void)state;
    nreleased = 0;
    zg_chunkpool_init(&cp, 4, on_release, NULL);
    assert_int_equal(zg_outq_append_ref(&q, &cp, ext, 4, 1), 0);
    assert_int_equal(zg_outq_append_ref(&q, &cp, ext + 4, 4, 2), 0);
    assert_int_equal(zg_outq_append_ref(&q, &cp, ext + 8, 2, 3), 0);
    assert_int_equal(zg_outq_iov(&q, iov, 2), 2);
    zg_outq_mark_zc(&q, 2);   /* a zero-copy send of refs 1 and 2 */
    zg_outq_sent(&q, &cp, 6); /* ref 1 sent, ref 2 half */
    assert_int_equal(nreleased, 0);
    assert_int_equal(q.zc_bytes, 4);
    zg_outq_sent(&q, &cp, 2); /* ref 2 sent */
    assert_int_equal(nreleased, 0);
    assert_int_equal(q.zc_bytes, 8);
    zg_outq_sent(&q, &cp, 2); /* ref 3 (copied): released at once */
    assert_int_equal(nreleased, 1);
    assert_int_equal(released[0], 3);
    zg_outq_zc_release(&q, &cp);
    assert_int_equal(nreleased, 3);
    assert_int_equal(q.zc_bytes, 0);
    /* A queue dropped with zero-copy chunks waiting releases them too. */
    assert_int_equal(zg_outq_append_ref(&q, &cp, ext, 10, 9), 0);
    zg_outq_mark_zc(&q, 1);
    zg_outq_sent(&q, &cp, 10);
    assert_int_equal(nreleased, 3);
    zg_outq_drop(&q, &cp);
    assert_int_equal(nreleased, 4);
    assert_int_equal(released[3], 9);
    zg_chunkpool_free(&cp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_spans_chunks),
        cmocka_unit_test(test_iov_limit),
        cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_refs_released_when_sent),
        cmocka_unit_test(test_zero_copy_chunks_wait_for_the_notification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
