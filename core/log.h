/* SPDX-License-Identifier: MIT */
/*
 * Description: the error log. One line per event in nginx's shape,
 * "YYYY/MM/DD HH:MM:SS [level] pid#tid: message", written with a single
 * write(2) so lines from different threads never interleave. Any thread.
 */
#ifndef ZG_LOG_H
#define ZG_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include "zerg/plugin.h"

/* Current level; lines above it are dropped. Set once at start-up. */
/* Read by every thread, set by the main thread (start, reload). */
extern _Atomic int zg_log_level;

/* Direct the log to path ("stderr" or a file, opened O_APPEND). Returns 0
 * or -errno. Main thread, before other threads start (or at reopen). */
int zg_log_open(const char *path);

/* The descriptor the log writes to (the crash handler writes there with
 * write(2) alone). Any thread, async-signal-safe. */
int zg_log_fileno(void);

/* Move the log's descriptor to min or above, so that a master can lay out
 * the listening sockets of its worker at 3.. (socket activation's
 * numbers). Returns 0 or -errno. Main thread, no other thread running. */
int zg_log_move_above(int min);

/* Parse "debug".."emerg" into a level, or -1. */
int zg_log_level_parse(const char *name);
const char *zg_log_level_name(int level);

void zg_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void zg_logv(int level, const char *prefix, const char *fmt, va_list ap);

#define zg_log_enabled(lvl)                                                    \
    ((lvl) <= atomic_load_explicit(&zg_log_level, memory_order_relaxed))

#endif /* ZG_LOG_H */
