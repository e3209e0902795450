/* SPDX-License-Identifier: MIT */
/*
 * Description: the error log. One line per event in nginx's shape,
 * "YYYY/MM/DD HH:MM:SS [level] pid#tid: message", written with a single
 * write(2) so lines from different threads never interleave. Any thread.
 */
#ifndef ZG_LOG_H
#define ZG_LOG_H

#include <stdarg.h>
#include "zerg/plugin.h"

/* Current level; lines above it are dropped. Set once at start-up. */
extern int zg_log_level;

/* Direct the log to path ("stderr" or a file, opened O_APPEND). Returns 0
 * or -errno. Main thread, before other threads start (or at reopen). */
int zg_log_open(const char *path);

/* Parse "debug".."emerg" into a level, or -1. */
int zg_log_level_parse(const char *name);
const char *zg_log_level_name(int level);

void zg_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void zg_logv(int level, const char *prefix, const char *fmt, va_list ap);

#define zg_log_enabled(lvl) ((lvl) <= zg_log_level)

#endif /* ZG_LOG_H */
