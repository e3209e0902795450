/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the whole proxy plugin (every .c file in
 * plugins/proxy) driven through its descriptor by a fake host: connect()
 * makes fake outbound connections whose callbacks the test runs by hand,
 * and each connection records its output, pause state and how it was
 * closed. Checks the config errors the host reports from the plugin's
 * key table, the retry on a failed connect, forwarding, half-closes,
 * back-pressure, the idle timeout and the session's lifetime.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/upstream.c"
#include "proxy/pp2.c"
#include "proxy/conf.c"
#include "proxy/proxy.c"

#include "../fuzz/host_conf.h"

/* ---- the fake host ---- */

#define NCONN  16
#define OUTMAX 4096

struct zg_conn_s {
    int used;
    int outbound;
    uint64_t id;
    const zg_outbound_t *ops; /* outbound only */
    void *data;               /* outbound conn_data */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    unsigned char out[OUTMAX];
    size_t outlen;
    size_t pending; /* what output_pending() says */
    int paused;
    int half_open;
    int want_wr;
    uint32_t timer;
    int closed; /* close() calls */
    zg_close_how_t how;
    uint32_t timeout_ms; /* connect's */
};

static struct zg_conn_s conns[NCONN];
static uint64_t next_id = 1;
static int connect_fail; /* connect() returns NULL with this errno */
static char logbuf[8192];

static zg_conn_t *fake_new(int outbound)
{
    for (int i = 0; i < NCONN; i++) {
        if (!conns[i].used) {
            memset(&conns[i], 0, sizeof(conns[i]));
            conns[i].used = 1;
            conns[i].outbound = outbound;
            conns[i].id = next_id++;
            return &conns[i];
        }
    }
    fail_msg("out of fake connections");
    return NULL;
}

static int fake_send(zg_conn_t *c, const void *data, size_t len)
{
    if (c->closed)
        return -EPIPE;
    assert_true(c->outlen + len <= OUTMAX);
    memcpy(c->out + c->outlen, data, len);
    c->outlen += len;
    c->pending += len;
    return 0;
}

static int fake_send_view(zg_conn_t *c, const zg_view_t *v)
{
    return fake_send(c, v->data, v->len);
}

static int fake_close(zg_conn_t *c, zg_close_how_t how)
{
    /* As the host will: a FLUSH after a WRITE completes the close. */
    if (c->closed == 0 || how != ZG_CLOSE_WRITE)
        c->how = how;
    c->closed++;
    return 0;
}

static int fake_pause(zg_conn_t *c, int paused)
{
    c->paused = paused;
    return 0;
}

static int fake_peer(zg_conn_t *c, struct sockaddr *a, socklen_t *len)
{
    memcpy(a, &c->peer, c->peer_len < *len ? c->peer_len : *len);
    *len = c->peer_len;
    return 0;
}

static int fake_local(zg_conn_t *c, struct sockaddr *a, socklen_t *len)
{
    struct sockaddr_in in;

    (void)c;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = htons(7000);
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    memcpy(a, &in, sizeof(in) < *len ? sizeof(in) : *len);
    *len = sizeof(in);
    return 0;
}

static uint64_t fake_id(zg_conn_t *c)
{
    return c->id;
}

static void fake_log(zg_log_level_t level, const char *fmt, ...)
{
    size_t used = strlen(logbuf);
    va_list ap;

    (void)level;
    va_start(ap, fmt);
    vsnprintf(logbuf + used, sizeof(logbuf) - used, fmt, ap);
    va_end(ap);
    used = strlen(logbuf);
    if (used + 1 < sizeof(logbuf)) {
        logbuf[used] = '\n';
        logbuf[used + 1] = '\0';
    }
}

static size_t fake_pending(zg_conn_t *c)
{
    return c->pending;
}

static int fake_timer(zg_conn_t *c, uint32_t ms)
{
    c->timer = ms;
    return 0;
}

