/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the per-address connection table
 * (modules/limit_conn/table.c): limits, both spellings of IPv4, a full
 * table, entries reused without leaking, exact counts when every address
 * collides, and reactor-like threads hammering shared addresses (run it
 * under --with-sanitize=thread too).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "../../modules/limit_conn/table.c"

/* An address: text with a ':' is IPv6, else IPv4. */
static struct sockaddr_storage addr_port(const char *s, uint16_t port)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(s, ':') != NULL) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, s, &a6->sin6_addr) != 1)
            fail_msg("bad address %s", s);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        if (inet_pton(AF_INET, s, &a4->sin_addr) != 1)
            fail_msg("bad address %s", s);
    }
    return ss;
}

static struct sockaddr_storage addr(const char *s)
{
    return addr_port(s, 40000);
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static int acq(zg_lc_table_t *t, const char *a, uint32_t limit)
{
    struct sockaddr_storage ss = addr(a);

    return zg_lc_acquire(t, SA(ss), limit);
}

static void rel(zg_lc_table_t *t, const char *a)
{
    struct sockaddr_storage ss = addr(a);

    zg_lc_release(t, SA(ss));
}

static uint32_t cnt(zg_lc_table_t *t, const char *a)
{
    struct sockaddr_storage ss = addr(a);

    return zg_lc_count(t, SA(ss));
}

/*
 * With no call running: every entry is either on the free stack or in a
 * chain, exactly once, chains hold no zero count; returns how many are in
 * chains (addresses with a connection open).
 */
static uint32_t check_entries(zg_lc_table_t *t)
{
    uint8_t *seen = calloc(t->capacity, 1);
    uint32_t nfree = 0, nused = 0;

    assert_non_null(seen);
    for (uint32_t i = (uint32_t)atomic_load(&t->free_top); i != ZG_LC_NIL;
         i = zg_lc_next(t, i)) {
        assert_true(i < t->capacity);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        nfree++;
    }
    for (uint32_t b = 0; b <= t->mask; b++) {
        assert_int_equal(atomic_load(&t->buckets[b].lock), 0);
        for (uint32_t i = t->buckets[b].head; i != ZG_LC_NIL;
             i = zg_lc_next(t, i)) {
            assert_true(i < t->capacity);
            assert_int_equal(seen[i], 0);
            seen[i] = 1;
            assert_true(t->entries[i].count > 0);
            nused++;
        }
    }
    assert_int_equal(nfree + nused, t->capacity);
    free(seen);
    return nused;
}

static void test_create(void **state)
{
    zg_lc_table_t *t = NULL;

    assert_int_equal(zg_lc_create(0, &t), -EINVAL);
    assert_int_equal(zg_lc_create(ZG_LC_MAX_CAPACITY + 1, &t), -EINVAL);
    assert_null(t);
    assert_int_equal(zg_lc_create(1, &t), 0);
    assert_non_null(t);
    assert_int_equal(check_entries(t), 0);
    zg_lc_destroy(t);
    assert_int_equal(zg_lc_create(1000, &t), 0);
    assert_int_equal(t->mask + 1, 1024);
    assert_int_equal(check_entries(t), 0);
    zg_lc_destroy(t);
    zg_lc_destroy(NULL);
}

static void test_limit(void **state)
{
    zg_lc_table_t *t;

    assert_int_equal(zg_lc_create(16, &t), 0);
    assert_int_equal(acq(t, "192.0.2.1", 3), 1);
    assert_int_equal(acq(t, "192.0.2.1", 3), 1);
    assert_int_equal(acq(t, "192.0.2.1", 3), 1);
    assert_int_equal(acq(t, "192.0.2.1", 3), 0);
    assert_int_equal(acq(t, "192.0.2.1", 3), 0);
    /* Refusals are not counted. */
    assert_int_equal(cnt(t, "192.0.2.1"), 3);
    /* Other addresses are not affected. */
    assert_int_equal(acq(t, "192.0.2.2", 3), 1);
    assert_int_equal(cnt(t, "192.0.2.2"), 1);
    assert_int_equal(cnt(t, "192.0.2.3"), 0);

    rel(t, "192.0.2.1");
    assert_int_equal(cnt(t, "192.0.2.1"), 2);
    assert_int_equal(acq(t, "192.0.2.1", 3), 1);
    assert_int_equal(acq(t, "192.0.2.1", 3), 0);

    /* The limit is the caller's, per call: a lower one refuses, a higher
     * one admits. */
    assert_int_equal(acq(t, "192.0.2.1", 2), 0);
    assert_int_equal(acq(t, "192.0.2.1", 4), 1);
    assert_int_equal(cnt(t, "192.0.2.1"), 4);

    /* Limit 0 refuses everyone and takes no entry. */
    assert_int_equal(acq(t, "192.0.2.9", 0), 0);
    assert_int_equal(acq(t, "192.0.2.1", 0), 0);
    assert_int_equal(cnt(t, "192.0.2.9"), 0);
    assert_int_equal(check_entries(t), 2);

    for (int i = 0; i < 4; i++)
        rel(t, "192.0.2.1");
    rel(t, "192.0.2.2");
    assert_int_equal(cnt(t, "192.0.2.1"), 0);
    assert_int_equal(cnt(t, "192.0.2.2"), 0);
    assert_int_equal(check_entries(t), 0);

    /* A limit as large as the type holds. */
    assert_int_equal(acq(t, "192.0.2.1", UINT32_MAX), 1);
    rel(t, "192.0.2.1");
    zg_lc_destroy(t);
}

static void test_address_identity(void **state)
{
    zg_lc_table_t *t;
    struct sockaddr_storage a, b;

    assert_int_equal(zg_lc_create(16, &t), 0);

    /* The port does not matter. */
    a = addr_port("198.51.100.7", 1);
    b = addr_port("198.51.100.7", 65535);
    assert_int_equal(zg_lc_acquire(t, SA(a), 2), 1);
    assert_int_equal(zg_lc_acquire(t, SA(b), 2), 1);
    assert_int_equal(zg_lc_acquire(t, SA(a), 2), 0);
    zg_lc_release(t, SA(b));
    zg_lc_release(t, SA(a));
    assert_int_equal(check_entries(t), 0);

    /* An IPv4 client is the same client on a dual-stack socket. */
    assert_int_equal(acq(t, "198.51.100.7", 2), 1);
    assert_int_equal(acq(t, "::ffff:198.51.100.7", 2), 1);
    assert_int_equal(acq(t, "::ffff:198.51.100.7", 2), 0);
    assert_int_equal(acq(t, "198.51.100.7", 2), 0);
    assert_int_equal(cnt(t, "198.51.100.7"), 2);
    assert_int_equal(cnt(t, "::ffff:198.51.100.7"), 2);
    assert_int_equal(check_entries(t), 1);
    /* Released in the other spelling. */
    rel(t, "::ffff:198.51.100.7");
    rel(t, "::ffff:198.51.100.7");
    assert_int_equal(cnt(t, "198.51.100.7"), 0);
    assert_int_equal(check_entries(t), 0);

    /* IPv6 addresses are their own, including ones that embed the same
     * IPv4 bytes in other ways. */
    assert_int_equal(acq(t, "198.51.100.7", 1), 1);
    assert_int_equal(acq(t, "::198.51.100.7", 1), 1);     /* IPv4-compatible */
    assert_int_equal(acq(t, "64:ff9b::c633:6407", 1), 1); /* NAT64 */
    assert_int_equal(acq(t, "2001:db8::1", 1), 1);
    assert_int_equal(acq(t, "2001:db8::2", 1), 1);
    assert_int_equal(acq(t, "198.51.100.8", 1), 1);
    assert_int_equal(acq(t, "2001:db8::1", 1), 0);
    assert_int_equal(check_entries(t), 6);
    rel(t, "198.51.100.7");
    assert_int_equal(cnt(t, "::198.51.100.7"), 1);
    assert_int_equal(cnt(t, "2001:db8::1"), 1);
    rel(t, "::198.51.100.7");
    rel(t, "64:ff9b::c633:6407");
    rel(t, "2001:db8::1");
    rel(t, "2001:db8::2");
    rel(t, "198.51.100.8");
    assert_int_equal(check_entries(t), 0);

    /* An IPv6 scope id does not make another client. */
    a = addr("fe80::1");
    b = addr("fe80::1");
    ((struct sockaddr_in6 *)&a)->sin6_scope_id = 1;
    ((struct sockaddr_in6 *)&b)->sin6_scope_id = 2;
    assert_int_equal(zg_lc_acquire(t, SA(a), 1), 1);
    assert_int_equal(zg_lc_acquire(t, SA(b), 1), 0);
    zg_lc_release(t, SA(b));
    assert_int_equal(check_entries(t), 0);
    zg_lc_destroy(t);
}

static void test_other_families(void **state)
{
    zg_lc_table_t *t;
    struct sockaddr_un un;

    assert_int_equal(zg_lc_create(4, &t), 0);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, "/run/zerg.sock");
    assert_int_equal(zg_lc_acquire(t, (struct sockaddr *)&un, 5),
                     -EAFNOSUPPORT);
    assert_int_equal(zg_lc_count(t, (struct sockaddr *)&un), 0);
    zg_lc_release(t, (struct sockaddr *)&un);
    un.sun_family = AF_UNSPEC;
    assert_int_equal(zg_lc_acquire(t, (struct sockaddr *)&un, 5),
                     -EAFNOSUPPORT);
    assert_int_equal(check_entries(t), 0);
    zg_lc_destroy(t);
}

