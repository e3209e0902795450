/* SPDX-License-Identifier: MIT */
/*
 * Description: crashes and stuck threads. A fatal signal (SEGV, BUS, FPE,
 * ILL, ABRT, SYS) writes one line to the error log naming the signal, the
 * thread (reactor N, the acceptor, the main thread) and the plugin whose
 * callback was running, then a backtrace, and the process dies by the same
 * signal (exit status and core dump as without the handler). Every thread
 * zerg starts handles it on an alternate stack, so a stack overflow is
 * reported too. The stop watchdog bounds a stop: past its deadline it
 * names each reactor that has not stopped, the plugin it is in and where,
 * and ends the process.
 */
#ifndef ZG_CRASH_H
#define ZG_CRASH_H

#include <stdint.h>

struct zg_loader_s;

/*
 * Install the fatal-signal handlers and the calling (main) thread's
 * alternate stack, and call backtrace() once so that its unwinder is loaded
 * before any crash needs it. Main thread, once, after the error log is
 * open and before any other thread starts. Returns 0 or -errno (the
 * process then runs without the handler).
 */
int zg_crash_init(void);

/*
 * Give the calling thread an alternate signal stack and register it, so
 * that a crash line and the stop watchdog can name it: reactor >= 0 for
 * reactor threads, else -1 with role naming the thread ("acceptor"; role
 * must outlive the thread). Both are released when the thread exits. Call
 * first thing in every thread zerg starts; a thread without it still gets
 * the crash line, but not for a stack overflow.
 */
void zg_crash_thread(const char *role, int reactor);

/*
 * Note where each plugin loaded by ld (a .so, not a built-in) is mapped,
 * so that a crash is blamed on the plugin whose code is on the crashing
 * stack. Main thread: at start, after the plugins are loaded, and at each
 * reload, for the new generation's (a thread that crashes meanwhile finds
 * the table before the reload or after it, never one half written).
 */
void zg_crash_note_plugins(const struct zg_loader_s *ld);

/* "SIGSEGV" for SIGSEGV, or NULL for a signal without a name here.
 * Async-signal-safe. */
const char *zg_sig_name(int sig);

/*
 * The stop watchdog. Arm: if the process is still running ms milliseconds
 * from now, log, for every reactor thread still running, "reactor N did
 * not stop within <bound> (<ms> ms; plugin X callback running), exiting"
 * and its backtrace, remove pid_path (if not NULL) and _exit(1). bound
 * names the setting ("shutdown_timeout_ms"); it and pid_path must outlive
 * the watchdog. Arming again only ever moves the deadline earlier.
 * Disarm: stop it and join its thread. Main thread; returns at once.
 */
void zg_watchdog_arm(uint32_t ms, const char *bound, const char *pid_path);
void zg_watchdog_disarm(void);

/* How long a fast stop may take: shutdown_timeout_ms, but at least a
 * second (0 means "do not wait for connections", not "die at once"). */
static inline uint32_t zg_stop_bound_ms(uint32_t shutdown_timeout_ms)
{
    return shutdown_timeout_ms < 1000 ? 1000 : shutdown_timeout_ms;
}

#endif /* ZG_CRASH_H */
