/* SPDX-License-Identifier: MIT */
/*
 * Description: a frozen copy of the plugin ABI 1.1 header (core/include/
 * zerg/plugin.h at commit f514b42), so that tests/plugins/fx_v11.c is built
 * exactly as a plugin of that release was; never update it.
 *
 * The zerg plugin ABI. This is the only header a protocol
 * plugin includes. It is plain C11, carries no io_uring, liburing or jansson
 * type and no #if on build options: a plugin compiled against ABI 1.x loads
 * into any host of major 1 whose minor is at least the plugin's abi_minor.
 *
 * A plugin exports exactly one symbol, ZG_PLUGIN_ENTRY (zg_plugin_entry_v1),
 * returning a pointer to a const zg_plugin_t that lives as long as the .so.
 * Structs are append-only; each carries its size so both sides can tell
 * which fields the other knows about.
 */
#ifndef ZG_PLUGIN_H
#define ZG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZG_PLUGIN_MAGIC 0x7a657267u /* "zerg" */
#define ZG_ABI_MAJOR    1
#define ZG_ABI_MINOR    1

#define ZG_PLUGIN_ENTRY      zg_plugin_entry_v1
#define ZG_PLUGIN_ENTRY_NAME "zg_plugin_entry_v1"

#if defined(__GNUC__)
#define ZG_EXPORT __attribute__((visibility("default")))
#else
#define ZG_EXPORT
#endif

/* A connection handle. Opaque; valid from on_accept until on_close returns,
 * and only on the reactor thread that owns the connection. */
typedef struct zg_conn_s zg_conn_t;

/* A read-only byte range. */
typedef struct zg_view_s {
    const unsigned char *data;
    size_t len;
} zg_view_t;

/* Input flags. */
#define ZG_IN_EOF 0x1u /* the peer shut down its write side: no more bytes */

/*
 * The bytes received and not yet consumed, oldest first, possibly spread
 * over several views (one per kernel receive buffer). Views and the array
 * are valid only for the duration of the on_data call.
 */
typedef struct zg_input_s {
    const zg_view_t *views;
    unsigned nviews;
    unsigned flags; /* ZG_IN_* */
    size_t total;   /* sum of views[i].len */
} zg_input_t;

/* Why a connection ended; passed to on_close. */
typedef enum zg_close_reason_e {
    ZG_CLOSE_PEER = 1,    /* the peer closed (EOF) and our output was flushed */
    ZG_CLOSE_LOCAL = 2,   /* the plugin asked (close() or on_data < 0) */
    ZG_CLOSE_ERROR = 3,   /* a socket error (reset, send failure, ...) */
    ZG_CLOSE_LIMIT = 4,   /* a limit was exceeded (held input bytes, ...) */
    ZG_CLOSE_TIMEOUT = 5, /* a timeout fired */
    ZG_CLOSE_SHUTDOWN = 6, /* the server is stopping */
} zg_close_reason_t;

/* How close() ends a connection. */
typedef enum zg_close_how_e {
    ZG_CLOSE_FLUSH = 0, /* send pending output, then close */
    ZG_CLOSE_ABORT = 1, /* drop pending output, reset the connection (RST) */
    ZG_CLOSE_WRITE = 2, /* flush, then shut down our write side; keep reading */
} zg_close_how_t;

/* Log levels, nginx's order. */
typedef enum zg_log_level_e {
    ZG_LOG_EMERG = 0,
    ZG_LOG_ALERT,
    ZG_LOG_CRIT,
    ZG_LOG_ERROR,
    ZG_LOG_WARN,
    ZG_LOG_NOTICE,
    ZG_LOG_INFO,
    ZG_LOG_DEBUG,
} zg_log_level_t;

/*
 * Host functions, handed to the plugin's init(). The table lives as long as
 * the process. Unless stated otherwise a function taking a zg_conn_t must be
 * called on that connection's reactor thread (inside a callback for it, or
 * in a reactor callback of the same reactor). No host function ever calls
 * back into the plugin synchronously. Functions return 0 or -errno.
 * New functions are appended; test with ZG_API_HAS before calling one newer
 * than the abi_minor the plugin declares.
 */
