/* SPDX-License-Identifier: MIT */
/*
 * Description: integration-test fixture for api->post (ABI 1.3),
 * tests/integration/test_post.py: a post storm. Threads started at init
 * post without pause, small malloc'd args, to connections picked at random
 * among every one ever accepted, open or long closed, while clients open
 * and close connections. Each posted function checks what the host
 * promises and counts; "bad" counts broken promises:
 *   - it runs exactly once per post that returned 0 (counted; a second
 *     run would touch a freed arg, which ASan reports);
 *   - with c != NULL only while the connection is open (its on_close has
 *     not run), on the reactor that owns it, with conn_id(c) the id
 *     posted to and conn_data the fixture's; with c == NULL and conn_data
 *     == NULL only once it has closed;
 *   - a post from the connection's own reactor never runs before post()
 *     returns.
 * The open/closed state of a connection is written by on_accept and
 * on_close and read by the posted function, all on its reactor thread;
 * nothing else synchronizes a poster with the function it posted, so a
 * host that hands over args without a happens-before edge shows up in
 * TSan.
 *
 * Lines a client may send ("\n"; each also posts to its own connection
 * from the reactor, to check the "never before post returns" rule):
 *   STATS  -> "posted=N ran=M bad=K open=A gone=B self=S r0=X r1=Y\n"
 *             (counters so far; posted and ran differ while posts are in
 *             flight; rI = connections accepted by reactor I)
 *   CLOSE  -> close(c, ZG_CLOSE_FLUSH) from on_data
 *   LATER  -> post to its own id a function that closes c
 *   other  -> nothing
 * At fini, after the posters are joined, one line with the final counts:
 *   "fx_post: final posted=N ran=M bad=K open=A gone=B self=S
 *    shutdown=D enomem=E"  (one line; api->log adds its own prefix)
 * Config (all optional): "posters" (1..64, default 8), "pause_us"
 * (0..100000, default 200: each poster sleeps this long after a burst),
 * "burst" (1..10000, default 4 posts), "inflight" (posts made and not yet
 * run above which posters wait, default 4096).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zerg/plugin.h>

#define FX_SLOTS      65536 /* connections recorded; later ones are not */
#define FX_MAX_POST   64
#define FX_MAGIC      0x706f7374u /* "post" */
#define FX_LINE_MAX   64
#define FX_REACTORS   64
#define FX_STATE_OPEN 1
#define FX_STATE_GONE 2

typedef struct fx_post_conf_s {
    int64_t posters;
    int64_t pause_us;
    int64_t burst;
    int64_t inflight;
} fx_post_conf_t;

/* One accepted connection. on_accept sets pub last (release): posters
 * pick only published slots, and id never changes after; state and reactor are
 * only touched on the connection's reactor thread (atomics anyway, so that a
 * host running fn on the wrong thread is caught by the reactor check, not by
 * undefined behaviour here). */
typedef struct fx_slot_s {
    uint64_t id;
    int pub;
    int state;
    int reactor;
} fx_slot_t;

typedef struct fx_conn_s {
    uint64_t id;
    uint32_t idx; /* its slot, or FX_SLOTS if the table was full */
} fx_conn_t;

/* What a post carries. */
typedef struct fx_arg_s {
    uint32_t magic; /* FX_MAGIC until the function ran */
    uint32_t idx;   /* slot of the connection posted to */
    uint64_t id;    /* conn_id posted to */
    int self;       /* posted from the connection's own reactor */
    int close;      /* LATER: close c */
} fx_arg_t;

static const zg_api_t *api;
static const fx_post_conf_t *fx_conf;
static fx_slot_t fx_slots[FX_SLOTS];
static uint32_t fx_nslots;

/* Counters (atomic builtins). */
static uint64_t fx_posted, fx_ran, fx_bad, fx_ran_open, fx_ran_gone;
static uint64_t fx_self, fx_shutdown, fx_enomem;
static uint64_t fx_accepts[FX_REACTORS];
static int64_t fx_inflight;

static int fx_stop;
static int fx_nposters;
static pthread_t fx_posters[FX_MAX_POST];
static __thread int fx_in_post; /* a reactor is inside its own post() */

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

