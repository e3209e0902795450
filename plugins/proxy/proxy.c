/* SPDX-License-Identifier: MIT */
/*
 * Description: the proxy plugin, nginx's stream proxy_pass: each client
 * connection is passed to an upstream server chosen by conf's "balance",
 * over an outbound connection on the same reactor, and bytes are
 * forwarded both ways without copying (send_view of the other side's
 * input). The client is not read until the upstream answers, so a failed
 * attempt loses nothing and the next server gets the same bytes. Each
 * side's FIN is passed on as a half-close; back-pressure pauses the side
 * whose peer is not taking its bytes.
 *
 * A session joins the two connections. It lives until the client's
 * on_close and the on_close of every outbound attempt have run (refs).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zerg/plugin.h>

#include "conf.h"
#include "pp2.h"
#include "upstream.h"

/* Unsent bytes on one side past which the other side stops being read
 * (until the listener's write_low_watermark is reached again). With what
 * one loop iteration may add, this bounds a session's buffered bytes. */
#define ZG_PROXY_HIGH (256u << 10)

/* Sessions each reactor keeps for reuse instead of freeing them. */
#define ZG_PROXY_FREE_MAX 1024

/* Session flags. */
#define ZG_PS_CONNECTED 0x01u /* the upstream connection is established */
#define ZG_PS_C_EOF     0x02u /* the client's FIN was passed on */
#define ZG_PS_U_EOF     0x04u /* the upstream's FIN was passed on */
#define ZG_PS_C_PAUSED  0x08u /* the client waits for the upstream's output */
#define ZG_PS_U_PAUSED  0x10u /* the upstream waits for the client's output */

typedef struct zg_proxy_reactor_s zg_proxy_reactor_t;

typedef struct zg_proxy_sess_s {
    zg_proxy_reactor_t *rd;
    zg_conn_t *c; /* the client; NULL once its on_close ran */
    zg_conn_t *u; /* the upstream or attempt; NULL once its on_close ran */
    int server;   /* u's index in the pool */
    uint32_t tries;
    uint32_t flags;       /* ZG_PS_* */
    uint32_t refs;        /* the client, and u while it is open */
    int err;              /* the last attempt's errno, for the last word */
    uint64_t moved;       /* bytes passed on, either way */
    uint64_t seen_moved;  /* moved at the last idle check */
    size_t seen_pending;  /* both sides' unsent bytes then */
    uint32_t idle_ticks;  /* checks in a row that saw nothing move */
    zg_proxy_set_t tried; /* servers this client has tried */
    struct zg_proxy_sess_s *next; /* in the reactor's free list */
} zg_proxy_sess_t;

/* One reactor's state for one listener: no locks. */
struct zg_proxy_reactor_s {
    const zg_proxy_conf_t *conf;
    int64_t *cw; /* smooth round robin weights, one per server */
    zg_proxy_sess_t *free;
    size_t nfree;
};

/* The host's function table, saved at init (it lives as long as the
 * process). */
static const zg_api_t *api;

static const zg_outbound_t zg_proxy_up_ops;

/* ---- sessions ---- */

static zg_proxy_sess_t *zg_proxy_sess_get(zg_proxy_reactor_t *rd)
{
    zg_proxy_sess_t *s = rd->free;

    if (s != NULL) {
        rd->free = s->next;
        rd->nfree--;
        memset(s, 0, sizeof(*s));
    } else {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return NULL;
    }
    s->rd = rd;
    s->server = -1;
    return s;
}

static void zg_proxy_sess_unref(zg_proxy_sess_t *s)
{
    zg_proxy_reactor_t *rd = s->rd;

    if (--s->refs > 0)
        return;
    if (rd->nfree < ZG_PROXY_FREE_MAX) {
        s->next = rd->free;
        rd->free = s;
        rd->nfree++;
    } else {
        free(s);
    }
}

static unsigned long long zg_proxy_cid(const zg_proxy_sess_t *s)
{
    return s->c != NULL ? (unsigned long long)api->conn_id(s->c) : 0;
}

