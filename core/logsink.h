/* SPDX-License-Identifier: MIT */
/*
 * Description: buffered log files for access-log style lines
 * (api->log_open/log_write, the access_log module). Each sink keeps one
 * buffer per reactor, filled without locks by that reactor and written
 * with one write(2) when full, on the reactor's flush deadline and when
 * it stops. Files are opened O_APPEND, so whole-buffer writes of
 * different reactors never interleave within a line. SIGUSR1 reopens
 * them in place (dup3 onto the same descriptor), so a reactor writing at
 * that moment finishes on the old file and the next write goes to the
 * new one: nothing is lost or torn.
 */
#ifndef ZG_LOGSINK_H
#define ZG_LOGSINK_H

#include <stddef.h>
#include <stdint.h>

#include "zerg/plugin.h"

typedef struct zg_reactor_s zg_reactor_t;

/* Relative paths given to zg_logsink_open are relative to the directory
 * of the configuration file conf_path (else to the working directory).
 * Main thread, before any sink is opened. 0, or -errno with one line in
 * err. */
int zg_logsink_base(const char *conf_path, char *err, size_t errlen);

/* Open or share the sink for path (see api->log_open). Main thread. */
zg_logsink_t *zg_logsink_open(const char *path, size_t buffer,
                              uint32_t flush_ms, char *err, size_t errlen);

/* Append whole lines (see api->log_write). Any thread. */
int zg_logsink_write(zg_logsink_t *s, const char *lines, size_t len);

/* Write out reactor r's buffers of every sink. r's thread. */
void zg_logsink_flush(zg_reactor_t *r);

/* Reopen every sink's file (SIGUSR1). Main thread. Returns 0, or the
 * first -errno with the path in err. */
int zg_logsink_reopen(char *err, size_t errlen);

/* Write what is left, close and free every sink (after the reactors
 * stopped). Main thread. */
void zg_logsink_free_all(void);

#endif /* ZG_LOGSINK_H */
