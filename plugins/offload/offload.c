/* SPDX-License-Identifier: MIT */
/*
 * Description: the offload plugin, the example to copy when a request needs
 * work that must not run on a reactor thread (a blocking call, a long
 * computation): the reactor hands each request to a thread pool, and the
 * worker comes back to the connection's reactor through api->post().
 *
 * Protocol, one request per line ("\n"; a "\r" before it is ignored):
 *   sleep MS       "slept MS\n" after MS milliseconds (0..10000)
 *   sum A B ...    the sum of the 64-bit integers, then "\n"
 *   anything else  "error <why>\n"
 * Answers come in request order, whichever job finishes first. A line
 * longer than max_line is answered "error line too long\n" and ends the
 * connection.
 *
 * The pattern, for one request:
 *
 *   reactor thread (owns c)               worker thread (the pool's)
 *   on_data: a line -> job {conn id, seq}
 *            queue the job  ----------->  run it (may block)
 *   done(c, conn_data, job)  <----------  api->post(conn id, done, job)
 *     send the answers that are next in
 *     order, resume reading if paused
 *
 * Rules a copy must keep:
 *   - A worker never touches a zg_conn_t or conn_data: it knows the
 *     connection only by the number conn_id() returned. Everything it
 *     needs travels in the job, and the job travels back through post().
 *   - Every job is freed exactly once, by whoever holds it: the pool's
 *     queue (fini frees what was never run), the worker (when post fails:
 *     the reactor has left its loop and done() will never run), done()
 *     with c == NULL (the connection closed in the meantime), the
 *     connection (answers waiting for an earlier one, freed by on_close).
 *   - Input is bounded: at max_pending jobs in flight a connection stops
 *     reading (pause_read) until answers go out, so a client that sends
 *     faster than the pool works is held back by TCP flow control.
 *   - Worker threads block every signal (zerg takes its signals through a
 *     signalfd on the main thread) and are joined in fini, which runs after
 *     every reactor stopped: post() is then never called again.
 * Worth knowing: the listener's idle_timeout_ms runs while jobs do (no
 * byte moves), so keep it above the longest job; and a closed
 * connection's jobs still run, their answers dropped (costly jobs can
 * carry a "cancelled" flag that on_close sets and the worker reads).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zerg/plugin.h>

#define OFFLOAD_MAX_THREADS  64
#define OFFLOAD_MAX_SLEEP_MS 10000

/* The listener's "config" object, filled by the host from offload_keys. */
typedef struct zg_offload_conf_s {
    int64_t threads;     /* worker threads of the pool */
    int64_t max_pending; /* jobs of one connection in flight, at most */
    uint64_t max_line;   /* bytes of a request line, "\n" excluded */
} zg_offload_conf_t;

/* One request. Owned by exactly one party at a time (see the rules above);
 * the worker writes out/outlen, the reactor reads them after post(). */
typedef struct zg_offload_job_s {
    struct zg_offload_job_s *next; /* in the pool's queue */
    uint64_t conn_id;              /* whom to answer: conn_id(c) */
    uint64_t seq;                  /* its place in the connection's order */
    size_t outlen;                 /* bytes of out, set by the worker */
    char out[64];                  /* the answer line */
    char line[];                   /* the request, NUL-terminated */
} zg_offload_job_t;

/*
 * The thread pool of one listener (its plugin_data). lock guards the queue
 * and stop; workers wait on work for a job, and sleeping jobs wait on
 * stopped so that fini does not wait for them.
 */
typedef struct zg_offload_pool_s {
    const zg_offload_conf_t *conf; /* the host's, valid until fini returns */
    pthread_mutex_t lock;
    pthread_cond_t work;     /* a job was queued, or stop */
    pthread_cond_t stopped;  /* stop (CLOCK_MONOTONIC, for sleeps) */
    zg_offload_job_t *head;  /* queued jobs, oldest first */
    zg_offload_job_t **tail; /* where the next job is linked */
    int stop;                /* fini began: workers return */
    int nthreads;            /* started */
    pthread_t threads[OFFLOAD_MAX_THREADS];
} zg_offload_pool_t;

