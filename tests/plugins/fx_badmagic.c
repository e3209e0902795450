/* SPDX-License-Identifier: MIT */
/*
 * Description: loader test fixture. Its descriptor carries a
 * wrong magic number.
 */
#include <stddef.h>

#include "zerg/plugin.h"

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

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

static const zg_plugin_t fx_desc = {
    .magic = 0x12345678u,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = ZG_ABI_MINOR,
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "fx_badmagic",
    .version = "0.0.1",
    .init = fx_init,
    .on_accept = fx_on_accept,
    .on_data = fx_on_data,
    .on_close = fx_on_close,
};

const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_desc;
}
