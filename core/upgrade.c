/* SPDX-License-Identifier: MIT */
/*
 * Description: binary upgrade (upgrade.h): resolve the binary's path at
 * start, fork and exec it with the listening sockets (activation.c's
 * handover), wait on a pipe for the new process to serve, then hand over
 * or undo; and the new process's side of that pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "activation.h"
#include "crash.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "pidfile.h"
#include "upgrade.h"

/* The byte the new process writes once it serves, and the one its
 * child writes (followed by errno) when exec fails. */
#define ZG_UP_READY 'R'
#define ZG_UP_EXEC  'E'

static struct {
    char *path;  /* the binary, absolute; NULL if argv[0] was not found */
    char **argv; /* the arguments it is given again */
    /* In a new process: the channel to the old one, and which passed
     * sockets (fd 3 + i) the old process had bound itself. */
    int ready_fd;
    pid_t ready_owner; /* the process that may write it */
    uint8_t own[ZG_INHERIT_MAX];
    uint32_t npassed;
    int adopt;  /* own[] applies: this process serves in the old one's place */
    int worker; /* a master's worker: upgrades are the master's */
    /* In an old process. */
    pid_t child;       /* the new process (under way or serving), or 0 */
    int rd;            /* the channel's read end while waiting, or -1 */
    uint64_t deadline; /* ms (monotonic) */
    uint32_t wait_ms;
    uint32_t drain_ms; /* shutdown_timeout_ms */
    int done;          /* the new process serves */
    int pidfd;         /* our locked pid file, or -1 */
    const char *pid_path;
    char oldbin[PATH_MAX]; /* pid_path.oldbin, "" unless set aside */
} zg_up = {.ready_fd = -1, .rd = -1, .pidfd = -1};

static uint64_t zg_up_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* An absolute name for the file argv0 was started from: as given when it
 * has a '/' (relative to the working directory now, at start), else the
 * first executable of that name in $PATH, as execvp() found it. */
static char *zg_up_resolve(const char *argv0)
{
    char cwd[PATH_MAX], buf[PATH_MAX * 2];
    const char *dirs = getenv("PATH"), *p;

    if (getcwd(cwd, sizeof(cwd)) == NULL)
        cwd[0] = '\0';
    if (strchr(argv0, '/') != NULL) {
        if (argv0[0] == '/')
            return strdup(argv0);
        while (argv0[0] == '.' && argv0[1] == '/')
            argv0 += 2;
        if (cwd[0] == '\0')
            return NULL;
        snprintf(buf, sizeof(buf), "%s/%s", cwd, argv0);
        return strdup(buf);
    }
    if (dirs == NULL)
        dirs = "/usr/local/bin:/usr/bin:/bin";
    for (p = dirs;; p++) {
        const char *end = strchrnul(p, ':');
        int len = (int)(end - p);
        struct stat st;

        if (len == 0)
            snprintf(buf, sizeof(buf), "%s/%s", cwd, argv0);
        else if (*p == '/')
            snprintf(buf, sizeof(buf), "%.*s/%s", len, p, argv0);
        else
            snprintf(buf, sizeof(buf), "%s/%.*s/%s", cwd, len, p, argv0);
        if (buf[0] == '/' && access(buf, X_OK) == 0 && stat(buf, &st) == 0 &&
            S_ISREG(st.st_mode))
            return strdup(buf);
        if (*end == '\0')
            return NULL;
        p = end;
    }
}

