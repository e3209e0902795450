/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the proxy plugin's upstream code
 * (plugins/proxy/upstream.c: address parsing and resolution, the three
 * ways to choose a server, passive health) and its PROXY v2 header
 * (plugins/proxy/pp2.c), which the proxy_protocol module's parser must
 * read back as the same addresses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/upstream.c"
#include "proxy/pp2.c"
#include "../../modules/proxy_protocol/parse.c"

/* ---- addresses ---- */

static void split_ok(const char *text, const char *host, unsigned port,
                     zg_proxy_host_kind_t kind)
{
    zg_proxy_hostport_t hp;
    char err[256] = "";

    if (zg_proxy_addr_split(text, &hp, err, sizeof(err)) != 0)
        fail_msg("\"%s\" refused: %s", text, err);
    assert_string_equal(hp.host, host);
    assert_int_equal(hp.port, port);
    assert_int_equal(hp.kind, kind);
}

/* text is refused with a reason containing want. */
static void split_bad(const char *text, const char *want)
{
    zg_proxy_hostport_t hp;
    char err[256] = "";

    if (zg_proxy_addr_split(text, &hp, err, sizeof(err)) != -EINVAL)
        fail_msg("\"%s\" accepted", text);
    if (strstr(err, want) == NULL)
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, err, want);
}

static void test_split(void **state)
{
    (void)state;
    split_ok("127.0.0.1:80", "127.0.0.1", 80, ZG_PROXY_HOST_IPV4);
    split_ok("0.0.0.0:65535", "0.0.0.0", 65535, ZG_PROXY_HOST_IPV4);
    split_ok("[::1]:8080", "::1", 8080, ZG_PROXY_HOST_IPV6);
    split_ok("[::ffff:10.0.0.1]:1", "::ffff:10.0.0.1", 1, ZG_PROXY_HOST_IPV6);
    split_ok("[fe80::1%lo]:22", "fe80::1%lo", 22, ZG_PROXY_HOST_IPV6);
    split_ok("localhost:7000", "localhost", 7000, ZG_PROXY_HOST_NAME);
    split_ok("db-1.internal_zone.example.:5432", "db-1.internal_zone.example.",
             5432, ZG_PROXY_HOST_NAME);
    split_ok("1e100.net:443", "1e100.net", 443, ZG_PROXY_HOST_NAME);

    split_bad("", "empty");
    split_bad("127.0.0.1", "no :port");
    split_bad("localhost", "no :port");
    split_bad("127.0.0.1:", "1..65535");
    split_bad("127.0.0.1:0", "1..65535");
    split_bad("127.0.0.1:65536", "1..65535");
    split_bad("127.0.0.1:000080", "1..65535");
    split_bad("127.0.0.1:+80", "1..65535");
    split_bad("127.0.0.1:8o", "1..65535");
    split_bad("127.0.0.1: 80", "1..65535");
    split_bad(":80", "no host");
    split_bad("10.1:80", "not an IPv4 address");
    split_bad("256.0.0.1:80", "not an IPv4 address");
    split_bad("1.2.3.4.5:80", "not an IPv4 address");
    split_bad("::1:80", "brackets");
    split_bad("[::1]80", "no :port after");
    split_bad("[::1]", "no :port after");
    split_bad("[::1:80", "no ']'");
    split_bad("[]:80", "not an IPv6");
    split_bad("[zz::1]:80", "not an IPv6");
    split_bad("[127.0.0.1]:80", "not an IPv6");
    split_bad("[::1%]:80", "not an IPv6");
    split_bad("a..b:80", "not a host name");
    split_bad(".a:80", "not a host name");
    split_bad("a b:80", "not a host name");
    split_bad("h\xc3\xa9:80", "not a host name");
    split_bad("a/b:80", "not a host name");
    /* The reason is one line, whatever the text holds. */
    split_bad("a\nb\"c:80", "\"a\\x0ab\\\"c\": not a host name");
    split_bad("[::\n-:80", "\"[::\\x0a-:80\": no ']'");
}

