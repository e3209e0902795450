/* SPDX-License-Identifier: MIT */
/*
 * Description: socket activation (activation.h): read LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES, check each passed descriptor is a
 * listening stream socket, and match them to listeners; and the giving
 * side, which lays sockets out the same way in a forked child.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"

#define ZG_LISTEN_FDS_START 3

extern char **environ;

/* In a child that does not exec (a master's worker), the environment it
 * was given lives on: kept here, so that it stays reachable once
 * zg_activation_take has removed the LISTEN_* entries. */
static void *volatile zg_handover_kept[2];

int zg_activation_take(zg_inherited_t *in, size_t max, char *err, size_t errlen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    char *end;
    long n;

    if (pid == NULL || fds == NULL)
        return 0;
    if (strtol(pid, &end, 10) != (long)getpid() || *end != '\0')
        return 0; /* meant for another process */
    n = strtol(fds, &end, 10);
    if (*end != '\0' || n < 0 || (size_t)n > max) {
        snprintf(err, errlen, "LISTEN_FDS=%s: need 0..%zu sockets", fds, max);
        return -EINVAL;
    }
    for (long i = 0; i < n; i++) {
        zg_inherited_t *s = &in[i];
        int fd = ZG_LISTEN_FDS_START + (int)i, type = 0, acc = 0;
        socklen_t tl = sizeof(type), al = sizeof(acc);

        memset(s, 0, sizeof(*s));
        s->fd = fd;
        s->addrlen = sizeof(s->addr);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 ||
            getsockname(fd, (struct sockaddr *)&s->addr, &s->addrlen) < 0 ||
            type != SOCK_STREAM || !acc ||
            (s->addr.ss_family != AF_INET && s->addr.ss_family != AF_INET6)) {
            snprintf(err, errlen,
                     "inherited descriptor %d (LISTEN_FDS) is not a listening "
                     "TCP socket",
                     fd);
            return -ENOTSOCK;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    /* "a:b:c", one name per descriptor, in order. */
    for (long i = 0; names != NULL && i < n; i++) {
        const char *colon = strchr(names, ':');
        size_t len = colon ? (size_t)(colon - names) : strlen(names);

        if (len >= sizeof(in[i].name))
            len = sizeof(in[i].name) - 1;
        memcpy(in[i].name, names, len);
        in[i].name[len] = '\0';
        names = colon ? colon + 1 : NULL;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return (int)n;
}

static int zg_same_addr(const struct sockaddr_storage *have,
                        const struct sockaddr *want)
{
    if (have->ss_family != want->sa_family)
        return 0;
    if (want->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)have,
                                 *b = (const void *)want;

        return a->sin_addr.s_addr == b->sin_addr.s_addr &&
               (b->sin_port == 0 || a->sin_port == b->sin_port);
    }
    {
        const struct sockaddr_in6 *a = (const void *)have,
                                  *b = (const void *)want;

        return memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) ==
                   0 &&
               (b->sin6_port == 0 || a->sin6_port == b->sin6_port);
    }
}

zg_inherited_t *zg_activation_find(zg_inherited_t *in, size_t n,
                                   const char *name, const struct sockaddr *sa)
{
    for (size_t i = 0; i < n; i++) {
        if (!in[i].claimed && in[i].name[0] != '\0' &&
            strcmp(in[i].name, name) == 0)
            return &in[i];
    }
    for (size_t i = 0; i < n; i++) {
        if (!in[i].claimed && in[i].name[0] == '\0' &&
            zg_same_addr(&in[i].addr, sa))
            return &in[i];
    }
    return NULL;
}

size_t zg_activation_claim(zg_inherited_t *in, size_t n, const char *name,
                           const struct sockaddr *sa, int *fds, size_t max)
{
    size_t got = 0;
    zg_inherited_t *s;

    while (got < max && (s = zg_activation_find(in, n, name, sa)) != NULL) {
        s->claimed = 1;
        fds[got++] = s->fd;
    }
    return got;
}

/* The environment entries the handover sets, by name ("NAME="). */
static int zg_env_replaced(const char *entry, const char *const *add)
{
    static const char *const ours[] = {
        "LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES="};

    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
        if (strncmp(entry, ours[i], strlen(ours[i])) == 0)
            return 1;
    }
    for (size_t i = 0; add != NULL && add[i] != NULL; i++) {
        const char *eq = strchr(add[i], '=');
        size_t len = eq != NULL ? (size_t)(eq - add[i]) + 1 : strlen(add[i]);

        if (strncmp(entry, add[i], len) == 0)
            return 1;
    }
    return 0;
}

