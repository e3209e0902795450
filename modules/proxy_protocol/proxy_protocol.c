/* SPDX-License-Identifier: MIT */
/*
 * Description: the proxy_protocol module (admit + preread phases): a
 * connection from a trusted load balancer must start with a PROXY
 * protocol header (v1 text or v2 binary, parse.c); the client address it
 * carries replaces the peer address for every later module, the plugin
 * and the logs, and none of its bytes reach the plugin. An untrusted
 * peer, a malformed or missing header, or one not complete within
 * timeout_ms closes the connection (counted as refused).
 */
#include <stdio.h>
#include <string.h>

#include <zerg/plugin.h>

#include "parse.h"

typedef struct zg_pp_conf_s {
    zg_list_t trusted;   /* of zg_cidr_t */
    uint32_t timeout_ms; /* the whole header must arrive in time */
} zg_pp_conf_t;

static const zg_api_t *zg_pp_api;

static const zg_key_t zg_pp_keys[] = {
    {.name = "trusted",
     .type = ZG_KEY_LIST,
     .elem = ZG_KEY_CIDR,
     .offset = offsetof(zg_pp_conf_t, trusted),
     .max = 10000,
     .def = "[\"all\"]",
     .doc = "networks allowed to send a PROXY header; any other peer is "
            "refused before a byte is read"},
    {.name = "timeout_ms",
     .type = ZG_KEY_MSEC,
     .offset = offsetof(zg_pp_conf_t, timeout_ms),
     .min = 1,
     .max = 3600000,
     .def = "5000",
     .doc = "how long the header may take to arrive"},
    {.name = NULL},
};

static int zg_pp_init(const zg_api_t *api, const void *conf, void **plugin_data,
                      char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* Set once: a reload runs init again while reactors read it. */
    if (zg_pp_api != api)
        zg_pp_api = api;
    *plugin_data = (void *)conf;
    return 0;
}

/* Only a trusted peer may speak; the header's clock starts now. */
static int zg_pp_admit(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    const zg_pp_conf_t *conf = reactor_data;
    const zg_cidr_t *nets = conf->trusted.items;
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    int ok = 0;

    (void)conn_data;
    if (zg_pp_api->peer_addr(c, (struct sockaddr *)&peer, &len) < 0)
        return ZG_ADMIT_REFUSE;
    for (size_t i = 0; i < conf->trusted.n && !ok; i++)
        ok = zg_cidr_match(&nets[i], (struct sockaddr *)&peer);
    if (!ok)
        return ZG_ADMIT_REFUSE;
    if (zg_pp_api->set_timer(c, conf->timeout_ms) < 0)
        return ZG_ADMIT_REFUSE;
    return ZG_ADMIT_OK;
}

static long zg_pp_preread(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    zg_pp_result_t res;
    long n = zg_pp_parse(in, &res);

    (void)conn_data;
    if (n == 0)
        return ZG_PREREAD_MORE;
    if (n < 0)
        return -1; /* malformed: refused */
    if (!res.local &&
        zg_pp_api->set_peer_addr(c, (const struct sockaddr *)&res.src,
                                 res.src_len) < 0)
        return -1;
    return n;
}

static void zg_pp_timeout(zg_conn_t *c, void *conn_data)
{
    (void)conn_data;
    zg_pp_api->close(c, ZG_CLOSE_ABORT); /* refused: no header in time */
}

static const zg_plugin_t zg_pp_module = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 2,
    .struct_size = sizeof(zg_plugin_t),
    .flags = ZG_PLUGIN_MODULE,
    .name = "proxy_protocol",
    .version = "1.0.0",
    .on_timeout = zg_pp_timeout,
    .conf_keys = zg_pp_keys,
    .conf_size = sizeof(zg_pp_conf_t),
    .init_conf = zg_pp_init,
    .on_admit = zg_pp_admit,
    .on_preread = zg_pp_preread,
};

/* The module's entry (the table ./configure generates names it). */
const zg_plugin_t *zg_module_proxy_protocol(void);
const zg_plugin_t *zg_module_proxy_protocol(void)
{
    return &zg_pp_module;
}
