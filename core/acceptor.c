/* SPDX-License-Identifier: MIT */
/*
 * Description: the acceptor thread: one io_uring with a multishot accept on
 * every listener; each accepted socket goes to the next reactor (round
 * robin) through IORING_OP_MSG_RING, which wakes that reactor at once.
 * Accepting never stops for good: an ended multishot is re-armed, and on
 * EMFILE/ENFILE it pauses 100 ms first, logging once per episode. A
 * graceful stop cancels the accepts and hands over what they accepted
 * until each has ended, so that no connection taken from a socket that
 * others go on serving (a master's, a binary upgrade's) is dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "crash.h"
#include "engine.h"
#include "log.h"

struct zg_acceptor_s {
    zg_engine_t *e;
    struct io_uring ring;
    int ring_ok;
    int ring_fd;
    unsigned ring_flags;
    pthread_t thread;
    int started;
    zg_startsync_t sync;
    uint32_t next; /* round-robin cursor */
    int stopping;
    int quitting;     /* graceful stop: accepts cancelled, not re-armed */
    uint32_t pending; /* accepts and pauses in flight */
    uint64_t quit_by; /* ms: stop waiting for them */
    uint8_t *paused;  /* per listener slot: waiting out an fd shortage */
    uint8_t *armed;   /* per slot: an accept (or its pause) is in flight */
};

static uint64_t zg_acc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Slot s should accept: live (see ZG_LS_*). */
static int zg_acc_live(const zg_acceptor_t *a, uint32_t s)
{
    return !a->stopping && !a->quitting &&
           atomic_load_explicit(&a->e->listeners[s].want,
                                memory_order_acquire) == ZG_LS_LIVE;
}

/* The accepts on slot s ended: a retired slot is done with here. */
static void zg_acc_ended(zg_acceptor_t *a, uint32_t s)
{
    a->armed[s] = 0;
    if (atomic_load(&a->e->listeners[s].want) == ZG_LS_RETIRED)
        atomic_store(&a->e->listeners[s].acc_done, 1);
}

static void zg_acc_arm(zg_acceptor_t *a, uint32_t lidx)
{
    struct io_uring_sqe *sqe = zg_ring_sqe(&a->ring);

    if (sqe != NULL) {
        zg_prep_accept(sqe, a->e->listeners[lidx].fd, lidx);
        a->armed[lidx] = 1;
        a->pending++;
    }
}

static void zg_acc_pause(zg_acceptor_t *a, uint32_t lidx)
{
    struct io_uring_sqe *sqe = zg_ring_sqe(&a->ring);

    if (sqe != NULL) {
        zg_prep_accept_pause(sqe, lidx);
        a->pending++;
    }
}

/* A graceful stop: cancel every accept and pause; the loop goes on until
 * their last completions are in (or a second has passed), handing over
 * what they still accept. */
static void zg_acc_quit(zg_acceptor_t *a)
{
    uint32_t ns = atomic_load_explicit(&a->e->nslots, memory_order_acquire);

    a->quitting = 1;
    a->quit_by = zg_acc_now_ms() + 1000;
    for (uint32_t i = 0; i < ns; i++) {
        static const unsigned kinds[] = {ZG_OP_ACCEPT, ZG_OP_TIMEOUT};

        if (!a->armed[i])
            continue;
        for (size_t k = 0; k < 2; k++) {
            struct io_uring_sqe *sqe = zg_ring_sqe(&a->ring);

            if (sqe == NULL)
                continue;
            io_uring_prep_cancel64(sqe, zg_ud(kinds[k], 0, i),
                                   IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_CANCEL, 0, 0));
        }
    }
    if (a->pending == 0)
        a->stopping = 1;
}

/* Bring the accepts up to the slots' states (ZG_CTL_SYNC): arm the live
 * ones, cancel the retired ones' (their successor on the same socket is
 * armed first). */
