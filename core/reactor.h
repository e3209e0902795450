/* SPDX-License-Identifier: MIT */
/*
 * Description: the reactor's internal types, shared by the files that make
 * up a reactor: reactor.c (loop, completions, connection lifecycle),
 * timer.c (the timer wheel) and api.c (the host functions plugins call).
 * Everything here runs on the reactor's own thread.
 */
#ifndef ZG_REACTOR_H
#define ZG_REACTOR_H

#include <stdint.h>
#include <sys/socket.h>

#include "compat.h"
#include "engine.h"
#include "outq.h"
#include "logsink.h"
#include "post.h"
#include "rxbuf.h"
#include "wheel.h"

#define ZG_IOV_MAX 16
#define ZG_TICK_MS ZG_WHEEL_TICK_MS /* timer resolution */

/* Connection flags. */
enum {
    ZG_CF_USED = 1u << 0,        /* slot holds a connection */
    ZG_CF_RECV = 1u << 1,        /* a multishot recv is armed */
    ZG_CF_SEND = 1u << 2,        /* a send is in flight */
    ZG_CF_EOF = 1u << 3,         /* the peer sent FIN */
    ZG_CF_EOF_SEEN = 1u << 4,    /* on_data saw ZG_IN_EOF */
    ZG_CF_NEW = 1u << 5,         /* bytes arrived since the last on_data */
    ZG_CF_PAUSED = 1u << 6,      /* the plugin paused reading */
    ZG_CF_PARKED = 1u << 7,      /* recv ended on -ENOBUFS: waits for buffers */
    ZG_CF_DIRTY = 1u << 8,       /* on the dirty list */
    ZG_CF_WANT_CLOSE = 1u << 9,  /* close once output is flushed */
    ZG_CF_CLOSED = 1u << 10,     /* on_close ran; waiting for ops to end */
    ZG_CF_CANCEL = 1u << 11,     /* a cancel for the recv was submitted */
    ZG_CF_BACKOFF = 1u << 12,    /* output over the high watermark */
    ZG_CF_SHUT_WR = 1u << 13,    /* our write side is shut down */
    ZG_CF_WANT_WR = 1u << 14,    /* the plugin wants on_writable */
    ZG_CF_DRAINED = 1u << 15,    /* on_drain ran */
    ZG_CF_LINGER = 1u << 16,     /* lingering close: dropping input until the
                                    peer's FIN or linger_at (CLOSED is set) */
    ZG_CF_UNREAD = 1u << 17,     /* input was dropped unread: a FLUSH close
                                    lingers */
    ZG_CF_PREREAD = 1u << 18,    /* a module's preread phase gets the input */
    ZG_CF_PLUGIN = 1u << 19,     /* the plugin's on_accept ran: it knows c */
    ZG_CF_OUTBOUND = 1u << 20,   /* opened by api->connect: c->ops */
    ZG_CF_CONNECTING = 1u << 21, /* the connect is in flight */
    ZG_CF_HALF_OPEN = 1u << 22,  /* the peer's FIN does not end c */
    ZG_CF_ZC = 1u << 23,         /* zero-copy notifications outstanding
                                    (zc_out): the slot waits for them */
    ZG_CF_SEND_ZC = 1u << 24,    /* the send in flight is zero-copy */
    ZG_CF_PEER_RESET = 1u << 25, /* the peer reset it: an abortive close
                                    needs no SO_LINGER (already closed) */
};

/* Input is held back: no delivery to the plugin, no receive armed (the
 * plugin paused, output is over the high watermark, a close is pending). */
#define ZG_CF_HOLD_INPUT (ZG_CF_PAUSED | ZG_CF_BACKOFF | ZG_CF_WANT_CLOSE)

/*
 * A connection's receive states. Receiving (a multishot recv armed, RECV)
 * happens only while the plugin will read what comes: not while it is
 * paused (PAUSED), not while output is over the high watermark (BACKOFF),
 * not while a close is pending (WANT_CLOSE). In those states a recv still
 * armed is cancelled, and whatever it delivers before the cancel lands is
 * either kept (paused, back-off, a WRITE close) or dropped and counted (a
 * FLUSH/LINGER/ABORT close), so held input stays bounded by design. After
 * the plugin's on_close only a lingering close (LINGER) receives, and it
 * drops everything until its deadline, which nothing extends.
 */

