/* SPDX-License-Identifier: MIT */
/*
 * Description: host-owned configuration for tests that drive a plugin
 * without the real host: the host's own key-table code (core/conf_keys.c,
 * conf_ctx.c, cidr.c, over jansson) turns a "config" object given as JSON
 * text into the struct init_conf() takes, with the host's messages. The
 * including file links jansson. Static functions: one copy per test.
 */
#ifndef ZG_TEST_HOST_CONF_H
#define ZG_TEST_HOST_CONF_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cidr.c"
#include "conf_ctx.c"
#include "conf_keys.c"

/*
 * Check text (len bytes of JSON: a plugin's "config" object, as if it
 * were the whole file named "config") against d's key table and fill a
 * struct of d's conf_size, as the host does before init_conf. Returns the
 * struct, owned by *arena (free it with zg_conf_arena_free() after the
 * plugin's fini), or NULL with the host's one-line message in err, e.g.
 *   "config:1:38: routes[2].status: 99 is out of range 200..599".
 * The parsed tree stays alive until the next call (a ZG_KEY_NODE value
 * refers to it until init_conf has run conf_fill), and text must too.
 */
static void *zg_test_conf_fill(const zg_plugin_t *d, const char *text,
                               size_t len, zg_conf_arena_t *arena, char *err,
                               size_t errlen)
{
    static json_t *root; /* kept for the nodes, freed at the next call */
    zg_config_t *cfg = calloc(1, sizeof(*cfg));
    zg_conf_ctx_t c;
    json_error_t je;
    void *conf = NULL;

    json_decref(root);
    root = NULL;
    err[0] = '\0';
    if (cfg == NULL)
        goto done;
    cfg->text = (char *)text;
    cfg->textlen = len;
    cfg->path = (char *)"config";
    memset(&c, 0, sizeof(c));
    c.text = text;
    c.len = len;
    c.file = cfg->path;
    c.err = err;
    c.errlen = errlen;
    /* As the host reads its file: duplicate keys are errors. */
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        zg_conf_syntax(&c, &je);
        goto done;
    }
    if (!json_is_object(root)) {
        zg_conf_err(&c, ZG_AT_VALUE, "expected an object, got %s",
                    zg_conf_type(root));
        goto done;
    }
    conf = zg_conf_arena_alloc(arena, d->conf_size);
    if (conf == NULL || zg_conf_fill(cfg, NULL, 0, root, d->conf_keys, conf,
                                     arena, d->name, err, errlen) != 0)
        conf = NULL;
done:
    free(cfg);
    return conf;
}

/* api->conf_fill for a fake host: the host's own code. Main thread. */
static inline int zg_test_conf_node_fill(const zg_conf_node_t *node,
                                         const struct zg_key_s *keys,
                                         size_t size, void **conf, char *err,
                                         size_t errlen)
{
    return zg_conf_node_fill(node, keys, size, conf, err, errlen);
}

#endif /* ZG_TEST_HOST_CONF_H */