static int fake_want(zg_conn_t *c, int on)
{
    c->want_wr = on;
    return 0;
}

static zg_conn_t *fake_connect(const zg_connect_t *o, int *err)
{
    zg_conn_t *u;

    assert_true(o->struct_size >= sizeof(zg_connect_t));
    assert_non_null(o->from);
    assert_non_null(o->ops);
    if (connect_fail) {
        *err = -connect_fail;
        return NULL;
    }
    u = fake_new(1);
    u->ops = o->ops;
    u->data = o->conn_data;
    memcpy(&u->peer, o->addr, o->addr_len);
    u->peer_len = o->addr_len;
    u->timeout_ms = o->timeout_ms;
    return u;
}

static int fake_half_open(zg_conn_t *c, int on)
{
    c->half_open = on;
    return 0;
}

static const zg_api_t fake_api = {
    .struct_size = sizeof(zg_api_t),
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = ZG_ABI_MINOR,
    .send = fake_send,
    .send_view = fake_send_view,
    .close = fake_close,
    .pause_read = fake_pause,
    .peer_addr = fake_peer,
    .local_addr = fake_local,
    .conn_id = fake_id,
    .log = fake_log,
    .output_pending = fake_pending,
    .set_timer = fake_timer,
    .want_writable = fake_want,
    .connect = fake_connect,
    .half_open = fake_half_open,
};

/* ---- the plugin under test ---- */

typedef struct plug_s {
    const zg_plugin_t *p;
    void *pd, *rd;
    zg_conf_arena_t arena;
} plug_t;

static plug_t P;

static void plug_start(const char *conf)
{
    char err[512] = "";
    void *filled;

    memset(conns, 0, sizeof(conns));
    logbuf[0] = '\0';
    connect_fail = 0;
    P.p = ZG_PLUGIN_ENTRY();
    filled =
        zg_test_conf_fill(P.p, conf, strlen(conf), &P.arena, err, sizeof(err));
    if (filled == NULL)
        fail_msg("config: %s", err);
    if (P.p->init_conf(&fake_api, filled, &P.pd, err, sizeof(err)) != 0)
        fail_msg("init_conf: %s", err);
    assert_int_equal(P.p->reactor_init(P.pd, 0, &P.rd), 0);
}

static void plug_stop(void)
{
    P.p->reactor_fini(P.pd, P.rd);
    P.p->fini(P.pd);
    zg_conf_arena_free(&P.arena);
    memset(&P, 0, sizeof(P));
}

/* The host's message for conf, or "" if it is accepted. */
static const char *conf_error(const char *conf)
{
    static char err[512];
    zg_conf_arena_t arena = {NULL};
    const zg_plugin_t *d = ZG_PLUGIN_ENTRY();
    void *filled, *pd = NULL;

    err[0] = '\0';
    filled = zg_test_conf_fill(d, conf, strlen(conf), &arena, err, sizeof(err));
    if (filled != NULL &&
        d->init_conf(&fake_api, filled, &pd, err, sizeof(err)) == 0) {
        d->fini(pd);
        err[0] = '\0';
    }
    zg_conf_arena_free(&arena);
    return err;
}

/* A new client connection from 192.0.2.5:4000, accepted. */
static zg_conn_t *client(void **cd)
{
    zg_conn_t *c = fake_new(0);
    struct sockaddr_in *in = (struct sockaddr_in *)&c->peer;

    in->sin_family = AF_INET;
    in->sin_port = htons(4000);
    inet_pton(AF_INET, "192.0.2.5", &in->sin_addr);
    c->peer_len = sizeof(*in);
    assert_int_equal(P.p->on_accept(c, P.rd, cd), 0);
    return c;
}

/* The outbound connection that is open and not closed, or NULL. */
static zg_conn_t *upstream(void)
{
    zg_conn_t *found = NULL;

    for (int i = 0; i < NCONN; i++) {
        if (conns[i].used && conns[i].outbound && !conns[i].closed) {
            assert_null(found);
            found = &conns[i];
        }
    }
    return found;
}

