/* SPDX-License-Identifier: MIT */
/*
 * Description: the process-wide engine: listeners, the acceptor, the
 * reactors and the plugin instances, and the start/stop sequence the main
 * thread drives. Everything here is set up on the main thread before any
 * other thread starts and is read-only afterwards, except the atomics.
 */
#ifndef ZG_ENGINE_H
#define ZG_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "conf_keys.h"
#include "config.h"
#include "loader.h"

/* liburing's types, for the ring helpers below (this header is also read
 * by code that does not include liburing). */
struct io_uring;
struct io_uring_sqe;
struct __kernel_timespec;

typedef struct zg_reactor_s zg_reactor_t;
typedef struct zg_acceptor_s zg_acceptor_t;

/* One instance of a plugin or module: the loaded code, the state its
 * init returned, and its host-owned config. */
typedef struct zg_instance_s {
    zg_module_t *mod;
    void *data; /* from init() or init_conf() */
    int inited;
    zg_conf_arena_t arena; /* the config struct and what it points to */
    void *conf;            /* the filled config struct (conf_keys) */
    char prefix[48];       /* "NAME" for log lines */
} zg_instance_t;

/*
 * Listener slots. A configuration generation (the parsed file and the
 * plugin and module instances built from it) owns one slot per listener.
 * A reload (SIGHUP) builds the new generation in free slots while the
 * old one serves, then retires the old slots: they accept nothing more,
 * their connections finish, and a slot is freed once the last of them
 * has closed on every reactor. So there are more slots than listeners:
 * a few generations may drain at once.
 *
 * A slot's state is what the main thread wants of it (want); each
 * reactor and the acceptor bring their own view up to date when told
 * (ZG_CTL_SYNC), in order: PREPARED (reactor_init ran, nothing accepts
 * yet), LIVE (accepting), RETIRED (not accepting; connections drain,
 * then reactor_fini), FREE again once every thread is done with it.
 */
#define ZG_MAX_SLOTS (4 * ZG_MAX_LISTENERS)

enum {
    ZG_LS_FREE = 0,
    ZG_LS_PREPARED,
    ZG_LS_LIVE,
    ZG_LS_RETIRED,
};

typedef struct zg_gen_s zg_gen_t;

/* Counters a retired slot passes on to the live slot of the same name
 * when it is freed, so a reload does not reset them. */
typedef struct zg_lcarry_s {
    _Atomic uint64_t closed[8];
    _Atomic uint64_t refused_mod[ZG_MAX_MODULES];
    _Atomic uint64_t refused_full;
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    _Atomic uint64_t requests;
    _Atomic uint64_t errors;
} zg_lcarry_t;

/* One configured listener and the plugin instance serving it. */
typedef struct zg_listener_s {
    const zg_listener_conf_t *conf;
    uint32_t index;            /* in its configuration's "listeners" */
    uint32_t slot;             /* in zg_engine_t.listeners */
    _Atomic int want;          /* ZG_LS_*: set by the main thread */
    _Atomic uint32_t epoch;    /* bumped each time the slot is taken */
    _Atomic int succ;          /* RETIRED: the live slot that took over its
                                  socket (new connections go there), or -1 */
    _Atomic uint32_t finished; /* reactors done with it (reactor_fini ran) */
    _Atomic int acc_done;      /* the acceptor's accepts on it ended */
    int owns_fds;              /* main thread: its sockets are closed with
                                  it (not passed on to a successor) */
    zg_gen_t *gen;
    int fd;      /* acceptor mode: the listening socket, or -1 */
    int *rp_fds; /* reuseport mode: one socket per reactor */
    /* passed in (LISTEN_FDS): never shut down, it listens on for the next
     * server (systemd, the master). Set by the main thread (at start, and
     * once handed to a master or an upgrade's new process), read by a
     * reactor that stops accepting: atomic. */
    _Atomic int inherited;
    char addr[64]; /* bound address, "127.0.0.1:7000" */
    /* the bound address if it is a single one (not a wildcard), else
     * bound_len 0 */
    struct sockaddr_storage bound;
    socklen_t bound_len;
    struct sockaddr_storage real; /* the address it listens on (port 0:
                                     the port it got) */
    zg_module_t *mod;
    void *plugin_data; /* from init() */
    int inited;
    char prefix[48];       /* "plugin NAME" for log lines */
    zg_conf_arena_t arena; /* the plugin's host-owned config */
    void *plugin_conf;     /* its filled struct, or NULL */
    /* The module chain, in the listener's order. */
    zg_instance_t mods[ZG_MAX_MODULES];
    uint32_t nmods;
    uint32_t preread_mods;    /* modules with an on_preread */
    uint32_t log_mods;        /* modules with an on_log */
    _Atomic uint64_t refused; /* closed by a module's admit or preread */
    _Atomic uint64_t accepted;
    _Atomic int64_t active;          /* admitted and not yet closed */
    _Atomic uint64_t rejected;       /* closed at once: max_connections */
    _Atomic int64_t rejected_logged; /* second of the last log line */
    zg_lcarry_t carry;               /* from retired slots of its name */
} zg_listener_t;

