/* SPDX-License-Identifier: MIT */
/*
 * Description: the table of built-in modules that ./configure generates
 * (core/zerg_modules.c, like nginx's objs/ngx_modules.c): one entry per
 * module compiled into the binary, and the names left out with
 * --without-module, so that naming one gives a clear error.
 */
#ifndef ZG_MODTABLE_H
#define ZG_MODTABLE_H

#include "zerg/plugin.h"

typedef struct zg_builtin_s {
    const char *name;         /* the module's name, as in "module": NAME */
    zg_plugin_entry_fn entry; /* returns its descriptor */
} zg_builtin_t;

/* Compiled-in modules, ended by {NULL, NULL}. */
extern const zg_builtin_t zg_builtin_modules[];

/* Built-in modules left out by configure, ended by NULL. */
extern const char *const zg_builtin_excluded[];

#endif /* ZG_MODTABLE_H */