static const char *peer_of(zg_conn_t *u)
{
    static char buf[64];

    return zg_proxy_addr_format((struct sockaddr *)&u->peer, buf, sizeof(buf));
}

/* The host's end of a connection: on_close, then the slot is free. */
static void up_closed(zg_conn_t *u, zg_close_reason_t why)
{
    u->ops->on_close(u, u->data, why);
    u->used = 0;
}

static void cl_closed(zg_conn_t *c, void *cd, zg_close_reason_t why)
{
    P.p->on_close(c, cd, why);
    c->used = 0;
}

static long feed(zg_conn_t *c, void *cd, const char *text, unsigned flags)
{
    zg_view_t v[2];
    size_t n = strlen(text), half = n / 2;
    zg_input_t in = {v, 2, flags, n};

    v[0].data = (const unsigned char *)text;
    v[0].len = half;
    v[1].data = (const unsigned char *)text + half;
    v[1].len = n - half;
    if (c->outbound)
        return c->ops->on_data(c, c->data, &in);
    return P.p->on_data(c, cd, &in);
}

static size_t sessions_free(void)
{
    return ((zg_proxy_reactor_t *)P.rd)->nfree;
}

#define TWO_UPSTREAMS                                                          \
    "{\"upstreams\": [{\"address\": \"127.0.0.1:1001\"}, "                     \
    "{\"address\": \"127.0.0.1:1002\"}]"

/* ---- tests ---- */

static void test_config_errors(void **state)
{
    (void)state;
    assert_string_equal(conf_error(TWO_UPSTREAMS "}"), "");
    assert_string_equal(conf_error("{}"),
                        "config:1:1: missing required key \"upstreams\"");
    assert_string_equal(conf_error("{\"upstreams\": []}"),
                        "config:1:15: upstreams: must not be empty");
    assert_string_equal(
        conf_error("{\"upstreams\": [{\"address\": \"10.1:80\"}]}"),
        "config:1:28: upstreams[0].address: \"10.1\": not an IPv4 address "
        "(a.b.c.d)");
    assert_string_equal(
        conf_error("{\"upstreams\": [{\"address\": \"::1:80\"}]}"),
        "config:1:28: upstreams[0].address: \"::1:80\": an IPv6 address goes "
        "in brackets: [address]:port");
    assert_string_equal(
        conf_error("{\"upstreams\": [{\"address\": \"1.2.3.4:80\", "
                   "\"weight\": 0}]}"),
        "config:1:52: upstreams[0].weight: 0 is out of range 1..1000");
    assert_non_null(
        strstr(conf_error(TWO_UPSTREAMS ", \"balance\": \"rr\"}"), "balance"));
    assert_non_null(
        strstr(conf_error(TWO_UPSTREAMS
                          ", \"max_tries\": 2, \"conect_timeout_ms\": 1}"),
               "did you mean \"connect_timeout_ms\""));
}

static void test_conf_build(void **state)
{
    const zg_proxy_conf_t *c;

    (void)state;
    plug_start(TWO_UPSTREAMS ", \"max_tries\": 1}");
    c = P.pd;
    assert_int_equal(c->pool.n, 2);
    assert_int_equal(c->tries, 1);
    assert_int_equal(c->connect_timeout_ms, 5000);
    assert_int_equal(c->idle_timeout_ms, 600000);
    assert_int_equal(c->pool.max_fails, 1);
    assert_int_equal(c->pool.fail_timeout_ms, 10000);
    assert_int_equal(c->pool.balance, ZG_PROXY_ROUND_ROBIN);
    assert_string_equal(c->pool.servers[1].name, "127.0.0.1:1002");
    plug_stop();
    /* A name: each of its addresses, named after it. */
    plug_start("{\"upstreams\": [{\"address\": \"localhost:9\", \"weight\": "
               "3}], \"max_tries\": 200, \"balance\": \"hash\"}");
    c = P.pd;
    assert_true(c->pool.n >= 1 && c->pool.n <= 2);
    assert_int_equal(c->tries, c->pool.n);
    assert_int_equal(c->pool.servers[0].weight, 3);
    assert_int_equal(c->pool.balance, ZG_PROXY_HASH);
    assert_non_null(strstr(c->pool.servers[0].name, "localhost:9 ("));
    plug_stop();
}