/* A configuration generation: its file, its plugins, its slots. */
struct zg_gen_s {
    uint32_t num; /* 0 at start, +1 per reload */
    zg_config_t *cfg;
    zg_loader_t loader;
    uint32_t refs; /* slots not yet freed */
    uint32_t slots[ZG_MAX_LISTENERS];
    uint32_t nslots;
    zg_gen_t *next; /* the engine's list */
};

typedef struct zg_engine_s {
    zg_config_t *cfg; /* the configuration started with: reactors, rings */
    zg_listener_t listeners[ZG_MAX_SLOTS];
    _Atomic uint32_t nslots; /* slots ever taken (the high-water mark) */
    uint32_t nlisteners;     /* the live generation's listeners */
    zg_gen_t gen0;           /* the generation started with */
    zg_gen_t *gen;           /* the live generation */
    zg_gen_t *gens;          /* every generation not freed, newest first */
    uint32_t retiring;       /* main thread: slots RETIRED, not yet freed */
    /* metrics read slots (names, counters) under the read lock; the main
     * thread takes and frees slots under the write lock */
    pthread_rwlock_t slots_lock;
    _Atomic uint32_t shutdown_timeout_ms; /* the live generation's */
    _Atomic uint32_t sync_seq;            /* the last ZG_CTL_SYNC sent */
    zg_reactor_t **reactors;
    uint32_t nreactors;
    zg_acceptor_t *acceptor;
    int ctl_ring_ready;
    /* Connection ids: seq << id_shift | reactor << slot_bits | slot, so
     * that post() finds the reactor and the slot from the id alone. */
    uint32_t slot_bits;
    uint32_t id_shift;
    _Atomic int post_ready; /* reactors[] is set: post() may look */
    _Atomic int stopping;
    _Atomic int draining;
} zg_engine_t;

/* A connection id's parts (see zg_engine_t): made from a reactor's
 * sequence number, its index and the slot; the slot and the reactor read
 * back from it. */
static inline uint64_t zg_id_make(const zg_engine_t *e, uint64_t seq,
                                  uint32_t reactor, uint32_t slot)
{
    return seq << e->id_shift | (uint64_t)reactor << e->slot_bits | slot;
}
static inline uint32_t zg_id_slot(const zg_engine_t *e, uint64_t id)
{
    return (uint32_t)(id & ((1ull << e->slot_bits) - 1));
}
static inline uint32_t zg_id_reactor(const zg_engine_t *e, uint64_t id)
{
    return (uint32_t)((id >> e->slot_bits) &
                      ((1ull << (e->id_shift - e->slot_bits)) - 1));
}

/* The one engine of the process (plugins reach it through the host table). */
extern zg_engine_t *zg_engine;

/* Host table handed to plugins (core/reactor.c). */
extern const zg_api_t zg_host_api;

/*
 * Load every listener's plugin and init it with its config, without opening
 * any socket. On failure returns -errno after writing one line to err.
 */
int zg_engine_load(zg_engine_t *e, zg_config_t *cfg, char *err, size_t errlen);

/* The effective configuration (zg_config_dump) with every plugin's and
 * module's "config" as the host filled it from their key tables, defaults
 * included (raw-JSON plugins: as given). malloc'd text, NULL if memory is
 * short. Main thread, after zg_engine_load. */
char *zg_engine_dump(const zg_engine_t *e);

/* {"$defs": {"module_NAME": schema, "plugin_NAME": schema}} for every
 * built-in module and every loaded plugin with a key table: the part of
 * conf/zerg.schema.json generated from the tables. malloc'd, or NULL.
 * Main thread, after zg_engine_load. */
char *zg_engine_schema(const zg_engine_t *e);

/* The slot of the live generation's i-th listener (i < e->nlisteners). */
static inline zg_listener_t *zg_engine_listener(zg_engine_t *e, uint32_t i)
{
    return &e->listeners[e->gen->slots[i]];
}

