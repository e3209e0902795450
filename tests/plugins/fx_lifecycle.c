/* SPDX-License-Identifier: MIT */
/*
 * Description: integration-test fixture for the connection lifecycle
 * (tests/integration/test_lifecycle.py). A tiny line protocol drives every
 * ABI 1.1 call: timers, pause/resume, large output with on_writable,
 * close modes, held input, draining; STATS reports what the host did
 * (on_close reasons, callbacks fired) so tests can check it from outside.
 *
 * Commands, one per line ("\n", an optional "\r" before it is ignored):
 *   ECHO text       -> "text\n"
 *   TIMER ms        -> set_timer(ms); on_timeout sends "TIMEOUT\n"
 *                      (ms == 0 disarms)
 *   BIG n           -> n bytes, byte i = 'a' + i % 26, via reserve/commit;
 *                      if more than 64 KiB is then unsent, want_writable and
 *                      on_writable sends once "WRITABLE <pending> <ms>\n"
 *                      (output pending then, ms since the request)
 *   BULK n          -> the same n bytes, never asking for on_writable
 *   CLOSE flush|abort|write -> close(c, ZG_CLOSE_FLUSH|ABORT|WRITE)
 *   PAUSE ms        -> pause_read(1) and a timer: on_timeout resumes
 *                      reading and sends "RESUMED\n" (a "RESUME" line could
 *                      never arrive while reading is paused)
 *   HOLD            -> from now on consume nothing (held input grows)
 *   DRAIN?          -> "1\n" or "0\n" from draining()
 *   STATS           -> one line of counters for this listener (see fx_stats)
 *   anything else   -> "ERR\n"
 *
 * Before each command, if the connection's unsent output is at least
 * "out_cap" bytes (config, default 1 MiB) the fixture stops consuming,
 * pauses reading (so held input stays small and TCP flow control stops
 * the client) and asks for on_writable, which resumes reading and so has
 * the held input presented again: what a well-behaved pipelining protocol
 * does.
 * on_drain sends "DRAINING\n" and closes with ZG_CLOSE_FLUSH, unless the
 * config says "drain": "ignore". Nothing is logged per request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zerg/plugin.h>

#define FX_LINE_MAX        256   /* longer lines are answered "ERR" */
#define FX_CHUNK           65536 /* reserve() serves at most 64 KiB */
#define FX_NOTE_AT         65536 /* BIG asks for on_writable past this */
#define FX_OUT_CAP_DEFAULT 1048576

/* Counters of one listener, shared by its reactors (atomic builtins). */
typedef struct fx_listener_s {
    size_t out_cap;   /* stop consuming at this much unsent output */
    int drain_ignore; /* on_drain does nothing */
    uint64_t accepts;
    uint64_t closes[8]; /* by zg_close_reason_t */
    uint64_t timeouts;  /* on_timeout calls */
    uint64_t writables; /* on_writable calls */
    uint64_t drains;    /* on_drain calls */
    uint64_t halfrx;    /* bytes consumed after CLOSE write */
    uint64_t stalls;    /* times out_cap stopped consumption */
} fx_listener_t;

typedef struct fx_conn_s {
    fx_listener_t *l;
    int hold;            /* HOLD seen: consume nothing more */
    int stalled;         /* stopped at out_cap, waits for on_writable */
    int note;            /* BIG asked for a WRITABLE line */
    int paused;          /* PAUSE: the timer resumes reading */
    int shut;            /* CLOSE write issued */
    uint64_t note_since; /* ms (monotonic) of the want_writable */
} fx_conn_t;

static const zg_api_t *api;
static unsigned char fx_pattern[FX_CHUNK + 26];

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

static uint64_t fx_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void fx_count(uint64_t *p)
{
    __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
}

static uint64_t fx_load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The unsigned integer after "key": in a flat JSON object, or dflt. */
static long long fx_conf_num(const char *conf, const char *key, long long dflt)
{
    const char *p = strstr(conf, key);

    if (p == NULL)
        return dflt;
    p = strchr(p + strlen(key), ':');
    if (p == NULL)
        return dflt;
    return strtoll(p + 1, NULL, 10);
}

static int fx_init(const zg_api_t *host, const char *conf, size_t len,
                   void **plugin_data, char *errbuf, size_t errlen)
{
    fx_listener_t *l;

    (void)len;
    if (host == NULL || !ZG_API_HAS(host, set_timer) ||
        !ZG_API_HAS(host, want_writable) || !ZG_API_HAS(host, draining)) {
        snprintf(errbuf, errlen, "fx_lifecycle needs a host of ABI 1.1");
        return -1;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    l->out_cap = (size_t)fx_conf_num(conf, "\"out_cap\"", FX_OUT_CAP_DEFAULT);
    l->drain_ignore = strstr(conf, "\"ignore\"") != NULL;
    for (size_t i = 0; i < sizeof(fx_pattern); i++)
        fx_pattern[i] = (unsigned char)('a' + i % 26);
    /* Set once: a reload runs init again while reactors read it. */
    if (api != host)
        api = host;
    *plugin_data = l;
    return 0;
}

static void fx_fini(void *plugin_data)
{
    free(plugin_data);
}

static int fx_reactor_init(void *plugin_data, int reactor_id,
                           void **reactor_data)
{
    (void)reactor_id;
    *reactor_data = plugin_data;
    return 0;
}

static int fx_on_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    fx_conn_t *st = calloc(1, sizeof(*st));

    (void)c;
    if (st == NULL)
        return -1;
    st->l = reactor_data;
    fx_count(&st->l->accepts);
    *conn_data = st;
    return 0;
}

