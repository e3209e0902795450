/* SPDX-License-Identifier: MIT */
/*
 * Description: access log lines of the http plugin (see alog.h):
 * escaping and formatting, a few hundred nanoseconds per line with no
 * allocation; the time and the address are formatted by the caller once
 * per second and once per connection.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "alog.h"

/* A byte that goes into a line as it is: printable ASCII but '"' and
 * '\\'. */
static int zg_http_alog_plain(unsigned char c)
{
    return (unsigned char)(c - 0x20) < 0x5f && c != '"' && c != '\\';
}

#define ZG_ONES  0x0101010101010101ull
#define ZG_HIGHS 0x8080808080808080ull

/* 1 if every byte of the 8 in w is plain (the tests are exact: each
 * sets a byte's high bit only if some byte of w is below 0x20, above
 * 0x7e, '"' or '\\'). */
static int zg_http_alog_plain8(uint64_t w)
{
    uint64_t q = w ^ (ZG_ONES * '"'), b = w ^ (ZG_ONES * '\\');
    uint64_t bad = ((w - ZG_ONES * 0x20) & ~w) |       /* < 0x20 */
                   ((w + ZG_ONES * (127 - 126)) | w) | /* > 0x7e */
                   ((q - ZG_ONES) & ~q) | ((b - ZG_ONES) & ~b);

    return (bad & ZG_HIGHS) == 0;
}

size_t zg_http_alog_escape(char *d, const unsigned char *s, size_t n,
                           int format)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = d;
    size_t i = 0;

    while (i < n) {
        unsigned char c;

        /* Eight plain bytes at a time: the common case, and d has room
         * for four times n. */
        if (n - i >= 8) {
            uint64_t w;

            memcpy(&w, s + i, 8);
            if (zg_http_alog_plain8(w)) {
                memcpy(o, &w, 8);
                o += 8;
                i += 8;
                continue;
            }
        }
        c = s[i++];
        if (zg_http_alog_plain(c)) {
            *o++ = (char)c;
        } else if (format != ZG_HTTP_ALOG_JSON) {
            o[0] = '\\';
            o[1] = 'x';
            o[2] = hex[c >> 4];
            o[3] = hex[c & 15];
            o += 4;
        } else if (c == '"' || c == '\\') {
            o[0] = '\\';
            o[1] = (char)c;
            o += 2;
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        }
    }
    return (size_t)(o - d);
}

#undef ZG_ONES
#undef ZG_HIGHS

/* Escape bytes [off, off + n) of in (they may span views) into d;
 * returns the end of what was written. */
static char *zg_http_alog_range(char *d, const zg_input_t *in, size_t off,
                                size_t n, int format)
{
    for (unsigned i = 0; i < in->nviews && n > 0; i++) {
        const zg_view_t *v = &in->views[i];
        size_t take;

        if (off >= v->len) {
            off -= v->len;
            continue;
        }
        take = v->len - off < n ? v->len - off : n;
        d += zg_http_alog_escape(d, v->data + off, take, format);
        off = 0;
        n -= take;
    }
    return d;
}

/* A quoted string field: the escaped range, or "-" (combined) / ""
 * (JSON) when absent. */
static char *zg_http_alog_str(char *d, const zg_http_alog_rec_t *r, size_t off,
                              size_t len, int format)
{
    *d++ = '"';
    if (r->src != NULL && len != ZG_HTTP_ALOG_ABSENT)
        d = zg_http_alog_range(d, r->src, off, len, format);
    else if (format != ZG_HTTP_ALOG_JSON)
        *d++ = '-';
    *d++ = '"';
    return d;
}

/* v in decimal, written in place from its last digit. */
static char *zg_http_alog_u64(char *d, uint64_t v)
{
    size_t n = 1;
    char *p;

    for (uint64_t t = v; t >= 10; t /= 10)
        n++;
    p = d + n;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return d + n;
}

/* A status: three digits but for an odd one. */
static char *zg_http_alog_status(char *d, unsigned s)
{
    if (s < 100 || s > 999)
        return zg_http_alog_u64(d, s);
    d[0] = (char)('0' + s / 100);
    d[1] = (char)('0' + s / 10 % 10);
    d[2] = (char)('0' + s % 10);
    return d + 3;
}

/* Seconds with millisecond resolution: "0.004". */
static char *zg_http_alog_secs(char *d, uint64_t msec)
{
    d = zg_http_alog_u64(d, msec / 1000);
    d[0] = '.';
    d[1] = (char)('0' + msec / 100 % 10);
    d[2] = (char)('0' + msec / 10 % 10);
    d[3] = (char)('0' + msec % 10);
    return d + 4;
}