/*
 * One connection (its conn_data), touched only on its reactor thread.
 * Jobs get seq next_seq, next_seq + 1, ...; answers leave in seq order from
 * next_out on. A finished job whose turn has not come waits in
 * done[seq % max_pending]: at most max_pending jobs are in flight, so two
 * of them never share a slot.
 */
typedef struct zg_offload_conn_s {
    zg_offload_pool_t *pool;
    uint64_t id;              /* conn_id(c) */
    uint64_t next_seq;        /* given to the next job */
    uint64_t next_out;        /* seq of the next answer to send */
    unsigned pending;         /* jobs queued, running or waiting in done */
    unsigned cap;             /* max_pending */
    size_t scanned;           /* held bytes already searched for "\n" */
    int paused;               /* reading paused: pending reached cap */
    int eof;                  /* the peer sent FIN */
    int closing;              /* no new jobs; close once pending is 0 */
    zg_close_how_t how;       /* ... this way */
    zg_offload_job_t *done[]; /* cap slots */
} zg_offload_conn_t;

/* The host's function table, saved at init_conf (it lives as long as the
 * process; workers read it too). */
static const zg_api_t *api;

/* ---- the work: runs on a worker thread, knows nothing of connections -- */

/* Wait ms milliseconds, or less if the pool stops: a job that blocks
 * should be cancellable, or fini would wait for it. 0, or -ECANCELED. */
static int offload_sleep(zg_offload_pool_t *pool, unsigned ms)
{
    struct timespec until;
    int ret = 0;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&pool->lock);
    while (!pool->stop && ret != ETIMEDOUT)
        ret = pthread_cond_timedwait(&pool->stopped, &pool->lock, &until);
    ret = pool->stop ? -ECANCELED : 0;
    pthread_mutex_unlock(&pool->lock);
    return ret;
}

/* The next space-separated word of *p (NUL-terminated), or NULL. */
static char *offload_word(char **p)
{
    char *w = *p;

    while (*w == ' ')
        w++;
    if (*w == '\0')
        return NULL;
    *p = w + strcspn(w, " ");
    if (**p != '\0')
        *(*p)++ = '\0';
    return w;
}

/* A whole word as a signed 64-bit integer: 0, or -EINVAL / -ERANGE. */
static int offload_int(const char *w, long long *v)
{
    char *end;

    errno = 0;
    *v = strtoll(w, &end, 10);
    if (end == w || *end != '\0')
        return -EINVAL;
    return errno == ERANGE ? -ERANGE : 0;
}

/* Run job: parse its line, do the work, write the answer into job->out. */
static void offload_run(zg_offload_pool_t *pool, zg_offload_job_t *job)
{
    char *p = job->line, *cmd = offload_word(&p), *w;
    const char *err = "error unknown command";
    long long v, sum = 0;
    int n;

    if (cmd != NULL && strcmp(cmd, "sleep") == 0) {
        w = offload_word(&p);
        if (w == NULL || offload_word(&p) != NULL || offload_int(w, &v) < 0 ||
            v < 0 || v > OFFLOAD_MAX_SLEEP_MS) {
            err = "error usage: sleep MS (0..10000)";
        } else if (offload_sleep(pool, (unsigned)v) < 0) {
            err = "error stopping";
        } else {
            n = snprintf(job->out, sizeof(job->out), "slept %lld\n", v);
            job->outlen = (size_t)n;
            return;
        }
    } else if (cmd != NULL && strcmp(cmd, "sum") == 0) {
        err = NULL;
        for (n = 0; err == NULL && (w = offload_word(&p)) != NULL; n++) {
            if (offload_int(w, &v) < 0)
                err = "error usage: sum A B ... (64-bit integers)";
            else if (__builtin_add_overflow(sum, v, &sum))
                err = "error overflow";
        }
        if (err == NULL && n == 0)
            err = "error usage: sum A B ... (64-bit integers)";
        if (err == NULL) {
            n = snprintf(job->out, sizeof(job->out), "%lld\n", sum);
            job->outlen = (size_t)n;
            return;
        }
    }
    n = snprintf(job->out, sizeof(job->out), "%s\n", err);
    job->outlen = (size_t)n;
}

