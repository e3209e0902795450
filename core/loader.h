/* SPDX-License-Identifier: MIT */
/*
 * Description: the plugin loader. Finds a plugin by name or path, dlopens
 * it, validates its descriptor against this host's ABI, and keeps the
 * validated copy. Main thread only, at start-up; nothing is ever dlclosed
 * while the process runs reactors.
 */
#ifndef ZG_LOADER_H
#define ZG_LOADER_H

#include <stddef.h>
#include "zerg/plugin.h"

/* A loaded, validated plugin module (one per .so file). */
typedef struct zg_module_s {
    char *path;       /* resolved file path, or "<builtin:name>" */
    void *handle;     /* dlopen handle, NULL for built-ins */
    zg_plugin_t desc; /* host-size copy; fields the plugin lacks are zero */
} zg_module_t;

typedef struct zg_loader_s {
    zg_module_t *mods[64];
    size_t nmods;
    char **search_dirs; /* NULL-terminated list of directories, owned */
} zg_loader_t;

/*
 * Initialise a loader. Plugins named without a '/' are looked up, in order,
 * as <dir>/<name>.so and <dir>/<name>/<name>.so (a name given as "x.so" is
 * looked up as "x") in: each directory of the colon-separated environment
 * variable ZERG_PLUGIN_PATH, then <dir of /proc/self/exe>/plugins, then
 * ZG_PLUGINDIR (configure's --plugindir). extra_dir, if not NULL, is
 * searched first (tests).
 */
int zg_loader_init(zg_loader_t *ld, const char *extra_dir);

/*
 * Resolve spec (a name, or a path if it contains '/'), load it if this file
 * is not loaded yet, validate it, and return the module in *out (owned by
 * the loader). On refusal returns -errno (ENOENT, ENOEXEC, EPROTO, EEXIST,
 * EINVAL) and writes one line into err, naming the file and the found and
 * needed values, e.g.:
 *   "plugin \"nope\": not found (searched: /a/nope.so, /a/nope/nope.so, ...)"
 *   "plugin /x/bad.so: not a loadable shared object: <dlerror()>"
 *   "plugin /x/bad.so: no entry symbol zg_plugin_entry_v1"
 *   "plugin /x/bad.so: entry returned NULL"
 *   "plugin /x/bad.so: bad magic 0x12345678 (need 0x7a657267)"
 *   "plugin /x/bad.so: ABI major 2 (need 1)"
 *   "plugin /x/bad.so: needs ABI minor 9 (host has 1.0)"
 *   "plugin /x/bad.so: descriptor size 12 (need at least 64)"
 *   "plugin /x/bad.so: unknown flags 0x4 (known 0x0)"
 *   "plugin /x/bad.so: name \"echo\" already loaded from /y/echo.so"
 *   "plugin /x/bad.so: missing required callback on_data"
 *   "plugin /x/bad.so: invalid name \"Bad Name\" (need [a-z0-9_-], 1..32
 * chars)" The minimum accepted struct_size is that of the ABI 1.0 descriptor
 * (all fields through on_close).
 */
int zg_loader_load(zg_loader_t *ld, const char *spec, zg_module_t **out,
                   char *err, size_t errlen);

/* Register a compiled-in plugin or module through the same validation;
 * registering the same one again returns the first registration. */
int zg_loader_builtin(zg_loader_t *ld, zg_plugin_entry_fn entry,
                      zg_module_t **out, char *err, size_t errlen);

/* Free everything and dlclose. Only after every reactor has stopped. */
void zg_loader_free(zg_loader_t *ld);

/*
 * Call m's init with the listener's config (conf, len bytes, NUL-terminated;
 * NULL means "{}"). On success returns 0 and the plugin's state is in
 * *plugin_data, to be handed to fini later. If init refuses, *plugin_data is
 * NULL, err gets "plugin <path>: init refused its config: <reason>" and the
 * return is -EINVAL. Main thread, once per listener, before any socket opens.
 */
int zg_module_init(zg_module_t *m, const zg_api_t *api, const char *conf,
                   size_t len, void **plugin_data, char *err, size_t errlen);

/*
 * The same for a plugin or module with host-owned configuration (ABI 1.2):
 * call m's init_conf with conf, the struct the host filled from its key
 * table. Refusals read "module|plugin <path>: init refused its config:
 * <reason>". Main thread.
 */
int zg_module_init_conf(zg_module_t *m, const zg_api_t *api, const void *conf,
                        void **plugin_data, char *err, size_t errlen);

#endif /* ZG_LOADER_H */
