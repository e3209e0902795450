/* SPDX-License-Identifier: MIT */
/*
 * Description: the zerg plugin ABI. This is the only header a protocol
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
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZG_PLUGIN_MAGIC 0x7a657267u /* "zerg" */
#define ZG_ABI_MAJOR    1
#define ZG_ABI_MINOR    4

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

/* ABI 1.4: a JSON object of the operator's configuration that the host
 * has not checked yet (a ZG_KEY_NODE value). Opaque; see conf_fill(). */
typedef struct zg_conf_node_s zg_conf_node_t;
struct zg_key_s; /* a key of a config table, below */

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
    /* ABI 1.2: a module refused the connection in its admit or preread
     * phase. Only modules' on_log sees it: the plugin never knew c. */
    ZG_CLOSE_REFUSED = 7,
} zg_close_reason_t;

/*
 * How close() ends a connection. From the moment a close is requested the
 * plugin gets no more input: the host stops receiving (with FLUSH, LINGER
 * and ABORT, bytes already received and not consumed are dropped; with
 * WRITE they are kept for after the shutdown), so a peer that keeps
 * sending is held by TCP flow control, not buffered. Sending the pending
 * output is bounded by the listener's idle_timeout_ms (no byte moved:
 * the connection is reset).
 */
typedef enum zg_close_how_e {
    /* Send pending output, then close. If the peer sent bytes that were
     * never consumed, the host closes as with ZG_CLOSE_LINGER instead, so
     * that they do not turn the close into a reset that could destroy the
     * output at the peer before it reads it. */
    ZG_CLOSE_FLUSH = 0,
    ZG_CLOSE_ABORT = 1, /* drop pending output, reset the connection (RST) */
    /* Flush, then shut down our write side and keep reading: input is
     * delivered again once the output is sent; close later. */
    ZG_CLOSE_WRITE = 2,
    /* ABI 1.2. A lingering close: send pending output, shut down our
     * write side, then read and drop whatever the peer still sends until
     * it closes its side or the listener's linger_ms (default 2 s) has
     * passed, whichever comes first; nothing the peer does extends it.
     * on_close runs when the lingering begins. Use it after a response
     * that ends an exchange the peer may still be sending (an error in
     * the middle of a request). Hosts older than 1.2 return -EINVAL. */
    ZG_CLOSE_LINGER = 3,
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

/* A buffered log file of the host's (api->log_open). Opaque. */
typedef struct zg_logsink_s zg_logsink_t;

/* ---- ABI 1.3: outbound connections ------------------------------------
 *
 * Callbacks of an outbound connection (api->connect). They follow the
 * rules of the plugin's callbacks of the same name: reactor thread, one
 * at a time per connection, c valid until on_close returns. The struct
 * lives as long as the plugin (static const). Fields the plugin's build
 * did not have read as NULL (struct_size).
 */
typedef struct zg_outbound_s {
    uint32_t struct_size; /* sizeof(zg_outbound_t) as the plugin was built */
    /* The attempt ended: 0 = established, or -errno (on_close follows).
     * Optional. */
    void (*on_connect)(zg_conn_t *c, void *conn_data, int status);
    /* As the plugin's on_data. Required. */
    long (*on_data)(zg_conn_t *c, void *conn_data, const zg_input_t *in);
    /* As the plugin's on_close: exactly once. Required. */
    void (*on_close)(zg_conn_t *c, void *conn_data, zg_close_reason_t reason);
    /* As the plugin's. Optional. */
    void (*on_writable)(zg_conn_t *c, void *conn_data);
    void (*on_timeout)(zg_conn_t *c, void *conn_data);
} zg_outbound_t;

/* Options of api->connect; only read during the call. */
typedef struct zg_connect_s {
    uint32_t struct_size; /* sizeof(zg_connect_t) as the plugin was built */
    /* Bound on the TCP handshake in ms; 0 = 60000. */
    uint32_t timeout_ms;
    /* Where to: AF_INET or AF_INET6, addr_len bytes. */
    const struct sockaddr *addr;
    socklen_t addr_len;
    const zg_outbound_t *ops; /* the new connection's callbacks */
    void *conn_data;          /* handed to every callback of ops */
    /* A connection of the caller's on the same reactor: the new one
     * takes its listener's limits (idle_timeout_ms, watermarks,
     * max_held_bytes, linger_ms) and log prefix. Required. */
    zg_conn_t *from;
} zg_connect_t;

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
     * The plugin still consumes the bytes by its return value as usual.
     * Since ABI 1.3 the view may also come from the input of another
     * connection of the same reactor (forwarding, as a proxy does) or be
     * a retained view (view_retain). */
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

    /* paused != 0: stop calling on_data for c. Input already received is
     * kept; the host stops receiving for c (no receive is armed while it
     * is paused), so a peer that keeps sending is held back by the kernel's
     * socket buffer and TCP flow control. Bytes that arrive while c is
     * paused never count against the listener's max_held_bytes: that
     * limit is for a plugin that returns 0 without pausing. paused == 0:
     * resume; held input is presented again at the next loop iteration
     * and receiving starts again. */
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

    /* ---- ABI 1.2 ---- */

    /* Only in a module's on_preread for c: from now on peer_addr() for c
     * returns addr (len bytes, AF_INET or AF_INET6), and every later
     * module, the plugin and the logs see it instead of the socket's peer
     * (the real client behind a proxy). -EINVAL elsewhere or for another
     * family or size. */
    int (*set_peer_addr)(zg_conn_t *c, const struct sockaddr *addr,
                         socklen_t len);

    /* ---- ABI 1.3: beyond one connection ---- */

    /* Any thread. Run fn on the reactor that owns the connection with this
     * id (from conn_id()), from its loop, soon. If the connection has closed
     * by then, fn runs with c == NULL and conn_data == NULL so arg can be
     * freed. 0 or -errno: -ENOMEM, -ESHUTDOWN once the server is stopping,
     * -EINVAL for an id that never existed.
     *
     * Threading rules. fn runs on the owning reactor's thread, between
     * callbacks (never inside another callback of the same connection),
     * exactly once per successful post: with c != NULL while the
     * connection is open (its on_close has not run; conn_data is the
     * plugin's, NULL before on_accept), else with c == NULL. Posts from
     * one thread to one reactor run in the order they were made. Posting
     * from the connection's own reactor is allowed and never runs fn
     * before post returns. The host holds no lock while fn runs; fn may
     * call any host function for c and post again. Posts accepted before
     * a stop still run (with c == NULL once their connection is gone),
     * also during a fast stop; once the owning reactor has left its loop,
     * post returns -ESHUTDOWN and fn never runs: arg stays the caller's.
     * A plugin's worker threads must be joined by its fini(), which runs
     * after every reactor stopped, so no post is made after it returns. */
    int (*post)(uint64_t conn_id,
                void (*fn)(zg_conn_t *c, void *conn_data, void *arg),
                void *arg);

    /* Reactor thread. Open an outbound TCP connection from the calling
     * reactor (see zg_connect_t). Returns the new connection, or NULL with
     * *err set: -EINVAL (bad options, or not on a reactor thread), -EMFILE
     * or -ENFILE (no descriptor), -EBUSY (no free connection slot on this
     * reactor), -ESHUTDOWN (the reactor is stopping), -ENOMEM, or what
     * socket() says. Nothing is called back from inside connect(). The
     * returned c takes send(), send_view(), reserve()/commit(), close(),
     * pause_read(), set_timer(), want_writable() and half_open() at once:
     * output queued before the connection is established is sent once it
     * is. Then, from the loop: ops->on_connect once with 0 (established;
     * receiving starts) or -errno (-ETIMEDOUT after timeout_ms,
     * -ECONNREFUSED, ...; on_close follows with ZG_CLOSE_ERROR or
     * ZG_CLOSE_TIMEOUT). A close() before the attempt ended skips
     * on_connect. ops->on_close runs exactly once per returned c. peer_addr()
     * is the address connected to. Outbound connections are not counted
     * against any listener's max_connections, see no module, are not
     * closed by a graceful stop's idle rule (their owner closes them; the
     * stop's shutdown_timeout_ms bounds them), and end with
     * ZG_CLOSE_SHUTDOWN in a fast stop. */
    zg_conn_t *(*connect)(const zg_connect_t *opts, int *err);

    /* Reactor thread. Keep the bytes of v, a view (or a sub-range of one)
     * of an input being handled on this reactor, valid past the callback:
     * *out gets the same bytes (zero-copy: the receive buffer is kept from
     * the kernel) or, when receive buffers are scarce or v is not in one,
     * a heap copy. Either way the plugin releases *out exactly once with
     * view_release() on the same reactor, before its connection's
     * on_close returns or, at the latest, before the plugin's
     * reactor_fini. A retained view may be given to send_view() on any
     * connection of this reactor (forwarding without a copy): the send
     * keeps its own reference, so the view can be released right after.
     * 0, -EINVAL (not on a reactor, empty view), -ENOMEM. */
    int (*view_retain)(const zg_view_t *v, zg_view_t *out);
    void (*view_release)(const zg_view_t *v);

    /* on != 0: a FIN from c's peer does not end c. on_data sees ZG_IN_EOF
     * once, with whatever input is left, and c stays open for output (a
     * half-closed connection) until the plugin closes it; the listener's
     * idle_timeout_ms still applies. on == 0 (the default): after on_data
     * has seen ZG_IN_EOF, the host closes c with ZG_CLOSE_FLUSH (reason
     * ZG_CLOSE_PEER). A proxy turns it on for both of its sides and
     * passes the FIN on with close(other, ZG_CLOSE_WRITE). */
    int (*half_open)(zg_conn_t *c, int on);

    /* ---- ABI 1.3: logs and counters ---- */

    /* Main thread, from init()/init_conf() only. A buffered log file for
     * access-log style lines: path is a file (opened for appending,
     * created with mode 0644, shared by every caller naming the same
     * path; a relative path is relative to the configuration file's
     * directory, as every path in it) or "stderr". Lines are collected
     * per reactor in buffers of buffer bytes (4096..16 MiB; the largest
     * asked for a path wins) and reach the file with one write(2) per
     * buffer: when it is full, at most flush_ms (1..60000; the smallest
     * asked for wins) after its first line, and when the reactor stops
     * (graceful or fast). SIGUSR1 reopens the file (after logrotate moved it):
     * no line is lost or torn; lines still buffered then go to the new file.
     * NULL on failure, with a one-line reason in errbuf. The sink lives as long
     * as the process. */
    struct zg_logsink_s *(*log_open)(const char *path, size_t buffer,
                                     uint32_t flush_ms, char *errbuf,
                                     size_t errlen);

    /* Any thread. Append len bytes of whole lines (each ending in '\n')
     * to s. On a reactor thread they are buffered (see log_open); on any
     * other thread, and when longer than the buffer, written at once. A
     * line is never split between two writes, so lines of different
     * reactors never interleave within a line. 0 or -errno. */
    int (*log_write)(struct zg_logsink_s *s, const char *lines, size_t len);

    /* Reactor thread. Count n requests served on c towards its listener's
     * zerg_requests_total (a protocol plugin knows what a request is; the
     * host does not). Two plain additions, no lock, no atomic. */
    void (*count_requests)(zg_conn_t *c, uint32_t n);

    /* Any thread. The server's metrics as text: format 0 is the
     * Prometheus text exposition format (version 0.0.4), 1 a short
     * human-readable status page. Written to buf (len bytes, always
     * NUL-terminated when len > 0); returns the length of the whole text,
     * so a result >= len means buf was too small (call again with more).
     * Reading does not stop any reactor: values may be a few ms stale,
     * never torn. */
    size_t (*metrics)(int format, char *buf, size_t len);

    /* ---- ABI 1.4: configuration a plugin checks against a table it
     * learns at start-up ---- */

    /* Main thread, only inside the init_conf() of the plugin whose filled
     * config holds node (a ZG_KEY_NODE value). Check the JSON object at
     * node against keys, exactly as the host checks the plugin's own keys
     * (the same messages, at the operator's file:line:column and the key
     * path through node: "zerg.json:9:41: listeners[0].config.routes[2]
     * .config.delay: unknown key (did you mean \"delay_ms\"?)"), and fill
     * *conf, a zeroed block of conf_size bytes, with defaults and values.
     * *conf and everything stored in it are the host's and live until the
     * plugin's fini() has returned. zerg -T shows the filled values, with
     * every default, in place of the object as written. A node is filled
     * at most once. 0, or -EINVAL with the one-line message in errbuf
     * (errlen bytes), -ENOMEM, or -EALREADY. */
    int (*conf_fill)(const zg_conf_node_t *node, const struct zg_key_s *keys,
                     size_t conf_size, void **conf, char *errbuf,
                     size_t errlen);
} zg_api_t;