/* ---- back on the reactor -------------------------------------------- */

/* Send every answer whose turn has come, then resume reading or close as
 * the connection's state asks. Reactor thread. */
static void offload_flush(zg_conn_t *c, zg_offload_conn_t *oc)
{
    zg_offload_job_t *job;

    while ((job = oc->done[oc->next_out % oc->cap]) != NULL) {
        oc->done[oc->next_out % oc->cap] = NULL;
        oc->next_out++;
        oc->pending--;
        /* -EPIPE (the connection is closing) or -ENOMEM: the answer is
         * lost with the connection, nothing else to do. */
        if (api->send(c, job->out, job->outlen) < 0)
            oc->closing = 1;
        free(job);
    }
    if (oc->closing) {
        if (oc->pending == 0)
            api->close(c, oc->how);
    } else if (oc->paused && oc->pending < oc->cap) {
        /* Held input is presented again at the next loop iteration. */
        oc->paused = 0;
        api->pause_read(c, 0);
    }
}

/*
 * The function posted by a worker; runs on the reactor that owns the
 * connection, between its callbacks. c == NULL: the connection closed while
 * the job ran, so nobody waits for the answer; conn_data was freed by
 * on_close and is NULL here too.
 */
static void offload_done(zg_conn_t *c, void *conn_data, void *arg)
{
    zg_offload_job_t *job = arg;
    zg_offload_conn_t *oc = conn_data;

    if (c == NULL) {
        free(job);
        return;
    }
    oc->done[job->seq % oc->cap] = job;
    offload_flush(c, oc);
}

/* ---- the pool --------------------------------------------------------- */

/* Give a finished job back to its connection's reactor. Worker thread. */
static void offload_answer(zg_offload_pool_t *pool, zg_offload_job_t *job)
{
    for (;;) {
        int ret = api->post(job->conn_id, offload_done, job);

        if (ret == 0)
            return; /* offload_done owns the job now */
        /* -ESHUTDOWN: the reactor has left its loop and offload_done will
         * never run; the job is still ours. -ENOMEM: try again shortly,
         * or the connection would wait for this answer forever. */
        if (ret != -ENOMEM || __atomic_load_n(&pool->stop, __ATOMIC_RELAXED))
            break;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    free(job);
}

static void *offload_worker(void *arg)
{
    zg_offload_pool_t *pool = arg;
    zg_offload_job_t *job;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->stop && pool->head == NULL)
            pthread_cond_wait(&pool->work, &pool->lock);
        if (pool->stop)
            break;
        job = pool->head;
        pool->head = job->next;
        if (pool->head == NULL)
            pool->tail = &pool->head;
        /* No lock held while the job runs or while posting. */
        pthread_mutex_unlock(&pool->lock);
        offload_run(pool, job);
        offload_answer(pool, job);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Queue job for a worker. Reactor thread: the lock is held for a few
 * instructions, never while a job runs. */
static void offload_queue(zg_offload_pool_t *pool, zg_offload_job_t *job)
{
    job->next = NULL;
    pthread_mutex_lock(&pool->lock);
    *pool->tail = job;
    pool->tail = &job->next;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->lock);
}

