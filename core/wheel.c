/* SPDX-License-Identifier: MIT */
/*
 * Description: the hashed timer wheel (wheel.h): intrusive doubly linked
 * buckets of slot numbers, expired tick by tick.
 */
#include "wheel.h"

static zg_wheel_link_t *zg_wheel_link(zg_wheel_t *w, uint32_t slot)
{
    return (zg_wheel_link_t *)(w->base + (size_t)slot * w->stride);
}

void zg_wheel_init(zg_wheel_t *w, void *base, size_t stride)
{
    for (uint32_t i = 0; i <= ZG_WHEEL_SIZE; i++)
        w->b[i] = ZG_WHEEL_NONE;
    w->tick = 0;
    w->count = 0;
    w->base = base;
    w->stride = stride;
}

void zg_wheel_link_init(zg_wheel_link_t *l)
{
    l->next = l->prev = ZG_WHEEL_NONE;
    l->bucket = -1;
}

void zg_wheel_del(zg_wheel_t *w, uint32_t slot)
{
    zg_wheel_link_t *l = zg_wheel_link(w, slot);

    if (l->bucket < 0)
        return;
    if (l->prev != ZG_WHEEL_NONE)
        zg_wheel_link(w, l->prev)->next = l->next;
    else
        w->b[l->bucket] = l->next;
    if (l->next != ZG_WHEEL_NONE)
        zg_wheel_link(w, l->next)->prev = l->prev;
    l->bucket = -1;
    w->count--;
}

void zg_wheel_add(zg_wheel_t *w, uint32_t slot, uint64_t deadline)
{
    zg_wheel_link_t *l = zg_wheel_link(w, slot);
    uint64_t t = deadline / ZG_WHEEL_TICK_MS;
    uint32_t b;

    zg_wheel_del(w, slot);
    if (t <= w->tick)
        t = w->tick + 1;
    b = (uint32_t)(t % ZG_WHEEL_SIZE);
    l->bucket = (int32_t)b;
    l->prev = ZG_WHEEL_NONE;
    l->next = w->b[b];
    if (l->next != ZG_WHEEL_NONE)
        zg_wheel_link(w, l->next)->prev = slot;
    w->b[b] = slot;
    w->count++;
}

void zg_wheel_expire(zg_wheel_t *w, uint64_t now,
                     void (*fire)(void *ctx, uint32_t slot), void *ctx)
{
    uint64_t now_tick = now / ZG_WHEEL_TICK_MS;
    unsigned steps = 0;

    if (w->tick == 0)
        w->tick = now_tick;
    while (w->tick < now_tick) {
        uint32_t b, s;

        /* Far behind (a stall): one full turn visits every bucket. */
        if (++steps > ZG_WHEEL_SIZE) {
            w->tick = now_tick;
            break;
        }
        w->tick++;
        b = (uint32_t)(w->tick % ZG_WHEEL_SIZE);
        /* Move the bucket aside so callbacks may file into it again. */
        w->b[ZG_WHEEL_SIZE] = w->b[b];
        w->b[b] = ZG_WHEEL_NONE;
        for (s = w->b[ZG_WHEEL_SIZE]; s != ZG_WHEEL_NONE;
             s = zg_wheel_link(w, s)->next)
            zg_wheel_link(w, s)->bucket = ZG_WHEEL_SIZE;
        while ((s = w->b[ZG_WHEEL_SIZE]) != ZG_WHEEL_NONE) {
            zg_wheel_del(w, s);
            fire(ctx, s);
        }
    }
}