/* True if the host's table has member fn (it may be older than ours). */
#define ZG_API_HAS(api, fn)                                                    \
    ((api)->struct_size >= offsetof(zg_api_t, fn) + sizeof((api)->fn) &&       \
     (api)->fn != NULL)

/* Descriptor flags; a host refuses bits it does not know. */
#define ZG_PLUGIN_MODULE      0x1u /* ABI 1.2: a module, not a plugin */
#define ZG_PLUGIN_FLAGS_KNOWN 0x1u

/* ---- ABI 1.2: host-owned configuration -------------------------------
 *
 * A plugin or module may declare the keys of its "config" object in a
 * table instead of parsing JSON itself. The host then checks the
 * operator's file against the table with the same errors as its own keys
 * (file:line:column, the key path, "did you mean"), fills a struct of the
 * plugin's with defaults and values, and hands it to init_conf(). The same
 * table gives `zerg -T` its defaults. Everything the host stores in the
 * struct (strings, list arrays) is owned by the host and lives until the
 * plugin's fini() has returned.
 */

/* Types of a key's value, and what is stored at the key's offset. */
typedef enum zg_key_type_e {
    ZG_KEY_END = 0, /* ends a table (name NULL) */
    ZG_KEY_BOOL,    /* int: JSON true or false */
    ZG_KEY_INT,     /* int64_t: a JSON integer in min..max */
    /* uint64_t bytes: an integer, or a string with a k/m/g suffix (1024
     * based: "64k", "16m"); min..max */
    ZG_KEY_SIZE,
    /* uint32_t milliseconds: an integer (ms), or a string "250ms", "5s",
     * "2m", "1h"; min..max */
    ZG_KEY_MSEC,
    /* const char *: a JSON string without NUL bytes, length min..max (max
     * 0: no limit) */
    ZG_KEY_STRING,
    ZG_KEY_ENUM, /* int: the index in names of a JSON string */
    /* zg_cidr_t: "all", an IPv4/IPv6 address or address/bits; absent
     * without a default, its family is ZG_CIDR_NONE (matches nothing) */
    ZG_KEY_CIDR,
    /* a nested object, filled in place by the table sub (absent: its
     * keys' defaults) */
    ZG_KEY_OBJECT,
    /* zg_list_t: a JSON array of elem values, min..max long (max 0: no
     * limit); elem ZG_KEY_OBJECT takes sub and elem_size */
    ZG_KEY_LIST,
    /* ABI 1.4. const zg_conf_node_t *: any JSON object, kept for the
     * plugin to check later with api->conf_fill() against a table it
     * only learns at start-up (the keys of an HTTP route's handler,
     * which the route names). Until conf_fill() runs the host checks
     * nothing inside it. An absent object has a node too (never NULL),
     * which conf_fill() fills with the defaults; the key's check, if
     * any, runs only when the object is present; def is ignored. */
    ZG_KEY_NODE,
} zg_key_type_t;

