/* SPDX-License-Identifier: MIT */
/*
 * Description: the strict JSON configuration loader. jansson parses the
 * text; the code here checks every key against the model in config.h and,
 * since jansson gives positions only for syntax errors, maps each error's key
 * path back to a line:column with a small scanner over the raw text.
 */
#include <arpa/inet.h>
#include <sched.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "conf_ctx.h"
#include "config.h"
#include "zerg/plugin.h"

/* Kept byte for byte identical to conf/zerg.json (a unit test checks). */
const char zg_config_default[] = "{\n"
                                 "    \"reactors\": 1,\n"
                                 "    \"log\": {\n"
                                 "        \"level\": \"info\"\n"
                                 "    },\n"
                                 "    \"listeners\": [\n"
                                 "        {\n"
                                 "            \"name\": \"echo\",\n"
                                 "            \"listen\": \"127.0.0.1:7000\",\n"
                                 "            \"plugin\": \"echo\"\n"
                                 "        },\n"
                                 "        {\n"
                                 "            \"name\": \"http\",\n"
                                 "            \"listen\": \"127.0.0.1:8080\",\n"
                                 "            \"plugin\": \"http\"\n"
                                 "        }\n"
                                 "    ]\n"
                                 "}\n";

#define ZG_CONF_MAX_FILE (16u << 20)

static const char *const zg_top_keys[] = {"reactors",
                                          "accept",
                                          "acceptor",
                                          "reactor",
                                          "reactor_overrides",
                                          "log",
                                          "shutdown_timeout_ms",
                                          "pid",
                                          "user",
                                          "group",
                                          "master",
                                          "listeners",
                                          NULL};
static const char *const zg_acceptor_keys[] = {
    "ring_entries", "batch", "cq_timeout_us", "sqpoll", "sq_cpu",
    "sq_idle_ms",   NULL};
static const char *const zg_reactor_keys[] = {"ring_entries",
                                              "recv_buffer_size",
                                              "buffer_ring_entries",
                                              "batch_cqes",
                                              "max_connections",
                                              "cq_timeout_us",
                                              "sqpoll",
                                              "sq_cpu",
                                              "sq_idle_ms",
                                              "cpu_affinity",
                                              "incremental_buffers",
                                              "recv_bundle",
                                              "buffer_window",
                                              "send_zc",
                                              "send_zc_min",
                                              NULL};
static const char *const zg_override_keys[] = {"id", NULL};
static const char *const zg_log_keys[] = {"level", "error_log", NULL};
static const char *const zg_listener_keys[] = {"name",
                                               "listen",
                                               "ip_version",
                                               "backlog",
                                               "plugin",
                                               "config",
                                               "idle_timeout_ms",
                                               "linger_ms",
                                               "max_connections",
                                               "max_held_bytes",
                                               "tcp_nodelay",
                                               "write_high_watermark",
                                               "write_low_watermark",
                                               "modules",
                                               NULL};
static const char *const zg_module_keys[] = {"module", "config", NULL};

static const char *const zg_accept_names[] = {"auto", "acceptor", "reuseport",
                                              NULL};
static const int zg_accept_values[] = {ZG_ACCEPT_AUTO, ZG_ACCEPT_ACCEPTOR,
                                       ZG_ACCEPT_REUSEPORT};
static const char *const zg_ipv_names[] = {"dual", "v4", "v6", NULL};
static const int zg_ipv_values[] = {ZG_IP_DUAL, ZG_IP_V4, ZG_IP_V6};
static const char *const zg_level_names[] = {
    "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg", NULL};
static const int zg_level_values[] = {ZG_LOG_DEBUG, ZG_LOG_INFO,  ZG_LOG_NOTICE,
                                      ZG_LOG_WARN,  ZG_LOG_ERROR, ZG_LOG_CRIT,
                                      ZG_LOG_ALERT, ZG_LOG_EMERG};

/* ---- sections --------------------------------------------------------- */

static void conf_reactor_defaults(zg_reactor_conf_t *r)
{
    memset(r, 0, sizeof(*r));
    r->ring_entries = 1024;
    r->recv_buffer_size = 16384;
    r->buffer_ring_entries = 1024;
    r->batch_cqes = 1024;
    r->max_connections = 8192;
    r->cq_timeout_us = 100000;
    r->sqpoll = 0;
    r->sq_cpu = -1;
    r->sq_idle_ms = 100;
    r->cpu_affinity = -2;
    r->incremental_buffers = ZG_TRI_AUTO;
    r->recv_bundle = ZG_TRI_AUTO;
    r->buffer_window = 1;
    r->send_zc = 0;
    r->send_zc_min = 65536;
}

static void conf_listener_defaults(zg_listener_conf_t *l)
{
    memset(l, 0, sizeof(*l));
    l->ip_version = ZG_IP_DUAL;
    l->backlog = 511;
    l->idle_timeout_ms = 60000;
    l->linger_ms = 2000;
    l->max_connections = 100000;
    l->max_held_bytes = 1048576;
    l->tcp_nodelay = 1;
    l->write_high_watermark = 1048576;
    l->write_low_watermark = 262144;
}

static int conf_acceptor(zg_conf_ctx_t *c, json_t *root, zg_acceptor_conf_t *a)
{
    json_t *o;
    int rc = zg_conf_object(c, root, "acceptor", &o);

    if (rc != 0 || !o)
        return rc;
    zg_conf_push(c, "acceptor", 0);
    if ((rc = zg_conf_keys(c, o, zg_acceptor_keys, NULL)) ||
        (rc = zg_conf_u32(c, o, "ring_entries", 2, 32768, 0,
                          &a->ring_entries)) ||
        (rc = zg_conf_u32(c, o, "batch", 1, 65536, 0, &a->batch)) ||
        (rc = zg_conf_u32(c, o, "cq_timeout_us", 0, 10000000, 0,
                          &a->cq_timeout_us)) ||
        (rc = zg_conf_bool(c, o, "sqpoll", &a->sqpoll)) ||
        (rc = zg_conf_sint(c, o, "sq_cpu", -1, 1023, &a->sq_cpu)) ||
        (rc = zg_conf_u32(c, o, "sq_idle_ms", 0, 60000, 0, &a->sq_idle_ms)))
        return rc;
    zg_conf_pop(c);
    return 0;
}

