/* SPDX-License-Identifier: MIT */
/*
 * Description: loader test fixture. A valid, working plugin: an echo that
 * sends every input byte back with api->send and consumes all of it.
 */
#include <stddef.h>
#include <stdio.h>

#include "zerg/plugin.h"

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

/* The host table, kept from init; it lives as long as the process. */
static const zg_api_t *fx_api;

static int fx_init(const zg_api_t *api, const char *conf, size_t len,
                   void **plugin_data, char *errbuf, size_t errlen)
{
    (void)conf;
    (void)len;
    if (api == NULL || !ZG_API_HAS(api, send)) {
        snprintf(errbuf, errlen, "host table lacks send");
        return -1;
    }
    fx_api = api;
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
    (void)conn_data;
    for (unsigned i = 0; i < in->nviews; i++) {
        if (fx_api->send(c, in->views[i].data, in->views[i].len) < 0)
            return -1;
    }
    return (long)in->total;
}

static void fx_on_close(zg_conn_t *c, void *conn_data, zg_close_reason_t reason)
{
    (void)c;
    (void)conn_data;
    (void)reason;
}

static const zg_plugin_t fx_desc = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "fx_good",
    .version = "1.2.3",
    .init = fx_init,
    .on_accept = fx_on_accept,
    .on_data = fx_on_data,
    .on_close = fx_on_close,
};

const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_desc;
}
