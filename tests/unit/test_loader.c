/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests of the plugin loader. They load the real fixture
 * plugins of tests/plugins (build them first) and check every refusal
 * message. Run with the project root as the working directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>

#include "../../core/loader.c"
#include "../../core/log.c"

#define FX_DIR "tests/plugins"

/* ---- helpers ------------------------------------------------------------ */

/* The canonical path of fixture name, as the loader names it. */
static void fx_real(const char *name, char *real)
{
    char rel[PATH_MAX];

    snprintf(rel, sizeof(rel), FX_DIR "/%s.so", name);
    if (realpath(rel, real) == NULL)
        fail_msg("%s missing: run `make tests/plugins/%s.so` from the "
                 "project root first",
                 rel, name);
}

static void fx_rel(const char *name, char *rel)
{
    snprintf(rel, PATH_MAX, FX_DIR "/%s.so", name);
}

/* Copy file from to file to (mode 0755). */
static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    ssize_t n;
    int in, out;

    in = open(from, O_RDONLY | O_CLOEXEC);
    assert_true(in >= 0);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    assert_true(out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    close(out);
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void make_tmpdir(char *dir)
{
    strcpy(dir, "/tmp/zg_test_loader.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

/* True if the object at real is currently mapped in this process. */
static int is_mapped(const char *real)
{
    void *h = dlopen(real, RTLD_NOW | RTLD_NOLOAD);

    if (h == NULL)
        return 0;
    dlclose(h);
    return 1;
}

/* A fake host: send() appends to fake_out. */
static char fake_out[256];
static size_t fake_out_len;
static char fake_conn_token;
#define FAKE_CONN ((zg_conn_t *)(void *)&fake_conn_token)

static int fake_send(zg_conn_t *c, const void *data, size_t len)
{
    if (c != FAKE_CONN || fake_out_len + len > sizeof(fake_out))
        return -ENOMEM;
    memcpy(fake_out + fake_out_len, data, len);
    fake_out_len += len;
    return 0;
}

static const zg_api_t fake_api = {
    .struct_size = sizeof(zg_api_t),
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = ZG_ABI_MINOR,
    .send = fake_send,
};

static int setup_env(void **state)
{
    (void)state;
    /* Tests that want ZERG_PLUGIN_PATH set it themselves. */
    unsetenv("ZERG_PLUGIN_PATH");
    return 0;
}

/* ---- built-in descriptors ----------------------------------------------- */

static int bi_init(const zg_api_t *api, const char *conf, size_t len,
                   void **plugin_data, char *errbuf, size_t errlen)
{
    (void)api;
    (void)conf;
    (void)len;
    (void)errbuf;
    (void)errlen;
    *plugin_data = NULL;
    return 0;
}

static int bi_on_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    (void)c;
    (void)reactor_data;
    *conn_data = NULL;
    return 0;
}

static long bi_on_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    (void)c;
    (void)conn_data;
    return (long)in->total;
}

static void bi_on_close(zg_conn_t *c, void *conn_data, zg_close_reason_t reason)
{
    (void)c;
    (void)conn_data;
    (void)reason;
}

#define BI_DESC(nm)                                                            \
    {                                                                          \
        .magic = ZG_PLUGIN_MAGIC, .abi_major = ZG_ABI_MAJOR,                   \
        .abi_minor = ZG_ABI_MINOR, .struct_size = sizeof(zg_plugin_t),         \
        .name = (nm), .version = "builtin", .init = bi_init,                   \
        .on_accept = bi_on_accept, .on_data = bi_on_data,                      \
        .on_close = bi_on_close,                                               \
    }

static zg_plugin_t bi_desc = BI_DESC("bi_echo");

static const zg_plugin_t *bi_entry(void)
{
    return &bi_desc;
}

/* A mutable descriptor so one entry can serve several refusal cases. */
static zg_plugin_t bi_var;

static const zg_plugin_t *bi_var_entry(void)
{
    return &bi_var;
}

/* ---- tests -------------------------------------------------------------- */

static void test_name_valid(void **state)
{
    (void)state;
    assert_true(zg_ld_name_valid("a"));
    assert_true(zg_ld_name_valid("http_1-0"));
    assert_true(zg_ld_name_valid("0123456789abcdefghijklmnopqrstuv"));
    assert_false(zg_ld_name_valid("0123456789abcdefghijklmnopqrstuvw"));
    assert_false(zg_ld_name_valid(""));
    assert_false(zg_ld_name_valid(NULL));
    assert_false(zg_ld_name_valid("Http"));
    assert_false(zg_ld_name_valid("a b"));
    assert_false(zg_ld_name_valid("a.b"));
    assert_false(zg_ld_name_valid("a/b"));
    assert_false(zg_ld_name_valid("\xc3\xa9"));
}

static void test_search_dirs(void **state)
{
    char exe[PATH_MAX], want[PATH_MAX + 16];
    zg_loader_t ld;
    ssize_t n;

    (void)state;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(want, sizeof(want), "%s/plugins", exe);

    setenv("ZERG_PLUGIN_PATH", "/nonexistent::/tmp/zg_b/", 1);
    assert_int_equal(zg_loader_init(&ld, "extra/"), 0);
    unsetenv("ZERG_PLUGIN_PATH");
    assert_string_equal(ld.search_dirs[0], "extra");
    assert_string_equal(ld.search_dirs[1], "/nonexistent");
    assert_string_equal(ld.search_dirs[2], "/tmp/zg_b");
    assert_string_equal(ld.search_dirs[3], want);
    assert_string_equal(ld.search_dirs[4], ZG_PLUGINDIR);
    assert_null(ld.search_dirs[5]);
    zg_loader_free(&ld);

    assert_int_equal(zg_loader_init(&ld, NULL), 0);
    assert_string_equal(ld.search_dirs[0], want);
    assert_string_equal(ld.search_dirs[1], ZG_PLUGINDIR);
    assert_null(ld.search_dirs[2]);
    zg_loader_free(&ld);
    /* Freeing twice, or a zeroed loader, is harmless. */
    zg_loader_free(&ld);
}

static void test_good_loads_and_works(void **state)
{
    char real[PATH_MAX], rel[PATH_MAX], err[512], logpath[64], line[512];
    char want[PATH_MAX + 128];
    static const unsigned char a[] = "hello, ", b[] = "world";
    zg_view_t views[2] = {{a, 7}, {b, 5}};
    zg_input_t in = {views, 2, 0, 12};
    void *plugin_data = &plugin_data, *conn_data = &conn_data;
    zg_module_t *m = NULL;
    zg_loader_t ld;
    ssize_t n;
    int fd;

    (void)state;
    fx_real("fx_good", real);
    fx_rel("fx_good", rel);

    /* Capture the info line the loader logs. */
    snprintf(logpath, sizeof(logpath), "/tmp/zg_test_loader_log.XXXXXX");
    fd = mkstemp(logpath);
    assert_true(fd >= 0);
    assert_int_equal(zg_log_open(logpath), 0);

    assert_int_equal(zg_loader_init(&ld, NULL), 0);
    assert_int_equal(zg_loader_load(&ld, rel, &m, err, sizeof(err)), 0);
    assert_int_equal(zg_log_open("stderr"), 0);
    assert_non_null(m);
    assert_string_equal(err, "");
    assert_string_equal(m->path, real);
    assert_non_null(m->handle);
    assert_int_equal(ld.nmods, 1);
    assert_ptr_equal(ld.mods[0], m);
    assert_string_equal(m->desc.name, "fx_good");
    assert_string_equal(m->desc.version, "1.2.3");
    assert_int_equal(m->desc.struct_size, sizeof(zg_plugin_t));
    assert_null(m->desc.fini);
    assert_null(m->desc.reactor_init);

    n = read(fd, line, sizeof(line) - 1);
    assert_true(n > 0);
    line[n] = '\0';
    close(fd);
    unlink(logpath);
    snprintf(want, sizeof(want),
             ": plugin %s: loaded fx_good version 1.2.3, ABI 1.0\n", real);
    assert_non_null(strstr(line, "[info] "));
    assert_non_null(strstr(line, want));

    /* The callbacks run: init through the helper, then an echo. */
    assert_int_equal(
        zg_module_init(m, &fake_api, NULL, 0, &plugin_data, err, sizeof(err)),
        0);
    assert_null(plugin_data);
    assert_int_equal(m->desc.on_accept(FAKE_CONN, NULL, &conn_data), 0);
    assert_null(conn_data);
    fake_out_len = 0;
    assert_int_equal(m->desc.on_data(FAKE_CONN, conn_data, &in), 12);
    assert_int_equal(fake_out_len, 12);
    assert_memory_equal(fake_out, "hello, world", 12);
    m->desc.on_close(FAKE_CONN, conn_data, ZG_CLOSE_PEER);

    zg_loader_free(&ld);
    assert_false(is_mapped(real));
}

static void test_same_file_twice(void **state)
{
    char real[PATH_MAX], rel[PATH_MAX], dir[64], a[128], b[128];
    zg_module_t *m1 = NULL, *m2 = NULL, *m3 = NULL;
    char err[512];
    zg_loader_t ld;

    (void)state;
    fx_real("fx_good", real);
    fx_rel("fx_good", rel);
    assert_int_equal(zg_loader_init(&ld, FX_DIR), 0);
    assert_int_equal(zg_loader_load(&ld, rel, &m1, err, sizeof(err)), 0);
    assert_int_equal(zg_loader_load(&ld, "./" FX_DIR "/../plugins/fx_good.so",
                                    &m2, err, sizeof(err)),
                     0);
    assert_int_equal(zg_loader_load(&ld, real, &m3, err, sizeof(err)), 0);
    assert_ptr_equal(m1, m2);
    assert_ptr_equal(m1, m3);
    assert_int_equal(zg_loader_load(&ld, "fx_good", &m2, err, sizeof(err)), 0);
    assert_ptr_equal(m1, m2);
    assert_int_equal(ld.nmods, 1);

    /* A hard link is the same object to the dynamic linker. */
    make_tmpdir(dir);
    snprintf(a, sizeof(a), "%s/a.so", dir);
    snprintf(b, sizeof(b), "%s/b.so", dir);
    copy_file(real, a);
    assert_int_equal(link(a, b), 0);
    assert_int_equal(zg_loader_load(&ld, "fx_v10", &m1, err, sizeof(err)), 0);
    zg_loader_free(&ld);

    assert_int_equal(zg_loader_init(&ld, NULL), 0);
    assert_int_equal(zg_loader_load(&ld, a, &m1, err, sizeof(err)), 0);
    assert_int_equal(zg_loader_load(&ld, b, &m2, err, sizeof(err)), 0);
    assert_ptr_equal(m1, m2);
    assert_int_equal(ld.nmods, 1);
    zg_loader_free(&ld);

    unlink(a);
    unlink(b);
    rmdir(dir);
}

struct refusal {
    const char *fixture;
    int rc;
    char suffix[160];
};

static void test_refusals(void **state)
{
    struct refusal cases[] = {
        {"fx_noentry", -ENOEXEC, "no entry symbol zg_plugin_entry_v1"},
        {"fx_nullentry", -EINVAL, "entry returned NULL"},
        {"fx_badmagic", -ENOEXEC, ""},
        {"fx_major2", -EPROTO, ""},
        {"fx_minor99", -EPROTO, ""},
        {"fx_short", -EPROTO, ""},
        {"fx_flags", -EPROTO, ""},
        {"fx_dupname", -EEXIST, ""},
        {"fx_nocb", -EINVAL, "missing required callback on_data"},
        {"fx_badname", -EINVAL,
         "invalid name \"Bad Name\" (need [a-z0-9_-], 1..32 chars)"},
    };
    char real[PATH_MAX], rel[PATH_MAX], good[PATH_MAX];
    char err[1024], want[PATH_MAX + 256];
    zg_module_t *m;
    zg_loader_t ld;

    (void)state;
    snprintf(cases[2].suffix, sizeof(cases[2].suffix),
             "bad magic 0x12345678 (need 0x%08x)", ZG_PLUGIN_MAGIC);
    snprintf(cases[3].suffix, sizeof(cases[3].suffix), "ABI major 2 (need %d)",
             ZG_ABI_MAJOR);
    snprintf(cases[4].suffix, sizeof(cases[4].suffix),
             "needs ABI minor 99 (host has %d.%d)", ZG_ABI_MAJOR, ZG_ABI_MINOR);
    snprintf(cases[5].suffix, sizeof(cases[5].suffix),
             "descriptor size 12 (need at least %zu)",
             offsetof(zg_plugin_t, on_close) + sizeof(void *));
    snprintf(cases[6].suffix, sizeof(cases[6].suffix),
             "unknown flags 0x80000000 (known 0x%x)", ZG_PLUGIN_FLAGS_KNOWN);
    fx_real("fx_good", good);
    snprintf(cases[7].suffix, sizeof(cases[7].suffix),
             "name \"fx_good\" already loaded from %.100s", good);

    assert_int_equal(zg_loader_init(&ld, NULL), 0);
    fx_rel("fx_good", rel);
    assert_int_equal(zg_loader_load(&ld, rel, &m, err, sizeof(err)), 0);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx_real(cases[i].fixture, real);
        fx_rel(cases[i].fixture, rel);
        snprintf(want, sizeof(want), "plugin %s: %s", real, cases[i].suffix);
        m = (zg_module_t *)&ld;
        assert_int_equal(zg_loader_load(&ld, rel, &m, err, sizeof(err)),
                         cases[i].rc);
        assert_null(m);
        assert_string_equal(err, want);
        assert_int_equal(ld.nmods, 1);
        /* Refused modules are unmapped at once. */
        assert_false(is_mapped(real));
    }
    zg_loader_free(&ld);
}