/* The family of a ZG_KEY_CIDR that was absent and had no default. */
#define ZG_CIDR_NONE 0xffu

/* Key flags. */
#define ZG_KEY_REQUIRED 0x1u /* absent is an error (def is ignored) */

/* A ZG_KEY_LIST value: n elements of the element type, contiguous. */
typedef struct zg_list_s {
    void *items;
    size_t n;
} zg_list_t;

typedef struct zg_key_s {
    const char *name;           /* the JSON member name; NULL ends a table */
    uint16_t type;              /* zg_key_type_t */
    uint16_t elem;              /* ZG_KEY_LIST: the element's type */
    uint32_t flags;             /* ZG_KEY_* */
    size_t offset;              /* offsetof() the field in the struct filled */
    int64_t min, max;           /* ranges (see the types) */
    const char *def;            /* default as JSON text, NULL = zero/empty */
    const char *doc;            /* one line: what the key does */
    const struct zg_key_s *sub; /* ZG_KEY_OBJECT (or list of): its keys */
    size_t elem_size;           /* list of ZG_KEY_OBJECT: sizeof an element */
    const char *const *names;   /* ZG_KEY_ENUM: NULL-terminated */
    /* Optional, main thread: called once the value is stored, with a
     * pointer to it (to the element struct for a list of objects, to the
     * nested struct for an object). Non-zero refuses it: errbuf's one-line
     * reason is reported at the value's position in the operator's file. */
    int (*check)(void *value, char *errbuf, size_t errlen);
} zg_key_t;

