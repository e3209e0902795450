/* SPDX-License-Identifier: MIT */
/*
 * Description: socket activation (activation.h): read LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES, check each passed descriptor is a
 * listening stream socket, and match them to listeners.
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