static char *zg_http_alog_put(char *d, const char *s, size_t n)
{
    memcpy(d, s, n);
    return d + n;
}

#define ZG_PUT(d, lit) zg_http_alog_put(d, lit, sizeof(lit) - 1)

size_t zg_http_alog_line(char *d, const zg_http_alog_rec_t *r, int format)
{
    char *o = d;

    if (format == ZG_HTTP_ALOG_JSON) {
        o = ZG_PUT(o, "{\"remote_addr\":\"");
        o = zg_http_alog_put(o, r->addr, r->addr_len);
        o = ZG_PUT(o, "\",\"time_local\":\"");
        o = zg_http_alog_put(o, r->time_local, ZG_HTTP_ALOG_TIME_LEN);
        o = ZG_PUT(o, "\",\"request\":");
        o = zg_http_alog_str(o, r, r->req_off, r->req_len, format);
        o = ZG_PUT(o, ",\"status\":");
        o = zg_http_alog_status(o, r->status);
        o = ZG_PUT(o, ",\"body_bytes_sent\":");
        o = zg_http_alog_u64(o, r->bytes);
        o = ZG_PUT(o, ",\"http_referer\":");
        o = zg_http_alog_str(o, r, r->ref_off, r->ref_len, format);
        o = ZG_PUT(o, ",\"http_user_agent\":");
        o = zg_http_alog_str(o, r, r->ua_off, r->ua_len, format);
        o = ZG_PUT(o, ",\"request_time\":");
        o = zg_http_alog_secs(o, r->msec);
        o = ZG_PUT(o, "}\n");
        return (size_t)(o - d);
    }
    o = zg_http_alog_put(o, r->addr, r->addr_len);
    o = ZG_PUT(o, " - - [");
    o = zg_http_alog_put(o, r->time_local, ZG_HTTP_ALOG_TIME_LEN);
    o = ZG_PUT(o, "] ");
    o = zg_http_alog_str(o, r, r->req_off, r->req_len, format);
    *o++ = ' ';
    o = zg_http_alog_status(o, r->status);
    *o++ = ' ';
    o = zg_http_alog_u64(o, r->bytes);
    *o++ = ' ';
    o = zg_http_alog_str(o, r, r->ref_off, r->ref_len, format);
    *o++ = ' ';
    o = zg_http_alog_str(o, r, r->ua_off, r->ua_len, format);
    *o++ = ' ';
    o = zg_http_alog_secs(o, r->msec);
    *o++ = '\n';
    return (size_t)(o - d);
}

#undef ZG_PUT

/* Two decimal digits of v. */
static char *zg_http_alog_2(char *d, long v)
{
    d[0] = (char)('0' + v / 10 % 10);
    d[1] = (char)('0' + v % 10);
    return d + 2;
}

void zg_http_alog_time(char *out, time_t t)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;
    long off, year;
    char *d = out;

    localtime_r(&t, &tm);
    off = tm.tm_gmtoff / 60;
    year = tm.tm_year + 1900L;
    d = zg_http_alog_2(d, tm.tm_mday);
    *d++ = '/';
    d = zg_http_alog_put(d, months + 3 * tm.tm_mon, 3);
    *d++ = '/';
    d = zg_http_alog_2(d, year / 100);
    d = zg_http_alog_2(d, year % 100);
    *d++ = ':';
    d = zg_http_alog_2(d, tm.tm_hour);
    *d++ = ':';
    d = zg_http_alog_2(d, tm.tm_min);
    *d++ = ':';
    d = zg_http_alog_2(d, tm.tm_sec);
    *d++ = ' ';
    *d++ = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    d = zg_http_alog_2(d, off / 60);
    d = zg_http_alog_2(d, off % 60);
    *d = '\0';
}

size_t zg_http_alog_addr(char *out, const struct sockaddr *sa)
{
    const void *a = NULL;
    int af = AF_INET;

    if (sa != NULL && sa->sa_family == AF_INET) {
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            a = s6->sin6_addr.s6_addr + 12;
        } else {
            a = &s6->sin6_addr;
            af = AF_INET6;
        }
    }
    if (a == NULL || inet_ntop(af, a, out, 48) == NULL) {
        memcpy(out, "-", 2);
        return 1;
    }
    return strlen(out);
}
