/* SPDX-License-Identifier: MIT */
/*
 * Description: the error log (see log.h). Formatting happens on the caller's
 * stack; the line reaches the file with one write(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

_Atomic int zg_log_level = ZG_LOG_INFO;
/* Threads read it for every line while the main thread reopens the log
 * (SIGUSR1): atomic, and a reopen keeps its number (see zg_log_open). */
static _Atomic int zg_log_fd = STDERR_FILENO;

static const char *const zg_level_names[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
};

int zg_log_level_parse(const char *name)
{
    for (int i = 0; i <= ZG_LOG_DEBUG; i++) {
        if (strcmp(name, zg_level_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *zg_log_level_name(int level)
{
    if (level < 0 || level > ZG_LOG_DEBUG)
        return "?";
    return zg_level_names[level];
}

int zg_log_open(const char *path)
{
    int fd, cur = atomic_load(&zg_log_fd);

    if (path == NULL || strcmp(path, "stderr") == 0) {
        fd = STDERR_FILENO;
    } else {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
        if (cur != STDERR_FILENO) {
            /* A reopen: the new file takes the old one's number in one
             * step, so a thread writing a line meanwhile writes it to one
             * file or the other, never to a number closed (and maybe
             * reused) under it. */
            int rc = dup3(fd, cur, O_CLOEXEC) < 0 ? -errno : 0;

            close(fd);
            return rc;
        }
    }
    if (cur != STDERR_FILENO && cur != fd)
        close(cur);
    atomic_store(&zg_log_fd, fd);
    return 0;
}

int zg_log_fileno(void)
{
    return atomic_load_explicit(&zg_log_fd, memory_order_relaxed);
}

int zg_log_move_above(int min)
{
    int fd, cur = atomic_load(&zg_log_fd);

    if (cur == STDERR_FILENO || cur >= min)
        return 0;
    fd = fcntl(cur, F_DUPFD_CLOEXEC, min);
    if (fd < 0)
        return -errno;
    close(cur);
    atomic_store(&zg_log_fd, fd);
    return 0;
}

void zg_logv(int level, const char *prefix, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;

    if (!zg_log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y/%m/%d %H:%M:%S ", &tm);
    r = snprintf(line + n, sizeof(line) - n, "[%s] %d#%ld: %s%s",
                 zg_log_level_name(level), (int)getpid(),
                 (long)syscall(SYS_gettid), prefix ? prefix : "",
                 prefix ? ": " : "");
    if (r > 0)
        n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (r > 0)
        n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* A failed log write has nowhere to be reported. */
    if (write(zg_log_fileno(), line, n) < 0)
        return;
}

void zg_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    zg_logv(level, NULL, fmt, ap);
    va_end(ap);
}