static void test_retry_then_forward(void **state)
{
    void *cd = NULL;
    zg_conn_t *c, *u;

    (void)state;
    plug_start(TWO_UPSTREAMS ", \"connect_timeout_ms\": 700}");
    c = client(&cd);
    /* Nothing is read until an upstream is there. */
    assert_int_equal(c->paused, 1);
    assert_int_equal(c->half_open, 1);
    u = upstream();
    assert_non_null(u);
    assert_string_equal(peer_of(u), "127.0.0.1:1001");
    assert_int_equal(u->timeout_ms, 700);
    /* Refused: logged, and the next server is tried. */
    u->ops->on_connect(u, u->data, -ECONNREFUSED);
    assert_non_null(strstr(logbuf, "upstream 127.0.0.1:1001: connect failed "
                                   "(111: Connection refused)"));
    assert_non_null(strstr(logbuf, "marked down"));
    up_closed(u, ZG_CLOSE_ERROR);
    u = upstream();
    assert_non_null(u);
    assert_string_equal(peer_of(u), "127.0.0.1:1002");
    assert_int_equal(c->paused, 1);
    assert_int_equal(c->closed, 0);
    u->ops->on_connect(u, u->data, 0);
    assert_int_equal(c->paused, 0);
    assert_int_equal(u->half_open, 1);
    assert_int_equal(u->outlen, 0); /* no PROXY header unless asked */
    assert_int_equal(c->timer, 150000);

    /* Both ways, everything consumed, nothing copied twice. */
    assert_int_equal(feed(c, cd, "hello upstream", 0), 14);
    assert_int_equal(u->outlen, 14);
    assert_memory_equal(u->out, "hello upstream", 14);
    assert_int_equal(feed(u, NULL, "hello client", 0), 12);
    assert_memory_equal(c->out, "hello client", 12);

    /* The client's FIN goes on as a half-close; the upstream still talks. */
    assert_int_equal(feed(c, cd, "bye", ZG_IN_EOF), 3);
    assert_int_equal(u->closed, 1);
    assert_int_equal(u->how, ZG_CLOSE_WRITE);
    assert_int_equal(c->closed, 0);
    assert_int_equal(feed(u, NULL, "answer", 0), 6);
    assert_int_equal(c->outlen, 18);
    /* The upstream's FIN: both sides seen, both closed once flushed. */
    assert_int_equal(feed(u, NULL, "", ZG_IN_EOF), 0);
    assert_int_equal(c->closed, 1);
    assert_int_equal(c->how, ZG_CLOSE_FLUSH);
    assert_int_equal(u->how, ZG_CLOSE_FLUSH);
    assert_int_equal(sessions_free(), 0);
    cl_closed(c, cd, ZG_CLOSE_LOCAL);
    assert_int_equal(sessions_free(), 0);
    up_closed(u, ZG_CLOSE_LOCAL);
    assert_int_equal(sessions_free(), 1); /* back in the reactor's list */
    plug_stop();
}

