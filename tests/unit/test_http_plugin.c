/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the whole http plugin (every .c file in
 * plugins/http) driven through its descriptor by a fake host: a zg_api_t whose
 * send, reserve and commit collect the output in a buffer (and log_write
 * the access log's lines). Asserts exact response bytes and log lines, how
 * the connection ends, and that the output does not depend on how the
 * input is split into views and calls.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/alog.c"
#include "http/conf.c"
#include "http/parse.c"
#include "http/chunked.c"
#include "http/handler.c"
#include "http/http.c"

#include "../fuzz/host_conf.h"

/* ---- the fake host ---- */

#define OUT_MAX (8u << 20)

typedef struct fake_s {
    unsigned char *out; /* everything sent, in order */
    size_t outlen;
    size_t drained; /* output_pending() = outlen - drained */
    unsigned char rsv[65536];
    size_t rsv_room;
    int rsv_on;
    int tight;  /* reserve() gives exactly min bytes */
    int closed; /* close() was called; how */
    zg_close_how_t how;
    int paused;
    int want_wr;
    int half_open;
    uint32_t timer;
    int nsend, nview, nreserve, ncommit;
    char log[16384]; /* access log lines written */
    size_t loglen;
    int nlog; /* log_write() calls */
} fake_t;

static fake_t F;
static int fake_conn_storage;
#define CONN ((zg_conn_t *)&fake_conn_storage)

static void fake_append(const void *p, size_t n)
{
    assert_true(F.outlen + n <= OUT_MAX);
    memcpy(F.out + F.outlen, p, n);
    F.outlen += n;
}

static int fake_send(zg_conn_t *c, const void *data, size_t len)
{
    assert_ptr_equal(c, CONN);
    if (F.closed)
        return -EPIPE;
    F.rsv_on = 0; /* as in the host, a reservation does not survive */
    F.nsend++;
    fake_append(data, len);
    return 0;
}

static int fake_send_view(zg_conn_t *c, const zg_view_t *v)
{
    assert_ptr_equal(c, CONN);
    if (F.closed)
        return -EPIPE;
    F.rsv_on = 0;
    F.nview++;
    fake_append(v->data, v->len);
    return 0;
}

static void *fake_reserve(zg_conn_t *c, size_t min, size_t *avail)
{
    assert_ptr_equal(c, CONN);
    if (F.closed || min > sizeof(F.rsv))
        return NULL;
    F.nreserve++;
    F.rsv_on = 1;
    F.rsv_room = F.tight ? min : sizeof(F.rsv);
    *avail = F.rsv_room;
    memset(F.rsv, 0xee, sizeof(F.rsv));
    return F.rsv;
}

static int fake_commit(zg_conn_t *c, size_t len)
{
    assert_ptr_equal(c, CONN);
    if (!F.rsv_on || len > F.rsv_room)
        return -EINVAL;
    F.ncommit++;
    F.rsv_on = 0;
    fake_append(F.rsv, len);
    return 0;
}

static int fake_close(zg_conn_t *c, zg_close_how_t how)
{
    assert_ptr_equal(c, CONN);
    if (!F.closed) {
        F.closed = 1;
        F.how = how;
    } else if (how == ZG_CLOSE_FLUSH || how == ZG_CLOSE_ABORT) {
        F.how = how;
    }
    return 0;
}

static int fake_pause_read(zg_conn_t *c, int paused)
{
    F.paused = paused;
    return 0;
}

static size_t fake_output_pending(zg_conn_t *c)
{
    return F.outlen - F.drained;
}

static int fake_set_timer(zg_conn_t *c, uint32_t ms)
{
    F.timer = ms;
    return 0;
}

static int fake_want_writable(zg_conn_t *c, int on)
{
    F.want_wr = on;
    return 0;
}

static int fake_draining(void)
{
    return 0;
}

/* Loading handlers logs a line each, at start-up only. */
static int fake_log_ok;

static void fake_log(zg_log_level_t level, const char *fmt, ...)
{
    (void)level;
    (void)fmt;
    if (!fake_log_ok)
        fail_msg("the plugin logged");
}

static uint64_t fake_conn_id(zg_conn_t *c)
{
    return c == CONN ? 7 : 0;
}

static int fake_half_open(zg_conn_t *c, int on)
{
    F.half_open = on;
    return 0;
}

/* The access log: one sink; lines collected in F.log. */
static int fake_sink;
static char fake_sink_path[256];

static zg_logsink_t *fake_log_open(const char *path, size_t buffer,
                                   uint32_t flush_ms, char *err, size_t errlen)
{
    if (strcmp(path, "/nonexistent/x.log") == 0) {
        snprintf(err, errlen, "cannot open %s (No such file or directory)",
                 path);
        return NULL;
    }
    snprintf(fake_sink_path, sizeof(fake_sink_path), "%s %zu %u", path, buffer,
             flush_ms);
    return (zg_logsink_t *)&fake_sink;
}

static int fake_log_write(zg_logsink_t *s, const char *lines, size_t len)
{
    assert_ptr_equal(s, &fake_sink);
    assert_true(len > 0 && lines[len - 1] == '\n');
    assert_true(F.loglen + len <= sizeof(F.log));
    memcpy(F.log + F.loglen, lines, len);
    F.loglen += len;
    F.nlog++;
    return 0;
}

/* The client: 192.0.2.1, or [2001:db8::7] when fake_v6 is set. */
static int fake_v6;

static int fake_peer_addr(zg_conn_t *c, struct sockaddr *addr, socklen_t *len)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

    assert_ptr_equal(c, CONN);
    sin.sin_addr.s_addr = htonl(0xc0000201);
    inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
    if (fake_v6) {
        memcpy(addr, &sin6, sizeof(sin6));
        *len = sizeof(sin6);
    } else {
        memcpy(addr, &sin, sizeof(sin));
        *len = sizeof(sin);
    }
    return 0;
}

static const zg_api_t fake_api = {
    .struct_size = sizeof(zg_api_t),
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = ZG_ABI_MINOR,
    .send = fake_send,
    .send_view = fake_send_view,
    .reserve = fake_reserve,
    .commit = fake_commit,
    .close = fake_close,
    .pause_read = fake_pause_read,
    .output_pending = fake_output_pending,
    .log = fake_log,
    .set_timer = fake_set_timer,
    .want_writable = fake_want_writable,
    .draining = fake_draining,
    .conn_id = fake_conn_id,
    .half_open = fake_half_open,
    .conf_fill = zg_test_conf_node_fill,
    .log_open = fake_log_open,
    .log_write = fake_log_write,
    .peer_addr = fake_peer_addr,
};

/* 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example). */
static time_t fake_now = 784111777;

static time_t fake_clock(void)
{
    return fake_now;
}

/* The request time clock, in ms. */
static uint64_t fake_ms = 1000000;

static uint64_t fake_msec(void)
{
    return fake_ms;
}

#define DATE "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"

/* ---- driving the plugin ---- */

typedef struct plug_s {
    const zg_plugin_t *p;
    void *pd, *rd, *cd;
    zg_conf_arena_t arena; /* the filled config, freed after fini */
} plug_t;

static plug_t P;

/* Bytes given to the plugin and not consumed yet: the host presents
 * them again, first, with the next bytes. */
static unsigned char *pend;
static size_t npend;

static void fake_reset(void)
{
    unsigned char *out = F.out;

    npend = 0;
    memset(&F, 0, sizeof(F));
    F.out = out;
}

/* Configure a listener as the host does: conf (JSON text) checked against
 * the plugin's key table and filled by the host's code, then init_conf. */
static void start(const char *conf)
{
    char err[256] = "";
    const void *filled;

    fake_reset();
    http_clock = fake_clock;
    http_msec = fake_msec;
    P.p = ZG_PLUGIN_ENTRY();
    filled =
        zg_test_conf_fill(P.p, conf, strlen(conf), &P.arena, err, sizeof(err));
    if (filled == NULL)
        fail_msg("config: %s", err);
    fake_log_ok = 1;
    if (P.p->init_conf(&fake_api, filled, &P.pd, err, sizeof(err)) != 0)
        fail_msg("init_conf: %s", err);
    fake_log_ok = 0;
    assert_int_equal(P.p->reactor_init(P.pd, 0, &P.rd), 0);
    assert_int_equal(P.p->on_accept(CONN, P.rd, &P.cd), 0);
}

static void stop(void)
{
    P.p->on_close(CONN, P.cd, ZG_CLOSE_PEER);
    P.p->reactor_fini(P.pd, P.rd);
    P.p->fini(P.pd);
    zg_conf_arena_free(&P.arena);
    memset(&P, 0, sizeof(P));
}

/* A new connection on the same listener. */
static void reconnect(void)
{
    P.p->on_close(CONN, P.cd, ZG_CLOSE_PEER);
    fake_reset();
    assert_int_equal(P.p->on_accept(CONN, P.rd, &P.cd), 0);
}

/* Deliver n new bytes as the host does: one view with the unconsumed
 * bytes, one with the new ones. Returns on_data's result. */
static long feed_n(const void *data, size_t n, unsigned flags)
{
    zg_view_t v[2] = {{pend, npend}, {data, n}};
    zg_input_t in = {v, 2, flags, npend + n};
    long rc;

    rc = P.p->on_data(CONN, P.cd, &in);
    assert_true(rc <= (long)(npend + n));
    if (rc < 0) {
        npend = 0;
        return rc;
    }
    if ((size_t)rc <= npend) {
        memmove(pend, pend + rc, npend - (size_t)rc);
        npend -= (size_t)rc;
        memcpy(pend + npend, data, n);
        npend += n;
    } else {
        size_t k = (size_t)rc - npend;

        memcpy(pend, (const unsigned char *)data + k, n - k);
        npend = n - k;
    }
    return rc;
}

static long feed(const char *s)
{
    return feed_n(s, strlen(s), 0);
}

/* Assert the output so far is exactly expect, then forget it. */
static void expect_out(const char *expect)
{
    size_t n = strlen(expect);

    if (F.outlen != n || memcmp(F.out, expect, n) != 0)
        fail_msg("output (%zu bytes):\n%.*s\n--- expected (%zu bytes):\n%s",
                 F.outlen, (int)F.outlen, F.out, n, expect);
    F.outlen = F.drained = 0;
}

#define CONF_ECHO "{\"routes\":[{\"path\":\"/echo\",\"type\":\"echo\"}]}"
#define CONF_STREAM                                                            \
    "{\"routes\":[{\"path\":\"/"                                               \
    "echo\",\"type\":\"echo\",\"buffering\":false}]}"

#define PLAIN_HEAD                                                             \
    "HTTP/1.1 200 OK\r\nServer: zerg\r\nContent-Type: text/plain\r\n"          \
    "Content-Length: 13\r\n" DATE
#define PLAIN PLAIN_HEAD "\r\nHello, World!"
#define JSON_HEAD                                                              \
    "HTTP/1.1 200 OK\r\nServer: zerg\r\nContent-Type: application/json\r\n"    \
    "Content-Length: 27\r\n" DATE