static void test_split_lengths(void **state)
{
    char name[400], text[420];
    zg_proxy_hostport_t hp;
    char err[256];

    (void)state;
    /* A label of 63 is fine, 64 is not. */
    memset(name, 'a', 63);
    name[63] = '\0';
    snprintf(text, sizeof(text), "%s:1", name);
    assert_int_equal(zg_proxy_addr_split(text, &hp, err, sizeof(err)), 0);
    memset(name, 'a', 64);
    name[64] = '\0';
    snprintf(text, sizeof(text), "%s:1", name);
    assert_int_equal(zg_proxy_addr_split(text, &hp, err, sizeof(err)), -EINVAL);
    /* 253 bytes of labels; 254 only with the final dot. */
    for (int i = 0; i < 253; i++)
        name[i] = i % 4 == 3 ? '.' : 'b';
    name[253] = '\0';
    snprintf(text, sizeof(text), "%s:1", name);
    assert_int_equal(zg_proxy_addr_split(text, &hp, err, sizeof(err)), 0);
    name[253] = 'c';
    name[254] = '\0';
    snprintf(text, sizeof(text), "%s:1", name);
    assert_int_equal(zg_proxy_addr_split(text, &hp, err, sizeof(err)), -EINVAL);
    memset(name, 'x', 300);
    name[300] = '\0';
    snprintf(text, sizeof(text), "%s:1", name);
    assert_int_equal(zg_proxy_addr_split(text, &hp, err, sizeof(err)), -EINVAL);
}