static void test_not_found(void **state)
{
    char err[2048], want[2048], small[20];
    zg_module_t *m;
    zg_loader_t ld;
    size_t off;

    (void)state;
    assert_int_equal(zg_loader_init(&ld, FX_DIR), 0);

    /* A path. */
    assert_int_equal(
        zg_loader_load(&ld, FX_DIR "/nope.so", &m, err, sizeof(err)), -ENOENT);
    assert_null(m);
    assert_string_equal(err, "plugin \"" FX_DIR "/nope.so\": not found "
                             "(searched: " FX_DIR "/nope.so)");

    /* A name: every candidate of every directory is listed. */
    assert_int_equal(zg_loader_load(&ld, "nope", &m, err, sizeof(err)),
                     -ENOENT);
    off = (size_t)snprintf(want, sizeof(want),
                           "plugin \"nope\": not found (searched:");
    for (size_t i = 0; ld.search_dirs[i] != NULL; i++)
        off += (size_t)snprintf(
            want + off, sizeof(want) - off, "%s %s/nope.so, %s/nope/nope.so",
            i == 0 ? "" : ",", ld.search_dirs[i], ld.search_dirs[i]);
    snprintf(want + off, sizeof(want) - off, ")");
    assert_string_equal(err, want);
    assert_non_null(strstr(err, "(searched: " FX_DIR "/nope.so, " FX_DIR
                                "/nope/nope.so, "));

    /* With the suffix, the same candidates, not "nope.so.so". */
    assert_int_equal(zg_loader_load(&ld, "nope.so", &m, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err,
                           "plugin \"nope.so\": not found (searched: " FX_DIR
                           "/nope.so, " FX_DIR "/nope/nope.so, "));
    assert_null(strstr(err, ".so.so"));

    /* A short buffer is cut, never overrun. */
    assert_int_equal(zg_loader_load(&ld, "nope", &m, small, sizeof(small)),
                     -ENOENT);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(zg_loader_load(&ld, "nope", &m, NULL, 0), -ENOENT);

    assert_int_equal(zg_loader_load(&ld, "", &m, err, sizeof(err)), -EINVAL);
    assert_int_equal(zg_loader_load(&ld, NULL, &m, err, sizeof(err)), -EINVAL);
    assert_int_equal(ld.nmods, 0);
    zg_loader_free(&ld);
}