static void zg_acc_sync(zg_acceptor_t *a)
{
    uint32_t ns = atomic_load_explicit(&a->e->nslots, memory_order_acquire);

    for (uint32_t s = 0; s < ns; s++) {
        if (zg_acc_live(a, s) && !a->armed[s] && a->e->listeners[s].fd >= 0)
            zg_acc_arm(a, s);
    }
    for (uint32_t s = 0; s < ns; s++) {
        struct io_uring_sqe *sqe;

        if (atomic_load(&a->e->listeners[s].want) != ZG_LS_RETIRED)
            continue;
        if (!a->armed[s]) {
            zg_acc_ended(a, s);
        } else if ((sqe = zg_ring_sqe(&a->ring)) != NULL) {
            io_uring_prep_cancel64(sqe, zg_ud(ZG_OP_ACCEPT, 0, s),
                                   IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_CANCEL, 0, 0));
        }
    }
}

/* Where a connection accepted on slot s goes: its successor once s
 * retired (new connections get the new configuration). */
static uint32_t zg_acc_route(const zg_acceptor_t *a, uint32_t s)
{
    int succ = atomic_load(&a->e->listeners[s].succ);

    if (succ >= 0 && atomic_load(&a->e->listeners[s].want) == ZG_LS_RETIRED &&
        atomic_load(&a->e->listeners[succ].want) == ZG_LS_LIVE)
        return (uint32_t)succ;
    return s;
}

static void zg_acc_handoff(zg_acceptor_t *a, uint32_t lidx, int fd)
{
    zg_engine_t *e = a->e;
    zg_reactor_t *r = e->reactors[a->next++ % e->nreactors];
    struct io_uring_sqe *sqe = zg_ring_sqe(&a->ring);

    if (sqe == NULL) {
        atomic_fetch_sub_explicit(&e->listeners[lidx].active, 1,
                                  memory_order_relaxed);
        close(fd);
        return;
    }
    io_uring_prep_msg_ring(sqe, zg_reactor_ring_fd(r), (unsigned)fd,
                           zg_ud(ZG_OP_NEWCONN, 0, lidx), 0);
    io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_MSGRING, lidx, (uint32_t)fd));
}

static void zg_acc_cqe(zg_acceptor_t *a, const struct io_uring_cqe *cqe)
{
    uint32_t idx = zg_ud_slot(cqe->user_data);

    switch (zg_ud_kind(cqe->user_data)) {
    case ZG_OP_ACCEPT: {
        int live = zg_acc_live(a, idx), pause = 0;

        if (live)
            pause = zg_accept_verdict(&a->e->listeners[idx], cqe->res,
                                      &a->paused[idx]);
        if (cqe->res >= 0) {
            uint32_t to = zg_acc_route(a, idx);

            atomic_fetch_add_explicit(&a->e->listeners[to].accepted, 1,
                                      memory_order_relaxed);
            if (a->stopping)
                close(cqe->res);
            else if (zg_listener_admit(&a->e->listeners[to], cqe->res))
                zg_acc_handoff(a, to, cqe->res);
        }
        if (cqe->flags & IORING_CQE_F_MORE)
            break;
        a->pending--;
        if (!live)
            zg_acc_ended(a, idx);
        else if (!pause)
            zg_acc_arm(a, idx);
        else
            zg_acc_pause(a, idx);
        break;
    }
    case ZG_OP_TIMEOUT:
        a->pending--;
        if (zg_acc_live(a, idx))
            zg_acc_arm(a, idx);
        else
            zg_acc_ended(a, idx);
        break;
    case ZG_OP_MSGRING:
        if (cqe->res < 0) {
            zg_log(ZG_LOG_ERROR,
                   "hand-over of a connection to a reactor failed (%d: %s)",
                   -cqe->res, strerror(-cqe->res));
            close((int)idx);
            atomic_fetch_sub_explicit(
                &a->e->listeners[zg_ud_gen(cqe->user_data)].active, 1,
                memory_order_relaxed);
        }
        break;
    case ZG_OP_CTL:
        if (idx == ZG_CTL_SYNC) {
            if (!a->stopping && !a->quitting)
                zg_acc_sync(a);
        } else if (atomic_load(&a->e->draining) &&
                   !atomic_load(&a->e->stopping) && !a->quitting) {
            zg_acc_quit(a); /* ZG_CTL_DRAIN (graceful) */
        } else {
            a->stopping = 1;
        }
        break;
    default:
        break;
    }
}

