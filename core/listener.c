/* SPDX-License-Identifier: MIT */
/*
 * Description: a listener's accept policy, shared by the acceptor thread
 * and reactors that accept on their own ring: max_connections admission,
 * the plugin's over-limit refusal, and what an accept error means (pause
 * on a shortage of descriptors, log once). Any thread; nothing here calls
 * back into the engine.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"

int zg_accept_verdict(const zg_listener_t *l, int res, uint8_t *paused)
{
    if (res >= 0) {
        if (*paused)
            zg_log(ZG_LOG_NOTICE, "accepting on %s again", l->addr);
        *paused = 0;
        return 0;
    }
    if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
        if (!*paused)
            zg_log(ZG_LOG_ERROR,
                   "accept() on %s failed (%d: %s): pausing accepts for "
                   "100 ms until descriptors free up (raise ulimit -n?)",
                   l->addr, -res, strerror(-res));
        *paused = 1;
        return 1;
    }
    if (res == -EINVAL) {
        /* The socket no longer listens: shut down by whoever shares it (a
         * master that is stopping, our own stop). Nothing can be accepted
         * until it listens again: look every 100 ms, quietly. */
        if (*paused != 2)
            zg_log(ZG_LOG_INFO,
                   "accept() on %s: the socket no longer listens, pausing "
                   "accepts",
                   l->addr);
        *paused = 2;
        return 1;
    }
    if (res != -ECANCELED)
        zg_log(ZG_LOG_ERROR, "accept() on %s failed (%d: %s)", l->addr, -res,
               strerror(-res));
    return 0;
}

void zg_listener_refuse(zg_listener_t *l, int fd)
{
    const zg_plugin_t *pl = &l->mod->desc;

    if (pl->over_limit_response != NULL && pl->over_limit_response_len > 0 &&
        send(fd, pl->over_limit_response, pl->over_limit_response_len,
             MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* Best effort: the socket is closed either way. */
    }
    close(fd);
}

int zg_listener_admit(zg_listener_t *l, int fd)
{
    int64_t n = atomic_fetch_add_explicit(&l->active, 1, memory_order_relaxed);
    int64_t sec, last;
    uint64_t total;

    if (n < (int64_t)l->conf->max_connections)
        return 1;
    atomic_fetch_sub_explicit(&l->active, 1, memory_order_relaxed);
    total =
        atomic_fetch_add_explicit(&l->rejected, 1, memory_order_relaxed) + 1;
    zg_listener_refuse(l, fd);
    sec = (int64_t)time(NULL);
    last = atomic_load_explicit(&l->rejected_logged, memory_order_relaxed);
    if (last != sec &&
        atomic_compare_exchange_strong(&l->rejected_logged, &last, sec))
        zg_log(ZG_LOG_WARN,
               "listener \"%s\": max_connections (%u) reached, new "
               "connections are closed (%llu so far)",
               l->conf->name, l->conf->max_connections,
               (unsigned long long)total);
    return 0;
}
