/* SPDX-License-Identifier: MIT */
/*
 * Description: fixture plugin built against the ABI 1.2 header (a frozen
 * copy in tests/plugins/abi12/), so its descriptor and its key table have
 * the 1.2 layout while the host is newer: host-owned config with a
 * string, a size and a list, and a lingering close. Each connection is
 * first sent "<greeting> <limit> <n words>\n", then everything it sends
 * is echoed; a line "linger\n" ends it with ZG_CLOSE_LINGER.
 */
#include <stdio.h>
#include <string.h>

#include "abi12/zerg/plugin.h"

_Static_assert(ZG_ABI_MINOR == 2, "fx_v12 must see the ABI 1.2 header");

typedef struct fx_conf_s {
    const char *greeting;
    uint64_t limit;
    zg_list_t words;
} fx_conf_t;

static const zg_key_t fx_keys[] = {
    {.name = "greeting",
     .type = ZG_KEY_STRING,
     .offset = offsetof(fx_conf_t, greeting),
     .max = 64,
     .def = "\"hello\"",
     .doc = "first line sent on every connection"},
    {.name = "limit",
     .type = ZG_KEY_SIZE,
     .offset = offsetof(fx_conf_t, limit),
     .min = 1,
     .max = 1 << 30,
     .def = "\"4k\"",
     .doc = "a size, echoed in the first line"},
    {.name = "words",
     .type = ZG_KEY_LIST,
     .elem = ZG_KEY_STRING,
     .offset = offsetof(fx_conf_t, words),
     .max = 8,
     .doc = "a list, counted in the first line"},
    {.name = NULL},
};

static const zg_api_t *fx_api;

static int fx_init_conf(const zg_api_t *api, const void *conf,
                        void **plugin_data, char *errbuf, size_t errlen)
{
    (void)errbuf;
    (void)errlen;
    fx_api = api;
    *plugin_data = (void *)(uintptr_t)conf;
    return 0;
}

static int fx_reactor_init(void *plugin_data, int reactor_id,
                           void **reactor_data)
{
    (void)reactor_id;
    *reactor_data = plugin_data;
    return 0;
}

static int fx_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    const fx_conf_t *fc = reactor_data;
    char line[128];
    int n = snprintf(line, sizeof(line), "%s %llu %zu\n", fc->greeting,
                     (unsigned long long)fc->limit, fc->words.n);

    *conn_data = NULL;
    return fx_api->send(c, line, (size_t)n);
}

static long fx_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    (void)conn_data;
    if (in->total == 7 && in->nviews == 1 &&
        memcmp(in->views[0].data, "linger\n", 7) == 0) {
        fx_api->close(c, ZG_CLOSE_LINGER);
        return 7;
    }
    for (unsigned i = 0; i < in->nviews; i++) {
        if (fx_api->send_view(c, &in->views[i]) < 0)
            return -1;
    }
    return (long)in->total;
}

static void fx_close(zg_conn_t *c, void *conn_data, zg_close_reason_t reason)
{
    (void)c;
    (void)conn_data;
    (void)reason;
}

static const zg_plugin_t fx_desc = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 2,
    .struct_size = sizeof(zg_plugin_t),
    .name = "fx_v12",
    .version = "1.2",
    .reactor_init = fx_reactor_init,
    .on_accept = fx_accept,
    .on_data = fx_data,
    .on_close = fx_close,
    .conf_keys = fx_keys,
    .conf_size = sizeof(fx_conf_t),
    .init_conf = fx_init_conf,
};

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_desc;
}