static void test_not_shared_object(void **state)
{
    char dir[64], path[128], real[PATH_MAX], err[1024], want[PATH_MAX + 64];
    zg_module_t *m;
    zg_loader_t ld;

    (void)state;
    make_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/x.so", dir);
    write_text(path, "this is not an ELF file\n");
    assert_non_null(realpath(path, real));

    assert_int_equal(zg_loader_init(&ld, dir), 0);
    assert_int_equal(zg_loader_load(&ld, "x", &m, err, sizeof(err)), -ENOEXEC);
    assert_null(m);
    snprintf(want, sizeof(want),
             "plugin %s: not a loadable shared object: ", real);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    assert_true(strlen(err) > strlen(want));
    assert_null(strchr(err, '\n'));
    assert_int_equal(ld.nmods, 0);
    zg_loader_free(&ld);

    unlink(path);
    rmdir(dir);
}

static void test_lookup_extra_dir(void **state)
{
    char dir[64], sub[128], flat[128], nested[128], real[PATH_MAX];
    char src[PATH_MAX], err[1024];
    zg_module_t *m;
    zg_loader_t ld;

    (void)state;
    make_tmpdir(dir);
    snprintf(flat, sizeof(flat), "%s/fx_good.so", dir);
    snprintf(sub, sizeof(sub), "%s/fx_v10", dir);
    snprintf(nested, sizeof(nested), "%s/fx_v10/fx_v10.so", dir);
    fx_real("fx_good", src);
    copy_file(src, flat);
    assert_int_equal(mkdir(sub, 0755), 0);
    fx_real("fx_v10", src);
    copy_file(src, nested);

    assert_int_equal(zg_loader_init(&ld, dir), 0);
    assert_int_equal(zg_loader_load(&ld, "fx_good", &m, err, sizeof(err)), 0);
    assert_non_null(realpath(flat, real));
    assert_string_equal(m->path, real);
    assert_string_equal(m->desc.name, "fx_good");
    assert_int_equal(zg_loader_load(&ld, "fx_v10", &m, err, sizeof(err)), 0);
    assert_non_null(realpath(nested, real));
    assert_string_equal(m->path, real);
    assert_string_equal(m->desc.name, "fx_v10");
    /* The file name works as well as the plugin name: ".so" is not added
     * a second time ("fx_v10.so.so"). */
    assert_int_equal(zg_loader_load(&ld, "fx_v10.so", &m, err, sizeof(err)), 0);
    assert_string_equal(m->path, real);
    assert_int_equal(zg_loader_load(&ld, "fx_good.so", &m, err, sizeof(err)),
                     0);
    assert_string_equal(m->desc.name, "fx_good");
    assert_int_equal(ld.nmods, 2);
    zg_loader_free(&ld);

    unlink(flat);
    unlink(nested);
    rmdir(sub);
    rmdir(dir);
}