static void test_resolve(void **state)
{
    struct sockaddr_storage a[ZG_PROXY_MAX_ADDRS];
    socklen_t l[ZG_PROXY_MAX_ADDRS];
    char err[256], buf[64];
    size_t n = 99;

    (void)state;
    assert_int_equal(
        zg_proxy_addr_resolve("127.0.0.2:81", a, l, 16, &n, err, sizeof(err)),
        0);
    assert_int_equal(n, 1);
    assert_int_equal(l[0], sizeof(struct sockaddr_in));
    assert_string_equal(
        zg_proxy_addr_format((struct sockaddr *)&a[0], buf, sizeof(buf)),
        "127.0.0.2:81");
    assert_int_equal(
        zg_proxy_addr_resolve("[::1]:9", a, l, 16, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_int_equal(l[0], sizeof(struct sockaddr_in6));
    assert_string_equal(
        zg_proxy_addr_format((struct sockaddr *)&a[0], buf, sizeof(buf)),
        "[::1]:9");
    /* A name from /etc/hosts: every address, each once, all loopback. */
    assert_int_equal(
        zg_proxy_addr_resolve("localhost:7", a, l, 16, &n, err, sizeof(err)),
        0);
    assert_true(n >= 1 && n <= 2);
    for (size_t i = 0; i < n; i++) {
        zg_proxy_addr_format((struct sockaddr *)&a[i], buf, sizeof(buf));
        assert_true(strcmp(buf, "127.0.0.1:7") == 0 ||
                    strcmp(buf, "[::1]:7") == 0);
    }
    if (n == 2)
        assert_true(l[0] != l[1]);
    /* Syntax errors are reported before any lookup. */
    assert_int_equal(
        zg_proxy_addr_resolve("10.1:80", a, l, 16, &n, err, sizeof(err)),
        -EINVAL);
    assert_non_null(strstr(err, "not an IPv4"));
}

static void test_key(void **state)
{
    struct sockaddr_in a4, b4;
    struct sockaddr_in6 m6;

    (void)state;
    memset(&a4, 0, sizeof(a4));
    a4.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
    a4.sin_port = htons(1000);
    b4 = a4;
    b4.sin_port = htons(2000);
    memset(&m6, 0, sizeof(m6));
    m6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.0.2.7", &m6.sin6_addr);
    /* The port is not part of the key; a mapped address is the IPv4 one. */
    assert_true(zg_proxy_addr_key((struct sockaddr *)&a4) ==
                zg_proxy_addr_key((struct sockaddr *)&b4));
    assert_true(zg_proxy_addr_key((struct sockaddr *)&a4) ==
                zg_proxy_addr_key((struct sockaddr *)&m6));
    inet_pton(AF_INET, "192.0.2.8", &b4.sin_addr);
    assert_true(zg_proxy_addr_key((struct sockaddr *)&a4) !=
                zg_proxy_addr_key((struct sockaddr *)&b4));
}

/* |a - b| <= eps, for fixed-point values with 32 fraction bits. */
static int near(uint64_t fix, double want, double eps)
{
    double got = (double)fix / 4294967296.0;

    return got - want <= eps && want - got <= eps;
}

static void test_log2(void **state)
{
    (void)state;
    assert_true(zg_proxy_log2(1) == 0);
    assert_true(zg_proxy_log2(2) == (uint64_t)1 << 32);
    assert_true(zg_proxy_log2((uint64_t)1 << 53) == (uint64_t)53 << 32);
    assert_true(near(zg_proxy_log2(3), 1.5849625007, 1e-8));
    assert_true(near(zg_proxy_log2(10), 3.3219280949, 1e-8));
    assert_true(near(zg_proxy_log2(((uint64_t)1 << 53) - 1), 53.0, 1e-8));
    assert_true(near(zg_proxy_log2(123456789), 26.8794309, 1e-6));
}

/* ---- choosing ---- */

static zg_proxy_server_t servers[ZG_PROXY_MAX_SERVERS];

/* A pool of n servers 10.0.0.(i+1):80 with the given weights. */
static zg_proxy_pool_t make_pool(size_t n, const uint32_t *w,
                                 zg_proxy_balance_t how)
{
    zg_proxy_pool_t p;

    memset(servers, 0, sizeof(servers));
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_in *in = (struct sockaddr_in *)&servers[i].addr;

        in->sin_family = AF_INET;
        in->sin_port = htons(80);
        in->sin_addr.s_addr = htonl(0x0a000001u + (uint32_t)i);
        servers[i].addr_len = sizeof(*in);
        servers[i].weight = w != NULL ? w[i] : 1;
        zg_proxy_server_seed(&servers[i]);
    }
    memset(&p, 0, sizeof(p));
    p.servers = servers;
    p.n = n;
    p.balance = how;
    p.max_fails = 1;
    p.fail_timeout_ms = 10000;
    return p;
}

static const zg_proxy_set_t none;

static void test_round_robin(void **state)
{
    static const uint32_t w[] = {5, 1, 1};
    zg_proxy_pool_t p = make_pool(3, w, ZG_PROXY_ROUND_ROBIN);
    int64_t cw[3] = {0};
    char seq[32] = "";

    (void)state;
    /* nginx's smooth sequence for 5, 1, 1, again and again. */
    for (int i = 0; i < 14; i++)
        seq[i] = (char)('a' + zg_proxy_pick(&p, cw, &none, 0, 1000));
    assert_string_equal(seq, "aabacaaaabacaa");
    /* Equal weights alternate. */
    p = make_pool(2, NULL, ZG_PROXY_ROUND_ROBIN);
    memset(cw, 0, sizeof(cw));
    for (int i = 0; i < 6; i++)
        seq[i] = (char)('a' + zg_proxy_pick(&p, cw, &none, 0, 1000));
    seq[6] = '\0';
    assert_string_equal(seq, "ababab");
}

static void test_tried_and_down(void **state)
{
    zg_proxy_pool_t p = make_pool(3, NULL, ZG_PROXY_ROUND_ROBIN);
    int64_t cw[3] = {0};
    zg_proxy_set_t tried;
    uint64_t now = 50000;

    (void)state;
    memset(&tried, 0, sizeof(tried));
    zg_proxy_set_add(&tried, 0);
    zg_proxy_set_add(&tried, 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(zg_proxy_pick(&p, cw, &tried, 0, now), 1);
    zg_proxy_set_add(&tried, 1);
    assert_int_equal(zg_proxy_pick(&p, cw, &tried, 0, now), -1);

    /* max_fails 1: one failure marks a server down, once. */
    assert_int_equal(zg_proxy_server_failed(&p, &servers[1], now), 1);
    assert_int_equal(zg_proxy_server_failed(&p, &servers[1], now + 1), 0);
    for (int i = 0; i < 6; i++)
        assert_int_not_equal(zg_proxy_pick(&p, cw, &none, 0, now), 1);
    /* Down servers are skipped while another is up... */
    memset(&tried, 0, sizeof(tried));
    zg_proxy_set_add(&tried, 0);
    assert_int_equal(zg_proxy_pick(&p, cw, &tried, 0, now), 2);
    /* ... and tried when every untried one is down. */
    zg_proxy_set_add(&tried, 2);
    assert_int_equal(zg_proxy_pick(&p, cw, &tried, 0, now), 1);
    assert_int_equal(zg_proxy_server_failed(&p, &servers[0], now), 1);
    assert_int_equal(zg_proxy_server_failed(&p, &servers[2], now), 1);
    for (int i = 0; i < 6; i++)
        assert_int_not_equal(zg_proxy_pick(&p, cw, &none, 0, now), -1);
    /* The mark expires after fail_timeout_ms. */
    {
        int seen[3] = {0};

        for (int i = 0; i < 6; i++)
            seen[zg_proxy_pick(&p, cw, &none, 0, now + 10000)]++;
        assert_int_equal(seen[0], 2);
        assert_int_equal(seen[1], 2);
        assert_int_equal(seen[2], 2);
    }
    /* A success clears a mark at once. */
    zg_proxy_server_ok(&servers[0]);
    zg_proxy_server_ok(&servers[2]);
    memset(&tried, 0, sizeof(tried));
    zg_proxy_set_add(&tried, 0);
    assert_int_equal(zg_proxy_pick(&p, cw, &tried, 0, now), 2);
}

static void test_fail_window(void **state)
{
    zg_proxy_pool_t p = make_pool(1, NULL, ZG_PROXY_ROUND_ROBIN);
    zg_proxy_server_t *s = &servers[0];

    (void)state;
    p.max_fails = 3;
    p.fail_timeout_ms = 1000;
    assert_int_equal(zg_proxy_server_failed(&p, s, 5000), 0);
    assert_int_equal(zg_proxy_server_failed(&p, s, 5500), 0);
    /* The window (from 5000) is over: this one starts a new count. */
    assert_int_equal(zg_proxy_server_failed(&p, s, 6000), 0);
    assert_int_equal(zg_proxy_server_failed(&p, s, 6100), 0);
    assert_int_equal(zg_proxy_server_failed(&p, s, 6200), 1);
    assert_true(atomic_load(&s->down_until) == 7200);
    /* A success between failures resets the count. */
    zg_proxy_server_ok(s);
    assert_int_equal(zg_proxy_server_failed(&p, s, 8000), 0);
    assert_int_equal(zg_proxy_server_failed(&p, s, 8001), 0);
    zg_proxy_server_ok(s);
    assert_int_equal(zg_proxy_server_failed(&p, s, 8002), 0);
    /* max_fails 0: never down. */
    p.max_fails = 0;
    for (int i = 0; i < 10; i++)
        assert_int_equal(zg_proxy_server_failed(&p, s, 9000), 0);
    assert_true(atomic_load(&s->down_until) == 0);
}

static void test_least_conn(void **state)
{
    static const uint32_t w[] = {4, 1, 1};
    zg_proxy_pool_t p = make_pool(3, w, ZG_PROXY_LEAST_CONN);
    int64_t cw[3] = {0};
    zg_proxy_set_t tried;

    (void)state;
    /* 3/4 < 1/1: server 0 despite having the most connections. */
    atomic_store(&servers[0].active, 3);
    atomic_store(&servers[1].active, 1);
    atomic_store(&servers[2].active, 2);
    assert_int_equal(zg_proxy_pick(&p, cw, &none, 0, 1), 0);
    atomic_store(&servers[0].active, 12);
    assert_int_equal(zg_proxy_pick(&p, cw, &none, 0, 1), 1);
    /* Not a tried one, even if it has fewest. */
    memset(&tried, 0, sizeof(tried));
    zg_proxy_set_add(&tried, 1);
    assert_int_equal(zg_proxy_pick(&p, cw, &tried, 0, 1), 2);
    /* Ties are shared by round robin, by weight. */
    p = make_pool(2, NULL, ZG_PROXY_LEAST_CONN);
    memset(cw, 0, sizeof(cw));
    {
        int seen[2] = {0};

        for (int i = 0; i < 10; i++)
            seen[zg_proxy_pick(&p, cw, &none, 0, 1)]++;
        assert_int_equal(seen[0], 5);
        assert_int_equal(seen[1], 5);
    }
}

#define NKEYS 20000

static uint64_t key_of(unsigned i)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0xc0a80000u + i);
    return zg_proxy_addr_key((struct sockaddr *)&a);
}