/* Copy the line starting at byte off of in into buf (at most cap - 1
 * bytes, NUL-terminated, without "\r\n"). Returns the line's length
 * including "\n", or 0 if no complete line starts at off. */
static size_t fx_line(const zg_input_t *in, size_t off, char *buf, size_t cap)
{
    size_t pos = 0, n = 0;

    for (unsigned v = 0; v < in->nviews; v++) {
        const zg_view_t *vw = &in->views[v];
        size_t i = 0;

        if (pos + vw->len <= off) {
            pos += vw->len;
            continue;
        }
        if (off > pos)
            i = off - pos;
        for (; i < vw->len; i++) {
            unsigned char ch = vw->data[i];

            if (ch == '\n') {
                if (n > 0 && n < cap && buf[n - 1] == '\r')
                    n--;
                buf[n < cap ? n : cap - 1] = '\0';
                return pos + i + 1 - off;
            }
            if (n < cap - 1)
                buf[n] = (char)ch;
            n++;
        }
        pos += vw->len;
    }
    return 0;
}

static int fx_send_str(zg_conn_t *c, const char *s)
{
    return api->send(c, s, strlen(s));
}

static int fx_big(zg_conn_t *c, fx_conn_t *st, unsigned long long n, int note)
{
    unsigned long long done = 0;

    while (done < n) {
        size_t chunk = n - done > FX_CHUNK ? FX_CHUNK : (size_t)(n - done);
        size_t avail = 0;
        unsigned char *p = api->reserve(c, chunk, &avail);

        if (p == NULL || avail < chunk)
            return -1;
        memcpy(p, fx_pattern + done % 26, chunk);
        if (api->commit(c, chunk) < 0)
            return -1;
        done += chunk;
    }
    if (note && api->output_pending(c) > FX_NOTE_AT && !st->note) {
        st->note = 1;
        st->note_since = fx_now_ms();
        api->want_writable(c, 1);
    }
    return 0;
}

static int fx_stats(zg_conn_t *c, fx_listener_t *l)
{
    char line[512];

    snprintf(line, sizeof(line),
             "accepts=%llu peer=%llu local=%llu error=%llu limit=%llu "
             "timeout=%llu shutdown=%llu timers=%llu writables=%llu "
             "drains=%llu halfrx=%llu stalls=%llu\n",
             (unsigned long long)fx_load(&l->accepts),
             (unsigned long long)fx_load(&l->closes[ZG_CLOSE_PEER]),
             (unsigned long long)fx_load(&l->closes[ZG_CLOSE_LOCAL]),
             (unsigned long long)fx_load(&l->closes[ZG_CLOSE_ERROR]),
             (unsigned long long)fx_load(&l->closes[ZG_CLOSE_LIMIT]),
             (unsigned long long)fx_load(&l->closes[ZG_CLOSE_TIMEOUT]),
             (unsigned long long)fx_load(&l->closes[ZG_CLOSE_SHUTDOWN]),
             (unsigned long long)fx_load(&l->timeouts),
             (unsigned long long)fx_load(&l->writables),
             (unsigned long long)fx_load(&l->drains),
             (unsigned long long)fx_load(&l->halfrx),
             (unsigned long long)fx_load(&l->stalls));
    return fx_send_str(c, line);
}

/* Run one command. Returns 0 to go on, 1 to stop consuming after this
 * line (a close or pause was requested), -1 to fail the connection. */
