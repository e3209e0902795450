/* SPDX-License-Identifier: MIT */
/*
 * Description: a reactor thread: one io_uring, one provided-buffer ring and
 * a slab of connection slots. It receives new sockets from the acceptor
 * (IORING_OP_MSG_RING) or its own reuseport listeners, runs multishot recv
 * on each, calls the plugin with ring views, and flushes every
 * connection's output with one send per loop iteration.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "crash.h"
#include "log.h"
#include "reactor.h"

__thread zg_reactor_t *zg_tls_reactor;
__thread const char *zg_tls_prefix;

static uint64_t zg_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct io_uring_sqe *zg_sqe(zg_reactor_t *r)
{
    return zg_ring_sqe(&r->ring);
}

static void zg_arm_recv(zg_reactor_t *r, zg_conn_t *c)
{
    struct io_uring_sqe *sqe = zg_sqe(r);

    if (sqe == NULL)
        return; /* retried at the next iteration: the conn stays dirty */
    /* A bundle's len caps each of its completions (zg_bundle_choose). */
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, r->bundle_cap, 0);
    if (r->bundle)
        sqe->ioprio |= IORING_RECVSEND_BUNDLE;
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = ZG_BGID;
    io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_RECV, c->gen, c->slot));
    c->flags |= ZG_CF_RECV;
}

/* Cancel the recv only (reading paused), or every operation on the
 * socket (closing: a send to a peer that never reads must end too). */
static void zg_cancel(zg_reactor_t *r, zg_conn_t *c, int all)
{
    struct io_uring_sqe *sqe;

    if ((c->flags & ZG_CF_CANCEL) && !all)
        return;
    sqe = zg_sqe(r);
    if (sqe == NULL)
        return;
    if (all)
        io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
    else
        io_uring_prep_cancel64(sqe, zg_ud(ZG_OP_RECV, c->gen, c->slot), 0);
    io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_CANCEL, c->gen, c->slot));
    c->flags |= ZG_CF_CANCEL;
}

/* Sent output a zero-copy send may still read is bounded: past this, the
 * next sends copy until the notifications are in. */
#define ZG_ZC_HELD_MAX (4u << 20)

/* The header of a sendmsg of the n chunks in r->iov, or NULL. */
static struct msghdr *zg_sendmsg_hdr(zg_reactor_t *r, zg_conn_t *c, unsigned n)
{
    zg_sendmsg_t *sm = zg_blk_get(&r->sms);

    if (sm == NULL)
        return NULL;
    memcpy(sm->iov, r->iov, n * sizeof(r->iov[0]));
    memset(&sm->msg, 0, sizeof(sm->msg));
    sm->msg.msg_iov = sm->iov;
    sm->msg.msg_iovlen = n;
    c->sm = sm;
    return &sm->msg;
}

static void zg_send(zg_reactor_t *r, zg_conn_t *c)
{
    struct io_uring_sqe *sqe;
    struct msghdr *msg = NULL;
    unsigned n = zg_outq_iov(&c->out, r->iov, ZG_IOV_MAX);

    if (n == 0)
        return;
    /* Without memory for a header, the first chunk goes alone. */
    if (n > 1 && (msg = zg_sendmsg_hdr(r, c, n)) == NULL)
        n = 1;
    sqe = zg_sqe(r);
    if (sqe == NULL) {
        if (c->sm != NULL) {
            zg_blk_put(&r->sms, c->sm);
            c->sm = NULL;
        }
        return;
    }
    if (r->zc_min > 0 && c->out.pending >= r->zc_min &&
        c->out.zc_bytes < ZG_ZC_HELD_MAX && c->zc_out < UINT16_MAX) {
        /* Zero-copy: the kernel reads the chunks until it sends a
         * notification; they are released only then (zg_outq_sent). */
        if (n == 1)
            io_uring_prep_send_zc(sqe, c->fd, r->iov[0].iov_base,
                                  r->iov[0].iov_len, MSG_NOSIGNAL, 0);
        else
            io_uring_prep_sendmsg_zc(sqe, c->fd, msg, MSG_NOSIGNAL);
        zg_outq_mark_zc(&c->out, n);
        ZG_STAT_ADD(r->rstat.zc_sends, 1);
        c->zc_out++;
        c->flags |= ZG_CF_SEND_ZC | ZG_CF_ZC;
    } else if (n == 1) {
        io_uring_prep_send(sqe, c->fd, r->iov[0].iov_base, r->iov[0].iov_len,
                           MSG_NOSIGNAL);
    } else {
        io_uring_prep_sendmsg(sqe, c->fd, msg, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_SEND, c->gen, c->slot));
    c->flags |= ZG_CF_SEND;
}

/* Run on_close once: from here on the plugin no longer knows c. */
static void zg_conn_end(zg_reactor_t *r, zg_conn_t *c, zg_close_reason_t reason)
{
    c->flags |= ZG_CF_CLOSED;
    c->flags &= ~ZG_CF_WANT_CLOSE;
    c->reason = (uint8_t)reason;
    zg_tw_unlink(r, c);
    if (c->flags & ZG_CF_OUTBOUND) {
        zg_tls_prefix = zg_conn_listener(c)->prefix;
        c->ops->on_close(c, c->data, reason);
    } else if (c->flags & ZG_CF_PLUGIN) {
        zg_tls_prefix = zg_conn_listener(c)->prefix;
        zg_conn_plugin(c)->on_close(c, c->data, reason);
    }
    c->data = NULL;
    zg_rxq_release(&c->rx, &r->pool);
}

/* Run on_close once and start tearing the connection down. */
static void zg_conn_finish(zg_reactor_t *r, zg_conn_t *c,
                           zg_close_reason_t reason)
{
    if (c->flags & ZG_CF_CLOSED)
        return;
    zg_conn_end(r, c, reason);
    if (c->flags & (ZG_CF_RECV | ZG_CF_SEND | ZG_CF_CONNECTING))
        zg_cancel(r, c, 1);
    zg_dirty(r, c);
}

/* Output is sent and a close was asked for: linger rather than close if
 * the peer may still be sending (it asked, or input went unread), so
 * that unread bytes do not turn our close into a reset that destroys the
 * output before the peer reads it. */
static int zg_should_linger(const zg_reactor_t *r, zg_conn_t *c)
{
    int inq = 0;

    if ((c->flags & ZG_CF_EOF) || r->stopping ||
        zg_conn_listener(c)->conf->linger_ms == 0)
        return 0;
    if (c->how == ZG_CLOSE_LINGER || (c->flags & ZG_CF_UNREAD))
        return 1;
    /* No receive was armed while the close was pending (or while c was
     * paused): bytes the peer sent meanwhile sit in the socket, unseen,
     * and would turn the close into a reset just the same. */
    if (ioctl(c->fd, SIOCINQ, &inq) == 0 && inq > 0) {
        c->flags |= ZG_CF_UNREAD;
        return 1;
    }
    return 0;
}

/* Shut down our write side (our FIN), through the ring when it has room. */
static void zg_shut_wr(zg_reactor_t *r, zg_conn_t *c)
{
    struct io_uring_sqe *sqe = zg_sqe(r);

    if (sqe != NULL) {
        io_uring_prep_shutdown(sqe, c->fd, SHUT_WR);
        io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_CLOSE, 0, 0));
    } else {
        shutdown(c->fd, SHUT_WR);
    }
    c->flags |= ZG_CF_SHUT_WR;
}

/* Begin a lingering close: on_close now, our FIN, then receive and drop
 * until the peer's FIN or linger_ms, whatever the peer does. */
static void zg_linger_start(zg_reactor_t *r, zg_conn_t *c)
{
    zg_conn_end(r, c, (zg_close_reason_t)c->reason);
    c->flags |= ZG_CF_LINGER;
    c->linger_at = r->now + zg_conn_listener(c)->conf->linger_ms;
    if (!(c->flags & ZG_CF_SHUT_WR))
        zg_shut_wr(r, c);
    zg_tw_file(r, c);
    zg_dirty(r, c);
}

void zg_linger_end(zg_reactor_t *r, zg_conn_t *c)
{
    if (!(c->flags & ZG_CF_LINGER))
        return;
    c->flags &= ~ZG_CF_LINGER;
    zg_tw_unlink(r, c);
    if (c->flags & ZG_CF_RECV)
        zg_cancel(r, c, 1);
    zg_dirty(r, c);
}

void zg_conn_close(zg_reactor_t *r, zg_conn_t *c, zg_close_how_t how,
                   zg_close_reason_t reason)
{
    if (c->flags & (ZG_CF_CLOSED | ZG_CF_WANT_CLOSE)) {
        /* An abort may still overtake a pending flush-close, and any
         * full close a pending shutdown of our write side. */
        if (!(c->flags & ZG_CF_CLOSED) &&
            (how == ZG_CLOSE_ABORT ||
             (c->how == ZG_CLOSE_WRITE && how != ZG_CLOSE_WRITE))) {
            c->how = (uint8_t)how;
            c->reason = (uint8_t)reason;
            zg_dirty(r, c);
        }
        return;
    }
    c->flags |= ZG_CF_WANT_CLOSE;
    c->how = (uint8_t)how;
    c->reason = (uint8_t)reason;
    /* Sending what is queued is bounded even with the idle timeout off. */
    if (zg_conn_listener(c)->conf->idle_timeout_ms == 0)
        zg_tw_file(r, c);
    zg_dirty(r, c);
}

static void zg_conn_log(zg_reactor_t *r, zg_conn_t *c);

static void zg_slot_free(zg_reactor_t *r, zg_conn_t *c)
{
    struct io_uring_sqe *sqe;

    /* A slot must not stay on the parked list into its next life. */
    if (c->flags & ZG_CF_PARKED) {
        for (uint32_t i = 0; i < r->nparked; i++) {
            if (r->parked[i] == c->slot) {
                memmove(r->parked + i, r->parked + i + 1,
                        (r->nparked - i - 1) * sizeof(*r->parked));
                r->nparked--;
                break;
            }
        }
    }
    if (c->mdata != NULL) {
        if (zg_conn_listener(c)->log_mods > 0)
            zg_conn_log(r, c);
        free(c->mdata);
        c->mdata = NULL;
    }
    free(c->peer);
    c->peer = NULL;
    if (r->peer_id == c->id)
        r->peer_len = 0;
    /* After the peer's RST the socket is closed already and linger does
     * nothing: no syscall for it (clients that reset are the churn case). */
    if (c->how == ZG_CLOSE_ABORT && !(c->flags & ZG_CF_PEER_RESET)) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};

        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    zg_tw_unlink(r, c);
    /* Closed from the ring: no syscall of its own. Nothing is keyed by
     * the fd, so the slot is free at once. */
    sqe = zg_sqe(r);
    if (sqe != NULL) {
        io_uring_prep_close(sqe, c->fd);
        io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_CLOSE, 0, 0));
    } else {
        close(c->fd);
    }
    zg_outq_drop(&c->out, &r->chunks);
    if (!(c->flags & ZG_CF_OUTBOUND)) {
        atomic_fetch_sub_explicit(&zg_conn_listener(c)->active, 1,
                                  memory_order_relaxed);
        ZG_STAT_ADD(r->lstat[c->lidx].closed[c->reason & 7], 1);
    }
    r->rs[c->lidx].conns--;
    c->flags = 0;
    c->fd = -1;
    c->gen = (c->gen + 1) & 0xffffff;
    r->freelist[r->nfree++] = c->slot;
    r->live--;
}