#define JSON JSON_HEAD "\r\n{\"message\":\"Hello, World!\"}"
#define NOTFOUND_HEAD                                                          \
    "HTTP/1.1 404 Not Found\r\nServer: zerg\r\nContent-Type: text/plain\r\n"   \
    "Content-Length: 10\r\n" DATE
#define NOTFOUND NOTFOUND_HEAD "\r\nNot Found\n"
#define NOTALLOWED_HEAD                                                        \
    "HTTP/1.1 405 Method Not Allowed\r\nServer: zerg\r\nAllow: GET, HEAD, "    \
    "OPTIONS\r\n"                                                              \
    "Content-Type: text/plain\r\nContent-Length: 19\r\n" DATE
#define NOTALLOWED NOTALLOWED_HEAD "\r\nMethod Not Allowed\n"
#define ECHO_HEAD                                                              \
    "HTTP/1.1 200 OK\r\nServer: zerg\r\n"                                      \
    "Content-Type: application/octet-stream\r\n"
#define CLOSE     "Connection: close\r\n"
#define KEEP      "Connection: keep-alive\r\n"
#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

static void test_descriptor(void **state)
{
    const zg_plugin_t *d = ZG_PLUGIN_ENTRY();

    (void)state;
    assert_int_equal(d->magic, ZG_PLUGIN_MAGIC);
    assert_int_equal(d->abi_major, ZG_ABI_MAJOR);
    assert_int_equal(d->abi_minor, 4);
    assert_int_equal(d->struct_size, sizeof(zg_plugin_t));
    assert_string_equal(d->name, "http");
    assert_non_null(d->on_drain);
    assert_non_null(d->on_timeout);
    assert_non_null(d->on_writable);
    assert_true(d->over_limit_response_len > 0);
    assert_memory_equal(d->over_limit_response, "HTTP/1.1 503 ", 13);
    /* host-owned config: no raw JSON init */
    assert_null(d->init);
    assert_ptr_equal(d->conf_keys, zg_http_conf_keys);
    assert_int_equal(d->conf_size, sizeof(zg_http_cfg_t));
    assert_non_null(d->init_conf);
}

static void test_plaintext_json(void **state)
{
    (void)state;
    start("{}");
    assert_int_equal(feed(GET("/plaintext")), strlen(GET("/plaintext")));
    expect_out(PLAIN);
    assert_int_equal(feed(GET("/json")), strlen(GET("/json")));
    expect_out(JSON);
    assert_int_equal(feed(GET("/plaintext?x=1&y")),
                     strlen(GET("/plaintext?x=1&y")));
    expect_out(PLAIN);
    assert_int_equal(feed(GET("http://t/json")), strlen(GET("http://t/json")));
    expect_out(JSON);
    assert_false(F.closed);
    stop();
}