/* The ranges of log_open()'s buffer and flush_ms, and the two key entries
 * a plugin that opens a log puts in its table to let the operator set
 * them: "buffer" (ZG_KEY_SIZE, default 64k) and "flush_ms" (ZG_KEY_MSEC,
 * default 1000), stored in the fields buffer (uint64_t) and flush_ms
 * (uint32_t) of the struct T its table fills. Plain data: nothing of it
 * crosses the ABI. */
#define ZG_LOG_BUFFER_MIN   4096
#define ZG_LOG_BUFFER_MAX   (16 << 20)
#define ZG_LOG_FLUSH_MS_MAX 60000
#define ZG_KEYS_LOG_BUFFERING(T)                                               \
    {.name = "buffer",                                                         \
     .type = ZG_KEY_SIZE,                                                      \
     .offset = offsetof(T, buffer),                                            \
     .min = ZG_LOG_BUFFER_MIN,                                                 \
     .max = ZG_LOG_BUFFER_MAX,                                                 \
     .def = "\"64k\"",                                                         \
     .doc = "bytes buffered per reactor before one write"},                    \
    {                                                                          \
        .name = "flush_ms", .type = ZG_KEY_MSEC,                               \
        .offset = offsetof(T, flush_ms), .min = 1, .max = ZG_LOG_FLUSH_MS_MAX, \
        .def = "1000", .doc = "longest a line waits in a buffer"               \
    }