/* Counters of one reactor, written only by it: an update is a relaxed
 * load and store (plain instructions, no lock, no shared cache line), so
 * metrics read them from any thread, possibly a little stale, never
 * torn. */
#define ZG_STAT_ADD(field, n)                                                  \
    atomic_store_explicit(                                                     \
        &(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n),  \
        memory_order_relaxed)
#define ZG_STAT_SET(field, v)                                                  \
    atomic_store_explicit(&(field), (v), memory_order_relaxed)

/* Per listener, on one reactor. */
typedef struct zg_lstat_s {
    _Atomic uint64_t closed[8];                   /* by zg_close_reason_t */
    _Atomic uint64_t refused_mod[ZG_MAX_MODULES]; /* by module of the chain */
    _Atomic uint64_t refused_full;                /* no free connection slot */
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    _Atomic uint64_t requests; /* api->count_requests */
    _Atomic uint64_t errors;   /* plugin misbehaviour (see reactor.c) */
} zg_lstat_t;

/* Per reactor. */
typedef struct zg_rstat_s {
    _Atomic uint64_t conns;     /* slots in use (gauge) */
    _Atomic uint64_t bufs_used; /* receive buffers not in the kernel's hands */
    _Atomic uint64_t enobufs;   /* receives parked for want of buffers */
    _Atomic uint64_t held_max;  /* most input one connection held */
    _Atomic uint64_t handoffs;  /* sockets received from the acceptor */
    _Atomic uint64_t window;    /* buffers the kernel may be given now */
    _Atomic uint64_t zc_sends;  /* zero-copy sends (reactor.send_zc) */
    _Atomic uint64_t bundles;   /* receives that filled several buffers */
    _Atomic uint64_t bundle_bufs; /* the buffers those filled */
} zg_rstat_t;

/* A reactor's view of one listener slot (see ZG_LS_* in engine.h). */
enum {
    ZG_RS_NONE = 0, /* nothing done for this life of the slot */
    ZG_RS_INITED,   /* reactor_init ran: connections may come */
    ZG_RS_LIVE,     /* and accepting (reuseport) */
    ZG_RS_RETIRING, /* no accepting; connections drain */
    ZG_RS_FAILED,   /* reactor_init failed */
    ZG_RS_DONE,     /* reactor_fini ran (or nothing to undo) */
};

typedef struct zg_rslot_s {
    uint32_t epoch;     /* the life of the slot this is about */
    uint8_t mine;       /* ZG_RS_* */
    uint8_t acc;        /* an accept (or its pause) is in flight */
    uint8_t acc_paused; /* zg_accept_verdict's state */
    uint32_t conns;     /* its connections here, inbound and outbound */
    uint64_t deadline;  /* RETIRING: when what is left is closed */
} zg_rslot_t;

/* What a sendmsg of several chunks needs until its completion: one per
 * connection with such a send in flight, from the reactor's cache. */
typedef struct zg_sendmsg_s {
    struct msghdr msg;
    struct iovec iov[ZG_IOV_MAX];
} zg_sendmsg_t;

