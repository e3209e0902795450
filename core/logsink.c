/* SPDX-License-Identifier: MIT */
/*
 * Description: buffered log sinks (see logsink.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logsink.h"
#include "reactor.h"

#define ZG_SINKS_MAX 64

typedef struct zg_sinkbuf_s {
    char *data;
    size_t len;
    size_t cap; /* what data holds (the sink's size when allocated) */
} zg_sinkbuf_t;

struct zg_logsink_s {
    char *path; /* NULL for stderr */
    int fd;
    /* A reload may open the same file with a bigger buffer or a shorter
     * flush while reactors write: both are read relaxed, and a reactor's
     * buffer keeps the capacity it was allocated with. */
    _Atomic size_t size;       /* bytes per reactor buffer */
    _Atomic uint32_t flush_ms; /* longest a line waits in a buffer */
    zg_sinkbuf_t buf[ZG_MAX_REACTORS];
};

static zg_logsink_t *zg_sinks[ZG_SINKS_MAX];
/* Published with release after zg_sinks[i] is set (reactors read it). */
static _Atomic uint32_t zg_nsinks;
static char *zg_sink_dir; /* relative paths start here; NULL: the cwd */

int zg_logsink_base(const char *conf_path, char *err, size_t errlen)
{
    const char *slash = strrchr(conf_path, '/');
    char dir[PATH_MAX], real[PATH_MAX];

    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s",
                 slash == conf_path ? 1 : (int)(slash - conf_path), conf_path);
    if (realpath(dir, real) == NULL) {
        int rc = -errno;

        snprintf(err, errlen, "%s: cannot resolve the file's directory: %s",
                 conf_path, strerror(-rc));
        return rc;
    }
    free(zg_sink_dir);
    zg_sink_dir = strdup(real);
    if (zg_sink_dir == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* A log file as every sink opens it (at start and at each reopen). */
static int zg_sink_openfile(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

zg_logsink_t *zg_logsink_open(const char *path, size_t buffer,
                              uint32_t flush_ms, char *err, size_t errlen)
{
    int is_stderr = path == NULL || strcmp(path, "stderr") == 0;
    char full[PATH_MAX];
    zg_logsink_t *s;

    if (!is_stderr && path[0] != '/' && zg_sink_dir != NULL) {
        /* As every path in the configuration: from its directory. */
        while (path[0] == '.' && path[1] == '/')
            path += 2;
        if ((size_t)snprintf(full, sizeof(full), "%s%s%s", zg_sink_dir,
                             strcmp(zg_sink_dir, "/") == 0 ? "" : "/",
                             path) >= sizeof(full)) {
            snprintf(err, errlen, "%s: path too long", path);
            return NULL;
        }
        path = full;
    }
    if (buffer < ZG_LOG_BUFFER_MIN || buffer > ZG_LOG_BUFFER_MAX ||
        flush_ms < 1 || flush_ms > ZG_LOG_FLUSH_MS_MAX) {
        snprintf(err, errlen,
                 "log buffer %zu (%u..%u) or flush_ms %u (1..%u) out of range",
                 buffer, ZG_LOG_BUFFER_MIN, ZG_LOG_BUFFER_MAX, flush_ms,
                 ZG_LOG_FLUSH_MS_MAX);
        return NULL;
    }
    for (uint32_t i = 0; i < zg_nsinks; i++) {
        s = zg_sinks[i];
        if ((s->path == NULL) == is_stderr &&
            (is_stderr || strcmp(s->path, path) == 0)) {
            if (buffer > atomic_load_explicit(&s->size, memory_order_relaxed))
                atomic_store_explicit(&s->size, buffer, memory_order_relaxed);
            if (flush_ms <
                atomic_load_explicit(&s->flush_ms, memory_order_relaxed))
                atomic_store_explicit(&s->flush_ms, flush_ms,
                                      memory_order_relaxed);
            return s;
        }
    }
    if (zg_nsinks == ZG_SINKS_MAX) {
        snprintf(err, errlen, "more than %d log files", ZG_SINKS_MAX);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (!is_stderr && (s->path = strdup(path)) == NULL)) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->fd = STDERR_FILENO;
    if (!is_stderr) {
        s->fd = zg_sink_openfile(path);
        if (s->fd < 0) {
            snprintf(err, errlen, "cannot open %s (%s)", path, strerror(errno));
            free(s->path);
            free(s);
            return NULL;
        }
    }
    s->size = buffer;
    s->flush_ms = flush_ms;
    zg_sinks[zg_nsinks] = s;
    atomic_store_explicit(&zg_nsinks, zg_nsinks + 1, memory_order_release);
    return s;
}

/* Write all of p, retrying short writes; a failed log write has nowhere
 * to be reported but the error log. */
static void zg_sink_put(zg_logsink_t *s, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(s->fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            zg_log(ZG_LOG_ERROR, "cannot write to log %s (%s): %zu bytes lost",
                   s->path ? s->path : "stderr", strerror(errno), n);
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void zg_sinkbuf_flush(zg_logsink_t *s, zg_sinkbuf_t *b)
{
    if (b->len > 0)
        zg_sink_put(s, b->data, b->len);
    b->len = 0;
}

int zg_logsink_write(zg_logsink_t *s, const char *lines, size_t len)
{
    zg_reactor_t *r = zg_tls_reactor;
    zg_sinkbuf_t *b;

    if (s == NULL || lines == NULL)
        return -EINVAL;
    if (len == 0)
        return 0;
    if (r == NULL) {
        zg_sink_put(s, lines, len);
        return 0;
    }
    b = &s->buf[r->id];
    if (b->data == NULL) {
        size_t size = atomic_load_explicit(&s->size, memory_order_relaxed);

        b->data = malloc(size);
        if (b->data == NULL) {
            zg_sink_put(s, lines, len);
            return 0;
        }
        b->cap = size;
    }
    if (len > b->cap) {
        zg_sinkbuf_flush(s, b); /* keep the order */
        zg_sink_put(s, lines, len);
        return 0;
    }
    if (b->len + len > b->cap)
        zg_sinkbuf_flush(s, b);
    memcpy(b->data + b->len, lines, len);
    b->len += len;
    {
        uint32_t fms = atomic_load_explicit(&s->flush_ms, memory_order_relaxed);

        if (!r->log_pending || r->now + fms < r->log_flush_at) {
            r->log_flush_at = r->now + fms;
            r->log_pending = 1;
        }
    }
    return 0;
}

void zg_logsink_flush(zg_reactor_t *r)
{
    uint32_t n = atomic_load_explicit(&zg_nsinks, memory_order_acquire);

    for (uint32_t i = 0; i < n; i++)
        zg_sinkbuf_flush(zg_sinks[i], &zg_sinks[i]->buf[r->id]);
    r->log_pending = 0;
}

int zg_logsink_reopen(char *err, size_t errlen)
{
    int first = 0;

    for (uint32_t i = 0; i < zg_nsinks; i++) {
        zg_logsink_t *s = zg_sinks[i];
        int fd;

        if (s->path == NULL)
            continue;
        fd = zg_sink_openfile(s->path);
        if (fd < 0 || dup3(fd, s->fd, O_CLOEXEC) < 0) {
            if (first == 0) {
                first = -errno;
                snprintf(err, errlen, "%s: %s", s->path, strerror(errno));
            }
            if (fd >= 0)
                close(fd);
            continue;
        }
        close(fd);
    }
    return first;
}

void zg_logsink_free_all(void)
{
    for (uint32_t i = 0; i < zg_nsinks; i++) {
        zg_logsink_t *s = zg_sinks[i];

        for (uint32_t k = 0; k < ZG_MAX_REACTORS; k++) {
            zg_sinkbuf_flush(s, &s->buf[k]);
            free(s->buf[k].data);
        }
        if (s->path != NULL)
            close(s->fd);
        free(s->path);
        free(s);
    }
    zg_nsinks = 0;
}
