/* SPDX-License-Identifier: MIT */
/*
 * Description: the host function table handed to plugins (zg_api_t). Each
 * function checks that it runs on the connection's own reactor thread and
 * that the connection is still open, then acts on the reactor's state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_keys.h"
#include "log.h"
#include "metrics.h"
#include "reactor.h"

static int zg_api_usable(const zg_conn_t *c)
{
    return c != NULL && (c->flags & ZG_CF_USED) && !(c->flags & ZG_CF_CLOSED) &&
           c->r == zg_tls_reactor;
}

static int zg_api_send(zg_conn_t *c, const void *data, size_t len)
{
    if (!zg_api_usable(c) || (c->flags & (ZG_CF_WANT_CLOSE | ZG_CF_SHUT_WR)))
        return -EPIPE;
    if (len == 0)
        return 0;
    if (zg_outq_append(&c->out, &c->r->chunks, data, len) < 0)
        return -ENOMEM;
    zg_dirty(c->r, c);
    return 0;
}

/* The receive buffer of r holding all of v (non-empty) that may be
 * pinned for it (held by the application, buffers not scarce), or -1:
 * then v is copied instead. */
static int32_t zg_view_bid(zg_reactor_t *r, const zg_view_t *v)
{
    int32_t bid = zg_bufpool_bid_of(&r->pool, v->data);

    if (bid < 0 || zg_bufpool_bid_of(&r->pool, v->data + v->len - 1) != bid ||
        !zg_bufpool_held(&r->pool, (uint32_t)bid) ||
        zg_bufpool_scarce(&r->pool))
        return -1;
    return bid;
}

static int zg_api_send_view(zg_conn_t *c, const zg_view_t *v)
{
    zg_reactor_t *r;
    int32_t bid;

    if (!zg_api_usable(c) || (c->flags & (ZG_CF_WANT_CLOSE | ZG_CF_SHUT_WR)))
        return -EPIPE;
    if (v == NULL || v->len == 0)
        return 0;
    r = c->r;
    bid = zg_view_bid(r, v);
    if (bid < 0)
        return zg_api_send(c, v->data, v->len);
    if (zg_outq_append_ref(&c->out, &r->chunks, v->data, v->len,
                           (uint32_t)bid) < 0)
        return -ENOMEM;
    zg_bufpool_ref(&r->pool, (uint32_t)bid);
    zg_dirty(r, c);
    return 0;
}

static void *zg_api_reserve(zg_conn_t *c, size_t min, size_t *avail)
{
    void *p;

    if (!zg_api_usable(c) || (c->flags & (ZG_CF_WANT_CLOSE | ZG_CF_SHUT_WR)))
        return NULL;
    p = zg_outq_reserve(&c->out, &c->r->chunks, min ? min : 1, avail);
    c->rsv = p != NULL ? *avail : 0;
    return p;
}

static int zg_api_commit(zg_conn_t *c, size_t len)
{
    if (!zg_api_usable(c))
        return -EPIPE;
    if (len > c->rsv)
        return -EINVAL;
    zg_outq_commit(&c->out, len);
    c->rsv = 0;
    zg_dirty(c->r, c);
    return 0;
}

static int zg_api_close(zg_conn_t *c, zg_close_how_t how)
{
    if (c == NULL || !(c->flags & ZG_CF_USED) || c->r != zg_tls_reactor)
        return -EINVAL;
    if (how != ZG_CLOSE_FLUSH && how != ZG_CLOSE_ABORT &&
        how != ZG_CLOSE_WRITE && how != ZG_CLOSE_LINGER)
        return -EINVAL;
    if (how == ZG_CLOSE_WRITE) {
        if (c->flags & (ZG_CF_CLOSED | ZG_CF_WANT_CLOSE | ZG_CF_SHUT_WR))
            return 0;
        c->flags |= ZG_CF_WANT_CLOSE;
        c->how = ZG_CLOSE_WRITE;
        zg_dirty(c->r, c);
        return 0;
    }
    if (!(c->flags & (ZG_CF_PLUGIN | ZG_CF_CLOSED | ZG_CF_WANT_CLOSE))) {
        /* A module closing in its phase (a preread timeout, say) refuses
         * the connection: the plugin never learns of it. */
        zg_conn_refuse(c->r, c, (c->stage > 0 ? c->stage - 1u : 0) / 2, 0);
        return 0;
    }
    zg_conn_close(c->r, c, how, ZG_CLOSE_LOCAL);
    return 0;
}

