/* SPDX-License-Identifier: MIT */
/*
 * Description: the pid file and `zerg -s` (pidfile.h): an flock()-ed file
 * holding the server's pid, and the verbs that signal the process it
 * names.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"

/* The pid in the file open at fd, or -1 if it holds none. */
static long zg_pidfile_read(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    char *end;
    long pid;

    if (n <= 0)
        return -1;
    buf[n] = '\0';
    pid = strtol(buf, &end, 10);
    if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0)
        return -1;
    return pid;
}

int zg_pidfile_lock(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc;

    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open pid file %s: %s", path,
                 strerror(-rc));
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        long pid;

        rc = -errno;
        pid = zg_pidfile_read(fd);
        close(fd);
        if (rc == -EWOULDBLOCK) {
            if (pid > 0)
                snprintf(err, errlen,
                         "pid file %s is locked by a running zerg (pid %ld); "
                         "stop it first or give this one another \"pid\"",
                         path, pid);
            else
                snprintf(err, errlen,
                         "pid file %s is locked by another process", path);
            return -EBUSY;
        }
        snprintf(err, errlen, "cannot lock pid file %s: %s", path,
                 strerror(-rc));
        return rc;
    }
    return fd;
}

int zg_pidfile_write(int fd, const char *path, char *err, size_t errlen)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid()), rc;

    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        rc = -errno;
        snprintf(err, errlen, "cannot write pid file %s: %s", path,
                 strerror(rc ? -rc : EIO));
        return rc ? rc : -EIO;
    }
    return 0;
}

/* Whether path names the file open at fd. */
static int zg_pidfile_is(int fd, const char *path)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

void zg_pidfile_remove(int fd, const char *path)
{
    if (fd < 0)
        return;
    /* Unlink while still holding the lock: a new server that opens the
     * path now gets a new file. Only our own file: after an upgrade the
     * name may be the new process's. */
    if (zg_pidfile_is(fd, path))
        unlink(path);
    close(fd);
}

int zg_pidfile_aside(int fd, const char *path, const char *aside, char *err,
                     size_t errlen)
{
    int old = open(aside, O_RDONLY | O_CLOEXEC), rc;

    if (old >= 0) {
        /* An earlier upgrade's old process still holds it: renaming over
         * it would leave that process removing our file at its exit. */
        if (flock(old, LOCK_SH | LOCK_NB) < 0) {
            long pid = zg_pidfile_read(old);

            close(old);
            snprintf(err, errlen,
                     "%s is locked: the old process (pid %ld) of an earlier "
                     "upgrade still drains; upgrade again once it has exited",
                     aside, pid);
            return -EBUSY;
        }
        close(old);
    }
    if (!zg_pidfile_is(fd, path)) {
        snprintf(err, errlen,
                 "pid file %s is no longer this process's (removed or "
                 "replaced)",
                 path);
        return -ESTALE;
    }
    if (rename(path, aside) < 0) {
        rc = -errno;
        snprintf(err, errlen, "rename(%s, %s) failed: %s", path, aside,
                 strerror(-rc));
        return rc;
    }
    return 0;
}

int zg_pidfile_restore(int fd, const char *aside, const char *path, char *err,
                       size_t errlen)
{
    int rc;

    if (!zg_pidfile_is(fd, aside)) {
        snprintf(err, errlen, "%s is no longer this process's pid file", aside);
        return -ESTALE;
    }
    if (rename(aside, path) < 0) {
        rc = -errno;
        snprintf(err, errlen, "rename(%s, %s) failed: %s", aside, path,
                 strerror(-rc));
        return rc;
    }
    return 0;
}

int zg_pidfile_signal(const char *path, const char *verb, char *err,
                      size_t errlen)
{
    static const struct {
        const char *verb;
        int sig;
    } verbs[] = {{"stop", SIGTERM},
                 {"quit", SIGQUIT},
                 {"reload", SIGHUP},
                 {"reopen", SIGUSR1},
                 {"upgrade", SIGUSR2}};
    int sig = 0, fd, rc;
    long pid;

    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verb, verbs[i].verb) == 0)
            sig = verbs[i].sig;
    }
    if (sig == 0) {
        snprintf(err, errlen,
                 "-s %s: unknown signal (stop, quit, reload, reopen or "
                 "upgrade)",
                 verb);
        return -EINVAL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot read pid file %s: %s%s", path,
                 strerror(-rc), rc == -ENOENT ? " (is zerg running?)" : "");
        return rc;
    }
    pid = zg_pidfile_read(fd);
    if (pid < 0) {
        close(fd);
        snprintf(err, errlen, "pid file %s holds no pid", path);
        return -EINVAL;
    }
    /* A live zerg holds the lock; if we can take it, the file is stale. */
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        close(fd);
        snprintf(err, errlen,
                 "pid file %s is stale: no zerg holds it (pid %ld is not "
                 "this server); remove it",
                 path, pid);
        return -ESRCH;
    }
    close(fd);
    if (kill((pid_t)pid, sig) < 0) {
        rc = -errno;
        snprintf(err, errlen, "kill(%ld, %s) from pid file %s failed: %s", pid,
                 strsignal(sig), path, strerror(-rc));
        return rc;
    }
    return 0;
}