static void test_upstream_half_close(void **state)
{
    void *cd = NULL;
    zg_conn_t *c, *u;

    (void)state;
    plug_start(TWO_UPSTREAMS "}");
    c = client(&cd);
    u = upstream();
    u->ops->on_connect(u, u->data, 0);
    /* The upstream says its piece and shuts its write side. */
    assert_int_equal(feed(u, NULL, "banner", ZG_IN_EOF), 6);
    assert_int_equal(c->closed, 1);
    assert_int_equal(c->how, ZG_CLOSE_WRITE);
    assert_int_equal(u->closed, 0);
    /* The client may still send. */
    assert_int_equal(feed(c, cd, "more", 0), 4);
    assert_memory_equal(u->out, "more", 4);
    assert_int_equal(feed(c, cd, "", ZG_IN_EOF), 0);
    assert_int_equal(c->how, ZG_CLOSE_FLUSH);
    assert_int_equal(u->how, ZG_CLOSE_FLUSH);
    /* Closed in the other order this time. */
    up_closed(u, ZG_CLOSE_LOCAL);
    cl_closed(c, cd, ZG_CLOSE_LOCAL);
    assert_int_equal(sessions_free(), 1);
    plug_stop();
}

static void test_all_fail(void **state)
{
    void *cd = NULL;
    zg_conn_t *c, *u;

    (void)state;
    plug_start(TWO_UPSTREAMS "}");
    c = client(&cd);
    for (int i = 0; i < 2; i++) {
        u = upstream();
        assert_non_null(u);
        u->ops->on_connect(u, u->data, -ETIMEDOUT);
        up_closed(u, ZG_CLOSE_TIMEOUT);
    }
    assert_null(upstream());
    assert_int_equal(c->closed, 1);
    assert_int_equal(c->how, ZG_CLOSE_FLUSH);
    assert_non_null(strstr(logbuf, "no upstream reached after 2 attempt(s) "
                                   "(last: 110: Connection timed out)"));
    cl_closed(c, cd, ZG_CLOSE_LOCAL);
    assert_int_equal(sessions_free(), 1);
    /* Both are down now: a new client still gets both tried, in turn. */
    c = client(&cd);
    u = upstream();
    assert_non_null(u);
    u->ops->on_connect(u, u->data, 0);
    assert_int_equal(c->paused, 0);
    cl_closed(c, cd, ZG_CLOSE_ERROR);
    assert_int_equal(u->closed, 1);
    assert_int_equal(u->how, ZG_CLOSE_FLUSH);
    up_closed(u, ZG_CLOSE_LOCAL);
    plug_stop();
}

static void test_sync_connect_failure(void **state)
{
    void *cd = NULL;
    zg_conn_t *c;

    (void)state;
    /* Not the upstream's fault: no retry elsewhere, nothing marked. */
    plug_start(TWO_UPSTREAMS "}");
    connect_fail = EMFILE;
    c = client(&cd);
    assert_int_equal(c->closed, 1);
    assert_non_null(strstr(logbuf, "cannot connect (24:"));
    assert_null(strstr(logbuf, "marked down"));
    cl_closed(c, cd, ZG_CLOSE_LOCAL);
    assert_int_equal(sessions_free(), 1);
    /* The upstream's: the next one. */
    connect_fail = ENETUNREACH;
    c = client(&cd);
    assert_int_equal(c->closed, 1);
    assert_non_null(strstr(logbuf, "after 2 attempt(s)"));
    cl_closed(c, cd, ZG_CLOSE_LOCAL);
    plug_stop();
}

static void test_client_leaves_while_connecting(void **state)
{
    void *cd = NULL;
    zg_conn_t *c, *u;

    (void)state;
    plug_start(TWO_UPSTREAMS "}");
    c = client(&cd);
    u = upstream();
    cl_closed(c, cd, ZG_CLOSE_ERROR);
    assert_int_equal(u->closed, 1);
    assert_int_equal(u->how, ZG_CLOSE_ABORT);
    assert_int_equal(sessions_free(), 0);
    up_closed(u, ZG_CLOSE_LOCAL);
    assert_null(upstream()); /* no second attempt for nobody */
    assert_int_equal(sessions_free(), 1);
    assert_int_equal(
        atomic_load(&((zg_proxy_conf_t *)P.pd)->pool.servers[0].active), 0);
    plug_stop();
}