void zg_upgrade_init(char **argv)
{
    const char *var = getenv("ZERG_UPGRADE");
    long pid, fd;
    struct stat st;
    char *end;
    int argc = 0;

    while (argv[argc] != NULL)
        argc++;
    /* getopt may reorder argv: keep the order we were given. */
    zg_up.argv = calloc((size_t)argc + 1, sizeof(char *));
    if (zg_up.argv != NULL)
        memcpy(zg_up.argv, argv, (size_t)argc * sizeof(char *));
    if (argc > 0)
        zg_up.path = zg_up_resolve(argv[0]);
    if (var == NULL)
        return;
    /* "<old pid>:<fd>:<own>", own a '0' or '1' per socket passed. */
    pid = strtol(var, &end, 10);
    fd = *end == ':' ? strtol(end + 1, &end, 10) : -1;
    if (*end == ':' && pid == (long)getppid() && fd > STDERR_FILENO &&
        fd - 3 <= ZG_INHERIT_MAX && strlen(end + 1) == (size_t)(fd - 3) &&
        strspn(end + 1, "01") == (size_t)(fd - 3) && fstat((int)fd, &st) == 0 &&
        S_ISFIFO(st.st_mode)) {
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
        zg_up.ready_fd = (int)fd;
        zg_up.ready_owner = getpid();
        for (long i = 0; i < fd - 3; i++)
            zg_up.own[i] = end[1 + i] == '1';
        zg_up.npassed = (uint32_t)(fd - 3);
    }
    unsetenv("ZERG_UPGRADE");
}

int zg_upgrade_ready(void)
{
    char c = ZG_UP_READY;

    if (zg_up.ready_fd < 0 || zg_up.ready_owner != getpid())
        return 0;
    if (write(zg_up.ready_fd, &c, 1) != 1) {
        /* The old process is gone: nobody to tell. */
    }
    close(zg_up.ready_fd);
    zg_up.ready_fd = -1;
    zg_up.adopt = 1;
    return 1;
}

int zg_upgrade_adopted(int fd)
{
    return zg_up.adopt && fd >= 3 && (uint32_t)(fd - 3) < zg_up.npassed &&
           zg_up.own[fd - 3];
}

void zg_upgrade_drop(void)
{
    if (zg_up.ready_fd >= 0)
        close(zg_up.ready_fd);
    zg_up.ready_fd = -1;
    zg_up.adopt = 0;
    zg_up.worker = 1;
}

/* In the child, between fork() and exec(): async-signal-safe calls only
 * (the parent may have other threads). */
static void zg_up_exec(zg_handover_t *h)
{
    int chan = zg_handover_top(h) - 1, err;
    char msg[1 + sizeof(int)];
    sigset_t none;

    /* A layout that failed half way may have left anything at chan: the
     * parent learns of that failure from the exit alone. */
    if (zg_handover_child(h, NULL, 0) < 0)
        _exit(127);
#ifdef SYS_close_range
    /* Nothing else of ours goes to the new binary (a plugin's descriptor
     * opened without O_CLOEXEC included). */
    syscall(SYS_close_range, (unsigned)chan + 1, ~0u, 0u);
#endif
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(zg_up.path, zg_up.argv, h->env);
    err = errno;
    msg[0] = ZG_UP_EXEC;
    memcpy(msg + 1, &err, sizeof(err));
    if (write(chan, msg, sizeof(msg)) < 0) {
        /* The parent sees the exit either way. */
    }
    _exit(127);
}

