/* SPDX-License-Identifier: MIT */
/*
 * Description: socket activation (systemd's LISTEN_FDS protocol): the
 * listening sockets a service manager (or the previous zerg, one day)
 * passed in, matched to listeners by name (LISTEN_FDNAMES), else by
 * address. Main thread, at start, before any socket is bound.
 */
#ifndef ZG_ACTIVATION_H
#define ZG_ACTIVATION_H

#include <stddef.h>
#include <sys/socket.h>

#define ZG_INHERIT_MAX 64

typedef struct zg_inherited_s {
    int fd;
    char name[64]; /* from LISTEN_FDNAMES, "" if none */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int claimed;
} zg_inherited_t;

/*
 * Take the sockets passed with LISTEN_FDS (fds 3.., only if LISTEN_PID is
 * this process), mark them close-on-exec and clear the variables. Returns
 * how many (0 without socket activation), or -errno with one line in err
 * (a passed fd that is not a listening TCP socket, too many).
 */
int zg_activation_take(zg_inherited_t *in, size_t max, char *err,
                       size_t errlen);

/* The inherited socket for listener name with address sa (a port of 0
 * matches any port), or NULL. Name matches win over address matches. */
zg_inherited_t *zg_activation_find(zg_inherited_t *in, size_t n,
                                   const char *name, const struct sockaddr *sa);

#endif /* ZG_ACTIVATION_H */