static void test_head_404_405(void **state)
{
    (void)state;
    start("{}");
    feed("HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out(PLAIN_HEAD "\r\n");
    feed(GET("/nope"));
    expect_out(NOTFOUND);
    feed("HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out(NOTFOUND_HEAD "\r\n");
    feed("DELETE /json HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out(NOTALLOWED);
    /* methods are case-sensitive */
    feed("get /json HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out(NOTALLOWED);
    feed("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out("HTTP/1.1 200 OK\r\nServer: zerg\r\nContent-Length: 0\r\n" DATE
               "\r\n");
    assert_false(F.closed);
    stop();
}

/* OPTIONS on a route that does not serve it: 204 with Allow, no
 * Content-Length; a route that lists OPTIONS serves it like any method. */
static void test_options_allow(void **state)
{
    (void)state;
    start("{\"routes\":[{\"path\":\"/o\",\"methods\":[\"GET\",\"OPTIONS\"],"
          "\"body\":\"mine\"}]}");
    feed("OPTIONS /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out("HTTP/1.1 204 No Content\r\nServer: zerg\r\n"
               "Allow: GET, HEAD, OPTIONS\r\n" DATE "\r\n");
    /* a body is read and dropped first */
    feed("OPTIONS /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n"
         "ab" GET("/plaintext"));
    expect_out("HTTP/1.1 204 No Content\r\nServer: zerg\r\n"
               "Allow: GET, HEAD, OPTIONS\r\n" DATE "\r\n" PLAIN);
    feed("OPTIONS /o HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out("HTTP/1.1 200 OK\r\nServer: zerg\r\nContent-Type: text/plain\r\n"
               "Content-Length: 4\r\n" DATE "\r\nmine");
    feed("DELETE /o HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out("HTTP/1.1 405 Method Not Allowed\r\nServer: zerg\r\n"
               "Allow: GET, OPTIONS\r\nContent-Type: text/plain\r\n"
               "Content-Length: 19\r\n" DATE "\r\nMethod Not Allowed\n");
    feed("OPTIONS /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out(NOTFOUND);
    stop();
}

static void test_pipelined_100(void **state)
{
    static char in[100 * 64], expect[100 * 200];
    size_t n = 0, m = 0;

    (void)state;
    for (int i = 0; i < 100; i++) {
        const char *req = i % 2 ? GET("/json") : GET("/plaintext");
        const char *resp = i % 2 ? JSON : PLAIN;

        memcpy(in + n, req, strlen(req));
        n += strlen(req);
        memcpy(expect + m, resp, strlen(resp));
        m += strlen(resp);
    }
    expect[m] = '\0';
    start("{}");
    assert_int_equal(feed_n(in, n, 0), (long)n);
    /* every answer formatted into one reservation, committed once */
    assert_int_equal(F.ncommit, 1);
    assert_int_equal(F.nsend, 0);
    expect_out(expect);
    stop();
}

static void test_http10_keepalive(void **state)
{
    (void)state;
    start("{}");
    feed("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect_out(PLAIN_HEAD KEEP "\r\nHello, World!");
    assert_false(F.closed);
    feed("GET /plaintext HTTP/1.0\r\n\r\nGET /json HTTP/1.0\r\n\r\n");
    /* 1.0 defaults to close: the second request is never answered */
    expect_out(PLAIN_HEAD CLOSE "\r\nHello, World!");
    assert_true(F.closed);
    assert_int_equal(F.how, ZG_CLOSE_LINGER);
    /* lingering: input is dropped, nothing more is said */
    assert_int_equal(feed(GET("/json")), strlen(GET("/json")));
    expect_out("");
    reconnect();
    feed("GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    expect_out(JSON_HEAD CLOSE "\r\n{\"message\":\"Hello, World!\"}");
    /* nothing unread: a plain close (FIN after the response), no linger */
    assert_int_equal(F.how, ZG_CLOSE_FLUSH);
    stop();
}

/* A malformed request: a complete error response, then the end. */
static void expect_error(const char *req, size_t n, unsigned status)
{
    char expect[512];
    const char *reason = zg_http_reason(status);
    long rc;

    reconnect();
    rc = feed_n(req, n, 0);
    assert_int_equal(rc, (long)n);
    snprintf(expect, sizeof(expect),
             "HTTP/1.1 %u %s\r\nServer: zerg\r\nContent-Type: text/plain\r\n"
             "Content-Length: %zu\r\n" DATE CLOSE "\r\n%s\n",
             status, reason, strlen(reason) + 1, reason);
    if (F.outlen != strlen(expect) || memcmp(F.out, expect, F.outlen) != 0)
        fail_msg("request \"%.*s\": output\n%.*s\n--- expected\n%s", (int)n,
                 req, (int)F.outlen, F.out, expect);
    assert_true(F.closed);
    assert_int_equal(F.how, ZG_CLOSE_LINGER);
}

static void test_errors(void **state)
{
    static const struct {
        const char *req;
        unsigned status;
    } cases[] = {
        {"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400},
        {"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
         "Content-Length: 4\r\n\r\nabc",
         400},
        {"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: -3\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, "
         "chunked\r\n\r\n",
         501},
        {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, "
         "chunked\r\n\r\n",
         400},
        {"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5_0\r\n",
         400},
        {"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400},
        {"GET / HTTP/1.1\nHost: t\n\n", 400},
        {"G@T / HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {"GET /a\x7f HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nX\x01: t\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {"GET http://u@h/ HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 501},
        {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
        {"POST /x HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n", 417},
        {"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n", 413},
        /* more requests after the bad one are never answered */
        {"GET / HTTP/9.9\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
         505},
    };

    (void)state;
    start("{}");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].req, strlen(cases[i].req), cases[i].status);
    stop();
}

static void test_limits(void **state)
{
    char req[400];

    (void)state;
    start("{\"limits\":{\"max_request_line\":64,\"max_header_size\":100,"
          "\"max_headers\":3,\"max_body_size\":10}}");
    snprintf(req, sizeof(req), "GET /%049d HTTP/1.1\r\nHost: t\r\n\r\n", 0);
    expect_error(req, strlen(req), 414);
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: t\r\nX: %090d\r\n\r\n",
             0);
    expect_error(req, strlen(req), 431);
    expect_error("GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                 45, 431);
    expect_error("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n", 48,
                 413);
    expect_error("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                 "\r\n8\r\n01234567\r\n3\r\n",
                 73, 413);
    reconnect();
    feed("POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
         "0123456789");
    expect_out(NOTALLOWED);
    stop();
}

#define BAD_REQUEST                                                            \
    "HTTP/1.1 400 Bad Request\r\nServer: zerg\r\nContent-Type: "               \
    "text/plain\r\nContent-Length: 12\r\n" DATE CLOSE "\r\nBad Request\n"
#define CHUNKED_ECHO                                                           \
    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"

/* Default echo: the body is read whole before the status is committed,
 * and comes back with its Content-Length, chunked or not. */
static void test_echo(void **state)
{
    (void)state;
    start(CONF_ECHO);
    feed("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    expect_out(ECHO_HEAD "Content-Length: 5\r\n" DATE "\r\nhello");
    feed("PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
    expect_out(ECHO_HEAD "Content-Length: 11\r\n" DATE "\r\nhello world");
    feed("POST /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out(ECHO_HEAD "Content-Length: 0\r\n" DATE "\r\n");
    feed(CHUNKED_ECHO "0\r\n\r\n");
    expect_out(ECHO_HEAD "Content-Length: 0\r\n" DATE "\r\n");
    feed("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out("HTTP/1.1 405 Method Not Allowed\r\nServer: zerg\r\n"
               "Allow: POST, PUT, OPTIONS\r\nContent-Type: text/plain\r\n"
               "Content-Length: 19\r\n" DATE "\r\nMethod Not Allowed\n");
    /* the body arrives in pieces, over several calls: nothing is said
     * before its last byte */
    feed("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
    feed("567");
    expect_out("");
    assert_int_equal(feed("89" GET("/json")), 2 + strlen(GET("/json")));
    expect_out(ECHO_HEAD "Content-Length: 10\r\n" DATE "\r\n0123456789" JSON);
    feed(CHUNKED_ECHO "3\r\nabc\r\n");
    feed("2\r\nde\r\n");
    expect_out("");
    feed("0\r\n\r\n");
    expect_out(ECHO_HEAD "Content-Length: 5\r\n" DATE "\r\nabcde");
    stop();
}

/* A body that turns out bad is refused with its status, never a 200 with
 * a truncated body. */
static void test_echo_buffered_errors(void **state)
{
    static const struct {
        const char *req;
        unsigned status;
    } bad[] = {
        {CHUNKED_ECHO "3\r\nabc\r\nzz\r\n", 400},
        {CHUNKED_ECHO "3\r\nabcX\r\n0\r\n\r\n", 400},
        {CHUNKED_ECHO "5 \r\nhello\r\n0\r\n\r\n", 400},
        {CHUNKED_ECHO "5;\r\nhello\r\n0\r\n\r\n", 400},
        {CHUNKED_ECHO "3\r\nabc\r\n100000000000000003\r\nabc\r\n0\r\n\r\n",
         400},
        {CHUNKED_ECHO "3\r\nabc\r\nffffffffffffffff\r\n", 413},
        {CHUNKED_ECHO "3\nabc\r\n0\r\n\r\n", 400},
        {CHUNKED_ECHO "3\r\nabc\r\n0\r\n\n", 400},
    };

    (void)state;
    start(CONF_ECHO);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char expect[300];

        feed(bad[i].req);
        snprintf(expect, sizeof(expect),
                 "HTTP/1.1 %u %s\r\nServer: zerg\r\nContent-Type: "
                 "text/plain\r\nContent-Length: %zu\r\n" DATE CLOSE "\r\n%s\n",
                 bad[i].status, zg_http_reason(bad[i].status),
                 strlen(zg_http_reason(bad[i].status)) + 1,
                 zg_http_reason(bad[i].status));
        expect_out(expect);
        assert_true(F.closed);
        reconnect();
    }
    /* a missing final chunk, a short Content-Length body: no answer
     * until the rest comes (the client's close or the timeout ends it) */
    feed(CHUNKED_ECHO "3\r\nabc\r\n");
    assert_int_equal(feed_n("", 0, ZG_IN_EOF), 0);
    expect_out("");
    reconnect();
    feed("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nabc");
    assert_int_equal(feed_n("", 0, ZG_IN_EOF), 0);
    expect_out("");
    stop();
}

/* Buffered bodies: never more memory than max_body_size, a large one is
 * freed after its response, a small one kept for the next request. */
static void test_echo_buffered_memory(void **state)
{
    static unsigned char body[100000];
    char head[200];
    http_conn_t *hc;
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (unsigned char)(i * 7 + i / 251);
    start("{\"limits\":{\"max_body_size\":100000},"
          "\"routes\":[{\"path\":\"/echo\",\"type\":\"echo\"}]}");
    hc = P.cd;
    n = (size_t)snprintf(head, sizeof(head),
                         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
                         "%zu\r\n\r\n",
                         sizeof(body));
    assert_int_equal(feed(head), (long)n);
    for (size_t off = 0; off < sizeof(body); off += 16384) {
        size_t k = sizeof(body) - off < 16384 ? sizeof(body) - off : 16384;

        assert_int_equal(feed_n(body + off, k, 0), (long)k);
        assert_true(hc->body_cap <= sizeof(body));
        if (off + k < sizeof(body))
            assert_int_equal(F.outlen, 0);
    }
    n = strlen(ECHO_HEAD "Content-Length: 100000\r\n" DATE "\r\n");
    assert_int_equal(F.outlen, n + sizeof(body));
    assert_memory_equal(F.out,
                        ECHO_HEAD "Content-Length: 100000\r\n" DATE "\r\n", n);
    assert_memory_equal(F.out + n, body, sizeof(body));
    F.outlen = F.drained = 0;
    assert_null(hc->body);
    assert_int_equal(hc->body_cap, 0);
    /* chunked: bounded by max_body_size, one byte over is 413 */
    feed(CHUNKED_ECHO);
    for (size_t off = 0; off < sizeof(body); off += 1000) {
        n = (size_t)snprintf(head, sizeof(head), "3e8\r\n");
        feed_n(head, n, 0);
        feed_n(body + off, 1000, 0);
        feed("\r\n");
        assert_true(hc->body_cap <= sizeof(body));
    }
    expect_out("");
    feed("1\r\nx\r\n");
    expect_out(
        "HTTP/1.1 413 Content Too Large\r\nServer: zerg\r\nContent-Type: "
        "text/plain\r\nContent-Length: 18\r\n" DATE CLOSE
        "\r\nContent Too Large\n");
    reconnect();
    hc = P.cd;
    feed(CHUNKED_ECHO "3\r\nabc\r\n0\r\n\r\n");
    expect_out(ECHO_HEAD "Content-Length: 3\r\n" DATE "\r\nabc");
    assert_non_null(hc->body); /* small: kept for the next request */
    assert_true(hc->body_cap <= HTTP_BODY_KEEP);
    stop();
    /* HEAD counts the body without keeping it */
    start("{\"routes\":[{\"path\":\"/echo\",\"type\":\"echo\","
          "\"methods\":[\"POST\",\"HEAD\"]}]}");
    hc = P.cd;
    feed("HEAD /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd");
    expect_out(ECHO_HEAD "Content-Length: 4\r\n" DATE "\r\n");
    assert_null(hc->body);
    stop();
}

/* "buffering": false: the status goes out with the head, the body is
 * sent back as it arrives; a bad chunk can only cut the response short. */
static void test_echo_streaming(void **state)
{
    (void)state;
    start(CONF_STREAM);
    feed("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    expect_out(ECHO_HEAD "Content-Length: 5\r\n" DATE "\r\nhello");
    feed("PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
    expect_out(ECHO_HEAD "Transfer-Encoding: chunked\r\n" DATE
                         "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    feed("POST /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out(ECHO_HEAD "Content-Length: 0\r\n" DATE "\r\n");
    feed("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out("HTTP/1.1 405 Method Not Allowed\r\nServer: zerg\r\n"
               "Allow: POST, PUT, OPTIONS\r\nContent-Type: text/plain\r\n"
               "Content-Length: 19\r\n" DATE "\r\nMethod Not Allowed\n");
    /* the body arrives in pieces, over several calls */
    assert_int_equal(feed("POST /echo HTTP/1.1\r\nHost: t\r\n"
                          "Content-Length: 10\r\n\r\n01234"),
                     strlen("POST /echo HTTP/1.1\r\nHost: t\r\n"
                            "Content-Length: 10\r\n\r\n01234"));
    assert_int_equal(feed("567"), 3);
    assert_int_equal(feed("89" GET("/json")), 2 + strlen(GET("/json")));
    expect_out(ECHO_HEAD "Content-Length: 10\r\n" DATE "\r\n0123456789" JSON);
    /* a malformed chunk after the echo began: cut short, no 400 */
    feed("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\nzz\r\n");
    expect_out(ECHO_HEAD "Transfer-Encoding: chunked\r\n" DATE
                         "\r\n3\r\nabc\r\n");
    assert_true(F.closed);
    assert_int_equal(F.how, ZG_CLOSE_LINGER);
    stop();
}

static void test_echo_large_zero_copy(void **state)
{
    static unsigned char body[100000];
    char head[200];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (unsigned char)(i * 7 + i / 251);
    start(CONF_STREAM);
    n = (size_t)snprintf(head, sizeof(head),
                         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
                         "%zu\r\n\r\n",
                         sizeof(body));
    assert_int_equal(feed(head), (long)n);
    for (size_t off = 0; off < sizeof(body); off += 16384) {
        size_t k = sizeof(body) - off < 16384 ? sizeof(body) - off : 16384;

        assert_int_equal(feed_n(body + off, k, 0), (long)k);
    }
    assert_true(F.nview >= 6); /* the big pieces were not copied */
    n = strlen(ECHO_HEAD "Content-Length: 100000\r\n" DATE "\r\n");
    assert_int_equal(F.outlen, n + sizeof(body));
    assert_memory_equal(F.out,
                        ECHO_HEAD "Content-Length: 100000\r\n" DATE "\r\n", n);
    assert_memory_equal(F.out + n, body, sizeof(body));
    stop();
}

static void test_expect_continue(void **state)
{
    (void)state;
    start(CONF_ECHO);
    feed("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
         "Content-Length: 2\r\n\r\n");
    feed("ok");
    expect_out("HTTP/1.1 100 Continue\r\n\r\n" ECHO_HEAD
               "Content-Length: 2\r\n" DATE "\r\nok");
    /* a refusal comes before the body, and ends the connection */
    feed("POST /nope HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
         "Content-Length: 2\r\n\r\n");
    expect_out(NOTFOUND_HEAD CLOSE "\r\nNot Found\n");
    assert_int_equal(F.how, ZG_CLOSE_LINGER);
    reconnect();
    /* no body: nothing to continue */
    feed("GET /plaintext HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n");
    expect_out(PLAIN);
    /* HTTP/1.0 never gets a 100 */
    feed("POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n"
         "\r\nx");
    expect_out(ECHO_HEAD "Content-Length: 1\r\n" DATE CLOSE "\r\nx");
    stop();
}

static void test_body_discarded(void **state)
{
    (void)state;
    start("{}");
    /* bodies are read before the answer, and never taken for requests */
    feed("POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n"
         "GET /json HTTP/1.1\r\n" GET("/plaintext"));
    expect_out(NOTFOUND PLAIN);
    feed("POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "14\r\nGET /json HTTP/1.1\r\n\r\n0\r\n\r\n" GET("/json"));
    expect_out(NOTALLOWED JSON);
    /* an unfinished body holds the answer back */
    feed("POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
    expect_out("");
    feed("cd");
    expect_out(NOTFOUND);
    /* a bad chunk in a dropped body is a 400 */
    feed("POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\nabX");
    expect_out("HTTP/1.1 400 Bad Request\r\nServer: zerg\r\nContent-Type: "
               "text/plain\r\nContent-Length: 12\r\n" DATE CLOSE
               "\r\nBad Request\n");
    stop();
}

static void test_routes_config(void **state)
{
    (void)state;
    start("{\"default_routes\":false,\"routes\":["
          "{\"path\":\"/made\",\"status\":201,\"content_type\":\"text/html; "
          "charset=utf-8\",\"body\":\"<b>\\u00e9</b>\\n\",\"methods\":"
          "[\"POST\"]},"
          "{\"path\":\"/none\",\"status\":204},"
          "{\"path\":\"/plaintext\",\"body\":\"mine\"},"
          "{\"path\":\"/odd\",\"status\":299,\"body\":\"x\"}]}");
    feed("POST /made HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out("HTTP/1.1 201 Created\r\nServer: zerg\r\nContent-Type: "
               "text/html; charset=utf-8\r\nContent-Length: 10\r\n" DATE
               "\r\n<b>\xc3\xa9</b>\n");
    feed("GET /made HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_out("HTTP/1.1 405 Method Not Allowed\r\nServer: zerg\r\n"
               "Allow: POST, OPTIONS\r\nContent-Type: text/plain\r\n"
               "Content-Length: 19\r\n" DATE "\r\nMethod Not Allowed\n");
    feed(GET("/none"));
    expect_out("HTTP/1.1 204 No Content\r\nServer: zerg\r\n" DATE "\r\n");
    feed(GET("/plaintext"));
    expect_out("HTTP/1.1 200 OK\r\nServer: zerg\r\nContent-Type: text/plain\r\n"
               "Content-Length: 4\r\n" DATE "\r\nmine");
    feed(GET("/json"));
    expect_out(NOTFOUND);
    feed(GET("/odd"));
    expect_out("HTTP/1.1 299 \r\nServer: zerg\r\nContent-Type: text/plain\r\n"
               "Content-Length: 1\r\n" DATE "\r\nx");
    stop();
}

/* What the key table's defaults and spellings build. */
static void test_config_defaults(void **state)
{
    const zg_http_conf_t *c;
    const zg_http_route_t *r;

    (void)state;
    start("{}");
    c = P.pd;
    assert_int_equal(c->limits.max_request_line, 8192);
    assert_int_equal(c->limits.max_header_size, 32768);
    assert_int_equal(c->limits.max_headers, 100);
    assert_int_equal(c->limits.max_body_size, 1048576);
    assert_int_equal(c->header_timeout_ms, 10000);
    assert_int_equal(c->keepalive_timeout_ms, 75000);
    assert_int_equal(c->nroutes, 2);
    assert_string_equal(c->routes[0].path, "/plaintext");
    assert_string_equal(c->routes[1].path, "/json");
    stop();
    /* sizes and durations also as strings; an echo route's defaults */
    start("{\"limits\":{\"max_request_line\":\"1k\",\"max_header_size\":"
          "\"2k\",\"max_headers\":7,\"max_body_size\":\"1m\"},"
          "\"timeouts\":{\"header_ms\":\"5s\",\"keepalive_ms\":0},"
          "\"routes\":[{\"path\":\"/e\",\"type\":\"echo\"},"
          "{\"path\":\"/s\",\"type\":\"echo\",\"buffering\":false}]}");
    c = P.pd;
    assert_int_equal(c->limits.max_request_line, 1024);
    assert_int_equal(c->limits.max_header_size, 2048);
    assert_int_equal(c->limits.max_headers, 7);
    assert_int_equal(c->limits.max_body_size, 1 << 20);
    assert_int_equal(c->header_timeout_ms, 5000);
    assert_int_equal(c->keepalive_timeout_ms, 0);
    assert_int_equal(c->nroutes, 4);
    r = &c->routes[0];
    assert_int_equal(r->type, ZG_HTTP_ROUTE_ECHO);
    assert_int_equal(r->buffering, 1);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->nmethods, 2);
    assert_string_equal(r->methods[0].name, "POST");
    assert_string_equal(r->methods[1].name, "PUT");
    assert_non_null(strstr(r->head, "Content-Type: application/octet-stream"));
    assert_int_equal(c->routes[1].buffering, 0);
    stop();
}

static void test_large_static_body(void **state)
{
    static char conf[200000], expect[200000];
    int n;

    (void)state;
    n = snprintf(conf, sizeof(conf),
                 "{\"routes\":[{\"path\":\"/big\","
                 "\"body\":\"");
    memset(conf + n, 'B', 100000);
    n += 100000;
    snprintf(conf + n, sizeof(conf) - (size_t)n, "\"}]}");
    start(conf);
    n = snprintf(expect, sizeof(expect),
                 "HTTP/1.1 200 OK\r\nServer: zerg\r\nContent-Type: "
                 "text/plain\r\nContent-Length: 100000\r\n" DATE "\r\n");
    memset(expect + n, 'B', 100000);
    expect[n + 100000] = '\0';
    feed(GET("/big"));
    expect_out(expect);
    stop();
}

/* Pipelined requests for large answers: answering stops once enough
 * output is queued and resumes when it drains. */
static void test_output_cap(void **state)
{
    static char conf[200000], req[1000];
    size_t one = strlen(GET("/big")), total;
    long rc;
    int n;

    (void)state;
    n = snprintf(conf, sizeof(conf),
                 "{\"routes\":[{\"path\":\"/big\",\"body\":\"");
    memset(conf + n, 'B', 100000);
    n += 100000;
    snprintf(conf + n, sizeof(conf) - (size_t)n, "\"}]}");
    start(conf);
    for (int i = 0; i < 5; i++)
        memcpy(req + i * one, GET("/big"), one);
    rc = feed_n(req, 5 * one, 0);
    /* 3 x 100 KB pass 256 KiB: the other two wait */
    assert_int_equal(rc, (long)(3 * one));
    assert_int_equal(F.paused, 1);
    assert_int_equal(F.want_wr, 1);
    total = F.outlen;
    F.drained = F.outlen;
    P.p->on_writable(CONN, P.cd);
    assert_int_equal(F.paused, 0);
    /* the host presents the held requests again */
    rc = feed_n("", 0, 0);
    assert_int_equal(rc, (long)(2 * one));
    assert_int_equal(F.outlen, total * 5 / 3);
    stop();
}

/* Stalled on our own output with pipelined requests held: the header
 * timeout must not run (we, not the client, are waiting), and a graceful
 * stop must not take the connection for idle: the next response says
 * "Connection: close", then the connection ends. */
static void test_stalled_timer_and_drain(void **state)
{
    static char conf[200000], req[1000];
    size_t one = strlen(GET("/big"));
    long rc;
    int n;

    (void)state;
    n = snprintf(conf, sizeof(conf),
                 "{\"timeouts\":{\"header_ms\":1000},"
                 "\"routes\":[{\"path\":\"/big\",\"body\":\"");
    memset(conf + n, 'B', 100000);
    n += 100000;
    snprintf(conf + n, sizeof(conf) - (size_t)n, "\"}]}");
    start(conf);
    for (int i = 0; i < 5; i++)
        memcpy(req + i * one, GET("/big"), one);
    F.timer = 7;
    rc = feed_n(req, 5 * one, 0);
    assert_int_equal(rc, (long)(3 * one));
    assert_int_equal(F.paused, 1);
    assert_int_equal(F.timer, 0); /* no header timer while stalled */
    P.p->on_drain(CONN, P.cd);
    assert_false(F.closed); /* two requests are held: not idle */
    F.outlen = F.drained = 0;
    P.p->on_writable(CONN, P.cd);
    assert_int_equal(F.paused, 0);
    rc = feed_n("", 0, 0);
    /* the next request is the last, answered with Connection: close */
    assert_true(F.outlen > 100000 && F.outlen < 100300);
    assert_non_null(memmem(F.out, 300, CLOSE, strlen(CLOSE)));
    assert_true(F.closed);
    assert_int_equal(F.how, ZG_CLOSE_LINGER);
    reconnect();
    /* stalled right after the last request held: once the output drains
     * while stopping, the connection is idle and ends */
    rc = feed_n(req, 3 * one, 0);
    assert_int_equal(rc, (long)(3 * one));
    assert_int_equal(F.paused, 1);
    P.p->on_drain(CONN, P.cd);
    assert_false(F.closed);
    P.p->on_writable(CONN, P.cd);
    assert_true(F.closed);
    assert_int_equal(F.how, ZG_CLOSE_LINGER);
    reconnect();
    /* not stopping: draining the output arms the keep-alive timer */
    rc = feed_n(req, 3 * one, 0);
    assert_int_equal(F.timer, 0);
    P.p->on_writable(CONN, P.cd);
    assert_int_equal(F.timer, 75000);
    assert_false(F.closed);
    stop();
}

static void test_drain(void **state)
{
    (void)state;
    start("{}");
    /* A new connection that has not sent its first request yet gets its
     * answer (it was opened to ask), as the last one. */
    P.p->on_drain(CONN, P.cd);
    assert_false(F.closed);
    feed(GET("/plaintext"));
    expect_out(PLAIN_HEAD CLOSE "\r\nHello, World!");
    assert_true(F.closed);
    reconnect();
    feed(GET("/plaintext"));
    expect_out(PLAIN);
    P.p->on_drain(CONN, P.cd);
    /* idle after a response: ended at once, lingering (FIN, drop input,
     * then close) so a request already on its way does not meet an RST */
    assert_true(F.closed);
    assert_int_equal(F.how, ZG_CLOSE_LINGER);
    reconnect();
    feed("GET /plaintext HTTP/1.1\r\n");
    P.p->on_drain(CONN, P.cd);
    assert_false(F.closed); /* a request in progress is finished */
    feed("Host: t\r\n\r\n");
    expect_out(PLAIN_HEAD CLOSE "\r\nHello, World!");
    assert_true(F.closed);
    assert_int_equal(F.how, ZG_CLOSE_FLUSH); /* nothing unread */
    stop();
}

static void test_header_and_keepalive_timers(void **state)
{
    (void)state;
    start("{\"timeouts\":{\"header_ms\":1000,\"keepalive_ms\":5000}}");
    /* A new connection must send a whole head within header_ms. */
    assert_int_equal(F.timer, 1000);
    F.timer = 7; /* marks "not re-armed" */
    feed("GET /plaintext HTTP/1.1\r\n");
    assert_int_equal(F.timer, 7); /* more bytes never push it back */
    feed("Host: t\r\n\r\n");
    expect_out(PLAIN);
    assert_int_equal(F.timer, 5000); /* idle: keep-alive */
    F.timer = 7;
    feed(GET("/plaintext"));
    expect_out(PLAIN);
    assert_int_equal(F.timer, 5000); /* re-armed after every response */
    /* The head of the next request starts its own header timer. */
    feed("GET /plai");
    assert_int_equal(F.timer, 1000);
    P.p->on_timeout(CONN, P.cd);
    expect_out("HTTP/1.1 408 Request Timeout\r\nServer: zerg\r\n"
               "Content-Type: text/plain\r\nContent-Length: 16\r\n" DATE
               "Connection: close\r\n\r\nRequest Timeout\n");
    assert_true(F.closed);
    assert_int_equal(F.how, ZG_CLOSE_LINGER);
    stop();
}

static void test_date_once_per_second(void **state)
{
    (void)state;
    start("{}");
    feed(GET("/plaintext"));
    expect_out(PLAIN);
    fake_now += 86400 * 365 + 3600 + 61;
    feed(GET("/plaintext"));
    expect_out("HTTP/1.1 200 OK\r\nServer: zerg\r\nContent-Type: text/plain\r\n"
               "Content-Length: 13\r\n"
               "Date: Mon, 06 Nov 1995 09:50:38 GMT\r\n\r\nHello, World!");
    fake_now = 784111777;
    stop();
}

static void test_partial_and_eof(void **state)
{
    (void)state;
    start("{}");
    assert_int_equal(feed("GET /plain"), 0);
    assert_int_equal(feed_n("text HTTP/1.1\r\nHo", 17, ZG_IN_EOF), 0);
    expect_out("");
    assert_false(F.closed);
    stop();
}

/* The same conversation, delivered every possible way, gives the same
 * bytes out. */
static void test_split_everywhere(void **state)
{
    static const char convo[] =
        "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello "
        "world"
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4;a=b\r\nwiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n"
        "HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n"
        "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
        "GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        "GET /json HTTP/1.1\r\nHost: t\r\n\r\n";
    static const char expect[] =
        PLAIN ECHO_HEAD "Content-Length: 11\r\n" DATE
                        "\r\nhello world" ECHO_HEAD "Content-Length: 9\r\n" DATE
                        "\r\nwikipedia" JSON_HEAD "\r\n" NOTFOUND JSON_HEAD KEEP
                        "\r\n{\"message\":\"Hello, World!\"}" PLAIN_HEAD CLOSE
                        "\r\nHello, World!";
    const size_t n = sizeof(convo) - 1;
    const size_t close_end =
        n - strlen("GET /json HTTP/1.1\r\nHost: t\r\n\r\n");

    (void)state;
    start(CONF_ECHO);
    for (int tight = 0; tight < 2; tight++) {
        for (size_t k = 0; k <= n; k++) {
            for (int two = 0; two < 2; two++) {
                zg_view_t v[2];
                zg_input_t in = {v, 2, 0, n};
                size_t used = 0;
                long rc;

                reconnect();
                F.tight = tight;
                if (two) {
                    v[0].data = (const unsigned char *)convo;
                    v[0].len = k;
                    in.nviews = 1;
                    in.total = k;
                    rc = P.p->on_data(CONN, P.cd, &in);
                    assert_true(rc >= 0 && (size_t)rc <= k);
                    used = (size_t)rc;
                    in.nviews = 2;
                }
                v[0].data = (const unsigned char *)convo + used;
                v[0].len = k - used;
                v[1].data = (const unsigned char *)convo + k;
                v[1].len = n - k;
                in.total = n - used;
                rc = P.p->on_data(CONN, P.cd, &in);
                assert_true(rc >= 0);
                if (F.outlen != sizeof(expect) - 1 ||
                    memcmp(F.out, expect, F.outlen) != 0)
                    fail_msg("split at %zu (%s, tight %d): output\n%.*s\n"
                             "--- expected\n%s",
                             k, two ? "two calls" : "two views", tight,
                             (int)F.outlen, F.out, expect);
                assert_true(F.closed);
                /* A request follows the close one: if it was delivered
                 * when the close was decided, linger (drop it) rather
                 * than RST; only a first call ending exactly at the close
                 * request sees nothing unread and closes plainly. */
                assert_int_equal(F.how, two && k == close_end
                                            ? ZG_CLOSE_FLUSH
                                            : ZG_CLOSE_LINGER);
            }
        }
    }
    stop();
}

/* ---- configuration ---- */

/* conf must be refused with msg: by the host's checks of the key table
 * (file "config", with line:column) or by init_conf. */
static void expect_conf_error(const char *conf, const char *msg)
{
    zg_conf_arena_t arena = {NULL};
    char err[256] = "";
    void *pd = NULL;
    const zg_plugin_t *d = ZG_PLUGIN_ENTRY();
    const void *filled =
        zg_test_conf_fill(d, conf, strlen(conf), &arena, err, sizeof(err));

    if (filled != NULL &&
        d->init_conf(&fake_api, filled, &pd, err, sizeof(err)) == 0) {
        d->fini(pd);
        fail_msg("config accepted: %s", conf);
    }
    zg_conf_arena_free(&arena);
    if (strcmp(msg, "XX") == 0) {
        printf("MSG %s\n", err);
        return;
    }
    if (strcmp(err, msg) != 0)
        fail_msg("config %s\n  error    \"%s\"\n  expected \"%s\"", conf, err,
                 msg);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_conf_error("[]", "config:1:1: expected an object, got array");
    expect_conf_error(
        "{\"limits\":{\"max_headers\":0}}",
        "config:1:26: limits.max_headers: 0 is out of range 1..10000");
    expect_conf_error("{\"limits\":{\"max_body_size\":true}}",
                      "config:1:28: limits.max_body_size: expected a size "
                      "(integer or \"64k\"), got boolean");
    expect_conf_error("{\"limits\":{\"max_body_size\":\"1x\"}}",
                      "config:1:28: limits.max_body_size: \"1x\" is not a size "
                      "(bytes, or a number with k, m or g: \"64k\")");
    expect_conf_error("{\"limits\":{\"max_body_size\":1099511627777}}",
                      "config:1:28: limits.max_body_size: 1099511627777 is out "
                      "of range 0..1099511627776");
    expect_conf_error("{\"limits\":{\"max_request_line\":1.5}}",
                      "config:1:31: limits.max_request_line: expected a size "
                      "(integer or \"64k\"), got real");
    expect_conf_error("{\"limits\":{\"max_header\":100}}",
                      "config:1:12: limits.max_header: unknown key (did you "
                      "mean \"max_headers\"?)");
    expect_conf_error(
        "{\"rotues\":[]}",
        "config:1:2: rotues: unknown key (did you mean \"routes\"?)");
    expect_conf_error("{\"zzz\":1}", "config:1:2: zzz: unknown key");
    expect_conf_error("{\"timeouts\":{\"header_m\":1}}",
                      "config:1:14: timeouts.header_m: unknown key (did you "
                      "mean \"header_ms\"?)");
    expect_conf_error(
        "{\"timeouts\":{\"keepalive_ms\":-1}}",
        "config:1:29: timeouts.keepalive_ms: -1 is out of range 0..3600000");
    expect_conf_error("{\"timeouts\":{\"keepalive_ms\":3600001}}",
                      "config:1:29: timeouts.keepalive_ms: 3600001 is out of "
                      "range 0..3600000");
    expect_conf_error("{\"routes\":{}}",
                      "config:1:11: routes: expected an array, got object");
    expect_conf_error(
        "{\"routes\":[{\"path\":\"/a\"},{\"path\":\"/b\"},"
        "{\"path\":\"/c\",\"status\":99}]}",
        "config:1:62: routes[2].status: 99 is out of range 200..599");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"stauts\":200}]}",
                      "config:1:25: routes[0].stauts: unknown key (did you "
                      "mean \"status\"?)");
    expect_conf_error("{\"routes\":[{\"status\":200}]}",
                      "config:1:12: routes[0]: missing required key \"path\"");
    expect_conf_error("{\"routes\":[{\"path\":\"a\"}]}",
                      "config:1:20: routes[0].path: expected a path starting "
                      "with '/' (URI path characters, at most 4096)");
    expect_conf_error("{\"routes\":[{\"path\":\"/a b\"}]}",
                      "config:1:20: routes[0].path: expected a path starting "
                      "with '/' (URI path characters, at most 4096)");
    expect_conf_error("{\"routes\":[{\"path\":\"/a?q\"}]}",
                      "config:1:20: routes[0].path: expected a path starting "
                      "with '/' (URI path characters, at most 4096)");
    expect_conf_error("{\"routes\":[{\"path\":\"/a%2\"}]}",
                      "config:1:20: routes[0].path: expected a path starting "
                      "with '/' (URI path characters, at most 4096)");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\"},{\"path\":\"/a\"}]}",
                      "routes[1].path: \"/a\" is already routes[0].path");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"type\":\"proxy\"}]}",
                      "config:1:32: routes[0].type: \"proxy\" is not one of "
                      "\"static\", \"echo\"");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"type\":\"echo\","
                      "\"body\":\"x\"}]}",
                      "config:1:12: routes[0]: body: an echo route sends the "
                      "request body, it takes no \"body\"");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"type\":\"echo\","
                      "\"status\":304}]}",
                      "config:1:12: routes[0]: status: 304 has no content, an "
                      "echo route needs one");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"buffering\":false}]}",
                      "config:1:12: routes[0]: buffering: only an echo route "
                      "reads a body to send back");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"buffering\":true}]}",
                      "config:1:12: routes[0]: buffering: only an echo route "
                      "reads a body to send back");
    expect_conf_error(
        "{\"routes\":[{\"path\":\"/a\",\"type\":\"echo\","
        "\"buffering\":0}]}",
        "config:1:51: routes[0].buffering: expected a boolean, got integer");
    expect_conf_error(
        "{\"routes\":[{\"path\":\"/a\",\"status\":204,"
        "\"body\":\"x\"}]}",
        "config:1:12: routes[0]: body: status 204 has no content");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"content_type\":"
                      "\"a\\r\\nX: y\"}]}",
                      "config:1:40: routes[0].content_type: expected a media "
                      "type of 1..256 visible ASCII characters");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"content_type\":\"\"}]}",
                      "config:1:40: routes[0].content_type: expected a media "
                      "type of 1..256 visible ASCII characters");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"methods\":[]}]}",
                      "config:1:35: routes[0].methods: must not be empty");
    expect_conf_error("{\"routes\":[{\"path\":\"/a\",\"methods\":[\"GET\","
                      "\"G T\"]}]}",
                      "config:1:35: routes[0].methods: element 1 is not a "
                      "method name (an HTTP token of 1..31 characters)");
    expect_conf_error(
        "{\"routes\":[{\"path\":\"/a\",\"methods\":[\"GET\","
        "\"GET\"]}]}",
        "config:1:35: routes[0].methods: element 1 (\"GET\") is listed twice");
    expect_conf_error(
        "{\"routes\":[{\"path\":\"/a\",\"methods\":[\"GET\",1]}]}",
        "config:1:42: routes[0].methods[1]: expected a string, got integer");
    expect_conf_error(
        "{\"routes\":[{\"path\":\"/"
        "a\",\"methods\":[\"A\",\"B\",\"C\",\"D\",\"E\",\"F\",\"G\",\"H\","
        "\"I\",\"J\",\"K\",\"L\",\"M\",\"N\",\"O\",\"P\",\"Q\"]}]}",
        "config:1:35: routes[0].methods: 17 elements (at most 16)");
    expect_conf_error(
        "{\"routes\":[{\"path\":\"/"
        "a\",\"methods\":[\"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\"]}]}",
        "config:1:35: routes[0].methods: element 0 is not a method name (an "
        "HTTP token of 1..31 characters)");
    expect_conf_error(
        "{\"default_routes\":1}",
        "config:1:19: default_routes: expected a boolean, got integer");
    /* JSON syntax, with line and column */
    expect_conf_error(
        "{\"a\":1,}",
        "config:1:8: syntax error: string or '}' expected near '}'");
    expect_conf_error("{\n  \"limits\": {\n    \"max_headers\": 01\n  }\n}",
                      "config:3:20: syntax error: invalid token near '0'");
    expect_conf_error("{\"routes\":[],\"routes\":[]}",
                      "config:1:14: duplicate key \"routes\"");
    expect_conf_error("{\"a\":\"\\x\"}",
                      "config:1:8: syntax error: invalid escape near '\"\\x'");
    expect_conf_error(
        "{\"a\":\"\xff\"}",
        "config:1:6: syntax error: unable to decode byte 0xff near '\"'");
    expect_conf_error("{\"a\":\"\\u0000\"}",
                      "config:1:13: syntax error: \\u0000 is not allowed "
                      "without JSON_ALLOW_NUL near '\"\\u0000\"'");
    expect_conf_error("{\"a\":tru}",
                      "config:1:8: syntax error: invalid token near 'tru'");
    expect_conf_error(
        "{} x", "config:1:4: syntax error: end of file expected near 'x'");
    expect_conf_error(
        "", "config:1:1: syntax error: '[' or '{' expected near end of file");
    /* a typo on its line, in a file of several */
    expect_conf_error(
        "{\n  \"routes\": [\n    {\"path\": \"/a\"},\n"
        "    {\"path\": \"/b\",\n     \"bodyy\": \"x\"}\n  ]\n}",
        "config:5:6: routes[1].bodyy: unknown key (did you mean \"body\"?)");
}

/* The sizes the table bounds: a body, a path, the number of routes. */
static void test_config_sizes(void **state)
{
    size_t cap = 2 << 20, n;
    char *conf = malloc(cap);

    (void)state;
    assert_non_null(conf);
    n = (size_t)snprintf(conf, cap,
                         "{\"routes\":[{\"path\":\"/b\",\"body\":\"");
    memset(conf + n, 'x', (1 << 20) + 1);
    n += (1 << 20) + 1;
    snprintf(conf + n, cap - n, "\"}]}");
    expect_conf_error(conf,
                      "config:1:32: routes[0].body: longer than 1048576 bytes");
    /* exactly 1 MiB is fine */
    conf[n - 1] = '"';
    conf[n] = '}';
    conf[n + 1] = ']';
    conf[n + 2] = '}';
    conf[n + 3] = '\0';
    start(conf);
    stop();
    n = (size_t)snprintf(conf, cap, "{\"routes\":[{\"path\":\"/");
    memset(conf + n, 'p', 4096);
    n += 4096;
    snprintf(conf + n, cap - n, "\"}]}");
    expect_conf_error(conf,
                      "config:1:20: routes[0].path: longer than 4096 bytes");
    n = (size_t)snprintf(conf, cap, "{\"routes\":[");
    for (int i = 0; i < 1025; i++)
        n += (size_t)snprintf(conf + n, cap - n, "%s{\"path\":\"/%d\"}",
                              i ? "," : "", i);
    snprintf(conf + n, cap - n, "]}");
    expect_conf_error(conf,
                      "config:1:11: routes: 1025 elements (at most 1024)");
    free(conf);
}

static int group_setup(void **state)
{
    (void)state;
    F.out = malloc(OUT_MAX);
    pend = malloc(OUT_MAX);
    return F.out == NULL || pend == NULL;
}

static int group_teardown(void **state)
{
    (void)state;
    free(F.out);
    free(pend);
    return 0;
}

/* ---- handler routes (handler.c), with handlers compiled in ---- */

/* What the test handler saw of its last request, and how to answer. */
static struct {
    zg_http_request_t req;
    char text[4096];              /* method, path, query, rest, fields, body */
    const unsigned char *body_at; /* req.body.data */
    int later;                    /* keep r: ZG_HTTP_LATER */
    zg_http_response_t *held[8];
    int nheld;
    int calls;
} H;

static const zg_http_api_t *hapi;

static int th_handle(const zg_http_request_t *req, zg_http_response_t *r)
{
    zg_view_t n, v;
    int len;

    H.calls++;
    H.req = *req;
    H.body_at = req->body.data;
    len = snprintf(H.text, sizeof(H.text), "%.*s %.*s ?%.*s rest=%.*s",
                   (int)req->method.len, (const char *)req->method.data,
                   (int)req->path.len, (const char *)req->path.data,
                   (int)req->query.len, (const char *)req->query.data,
                   (int)req->rest.len, (const char *)req->rest.data);
    for (size_t i = 0; hapi->header_at(req, i, &n, &v); i++)
        len += snprintf(H.text + len, sizeof(H.text) - (size_t)len,
                        " [%.*s=%.*s]", (int)n.len, (const char *)n.data,
                        (int)v.len, (const char *)v.data);
    if (hapi->header(req, "x-A", 3, &v))
        len += snprintf(H.text + len, sizeof(H.text) - (size_t)len, " x-a=%.*s",
                        (int)v.len, (const char *)v.data);
    snprintf(H.text + len, sizeof(H.text) - (size_t)len, " body=%.*s",
             (int)req->body.len, (const char *)req->body.data);
    if (H.later) {
        H.held[H.nheld++] = r;
        return ZG_HTTP_LATER;
    }
    hapi->write(r, "ok", 2);
    return ZG_HTTP_DONE;
}

static int th_init(const zg_http_api_t *a, const void *conf, void **rd,
                   char *err, size_t errlen)
{
    hapi = a;
    *rd = (void *)conf;
    return 0;
}

static const zg_http_handler_t th_desc = {
    .magic = ZG_HTTP_HANDLER_MAGIC,
    .abi_major = ZG_HTTP_ABI_MAJOR,
    .struct_size = sizeof(zg_http_handler_t),
    .name = "th",
    .version = "1",
    .init = th_init,
    .handle = th_handle,
};

static zg_http_handler_t th_bad; /* a copy to break, for the checks */

static const zg_http_handler_t *th_open(const char *spec, void **dl, char *path,
                                        char *err, size_t errlen)
{
    *dl = NULL;
    snprintf(path, 64, "/builtin/%s.so", spec);
    if (strcmp(spec, "th") == 0)
        return &th_desc;
    if (strcmp(spec, "bad") == 0)
        return &th_bad;
    snprintf(err, errlen, "\"%s\": not found", spec);
    return NULL;
}

#define CONF_TH                                                                \
    "{\"routes\":[{\"path\":\"/h\",\"handler\":\"th\"},"                       \
    "{\"path\":\"/p/\",\"match\":\"prefix\",\"handler\":\"th\","               \
    "\"max_body_size\":8}]}"
#define OK_RESP                                                                \
    "HTTP/1.1 200 OK\r\nServer: zerg\r\nContent-Length: 2\r\n" DATE "\r\nok"

static void th_start(void)
{
    memset(&H, 0, sizeof(H));
    zg_http_handler_open = th_open;
    start(CONF_TH);
}

static void test_handler_request(void **state)
{
    static const char req[] = "POST /p/a/b?x=1&y HTTP/1.1\r\nHost: t\r\n"
                              "X-A:  one \r\nx-a: two\r\n"
                              "Content-Length: 5\r\n\r\nhello";

    (void)state;
    th_start();
    /* all in one view: the body is read in place */
    assert_int_equal(feed(req), (long)strlen(req));
    expect_out(OK_RESP);
    assert_string_equal(H.text, "POST /p/a/b ?x=1&y rest=a/b [Host=t] "
                                "[X-A=one] [x-a=two] [Content-Length=5] "
                                "x-a=one body=hello");
    assert_int_equal(H.req.keep_alive, 1);
    assert_int_equal(H.req.conn_id, 7);
    assert_memory_equal(H.req.route.data, "/p/", 3);
    assert_ptr_not_equal(H.body_at, NULL);
    assert_memory_equal(H.body_at, "hello", 5);
    /* cut anywhere, over several calls: the same request */
    for (size_t cut = 1; cut < sizeof(req) - 1; cut++) {
        H.text[0] = '\0';
        feed_n(req, cut, 0);
        assert_int_equal(F.outlen, 0);
        feed_n(req + cut, sizeof(req) - 1 - cut, 0);
        expect_out(OK_RESP);
        assert_string_equal(H.text,
                            "POST /p/a/b ?x=1&y rest=a/b [Host=t] [X-A=one] "
                            "[x-a=two] [Content-Length=5] x-a=one body=hello");
    }
    /* chunked, decoded; over the route's limit: 413 */
    feed("POST /h?q HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\nab\r\n1;e=1\r\nc\r\n0\r\nT: x\r\n\r\n");
    expect_out(OK_RESP);
    assert_non_null(strstr(H.text, "/h ?q rest= [Host=t] "
                                   "[Transfer-Encoding=chunked] body=abc"));
    feed("POST /p/x HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n");
    assert_true(F.closed);
    assert_non_null(memmem(F.out, F.outlen, "413 Content Too Large", 21));
    stop();
}

static void test_handler_later_in_order(void **state)
{
    zg_http_response_t *r;

    (void)state;
    th_start();
    H.later = 1;
    /* the second request waits behind the pending first */
    assert_int_equal(feed(GET("/h?1") GET("/h?2")), (long)strlen(GET("/h?1")));
    assert_int_equal(H.calls, 1);
    assert_true(F.paused);
    assert_int_equal(F.outlen, 0);
    r = H.held[0];
    assert_int_equal(hapi->alive(r), 1);
    assert_int_equal(hapi->status(r, 99), -EINVAL);
    assert_int_equal(hapi->add_header(r, "Connection", 10, "x", 1), -EPERM);
    assert_int_equal(hapi->add_header(r, "X-B", 3, " x", 2), -EINVAL);
    assert_int_equal(hapi->add_header(r, "X-B", 3, "x\ny", 3), -EINVAL);
    assert_int_equal(hapi->add_header(r, "X-B", 3, "b", 1), 0);
    assert_int_equal(hapi->status(r, 202), 0);
    assert_int_equal(hapi->write(r, "one", 3), 0);
    /* as a posted call would: the answer goes out, reading resumes */
    assert_int_equal(hapi->finish(r), 0);
    expect_out("HTTP/1.1 202 Accepted\r\nServer: zerg\r\nX-B: b\r\n"
               "Content-Length: 3\r\n" DATE "\r\none");
    assert_false(F.paused);
    H.later = 0;
    assert_int_equal(feed(""), (long)strlen(GET("/h?2")));
    assert_int_equal(H.calls, 2);
    expect_out(OK_RESP);
    /* the connection ends while a response is pending: finish only
     * frees it */
    H.later = 1;
    feed(GET("/h?3"));
    r = H.held[1];
    P.p->on_close(CONN, P.cd, ZG_CLOSE_ERROR);
    assert_int_equal(hapi->alive(r), 0);
    assert_int_equal(hapi->write(r, "x", 1), 0);
    assert_int_equal(hapi->finish(r), -EPIPE);
    assert_int_equal(F.outlen, 0);
    fake_reset();
    assert_int_equal(P.p->on_accept(CONN, P.rd, &P.cd), 0);
    /* a FIN with a pending request: half-open until it is answered */
    feed_n(GET("/h?4"), strlen(GET("/h?4")), ZG_IN_EOF);
    assert_int_equal(F.half_open, 1);
    assert_int_equal(hapi->finish(H.held[2]), 0);
    assert_int_equal(F.half_open, 0);
    assert_true(F.closed);
    assert_int_equal(F.how, ZG_CLOSE_FLUSH);
    stop();
}

static void test_handler_failure_and_limits(void **state)
{
    zg_http_response_t *r;
    char big[5000];

    (void)state;
    th_start();
    H.later = 1;
    feed(GET("/h"));
    r = H.held[0];
    memset(big, 'v', sizeof(big));
    assert_int_equal(hapi->add_header(r, "X-V", 3, big, 4097), -EINVAL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(hapi->add_header(r, "X-V", 3, big, 4000), 0);
    assert_int_equal(hapi->add_header(r, "X-V", 3, big, 4000), -ENOSPC);
    assert_null(hapi->reserve(r, ZG_HTTP_MAX_RESPONSE + 1, NULL));
    assert_int_equal(hapi->commit(r, 1), -EINVAL);
    assert_int_equal(hapi->finish(r), 0);
    assert_true(F.outlen > 16000);
    F.outlen = F.drained = 0;
    stop();
}

static void test_handler_descriptor_checks(void **state)
{
    char err[512];

    (void)state;
    zg_http_handler_open = th_open;
    th_bad = th_desc;
    th_bad.magic = 1;
    assert_int_equal(zg_http_hcheck(&th_bad, "/x.so", err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "/x.so: magic 0x00000001 (need 0x7a676868: not "
                             "a zerg HTTP handler)");
    th_bad = th_desc;
    th_bad.abi_major = 2;
    zg_http_hcheck(&th_bad, "/x.so", err, sizeof(err));
    assert_string_equal(err, "/x.so: built for handler ABI 2 (need 1)");
    th_bad = th_desc;
    th_bad.struct_size = 8;
    zg_http_hcheck(&th_bad, "/x.so", err, sizeof(err));
    assert_non_null(strstr(err, "descriptor of 8 bytes (need at least"));
    th_bad = th_desc;
    th_bad.handle = NULL;
    zg_http_hcheck(&th_bad, "/x.so", err, sizeof(err));
    assert_non_null(strstr(err, "no handle()"));
    th_bad = th_desc;
    th_bad.name = "Bad Name";
    zg_http_hcheck(&th_bad, "/x.so", err, sizeof(err));
    assert_non_null(strstr(err, "bad name"));
    th_bad = th_desc;
    th_bad.flags = 4;
    zg_http_hcheck(&th_bad, "/x.so", err, sizeof(err));
    assert_non_null(strstr(err, "flags 0x4 (need 0)"));
    /* through the plugin's init_conf: one line naming the route */
    {
        zg_conf_arena_t arena = {NULL};
        const char *conf = "{\"routes\":[{\"path\":\"/a\",\"handler\":"
                           "\"bad\"}]}";
        const void *filled = zg_test_conf_fill(
            ZG_PLUGIN_ENTRY(), conf, strlen(conf), &arena, err, sizeof(err));
        void *pd = NULL;

        assert_non_null(filled);
        assert_int_not_equal(ZG_PLUGIN_ENTRY()->init_conf(
                                 &fake_api, filled, &pd, err, sizeof(err)),
                             0);
        assert_string_equal(err, "routes[0].handler: /builtin/bad.so: flags "
                                 "0x4 (need 0)");
        zg_conf_arena_free(&arena);
    }
    /* a name nowhere to be found lists where it looked */
    zg_http_handler_open = zg_http_dlopen;
    setenv("ZERG_PLUGIN_PATH", "/nonexistent/a:/nonexistent/b", 1);
    assert_int_equal(zg_http_resolve("nosuch", err, err, sizeof(err)), -ENOENT);
    unsetenv("ZERG_PLUGIN_PATH");
    assert_non_null(strstr(err, "/nonexistent/a/nosuch.so, "
                                "/nonexistent/a/nosuch/nosuch.so, "
                                "/nonexistent/b/nosuch.so"));
}

/* ---- the access log (alog.c and its use in http.c) ---- */

/* Assert the log lines written so far are exactly expect, then forget
 * them. */
static void expect_log(const char *expect)
{
    size_t n = strlen(expect);

    if (F.loglen != n || memcmp(F.log, expect, n) != 0)
        fail_msg("log (%zu bytes):\n%.*s--- expected (%zu bytes):\n%s",
                 F.loglen, (int)F.loglen, F.log, n, expect);
    F.loglen = 0;
}

/* Local time is UTC here, or a zone given. */
static void set_tz(const char *tz)
{
    if (tz != NULL)
        setenv("TZ", tz, 1);
    else
        unsetenv("TZ");
    tzset();
}

#define LINE(req, rest)                                                        \
    "192.0.2.1 - - [06/Nov/1994:08:49:37 +0000] \"" req "\" " rest "\n"

static void test_alog_escape_time_addr(void **state)
{
    unsigned char all[256];
    char out[6 * 256], want[8];
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    struct sockaddr sun = {.sa_family = AF_UNIX};
    size_t n;

    (void)state;
    n = zg_http_alog_escape(out, (const unsigned char *)"a\"b\\c\x01\x7f\xff ~",
                            10, ZG_HTTP_ALOG_COMBINED);
    assert_int_equal(n, 25);
    assert_memory_equal(out, "a\\x22b\\x5Cc\\x01\\x7F\\xFF ~", 25);
    n = zg_http_alog_escape(out, (const unsigned char *)"a\"b\\c\x01\x7f\xff ~",
                            10, ZG_HTTP_ALOG_JSON);
    assert_int_equal(n, 27);
    assert_memory_equal(out, "a\\\"b\\\\c\\u0001\\u007F\\u00FF ~", 27);
    /* every byte: printable ASCII but '"' and '\' as it is, the rest
     * escaped, so a line never holds a control byte or a bare quote */
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    for (int f = ZG_HTTP_ALOG_COMBINED; f <= ZG_HTTP_ALOG_JSON; f++) {
        char *o = out;

        n = zg_http_alog_escape(out, all, 256, f);
        for (int i = 0; i < 256; i++) {
            if (i >= 0x20 && i <= 0x7e && i != '"' && i != '\\') {
                assert_int_equal((unsigned char)*o, i);
                o++;
                continue;
            }
            if (f == ZG_HTTP_ALOG_JSON && (i == '"' || i == '\\'))
                snprintf(want, sizeof(want), "\\%c", i);
            else if (f == ZG_HTTP_ALOG_JSON)
                snprintf(want, sizeof(want), "\\u00%02X", i);
            else
                snprintf(want, sizeof(want), "\\x%02X", i);
            assert_memory_equal(o, want, strlen(want));
            o += strlen(want);
        }
        assert_int_equal(n, (size_t)(o - out));
    }
    /* eight bytes at a time or one: the same as a byte-by-byte
     * reference, wherever the bytes to escape fall */
    srand(7);
    for (int k = 0; k < 20000; k++) {
        unsigned char in[40];
        char ref[6 * 40];
        size_t len = (size_t)(rand() % 41), rn = 0;
        int f = k & 1;

        for (size_t i = 0; i < len; i++)
            in[i] = rand() % 8 == 0 ? (unsigned char)rand()
                                    : (unsigned char)(0x20 + rand() % 0x5f);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = in[i];

            if (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\')
                ref[rn++] = (char)c;
            else if (f == ZG_HTTP_ALOG_JSON && (c == '"' || c == '\\'))
                rn += (size_t)sprintf(ref + rn, "\\%c", c);
            else
                rn += (size_t)sprintf(
                    ref + rn, f == ZG_HTTP_ALOG_JSON ? "\\u00%02X" : "\\x%02X",
                    c);
        }
        n = zg_http_alog_escape(out, in, len, f);
        assert_int_equal(n, rn);
        assert_memory_equal(out, ref, n);
    }
    /* the longest fixed part fits the room alog.h promises */
    {
        static const char v6[] =
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
        zg_http_alog_rec_t r = {
            .addr = v6,
            .addr_len = sizeof(v6) - 1,
            .time_local = "06/Nov/1994:08:49:37 +0000",
            .src = NULL,
            .status = UINT32_MAX,
            .bytes = UINT64_MAX,
            .msec = UINT64_MAX,
        };

        assert_true(zg_http_alog_line(out, &r, ZG_HTTP_ALOG_JSON) <=
                    ZG_HTTP_ALOG_LINE_MAX(0));
        assert_true(zg_http_alog_line(out, &r, ZG_HTTP_ALOG_COMBINED) <=
                    ZG_HTTP_ALOG_LINE_MAX(0));
    }
    /* $time_local in the local zone */
    set_tz("UTC");
    zg_http_alog_time(out, fake_now);
    assert_string_equal(out, "06/Nov/1994:08:49:37 +0000");
    set_tz("IST-05:30");
    zg_http_alog_time(out, fake_now);
    assert_string_equal(out, "06/Nov/1994:14:19:37 +0530");
    set_tz("EST+5");
    zg_http_alog_time(out, fake_now);
    assert_string_equal(out, "06/Nov/1994:03:49:37 -0500");
    set_tz(NULL);
    /* $remote_addr: the address alone; IPv4-mapped as IPv4 */
    sin.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(zg_http_alog_addr(out, (struct sockaddr *)&sin), 9);
    assert_string_equal(out, "127.0.0.1");
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr);
    zg_http_alog_addr(out, (struct sockaddr *)&sin6);
    assert_string_equal(out, "10.1.2.3");
    inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
    zg_http_alog_addr(out, (struct sockaddr *)&sin6);
    assert_string_equal(out, "2001:db8::1");
    assert_int_equal(zg_http_alog_addr(out, &sun), 1);
    assert_string_equal(out, "-");
    assert_int_equal(zg_http_alog_addr(out, NULL), 1);
}

/* One line per request, pipelined ones included, in order; the client's
 * strings escaped; status and body bytes as sent. */
static void test_alog_lines(void **state)
{
    static const char hostile[] =
        "GET /plaintext?a=%22 HTTP/1.1\r\nHost: t\r\n"
        "User-Agent: evil\" 200 0 \"x\\ \xc3\xa9\xff[2J \t\r\n"
        "Referer: http://r/\"\r\n\r\n";

    (void)state;
    set_tz("UTC");
    start("{\"access_log\":{\"path\":\"/var/log/a.log\",\"flush_ms\":20}}");
    assert_string_equal(fake_sink_path, "/var/log/a.log 65536 20");
    feed(GET("/plaintext") "HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n" GET(
        "/nope") "DELETE /json HTTP/1.0\r\nReferer: http://a/b\r\n"
                 "user-agent: curl/8.0\r\n\r\n");
    expect_log(LINE("GET /plaintext HTTP/1.1", "200 13 \"-\" \"-\" 0.000")
                   LINE("HEAD /json HTTP/1.1", "200 0 \"-\" \"-\" 0.000")
                       LINE("GET /nope HTTP/1.1", "404 10 \"-\" \"-\" 0.000")
                           LINE("DELETE /json HTTP/1.0",
                                "405 19 \"http://a/b\" \"curl/8.0\" 0.000"));
    assert_true(F.closed); /* HTTP/1.0 without keep-alive */
    reconnect();
    /* a hostile User-Agent cannot end the line or forge fields */
    feed(hostile);
    expect_log(LINE("GET /plaintext?a=%22 HTTP/1.1",
                    "200 13 \"http://r/\\x22\" \"evil\\x22 200 0 "
                    "\\x22x\\x5C \\xC3\\xA9\\xFF[2J\" 0.000"));
    /* trailing white space is not part of a value; an empty one is "" */
    feed("GET /plaintext HTTP/1.1\r\nHost: t\r\nUser-Agent: a\tb  \r\n"
         "Referer: \r\n\r\n");
    expect_log(
        LINE("GET /plaintext HTTP/1.1", "200 13 \"\" \"a\\x09b\" 0.000"));
    /* control bytes in a field are refused (400): the line shows the
     * request, and the field lines that were whole */
    feed("GET /x HTTP/1.1\r\nHost: t\r\nReferer: ok\r\n"
         "User-Agent: a\x01\nforged\r\n\r\n");
    expect_log(LINE("GET /x HTTP/1.1", "400 12 \"ok\" \"-\" 0.000"));
    stop();
}

/* Errors the plugin answers itself get their line, with what there is of
 * the request line; a request answered in a later call (its body came in
 * pieces) keeps its strings. */
static void test_alog_errors_and_bodies(void **state)
{
    (void)state;
    set_tz("UTC");
    start("{\"limits\":{\"max_request_line\":64,\"max_body_size\":100},"
          "\"routes\":[{\"path\":\"/echo\",\"type\":\"echo\"},"
          "{\"path\":\"/s\",\"type\":\"echo\",\"buffering\":false}],"
          "\"access_log\":{\"path\":\"a.log\"}}");
    feed("\r\n\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    expect_log(LINE("\\x16", "400 12 \"-\" \"-\" 0.000"));
    reconnect();
    feed("GET /a\x7f HTTP/1.1\r\n");
    expect_log(LINE("GET /a\\x7F", "400 12 \"-\" \"-\" 0.000"));
    reconnect();
    /* a line at the limit (64 bytes) is shown up to it */
    feed("GET "
         "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    expect_log(
        LINE("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaa",
             "414 13 \"-\" \"-\" 0.000"));
    reconnect();
    feed("GET / HTTP/2.0\r\n\r\n");
    expect_log(LINE("GET / HTTP/2.0", "505 27 \"-\" \"-\" 0.000"));
    reconnect();
    feed("GET / HTTP/1.1\r\n\r\n"); /* no Host */
    expect_log(LINE("GET / HTTP/1.1", "400 12 \"-\" \"-\" 0.000"));
    reconnect();
    feed("POST /echo HTTP/1.1\r\nHost: t\r\nUser-Agent: u\r\n"
         "Content-Length: 101\r\n\r\n");
    expect_log(LINE("POST /echo HTTP/1.1", "413 18 \"-\" \"u\" 0.000"));
    reconnect();
    /* the body comes in three calls, 250 ms apart: the line waits for
     * the answer and says how long it took */
    fake_ms = 1000000;
    feed("POST /echo?x HTTP/1.1\r\nHost: t\r\nReferer: r\r\n"
         "User-Agent: u\r\nContent-Length: 10\r\n\r\nabc");
    assert_int_equal(F.loglen, 0);
    fake_ms += 250;
    feed("defg");
    fake_ms += 250;
    feed("hij" GET("/plaintext"));
    expect_log(LINE("POST /echo?x HTTP/1.1", "200 10 \"r\" \"u\" 0.500")
                   LINE("GET /plaintext HTTP/1.1", "200 13 \"-\" \"-\" 0.000"));
    /* a head in pieces counts from its first byte */
    feed("GET /plain");
    fake_ms += 1234;
    feed("text HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_log(LINE("GET /plaintext HTTP/1.1", "200 13 \"-\" \"-\" 1.234"));
    /* a streamed chunked echo: body bytes as sent, chunk framing
     * included; a bad chunk cuts it short and still gets its line */
    feed("POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\n");
    expect_log(LINE("POST /s HTTP/1.1", "200 13 \"-\" \"-\" 0.000"));
    feed("POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\nzz");
    expect_log(LINE("POST /s HTTP/1.1", "200 8 \"-\" \"-\" 0.000"));
    assert_true(F.closed);
    reconnect();
    /* a refused Expect: 100-continue */
    feed("POST /plaintext HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
         "Content-Length: 5\r\n\r\n");
    expect_log(LINE("POST /plaintext HTTP/1.1", "405 19 \"-\" \"-\" 0.000"));
    reconnect();
    /* the client leaves during the body: 499, as nginx says */
    feed("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab");
    fake_ms += 3000;
    P.p->on_close(CONN, P.cd, ZG_CLOSE_PEER);
    expect_log(LINE("POST /echo HTTP/1.1", "499 0 \"-\" \"-\" 3.000"));
    fake_reset();
    assert_int_equal(P.p->on_accept(CONN, P.rd, &P.cd), 0);
    /* a head that never came: 408, with no request to show, timed from
     * the connection's start */
    fake_ms += 10000;
    P.p->on_timeout(CONN, P.cd);
    expect_log(LINE("-", "408 16 \"-\" \"-\" 10.000"));
    stop();
}

static void test_alog_json_and_v6(void **state)
{
    json_error_t je;
    json_t *o;

    (void)state;
    set_tz("UTC");
    fake_v6 = 1;
    start("{\"access_log\":{\"path\":\"stderr\",\"format\":\"json\"}}");
    feed("GET /json?q=%22x HTTP/1.1\r\nHost: t\r\n"
         "User-Agent: a\"\\\t\xff\r\n\r\n");
    expect_log("{\"remote_addr\":\"2001:db8::7\",\"time_local\":\"06/Nov/1994:"
               "08:49:37 +0000\",\"request\":\"GET /json?q=%22x HTTP/1.1\","
               "\"status\":200,\"body_bytes_sent\":27,\"http_referer\":\"\","
               "\"http_user_agent\":\"a\\\"\\\\\\u0009\\u00FF\","
               "\"request_time\":0.000}\n");
    /* a bad request line: what was read of it */
    feed("GET /json?q=\"x\" HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_log("{\"remote_addr\":\"2001:db8::7\",\"time_local\":\"06/Nov/1994:"
               "08:49:37 +0000\",\"request\":\"GET /json?q=\\\"\",\"status\":"
               "400,\"body_bytes_sent\":12,\"http_referer\":\"\","
               "\"http_user_agent\":\"\",\"request_time\":0.000}\n");
    reconnect();
    feed(GET("/json"));
    o = json_loadb(F.log, F.loglen, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "request")),
                        "GET /json HTTP/1.1");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "body_bytes_sent")),
                     27);
    assert_true(json_is_real(json_object_get(o, "request_time")));
    json_decref(o);
    fake_v6 = 0;
    stop();
}

/* A handler's answer, at once or later: its line when it is sent, with
 * its status and body; the request's strings outlive the call that read
 * them. A request still with its handler when the client leaves: 499. */
static void test_alog_handler(void **state)
{
    zg_http_response_t *r;

    (void)state;
    set_tz("UTC");
    memset(&H, 0, sizeof(H));
    zg_http_handler_open = th_open;
    start("{\"routes\":[{\"path\":\"/h\",\"handler\":\"th\"}],"
          "\"access_log\":{\"path\":\"a.log\"}}");
    H.later = 1;
    fake_ms = 2000000;
    feed("GET /h?1 HTTP/1.1\r\nHost: t\r\nUser-Agent: later\r\n\r\n" GET(
        "/h?2"));
    assert_int_equal(F.loglen, 0);
    r = H.held[0];
    assert_int_equal(hapi->status(r, 202), 0);
    assert_int_equal(hapi->write(r, "one", 3), 0);
    fake_ms += 42;
    assert_int_equal(hapi->finish(r), 0);
    expect_log(LINE("GET /h?1 HTTP/1.1", "202 3 \"-\" \"later\" 0.042"));
    H.later = 0;
    feed("");
    expect_log(LINE("GET /h?2 HTTP/1.1", "200 2 \"-\" \"-\" 0.000"));
    H.later = 1;
    feed("HEAD /h?3 HTTP/1.1\r\nHost: t\r\n\r\n");
    P.p->on_close(CONN, P.cd, ZG_CLOSE_PEER);
    expect_log(LINE("HEAD /h?3 HTTP/1.1", "499 0 \"-\" \"-\" 0.000"));
    assert_int_equal(hapi->finish(H.held[1]), -EPIPE);
    assert_int_equal(F.loglen, 0);
    fake_reset();
    assert_int_equal(P.p->on_accept(CONN, P.rd, &P.cd), 0);
    stop();
}

/* Without "access_log" (or with "off"), no line and no record. */
static void test_alog_off(void **state)
{
    char err[256];

    (void)state;
    start("{\"access_log\":{\"path\":\"off\"}}");
    assert_null(((const zg_http_conf_t *)P.pd)->alog);
    assert_null(((http_conn_t *)P.cd)->lg);
    feed(GET("/plaintext") "GET / HTTP/1.1\r\n\r\n");
    assert_int_equal(F.nlog, 0);
    stop();
    start("{}");
    assert_null(((const zg_http_conf_t *)P.pd)->alog);
    feed(GET("/plaintext"));
    assert_int_equal(F.nlog, 0);
    stop();
    /* the host cannot open the file: init refuses, saying why */
    {
        zg_conf_arena_t arena = {NULL};
        const char *conf = "{\"access_log\":{\"path\":\"/nonexistent/x.log\"}}";
        const void *filled = zg_test_conf_fill(
            ZG_PLUGIN_ENTRY(), conf, strlen(conf), &arena, err, sizeof(err));
        void *pd = NULL;

        assert_non_null(filled);
        assert_int_not_equal(ZG_PLUGIN_ENTRY()->init_conf(
                                 &fake_api, filled, &pd, err, sizeof(err)),
                             0);
        assert_string_equal(err, "access_log: cannot open /nonexistent/x.log "
                                 "(No such file or directory)");
        zg_conf_arena_free(&arena);
    }
}

static void test_prefix_route_find(void **state)
{
    const zg_http_route_t *r;

    (void)state;
    start("{\"routes\":[{\"path\":\"/a/\",\"match\":\"prefix\"},"
          "{\"path\":\"/a/b/\",\"match\":\"prefix\"},"
          "{\"path\":\"/a/b/\",\"body\":\"exact\"},"
          "{\"path\":\"/\",\"match\":\"prefix\"}]}");
#define FIND(p) zg_http_route_find(P.pd, (const unsigned char *)(p), strlen(p))
    r = FIND("/a/b/");
    assert_string_equal(r->path, "/a/b/");
    assert_int_equal(r->match, ZG_HTTP_MATCH_EXACT);
    r = FIND("/a/b/c");
    assert_string_equal(r->path, "/a/b/");
    assert_int_equal(r->match, ZG_HTTP_MATCH_PREFIX);
    assert_string_equal(FIND("/a/bc")->path, "/a/");
    assert_string_equal(FIND("/a")->path, "/");
    assert_string_equal(FIND("/plaintext")->path, "/plaintext");
#undef FIND
    stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_plaintext_json),
        cmocka_unit_test(test_head_404_405),
        cmocka_unit_test(test_options_allow),
        cmocka_unit_test(test_pipelined_100),
        cmocka_unit_test(test_http10_keepalive),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_echo_buffered_errors),
        cmocka_unit_test(test_echo_buffered_memory),
        cmocka_unit_test(test_echo_streaming),
        cmocka_unit_test(test_echo_large_zero_copy),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_body_discarded),
        cmocka_unit_test(test_routes_config),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_large_static_body),
        cmocka_unit_test(test_output_cap),
        cmocka_unit_test(test_stalled_timer_and_drain),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_header_and_keepalive_timers),
        cmocka_unit_test(test_date_once_per_second),
        cmocka_unit_test(test_partial_and_eof),
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_sizes),
        cmocka_unit_test(test_handler_request),
        cmocka_unit_test(test_handler_later_in_order),
        cmocka_unit_test(test_handler_failure_and_limits),
        cmocka_unit_test(test_handler_descriptor_checks),
        cmocka_unit_test(test_prefix_route_find),
        cmocka_unit_test(test_alog_escape_time_addr),
        cmocka_unit_test(test_alog_lines),
        cmocka_unit_test(test_alog_errors_and_bodies),
        cmocka_unit_test(test_alog_json_and_v6),
        cmocka_unit_test(test_alog_handler),
        cmocka_unit_test(test_alog_off),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