/* ---- ABI 1.2: modules --------------------------------------------------
 *
 * A listener is a chain: modules (in the order of its "modules" list),
 * then one plugin. A module is a descriptor like a plugin's with
 * ZG_PLUGIN_MODULE in flags and no content callbacks: it hooks phases.
 * Each module of the list, in order, runs its admit phase (if any), then
 * its preread phase (if any) until done, then the next module's; the
 * plugin's on_accept runs once the last one has passed, and its on_data
 * sees only the bytes no preread consumed. After the connection ended
 * (and after the plugin's on_close, if it had one), every module's on_log
 * runs once, refused connections included.
 *
 * In module callbacks, reactor_data is what the module's reactor_init
 * stored, or its plugin_data if it has no reactor_init.
 */

/* What on_log learns about a connection that ended. Valid during the
 * call only. */
typedef struct zg_conn_info_s {
    uint32_t struct_size;        /* sizeof as the host was built */
    int reactor_id;              /* the reactor that served it */
    uint64_t conn_id;            /* as conn_id() returned */
    zg_close_reason_t reason;    /* why it ended (ZG_CLOSE_REFUSED ...) */
    const char *listener;        /* the listener's name */
    const char *refused_by;      /* the refusing module's name, or NULL */
    const struct sockaddr *peer; /* after set_peer_addr(); NULL if unknown */
    socklen_t peer_len;
    const struct sockaddr *local; /* NULL if unknown */
    socklen_t local_len;
    uint64_t bytes_in;    /* bytes received from the peer */
    uint64_t bytes_out;   /* bytes the kernel took for the peer */
    uint64_t duration_ms; /* from accept to the end */
} zg_conn_info_t;

/* on_preread: the phase needs more bytes (nothing consumed). */
#define ZG_PREREAD_MORE (-11L)

/* on_admit returns: admit; refuse (closed at once, nothing sent); refuse
 * as busy (the plugin's over_limit_response, if it has one, then close).
 * Any other non-zero value refuses like ZG_ADMIT_REFUSE. */
