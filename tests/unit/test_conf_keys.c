/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for host-owned configuration (core/conf_keys.c):
 * every key type with its range, defaults (also of an absent nested
 * object), lists of scalars and of objects, check callbacks, error lines
 * with file:line:column and suggestions, a plugin's bad default, the
 * -T dump feeding back as the same values, and an object kept unchecked
 * (ZG_KEY_NODE) that conf_fill checks later against another table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/cidr.c"
#include "../../core/conf_ctx.c"
#include "../../core/conf_keys.c"

typedef struct inner_s {
    int64_t n;
    const char *s;
} inner_t;

typedef struct item_s {
    const char *name;
    uint32_t ms;
} item_t;

typedef struct conf_s {
    int on;
    int64_t count;
    uint64_t size;
    uint32_t wait;
    const char *label;
    int mode;
    zg_cidr_t net;
    zg_cidr_t opt_net; /* no default */
    inner_t inner;
    zg_list_t tags;  /* of const char * */
    zg_list_t items; /* of item_t */
    const zg_conf_node_t *later;
} conf_t;

static const char *const modes[] = {"fast", "safe", NULL};

static int item_check(void *value, char *err, size_t errlen)
{
    const item_t *it = value;

    if (strcmp(it->name, "bad") == 0) {
        snprintf(err, errlen, "\"bad\" is not a good name");
        return -1;
    }
    return 0;
}

static const zg_key_t inner_keys[] = {
    {.name = "n",
     .type = ZG_KEY_INT,
     .offset = offsetof(inner_t, n),
     .min = 1,
     .max = 9,
     .def = "4"},
    {.name = "s",
     .type = ZG_KEY_STRING,
     .offset = offsetof(inner_t, s),
     .def = "\"x\""},
    {.name = NULL},
};

static const zg_key_t item_keys[] = {
    {.name = "name",
     .type = ZG_KEY_STRING,
     .flags = ZG_KEY_REQUIRED,
     .offset = offsetof(item_t, name),
     .min = 1},
    {.name = "ms",
     .type = ZG_KEY_MSEC,
     .offset = offsetof(item_t, ms),
     .def = "\"1s\""},
    {.name = NULL},
};

static const zg_key_t keys[] = {
    {.name = "on",
     .type = ZG_KEY_BOOL,
     .offset = offsetof(conf_t, on),
     .def = "true"},
    {.name = "count",
     .type = ZG_KEY_INT,
     .offset = offsetof(conf_t, count),
     .min = 0,
     .max = 100,
     .def = "10"},
    {.name = "size",
     .type = ZG_KEY_SIZE,
     .offset = offsetof(conf_t, size),
     .min = 1,
     .max = 1 << 30,
     .def = "\"64k\""},
    {.name = "wait",
     .type = ZG_KEY_MSEC,
     .offset = offsetof(conf_t, wait),
     .def = "250"},
    {.name = "label",
     .type = ZG_KEY_STRING,
     .offset = offsetof(conf_t, label),
     .min = 1,
     .max = 8},
    {.name = "mode",
     .type = ZG_KEY_ENUM,
     .offset = offsetof(conf_t, mode),
     .names = modes,
     .def = "\"safe\""},
    {.name = "net",
     .type = ZG_KEY_CIDR,
     .offset = offsetof(conf_t, net),
     .def = "\"10.0.0.0/8\""},
    {.name = "opt_net",
     .type = ZG_KEY_CIDR,
     .offset = offsetof(conf_t, opt_net)},
    {.name = "inner",
     .type = ZG_KEY_OBJECT,
     .offset = offsetof(conf_t, inner),
     .sub = inner_keys},
    {.name = "tags",
     .type = ZG_KEY_LIST,
     .elem = ZG_KEY_STRING,
     .offset = offsetof(conf_t, tags),
     .max = 3},
    {.name = "items",
     .type = ZG_KEY_LIST,
     .elem = ZG_KEY_OBJECT,
     .offset = offsetof(conf_t, items),
     .sub = item_keys,
     .elem_size = sizeof(item_t),
     .check = item_check},
    {.name = "later", .type = ZG_KEY_NODE, .offset = offsetof(conf_t, later)},
    {.name = NULL},
};

static zg_conf_arena_t arena;
/* The document and tree of the last fill(): a node refers to them. */
static char *doc;
static json_t *root;
static conf_t C;
static char err[512];

/* Fill C from text as the host does for listeners[0].config. */
static int fill(const char *text)
{
    zg_config_t cfg;
    zg_conf_comp_t path[3] = {{"listeners", 0}, {NULL, 0}, {"config", 0}};
    json_t *obj;
    int rc;

    json_decref(root);
    free(doc);
    if (asprintf(&doc, "{\"listeners\": [{\"config\": %s}]}", text) < 0)
        fail();
    memset(&cfg, 0, sizeof(cfg));
    cfg.text = doc;
    cfg.textlen = strlen(doc);
    cfg.path = (char *)"t.json";
    root = json_loads(doc, 0, NULL);
    assert_non_null(root);
    obj = json_object_get(json_array_get(json_object_get(root, "listeners"), 0),
                          "config");
    zg_conf_arena_free(&arena);
    memset(&C, 0x5a, sizeof(C));
    memset(&C, 0, sizeof(C));
    rc = zg_conf_fill(&cfg, path, 3, obj, keys, &C, &arena, "plugin t", err,
                      sizeof(err));
    return rc;
}