/* Both sides have passed their FIN on, or the session must end: close
 * both once their output is sent (a FLUSH after a WRITE completes it). */
static void zg_proxy_end(zg_proxy_sess_t *s)
{
    if (s->c != NULL)
        api->close(s->c, ZG_CLOSE_FLUSH);
    if (s->u != NULL)
        api->close(s->u, (s->flags & ZG_PS_CONNECTED) ? ZG_CLOSE_FLUSH
                                                      : ZG_CLOSE_ABORT);
}

/* ---- choosing and connecting ---- */

/* Errors of connect() that are this process's, not the upstream's: the
 * next server would fail alike, and no server is to blame. */
static int zg_proxy_local_error(int err)
{
    return err == EMFILE || err == ENFILE || err == EBUSY || err == ENOMEM ||
           err == ESHUTDOWN || err == EINVAL || err == ENOBUFS;
}

/* Count a failure of s's current server (err: its errno) and log it. */
static void zg_proxy_failed(zg_proxy_sess_t *s, int err)
{
    const zg_proxy_conf_t *conf = s->rd->conf;
    zg_proxy_server_t *srv = &conf->pool.servers[s->server];

    s->err = err;
    api->log(ZG_LOG_WARN,
             "upstream %s: connect failed (%d: %s), client connection %llu",
             srv->name, err, strerror(err), zg_proxy_cid(s));
    if (zg_proxy_server_failed(&conf->pool, srv, zg_proxy_now_ms()))
        api->log(ZG_LOG_WARN,
                 "upstream %s: marked down for %u ms after %u failed "
                 "connects",
                 srv->name, conf->pool.fail_timeout_ms, conf->pool.max_fails);
}

/* Connect s's client to the next server it may try; when none is left
 * (or the host cannot connect at all), close the client. */
static void zg_proxy_attempt(zg_proxy_sess_t *s)
{
    const zg_proxy_conf_t *conf = s->rd->conf;
    uint64_t key = 0, now = zg_proxy_now_ms();

    if (conf->pool.balance == ZG_PROXY_HASH) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);

        if (api->peer_addr(s->c, (struct sockaddr *)&peer, &plen) == 0)
            key = zg_proxy_addr_key((const struct sockaddr *)&peer);
    }
    while (s->tries < conf->tries) {
        int i = zg_proxy_pick(&conf->pool, s->rd->cw, &s->tried, key, now);
        zg_proxy_server_t *srv;
        zg_connect_t o;
        zg_conn_t *u;
        int err = 0;

        if (i < 0)
            break;
        srv = &conf->pool.servers[i];
        zg_proxy_set_add(&s->tried, (size_t)i);
        s->tries++;
        memset(&o, 0, sizeof(o));
        o.struct_size = sizeof(o);
        o.timeout_ms = conf->connect_timeout_ms;
        o.addr = (const struct sockaddr *)&srv->addr;
        o.addr_len = srv->addr_len;
        o.ops = &zg_proxy_up_ops;
        o.conn_data = s;
        o.from = s->c;
        u = api->connect(&o, &err);
        if (u != NULL) {
            s->u = u;
            s->server = i;
            s->refs++;
            atomic_fetch_add_explicit(&srv->active, 1, memory_order_relaxed);
            return;
        }
        err = err < 0 ? -err : EIO;
        if (zg_proxy_local_error(err)) {
            s->err = err;
            api->log(ZG_LOG_ERROR,
                     "upstream %s: cannot connect (%d: %s), client "
                     "connection %llu",
                     srv->name, err, strerror(err), zg_proxy_cid(s));
            break;
        }
        s->server = i;
        zg_proxy_failed(s, err);
        now = zg_proxy_now_ms();
    }
    api->log(ZG_LOG_WARN,
             "client connection %llu: no upstream reached after %u "
             "attempt(s) (last: %d: %s), closing it",
             zg_proxy_cid(s), s->tries, s->err,
             s->err ? strerror(s->err) : "none left");
    api->close(s->c, ZG_CLOSE_FLUSH);
}

