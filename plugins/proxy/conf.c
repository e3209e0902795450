/* SPDX-License-Identifier: MIT */
/*
 * Description: the proxy plugin's listener config (see conf.h): the key
 * table, the address check that resolves each upstream at start-up (so a
 * bad address is reported at its file:line:column), and the runtime conf.
 *
 * Keys:
 *   "upstreams": required, 1..64 of {
 *     "address": required, "a.b.c.d:port", "[v6]:port" or "name:port"; a
 *                name is resolved once, at start, and each of its
 *                addresses (the first 16) becomes a server
 *     "weight":  1..1000, default 1 }
 *   "balance":            "round_robin" (default) | "least_conn" | "hash"
 *   "connect_timeout_ms": 1..3600000, default 5000
 *   "idle_timeout_ms":    0..86400000, default 600000 (0: none)
 *   "max_tries":          0..256, default 0 (each server once)
 *   "max_fails":          0..1000, default 1 (0: never marked down)
 *   "fail_timeout_ms":    1..3600000, default 10000
 *   "send_proxy_protocol": default false
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

/* The host calls a key's check with a pointer to the value inside the
 * element it is filling: resolve the address into that element. */
static int zg_proxy_check_address(void *value, char *err, size_t errlen)
{
    zg_proxy_upstream_cfg_t *u =
        (zg_proxy_upstream_cfg_t *)((char *)value -
                                    offsetof(zg_proxy_upstream_cfg_t, address));

    return zg_proxy_addr_resolve(u->address, u->addrs, u->lens,
                                 ZG_PROXY_MAX_ADDRS, &u->naddrs, err, errlen);
}

static const char *const zg_proxy_balances[] = {"round_robin", "least_conn",
                                                "hash", NULL};

static const zg_key_t zg_proxy_upstream_keys[] = {
    {.name = "address",
     .type = ZG_KEY_STRING,
     .flags = ZG_KEY_REQUIRED,
     .offset = offsetof(zg_proxy_upstream_cfg_t, address),
     .min = 1,
     .max = ZG_PROXY_HOST_MAX + 8,
     .doc = "\"a.b.c.d:port\", \"[v6]:port\" or \"name:port\"; a name is "
            "resolved at start and each address (up to 16) is a server",
     .check = zg_proxy_check_address},
    {.name = "weight",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_proxy_upstream_cfg_t, weight),
     .min = 1,
     .max = 1000,
     .def = "1",
     .doc = "share of the connections, relative to the other upstreams"},
    {.name = NULL},
};

const zg_key_t zg_proxy_conf_keys[] = {
    {.name = "upstreams",
     .type = ZG_KEY_LIST,
     .elem = ZG_KEY_OBJECT,
     .flags = ZG_KEY_REQUIRED,
     .offset = offsetof(zg_proxy_cfg_t, upstreams),
     .min = 1,
     .max = ZG_PROXY_MAX_UPSTREAMS,
     .doc = "the servers connections are passed to",
     .sub = zg_proxy_upstream_keys,
     .elem_size = sizeof(zg_proxy_upstream_cfg_t)},
    {.name = "balance",
     .type = ZG_KEY_ENUM,
     .offset = offsetof(zg_proxy_cfg_t, balance),
     .def = "\"round_robin\"",
     .doc = "\"round_robin\": smooth weighted; \"least_conn\": fewest "
            "active connections per weight; \"hash\": by client address",
     .names = zg_proxy_balances},
    {.name = "connect_timeout_ms",
     .type = ZG_KEY_MSEC,
     .offset = offsetof(zg_proxy_cfg_t, connect_timeout_ms),
     .min = 1,
     .max = 3600000,
     .def = "5000",
     .doc = "bound on connecting to one upstream; then the next is tried"},
    {.name = "idle_timeout_ms",
     .type = ZG_KEY_MSEC,
     .offset = offsetof(zg_proxy_cfg_t, idle_timeout_ms),
     .min = 0,
     .max = 86400000,
     .def = "600000",
     .doc = "no byte moved either way for this long closes both sides; 0: "
            "never"},
    {.name = "max_tries",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_proxy_cfg_t, max_tries),
     .min = 0,
     .max = ZG_PROXY_MAX_SERVERS,
     .def = "0",
     .doc = "connection attempts per client, each to another upstream; 0: "
            "each upstream once"},
    {.name = "max_fails",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_proxy_cfg_t, max_fails),
     .min = 0,
     .max = 1000,
     .def = "1",
     .doc = "failed connects within fail_timeout_ms that mark an upstream "
            "down for fail_timeout_ms; 0: never"},
    {.name = "fail_timeout_ms",
     .type = ZG_KEY_MSEC,
     .offset = offsetof(zg_proxy_cfg_t, fail_timeout_ms),
     .min = 1,
     .max = 3600000,
     .def = "10000",
     .doc = "the window max_fails are counted in, and how long an "
            "upstream stays down"},
    {.name = "send_proxy_protocol",
     .type = ZG_KEY_BOOL,
     .offset = offsetof(zg_proxy_cfg_t, send_proxy_protocol),
     .def = "false",
     .doc = "send a PROXY protocol v2 header with the client's address "
            "first"},
    {.name = NULL},
};

