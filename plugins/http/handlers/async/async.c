/* SPDX-License-Identifier: MIT */
/*
 * Description: the "async" HTTP handler, the example of a handler that
 * answers later (copy it): GET /delay?ms=N (whatever the route's path)
 * answers "done" (text/plain)
 * after N milliseconds (0..max_ms), without holding up its reactor. The
 * request is handed to a worker thread, which keeps the waiting ones in
 * a heap ordered by deadline and, when one is due, has its answer sent by
 * running a function on the connection's reactor through the server's
 * cross-thread post (zerg/plugin.h api->post). So a hundred delays on
 * one reactor end together, and meanwhile that reactor serves others.
 *
 *   { "path": "/delay", "handler": "async",
 *     "config": { "max_ms": 10000, "max_pending": 65536 } }
 *
 * An ms that is not an integer in 0..max_ms is a 400; past max_pending
 * waiting requests, 503.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zerg/http.h>

static const zg_http_api_t *http; /* the http plugin's functions */

/* The route's "config", as the server fills it from async_keys. */
typedef struct async_conf_s {
    uint32_t max_ms;
    int64_t max_pending;
} async_conf_t;

static const zg_key_t async_keys[] = {
    {.name = "max_ms",
     .type = ZG_KEY_MSEC,
     .offset = offsetof(async_conf_t, max_ms),
     .min = 0,
     .max = 3600000,
     .def = "10000",
     .doc = "the longest delay a request may ask for"},
    {.name = "max_pending",
     .type = ZG_KEY_INT,
     .offset = offsetof(async_conf_t, max_pending),
     .min = 1,
     .max = 1 << 24,
     .def = "65536",
     .doc = "requests waiting at once; past it: 503"},
    {.name = NULL},
};

/* A request waiting for its deadline. */
typedef struct async_job_s {
    uint64_t due;     /* CLOCK_MONOTONIC, ns */
    uint64_t conn_id; /* where its answer goes (post) */
    zg_http_response_t *r;
    const char *answer; /* set by the worker */
} async_job_t;

/* One per route: the worker and the heap of waiting jobs. */
typedef struct async_route_s {
    async_conf_t conf;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a new earliest job, or stop */
    pthread_t worker;
    async_job_t **heap; /* min-heap on due */
    size_t n, cap;
    int stop;
} async_route_t;

static uint64_t async_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the heap (under mu) ---- */

static void async_swap(async_job_t **h, size_t a, size_t b)
{
    async_job_t *t = h[a];

    h[a] = h[b];
    h[b] = t;
}