/* ---- forwarding ---- */

/* Queue every view of in on to (zero-copy). 0, or -1 if to takes no more
 * (closing, out of memory). */
static int zg_proxy_forward(zg_proxy_sess_t *s, zg_conn_t *to,
                            const zg_input_t *in)
{
    for (unsigned i = 0; i < in->nviews; i++) {
        if (in->views[i].len > 0 && api->send_view(to, &in->views[i]) < 0)
            return -1;
    }
    s->moved += in->total;
    return 0;
}

/* The idle check runs every quarter of idle_timeout_ms (or once per
 * timeout under 40 ms): a session idle from T to T + T/4 is closed, and
 * forwarding only adds to a counter. */
static uint32_t zg_proxy_idle_period(const zg_proxy_conf_t *conf)
{
    return conf->idle_timeout_ms >= 40 ? conf->idle_timeout_ms / 4
                                       : conf->idle_timeout_ms;
}

static void zg_proxy_idle_arm(zg_proxy_sess_t *s)
{
    uint32_t p = zg_proxy_idle_period(s->rd->conf);

    if (p > 0 && s->c != NULL)
        api->set_timer(s->c, p);
}

/* ---- the client side (the plugin's callbacks) ---- */

static int zg_proxy_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    zg_proxy_sess_t *s = zg_proxy_sess_get(reactor_data);

    *conn_data = s;
    if (s == NULL)
        return -1; /* out of memory: closed at once */
    s->c = c;
    s->refs = 1;
    /* A FIN is passed on, not an end; and nothing is read until an
     * upstream is there to take it, so a retry can resend it all. */
    api->half_open(c, 1);
    api->pause_read(c, 1);
    zg_proxy_attempt(s);
    return 0;
}

static long zg_proxy_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    zg_proxy_sess_t *s = conn_data;

    if (!(s->flags & ZG_PS_CONNECTED)) {
        api->pause_read(c, 1); /* not ours yet: keep every byte */
        return 0;
    }
    if (s->u == NULL)
        return (long)in->total; /* the upstream is gone; c is closing */
    if (zg_proxy_forward(s, s->u, in) < 0)
        return -1;
    if (!(s->flags & ZG_PS_C_PAUSED) &&
        api->output_pending(s->u) > ZG_PROXY_HIGH) {
        s->flags |= ZG_PS_C_PAUSED;
        api->pause_read(c, 1);
        api->want_writable(s->u, 1);
    }
    if (in->flags & ZG_IN_EOF) {
        s->flags |= ZG_PS_C_EOF;
        if (s->flags & ZG_PS_U_EOF)
            zg_proxy_end(s);
        else
            api->close(s->u, ZG_CLOSE_WRITE);
    }
    return (long)in->total;
}

/* The client took enough of the upstream's bytes: read the upstream. */
static void zg_proxy_writable(zg_conn_t *c, void *conn_data)
{
    zg_proxy_sess_t *s = conn_data;

    (void)c;
    if ((s->flags & ZG_PS_U_PAUSED) && s->u != NULL) {
        s->flags &= ~ZG_PS_U_PAUSED;
        api->pause_read(s->u, 0);
    }
}

static void zg_proxy_timeout(zg_conn_t *c, void *conn_data)
{
    zg_proxy_sess_t *s = conn_data;
    const zg_proxy_conf_t *conf = s->rd->conf;
    size_t pending;

    if (conf->idle_timeout_ms == 0 || s->u == NULL)
        return;
    pending = api->output_pending(c) + api->output_pending(s->u);
    if (s->moved != s->seen_moved || pending != s->seen_pending) {
        s->seen_moved = s->moved;
        s->seen_pending = pending;
        s->idle_ticks = 0;
    } else if (++s->idle_ticks * zg_proxy_idle_period(conf) >=
               conf->idle_timeout_ms) {
        api->log(ZG_LOG_INFO,
                 "client connection %llu: nothing moved for %u ms, closing "
                 "it and upstream %s",
                 zg_proxy_cid(s), conf->idle_timeout_ms,
                 conf->pool.servers[s->server].name);
        zg_proxy_end(s);
        return;
    }
    zg_proxy_idle_arm(s);
}