typedef struct zg_api_s {
    uint32_t struct_size; /* sizeof(zg_api_t) as the host was compiled */
    uint16_t abi_major;   /* the host's ZG_ABI_MAJOR */
    uint16_t abi_minor;   /* the host's ZG_ABI_MINOR */

    /* Copy len bytes into c's output. They are sent at the end of the
     * current loop iteration together with everything else queued for c.
     * -EPIPE: c is closing and takes no more output. -ENOMEM. */
    int (*send)(zg_conn_t *c, const void *data, size_t len);

    /* Zero-copy send of a view of the current input (one of the views of
     * the zg_input_t being handled, or a sub-range of one). The host keeps
     * the receive buffer alive until the bytes are sent; when receive
     * buffers are scarce it copies instead. Any other memory is copied.
     * The plugin still consumes the bytes by its return value as usual. */
    int (*send_view)(zg_conn_t *c, const zg_view_t *v);

    /* Reserve at least min contiguous bytes at the end of c's output and
     * return where to write them (*avail gets the real room, >= min), or
     * NULL if min is too large (over 64 KiB) or memory is short. Nothing
     * is sent until commit(), which must follow within the same callback;
     * a second reserve() replaces the first. */
    void *(*reserve)(zg_conn_t *c, size_t min, size_t *avail);

    /* Append len bytes written at the last reserve() to c's output.
     * -EINVAL if len exceeds what was reserved or nothing was reserved. */
    int (*commit)(zg_conn_t *c, size_t len);

    /* End c (see zg_close_how_t). on_close follows later, once, from the
     * reactor loop, never from inside this call. Idempotent. */
    int (*close)(zg_conn_t *c, zg_close_how_t how);

    /* paused != 0: stop calling on_data for c (input is kept, receiving
     * stops once the kernel socket buffer is full). paused == 0: resume;
     * held input is presented again at the next loop iteration. */
    int (*pause_read)(zg_conn_t *c, int paused);

    /* Copy the peer's (or our local) address into *addr, at most *len
     * bytes; *len gets the real size. */
    int (*peer_addr)(zg_conn_t *c, struct sockaddr *addr, socklen_t *len);
    int (*local_addr)(zg_conn_t *c, struct sockaddr *addr, socklen_t *len);

    /* A number unique to c among connections of this process's lifetime. */
    uint64_t (*conn_id)(zg_conn_t *c);

    /* The index (0..reactors-1) of the calling reactor thread, or -1 when
     * called from a thread that is not a reactor. Any thread. */
    int (*reactor_id)(void);

    /* Write a line to the error log if level passes the configured level.
     * Any thread. The line is prefixed with the plugin's name. Do not log
     * per request: it is a syscall. */
    void (*log)(zg_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

    /* Bytes queued on c and not yet acknowledged as sent by the kernel. */
    size_t (*output_pending)(zg_conn_t *c);

    /* ---- ABI 1.1 ---- */

    /* Arm c's one plugin timer: on_timeout runs about ms milliseconds from
     * now (10 ms resolution). Re-arming replaces the previous deadline;
     * ms == 0 disarms. The timer is independent of the listener's
     * idle_timeout_ms. */
    int (*set_timer)(zg_conn_t *c, uint32_t ms);

    /* on != 0: call on_writable once, when c's unsent output falls to the
     * listener's write_low_watermark (at once, at the next loop iteration,
     * if it already is). on == 0 withdraws the request. */
    int (*want_writable)(zg_conn_t *c, int on);

    /* 1 once a graceful stop (SIGQUIT) has begun, else 0. Any thread. A
     * plugin should finish the exchange in progress and close (e.g. HTTP
     * answers with "Connection: close"). */
    int (*draining)(void);
} zg_api_t;

/* True if the host's table has member fn (it may be older than ours). */
#define ZG_API_HAS(api, fn)                                                    \
    ((api)->struct_size >= offsetof(zg_api_t, fn) + sizeof((api)->fn) &&       \
     (api)->fn != NULL)

/* Descriptor flags: none defined in 1.0; a host refuses unknown bits. */
#define ZG_PLUGIN_FLAGS_KNOWN 0u

/*
 * The plugin descriptor. The host copies it into a zeroed struct of its own
 * size, so fields appended after the plugin was built read as 0/NULL.
 * Callbacks run on reactor threads unless stated otherwise; callbacks for
 * one connection never run concurrently or re-entrantly.
 */
typedef struct zg_plugin_s {
    uint32_t magic;       /* ZG_PLUGIN_MAGIC */
    uint16_t abi_major;   /* ZG_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;   /* lowest host minor the plugin needs */
    uint32_t struct_size; /* sizeof(zg_plugin_t) as the plugin was built */
    uint32_t flags;       /* ZG_PLUGIN_FLAGS_*; 0 for now */
    const char *name;     /* unique among loaded plugins: [a-z0-9_-]+ */
    const char *version;  /* free text, e.g. "1.2.0" */

    /* Main thread, once per listener using the plugin, before any socket is
     * opened. conf is the listener's "config" object serialized as JSON
     * (NUL-terminated, len bytes; "{}" if absent). Store per-listener state
     * in *plugin_data. A non-zero return refuses the config: the host
     * reports it and exits. errbuf (errlen bytes) takes a one-line reason.
     * Required. */
    int (*init)(const zg_api_t *api, const char *conf, size_t len,
                void **plugin_data, char *errbuf, size_t errlen);

    /* Main thread, once per successful init, after every reactor stopped.
     * Optional. */
    void (*fini)(void *plugin_data);

    /* Reactor thread, once per reactor per listener at reactor start, and
     * its pair at reactor stop. Per-reactor state needs no locks. A
     * non-zero return from reactor_init is a start-up error. Optional. */
    int (*reactor_init)(void *plugin_data, int reactor_id, void **reactor_data);
    void (*reactor_fini)(void *plugin_data, void *reactor_data);

    /* A new connection. Store per-connection state in *conn_data. A
     * non-zero return closes the connection at once (on_close still runs).
     * Required. */
    int (*on_accept)(zg_conn_t *c, void *reactor_data, void **conn_data);

    /* Bytes arrived (or EOF). Return the number of bytes consumed from the
     * front of the input (0..in->total); unconsumed bytes are presented
     * again, first, with the next data. 0 means "need more": the plugin is
     * called again only when new bytes or EOF arrive. A negative return
     * flushes pending output and closes the connection (ZG_CLOSE_LOCAL).
     * Required. */
    long (*on_data)(zg_conn_t *c, void *conn_data, const zg_input_t *in);

    /* The connection ended. Called exactly once per accepted connection,
     * after which c is invalid. Free conn_data here. Required. */
    void (*on_close)(zg_conn_t *c, void *conn_data, zg_close_reason_t reason);

    /* ---- ABI 1.1: optional, NULL = absent ---- */

    /* Output fell to the low watermark after want_writable(c, 1). */
    void (*on_writable)(zg_conn_t *c, void *conn_data);

    /* The timer armed with set_timer() expired. */
    void (*on_timeout)(zg_conn_t *c, void *conn_data);

    /* A graceful stop began. Close c now if it is idle, or once the
     * exchange in progress is complete. Without on_drain, the host closes
     * a connection as soon as it holds no input and no output. Connections
     * left at shutdown_timeout_ms are closed with ZG_CLOSE_SHUTDOWN. */
    void (*on_drain)(zg_conn_t *c, void *conn_data);

    /* Bytes sent (best effort, never blocking) to a connection refused
     * because a max_connections limit was reached, before it is closed;
     * e.g. an HTTP 503 response. NULL/0 = close without a word. */
    const void *over_limit_response;
    size_t over_limit_response_len;
} zg_plugin_t;

/* The one symbol a plugin exports. A plugin defines it as
 *     ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void) { return &desc; }
 * Called once, on the main thread, right after dlopen. */
typedef const zg_plugin_t *(*zg_plugin_entry_fn)(void);
ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif /* ZG_PLUGIN_H */