static void expect_err(const char *text, const char *want)
{
    assert_int_equal(fill(text), -EINVAL);
    if (strstr(err, want) == NULL)
        fail_msg("config %s\n got: %s\nwant: %s", text, err, want);
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(fill("{}"), 0);
    assert_int_equal(C.on, 1);
    assert_int_equal(C.count, 10);
    assert_int_equal(C.size, 65536);
    assert_int_equal(C.wait, 250);
    assert_null(C.label);
    assert_int_equal(C.mode, 1);
    assert_int_equal(C.net.family, AF_INET);
    assert_int_equal(C.net.bits, 8);
    assert_int_equal(C.opt_net.family, ZG_CIDR_NONE);
    /* an absent nested object still has its keys' defaults */
    assert_int_equal(C.inner.n, 4);
    assert_string_equal(C.inner.s, "x");
    assert_int_equal(C.tags.n, 0);
    assert_int_equal(C.items.n, 0);
}

static void test_values(void **state)
{
    const item_t *it;

    (void)state;
    assert_int_equal(
        fill("{\"on\": false, \"count\": 0, \"size\": \"2m\", \"wait\": \"3s\","
             " \"label\": \"abc\", \"mode\": \"fast\", \"net\": \"::1\","
             " \"opt_net\": \"all\", \"inner\": {\"n\": 9},"
             " \"tags\": [\"a\", \"b\"],"
             " \"items\": [{\"name\": \"one\"}, {\"name\": \"two\", \"ms\": "
             "\"2m\"}]}"),
        0);
    assert_int_equal(C.on, 0);
    assert_int_equal(C.count, 0);
    assert_int_equal(C.size, 2u << 20);
    assert_int_equal(C.wait, 3000);
    assert_string_equal(C.label, "abc");
    assert_int_equal(C.mode, 0);
    assert_int_equal(C.net.family, AF_INET6);
    assert_int_equal(C.opt_net.family, 0); /* "all" */
    assert_int_equal(C.inner.n, 9);
    assert_string_equal(C.inner.s, "x");
    assert_int_equal(C.tags.n, 2);
    assert_string_equal(((const char **)C.tags.items)[1], "b");
    assert_int_equal(C.items.n, 2);
    it = C.items.items;
    assert_string_equal(it[0].name, "one");
    assert_int_equal(it[0].ms, 1000);
    assert_int_equal(it[1].ms, 120000);
    assert_int_equal(fill("{\"size\": 1073741824, \"wait\": \"1h\"}"), 0);
    assert_int_equal(C.wait, 3600000);
}

static void test_errors_name_the_place(void **state)
{
    (void)state;
    /* the line/column are those of the whole one-line document */
    expect_err("{\"cout\": 1}",
               "t.json:1:28: listeners[0].config.cout: unknown key (did you "
               "mean \"count\"?)");
    expect_err("{\"count\": 101}",
               "listeners[0].config.count: 101 is out of range 0..100");
    expect_err("{\"count\": \"5\"}", "count: expected an integer, got string");
    expect_err("{\"on\": 1}", "on: expected a boolean, got integer");
    expect_err("{\"size\": \"64q\"}", "size: \"64q\" is not a size");
    expect_err("{\"size\": 0}", "size: 0 is out of range 1..1073741824");
    expect_err("{\"size\": \"2g\"}", "size: 2147483648 is out of range");
    expect_err("{\"wait\": \"5 s\"}", "wait: \"5 s\" is not a duration");
    expect_err("{\"wait\": -1}", "wait: -1 is out of range");
    expect_err("{\"label\": \"\"}", "label: must not be empty");
    expect_err("{\"label\": \"123456789\"}", "label: longer than 8 bytes");
    expect_err("{\"mode\": \"slow\"}",
               "mode: \"slow\" is not one of \"fast\", \"safe\"");
    expect_err("{\"net\": \"10.0.0.1/8\"}", "host bits are set");
    expect_err("{\"inner\": {\"n\": 0}}",
               "listeners[0].config.inner.n: 0 is out of range 1..9");
    expect_err("{\"inner\": []}", "inner: expected an object, got array");
    expect_err("{\"tags\": [\"a\", 2]}",
               "listeners[0].config.tags[1]: expected a string, got integer");
    expect_err("{\"tags\": [\"a\", \"b\", \"c\", \"d\"]}",
               "tags: 4 elements (at most 3)");
    expect_err("{\"items\": [{\"name\": \"ok\"}, {\"ms\": 5}]}",
               "listeners[0].config.items[1]: missing required key \"name\"");
    expect_err("{\"items\": [{\"name\": \"ok\"}, {\"name\": \"bad\"}]}",
               "listeners[0].config.items[1]: \"bad\" is not a good name");
    expect_err("{\"items\": [{\"nam\": \"x\"}]}",
               "items[0].nam: unknown key (did you mean \"name\"?)");
}