static void *zg_acceptor_main(void *arg)
{
    zg_acceptor_t *a = arg;
    const zg_acceptor_conf_t *ac = &a->e->cfg->acceptor;
    struct __kernel_timespec ts, *tsp = NULL;
    int ret;

    pthread_setname_np(pthread_self(), "zg-acceptor");
    zg_crash_thread("acceptor", -1);
    ret = zg_ring_setup(&a->ring, ac->ring_entries, ac->sqpoll, ac->sq_cpu,
                        ac->sq_idle_ms, "acceptor", &a->ring_flags);
    if (ret < 0) {
        snprintf(a->sync.err, sizeof(a->sync.err),
                 "acceptor: io_uring_queue_init_params(%u) failed (%d: %s)%s",
                 ac->ring_entries, -ret, strerror(-ret), zg_ring_hint(ret));
        zg_startsync_post(&a->sync, ret);
        return NULL;
    }
    a->ring_ok = 1;
    a->ring_fd = a->ring.ring_fd;
    zg_acc_sync(a);
    if (ac->cq_timeout_us > 0) {
        ts = zg_us_timespec(ac->cq_timeout_us);
        tsp = &ts;
    }
    zg_startsync_post(&a->sync, 1);

    while (!a->stopping) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        struct __kernel_timespec qts = zg_us_timespec(10000);

        if (a->quitting && (a->pending == 0 || zg_acc_now_ms() >= a->quit_by))
            break;
        zg_ring_wait(&a->ring, a->quitting ? &qts : tsp, "acceptor");
        io_uring_for_each_cqe(&a->ring, head, cqe)
        {
            zg_acc_cqe(a, cqe);
            if (++seen == ac->batch)
                break;
        }
        io_uring_cq_advance(&a->ring, seen);
    }
    /* Hand-overs prepared in the last batch still go out. */
    io_uring_submit(&a->ring);
    io_uring_queue_exit(&a->ring);
    a->ring_ok = 0;
    return NULL;
}

int zg_acceptor_start(zg_engine_t *e, char *err, size_t errlen)
{
    zg_acceptor_t *a = calloc(1, sizeof(*a));
    int ret;

    if (a == NULL)
        return -ENOMEM;
    a->paused = calloc(ZG_MAX_SLOTS, 1);
    a->armed = calloc(ZG_MAX_SLOTS, 1);
    if (a->paused == NULL || a->armed == NULL) {
        free(a->paused);
        free(a->armed);
        free(a);
        return -ENOMEM;
    }
    a->e = e;
    a->ring_fd = -1;
    zg_startsync_init(&a->sync);
    e->acceptor = a;
    ret = pthread_create(&a->thread, NULL, zg_acceptor_main, a);
    if (ret != 0) {
        snprintf(err, errlen, "acceptor: pthread_create() failed (%s)",
                 strerror(ret));
        return -ret;
    }
    a->started = 1;
    ret = zg_startsync_wait(&a->sync);
    if (ret < 0) {
        snprintf(err, errlen, "%s", a->sync.err);
        return ret;
    }
    return 0;
}

void zg_acceptor_sync(zg_engine_t *e)
{
    zg_acceptor_t *a = e->acceptor;

    if (a != NULL && a->started && a->ring_fd >= 0 && a->sync.state > 0 &&
        zg_ctl_send(a->ring_fd, zg_ud(ZG_OP_CTL, 0, ZG_CTL_SYNC)) < 0)
        zg_log(ZG_LOG_ALERT, "acceptor: cannot send the sync message");
}

void zg_acceptor_join(zg_engine_t *e)
{
    zg_acceptor_t *a = e->acceptor;

    if (a == NULL)
        return;
    if (a->started) {
        if (a->ring_fd >= 0 && a->sync.state > 0 &&
            zg_ctl_send(a->ring_fd, zg_ud(ZG_OP_CTL, 0, ZG_CTL_STOP)) < 0)
            zg_log(ZG_LOG_ALERT, "acceptor: cannot send the stop message");
        pthread_join(a->thread, NULL);
    }
    pthread_mutex_destroy(&a->sync.mu);
    pthread_cond_destroy(&a->sync.cv);
    free(a->paused);
    free(a->armed);
    free(a);
    e->acceptor = NULL;
}