static void test_release_without_acquire(void **state)
{
    zg_lc_table_t *t;

    assert_int_equal(zg_lc_create(4, &t), 0);
    assert_int_equal(acq(t, "203.0.113.1", 5), 1);
    /* A stray release of another address changes nothing ... */
    rel(t, "203.0.113.2");
    rel(t, "2001:db8::1");
    assert_int_equal(cnt(t, "203.0.113.1"), 1);
    assert_int_equal(cnt(t, "203.0.113.2"), 0);
    assert_int_equal(check_entries(t), 1);
    /* ... and one too many of an address stops at zero. */
    rel(t, "203.0.113.1");
    rel(t, "203.0.113.1");
    assert_int_equal(cnt(t, "203.0.113.1"), 0);
    assert_int_equal(check_entries(t), 0);
    assert_int_equal(acq(t, "203.0.113.1", 1), 1);
    assert_int_equal(acq(t, "203.0.113.1", 1), 0);
    rel(t, "203.0.113.1");
    zg_lc_destroy(t);
}

static void test_full(void **state)
{
    zg_lc_table_t *t;

    assert_int_equal(zg_lc_create(4, &t), 0);
    assert_int_equal(acq(t, "10.0.0.1", 10), 1);
    assert_int_equal(acq(t, "10.0.0.2", 10), 1);
    assert_int_equal(acq(t, "2001:db8::3", 10), 1);
    assert_int_equal(acq(t, "10.0.0.4", 10), 1);
    /* Four addresses hold every entry: a fifth is refused, distinctly,
     * and not counted ... */
    assert_int_equal(acq(t, "10.0.0.5", 10), -ENOSPC);
    assert_int_equal(acq(t, "2001:db8::5", 10), -ENOSPC);
    assert_int_equal(cnt(t, "10.0.0.5"), 0);
    /* ... its limit still comes first ... */
    assert_int_equal(acq(t, "10.0.0.5", 0), 0);
    /* ... while the four may still open more. */
    assert_int_equal(acq(t, "10.0.0.1", 10), 1);
    assert_int_equal(acq(t, "::ffff:10.0.0.2", 10), 1);
    assert_int_equal(check_entries(t), 4);

    /* Once an address closes its last connection, its entry serves the
     * fifth. Not before. */
    rel(t, "10.0.0.1");
    assert_int_equal(acq(t, "10.0.0.5", 10), -ENOSPC);
    rel(t, "10.0.0.1");
    assert_int_equal(acq(t, "10.0.0.5", 10), 1);
    assert_int_equal(cnt(t, "10.0.0.5"), 1);
    assert_int_equal(cnt(t, "10.0.0.1"), 0);
    assert_int_equal(acq(t, "10.0.0.1", 10), -ENOSPC);
    assert_int_equal(check_entries(t), 4);

    rel(t, "10.0.0.2");
    rel(t, "10.0.0.2");
    rel(t, "2001:db8::3");
    rel(t, "10.0.0.4");
    rel(t, "10.0.0.5");
    assert_int_equal(check_entries(t), 0);
    zg_lc_destroy(t);
}

