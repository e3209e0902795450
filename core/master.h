/* SPDX-License-Identifier: MIT */
/*
 * Description: the master process ("master": true): a small supervisor
 * that binds and holds the listening sockets, runs the server as its
 * worker (a fork that goes on as a plain zerg, taking the sockets the way
 * socket activation passes them), restarts the worker at once when it
 * dies without being asked to, backs off when it keeps dying, forwards
 * the operator's signals, and owns the pid file.
 */
#ifndef ZG_MASTER_H
#define ZG_MASTER_H

#include "config.h"
#include "engine.h"

/* What zg_master_run returns in the worker. */
#define ZG_MASTER_WORKER (-1)

/*
 * Run the master for *cfgp (which asks for it). The calling process must
 * be single-threaded (nothing started yet) with the error log open.
 * Returns ZG_MASTER_WORKER in a newly forked worker: it carries on as a
 * plain zerg (no pid file, no sd_notify: the master does both) on sockets
 * passed as LISTEN_FDS, with *cfgp, which a restarted worker finds
 * replaced by the configuration its predecessor last applied by a reload
 * (the first one freed); call zg_master_ready() once it serves and
 * zg_master_applied() after each reload. In the master, returns its exit
 * status once it is done (the worker's status after a requested stop; 1
 * if the first worker never became ready, or on a set-up failure, with
 * one line on stderr).
 */
int zg_master_run(zg_config_t **cfgp);

/* In a worker: tell the master this worker serves (its first READY). A
 * no-op in a process that is not a master's worker. Main thread. */
void zg_master_ready(void);

/* In a worker: tell the master the configuration e's reload applied (the
 * text of e->gen->cfg, which the master parses again as if read from its
 * path) and pass it the listening sockets, so that a worker restarted
 * after a crash, or an upgrade's new master, serves what this one served
 * (the master holds the sockets the reload bound from then on: they are
 * marked inherited here, not to be shut down by this worker). Waits for
 * a master that does not read at most 5 s, then gives up telling it (and
 * tells it no more); one warning line if it cannot be told. A
 * no-op in a process that is not a master's worker. Main thread. */
void zg_master_applied(zg_engine_t *e);

/* A wait status in words: "exited with status 1", "exited on signal
 * SIGSEGV (core dumped)". */
void zg_describe_status(int st, char *buf, size_t len);

#endif /* ZG_MASTER_H */
