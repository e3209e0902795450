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

/* The local time of the second sec as "YYYY-MM-DDTHH:MM:SS" and the
 * offset "+hh:mm", computed once per second per thread. */
static void zg_alog_time(char *out, size_t len)
{
    static __thread time_t last = -1;
    static __thread char date[24], zone[8];
    struct timespec ts;

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
    snprintf(out, len, "%s.%03ld%s", date, ts.tv_nsec / 1000000, zone);
}

/* "a.b.c.d:port" or "[v6]:port" ("-" if unknown); an IPv4-mapped IPv6
 * address is written as the IPv4 one. */
static void zg_alog_addr(const struct sockaddr *sa, char *out, size_t len)
{
    char a[INET6_ADDRSTRLEN];

    if (sa == NULL) {
        snprintf(out, len, "-");
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        snprintf(out, len, "%s:%u", a, ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, a, sizeof(a));
            snprintf(out, len, "%s:%u", a, ntohs(s6->sin6_port));
        } else {
            inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
            snprintf(out, len, "[%s]:%u", a, ntohs(s6->sin6_port));
        }
    } else {
        snprintf(out, len, "-");
    }
}

static const char *const zg_alog_reasons[] = {
    "unknown", "peer",    "local",    "error",
    "limit",   "timeout", "shutdown", "refused",
};

static void zg_alog_log(void *reactor_data, void *conn_data,
                        const zg_conn_info_t *info)
{
    const zg_alog_t *a = reactor_data;
    char t[48], client[64], server[64], line[512];
    const char *reason =
        (unsigned)info->reason < 8 ? zg_alog_reasons[info->reason] : "unknown";
    int n;

    (void)conn_data;
    zg_alog_time(t, sizeof(t));
    zg_alog_addr(info->peer, client, sizeof(client));
    zg_alog_addr(info->local, server, sizeof(server));
    /* Listener and module names are [A-Za-z0-9_.-] (the config's
     * rule), so neither format needs escaping. */
    if (a->format == ZG_ALOG_JSON)
        n = snprintf(line, sizeof(line),
                     "{\"time\":\"%s\",\"listener\":\"%s\",\"client\":\"%s\","
                     "\"server\":\"%s\",\"bytes_received\":%llu,"
                     "\"bytes_sent\":%llu,\"duration_ms\":%llu,"
                     "\"reason\":\"%s\"%s%s%s,\"reactor\":%d}\n",
                     t, info->listener, client, server,
                     (unsigned long long)info->bytes_in,
                     (unsigned long long)info->bytes_out,
                     (unsigned long long)info->duration_ms, reason,
                     info->refused_by ? ",\"refused_by\":\"" : "",
                     info->refused_by ? info->refused_by : "",
                     info->refused_by ? "\"" : "", info->reactor_id);
    else
        n = snprintf(
            line, sizeof(line), "%s %s %s %s %llu %llu %llu.%03llu %s%s%s %d\n",
            t, info->listener, client, server,
            (unsigned long long)info->bytes_in,
            (unsigned long long)info->bytes_out,
            (unsigned long long)(info->duration_ms / 1000),
            (unsigned long long)(info->duration_ms % 1000), reason,
            info->refused_by ? ":" : "",
            info->refused_by ? info->refused_by : "", info->reactor_id);
    if (n <= 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    zg_alog_api->log_write(a->sink, line, (size_t)n);
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