/* Distinct address number n, IPv4 or IPv6 by its low bit. */
static struct sockaddr_storage nth(uint32_t n)
{
    char s[64];

    if (n % 2 == 0)
        snprintf(s, sizeof(s), "10.%u.%u.%u", (n >> 16) & 0xff, (n >> 8) & 0xff,
                 n & 0xff);
    else
        snprintf(s, sizeof(s), "2001:db8::%x:%x", n >> 16, n & 0xffff);
    return addr(s);
}

static void test_churn_reuses_entries(void **state)
{
    enum { CAP = 64, ROUNDS = 200 };
    zg_lc_table_t *t;

    /* 12800 addresses pass through 64 entries: each round fills the table
     * with new ones (some with two connections), finds it full, then
     * closes them in an order that differs from the opening one. */
    assert_int_equal(zg_lc_create(CAP, &t), 0);
    for (uint32_t r = 0; r < ROUNDS; r++) {
        struct sockaddr_storage extra = nth(r * CAP + CAP);

        for (uint32_t i = 0; i < CAP; i++) {
            struct sockaddr_storage a = nth(r * CAP + i);

            assert_int_equal(zg_lc_acquire(t, SA(a), 2), 1);
            if (i % 3 == 0)
                assert_int_equal(zg_lc_acquire(t, SA(a), 2), 1);
        }
        assert_int_equal(zg_lc_acquire(t, SA(extra), 2), -ENOSPC);
        for (uint32_t i = 0; i < CAP; i++) {
            struct sockaddr_storage a = nth(r * CAP + i);

            assert_int_equal(zg_lc_count(t, SA(a)), i % 3 == 0 ? 2 : 1);
        }
        if (r % 50 == 0)
            assert_int_equal(check_entries(t), CAP);
        for (uint32_t k = 0; k < CAP; k++) {
            uint32_t i = (k * 37 + r) % CAP; /* 37 is prime to 64 */
            struct sockaddr_storage a = nth(r * CAP + i);

            zg_lc_release(t, SA(a));
            if (i % 3 == 0)
                zg_lc_release(t, SA(a));
            assert_int_equal(zg_lc_count(t, SA(a)), 0);
        }
        assert_int_equal(check_entries(t), 0);
    }
    zg_lc_destroy(t);
}

