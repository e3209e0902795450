/* SPDX-License-Identifier: MIT */
/*
 * Description: host-owned configuration of plugins and modules (ABI 1.2):
 * checks a "config" object of the operator's file against a plugin's key
 * table (zg_key_t) with the same messages as the core's own keys, and
 * fills the plugin's struct with defaults and values. Main thread only.
 */
#ifndef ZG_CONF_KEYS_H
#define ZG_CONF_KEYS_H

#include <stddef.h>

#include "conf_ctx.h"
#include "config.h"
#include "zerg/plugin.h"

/* Memory the host hands to a plugin inside its config struct (the struct
 * itself, strings, list arrays): freed in one go after the plugin's fini. */
typedef struct zg_conf_arena_s {
    struct zg_conf_block_s *head;
} zg_conf_arena_t;

/* n zeroed bytes owned by a, or NULL if memory is short. */
void *zg_conf_arena_alloc(zg_conf_arena_t *a, size_t n);
void zg_conf_arena_free(zg_conf_arena_t *a);

/*
 * Check obj (the "config" object found at path/depth in cfg's tree, or NULL
 * if absent) against keys and fill out (zeroed, of the plugin's conf_size)
 * with each key's default, then with the operator's values. who names the
 * plugin or module in messages about its own table (a default that does
 * not pass its own key). Returns 0, or -EINVAL/-ENOMEM with one line in err:
 *   "zerg.json:12:21: listeners[0].config.routes[1].bodyy: unknown key (did
 *    you mean \"body\"?)"
 */
int zg_conf_fill(const zg_config_t *cfg, const zg_conf_comp_t *path, int depth,
                 json_t *obj, const zg_key_t *keys, void *out,
                 zg_conf_arena_t *arena, const char *who, char *err,
                 size_t errlen);

/*
 * api->conf_fill (ABI 1.4): check the object kept at node (a ZG_KEY_NODE
 * value filled by zg_conf_fill) against keys, with messages at its place
 * in the file, and fill a zeroed block of conf_size bytes from the node's
 * arena, returned in *conf. The node remembers keys and the block for
 * zg_conf_keys_dump. Returns 0, -EINVAL with one line in err, -ENOMEM, or
 * -EALREADY if the node was filled before.
 */
int zg_conf_node_fill(const zg_conf_node_t *node, const zg_key_t *keys,
                      size_t conf_size, void **conf, char *err, size_t errlen);

/*
 * The effective config of a plugin or module as JSON: every key of keys
 * with its value in conf (as filled by zg_conf_fill). NULL if memory is
 * short. For `zerg -T`.
 */
json_t *zg_conf_keys_dump(const zg_key_t *keys, const void *conf);

/*
 * The JSON Schema (draft 2020-12 vocabulary) of an object checked against
 * keys: types, ranges, enums, defaults, docs, required keys, nested
 * objects and lists. NULL if memory is short. For conf/zerg.schema.json
 * (zerg -S).
 */
json_t *zg_conf_keys_schema(const zg_key_t *keys);

#endif /* ZG_CONF_KEYS_H */
