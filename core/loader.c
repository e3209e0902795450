/* SPDX-License-Identifier: MIT */
/*
 * Description: the plugin loader (see loader.h). Resolves a plugin name to a
 * file, dlopens it, checks its descriptor against this host's ABI and keeps
 * a host-size copy. Start-up only; modules stay mapped until zg_loader_free.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"
#include "zerg_build.h"

/* The ABI 1.0 descriptor: every field through on_close. A shorter
 * struct_size cannot come from a 1.x plugin. */
#define ZG_PLUGIN_V10_SIZE (offsetof(zg_plugin_t, on_close) + sizeof(void *))

#define ZG_PLUGIN_NAME_MAX 32
#define ZG_LOADER_MAX_MODS                                                     \
    (sizeof(((zg_loader_t *)0)->mods) / sizeof(((zg_loader_t *)0)->mods[0]))

/* Write one message line into err, if the caller gave room for one. */
static void zg_ld_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void zg_ld_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Append to the message in err at offset off; returns the new offset,
 * never past the terminating NUL of a full buffer. */
static size_t zg_ld_append(char *err, size_t errlen, size_t off,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t zg_ld_append(char *err, size_t errlen, size_t off,
                           const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL || errlen == 0 || off >= errlen - 1)
        return off;
    va_start(ap, fmt);
    n = vsnprintf(err + off, errlen - off, fmt, ap);
    va_end(ap);
    if (n < 0)
        return off;
    off += (size_t)n;
    return off < errlen - 1 ? off : errlen - 1;
}

/*
 * Make a plugin-supplied string safe for a one-line message: control and
 * non-ASCII bytes become '?', and anything longer than buf holds is cut
 * with "...". Returns buf (or a constant for NULL).
 */
