/* SPDX-License-Identifier: MIT */
/*
 * Description: the proxy plugin's per-listener configuration: the key
 * table the host checks the listener's "config" object against (keys
 * documented in conf.c and in zerg(8)), the struct it fills, and the
 * runtime conf built from it: the resolved servers, shared by every
 * reactor of the listener.
 */
#ifndef ZG_PROXY_CONF_H
#define ZG_PROXY_CONF_H

#include <stddef.h>
#include <stdint.h>

#include <zerg/plugin.h>

#include "upstream.h"

#define ZG_PROXY_MAX_UPSTREAMS 64 /* elements of "upstreams" */

/* One element of "upstreams", as the host fills it. The address check
 * resolves the address into addrs at start-up, so that a name that does
 * not resolve is reported at its place in the operator's file. */
typedef struct zg_proxy_upstream_cfg_s {
    const char *address; /* host's string, valid until fini */
    int64_t weight;      /* 1..1000 */
    /* Filled by the address check, not keys of their own. */
    size_t naddrs;
    struct sockaddr_storage addrs[ZG_PROXY_MAX_ADDRS];
    socklen_t lens[ZG_PROXY_MAX_ADDRS];
} zg_proxy_upstream_cfg_t;

/* The listener's "config" object, as the host fills it. */
typedef struct zg_proxy_cfg_s {
    zg_list_t upstreams; /* of zg_proxy_upstream_cfg_t, 1..64 */
    int balance;         /* zg_proxy_balance_t */
    uint32_t connect_timeout_ms;
    uint32_t idle_timeout_ms; /* 0: none */
    int64_t max_tries;        /* 0: each server once */
    int64_t max_fails;        /* 0: never mark a server down */
    uint32_t fail_timeout_ms;
    int send_proxy_protocol;
} zg_proxy_cfg_t;

/* What the reactors read: built once, read-only but for the servers'
 * atomics. */
typedef struct zg_proxy_conf_s {
    zg_proxy_pool_t pool;
    uint32_t connect_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t tries; /* connection attempts per client, 1..pool.n */
    int send_proxy_protocol;
} zg_proxy_conf_t;

/* The keys of zg_proxy_cfg_t, for the descriptor's conf_keys. */
extern const zg_key_t zg_proxy_conf_keys[];

/*
 * Build the runtime conf from a filled cfg (only read during the call).
 * Every address of every upstream becomes a server with the upstream's
 * weight. Returns 0 and a conf to free with zg_proxy_conf_free(), or
 * -EINVAL / -ENOMEM with a one-line reason in err (over
 * ZG_PROXY_MAX_SERVERS servers, out of memory). Main thread, start-up.
 */
int zg_proxy_conf_build(const zg_proxy_cfg_t *cfg, zg_proxy_conf_t **out,
                        char *err, size_t errlen);

/* Free a conf (NULL is fine). */
void zg_proxy_conf_free(zg_proxy_conf_t *conf);

#endif /* ZG_PROXY_CONF_H */