static void test_collisions_stay_exact(void **state)
{
    enum { N = 32 };
    zg_lc_table_t *t;
    uint32_t open[N];

    /* Every address in one chain: the worst a hash can do. */
    assert_int_equal(zg_lc_create(N, &t), 0);
    t->mask = 0;
    for (uint32_t i = 0; i < N; i++) {
        struct sockaddr_storage a = nth(i);

        open[i] = i % 3 + 1;
        for (uint32_t k = 0; k < open[i]; k++)
            assert_int_equal(zg_lc_acquire(t, SA(a), open[i]), 1);
        assert_int_equal(zg_lc_acquire(t, SA(a), open[i]), 0);
    }
    assert_int_equal(check_entries(t), N);
    /* Close one connection at a time from the head, middle and tail of
     * the chain; every other count stays what it was. */
    for (uint32_t step = 0, left = N; left > 0; step++) {
        uint32_t i = (step * 13) % N;
        struct sockaddr_storage a = nth(i);

        if (open[i] == 0)
            continue;
        zg_lc_release(t, SA(a));
        if (--open[i] == 0)
            left--;
        for (uint32_t j = 0; j < N; j++) {
            struct sockaddr_storage b = nth(j);

            assert_int_equal(zg_lc_count(t, SA(b)), open[j]);
        }
    }
    assert_int_equal(check_entries(t), 0);
    zg_lc_destroy(t);
}

static void test_siphash(void **state)
{
    /* The reference vectors: key 00..0f, messages 00..len-1. */
    uint8_t kb[16], msg[15];
    uint64_t k[2];
    zg_lc_table_t *t1, *t2;

    for (int i = 0; i < 16; i++)
        kb[i] = (uint8_t)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    k[0] = zg_lc_le64(kb);
    k[1] = zg_lc_le64(kb + 8);
    assert_true(zg_lc_siphash(k, msg, 0) == 0x726fdb47dd0e0e31ull);
    assert_true(zg_lc_siphash(k, msg, 15) == 0xa129ca6149be45e5ull);

    /* Each table has its own key. */
    assert_int_equal(zg_lc_create(4, &t1), 0);
    assert_int_equal(zg_lc_create(4, &t2), 0);
    assert_memory_not_equal(t1->seed, t2->seed, sizeof(t1->seed));
    zg_lc_destroy(t1);
    zg_lc_destroy(t2);
}

/* ---- threads ---------------------------------------------------------- */

enum { THREADS = 4, LIMIT = 3, NSHARED = 6 };

/* Shared addresses: IPv4 ones are used in both spellings. */
static const char *const shared_v4[] = {"192.0.2.10", "192.0.2.11",
                                        "192.0.2.12", "192.0.2.13"};
static const char *const shared_mapped[] = {
    "::ffff:192.0.2.10", "::ffff:192.0.2.11", "::ffff:192.0.2.12",
    "::ffff:192.0.2.13"};
static const char *const shared_v6[] = {"2001:db8::10", "2001:db8::11"};

typedef struct {
    zg_lc_table_t *t;
    uint32_t iters;
    unsigned id;
    _Atomic int *holders; /* per shared address: admitted, not released */
    _Atomic unsigned *failures;
    char why[128];
} worker_t;