static void fx_add(uint64_t *p, uint64_t n)
{
    __atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

static uint64_t fx_get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void fx_fail(const char *what, uint64_t id)
{
    /* Rare by design (a broken promise): log the first few. */
    if (fx_get(&fx_bad) < 5)
        api->log(ZG_LOG_ERROR, "fx_post: bad: %s (conn %llu)", what,
                 (unsigned long long)id);
    fx_add(&fx_bad, 1);
}

/* Runs on the owning reactor, once per successful post. */
static void fx_run(zg_conn_t *c, void *conn_data, void *arg)
{
    fx_arg_t *a = arg;
    fx_conn_t *fc = conn_data;
    fx_slot_t *s;

    if (a->magic != FX_MAGIC) {
        fx_fail("arg seen twice or corrupt", 0);
        return;
    }
    s = &fx_slots[a->idx];
    if (a->self && fx_in_post)
        fx_fail("ran inside post()", a->id);
    if (c != NULL) {
        fx_add(&fx_ran_open, 1);
        if (fc == NULL || fc->id != a->id)
            fx_fail("conn_data is not the connection's", a->id);
        if (api->conn_id(c) != a->id)
            fx_fail("conn_id(c) is not the id posted to", a->id);
        if (a->idx < FX_SLOTS &&
            __atomic_load_n(&s->state, __ATOMIC_RELAXED) != FX_STATE_OPEN)
            fx_fail("c != NULL after on_close", a->id);
        if (a->idx < FX_SLOTS &&
            api->reactor_id() != __atomic_load_n(&s->reactor, __ATOMIC_RELAXED))
            fx_fail("ran on another reactor", a->id);
        if (a->close)
            api->close(c, ZG_CLOSE_FLUSH);
    } else {
        fx_add(&fx_ran_gone, 1);
        if (conn_data != NULL)
            fx_fail("c == NULL with conn_data", a->id);
        if (a->idx < FX_SLOTS &&
            __atomic_load_n(&s->state, __ATOMIC_RELAXED) == FX_STATE_OPEN)
            fx_fail("c == NULL while open", a->id);
        if (a->idx < FX_SLOTS &&
            api->reactor_id() != __atomic_load_n(&s->reactor, __ATOMIC_RELAXED))
            fx_fail("ran on another reactor", a->id);
    }
    a->magic = 0;
    free(a);
    __atomic_fetch_sub(&fx_inflight, 1, __ATOMIC_RELAXED);
    fx_add(&fx_ran, 1);
}

/* Post a to a->id; counts. 0 or post's -errno (a is then freed). */
static int fx_post_one(fx_arg_t *a)
{
    int ret;

    __atomic_fetch_add(&fx_inflight, 1, __ATOMIC_RELAXED);
    ret = api->post(a->id, fx_run, a);
    if (ret == 0) {
        fx_add(&fx_posted, 1);
        return 0;
    }
    __atomic_fetch_sub(&fx_inflight, 1, __ATOMIC_RELAXED);
    if (ret == -ESHUTDOWN)
        fx_add(&fx_shutdown, 1);
    else if (ret == -ENOMEM)
        fx_add(&fx_enomem, 1);
    else
        fx_fail("post() failed for an id that exists", a->id);
    free(a);
    return ret;
}

static uint64_t fx_rand(uint64_t *s)
{
    /* xorshift64 */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fx_nap(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000,
                          .tv_nsec = (us % 1000000) * 1000};

    nanosleep(&ts, NULL);
}

static void *fx_poster(void *arg)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);

    while (!__atomic_load_n(&fx_stop, __ATOMIC_RELAXED)) {
        uint32_t n = __atomic_load_n(&fx_nslots, __ATOMIC_ACQUIRE);
        int shut = 0;

        if (n > FX_SLOTS)
            n = FX_SLOTS;
        if (n == 0 || __atomic_load_n(&fx_inflight, __ATOMIC_RELAXED) >
                          fx_conf->inflight) {
            fx_nap(100);
            continue;
        }
        for (int64_t i = 0; i < fx_conf->burst && !shut; i++) {
            uint32_t idx = (uint32_t)(fx_rand(&seed) % n);
            fx_arg_t *a;

            if (!__atomic_load_n(&fx_slots[idx].pub, __ATOMIC_ACQUIRE))
                continue; /* on_accept has not finished with it yet */
            a = calloc(1, sizeof(*a));
            if (a == NULL)
                break;
            a->magic = FX_MAGIC;
            a->idx = idx;
            a->id = fx_slots[idx].id;
            /* After the reactors stopped every post fails: do not spin. */
            shut = fx_post_one(a) == -ESHUTDOWN;
        }
        if (shut)
            fx_nap(1000);
        else if (fx_conf->pause_us > 0)
            fx_nap(fx_conf->pause_us);
    }
    return NULL;
}