/* A module's reactor_data: what its reactor_init stored, or its
 * plugin_data without one. */
static void *zg_mod_rdata(zg_reactor_t *r, uint32_t lidx, uint32_t j)
{
    const zg_instance_t *in = &r->e->listeners[lidx].mods[j];

    if (in->mod->desc.reactor_init == NULL)
        return in->data;
    return r->mrdata[lidx * ZG_MAX_MODULES + j];
}

/* Module j refused c: closed at once, the plugin never learns of it. With
 * busy, the plugin's over_limit_response goes first (best effort). */
void zg_conn_refuse(zg_reactor_t *r, zg_conn_t *c, uint32_t j, int busy)
{
    zg_listener_t *l = zg_conn_listener(c);
    const zg_plugin_t *pl = &l->mod->desc;

    c->refused_by = (uint8_t)(j + 1);
    atomic_fetch_add_explicit(&l->refused, 1, memory_order_relaxed);
    ZG_STAT_ADD(r->lstat[c->lidx].refused_mod[j], 1);
    if (busy && pl->over_limit_response != NULL &&
        pl->over_limit_response_len > 0)
        zg_outq_append(&c->out, &r->chunks, pl->over_limit_response,
                       pl->over_limit_response_len);
    zg_conn_close(r, c, ZG_CLOSE_FLUSH, ZG_CLOSE_REFUSED);
    c->flags &= ~ZG_CF_UNREAD; /* no lingering for a refusal */
    zg_rxq_release(&c->rx, &r->pool);
}

/*
 * Walk c's module chain from c->stage: admit phases run at once, a preread
 * phase stops the walk until its bytes come (ZG_CF_PREREAD); past the last
 * module, the plugin's on_accept. Returns 0 while c is open, -1 once it
 * was refused or closed.
 */
static int zg_chain_next(zg_reactor_t *r, zg_conn_t *c)
{
    zg_listener_t *l = zg_conn_listener(c);
    int rc;

    while (c->stage < 2 * l->nmods) {
        uint32_t j = c->stage / 2;
        zg_instance_t *in = &l->mods[j];
        const zg_plugin_t *d = &in->mod->desc;

        if (c->stage % 2 == 1) {
            if (d->on_preread != NULL) {
                c->flags |= ZG_CF_PREREAD;
                return 0;
            }
            c->stage++;
            continue;
        }
        c->stage++;
        if (d->on_admit == NULL)
            continue;
        zg_tls_prefix = in->prefix;
        rc = d->on_admit(c, zg_mod_rdata(r, c->lidx, j), &c->mdata[j]);
        if (rc != 0) {
            zg_conn_refuse(r, c, j, rc == ZG_ADMIT_BUSY);
            return -1;
        }
        if (c->flags & (ZG_CF_WANT_CLOSE | ZG_CF_CLOSED))
            return -1;
    }
    c->flags &= ~ZG_CF_PREREAD;
    c->flags |= ZG_CF_PLUGIN;
    c->timer_at = 0; /* a module's timer ends with its phase */
    zg_tls_prefix = l->prefix;
    rc = l->mod->desc.on_accept(c, r->rdata[c->lidx], &c->data);
    if (rc != 0) {
        ZG_STAT_ADD(r->lstat[c->lidx].errors, 1);
        zg_conn_close(r, c, ZG_CLOSE_ABORT, ZG_CLOSE_LOCAL);
        return -1;
    }
    /* A graceful stop, or its generation retired while its modules
     * had it: the plugin learns at once. */
    if ((r->draining || r->rs[c->lidx].mine == ZG_RS_RETIRING) &&
        l->mod->desc.on_drain != NULL) {
        c->flags |= ZG_CF_DRAINED;
        l->mod->desc.on_drain(c, c->data);
    }
    /* Bytes after what the modules took go to the plugin now. */
    if (c->rx.held > 0 || (c->flags & ZG_CF_EOF)) {
        c->flags |= ZG_CF_NEW;
        c->flags &= ~ZG_CF_EOF_SEEN;
    }
    zg_tw_file(r, c);
    zg_dirty(r, c);
    return 0;
}

/* The input goes to the module in its preread phase. */
static void zg_preread(zg_reactor_t *r, zg_conn_t *c, zg_input_t *in)
{
    zg_listener_t *l = zg_conn_listener(c);
    uint32_t j = c->stage / 2;
    zg_instance_t *mi = &l->mods[j];
    long n;

    zg_tls_prefix = mi->prefix;
    n = mi->mod->desc.on_preread(c, c->mdata[j], in);
    c->rsv = 0;
    if (c->flags & (ZG_CF_CLOSED | ZG_CF_WANT_CLOSE))
        return;
    if (n == ZG_PREREAD_MORE) {
        /* Waiting for more: a FIN, or more than the hold limit, ends it. */
        if ((c->flags & ZG_CF_EOF) || c->rx.held > l->conf->max_held_bytes)
            zg_conn_refuse(r, c, j, 0);
        return;
    }
    if (n < 0 || (size_t)n > in->total) {
        zg_conn_refuse(r, c, j, 0);
        return;
    }
    zg_rxq_consume(&c->rx, &r->pool, (size_t)n);
    c->flags &= ~ZG_CF_PREREAD;
    c->stage++;
    zg_chain_next(r, c);
}

void zg_conn_timeout(zg_reactor_t *r, zg_conn_t *c)
{
    zg_listener_t *l = zg_conn_listener(c);

    (void)r;
    if (c->flags & ZG_CF_PREREAD) {
        uint32_t j = c->stage / 2;
        const zg_plugin_t *d = &l->mods[j].mod->desc;

        if (d->on_timeout != NULL) {
            zg_tls_prefix = l->mods[j].prefix;
            d->on_timeout(c, c->mdata[j]);
        }
        return;
    }
    if (c->flags & ZG_CF_OUTBOUND) {
        void (*fn)(zg_conn_t *, void *) = ZG_OPS_FN(c->ops, on_timeout);

        if (fn != NULL) {
            zg_tls_prefix = l->prefix;
            fn(c, c->data);
        }
    } else if ((c->flags & ZG_CF_PLUGIN) && l->mod->desc.on_timeout != NULL) {
        zg_tls_prefix = l->prefix;
        l->mod->desc.on_timeout(c, c->data);
    }
}

int zg_conn_peer(zg_reactor_t *r, zg_conn_t *c, struct sockaddr *addr,
                 socklen_t *len)
{
    const struct sockaddr_storage *src;
    socklen_t have;

    if (c->peer != NULL) {
        src = c->peer;
        have = c->peer->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6);
    } else {
        if (r->peer_id != c->id || r->peer_len == 0) {
            r->peer_len = sizeof(r->peer_cache);
            if (getpeername(c->fd, (struct sockaddr *)&r->peer_cache,
                            &r->peer_len) < 0) {
                r->peer_len = 0;
                return -errno;
            }
            r->peer_id = c->id;
        }
        src = &r->peer_cache;
        have = r->peer_len;
    }
    memcpy(addr, src, have < *len ? have : *len);
    *len = have;
    return 0;
}

/* The log phase: every module's on_log, once, as the slot is freed. */
static void zg_conn_log(zg_reactor_t *r, zg_conn_t *c)
{
    zg_listener_t *l = zg_conn_listener(c);
    struct sockaddr_storage peer, local;
    socklen_t plen = sizeof(peer), llen = sizeof(local);
    zg_conn_info_t info;

    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    info.reactor_id = (int)r->id;
    info.conn_id = c->id;
    info.reason = (zg_close_reason_t)c->reason;
    info.listener = l->conf->name;
    if (c->refused_by > 0)
        info.refused_by = l->mods[c->refused_by - 1].mod->desc.name;
    if (zg_conn_peer(r, c, (struct sockaddr *)&peer, &plen) == 0) {
        info.peer = (const struct sockaddr *)&peer;
        info.peer_len = plen;
    }
    if (l->bound_len > 0) {
        info.local = (const struct sockaddr *)&l->bound;
        info.local_len = l->bound_len;
    } else if (getsockname(c->fd, (struct sockaddr *)&local, &llen) == 0) {
        info.local = (const struct sockaddr *)&local;
        info.local_len = llen;
    }
    info.bytes_in = c->bytes_in;
    info.bytes_out = c->bytes_out;
    info.duration_ms = r->now - c->start_ms;
    for (uint32_t j = 0; j < l->nmods; j++) {
        const zg_plugin_t *d = &l->mods[j].mod->desc;

        if (d->on_log == NULL)
            continue;
        zg_tls_prefix = l->mods[j].prefix;
        d->on_log(zg_mod_rdata(r, c->lidx, j), c->mdata[j], &info);
        c->mdata[j] = NULL;
    }
}

/* The listener's output watermarks (bytes of unsent output). */
static size_t zg_wm_high(const zg_conn_t *c)
{
    return zg_conn_listener(c)->conf->write_high_watermark;
}

static size_t zg_wm_low(const zg_conn_t *c)
{
    return zg_conn_listener(c)->conf->write_low_watermark;
}

static void zg_deliver(zg_reactor_t *r, zg_conn_t *c)
{
    zg_view_t views[ZG_RXQ_SEGS];
    zg_input_t in;
    zg_listener_t *l = zg_conn_listener(c);
    size_t late;
    long n;

    in.nviews = zg_rxq_views(&c->rx, &r->pool, views);
    in.views = views;
    in.total = c->rx.held;
    in.flags = (c->flags & ZG_CF_EOF) ? ZG_IN_EOF : 0;
    c->flags &= ~ZG_CF_NEW;
    if (c->flags & ZG_CF_EOF)
        c->flags |= ZG_CF_EOF_SEEN;
    if (c->flags & ZG_CF_PREREAD) {
        zg_preread(r, c, &in);
        return;
    }
    zg_tls_prefix = l->prefix;
    if (c->flags & ZG_CF_OUTBOUND)
        n = c->ops->on_data(c, c->data, &in);
    else
        n = l->mod->desc.on_data(c, c->data, &in);
    c->rsv = 0;
    if (c->flags & ZG_CF_CLOSED)
        return;
    if (n < 0) {
        zg_conn_close(r, c, ZG_CLOSE_FLUSH, ZG_CLOSE_LOCAL);
        return;
    }
    if ((size_t)n > in.total) {
        zg_log(ZG_LOG_ERROR, "%s: on_data consumed %ld of %zu bytes, closing",
               l->prefix, n, in.total);
        ZG_STAT_ADD(r->lstat[c->lidx].errors, 1);
        zg_conn_close(r, c, ZG_CLOSE_ABORT, ZG_CLOSE_ERROR);
        return;
    }
    zg_rxq_consume(&c->rx, &r->pool, (size_t)n);
    if (c->flags & ZG_CF_WANT_CLOSE)
        return;
    /* The limit is for a plugin that leaves input unconsumed without
     * pausing. Bytes that arrived while delivery was held back (paused,
     * back-off) are flow control's, not the plugin's: they are allowed
     * once, at the delivery that follows. */
    late = c->late;
    c->late = 0;
    if (!(c->flags & ZG_CF_PAUSED) && c->out.pending < zg_wm_high(c) &&
        c->rx.held - (c->rx.held < late ? c->rx.held : late) >
            l->conf->max_held_bytes) {
        zg_log(ZG_LOG_INFO,
               "%s: connection %llu holds %zu unconsumed bytes (limit %u), "
               "closing",
               l->prefix, (unsigned long long)c->id, c->rx.held,
               l->conf->max_held_bytes);
        zg_conn_close(r, c, ZG_CLOSE_ABORT, ZG_CLOSE_LIMIT);
        return;
    }
    if ((c->flags & (ZG_CF_EOF | ZG_CF_HALF_OPEN)) == ZG_CF_EOF) {
        zg_conn_close(r, c, ZG_CLOSE_FLUSH, ZG_CLOSE_PEER);
        return;
    }
    /* Held bytes must not starve the ring while it runs short. */
    if (c->rx.held > 0 && zg_bufpool_scarce(&r->pool))
        zg_rxq_compact(&c->rx, &r->pool);
}

