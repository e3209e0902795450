/* SPDX-License-Identifier: MIT */
/*
 * Description: host-owned configuration (conf_keys.h): walks a plugin's or
 * module's key table over its "config" object, reporting errors at their
 * file:line:column with the key path and a suggestion, and stores typed
 * values, defaults first, into the plugin's struct.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "conf_keys.h"

/* ---- the arena ---- */

typedef struct zg_conf_block_s {
    struct zg_conf_block_s *next;
    max_align_t data[];
} zg_conf_block_t;

void *zg_conf_arena_alloc(zg_conf_arena_t *a, size_t n)
{
    zg_conf_block_t *b = calloc(1, sizeof(*b) + (n ? n : 1));

    if (b == NULL)
        return NULL;
    b->next = a->head;
    a->head = b;
    return b->data;
}

void zg_conf_arena_free(zg_conf_arena_t *a)
{
    while (a->head != NULL) {
        zg_conf_block_t *b = a->head;

        a->head = b->next;
        free(b);
    }
}

/* ---- values ---- */

/* Bytes a value of type t takes in the plugin's struct (lists of objects
 * use the key's elem_size instead). */
static size_t zg_key_size(unsigned t)
{
    switch (t) {
    case ZG_KEY_BOOL:
    case ZG_KEY_ENUM:
        return sizeof(int);
    case ZG_KEY_INT:
        return sizeof(int64_t);
    case ZG_KEY_SIZE:
        return sizeof(uint64_t);
    case ZG_KEY_MSEC:
        return sizeof(uint32_t);
    case ZG_KEY_STRING:
        return sizeof(const char *);
    case ZG_KEY_CIDR:
        return sizeof(zg_cidr_t);
    case ZG_KEY_LIST:
        return sizeof(zg_list_t);
    case ZG_KEY_NODE:
        return sizeof(const zg_conf_node_t *);
    default:
        return 0;
    }
}

/* A ZG_KEY_NODE value: an object of the operator's file kept unchecked,
 * with what conf_fill() needs to check it later as if it were checked
 * now (the file, the key path), and what it filled, for -T. Lives in the
 * plugin's arena; obj is the config tree's, which outlives the arena. */
struct zg_conf_node_s {
    json_t *obj;
    const char *text;
    size_t len;
    const char *file;
    zg_conf_comp_t path[ZG_CONF_DEPTH];
    int depth;
    zg_conf_arena_t *arena;
    const char *who;
    const zg_key_t *keys; /* after conf_fill(): the table and the values */
    void *conf;
};

typedef struct zg_fill_s {
    zg_conf_ctx_t *c;
    zg_conf_arena_t *arena;
    const char *who;
} zg_fill_t;

static int zg_fill_object(zg_fill_t *f, json_t *obj, const zg_key_t *keys,
                          unsigned char *base);

/* "123", "64k", "16m", "1g" (1024 based) -> bytes; -1 if malformed or
 * over 2^62. */
static int64_t zg_parse_size(const char *s)
{
    uint64_t v = 0, mult = 1;
    size_t i = 0;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > (UINT64_C(1) << 62))
            return -1;
    }
    switch (s[i]) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mult = 1024;
        break;
    case 'm':
    case 'M':
        mult = 1024 * 1024;
        break;
    case 'g':
    case 'G':
        mult = 1024 * 1024 * 1024;
        break;
    default:
        return -1;
    }
    if (s[i] != '\0' && s[i + 1] != '\0')
        return -1;
    if (v > (UINT64_C(1) << 62) / mult)
        return -1;
    return (int64_t)(v * mult);
}

/* "250ms", "5s", "2m", "1h" -> ms; -1 if malformed or too large. */
static int64_t zg_parse_msec(const char *s)
{
    uint64_t v = 0, mult;
    size_t i = 0;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    if (strcmp(s + i, "ms") == 0)
        mult = 1;
    else if (strcmp(s + i, "s") == 0)
        mult = 1000;
    else if (strcmp(s + i, "m") == 0)
        mult = 60000;
    else if (strcmp(s + i, "h") == 0)
        mult = 3600000;
    else
        return -1;
    if (v * mult > UINT32_MAX)
        return -1;
    return (int64_t)(v * mult);
}

