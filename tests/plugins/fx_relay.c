/* SPDX-License-Identifier: MIT */
/*
 * Description: integration-test fixture for the ABI 1.3 calls of the core
 * (tests/integration/test_outbound.py): api->connect, half_open,
 * view_retain/view_release and a post to the connection's own reactor.
 *
 * Every accepted connection opens an outbound connection to
 * 127.0.0.1:"port" (config, raw JSON {"port": N, "timeout_ms": T}) and
 * relays bytes both ways: client input is retained, forwarded with
 * send_view and released at once (so the retained path is the one used);
 * upstream input is forwarded with send_view directly. Both sides are
 * half-open: a FIN is passed on with close(other, ZG_CLOSE_WRITE), and
 * once both FINs passed, both sides close with ZG_CLOSE_FLUSH.
 *
 * Reports to the client, as text lines before any relayed byte:
 *   "UP\n"             on_connect succeeded (sent through a self-post)
 *   "DOWN <errno> <reason>\n" and a close: the connect failed (errno as
 *                      a positive number, reason the upstream's on_close
 *                      reason)
 * Client input is held (paused) until the upstream is up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <zerg/plugin.h>

typedef struct fx_conf_s {
    int port;
    unsigned timeout_ms;
} fx_conf_t;

typedef struct fx_pair_s {
    zg_conn_t *client;
    zg_conn_t *up;
    int up_ok;
    int status;  /* on_connect's */
    int eof_in;  /* client FIN passed on */
    int eof_out; /* upstream FIN passed on */
    int closed;  /* halves whose on_close ran */
} fx_pair_t;

static const zg_api_t *api;

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void);

static void fx_unref(fx_pair_t *p)
{
    if (++p->closed == 2)
        free(p);
}

static void fx_both_done(fx_pair_t *p)
{
    if (p->eof_in && p->eof_out) {
        api->close(p->client, ZG_CLOSE_FLUSH);
        api->close(p->up, ZG_CLOSE_FLUSH);
    }
}

/* Forward every view of in to dst; retain first when asked to. */
static long fx_forward(zg_conn_t *dst, const zg_input_t *in, int retain)
{
    for (unsigned i = 0; i < in->nviews; i++) {
        zg_view_t kept;

        if (in->views[i].len == 0)
            continue;
        if (!retain) {
            api->send_view(dst, &in->views[i]);
            continue;
        }
        if (api->view_retain(&in->views[i], &kept) != 0)
            return -1;
        api->send_view(dst, &kept);
        api->view_release(&kept);
    }
    return (long)in->total;
}

static void fx_up_posted(zg_conn_t *c, void *conn_data, void *arg)
{
    fx_pair_t *p = arg;

    (void)conn_data;
    if (c == NULL)
        return; /* the client left: its on_close handled the pair */
    api->send(c, "UP\n", 3);
    api->pause_read(p->client, 0);
}

static void fx_up_connect(zg_conn_t *c, void *conn_data, int status)
{
    fx_pair_t *p = conn_data;

    (void)c;
    p->status = status;
    if (status == 0) {
        p->up_ok = 1;
        if (p->client != NULL)
            api->post(api->conn_id(p->client), fx_up_posted, p);
    }
}

static long fx_up_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    fx_pair_t *p = conn_data;
    long n;

    (void)c;
    if (p->client == NULL)
        return (long)in->total;
    n = fx_forward(p->client, in, 0);
    if ((in->flags & ZG_IN_EOF) && !p->eof_out) {
        p->eof_out = 1;
        api->close(p->client, ZG_CLOSE_WRITE);
        fx_both_done(p);
    }
    return n;
}

static void fx_up_close(zg_conn_t *c, void *conn_data, zg_close_reason_t why)
{
    fx_pair_t *p = conn_data;

    (void)c;
    p->up = NULL;
    if (p->client != NULL) {
        if (!p->up_ok) {
            char line[64];
            int n = snprintf(line, sizeof(line), "DOWN %d %d\n", -p->status,
                             (int)why);

            api->send(p->client, line, (size_t)n);
        }
        /* After both FINs, fx_both_done's close is the only one: a test
         * that it ends a pending ZG_CLOSE_WRITE. */
        if (!(p->eof_in && p->eof_out))
            api->close(p->client, ZG_CLOSE_FLUSH);
    }
    fx_unref(p);
}

static const zg_outbound_t fx_up_ops = {
    .struct_size = sizeof(zg_outbound_t),
    .on_connect = fx_up_connect,
    .on_data = fx_up_data,
    .on_close = fx_up_close,
};

static int fx_init(const zg_api_t *a, const char *conf, size_t len,
                   void **plugin_data, char *errbuf, size_t errlen)
{
    fx_conf_t *fc = calloc(1, sizeof(*fc));
    const char *p;

    (void)len;
    api = a;
    if (fc == NULL)
        return -1;
    p = strstr(conf, "\"port\"");
    if (p == NULL || sscanf(strchr(p, ':') + 1, "%d", &fc->port) != 1) {
        snprintf(errbuf, errlen, "fx_relay needs {\"port\": N}");
        free(fc);
        return -1;
    }
    p = strstr(conf, "\"timeout_ms\"");
    if (p != NULL)
        sscanf(strchr(p, ':') + 1, "%u", &fc->timeout_ms);
    *plugin_data = fc;
    return 0;
}

static void fx_fini(void *plugin_data)
{
    free(plugin_data);
}

static int fx_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    const fx_conf_t *fc = reactor_data;
    fx_pair_t *p = calloc(1, sizeof(*p));
    struct sockaddr_in sin;
    zg_connect_t o;
    int err = 0;

    if (p == NULL)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)fc->port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.timeout_ms = fc->timeout_ms;
    o.addr = (const struct sockaddr *)&sin;
    o.addr_len = sizeof(sin);
    o.ops = &fx_up_ops;
    o.conn_data = p;
    o.from = c;
    p->client = c;
    p->up = api->connect(&o, &err);
    if (p->up == NULL) {
        api->log(ZG_LOG_ERROR, "connect: %d", err);
        free(p);
        return -1;
    }
    api->half_open(c, 1);
    api->half_open(p->up, 1);
    api->pause_read(c, 1);
    *conn_data = p;
    return 0;
}

static long fx_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    fx_pair_t *p = conn_data;
    long n;

    (void)c;
    if (p->up == NULL)
        return (long)in->total;
    n = fx_forward(p->up, in, 1);
    if ((in->flags & ZG_IN_EOF) && !p->eof_in) {
        p->eof_in = 1;
        api->close(p->up, ZG_CLOSE_WRITE);
        fx_both_done(p);
    }
    return n;
}

static void fx_close(zg_conn_t *c, void *conn_data, zg_close_reason_t why)
{
    fx_pair_t *p = conn_data;

    (void)c;
    (void)why;
    p->client = NULL;
    if (p->up != NULL && !(p->eof_in && p->eof_out))
        api->close(p->up, ZG_CLOSE_FLUSH);
    fx_unref(p);
}

/* reactor_data is the listener's config: the fixture keeps no
 * per-reactor state. */
static int fx_reactor_init(void *plugin_data, int reactor_id,
                           void **reactor_data)
{
    (void)reactor_id;
    *reactor_data = plugin_data;
    return 0;
}

static const zg_plugin_t fx_desc = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 3,
    .struct_size = sizeof(zg_plugin_t),
    .name = "fx_relay",
    .version = "1.0",
    .init = fx_init,
    .fini = fx_fini,
    .reactor_init = fx_reactor_init,
    .on_accept = fx_accept,
    .on_data = fx_data,
    .on_close = fx_close,
};

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &fx_desc;
}
