/* SPDX-License-Identifier: MIT */
/*
 * Description: the fake host the http fuzz targets share: a zg_api_t
 * that collects a connection's output, delivers a byte stream as exact-size
 * heap views (so a sanitizer sees any over-read) and drains output when
 * the plugin pauses. The including file first includes the http plugin's
 * sources and defines FZ_NCONF and fz_confs[FZ_NCONF], the listener
 * configs (JSON text) fz_setup() has the host's key-table code fill
 * (host_conf.h) and init_conf() load. A config with an "access_log" gets
 * its lines collected too (fixed clocks, so they depend on the input
 * only): fz_log_ok() checks them. Static functions: one copy per target.
 */
#ifndef ZG_FUZZ_HOST_H
#define ZG_FUZZ_HOST_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_conf.h"

/* ---- a minimal host ---- */

typedef struct fz_out_s {
    unsigned char *buf;
    size_t len, cap;
    size_t drained;
    unsigned char rsv[65536];
    size_t room;
    int rsv_on;
    int closed;
    zg_close_how_t how;
    int paused;
    int resumed; /* pause_read(c, 0) undid a pause: present held input */
    uint32_t timer;
    char *log; /* access log lines written */
    size_t loglen, logcap;
    unsigned counted; /* requests count_requests() was told of */
} fz_out_t;

static fz_out_t *fz; /* the connection being driven */
static int fz_conn_storage;
#define FZ_CONN ((zg_conn_t *)&fz_conn_storage)

static void fz_append(const void *p, size_t n)
{
    if (fz->len + n > fz->cap) {
        size_t cap = (fz->len + n) * 2;
        unsigned char *b = realloc(fz->buf, cap);

        if (b == NULL)
            abort();
        fz->buf = b;
        fz->cap = cap;
    }
    if (n > 0)
        memcpy(fz->buf + fz->len, p, n);
    fz->len += n;
}

static int fz_send(zg_conn_t *c, const void *d, size_t n)
{
    if (c != FZ_CONN)
        abort();
    if (fz->closed)
        return -EPIPE;
    fz->rsv_on = 0;
    fz_append(d, n);
    return 0;
}

static int fz_send_view(zg_conn_t *c, const zg_view_t *v)
{
    return fz_send(c, v->data, v->len);
}

static void *fz_reserve(zg_conn_t *c, size_t min, size_t *avail)
{
    if (c != FZ_CONN)
        abort();
    if (fz->closed || min > sizeof(fz->rsv))
        return NULL;
    fz->rsv_on = 1;
    fz->room = min; /* tight: every response needs a new reservation */
    *avail = min;
    return fz->rsv;
}

static int fz_commit(zg_conn_t *c, size_t n)
{
    if (!fz->rsv_on || n > fz->room)
        abort(); /* the plugin broke the reserve/commit contract */
    fz->rsv_on = 0;
    fz_append(fz->rsv, n);
    return 0;
}

static int fz_close(zg_conn_t *c, zg_close_how_t how)
{
    if (!fz->closed || how != ZG_CLOSE_WRITE)
        fz->how = how;
    fz->closed = 1;
    return 0;
}

static int fz_pause_read(zg_conn_t *c, int paused)
{
    if (fz->paused && !paused)
        fz->resumed = 1;
    fz->paused = paused;
    return 0;
}

static size_t fz_output_pending(zg_conn_t *c)
{
    return fz->len - fz->drained;
}

static int fz_set_timer(zg_conn_t *c, uint32_t ms)
{
    fz->timer = ms;
    return 0;
}

static int fz_want_writable(zg_conn_t *c, int on)
{
    return 0;
}

static int fz_draining(void)
{
    return 0;
}

static void fz_log(zg_log_level_t level, const char *fmt, ...)
{
    /* Loading a handler logs once at start-up; no logging per request. */
    if (fz != NULL)
        abort();
}

static uint64_t fz_conn_id(zg_conn_t *c)
{
    return c == FZ_CONN ? 1 : 0;
}

static int fz_half_open(zg_conn_t *c, int on)
{
    return 0;
}

static int fz_peer_addr(zg_conn_t *c, struct sockaddr *addr, socklen_t *len)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(40000);
    sin.sin_addr.s_addr = htonl(0xc0000209); /* 192.0.2.9 */
    memcpy(addr, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
    *len = sizeof(sin);
    return 0;
}

