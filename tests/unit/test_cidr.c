/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for networks: zg_cidr_parse and zg_cidr_format
 * (core/cidr.c) and the inline matcher zg_cidr_match (zerg/plugin.h),
 * including both spellings of IPv4 peers and every prefix length's first
 * and last address.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "../../core/cidr.c"

/* Parse s, which must be valid. */
static zg_cidr_t net(const char *s)
{
    zg_cidr_t n;
    char err[256] = "";

    if (zg_cidr_parse(s, &n, err, sizeof(err)) != 0)
        fail_msg("%s: %s", s, err);
    return n;
}

/* A peer address: text with a ':' is IPv6, else IPv4. */
static struct sockaddr_storage peer(const char *s)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(s, ':') != NULL) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(4242);
        assert_int_equal(inet_pton(AF_INET6, s, &a6->sin6_addr), 1);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

        a4->sin_family = AF_INET;
        a4->sin_port = htons(4242);
        assert_int_equal(inet_pton(AF_INET, s, &a4->sin_addr), 1);
    }
    return ss;
}

static int in(const char *network, const char *address)
{
    zg_cidr_t n = net(network);
    struct sockaddr_storage ss = peer(address);

    return zg_cidr_match(&n, (const struct sockaddr *)&ss);
}

static void expect_error(const char *s, const char *msg)
{
    zg_cidr_t n;
    char err[256];

    memset(&n, 0xa5, sizeof(n));
    strcpy(err, "untouched");
    assert_int_equal(zg_cidr_parse(s, &n, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, msg);
    /* A failed parse leaves *out alone. */
    for (size_t i = 0; i < sizeof(n); i++)
        assert_int_equal(((unsigned char *)&n)[i], 0xa5);
}

/* Parse s, check the result, print it back as want. */
static void expect_net(const char *s, int family, unsigned bits,
                       const char *addr, const char *want)
{
    zg_cidr_t n = net(s), again;
    uint8_t a[16] = {0};
    char buf[ZG_CIDR_STRLEN];

    assert_int_equal(n.family, family);
    assert_int_equal(n.bits, bits);
    if (family != 0)
        assert_int_equal(inet_pton(family, addr, a), 1);
    assert_memory_equal(n.addr, a, sizeof(a));
    assert_int_equal(zg_cidr_format(&n, buf, sizeof(buf)), strlen(want));
    assert_string_equal(buf, want);
    again = net(buf);
    assert_memory_equal(&again, &n, sizeof(n));
}

static void test_parse_valid(void **state)
{
    expect_net("all", 0, 0, NULL, "all");
    expect_net("10.0.0.0/8", AF_INET, 8, "10.0.0.0", "10.0.0.0/8");
    expect_net("10.1.2.3", AF_INET, 32, "10.1.2.3", "10.1.2.3/32");
    expect_net("10.1.2.3/32", AF_INET, 32, "10.1.2.3", "10.1.2.3/32");
    expect_net("0.0.0.0/0", AF_INET, 0, "0.0.0.0", "0.0.0.0/0");
    expect_net("192.168.1.128/25", AF_INET, 25, "192.168.1.128",
               "192.168.1.128/25");
    expect_net("255.255.255.255", AF_INET, 32, "255.255.255.255",
               "255.255.255.255/32");
    expect_net("::1", AF_INET6, 128, "::1", "::1/128");
    expect_net("::/0", AF_INET6, 0, "::", "::/0");
    expect_net("2001:db8::/32", AF_INET6, 32, "2001:db8::", "2001:db8::/32");
    expect_net("2001:DB8:0:0::/48", AF_INET6, 48,
               "2001:db8::", "2001:db8::/48");
    expect_net("fe80::/10", AF_INET6, 10, "fe80::", "fe80::/10");
    expect_net("::ffff:10.0.0.0/104", AF_INET6, 104, "::ffff:10.0.0.0",
               "::ffff:10.0.0.0/104");
    expect_net("::ffff:0:0/96", AF_INET6, 96, "::ffff:0.0.0.0",
               "::ffff:0.0.0.0/96");
}

static void test_parse_errors(void **state)
{
    /* The messages the config shows, verbatim. */
    expect_error("10.0.0.1/8",
                 "\"10.0.0.1/8\": host bits are set (did you mean "
                 "10.0.0.0/8?)");
    expect_error("10.0.0.0/33", "\"10.0.0.0/33\": prefix over 32");
    expect_error("::1/", "\"::1/\": missing prefix length");
    expect_error("1.2.3", "\"1.2.3\": not an IPv4 or IPv6 address");

    expect_error("10.0.0.0/0",
                 "\"10.0.0.0/0\": host bits are set (did you mean "
                 "0.0.0.0/0?)");
    expect_error("192.168.1.129/25",
                 "\"192.168.1.129/25\": host bits are set (did you mean "
                 "192.168.1.128/25?)");
    expect_error("2001:db8::1/32",
                 "\"2001:db8::1/32\": host bits are set (did you mean "
                 "2001:db8::/32?)");
    expect_error("::ffff:10.0.0.1/104",
                 "\"::ffff:10.0.0.1/104\": host bits are set (did you mean "
                 "::ffff:10.0.0.0/104?)");
    expect_error("::/129", "\"::/129\": prefix over 128");
    expect_error("10.0.0.0/128", "\"10.0.0.0/128\": prefix over 32");
    expect_error("10.0.0.0/99999999999999999999999",
                 "\"10.0.0.0/99999999999999999999999\": prefix over 32");
    expect_error("10.0.0.0/", "\"10.0.0.0/\": missing prefix length");
    expect_error("10.0.0.0/08",
                 "\"10.0.0.0/08\": leading zero in prefix length");
    expect_error("10.0.0.0/00",
                 "\"10.0.0.0/00\": leading zero in prefix length");
    expect_error("10.0.0.0/+8", "\"10.0.0.0/+8\": prefix length is not a "
                                "number from 0 to 32");
    expect_error("10.0.0.0/-1", "\"10.0.0.0/-1\": prefix length is not a "
                                "number from 0 to 32");
    expect_error("10.0.0.0/ 8", "\"10.0.0.0/ 8\": prefix length is not a "
                                "number from 0 to 32");
    expect_error("10.0.0.0/8 ", "\"10.0.0.0/8 \": prefix length is not a "
                                "number from 0 to 32");
    expect_error("10.0.0.0/8/8", "\"10.0.0.0/8/8\": prefix length is not a "
                                 "number from 0 to 32");
    expect_error("::/0x8", "\"::/0x8\": prefix length is not a number from "
                           "0 to 128");

    expect_error("", "\"\": not an IPv4 or IPv6 address");
    expect_error("/8", "\"/8\": not an IPv4 or IPv6 address");
    expect_error(" 10.0.0.0/8", "\" 10.0.0.0/8\": not an IPv4 or IPv6 "
                                "address");
    expect_error("10.0.0.0 /8", "\"10.0.0.0 /8\": not an IPv4 or IPv6 "
                                "address");
    expect_error("010.0.0.1", "\"010.0.0.1\": not an IPv4 or IPv6 address");
    expect_error("1.2.3.256", "\"1.2.3.256\": not an IPv4 or IPv6 address");
    expect_error("1.2.3.4.5", "\"1.2.3.4.5\": not an IPv4 or IPv6 address");
    expect_error("1::2::3", "\"1::2::3\": not an IPv4 or IPv6 address");
    expect_error("fe80::1%eth0",
                 "\"fe80::1%eth0\": not an IPv4 or IPv6 address");
    expect_error("ALL", "\"ALL\": not an IPv4 or IPv6 address");
    expect_error("all/0", "\"all/0\": not an IPv4 or IPv6 address");
    expect_error("localhost", "\"localhost\": not an IPv4 or IPv6 address");
}

static void test_parse_error_text(void **state)
{
    zg_cidr_t n;
    char err[256], small[8], longer[200];

    /* Whatever the input holds, the reason is one printable line. */
    expect_error("1.2.3.4\n", "\"1.2.3.4\\x0a\": not an IPv4 or IPv6 "
                              "address");
    expect_error("a\"b\\c\xff", "\"a\\\"b\\\\c\\xff\": not an IPv4 or IPv6 "
                                "address");
    /* Long input is cut in the message. */
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(zg_cidr_parse(longer, &n, err, sizeof(err)), -EINVAL);
    assert_int_equal(strlen(err),
                     1 + 64 + 3 + 1 + strlen(": not an IPv4 or IPv6 address"));
    assert_non_null(strstr(err, "xxx...\": not an"));
    /* A short err buffer gets a cut, terminated message. */
    assert_int_equal(zg_cidr_parse("1.2.3", &n, small, sizeof(small)), -EINVAL);
    assert_string_equal(small, "\"1.2.3\"");
    /* No err buffer at all. */
    assert_int_equal(zg_cidr_parse("1.2.3", &n, NULL, 0), -EINVAL);
    assert_int_equal(zg_cidr_parse("10.0.0.1/8", &n, NULL, 0), -EINVAL);
    assert_int_equal(zg_cidr_parse(NULL, &n, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "\"\": no address");
}

static void test_format(void **state)
{
    zg_cidr_t n = net("2001:db8::/32"), bad;
    char buf[ZG_CIDR_STRLEN];

    /* Too small: -ENOSPC and an empty string, never a cut address. */
    assert_int_equal(zg_cidr_format(&n, buf, 13), -ENOSPC);
    assert_string_equal(buf, "");
    assert_int_equal(zg_cidr_format(&n, buf, 14), 13);
    assert_string_equal(buf, "2001:db8::/32");
    assert_int_equal(zg_cidr_format(&n, NULL, 0), -ENOSPC);

    /* The longest text an address prints as still fits. */
    n = net("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    assert_int_equal(zg_cidr_format(&n, buf, sizeof(buf)),
                     strlen("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"));
    n = net("::ffff:255.255.255.255");
    assert_int_equal(zg_cidr_format(&n, buf, sizeof(buf)),
                     strlen("::ffff:255.255.255.255/128"));

    /* Not a network. */
    memset(&bad, 0, sizeof(bad));
    bad.family = AF_INET;
    bad.bits = 33;
    assert_int_equal(zg_cidr_format(&bad, buf, sizeof(buf)), -EINVAL);
    bad.family = AF_INET6;
    bad.bits = 129;
    assert_int_equal(zg_cidr_format(&bad, buf, sizeof(buf)), -EINVAL);
    bad.family = AF_UNIX;
    bad.bits = 0;
    assert_int_equal(zg_cidr_format(&bad, buf, sizeof(buf)), -EINVAL);
}

static void test_match_v4(void **state)
{
    assert_true(in("10.0.0.0/8", "10.0.0.0"));
    assert_true(in("10.0.0.0/8", "10.255.255.255"));
    assert_true(in("10.0.0.0/8", "10.1.2.3"));
    assert_false(in("10.0.0.0/8", "9.255.255.255"));
    assert_false(in("10.0.0.0/8", "11.0.0.0"));

    /* A prefix that ends inside a byte. */
    assert_true(in("192.168.1.128/25", "192.168.1.128"));
    assert_true(in("192.168.1.128/25", "192.168.1.255"));
    assert_false(in("192.168.1.128/25", "192.168.1.127"));
    assert_false(in("192.168.1.128/25", "192.168.2.128"));

    assert_true(in("10.1.2.3", "10.1.2.3"));
    assert_false(in("10.1.2.3", "10.1.2.2"));
    assert_false(in("10.1.2.3", "10.1.2.4"));

    assert_true(in("0.0.0.0/0", "0.0.0.0"));
    assert_true(in("0.0.0.0/0", "255.255.255.255"));

    /* IPv4 networks see no IPv6 peer but the mapped spelling of IPv4. */
    assert_false(in("0.0.0.0/0", "::"));
    assert_false(in("0.0.0.0/0", "2001:db8::1"));
    assert_false(in("10.0.0.0/8", "::a00:1"));       /* ::10.0.0.1 */
    assert_false(in("10.0.0.0/8", "a00:1::"));       /* 10.0.0.1 at the front */
    assert_false(in("10.0.0.0/8", "::fffe:a00:1"));  /* not ::ffff: */
    assert_false(in("10.0.0.0/8", "1::ffff:a00:1")); /* not ::ffff: */
}

static void test_match_mapped(void **state)
{
    /* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d. */
    assert_true(in("10.0.0.0/8", "::ffff:10.0.0.0"));
    assert_true(in("10.0.0.0/8", "::ffff:10.255.255.255"));
    assert_false(in("10.0.0.0/8", "::ffff:9.255.255.255"));
    assert_false(in("10.0.0.0/8", "::ffff:11.0.0.0"));
    assert_true(in("0.0.0.0/0", "::ffff:1.2.3.4"));
    assert_true(in("10.1.2.3", "::ffff:10.1.2.3"));

    /* A mapped network is the IPv4 network it spells, both ways. */
    assert_true(in("::ffff:10.0.0.0/104", "10.0.0.0"));
    assert_true(in("::ffff:10.0.0.0/104", "10.255.255.255"));
    assert_true(in("::ffff:10.0.0.0/104", "::ffff:10.9.9.9"));
    assert_false(in("::ffff:10.0.0.0/104", "9.255.255.255"));
    assert_false(in("::ffff:10.0.0.0/104", "11.0.0.0"));
    assert_false(in("::ffff:10.0.0.0/104", "::a00:1"));
    assert_true(in("::ffff:10.1.2.3", "10.1.2.3"));
    assert_false(in("::ffff:10.1.2.3", "10.1.2.4"));
    assert_true(in("::ffff:0:0/96", "0.0.0.0"));
    assert_true(in("::ffff:0:0/96", "255.255.255.255"));
    assert_false(in("::ffff:0:0/96", "::"));
    assert_false(in("::ffff:0:0/96", "2001:db8::1"));

    /* IPv6 networks are for IPv6 clients: an IPv4 client is not in ::/0
     * however it arrives, nor in a shorter prefix covering ::ffff:0:0. */
    assert_false(in("::/0", "1.2.3.4"));
    assert_false(in("::/0", "::ffff:1.2.3.4"));
    assert_false(in("::/80", "::ffff:1.2.3.4"));
    assert_true(in("::/80", "::1"));
}

static void test_match_v6(void **state)
{
    assert_true(in("2001:db8::/32", "2001:db8::"));
    assert_true(in("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(in("2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(in("2001:db8::/32", "2001:db9::"));
    assert_false(in("2001:db8::/32", "32.1.13.184")); /* same first bytes */

    assert_true(in("2001:db8::/33", "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(in("2001:db8::/33", "2001:db8:8000::"));

    assert_true(in("::1", "::1"));
    assert_false(in("::1", "::2"));
    assert_false(in("::1", "::"));
    assert_false(in("::1", "0.0.0.1"));

    assert_true(in("::/0", "::"));
    assert_true(in("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_true(in("fe80::/10", "febf:ffff::1"));
    assert_false(in("fe80::/10", "fec0::"));
}

static void test_match_all_and_other_families(void **state)
{
    zg_cidr_t all = net("all"), any4 = net("0.0.0.0/0"), any6 = net("::/0");
    zg_cidr_t mapped = net("::ffff:0:0/96");
    struct sockaddr_un un;
    struct sockaddr_storage ss;
    struct sockaddr sa;

    ss = peer("1.2.3.4");
    assert_true(zg_cidr_match(&all, (struct sockaddr *)&ss));
    ss = peer("::ffff:1.2.3.4");
    assert_true(zg_cidr_match(&all, (struct sockaddr *)&ss));
    ss = peer("2001:db8::1");
    assert_true(zg_cidr_match(&all, (struct sockaddr *)&ss));

    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, "/run/zerg.sock");
    assert_true(zg_cidr_match(&all, (struct sockaddr *)&un));
    assert_false(zg_cidr_match(&any4, (struct sockaddr *)&un));
    assert_false(zg_cidr_match(&any6, (struct sockaddr *)&un));
    assert_false(zg_cidr_match(&mapped, (struct sockaddr *)&un));

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNSPEC;
    assert_true(zg_cidr_match(&all, &sa));
    assert_false(zg_cidr_match(&any4, &sa));
    assert_false(zg_cidr_match(&any6, &sa));
}

static void test_match_hand_built(void **state)
{
    /* Networks a caller built itself, not through zg_cidr_parse. */
    zg_cidr_t n;
    struct sockaddr_storage v4 = peer("10.1.2.3"), v6 = peer("::1");

    memset(&n, 0, sizeof(n));
    n.family = AF_INET;
    n.bits = 8;
    memcpy(n.addr, "\x0a\x01\x02\x03", 4); /* host bits set: ignored */
    assert_true(zg_cidr_match(&n, (struct sockaddr *)&v4));
    n.bits = 33; /* too long for IPv4: matches nothing */
    assert_false(zg_cidr_match(&n, (struct sockaddr *)&v4));

    memset(&n, 0, sizeof(n));
    n.family = AF_INET6;
    n.bits = 129;
    assert_false(zg_cidr_match(&n, (struct sockaddr *)&v6));
    n.bits = 128;
    n.addr[15] = 1;
    assert_true(zg_cidr_match(&n, (struct sockaddr *)&v6));

    n.family = AF_UNIX; /* unknown family: matches nothing */
    assert_false(zg_cidr_match(&n, (struct sockaddr *)&v6));
    assert_false(zg_cidr_match(&n, (struct sockaddr *)&v4));
}

/* 128-bit arithmetic on big-endian byte strings, for the sweep below. */
static void add(uint8_t *a, size_t len, int delta)
{
    for (size_t i = len; i-- > 0;) {
        int v = a[i] + delta;

        a[i] = (uint8_t)v;
        if (v >= 0 && v <= 0xff)
            return;
    }
}

static void set_host_bits(uint8_t *a, size_t len, unsigned bits, int one)
{
    for (unsigned b = bits; b < len * 8; b++) {
        uint8_t m = (uint8_t)(0x80u >> (b % 8));

        a[b / 8] = one ? a[b / 8] | m : a[b / 8] & (uint8_t)~m;
    }
}

/* Whether a (of family) matches n, as 1 or 0; except that an IPv6 sweep
 * can land on a mapped address (::/80's last one is ::ffff:255.255.255.255),
 * which is an IPv4 peer and so in no IPv6 network but a mapped one: then
 * an expected inside is turned into outside. */
static int in_bytes(const zg_cidr_t *n, int family, const uint8_t *a,
                    int inside)
{
    struct sockaddr_storage ss;
    char text[INET6_ADDRSTRLEN];

    if (family == AF_INET6 && n->family == AF_INET6 &&
        memcmp(a, ZG_CIDR_V4MAPPED, 12) == 0 &&
        !(n->bits >= 96 && memcmp(n->addr, ZG_CIDR_V4MAPPED, 12) == 0))
        inside = 0;
    assert_non_null(inet_ntop(family, a, text, sizeof(text)));
    ss = peer(text);
    return zg_cidr_match(n, (struct sockaddr *)&ss) == inside;
}

/* For every prefix length: the network's first and last address are in it,
 * the addresses just outside are not, in each spelling a peer can have. */
static void sweep(int family, const char *base)
{
    size_t len = family == AF_INET ? 4 : 16;
    unsigned max = (unsigned)len * 8;

    for (unsigned bits = 0; bits <= max; bits++) {
        uint8_t first[16], last[16], x[16], m[16];
        char text[INET6_ADDRSTRLEN], s[ZG_CIDR_STRLEN];
        zg_cidr_t n, nm;

        assert_int_equal(inet_pton(family, base, first), 1);
        set_host_bits(first, len, bits, 0);
        memcpy(last, first, len);
        set_host_bits(last, len, bits, 1);
        assert_non_null(inet_ntop(family, first, text, sizeof(text)));
        snprintf(s, sizeof(s), "%s/%u", text, bits);
        n = net(s);

        assert_true(in_bytes(&n, family, first, 1));
        assert_true(in_bytes(&n, family, last, 1));
        memcpy(x, first, len);
        add(x, len, -1);
        if (bits > 0 && memcmp(first, x, len) > 0)
            assert_true(in_bytes(&n, family, x, 0));
        memcpy(x, last, len);
        add(x, len, 1);
        if (bits > 0 && memcmp(last, x, len) < 0)
            assert_true(in_bytes(&n, family, x, 0));
        if (family == AF_INET6)
            continue;

        /* IPv4: the same network spelled mapped, and mapped peers. */
        memcpy(m, ZG_CIDR_V4MAPPED, 12);
        memcpy(m + 12, first, 4);
        assert_non_null(inet_ntop(AF_INET6, m, text, sizeof(text)));
        snprintf(s, sizeof(s), "%s/%u", text, 96 + bits);
        nm = net(s);
        memcpy(m + 12, first, 4);
        assert_true(in_bytes(&n, AF_INET6, m, 1));
        assert_true(in_bytes(&nm, AF_INET6, m, 1));
        assert_true(in_bytes(&nm, AF_INET, first, 1));
        memcpy(m + 12, last, 4);
        assert_true(in_bytes(&n, AF_INET6, m, 1));
        assert_true(in_bytes(&nm, AF_INET6, m, 1));
        assert_true(in_bytes(&nm, AF_INET, last, 1));
        memcpy(x, first, 4);
        add(x, 4, -1);
        if (bits > 0 && memcmp(first, x, 4) > 0) {
            memcpy(m + 12, x, 4);
            assert_true(in_bytes(&n, AF_INET6, m, 0));
            assert_true(in_bytes(&nm, AF_INET6, m, 0));
            assert_true(in_bytes(&nm, AF_INET, x, 0));
        }
        memcpy(x, last, 4);
        add(x, 4, 1);
        if (bits > 0 && memcmp(last, x, 4) < 0) {
            memcpy(m + 12, x, 4);
            assert_true(in_bytes(&n, AF_INET6, m, 0));
            assert_true(in_bytes(&nm, AF_INET6, m, 0));
            assert_true(in_bytes(&nm, AF_INET, x, 0));
        }
    }
}

static void test_match_every_prefix_length(void **state)
{
    sweep(AF_INET, "172.20.91.173");
    sweep(AF_INET, "0.0.0.0");
    sweep(AF_INET, "255.255.255.255");
    sweep(AF_INET6, "2001:db8:5a5a:a5a5:1234:5678:9abc:def0");
    sweep(AF_INET6, "::");
    sweep(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_error_text),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_match_v4),
        cmocka_unit_test(test_match_mapped),
        cmocka_unit_test(test_match_v6),
        cmocka_unit_test(test_match_all_and_other_families),
        cmocka_unit_test(test_match_hand_built),
        cmocka_unit_test(test_match_every_prefix_length),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
