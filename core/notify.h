/* SPDX-License-Identifier: MIT */
/*
 * Description: the systemd notify protocol without libsystemd: one
 * datagram per message to the AF_UNIX socket named by $NOTIFY_SOCKET (a
 * path, or an abstract name starting with '@'). Main thread only.
 */
#ifndef ZG_NOTIFY_H
#define ZG_NOTIFY_H

/* Send state (e.g. "READY=1\nSTATUS=serving 2 listeners") to the service
 * manager. Returns 1 if sent, 0 if $NOTIFY_SOCKET is unset (not under a
 * manager that asked), -errno on failure (logged by the caller if it
 * cares). Never blocks. */
int zg_notify(const char *state);

#endif /* ZG_NOTIFY_H */