static const char *zg_ld_printable(const char *s, char *buf, size_t n)
{
    size_t i;

    if (s == NULL)
        return "(null)";
    for (i = 0; s[i] != '\0' && i < n - 1; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[i] = '\0';
    if (s[i] != '\0' && n > 4)
        memcpy(buf + n - 4, "...", 4);
    return buf;
}

/* A plugin name is 1..32 characters of [a-z0-9_-]. */
static int zg_ld_name_valid(const char *name)
{
    size_t i;

    if (name == NULL)
        return 0;
    for (i = 0; name[i] != '\0'; i++) {
        char ch = name[i];

        if (i >= ZG_PLUGIN_NAME_MAX)
            return 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return i > 0;
}

/*
 * Validate the descriptor raw returned by an entry function and copy it
 * into the zeroed host-size *desc. label names the module in messages.
 * Returns 0 or -errno with one line in err. The checks run in a fixed
 * order so a plugin with several faults always reports the same one.
 */
static int zg_ld_check(const zg_loader_t *ld, const char *label,
                       const zg_plugin_t *raw, zg_plugin_t *desc, char *err,
                       size_t errlen)
{
    const char *missing = NULL;
    char shown[48];
    uint32_t unknown;
    size_t i, n;

    if (raw == NULL) {
        zg_ld_err(err, errlen, "plugin %s: entry returned NULL", label);
        return -EINVAL;
    }
    if (raw->magic != ZG_PLUGIN_MAGIC) {
        zg_ld_err(err, errlen, "plugin %s: bad magic 0x%08x (need 0x%08x)",
                  label, (unsigned)raw->magic, (unsigned)ZG_PLUGIN_MAGIC);
        return -ENOEXEC;
    }
    if (raw->abi_major != ZG_ABI_MAJOR) {
        zg_ld_err(err, errlen, "plugin %s: ABI major %u (need %u)", label,
                  (unsigned)raw->abi_major, (unsigned)ZG_ABI_MAJOR);
        return -EPROTO;
    }
    if (raw->abi_minor > ZG_ABI_MINOR) {
        zg_ld_err(err, errlen, "plugin %s: needs ABI minor %u (host has %u.%u)",
                  label, (unsigned)raw->abi_minor, (unsigned)ZG_ABI_MAJOR,
                  (unsigned)ZG_ABI_MINOR);
        return -EPROTO;
    }
    if (raw->struct_size < ZG_PLUGIN_V10_SIZE) {
        zg_ld_err(err, errlen,
                  "plugin %s: descriptor size %u (need at least %zu)", label,
                  (unsigned)raw->struct_size, ZG_PLUGIN_V10_SIZE);
        return -EPROTO;
    }

    /* Read no further than the plugin declared: fields appended after it
     * was built stay zero, fields newer than this host are not copied. */
    n = raw->struct_size < sizeof(*desc) ? raw->struct_size : sizeof(*desc);
    memset(desc, 0, sizeof(*desc));
    memcpy(desc, raw, n);

    unknown = desc->flags & ~(uint32_t)ZG_PLUGIN_FLAGS_KNOWN;
    if (unknown != 0) {
        zg_ld_err(err, errlen, "plugin %s: unknown flags 0x%x (known 0x%x)",
                  label, (unsigned)unknown, (unsigned)ZG_PLUGIN_FLAGS_KNOWN);
        return -EPROTO;
    }
    if (!zg_ld_name_valid(desc->name)) {
        zg_ld_err(err, errlen,
                  "plugin %s: invalid name \"%s\" (need [a-z0-9_-], 1..%d "
                  "chars)",
                  label, zg_ld_printable(desc->name, shown, sizeof(shown)),
                  ZG_PLUGIN_NAME_MAX);
        return -EINVAL;
    }
    for (i = 0; i < ld->nmods; i++) {
        if (strcmp(ld->mods[i]->desc.name, desc->name) == 0) {
            zg_ld_err(err, errlen,
                      "plugin %s: name \"%s\" already loaded from %s", label,
                      desc->name, ld->mods[i]->path);
            return -EEXIST;
        }
    }
    if (desc->conf_keys != NULL &&
        (desc->init_conf == NULL || desc->conf_size == 0)) {
        zg_ld_err(err, errlen,
                  "plugin %s: conf_keys without init_conf and conf_size",
                  label);
        return -EINVAL;
    }
    if (desc->init == NULL && desc->conf_keys == NULL)
        missing = "init";
    else if (desc->flags & ZG_PLUGIN_MODULE) {
        if (desc->on_admit == NULL && desc->on_preread == NULL &&
            desc->on_log == NULL)
            missing = "on_admit, on_preread or on_log (a module)";
    } else if (desc->on_accept == NULL)
        missing = "on_accept";
    else if (desc->on_data == NULL)
        missing = "on_data";
    else if (desc->on_close == NULL)
        missing = "on_close";
    if (missing != NULL) {
        zg_ld_err(err, errlen, "plugin %s: missing required callback %s", label,
                  missing);
        return -EINVAL;
    }
    return 0;
}

/* Record a validated module and log it. Returns 0 or -ENOMEM. */
static int zg_ld_add(zg_loader_t *ld, const char *path, void *handle,
                     const zg_plugin_t *desc, zg_module_t **out, char *err,
                     size_t errlen)
{
    zg_module_t *m;
    char version[48];

    m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto fail;
    m->path = strdup(path);
    if (m->path == NULL)
        goto fail;
    m->handle = handle;
    m->desc = *desc;
    ld->mods[ld->nmods++] = m;
    zg_log(ZG_LOG_INFO, "%s %s: loaded %s version %s, ABI %u.%u",
           (m->desc.flags & ZG_PLUGIN_MODULE) ? "module" : "plugin", m->path,
           m->desc.name,
           zg_ld_printable(m->desc.version, version, sizeof(version)),
           (unsigned)m->desc.abi_major, (unsigned)m->desc.abi_minor);
    if (out != NULL)
        *out = m;
    return 0;

fail:
    free(m);
    zg_ld_err(err, errlen, "plugin %s: out of memory", path);
    return -ENOMEM;
}

/*
 * Find the file for spec and canonicalise it into real (PATH_MAX bytes).
 * A spec containing '/' is a path; anything else is a name, with or
 * without a ".so" suffix, looked up in ld->search_dirs. Returns 0, or
 * -ENOENT with every path tried in err.
 */
static int zg_ld_resolve(const zg_loader_t *ld, const char *spec, char *real,
                         char *err, size_t errlen)
{
    char cand[PATH_MAX];
    char *const *dir;
    size_t off, len;
    int first = 1;
    int n, rc;

    if (strchr(spec, '/') != NULL) {
        if (realpath(spec, real) != NULL)
            return 0;
        rc = -errno;
        if (rc == -ENOENT || rc == -ENOTDIR)
            zg_ld_err(err, errlen, "plugin \"%s\": not found (searched: %s)",
                      spec, spec);
        else
            zg_ld_err(err, errlen, "plugin \"%s\": %s", spec, strerror(-rc));
        return rc;
    }

    /* "upper.so" names the same plugin as "upper": the suffix is not
     * added twice. */
    len = strlen(spec);
    if (len > 3 && strcmp(spec + len - 3, ".so") == 0)
        len -= 3;
    if (len > INT_MAX)
        len = INT_MAX;
    off = zg_ld_append(err, errlen, 0,
                       "plugin \"%s\": not found (searched:", spec);
    for (dir = ld->search_dirs; dir != NULL && *dir != NULL; dir++) {
        for (int nested = 0; nested < 2; nested++) {
            if (nested)
                n = snprintf(cand, sizeof(cand), "%s/%.*s/%.*s.so", *dir,
                             (int)len, spec, (int)len, spec);
            else
                n = snprintf(cand, sizeof(cand), "%s/%.*s.so", *dir, (int)len,
                             spec);
            if (n < 0 || (size_t)n >= sizeof(cand))
                continue;
            if (realpath(cand, real) != NULL)
                return 0;
            off =
                zg_ld_append(err, errlen, off, "%s %s", first ? "" : ",", cand);
            first = 0;
        }
    }
    zg_ld_append(err, errlen, off, ")");
    return -ENOENT;
}

/* Whether the code at addr is mapped from the file real is now: 1 yes,
 * 0 no (the file was replaced since it was loaded), -1 unknown. The
 * dynamic linker hands back the object already loaded under a name (an
 * older generation's) without looking at the file again. Inode numbers
 * only: the device /proc/self/maps shows is the file system's, which is
 * not stat()'s on btrfs (a device per subvolume); a file renamed over the
 * old one lives beside it, where the old one's inode is still in use. */
static int zg_ld_current(const void *addr, const char *real)
{
    uintptr_t a = (uintptr_t)addr;
    struct stat st;
    char line[PATH_MAX + 128];
    FILE *f;
    int rc = -1;

    if (stat(real, &st) < 0 || (f = fopen("/proc/self/maps", "re")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long lo, hi, ino;

        /* "lo-hi perms offset maj:min inode path" */
        if (sscanf(line, "%llx-%llx %*s %*s %*x:%*x %llu", &lo, &hi, &ino) != 3)
            continue;
        if (a < lo || a >= hi)
            continue;
        rc = ino == (unsigned long long)st.st_ino;
        break;
    }
    fclose(f);
    return rc;
}

int zg_loader_load(zg_loader_t *ld, const char *spec, zg_module_t **out,
                   char *err, size_t errlen)
{
    char real[PATH_MAX];
    zg_plugin_entry_fn entry;
    zg_plugin_t desc;
    void *handle = NULL;
    void *sym;
    size_t i;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (ld == NULL || spec == NULL || spec[0] == '\0') {
        zg_ld_err(err, errlen, "plugin \"\": empty name");
        return -EINVAL;
    }
    rc = zg_ld_resolve(ld, spec, real, err, errlen);
    if (rc < 0)
        goto fail;
    if (err != NULL && errlen > 0)
        err[0] = '\0';

    for (i = 0; i < ld->nmods; i++) {
        if (strcmp(ld->mods[i]->path, real) == 0)
            goto found;
    }
    if (ld->nmods == ZG_LOADER_MAX_MODS) {
        zg_ld_err(err, errlen, "plugin %s: too many plugins (max %zu)", real,
                  ZG_LOADER_MAX_MODS);
        rc = -ENOSPC;
        goto fail;
    }

    dlerror();
    handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();

        zg_ld_err(err, errlen, "plugin %s: not a loadable shared object: %s",
                  real, why != NULL ? why : "unknown error");
        rc = -ENOEXEC;
        goto fail;
    }
    /* The same object reached by another name (a hard link): the dynamic
     * linker handed back the existing handle with one more reference. */
    for (i = 0; i < ld->nmods; i++) {
        if (ld->mods[i]->handle == handle) {
            dlclose(handle);
            goto found;
        }
    }

    sym = dlsym(handle, ZG_PLUGIN_ENTRY_NAME);
    if (sym == NULL) {
        zg_ld_err(err, errlen, "plugin %s: no entry symbol %s", real,
                  ZG_PLUGIN_ENTRY_NAME);
        rc = -ENOEXEC;
        goto fail;
    }
    /* POSIX guarantees a data pointer from dlsym converts to a function
     * pointer. */
    entry = (zg_plugin_entry_fn)sym;
    if (zg_ld_current(sym, real) == 0)
        zg_log(ZG_LOG_WARN,
               "plugin %s: the file was replaced since it was loaded; the "
               "code loaded then goes on running (the dynamic linker keeps "
               "one copy per path): restart zerg, or upgrade it in place "
               "(zerg -s upgrade), to run the new file",
               real);
    rc = zg_ld_check(ld, real, entry(), &desc, err, errlen);
    if (rc < 0)
        goto fail;
    rc = zg_ld_add(ld, real, handle, &desc, out, err, errlen);
    if (rc < 0)
        goto fail;
    return 0;

found:
    if (out != NULL)
        *out = ld->mods[i];
    return 0;

fail:
    /* Nothing of the plugin ran but its constructors and the entry, and
     * nothing keeps a pointer into it: unmapping is safe. */
    if (handle != NULL)
        dlclose(handle);
    return rc;
}

int zg_loader_builtin(zg_loader_t *ld, zg_plugin_entry_fn entry,
                      zg_module_t **out, char *err, size_t errlen)
{
    char path[sizeof("<builtin:>") + ZG_PLUGIN_NAME_MAX];
    const zg_plugin_t *raw;
    zg_plugin_t desc;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (ld == NULL || entry == NULL) {
        zg_ld_err(err, errlen, "plugin <builtin>: no entry function");
        return -EINVAL;
    }
    /* A built-in used by several listeners is registered once. */
    raw = entry();
    if (raw != NULL && raw->name != NULL) {
        snprintf(path, sizeof(path), "<builtin:%s>", raw->name);
        for (size_t i = 0; i < ld->nmods; i++) {
            if (strcmp(ld->mods[i]->path, path) == 0) {
                if (out != NULL)
                    *out = ld->mods[i];
                return 0;
            }
        }
    }
    if (ld->nmods == ZG_LOADER_MAX_MODS) {
        zg_ld_err(err, errlen, "plugin <builtin>: too many plugins (max %zu)",
                  ZG_LOADER_MAX_MODS);
        return -ENOSPC;
    }
    rc = zg_ld_check(ld, "<builtin>", entry(), &desc, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "<builtin:%s>", desc.name);
    return zg_ld_add(ld, path, NULL, &desc, out, err, errlen);
}

/* Append a copy of the first len bytes of dir to ld->search_dirs (which
 * has room), without trailing slashes. Returns 0 or -ENOMEM. */
static int zg_ld_add_dir(zg_loader_t *ld, size_t *n, const char *dir,
                         size_t len)
{
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0)
        return 0;
    ld->search_dirs[*n] = strndup(dir, len);
    if (ld->search_dirs[*n] == NULL)
        return -ENOMEM;
    (*n)++;
    return 0;
}

int zg_loader_init(zg_loader_t *ld, const char *extra_dir)
{
    const char *env, *p, *colon;
    char exe[PATH_MAX + sizeof("/plugins")];
    size_t cap = 4, n = 0;
    ssize_t len;
    char *slash;

    memset(ld, 0, sizeof(*ld));
    /* A setuid or setcap process must not load code from the caller's
     * environment. */
    env = secure_getenv("ZERG_PLUGIN_PATH");
    for (p = env; p != NULL && *p != '\0'; p++)
        cap += *p == ':';
    cap += env != NULL;
    ld->search_dirs = calloc(cap, sizeof(*ld->search_dirs));
    if (ld->search_dirs == NULL)
        goto fail;

    if (extra_dir != NULL &&
        zg_ld_add_dir(ld, &n, extra_dir, strlen(extra_dir)) < 0)
        goto fail;
    for (p = env; p != NULL; p = colon != NULL ? colon + 1 : NULL) {
        colon = strchr(p, ':');
        if (zg_ld_add_dir(ld, &n, p,
                          colon != NULL ? (size_t)(colon - p) : strlen(p)) < 0)
            goto fail;
    }
    len = readlink("/proc/self/exe", exe, PATH_MAX - 1);
    if (len > 0) {
        exe[len] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            strcpy(slash, "/plugins");
            if (zg_ld_add_dir(ld, &n, exe, strlen(exe)) < 0)
                goto fail;
        }
    }
    if (zg_ld_add_dir(ld, &n, ZG_PLUGINDIR, strlen(ZG_PLUGINDIR)) < 0)
        goto fail;
    return 0;

fail:
    zg_loader_free(ld);
    return -ENOMEM;
}