static void test_bad_default_names_the_plugin(void **state)
{
    static const zg_key_t bad[] = {
        {.name = "n",
         .type = ZG_KEY_INT,
         .offset = 0,
         .min = 1,
         .max = 5,
         .def = "7"},
        {.name = NULL},
    };
    zg_config_t cfg;
    int64_t n;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.text = (char *)"{}";
    cfg.textlen = 2;
    cfg.path = (char *)"t.json";
    assert_int_equal(zg_conf_fill(&cfg, NULL, 0, NULL, bad, &n, &arena,
                                  "plugin /x/p.so", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "plugin /x/p.so: default of key \"n\""));
    assert_non_null(strstr(err, "7 is out of range 1..5"));
}

static void test_dump_feeds_back(void **state)
{
    conf_t first;
    json_t *j;
    char *text;

    (void)state;
    assert_int_equal(
        fill("{\"label\": \"lbl\", \"tags\": [\"t\"], \"items\": [{\"name\": "
             "\"i\"}], \"net\": \"192.0.2.0/24\"}"),
        0);
    first = C;
    j = zg_conf_keys_dump(keys, &C);
    assert_non_null(j);
    /* absent optional values are left out, not null */
    assert_null(json_object_get(j, "opt_net"));
    assert_string_equal(json_string_value(json_object_get(j, "net")),
                        "192.0.2.0/24");
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_int_equal(fill(text), 0);
    free(text);
    assert_int_equal(C.count, first.count);
    assert_int_equal(C.size, first.size);
    assert_int_equal(C.wait, first.wait);
    assert_string_equal(C.label, "lbl");
    assert_memory_equal(&C.net, &first.net, sizeof(C.net));
    assert_int_equal(C.opt_net.family, ZG_CIDR_NONE);
    assert_int_equal(C.items.n, 1);
    assert_int_equal(((const item_t *)C.items.items)[0].ms, 1000);
}

static void test_node_is_checked_later(void **state)
{
    inner_t *in = NULL;
    json_t *j;

    (void)state;
    /* absent: the defaults, and nothing in the dump */
    assert_int_equal(fill("{}"), 0);
    assert_non_null(C.later);
    j = zg_conf_keys_dump(keys, &C);
    assert_null(json_object_get(j, "later"));
    json_decref(j);
    assert_int_equal(zg_conf_node_fill(C.later, inner_keys, sizeof(inner_t),
                                       (void **)&in, err, sizeof(err)),
                     0);
    assert_int_equal(in->n, 4);
    j = zg_conf_keys_dump(keys, &C);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "later"), "n")),
        4);
    json_decref(j);
    expect_err("{\"later\": 5}", "later: expected an object, got integer");
    /* unknown keys inside are not the host's business until conf_fill */
    assert_int_equal(fill("{\"later\": {\"n\": 3, \"nn\": 1}}"), 0);
    assert_non_null(C.later);
    assert_int_equal(zg_conf_node_fill(C.later, inner_keys, sizeof(inner_t),
                                       (void **)&in, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "t.json:1:46: listeners[0].config.later.nn: "
                                "unknown key (did you mean \"n\"?)"));
    assert_int_equal(fill("{\"later\": {\"n\": 0}}"), 0);
    assert_int_equal(zg_conf_node_fill(C.later, inner_keys, sizeof(inner_t),
                                       (void **)&in, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(
        strstr(err, "listeners[0].config.later.n: 0 is out of range 1..9"));
    assert_int_equal(fill("{\"label\": \"l\", \"later\": {\"n\": 3}}"), 0);
    /* before conf_fill, -T shows the object as written */
    j = zg_conf_keys_dump(keys, &C);
    assert_int_equal(json_object_size(json_object_get(j, "later")), 1);
    json_decref(j);
    assert_int_equal(zg_conf_node_fill(C.later, inner_keys, sizeof(inner_t),
                                       (void **)&in, err, sizeof(err)),
                     0);
    assert_int_equal(in->n, 3);
    assert_string_equal(in->s, "x");
    assert_int_equal(zg_conf_node_fill(C.later, inner_keys, sizeof(inner_t),
                                       (void **)&in, err, sizeof(err)),
                     -EALREADY);
    /* after it, the filled values with every default */
    j = zg_conf_keys_dump(keys, &C);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "later"), "s")),
        "x");
    json_decref(j);
    j = zg_conf_keys_schema(keys);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(j, "properties"), "later"),
            "type")),
        "object");
    json_decref(j);
}

static int teardown(void **state)
{
    (void)state;
    zg_conf_arena_free(&arena);
    json_decref(root);
    free(doc);
    root = NULL;
    doc = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors_name_the_place),
        cmocka_unit_test(test_bad_default_names_the_plugin),
        cmocka_unit_test(test_dump_feeds_back),
        cmocka_unit_test(test_node_is_checked_later),
    };

    return cmocka_run_group_tests(tests, NULL, teardown);
}