/* Bring one connection up to date: deliver input, send output, re-arm
 * recv, finish a close, free the slot. */
static void zg_process(zg_reactor_t *r, zg_conn_t *c)
{
    uint32_t f;

    c->flags &= ~ZG_CF_DIRTY;
    if (!(c->flags & ZG_CF_USED))
        return;
    if (!(c->flags & ZG_CF_CLOSED)) {
        if (c->out.pending >= zg_wm_high(c))
            c->flags |= ZG_CF_BACKOFF;
        else if (c->out.pending <= zg_wm_low(c))
            c->flags &= ~ZG_CF_BACKOFF;
        f = c->flags;
        if ((f & (ZG_CF_WANT_WR | ZG_CF_PLUGIN)) ==
                (ZG_CF_WANT_WR | ZG_CF_PLUGIN) &&
            c->out.pending <= zg_wm_low(c) && !(f & ZG_CF_WANT_CLOSE)) {
            void (*fn)(zg_conn_t *, void *) =
                (f & ZG_CF_OUTBOUND) ? ZG_OPS_FN(c->ops, on_writable)
                                     : zg_conn_plugin(c)->on_writable;

            c->flags &= ~ZG_CF_WANT_WR;
            if (fn != NULL) {
                zg_tls_prefix = zg_conn_listener(c)->prefix;
                fn(c, c->data);
            }
        }
        f = c->flags;
        if (((f & ZG_CF_NEW) || ((f & ZG_CF_EOF) && !(f & ZG_CF_EOF_SEEN))) &&
            !(f & (ZG_CF_HOLD_INPUT | ZG_CF_CLOSED)))
            zg_deliver(r, c);
    }
    if ((c->flags & ZG_CF_WANT_CLOSE) && c->how == ZG_CLOSE_ABORT)
        zg_conn_finish(r, c, (zg_close_reason_t)c->reason);
    /* Draining (a graceful stop, or its generation retired) without the
     * plugin's help: close once nothing is pending. */
    if ((r->draining || r->rs[c->lidx].mine == ZG_RS_RETIRING) &&
        zg_conn_plugin(c)->on_drain == NULL &&
        (c->flags & (ZG_CF_PLUGIN | ZG_CF_CLOSED | ZG_CF_WANT_CLOSE |
                     ZG_CF_SEND | ZG_CF_OUTBOUND)) == ZG_CF_PLUGIN &&
        c->rx.held == 0 && c->out.pending == 0)
        zg_conn_close(r, c, ZG_CLOSE_FLUSH, ZG_CLOSE_SHUTDOWN);
    /* A close is pending: held input will never be read. */
    if ((c->flags & (ZG_CF_WANT_CLOSE | ZG_CF_CLOSED)) == ZG_CF_WANT_CLOSE &&
        c->how != ZG_CLOSE_WRITE && c->rx.held > 0) {
        c->flags |= ZG_CF_UNREAD;
        c->dropped += c->rx.held;
        zg_rxq_release(&c->rx, &r->pool);
    }
    if (!(c->flags & ZG_CF_CLOSED)) {
        if (c->out.pending > 0 && !(c->flags & (ZG_CF_SEND | ZG_CF_CONNECTING)))
            zg_send(r, c);
        if ((c->flags & ZG_CF_WANT_CLOSE) && c->out.pending == 0 &&
            !(c->flags & ZG_CF_SEND)) {
            if (c->how == ZG_CLOSE_WRITE) {
                zg_shut_wr(r, c);
                c->flags &= ~ZG_CF_WANT_CLOSE;
            } else if (zg_should_linger(r, c)) {
                zg_linger_start(r, c);
            } else {
                zg_conn_finish(r, c, (zg_close_reason_t)c->reason);
            }
        }
    }
    f = c->flags;
    if (!(f & ZG_CF_CLOSED)) {
        /* Receive only what the plugin will read next (see reactor.h). */
        int stop_reading = (f & ZG_CF_HOLD_INPUT) != 0;

        if (stop_reading && (f & ZG_CF_RECV))
            zg_cancel(r, c, 0);
        else if (!stop_reading && !(f & (ZG_CF_RECV | ZG_CF_EOF | ZG_CF_PARKED |
                                         ZG_CF_CANCEL | ZG_CF_CONNECTING)))
            zg_arm_recv(r, c);
    } else if ((f & ZG_CF_LINGER) &&
               !(f & (ZG_CF_RECV | ZG_CF_EOF | ZG_CF_CANCEL))) {
        zg_arm_recv(r, c);
    }
    if ((c->flags & ZG_CF_CLOSED) &&
        !(c->flags & (ZG_CF_RECV | ZG_CF_SEND | ZG_CF_LINGER |
                      ZG_CF_CONNECTING | ZG_CF_ZC)))
        zg_slot_free(r, c);
}

/* Stop accepting on this reactor's own sockets (reuseport mode). One we
 * bound is shut down, so the kernel refuses what waits in its backlog;
 * an inherited one (socket activation, the master) keeps listening for
 * the next server, so only our accept is cancelled. */
static void zg_reactor_unlisten(zg_reactor_t *r)
{
    uint32_t ns = atomic_load(&r->e->nslots);

    for (uint32_t l = 0; l < ns; l++) {
        zg_listener_t *li = &r->e->listeners[l];
        struct io_uring_sqe *sqe;

        /* Live slots only: the main thread may free a retired one. */
        if (r->rs[l].mine != ZG_RS_LIVE || li->rp_fds == NULL)
            continue;
        if (!li->inherited) {
            shutdown(li->rp_fds[r->id], SHUT_RDWR);
        } else if ((sqe = zg_sqe(r)) != NULL) {
            io_uring_prep_cancel64(sqe, zg_ud(ZG_OP_ACCEPT, 0, l), 0);
            io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_CANCEL, 0, 0));
        }
    }
}

/* Tell c's plugin that c should end once idle (on_drain); without
 * on_drain, zg_process closes it once nothing is pending. */
static void zg_conn_drain(zg_reactor_t *r, zg_conn_t *c)
{
    const zg_plugin_t *pl = zg_conn_plugin(c);

    if (pl->on_drain != NULL && !(c->flags & ZG_CF_DRAINED)) {
        c->flags |= ZG_CF_DRAINED;
        zg_tls_prefix = zg_conn_listener(c)->prefix;
        pl->on_drain(c, c->data);
    }
    zg_dirty(r, c);
}

/* A graceful stop reached this reactor. */
static void zg_reactor_drain(zg_reactor_t *r)
{
    r->draining = 1;
    r->drain_deadline = r->now + atomic_load(&r->e->shutdown_timeout_ms);
    zg_reactor_unlisten(r);
    for (uint32_t i = 0; i < r->fresh; i++) {
        zg_conn_t *c = &r->conns[i];

        /* Those still in their modules' phases (a PROXY header on its
         * way) were accepted to be served: the plugin learns it when they
         * reach it (zg_chain_next), the deadline bounds them. */
        if ((c->flags & (ZG_CF_USED | ZG_CF_CLOSED | ZG_CF_OUTBOUND |
                         ZG_CF_PLUGIN)) == (ZG_CF_USED | ZG_CF_PLUGIN))
            zg_conn_drain(r, c);
    }
}

static void zg_park(zg_reactor_t *r, zg_conn_t *c)
{
    if (c->flags & ZG_CF_PARKED)
        return;
    c->flags |= ZG_CF_PARKED;
    r->parked[r->nparked++] = c->slot;
    ZG_STAT_ADD(r->rstat.enobufs, 1);
    zg_bufpool_starved(&r->pool);
    r->compact_all = 1;
}

/* A peer resetting or vanishing is routine (debug); anything else is
 * worth an operator's look (info), never louder: it is one connection. */
static int zg_sock_err_level(int res)
{
    switch (-res) {
    case ECONNRESET:
    case EPIPE:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return ZG_LOG_DEBUG;
    default:
        return ZG_LOG_INFO;
    }
}

static zg_conn_t *zg_conn_of(zg_reactor_t *r, uint64_t ud)
{
    uint32_t slot = zg_ud_slot(ud);
    zg_conn_t *c;

    if (slot >= r->nconns)
        return NULL;
    c = &r->conns[slot];
    if (!(c->flags & ZG_CF_USED) || c->gen != zg_ud_gen(ud))
        return NULL;
    return c;
}

/* One piece of received input, len bytes at off in buffer bid (taken
 * from the kernel, its reference now ours): onto c's receive queue, or
 * recycled when nobody will read it. c may be NULL (a late completion). */
static void zg_recv_piece(zg_reactor_t *r, zg_conn_t *c, uint32_t bid,
                          uint32_t off, uint32_t len)
{
    /* Many pieces for one connection in one iteration (a fast sender, a
     * bundle): rather than copy its queue into the heap to make room (and
     * lose zero-copy forwarding), hand the plugin what it has now. */
    if (c != NULL && len > 0 && c->rx.n == ZG_RXQ_SEGS &&
        (c->flags & (ZG_CF_PLUGIN | ZG_CF_PREREAD)) &&
        !(c->flags & (ZG_CF_HOLD_INPUT | ZG_CF_CLOSED)) &&
        c->out.pending < zg_wm_high(c))
        zg_deliver(r, c);
    if (c == NULL || (c->flags & ZG_CF_CLOSED) || len == 0 ||
        ((c->flags & ZG_CF_WANT_CLOSE) && c->how != ZG_CLOSE_WRITE)) {
        /* A late CQE for a closed or reused slot, or input nobody will
         * read (closing, lingering): recycle only. */
        zg_bufpool_unref(&r->pool, bid);
        if (c != NULL && len > 0) {
            c->dropped += len;
            c->bytes_in += len;
            if (!(c->flags & ZG_CF_OUTBOUND))
                ZG_STAT_ADD(r->lstat[c->lidx].bytes_in, len);
            if (!(c->flags & ZG_CF_CLOSED))
                c->flags |= ZG_CF_UNREAD;
        }
    } else if (zg_rxq_push(&c->rx, &r->pool, bid, off, len) < 0) {
        zg_conn_close(r, c, ZG_CLOSE_ABORT, ZG_CLOSE_ERROR);
    } else {
        /* Held input only grows here: its high-water mark is taken here. */
        if (c->rx.held >
            atomic_load_explicit(&r->rstat.held_max, memory_order_relaxed))
            ZG_STAT_SET(r->rstat.held_max, c->rx.held);
        c->flags |= ZG_CF_NEW;
        c->last_active = r->now;
        c->bytes_in += len;
        if (!(c->flags & ZG_CF_OUTBOUND))
            ZG_STAT_ADD(r->lstat[c->lidx].bytes_in, len);
        if (c->flags & ZG_CF_HOLD_INPUT)
            c->late += len;
    }
}