static int conf_cpu_affinity(zg_conf_ctx_t *c, json_t *obj, int *out)
{
    json_t *v = json_object_get(obj, "cpu_affinity");

    if (!v)
        return 0;
    zg_conf_push(c, "cpu_affinity", 0);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);

        if (strcmp(s, "auto") == 0)
            *out = -1;
        else if (strcmp(s, "off") == 0)
            *out = -2;
        else
            return zg_conf_err(c, ZG_AT_VALUE,
                               "\"%s\" is not one of \"auto\", \"off\" or a "
                               "CPU number",
                               s);
    } else if (json_is_integer(v)) {
        long long n = (long long)json_integer_value(v);

        if (n < 0 || n > 1023)
            return zg_conf_err(c, ZG_AT_VALUE, "%lld is out of range 0..1023",
                               n);
        *out = (int)n;
    } else {
        return zg_conf_err(c, ZG_AT_VALUE,
                           "expected \"auto\", \"off\" or a CPU number, got %s",
                           zg_conf_type(v));
    }
    zg_conf_pop(c);
    return 0;
}

static int conf_tristate(zg_conf_ctx_t *c, json_t *obj, const char *key,
                         zg_tristate_t *out)
{
    json_t *v = json_object_get(obj, key);

    if (!v)
        return 0;
    zg_conf_push(c, key, 0);
    if (json_is_true(v)) {
        *out = ZG_TRI_ON;
    } else if (json_is_false(v)) {
        *out = ZG_TRI_OFF;
    } else if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "auto") != 0)
            return zg_conf_err(c, ZG_AT_VALUE,
                               "\"%s\" is not one of \"auto\", true, false",
                               json_string_value(v));
        *out = ZG_TRI_AUTO;
    } else {
        return zg_conf_err(c, ZG_AT_VALUE,
                           "expected \"auto\", true or false, got %s",
                           zg_conf_type(v));
    }
    zg_conf_pop(c);
    return 0;
}

/* Apply the reactor keys present in o on top of r (the caller has pushed
 * o's key path and checked its keys). */
static int conf_reactor_keys(zg_conf_ctx_t *c, json_t *o, zg_reactor_conf_t *r)
{
    int rc;

    if ((rc = zg_conf_u32(c, o, "ring_entries", 2, 32768, 0,
                          &r->ring_entries)) ||
        (rc = zg_conf_u32(c, o, "recv_buffer_size", 64, 1048576, ZG_MULT64,
                          &r->recv_buffer_size)) ||
        (rc = zg_conf_u32(c, o, "buffer_ring_entries", 1, 32768, ZG_POW2,
                          &r->buffer_ring_entries)) ||
        (rc = zg_conf_u32(c, o, "batch_cqes", 1, 65536, 0, &r->batch_cqes)) ||
        (rc = zg_conf_u32(c, o, "max_connections", 1, 1048576, 0,
                          &r->max_connections)) ||
        (rc = zg_conf_u32(c, o, "cq_timeout_us", 0, 10000000, 0,
                          &r->cq_timeout_us)) ||
        (rc = zg_conf_bool(c, o, "sqpoll", &r->sqpoll)) ||
        (rc = zg_conf_sint(c, o, "sq_cpu", -1, 1023, &r->sq_cpu)) ||
        (rc = zg_conf_u32(c, o, "sq_idle_ms", 0, 60000, 0, &r->sq_idle_ms)) ||
        (rc = conf_cpu_affinity(c, o, &r->cpu_affinity)) ||
        (rc = conf_tristate(c, o, "incremental_buffers",
                            &r->incremental_buffers)) ||
        (rc = conf_tristate(c, o, "recv_bundle", &r->recv_bundle)) ||
        (rc = zg_conf_bool(c, o, "buffer_window", &r->buffer_window)) ||
        (rc = zg_conf_bool(c, o, "send_zc", &r->send_zc)) ||
        (rc = zg_conf_u32(c, o, "send_zc_min", 1024, 16777216, 0,
                          &r->send_zc_min)))
        return rc;
    /* Bundles fill whole buffers only (core/reactor.c says why). */
    if (r->recv_bundle == ZG_TRI_ON && r->incremental_buffers == ZG_TRI_ON) {
        int here = json_object_get(o, "recv_bundle") != NULL;

        zg_conf_push(c, here ? "recv_bundle" : "incremental_buffers", 0);
        return zg_conf_err(c, ZG_AT_VALUE,
                           "true, but %s is true too: recv bundles fill "
                           "whole buffers, never incrementally consumed "
                           "ones; set one of them to \"auto\" or false",
                           here ? "incremental_buffers" : "recv_bundle");
    }
    return 0;
}