void zg_loader_free(zg_loader_t *ld)
{
    size_t i;

    if (ld == NULL)
        return;
    for (i = 0; i < ld->nmods; i++) {
        if (ld->mods[i]->handle != NULL)
            dlclose(ld->mods[i]->handle);
        free(ld->mods[i]->path);
        free(ld->mods[i]);
    }
    for (i = 0; ld->search_dirs != NULL && ld->search_dirs[i] != NULL; i++)
        free(ld->search_dirs[i]);
    free(ld->search_dirs);
    memset(ld, 0, sizeof(*ld));
}

/* m's init or init_conf returned rc with why (whylen bytes, the plugin's
 * text): one line in err, -EINVAL. */
static int zg_ld_refused(const zg_module_t *m, char *why, size_t whylen, int rc,
                         char *err, size_t errlen)
{
    const char *kind = (m->desc.flags & ZG_PLUGIN_MODULE) ? "module" : "plugin";

    /* The reason is the plugin's text: keep it to one terminated line. */
    why[whylen - 1] = '\0';
    for (char *q = why; *q != '\0'; q++) {
        if (*q == '\n' || *q == '\r' || *q == '\t')
            *q = ' ';
    }
    if (why[0] != '\0')
        zg_ld_err(err, errlen, "%s %s: init refused its config: %s", kind,
                  m->path, why);
    else
        zg_ld_err(err, errlen, "%s %s: init refused its config: returned %d",
                  kind, m->path, rc);
    return -EINVAL;
}