static int zg_api_pause_read(zg_conn_t *c, int paused)
{
    if (!zg_api_usable(c))
        return -EINVAL;
    if (paused) {
        c->flags |= ZG_CF_PAUSED;
    } else if (c->flags & ZG_CF_PAUSED) {
        c->flags &= ~ZG_CF_PAUSED;
        if (c->rx.held > 0)
            c->flags |= ZG_CF_NEW; /* present held input again */
    }
    zg_dirty(c->r, c);
    return 0;
}

static int zg_api_peer_addr(zg_conn_t *c, struct sockaddr *addr, socklen_t *len)
{
    if (!zg_api_usable(c) || addr == NULL || len == NULL)
        return -EINVAL;
    return zg_conn_peer(c->r, c, addr, len);
}

static int zg_api_set_peer_addr(zg_conn_t *c, const struct sockaddr *addr,
                                socklen_t len)
{
    if (!zg_api_usable(c) || !(c->flags & ZG_CF_PREREAD) || addr == NULL)
        return -EINVAL;
    if (!(addr->sa_family == AF_INET && len == sizeof(struct sockaddr_in)) &&
        !(addr->sa_family == AF_INET6 && len == sizeof(struct sockaddr_in6)))
        return -EINVAL;
    if (c->peer == NULL) {
        c->peer = calloc(1, sizeof(*c->peer));
        if (c->peer == NULL)
            return -ENOMEM;
    }
    memset(c->peer, 0, sizeof(*c->peer));
    memcpy(c->peer, addr, len);
    return 0;
}

static int zg_api_local_addr(zg_conn_t *c, struct sockaddr *addr,
                             socklen_t *len)
{
    if (!zg_api_usable(c))
        return -EINVAL;
    return getsockname(c->fd, addr, len) < 0 ? -errno : 0;
}

static uint64_t zg_api_conn_id(zg_conn_t *c)
{
    return c != NULL ? c->id : 0;
}

static int zg_api_reactor_id(void)
{
    return zg_tls_reactor != NULL ? (int)zg_tls_reactor->id : -1;
}

static void zg_api_log(zg_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    if (!zg_log_enabled((int)level))
        return;
    va_start(ap, fmt);
    zg_logv((int)level, zg_tls_prefix != NULL ? zg_tls_prefix : "plugin", fmt,
            ap);
    va_end(ap);
}

static size_t zg_api_output_pending(zg_conn_t *c)
{
    return c != NULL ? c->out.pending : 0;
}

static int zg_api_set_timer(zg_conn_t *c, uint32_t ms)
{
    zg_reactor_t *r;

    if (!zg_api_usable(c))
        return -EINVAL;
    r = c->r;
    /* The clock is read once per loop; a callback runs within it. */
    c->timer_at = ms == 0 ? 0 : r->now + ms;
    zg_tw_file(r, c);
    return 0;
}

static int zg_api_want_writable(zg_conn_t *c, int on)
{
    if (!zg_api_usable(c))
        return -EINVAL;
    if (on)
        c->flags |= ZG_CF_WANT_WR;
    else
        c->flags &= ~ZG_CF_WANT_WR;
    zg_dirty(c->r, c);
    return 0;
}

static int zg_api_draining(void)
{
    return zg_engine != NULL && atomic_load(&zg_engine->draining);
}

static int zg_api_post(uint64_t conn_id,
                       void (*fn)(zg_conn_t *c, void *conn_data, void *arg),
                       void *arg)
{
    zg_engine_t *e = zg_engine;
    zg_reactor_t *r;
    uint64_t seq;
    uint32_t ri, slot;
    int ret;

    if (fn == NULL || e == NULL || !atomic_load(&e->post_ready))
        return -EINVAL;
    ri = zg_id_reactor(e, conn_id);
    slot = zg_id_slot(e, conn_id);
    seq = conn_id >> e->id_shift;
    if (ri >= e->nreactors || (r = e->reactors[ri]) == NULL || seq == 0 ||
        seq > atomic_load_explicit(&r->seq, memory_order_acquire) ||
        slot >= r->conf->max_connections)
        return -EINVAL;
    ret = zg_postq_push(&r->postq, conn_id, fn, arg, zg_tls_reactor == r);
    if (ret == 0 && zg_tls_reactor == r)
        r->post_more = 1; /* run it before the loop next blocks */
    return ret;
}

