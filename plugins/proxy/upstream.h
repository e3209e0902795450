/* SPDX-License-Identifier: MIT */
/*
 * Description: the proxy plugin's upstream servers: parsing and resolving
 * "host:port" addresses (start-up), choosing a server for a connection
 * (smooth weighted round robin, weighted least connections, or a weighted
 * rendezvous hash of the client address) and passive health (failures
 * within a window mark a server down), shared by every reactor through
 * atomics, without locks.
 */
#ifndef ZG_PROXY_UPSTREAM_H
#define ZG_PROXY_UPSTREAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <zerg/plugin.h>

#define ZG_PROXY_MAX_SERVERS 256 /* after resolution, in one listener */
#define ZG_PROXY_MAX_ADDRS   16  /* taken from one host name */
#define ZG_PROXY_HOST_MAX    255 /* bytes of a host name or IPv6 literal */
#define ZG_PROXY_NAME_MAX    (ZG_PROXY_HOST_MAX + 81)

/* How a server is chosen ("balance"). */
typedef enum zg_proxy_balance_e {
    ZG_PROXY_ROUND_ROBIN = 0,
    ZG_PROXY_LEAST_CONN = 1,
    ZG_PROXY_HASH = 2,
} zg_proxy_balance_t;

/* What zg_proxy_addr_split() found. */
typedef enum zg_proxy_host_kind_e {
    ZG_PROXY_HOST_IPV4 = 1, /* dotted quad */
    ZG_PROXY_HOST_IPV6 = 2, /* bracketed literal, maybe with a %zone */
    ZG_PROXY_HOST_NAME = 3, /* to resolve */
} zg_proxy_host_kind_t;

typedef struct zg_proxy_hostport_s {
    char host[ZG_PROXY_HOST_MAX + 1]; /* without brackets, NUL-terminated */
    uint16_t port;                    /* 1..65535 */
    zg_proxy_host_kind_t kind;
} zg_proxy_hostport_t;

/*
 * One server. Written at start-up; then the address, weight and name are
 * read-only, and the rest are atomics that any reactor updates (relaxed:
 * they are statistics, a lost update costs nothing but precision).
 * Aligned so that two servers' counters never share a cache line.
 */
typedef struct zg_proxy_server_s {
    struct sockaddr_storage addr; /* AF_INET or AF_INET6 */
    socklen_t addr_len;
    uint32_t weight; /* 1..1000 */
    uint64_t seed;   /* a hash of the address: its rendezvous identity */
    char name[ZG_PROXY_NAME_MAX];         /* for logs: "10.0.0.1:80", or
                                             "db:5432 (10.0.0.1:5432)" */
    _Alignas(64) _Atomic uint32_t active; /* connections, attempts too */
    _Atomic uint32_t fails;               /* failures since fail_start */
    _Atomic uint64_t fail_start;          /* ms: the window's first failure */
    _Atomic uint64_t down_until;          /* ms: marked down until then */
} zg_proxy_server_t;

/* The servers of one listener and how to choose among them. */
typedef struct zg_proxy_pool_s {
    zg_proxy_server_t *servers;
    size_t n; /* 1..ZG_PROXY_MAX_SERVERS */
    zg_proxy_balance_t balance;
    uint32_t max_fails;       /* 0: never mark a server down */
    uint32_t fail_timeout_ms; /* the failure window and the time down */
} zg_proxy_pool_t;

/* A set of servers (those a connection has tried), one bit each. */
typedef struct zg_proxy_set_s {
    uint64_t bits[ZG_PROXY_MAX_SERVERS / 64];
} zg_proxy_set_t;

static inline int zg_proxy_set_has(const zg_proxy_set_t *s, size_t i)
{
    return (int)((s->bits[i / 64] >> (i % 64)) & 1u);
}

static inline void zg_proxy_set_add(zg_proxy_set_t *s, size_t i)
{
    s->bits[i / 64] |= (uint64_t)1 << (i % 64);
}

/*
 * Split text, "a.b.c.d:port", "[v6]:port" or "name:port", into out.
 * Returns 0, or -EINVAL with a one-line reason in err (errlen bytes): no
 * port, a port outside 1..65535, a malformed IPv4 address (anything made
 * of digits and dots must be a whole dotted quad), a bad IPv6 literal or
 * host name. Pure: no I/O, any thread.
 */
int zg_proxy_addr_split(const char *text, zg_proxy_hostport_t *out, char *err,
                        size_t errlen);

/*
 * Split and resolve text into at most max addresses (AF_INET or AF_INET6,
 * port set) at addrs[0..*n), each lens[i] bytes, duplicates dropped. A
 * host name is resolved with getaddrinfo() (blocking: start-up only) and
 * gives every address it has, in getaddrinfo's order, the first max of
 * them. Returns 0 (*n >= 1) or -EINVAL with a one-line reason in err.
 * Main thread.
 */
int zg_proxy_addr_resolve(const char *text, struct sockaddr_storage *addrs,
                          socklen_t *lens, size_t max, size_t *n, char *err,
                          size_t errlen);

/* Write sa as "1.2.3.4:80" or "[::1]:80" into buf (len bytes, at least
 * 64 for any address); "?" for another family. Returns buf. Any thread. */
char *zg_proxy_addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* A hash of the client's address (its IP only, an IPv4-mapped IPv6
 * address taken as the IPv4 one), the key of "hash". Any thread. */
uint64_t zg_proxy_addr_key(const struct sockaddr *sa);

/* Fill s->seed from s->addr. Start-up. */
void zg_proxy_server_seed(zg_proxy_server_t *s);

/* Milliseconds of a monotonic clock (coarse: a few ms), for health. */
uint64_t zg_proxy_now_ms(void);

/*
 * Choose a server for a connection that already tried the servers in
 * tried, at time now (zg_proxy_now_ms()), or -1 if it tried them all.
 * cw is the calling reactor's smooth round robin state, pool->n values
 * starting at 0, owned by that reactor (no lock). key: the client's
 * zg_proxy_addr_key(), used by ZG_PROXY_HASH only.
 *
 * Servers marked down are skipped while some untried server is up; when
 * every untried server is down they are all candidates again (nothing
 * better is left, and a mark may be stale).
 *   round_robin: smooth weighted round robin (over one reactor's choices,
 *     a server of weight w gets w of every sum-of-weights picks, spread).
 *   least_conn: the fewest active connections per unit of weight, ties by
 *     smooth round robin among the tied.
 *   hash: weighted rendezvous hashing: a key keeps its server as long as
 *     that server is a candidate; when one leaves or returns, only the
 *     keys it had (or gets) move.
 * Reactor thread.
 */
int zg_proxy_pick(const zg_proxy_pool_t *pool, int64_t *cw,
                  const zg_proxy_set_t *tried, uint64_t key, uint64_t now);

/*
 * Count a failure of s at time now. Returns 1 when this failure marked s
 * down (for fail_timeout_ms; exactly one caller sees 1 per marking, so it
 * can log it), else 0. Any thread.
 */
int zg_proxy_server_failed(const zg_proxy_pool_t *pool, zg_proxy_server_t *s,
                           uint64_t now);

/* s answered: forget its failures and any down mark. Any thread; cheap
 * when there is nothing to forget (two loads). */
void zg_proxy_server_ok(zg_proxy_server_t *s);

#endif /* ZG_PROXY_UPSTREAM_H */