static void fz_count_requests(zg_conn_t *c, uint32_t n)
{
    if (c != FZ_CONN)
        abort();
    fz->counted += n;
}

/* The access log: one sink whose lines go to the connection driven. */
static int fz_sink_storage;

static zg_logsink_t *fz_log_open(const char *path, size_t buffer,
                                 uint32_t flush_ms, char *err, size_t errlen)
{
    return (zg_logsink_t *)&fz_sink_storage;
}

static int fz_log_write(zg_logsink_t *s, const char *lines, size_t len)
{
    if (s != (zg_logsink_t *)&fz_sink_storage || fz == NULL || len == 0)
        abort();
    if (fz->loglen + len > fz->logcap) {
        size_t cap = (fz->loglen + len) * 2;
        char *b = realloc(fz->log, cap);

        if (b == NULL)
            abort();
        fz->log = b;
        fz->logcap = cap;
    }
    memcpy(fz->log + fz->loglen, lines, len);
    fz->loglen += len;
    return 0;
}

/* Posted calls: run by the driver after each delivery, all of them (a
 * call may post again), so that when a response comes never depends on
 * how the input was cut. */
typedef void (*fz_post_fn)(zg_conn_t *c, void *conn_data, void *arg);
#define FZ_MAX_POSTS 256
static struct {
    fz_post_fn fn;
    void *arg;
} fz_posts[FZ_MAX_POSTS];
static unsigned fz_nposts;

static int fz_post(uint64_t id, fz_post_fn fn, void *arg)
{
    if (id != 1 || fz_nposts == FZ_MAX_POSTS)
        return -ENOMEM;
    fz_posts[fz_nposts].fn = fn;
    fz_posts[fz_nposts].arg = arg;
    fz_nposts++;
    return 0;
}

/* Run the posted calls (and those they post) for the connection whose
 * conn_data is cd, or NULL once it has closed. */
static void fz_run_posts(void *cd, int open)
{
    while (fz_nposts > 0) {
        fz_post_fn fn = fz_posts[0].fn;
        void *arg = fz_posts[0].arg;

        memmove(fz_posts, fz_posts + 1, (fz_nposts - 1) * sizeof(fz_posts[0]));
        fz_nposts--;
        fn(open ? FZ_CONN : NULL, open ? cd : NULL, arg);
    }
}

static const zg_api_t fz_api = {
    .struct_size = sizeof(zg_api_t),
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = ZG_ABI_MINOR,
    .send = fz_send,
    .send_view = fz_send_view,
    .reserve = fz_reserve,
    .commit = fz_commit,
    .close = fz_close,
    .pause_read = fz_pause_read,
    .output_pending = fz_output_pending,
    .log = fz_log,
    .set_timer = fz_set_timer,
    .want_writable = fz_want_writable,
    .draining = fz_draining,
    .conn_id = fz_conn_id,
    .post = fz_post,
    .half_open = fz_half_open,
    .conf_fill = zg_test_conf_node_fill,
    .peer_addr = fz_peer_addr,
    .count_requests = fz_count_requests,
    .log_open = fz_log_open,
    .log_write = fz_log_write,
};

static time_t fz_clock(void)
{
    return 1700000000;
}

static uint64_t fz_msec(void)
{
    return 5000;
}

static const zg_plugin_t *fz_plugin;
static void *fz_pd[FZ_NCONF], *fz_rd[FZ_NCONF];

static void fz_setup(void)
{
    static zg_conf_arena_t arena; /* the configs live as long as the run */
    char err[256];

    if (fz_plugin != NULL)
        return;
    http_clock = fz_clock;
    http_msec = fz_msec;
    fz_plugin = ZG_PLUGIN_ENTRY();
    for (int i = 0; i < FZ_NCONF; i++) {
        void *conf =
            zg_test_conf_fill(fz_plugin, fz_confs[i], strlen(fz_confs[i]),
                              &arena, err, sizeof(err));

        if (conf == NULL ||
            fz_plugin->init_conf(&fz_api, conf, &fz_pd[i], err, sizeof(err)) !=
                0 ||
            fz_plugin->reactor_init(fz_pd[i], 0, &fz_rd[i]) != 0) {
            fprintf(stderr, "fuzz setup: %s\n", err);
            abort();
        }
    }
}

/* A piece of received data: its own heap block of exactly len bytes. */
typedef struct fz_piece_s {
    unsigned char *p;
    size_t len;
} fz_piece_t;