/*
 * Reload (SIGHUP): build a generation from cfg (taken over, freed on
 * failure) next to the live one, bring every reactor to it, then retire
 * the old generation's slots. Listeners whose address is unchanged keep
 * their socket (never closed and re-bound); new ones are bound; removed
 * ones stop accepting. On failure nothing changed: returns -errno with
 * one line in err. Main thread, while running.
 */
int zg_engine_reload(zg_engine_t *e, zg_config_t *cfg, char *err,
                     size_t errlen);

/* Free the slots of retired generations that every thread is done with
 * (plugins' fini, sockets, configuration). Returns the number of slots
 * still retiring. Main thread, from its loop. */
uint32_t zg_engine_collect(zg_engine_t *e);

/* Open the listening sockets (after zg_engine_load). */
int zg_engine_listen(zg_engine_t *e, char *err, size_t errlen);

/* Start the reactors, then the acceptor; returns once all report ready or
 * one failed (then everything started is stopped again). */
int zg_engine_start(zg_engine_t *e, char *err, size_t errlen);

/* Fast stop: stop accepting (listening sockets zerg bound are shut down
 * at once, so no connection waits on a reactor that may not answer),
 * close every connection (on_close SHUTDOWN), join all threads. Main
 * thread. */
void zg_engine_stop(zg_engine_t *e);

/* Graceful stop: stop accepting at once, let connections finish (plugins
 * are told through on_drain / draining()), close what is left after
 * shutdown_timeout_ms. Returns at once; reactors leave their loops when
 * their last connection is gone (zg_engine_running() turns 0). */
void zg_engine_drain(zg_engine_t *e);

/* Number of reactor threads still running their loop. */
uint32_t zg_engine_running(zg_engine_t *e);

/* Count a newly accepted socket against its listener's max_connections.
 * Returns 1 if admitted; otherwise sends the plugin's over-limit response
 * (best effort), closes fd, counts and logs (at most once a second) and
 * returns 0. Any thread. */
int zg_listener_admit(zg_listener_t *l, int fd);

/* The accept policy shared by the acceptor thread and reactors accepting on
 * their own ring. Given an accept completion's result on l, log what needs
 * logging (a shortage of descriptors or memory once when it starts and once
 * when it ends; any other failure each time) and return 1 if accepting on l
 * should pause for 100 ms before it is re-armed, else 0. *paused is the
 * caller's per-listener state. Any thread, one caller per *paused. */
int zg_accept_verdict(const zg_listener_t *l, int res, uint8_t *paused);

/* Ring helpers shared by the acceptor and the reactors (owner thread). */

/* An SQE of ring; if the SQ is full, submit it first. NULL only if that
 * submission failed. */
struct io_uring_sqe *zg_ring_sqe(struct io_uring *ring);

/* Submit and wait for at least one completion, at most *tsp (NULL: no
 * limit). Interruptions, timeouts and busy rings are normal returns; any
 * other error is logged (who names the thread) and followed by a 1 ms
 * pause, never ending the caller's loop. */
void zg_ring_wait(struct io_uring *ring, struct __kernel_timespec *tsp,
                  const char *who);

/* A timespec of us microseconds. */
struct __kernel_timespec zg_us_timespec(uint32_t us);

/* Prepare a multishot accept on listening socket fd for listener lidx;
 * its completions carry zg_ud(ZG_OP_ACCEPT, 0, lidx). */
void zg_prep_accept(struct io_uring_sqe *sqe, int fd, uint32_t lidx);

/* Prepare the 100 ms pause of a listener whose accepting paused; its
 * completion carries zg_ud(ZG_OP_TIMEOUT, 0, lidx). */
void zg_prep_accept_pause(struct io_uring_sqe *sqe, uint32_t lidx);

/* Turn fd away: the plugin's over_limit_response (best effort, never
 * blocking), then close. Any thread. */
void zg_listener_refuse(zg_listener_t *l, int fd);

/* Free everything (plugins' fini, loader, sockets). */
void zg_engine_free(zg_engine_t *e);

/* Threads (reactor.c / acceptor.c). */
int zg_reactor_create(zg_engine_t *e, uint32_t id, zg_reactor_t **out);
int zg_reactor_start(zg_reactor_t *r, char *err, size_t errlen);
int zg_reactor_ring_fd(const zg_reactor_t *r);
void zg_reactor_join(zg_reactor_t *r);
void zg_reactor_destroy(zg_reactor_t *r);

/* Wait (at most timeout_ms) until r has brought its slots up to sync
 * seq. Returns 0, or -errno with the reason (its reactor_init failed, or
 * it did not answer) in err. Main thread. */
