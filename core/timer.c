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

/* ---- timer wheel: no allocation, O(1) file and unlink ----------------
 * A connection is filed under the tick of its earliest deadline (idle
 * timeout or plugin timer). Activity only stamps last_active; when the
 * bucket comes round the deadline is recomputed and the connection is
 * either expired or filed again. */

void zg_tw_unlink(zg_reactor_t *r, zg_conn_t *c)
{
    if (c->tw_bucket < 0)
        return;
    if (c->tw_prev != ZG_NONE)
        r->conns[c->tw_prev].tw_next = c->tw_next;
    else
        r->wheel[c->tw_bucket] = c->tw_next;
    if (c->tw_next != ZG_NONE)
        r->conns[c->tw_next].tw_prev = c->tw_prev;
    c->tw_bucket = -1;
    r->ntimed--;
}

void zg_tw_file(zg_reactor_t *r, zg_conn_t *c)
{
    uint64_t d = UINT64_MAX, t;
    uint32_t b, idle;

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
    t = d / ZG_TICK_MS;
    if (t <= r->tick)
        t = r->tick + 1;
    b = (uint32_t)(t % ZG_WHEEL);
    c->tw_bucket = (int32_t)b;
    c->tw_prev = ZG_NONE;
    c->tw_next = r->wheel[b];
    if (c->tw_next != ZG_NONE)
        r->conns[c->tw_next].tw_prev = c->slot;
    r->wheel[b] = c->slot;
    r->ntimed++;
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

void zg_tw_expire(zg_reactor_t *r)
{
    uint64_t now_tick = r->now / ZG_TICK_MS;
    unsigned steps = 0;

    if (r->tick == 0)
        r->tick = now_tick;
    while (r->tick < now_tick) {
        uint32_t b, s;

        /* Far behind (a stall): one full turn visits every bucket. */
        if (++steps > ZG_WHEEL) {
            r->tick = now_tick;
            break;
        }
        r->tick++;
        b = (uint32_t)(r->tick % ZG_WHEEL);
        /* Move the bucket aside so visits may file into it again. */
        r->wheel[ZG_WHEEL] = r->wheel[b];
        r->wheel[b] = ZG_NONE;
        for (s = r->wheel[ZG_WHEEL]; s != ZG_NONE; s = r->conns[s].tw_next)
            r->conns[s].tw_bucket = ZG_WHEEL;
        while ((s = r->wheel[ZG_WHEEL]) != ZG_NONE) {
            zg_tw_unlink(r, &r->conns[s]);
            zg_tw_visit(r, &r->conns[s]);
        }
    }
}