static int fx_command(zg_conn_t *c, fx_conn_t *st, char *line)
{
    char *arg = strchr(line, ' ');

    if (arg != NULL)
        *arg++ = '\0';
    else
        arg = line + strlen(line);

    if (strcmp(line, "ECHO") == 0) {
        if (api->send(c, arg, strlen(arg)) < 0 || api->send(c, "\n", 1) < 0)
            return -1;
        return 0;
    }
    if (strcmp(line, "TIMER") == 0)
        return api->set_timer(c, (uint32_t)strtoul(arg, NULL, 10)) < 0 ? -1 : 0;
    if (strcmp(line, "BIG") == 0)
        return fx_big(c, st, strtoull(arg, NULL, 10), 1);
    if (strcmp(line, "BULK") == 0)
        return fx_big(c, st, strtoull(arg, NULL, 10), 0);
    if (strcmp(line, "CLOSE") == 0) {
        if (strcmp(arg, "flush") == 0)
            api->close(c, ZG_CLOSE_FLUSH);
        else if (strcmp(arg, "abort") == 0)
            api->close(c, ZG_CLOSE_ABORT);
        else if (strcmp(arg, "write") == 0) {
            api->close(c, ZG_CLOSE_WRITE);
            st->shut = 1;
            return 0; /* keep reading */
        } else
            return fx_send_str(c, "ERR\n") < 0 ? -1 : 0;
        return 1;
    }
    if (strcmp(line, "PAUSE") == 0) {
        st->paused = 1;
        if (api->pause_read(c, 1) < 0 ||
            api->set_timer(c, (uint32_t)strtoul(arg, NULL, 10)) < 0)
            return -1;
        return 1;
    }
    if (strcmp(line, "HOLD") == 0) {
        st->hold = 1;
        return 1;
    }
    if (strcmp(line, "DRAIN?") == 0)
        return fx_send_str(c, api->draining() ? "1\n" : "0\n") < 0 ? -1 : 0;
    if (strcmp(line, "STATS") == 0)
        return fx_stats(c, st->l) < 0 ? -1 : 0;
    return fx_send_str(c, "ERR\n") < 0 ? -1 : 0;
}

static long fx_on_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    fx_conn_t *st = conn_data;
    char line[FX_LINE_MAX];
    size_t off = 0, n;

    if (st->hold)
        return 0;
    while (off < in->total) {
        int rc;

        if (st->shut) {
            /* Our side is shut: count what still arrives, answer nothing. */
            __atomic_fetch_add(&st->l->halfrx, in->total - off,
                               __ATOMIC_RELAXED);
            return (long)in->total;
        }
        if (api->output_pending(c) >= st->l->out_cap) {
            if (!st->stalled) {
                st->stalled = 1;
                fx_count(&st->l->stalls);
                api->pause_read(c, 1);
                api->want_writable(c, 1);
            }
            break;
        }
        n = fx_line(in, off, line, sizeof(line));
        if (n == 0)
            break;
        off += n;
        if (n > FX_LINE_MAX) {
            if (fx_send_str(c, "ERR\n") < 0)
                return -1;
            continue;
        }
        rc = fx_command(c, st, line);
        if (rc < 0)
            return -1;
        if (rc > 0)
            break;
    }
    /* Bytes after EOF that never form a line are dropped. */
    if ((in->flags & ZG_IN_EOF) && !st->stalled && !st->paused && !st->hold)
        off = in->total;
    return (long)off;
}

static void fx_on_writable(zg_conn_t *c, void *conn_data)
{
    fx_conn_t *st = conn_data;
    char msg[64];

    fx_count(&st->l->writables);
    if (st->note) {
        st->note = 0;
        snprintf(msg, sizeof(msg), "WRITABLE %zu %llu\n",
                 api->output_pending(c),
                 (unsigned long long)(fx_now_ms() - st->note_since));
        fx_send_str(c, msg);
    }
    if (st->stalled) {
        /* Resuming presents the held input again. */
        st->stalled = 0;
        api->pause_read(c, 0);
    }
}

static void fx_on_timeout(zg_conn_t *c, void *conn_data)
{
    fx_conn_t *st = conn_data;

    fx_count(&st->l->timeouts);
    if (st->paused) {
        st->paused = 0;
        api->pause_read(c, 0);
        fx_send_str(c, "RESUMED\n");
        return;
    }
    fx_send_str(c, "TIMEOUT\n");
}

static void fx_on_drain(zg_conn_t *c, void *conn_data)
{
    fx_conn_t *st = conn_data;

    fx_count(&st->l->drains);
    if (st->l->drain_ignore)
        return;
    fx_send_str(c, "DRAINING\n");
    api->close(c, ZG_CLOSE_FLUSH);
}

static void fx_on_close(zg_conn_t *c, void *conn_data, zg_close_reason_t reason)
{
    fx_conn_t *st = conn_data;

    (void)c;
    if (st == NULL)
        return;
    if ((unsigned)reason < 8)
        fx_count(&st->l->closes[reason]);
    free(st);
}

static const char fx_busy[] = "BUSY\n";

static const zg_plugin_t fx_desc = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 1,
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "fx_lifecycle",
    .version = "1.0.0",
    .init = fx_init,
    .fini = fx_fini,
    .reactor_init = fx_reactor_init,
    .on_accept = fx_on_accept,
    .on_data = fx_on_data,
    .on_close = fx_on_close,
    .on_writable = fx_on_writable,
    .on_timeout = fx_on_timeout,
    .on_drain = fx_on_drain,
    .over_limit_response = fx_busy,
    .over_limit_response_len = sizeof(fx_busy) - 1,
};

const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_desc;
}
