/* SPDX-License-Identifier: MIT */
/*
 * Description: loader test fixture. A plugin built against a later 1.x
 * header whose descriptor has fields this host does not know; it needs only
 * minor 0, so it loads and the host copies no more than its own size.
 */
#include <stddef.h>

#include "zerg/plugin.h"

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

/* The current descriptor followed by callbacks of some future minor. */
struct fx_plugin_future {
    zg_plugin_t base;
    void (*future_a)(void);
    void (*future_b)(void);
};

static int fx_init(const zg_api_t *api, const char *conf, size_t len,
                   void **plugin_data, char *errbuf, size_t errlen)
{
    (void)api;
    (void)conf;
    (void)len;
    (void)errbuf;
    (void)errlen;
    *plugin_data = NULL;
    return 0;
}

static int fx_on_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    (void)c;
    (void)reactor_data;
    *conn_data = NULL;
    return 0;
}

static long fx_on_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    (void)c;
    (void)conn_data;
    return (long)in->total;
}

static void fx_on_close(zg_conn_t *c, void *conn_data, zg_close_reason_t reason)
{
    (void)c;
    (void)conn_data;
    (void)reason;
}

static void fx_future_cb(void)
{
}

static const struct fx_plugin_future fx_desc = {
    .base =
        {
            .magic = ZG_PLUGIN_MAGIC,
            .abi_major = ZG_ABI_MAJOR,
            .abi_minor = 0,
            .struct_size = sizeof(struct fx_plugin_future),
            .flags = 0,
            .name = "fx_future",
            .version = "1.9.0",
            .init = fx_init,
            .on_accept = fx_on_accept,
            .on_data = fx_on_data,
            .on_close = fx_on_close,
        },
    .future_a = fx_future_cb,
    .future_b = fx_future_cb,
};

const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_desc.base;
}
