/* SPDX-License-Identifier: MIT */
/*
 * Description: the pid file ("pid" key) and `zerg -s`: a running zerg
 * holds an exclusive lock on its pid file for its whole life, so a second
 * instance naming the same file refuses to start (before binding anything)
 * and `-s` can tell a live server from a stale file. Main thread only.
 */
#ifndef ZG_PIDFILE_H
#define ZG_PIDFILE_H

#include <stddef.h>

/* Open and lock path (created 0644 if missing), before any socket is
 * bound. Returns the open descriptor (keep it: the lock lives with it), or
 * -errno with one line in err; -EBUSY when another process holds it:
 *   "pid file /run/zerg.pid is locked by a running zerg (pid 1234)" */
int zg_pidfile_lock(const char *path, char *err, size_t errlen);

/* Write this process's pid into the locked file fd (after the listeners
 * are bound). 0 or -errno with one line in err. */
int zg_pidfile_write(int fd, const char *path, char *err, size_t errlen);

/* Remove path, if it still names the file open at fd (after an upgrade
 * it may be the new process's), and close fd (at exit). */
void zg_pidfile_remove(int fd, const char *path);

/* Binary upgrade: rename this process's locked pid file (fd, at path) to
 * aside (path.oldbin), so that the new process can create and lock path;
 * the lock stays with fd. Refuses with -EBUSY when aside is locked (the
 * old process of an earlier upgrade, still draining) and -ESTALE when
 * path is not fd's file. 0 or -errno with one line in err. */
int zg_pidfile_aside(int fd, const char *path, const char *aside, char *err,
                     size_t errlen);

/* Undo zg_pidfile_aside after a failed upgrade: rename aside back to path
 * (replacing whatever the failed new process left there). 0 or -errno
 * with one line in err. */
int zg_pidfile_restore(int fd, const char *aside, const char *path, char *err,
                       size_t errlen);

/*
 * `zerg -s verb`: send the signal for verb (stop TERM, quit QUIT, reload
 * HUP, reopen USR1, upgrade USR2) to the zerg whose pid file is path. Returns
 * 0, or -errno with one line in err naming the file and the cause: no pid file
 * (not running), an unknown verb, a file with no pid, a stale file (nothing
 * holds its lock, or its process is gone), or the kill() error.
 */
int zg_pidfile_signal(const char *path, const char *verb, char *err,
                      size_t errlen);

#endif /* ZG_PIDFILE_H */
