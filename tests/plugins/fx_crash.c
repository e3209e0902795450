/* SPDX-License-Identifier: MIT */
/*
 * Description: crash test fixture. A line protocol: "SEGV" dereferences
 * NULL, "ABRT" calls abort(), "HANG" spins forever in on_data, "RECURSE"
 * overflows the reactor's stack; any other line is echoed back, so a test
 * can tell a served connection from a dead one. Config {"init_ms": N}:
 * init sleeps N ms.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zerg/plugin.h"

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

static const zg_api_t *fx_api;

/* Volatile, so the compiler cannot prove the loads and stores away. */
static int *volatile fx_null;
static volatile unsigned long fx_spins;

/* A config {"init_ms": N} makes init take N ms (at most 5000): a worker
 * that is slow to start, for a stop that comes meanwhile. */
static int fx_init(const zg_api_t *api, const char *conf, size_t len,
                   void **plugin_data, char *errbuf, size_t errlen)
{
    const char *k = conf != NULL ? memmem(conf, len, "\"init_ms\":", 10) : NULL;

    (void)errbuf;
    (void)errlen;
    if (k != NULL) {
        long ms = strtol(k + 10, NULL, 10);
        struct timespec ts = {0, 0};

        ms = ms < 0 ? 0 : ms > 5000 ? 5000 : ms;
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
    fx_api = api;
    *plugin_data = NULL;
    return 0;
}

static int fx_on_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    (void)c;
    (void)reactor_data;
    *conn_data = NULL;
    return 0;
}

/* The store through NULL, meant: kept out of UBSan's checks, which would
 * report it as an error before the fault that the test wants zerg to
 * handle. */
static __attribute__((noinline, no_sanitize("undefined"))) void fx_segv(void)
{
    *fx_null = 1;
}

/* Each level keeps a buffer on the stack and uses it after the call, so
 * that the recursion is neither a loop nor a tail call. */
static __attribute__((noinline)) unsigned long fx_recurse(unsigned long n)
{
    volatile char pad[512];

    if (fx_null != NULL) /* never: it only keeps the compiler quiet */
        return n;
    pad[n % sizeof(pad)] = (char)n;
    return fx_recurse(n + 1) + (unsigned long)pad[(n * 7) % sizeof(pad)];
}

static long fx_on_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    size_t done = 0;

    (void)conn_data;
    for (;;) {
        long nl = zg_input_find_byte(in, done, '\n');
        char line[64];
        size_t n;

        if (nl < 0)
            return (long)done;
        n = (size_t)nl - done + 1;
        if (n > sizeof(line) - 1)
            n = sizeof(line) - 1;
        zg_input_copy(in, done, line, n);
        line[n] = '\0';
        if (strcmp(line, "SEGV\n") == 0)
            fx_segv();
        if (strcmp(line, "ABRT\n") == 0)
            abort();
        if (strcmp(line, "HANG\n") == 0) {
            for (;;)
                fx_spins++;
        }
        if (strcmp(line, "RECURSE\n") == 0)
            fx_spins = fx_recurse(0);
        if (fx_api->send(c, line, n) < 0)
            return -1;
        done = (size_t)nl + 1;
    }
}

static void fx_on_close(zg_conn_t *c, void *conn_data, zg_close_reason_t reason)
{
    (void)c;
    (void)conn_data;
    (void)reason;
}

static const zg_plugin_t fx_desc = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "fx_crash",
    .version = "1.0.0",
    .init = fx_init,
    .on_accept = fx_on_accept,
    .on_data = fx_on_data,
    .on_close = fx_on_close,
};

const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_desc;
}
