/* SPDX-License-Identifier: MIT */
/*
 * Description: the reactor's post queue (see post.h): an intrusive
 * multi-producer, single-consumer linked queue with a stub node.
 * Producers publish with one atomic exchange of the head and then link
 * the previous head to their item; the consumer walks from the tail.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "post.h"

int zg_postq_init(zg_postq_t *q)
{
    atomic_store(&q->stub.next, NULL);
    atomic_store(&q->head, &q->stub);
    q->tail = &q->stub;
    atomic_store(&q->wake, 0);
    atomic_store(&q->closed, 0);
    atomic_store(&q->users, 0);
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return q->efd < 0 ? -errno : 0;
}

/* Append n (its next is NULL). Wait-free. */
static void zg_postq_link(zg_postq_t *q, zg_post_item_t *n)
{
    zg_post_item_t *prev = atomic_exchange(&q->head, n);

    atomic_store(&prev->next, n);
}

int zg_postq_push(zg_postq_t *q, uint64_t conn_id, zg_post_fn fn, void *arg,
                  int self)
{
    zg_post_item_t *n;

    atomic_fetch_add(&q->users, 1);
    if (atomic_load(&q->closed)) {
        atomic_fetch_sub(&q->users, 1);
        return -ESHUTDOWN;
    }
    n = malloc(sizeof(*n));
    if (n == NULL) {
        atomic_fetch_sub(&q->users, 1);
        return -ENOMEM;
    }
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    n->conn_id = conn_id;
    n->fn = fn;
    n->arg = arg;
    zg_postq_link(q, n);
    if (!self && atomic_exchange(&q->wake, 1) == 0) {
        uint64_t one = 1;

        /* Only EAGAIN (counter full) can fail here, and a full counter
         * wakes the reactor anyway. */
        if (write(q->efd, &one, sizeof(one)) < 0) {
        }
    }
    atomic_fetch_sub(&q->users, 1);
    return 0;
}

void zg_postq_woken(zg_postq_t *q)
{
    atomic_store(&q->wake, 0);
}

zg_post_item_t *zg_postq_pop(zg_postq_t *q)
{
    zg_post_item_t *tail = q->tail;
    zg_post_item_t *next = atomic_load(&tail->next);

    if (tail == &q->stub) {
        if (next == NULL)
            return NULL;
        q->tail = next;
        tail = next;
        next = atomic_load(&tail->next);
    }
    if (next != NULL) {
        q->tail = next;
        return tail;
    }
    /* tail is the last linked item: take it only if no producer has
     * swapped itself in behind it, after putting the stub back. */
    if (tail != atomic_load(&q->head))
        return NULL;
    atomic_store(&q->stub.next, NULL);
    zg_postq_link(q, &q->stub);
    next = atomic_load(&tail->next);
    if (next != NULL) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

void zg_postq_close(zg_postq_t *q)
{
    atomic_store(&q->closed, 1);
    while (atomic_load(&q->users) > 0)
        sched_yield();
}

void zg_postq_free(zg_postq_t *q)
{
    zg_post_item_t *n;

    while ((n = zg_postq_pop(q)) != NULL)
        free(n);
    if (q->efd >= 0)
        close(q->efd);
    q->efd = -1;
}