int zg_reactor_synced(zg_reactor_t *r, uint32_t seq, uint32_t timeout_ms,
                      char *err, size_t errlen);

int zg_acceptor_start(zg_engine_t *e, char *err, size_t errlen);
/* Tell the acceptor to bring its accepts up to the slots' states. */
void zg_acceptor_sync(zg_engine_t *e);
void zg_acceptor_join(zg_engine_t *e);

/* Ask thread owning ring_fd to stop: an IORING_OP_MSG_RING from a small
 * control ring of the main thread, so the target wakes at once. */
int zg_ctl_send(int ring_fd, uint64_t user_data);

/* A start/stop handshake between the main thread and a worker thread. */
typedef struct zg_startsync_s {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 pending, 1 ready, <0 -errno */
    char err[768];
} zg_startsync_t;

void zg_startsync_init(zg_startsync_t *s);
void zg_startsync_post(zg_startsync_t *s, int state);
int zg_startsync_wait(zg_startsync_t *s);

/* Ring setup shared by the acceptor and reactors: tries
 * SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN|TASKRUN_FLAG, then plain,
 * logging each fallback once. who names the thread in log lines. */
int zg_ring_setup(struct io_uring *ring, uint32_t entries, int sqpoll,
                  int sq_cpu, uint32_t sq_idle_ms, const char *who,
                  unsigned *flags_out);

/* Check that this process can use io_uring at all. Returns 0, or -errno
 * with one line in err naming the cause and the fix (kernel without
 * io_uring, kernel.io_uring_disabled, seccomp, RLIMIT_MEMLOCK). */
int zg_uring_probe(char *err, size_t errlen);

/* One line naming the io_uring features this kernel offers (for -V). */
void zg_uring_features(char *buf, size_t len);

/* Whether the kernel bounds each completion of a multishot bundle recv
 * by the SQE's len (Linux 6.17; older kernels refuse a nonzero len on a
 * multishot recv with -EINVAL). Tried once on a private ring and a
 * socketpair, then remembered for the process. Returns 1 or 0; any
 * thread. */
int zg_uring_recv_cap(void);

/* Whether a and b are the same family, address and port (a port of 0
 * matches only 0; an address family other than IPv4 and IPv6 never
 * matches). Any thread. */
int zg_addr_same(const struct sockaddr_storage *a,
                 const struct sockaddr_storage *b);

/* A hint with the fix for a ring setup error ("" if none). */
const char *zg_ring_hint(int err);

/* The locked memory a ring of entries SQEs (4 x as many CQEs) and a
 * buffer ring of bufs entries are charged, in bytes. */
size_t zg_ring_mem_bytes(uint32_t entries, uint32_t bufs);

/* zg_ring_hint, with the numbers of RLIMIT_MEMLOCK for -ENOMEM. */
void zg_ring_memlock_hint(char *buf, size_t len, int err, uint32_t entries,
                          uint32_t bufs);

/* user_data layout: kind (8 bits) | generation (24 bits) | slot (32 bits). */
enum {
    ZG_OP_RECV = 1,
    ZG_OP_SEND,
    ZG_OP_CANCEL,
    ZG_OP_CLOSE,
    ZG_OP_NEWCONN, /* MSG_RING from the acceptor; slot = listener, res = fd */
    ZG_OP_ACCEPT,  /* multishot accept; slot = listener */
    ZG_OP_MSGRING, /* our own MSG_RING's completion; slot = fd */
    ZG_OP_CTL,     /* control message; slot = ZG_CTL_* */
    ZG_OP_TIMEOUT,
    ZG_OP_POST,    /* the post queue's eventfd was written */
    ZG_OP_CONNECT, /* an outbound connect ended */
};
/* ZG_CTL_SYNC: bring the slots up to what the main thread wants (see
 * ZG_LS_*); the message's generation field carries e->sync_seq. */
enum { ZG_CTL_STOP = 1, ZG_CTL_DRAIN, ZG_CTL_SYNC };

static inline uint64_t zg_ud(unsigned kind, uint32_t gen, uint32_t slot)
{
    return ((uint64_t)kind << 56) | ((uint64_t)(gen & 0xffffff) << 32) | slot;
}
static inline unsigned zg_ud_kind(uint64_t ud)
{
    return (unsigned)(ud >> 56);
}
static inline uint32_t zg_ud_gen(uint64_t ud)
{
    return (uint32_t)(ud >> 32) & 0xffffff;
}
static inline uint32_t zg_ud_slot(uint64_t ud)
{
    return (uint32_t)ud;
}

#endif /* ZG_ENGINE_H */
