/* SPDX-License-Identifier: MIT */
/*
 * Description: the access_log module (log phase): one line per closed
 * connection, nginx stream style, through the host's buffered log sinks
 * (api->log_open/log_write): each reactor appends to its own buffer and
 * the file gets one write per buffer, never a syscall per connection.
 *
 * text: TIME LISTENER CLIENT SERVER RECEIVED SENT SECONDS REASON REACTOR
 *   2026-12-02T05:30:00.123+01:00 web 192.0.2.7:50122 10.0.0.1:443
 *   120 5130 0.012 peer 0
 * A refused connection's reason is "refused:MODULE". json: one object per
 * line with the same fields (duration in ms).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zerg/plugin.h>

enum { ZG_ALOG_TEXT, ZG_ALOG_JSON };

typedef struct zg_alog_conf_s {
    const char *path;
    int format;
    uint64_t buffer;
    uint32_t flush_ms;
} zg_alog_conf_t;

typedef struct zg_alog_s {
    zg_logsink_t *sink;
    int format;
} zg_alog_t;

static const char *const zg_alog_formats[] = {"text", "json", NULL};

static const zg_key_t zg_alog_keys[] = {
    {.name = "path",
     .type = ZG_KEY_STRING,
     .flags = ZG_KEY_REQUIRED,
     .offset = offsetof(zg_alog_conf_t, path),
     .min = 1,
     .max = 4096,
     .doc = "the log file (created, appended to; reopened on SIGUSR1), or "
            "\"stderr\""},
    {.name = "format",
     .type = ZG_KEY_ENUM,
     .offset = offsetof(zg_alog_conf_t, format),
     .def = "\"text\"",
     .names = zg_alog_formats,
     .doc = "\"text\": one space-separated line per connection; \"json\": "
            "one JSON object per line"},
    ZG_KEYS_LOG_BUFFERING(zg_alog_conf_t),
    {.name = NULL},
};

static const zg_api_t *zg_alog_api;

static int zg_alog_init(const zg_api_t *api, const void *conf,
                        void **plugin_data, char *err, size_t errlen)
{
    const zg_alog_conf_t *c = conf;
    zg_alog_t *a = calloc(1, sizeof(*a));

    /* Set once: a reload runs init again while reactors read it. */
    if (zg_alog_api != api)
        zg_alog_api = api;
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->format = c->format;
    a->sink =
        api->log_open(c->path, (size_t)c->buffer, c->flush_ms, err, errlen);
    if (a->sink == NULL) {
        free(a);
        return -1;
    }
    *plugin_data = a;
    return 0;
}

static void zg_alog_fini(void *plugin_data)
{
    free(plugin_data);
}

/* Line pieces, written in place (no stdio: a line is formatted per
 * connection, which under churn is per request). Each returns the end of
 * what it wrote. */
static char *zg_alog_str(char *d, const char *s)
{
    size_t n = strlen(s);

    memcpy(d, s, n);
    return d + n;
}

static char *zg_alog_u64(char *d, uint64_t v)
{
    char t[20];
    size_t n = 0;

    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        *d++ = t[--n];
    return d;
}

/* The local time as "YYYY-MM-DDTHH:MM:SS.mmm+hh:mm"; the date and the
 * offset are computed once per second per thread. */
static char *zg_alog_time(char *d)
{
    static __thread time_t last = -1;
    static __thread char date[24], zone[8];
    struct timespec ts;
    long ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != last) {
        struct tm tm;
        long off;

        localtime_r(&ts.tv_sec, &tm);
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        off = tm.tm_gmtoff / 60;
        off = off < 0 ? -off : off;
        zone[0] = tm.tm_gmtoff < 0 ? '-' : '+';
        zone[1] = (char)('0' + off / 600 % 10);
        zone[2] = (char)('0' + off / 60 % 10);
        zone[3] = ':';
        zone[4] = (char)('0' + off % 60 / 10);
        zone[5] = (char)('0' + off % 10);
        zone[6] = '\0';
        last = ts.tv_sec;
    }
    ms = ts.tv_nsec / 1000000;
    d = zg_alog_str(d, date);
    *d++ = '.';
    *d++ = (char)('0' + ms / 100);
    *d++ = (char)('0' + ms / 10 % 10);
    *d++ = (char)('0' + ms % 10);
    return zg_alog_str(d, zone);
}

static char *zg_alog_ipv4(char *d, const unsigned char *a, uint16_t port)
{
    for (int i = 0; i < 4; i++) {
        d = zg_alog_u64(d, a[i]);
        *d++ = i < 3 ? '.' : ':';
    }
    return zg_alog_u64(d, ntohs(port));
}

