/* SPDX-License-Identifier: MIT */
/*
 * Description: the access module (admit phase): an ordered list of allow
 * and deny rules on the client's address, first match wins, no match
 * allows. A denied connection is closed at once, before any byte is read
 * or sent, and counted as refused.
 */
#include <stdio.h>
#include <string.h>

#include <zerg/plugin.h>

/* One rule: exactly one of allow / deny is set (the other's family is
 * ZG_CIDR_NONE). */
typedef struct zg_access_rule_s {
    zg_cidr_t allow;
    zg_cidr_t deny;
} zg_access_rule_t;

typedef struct zg_access_conf_s {
    zg_list_t rules; /* of zg_access_rule_t */
} zg_access_conf_t;

static const zg_api_t *zg_access_api;

static int zg_access_rule_check(void *value, char *err, size_t errlen)
{
    const zg_access_rule_t *rule = value;
    int allow = rule->allow.family != ZG_CIDR_NONE;
    int deny = rule->deny.family != ZG_CIDR_NONE;

    if (allow + deny == 1)
        return 0;
    snprintf(err, errlen,
             allow ? "a rule is either \"allow\" or \"deny\", not both"
                   : "a rule needs \"allow\" or \"deny\"");
    return -1;
}

static const zg_key_t zg_access_rule_keys[] = {
    {.name = "allow",
     .type = ZG_KEY_CIDR,
     .offset = offsetof(zg_access_rule_t, allow),
     .doc = "admit clients in this network (\"all\", an address, "
            "address/bits)"},
    {.name = "deny",
     .type = ZG_KEY_CIDR,
     .offset = offsetof(zg_access_rule_t, deny),
     .doc = "refuse clients in this network"},
    {.name = NULL},
};

static const zg_key_t zg_access_keys[] = {
    {.name = "rules",
     .type = ZG_KEY_LIST,
     .elem = ZG_KEY_OBJECT,
     .offset = offsetof(zg_access_conf_t, rules),
     .max = 100000,
     .def = "[]",
     .doc = "ordered rules, each {\"allow\": NET} or {\"deny\": NET}; the "
            "first that matches decides, none matching admits",
     .sub = zg_access_rule_keys,
     .elem_size = sizeof(zg_access_rule_t),
     .check = zg_access_rule_check},
    {.name = NULL},
};

static int zg_access_init(const zg_api_t *api, const void *conf,
                          void **plugin_data, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* Set once: a reload runs init again while reactors read it. */
    if (zg_access_api != api)
        zg_access_api = api;
    *plugin_data = (void *)conf;
    return 0;
}

/* The first rule matching the peer decides; none matching admits. */
static int zg_access_admit(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    const zg_access_conf_t *conf = reactor_data;
    const zg_access_rule_t *rules = conf->rules.items;
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);

    (void)conn_data;
    if (zg_access_api->peer_addr(c, (struct sockaddr *)&peer, &len) < 0)
        return ZG_ADMIT_REFUSE; /* the peer is gone already */
    for (size_t i = 0; i < conf->rules.n; i++) {
        if (rules[i].allow.family != ZG_CIDR_NONE) {
            if (zg_cidr_match(&rules[i].allow, (struct sockaddr *)&peer))
                return ZG_ADMIT_OK;
        } else if (zg_cidr_match(&rules[i].deny, (struct sockaddr *)&peer)) {
            return ZG_ADMIT_REFUSE;
        }
    }
    return ZG_ADMIT_OK;
}

static const zg_plugin_t zg_access_module = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 2,
    .struct_size = sizeof(zg_plugin_t),
    .flags = ZG_PLUGIN_MODULE,
    .name = "access",
    .version = "1.0.0",
    .conf_keys = zg_access_keys,
    .conf_size = sizeof(zg_access_conf_t),
    .init_conf = zg_access_init,
    .on_admit = zg_access_admit,
};

/* The module's entry (the table ./configure generates names it). */
const zg_plugin_t *zg_module_access(void);
const zg_plugin_t *zg_module_access(void)
{
    return &zg_access_module;
}
