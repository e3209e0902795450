/* SPDX-License-Identifier: MIT */
/*
 * Description: the configuration model and its strict JSON loader. Parsing
 * and validation run on the main thread at start-up; the result is a plain,
 * immutable struct the engine reads. No jansson type leaks out of config.c
 * except the listener's plugin config, kept as serialized JSON text.
 */
#ifndef ZG_CONFIG_H
#define ZG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ZG_MAX_REACTORS  256
#define ZG_MAX_LISTENERS 64
#define ZG_MAX_MODULES   16 /* modules in one listener's chain */

/* "accept": "auto" (the default) resolves at load time to REUSEPORT with
 * one reactor (it accepts on its own ring: no acceptor thread, no
 * cross-thread hand-off; a single socket needs no SO_REUSEPORT) and to
 * ACCEPTOR with more. zg_config_t.accept is always the resolved mode. */
typedef enum {
    ZG_ACCEPT_ACCEPTOR = 0,
    ZG_ACCEPT_REUSEPORT,
    ZG_ACCEPT_AUTO
} zg_accept_mode_t;
typedef enum { ZG_IP_DUAL = 0, ZG_IP_V4, ZG_IP_V6 } zg_ip_version_t;
typedef enum { ZG_TRI_AUTO = 0, ZG_TRI_ON, ZG_TRI_OFF } zg_tristate_t;

/* The acceptor thread's ring ("acceptor" object). */
typedef struct zg_acceptor_conf_s {
    uint32_t ring_entries; /* "ring_entries": 2..32768, default 256 */
    /* "batch": max CQEs per loop, 1..65536, default 256 */
    uint32_t batch;
    uint32_t cq_timeout_us; /* "cq_timeout_us": 0..10000000, default 100000 */
    int sqpoll;             /* "sqpoll": bool, default false */
    int sq_cpu;             /* "sq_cpu": -1..1023, default -1 */
    uint32_t sq_idle_ms;    /* "sq_idle_ms": 0..60000, default 100 */
} zg_acceptor_conf_t;

/* One reactor's knobs ("reactor" object, then "reactor_overrides"). */
typedef struct zg_reactor_conf_s {
    uint32_t ring_entries; /* 2..32768, default 1024 */
    /* 64..1048576, multiple of 64, default 16384 */
    uint32_t recv_buffer_size;
    uint32_t buffer_ring_entries; /* power of 2, 1..32768, default 1024 */
    uint32_t batch_cqes;          /* 1..65536, default 1024 */
    uint32_t max_connections;     /* 1..1048576, default 8192 */
    uint32_t cq_timeout_us;       /* 0..10000000, default 100000 */
    int sqpoll;                   /* bool, default false */
    int sq_cpu;                   /* -1..1023, default -1 */
    uint32_t sq_idle_ms;          /* 0..60000, default 100 */
    /* "cpu_affinity": "auto" (-1: reactor i on CPU i), "off" (-2, the
     * default) or a CPU number n >= 0 (pin every reactor to n) */
    int cpu_affinity;
    zg_tristate_t incremental_buffers; /* "auto" | true | false, default auto */
    zg_tristate_t recv_bundle;         /* "auto" | true | false, default auto */
    /* "buffer_window": publish a window of the buffer ring that grows
     * when receives run short and shrinks when quiet; default true */
    int buffer_window;
    /* "send_zc": zero-copy sends (IORING_OP_SEND_ZC/SENDMSG_ZC, Linux
     * 6.1) for output of at least "send_zc_min" bytes (1024..16777216,
     * default 65536); default false */
    int send_zc;
    uint32_t send_zc_min;
} zg_reactor_conf_t;

typedef struct zg_log_conf_s {
    /* "level": debug|info|notice|warn|error|crit|alert|emerg ->
     * zg_log_level_t; default info */
    int level;
    /* "error_log": "stderr" or a file path; default "stderr" */
    char *error_log;
} zg_log_conf_t;

/* One entry of a listener's "modules" list. */
typedef struct zg_module_conf_s {
    /* "module": required: a built-in module's name, or a path to a .so
     * (containing '/') */
    char *spec;
    /* "config": any JSON object; its node in the tree (NULL if absent) and
     * its compact text ("{}" if absent) */
    struct json_t *json;
    char *config;
} zg_module_conf_t;

typedef struct zg_listener_conf_s {
    /* "name": required, [A-Za-z0-9_.-]{1,64}, unique */
    char *name;
    /* "listen": required, as written: "127.0.0.1:7000", "[::]:80", "*:80" */
    char *listen;
    struct sockaddr_storage addr; /* parsed from listen */
    socklen_t addrlen;
    /* "ip_version": "v4"|"v6"|"dual", default "dual" (only matters for [::]) */
    zg_ip_version_t ip_version;
    int backlog; /* "backlog": 1..1048576, default 511 */
    /* "plugin": required: a name ("echo" or "echo.so") or a path containing
     * '/'; zg_config_load makes a relative path absolute from the file's
     * directory */
    char *plugin;
    /* "config": any JSON object, serialized compact; "{}" if absent */
    char *plugin_config;
    /* "idle_timeout_ms": 0 (off)..86400000, default 60000 */
    uint32_t idle_timeout_ms;
    /* "linger_ms": 0 (off)..600000, default 2000: a lingering close (output
     * sent, our side shut down, the peer's further bytes read and dropped)
     * ends at the peer's FIN or this long after it began, whatever the
     * peer does */
    uint32_t linger_ms;
    /* "max_connections": 1..10000000, default 100000 */
    uint32_t max_connections;
    /* "max_held_bytes": 1024..1073741824, default 1048576 */
    uint32_t max_held_bytes;
    int tcp_nodelay; /* "tcp_nodelay": bool, default true */
    /* "write_high_watermark": 1024..1073741824, default 1048576: unsent
     * output past which on_data stops and reading pauses */
    uint32_t write_high_watermark;
    /* "write_low_watermark": 0..high-1, default 262144: reading resumes */
    uint32_t write_low_watermark;
    /* "modules": the module chain in order, up to ZG_MAX_MODULES */
    zg_module_conf_t modules[ZG_MAX_MODULES];
    uint32_t nmodules;
    /* the "config" object in cfg->root, or NULL if absent (for plugins
     * with host-owned configuration, checked once the plugin is loaded) */
    struct json_t *plugin_json;
    /* line of the listener object in the file (0 if unknown), for messages */
    int line;
} zg_listener_conf_t;