static void test_lookup_env(void **state)
{
    char d1[64], d2[64], sub[128], flat[128], nested[128], src[PATH_MAX];
    char env[512], real[PATH_MAX], err[1024];
    zg_module_t *m;
    zg_loader_t ld;

    (void)state;
    make_tmpdir(d1);
    make_tmpdir(d2);
    snprintf(flat, sizeof(flat), "%s/fx_good.so", d1);
    snprintf(sub, sizeof(sub), "%s/fx_v10", d2);
    snprintf(nested, sizeof(nested), "%s/fx_v10/fx_v10.so", d2);
    fx_real("fx_good", src);
    copy_file(src, flat);
    assert_int_equal(mkdir(sub, 0755), 0);
    fx_real("fx_v10", src);
    copy_file(src, nested);

    snprintf(env, sizeof(env), "/nonexistent:%s:%s", d1, d2);
    setenv("ZERG_PLUGIN_PATH", env, 1);
    assert_int_equal(zg_loader_init(&ld, NULL), 0);
    unsetenv("ZERG_PLUGIN_PATH");

    assert_int_equal(zg_loader_load(&ld, "fx_good", &m, err, sizeof(err)), 0);
    assert_non_null(realpath(flat, real));
    assert_string_equal(m->path, real);
    assert_int_equal(zg_loader_load(&ld, "fx_v10", &m, err, sizeof(err)), 0);
    assert_non_null(realpath(nested, real));
    assert_string_equal(m->path, real);
    /* Not there: the env directories appear in the message. */
    assert_int_equal(zg_loader_load(&ld, "fx_nocb", &m, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "(searched: /nonexistent/fx_nocb.so, "
                                "/nonexistent/fx_nocb/fx_nocb.so, "));
    assert_non_null(strstr(err, d2));
    zg_loader_free(&ld);

    unlink(flat);
    unlink(nested);
    rmdir(sub);
    rmdir(d1);
    rmdir(d2);
}

