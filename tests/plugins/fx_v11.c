/* SPDX-License-Identifier: MIT */
/*
 * Description: fixture plugin built against the ABI 1.1 header (a frozen
 * copy in tests/plugins/abi11/), so its descriptor has the 1.1 size and no
 * host-owned configuration: init() gets the listener's "config" object as
 * raw JSON text. Each connection is first sent "config <that text>\n",
 * then everything it sends is echoed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi11/zerg/plugin.h"

_Static_assert(ZG_ABI_MINOR == 1, "fx_v11 must see the ABI 1.1 header");

static const zg_api_t *fx_api;

/* plugin_data: "config " + the text init received + "\n". */
typedef struct fx_conf_s {
    size_t len;
    char line[];
} fx_conf_t;

static int fx_init(const zg_api_t *api, const char *conf, size_t len,
                   void **plugin_data, char *errbuf, size_t errlen)
{
    fx_conf_t *c;

    if (len == 0 || conf[0] != '{') {
        snprintf(errbuf, errlen, "config is not a JSON object");
        return -1;
    }
    c = malloc(sizeof(*c) + len + 8);
    if (c == NULL)
        return -1;
    memcpy(c->line, "config ", 7);
    memcpy(c->line + 7, conf, len);
    c->line[7 + len] = '\n';
    c->len = len + 8;
    fx_api = api;
    *plugin_data = c;
    return 0;
}

static void fx_fini(void *plugin_data)
{
    free(plugin_data);
}

/* Every reactor serves the listener's one config. */
static int fx_reactor_init(void *plugin_data, int reactor_id,
                           void **reactor_data)
{
    (void)reactor_id;
    *reactor_data = plugin_data;
    return 0;
}

static int fx_on_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    const fx_conf_t *conf = reactor_data;

    *conn_data = NULL;
    return fx_api->send(c, conf->line, conf->len);
}

static long fx_on_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    (void)conn_data;
    for (unsigned i = 0; i < in->nviews; i++) {
        if (fx_api->send_view(c, &in->views[i]) < 0)
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

/* A 1.1 callback, so the 1.1 part of the descriptor is not all zero. */
static void fx_on_drain(zg_conn_t *c, void *conn_data)
{
    (void)conn_data;
    fx_api->close(c, ZG_CLOSE_FLUSH);
}

static const zg_plugin_t fx_desc = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 1,
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "fx_v11",
    .version = "1.1.0",
    .init = fx_init,
    .fini = fx_fini,
    .reactor_init = fx_reactor_init,
    .on_accept = fx_on_accept,
    .on_data = fx_on_data,
    .on_close = fx_on_close,
    .on_drain = fx_on_drain,
};

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_desc;
}