static void test_hash(void **state)
{
    static const uint32_t w[] = {1, 2, 1, 4};
    static int first[NKEYS];
    zg_proxy_pool_t p = make_pool(4, w, ZG_PROXY_HASH);
    int64_t cw[4] = {0};
    int count[4] = {0};
    uint64_t now = 100000;

    (void)state;
    for (unsigned i = 0; i < NKEYS; i++) {
        first[i] = zg_proxy_pick(&p, cw, &none, key_of(i), now);
        assert_true(first[i] >= 0 && first[i] < 4);
        count[first[i]]++;
        /* The same key, the same server. */
        assert_int_equal(zg_proxy_pick(&p, cw, &none, key_of(i), now),
                         first[i]);
    }
    /* Shares by weight, 1/8, 2/8, 1/8, 4/8, within 1.5 points. */
    for (int s = 0; s < 4; s++) {
        int want = NKEYS * (int)w[s] / 8;

        if (count[s] < want - NKEYS * 15 / 1000 ||
            count[s] > want + NKEYS * 15 / 1000)
            fail_msg("server %d got %d keys, want about %d", s, count[s], want);
    }
    /* Server 1 goes down: only its keys move, and not all to one. */
    assert_int_equal(zg_proxy_server_failed(&p, &servers[1], now), 1);
    memset(count, 0, sizeof(count));
    for (unsigned i = 0; i < NKEYS; i++) {
        int now_at = zg_proxy_pick(&p, cw, &none, key_of(i), now);

        if (first[i] != 1)
            assert_int_equal(now_at, first[i]);
        else
            count[now_at]++;
    }
    assert_int_equal(count[1], 0);
    assert_true(count[0] > 0 && count[2] > 0 && count[3] > count[0]);
    /* A key whose server failed for it goes where it would if that server
     * were down. */
    for (unsigned i = 0; i < 200; i++) {
        zg_proxy_set_t tried;

        memset(&tried, 0, sizeof(tried));
        zg_proxy_set_add(&tried, (size_t)first[i]);
        zg_proxy_server_ok(&servers[1]);
        if (first[i] != 1) {
            int alt = zg_proxy_pick(&p, cw, &tried, key_of(i), now);

            assert_int_not_equal(alt, first[i]);
            assert_true(alt >= 0);
        }
    }
    /* Back up: every key is where it was. */
    zg_proxy_server_ok(&servers[1]);
    for (unsigned i = 0; i < NKEYS; i++)
        assert_int_equal(zg_proxy_pick(&p, cw, &none, key_of(i), now),
                         first[i]);
}