int zg_module_init(zg_module_t *m, const zg_api_t *api, const char *conf,
                   size_t len, void **plugin_data, char *err, size_t errlen)
{
    char why[256];
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (m == NULL || api == NULL || plugin_data == NULL ||
        m->desc.init == NULL) {
        zg_ld_err(err, errlen, "plugin %s: cannot init",
                  m != NULL ? m->path : "?");
        return -EINVAL;
    }
    if (conf == NULL) {
        conf = "{}";
        len = 2;
    }
    memset(why, 0, sizeof(why));
    *plugin_data = NULL;
    rc = m->desc.init(api, conf, len, plugin_data, why, sizeof(why));
    if (rc == 0)
        return 0;
    *plugin_data = NULL;
    return zg_ld_refused(m, why, sizeof(why), rc, err, errlen);
}

int zg_module_init_conf(zg_module_t *m, const zg_api_t *api, const void *conf,
                        void **plugin_data, char *err, size_t errlen)
{
    char why[256];
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    memset(why, 0, sizeof(why));
    *plugin_data = NULL;
    rc = m->desc.init_conf(api, conf, plugin_data, why, sizeof(why));
    if (rc == 0)
        return 0;
    *plugin_data = NULL;
    return zg_ld_refused(m, why, sizeof(why), rc, err, errlen);
}