typedef struct zg_config_s {
    char *path; /* the file name as given, or "<embedded>" */
    /* the text as parsed and its tree, kept so that plugin and module
     * configs can be checked (with positions) once they are loaded */
    char *text;
    size_t textlen;
    struct json_t *root;
    uint32_t reactors; /* "reactors": 1..ZG_MAX_REACTORS, default 1 */
    /* "accept": "auto" | "acceptor" | "reuseport", default "auto"; holds
     * the resolved mode, never ZG_ACCEPT_AUTO (see zg_accept_mode_t) */
    zg_accept_mode_t accept;
    zg_acceptor_conf_t acceptor;
    /* [i] = defaults + "reactor" + overrides for id i */
    zg_reactor_conf_t reactor[ZG_MAX_REACTORS];
    zg_log_conf_t log;
    /* "shutdown_timeout_ms": 0..3600000, default 10000 */
    uint32_t shutdown_timeout_ms;
    /* "pid": the pid file (locked while running; zerg -s reads it), or
     * NULL (default: none); relative to the configuration file's directory */
    char *pid;
    /* "user", "group": after binding, drop root for this user (and group,
     * default: the user's primary one); NULL (default): stay as started */
    char *user;
    char *group;
    /* "master": bool, default false: a small master process holds the
     * listening sockets and restarts the server (its worker) when it dies
     * without being asked to (core/master.c). Off by default: a service
     * manager (systemd's Restart=, a container runtime) restarts zerg
     * already and should see its crashes. */
    int master;
    size_t nlisteners; /* 1..ZG_MAX_LISTENERS */
    zg_listener_conf_t listeners[ZG_MAX_LISTENERS];
} zg_config_t;

/* The embedded default used when zerg runs without -c. */
extern const char zg_config_default[];

/*
 * Parse and validate a configuration from text (len bytes, need not be
 * NUL-terminated). path is used in messages only. On success returns 0 and
 * *out (caller frees with zg_config_free). On failure returns -EINVAL (or
 * -ENOMEM) and writes one line, no trailing newline, into err (errlen bytes):
 *   "<path>:<line>:<column>: <key path>: <what is wrong>"
 * where line:column point at the offending value (or key) when it can be
 * known, and are omitted ("<path>: ...") otherwise. Examples:
 *   "zerg.json:3:14: reactors: expected an integer, got string"
 *   "zerg.json:7:5: listeners[0].lisen: unknown key (did you mean \"listen\"?)"
 *   "zerg.json:2:15: reactors: 0 is out of range 1..256"
 *   "zerg.json:4:3: duplicate key \"reactors\""
 *   "zerg.json:9:1: syntax error: '}' expected near end of file"
 */
int zg_config_parse(const char *text, size_t len, const char *path,
                    zg_config_t **out, char *err, size_t errlen);

/* The text of file path (read earlier: a master takes what its worker
 * runs) as zg_config_load would take it: parsed, then its relative paths
 * made absolute from path's directory. */
int zg_config_from_text(const char *text, size_t len, const char *path,
                        zg_config_t **out, char *err, size_t errlen);

/* Read file path and zg_config_parse it, then rewrite each relative plugin
 * path (one with a '/' not at its start) and a relative "pid" as absolute
 * paths from the file's directory. A missing or unreadable file is
 * "<path>: cannot read: <strerror>". */
int zg_config_load(const char *path, zg_config_t **out, char *err,
                   size_t errlen);

/* Free cfg and every string it owns. NULL is a no-op. */
void zg_config_free(zg_config_t *cfg);

/*
 * The effective configuration as JSON text (indented, no trailing newline):
 * every key with its value, defaults filled in, "accept" resolved, each
 * listener's "config" object as given and plugin paths as zg_config_load
 * left them. Reactor 0 is shown as "reactor"; other reactors that differ
 * from it appear in "reactor_overrides". The text is itself a valid
 * configuration meaning the same. Returns a malloc'd string the caller
 * frees, or NULL if memory is short. Main thread (no shared state).
 */
char *zg_config_dump(const zg_config_t *cfg);

/* The same as a jansson tree (the caller json_decref()s it), or NULL. */
struct json_t *zg_config_json(const zg_config_t *cfg);

/* Format an AF_INET or AF_INET6 address as "1.2.3.4:80" or "[::1]:80" into
 * buf (len bytes, NUL-terminated). Returns 0, -ENOSPC if buf is too small,
 * -EAFNOSUPPORT for another family. Any thread. */
int zg_addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif /* ZG_CONFIG_H */