/* ---- the PROXY v2 header ---- */

/* Parse n bytes of buf with the proxy_protocol module's parser. */
static long pp_parse(const unsigned char *buf, size_t n, zg_pp_result_t *r)
{
    zg_view_t v = {buf, n};
    zg_input_t in = {&v, 1, 0, n};

    return zg_pp_parse(&in, r);
}

static void sin_set(struct sockaddr_in *a, const char *ip, unsigned port)
{
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
}

static void sin6_set(struct sockaddr_in6 *a, const char *ip, unsigned port)
{
    memset(a, 0, sizeof(*a));
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
}

static void test_pp2_ipv4(void **state)
{
    static const unsigned char want[] = {
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
        0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 192,  0,    2,    1,
        198,  51,   100,  7,    0x30, 0x39, 0x01, 0xbb};
    unsigned char buf[ZG_PROXY_PP2_MAX];
    struct sockaddr_in src, dst;
    struct sockaddr_in6 m6;
    zg_pp_result_t r;
    size_t n;
    char s[64];

    (void)state;
    sin_set(&src, "192.0.2.1", 12345);
    sin_set(&dst, "198.51.100.7", 443);
    n = zg_proxy_pp2(buf, (struct sockaddr *)&src, (struct sockaddr *)&dst);
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, n);
    assert_int_equal(pp_parse(buf, n, &r), (long)n);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.local, 0);
    assert_string_equal(
        zg_proxy_addr_format((struct sockaddr *)&r.src, s, sizeof(s)),
        "192.0.2.1:12345");
    assert_string_equal(
        zg_proxy_addr_format((struct sockaddr *)&r.dst, s, sizeof(s)),
        "198.51.100.7:443");
    /* A dual-stack listener's mapped addresses are IPv4 on the wire. */
    sin6_set(&m6, "::ffff:198.51.100.7", 443);
    n = zg_proxy_pp2(buf, (struct sockaddr *)&src, (struct sockaddr *)&m6);
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, n);
}