/* A graceful stop lets a session run until either side ends it or the
 * server's shutdown_timeout_ms, as nginx's stream module does: a TCP
 * proxy cannot tell an idle session from a finished one. */
static void zg_proxy_drain(zg_conn_t *c, void *conn_data)
{
    (void)c;
    (void)conn_data;
}

static void zg_proxy_close(zg_conn_t *c, void *conn_data,
                           zg_close_reason_t reason)
{
    zg_proxy_sess_t *s = conn_data;

    (void)c;
    (void)reason;
    if (s == NULL)
        return;
    /* An attempt in progress is dropped; an upstream gets what the client
     * sent before going. */
    s->c = NULL;
    zg_proxy_end(s);
    zg_proxy_sess_unref(s);
}

/* ---- the upstream side (outbound callbacks) ---- */

static void zg_proxy_up_connect(zg_conn_t *u, void *conn_data, int status)
{
    zg_proxy_sess_t *s = conn_data;
    const zg_proxy_conf_t *conf = s->rd->conf;

    if (u != s->u)
        return;
    if (status < 0) {
        zg_proxy_failed(s, -status); /* on_close follows: the next try */
        return;
    }
    zg_proxy_server_ok(&conf->pool.servers[s->server]);
    if (s->c == NULL) {
        api->close(u, ZG_CLOSE_ABORT);
        return;
    }
    s->flags |= ZG_PS_CONNECTED;
    api->half_open(u, 1);
    if (conf->send_proxy_protocol) {
        struct sockaddr_storage peer, local;
        socklen_t plen = sizeof(peer), llen = sizeof(local);
        unsigned char hdr[ZG_PROXY_PP2_MAX];
        size_t n;

        memset(&peer, 0, sizeof(peer));
        memset(&local, 0, sizeof(local));
        api->peer_addr(s->c, (struct sockaddr *)&peer, &plen);
        api->local_addr(s->c, (struct sockaddr *)&local, &llen);
        n = zg_proxy_pp2(hdr, (const struct sockaddr *)&peer,
                         (const struct sockaddr *)&local);
        if (api->send(u, hdr, n) < 0) {
            zg_proxy_end(s);
            return;
        }
    }
    /* Now the client's bytes have somewhere to go. */
    api->pause_read(s->c, 0);
    zg_proxy_idle_arm(s);
}

static long zg_proxy_up_data(zg_conn_t *u, void *conn_data,
                             const zg_input_t *in)
{
    zg_proxy_sess_t *s = conn_data;

    if (s->c == NULL)
        return (long)in->total; /* the client is gone; u is closing */
    if (zg_proxy_forward(s, s->c, in) < 0)
        return -1;
    if (!(s->flags & ZG_PS_U_PAUSED) &&
        api->output_pending(s->c) > ZG_PROXY_HIGH) {
        s->flags |= ZG_PS_U_PAUSED;
        api->pause_read(u, 1);
        api->want_writable(s->c, 1);
    }
    if (in->flags & ZG_IN_EOF) {
        s->flags |= ZG_PS_U_EOF;
        if (s->flags & ZG_PS_C_EOF)
            zg_proxy_end(s);
        else
            api->close(s->c, ZG_CLOSE_WRITE);
    }
    return (long)in->total;
}

/* The upstream took enough of the client's bytes: read the client. */
static void zg_proxy_up_writable(zg_conn_t *u, void *conn_data)
{
    zg_proxy_sess_t *s = conn_data;

    (void)u;
    if ((s->flags & ZG_PS_C_PAUSED) && s->c != NULL) {
        s->flags &= ~ZG_PS_C_PAUSED;
        api->pause_read(s->c, 0);
    }
}