/* "a.b.c.d:port" or "[v6]:port" ("-" if unknown); an IPv4-mapped IPv6
 * address is written as the IPv4 one. At most 54 bytes. */
static char *zg_alog_addr(char *d, const struct sockaddr *sa)
{
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

        return zg_alog_ipv4(d, (const unsigned char *)&s4->sin_addr,
                            s4->sin_port);
    }
    if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        char a[INET6_ADDRSTRLEN];

        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            return zg_alog_ipv4(d, s6->sin6_addr.s6_addr + 12, s6->sin6_port);
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        *d++ = '[';
        d = zg_alog_str(d, a);
        *d++ = ']';
        *d++ = ':';
        return zg_alog_u64(d, ntohs(s6->sin6_port));
    }
    *d++ = '-';
    return d;
}

static const char *const zg_alog_reasons[] = {
    "unknown", "peer",    "local",    "error",
    "limit",   "timeout", "shutdown", "refused",
};

/* Listener names are [A-Za-z0-9_.-]{1,64} and module names at most 32
 * bytes of the same (the config's and the loader's rules), so neither
 * format needs escaping and a line fits: the longest JSON one is under
 * 450 bytes. */
static void zg_alog_log(void *reactor_data, void *conn_data,
                        const zg_conn_info_t *info)
{
    const zg_alog_t *a = reactor_data;
    const char *reason =
        (unsigned)info->reason < 8 ? zg_alog_reasons[info->reason] : "unknown";
    int json = a->format == ZG_ALOG_JSON;
    char line[512], *d = line;

    (void)conn_data;
    if (strlen(info->listener) > 64 ||
        (info->refused_by != NULL && strlen(info->refused_by) > 32))
        return; /* not a name the host allows */
    d = zg_alog_str(d, json ? "{\"time\":\"" : "");
    d = zg_alog_time(d);
    d = zg_alog_str(d, json ? "\",\"listener\":\"" : " ");
    d = zg_alog_str(d, info->listener);
    d = zg_alog_str(d, json ? "\",\"client\":\"" : " ");
    d = zg_alog_addr(d, info->peer);
    d = zg_alog_str(d, json ? "\",\"server\":\"" : " ");
    d = zg_alog_addr(d, info->local);
    d = zg_alog_str(d, json ? "\",\"bytes_received\":" : " ");
    d = zg_alog_u64(d, info->bytes_in);
    d = zg_alog_str(d, json ? ",\"bytes_sent\":" : " ");
    d = zg_alog_u64(d, info->bytes_out);
    if (json) {
        d = zg_alog_str(d, ",\"duration_ms\":");
        d = zg_alog_u64(d, info->duration_ms);
        d = zg_alog_str(d, ",\"reason\":\"");
        d = zg_alog_str(d, reason);
        if (info->refused_by != NULL) {
            d = zg_alog_str(d, "\",\"refused_by\":\"");
            d = zg_alog_str(d, info->refused_by);
        }
        d = zg_alog_str(d, "\",\"reactor\":");
    } else {
        uint64_t ms = info->duration_ms % 1000;

        *d++ = ' ';
        d = zg_alog_u64(d, info->duration_ms / 1000);
        *d++ = '.';
        *d++ = (char)('0' + ms / 100);
        *d++ = (char)('0' + ms / 10 % 10);
        *d++ = (char)('0' + ms % 10);
        *d++ = ' ';
        d = zg_alog_str(d, reason);
        if (info->refused_by != NULL) {
            *d++ = ':';
            d = zg_alog_str(d, info->refused_by);
        }
        *d++ = ' ';
    }
    if (info->reactor_id < 0)
        *d++ = '-';
    d = zg_alog_u64(d,
                    (uint64_t)(info->reactor_id < 0 ? -(int64_t)info->reactor_id
                                                    : info->reactor_id));
    d = zg_alog_str(d, json ? "}\n" : "\n");
    zg_alog_api->log_write(a->sink, line, (size_t)(d - line));
}

static const zg_plugin_t zg_alog_module = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 3,
    .struct_size = sizeof(zg_plugin_t),
    .flags = ZG_PLUGIN_MODULE,
    .name = "access_log",
    .version = "1.0.0",
    .conf_keys = zg_alog_keys,
    .conf_size = sizeof(zg_alog_conf_t),
    .init_conf = zg_alog_init,
    .fini = zg_alog_fini,
    .on_log = zg_alog_log,
};

/* The module's entry (the table ./configure generates names it). */
const zg_plugin_t *zg_module_access_log(void);
const zg_plugin_t *zg_module_access_log(void)
{
    return &zg_alog_module;
}
