/* SPDX-License-Identifier: MIT */
/*
 * Description: the proxy plugin's upstream servers (see upstream.h):
 * address parsing and resolution at start-up, the three ways to choose a
 * server, and passive health kept in per-server atomics.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "upstream.h"

static int zg_proxy_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int zg_proxy_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* ---- addresses ---- */

/* s[0..n) quoted for a one-line message: in double quotes, at most about
 * 60 bytes of it, control and non-ASCII bytes as \xNN. Returns buf (len
 * bytes, at least 8). */
static const char *zg_proxy_q(const char *s, size_t n, char *buf, size_t len)
{
    size_t o = 0;

    buf[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (o + 8 > len || i == 60) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c > 0x7e) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* A decimal port 1..65535 that is all of s[0..n). */
static int zg_proxy_port(const char *s, size_t n, uint16_t *port)
{
    unsigned v = 0;

    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* A DNS-style name: labels of letters, digits, '-' and '_' (as internal
 * names have), 1..63 bytes each, separated by dots, one final dot allowed. */
static int zg_proxy_name_ok(const char *s, size_t n)
{
    size_t label = 0;

    if (n == 0 || n > 254 || (n == 254 && s[n - 1] != '.'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
        if (++label > 63)
            return 0;
    }
    return 1;
}

int zg_proxy_addr_split(const char *text, zg_proxy_hostport_t *out, char *err,
                        size_t errlen)
{
    size_t len = strlen(text), hlen;
    const char *host, *colon;
    char q[256];

    memset(out, 0, sizeof(*out));
    if (len == 0)
        return zg_proxy_err(err, errlen, "empty address (need host:port)");
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        struct in6_addr a6;
        char bare[ZG_PROXY_HOST_MAX + 1];
        const char *pct;

        if (end == NULL)
            return zg_proxy_err(err, errlen,
                                "%s: no ']' after the IPv6 address",
                                zg_proxy_q(text, len, q, sizeof(q)));
        host = text + 1;
        hlen = (size_t)(end - host);
        if (end[1] != ':')
            return zg_proxy_err(err, errlen, "%s: no :port after [address]",
                                zg_proxy_q(text, len, q, sizeof(q)));
        colon = end + 1;
        if (hlen == 0 || hlen > ZG_PROXY_HOST_MAX)
            return zg_proxy_err(err, errlen, "%s: not an IPv6 address",
                                zg_proxy_q(text, len, q, sizeof(q)));
        /* The address part must parse; a %zone is checked when resolving. */
        pct = memchr(host, '%', hlen);
        memcpy(bare, host, pct != NULL ? (size_t)(pct - host) : hlen);
        bare[pct != NULL ? (size_t)(pct - host) : hlen] = '\0';
        if (inet_pton(AF_INET6, bare, &a6) != 1 ||
            (pct != NULL && pct + 1 == host + hlen))
            return zg_proxy_err(err, errlen, "%s: not an IPv6 address",
                                zg_proxy_q(text, len, q, sizeof(q)));
        out->kind = ZG_PROXY_HOST_IPV6;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return zg_proxy_err(err, errlen, "%s: no :port (need host:port)",
                                zg_proxy_q(text, len, q, sizeof(q)));
        host = text;
        hlen = (size_t)(colon - text);
        if (memchr(host, ':', hlen) != NULL)
            return zg_proxy_err(err, errlen,
                                "%s: an IPv6 address goes in brackets: "
                                "[address]:port",
                                zg_proxy_q(text, len, q, sizeof(q)));
        if (hlen == 0)
            return zg_proxy_err(err, errlen, "%s: no host before :port",
                                zg_proxy_q(text, len, q, sizeof(q)));
        if (hlen > ZG_PROXY_HOST_MAX)
            return zg_proxy_err(err, errlen, "host name over %d bytes",
                                ZG_PROXY_HOST_MAX);
        if (strspn(host, "0123456789.") >= hlen) {
            /* Digits and dots: an IPv4 address, whole (getaddrinfo would
             * take "10.1" as 10.0.0.1; nobody means that). */
            char bare[ZG_PROXY_HOST_MAX + 1];
            struct in_addr a4;

            memcpy(bare, host, hlen);
            bare[hlen] = '\0';
            if (inet_pton(AF_INET, bare, &a4) != 1)
                return zg_proxy_err(err, errlen,
                                    "%s: not an IPv4 address (a.b.c.d)",
                                    zg_proxy_q(host, hlen, q, sizeof(q)));
            out->kind = ZG_PROXY_HOST_IPV4;
        } else {
            if (!zg_proxy_name_ok(host, hlen))
                return zg_proxy_err(err, errlen,
                                    "%s: not a host name (letters, digits, "
                                    "'-', '_' and dots)",
                                    zg_proxy_q(host, hlen, q, sizeof(q)));
            out->kind = ZG_PROXY_HOST_NAME;
        }
    }
    if (zg_proxy_port(colon + 1, strlen(colon + 1), &out->port) < 0)
        return zg_proxy_err(err, errlen,
                            "%s: the port must be a number 1..65535",
                            zg_proxy_q(text, len, q, sizeof(q)));
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    return 0;
}

/* Add sa (len bytes) to addrs[0..*n) unless it is there or the array is
 * full. */
static void zg_proxy_addr_add(struct sockaddr_storage *addrs, socklen_t *lens,
                              size_t max, size_t *n, const struct sockaddr *sa,
                              socklen_t len)
{
    if (len > sizeof(addrs[0]) ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return;
    for (size_t i = 0; i < *n; i++) {
        if (lens[i] == len && memcmp(&addrs[i], sa, len) == 0)
            return;
    }
    if (*n >= max)
        return;
    memset(&addrs[*n], 0, sizeof(addrs[0]));
    memcpy(&addrs[*n], sa, len);
    lens[*n] = len;
    (*n)++;
}

int zg_proxy_addr_resolve(const char *text, struct sockaddr_storage *addrs,
                          socklen_t *lens, size_t max, size_t *n, char *err,
                          size_t errlen)
{
    zg_proxy_hostport_t hp;
    struct addrinfo hints, *res = NULL;
    char port[8];
    int rc;

    *n = 0;
    if ((rc = zg_proxy_addr_split(text, &hp, err, errlen)) < 0)
        return rc;
    if (hp.kind == ZG_PROXY_HOST_IPV4) {
        struct sockaddr_in sin;

        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(hp.port);
        inet_pton(AF_INET, hp.host, &sin.sin_addr);
        zg_proxy_addr_add(addrs, lens, max, n, (struct sockaddr *)&sin,
                          sizeof(sin));
        return 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = hp.kind == ZG_PROXY_HOST_IPV6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    if (hp.kind == ZG_PROXY_HOST_IPV6)
        hints.ai_flags |= AI_NUMERICHOST; /* the zone, if any; no lookup */
    snprintf(port, sizeof(port), "%u", (unsigned)hp.port);
    rc = getaddrinfo(hp.host, port, &hints, &res);
    if (rc != 0)
        return zg_proxy_err(err, errlen, "cannot resolve \"%s\": %s", hp.host,
                            rc == EAI_SYSTEM ? strerror(errno)
                                             : gai_strerror(rc));
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        zg_proxy_addr_add(addrs, lens, max, n, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(res);
    if (*n == 0)
        return zg_proxy_err(err, errlen, "\"%s\" has no IPv4 or IPv6 address",
                            hp.host);
    return 0;
}

char *zg_proxy_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        if (in6->sin6_scope_id != 0)
            snprintf(buf, len, "[%s%%%u]:%u", ip, (unsigned)in6->sin6_scope_id,
                     (unsigned)ntohs(in6->sin6_port));
        else
            snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
    return buf;
}

/* ---- hashing ---- */

static uint64_t zg_proxy_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* splitmix64's finalizer: every input bit flips about half the output. */
static uint64_t zg_proxy_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

#define ZG_PROXY_FNV_BASIS 0xcbf29ce484222325ull

uint64_t zg_proxy_addr_key(const struct sockaddr *sa)
{
    uint64_t h = ZG_PROXY_FNV_BASIS;

    if (sa->sa_family == AF_INET) {
        h = zg_proxy_fnv(h, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const unsigned char *a =
            (const unsigned char *)&((const struct sockaddr_in6 *)sa)
                ->sin6_addr;

        /* ::ffff:a.b.c.d is the IPv4 client a.b.c.d. */
        if (memcmp(a, ZG_CIDR_V4MAPPED, 12) == 0)
            h = zg_proxy_fnv(h, a + 12, 4);
        else
            h = zg_proxy_fnv(h, a, 16);
    }
    return zg_proxy_mix(h);
}

void zg_proxy_server_seed(zg_proxy_server_t *s)
{
    const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
    uint64_t h = ZG_PROXY_FNV_BASIS;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        h = zg_proxy_fnv(h, &in->sin_addr, 4);
        h = zg_proxy_fnv(h, &in->sin_port, 2);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        h = zg_proxy_fnv(h, &in6->sin6_addr, 16);
        h = zg_proxy_fnv(h, &in6->sin6_port, 2);
    }
    s->seed = zg_proxy_mix(h ^ 0x9e3779b97f4a7c15ull);
}

uint64_t zg_proxy_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * log2(v) for 1 <= v <= 2^53, in fixed point with 32 fraction bits, by
 * repeated squaring of the mantissa (one bit per step; no libm). Exact
 * IEEE arithmetic, so every reactor and every run agrees.
 */
static uint64_t zg_proxy_log2(uint64_t v)
{
    int n = 63 - __builtin_clzll(v);
    uint64_t r = (uint64_t)n << 32;
    double m = (double)v / (double)((uint64_t)1 << n);

    for (int b = 31; b >= 0; b--) {
        m *= m;
        if (m >= 2.0) {
            m /= 2.0;
            r |= (uint64_t)1 << b;
        }
    }
    return r;
}

/* ---- choosing ---- */

/* The servers a connection may try now (see zg_proxy_pick); returns how
 * many. */
static size_t zg_proxy_candidates(const zg_proxy_pool_t *pool,
                                  const zg_proxy_set_t *tried, uint64_t now,
                                  zg_proxy_set_t *cand)
{
    size_t n = 0, untried = 0;

    memset(cand, 0, sizeof(*cand));
    for (size_t i = 0; i < pool->n; i++) {
        if (zg_proxy_set_has(tried, i))
            continue;
        untried++;
        if (atomic_load_explicit(&pool->servers[i].down_until,
                                 memory_order_relaxed) <= now) {
            zg_proxy_set_add(cand, i);
            n++;
        }
    }
    if (n > 0 || untried == 0)
        return n;
    /* Every untried server is marked down: try them anyway. */
    for (size_t i = 0; i < pool->n; i++) {
        if (!zg_proxy_set_has(tried, i))
            zg_proxy_set_add(cand, i);
    }
    return untried;
}

/* Smooth weighted round robin over cand (nginx's): each candidate gains
 * its weight, the richest is chosen and pays the round's total. */
static int zg_proxy_swrr(const zg_proxy_pool_t *pool, int64_t *cw,
                         const zg_proxy_set_t *cand)
{
    int64_t total = 0;
    int best = -1;

    for (size_t i = 0; i < pool->n; i++) {
        if (!zg_proxy_set_has(cand, i))
            continue;
        cw[i] += pool->servers[i].weight;
        total += pool->servers[i].weight;
        if (best < 0 || cw[i] > cw[best])
            best = (int)i;
    }
    if (best >= 0)
        cw[best] -= total;
    return best;
}

/* Narrow cand to the servers with the fewest active connections per unit
 * of weight. */
static void zg_proxy_least(const zg_proxy_pool_t *pool, zg_proxy_set_t *cand)
{
    uint32_t active[ZG_PROXY_MAX_SERVERS];
    uint64_t ba = 0, bw = 1;
    int have = 0;

    for (size_t i = 0; i < pool->n; i++) {
        uint64_t a, w = pool->servers[i].weight;

        if (!zg_proxy_set_has(cand, i))
            continue;
        a = active[i] = atomic_load_explicit(&pool->servers[i].active,
                                             memory_order_relaxed);
        /* a / w < ba / bw */
        if (!have || a * bw < ba * w) {
            ba = a;
            bw = w;
            have = 1;
        }
    }
    for (size_t i = 0; i < pool->n; i++) {
        if (zg_proxy_set_has(cand, i) &&
            (uint64_t)active[i] * bw != ba * pool->servers[i].weight)
            cand->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
    }
}

/* Weighted rendezvous: each candidate draws -log2(u)/weight, u uniform in
 * (0, 1] from the key and its seed; the smallest wins. That is the first
 * of exponential clocks of rate weight to ring, so a server wins a share
 * weight / sum of weights of the keys, and a key's winner changes only if
 * the winner leaves or a newcomer beats it. */
static int zg_proxy_rendezvous(const zg_proxy_pool_t *pool,
                               const zg_proxy_set_t *cand, uint64_t key)
{
    uint64_t bl = 0, bw = 1;
    int best = -1;

    for (size_t i = 0; i < pool->n; i++) {
        const zg_proxy_server_t *s = &pool->servers[i];
        uint64_t h, l;

        if (!zg_proxy_set_has(cand, i))
            continue;
        h = zg_proxy_mix(key ^ s->seed);
        /* u = v / 2^53 with v in 1..2^53; -log2(u) = 53 - log2(v). */
        l = ((uint64_t)53 << 32) - zg_proxy_log2((h >> 11) + 1);
        if (best < 0 || l * bw < bl * s->weight) {
            bl = l;
            bw = s->weight;
            best = (int)i;
        }
    }
    return best;
}

int zg_proxy_pick(const zg_proxy_pool_t *pool, int64_t *cw,
                  const zg_proxy_set_t *tried, uint64_t key, uint64_t now)
{
    zg_proxy_set_t cand;

    if (zg_proxy_candidates(pool, tried, now, &cand) == 0)
        return -1;
    switch (pool->balance) {
    case ZG_PROXY_HASH:
        return zg_proxy_rendezvous(pool, &cand, key);
    case ZG_PROXY_LEAST_CONN:
        zg_proxy_least(pool, &cand);
        return zg_proxy_swrr(pool, cw, &cand);
    case ZG_PROXY_ROUND_ROBIN:
    default:
        return zg_proxy_swrr(pool, cw, &cand);
    }
}

/* ---- health ---- */

int zg_proxy_server_failed(const zg_proxy_pool_t *pool, zg_proxy_server_t *s,
                           uint64_t now)
{
    uint64_t start, until;
    uint32_t n;

    if (pool->max_fails == 0)
        return 0;
    start = atomic_load_explicit(&s->fail_start, memory_order_relaxed);
    if (start == 0 || now - start >= pool->fail_timeout_ms) {
        /* A new window. Two reactors starting one at once may count one
         * failure instead of two: the window is approximate anyway. */
        atomic_store_explicit(&s->fail_start, now, memory_order_relaxed);
        atomic_store_explicit(&s->fails, 1, memory_order_relaxed);
        n = 1;
    } else {
        n = atomic_fetch_add_explicit(&s->fails, 1, memory_order_relaxed) + 1;
    }
    if (n < pool->max_fails)
        return 0;
    until = atomic_load_explicit(&s->down_until, memory_order_relaxed);
    if (until > now)
        return 0; /* already down */
    if (!atomic_compare_exchange_strong_explicit(
            &s->down_until, &until, now + pool->fail_timeout_ms,
            memory_order_relaxed, memory_order_relaxed))
        return 0; /* another reactor marked it */
    atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
    atomic_store_explicit(&s->fail_start, 0, memory_order_relaxed);
    return 1;
}

void zg_proxy_server_ok(zg_proxy_server_t *s)
{
    if (atomic_load_explicit(&s->fails, memory_order_relaxed) != 0)
        atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
    if (atomic_load_explicit(&s->down_until, memory_order_relaxed) != 0)
        atomic_store_explicit(&s->down_until, 0, memory_order_relaxed);
}