/* An integer-like value (INT, SIZE, MSEC) in k's range into *out. */
static int zg_fill_number(zg_fill_t *f, const zg_key_t *k, unsigned type,
                          json_t *v, int64_t *out)
{
    int64_t n;

    if (json_is_integer(v)) {
        n = (int64_t)json_integer_value(v);
    } else if (json_is_string(v) && type != ZG_KEY_INT) {
        const char *s = json_string_value(v);

        n = type == ZG_KEY_SIZE ? zg_parse_size(s) : zg_parse_msec(s);
        if (n < 0)
            return zg_conf_err(f->c, ZG_AT_VALUE,
                               type == ZG_KEY_SIZE
                                   ? "\"%s\" is not a size (bytes, or a "
                                     "number with k, m or g: \"64k\")"
                                   : "\"%s\" is not a duration (ms, or a "
                                     "number with ms, s, m or h: \"5s\")",
                               s);
    } else {
        return zg_conf_err(f->c, ZG_AT_VALUE,
                           type == ZG_KEY_INT ? "expected an integer, got %s"
                           : type == ZG_KEY_SIZE
                               ? "expected a size (integer or \"64k\"), got %s"
                               : "expected a duration (integer ms or "
                                 "\"5s\"), got %s",
                           zg_conf_type(v));
    }
    if (k->min < k->max && (n < k->min || n > k->max))
        return zg_conf_err(f->c, ZG_AT_VALUE,
                           "%" PRId64 " is out of range %" PRId64 "..%" PRId64,
                           n, k->min, k->max);
    if (type == ZG_KEY_MSEC && (n < 0 || n > (int64_t)UINT32_MAX))
        return zg_conf_err(f->c, ZG_AT_VALUE, "%" PRId64 " is out of range", n);
    *out = n;
    return 0;
}

/* Keep obj (NULL: the key is absent) for a later conf_fill, at the
 * current key path. */
static int zg_fill_node(zg_fill_t *f, json_t *obj, unsigned char *dst)
{
    zg_conf_node_t *node = zg_conf_arena_alloc(f->arena, sizeof(*node));

    if (node == NULL)
        return zg_conf_nomem(f->c);
    node->obj = obj;
    node->text = f->c->text;
    node->len = f->c->len;
    node->file = f->c->file;
    node->depth = f->c->depth < ZG_CONF_DEPTH ? f->c->depth : ZG_CONF_DEPTH;
    memcpy(node->path, f->c->path, sizeof(node->path));
    node->arena = f->arena;
    node->who = f->who;
    *(const zg_conf_node_t **)dst = node;
    return 0;
}