/* A bundle completion: res bytes in the buffers that follow bid in ring
 * order (rxbuf.h). If the ring shadow and the kernel disagree the rest of
 * the input is lost, so the connection ends rather than go on with a gap. */
static void zg_recv_bundle(zg_reactor_t *r, zg_conn_t *c, uint32_t bid,
                           uint32_t res)
{
    zg_bundle_t b = {.pos = 0, .left = res};
    uint32_t id, off, len, n = 0;
    int k;

    if (zg_bufpool_bundle(&r->pool, &b, bid, res) < 0) {
        k = -EINVAL;
    } else {
        while ((k = zg_bufpool_bundle_next(&r->pool, &b, &id, &off, &len)) >
               0) {
            zg_recv_piece(r, c, id, off, len);
            n++;
        }
    }
    if (n > 1) {
        ZG_STAT_ADD(r->rstat.bundles, 1);
        ZG_STAT_ADD(r->rstat.bundle_bufs, n);
    }
    if (k < 0) {
        zg_log(ZG_LOG_ALERT,
               "reactor %u: a recv bundle of %u bytes from buffer %u does "
               "not match the buffers in the ring (%u bytes unmapped)",
               r->id, res, bid, b.left);
        if (c != NULL && !(c->flags & ZG_CF_CLOSED))
            zg_conn_close(r, c, ZG_CLOSE_ABORT, ZG_CLOSE_ERROR);
    }
}

static void zg_on_recv(zg_reactor_t *r, const struct io_uring_cqe *cqe)
{
    zg_conn_t *c = zg_conn_of(r, cqe->user_data);
    int res = cqe->res;

    if ((cqe->flags & IORING_CQE_F_BUFFER) && r->bundle) {
        /* No data, no buffer consumed: the kernel put back what it
         * mapped. */
        if (res > 0)
            zg_recv_bundle(r, c, cqe->flags >> IORING_CQE_BUFFER_SHIFT,
                           (uint32_t)res);
        /* A bundle that emptied the ring ends the multishot recv: the
         * window is short, as with ENOBUFS. */
        if (res > 0 && !(cqe->flags & IORING_CQE_F_MORE) && c != NULL &&
            !(c->flags & (ZG_CF_CANCEL | ZG_CF_CLOSED)))
            zg_bufpool_starved(&r->pool);
    } else if (cqe->flags & IORING_CQE_F_BUFFER) {
        uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT, off;
        int more = r->inc && (cqe->flags & IORING_CQE_F_BUF_MORE);

        if (zg_bufpool_take(&r->pool, bid, res > 0 ? (uint32_t)res : 0, more,
                            &off) < 0)
            zg_log(ZG_LOG_ALERT,
                   "reactor %u: kernel filled buffer %u "
                   "that is not in the ring",
                   r->id, bid);
        else
            zg_recv_piece(r, c, bid, off, res > 0 ? (uint32_t)res : 0);
    }
    if (c == NULL)
        return;
    if (!(cqe->flags & IORING_CQE_F_MORE))
        c->flags &= ~(ZG_CF_RECV | ZG_CF_CANCEL);
    if (c->flags & ZG_CF_LINGER) {
        /* The peer's FIN, an error or a shortage of buffers ends it. */
        if (res == 0 || (res < 0 && res != -ECANCELED))
            zg_linger_end(r, c);
        zg_dirty(r, c);
        return;
    }
    if (res == -ECONNRESET)
        c->flags |= ZG_CF_PEER_RESET;
    if (res == 0) {
        c->flags |= ZG_CF_EOF;
    } else if (res == -ENOBUFS) {
        if (!(c->flags & ZG_CF_CLOSED))
            zg_park(r, c);
    } else if (res < 0 && res != -ECANCELED && !(c->flags & ZG_CF_CLOSED)) {
        zg_log(zg_sock_err_level(res),
               "%s: recv() failed (%d: %s) on connection %llu",
               zg_conn_listener(c)->prefix, -res, strerror(-res),
               (unsigned long long)c->id);
        zg_conn_close(r, c, ZG_CLOSE_ABORT, ZG_CLOSE_ERROR);
    }
    zg_dirty(r, c);
}

/* One zero-copy send is done with its memory. */
static void zg_zc_done(zg_reactor_t *r, zg_conn_t *c)
{
    if (c->zc_out > 0 && --c->zc_out == 0) {
        c->flags &= ~ZG_CF_ZC;
        zg_outq_zc_release(&c->out, &r->chunks);
    }
    zg_dirty(r, c);
}

static void zg_on_send(zg_reactor_t *r, const struct io_uring_cqe *cqe)
{
    zg_conn_t *c = zg_conn_of(r, cqe->user_data);

    if (c == NULL)
        return;
    if (cqe->flags & IORING_CQE_F_NOTIF) {
        /* The kernel no longer reads a zero-copy send's memory (on
         * loopback and veth it copied anyway: res says so). */
        zg_zc_done(r, c);
        return;
    }
    if (c->flags & ZG_CF_SEND_ZC) {
        c->flags &= ~ZG_CF_SEND_ZC;
        /* Without F_MORE no notification follows (the send failed). */
        if (!(cqe->flags & IORING_CQE_F_MORE))
            zg_zc_done(r, c);
    }
    c->flags &= ~ZG_CF_SEND;
    if (c->sm != NULL) {
        zg_blk_put(&r->sms, c->sm);
        c->sm = NULL;
    }
    if (cqe->res < 0) {
        if (!(c->flags & ZG_CF_CLOSED) && cqe->res != -ECANCELED) {
            zg_log(zg_sock_err_level(cqe->res),
                   "%s: send() failed (%d: %s) on connection %llu",
                   zg_conn_listener(c)->prefix, -cqe->res, strerror(-cqe->res),
                   (unsigned long long)c->id);
            zg_conn_close(r, c, ZG_CLOSE_ABORT, ZG_CLOSE_ERROR);
        }
    } else {
        zg_outq_sent(&c->out, &r->chunks, (size_t)cqe->res);
        c->last_active = r->now;
        c->bytes_out += (uint64_t)cqe->res;
        if (!(c->flags & ZG_CF_OUTBOUND))
            ZG_STAT_ADD(r->lstat[c->lidx].bytes_out, (uint64_t)cqe->res);
    }
    zg_dirty(r, c);
}

static void zg_log_full(zg_reactor_t *r)
{
    time_t now = time(NULL);

    r->full_dropped++;
    if (now == r->full_logged)
        return;
    r->full_logged = now;
    zg_log(ZG_LOG_WARN,
           "reactor %u: %u connections in use (reactor.max_connections), "
           "%llu new connection(s) closed",
           r->id, r->nconns, (unsigned long long)r->full_dropped);
    r->full_dropped = 0;
}

/* A fresh slot for socket fd of listener lidx, or NULL if all are taken. */
static zg_conn_t *zg_slot_new(zg_reactor_t *r, int fd, uint32_t lidx)
{
    const zg_engine_t *e = r->e;
    zg_conn_t *c;
    uint64_t seq;

    if (r->nfree > 0) {
        c = &r->conns[r->freelist[--r->nfree]];
    } else if (r->fresh < r->nconns) {
        c = &r->conns[r->fresh];
        c->slot = r->fresh++;
        c->r = r;
    } else {
        return NULL;
    }
    r->live++;
    r->rs[lidx].conns++;
    c->flags = ZG_CF_USED;
    c->fd = fd;
    c->lidx = (uint16_t)lidx;
    c->reason = 0;
    c->how = 0;
    c->zc_out = 0;
    c->data = NULL;
    c->rsv = 0;
    /* Published for post(), which checks that an id was ever issued. */
    seq = atomic_load_explicit(&r->seq, memory_order_relaxed) + 1;
    atomic_store_explicit(&r->seq, seq, memory_order_release);
    c->id = zg_id_make(e, seq, r->id, c->slot);
    c->last_active = r->now;
    c->timer_at = 0;
    c->linger_at = 0;
    c->dropped = 0;
    c->late = 0;
    c->start_ms = r->now;
    c->bytes_in = 0;
    c->bytes_out = 0;
    c->stage = 0;
    c->refused_by = 0;
    c->peer = NULL;
    c->mdata = NULL;
    c->ops = NULL;
    zg_wheel_link_init(&c->tw);
    memset(&c->rx, 0, sizeof(c->rx));
    memset(&c->out, 0, sizeof(c->out));
    return c;
}

zg_conn_t *zg_conn_by_id(zg_reactor_t *r, uint64_t id)
{
    uint32_t slot = zg_id_slot(r->e, id);
    zg_conn_t *c;

    if (slot >= r->fresh)
        return NULL;
    c = &r->conns[slot];
    if ((c->flags & (ZG_CF_USED | ZG_CF_CLOSED)) != ZG_CF_USED || c->id != id)
        return NULL;
    return c;
}

zg_conn_t *zg_conn_connect(zg_reactor_t *r, const zg_connect_t *o, int *err)
{
    struct io_uring_sqe *sqe;
    zg_conn_t *c;
    int fd, one = 1;

    if (r->stopping) {
        *err = -ESHUTDOWN;
        return NULL;
    }
    if (r->nfree == 0 && r->fresh == r->nconns) {
        *err = -EBUSY;
        return NULL;
    }
    fd = socket(o->addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    /* A relay forwards what it has at once, as nginx's proxy does. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = zg_slot_new(r, fd, o->from->lidx);
    c->peer = calloc(1, sizeof(*c->peer));
    if (c->peer == NULL) {
        c->flags |= ZG_CF_CLOSED | ZG_CF_OUTBOUND;
        zg_slot_free(r, c);
        *err = -ENOMEM;
        return NULL;
    }
    memcpy(c->peer, o->addr, o->addr_len);
    c->flags |= ZG_CF_OUTBOUND | ZG_CF_PLUGIN | ZG_CF_CONNECTING;
    c->ops = o->ops;
    c->data = o->conn_data;
    c->stage = 255; /* no module phase */
    c->cts.tv_sec = (o->timeout_ms ? o->timeout_ms : 60000) / 1000;
    c->cts.tv_nsec = (long long)(o->timeout_ms % 1000) * 1000000;
    /* The connect and its linked timeout go in the same submission. */
    if (io_uring_sq_space_left(&r->ring) < 2)
        io_uring_submit(&r->ring);
    sqe = zg_sqe(r);
    io_uring_prep_connect(sqe, fd, (const struct sockaddr *)c->peer,
                          o->addr_len);
    io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_CONNECT, c->gen, c->slot));
    sqe->flags |= IOSQE_IO_LINK;
    sqe = zg_sqe(r);
    io_uring_prep_link_timeout(sqe, &c->cts, 0);
    io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_CLOSE, 0, 0));
    zg_tw_file(r, c);
    return c;
}