static int conf_reactors(zg_conf_ctx_t *c, json_t *root, zg_config_t *cfg)
{
    zg_reactor_conf_t base;
    int seen[ZG_MAX_REACTORS];
    json_t *o, *arr;
    int rc;

    conf_reactor_defaults(&base);
    if ((rc = zg_conf_object(c, root, "reactor", &o)))
        return rc;
    if (o) {
        zg_conf_push(c, "reactor", 0);
        if ((rc = zg_conf_keys(c, o, zg_reactor_keys, NULL)) ||
            (rc = conf_reactor_keys(c, o, &base)))
            return rc;
        zg_conf_pop(c);
    }
    for (size_t i = 0; i < ZG_MAX_REACTORS; i++)
        cfg->reactor[i] = base;

    arr = json_object_get(root, "reactor_overrides");
    if (!arr)
        return 0;
    zg_conf_push(c, "reactor_overrides", 0);
    if (!json_is_array(arr))
        return zg_conf_err(c, ZG_AT_VALUE, "expected an array, got %s",
                           zg_conf_type(arr));
    for (size_t i = 0; i < ZG_MAX_REACTORS; i++)
        seen[i] = -1;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        long long id = 0;

        zg_conf_push(c, NULL, i);
        if (!json_is_object(e))
            return zg_conf_err(c, ZG_AT_VALUE, "expected an object, got %s",
                               zg_conf_type(e));
        if ((rc = zg_conf_keys(c, e, zg_reactor_keys, zg_override_keys)) ||
            (rc = zg_conf_require(c, e, "id")) ||
            (rc = zg_conf_int(c, e, "id", LLONG_MIN, LLONG_MAX, 0, &id)))
            return rc;
        zg_conf_push(c, "id", 0);
        if (id < 0 || id >= (long long)cfg->reactors)
            return zg_conf_err(c, ZG_AT_VALUE,
                               "%lld is out of range 0..%u (reactors is %u)",
                               id, cfg->reactors - 1, cfg->reactors);
        if (seen[id] >= 0)
            return zg_conf_err(c, ZG_AT_VALUE,
                               "reactor %lld is already overridden by "
                               "reactor_overrides[%d]",
                               id, seen[id]);
        zg_conf_pop(c);
        seen[id] = (int)i;
        if ((rc = conf_reactor_keys(c, e, &cfg->reactor[id])))
            return rc;
        zg_conf_pop(c);
    }
    zg_conf_pop(c);
    return 0;
}

static int conf_log(zg_conf_ctx_t *c, json_t *root, zg_log_conf_t *lg)
{
    const char *error_log = NULL;
    json_t *o;
    int rc = zg_conf_object(c, root, "log", &o);

    if (rc != 0 || !o)
        return rc;
    zg_conf_push(c, "log", 0);
    if ((rc = zg_conf_keys(c, o, zg_log_keys, NULL)) ||
        (rc = zg_conf_enum(c, o, "level", zg_level_names, zg_level_values,
                           &lg->level)) ||
        (rc = zg_conf_str(c, o, "error_log", &error_log)))
        return rc;
    if (error_log && (rc = zg_conf_dup(c, error_log, &lg->error_log)))
        return rc;
    zg_conf_pop(c);
    return 0;
}

/* ---- listen addresses ------------------------------------------------- */

/* Parse "host:port" into *ss. Returns 0; -EINVAL with *why set; or
 * -EAFNOSUPPORT if the address's family contradicts ipv. */
static int conf_parse_listen(const char *s, zg_ip_version_t ipv,
                             struct sockaddr_storage *ss, socklen_t *sslen,
                             const char **why)
{
    const char *hs, *he, *colon, *p;
    char host[INET6_ADDRSTRLEN + 1];
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    unsigned long port = 0;
    int bracket = s[0] == '[', v6;

    memset(ss, 0, sizeof(*ss));
    if (bracket) {
        hs = s + 1;
        he = strchr(hs, ']');
        if (!he) {
            *why = "missing ']'";
            return -EINVAL;
        }
        colon = he + 1;
        if (*colon != ':') {
            *why = "expected [IPv6]:port";
            return -EINVAL;
        }
    } else {
        hs = s;
        colon = strrchr(s, ':');
        if (!colon) {
            *why = "expected host:port";
            return -EINVAL;
        }
        he = colon;
        if (memchr(hs, ':', (size_t)(he - hs))) {
            *why = "an IPv6 address must be in brackets, as in [::1]:80";
            return -EINVAL;
        }
    }
    if (he == hs || (size_t)(he - hs) >= sizeof(host)) {
        *why = bracket ? "invalid IPv6 address"
                       : "host must be an IPv4 address, [IPv6], * or "
                         "localhost";
        return -EINVAL;
    }
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';

    p = colon + 1;
    if (*p == '\0' || strlen(p) > 5) {
        *why = "port must be a number 0..65535";
        return -EINVAL;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9') {
            *why = "port must be a number 0..65535";
            return -EINVAL;
        }
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port > 65535) {
        *why = "port must be a number 0..65535";
        return -EINVAL;
    }

    if (bracket) {
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
            *why = "invalid IPv6 address";
            return -EINVAL;
        }
        v6 = 1;
    } else if (strcmp(host, "*") == 0) {
        v6 = ipv != ZG_IP_V4;
        if (v6)
            in6->sin6_addr = in6addr_any;
        else
            in4->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (strcasecmp(host, "localhost") == 0) {
        v6 = ipv == ZG_IP_V6;
        if (v6)
            in6->sin6_addr = in6addr_loopback;
        else
            in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        v6 = 0;
    } else {
        *why = "host must be an IPv4 address, [IPv6], * or localhost";
        return -EINVAL;
    }
    if ((v6 && ipv == ZG_IP_V4) || (!v6 && ipv == ZG_IP_V6))
        return -EAFNOSUPPORT;
    if (v6) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof(*in6);
    } else {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *sslen = sizeof(*in4);
    }
    return 0;
}

static unsigned conf_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static int conf_is_any(const zg_listener_conf_t *l)
{
    if (l->addr.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&l->addr)->sin_addr.s_addr ==
               htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(
        &((const struct sockaddr_in6 *)&l->addr)->sin6_addr);
}

/* Would a and b fail to bind together? Same port (not ephemeral) and the
 * same address, or one a wildcard that covers the other. */