static void fx_join(void)
{
    __atomic_store_n(&fx_stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < fx_nposters; i++)
        pthread_join(fx_posters[i], NULL);
    fx_nposters = 0;
}

static int fx_init(const zg_api_t *host, const void *conf, void **plugin_data,
                   char *errbuf, size_t errlen)
{
    sigset_t all, old;
    int ret = 0;

    if (!ZG_API_HAS(host, post)) {
        snprintf(errbuf, errlen, "fx_post needs a host with post()");
        return -1;
    }
    if (api != NULL) {
        snprintf(errbuf, errlen, "fx_post serves one listener");
        return -1;
    }
    /* Set once: a reload runs init again while reactors read it. */
    if (api != host)
        api = host;
    fx_conf = conf;
    /* zerg takes its signals through a signalfd: posters block them all. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (fx_nposters < fx_conf->posters) {
        ret = pthread_create(&fx_posters[fx_nposters], NULL, fx_poster,
                             (void *)(uintptr_t)fx_nposters);
        if (ret != 0)
            break;
        fx_nposters++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ret != 0) {
        fx_join();
        snprintf(errbuf, errlen, "pthread_create: %s", strerror(ret));
        return -1;
    }
    *plugin_data = NULL;
    return 0;
}

static void fx_fini(void *plugin_data)
{
    (void)plugin_data;
    fx_join();
    api->log(ZG_LOG_NOTICE,
             "fx_post: final posted=%llu ran=%llu bad=%llu open=%llu "
             "gone=%llu self=%llu shutdown=%llu enomem=%llu",
             (unsigned long long)fx_get(&fx_posted),
             (unsigned long long)fx_get(&fx_ran),
             (unsigned long long)fx_get(&fx_bad),
             (unsigned long long)fx_get(&fx_ran_open),
             (unsigned long long)fx_get(&fx_ran_gone),
             (unsigned long long)fx_get(&fx_self),
             (unsigned long long)fx_get(&fx_shutdown),
             (unsigned long long)fx_get(&fx_enomem));
}

static int fx_on_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    fx_conn_t *fc = calloc(1, sizeof(*fc));
    int r = api->reactor_id();

    (void)reactor_data;
    if (fc == NULL)
        return -1;
    fc->id = api->conn_id(c);
    fc->idx = __atomic_fetch_add(&fx_nslots, 1, __ATOMIC_RELAXED);
    if (r >= 0 && r < FX_REACTORS)
        fx_add(&fx_accepts[r], 1);
    if (fc->idx < FX_SLOTS) {
        fx_slot_t *s = &fx_slots[fc->idx];

        s->id = fc->id;
        __atomic_store_n(&s->reactor, r, __ATOMIC_RELAXED);
        __atomic_store_n(&s->state, FX_STATE_OPEN, __ATOMIC_RELAXED);
        /* Posters may pick it from now on. */
        __atomic_store_n(&s->pub, 1, __ATOMIC_RELEASE);
    } else {
        fc->idx = FX_SLOTS;
    }
    *conn_data = fc;
    return 0;
}

static void fx_on_close(zg_conn_t *c, void *conn_data, zg_close_reason_t reason)
{
    fx_conn_t *fc = conn_data;

    (void)c;
    (void)reason;
    if (fc->idx < FX_SLOTS)
        __atomic_store_n(&fx_slots[fc->idx].state, FX_STATE_GONE,
                         __ATOMIC_RELAXED);
    free(fc);
}

