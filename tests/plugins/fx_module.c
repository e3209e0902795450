/* SPDX-License-Identifier: MIT */
/*
 * Description: test fixture: a third-party module built as a .so (ABI
 * 1.2). Its admit phase refuses every connection if "refuse" is true; its
 * log phase appends one line per connection to the file "log" names:
 *   "listener=NAME reason=N refused_by=NAME|- in=N out=N peer=ADDR:PORT\n"
 * so tests can see what the host's log phase reports.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zerg/plugin.h>

typedef struct fx_mod_conf_s {
    int refuse;
    const char *log;
} fx_mod_conf_t;

static const zg_key_t fx_mod_keys[] = {
    {.name = "refuse",
     .type = ZG_KEY_BOOL,
     .offset = offsetof(fx_mod_conf_t, refuse),
     .def = "false",
     .doc = "refuse every connection"},
    {.name = "log",
     .type = ZG_KEY_STRING,
     .flags = ZG_KEY_REQUIRED,
     .offset = offsetof(fx_mod_conf_t, log),
     .min = 1,
     .doc = "file the log phase appends to"},
    {.name = NULL},
};

static int fx_mod_init(const zg_api_t *api, const void *conf,
                       void **plugin_data, char *err, size_t errlen)
{
    (void)api;
    (void)err;
    (void)errlen;
    *plugin_data = (void *)conf;
    return 0;
}

static int fx_mod_admit(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    const fx_mod_conf_t *conf = reactor_data;

    (void)c;
    *conn_data = malloc(16); /* freed in on_log: leak checkers watch */
    return conf->refuse ? ZG_ADMIT_REFUSE : ZG_ADMIT_OK;
}

static void fx_mod_log(void *reactor_data, void *conn_data,
                       const zg_conn_info_t *info)
{
    const fx_mod_conf_t *conf = reactor_data;
    char addr[INET6_ADDRSTRLEN] = "-";
    unsigned port = 0;
    FILE *f;

    free(conn_data);
    if (info->peer != NULL && info->peer->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)info->peer;

        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
        port = ntohs(in->sin_port);
    } else if (info->peer != NULL && info->peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)info->peer;

        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
        port = ntohs(in6->sin6_port);
    }
    f = fopen(conf->log, "a");
    if (f == NULL)
        return;
    fprintf(f,
            "listener=%s reason=%d refused_by=%s in=%llu out=%llu peer=%s:%u\n",
            info->listener, (int)info->reason,
            info->refused_by ? info->refused_by : "-",
            (unsigned long long)info->bytes_in,
            (unsigned long long)info->bytes_out, addr, port);
    fclose(f);
}

static const zg_plugin_t fx_module = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 2,
    .struct_size = sizeof(zg_plugin_t),
    .flags = ZG_PLUGIN_MODULE,
    .name = "fx_module",
    .version = "1.0.0",
    .conf_keys = fx_mod_keys,
    .conf_size = sizeof(fx_mod_conf_t),
    .init_conf = fx_mod_init,
    .on_admit = fx_mod_admit,
    .on_log = fx_mod_log,
};

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_module;
}