int zg_handover_init(zg_handover_t *h, const int *fds, const char *const *names,
                     uint32_t n, int extra, const char *const *add, char *err,
                     size_t errlen)
{
    size_t nenv = 0, nadd = 0, len = 96, k = 0;
    char *p;
    int w;

    memset(h, 0, sizeof(*h));
    h->extra = -1;
    if (n > ZG_INHERIT_MAX) {
        snprintf(err, errlen,
                 "%u listening sockets to pass, at most %d (LISTEN_FDS)", n,
                 ZG_INHERIT_MAX);
        return -E2BIG;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (strchr(names[i], ':') != NULL) {
            snprintf(err, errlen,
                     "listener name \"%s\" has a ':', which LISTEN_FDNAMES "
                     "cannot carry",
                     names[i]);
            return -EINVAL;
        }
        len += strlen(names[i]) + 1;
    }
    while (environ != NULL && environ[nenv] != NULL)
        nenv++;
    while (add != NULL && add[nadd] != NULL)
        nadd++;
    h->strings = malloc(len);
    h->env = calloc(nenv + nadd + 4, sizeof(char *));
    if (h->strings == NULL || h->env == NULL) {
        zg_handover_free(h);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < nenv; i++) {
        if (!zg_env_replaced(environ[i], add))
            h->env[k++] = environ[i];
    }
    for (size_t i = 0; i < nadd; i++)
        h->env[k++] = (char *)add[i];
    p = h->strings;
    w = sprintf(p, "LISTEN_FDS=%u", n);
    h->env[k++] = p;
    p += w + 1;
    h->env[k++] = p;
    p += sprintf(p, "LISTEN_FDNAMES=");
    for (uint32_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? ":" : "", names[i]);
    p++;
    h->env[k++] = p;
    p += sprintf(p, "LISTEN_PID=");
    h->pid_digits = p; /* room for 20 digits and the '\0' remains */
    *p = '\0';
    h->env[k] = NULL;
    memcpy(h->fds, fds, n * sizeof(int));
    h->n = n;
    h->extra = extra;
    return 0;
}

int zg_handover_top(const zg_handover_t *h)
{
    return ZG_LISTEN_FDS_START + (int)h->n + (h->extra >= 0);
}

int zg_handover_child(zg_handover_t *h, int *keep, size_t nkeep)
{
    int top = zg_handover_top(h), tmp[ZG_INHERIT_MAX + 1];
    uint32_t all = h->n + (h->extra >= 0);
    char digits[24];
    size_t nd = 0;
    long pid;

    /* Everything the child keeps goes above the range first, then every
     * descriptor to pass, so that none is overwritten before it moves. */
    for (size_t i = 0; i < nkeep; i++) {
        int fd;

        if (keep[i] < 0 || keep[i] >= top)
            continue;
        fd = fcntl(keep[i], F_DUPFD_CLOEXEC, top);
        if (fd < 0)
            return -errno;
        close(keep[i]);
        keep[i] = fd;
    }
    for (uint32_t i = 0; i < all; i++) {
        tmp[i] = fcntl(i < h->n ? h->fds[i] : h->extra, F_DUPFD_CLOEXEC, top);
        if (tmp[i] < 0)
            return -errno;
    }
    for (uint32_t i = 0; i < all; i++)
        close(i < h->n ? h->fds[i] : h->extra);
    for (uint32_t i = 0; i < all; i++) {
        /* dup2 leaves the copy without close-on-exec. */
        if (dup2(tmp[i], ZG_LISTEN_FDS_START + (int)i) < 0)
            return -errno;
        close(tmp[i]);
    }
    for (pid = (long)getpid(); pid > 0 || nd == 0; pid /= 10)
        digits[nd++] = (char)('0' + pid % 10);
    for (size_t i = 0; i < nd; i++)
        h->pid_digits[i] = digits[nd - 1 - i];
    h->pid_digits[nd] = '\0';
    environ = h->env;
    zg_handover_kept[0] = h->env;
    zg_handover_kept[1] = h->strings;
    return 0;
}

void zg_handover_free(zg_handover_t *h)
{
    free(h->env);
    free(h->strings);
    h->env = NULL;
    h->strings = NULL;
    h->pid_digits = NULL;
}
