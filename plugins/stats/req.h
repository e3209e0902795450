/* SPDX-License-Identifier: MIT */
/*
 * Description: the stats plugin's request head parser: just enough
 * HTTP/1.x for a scraper (GET or HEAD of a path, no body), strict about
 * everything else. Stateless and pure, so the fuzz target drives it
 * directly.
 */
#ifndef ZG_STATS_REQ_H
#define ZG_STATS_REQ_H

#include <stddef.h>

enum { ZG_SR_GET = 1, ZG_SR_HEAD, ZG_SR_OTHER };
enum { ZG_SR_METRICS = 1, ZG_SR_STATUS, ZG_SR_NOTFOUND };

typedef struct zg_stats_req_s {
    int method;    /* ZG_SR_GET, ZG_SR_HEAD, ZG_SR_OTHER */
    int target;    /* ZG_SR_METRICS, ZG_SR_STATUS, ZG_SR_NOTFOUND */
    int keepalive; /* HTTP/1.1 without "Connection: close" */
} zg_stats_req_t;

/* The longest request head accepted. */
#define ZG_STATS_HEAD_MAX 8192

/*
 * Parse the complete request head in buf (len bytes, ending with the
 * empty line's CRLF). Returns 0 and fills *r, or an HTTP status to answer
 * before closing: 400 (malformed, or a request with a body), 505 (not
 * HTTP/1.0 or 1.1).
 */
int zg_stats_parse(const char *buf, size_t len, zg_stats_req_t *r);

#endif /* ZG_STATS_REQ_H */
