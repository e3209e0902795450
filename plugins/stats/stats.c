/* SPDX-License-Identifier: MIT */
/*
 * Description: the stats plugin: serves the server's metrics on a
 * listener of its own, GET /metrics in the Prometheus text exposition
 * format and GET /status as a short page like nginx's stub_status. The
 * numbers come from the host (api->metrics), summed over every reactor
 * without stopping any. HTTP/1.0 and 1.1, keep-alive and pipelining; no
 * request bodies; put it on a loopback or otherwise protected address
 * (or behind the access module): metrics are not for everyone.
 *
 *   {"name": "metrics", "listen": "127.0.0.1:9145", "plugin": "stats"}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zerg/plugin.h>

#include "req.h"

static const zg_api_t *api;

typedef struct zg_stats_conf_s {
    int unused;
} zg_stats_conf_t;

static const zg_key_t stats_keys[] = {
    {.name = NULL},
};

static int stats_init_conf(const zg_api_t *host, const void *conf,
                           void **plugin_data, char *errbuf, size_t errlen)
{
    (void)conf;
    if (!ZG_API_HAS(host, metrics)) {
        snprintf(errbuf, errlen, "the host has no metrics (ABI 1.3 needed)");
        return -1;
    }
    /* Set once: a reload runs init again while reactors read it. */
    if (api != host)
        api = host;
    *plugin_data = NULL;
    return 0;
}

static int stats_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    (void)c;
    (void)reactor_data;
    *conn_data = NULL;
    return 0;
}

/* Send a response; body may be NULL for HEAD (its length still given). */
static int stats_respond(zg_conn_t *c, int status, const char *reason,
                         const char *ctype, const char *body, size_t blen,
                         int head_only, int keepalive)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n",
                     status, reason, ctype, blen,
                     status == 405 ? "Allow: GET, HEAD\r\n" : "",
                     keepalive ? "" : "Connection: close\r\n");

    if (api->send(c, hdr, (size_t)n) < 0)
        return -1;
    if (!head_only && blen > 0 && api->send(c, body, blen) < 0)
        return -1;
    return 0;
}

/* The metrics text in a malloc'd buffer (free it), or NULL. A scrape is
 * rare enough that a buffer per request is fine. */
static char *stats_text(int format, size_t *len)
{
    size_t cap = 16384, n;
    char *buf = NULL;

    for (int tries = 0; tries < 4; tries++) {
        char *nb = realloc(buf, cap);

        if (nb == NULL)
            break;
        buf = nb;
        n = api->metrics(format, buf, cap);
        if (n < cap) {
            *len = n;
            return buf;
        }
        cap = n + 4096; /* it may grow a little between the two calls */
    }
    free(buf);
    return NULL;
}

static long stats_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    size_t done = 0;

    (void)conn_data;
    while (done < in->total) {
        char head[ZG_STATS_HEAD_MAX];
        long end = zg_input_find(in, done, "\r\n\r\n", 4);
        zg_stats_req_t r;
        size_t hlen, blen = 0;
        char *body;
        int st;

        if (end < 0) {
            if (in->total - done > ZG_STATS_HEAD_MAX) {
                stats_respond(c, 431, "Request Header Fields Too Large",
                              "text/plain", "too large\n", 10, 0, 0);
                api->close(c, ZG_CLOSE_LINGER);
                return (long)in->total;
            }
            break; /* need more */
        }
        hlen = (size_t)end + 4 - done;
        if (hlen > ZG_STATS_HEAD_MAX) {
            stats_respond(c, 431, "Request Header Fields Too Large",
                          "text/plain", "too large\n", 10, 0, 0);
            api->close(c, ZG_CLOSE_LINGER);
            return (long)in->total;
        }
        zg_input_copy(in, done, head, hlen);
        done += hlen;
        st = zg_stats_parse(head, hlen, &r);
        if (st != 0) {
            stats_respond(
                c, st, st == 505 ? "HTTP Version Not Supported" : "Bad Request",
                "text/plain", "bad request\n", 12, 0, 0);
            api->close(c, ZG_CLOSE_LINGER);
            return (long)in->total;
        }
        if (r.method == ZG_SR_OTHER) {
            st = stats_respond(c, 405, "Method Not Allowed", "text/plain",
                               "GET or HEAD\n", 12, 0, r.keepalive);
        } else if (r.target == ZG_SR_NOTFOUND) {
            st = stats_respond(c, 404, "Not Found", "text/plain",
                               "try /metrics or /status\n", 24,
                               r.method == ZG_SR_HEAD, r.keepalive);
        } else {
            int fmt = r.target == ZG_SR_METRICS ? 0 : 1;

            body = stats_text(fmt, &blen);
            if (body == NULL)
                return -1;
            st = stats_respond(c, 200, "OK",
                               fmt == 0 ? "text/plain; version=0.0.4; "
                                          "charset=utf-8"
                                        : "text/plain",
                               body, blen, r.method == ZG_SR_HEAD, r.keepalive);
            free(body);
            api->count_requests(c, 1);
        }
        if (st < 0)
            return -1;
        if (!r.keepalive) {
            api->close(c, ZG_CLOSE_FLUSH);
            return (long)in->total;
        }
    }
    return (long)done;
}

static void stats_close(zg_conn_t *c, void *conn_data, zg_close_reason_t why)
{
    (void)c;
    (void)conn_data;
    (void)why;
}

static const char stats_busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                 "Content-Length: 0\r\n"
                                 "Connection: close\r\n\r\n";

static const zg_plugin_t stats_plugin = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 3,
    .struct_size = sizeof(zg_plugin_t),
    .name = "stats",
    .version = "1.0.0",
    .on_accept = stats_accept,
    .on_data = stats_data,
    .on_close = stats_close,
    .over_limit_response = stats_busy,
    .over_limit_response_len = sizeof(stats_busy) - 1,
    .conf_keys = stats_keys,
    .conf_size = sizeof(zg_stats_conf_t),
    .init_conf = stats_init_conf,
};

ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &stats_plugin;
}