#define ZG_ADMIT_OK     0
#define ZG_ADMIT_REFUSE 1
#define ZG_ADMIT_BUSY   2

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
     * Required.
     *
     * Reload (SIGHUP): the host calls init (or init_conf) again for every
     * listener of the new configuration while the reactors go on serving
     * the old one, so init must not write anything reactors read without
     * synchronisation (a plugin-wide `api` pointer: set it only when it
     * differs); a non-zero return fails the reload (the old configuration
     * stays). The old instance's reactor_fini and fini run once its last
     * connection has closed, while the new instance serves: plugin_data
     * keeps the two apart. */
    int (*init)(const zg_api_t *api, const char *conf, size_t len,
                void **plugin_data, char *errbuf, size_t errlen);

    /* Main thread, once per successful init: after every reactor stopped,
     * or (reload) once the instance's last connection has closed while
     * reactors serve on. Optional. */
    void (*fini)(void *plugin_data);

    /* Reactor thread, once per reactor per listener at reactor start (and
     * for a reload's new instance, before it gets a connection), and its
     * pair at reactor stop (or when a reloaded-away instance has no
     * connection left on that reactor). Per-reactor state needs no locks.
     * A non-zero return from reactor_init is a start-up error (a failed
     * reload). Optional. */
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

    /* ---- ABI 1.2: optional, NULL/0 = absent ---- */

    /* Host-owned configuration: the keys of the "config" object and the
     * size of the struct they fill. With conf_keys, the host calls
     * init_conf (main thread, once per listener or module instance) with
     * the filled struct, valid until fini returns, instead of init; init
     * may then be NULL. A non-zero return refuses the config, with a
     * one-line reason in errbuf. */
    const zg_key_t *conf_keys;
    size_t conf_size;
    int (*init_conf)(const zg_api_t *api, const void *conf, void **plugin_data,
                     char *errbuf, size_t errlen);

    /* Module, admit phase: a new connection, before any byte is read;
     * peer_addr() is the address the phases before have set. Store state
     * in *conn_data. Non-zero refuses it: closed at once, nothing sent. */
    int (*on_admit)(zg_conn_t *c, void *reactor_data, void **conn_data);

    /* Module, preread phase: bytes before the plugin's. Return how many
     * leading bytes the phase consumed (>= 0: it is done), ZG_PREREAD_MORE
     * to wait for more (a peer FIN while waiting refuses the connection),
     * or any other negative value to refuse it. set_timer()/on_timeout
     * of the module bound the wait; the host disarms the timer when the
     * phase ends. */
    long (*on_preread)(zg_conn_t *c, void *conn_data, const zg_input_t *in);

    /* Module, log phase: the connection ended (any reactor thread). Free
     * conn_data here (NULL if the module never ran its admit or preread
     * phase for this connection). */
    void (*on_log)(void *reactor_data, void *conn_data,
                   const zg_conn_info_t *info);
} zg_plugin_t;

/* ==================================================================== */
/*
 * Reading the input: helpers over zg_input_t.
 *
 * on_data gets its bytes as several views, so a token can straddle them.
 * These helpers find a byte or a string and copy a range out without the
 * plugin joining the views. They are static inline: nothing crosses the
 * ABI, and they call no host function, allocate nothing and keep no state
 * (any thread, re-entrant). They only read in->views[0..nviews), which are
 * valid during the on_data call that received in.
 *
 * An offset counts bytes from the first byte of the input (the front of
 * views[0]) through every view in order: 0 .. in->total. Views may be empty.
 *
 * How large in->total gets. At a call to on_data it is what the previous
 * call left unconsumed plus what arrived since. The first part is at most
 * the listener's max_held_bytes (if more is left, the connection is closed
 * with ZG_CLOSE_LIMIT right after on_data returns). The second is what the
 * reactor received for this connection since then, which is one reactor
 * loop iteration's worth: at most reactor.batch_cqes receive completions of
 * at most reactor.recv_buffer_size bytes each, and never more than the
 * whole receive ring, buffer_ring_entries * recv_buffer_size. (A paused
 * connection, by pause_read or past write_high_watermark, stops receiving
 * within about an iteration and adds little more; with recv bundles on a
 * kernel that cannot cap them, before Linux 6.17, it may add MiB.) With
 * the defaults that
 * is 1 MiB + 16 MiB, so one call may well see several MiB: never scan the
 * whole input more than once per call.
 *
 * Staying linear. Each search below costs O(bytes searched + nviews), with
 * no dependence on the needle's content. Across calls, do not search again
 * from offset 0: when "need more" (return 0) follows a search that found
 * nothing in total bytes, the next call can start at total - (len - 1)
 * (for a byte: at total), since no match can begin earlier. Rescanning
 * from 0 on every call is quadratic in the held bytes.
 */