static int conf_addr_conflict(const zg_listener_conf_t *a,
                              const zg_listener_conf_t *b)
{
    const zg_listener_conf_t *v6;

    if (conf_port(&a->addr) != conf_port(&b->addr) || conf_port(&a->addr) == 0)
        return 0;
    if (a->addr.ss_family == b->addr.ss_family) {
        if (conf_is_any(a) || conf_is_any(b))
            return 1;
        if (a->addr.ss_family == AF_INET)
            return ((const struct sockaddr_in *)&a->addr)->sin_addr.s_addr ==
                   ((const struct sockaddr_in *)&b->addr)->sin_addr.s_addr;
        return IN6_ARE_ADDR_EQUAL(
            &((const struct sockaddr_in6 *)&a->addr)->sin6_addr,
            &((const struct sockaddr_in6 *)&b->addr)->sin6_addr);
    }
    /* A dual-stack [::] also takes every IPv4 address on its port. */
    v6 = a->addr.ss_family == AF_INET6 ? a : b;
    return conf_is_any(v6) && v6->ip_version == ZG_IP_DUAL;
}

static int conf_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 64)
        return 0;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return 0;
    }
    return 1;
}

/* ---- listeners -------------------------------------------------------- */

/* A listener's "modules": [{"module": "access", "config": {...}}, ...]. */
static int conf_modules(zg_conf_ctx_t *c, json_t *o, zg_listener_conf_t *l)
{
    json_t *arr = json_object_get(o, "modules");
    int rc = 0;

    if (!arr)
        return 0;
    zg_conf_push(c, "modules", 0);
    if (!json_is_array(arr))
        return zg_conf_err(c, ZG_AT_VALUE, "expected an array, got %s",
                           zg_conf_type(arr));
    if (json_array_size(arr) > ZG_MAX_MODULES)
        return zg_conf_err(c, ZG_AT_VALUE, "%zu modules (at most %d)",
                           json_array_size(arr), ZG_MAX_MODULES);
    for (size_t j = 0; j < json_array_size(arr); j++) {
        json_t *m = json_array_get(arr, j), *mc;
        zg_module_conf_t *mc_out = &l->modules[j];
        const char *spec = NULL;

        zg_conf_push(c, NULL, j);
        if (!json_is_object(m))
            return zg_conf_err(c, ZG_AT_VALUE, "expected an object, got %s",
                               zg_conf_type(m));
        if ((rc = zg_conf_keys(c, m, zg_module_keys, NULL)) ||
            (rc = zg_conf_require(c, m, "module")) ||
            (rc = zg_conf_str(c, m, "module", &spec)) ||
            (rc = zg_conf_object(c, m, "config", &mc)))
            return rc;
        l->nmodules = (uint32_t)j + 1;
        if ((rc = zg_conf_dup(c, spec, &mc_out->spec)))
            return rc;
        mc_out->json = mc;
        if (mc) {
            mc_out->config = json_dumps(mc, JSON_COMPACT);
            if (!mc_out->config)
                return zg_conf_nomem(c);
        } else if ((rc = zg_conf_dup(c, "{}", &mc_out->config))) {
            return rc;
        }
        zg_conf_pop(c);
    }
    zg_conf_pop(c);
    return 0;
}