static int fx_stats(zg_conn_t *c)
{
    char line[512];
    int n;

    n = snprintf(line, sizeof(line),
                 "posted=%llu ran=%llu bad=%llu open=%llu gone=%llu self=%llu "
                 "r0=%llu r1=%llu\n",
                 (unsigned long long)fx_get(&fx_posted),
                 (unsigned long long)fx_get(&fx_ran),
                 (unsigned long long)fx_get(&fx_bad),
                 (unsigned long long)fx_get(&fx_ran_open),
                 (unsigned long long)fx_get(&fx_ran_gone),
                 (unsigned long long)fx_get(&fx_self),
                 (unsigned long long)fx_get(&fx_accepts[0]),
                 (unsigned long long)fx_get(&fx_accepts[1]));
    return api->send(c, line, (size_t)n);
}

/* Post to c's own id from its reactor; fn must not run inside post(). */
static int fx_post_self(const fx_conn_t *fc, int close)
{
    fx_arg_t *a = calloc(1, sizeof(*a));
    int ret;

    if (a == NULL)
        return -ENOMEM;
    a->magic = FX_MAGIC;
    a->idx = fc->idx;
    a->id = fc->id;
    a->self = 1;
    a->close = close;
    fx_in_post = 1;
    ret = fx_post_one(a);
    fx_in_post = 0;
    if (ret == 0)
        fx_add(&fx_self, 1);
    return ret;
}

static long fx_on_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    fx_conn_t *fc = conn_data;
    size_t off = 0;
    long nl;

    while ((nl = zg_input_find_byte(in, off, '\n')) >= 0) {
        char line[FX_LINE_MAX];
        size_t len = (size_t)nl - off;

        if (len >= sizeof(line))
            len = sizeof(line) - 1;
        zg_input_copy(in, off, line, len);
        line[len] = '\0';
        off = (size_t)nl + 1;
        if (strcmp(line, "LATER") == 0) {
            if (fx_post_self(fc, 1) < 0)
                return -1;
            continue;
        }
        if (fx_post_self(fc, 0) < 0)
            return -1;
        if (strcmp(line, "STATS") == 0 && fx_stats(c) < 0)
            return -1;
        if (strcmp(line, "CLOSE") == 0) {
            api->close(c, ZG_CLOSE_FLUSH);
            return (long)in->total;
        }
    }
    /* A line longer than the input can hold is a client bug: close. */
    return in->total - off > 4096 ? -1 : (long)off;
}

static const zg_key_t fx_keys[] = {
    {.name = "posters",
     .type = ZG_KEY_INT,
     .offset = offsetof(fx_post_conf_t, posters),
     .min = 1,
     .max = FX_MAX_POST,
     .def = "8",
     .doc = "threads posting"},
    {.name = "pause_us",
     .type = ZG_KEY_INT,
     .offset = offsetof(fx_post_conf_t, pause_us),
     .min = 0,
     .max = 100000,
     .def = "200",
     .doc = "a poster's sleep after each burst"},
    {.name = "burst",
     .type = ZG_KEY_INT,
     .offset = offsetof(fx_post_conf_t, burst),
     .min = 1,
     .max = 10000,
     .def = "4",
     .doc = "posts between sleeps"},
    {.name = "inflight",
     .type = ZG_KEY_INT,
     .offset = offsetof(fx_post_conf_t, inflight),
     .min = 1,
     .max = 1 << 24,
     .def = "4096",
     .doc = "posts not yet run above which posters wait"},
    {.name = NULL},
};

static const zg_plugin_t fx_desc = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 3,
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "fx_post",
    .version = "1.0.0",
    .fini = fx_fini,
    .on_accept = fx_on_accept,
    .on_data = fx_on_data,
    .on_close = fx_on_close,
    .conf_keys = fx_keys,
    .conf_size = sizeof(fx_post_conf_t),
    .init_conf = fx_init,
};

const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_desc;
}