/* Longest needle zg_input_find() takes. */
#define ZG_INPUT_FIND_MAX 64

/* A hook for tests: ZG_INPUT_COUNT(n) is invoked with the number of input
 * bytes each step of a search examined. Define it before including this
 * header to count them; by default it compiles to nothing. */
#ifndef ZG_INPUT_COUNT
#define ZG_INPUT_COUNT(n) ((void)0)
#endif

/*
 * The offset of the first byte equal to b at or after offset from, or -1 if
 * there is none (also when from >= in->total).
 */
static inline long zg_input_find_byte(const zg_input_t *in, size_t from,
                                      unsigned char b)
{
    size_t base = 0;

    for (unsigned i = 0; i < in->nviews; base += in->views[i].len, i++) {
        const zg_view_t *v = &in->views[i];
        const unsigned char *hit;
        size_t at = from > base ? from - base : 0;

        if (at >= v->len)
            continue;
        hit = (const unsigned char *)memchr(v->data + at, b, v->len - at);
        ZG_INPUT_COUNT(hit ? (size_t)(hit - v->data) - at + 1 : v->len - at);
        if (hit != NULL)
            return (long)(base + (size_t)(hit - v->data));
    }
    return -1;
}

/*
 * The offset of the first occurrence of the len bytes at needle that starts
 * at or after offset from, or -1 if there is none. The match may straddle
 * any number of views. len must be 1..ZG_INPUT_FIND_MAX; any other length
 * returns -2. needle is only read during the call.
 *
 * Knuth-Morris-Pratt over the views: at most 2 comparisons per input byte
 * searched, amortised, so a needle that almost matches everywhere ("aaab"
 * in "aaaa...") costs no more than one that never does.
 */
static inline long zg_input_find(const zg_input_t *in, size_t from,
                                 const void *needle, size_t len)
{
    const unsigned char *nd = (const unsigned char *)needle;
    /* fail[i]: length of the longest proper prefix of nd[0..i] that is
     * also a suffix of it: how much of a match survives a mismatch. */
    unsigned char fail[ZG_INPUT_FIND_MAX];
    size_t base = 0, k = 0;

    if (len == 0 || len > ZG_INPUT_FIND_MAX)
        return -2;
    if (len == 1)
        return zg_input_find_byte(in, from, nd[0]);
    fail[0] = 0;
    for (size_t i = 1, j = 0; i < len; i++) {
        while (j > 0 && nd[i] != nd[j])
            j = fail[j - 1];
        if (nd[i] == nd[j])
            j++;
        fail[i] = (unsigned char)j;
    }
    for (unsigned v = 0; v < in->nviews; base += in->views[v].len, v++) {
        const unsigned char *p = in->views[v].data;
        size_t n = in->views[v].len;
        size_t i = from > base ? from - base : 0;

        while (i < n) {
            if (k == 0) {
                /* Nothing matched: skip to the next possible start. */
                const unsigned char *hit =
                    (const unsigned char *)memchr(p + i, nd[0], n - i);

                ZG_INPUT_COUNT(hit ? (size_t)(hit - p) - i + 1 : n - i);
                if (hit == NULL)
                    break;
                i = (size_t)(hit - p) + 1;
                k = 1;
            } else {
                /* Extend the match, or fall back to the longest prefix
                 * that can still continue with this byte. */
                for (;;) {
                    ZG_INPUT_COUNT(1);
                    if (p[i] == nd[k]) {
                        k++;
                        break;
                    }
                    if (k == 0)
                        break;
                    k = fail[k - 1];
                }
                i++;
            }
            if (k == len)
                return (long)(base + i - len);
        }
    }
    return -1;
}

/*
 * Copy up to len bytes of the input, starting at offset off, into dst.
 * Returns the number copied: len, or fewer if the input ends first (0 if
 * off >= in->total). dst must have room for len bytes and must not overlap
 * the input.
 */