static zg_conn_t *zg_api_connect(const zg_connect_t *o, int *err)
{
    int dummy;

    if (err == NULL)
        err = &dummy;
    *err = -EINVAL;
    if (o == NULL ||
        o->struct_size < offsetof(zg_connect_t, from) + sizeof(o->from) ||
        !zg_api_usable(o->from) || o->addr == NULL || o->ops == NULL ||
        o->ops->struct_size <
            offsetof(zg_outbound_t, on_close) + sizeof(o->ops->on_close) ||
        o->ops->on_data == NULL || o->ops->on_close == NULL)
        return NULL;
    if (!(o->addr->sa_family == AF_INET &&
          o->addr_len == sizeof(struct sockaddr_in)) &&
        !(o->addr->sa_family == AF_INET6 &&
          o->addr_len == sizeof(struct sockaddr_in6)))
        return NULL;
    return zg_conn_connect(o->from->r, o, err);
}

static int zg_api_view_retain(const zg_view_t *v, zg_view_t *out)
{
    zg_reactor_t *r = zg_tls_reactor;
    int32_t bid;
    void *copy;

    if (r == NULL || v == NULL || out == NULL || v->data == NULL || v->len == 0)
        return -EINVAL;
    bid = zg_view_bid(r, v);
    if (bid >= 0) {
        zg_bufpool_ref(&r->pool, (uint32_t)bid);
        *out = *v;
        return 0;
    }
    /* A heap copy is never inside the buffer mapping: view_release can
     * tell the two apart by address. */
    copy = malloc(v->len);
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, v->data, v->len);
    out->data = copy;
    out->len = v->len;
    return 0;
}

static void zg_api_view_release(const zg_view_t *v)
{
    zg_reactor_t *r = zg_tls_reactor;
    int32_t bid;

    if (r == NULL || v == NULL || v->data == NULL || v->len == 0)
        return;
    bid = zg_bufpool_bid_of(&r->pool, v->data);
    if (bid >= 0)
        zg_bufpool_unref(&r->pool, (uint32_t)bid);
    else
        free((void *)(uintptr_t)v->data);
}

static int zg_api_half_open(zg_conn_t *c, int on)
{
    if (!zg_api_usable(c))
        return -EINVAL;
    if (on)
        c->flags |= ZG_CF_HALF_OPEN;
    else
        c->flags &= ~ZG_CF_HALF_OPEN;
    zg_dirty(c->r, c);
    return 0;
}

static zg_logsink_t *zg_api_log_open(const char *path, size_t buffer,
                                     uint32_t flush_ms, char *errbuf,
                                     size_t errlen)
{
    if (zg_tls_reactor != NULL) {
        snprintf(errbuf, errlen, "log_open is for init only");
        return NULL;
    }
    return zg_logsink_open(path, buffer, flush_ms, errbuf, errlen);
}

static void zg_api_count_requests(zg_conn_t *c, uint32_t n)
{
    if (!zg_api_usable(c) || (c->flags & ZG_CF_OUTBOUND))
        return;
    ZG_STAT_ADD(c->r->lstat[c->lidx].requests, n);
}

/* Main thread (no reactor), while a plugin's init_conf runs: the node
 * and its arena are the plugin's config's. */
static int zg_api_conf_fill(const zg_conf_node_t *node, const zg_key_t *keys,
                            size_t conf_size, void **conf, char *errbuf,
                            size_t errlen)
{
    if (zg_tls_reactor != NULL || keys == NULL)
        return -EINVAL;
    return zg_conf_node_fill(node, keys, conf_size, conf, errbuf, errlen);
}

const zg_api_t zg_host_api = {
    .struct_size = sizeof(zg_api_t),
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = ZG_ABI_MINOR,
    .send = zg_api_send,
    .send_view = zg_api_send_view,
    .reserve = zg_api_reserve,
    .commit = zg_api_commit,
    .close = zg_api_close,
    .pause_read = zg_api_pause_read,
    .peer_addr = zg_api_peer_addr,
    .local_addr = zg_api_local_addr,
    .conn_id = zg_api_conn_id,
    .reactor_id = zg_api_reactor_id,
    .log = zg_api_log,
    .output_pending = zg_api_output_pending,
    .set_timer = zg_api_set_timer,
    .want_writable = zg_api_want_writable,
    .draining = zg_api_draining,
    .set_peer_addr = zg_api_set_peer_addr,
    .post = zg_api_post,
    .connect = zg_api_connect,
    .view_retain = zg_api_view_retain,
    .view_release = zg_api_view_release,
    .half_open = zg_api_half_open,
    .log_open = zg_api_log_open,
    .log_write = zg_logsink_write,
    .count_requests = zg_api_count_requests,
    .metrics = zg_metrics_text,
    .conf_fill = zg_api_conf_fill,
};