static int conf_listener(zg_conf_ctx_t *c, json_t *o, zg_config_t *cfg,
                         size_t idx)
{
    zg_listener_conf_t *l = &cfg->listeners[idx];
    const char *name = NULL, *listen = NULL, *plugin = NULL, *why = NULL;
    int ipv = ZG_IP_DUAL, backlog = 511, rc;
    json_t *pc;
    size_t off;

    if (!json_is_object(o))
        return zg_conf_err(c, ZG_AT_VALUE, "expected an object, got %s",
                           zg_conf_type(o));
    off = zg_conf_find(c->text, c->len, c->path, c->depth, 0);
    if (off != ZG_NOPOS) {
        int col;

        zg_conf_linecol(c->text, off, &l->line, &col);
    }
    if ((rc = zg_conf_keys(c, o, zg_listener_keys, NULL)) ||
        (rc = zg_conf_require(c, o, "name")) ||
        (rc = zg_conf_require(c, o, "listen")) ||
        (rc = zg_conf_require(c, o, "plugin")))
        return rc;

    if ((rc = zg_conf_str(c, o, "name", &name)))
        return rc;
    zg_conf_push(c, "name", 0);
    if (!conf_name_ok(name))
        return zg_conf_err(c, ZG_AT_VALUE,
                           "\"%s\" is not a valid name (1 to 64 of A-Z a-z 0-9 "
                           "_ . -)",
                           name);
    for (size_t j = 0; j < idx; j++) {
        if (strcmp(cfg->listeners[j].name, name) == 0)
            return zg_conf_err(c, ZG_AT_VALUE,
                               "duplicate listener name \"%s\" (also "
                               "listeners[%zu])",
                               name, j);
    }
    zg_conf_pop(c);
    if ((rc = zg_conf_dup(c, name, &l->name)))
        return rc;

    if ((rc = zg_conf_enum(c, o, "ip_version", zg_ipv_names, zg_ipv_values,
                           &ipv)))
        return rc;
    l->ip_version = (zg_ip_version_t)ipv;

    if ((rc = zg_conf_str(c, o, "listen", &listen)))
        return rc;
    rc = conf_parse_listen(listen, l->ip_version, &l->addr, &l->addrlen, &why);
    if (rc == -EAFNOSUPPORT) {
        zg_conf_push(c, "ip_version", 0);
        return zg_conf_err(c, ZG_AT_VALUE,
                           "\"%s\" does not match listen address \"%s\"",
                           zg_ipv_names[ipv], listen);
    }
    zg_conf_push(c, "listen", 0);
    if (rc != 0)
        return zg_conf_err(c, ZG_AT_VALUE, "bad address \"%s\": %s", listen,
                           why);
    for (size_t j = 0; j < idx; j++) {
        const zg_listener_conf_t *p = &cfg->listeners[j];
        char a[64], b[64];

        if (!conf_addr_conflict(l, p))
            continue;
        zg_addr_format((const struct sockaddr *)&l->addr, a, sizeof(a));
        zg_addr_format((const struct sockaddr *)&p->addr, b, sizeof(b));
        return zg_conf_err(c, ZG_AT_VALUE,
                           "%s conflicts with listener \"%s\" (%s)", a, p->name,
                           b);
    }
    zg_conf_pop(c);
    if ((rc = zg_conf_dup(c, listen, &l->listen)))
        return rc;

    if ((rc = zg_conf_sint(c, o, "backlog", 1, 1048576, &backlog)))
        return rc;
    l->backlog = backlog;

    if ((rc = zg_conf_str(c, o, "plugin", &plugin)) ||
        (rc = zg_conf_dup(c, plugin, &l->plugin)))
        return rc;

    if ((rc = zg_conf_object(c, o, "config", &pc)))
        return rc;
    l->plugin_json = pc;
    if ((rc = conf_modules(c, o, l)))
        return rc;
    if (pc) {
        l->plugin_config = json_dumps(pc, JSON_COMPACT);
        if (!l->plugin_config)
            return zg_conf_nomem(c);
    } else if ((rc = zg_conf_dup(c, "{}", &l->plugin_config))) {
        return rc;
    }

    if ((rc = zg_conf_u32(c, o, "idle_timeout_ms", 0, 86400000, 0,
                          &l->idle_timeout_ms)) ||
        (rc = zg_conf_u32(c, o, "linger_ms", 0, 600000, 0, &l->linger_ms)) ||
        (rc = zg_conf_u32(c, o, "max_connections", 1, 10000000, 0,
                          &l->max_connections)) ||
        (rc = zg_conf_u32(c, o, "max_held_bytes", 1024, 1073741824, 0,
                          &l->max_held_bytes)) ||
        (rc = zg_conf_bool(c, o, "tcp_nodelay", &l->tcp_nodelay)) ||
        (rc = zg_conf_u32(c, o, "write_high_watermark", 1024, 1073741824, 0,
                          &l->write_high_watermark)) ||
        (rc = zg_conf_u32(c, o, "write_low_watermark", 0, 1073741823, 0,
                          &l->write_low_watermark)))
        return rc;
    if (l->write_low_watermark >= l->write_high_watermark) {
        zg_conf_push(c, "write_low_watermark", 0);
        rc = zg_conf_err(c,
                         json_object_get(o, "write_low_watermark") ? ZG_AT_VALUE
                                                                   : ZG_AT_NONE,
                         "%u must be below write_high_watermark (%u)",
                         l->write_low_watermark, l->write_high_watermark);
        zg_conf_pop(c);
        return rc;
    }
    return 0;
}

static int conf_listeners(zg_conf_ctx_t *c, json_t *root, zg_config_t *cfg)
{
    json_t *arr = json_object_get(root, "listeners");
    size_t n;
    int rc;

    zg_conf_push(c, "listeners", 0);
    if (!json_is_array(arr))
        return zg_conf_err(c, ZG_AT_VALUE, "expected an array, got %s",
                           zg_conf_type(arr));
    n = json_array_size(arr);
    if (n < 1 || n > ZG_MAX_LISTENERS)
        return zg_conf_err(c, ZG_AT_VALUE, "expected 1..%d listeners, got %zu",
                           ZG_MAX_LISTENERS, n);
    for (size_t i = 0; i < n; i++) {
        conf_listener_defaults(&cfg->listeners[i]);
        cfg->nlisteners = i + 1;
        zg_conf_push(c, NULL, i);
        if ((rc = conf_listener(c, json_array_get(arr, i), cfg, i)))
            return rc;
        zg_conf_pop(c);
    }
    zg_conf_pop(c);
    return 0;
}

/* "reactors": 1..ZG_MAX_REACTORS, or "auto": one per CPU this process may
 * run on (its affinity mask, as taskset or a cgroup's cpuset leave it). */
static int conf_reactor_count(zg_conf_ctx_t *c, json_t *root, uint32_t *out)
{
    json_t *v = json_object_get(root, "reactors");
    cpu_set_t set;
    int n;

    if (!json_is_string(v))
        return zg_conf_u32(c, root, "reactors", 1, ZG_MAX_REACTORS, 0, out);
    if (strcmp(json_string_value(v), "auto") != 0) {
        zg_conf_push(c, "reactors", 0);
        return zg_conf_err(c, ZG_AT_VALUE,
                           "expected an integer 1..%d or \"auto\", got \"%s\"",
                           ZG_MAX_REACTORS, json_string_value(v));
    }
    n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
    if (n < 1)
        n = 1;
    *out = (uint32_t)(n > ZG_MAX_REACTORS ? ZG_MAX_REACTORS : n);
    return 0;
}

