/* SPDX-License-Identifier: MIT */
/*
 * Description: the limit_conn module (admit + log phases): at most
 * per_address concurrent connections from one client address and at most
 * per_listener in all, counted across every reactor of the listener
 * (table.c: one uncontended lock per accept and per close). Over a limit
 * the connection is refused as busy: the plugin's over-limit response (an
 * HTTP 503, say), then close; it is counted as refused.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zerg/plugin.h>

#include "table.h"

typedef struct zg_lc_conf_s {
    int64_t per_address;   /* 0: no per-address limit */
    int64_t per_listener;  /* 0: no limit on the total */
    int64_t max_addresses; /* distinct addresses tracked at once */
} zg_lc_conf_t;

/* One instance (listener): its config, the shared table and total. */
typedef struct zg_lc_state_s {
    const zg_lc_conf_t *conf;
    zg_lc_table_t *table;
    _Atomic int64_t active;
    _Atomic int64_t full_logged; /* second of the last "table full" line */
} zg_lc_state_t;

/* What a connection this module admitted holds until its log phase. */
typedef struct zg_lc_conn_s {
    struct sockaddr_storage addr; /* counted under this address */
    int counted;                  /* it took a per-address slot */
} zg_lc_conn_t;

static const zg_api_t *zg_lc_api;

static const zg_key_t zg_lc_keys[] = {
    {.name = "per_address",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_lc_conf_t, per_address),
     .min = 0,
     .max = 10000000,
     .def = "0",
     .doc = "concurrent connections from one client address (0: no limit)"},
    {.name = "per_listener",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_lc_conf_t, per_listener),
     .min = 0,
     .max = 100000000,
     .def = "0",
     .doc = "concurrent connections in all (0: no limit)"},
    {.name = "max_addresses",
     .type = ZG_KEY_INT,
     .offset = offsetof(zg_lc_conf_t, max_addresses),
     .min = 16,
     .max = 1 << 25,
     .def = "65536",
     .doc = "distinct client addresses tracked at once; when all are in "
            "use, a new address is refused"},
    {.name = NULL},
};

static int zg_lc_init(const zg_api_t *api, const void *conf, void **plugin_data,
                      char *err, size_t errlen)
{
    const zg_lc_conf_t *c = conf;
    zg_lc_state_t *st;
    int rc;

    /* Set once: a reload runs init again while reactors read it. */
    if (zg_lc_api != api)
        zg_lc_api = api;
    if (c->per_address == 0 && c->per_listener == 0) {
        snprintf(err, errlen,
                 "set per_address or per_listener (both are 0: no limit)");
        return -1;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->conf = c;
    if (c->per_address > 0) {
        rc = zg_lc_create((uint32_t)c->max_addresses, &st->table);
        if (rc < 0) {
            snprintf(err, errlen, "cannot make a table of %lld addresses: %s",
                     (long long)c->max_addresses, strerror(-rc));
            free(st);
            return -1;
        }
    }
    *plugin_data = st;
    return 0;
}

static void zg_lc_fini(void *plugin_data)
{
    zg_lc_state_t *st = plugin_data;

    if (st != NULL)
        zg_lc_destroy(st->table);
    free(st);
}

static int zg_lc_admit(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    zg_lc_state_t *st = reactor_data;
    const zg_lc_conf_t *conf = st->conf;
    zg_lc_conn_t *lc;
    socklen_t len = sizeof(lc->addr);
    int rc;

    if (conf->per_listener > 0 &&
        atomic_fetch_add_explicit(&st->active, 1, memory_order_relaxed) >=
            conf->per_listener) {
        atomic_fetch_sub_explicit(&st->active, 1, memory_order_relaxed);
        return ZG_ADMIT_BUSY;
    }
    lc = calloc(1, sizeof(*lc));
    if (lc == NULL)
        goto refuse;
    if (conf->per_address > 0 &&
        zg_lc_api->peer_addr(c, (struct sockaddr *)&lc->addr, &len) == 0) {
        rc = zg_lc_acquire(st->table, (struct sockaddr *)&lc->addr,
                           (uint32_t)conf->per_address);
        if (rc == 0)
            goto refuse;
        if (rc == -ENOSPC) {
            int64_t now = (int64_t)time(NULL);

            if (atomic_exchange(&st->full_logged, now) != now)
                zg_lc_api->log(ZG_LOG_WARN,
                               "limit_conn: %lld addresses in use "
                               "(max_addresses), refusing new ones",
                               (long long)conf->max_addresses);
            goto refuse;
        }
        lc->counted = rc == 1; /* other families are not counted */
    }
    *conn_data = lc;
    return ZG_ADMIT_OK;

refuse:
    free(lc);
    if (conf->per_listener > 0)
        atomic_fetch_sub_explicit(&st->active, 1, memory_order_relaxed);
    return ZG_ADMIT_BUSY;
}

/* The connection ended: give back what its admit took. */
static void zg_lc_log(void *reactor_data, void *conn_data,
                      const zg_conn_info_t *info)
{
    zg_lc_state_t *st = reactor_data;
    zg_lc_conn_t *lc = conn_data;

    (void)info;
    if (lc == NULL)
        return; /* refused here or before: nothing was taken */
    if (lc->counted)
        zg_lc_release(st->table, (struct sockaddr *)&lc->addr);
    if (st->conf->per_listener > 0)
        atomic_fetch_sub_explicit(&st->active, 1, memory_order_relaxed);
    free(lc);
}

static const zg_plugin_t zg_lc_module = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 2,
    .struct_size = sizeof(zg_plugin_t),
    .flags = ZG_PLUGIN_MODULE,
    .name = "limit_conn",
    .version = "1.0.0",
    .fini = zg_lc_fini,
    .conf_keys = zg_lc_keys,
    .conf_size = sizeof(zg_lc_conf_t),
    .init_conf = zg_lc_init,
    .on_admit = zg_lc_admit,
    .on_log = zg_lc_log,
};

/* The module's entry (the table ./configure generates names it). */
const zg_plugin_t *zg_module_limit_conn(void);
const zg_plugin_t *zg_module_limit_conn(void)
{
    return &zg_lc_module;
}