/* Stop and join the workers, free the jobs never run. Main thread. */
static void offload_pool_free(zg_offload_pool_t *pool)
{
    zg_offload_job_t *job;

    pthread_mutex_lock(&pool->lock);
    __atomic_store_n(&pool->stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&pool->work);
    pthread_cond_broadcast(&pool->stopped);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    /* Every reactor has stopped: these jobs' connections are gone. */
    while ((job = pool->head) != NULL) {
        pool->head = job->next;
        free(job);
    }
    pthread_cond_destroy(&pool->stopped);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/* ---- plugin callbacks ------------------------------------------------- */

static int offload_init_conf(const zg_api_t *host, const void *conf,
                             void **plugin_data, char *errbuf, size_t errlen)
{
    const zg_offload_conf_t *cf = conf;
    zg_offload_pool_t *pool;
    pthread_condattr_t ca;
    sigset_t all, old;
    int ret;

    if (!ZG_API_HAS(host, post)) {
        snprintf(errbuf, errlen, "offload needs a host with post() (ABI 1.3)");
        return -1;
    }
    /* Set once: a reload runs init again while reactors read it. */
    if (api != host)
        api = host;
    pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    pool->conf = cf;
    pool->tail = &pool->head;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->stopped, &ca);
    pthread_condattr_destroy(&ca);

    /* Threads inherit the creator's signal mask. zerg reads SIGTERM,
     * SIGQUIT, ... from a signalfd, which only works if no thread can
     * take them: a worker that could would let SIGTERM kill the process. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (ret = 0; pool->nthreads < cf->threads; pool->nthreads++) {
        ret = pthread_create(&pool->threads[pool->nthreads], NULL,
                             offload_worker, pool);
        if (ret != 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ret != 0) {
        snprintf(errbuf, errlen, "cannot start worker thread %d of %lld (%s)",
                 pool->nthreads + 1, (long long)cf->threads, strerror(ret));
        offload_pool_free(pool);
        return -1;
    }
    *plugin_data = pool;
    return 0;
}

static void offload_fini(void *plugin_data)
{
    offload_pool_free(plugin_data);
}

static int offload_reactor_init(void *plugin_data, int reactor_id,
                                void **reactor_data)
{
    (void)reactor_id;
    *reactor_data = plugin_data; /* the pool is shared by the reactors */
    return 0;
}

static int offload_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    zg_offload_pool_t *pool = reactor_data;
    unsigned cap = (unsigned)pool->conf->max_pending;
    zg_offload_conn_t *oc;

    oc = calloc(1, sizeof(*oc) + cap * sizeof(oc->done[0]));
    if (oc == NULL)
        return -1;
    oc->pool = pool;
    oc->id = api->conn_id(c);
    oc->cap = cap;
    oc->how = ZG_CLOSE_FLUSH;
    /* Keep the connection open after the peer's FIN until the answers to
     * what it sent are out (a client that shuts down its write side after
     * its last request). Hosts without half_open close at the FIN. */
    if (ZG_API_HAS(api, half_open))
        api->half_open(c, 1);
    *conn_data = oc;
    return 0;
}

/* Stop taking requests and close once the last answer is out (at once if
 * none is pending). Reactor thread. */
static void offload_finish(zg_conn_t *c, zg_offload_conn_t *oc,
                           zg_close_how_t how)
{
    if (!oc->closing) {
        oc->closing = 1;
        oc->how = how;
    }
    if (!oc->paused) {
        oc->paused = 1;
        api->pause_read(c, 1);
    }
    if (oc->pending == 0)
        api->close(c, oc->how);
}