static int conf_root(zg_conf_ctx_t *c, json_t *root, zg_config_t *cfg)
{
    int accept = ZG_ACCEPT_AUTO, rc;

    if (!json_is_object(root))
        return zg_conf_err(c, ZG_AT_VALUE,
                           "the configuration must be a JSON object, got %s",
                           zg_conf_type(root));
    if ((rc = zg_conf_keys(c, root, zg_top_keys, NULL)) ||
        (rc = zg_conf_require(c, root, "listeners")) ||
        (rc = conf_reactor_count(c, root, &cfg->reactors)) ||
        (rc = zg_conf_enum(c, root, "accept", zg_accept_names, zg_accept_values,
                           &accept)))
        return rc;
    cfg->accept = (zg_accept_mode_t)accept;
    if (cfg->accept == ZG_ACCEPT_AUTO)
        cfg->accept =
            cfg->reactors == 1 ? ZG_ACCEPT_REUSEPORT : ZG_ACCEPT_ACCEPTOR;
    if ((rc = conf_acceptor(c, root, &cfg->acceptor)) ||
        (rc = conf_reactors(c, root, cfg)) ||
        (rc = conf_log(c, root, &cfg->log)) ||
        (rc = zg_conf_u32(c, root, "shutdown_timeout_ms", 0, 3600000, 0,
                          &cfg->shutdown_timeout_ms)) ||
        (rc = conf_listeners(c, root, cfg)))
        return rc;
    {
        const char *pid = NULL;

        /* null (what -T shows when there is none) means none. */
        if (!json_is_null(json_object_get(root, "pid")) &&
            (rc = zg_conf_str(c, root, "pid", &pid)))
            return rc;
        if (pid && (rc = zg_conf_dup(c, pid, &cfg->pid)))
            return rc;
    }
    {
        const char *user = NULL, *group = NULL;

        /* null (what -T shows when unset) means: stay who we are. */
        if ((!json_is_null(json_object_get(root, "user")) &&
             (rc = zg_conf_str(c, root, "user", &user))) ||
            (!json_is_null(json_object_get(root, "group")) &&
             (rc = zg_conf_str(c, root, "group", &group))))
            return rc;
        if (group && !user) {
            zg_conf_push(c, "group", 0);
            return zg_conf_err(c, ZG_AT_VALUE,
                               "\"group\" needs \"user\" (whose privileges "
                               "to take)");
        }
        if ((user && (rc = zg_conf_dup(c, user, &cfg->user))) ||
            (group && (rc = zg_conf_dup(c, group, &cfg->group))))
            return rc;
    }
    if ((rc = zg_conf_bool(c, root, "master", &cfg->master)))
        return rc;
    /* The master holds one listening socket per listener for its worker;
     * a reuseport group has one per reactor. */
    if (cfg->master && cfg->accept == ZG_ACCEPT_REUSEPORT &&
        cfg->reactors > 1) {
        zg_conf_push(c, "master", 0);
        return zg_conf_err(c, ZG_AT_VALUE,
                           "\"master\": true needs \"accept\": \"acceptor\" "
                           "(or \"auto\") with %u reactors: the master holds "
                           "one listening socket per listener",
                           cfg->reactors);
    }
    return 0;
}

static int conf_defaults(zg_conf_ctx_t *c, zg_config_t *cfg, const char *path)
{
    int rc;

    cfg->reactors = 1;
    cfg->accept = ZG_ACCEPT_AUTO;
    cfg->acceptor.ring_entries = 256;
    cfg->acceptor.batch = 256;
    cfg->acceptor.cq_timeout_us = 100000;
    cfg->acceptor.sqpoll = 0;
    cfg->acceptor.sq_cpu = -1;
    cfg->acceptor.sq_idle_ms = 100;
    for (size_t i = 0; i < ZG_MAX_REACTORS; i++)
        conf_reactor_defaults(&cfg->reactor[i]);
    cfg->log.level = ZG_LOG_INFO;
    cfg->shutdown_timeout_ms = 10000;
    if ((rc = zg_conf_dup(c, path, &cfg->path)) ||
        (rc = zg_conf_dup(c, "stderr", &cfg->log.error_log)))
        return rc;
    return 0;
}

/* ---- public ------------------------------------------------------------ */

int zg_config_parse(const char *text, size_t len, const char *path,
                    zg_config_t **out, char *err, size_t errlen)
{
    zg_conf_ctx_t c;
    zg_config_t *cfg = NULL;
    json_error_t je;
    json_t *root;
    int rc;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    memset(&c, 0, sizeof(c));
    c.text = text;
    c.len = len;
    c.file = path ? path : "<embedded>";
    c.err = err;
    c.errlen = errlen;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return zg_conf_syntax(&c, &je);
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        rc = zg_conf_nomem(&c);
        goto fail;
    }
    if ((rc = conf_defaults(&c, cfg, c.file)) ||
        (rc = conf_root(&c, root, cfg)))
        goto fail;
    /* Plugin and module configs are checked against their key tables
     * once they are loaded: keep the tree and the text for positions. */
    cfg->text = malloc(len + 1);
    if (!cfg->text) {
        rc = zg_conf_nomem(&c);
        goto fail;
    }
    memcpy(cfg->text, text, len);
    cfg->text[len] = '\0';
    cfg->textlen = len;
    cfg->root = root;
    *out = cfg;
    return 0;
fail:
    json_decref(root);
    zg_config_free(cfg);
    return rc;
}

/* Make *rel (a path relative to the directory of the file path, given
 * without a leading '/') absolute; real caches that directory once
 * *have_dir is set. Returns 0 or -errno with one line in err. */
static int conf_abs_path(const char *path, char **rel, char *real,
                         int *have_dir, char *err, size_t errlen)
{
    const char *p = *rel;
    char *joined;

    if (!*have_dir) {
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX];

        if (slash == NULL)
            snprintf(dir, sizeof(dir), ".");
        else if (slash == path)
            snprintf(dir, sizeof(dir), "/");
        else
            snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        if (realpath(dir, real) == NULL) {
            int rc = -errno;

            if (err && errlen)
                snprintf(err, errlen,
                         "%s: cannot resolve the file's directory: %s", path,
                         strerror(-rc));
            return rc;
        }
        *have_dir = 1;
    }
    /* "./x.so" is "x.so" once joined to the directory. */
    while (p[0] == '.' && p[1] == '/') {
        p += 2;
        while (*p == '/')
            p++;
    }
    if (asprintf(&joined, "%s%s%s", real, strcmp(real, "/") == 0 ? "" : "/",
                 p) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    free(*rel);
    *rel = joined;
    return 0;
}