/* An outbound connect ended: established, failed or timed out. */
static void zg_on_connect(zg_reactor_t *r, const struct io_uring_cqe *cqe)
{
    zg_conn_t *c = zg_conn_of(r, cqe->user_data);
    void (*fn)(zg_conn_t *, void *, int);
    int res = cqe->res;

    if (c == NULL)
        return;
    c->flags &= ~ZG_CF_CONNECTING;
    zg_dirty(r, c);
    if (c->flags & ZG_CF_CLOSED)
        return;
    /* Cancelled by the linked timeout, unless the owner closed it. */
    if (res == -ECANCELED && !(c->flags & ZG_CF_WANT_CLOSE))
        res = -ETIMEDOUT;
    c->last_active = r->now;
    fn = ZG_OPS_FN(c->ops, on_connect);
    if (fn != NULL && !(c->flags & ZG_CF_WANT_CLOSE)) {
        zg_tls_prefix = zg_conn_listener(c)->prefix;
        fn(c, c->data, res);
    }
    if (res < 0)
        zg_conn_finish(r, c,
                       res == -ETIMEDOUT ? ZG_CLOSE_TIMEOUT : ZG_CLOSE_ERROR);
    else
        zg_tw_file(r, c);
}

/* Where a connection accepted on slot s goes: s itself while it serves
 * here, else (its generation retired) the slot that took over its
 * socket, once that one is set up here. */
static uint32_t zg_route(zg_reactor_t *r, uint32_t s)
{
    int succ;

    if (r->rs[s].mine == ZG_RS_LIVE || r->rs[s].mine == ZG_RS_INITED)
        return s;
    succ = atomic_load_explicit(&r->e->listeners[s].succ, memory_order_relaxed);
    if (succ >= 0 &&
        (r->rs[succ].mine == ZG_RS_LIVE || r->rs[succ].mine == ZG_RS_INITED))
        return (uint32_t)succ;
    return s;
}

static void zg_on_newconn(zg_reactor_t *r, uint32_t lidx, int fd)
{
    zg_listener_t *l;
    zg_conn_t *c;

    if (lidx >= ZG_MAX_SLOTS || fd < 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    l = &r->e->listeners[lidx];
    if (r->rs[lidx].mine != ZG_RS_LIVE && r->rs[lidx].mine != ZG_RS_INITED &&
        r->rs[lidx].mine != ZG_RS_RETIRING) {
        /* Handed over as its generation was retired and done with here:
         * the successor serves it, as it would have accepted it. */
        uint32_t to = zg_route(r, lidx);

        atomic_fetch_sub_explicit(&l->active, 1, memory_order_relaxed);
        if (to == lidx) {
            close(fd);
            return;
        }
        lidx = to;
        l = &r->e->listeners[lidx];
        atomic_fetch_add_explicit(&l->active, 1, memory_order_relaxed);
    }
    if (r->stopping || (c = zg_slot_new(r, fd, lidx)) == NULL) {
        if (!r->stopping) {
            zg_log_full(r);
            ZG_STAT_ADD(r->lstat[lidx].refused_full, 1);
        }
        atomic_fetch_sub_explicit(&l->active, 1, memory_order_relaxed);
        zg_listener_refuse(l, fd);
        return;
    }
    if (l->nmods > 0) {
        c->mdata = calloc(l->nmods, sizeof(*c->mdata));
        if (c->mdata == NULL) {
            zg_conn_close(r, c, ZG_CLOSE_ABORT, ZG_CLOSE_ERROR);
            return;
        }
    }
    if (zg_chain_next(r, c) < 0)
        return;
    zg_tw_file(r, c);
    zg_dirty(r, c);
}

static void zg_arm_accept(zg_reactor_t *r, uint32_t lidx)
{
    struct io_uring_sqe *sqe = zg_sqe(r);

    if (sqe == NULL)
        return;
    zg_prep_accept(sqe, r->e->listeners[lidx].rp_fds[r->id], lidx);
}

/* Slot s should accept here: live, and no stop under way. */
static int zg_accepting(const zg_reactor_t *r, uint32_t s)
{
    return !r->stopping && !r->draining &&
           atomic_load_explicit(&r->e->listeners[s].want,
                                memory_order_relaxed) == ZG_LS_LIVE;
}

static void zg_on_accept_cqe(zg_reactor_t *r, const struct io_uring_cqe *cqe)
{
    uint32_t lidx = zg_ud_slot(cqe->user_data);
    int pause = 0, live = zg_accepting(r, lidx);
    struct io_uring_sqe *sqe;

    if (live)
        pause = zg_accept_verdict(&r->e->listeners[lidx], cqe->res,
                                  &r->rs[lidx].acc_paused);
    if (cqe->res >= 0) {
        uint32_t to = zg_route(r, lidx);

        atomic_fetch_add_explicit(&r->e->listeners[to].accepted, 1,
                                  memory_order_relaxed);
        if (zg_listener_admit(&r->e->listeners[to], cqe->res))
            zg_on_newconn(r, to, cqe->res);
    }
    if (cqe->flags & IORING_CQE_F_MORE)
        return;
    if (!live)
        r->rs[lidx].acc = 0;
    else if (!pause)
        zg_arm_accept(r, lidx);
    else if ((sqe = zg_sqe(r)) != NULL)
        zg_prep_accept_pause(sqe, lidx);
}

/* Keep a read armed on the post queue's eventfd: its completion is the
 * wake-up for calls posted from other threads. */
static void zg_arm_post(zg_reactor_t *r)
{
    struct io_uring_sqe *sqe;

    if (r->stopping && r->live == 0)
        return;
    sqe = zg_sqe(r);
    if (sqe == NULL)
        return;
    io_uring_prep_read(sqe, r->postq.efd, &r->post_val, sizeof(r->post_val), 0);
    io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_POST, 0, 0));
    r->post_armed = 1;
}

/* Most posted calls run per loop iteration, so that a call that posts
 * again cannot keep the loop from its other work. */
#define ZG_POSTS_PER_PASS 1024

/* Run the posted calls that are queued (all of them: c == NULL). */
static void zg_run_posts(zg_reactor_t *r, int all)
{
    zg_post_item_t *n;
    uint32_t k = 0;

    r->post_more = 0;
    while ((n = zg_postq_pop(&r->postq)) != NULL) {
        zg_conn_t *c = all ? NULL : zg_conn_by_id(r, n->conn_id);

        zg_tls_prefix = c != NULL ? zg_conn_listener(c)->prefix : NULL;
        n->fn(c, c != NULL ? c->data : NULL, n->arg);
        free(n);
        if (++k == ZG_POSTS_PER_PASS && !all) {
            r->post_more = 1;
            break;
        }
    }
}

/* End the connections of listener slot s (every slot: ZG_ALL_SLOTS) with
 * SHUTDOWN, lingering ones included; returns how many there were. */
#define ZG_ALL_SLOTS UINT32_MAX
static uint32_t zg_end_conns(zg_reactor_t *r, uint32_t s)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < r->fresh; i++) {
        zg_conn_t *c = &r->conns[i];

        if (!(c->flags & ZG_CF_USED) || (s != ZG_ALL_SLOTS && c->lidx != s))
            continue;
        n++;
        if (!(c->flags & ZG_CF_CLOSED))
            zg_conn_finish(r, c, ZG_CLOSE_SHUTDOWN);
        else if (c->flags & ZG_CF_LINGER)
            zg_linger_end(r, c);
    }
    return n;
}

/* Begin a fast stop: every connection ends with SHUTDOWN. */
static void zg_reactor_stop_all(zg_reactor_t *r)
{
    r->stopping = 1;
    zg_end_conns(r, ZG_ALL_SLOTS);
    zg_reactor_unlisten(r);
}

/* ---- listener slots: generations come and go (see ZG_LS_*) ---------- */

static void zg_slot_rfini(zg_reactor_t *r, uint32_t s);

/* Run reactor_init of slot s's plugin and modules here. Returns 0, or
 * -EINVAL with the reason in err (what was inited is undone). */
static int zg_slot_rinit(zg_reactor_t *r, uint32_t s, char *err, size_t errlen)
{
    zg_listener_t *li = &r->e->listeners[s];
    int ret;

    r->rdata[s] = NULL;
    if (li->mod->desc.reactor_init != NULL) {
        zg_tls_prefix = li->prefix;
        ret = li->mod->desc.reactor_init(li->plugin_data, (int)r->id,
                                         &r->rdata[s]);
        if (ret != 0) {
            snprintf(err, errlen,
                     "%s: reactor_init of plugin %s for listener %s failed "
                     "(%d)",
                     r->who, li->mod->desc.name, li->conf->name, ret);
            return -EINVAL;
        }
        r->rinited[s] = 1;
    }
    for (uint32_t j = 0; j < li->nmods; j++) {
        const zg_plugin_t *d = &li->mods[j].mod->desc;
        uint32_t k = s * ZG_MAX_MODULES + j;

        r->mrdata[k] = NULL;
        if (d->reactor_init == NULL)
            continue;
        zg_tls_prefix = li->mods[j].prefix;
        ret = d->reactor_init(li->mods[j].data, (int)r->id, &r->mrdata[k]);
        if (ret != 0) {
            snprintf(err, errlen,
                     "%s: reactor_init of module %s for listener %s failed "
                     "(%d)",
                     r->who, d->name, li->conf->name, ret);
            zg_slot_rfini(r, s);
            return -EINVAL;
        }
        r->mrinited[k] = 1;
    }
    return 0;
}

/* Undo zg_slot_rinit: reactor_fini of what was inited. */
static void zg_slot_rfini(zg_reactor_t *r, uint32_t s)
{
    zg_listener_t *li = &r->e->listeners[s];

    if (r->rinited[s] && li->mod->desc.reactor_fini != NULL) {
        zg_tls_prefix = li->prefix;
        li->mod->desc.reactor_fini(li->plugin_data, r->rdata[s]);
    }
    r->rinited[s] = 0;
    r->rdata[s] = NULL;
    for (uint32_t j = 0; j < li->nmods; j++) {
        const zg_plugin_t *d = &li->mods[j].mod->desc;
        uint32_t k = s * ZG_MAX_MODULES + j;

        if (r->mrinited[k] && d->reactor_fini != NULL) {
            zg_tls_prefix = li->mods[j].prefix;
            d->reactor_fini(li->mods[j].data, r->mrdata[k]);
        }
        r->mrinited[k] = 0;
        r->mrdata[k] = NULL;
    }
    zg_tls_prefix = NULL;
}

/* This reactor is done with slot s for good. */
static void zg_slot_done(zg_reactor_t *r, uint32_t s)
{
    if (r->rs[s].mine == ZG_RS_RETIRING) {
        zg_slot_rfini(r, s);
        r->nretiring--;
    }
    r->rs[s].mine = ZG_RS_DONE;
    atomic_fetch_add(&r->e->listeners[s].finished, 1);
}