struct zg_conn_s {
    uint32_t flags;
    uint32_t gen; /* bumped when the slot is freed */
    uint32_t slot;
    int fd;
    uint16_t lidx;   /* listener index */
    uint8_t reason;  /* zg_close_reason_t once closing */
    uint8_t how;     /* zg_close_how_t of a requested close */
    uint16_t zc_out; /* zero-copy sends whose notification is to come */
    zg_reactor_t *r;
    void *data; /* the plugin's per-connection state */
    uint64_t id;
    size_t rsv;           /* room handed out by the last reserve() */
    uint64_t last_active; /* ms of the last byte moved either way */
    uint64_t timer_at;    /* plugin timer deadline in ms, 0 = none */
    uint64_t linger_at;   /* ZG_CF_LINGER: when the lingering close ends */
    uint64_t dropped;     /* input bytes dropped unread (closing) */
    size_t late;          /* bytes received while delivery was held back */
    uint64_t start_ms;    /* when it was accepted */
    uint64_t bytes_in;    /* received from the peer */
    uint64_t bytes_out;   /* taken by the kernel for the peer */
    void **mdata;         /* per module of the chain: its conn_data */
    struct sockaddr_storage *peer; /* set_peer_addr(), or NULL */
    uint8_t stage;      /* module chain: next phase (2j admit, 2j+1 preread) */
    uint8_t refused_by; /* 1 + the module that refused it, or 0 */
    const zg_outbound_t *ops;     /* OUTBOUND: its callbacks */
    struct __kernel_timespec cts; /* OUTBOUND: the connect timeout */
    zg_wheel_link_t tw;           /* where the wheel files it */
    zg_rxq_t rx;
    zg_outq_t out;
    zg_sendmsg_t *sm; /* a sendmsg in flight: its header (r->sms) */
};

struct zg_reactor_s {
    zg_engine_t *e;
    uint32_t id;
    char who[24]; /* "reactor N", for log lines */
    const zg_reactor_conf_t *conf;
    pthread_t thread;
    int started;
    zg_startsync_t sync;
    struct io_uring ring;
    int ring_ok;
    int ring_fd;
    unsigned ring_flags;
    struct io_uring_buf_ring *br;
    size_t br_size;
    unsigned char *bufmem;
    size_t bufmem_size;
    uint32_t bmask;
    int inc;                /* buffers are consumed incrementally */
    int bundle;             /* recvs are bundles (IORING_RECVSEND_BUNDLE) */
    const char *bundle_why; /* without bundles: why, for the start line */
    uint32_t bundle_cap;    /* bytes one bundle completion may take (its
                               SQE's len), 0: the kernel takes what the
                               socket and the ring hold */
    int reg_ring;           /* the ring fd is registered (cheaper enter) */
    uint32_t zc_min; /* zero-copy sends from this many bytes, 0 = never */
    zg_bufpool_t pool;
    zg_chunkpool_t chunks;
    zg_blkcache_t sms;            /* zg_sendmsg_t blocks */
    struct iovec iov[ZG_IOV_MAX]; /* a send's chunks, before its SQE */
    zg_conn_t *conns;
    uint32_t nconns;
    uint32_t *freelist;
    uint32_t nfree;
    uint32_t fresh; /* slots below this have been used at least once */
    /* Connections to bring up to date this iteration: a FIFO ring holding
     * each connection at most once (ZG_CF_DIRTY set exactly while queued),
     * so it never holds more than nconns entries. */
    uint32_t *dirty;
    uint32_t dhead;
    uint32_t ndirty;
    uint32_t *parked; /* FIFO of slots waiting for buffers */
    uint32_t nparked;
    int compact_all; /* a recv ran out of buffers this iteration */
    void **rdata;    /* per listener slot: the plugin's reactor_data */
    int *rinited;
    /* per slot and module (l * ZG_MAX_MODULES + j): reactor_data */
    void **mrdata;
    uint8_t *mrinited;
    /* The peer address of conn peer_id, read once for all the phases that
     * ask in a row (admit modules, then the plugin). */
    uint64_t peer_id;
    socklen_t peer_len;
    struct sockaddr_storage peer_cache;
    zg_rslot_t *rs;          /* per listener slot */
    uint32_t nretiring;      /* slots in ZG_RS_RETIRING */
    _Atomic uint32_t synced; /* the last ZG_CTL_SYNC brought up to date */
    uint32_t failed_seq;     /* the sync whose reactor_init failed */
    char sync_err[512];      /* and why */
    uint32_t live;           /* slots in use */
    int stopping;
    _Atomic int done; /* the thread is leaving its loop */
    int draining;
    uint64_t drain_deadline;
    uint64_t now;     /* CLOCK_MONOTONIC ms, read once per loop iteration */
    zg_wheel_t wheel; /* connection deadlines, by slot */
    time_t full_logged;
    uint64_t full_dropped;
    zg_postq_t postq;      /* api->post: calls for this reactor */
    uint64_t post_val;     /* where the eventfd read lands */
    int post_more;         /* posts are waiting: do not block */
    int post_armed;        /* the eventfd read is in flight */
    _Atomic uint64_t seq;  /* connection ids issued so far */
    int log_pending;       /* a log sink buffer of ours holds lines */
    uint64_t log_flush_at; /* when they must be written */
    zg_lstat_t *lstat;     /* per listener */
    uint16_t *pubtmp;      /* buffer ids to publish or give back */
    uint64_t buf_tick_at;  /* next look at the buffer window */
    zg_rstat_t rstat;
};