/* Paths in a file are relative to the file's directory, not to wherever
 * zerg was started: make them absolute. A plugin path counts when it has a
 * '/' not at its start (names are left to the loader's search); the pid
 * file whenever it does not start with '/'. Returns 0 or -errno with one
 * line in err. */
static int conf_paths(zg_config_t *cfg, const char *path, char *err,
                      size_t errlen)
{
    char real[PATH_MAX];
    int have_dir = 0, rc;

    for (size_t i = 0; i < cfg->nlisteners; i++) {
        char **p = &cfg->listeners[i].plugin;

        if ((*p)[0] == '/' || strchr(*p, '/') == NULL)
            continue;
        if ((rc = conf_abs_path(path, p, real, &have_dir, err, errlen)) < 0)
            return rc;
    }
    if (cfg->pid != NULL && cfg->pid[0] != '/' &&
        (rc = conf_abs_path(path, &cfg->pid, real, &have_dir, err, errlen)) < 0)
        return rc;
    return 0;
}

int zg_config_from_text(const char *text, size_t len, const char *path,
                        zg_config_t **out, char *err, size_t errlen)
{
    int rc = zg_config_parse(text, len, path, out, err, errlen);

    if (rc == 0 && (rc = conf_paths(*out, path, err, errlen)) < 0) {
        zg_config_free(*out);
        *out = NULL;
    }
    return rc;
}