static void test_pp2_ipv6(void **state)
{
    unsigned char buf[ZG_PROXY_PP2_MAX];
    struct sockaddr_in6 src, dst;
    struct sockaddr_in v4;
    zg_pp_result_t r;
    size_t n;
    char s[64];

    (void)state;
    sin6_set(&src, "2001:db8::1", 40000);
    sin6_set(&dst, "2001:db8::2", 8443);
    n = zg_proxy_pp2(buf, (struct sockaddr *)&src, (struct sockaddr *)&dst);
    assert_int_equal(n, 16 + 36);
    assert_int_equal(buf[13], 0x21);
    assert_int_equal(buf[14], 0);
    assert_int_equal(buf[15], 36);
    assert_int_equal(pp_parse(buf, n, &r), (long)n);
    assert_string_equal(
        zg_proxy_addr_format((struct sockaddr *)&r.src, s, sizeof(s)),
        "[2001:db8::1]:40000");
    assert_string_equal(
        zg_proxy_addr_format((struct sockaddr *)&r.dst, s, sizeof(s)),
        "[2001:db8::2]:8443");
    /* Mixed families: both as IPv6, the IPv4 one mapped. */
    sin_set(&v4, "192.0.2.9", 1);
    n = zg_proxy_pp2(buf, (struct sockaddr *)&v4, (struct sockaddr *)&dst);
    assert_int_equal(n, 16 + 36);
    assert_int_equal(pp_parse(buf, n, &r), (long)n);
    assert_string_equal(
        zg_proxy_addr_format((struct sockaddr *)&r.src, s, sizeof(s)),
        "[::ffff:192.0.2.9]:1");
}

static void test_pp2_local(void **state)
{
    unsigned char buf[ZG_PROXY_PP2_MAX];
    struct sockaddr_in dst;
    struct sockaddr unk;
    zg_pp_result_t r;
    size_t n;

    (void)state;
    memset(&unk, 0, sizeof(unk));
    unk.sa_family = AF_UNIX;
    sin_set(&dst, "127.0.0.1", 80);
    n = zg_proxy_pp2(buf, &unk, (struct sockaddr *)&dst);
    assert_int_equal(n, 16);
    assert_int_equal(buf[12], 0x20);
    assert_int_equal(pp_parse(buf, n, &r), 16);
    assert_int_equal(r.local, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_lengths),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_log2),
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_tried_and_down),
        cmocka_unit_test(test_fail_window),
        cmocka_unit_test(test_least_conn),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_pp2_ipv4),
        cmocka_unit_test(test_pp2_ipv6),
        cmocka_unit_test(test_pp2_local),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
