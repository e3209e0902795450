/* SPDX-License-Identifier: MIT */
/*
 * Description: the cross-thread post queue of a reactor (api->post): a
 * lock-free multi-producer, single-consumer queue of posted calls, woken
 * through an eventfd the reactor keeps a read armed on. Any thread
 * pushes; only the owning reactor pops.
 *
 * No lost wake-up: a producer links its item, then sets the queue's
 * "wake pending" flag and writes the eventfd only if the flag was clear;
 * the reactor clears the flag when the eventfd read completes and only
 * then pops. An item linked after the clear either is seen by that pop or
 * finds the flag clear and writes the eventfd again.
 *
 * Shutdown: the reactor closes the queue (zg_postq_close), waits until no
 * producer is inside zg_postq_push, and pops what is left; a push that
 * sees the queue closed fails with -ESHUTDOWN and keeps its item.
 */
#ifndef ZG_POST_H
#define ZG_POST_H

#include <stdatomic.h>
#include <stdint.h>

#include "zerg/plugin.h"

typedef void (*zg_post_fn)(zg_conn_t *c, void *conn_data, void *arg);

typedef struct zg_post_item_s {
    _Atomic(struct zg_post_item_s *) next;
    uint64_t conn_id;
    zg_post_fn fn;
    void *arg;
} zg_post_item_t;

typedef struct zg_postq_s {
    _Atomic(zg_post_item_t *) head; /* producers swap themselves in here */
    zg_post_item_t *tail;           /* the consumer pops from here */
    zg_post_item_t stub;
    _Atomic int wake;   /* an eventfd write is on its way */
    _Atomic int closed; /* pushes fail from now on */
    _Atomic int users;  /* producers inside zg_postq_push */
    int efd;            /* eventfd, or -1 */
} zg_postq_t;

/* Set up an empty queue and its eventfd. 0 or -errno. */
int zg_postq_init(zg_postq_t *q);

/* Queue fn(arg) for connection conn_id. self: the caller is the consumer
 * thread (no wake-up needed: it pops before it next waits). 0, -ENOMEM,
 * -ESHUTDOWN (closed). Any thread. */
int zg_postq_push(zg_postq_t *q, uint64_t conn_id, zg_post_fn fn, void *arg,
                  int self);

/* The consumer's eventfd read completed: clear the wake flag (before
 * popping). Consumer thread. */
void zg_postq_woken(zg_postq_t *q);

/* The oldest item, or NULL if the queue is empty or a producer is half
 * way through linking (it then wakes the consumer again if needed). The
 * caller frees the item with free(). Consumer thread. */
zg_post_item_t *zg_postq_pop(zg_postq_t *q);

/* Refuse further pushes and wait for producers inside a push to leave.
 * Consumer thread. */
void zg_postq_close(zg_postq_t *q);

/* Free what is left without running it (zg_postq_close first) and close
 * the eventfd. */
void zg_postq_free(zg_postq_t *q);

#endif /* ZG_POST_H */