static void test_back_pressure(void **state)
{
    void *cd = NULL;
    zg_conn_t *c, *u;

    (void)state;
    plug_start(TWO_UPSTREAMS "}");
    c = client(&cd);
    u = upstream();
    u->ops->on_connect(u, u->data, 0);
    /* The client is slow: past the mark, the upstream is not read. */
    c->pending = ZG_PROXY_HIGH;
    assert_int_equal(feed(u, NULL, "x", 0), 1);
    assert_int_equal(u->paused, 1);
    assert_int_equal(c->want_wr, 1);
    P.p->on_writable(c, cd);
    assert_int_equal(u->paused, 0);
    /* The upstream is slow: the client is not read. */
    u->pending = ZG_PROXY_HIGH + 1;
    assert_int_equal(feed(c, cd, "y", 0), 1);
    assert_int_equal(c->paused, 1);
    assert_int_equal(u->want_wr, 1);
    u->ops->on_writable(u, u->data);
    assert_int_equal(c->paused, 0);
    cl_closed(c, cd, ZG_CLOSE_ERROR);
    up_closed(u, ZG_CLOSE_LOCAL);
    plug_stop();
}

static void test_idle(void **state)
{
    void *cd = NULL;
    zg_conn_t *c, *u;

    (void)state;
    plug_start(TWO_UPSTREAMS ", \"idle_timeout_ms\": 1000}");
    c = client(&cd);
    u = upstream();
    u->ops->on_connect(u, u->data, 0);
    assert_int_equal(c->timer, 250);
    /* Bytes moving (or output draining) keep it open. */
    for (int i = 0; i < 10; i++) {
        c->timer = 0;
        assert_int_equal(feed(c, cd, "z", 0), 1);
        P.p->on_timeout(c, cd);
        assert_int_equal(c->timer, 250);
    }
    for (int i = 0; i < 10; i++) {
        u->pending = (size_t)i;
        P.p->on_timeout(c, cd);
    }
    assert_int_equal(c->closed, 0);
    /* Four quiet checks: a whole timeout without a byte. */
    for (int i = 0; i < 3; i++)
        P.p->on_timeout(c, cd);
    assert_int_equal(c->closed, 0);
    P.p->on_timeout(c, cd);
    assert_int_equal(c->closed, 1);
    assert_int_equal(u->closed, 1);
    assert_non_null(strstr(logbuf, "nothing moved for 1000 ms"));
    cl_closed(c, cd, ZG_CLOSE_LOCAL);
    up_closed(u, ZG_CLOSE_LOCAL);
    plug_stop();
}

static void test_proxy_protocol_header(void **state)
{
    static const unsigned char want[] = {
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
        0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 192,  0,    2,    5,
        127,  0,    0,    1,    0x0f, 0xa0, 0x1b, 0x58};
    void *cd = NULL;
    zg_conn_t *c, *u;

    (void)state;
    plug_start(TWO_UPSTREAMS ", \"send_proxy_protocol\": true}");
    c = client(&cd);
    u = upstream();
    u->ops->on_connect(u, u->data, 0);
    assert_int_equal(u->outlen, sizeof(want));
    assert_memory_equal(u->out, want, sizeof(want));
    assert_int_equal(feed(c, cd, "data", 0), 4);
    assert_memory_equal(u->out + sizeof(want), "data", 4);
    cl_closed(c, cd, ZG_CLOSE_ERROR);
    up_closed(u, ZG_CLOSE_LOCAL);
    plug_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_conf_build),
        cmocka_unit_test(test_retry_then_forward),
        cmocka_unit_test(test_upstream_half_close),
        cmocka_unit_test(test_all_fail),
        cmocka_unit_test(test_sync_connect_failure),
        cmocka_unit_test(test_client_leaves_while_connecting),
        cmocka_unit_test(test_back_pressure),
        cmocka_unit_test(test_idle),
        cmocka_unit_test(test_proxy_protocol_header),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