/* Slot s's generation retired: stop accepting on it, tell its
 * connections to finish (HTTP: after the response in progress), close
 * what is left after shutdown_timeout_ms. */
static void zg_slot_retire(zg_reactor_t *r, uint32_t s)
{
    zg_rslot_t *rs = &r->rs[s];
    struct io_uring_sqe *sqe;

    rs->mine = ZG_RS_RETIRING;
    r->nretiring++;
    rs->deadline = r->now + atomic_load(&r->e->shutdown_timeout_ms);
    /* The successor accepts on the same socket already (it was armed in
     * this same pass, before this cancel). */
    if (rs->acc && (sqe = zg_sqe(r)) != NULL) {
        io_uring_prep_cancel64(sqe, zg_ud(ZG_OP_ACCEPT, 0, s),
                               IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_CANCEL, 0, 0));
    }
    for (uint32_t i = 0; i < r->fresh; i++) {
        zg_conn_t *c = &r->conns[i];

        /* Those still in their modules' phases learn it when they reach
         * the plugin (zg_chain_next). */
        if ((c->flags & (ZG_CF_USED | ZG_CF_CLOSED | ZG_CF_OUTBOUND |
                         ZG_CF_PLUGIN)) == (ZG_CF_USED | ZG_CF_PLUGIN) &&
            c->lidx == s)
            zg_conn_drain(r, c);
    }
}

/* Retiring slots: done once their last connection closed and their
 * accept ended; past the deadline, what is left is closed. */
static void zg_retire_check(zg_reactor_t *r)
{
    uint32_t ns = atomic_load(&r->e->nslots);

    for (uint32_t s = 0; s < ns && r->nretiring > 0; s++) {
        zg_rslot_t *rs = &r->rs[s];

        if (rs->mine != ZG_RS_RETIRING)
            continue;
        if (rs->conns == 0 && !rs->acc) {
            zg_slot_done(r, s);
            continue;
        }
        if (r->now < rs->deadline)
            continue;
        rs->deadline = UINT64_MAX;
        zg_log(ZG_LOG_NOTICE,
               "reactor %u: listener \"%s\" of generation %u: "
               "shutdown_timeout_ms reached, closing %u connection(s)",
               r->id, r->e->listeners[s].conf->name,
               r->e->listeners[s].gen->num, zg_end_conns(r, s));
    }
}

/* A slot's new life starts from zero counters. */
static void zg_lstat_reset(zg_lstat_t *st)
{
    for (int k = 0; k < 8; k++)
        ZG_STAT_SET(st->closed[k], 0);
    for (int j = 0; j < ZG_MAX_MODULES; j++)
        ZG_STAT_SET(st->refused_mod[j], 0);
    ZG_STAT_SET(st->refused_full, 0);
    ZG_STAT_SET(st->bytes_in, 0);
    ZG_STAT_SET(st->bytes_out, 0);
    ZG_STAT_SET(st->requests, 0);
    ZG_STAT_SET(st->errors, 0);
}

/* Bring every slot up to what the main thread wants (ZG_CTL_SYNC, and
 * once at start). Returns the number of slots whose reactor_init failed
 * (the first reason in r->sync_err). */
static int zg_reactor_sync(zg_reactor_t *r)
{
    zg_engine_t *e = r->e;
    uint32_t seq = atomic_load_explicit(&e->sync_seq, memory_order_acquire);
    uint32_t ns = atomic_load_explicit(&e->nslots, memory_order_acquire);
    char tmp[sizeof(r->sync_err)];
    int failed = 0;

    for (uint32_t s = 0; s < ns; s++) {
        zg_listener_t *l = &e->listeners[s];
        zg_rslot_t *rs = &r->rs[s];
        int want = atomic_load_explicit(&l->want, memory_order_acquire);
        uint32_t epoch = atomic_load_explicit(&l->epoch, memory_order_acquire);

        if (want == ZG_LS_FREE)
            continue;
        if (rs->epoch != epoch) {
            /* The slot was freed and taken again since we last looked. */
            memset(rs, 0, sizeof(*rs));
            rs->epoch = epoch;
            zg_lstat_reset(&r->lstat[s]);
        }
        switch (rs->mine) {
        case ZG_RS_NONE:
            if (want == ZG_LS_RETIRED) {
                zg_slot_done(r, s);
                break;
            }
            if (zg_slot_rinit(r, s, failed ? tmp : r->sync_err, sizeof(tmp)) <
                0) {
                rs->mine = ZG_RS_FAILED;
                failed++;
                break;
            }
            rs->mine = ZG_RS_INITED;
            /* fall through */
        case ZG_RS_INITED:
            if (want == ZG_LS_LIVE) {
                rs->mine = ZG_RS_LIVE;
                if (l->rp_fds != NULL && !r->stopping && !r->draining) {
                    zg_arm_accept(r, s);
                    rs->acc = 1;
                }
            } else if (want == ZG_LS_RETIRED) {
                zg_slot_retire(r, s);
            }
            break;
        case ZG_RS_LIVE:
            if (want == ZG_LS_RETIRED)
                zg_slot_retire(r, s);
            break;
        case ZG_RS_FAILED:
            if (want == ZG_LS_RETIRED)
                zg_slot_done(r, s);
            break;
        default:
            break;
        }
    }
    if (failed)
        r->failed_seq = seq;
    atomic_store_explicit(&r->synced, seq, memory_order_release);
    return failed;
}

int zg_reactor_synced(zg_reactor_t *r, uint32_t seq, uint32_t timeout_ms,
                      char *err, size_t errlen)
{
    for (uint32_t waited = 0;; waited++) {
        uint32_t got = atomic_load_explicit(&r->synced, memory_order_acquire);

        if (zg_reactor_ring_fd(r) < 0)
            return 0; /* stopped: nothing to wait for */
        if ((int32_t)(got - seq) >= 0) {
            if (r->failed_seq != seq)
                return 0;
            snprintf(err, errlen, "%s", r->sync_err);
            return -EINVAL;
        }
        if (waited >= timeout_ms) {
            snprintf(err, errlen,
                     "%s did not answer within %u ms (a plugin callback "
                     "running?)",
                     r->who, timeout_ms);
            return -ETIMEDOUT;
        }
        usleep(1000);
    }
}

static void zg_handle_cqe(zg_reactor_t *r, const struct io_uring_cqe *cqe)
{
    switch (zg_ud_kind(cqe->user_data)) {
    case ZG_OP_RECV:
        zg_on_recv(r, cqe);
        break;
    case ZG_OP_SEND:
        zg_on_send(r, cqe);
        break;
    case ZG_OP_NEWCONN:
        ZG_STAT_ADD(r->rstat.handoffs, 1);
        zg_on_newconn(r, zg_ud_slot(cqe->user_data), cqe->res);
        break;
    case ZG_OP_CONNECT:
        zg_on_connect(r, cqe);
        break;
    case ZG_OP_POST:
        r->post_armed = 0;
        zg_postq_woken(&r->postq);
        zg_arm_post(r);
        break;
    case ZG_OP_ACCEPT:
        zg_on_accept_cqe(r, cqe);
        break;
    case ZG_OP_TIMEOUT:
        if (zg_accepting(r, zg_ud_slot(cqe->user_data)))
            zg_arm_accept(r, zg_ud_slot(cqe->user_data));
        else
            r->rs[zg_ud_slot(cqe->user_data)].acc = 0;
        break;
    case ZG_OP_CTL:
        if (zg_ud_slot(cqe->user_data) == ZG_CTL_STOP)
            zg_reactor_stop_all(r);
        else if (zg_ud_slot(cqe->user_data) == ZG_CTL_DRAIN && !r->draining)
            zg_reactor_drain(r);
        else if (zg_ud_slot(cqe->user_data) == ZG_CTL_SYNC)
            zg_reactor_sync(r);
        break;
    default: /* cancel and close completions need nothing */
        break;
    }
}

/* Hand returned buffers back to the kernel in one ring-tail update. */
static void zg_publish(zg_reactor_t *r)
{
    zg_bufpool_t *p = &r->pool;
    uint32_t n = p->nret, k;

    if (p->spare != NULL) {
        /* Windowed: the most recently returned buffers go back first. */
        n = zg_bufpool_refill(p, r->pubtmp);
        for (uint32_t i = 0; i < n; i++) {
            zg_bufpool_ring_put(p, r->pubtmp[i]);
            io_uring_buf_ring_add(r->br, zg_bufpool_addr(p, r->pubtmp[i]),
                                  p->bufsize, r->pubtmp[i], (int)r->bmask,
                                  (int)i);
        }
        if (n > 0)
            io_uring_buf_ring_advance(r->br, (int)n);
    } else if (n > 0) {
        for (uint32_t i = 0; i < n; i++) {
            uint16_t bid = p->ret[i];

            zg_bufpool_ring_put(p, bid);
            io_uring_buf_ring_add(r->br, zg_bufpool_addr(p, bid), p->bufsize,
                                  bid, (int)r->bmask, (int)i);
        }
        io_uring_buf_ring_advance(r->br, (int)n);
        zg_bufpool_published(p);
    }
    /* Wake parked connections, no more than there are free buffers. */
    k = r->nparked < p->nkernel ? r->nparked : p->nkernel;
    for (uint32_t i = 0; i < k; i++) {
        zg_conn_t *c = &r->conns[r->parked[i]];

        c->flags &= ~ZG_CF_PARKED;
        zg_dirty(r, c);
    }
    if (k > 0) {
        memmove(r->parked, r->parked + k,
                (r->nparked - k) * sizeof(*r->parked));
        r->nparked -= k;
    }
}

/* The buffer window is still shrinking or memory is left to give back
 * (buffers, cached blocks): the loop must wake for the next tick even
 * when idle. */
static int zg_buf_settling(const zg_reactor_t *r)
{
    const zg_bufpool_t *p = &r->pool;

    return (p->spare != NULL &&
            (p->window > p->wmin || p->clean + p->window < p->nspare)) ||
           p->segs.nfree > 0 || r->sms.nfree > 0;
}

static int zg_bid_cmp(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* Once a second: shrink the window if it went unused, give back the
 * memory of spare buffers deep in the stack (one madvise per run of
 * adjacent buffers) and of cached blocks no longer needed. */
static void zg_buf_tick(zg_reactor_t *r)
{
    zg_bufpool_t *p = &r->pool;
    uint32_t n =
        zg_bufpool_tick(p, r->pubtmp, p->nbufs,
                        (r->ring_flags & IORING_SETUP_DEFER_TASKRUN) != 0);

    if (n > 1)
        qsort(r->pubtmp, n, sizeof(r->pubtmp[0]), zg_bid_cmp);
    for (uint32_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && r->pubtmp[j] == r->pubtmp[j - 1] + 1; j++)
            ;
        madvise(zg_bufpool_addr(p, r->pubtmp[i]), (size_t)(j - i) * p->bufsize,
                MADV_DONTNEED);
    }
    zg_blk_trim(&p->segs, 0);
    zg_blk_trim(&r->sms, 0);
    r->buf_tick_at = r->now + 1000;
}

