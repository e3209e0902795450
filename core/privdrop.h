/* SPDX-License-Identifier: MIT */
/*
 * Description: dropping root ("user", "group" keys): after the listeners
 * are bound, the logs opened and the plugins initialised, and before any
 * thread starts, become that user for good. Main thread only.
 */
#ifndef ZG_PRIVDROP_H
#define ZG_PRIVDROP_H

#include <stddef.h>

/*
 * Switch the process to user (and group, or the user's primary group if
 * NULL): supplementary groups, then gid, then uid, then check there is no
 * way back (setuid(0) must fail). Already running as that user: nothing to
 * do. Returns 0, or -errno with one line in err naming the user and why;
 * the caller must not go on serving then.
 */
int zg_privdrop(const char *user, const char *group, char *err, size_t errlen);

#endif /* ZG_PRIVDROP_H */