#define ZG_BGID 0

/* Buffers published at start when the buffer window is on. */
#define ZG_BUF_WINDOW0 128

/* The reactor running on this thread (NULL elsewhere), and the log prefix
 * of the plugin being called. Initial-exec TLS: the crash handler reads
 * them from a signal handler (no __tls_get_addr, no allocation). */
extern __thread zg_reactor_t *zg_tls_reactor
    __attribute__((tls_model("initial-exec")));
extern __thread const char *zg_tls_prefix
    __attribute__((tls_model("initial-exec")));

static inline zg_listener_t *zg_conn_listener(const zg_conn_t *c)
{
    return &c->r->e->listeners[c->lidx];
}

static inline const zg_plugin_t *zg_conn_plugin(const zg_conn_t *c)
{
    return &zg_conn_listener(c)->mod->desc;
}

/* An optional callback of an outbound connection's ops, or NULL when the
 * plugin's struct predates it. */
#define ZG_OPS_FN(ops, fn)                                                     \
    ((ops)->struct_size >= offsetof(zg_outbound_t, fn) + sizeof((ops)->fn)     \
         ? (ops)->fn                                                           \
         : NULL)

/* The open connection with this id on r, or NULL (closed, or never). */
zg_conn_t *zg_conn_by_id(zg_reactor_t *r, uint64_t id);

/* Open an outbound connection (api->connect). */
zg_conn_t *zg_conn_connect(zg_reactor_t *r, const zg_connect_t *o, int *err);

/* Queue c for zg_process at the end of this loop iteration. */
static inline void zg_dirty(zg_reactor_t *r, zg_conn_t *c)
{
    if (c->flags & ZG_CF_DIRTY)
        return;
    c->flags |= ZG_CF_DIRTY;
    uint32_t tail = r->dhead + r->ndirty;

    if (tail >= r->nconns)
        tail -= r->nconns;
    r->dirty[tail] = c->slot;
    r->ndirty++;
}

/* Request a close; how decides whether output is flushed first. */
void zg_conn_close(zg_reactor_t *r, zg_conn_t *c, zg_close_how_t how,
                   zg_close_reason_t reason);

/* End c's lingering close now (deadline, FIN, error, stop). */
void zg_linger_end(zg_reactor_t *r, zg_conn_t *c);

/* c's timer expired: call on_timeout of whoever owns c now (the module in
 * its preread phase, or the plugin). */
void zg_conn_timeout(zg_reactor_t *r, zg_conn_t *c);

/* Module j of c's chain refused c (busy: send the plugin's over-limit
 * response first). */
void zg_conn_refuse(zg_reactor_t *r, zg_conn_t *c, uint32_t j, int busy);

/* c's peer address (after set_peer_addr), cached per reactor. */
int zg_conn_peer(zg_reactor_t *r, zg_conn_t *c, struct sockaddr *addr,
                 socklen_t *len);

/* Timer wheel (timer.c): file c under its earliest deadline (idle timeout
 * or plugin timer), take it out, expire every tick up to r->now. */
void zg_tw_file(zg_reactor_t *r, zg_conn_t *c);
void zg_tw_unlink(zg_reactor_t *r, zg_conn_t *c);
void zg_tw_expire(zg_reactor_t *r);

#endif /* ZG_REACTOR_H */
