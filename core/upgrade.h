/* SPDX-License-Identifier: MIT */
/*
 * Description: binary upgrade without dropping a connection (SIGUSR2,
 * `zerg -s upgrade`). The running process forks and execs the file it
 * was started from (argv[0] made absolute at start, so a binary replaced
 * at that path is the one run) with its own arguments, passing its
 * listening sockets as socket activation does (activation.h) and a pipe
 * on which the new process says that it serves. Meanwhile the pid file is
 * set aside as "PID.oldbin" so that the new process can lock and write
 * its own. Once the new process serves, the old one stops accepting and
 * drains; if the new one ends first, or does not serve within 10 s plus
 * shutdown_timeout_ms, it is killed, the pid file is put back and the
 * old one goes on serving. Main thread only (a plain zerg's or a
 * master's); one upgrade at a time.
 */
#ifndef ZG_UPGRADE_H
#define ZG_UPGRADE_H

#include <stdint.h>
#include <sys/types.h>

#include "engine.h"

/* How long an upgrade waits for the new process, beyond
 * shutdown_timeout_ms. */
#define ZG_UPGRADE_WAIT_MS 10000

/*
 * At start, before anything else runs: remember argv (the new binary is
 * given the same arguments) and resolve argv[0] to an absolute path (PATH
 * is searched when it has no '/'), and, in a process an upgrade started,
 * take the channel to the old process from $ZERG_UPGRADE ("<old pid>:
 * <fd>", honoured only when the old pid is our parent; removed from the
 * environment either way). argv must live as long as the process.
 */
void zg_upgrade_init(char **argv);

/* In the new process, once it serves: tell the old process (once).
 * Returns 1 then (the old process stops accepting: see
 * zg_upgrade_adopted), 0 in a process no upgrade started. A master calls
 * it when its first worker serves. */
int zg_upgrade_ready(void);

/* After zg_upgrade_ready returned 1: whether listening socket fd was
 * passed by the old process, which had bound it itself, so that this
 * process now shuts it down at a stop as its own (1), or the old process
 * had inherited it (systemd's: never shut down) or fd was not passed (0). */
int zg_upgrade_adopted(int fd);

/* In a forked child that is not the upgrade's new server (a master's
 * worker): close the channel and refuse upgrades (they are the master's
 * to do). Async-signal-safe. */
void zg_upgrade_drop(void);

/*
 * Begin an upgrade, passing the n listening sockets fds named names (a
 * name may repeat: the sockets of one reuseport listener); own[i] says
 * the caller bound fds[i] itself (the new process adopts it once it
 * serves) rather than inherited it. pidfd is the
 * locked pid file at pid_path (or -1 / NULL: none); it is renamed to
 * "pid_path.oldbin" until the upgrade ends. Logs what it does and why it
 * refuses (an upgrade already under way, a binary that cannot be
 * executed, an earlier upgrade's old process still holding the .oldbin
 * file). Returns 0 once the new process runs, -errno when refused.
 */
int zg_upgrade_start(const int *fds, const char *const *names,
                     const uint8_t *own, uint32_t n, int pidfd,
                     const char *pid_path, uint32_t shutdown_timeout_ms);

/* The descriptor to poll for readability while an upgrade waits for the
 * new process, else -1. */
int zg_upgrade_fd(void);

/* Milliseconds until the wait for the new process gives up (0: now), or
 * -1 when no upgrade is under way. */
int zg_upgrade_wait_ms(void);

/*
 * After the descriptor was readable or the wait ran out: 0 while still
 * waiting (or none under way); 1 when the new process serves (the
 * caller now stops accepting on the shared sockets without shutting
 * them down, drains and exits; zg_upgrade_pidfile names its pid file);
 * -1 when the upgrade failed: the new process is gone, the pid file is
 * back, the reason is logged, and the caller serves on.
 */
int zg_upgrade_poll(void);

/* A stop during an upgrade: 1 if the new process already serves (it goes
 * on; the caller must not shut the shared sockets down), else the upgrade
 * is abandoned (new process killed, pid file back) and 0. */
int zg_upgrade_abort(void);

/* The name of this process's pid file now: path, or path.oldbin once an
 * upgrade set it aside. */
const char *zg_upgrade_pidfile(const char *path);

/* The new process of an upgrade that succeeded or is under way, else 0. */
pid_t zg_upgrade_pid(void);

/*
 * For a plain zerg (not a master): SIGUSR2, passing every listening
 * socket of e (each reuseport reactor's too). Refused while e drains.
 */
void zg_upgrade_engine_start(zg_engine_t *e, int pidfd);

/* zg_upgrade_poll for e: once the new process serves, mark e's listening
 * sockets as not ours to shut down, tell systemd the new MAINPID and
 * begin e's graceful stop (zg_engine_drain, bounded by the watchdog).
 * Returns 1 then (the caller waits for the drain and exits 0), else 0. */
int zg_upgrade_engine_poll(zg_engine_t *e);

/* zg_upgrade_abort for e, before a stop of e (fast or graceful). */
void zg_upgrade_engine_abort(zg_engine_t *e);

/* zg_upgrade_ready for e, once it serves: then e's listeners whose
 * sockets the old process had bound itself are e's own (shut down at a
 * fast stop), as if e had bound them. */
void zg_upgrade_engine_ready(zg_engine_t *e);

#endif /* ZG_UPGRADE_H */