static inline size_t zg_input_copy(const zg_input_t *in, size_t off, void *dst,
                                   size_t len)
{
    unsigned char *d = (unsigned char *)dst;
    size_t base = 0, done = 0;

    if (off >= in->total)
        return 0;
    for (unsigned v = 0; v < in->nviews && done < len;
         base += in->views[v].len, v++) {
        size_t n = in->views[v].len, at, take;

        if (off + done >= base + n)
            continue;
        at = off + done - base;
        take = n - at < len - done ? n - at : len - done;
        memcpy(d + done, in->views[v].data + at, take);
        done += take;
    }
    return done;
}

/* ==================================================================== */
/*
 * Networks: CIDR blocks for access rules and the like. Plain data and an
 * inline matcher, so a plugin can use them without any host call; the host
 * parses and prints them (core/cidr.h).
 *
 * A peer's address family is that of its address, not of its socket: an
 * IPv4-mapped IPv6 peer (::ffff:a.b.c.d, as a dual-stack socket reports an
 * IPv4 client) is the IPv4 peer a.b.c.d. So an IPv4 network matches both
 * spellings of its peers, and an IPv6 network matches only genuine IPv6
 * peers: ::/0 is "every IPv6 client", not every client. An IPv6 network
 * written inside ::ffff:0:0/96 with at least 96 bits (::ffff:10.0.0.0/104)
 * is the IPv4 network it spells (10.0.0.0/8) and matches as one.
 */

/* An IPv4 or IPv6 network (address/prefix), or "all". */
typedef struct zg_cidr_s {
    uint8_t family;   /* AF_INET, AF_INET6, or 0 = all addresses */
    uint8_t bits;     /* prefix length: 0..32 or 0..128 */
    uint8_t addr[16]; /* network, host bits zero (AF_INET: first 4 bytes) */
} zg_cidr_t;

/* The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:0:0/96). */
#define ZG_CIDR_V4MAPPED "\0\0\0\0\0\0\0\0\0\0\xff\xff"

/* 1 if the first bits bits of a and net are equal; both hold at least
 * (bits + 7) / 8 bytes. */
static inline int zg_cidr_prefix_eq(const uint8_t *a, const uint8_t *net,
                                    unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (full > 0 && memcmp(a, net, full) != 0)
        return 0;
    return rest == 0 ||
           ((a[full] ^ net[full]) & (uint8_t)(0xffu << (8 - rest))) == 0;
}

/*
 * 1 if sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address ::ffff:a.b.c.d
 * matches IPv4 networks as a.b.c.d) is in n; 0 otherwise (other families
 * never match except "all"). Both pointers are only read during the call
 * and must not be NULL; sa must point to a whole sockaddr_in or
 * sockaddr_in6 for those families. A network with a prefix longer than
 * its family allows matches nothing; host bits set in n->addr are
 * ignored. Any thread; no allocation, no locks.
 */
static inline int zg_cidr_match(const zg_cidr_t *n, const struct sockaddr *sa)
{
    const uint8_t *v4 = NULL, *v6 = NULL;

    if (n->family == 0)
        return 1;
    if (sa->sa_family == AF_INET) {
        v4 = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        v6 = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (memcmp(v6, ZG_CIDR_V4MAPPED, 12) == 0) {
            v4 = v6 + 12;
            v6 = NULL;
        }
    } else {
        return 0;
    }
    if (n->family == AF_INET)
        return v4 != NULL && n->bits <= 32 &&
               zg_cidr_prefix_eq(v4, n->addr, n->bits);
    if (n->family != AF_INET6 || n->bits > 128)
        return 0;
    if (n->bits >= 96 && memcmp(n->addr, ZG_CIDR_V4MAPPED, 12) == 0)
        return v4 != NULL && zg_cidr_prefix_eq(v4, n->addr + 12, n->bits - 96u);
    return v6 != NULL && zg_cidr_prefix_eq(v6, n->addr, n->bits);
}

/* ==================================================================== */

/* The one symbol a plugin exports. A plugin defines it as
 *     ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void) { return &desc; }
 * Called once, on the main thread, right after dlopen. */
typedef const zg_plugin_t *(*zg_plugin_entry_fn)(void);
ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif /* ZG_PLUGIN_H */
