/* SPDX-License-Identifier: MIT */
/*
 * Description: the lines of the http plugin's per-request access log:
 * nginx's "combined" format with the request time appended, or one JSON
 * object per line with the same fields. Bytes the client chose (request
 * line, Referer, User-Agent) are escaped, so no request can end a line,
 * start a forged one or break a field's quoting. No I/O, no allocation,
 * no global state: http.c hands the lines to the host's log sink, unit
 * tests and the fuzzer call these directly.
 */
#ifndef ZG_HTTP_ALOG_H
#define ZG_HTTP_ALOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <zerg/plugin.h>

/* The "format" of "access_log" (the key's names, in order). */
enum { ZG_HTTP_ALOG_COMBINED = 0, ZG_HTTP_ALOG_JSON = 1 };

/* A range's length meaning "no such field" (logged "-", or "" in JSON). */
#define ZG_HTTP_ALOG_ABSENT SIZE_MAX

/* $time_local: "06/Nov/1994:08:49:37 +0000", NUL-terminated. */
#define ZG_HTTP_ALOG_TIME_LEN 26

/* What one line says. The client's strings are byte ranges of src (the
 * input they arrived in, or a copy presented as one view); each is
 * escaped on the way out. */
typedef struct zg_http_alog_rec_s {
    const char *addr; /* $remote_addr, addr_len bytes */
    size_t addr_len;
    const char *time_local;  /* ZG_HTTP_ALOG_TIME_LEN bytes */
    const zg_input_t *src;   /* NULL: every range below is absent */
    size_t req_off, req_len; /* the request line, without its CRLF */
    size_t ref_off, ref_len; /* the Referer value */
    size_t ua_off, ua_len;   /* the User-Agent value */
    unsigned status;
    uint64_t bytes; /* body bytes sent */
    uint64_t msec;  /* request time: first byte of the head to the log */
} zg_http_alog_rec_t;

/* The longest line for a record whose three ranges hold n bytes in all:
 * a byte becomes at most 6 ("\u00XX"); the rest takes under 300. */
#define ZG_HTTP_ALOG_LINE_MAX(n) (6 * (size_t)(n) + 512)

/* Escape n bytes of s into d (room for 4 * n bytes, combined, or 6 * n,
 * JSON); returns the bytes written. Printable ASCII but '"' and '\'
 * passes; combined writes every other byte as "\xHH" (as nginx does),
 * JSON writes \" and \\ and "\u00HH" (a byte above 0x7e as the code
 * point of the same value, so the line stays valid UTF-8). */
size_t zg_http_alog_escape(char *d, const unsigned char *s, size_t n,
                           int format);

/* Format the line of r, '\n' included, into d (room for
 * ZG_HTTP_ALOG_LINE_MAX of its ranges' lengths); returns its length.
 * Ranges must lie within r->src. */
size_t zg_http_alog_line(char *d, const zg_http_alog_rec_t *r, int format);

/* $time_local of second t (local time) into out (ZG_HTTP_ALOG_TIME_LEN
 * + 1 bytes). */
void zg_http_alog_time(char *out, time_t t);

/* $remote_addr of sa: the address alone, an IPv4-mapped IPv6 one as
 * IPv4; "-" for another family or NULL. out has 48 bytes; returns the
 * length. */
size_t zg_http_alog_addr(char *out, const struct sockaddr *sa);

#endif /* ZG_HTTP_ALOG_H */