int zg_upgrade_start(const int *fds, const char *const *names,
                     const uint8_t *own, uint32_t n, int pidfd,
                     const char *pid_path, uint32_t shutdown_timeout_ms)
{
    char var[64 + ZG_INHERIT_MAX], err[PATH_MAX + 256];
    const char *add[2] = {var, NULL};
    zg_handover_t h;
    int p[2], rc;
    pid_t pid;

    if (zg_up.worker) {
        zg_log(ZG_LOG_WARN,
               "SIGUSR2: this is a master's worker; send it to the master "
               "(pid %ld) to upgrade",
               (long)getppid());
        return -EPERM;
    }
    if (zg_up.child != 0) {
        zg_log(ZG_LOG_WARN, "SIGUSR2: %s (new process %ld); ignored",
               zg_up.done ? "this process was upgraded already and drains"
                          : "an upgrade is under way",
               (long)zg_up.child);
        return -EBUSY;
    }
    if (zg_up.path == NULL || zg_up.argv == NULL) {
        zg_log(ZG_LOG_ERROR,
               "upgrade refused: the binary this process was started from "
               "is unknown (argv[0] \"%s\" was not found in $PATH at start)",
               zg_up.argv != NULL && zg_up.argv[0] != NULL ? zg_up.argv[0]
                                                           : "");
        return -ENOENT;
    }
    if (access(zg_up.path, X_OK) < 0) {
        rc = -errno;
        zg_log(ZG_LOG_ERROR,
               "upgrade refused: cannot execute %s (%s); this process keeps "
               "serving",
               zg_up.path, strerror(-rc));
        return rc;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        rc = -errno;
        zg_log(ZG_LOG_ERROR, "upgrade refused: pipe2() failed (%s)",
               strerror(-rc));
        return rc;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    /* The channel lands right above the sockets, at 3 + n. */
    rc = snprintf(var, sizeof(var), "ZERG_UPGRADE=%ld:%u:", (long)getpid(),
                  3 + n);
    for (uint32_t i = 0; i < n && i < ZG_INHERIT_MAX; i++)
        var[rc++] = own[i] ? '1' : '0';
    var[rc] = '\0';
    rc = zg_handover_init(&h, fds, names, n, p[1], add, err, sizeof(err));
    if (rc < 0) {
        zg_log(ZG_LOG_ERROR, "upgrade refused: %s", err);
        goto fail;
    }
    zg_up.oldbin[0] = '\0';
    if (pidfd >= 0 && pid_path != NULL) {
        snprintf(zg_up.oldbin, sizeof(zg_up.oldbin), "%s.oldbin", pid_path);
        rc = zg_pidfile_aside(pidfd, pid_path, zg_up.oldbin, err, sizeof(err));
        if (rc < 0) {
            zg_up.oldbin[0] = '\0';
            zg_log(ZG_LOG_ERROR, "upgrade refused: %s", err);
            zg_handover_free(&h);
            goto fail;
        }
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0)
        zg_up_exec(&h);
    rc = -errno;
    zg_handover_free(&h);
    close(p[1]);
    if (pid < 0) {
        zg_log(ZG_LOG_ERROR, "upgrade refused: fork() failed (%s)",
               strerror(-rc));
        if (zg_up.oldbin[0] != '\0' &&
            zg_pidfile_restore(pidfd, zg_up.oldbin, pid_path, err,
                               sizeof(err)) < 0)
            zg_log(ZG_LOG_ERROR, "upgrade: %s", err);
        zg_up.oldbin[0] = '\0';
        close(p[0]);
        return rc;
    }
    zg_up.child = pid;
    zg_up.rd = p[0];
    zg_up.done = 0;
    zg_up.pidfd = pidfd;
    zg_up.pid_path = pid_path;
    zg_up.wait_ms = ZG_UPGRADE_WAIT_MS + shutdown_timeout_ms;
    zg_up.drain_ms = shutdown_timeout_ms;
    zg_up.deadline = zg_up_now_ms() + zg_up.wait_ms;
    zg_log(
        ZG_LOG_NOTICE,
        "upgrade: started %s as process %ld with %u listening socket(s)%s%s; "
        "this process serves until it does (at most %u ms)",
        zg_up.path, (long)pid, n,
        zg_up.oldbin[0] != '\0' ? ", pid file set aside as " : "", zg_up.oldbin,
        zg_up.wait_ms);
    return 0;
fail:
    close(p[0]);
    close(p[1]);
    return rc;
}

int zg_upgrade_fd(void)
{
    return zg_up.rd;
}

int zg_upgrade_wait_ms(void)
{
    uint64_t now;

    if (zg_up.rd < 0)
        return -1;
    now = zg_up_now_ms();
    return now >= zg_up.deadline ? 0 : (int)(zg_up.deadline - now);
}

const char *zg_upgrade_pidfile(const char *path)
{
    return zg_up.oldbin[0] != '\0' ? zg_up.oldbin : path;
}

pid_t zg_upgrade_pid(void)
{
    return zg_up.child;
}

/* Reap the new process: grace_ms for it to end on its own, then SIGKILL.
 * Its wait status in words goes to how. */
static void zg_up_reap(uint32_t grace_ms, char *how, size_t len)
{
    uint64_t until = zg_up_now_ms() + grace_ms;
    int st = 0;
    pid_t r;

    while ((r = waitpid(zg_up.child, &st, WNOHANG)) == 0 &&
           zg_up_now_ms() < until) {
        struct timespec ts = {0, 10 * 1000 * 1000};

        nanosleep(&ts, NULL);
    }
    if (r == 0) {
        kill(zg_up.child, SIGKILL);
        r = waitpid(zg_up.child, &st, 0);
    }
    if (r == zg_up.child)
        zg_describe_status(st, how, len);
    else
        snprintf(how, len, "could not be waited for (%s)", strerror(errno));
}

/* The upgrade did not happen: the new process is gone (reaped), the pid
 * file back, the channel closed, the reason logged. */
static void zg_up_undo(const char *why, uint32_t grace_ms)
{
    char how[128], err[PATH_MAX + 256], restored[PATH_MAX + 64] = "";
    long pid = (long)zg_up.child;

    zg_up_reap(grace_ms, how, sizeof(how));
    if (zg_up.rd >= 0)
        close(zg_up.rd);
    zg_up.rd = -1;
    zg_up.child = 0;
    if (zg_up.oldbin[0] != '\0') {
        if (zg_pidfile_restore(zg_up.pidfd, zg_up.oldbin, zg_up.pid_path, err,
                               sizeof(err)) < 0)
            zg_log(ZG_LOG_ERROR, "upgrade: cannot put the pid file back: %s",
                   err);
        else
            snprintf(restored, sizeof(restored), "; pid file %s restored",
                     zg_up.pid_path);
        zg_up.oldbin[0] = '\0';
    }
    zg_log(ZG_LOG_ERROR,
           "upgrade failed: new process %ld (%s) %s; it %s%s; this process "
           "(pid %ld) keeps serving",
           pid, zg_up.path, why, how, restored, (long)getpid());
}

/* Read the channel: 1 ready, 0 nothing yet, -1 undone. */
static int zg_up_read(void)
{
    char buf[1 + sizeof(int)], why[PATH_MAX + 128];
    ssize_t r = read(zg_up.rd, buf, sizeof(buf));

    if (r > 0 && buf[0] == ZG_UP_READY) {
        close(zg_up.rd);
        zg_up.rd = -1;
        zg_up.done = 1;
        zg_log(ZG_LOG_NOTICE,
               "upgrade: new process %ld serves; this process stops "
               "accepting and drains its connections (at most %u ms)",
               (long)zg_up.child, zg_up.drain_ms);
        return 1;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r == (ssize_t)sizeof(buf) && buf[0] == ZG_UP_EXEC) {
        int e;

        memcpy(&e, buf + 1, sizeof(e));
        snprintf(why, sizeof(why), "could not be executed (execve: %s)",
                 strerror(e));
        zg_up_undo(why, 1000);
    } else if (r == 0) {
        zg_up_undo("ended before it served", 1000);
    } else {
        snprintf(why, sizeof(why), "left the channel unreadable (%s)",
                 r < 0 ? strerror(errno) : "unexpected bytes");
        zg_up_undo(why, 0);
    }
    return -1;
}

int zg_upgrade_poll(void)
{
    char why[128];
    int rc;

    if (zg_up.rd < 0)
        return 0;
    rc = zg_up_read();
    if (rc != 0)
        return rc;
    if (zg_up_now_ms() < zg_up.deadline)
        return 0;
    snprintf(why, sizeof(why),
             "did not say it serves within %u ms (a binary without upgrade "
             "support?)",
             zg_up.wait_ms);
    zg_up_undo(why, 0);
    return -1;
}

int zg_upgrade_abort(void)
{
    if (zg_up.done)
        return 1;
    if (zg_up.rd < 0)
        return 0;
    /* It may have said so just now: then it serves on, and this stop is
     * the old process's alone. */
    if (zg_up_read() != 0)
        return zg_up.done;
    zg_up_undo("was abandoned: this process was told to stop", 0);
    return 0;
}

void zg_upgrade_engine_start(zg_engine_t *e, int pidfd)
{
    int fds[ZG_INHERIT_MAX];
    const char *names[ZG_INHERIT_MAX];
    uint8_t own[ZG_INHERIT_MAX];
    uint32_t n = 0;

    if (atomic_load(&e->draining) && !zg_up.done) {
        zg_log(ZG_LOG_WARN, "SIGUSR2: this process is stopping; no upgrade");
        return;
    }
    for (uint32_t i = 0; i < e->nlisteners; i++) {
        const zg_listener_t *l = zg_engine_listener(e, i);

        for (uint32_t k = 0; k < (l->rp_fds != NULL ? e->nreactors : 1); k++) {
            int fd = l->rp_fds != NULL ? l->rp_fds[k] : l->fd;

            if (fd < 0)
                continue;
            if (n == ZG_INHERIT_MAX) {
                zg_log(ZG_LOG_ERROR,
                       "upgrade refused: more than %d listening sockets "
                       "(listeners times reactors with reuseport) to pass",
                       ZG_INHERIT_MAX);
                return;
            }
            fds[n] = fd;
            own[n] = !l->inherited;
            names[n++] = l->conf->name;
        }
    }
    zg_upgrade_start(fds, names, own, n, pidfd, e->cfg->pid,
                     atomic_load(&e->shutdown_timeout_ms));
}

void zg_upgrade_engine_ready(zg_engine_t *e)
{
    if (!zg_upgrade_ready())
        return;
    /* The old process stops accepting now: the sockets it had bound
     * itself are ours to shut down at a stop, as if we had bound them
     * (those it was passed, systemd's, stay untouched). */
    for (uint32_t i = 0; i < e->nlisteners; i++) {
        zg_listener_t *l = zg_engine_listener(e, i);
        int all = l->inherited;

        for (uint32_t k = 0; k < (l->rp_fds != NULL ? e->nreactors : 1); k++) {
            int fd = l->rp_fds != NULL ? l->rp_fds[k] : l->fd;

            /* Passed and not the old process's own: systemd's. (A
             * reuseport reactor's socket bound here is ours.) */
            if (fd >= 3 && (uint32_t)(fd - 3) < zg_up.npassed &&
                !zg_upgrade_adopted(fd))
                all = 0;
        }
        if (all)
            l->inherited = 0;
    }
}

/* The new process serves: the shared sockets are its now. */
static void zg_up_engine_handover(zg_engine_t *e)
{
    char state[128];

    /* Stop only our own accepting: a drain or stop must never shut down a
     * socket the new process listens on. */
    for (uint32_t i = 0; i < e->nlisteners; i++)
        zg_engine_listener(e, i)->inherited = 1;
    snprintf(state, sizeof(state),
             "MAINPID=%ld\nSTATUS=upgraded: process %ld serves",
             (long)zg_up.child, (long)zg_up.child);
    zg_notify(state);
}

int zg_upgrade_engine_poll(zg_engine_t *e)
{
    uint32_t t = atomic_load(&e->shutdown_timeout_ms); /* a reload's */

    if (zg_upgrade_poll() != 1)
        return 0;
    zg_up_engine_handover(e);
    zg_watchdog_arm(t + zg_stop_bound_ms(t),
                    "shutdown_timeout_ms twice (a graceful stop after an "
                    "upgrade, then a fast one)",
                    zg_up.oldbin[0] != '\0' ? zg_up.oldbin : NULL);
    zg_engine_drain(e);
    return 1;
}

void zg_upgrade_engine_abort(zg_engine_t *e)
{
    int marked = zg_up.done;

    if (zg_upgrade_abort() == 1 && !marked)
        zg_up_engine_handover(e);
}