static void test_v10_and_future(void **state)
{
    char rel[PATH_MAX], err[512];
    const unsigned char *bytes;
    zg_module_t *m;
    zg_loader_t ld;

    (void)state;
    assert_int_equal(zg_loader_init(&ld, NULL), 0);

    fx_rel("fx_v10", rel);
    assert_int_equal(zg_loader_load(&ld, rel, &m, err, sizeof(err)), 0);
    assert_string_equal(m->desc.name, "fx_v10");
    assert_int_equal(m->desc.struct_size,
                     offsetof(zg_plugin_t, on_close) + sizeof(void *));
    /* Whatever the host appended after 1.0 reads as zero. */
    bytes = (const unsigned char *)&m->desc;
    for (size_t i = m->desc.struct_size; i < sizeof(zg_plugin_t); i++)
        assert_int_equal(bytes[i], 0);
    assert_null(m->desc.fini);
    assert_null(m->desc.reactor_init);
    assert_null(m->desc.reactor_fini);
    assert_non_null(m->desc.on_data);
    assert_non_null(m->desc.on_close);

    /* A descriptor larger than the host's: loads, nothing overrun, its own
     * size is kept so the host knows what the plugin was built with. */
    fx_rel("fx_future", rel);
    assert_int_equal(zg_loader_load(&ld, rel, &m, err, sizeof(err)), 0);
    assert_string_equal(m->desc.name, "fx_future");
    assert_int_equal(m->desc.struct_size,
                     sizeof(zg_plugin_t) + 2 * sizeof(void (*)(void)));
    assert_non_null(m->desc.on_close);
    assert_int_equal(ld.nmods, 2);
    zg_loader_free(&ld);
}

