/* SPDX-License-Identifier: MIT */
/*
 * Description: test module compiled into the binary with ./configure
 * --add-module=tests/modules/refuse_all (tests/integration/test_modules.py):
 * its admit phase refuses every connection.
 */
#include <zerg/plugin.h>

static int refuse_all_init(const zg_api_t *api, const void *conf,
                           void **plugin_data, char *err, size_t errlen)
{
    (void)api;
    (void)conf;
    (void)err;
    (void)errlen;
    *plugin_data = NULL;
    return 0;
}

static int refuse_all_admit(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    (void)c;
    (void)reactor_data;
    (void)conn_data;
    return ZG_ADMIT_REFUSE;
}

static const zg_key_t refuse_all_keys[] = {{.name = NULL}};

static const zg_plugin_t refuse_all_module = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 2,
    .struct_size = sizeof(zg_plugin_t),
    .flags = ZG_PLUGIN_MODULE,
    .name = "refuse_all",
    .version = "1.0.0",
    .conf_keys = refuse_all_keys,
    .conf_size = 1,
    .init_conf = refuse_all_init,
    .on_admit = refuse_all_admit,
};

const zg_plugin_t *zg_module_refuse_all(void);
const zg_plugin_t *zg_module_refuse_all(void)
{
    return &refuse_all_module;
}