/* cmocka's asserts must stay on the main thread: workers count failures
 * and keep the first reason. */
#define CHECK(w, cond)                                                         \
    do {                                                                       \
        if (!(cond) && atomic_fetch_add((w)->failures, 1) < THREADS)           \
            snprintf((w)->why, sizeof((w)->why), "line %d: %s", __LINE__,      \
                     #cond);                                                   \
    } while (0)

static void *worker(void *arg)
{
    worker_t *w = arg;
    struct sockaddr_storage sh4[NSHARED], shm[NSHARED];

    for (int i = 0; i < NSHARED; i++) {
        sh4[i] = addr(i < 4 ? shared_v4[i] : shared_v6[i - 4]);
        shm[i] = addr(i < 4 ? shared_mapped[i] : shared_v6[i - 4]);
    }
    for (uint32_t it = 0; it < w->iters; it++) {
        unsigned s = (it + w->id) % NSHARED;
        /* Half the threads see IPv4 clients as mapped, like a dual-stack
         * listener next to an IPv4 one. */
        const struct sockaddr *sa = w->id % 2 ? SA(shm[s]) : SA(sh4[s]);
        struct sockaddr_storage own = nth(1000000u * (w->id + 1) + it % 4096);
        int held = 0, refused = 0, rc;

        /* More tries than the limit: this thread alone holds at most
         * LIMIT, so at least one is refused whatever the others do. */
        for (int k = 0; k < LIMIT + 1; k++) {
            rc = zg_lc_acquire(w->t, sa, LIMIT);
            CHECK(w, rc == 0 || rc == 1);
            if (rc == 1) {
                int now = atomic_fetch_add(&w->holders[s], 1) + 1;
                uint32_t c = zg_lc_count(w->t, sa);

                CHECK(w, now <= LIMIT);
                CHECK(w, c >= 1 && c <= LIMIT);
                held++;
            } else {
                refused++;
            }
        }
        CHECK(w, held <= LIMIT && refused >= 1);

        /* An address only this thread uses: a fresh entry each time,
         * taken from and given back to the shared free stack. */
        rc = zg_lc_acquire(w->t, SA(own), 1);
        CHECK(w, rc == 1);
        CHECK(w, zg_lc_acquire(w->t, SA(own), 1) == 0);
        CHECK(w, zg_lc_count(w->t, SA(own)) == 1);
        if (rc == 1)
            zg_lc_release(w->t, SA(own));
        CHECK(w, zg_lc_count(w->t, SA(own)) == 0);

        while (held-- > 0) {
            atomic_fetch_sub(&w->holders[s], 1);
            zg_lc_release(w->t, sa);
        }
    }
    return NULL;
}

static void run_threads(int one_chain, uint32_t iters)
{
    /* Live entries at most: NSHARED shared + one own per thread. */
    enum { CAP = NSHARED + THREADS };
    zg_lc_table_t *t;
    pthread_t tid[THREADS];
    worker_t w[THREADS];
    _Atomic int holders[NSHARED];
    _Atomic unsigned failures = 0;

    assert_int_equal(zg_lc_create(CAP, &t), 0);
    if (one_chain)
        t->mask = 0;
    for (int i = 0; i < NSHARED; i++)
        atomic_init(&holders[i], 0);
    for (unsigned i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].t = t;
        w[i].iters = iters;
        w[i].id = i;
        w[i].holders = holders;
        w[i].failures = &failures;
        assert_int_equal(pthread_create(&tid[i], NULL, worker, &w[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    for (unsigned i = 0; i < THREADS; i++)
        if (w[i].why[0] != '\0')
            print_error("thread %u: %s\n", i, w[i].why);
    assert_int_equal(atomic_load(&failures), 0);

    for (int i = 0; i < NSHARED; i++) {
        struct sockaddr_storage a =
            addr(i < 4 ? shared_v4[i] : shared_v6[i - 4]);

        assert_int_equal(atomic_load(&holders[i]), 0);
        assert_int_equal(zg_lc_count(t, SA(a)), 0);
    }
    assert_int_equal(check_entries(t), 0);
    zg_lc_destroy(t);
}

static void test_threads(void **state)
{
    run_threads(0, 100000);
}

static void test_threads_one_chain(void **state)
{
    run_threads(1, 25000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_address_identity),
        cmocka_unit_test(test_other_families),
        cmocka_unit_test(test_release_without_acquire),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_churn_reuses_entries),
        cmocka_unit_test(test_collisions_stay_exact),
        cmocka_unit_test(test_siphash),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_threads_one_chain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