/* A plugin built against the ABI 1.1 header: no host-owned config, so
 * init gets the "config" object as raw JSON text, as it always did. */
static void test_v11_raw_json(void **state)
{
    static const char text[] = "{\"k\":\"v\",\"n\":[1,2]}";
    char rel[PATH_MAX], err[512];
    void *plugin_data = NULL;
    zg_module_t *m;
    zg_loader_t ld;

    (void)state;
    assert_int_equal(zg_loader_init(&ld, NULL), 0);
    fx_rel("fx_v11", rel);
    assert_int_equal(zg_loader_load(&ld, rel, &m, err, sizeof(err)), 0);
    assert_string_equal(m->desc.name, "fx_v11");
    assert_int_equal(m->desc.abi_minor, 1);
    /* The 1.1 descriptor ends where 1.2 appended conf_keys. */
    assert_int_equal(m->desc.struct_size, offsetof(zg_plugin_t, conf_keys));
    assert_non_null(m->desc.on_drain);
    assert_null(m->desc.conf_keys);
    assert_int_equal(m->desc.conf_size, 0);
    assert_null(m->desc.init_conf);
    assert_int_equal(zg_module_init(m, &fake_api, text, sizeof(text) - 1,
                                    &plugin_data, err, sizeof(err)),
                     0);
    assert_non_null(plugin_data);
    /* fx_v11 keeps "config " + what init got + "\n" after a length. */
    assert_memory_equal((const char *)plugin_data + sizeof(size_t),
                        "config {\"k\":\"v\",\"n\":[1,2]}\n",
                        sizeof(text) - 1 + 8);
    m->desc.fini(plugin_data);
    zg_loader_free(&ld);
}