static void zg_proxy_up_close(zg_conn_t *u, void *conn_data,
                              zg_close_reason_t reason)
{
    zg_proxy_sess_t *s = conn_data;
    const zg_proxy_conf_t *conf = s->rd->conf;

    atomic_fetch_sub_explicit(&conf->pool.servers[s->server].active, 1,
                              memory_order_relaxed);
    if (u == s->u) {
        s->u = NULL;
        if (s->c != NULL) {
            /* An attempt that failed: the next server, unless the server
             * is stopping. An upstream that ended: the client gets what
             * it sent, then its FIN. */
            if (!(s->flags & ZG_PS_CONNECTED) && reason != ZG_CLOSE_SHUTDOWN &&
                reason != ZG_CLOSE_LOCAL)
                zg_proxy_attempt(s);
            else
                api->close(s->c, ZG_CLOSE_FLUSH);
        }
    }
    zg_proxy_sess_unref(s);
}

static const zg_outbound_t zg_proxy_up_ops = {
    .struct_size = sizeof(zg_outbound_t),
    .on_connect = zg_proxy_up_connect,
    .on_data = zg_proxy_up_data,
    .on_close = zg_proxy_up_close,
    .on_writable = zg_proxy_up_writable,
};

/* ---- instances ---- */

static int zg_proxy_init_conf(const zg_api_t *host, const void *conf,
                              void **plugin_data, char *errbuf, size_t errlen)
{
    zg_proxy_conf_t *pc;
    int rc;

    /* Set once: a reload runs init again while reactors read it. */
    if (api != host)
        api = host;
    if (!ZG_API_HAS(host, connect) || !ZG_API_HAS(host, half_open) ||
        !ZG_API_HAS(host, send_view)) {
        snprintf(errbuf, errlen,
                 "the host lacks outbound connections (needs ABI 1.3)");
        return -1;
    }
    rc = zg_proxy_conf_build(conf, &pc, errbuf, errlen);
    if (rc < 0)
        return rc;
    *plugin_data = pc;
    return 0;
}

static void zg_proxy_fini(void *plugin_data)
{
    zg_proxy_conf_free(plugin_data);
}

static int zg_proxy_reactor_init(void *plugin_data, int reactor_id,
                                 void **reactor_data)
{
    const zg_proxy_conf_t *conf = plugin_data;
    zg_proxy_reactor_t *rd = calloc(1, sizeof(*rd));
    zg_proxy_set_t none;

    if (rd == NULL)
        return -ENOMEM;
    rd->conf = conf;
    rd->cw = calloc(conf->pool.n, sizeof(*rd->cw));
    if (rd->cw == NULL) {
        free(rd);
        return -ENOMEM;
    }
    /* Each reactor starts its round robin at another server, so that the
     * first connections of several reactors do not all go to one. */
    memset(&none, 0, sizeof(none));
    for (int k = 0; reactor_id > 0 && k < reactor_id % (int)conf->pool.n; k++)
        zg_proxy_pick(&conf->pool, rd->cw, &none, 0, 0);
    *reactor_data = rd;
    return 0;
}

static void zg_proxy_reactor_fini(void *plugin_data, void *reactor_data)
{
    zg_proxy_reactor_t *rd = reactor_data;

    (void)plugin_data;
    while (rd->free != NULL) {
        zg_proxy_sess_t *s = rd->free;

        rd->free = s->next;
        free(s);
    }
    free(rd->cw);
    free(rd);
}

static const zg_plugin_t zg_proxy_plugin = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 3, /* connect, half_open, send_view across connections */
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "proxy",
    .version = "1.0.0",
    .fini = zg_proxy_fini,
    .reactor_init = zg_proxy_reactor_init,
    .reactor_fini = zg_proxy_reactor_fini,
    .on_accept = zg_proxy_accept,
    .on_data = zg_proxy_data,
    .on_close = zg_proxy_close,
    .on_writable = zg_proxy_writable,
    .on_timeout = zg_proxy_timeout,
    .on_drain = zg_proxy_drain,
    .conf_keys = zg_proxy_conf_keys,
    .conf_size = sizeof(zg_proxy_cfg_t),
    .init_conf = zg_proxy_init_conf,
};

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &zg_proxy_plugin;
}