static long offload_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    zg_offload_conn_t *oc = conn_data;
    size_t max_line = (size_t)oc->pool->conf->max_line;
    size_t off = 0, from = oc->scanned;

    if (in->flags & ZG_IN_EOF)
        oc->eof = 1;
    if (oc->closing)
        return (long)in->total; /* no more requests: drop the bytes */
    oc->scanned = 0;
    while (oc->pending < oc->cap) {
        long nl = zg_input_find_byte(in, from > off ? from : off, '\n');
        zg_offload_job_t *job;
        size_t len;

        if (nl < 0) {
            /* Search only the new bytes next time: linear, not quadratic,
             * in a line that arrives a few bytes at a time. */
            oc->scanned = in->total - off;
            if (in->total - off <= max_line)
                break;
            len = max_line + 1;
        } else {
            len = (size_t)nl - off;
        }
        if (len > max_line) {
            /* Answered in its turn, after the requests before it. The peer
             * may still be sending the line: a lingering close lets it
             * read the answer instead of getting a reset. */
            job = calloc(1, sizeof(*job) + 1);
            if (job == NULL)
                return -1;
            job->seq = oc->next_seq++;
            job->outlen = (size_t)snprintf(job->out, sizeof(job->out),
                                           "error line too long\n");
            oc->pending++;
            oc->done[job->seq % oc->cap] = job;
            offload_finish(c, oc, ZG_CLOSE_LINGER);
            offload_flush(c, oc);
            return (long)in->total;
        }
        job = malloc(sizeof(*job) + len + 1);
        if (job == NULL)
            return -1; /* out of memory: close this connection only */
        zg_input_copy(in, off, job->line, len);
        if (len > 0 && job->line[len - 1] == '\r')
            len--;
        job->line[len] = '\0';
        if (memchr(job->line, '\0', len) != NULL)
            job->line[0] = '\0'; /* a NUL byte: "unknown command" */
        job->conn_id = oc->id;
        job->seq = oc->next_seq++;
        job->outlen = 0;
        oc->pending++;
        offload_queue(oc->pool, job);
        off = (size_t)nl + 1;
    }
    if (oc->pending == oc->cap && !oc->paused) {
        /* Enough in flight: stop reading until answers go out. The rest
         * of the input stays held and comes back after pause_read(c, 0). */
        oc->paused = 1;
        api->pause_read(c, 1);
    }
    /* After the FIN nothing more comes: once every complete line has a job
     * (a last line without "\n" is ignored), answer the pending ones and
     * close. Lines still held at the cap wait for offload_flush to resume
     * reading, which presents them again. */
    if (oc->eof && zg_input_find_byte(in, off, '\n') < 0) {
        offload_finish(c, oc, ZG_CLOSE_FLUSH);
        return (long)in->total;
    }
    return (long)off;
}

/* A graceful stop: answer what is pending, then close. Without on_drain the
 * host would close the connection as soon as it held no input and no
 * output, dropping the answers still being worked on. */
static void offload_drain(zg_conn_t *c, void *conn_data)
{
    offload_finish(c, conn_data, ZG_CLOSE_FLUSH);
}

static void offload_close(zg_conn_t *c, void *conn_data,
                          zg_close_reason_t reason)
{
    zg_offload_conn_t *oc = conn_data;

    (void)c;
    (void)reason;
    /* Finished jobs waiting for their turn are ours; jobs still queued or
     * running come back through offload_done with c == NULL. */
    for (unsigned i = 0; i < oc->cap; i++)
        free(oc->done[i]);
    free(oc);
}

/* ---- descriptor ------------------------------------------------------- */

static const zg_key_t offload_keys[] = {
    {.name = "threads",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_offload_conf_t, threads),
     .min = 1,
     .max = OFFLOAD_MAX_THREADS,
     .def = "4",
     .doc = "worker threads of the listener's pool"},
    {.name = "max_pending",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_offload_conf_t, max_pending),
     .min = 1,
     .max = 1024,
     .def = "16",
     .doc = "jobs of one connection in flight; at this many, its input is "
            "paused until answers go out"},
    {.name = "max_line",
     .type = ZG_KEY_SIZE,
     .offset = offsetof(zg_offload_conf_t, max_line),
     .min = 16,
     .max = 65536,
     .def = "1024",
     .doc = "bytes of a request line, newline excluded; longer: an error "
            "answer and close"},
    {.name = NULL},
};

static const zg_plugin_t offload_plugin = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 3, /* post */
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "offload",
    .version = "1.0.0",
    .fini = offload_fini,
    .reactor_init = offload_reactor_init,
    .on_accept = offload_accept,
    .on_data = offload_data,
    .on_close = offload_close,
    .on_drain = offload_drain,
    .conf_keys = offload_keys,
    .conf_size = sizeof(zg_offload_conf_t),
    .init_conf = offload_init_conf,
};

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &offload_plugin;
}