static void test_builtin(void **state)
{
    char rel[PATH_MAX], good[PATH_MAX], err[512], want[PATH_MAX + 128];
    zg_module_t *m, *file;
    zg_loader_t ld;

    (void)state;
    assert_int_equal(zg_loader_init(&ld, NULL), 0);
    assert_int_equal(zg_loader_builtin(&ld, bi_entry, &m, err, sizeof(err)), 0);
    assert_string_equal(m->path, "<builtin:bi_echo>");
    assert_null(m->handle);
    assert_ptr_equal(m->desc.on_data, bi_on_data);
    assert_int_equal(ld.nmods, 1);

    /* Registering it again (a second listener) returns the first. */
    {
        zg_module_t *first = m;

        assert_int_equal(zg_loader_builtin(&ld, bi_entry, &m, err, sizeof(err)),
                         0);
        assert_ptr_equal(m, first);
        assert_int_equal(ld.nmods, 1);
    }

    /* A file and a built-in share the name space. */
    fx_rel("fx_good", rel);
    fx_real("fx_good", good);
    assert_int_equal(zg_loader_load(&ld, rel, &file, err, sizeof(err)), 0);
    bi_var = (zg_plugin_t)BI_DESC("fx_good");
    assert_int_equal(zg_loader_builtin(&ld, bi_var_entry, &m, err, sizeof(err)),
                     -EEXIST);
    snprintf(want, sizeof(want),
             "plugin <builtin>: name \"fx_good\" already loaded from %s", good);
    assert_string_equal(err, want);

    /* Built-ins go through the same validator. */
    bi_var = (zg_plugin_t)BI_DESC("bi_bad");
    bi_var.magic = 0;
    assert_int_equal(zg_loader_builtin(&ld, bi_var_entry, &m, err, sizeof(err)),
                     -ENOEXEC);
    snprintf(want, sizeof(want),
             "plugin <builtin>: bad magic 0x00000000 (need 0x%08x)",
             ZG_PLUGIN_MAGIC);
    assert_string_equal(err, want);

    bi_var = (zg_plugin_t)BI_DESC("bi_bad");
    bi_var.on_close = NULL;
    assert_int_equal(zg_loader_builtin(&ld, bi_var_entry, &m, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "plugin <builtin>: missing required callback "
                             "on_close");

    bi_var = (zg_plugin_t)BI_DESC("bi_bad");
    bi_var.init = NULL;
    bi_var.on_accept = NULL;
    assert_int_equal(zg_loader_builtin(&ld, bi_var_entry, &m, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err,
                        "plugin <builtin>: missing required callback init");

    /* Plugin-supplied names are shown on one line, cut when long. */
    bi_var = (zg_plugin_t)BI_DESC("a\nb");
    assert_int_equal(zg_loader_builtin(&ld, bi_var_entry, &m, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "plugin <builtin>: invalid name \"a?b\" (need "
                             "[a-z0-9_-], 1..32 chars)");
    bi_var = (zg_plugin_t)BI_DESC(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(zg_loader_builtin(&ld, bi_var_entry, &m, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "plugin <builtin>: invalid name "
                             "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..."
                             "\" (need [a-z0-9_-], 1..32 chars)");
    bi_var = (zg_plugin_t)BI_DESC(NULL);
    assert_int_equal(zg_loader_builtin(&ld, bi_var_entry, &m, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "plugin <builtin>: invalid name \"(null)\" (need "
                             "[a-z0-9_-], 1..32 chars)");

    assert_int_equal(zg_loader_builtin(&ld, NULL, &m, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(ld.nmods, 2);
    zg_loader_free(&ld);
}

static void test_module_init(void **state)
{
    char rel[PATH_MAX], real[PATH_MAX], err[512], want[PATH_MAX + 64];
    void *plugin_data = &plugin_data;
    zg_module_t *m;
    zg_loader_t ld;

    (void)state;
    assert_int_equal(zg_loader_init(&ld, NULL), 0);

    /* Loading does not run init: a plugin that refuses every config
     * loads fine, and refuses only when the engine calls init. */
    fx_rel("fx_initfail", rel);
    fx_real("fx_initfail", real);
    assert_int_equal(zg_loader_load(&ld, rel, &m, err, sizeof(err)), 0);
    assert_int_equal(
        zg_module_init(m, &fake_api, "{}", 2, &plugin_data, err, sizeof(err)),
        -EINVAL);
    assert_null(plugin_data);
    snprintf(want, sizeof(want),
             "plugin %s: init refused its config: port must be set", real);
    assert_string_equal(err, want);

    assert_int_equal(zg_loader_builtin(&ld, bi_entry, &m, err, sizeof(err)), 0);
    plugin_data = &plugin_data;
    assert_int_equal(zg_module_init(m, &fake_api, "{\"a\":1}", 7, &plugin_data,
                                    err, sizeof(err)),
                     0);
    assert_null(plugin_data);
    assert_int_equal(zg_module_init(NULL, &fake_api, NULL, 0, &plugin_data, err,
                                    sizeof(err)),
                     -EINVAL);
    zg_loader_free(&ld);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_search_dirs),
        cmocka_unit_test(test_good_loads_and_works),
        cmocka_unit_test(test_same_file_twice),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_not_shared_object),
        cmocka_unit_test(test_lookup_extra_dir),
        cmocka_unit_test(test_lookup_env),
        cmocka_unit_test(test_v10_and_future),
        cmocka_unit_test(test_v11_raw_json),
        cmocka_unit_test(test_builtin),
        cmocka_unit_test(test_module_init),
    };

    return cmocka_run_group_tests(tests, setup_env, NULL);
}