/* Store v (of k's type, or type for a list element) at dst. */
static int zg_fill_value(zg_fill_t *f, const zg_key_t *k, unsigned type,
                         json_t *v, unsigned char *dst)
{
    int64_t n = 0;
    int rc;

    switch (type) {
    case ZG_KEY_BOOL:
        if (!json_is_boolean(v))
            return zg_conf_err(f->c, ZG_AT_VALUE, "expected a boolean, got %s",
                               zg_conf_type(v));
        *(int *)dst = json_is_true(v);
        return 0;
    case ZG_KEY_INT:
    case ZG_KEY_SIZE:
    case ZG_KEY_MSEC:
        if ((rc = zg_fill_number(f, k, type, v, &n)))
            return rc;
        if (type == ZG_KEY_INT)
            *(int64_t *)dst = n;
        else if (type == ZG_KEY_SIZE)
            *(uint64_t *)dst = (uint64_t)n;
        else
            *(uint32_t *)dst = (uint32_t)n;
        return 0;
    case ZG_KEY_STRING: {
        size_t len;
        char *s;

        if (!json_is_string(v))
            return zg_conf_err(f->c, ZG_AT_VALUE, "expected a string, got %s",
                               zg_conf_type(v));
        len = json_string_length(v);
        if (strlen(json_string_value(v)) != len)
            return zg_conf_err(f->c, ZG_AT_VALUE,
                               "must not contain a NUL byte");
        if (type == k->type && (int64_t)len < k->min)
            return zg_conf_err(f->c, ZG_AT_VALUE,
                               k->min == 1 ? "must not be empty"
                                           : "shorter than %" PRId64 " bytes",
                               k->min);
        if (type == k->type && k->max > 0 && (int64_t)len > k->max)
            return zg_conf_err(f->c, ZG_AT_VALUE,
                               "longer than %" PRId64 " bytes", k->max);
        s = zg_conf_arena_alloc(f->arena, len + 1);
        if (s == NULL)
            return zg_conf_nomem(f->c);
        memcpy(s, json_string_value(v), len);
        *(const char **)dst = s;
        return 0;
    }
    case ZG_KEY_ENUM: {
        char list[256];
        size_t used = 0;

        if (json_is_string(v)) {
            for (size_t i = 0; k->names != NULL && k->names[i] != NULL; i++) {
                if (strcmp(json_string_value(v), k->names[i]) == 0) {
                    *(int *)dst = (int)i;
                    return 0;
                }
            }
        }
        list[0] = '\0';
        for (size_t i = 0;
             k->names != NULL && k->names[i] != NULL && used < sizeof(list);
             i++) {
            int r = snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
                             i ? ", " : "", k->names[i]);

            used += r < 0 ? 0 : (size_t)r;
        }
        if (!json_is_string(v))
            return zg_conf_err(f->c, ZG_AT_VALUE, "expected one of %s, got %s",
                               list, zg_conf_type(v));
        return zg_conf_err(f->c, ZG_AT_VALUE, "\"%s\" is not one of %s",
                           json_string_value(v), list);
    }
    case ZG_KEY_CIDR: {
        char why[160];

        if (!json_is_string(v))
            return zg_conf_err(
                f->c, ZG_AT_VALUE,
                "expected an address or network (\"10.0.0.0/8\", "
                "\"::1\", \"all\"), got %s",
                zg_conf_type(v));
        if (zg_cidr_parse(json_string_value(v), (zg_cidr_t *)dst, why,
                          sizeof(why)) < 0)
            return zg_conf_err(f->c, ZG_AT_VALUE, "%s", why);
        return 0;
    }
    case ZG_KEY_OBJECT:
        if (!json_is_object(v))
            return zg_conf_err(f->c, ZG_AT_VALUE, "expected an object, got %s",
                               zg_conf_type(v));
        return zg_fill_object(f, v, k->sub, dst);
    case ZG_KEY_LIST: {
        size_t cnt = json_array_size(v), esz;
        zg_list_t *list = (zg_list_t *)dst;
        unsigned char *items;

        if (!json_is_array(v))
            return zg_conf_err(f->c, ZG_AT_VALUE, "expected an array, got %s",
                               zg_conf_type(v));
        if ((int64_t)cnt < k->min)
            return zg_conf_err(f->c, ZG_AT_VALUE,
                               cnt == 0 ? "must not be empty"
                                        : "%zu elements (at least %" PRId64 ")",
                               cnt, k->min);
        if (k->max > 0 && (int64_t)cnt > k->max)
            return zg_conf_err(f->c, ZG_AT_VALUE,
                               "%zu elements (at most %" PRId64 ")", cnt,
                               k->max);
        esz = k->elem == ZG_KEY_OBJECT ? k->elem_size : zg_key_size(k->elem);
        items = zg_conf_arena_alloc(f->arena, cnt * esz);
        if (items == NULL)
            return zg_conf_nomem(f->c);
        for (size_t i = 0; i < cnt; i++) {
            zg_conf_push(f->c, NULL, i);
            if ((rc = zg_fill_value(f, k, k->elem, json_array_get(v, i),
                                    items + i * esz)))
                return rc;
            if (k->elem == ZG_KEY_OBJECT && k->check != NULL) {
                char why[256] = "";

                if (k->check(items + i * esz, why, sizeof(why)) != 0)
                    return zg_conf_err(f->c, ZG_AT_VALUE, "%s",
                                       why[0] ? why : "refused");
            }
            zg_conf_pop(f->c);
        }
        list->items = cnt > 0 ? items : NULL;
        list->n = cnt;
        return 0;
    }
    case ZG_KEY_NODE:
        if (!json_is_object(v))
            return zg_conf_err(f->c, ZG_AT_VALUE, "expected an object, got %s",
                               zg_conf_type(v));
        return zg_fill_node(f, v, dst);
    default:
        return zg_conf_err(f->c, ZG_AT_NONE,
                           "%s: key \"%s\" has unknown type %u", f->who,
                           k->name, type);
    }
}

/* Store key k's default (JSON text) at dst; errors name the plugin, as its
 * table is at fault, not the operator's file. */