static void zg_compact_all(zg_reactor_t *r)
{
    r->compact_all = 0;
    for (uint32_t i = 0; i < r->fresh; i++) {
        zg_conn_t *c = &r->conns[i];

        if ((c->flags & ZG_CF_USED) && c->rx.held > 0)
            zg_rxq_compact(&c->rx, &r->pool);
    }
}

static void zg_loop(zg_reactor_t *r)
{
    struct __kernel_timespec idle_ts = zg_us_timespec(r->conf->cq_timeout_us);
    struct __kernel_timespec tick_ts = zg_us_timespec(ZG_TICK_MS * 1000);
    struct __kernel_timespec zero_ts = {0, 0};
    int have_idle_ts = r->conf->cq_timeout_us > 0;
    uint32_t batch = r->conf->batch_cqes;

    /* A short configured timeout wins over the wheel's tick. */
    if (have_idle_ts && r->conf->cq_timeout_us < ZG_TICK_MS * 1000)
        tick_ts = idle_ts;
    r->now = zg_now_ms();
    while (!((r->stopping || r->draining) && r->live == 0)) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec *tsp;
        unsigned head, seen = 0;

        /* A wake-up read that could not be armed is retried here. */
        if (!r->post_armed)
            zg_arm_post(r);
        /* With timers pending, wake at least once per wheel tick. */
        if (r->post_more)
            tsp = &zero_ts;
        else if (r->wheel.count > 0 || r->draining || r->log_pending ||
                 r->nretiring > 0 || zg_buf_settling(r))
            tsp = &tick_ts;
        else
            tsp = have_idle_ts ? &idle_ts : NULL;
        zg_ring_wait(&r->ring, tsp, r->who);
        r->now = zg_now_ms();
        io_uring_for_each_cqe(&r->ring, head, cqe)
        {
            zg_handle_cqe(r, cqe);
            if (++seen == batch)
                break;
        }
        io_uring_cq_advance(&r->ring, seen);
        if (r->wheel.count > 0)
            zg_tw_expire(r);
        if (r->draining && !r->stopping && r->now >= r->drain_deadline) {
            zg_log(ZG_LOG_NOTICE,
                   "reactor %u: shutdown_timeout_ms reached, "
                   "closing %u connection(s)",
                   r->id, r->live);
            zg_reactor_stop_all(r);
        }
        zg_run_posts(r, 0);
        /* Connections queued while processing are handled in this pass. */
        while (r->ndirty > 0) {
            uint32_t slot = r->dirty[r->dhead];

            if (++r->dhead == r->nconns)
                r->dhead = 0;
            r->ndirty--;
            zg_process(r, &r->conns[slot]);
        }
        if (r->nretiring > 0)
            zg_retire_check(r);
        if (r->compact_all)
            zg_compact_all(r);
        zg_publish(r);
        if (r->log_pending && r->now >= r->log_flush_at)
            zg_logsink_flush(r);
        /* Not while completions wait (the batch limit, an overflow): the
         * buffers they filled still look untouched to the pool. */
        if (r->now >= r->buf_tick_at && io_uring_cq_ready(&r->ring) == 0 &&
            !(IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
            zg_buf_tick(r);
        ZG_STAT_SET(r->rstat.conns, r->live);
        ZG_STAT_SET(r->rstat.window,
                    r->pool.spare != NULL ? r->pool.window : r->pool.nbufs);
        ZG_STAT_SET(r->rstat.bufs_used, r->pool.nbufs - r->pool.nkernel -
                                            r->pool.nret - r->pool.nspare);
    }
}

static void zg_chunk_release(void *arg, uint32_t bid)
{
    zg_reactor_t *r = arg;

    zg_bufpool_unref(&r->pool, bid);
}

/* The running kernel is Linux major.minor or newer (uname). */
static int zg_kernel_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;

    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
        return 0;
    return ma > major || (ma == major && mi >= minor);
}

/* Buffers one bundle completion may fill where the kernel honours a cap:
 * a connection that pauses (pause_read, write_high_watermark) stops
 * receiving within one loop iteration, and in that iteration a capped
 * bundle brings at most this many buffers more, where an uncapped one
 * brings what the socket holds (MiB on loopback), up to 256 buffers a
 * time, again and again before the cancel lands. */
#define ZG_BUNDLE_CAP_BUFS 16

/* Set r->bundle_cap and the start line's words for bundles that are on. */
static void zg_bundle_cap(zg_reactor_t *r)
{
    if (zg_uring_recv_cap()) {
        r->bundle_cap = ZG_BUNDLE_CAP_BUFS * r->conf->recv_buffer_size;
        r->bundle_why = "on (at most 16 buffers a receive)";
    } else {
        r->bundle_why = "on (uncapped: the kernel does not bound a bundle "
                        "by its length, Linux 6.17; a paused connection may "
                        "take in MiB more)";
    }
}

/* Whether this reactor's receives are bundles (r->bundle, and why not in
 * r->bundle_why), from Linux's io_uring/net.c and kbuf.c of 6.10 to 6.18:
 *
 * - They are never combined with incremental consumption. The kernels
 *   that allow both (6.15 on) dropped IORING_CQE_F_BUF_MORE when a bundle
 *   receive retried until a fix of June 2026: the application would hand
 *   back a buffer the kernel was still filling, and nothing tells from
 *   user space which kernels have the fix. Bundles mean whole buffers.
 * - Before Linux 6.16 (and the stable updates that took the fixes), a
 *   bundle that retried after a short first receive (fixed in 6.15) or
 *   after a mapping cut short (fixed in 6.16) reported its bytes as if
 *   every buffer but the last were full, a gap no completion can
 *   describe: true warns there.
 * - Up to Linux 6.16 a multishot recv must have len 0 (io_recvmsg_prep
 *   fails it with -EINVAL otherwise), and a bundle takes what the socket
 *   holds, up to 256 buffers a completion and 32 completions a wakeup, so
 *   a connection that pauses takes in MiB more before its cancel lands.
 *   From 6.17 the SQE's len caps each completion (io_recv_buf_select
 *   peeks no more buffers than len covers, and io_recv_finish requeues
 *   the receive behind other work once a completion reaches it):
 *   zg_uring_recv_cap tries it, and zg_bundle_cap asks for 16 buffers.
 * - Measured (README, make bench section 11): bundles did not win here
 *   (throughput 0.63x to 0.94x of incremental receives, CPU per message
 *   1.01x to 1.07x, on loopback with a shared machine's noise), nor
 *   clearly with the cap (CPU per message 0.91x for 4 KiB echoes, 1.03x
 *   for 64 KiB echoes and pipelined HTTP, paired medians of quiet
 *   rounds), so "auto" keeps incremental receives and true turns bundles
 *   on. */
static int zg_bundle_choose(zg_reactor_t *r, char *err, size_t errlen)
{
    const zg_reactor_conf_t *rc = r->conf;
    int have = (r->ring.features & IORING_FEAT_RECVSEND_BUNDLE) != 0;

    r->bundle = 0;
    r->bundle_cap = 0;
    switch (rc->recv_bundle) {
    case ZG_TRI_OFF:
        r->bundle_why = "off (recv_bundle is false)";
        return 0;
    case ZG_TRI_ON:
        if (!have) {
            snprintf(err, errlen,
                     "%s: recv_bundle is true but the kernel has no recv "
                     "bundles (IORING_FEAT_RECVSEND_BUNDLE); Linux 6.10 or "
                     "newer is needed, or set it to \"auto\"",
                     r->who);
            return -EOPNOTSUPP;
        }
        if (rc->incremental_buffers == ZG_TRI_ON) {
            snprintf(err, errlen,
                     "%s: recv_bundle and incremental_buffers cannot both "
                     "be true",
                     r->who);
            return -EINVAL;
        }
        if (!zg_kernel_at_least(6, 16) && r->id == 0)
            zg_log(ZG_LOG_WARN,
                   "%s: recv_bundle is true on a kernel older than Linux "
                   "6.16, whose recv bundles may report received bytes "
                   "with a gap unless it has the stable fixes",
                   r->who);
        r->bundle = 1;
        zg_bundle_cap(r);
        return 0;
    default:
        if (!have)
            r->bundle_why = "off (the kernel has none: Linux 6.10 or newer)";
        else if (rc->incremental_buffers == ZG_TRI_ON)
            r->bundle_why = "off (incremental_buffers is true)";
        else
            r->bundle_why = "off (\"auto\": they did not measure faster "
                            "than incremental receives; true turns them on)";
        return 0;
    }
}