#define FZ_MAX_PIECES 65536 /* also the longest stream driven */

static zg_view_t fz_views[FZ_MAX_PIECES];

/* Present the pending pieces once; drop what was consumed. Returns the
 * bytes consumed, or -1 if the plugin asked to close. */
static long fz_present(void *cd, fz_piece_t *pc, unsigned *np, unsigned flags)
{
    zg_view_t *v = fz_views;
    zg_input_t in;
    size_t total = 0, used;
    long rc;

    for (unsigned i = 0; i < *np; i++) {
        v[i].data = pc[i].p;
        v[i].len = pc[i].len;
        total += pc[i].len;
    }
    in.views = v;
    in.nviews = *np;
    in.flags = flags;
    in.total = total;
    rc = fz_plugin->on_data(FZ_CONN, cd, &in);
    if (rc < 0 || (size_t)rc > total)
        abort(); /* the plugin never closes by return, nor over-consumes */
    used = (size_t)rc;
    while (*np > 0 && used >= pc[0].len) {
        used -= pc[0].len;
        free(pc[0].p);
        memmove(pc, pc + 1, (*np - 1) * sizeof(*pc));
        (*np)--;
    }
    if (used > 0) {
        /* Trim the first piece into a new exact-size block. */
        unsigned char *b = malloc(pc[0].len - used);

        if (b == NULL)
            abort();
        memcpy(b, pc[0].p + used, pc[0].len - used);
        free(pc[0].p);
        pc[0].p = b;
        pc[0].len -= used;
    }
    return rc;
}

/* Run the posted calls; as the host does, present held input again
 * once a pause is undone (a handler's late response was sent). */
static void fz_settle(void *cd, fz_piece_t *pc, unsigned *np, unsigned flags)
{
    fz_run_posts(cd, 1);
    for (int guard = 0; guard < 1000 && fz->resumed && !fz->paused && *np > 0 &&
                        !(fz->closed && fz->how != ZG_CLOSE_WRITE);
         guard++) {
        fz->resumed = 0;
        fz_present(cd, pc, np, flags);
        fz_run_posts(cd, 1);
    }
    fz->resumed = 0;
}

/* Deliver stream in pieces of the given lengths (0 = whole); let output
 * drain whenever the plugin pauses. */
static void fz_run(int conf, const uint8_t *s, size_t n, const uint8_t *cuts,
                   size_t ncuts, fz_out_t *out)
{
    static fz_piece_t pc[FZ_MAX_PIECES];
    unsigned np = 0;
    size_t pos = 0, k = 0;
    void *cd;

    fz = out;
    if (fz_plugin->on_accept(FZ_CONN, fz_rd[conf], &cd) != 0)
        abort();
    while (pos < n) {
        size_t len = n - pos;

        if (ncuts > 0)
            len = 1 + cuts[k++ % ncuts] % 64;
        if (len > n - pos)
            len = n - pos;
        pc[np].p = malloc(len);
        if (pc[np].p == NULL)
            abort();
        memcpy(pc[np].p, s + pos, len);
        pc[np].len = len;
        np++;
        pos += len;
        if (out->closed && out->how != ZG_CLOSE_WRITE)
            break;
        fz_present(cd, pc, &np, 0);
        fz_settle(cd, pc, &np, 0);
        /* Drained output resumes a paused connection, whose held input
         * is then presented again. */
        for (int guard = 0; out->paused && guard < 1000; guard++) {
            out->drained = out->len;
            out->paused = 0;
            fz_plugin->on_writable(FZ_CONN, cd);
            fz_present(cd, pc, &np, 0);
            fz_settle(cd, pc, &np, 0);
        }
    }
    if (!out->closed) {
        fz_present(cd, pc, &np, ZG_IN_EOF);
        fz_settle(cd, pc, &np, ZG_IN_EOF);
    }
    if (out->timer != 0 && out->closed)
        fz_plugin->on_timeout(FZ_CONN, cd);
    fz_plugin->on_close(FZ_CONN, cd, ZG_CLOSE_PEER);
    fz_run_posts(NULL, 0);
    while (np > 0)
        free(pc[--np].p);
}

/* How a close ends, as the client sees it: a lingering close is what
 * the host does for a FLUSH close with unread input anyway, and whether
 * the plugin saw the bytes after the last request depends on the cut. */
static int fz_ending(zg_close_how_t how)
{
    return how == ZG_CLOSE_LINGER ? ZG_CLOSE_FLUSH : (int)how;
}