static int zg_fill_default(zg_fill_t *f, const zg_key_t *k, unsigned char *dst)
{
    zg_conf_ctx_t dc, *saved = f->c;
    char file[160];
    json_error_t je;
    json_t *v;
    int rc;

    snprintf(file, sizeof(file), "%s: default of key \"%s\"", f->who, k->name);
    memset(&dc, 0, sizeof(dc));
    dc.text = k->def;
    dc.len = strlen(k->def);
    dc.file = file;
    dc.err = saved->err;
    dc.errlen = saved->errlen;
    v = json_loads(k->def, JSON_DECODE_ANY, &je);
    if (v == NULL)
        return zg_conf_message_at(&dc, NULL, 0, ZG_NOPOS, "not JSON: %s",
                                  je.text);
    f->c = &dc;
    rc = zg_fill_value(f, k, k->type, v, dst);
    f->c = saved;
    json_decref(v);
    return rc;
}

static int zg_fill_object(zg_fill_t *f, json_t *obj, const zg_key_t *keys,
                          unsigned char *base)
{
    const char *names[129];
    size_t nk = 0;
    int rc;

    for (const zg_key_t *k = keys; k != NULL && k->name != NULL; k++) {
        if (nk == 128)
            return zg_conf_err(f->c, ZG_AT_NONE, "%s: over 128 keys in a table",
                               f->who);
        names[nk++] = k->name;
    }
    names[nk] = NULL;
    if (obj != NULL && (rc = zg_conf_keys(f->c, obj, names, NULL)))
        return rc;
    for (const zg_key_t *k = keys; k != NULL && k->name != NULL; k++) {
        json_t *v = obj != NULL ? json_object_get(obj, k->name) : NULL;
        unsigned char *dst = base + k->offset;

        if (v == NULL) {
            if (k->flags & ZG_KEY_REQUIRED) {
                if (obj == NULL)
                    return zg_conf_err(f->c, ZG_AT_NONE,
                                       "missing required key \"%s\"", k->name);
                return zg_conf_require(f->c, obj, k->name);
            }
            if (k->def != NULL && k->type != ZG_KEY_NODE &&
                (rc = zg_fill_default(f, k, dst)))
                return rc;
            if (k->def == NULL && k->type == ZG_KEY_CIDR)
                ((zg_cidr_t *)dst)->family = ZG_CIDR_NONE;
            /* An absent object still gets its keys' defaults. */
            if (k->def == NULL && k->type == ZG_KEY_OBJECT &&
                (rc = zg_fill_object(f, NULL, k->sub, dst)))
                return rc;
            /* ... also one checked later: its node knows where it would
             * have been. */
            if (k->type == ZG_KEY_NODE) {
                zg_conf_push(f->c, k->name, 0);
                rc = zg_fill_node(f, NULL, dst);
                zg_conf_pop(f->c);
                if (rc)
                    return rc;
            }
            continue;
        }
        zg_conf_push(f->c, k->name, 0);
        if ((rc = zg_fill_value(f, k, k->type, v, dst)))
            return rc;
        if (k->check != NULL &&
            !(k->type == ZG_KEY_LIST && k->elem == ZG_KEY_OBJECT)) {
            char why[256] = "";

            if (k->check(dst, why, sizeof(why)) != 0)
                return zg_conf_err(f->c, ZG_AT_VALUE, "%s",
                                   why[0] ? why : "refused");
        }
        zg_conf_pop(f->c);
    }
    return 0;
}

int zg_conf_fill(const zg_config_t *cfg, const zg_conf_comp_t *path, int depth,
                 json_t *obj, const zg_key_t *keys, void *out,
                 zg_conf_arena_t *arena, const char *who, char *err,
                 size_t errlen)
{
    zg_conf_ctx_t c;
    zg_fill_t f = {&c, arena, who};

    memset(&c, 0, sizeof(c));
    c.text = cfg->text != NULL ? cfg->text : "";
    c.len = cfg->text != NULL ? cfg->textlen : 0;
    c.file = cfg->path != NULL ? cfg->path : "<embedded>";
    c.err = err;
    c.errlen = errlen;
    for (int i = 0; i < depth && i < ZG_CONF_DEPTH; i++)
        c.path[i] = path[i];
    c.depth = depth;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    return zg_fill_object(&f, obj, keys, out);
}

