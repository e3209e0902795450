/* SPDX-License-Identifier: MIT */
/*
 * Description: the echo plugin, zerg's smallest complete protocol handler
 * and the example to copy. Every byte received is sent back unchanged,
 * without copying: each input view is queued with send_view(), which keeps
 * the kernel receive buffer alive until the bytes are on the wire.
 */
#include <zerg/plugin.h>

/* The host's function table, saved at init (it lives as long as the
 * process). */
static const zg_api_t *api;

/* echo takes no settings: an empty key table, so the host refuses any key
 * of the listener's "config" object at its position, typos included. The
 * host needs a struct to fill, even an unused one. */
typedef struct zg_echo_conf_s {
    int unused;
} zg_echo_conf_t;

static const zg_key_t echo_keys[] = {
    {.name = NULL},
};

static int echo_init_conf(const zg_api_t *host, const void *conf,
                          void **plugin_data, char *errbuf, size_t errlen)
{
    (void)conf;
    (void)errbuf;
    (void)errlen;
    /* Set once: a reload runs init again while reactors read it. */
    if (api != host)
        api = host;
    *plugin_data = NULL;
    return 0;
}

static int echo_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    (void)c;
    (void)reactor_data;
    *conn_data = NULL; /* echo keeps no per-connection state */
    return 0;
}

static long echo_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    (void)conn_data;
    for (unsigned i = 0; i < in->nviews; i++) {
        if (api->send_view(c, &in->views[i]) < 0)
            return -1; /* out of memory: close this connection */
    }
    /* Everything is queued for sending, so everything is consumed. On EOF
     * the host flushes what we queued, then closes. */
    return (long)in->total;
}

static void echo_close(zg_conn_t *c, void *conn_data, zg_close_reason_t reason)
{
    (void)c;
    (void)conn_data;
    (void)reason;
}

static const zg_plugin_t echo_plugin = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 2, /* conf_keys */
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "echo",
    .version = "1.0.0",
    .on_accept = echo_accept,
    .on_data = echo_data,
    .on_close = echo_close,
    .conf_keys = echo_keys,
    .conf_size = sizeof(zg_echo_conf_t),
    .init_conf = echo_init_conf,
};

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &echo_plugin;
}
