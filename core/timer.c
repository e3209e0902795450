/* SPDX-License-Identifier: MIT */
/*
 * Description: the reactor's timer wheel: per-connection idle timeouts,
 * plugin timers and lingering-close deadlines with no allocation and O(1)
 * filing, 10 ms resolution.
 */
#include "reactor.h"

/* Sending the output of a closing connection is bounded by the idle
 * timeout; with the idle timeout off, by this. */
#define ZG_CLOSE_SEND_MS 60000

/* The idle limit that applies to c now (0 = none). */
static uint32_t zg_tw_idle(const zg_conn_t *c)
{
    uint32_t idle = zg_conn_listener(c)->conf->idle_timeout_ms;

    if (idle == 0 && (c->flags & ZG_CF_WANT_CLOSE))
        idle = ZG_CLOSE_SEND_MS;
    return idle;
}

/* A connection is filed under its earliest deadline (idle timeout, plugin
 * timer, lingering close). Activity only stamps last_active; when the
 * deadline comes round it is recomputed and the connection is either
 * expired or filed again. */

void zg_tw_unlink(zg_reactor_t *r, zg_conn_t *c)
{
    zg_wheel_del(&r->wheel, c->slot);
}

void zg_tw_file(zg_reactor_t *r, zg_conn_t *c)
{
    uint64_t d = UINT64_MAX;
    uint32_t idle;

    zg_tw_unlink(r, c);
    if (c->flags & ZG_CF_CLOSED) {
        /* After on_close only a lingering close has a deadline. */
        if (!(c->flags & ZG_CF_LINGER))
            return;
        d = c->linger_at;
    } else {
        idle = zg_tw_idle(c);
        if (idle > 0)
            d = c->last_active + idle;
        if (c->timer_at != 0 && c->timer_at < d)
            d = c->timer_at;
    }
    if (d == UINT64_MAX)
        return;
    zg_wheel_add(&r->wheel, c->slot, d);
}

/* A connection's deadline came round: fire the plugin timer and/or close
 * an idle connection, then file it again. */
static void zg_tw_visit(zg_reactor_t *r, zg_conn_t *c)
{
    uint32_t idle;

    if (!(c->flags & ZG_CF_USED))
        return;
    if (c->flags & ZG_CF_CLOSED) {
        if ((c->flags & ZG_CF_LINGER) && c->linger_at <= r->now)
            zg_linger_end(r, c);
        else
            zg_tw_file(r, c);
        return;
    }
    idle = zg_tw_idle(c);
    if (c->timer_at != 0 && c->timer_at <= r->now) {
        c->timer_at = 0;
        if (!(c->flags & ZG_CF_WANT_CLOSE))
            zg_conn_timeout(r, c);
        zg_dirty(r, c);
    }
    if (idle > 0 && c->last_active + idle <= r->now &&
        !(c->flags & ZG_CF_CLOSED)) {
        /* A peer that reads gets a FIN; one that stalls our output, RST. */
        zg_conn_close(r, c,
                      c->out.pending == 0 && !(c->flags & ZG_CF_SEND)
                          ? ZG_CLOSE_FLUSH
                          : ZG_CLOSE_ABORT,
                      ZG_CLOSE_TIMEOUT);
        return;
    }
    zg_tw_file(r, c);
}

static void zg_tw_fire(void *ctx, uint32_t slot)
{
    zg_reactor_t *r = ctx;

    zg_tw_visit(r, &r->conns[slot]);
}

void zg_tw_expire(zg_reactor_t *r)
{
    zg_wheel_expire(&r->wheel, r->now, zg_tw_fire, r);
}
