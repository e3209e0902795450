/* SPDX-License-Identifier: MIT */
/*
 * Description: loader test fixture. Exports the entry symbol, but the entry
 * returns NULL instead of a descriptor.
 */
#include <stddef.h>

#include "zerg/plugin.h"

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return NULL;
}
