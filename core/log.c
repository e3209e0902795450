/* SPDX-License-Identifier: MIT */
/*
 * Description: the error log (see log.h). Formatting happens on the caller's
 * stack; the line reaches the file with one write(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int zg_log_level = ZG_LOG_INFO;
static int zg_log_fd = STDERR_FILENO;

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
    int fd;

    if (path == NULL || strcmp(path, "stderr") == 0) {
        fd = STDERR_FILENO;
    } else {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
    }
    if (zg_log_fd != STDERR_FILENO && fd != STDERR_FILENO) {
        /* Reopening (SIGUSR1): put the new file in place of the old one
         * on the same descriptor, so no other thread ever writes to a
         * closed or reused descriptor. */
        if (dup3(fd, zg_log_fd, O_CLOEXEC) < 0) {
            int err = -errno;

            close(fd);
            return err;
        }
        close(fd);
        return 0;
    }
    if (zg_log_fd != STDERR_FILENO && zg_log_fd != fd)
        close(zg_log_fd);
    zg_log_fd = fd;
    return 0;
}

void zg_logv(int level, const char *prefix, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;

    if (level > zg_log_level)
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
    if (write(zg_log_fd, line, n) < 0)
        return;
}

void zg_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    zg_logv(level, NULL, fmt, ap);
    va_end(ap);
}