static void async_push(async_route_t *ar, async_job_t *j)
{
    size_t i = ar->n++;

    ar->heap[i] = j;
    while (i > 0 && ar->heap[(i - 1) / 2]->due > ar->heap[i]->due) {
        async_swap(ar->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static async_job_t *async_pop(async_route_t *ar)
{
    async_job_t *top = ar->heap[0];
    size_t i = 0;

    ar->heap[0] = ar->heap[--ar->n];
    for (;;) {
        size_t l = 2 * i + 1, m = i;

        if (l < ar->n && ar->heap[l]->due < ar->heap[m]->due)
            m = l;
        if (l + 1 < ar->n && ar->heap[l + 1]->due < ar->heap[m]->due)
            m = l + 1;
        if (m == i)
            return top;
        async_swap(ar->heap, i, m);
        i = m;
    }
}

/* ---- the answer, on the connection's reactor ---- */

/* Run by post on the reactor that owns the connection. c is NULL if the
 * connection has gone: finish() then only frees the response. */
static void async_answer(zg_conn_t *c, void *conn_data, void *arg)
{
    async_job_t *j = arg;

    (void)c;
    (void)conn_data;
    if (http->alive(j->r)) {
        http->add_header(j->r, "Content-Type", 12, "text/plain", 10);
        http->write(j->r, j->answer, strlen(j->answer));
    }
    http->finish(j->r);
    free(j);
}

/* Send a due job's answer home. */
static void async_send(async_route_t *ar, async_job_t *j)
{
    int rc;

    j->answer = "done";
    rc = http->zg->post(j->conn_id, async_answer, j);
    if (rc == 0)
        return;
    if (rc == -ENOMEM && !ar->stop) {
        /* Try again shortly. */
        j->due = async_now() + 1000000;
        pthread_mutex_lock(&ar->mu);
        async_push(ar, j);
        pthread_mutex_unlock(&ar->mu);
        return;
    }
    /* -ESHUTDOWN: the server has stopped and closed every connection:
     * finish() only frees the response, and may be called from here. */
    http->finish(j->r);
    free(j);
}

static void *async_worker(void *arg)
{
    async_route_t *ar = arg;

    pthread_mutex_lock(&ar->mu);
    for (;;) {
        uint64_t now = async_now();

        if (ar->n > 0 && (ar->stop || ar->heap[0]->due <= now)) {
            async_job_t *j = async_pop(ar);

            pthread_mutex_unlock(&ar->mu);
            async_send(ar, j);
            pthread_mutex_lock(&ar->mu);
        } else if (ar->stop) {
            break;
        } else if (ar->n == 0) {
            pthread_cond_wait(&ar->cv, &ar->mu);
        } else {
            uint64_t due = ar->heap[0]->due;
            struct timespec ts = {(time_t)(due / 1000000000u),
                                  (long)(due % 1000000000u)};

            pthread_cond_timedwait(&ar->cv, &ar->mu, &ts);
        }
    }
    pthread_mutex_unlock(&ar->mu);
    return NULL;
}

/* ---- the handler ---- */

static int async_reply(zg_http_response_t *r, unsigned status, const char *text)
{
    http->status(r, status);
    http->add_header(r, "Content-Type", 12, "text/plain", 10);
    http->write(r, text, strlen(text));
    return ZG_HTTP_DONE;
}

static int async_handle(const zg_http_request_t *req, zg_http_response_t *r)
{
    async_route_t *ar = req->route_data;
    async_job_t *j;
    zg_view_t v;
    int64_t ms;

    if (!zg_http_view_is(&req->method, "GET") &&
        !zg_http_view_is(&req->method, "HEAD")) {
        http->add_header(r, "Allow", 5, "GET, HEAD", 9);
        return async_reply(r, 405, "Method Not Allowed\n");
    }
    if (!zg_http_query_get(&req->query, "ms", &v) ||
        zg_http_view_i64(&v, &ms) < 0 || ms < 0 || ms > ar->conf.max_ms)
        return async_reply(r, 400, "ms: expected 0..max_ms\n");
    j = malloc(sizeof(*j));
    if (j == NULL)
        return -ENOMEM;
    j->due = async_now() + (uint64_t)ms * 1000000u;
    j->conn_id = req->conn_id;
    j->r = r;
    pthread_mutex_lock(&ar->mu);
    if (ar->n == ar->cap) {
        pthread_mutex_unlock(&ar->mu);
        free(j);
        return async_reply(r, 503, "Service Unavailable\n");
    }
    async_push(ar, j);
    if (ar->heap[0] == j)
        pthread_cond_signal(&ar->cv); /* a new earliest deadline */
    pthread_mutex_unlock(&ar->mu);
    return ZG_HTTP_LATER; /* r is ours until async_answer finishes it */
}

static int async_init(const zg_http_api_t *api, const void *conf,
                      void **route_data, char *errbuf, size_t errlen)
{
    async_route_t *ar = calloc(1, sizeof(*ar));
    pthread_condattr_t ca;
    sigset_t all, old;
    int rc;

    http = api;
    if (ar == NULL)
        goto nomem;
    ar->conf = *(const async_conf_t *)conf;
    ar->cap = (size_t)ar->conf.max_pending;
    ar->heap = calloc(ar->cap, sizeof(*ar->heap));
    if (ar->heap == NULL)
        goto nomem;
    pthread_mutex_init(&ar->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ar->cv, &ca);
    pthread_condattr_destroy(&ca);
    /* The server takes its signals on its main thread (signalfd): a
     * thread of ours must not be where one is delivered. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&ar->worker, NULL, async_worker, ar);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot start its worker thread");
        pthread_cond_destroy(&ar->cv);
        pthread_mutex_destroy(&ar->mu);
        free(ar->heap);
        free(ar);
        return -1;
    }
    *route_data = ar;
    return 0;
nomem:
    snprintf(errbuf, errlen, "out of memory");
    if (ar != NULL)
        free(ar->heap);
    free(ar);
    return -1;
}

/* Every reactor has stopped: the jobs left are sent (post refuses, so
 * they are freed) and the worker is joined. */
static void async_fini(void *route_data)
{
    async_route_t *ar = route_data;

    pthread_mutex_lock(&ar->mu);
    ar->stop = 1;
    pthread_cond_signal(&ar->cv);
    pthread_mutex_unlock(&ar->mu);
    pthread_join(ar->worker, NULL);
    pthread_cond_destroy(&ar->cv);
    pthread_mutex_destroy(&ar->mu);
    free(ar->heap);
    free(ar);
}

static const zg_http_handler_t async_handler = {
    .magic = ZG_HTTP_HANDLER_MAGIC,
    .abi_major = ZG_HTTP_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = sizeof(zg_http_handler_t),
    .name = "async",
    .version = "1.0.0",
    .conf_keys = async_keys,
    .conf_size = sizeof(async_conf_t),
    .init = async_init,
    .fini = async_fini,
    .handle = async_handle,
};

ZG_EXPORT const zg_http_handler_t *ZG_HTTP_HANDLER_ENTRY(void)
{
    return &async_handler;
}