int zg_proxy_conf_build(const zg_proxy_cfg_t *cfg, zg_proxy_conf_t **out,
                        char *err, size_t errlen)
{
    const zg_proxy_upstream_cfg_t *ups = cfg->upstreams.items;
    zg_proxy_conf_t *conf;
    size_t total = 0, k = 0;

    *out = NULL;
    for (size_t i = 0; i < cfg->upstreams.n; i++)
        total += ups[i].naddrs;
    if (total == 0 || total > ZG_PROXY_MAX_SERVERS) {
        snprintf(err, errlen,
                 "upstreams: %zu servers once names are resolved (1..%d)",
                 total, ZG_PROXY_MAX_SERVERS);
        return -EINVAL;
    }
    conf = calloc(1, sizeof(*conf));
    if (conf == NULL)
        goto nomem;
    /* Aligned: each server's counters have their own cache line. */
    conf->pool.servers =
        aligned_alloc(64, (total * sizeof(zg_proxy_server_t) + 63) / 64 * 64);
    if (conf->pool.servers == NULL)
        goto nomem;
    memset(conf->pool.servers, 0, total * sizeof(zg_proxy_server_t));
    for (size_t i = 0; i < cfg->upstreams.n; i++) {
        const zg_proxy_upstream_cfg_t *u = &ups[i];
        zg_proxy_hostport_t hp;

        zg_proxy_addr_split(u->address, &hp, NULL, 0);
        for (size_t j = 0; j < u->naddrs; j++, k++) {
            zg_proxy_server_t *s = &conf->pool.servers[k];
            char num[64];

            memcpy(&s->addr, &u->addrs[j], u->lens[j]);
            s->addr_len = u->lens[j];
            s->weight = (uint32_t)u->weight;
            zg_proxy_server_seed(s);
            zg_proxy_addr_format((const struct sockaddr *)&s->addr, num,
                                 sizeof(num));
            /* A name says which name it came from. */
            if (hp.kind == ZG_PROXY_HOST_NAME)
                snprintf(s->name, sizeof(s->name), "%s (%s)", u->address, num);
            else
                snprintf(s->name, sizeof(s->name), "%s", num);
        }
    }
    conf->pool.n = total;
    conf->pool.balance = (zg_proxy_balance_t)cfg->balance;
    conf->pool.max_fails = (uint32_t)cfg->max_fails;
    conf->pool.fail_timeout_ms = cfg->fail_timeout_ms;
    conf->connect_timeout_ms = cfg->connect_timeout_ms;
    conf->idle_timeout_ms = cfg->idle_timeout_ms;
    conf->tries = cfg->max_tries == 0 || (size_t)cfg->max_tries > total
                      ? (uint32_t)total
                      : (uint32_t)cfg->max_tries;
    conf->send_proxy_protocol = cfg->send_proxy_protocol != 0;
    *out = conf;
    return 0;
nomem:
    zg_proxy_conf_free(conf);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

void zg_proxy_conf_free(zg_proxy_conf_t *conf)
{
    if (conf == NULL)
        return;
    free(conf->pool.servers);
    free(conf);
}
