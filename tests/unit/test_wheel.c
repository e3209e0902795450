/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the timer wheel (core/wheel.c): deadlines
 * fire on their tick and not before, delete and re-add (also from inside
 * a callback), deadlines beyond one turn, a stalled clock, many slots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/wheel.c"

#define NSLOTS 4096

/* A record that embeds its link, as a connection does. */
typedef struct rec_s {
    uint64_t payload;
    zg_wheel_link_t link;
    uint64_t deadline; /* what the test filed it under */
    int fired;
} rec_t;

static rec_t recs[NSLOTS];
static zg_wheel_t W;
static uint64_t clock_now;
static uint32_t order[NSLOTS * 4];
static size_t norder;
static uint32_t refile_slot = ZG_WHEEL_NONE; /* fire() files it again */
static uint32_t kill_slot = ZG_WHEEL_NONE;   /* fire() deletes it */

static void setup_wheel(void)
{
    memset(recs, 0, sizeof(recs));
    zg_wheel_init(&W, (unsigned char *)recs + offsetof(rec_t, link),
                  sizeof(rec_t));
    for (uint32_t i = 0; i < NSLOTS; i++)
        zg_wheel_link_init(&recs[i].link);
    clock_now = 1000000;
    norder = 0;
    refile_slot = kill_slot = ZG_WHEEL_NONE;
    zg_wheel_expire(&W, clock_now, NULL, NULL); /* sets the first tick */
}

/* Fires as a wheel owner does: early visits (a deadline beyond one turn)
 * are filed again; real expiries are recorded. */
static void fire(void *ctx, uint32_t slot)
{
    rec_t *r = &recs[slot];

    (void)ctx;
    if (r->deadline / ZG_WHEEL_TICK_MS > clock_now / ZG_WHEEL_TICK_MS) {
        zg_wheel_add(&W, slot, r->deadline);
        return;
    }
    r->fired++;
    order[norder++] = slot;
    if (slot == refile_slot) {
        r->deadline = clock_now + 50;
        refile_slot = ZG_WHEEL_NONE;
        zg_wheel_add(&W, slot, r->deadline);
    }
    if (kill_slot != ZG_WHEEL_NONE) {
        zg_wheel_del(&W, kill_slot);
        kill_slot = ZG_WHEEL_NONE;
    }
}

static void add(uint32_t slot, uint64_t in_ms)
{
    recs[slot].deadline = clock_now + in_ms;
    zg_wheel_add(&W, slot, recs[slot].deadline);
}

static void advance(uint64_t ms)
{
    clock_now += ms;
    zg_wheel_expire(&W, clock_now, fire, NULL);
}

static void test_fires_on_its_tick(void **state)
{
    (void)state;
    setup_wheel();
    add(1, 100);
    add(2, 30);
    add(3, 100);
    assert_int_equal(W.count, 3);
    advance(20);
    assert_int_equal(norder, 0);
    advance(10);
    assert_int_equal(norder, 1);
    assert_int_equal(order[0], 2);
    advance(60);
    assert_int_equal(norder, 1); /* 90 ms: not yet */
    advance(10);
    assert_int_equal(norder, 3);
    assert_int_equal(W.count, 0);
    assert_int_equal(recs[1].fired, 1);
    assert_int_equal(recs[3].fired, 1);
}

static void test_past_deadline_fires_next_tick(void **state)
{
    (void)state;
    setup_wheel();
    recs[5].deadline = clock_now - 500;
    zg_wheel_add(&W, 5, recs[5].deadline);
    advance(ZG_WHEEL_TICK_MS);
    assert_int_equal(recs[5].fired, 1);
}

static void test_delete_and_readd(void **state)
{
    (void)state;
    setup_wheel();
    add(1, 50);
    add(2, 50);
    add(3, 50);
    zg_wheel_del(&W, 2); /* the middle of a bucket's list */
    zg_wheel_del(&W, 2); /* twice is harmless */
    assert_int_equal(W.count, 2);
    add(1, 200); /* re-filing moves it */
    assert_int_equal(W.count, 2);
    advance(60);
    assert_int_equal(norder, 1);
    assert_int_equal(order[0], 3);
    assert_int_equal(recs[2].fired, 0);
    advance(150);
    assert_int_equal(recs[1].fired, 1);
}

static void test_callbacks_may_file_and_delete(void **state)
{
    (void)state;
    setup_wheel();
    add(1, 20);
    add(2, 20);
    add(3, 20);
    add(4, 500);
    refile_slot = 2; /* files itself again, 50 ms on */
    kill_slot = 4;   /* the first callback deletes slot 4 */
    advance(20);
    assert_int_equal(norder, 3);
    assert_int_equal(W.count, 1); /* only slot 2, re-filed */
    advance(50);
    assert_int_equal(recs[2].fired, 2);
    advance(1000);
    assert_int_equal(recs[4].fired, 0);
}

static void test_beyond_one_turn(void **state)
{
    uint64_t turn = (uint64_t)ZG_WHEEL_SIZE * ZG_WHEEL_TICK_MS;

    (void)state;
    setup_wheel();
    add(7, 3 * turn + 40);
    /* Visited early three times on the way (and filed again): never
     * fired before its tick. */
    while (clock_now + 100 < recs[7].deadline) {
        advance(100);
        assert_int_equal(recs[7].fired, 0);
    }
    advance(100);
    assert_int_equal(recs[7].fired, 1);
}

static void test_stall_visits_everything(void **state)
{
    (void)state;
    setup_wheel();
    for (uint32_t i = 0; i < 100; i++)
        add(i, 10 + i * 37);
    /* The loop was stuck for a minute: one turn visits every bucket. */
    advance(60000);
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(recs[i].fired, 1);
    assert_int_equal(W.count, 0);
}

static void test_many_slots(void **state)
{
    (void)state;
    setup_wheel();
    for (uint32_t i = 0; i < NSLOTS; i++)
        add(i, ZG_WHEEL_TICK_MS + (i * 7919u) % 20000u);
    for (int step = 0; step < 2100; step++)
        advance(10);
    for (uint32_t i = 0; i < NSLOTS; i++)
        assert_int_equal(recs[i].fired, 1);
    /* Fired in deadline order, tick by tick. */
    for (size_t k = 1; k < norder; k++)
        assert_true(recs[order[k - 1]].deadline / ZG_WHEEL_TICK_MS <=
                    recs[order[k]].deadline / ZG_WHEEL_TICK_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_on_its_tick),
        cmocka_unit_test(test_past_deadline_fires_next_tick),
        cmocka_unit_test(test_delete_and_readd),
        cmocka_unit_test(test_callbacks_may_file_and_delete),
        cmocka_unit_test(test_beyond_one_turn),
        cmocka_unit_test(test_stall_visits_everything),
        cmocka_unit_test(test_many_slots),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
