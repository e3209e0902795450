/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the post queue (core/post.c): producers on
 * several threads and one consumer popping at the same time lose nothing,
 * duplicate nothing and keep each producer's order; the wake-up flag asks
 * for exactly the eventfd writes needed; a closed queue refuses pushes
 * and waits for producers inside a push.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../core/post.c"

#define PRODUCERS    4
#define PER_PRODUCER 200000

static void fn_nop(zg_conn_t *c, void *conn_data, void *arg)
{
    (void)c;
    (void)conn_data;
    (void)arg;
}

typedef struct prod_s {
    zg_postq_t *q;
    unsigned id;
} prod_t;

static void *producer(void *arg)
{
    prod_t *p = arg;

    for (uint64_t i = 0; i < PER_PRODUCER; i++) {
        /* conn_id carries (producer, sequence) for the consumer to check */
        while (zg_postq_push(p->q, (uint64_t)p->id << 32 | i, fn_nop, NULL,
                             0) == -ENOMEM)
            ;
    }
    return NULL;
}

static uint64_t drain_eventfd(int efd)
{
    uint64_t v = 0;

    if (read(efd, &v, sizeof(v)) != sizeof(v))
        return 0;
    return v;
}

static void test_many_producers_one_consumer(void **state)
{
    zg_postq_t q;
    pthread_t t[PRODUCERS];
    prod_t p[PRODUCERS];
    uint64_t next[PRODUCERS] = {0};
    uint64_t got = 0, total = (uint64_t)PRODUCERS * PER_PRODUCER;

    (void)state;
    assert_int_equal(zg_postq_init(&q), 0);
    for (unsigned i = 0; i < PRODUCERS; i++) {
        p[i].q = &q;
        p[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, producer, &p[i]), 0);
    }
    while (got < total) {
        zg_post_item_t *n = zg_postq_pop(&q);
        unsigned who;

        if (n == NULL) {
            /* What a reactor does: take the wake-up, then look again. */
            drain_eventfd(q.efd);
            zg_postq_woken(&q);
            continue;
        }
        who = (unsigned)(n->conn_id >> 32);
        assert_true(who < PRODUCERS);
        /* Each producer's items come out in the order it pushed them. */
        assert_int_equal(n->conn_id & 0xffffffffu, next[who]);
        next[who]++;
        got++;
        free(n);
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    assert_null(zg_postq_pop(&q));
    for (unsigned i = 0; i < PRODUCERS; i++)
        assert_int_equal(next[i], PER_PRODUCER);
    zg_postq_close(&q);
    zg_postq_free(&q);
}

static void test_wake_flag(void **state)
{
    zg_postq_t q;
    zg_post_item_t *n;

    (void)state;
    assert_int_equal(zg_postq_init(&q), 0);
    /* The first push wakes, the next ones ride on the pending wake-up. */
    assert_int_equal(zg_postq_push(&q, 1, fn_nop, NULL, 0), 0);
    assert_int_equal(zg_postq_push(&q, 2, fn_nop, NULL, 0), 0);
    assert_int_equal(drain_eventfd(q.efd), 1);
    /* Once the consumer took it, the next push wakes again. */
    zg_postq_woken(&q);
    assert_int_equal(zg_postq_push(&q, 3, fn_nop, NULL, 0), 0);
    assert_int_equal(drain_eventfd(q.efd), 1);
    /* The consumer's own pushes never write. */
    zg_postq_woken(&q);
    assert_int_equal(zg_postq_push(&q, 4, fn_nop, NULL, 1), 0);
    assert_int_equal(drain_eventfd(q.efd), 0);
    for (uint64_t want = 1; want <= 4; want++) {
        n = zg_postq_pop(&q);
        assert_non_null(n);
        assert_int_equal(n->conn_id, want);
        free(n);
    }
    assert_null(zg_postq_pop(&q));
    /* Empty, then used again: the stub goes back in between. */
    assert_int_equal(zg_postq_push(&q, 5, fn_nop, NULL, 1), 0);
    n = zg_postq_pop(&q);
    assert_non_null(n);
    assert_int_equal(n->conn_id, 5);
    free(n);
    assert_null(zg_postq_pop(&q));
    zg_postq_close(&q);
    zg_postq_free(&q);
}

static void test_closed_refuses(void **state)
{
    zg_postq_t q;
    zg_post_item_t *n;

    (void)state;
    assert_int_equal(zg_postq_init(&q), 0);
    assert_int_equal(zg_postq_push(&q, 7, fn_nop, NULL, 0), 0);
    zg_postq_close(&q);
    assert_int_equal(zg_postq_push(&q, 8, fn_nop, NULL, 0), -ESHUTDOWN);
    /* What was queued before the close is still there to run. */
    n = zg_postq_pop(&q);
    assert_non_null(n);
    assert_int_equal(n->conn_id, 7);
    free(n);
    assert_null(zg_postq_pop(&q));
    zg_postq_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_producers_one_consumer),
        cmocka_unit_test(test_wake_flag),
        cmocka_unit_test(test_closed_refuses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
