/* SPDX-License-Identifier: MIT */
/*
 * Description: socket activation (systemd's LISTEN_FDS protocol), both
 * sides. Taking: the listening sockets a service manager, a master or the
 * previous zerg binary passed in, matched to listeners by name
 * (LISTEN_FDNAMES), else by address; main thread, at start, before any
 * socket is bound. Giving (zg_handover_*): lay sockets out at fds 3.. in
 * a forked child and describe them the same way, for a master's worker
 * and for the new binary of an upgrade.
 */
#ifndef ZG_ACTIVATION_H
#define ZG_ACTIVATION_H

#include <stddef.h>
#include <stdint.h>
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

/* Claim up to max more unclaimed inherited sockets for listener name with
 * address sa (as zg_activation_find picks them, in the order passed), for
 * the other reactors of a reuseport group; their descriptors go to fds.
 * Returns how many. */
size_t zg_activation_claim(zg_inherited_t *in, size_t n, const char *name,
                           const struct sockaddr *sa, int *fds, size_t max);

/*
 * The giving side. zg_handover_init runs in the parent before fork() and
 * may allocate; zg_handover_child runs in the child between fork() and
 * exec() (or, for a master's worker, instead of exec()) and is
 * async-signal-safe, so a multi-threaded process may fork for it.
 *
 * In the child: fds[i] is at 3 + i, extra (if not -1) at 3 + n, neither
 * close-on-exec; LISTEN_FDS=n, LISTEN_FDNAMES=names[0]:names[1]:...,
 * LISTEN_PID=<the child's pid> and the entries of add ("NAME=value",
 * replacing any NAME of the parent's) are in its environment (environ).
 */
typedef struct zg_handover_s {
    int fds[ZG_INHERIT_MAX]; /* the sockets, in LISTEN_FDS order */
    uint32_t n;
    int extra;        /* also passed, at fd 3 + n; -1: none */
    char **env;       /* the child's environ (malloc'd array) */
    char *pid_digits; /* room in env's LISTEN_PID entry */
    char *strings;    /* malloc'd: the entries env adds */
} zg_handover_t;

/* Prepare h for n (<= ZG_INHERIT_MAX) sockets fds named names (no ':' in
 * a name), extra and the NULL-terminated list add (may be NULL). Returns
 * 0, or -errno with one line in err. zg_handover_free releases it (the
 * descriptors stay the caller's). Main thread. */
int zg_handover_init(zg_handover_t *h, const int *fds, const char *const *names,
                     uint32_t n, int extra, const char *const *add, char *err,
                     size_t errlen);

/* The first descriptor above the laid-out range: 3 + n (+ 1 with extra). */
int zg_handover_top(const zg_handover_t *h);

/* In the child: lay the descriptors out and set environ = h->env. Each of
 * keep[0..nkeep) the child goes on using is first moved to top or above
 * (close-on-exec) and updated. The original descriptors are closed.
 * Returns 0 or -errno (the layout may be half done). Async-signal-safe. */
int zg_handover_child(zg_handover_t *h, int *keep, size_t nkeep);

void zg_handover_free(zg_handover_t *h);

#endif /* ZG_ACTIVATION_H */