int zg_conf_node_fill(const zg_conf_node_t *cnode, const zg_key_t *keys,
                      size_t conf_size, void **conf, char *err, size_t errlen)
{
    zg_conf_node_t *node = (zg_conf_node_t *)cnode;
    zg_conf_ctx_t c;
    zg_fill_t f = {&c, NULL, NULL};
    void *out;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (node == NULL || conf == NULL)
        return -EINVAL;
    if (node->keys != NULL)
        return -EALREADY;
    memset(&c, 0, sizeof(c));
    c.text = node->text;
    c.len = node->len;
    c.file = node->file;
    c.err = err;
    c.errlen = errlen;
    memcpy(c.path, node->path, sizeof(c.path));
    c.depth = node->depth;
    f.arena = node->arena;
    f.who = node->who;
    out = zg_conf_arena_alloc(node->arena, conf_size);
    if (out == NULL)
        return zg_conf_nomem(&c);
    rc = zg_fill_object(&f, node->obj, keys, out);
    if (rc < 0)
        return rc;
    node->keys = keys;
    node->conf = out;
    *conf = out;
    return 0;
}

/* ---- the effective config, for -T ---- */

static json_t *zg_dump_object(const zg_key_t *keys, const unsigned char *base);

static json_t *zg_dump_value(const zg_key_t *k, unsigned type,
                             const unsigned char *src)
{
    switch (type) {
    case ZG_KEY_BOOL:
        return json_boolean(*(const int *)src);
    case ZG_KEY_INT:
        return json_integer((json_int_t) * (const int64_t *)src);
    case ZG_KEY_SIZE:
        return json_integer((json_int_t) * (const uint64_t *)src);
    case ZG_KEY_MSEC:
        return json_integer((json_int_t) * (const uint32_t *)src);
    case ZG_KEY_STRING: {
        const char *s = *(const char *const *)src;

        return s != NULL ? json_string(s) : json_null();
    }
    case ZG_KEY_ENUM: {
        int i = *(const int *)src;

        return k->names != NULL && i >= 0 ? json_string(k->names[i])
                                          : json_null();
    }
    case ZG_KEY_CIDR: {
        char buf[64];

        if (((const zg_cidr_t *)src)->family == ZG_CIDR_NONE)
            return json_null();
        if (zg_cidr_format((const zg_cidr_t *)src, buf, sizeof(buf)) < 0)
            return json_null();
        return json_string(buf);
    }
    case ZG_KEY_OBJECT:
        return zg_dump_object(k->sub, src);
    case ZG_KEY_NODE: {
        const zg_conf_node_t *node = *(const zg_conf_node_t *const *)src;

        if (node->keys != NULL)
            return zg_dump_object(node->keys, node->conf);
        return json_deep_copy(node->obj);
    }
    case ZG_KEY_LIST: {
        const zg_list_t *list = (const zg_list_t *)src;
        size_t esz =
            k->elem == ZG_KEY_OBJECT ? k->elem_size : zg_key_size(k->elem);
        json_t *a = json_array();

        for (size_t i = 0; a != NULL && i < list->n; i++) {
            json_t *e = zg_dump_value(
                k, k->elem, (const unsigned char *)list->items + i * esz);

            if (e == NULL || json_array_append_new(a, e) < 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    default:
        return json_null();
    }
}

static json_t *zg_dump_object(const zg_key_t *keys, const unsigned char *base)
{
    json_t *o = json_object();

    for (const zg_key_t *k = keys; o != NULL && k != NULL && k->name != NULL;
         k++) {
        const unsigned char *src = base + k->offset;
        json_t *v;

        /* An absent value without a default is left out: what is shown
         * can be fed back as a configuration. */
        if ((k->type == ZG_KEY_CIDR &&
             ((const zg_cidr_t *)src)->family == ZG_CIDR_NONE) ||
            (k->type == ZG_KEY_STRING && *(const char *const *)src == NULL) ||
            (k->type == ZG_KEY_NODE &&
             (*(const zg_conf_node_t *const *)src == NULL ||
              ((*(const zg_conf_node_t *const *)src)->obj == NULL &&
               (*(const zg_conf_node_t *const *)src)->keys == NULL))))
            continue;
        v = zg_dump_value(k, k->type, src);

        if (v == NULL || json_object_set_new(o, k->name, v) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *zg_conf_keys_dump(const zg_key_t *keys, const void *conf)
{
    return zg_dump_object(keys, conf);
}

/* ---- the JSON Schema of a table ---- */

static json_t *zg_schema_object(const zg_key_t *keys);

static void zg_schema_range(json_t *o, const zg_key_t *k, const char *lo,
                            const char *hi)
{
    if (k->min < k->max) {
        json_object_set_new(o, lo, json_integer((json_int_t)k->min));
        json_object_set_new(o, hi, json_integer((json_int_t)k->max));
    }
}

static json_t *zg_schema_value(const zg_key_t *k, unsigned type, int elem)
{
    json_t *o = json_object(), *alt;

    if (o == NULL)
        return NULL;
    switch (type) {
    case ZG_KEY_BOOL:
        json_object_set_new(o, "type", json_string("boolean"));
        break;
    case ZG_KEY_INT:
        json_object_set_new(o, "type", json_string("integer"));
        if (!elem)
            zg_schema_range(o, k, "minimum", "maximum");
        break;
    case ZG_KEY_SIZE:
    case ZG_KEY_MSEC:
        alt = json_object();
        json_object_set_new(alt, "type", json_string("integer"));
        if (!elem)
            zg_schema_range(alt, k, "minimum", "maximum");
        json_object_set_new(
            o, "oneOf",
            json_pack("[o, {s:s, s:s}]", alt, "type", "string", "pattern",
                      type == ZG_KEY_SIZE ? "^[0-9]+[kKmMgG]?$"
                                          : "^[0-9]+(ms|s|m|h)$"));
        break;
    case ZG_KEY_STRING:
        json_object_set_new(o, "type", json_string("string"));
        if (!elem && k->min > 0)
            json_object_set_new(o, "minLength",
                                json_integer((json_int_t)k->min));
        if (!elem && k->max > 0)
            json_object_set_new(o, "maxLength",
                                json_integer((json_int_t)k->max));
        break;
    case ZG_KEY_ENUM: {
        json_t *a = json_array();

        for (size_t i = 0; k->names != NULL && k->names[i] != NULL; i++)
            json_array_append_new(a, json_string(k->names[i]));
        json_object_set_new(o, "enum", a);
        break;
    }
    case ZG_KEY_CIDR:
        json_object_set_new(o, "type", json_string("string"));
        json_object_set_new(
            o, "pattern",
            json_string(
                "^(all|[0-9.]+(/[0-9]{1,2})?|[0-9A-Fa-f:.]+(/[0-9]{1,3})"
                "?)$"));
        break;
    case ZG_KEY_OBJECT:
        json_decref(o);
        return zg_schema_object(k->sub);
    case ZG_KEY_NODE:
        /* Its keys are only known at start-up. */
        json_object_set_new(o, "type", json_string("object"));
        break;
    case ZG_KEY_LIST:
        json_object_set_new(o, "type", json_string("array"));
        json_object_set_new(o, "items", zg_schema_value(k, k->elem, 1));
        if (k->min > 0)
            json_object_set_new(o, "minItems",
                                json_integer((json_int_t)k->min));
        if (k->max > 0)
            json_object_set_new(o, "maxItems",
                                json_integer((json_int_t)k->max));
        break;
    default:
        break;
    }
    return o;
}

static json_t *zg_schema_object(const zg_key_t *keys)
{
    json_t *o = json_object(), *props = json_object(), *req = json_array();

    json_object_set_new(o, "type", json_string("object"));
    json_object_set_new(o, "additionalProperties", json_false());
    for (const zg_key_t *k = keys; k != NULL && k->name != NULL; k++) {
        json_t *v = zg_schema_value(k, k->type, 0);

        if (v == NULL)
            continue;
        if (k->doc != NULL)
            json_object_set_new(v, "description", json_string(k->doc));
        if (k->def != NULL) {
            json_t *d = json_loads(k->def, JSON_DECODE_ANY, NULL);

            if (d != NULL)
                json_object_set_new(v, "default", d);
        }
        if (k->flags & ZG_KEY_REQUIRED)
            json_array_append_new(req, json_string(k->name));
        json_object_set_new(props, k->name, v);
    }
    json_object_set_new(o, "properties", props);
    if (json_array_size(req) > 0)
        json_object_set_new(o, "required", req);
    else
        json_decref(req);
    return o;
}

json_t *zg_conf_keys_schema(const zg_key_t *keys)
{
    return zg_schema_object(keys);
}