int zg_config_load(const char *path, zg_config_t **out, char *err,
                   size_t errlen)
{
    size_t len = 0, cap = 4096;
    char *buf = NULL;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    for (;;) {
        ssize_t r;

        if (len == cap || !buf) {
            char *nb;

            if (buf)
                cap *= 2;
            if (cap > ZG_CONF_MAX_FILE) {
                rc = -EFBIG;
                goto fail;
            }
            nb = realloc(buf, cap);
            if (!nb) {
                rc = -ENOMEM;
                goto fail;
            }
            buf = nb;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    rc = zg_config_from_text(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
fail:
    if (err && errlen)
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

void zg_config_free(zg_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        zg_listener_conf_t *l = &cfg->listeners[i];

        free(l->name);
        free(l->listen);
        free(l->plugin);
        free(l->plugin_config);
        for (uint32_t j = 0; j < l->nmodules; j++) {
            free(l->modules[j].spec);
            free(l->modules[j].config);
        }
    }
    if (cfg->root)
        json_decref(cfg->root);
    free(cfg->text);
    free(cfg->pid);
    free(cfg->user);
    free(cfg->group);
    free(cfg->log.error_log);
    free(cfg->path);
    free(cfg);
}

int zg_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    int n;

    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;

        memcpy(&in, sa, sizeof(in));
        inet_ntop(AF_INET, &in.sin_addr, ip, sizeof(ip));
        n = snprintf(buf, len, "%s:%u", ip, ntohs(in.sin_port));
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;

        memcpy(&in6, sa, sizeof(in6));
        inet_ntop(AF_INET6, &in6.sin6_addr, ip, sizeof(ip));
        n = snprintf(buf, len, "[%s]:%u", ip, ntohs(in6.sin6_port));
    } else {
        return -EAFNOSUPPORT;
    }
    if (n < 0 || (size_t)n >= len)
        return -ENOSPC;
    return 0;
}

/* ---- the effective configuration, as JSON (zerg -T) ------------------- */

static const char *conf_name_of(const char *const *names, const int *values,
                                int v)
{
    for (size_t i = 0; names[i]; i++) {
        if (values[i] == v)
            return names[i];
    }
    return "?";
}

static json_t *conf_tristate_json(zg_tristate_t t)
{
    if (t == ZG_TRI_ON)
        return json_true();
    if (t == ZG_TRI_OFF)
        return json_false();
    return json_string("auto");
}

/* Set key in o to v (a new reference, NULL on allocation failure); any
 * failure is remembered in *bad. */
static void conf_put(json_t *o, const char *key, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        *bad = 1;
}

/* The reactor keys of r; with base, only those that differ from it. */
static json_t *conf_reactor_json(const zg_reactor_conf_t *r,
                                 const zg_reactor_conf_t *base, int *bad)
{
    json_t *o = json_object();

#define ZG_PUT_INT(key, field)                                                 \
    if (!base || r->field != base->field)                                      \
    conf_put(o, key, json_integer(r->field), bad)
    if (!o) {
        *bad = 1;
        return NULL;
    }
    ZG_PUT_INT("ring_entries", ring_entries);
    ZG_PUT_INT("recv_buffer_size", recv_buffer_size);
    ZG_PUT_INT("buffer_ring_entries", buffer_ring_entries);
    ZG_PUT_INT("batch_cqes", batch_cqes);
    ZG_PUT_INT("max_connections", max_connections);
    ZG_PUT_INT("cq_timeout_us", cq_timeout_us);
    if (!base || r->sqpoll != base->sqpoll)
        conf_put(o, "sqpoll", json_boolean(r->sqpoll), bad);
    ZG_PUT_INT("sq_cpu", sq_cpu);
    ZG_PUT_INT("sq_idle_ms", sq_idle_ms);
    if (!base || r->cpu_affinity != base->cpu_affinity)
        conf_put(o, "cpu_affinity",
                 r->cpu_affinity == -1   ? json_string("auto")
                 : r->cpu_affinity == -2 ? json_string("off")
                                         : json_integer(r->cpu_affinity),
                 bad);
    if (!base || r->incremental_buffers != base->incremental_buffers)
        conf_put(o, "incremental_buffers",
                 conf_tristate_json(r->incremental_buffers), bad);
    if (!base || r->recv_bundle != base->recv_bundle)
        conf_put(o, "recv_bundle", conf_tristate_json(r->recv_bundle), bad);
    if (!base || r->buffer_window != base->buffer_window)
        conf_put(o, "buffer_window", json_boolean(r->buffer_window), bad);
    if (!base || r->send_zc != base->send_zc)
        conf_put(o, "send_zc", json_boolean(r->send_zc), bad);
    ZG_PUT_INT("send_zc_min", send_zc_min);
#undef ZG_PUT_INT
    return o;
}

static json_t *conf_listener_json(const zg_listener_conf_t *l, int *bad)
{
    json_t *o = json_object();

    if (!o) {
        *bad = 1;
        return NULL;
    }
    conf_put(o, "name", json_string(l->name), bad);
    conf_put(o, "listen", json_string(l->listen), bad);
    conf_put(o, "ip_version",
             json_string(
                 conf_name_of(zg_ipv_names, zg_ipv_values, (int)l->ip_version)),
             bad);
    conf_put(o, "backlog", json_integer(l->backlog), bad);
    conf_put(o, "plugin", json_string(l->plugin), bad);
    /* As given: the text the plugin's init() receives, parsed back. */
    conf_put(o, "config", json_loads(l->plugin_config, 0, NULL), bad);
    {
        json_t *mods = json_array();

        for (uint32_t j = 0; mods && j < l->nmodules; j++) {
            json_t *m = json_object();

            conf_put(m, "module", json_string(l->modules[j].spec), bad);
            conf_put(m, "config", json_loads(l->modules[j].config, 0, NULL),
                     bad);
            if (!m || json_array_append_new(mods, m) < 0)
                *bad = 1;
        }
        conf_put(o, "modules", mods, bad);
    }
    conf_put(o, "idle_timeout_ms", json_integer(l->idle_timeout_ms), bad);
    conf_put(o, "linger_ms", json_integer(l->linger_ms), bad);
    conf_put(o, "max_connections", json_integer(l->max_connections), bad);
    conf_put(o, "max_held_bytes", json_integer(l->max_held_bytes), bad);
    conf_put(o, "tcp_nodelay", json_boolean(l->tcp_nodelay), bad);
    conf_put(o, "write_high_watermark", json_integer(l->write_high_watermark),
             bad);
    conf_put(o, "write_low_watermark", json_integer(l->write_low_watermark),
             bad);
    return o;
}

json_t *zg_config_json(const zg_config_t *cfg)
{
    json_t *root = json_object(), *o, *arr;
    int bad = 0;

    if (!root)
        return NULL;
    conf_put(root, "reactors", json_integer(cfg->reactors), &bad);
    conf_put(root, "accept",
             json_string(conf_name_of(zg_accept_names, zg_accept_values,
                                      (int)cfg->accept)),
             &bad);
    o = json_object();
    if (o) {
        conf_put(o, "ring_entries", json_integer(cfg->acceptor.ring_entries),
                 &bad);
        conf_put(o, "batch", json_integer(cfg->acceptor.batch), &bad);
        conf_put(o, "cq_timeout_us", json_integer(cfg->acceptor.cq_timeout_us),
                 &bad);
        conf_put(o, "sqpoll", json_boolean(cfg->acceptor.sqpoll), &bad);
        conf_put(o, "sq_cpu", json_integer(cfg->acceptor.sq_cpu), &bad);
        conf_put(o, "sq_idle_ms", json_integer(cfg->acceptor.sq_idle_ms), &bad);
    }
    conf_put(root, "acceptor", o, &bad);
    /* Reactor 0 stands for "reactor"; the others that differ from it are
     * overrides, with only the keys that differ. */
    conf_put(root, "reactor", conf_reactor_json(&cfg->reactor[0], NULL, &bad),
             &bad);
    arr = json_array();
    for (uint32_t i = 1; arr && i < cfg->reactors; i++) {
        if (memcmp(&cfg->reactor[i], &cfg->reactor[0],
                   sizeof(cfg->reactor[0])) == 0)
            continue;
        o = conf_reactor_json(&cfg->reactor[i], &cfg->reactor[0], &bad);
        if (o && json_object_size(o) == 0) {
            json_decref(o);
            continue;
        }
        conf_put(o, "id", json_integer(i), &bad);
        if (!o || json_array_append_new(arr, o) != 0)
            bad = 1;
    }
    if (arr && json_array_size(arr) == 0)
        json_decref(arr);
    else
        conf_put(root, "reactor_overrides", arr, &bad);
    o = json_object();
    if (o) {
        conf_put(o, "level",
                 json_string(conf_name_of(zg_level_names, zg_level_values,
                                          cfg->log.level)),
                 &bad);
        conf_put(o, "error_log", json_string(cfg->log.error_log), &bad);
    }
    conf_put(root, "log", o, &bad);
    conf_put(root, "pid", cfg->pid ? json_string(cfg->pid) : json_null(), &bad);
    conf_put(root, "user", cfg->user ? json_string(cfg->user) : json_null(),
             &bad);
    conf_put(root, "group", cfg->group ? json_string(cfg->group) : json_null(),
             &bad);
    conf_put(root, "shutdown_timeout_ms",
             json_integer(cfg->shutdown_timeout_ms), &bad);
    conf_put(root, "master", json_boolean(cfg->master), &bad);
    arr = json_array();
    for (size_t i = 0; arr && i < cfg->nlisteners; i++) {
        if (json_array_append_new(
                arr, conf_listener_json(&cfg->listeners[i], &bad)) != 0)
            bad = 1;
    }
    conf_put(root, "listeners", arr, &bad);
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

char *zg_config_dump(const zg_config_t *cfg)
{
    json_t *root = zg_config_json(cfg);
    char *text;

    if (!root)
        return NULL;
    text = json_dumps(root, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}
