/* SPDX-License-Identifier: MIT */
/*
 * Description: loader test fixture. A plugin as built against the ABI 1.0
 * header: it declares its own copy of the 1.0 descriptor layout, so its
 * struct_size stays the 1.0 size however the real header grows.
 */
#include <stddef.h>
#include <stdint.h>

#include "zerg/plugin.h"

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

/* zg_plugin_t exactly as ABI 1.0 defined it, magic through on_close. */
struct fx_plugin_v10 {
    uint32_t magic;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;
    uint32_t flags;
    const char *name;
    const char *version;
    int (*init)(const zg_api_t *api, const char *conf, size_t len,
                void **plugin_data, char *errbuf, size_t errlen);
    void (*fini)(void *plugin_data);
    int (*reactor_init)(void *plugin_data, int reactor_id, void **reactor_data);
    void (*reactor_fini)(void *plugin_data, void *reactor_data);
    int (*on_accept)(zg_conn_t *c, void *reactor_data, void **conn_data);
    long (*on_data)(zg_conn_t *c, void *conn_data, const zg_input_t *in);
    void (*on_close)(zg_conn_t *c, void *conn_data, zg_close_reason_t reason);
};

/* The 1.0 fields are a prefix of every later 1.x descriptor. */
_Static_assert(sizeof(struct fx_plugin_v10) ==
                   offsetof(zg_plugin_t, on_close) + sizeof(void *),
               "fx_plugin_v10 must match the ABI 1.0 descriptor");
_Static_assert(offsetof(struct fx_plugin_v10, name) ==
                   offsetof(zg_plugin_t, name),
               "fx_plugin_v10 header fields must match zg_plugin_t");
_Static_assert(offsetof(struct fx_plugin_v10, on_accept) ==
                   offsetof(zg_plugin_t, on_accept),
               "fx_plugin_v10 callbacks must match zg_plugin_t");

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

static const struct fx_plugin_v10 fx_desc = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = 1,
    .abi_minor = 0,
    .struct_size = sizeof(struct fx_plugin_v10),
    .flags = 0,
    .name = "fx_v10",
    .version = "1.0.0",
    .init = fx_init,
    .on_accept = fx_on_accept,
    .on_data = fx_on_data,
    .on_close = fx_on_close,
};

const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    /* The host reads only struct_size bytes through this pointer. */
    return (const zg_plugin_t *)(const void *)&fx_desc;
}