/* Same bytes out, same ending, same access log. */
static int fz_same(const fz_out_t *a, const fz_out_t *b)
{
    return a->len == b->len &&
           (a->len == 0 || memcmp(a->buf, b->buf, a->len) == 0) &&
           a->closed == b->closed &&
           (!a->closed || fz_ending(a->how) == fz_ending(b->how)) &&
           a->loglen == b->loglen &&
           (a->loglen == 0 || memcmp(a->log, b->log, a->loglen) == 0);
}

/* A quoted field of a combined line at *p: '"', bytes that are
 * printable and neither '"' nor '\\' but in "\\xHH" escapes, '"'. */
static int fz_quoted(const char **p, const char *e)
{
    const char *q = *p;

    if (q == e || *q++ != '"')
        return 0;
    while (q < e && *q != '"') {
        if (*q == '\\') {
            if (e - q < 4 || q[1] != 'x' || !strchr("0123456789ABCDEF", q[2]) ||
                q[2] == '\0' || !strchr("0123456789ABCDEF", q[3]) ||
                q[3] == '\0')
                return 0;
            q += 4;
            continue;
        }
        q++;
    }
    if (q == e)
        return 0;
    *p = q + 1;
    return 1;
}

static int fz_digits(const char **p, const char *e, char stop)
{
    const char *q = *p;

    while (q < e && *q >= '0' && *q <= '9')
        q++;
    if (q == *p || q == e || *q != stop)
        return 0;
    *p = q + 1;
    return 1;
}

/* One combined line (without its '\n'): the shape nginx's is, with the
 * client's strings escaped. */
static int fz_combined_ok(const char *p, const char *e)
{
    static const char head[] = "192.0.2.9 - - [";

    if ((size_t)(e - p) < sizeof(head) + ZG_HTTP_ALOG_TIME_LEN ||
        memcmp(p, head, sizeof(head) - 1) != 0)
        return 0;
    p += sizeof(head) - 1 + ZG_HTTP_ALOG_TIME_LEN;
    if (e - p < 2 || p[0] != ']' || p[1] != ' ')
        return 0;
    p += 2;
    if (!fz_quoted(&p, e) || p == e || *p++ != ' ' || !fz_digits(&p, e, ' ') ||
        !fz_digits(&p, e, ' ') || !fz_quoted(&p, e) || p == e || *p++ != ' ' ||
        !fz_quoted(&p, e) || p == e || *p++ != ' ')
        return 0;
    /* request time: the fixed clocks make every one "0.000" */
    return e - p == 5 && memcmp(p, "0.000", 5) == 0;
}

/* One JSON line: an object with exactly the fields of a combined one. */
static int fz_json_ok(const char *p, const char *e)
{
    static const char *const strs[] = {"remote_addr", "time_local", "request",
                                       "http_referer", "http_user_agent"};
    json_error_t je;
    json_t *o = json_loadb(p, (size_t)(e - p), JSON_ALLOW_NUL, &je);
    int ok = o != NULL && json_is_object(o) && json_object_size(o) == 8 &&
             json_is_integer(json_object_get(o, "status")) &&
             json_is_integer(json_object_get(o, "body_bytes_sent")) &&
             json_is_real(json_object_get(o, "request_time"));

    for (size_t i = 0; ok && i < sizeof(strs) / sizeof(strs[0]); i++)
        ok = json_is_string(json_object_get(o, strs[i]));
    json_decref(o);
    return ok;
}

/* The access log of a run on listener conf: lines of printable ASCII in
 * the listener's format, one per request counted and at most one more
 * (a request the connection's end cut short). */
static int fz_log_ok(int conf, const fz_out_t *o)
{
    const zg_http_conf_t *c = fz_pd[conf];
    const char *p = o->log, *e = o->log + o->loglen;
    unsigned lines = 0;

    if (c->alog == NULL)
        return o->loglen == 0;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));

        if (nl == NULL)
            return 0;
        for (const char *q = p; q < nl; q++) {
            if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
                return 0;
        }
        if (!(c->alog_format == ZG_HTTP_ALOG_JSON ? fz_json_ok(p, nl)
                                                  : fz_combined_ok(p, nl)))
            return 0;
        lines++;
        p = nl + 1;
    }
    return lines == o->counted || lines == o->counted + 1;
}

#endif /* ZG_FUZZ_HOST_H */
