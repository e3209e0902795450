/* SPDX-License-Identifier: MIT */
/*
 * Description: a hashed timer wheel over slot numbers: O(1) add and
 * delete, no allocation, 10 ms ticks, 1024 buckets (one turn is about
 * 10 s; a later deadline is simply found early and filed again by its
 * owner). The links live in the owner's own records (one zg_wheel_link_t
 * per slot, reached through base + slot * stride), so the wheel knows
 * nothing about what it times. Single-threaded: one owner per wheel.
 */
#ifndef ZG_WHEEL_H
#define ZG_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#define ZG_WHEEL_TICK_MS 10
#define ZG_WHEEL_SIZE    1024
#define ZG_WHEEL_NONE    UINT32_MAX

/* Where a slot is filed; embedded in the owner's record. */
typedef struct zg_wheel_link_s {
    uint32_t next;
    uint32_t prev;
    int32_t bucket; /* -1: not filed */
} zg_wheel_link_t;

typedef struct zg_wheel_s {
    /* Buckets of slots; the extra last one holds the bucket being
     * expired, so a callback may file into any bucket meanwhile. */
    uint32_t b[ZG_WHEEL_SIZE + 1];
    uint64_t tick;  /* last tick expired (0: none yet) */
    uint32_t count; /* slots filed */
    unsigned char *base;
    size_t stride; /* bytes from one slot's record to the next */
} zg_wheel_t;

/* An empty wheel whose slot s keeps its link at base + s * stride. Records
 * start unfiled only after zg_wheel_link_init. */
void zg_wheel_init(zg_wheel_t *w, void *base, size_t stride);
void zg_wheel_link_init(zg_wheel_link_t *l);

/* File slot under deadline (ms on the owner's clock), replacing where it
 * was. A deadline at or before the last expired tick fires at the next. */
void zg_wheel_add(zg_wheel_t *w, uint32_t slot, uint64_t deadline);

/* Take slot out (no-op if not filed). */
void zg_wheel_del(zg_wheel_t *w, uint32_t slot);

/* Expire every tick up to now: each slot filed in an expired bucket is
 * taken out, then fire(ctx, slot) runs; fire may add or delete any slot.
 * After a stall of more than a turn, one turn visits every bucket. A slot
 * whose deadline lies further ahead than a turn is visited early: its
 * owner files it again. */
void zg_wheel_expire(zg_wheel_t *w, uint64_t now,
                     void (*fire)(void *ctx, uint32_t slot), void *ctx);

#endif /* ZG_WHEEL_H */