static int zg_reactor_setup(zg_reactor_t *r, char *err, size_t errlen)
{
    const zg_reactor_conf_t *rc = r->conf;
    struct io_uring_buf_reg reg;
    uint32_t nbufs_pub;
    int ret;

    if (rc->cpu_affinity != -2) {
        cpu_set_t set;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        int cpu = rc->cpu_affinity >= 0 ? rc->cpu_affinity
                                        : (int)(r->id % (ncpu > 0 ? ncpu : 1));

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
        if (ret != 0)
            zg_log(ZG_LOG_WARN, "%s: cannot pin to CPU %d (%d: %s)", r->who,
                   cpu, ret, strerror(ret));
    }
    ret = zg_ring_setup(&r->ring, rc->ring_entries, rc->sqpoll, rc->sq_cpu,
                        rc->sq_idle_ms, r->who, &r->ring_flags);
    if (ret < 0) {
        char hint[400];

        zg_ring_memlock_hint(hint, sizeof(hint), ret, rc->ring_entries,
                             rc->buffer_ring_entries);
        snprintf(err, errlen,
                 "%s: io_uring_queue_init_params(%u) failed "
                 "(%d: %s)%s",
                 r->who, rc->ring_entries, -ret, strerror(-ret), hint);
        return ret;
    }
    r->ring_ok = 1;
    r->ring_fd = r->ring.ring_fd;
    /* Other rings message us through the real fd, which stays open. */
    r->reg_ring = io_uring_register_ring_fd(&r->ring) == 1;
    ret = zg_bundle_choose(r, err, errlen);
    if (ret < 0)
        return ret;

    /* Buffer memory is mapped, so untouched buffers cost no RSS. */
    r->bufmem_size = (size_t)rc->recv_buffer_size * rc->buffer_ring_entries;
    r->bufmem = mmap(NULL, r->bufmem_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r->br_size = (size_t)rc->buffer_ring_entries * sizeof(struct io_uring_buf);
    r->br = mmap(NULL, r->br_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r->bufmem == MAP_FAILED || r->br == MAP_FAILED) {
        ret = -errno;
        snprintf(err, errlen, "%s: mmap of %zu buffer bytes failed (%s)",
                 r->who, r->bufmem_size, strerror(errno));
        return ret;
    }
    io_uring_buf_ring_init(r->br);
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long)r->br;
    reg.ring_entries = rc->buffer_ring_entries;
    reg.bgid = ZG_BGID;
    ret = -EINVAL;
    if (rc->incremental_buffers != ZG_TRI_OFF && !r->bundle) {
        /* Kernel 6.12+: small receives share a buffer instead of each
         * taking a whole one. */
        zg_buf_reg_set_flags(&reg, IOU_PBUF_RING_INC);
        ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
        r->inc = ret == 0;
        if (ret < 0 && rc->incremental_buffers == ZG_TRI_ON) {
            snprintf(err, errlen,
                     "%s: incremental_buffers is true but the "
                     "kernel refuses IOU_PBUF_RING_INC (%d: %s); kernel 6.12 "
                     "or newer is needed, or set it to \"auto\"",
                     r->who, -ret, strerror(-ret));
            return ret;
        }
    }
    if (ret < 0) {
        zg_buf_reg_set_flags(&reg, 0);
        ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
    }
    if (ret < 0) {
        char hint[400];

        if (ret == -ENOMEM)
            zg_ring_memlock_hint(hint, sizeof(hint), ret, rc->ring_entries,
                                 rc->buffer_ring_entries);
        else
            snprintf(hint, sizeof(hint), "; kernel 5.19 or newer is needed");
        snprintf(err, errlen,
                 "%s: io_uring_register_buf_ring(%u entries) failed (%d: "
                 "%s)%s",
                 r->who, rc->buffer_ring_entries, -ret, strerror(-ret), hint);
        return ret;
    }
    r->bmask = (uint32_t)io_uring_buf_ring_mask(rc->buffer_ring_entries);
    if (rc->send_zc) {
        /* Linux 6.1: without it, sends copy (said once). */
        struct io_uring_probe *pr = io_uring_get_probe_ring(&r->ring);

        if (pr != NULL && io_uring_opcode_supported(pr, IORING_OP_SEND_ZC) &&
            io_uring_opcode_supported(pr, IORING_OP_SENDMSG_ZC))
            r->zc_min = rc->send_zc_min;
        else if (r->id == 0)
            zg_log(ZG_LOG_WARN,
                   "send_zc: this kernel has no zero-copy send "
                   "(IORING_OP_SEND_ZC, Linux 6.1 or newer): sends copy");
        if (pr != NULL)
            io_uring_free_probe(pr);
        if (r->zc_min > 0 && r->id == 0)
            zg_log(ZG_LOG_INFO,
                   "reactor 0: zero-copy sends for output of %u bytes or "
                   "more (loopback and veth copy anyway)",
                   r->zc_min);
    }
    ret = zg_bufpool_init(&r->pool, r->bufmem, rc->recv_buffer_size,
                          rc->buffer_ring_entries);
    if (ret == 0 && r->bundle)
        ret = zg_bufpool_shadow(&r->pool, r->br->bufs);
    if (ret < 0) {
        snprintf(err, errlen, "%s: out of memory", r->who);
        return ret;
    }
    nbufs_pub = rc->buffer_ring_entries;
    r->pubtmp = calloc(rc->buffer_ring_entries, sizeof(*r->pubtmp));
    if (r->pubtmp == NULL) {
        snprintf(err, errlen, "%s: out of memory", r->who);
        return -ENOMEM;
    }
    if (rc->buffer_window && rc->buffer_ring_entries > ZG_BUF_WINDOW0) {
        /* Only a window of buffers is published; it grows when receives
         * run short and shrinks when the reactor is quiet, so memory
         * follows the busy connections, not the traffic that went by. */
        ret = zg_bufpool_window(&r->pool, ZG_BUF_WINDOW0);
        if (ret < 0) {
            snprintf(err, errlen, "%s: out of memory", r->who);
            return ret;
        }
        nbufs_pub = ZG_BUF_WINDOW0;
    }
    for (uint32_t i = 0; i < nbufs_pub; i++) {
        zg_bufpool_ring_put(&r->pool, (uint16_t)i);
        io_uring_buf_ring_add(r->br, zg_bufpool_addr(&r->pool, i),
                              rc->recv_buffer_size, (unsigned short)i,
                              (int)r->bmask, (int)i);
    }
    io_uring_buf_ring_advance(r->br, (int)nbufs_pub);
    zg_chunkpool_init(&r->chunks, 256, zg_chunk_release, r);
    r->sms.size = sizeof(zg_sendmsg_t);

    r->nconns = rc->max_connections;
    r->conns = calloc(r->nconns, sizeof(*r->conns));
    r->freelist = calloc(r->nconns, sizeof(*r->freelist));
    r->dirty = calloc(r->nconns, sizeof(*r->dirty));
    r->parked = calloc(r->nconns, sizeof(*r->parked));
    if (!r->conns || !r->freelist || !r->dirty || !r->parked) {
        snprintf(err, errlen, "%s: out of memory for %u connection slots",
                 r->who, r->nconns);
        return -ENOMEM;
    }
    /* Slots are set up on first use, lowest first (r->fresh): the slab's
     * untouched pages cost no memory until that many connections came. */
    r->nfree = 0;
    r->fresh = 0;
    zg_wheel_init(&r->wheel,
                  (unsigned char *)r->conns + offsetof(zg_conn_t, tw),
                  sizeof(zg_conn_t));

    /* Every slot: reactor_init, then accept (reuseport). */
    if (zg_reactor_sync(r) > 0) {
        snprintf(err, errlen, "%s", r->sync_err);
        return -EINVAL;
    }
    zg_arm_post(r);
    return 0;
}

static void zg_reactor_teardown(zg_reactor_t *r)
{
    atomic_store(&r->done, 1);
    /* Every call posted before the queue closed runs, once. */
    zg_postq_close(&r->postq);
    zg_run_posts(r, 1);
    for (uint32_t l = 0; l < atomic_load(&r->e->nslots); l++) {
        uint8_t m = r->rs[l].mine;

        if (m == ZG_RS_INITED || m == ZG_RS_LIVE || m == ZG_RS_RETIRING)
            zg_slot_rfini(r, l);
    }
    zg_logsink_flush(r);
    if (r->ring_ok)
        io_uring_queue_exit(&r->ring);
    r->ring_ok = 0;
    /* What connections left (none after a graceful stop). */
    for (uint32_t i = 0; r->conns != NULL && i < r->fresh; i++) {
        zg_conn_t *c = &r->conns[i];

        if (c->sm != NULL)
            zg_blk_put(&r->sms, c->sm);
        c->sm = NULL;
        zg_rxq_release(&c->rx, &r->pool);
    }
    zg_blk_trim(&r->sms, 1);
    if (r->br != NULL && r->br != MAP_FAILED)
        munmap(r->br, r->br_size);
    if (r->bufmem != NULL && r->bufmem != MAP_FAILED)
        munmap(r->bufmem, r->bufmem_size);
    r->br = NULL;
    r->bufmem = NULL;
    zg_bufpool_free(&r->pool);
    zg_chunkpool_free(&r->chunks);
    free(r->pubtmp);
    r->pubtmp = NULL;
    free(r->conns);
    free(r->freelist);
    free(r->dirty);
    free(r->parked);
    r->conns = NULL;
    r->freelist = r->dirty = r->parked = NULL;
}

static void *zg_reactor_main(void *arg)
{
    zg_reactor_t *r = arg;
    char err[768] = "";
    char name[16];
    int ret;

    snprintf(name, sizeof(name), "zg-reactor-%u", r->id);
    pthread_setname_np(pthread_self(), name);
    zg_crash_thread("reactor", (int)r->id);
    zg_tls_reactor = r;
    ret = zg_reactor_setup(r, err, sizeof(err));
    if (ret < 0) {
        snprintf(r->sync.err, sizeof(r->sync.err), "%s", err);
        zg_reactor_teardown(r);
        zg_startsync_post(&r->sync, ret);
        return NULL;
    }
    if (r->id == 0)
        zg_log(ZG_LOG_INFO,
               "reactor 0: io_uring with %s, %u x %u-byte receive buffers "
               "(%s consumption), registered ring fd: %s, recv bundles: %s",
               (r->ring_flags & IORING_SETUP_DEFER_TASKRUN)
                   ? "SINGLE_ISSUER|DEFER_TASKRUN"
               : (r->ring_flags & IORING_SETUP_COOP_TASKRUN)
                   ? "COOP_TASKRUN"
                   : "no task-run flags",
               r->conf->buffer_ring_entries, r->conf->recv_buffer_size,
               r->inc ? "incremental" : "whole-buffer",
               r->reg_ring ? "yes" : "no", r->bundle_why);
    zg_startsync_post(&r->sync, 1);
    zg_loop(r);
    io_uring_submit(&r->ring); /* closes queued in the last iteration */
    zg_reactor_teardown(r);
    return NULL;
}

int zg_reactor_create(zg_engine_t *e, uint32_t id, zg_reactor_t **out)
{
    zg_reactor_t *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return -ENOMEM;
    r->e = e;
    r->id = id;
    snprintf(r->who, sizeof(r->who), "reactor %u", id);
    r->conf = &e->cfg->reactor[id];
    r->ring_fd = -1;
    /* Per listener slot (reloads take new ones): untouched pages of
     * these cost no memory. */
    r->rdata = calloc(ZG_MAX_SLOTS, sizeof(*r->rdata));
    r->rinited = calloc(ZG_MAX_SLOTS, sizeof(*r->rinited));
    r->rs = calloc(ZG_MAX_SLOTS, sizeof(*r->rs));
    r->mrdata = calloc(ZG_MAX_SLOTS * ZG_MAX_MODULES, sizeof(*r->mrdata));
    r->mrinited = calloc(ZG_MAX_SLOTS * ZG_MAX_MODULES, 1);
    r->lstat = calloc(ZG_MAX_SLOTS, sizeof(*r->lstat));
    if (r->rdata == NULL || r->rinited == NULL || r->rs == NULL ||
        r->mrdata == NULL || r->mrinited == NULL || r->lstat == NULL) {
        free(r->lstat);
        free(r->rdata);
        free(r->rinited);
        free(r->rs);
        free(r->mrdata);
        free(r->mrinited);
        free(r);
        return -ENOMEM;
    }
    zg_startsync_init(&r->sync);
    if (zg_postq_init(&r->postq) < 0) {
        zg_reactor_destroy(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

int zg_reactor_start(zg_reactor_t *r, char *err, size_t errlen)
{
    int ret = pthread_create(&r->thread, NULL, zg_reactor_main, r);

    if (ret != 0) {
        snprintf(err, errlen, "reactor %u: pthread_create() failed (%s)", r->id,
                 strerror(ret));
        return -ret;
    }
    r->started = 1;
    ret = zg_startsync_wait(&r->sync);
    if (ret < 0) {
        snprintf(err, errlen, "%s", r->sync.err);
        pthread_join(r->thread, NULL);
        r->started = 0;
        return ret;
    }
    return 0;
}

int zg_reactor_ring_fd(const zg_reactor_t *r)
{
    return atomic_load(&r->done) ? -1 : r->ring_fd;
}

void zg_reactor_join(zg_reactor_t *r)
{
    if (r->started)
        pthread_join(r->thread, NULL);
    r->started = 0;
}

void zg_reactor_destroy(zg_reactor_t *r)
{
    if (r == NULL)
        return;
    free(r->rdata);
    free(r->rinited);
    free(r->rs);
    free(r->mrdata);
    free(r->mrinited);
    free(r->lstat);
    zg_postq_free(&r->postq);
    pthread_mutex_destroy(&r->sync.mu);
    pthread_cond_destroy(&r->sync.cv);
    free(r);
}
