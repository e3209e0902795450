/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the PROXY protocol header parser
 * (modules/proxy_protocol/parse.c). Every view sits right before a
 * PROT_NONE page, so any read past a view crashes, and every case runs
 * whole, split at every position across two and three views, and one byte
 * per view: the outcome must not depend on how the bytes arrive. Every
 * strict prefix of a valid header must ask for more, and a broken input
 * must be refused exactly at its first byte that no valid header has.
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
#include <sys/mman.h>
#include <unistd.h>

#include "../../modules/proxy_protocol/parse.c"

/* ---- guarded memory ---- */

#define NSLOTS 4200 /* two-page slots, each followed by a guard page */

static size_t page;
static unsigned char *slots;

static void guard_setup(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    slots = mmap(NULL, 3 * NSLOTS * page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(slots != MAP_FAILED);
    for (size_t i = 0; i < NSLOTS; i++)
        assert_int_equal(mprotect(slots + (3 * i + 2) * page, page, PROT_NONE),
                         0);
}

/* Copy len bytes into slot so that they end right at a guard page. */
static const unsigned char *guard_put(unsigned slot, const void *data,
                                      size_t len)
{
    unsigned char *end;

    assert_true(slot < NSLOTS && len <= 2 * page);
    end = slots + (3 * slot + 2) * page;
    if (len > 0)
        memcpy(end - len, data, len);
    return end - len;
}

/* ---- running the parser ---- */

/* The outcome as text: the return value, and for a complete header what
 * it says, e.g. "35 v1 stream 1.2.3.4:80 > 5.6.7.8:443". */
static void describe(long rc, const zg_pp_result_t *r, char *buf, size_t len)
{
    int k = snprintf(buf, len, "%ld", rc);
    const char *proto;

    if (rc <= 0)
        return;
    proto = r->proto == SOCK_STREAM  ? "stream"
            : r->proto == SOCK_DGRAM ? "dgram"
            : r->proto == 0          ? "any"
                                     : "?";
    k += snprintf(buf + k, len - (size_t)k, " v%u %s", r->version,
                  r->local ? "local" : proto);
    if (!r->local) {
        const struct sockaddr_storage *ss[2] = {&r->src, &r->dst};
        socklen_t sl[2] = {r->src_len, r->dst_len};

        for (int i = 0; i < 2; i++) {
            char a[INET6_ADDRSTRLEN];

            if (ss[i]->ss_family == AF_INET) {
                const struct sockaddr_in *s = (const struct sockaddr_in *)ss[i];

                assert_int_equal(sl[i], sizeof(*s));
                inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
                k += snprintf(buf + k, len - (size_t)k, "%s%s:%u",
                              i ? " > " : " ", a, ntohs(s->sin_port));
            } else {
                const struct sockaddr_in6 *s =
                    (const struct sockaddr_in6 *)ss[i];

                assert_int_equal(ss[i]->ss_family, AF_INET6);
                assert_int_equal(sl[i], sizeof(*s));
                assert_int_equal(s->sin6_flowinfo, 0);
                assert_int_equal(s->sin6_scope_id, 0);
                inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
                k += snprintf(buf + k, len - (size_t)k, "%s[%s]:%u",
                              i ? " > " : " ", a, ntohs(s->sin6_port));
            }
        }
    } else {
        assert_int_equal(r->src_len, 0);
        assert_int_equal(r->dst_len, 0);
    }
    if (r->tlv_off != 0 || r->tlv_len != 0)
        snprintf(buf + k, len - (size_t)k, " tlv %u+%u", r->tlv_off,
                 r->tlv_len);
}

/* Parse raw cut at the ncuts ascending positions cuts[] (each piece its
 * own guarded view, empty ones included) and describe the outcome. */
static long run_cut(const unsigned char *raw, size_t n, const size_t *cuts,
                    unsigned ncuts, char *out, size_t outlen)
{
    zg_view_t v[8];
    zg_input_t in;
    zg_pp_result_t r, fill;
    size_t at = 0;
    long rc;

    assert_true(ncuts < 8);
    for (unsigned i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;

        assert_true(to >= at && to <= n);
        v[i].data = guard_put(i, raw + at, to - at);
        v[i].len = to - at;
        at = to;
    }
    in.views = v;
    in.nviews = ncuts + 1;
    in.flags = 0;
    in.total = n;
    memset(&fill, 0xa5, sizeof(fill));
    r = fill;
    rc = zg_pp_parse(&in, &r);
    if (rc <= 0)
        assert_memory_equal(&r, &fill, sizeof(r)); /* out untouched */
    else
        assert_true((size_t)rc <= n);
    describe(rc, &r, out, outlen);
    return rc;
}

/* One byte per view, each before its own guard page. */
static void run_bytewise(const unsigned char *raw, size_t n, char *out,
                         size_t outlen)
{
    zg_view_t *v = calloc(n + 1, sizeof(*v));
    zg_input_t in;
    zg_pp_result_t r;
    long rc;

    assert_non_null(v);
    assert_true(n <= NSLOTS);
    for (size_t i = 0; i < n; i++) {
        v[i].data = guard_put((unsigned)i, raw + i, 1);
        v[i].len = 1;
    }
    in.views = v;
    in.nviews = (unsigned)n;
    in.flags = 0;
    in.total = n;
    rc = zg_pp_parse(&in, &r);
    describe(rc, &r, out, outlen);
    free(v);
}

/* Every way of delivering raw gives expect. */
static void check_splits(const unsigned char *raw, size_t n, const char *expect)
{
    char got[256];
    size_t c[2];

    run_cut(raw, n, NULL, 0, got, sizeof(got));
    if (strcmp(got, expect) != 0)
        fail_msg("whole (%zu bytes \"%.*s\"): got \"%s\", expect \"%s\"", n,
                 (int)n, raw, got, expect);
    for (c[0] = 0; c[0] <= n; c[0]++) {
        run_cut(raw, n, c, 1, got, sizeof(got));
        if (strcmp(got, expect) != 0)
            fail_msg("cut at %zu (\"%.*s\"): got \"%s\", expect \"%s\"", c[0],
                     (int)n, raw, got, expect);
        if (n > 300)
            continue;
        for (c[1] = c[0]; c[1] <= n; c[1]++) {
            run_cut(raw, n, c, 2, got, sizeof(got));
            if (strcmp(got, expect) != 0)
                fail_msg("cut at %zu and %zu (\"%.*s\"): got \"%s\", expect "
                         "\"%s\"",
                         c[0], c[1], (int)n, raw, got, expect);
        }
    }
    run_bytewise(raw, n, got, sizeof(got));
    if (strcmp(got, expect) != 0)
        fail_msg("bytewise (\"%.*s\"): got \"%s\", expect \"%s\"", (int)n, raw,
                 got, expect);
}

/* A valid header: every delivery gives expect, every strict prefix asks
 * for more, and bytes after the header are not the header's. */
static void check_valid(const void *hdr, size_t n, const char *expect)
{
    const unsigned char *raw = hdr;
    static const char more[] = "GET / HTTP/1.1\r\n\r\n\r\n\x00\xff";
    unsigned char buf[ZG_PP_MAX_LEN + sizeof(more)];
    char got[256];

    assert_true(n <= ZG_PP_MAX_LEN);
    check_splits(raw, n, expect);
    for (size_t k = 0; k < n; k++) {
        run_cut(raw, k, NULL, 0, got, sizeof(got));
        if (strcmp(got, "0") != 0)
            fail_msg("prefix of %zu bytes of \"%.*s\": got \"%s\", expect 0", k,
                     (int)n, raw, got);
    }
    memcpy(buf, raw, n);
    memcpy(buf + n, more, sizeof(more));
    for (size_t k = 1; k <= sizeof(more); k++) {
        run_cut(buf, n + k, NULL, 0, got, sizeof(got));
        if (strcmp(got, expect) != 0)
            fail_msg("%zu bytes after \"%.*s\": got \"%s\", expect \"%s\"", k,
                     (int)n, raw, got, expect);
    }
    if (n <= 300) {
        size_t c[2] = {n / 2, n + 1};

        run_cut(buf, n + sizeof(more), c, 2, got, sizeof(got));
        assert_string_equal(got, expect);
    }
}

/* A broken input: refused with rc once its first at bytes are in, and
 * not before (prefixes ask for more); every delivery agrees. */
static void check_bad(const void *data, size_t n, long rc, size_t at)
{
    const unsigned char *raw = data;
    char got[256], want[32];

    assert_true(at >= 1 && at <= n);
    snprintf(want, sizeof(want), "%ld", rc);
    for (size_t k = 0; k <= n; k++) {
        run_cut(raw, k, NULL, 0, got, sizeof(got));
        if (strcmp(got, k < at ? "0" : want) != 0)
            fail_msg("prefix of %zu bytes of \"%.*s\": got %s, expect %s "
                     "(refused at %zu)",
                     k, (int)n, raw, got, k < at ? "0" : want, at);
    }
    check_splits(raw, n, want);
}

/* ---- v1 ---- */

typedef struct v1case_s {
    const char *raw;
    const char *expect;
} v1case_t;

static void test_v1_valid(void **state)
{
    static const v1case_t cases[] = {
        {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
         "v1 stream 192.0.2.1:56324 > 198.51.100.2:443"},
        {"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
         "v1 stream 0.0.0.0:0 > 255.255.255.255:65535"},
        {"PROXY TCP4 10.0.0.1 10.20.30.40 1 9\r\n",
         "v1 stream 10.0.0.1:1 > 10.20.30.40:9"},
        {"PROXY TCP6 2001:db8::1 2001:db8:0:1:2:3:4:5 65000 80\r\n",
         "v1 stream [2001:db8::1]:65000 > [2001:db8:0:1:2:3:4:5]:80"},
        {"PROXY TCP6 :: ::1 1 2\r\n", "v1 stream [::]:1 > [::1]:2"},
        {"PROXY TCP6 ::FFFF:192.0.2.1 1:2:3:4:5:6:7:: 10 20\r\n",
         "v1 stream [::ffff:192.0.2.1]:10 > [1:2:3:4:5:6:7:0]:20"},
        {"PROXY TCP6 1:2:3:4:5:6:10.0.0.1 ::1:2:3:4:5:6:7 1 1\r\n",
         "v1 stream [1:2:3:4:5:6:a00:1]:1 > [0:1:2:3:4:5:6:7]:1"},
        {"PROXY TCP6 ABCD:ef01:2345:6789:aBcD:EF01:2345:6789 fe80:: 1 1\r\n",
         "v1 stream [abcd:ef01:2345:6789:abcd:ef01:2345:6789]:1 > "
         "[fe80::]:1"},
        /* the longest forms; the second is 107 bytes, the most allowed */
        {"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
         "v1 stream [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 > "
         "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
        {"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 10\r\n",
         "v1 stream [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 "
         "> [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:10"},
        {"PROXY UNKNOWN\r\n", "v1 local"},
        {"PROXY UNKNOWN \r\n", "v1 local"},
        {"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
         "v1 local"},
        {"PROXY UNKNOWN \x01\x7f\xff\t  anything at all\r\n", "v1 local"},
    };
    char pad[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[256];

        snprintf(want, sizeof(want), "%zu %s", strlen(cases[i].raw),
                 cases[i].expect);
        check_valid(cases[i].raw, strlen(cases[i].raw), want);
    }
    /* UNKNOWN with the longest tail that still fits */
    memset(pad, 'x', sizeof(pad));
    memcpy(pad, "PROXY UNKNOWN ", 14);
    memcpy(pad + 105, "\r\n", 2);
    check_valid(pad, 107, "107 v1 local");
}

typedef struct v1bad_s {
    const char *raw;
    size_t at; /* refused once this many bytes are in */
} v1bad_t;

static void test_v1_malformed(void **state)
{
    static const v1bad_t cases[] = {
        {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 7},
        {"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", 12},
        {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", 20},
        {"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", 28},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", 30},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 31},
        {"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", 6},
        {"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 1},
        {"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", 7},
        {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 10},
        {"PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n", 10},
        {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 8},
        {"PROXY UNKNOWNX\r\n", 14},
        {"PROXY UNKNOWN\n", 14},
        {"PROXY UNKNOWN\r\r\n", 15},
        {"PROXY UNKNOWN x\ny\r\n", 16},
        /* LF without CR */
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 31},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", 32},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx", 32},
        /* addresses */
        {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", 17},
        {"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", 19},
        {"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", 14},
        {"PROXY TCP4 1.2.3.4 5.6.7.300 1 2\r\n", 28},
        {"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", 13},
        {"PROXY TCP4 1.2.3.00 5.6.7.8 1 2\r\n", 19},
        {"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", 14},
        {"PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n", 12},
        {"PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", 19},
        {"PROXY TCP4 ::1 ::1 1 2\r\n", 12},
        {"PROXY TCP4 1.2.3.a 5.6.7.8 1 2\r\n", 18},
        {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", 13},
        {"PROXY TCP6 ::1 5.6.7.8 1 2\r\n", 17},
        {"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", 27},
        {"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", 25},
        {"PROXY TCP6 1::2::3 ::1 1 2\r\n", 17},
        {"PROXY TCP6 ::: ::1 1 2\r\n", 14},
        {"PROXY TCP6 :1::2 ::1 1 2\r\n", 13},
        {"PROXY TCP6 1: ::1 1 2\r\n", 14},
        {"PROXY TCP6 12345:: ::1 1 2\r\n", 16},
        {"PROXY TCP6 1:2:3:4:5:6:7:8:: ::1 1 2\r\n", 27},
        {"PROXY TCP6 1:2:3:4::5:6:7:8 ::1 1 2\r\n", 26},
        {"PROXY TCP6 g:: ::1 1 2\r\n", 12},
        {"PROXY TCP6 ::1%eth0 ::1 1 2\r\n", 15},
        {"PROXY TCP6 [::1] ::1 1 2\r\n", 12},
        /* the dotted quad must be the last 32 bits, and a decimal quad */
        {"PROXY TCP6 1:2:1.2.3.4 ::1 1 2\r\n", 17},
        {"PROXY TCP6 1::2:3:4:5:6:1.2.3.4 ::1 1 2\r\n", 26},
        {"PROXY TCP6 ::ffff:01.2.3.4 ::1 1 2\r\n", 21},
        {"PROXY TCP6 ::ffff:a.2.3.4 ::1 1 2\r\n", 20},
        {"PROXY TCP6 ::ffff:1.2.3 ::1 1 2\r\n", 24},
        {"PROXY TCP6 ::ffff:1.2.3.4:5 ::1 1 2\r\n", 26},
        /* ports */
        {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 32},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", 34},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", 29},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", 31},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", 28},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", 28},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 29},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 31},
        {"PROXY TCP4 1.2.3.4 5.6.7.8\r\n", 27},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_bad(cases[i].raw, strlen(cases[i].raw), -EINVAL, cases[i].at);
}

/* No CRLF within 107 bytes: refused as soon as the CRLF can no longer
 * fit, not after a timeout. */
static void test_v1_too_long(void **state)
{
    char b[160];
    static const char *const v6 =
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 1 1\r\n";

    (void)state;
    memset(b, 'x', sizeof(b));
    memcpy(b, "PROXY UNKNOWN ", 14);
    /* 105 bytes and CRLF fit, 106 bytes of line do not */
    check_bad(b, sizeof(b), -EINVAL, 106);
    memcpy(b + 105, "\r\n", 2);
    b[106] = 'x';
    check_bad(b, sizeof(b), -EINVAL, 107);
    /* two 45-byte addresses and ports cannot fit: refused once the
     * destination address is too long to leave room for " 0 0\r\n" */
    check_bad(v6, strlen(v6), -EINVAL, 102);
    /* 106 and 107 bytes, then a destination port that leaves no room
     * for the CRLF */
    snprintf(b, sizeof(b), "PROXY TCP6 %s %s 65535 1\r\n",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
             "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    check_valid(b, strlen(b),
                "106 v1 stream [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 "
                "> [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1");
    snprintf(b, sizeof(b), "PROXY TCP6 %s %s 65535 10\r\n",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
             "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    check_valid(b, strlen(b),
                "107 v1 stream [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 "
                "> [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:10");
    snprintf(b, sizeof(b), "PROXY TCP6 %s %s 65535 100\r\n",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
             "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    check_bad(b, strlen(b), -EINVAL, 106);
}

/* The IPv6 and IPv4 readers accept exactly what inet_pton() does (glibc
 * follows RFC 4291 and refuses leading zeros in a dotted quad), and read
 * the same address. */
static void test_v1_addresses_match_inet_pton(void **state)
{
    static const char *const six[] = {
        "::",
        "::1",
        "1::",
        "1::2",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "1::8",
        "1:2::7:8",
        "0:0:0:0:0:0:0:0",
        "ffff::ffff",
        "FFFF::",
        "::1.2.3.4",
        "::ffff:1.2.3.4",
        "1:2:3:4:5:6:1.2.3.4",
        "1::6:1.2.3.4",
        "1:2:3:4:5::1.2.3.4",
        "1:2:3:4:5:6::1.2.3.4",
        "1::2:3:4:5:6:1.2.3.4",
        "0001:02:003::",
        "00001::",
        ":::",
        ":1::",
        "1:::",
        "1::2::",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:",
        "1:2:3:4:5:6:7::8",
        "1::3:4:5:6:7:8:9",
        ":1:2:3:4:5:6:7:8",
        "::1.2.3",
        "::1.2.3.4.5",
        "::01.2.3.4",
        "::1.2.3.04",
        "::256.1.1.1",
        "1.2.3.4",
        "::a.b.c.d",
        "::1.2.3.4:1",
        "1:2:3:4:5:6:7:1.2.3.4",
        "::0.0.0.0",
        ":",
        "1:",
        "1:2",
        "::ffff:255.255.255.255",
        "::fffff",
        "fe80::1:2:3",
        "1:2:3:4:5:6:7:8:",
        "::0:0:0:0:0:0:0",
        "::0:0:0:0:0:0",
        "0:0:0:0:0:0::1.2.3.4",
        "0:0:0:0:0::1.2.3.4",
    };
    static const char *const four[] = {
        "0.0.0.0",   "1.2.3.4",   "255.255.255.255", "10.0.0.1",
        "01.2.3.4",  "1.2.3.04",  "1.2.3",           "1.2.3.4.5",
        "256.1.1.1", "1..2.3",    "1.2.3.4.",        ".1.2.3",
        "1.2.3.255", "1.2.3.256", "0.00.0.0",        "100.200.250.199",
    };

    (void)state;
    for (int fam = 0; fam < 2; fam++) {
        size_t count =
            fam ? sizeof(four) / sizeof(four[0]) : sizeof(six) / sizeof(six[0]);

        for (size_t i = 0; i < count; i++) {
            const char *a = fam ? four[i] : six[i];
            unsigned char want[16];
            char line[200];
            zg_view_t v;
            zg_input_t in;
            zg_pp_result_t r;
            int ok = inet_pton(fam ? AF_INET : AF_INET6, a, want);
            long rc;

            snprintf(line, sizeof(line), "PROXY TCP%c %s %s 1 2\r\n",
                     fam ? '4' : '6', a, fam ? "0.0.0.0" : "::");
            v.data = guard_put(0, line, strlen(line));
            v.len = strlen(line);
            in.views = &v;
            in.nviews = 1;
            in.flags = 0;
            in.total = v.len;
            rc = zg_pp_parse(&in, &r);
            if ((rc > 0) != (ok == 1))
                fail_msg("\"%s\": parser %ld, inet_pton %d", a, rc, ok);
            if (rc > 0) {
                assert_int_equal(rc, strlen(line));
                if (fam)
                    assert_memory_equal(
                        &((struct sockaddr_in *)&r.src)->sin_addr, want, 4);
                else
                    assert_memory_equal(
                        &((struct sockaddr_in6 *)&r.src)->sin6_addr, want, 16);
            } else {
                assert_int_equal(rc, -EINVAL);
            }
        }
    }
}

/* ---- v2 ---- */

#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* Build a v2 header: signature, ver_cmd, fam, length of the rest, then
 * body (blen bytes). Returns the total length. */
static size_t v2(unsigned char *b, unsigned ver_cmd, unsigned fam, size_t len,
                 const void *body, size_t blen)
{
    memcpy(b, SIG, 12);
    b[12] = (unsigned char)ver_cmd;
    b[13] = (unsigned char)fam;
    b[14] = (unsigned char)(len >> 8);
    b[15] = (unsigned char)len;
    if (blen > 0)
        memcpy(b + 16, body, blen);
    return 16 + blen;
}

static const unsigned char a4[12] = {192, 0, 2,    1,    198,  51,
                                     100, 2, 0xdc, 0x04, 0x01, 0xbb};
static const unsigned char a6[36] = {
    0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    1,    0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    1,
    0,    0,    0,    0,    0,    0,    0,    2,    0x00, 0x50, 0xff, 0xff};

static void test_v2_valid(void **state)
{
    unsigned char b[ZG_PP_MAX_LEN], body[ZG_PP_MAX_LEN];
    size_t n;

    (void)state;
    n = v2(b, 0x21, 0x11, 12, a4, 12);
    check_valid(b, n,
                "28 v2 stream 192.0.2.1:56324 > 198.51.100.2:443 tlv 28+0");
    n = v2(b, 0x21, 0x12, 12, a4, 12);
    check_valid(b, n,
                "28 v2 dgram 192.0.2.1:56324 > 198.51.100.2:443 tlv 28+0");
    n = v2(b, 0x21, 0x21, 36, a6, 36);
    check_valid(b, n,
                "52 v2 stream [2001:db8::1]:80 > [2001:db8:0:1::2]:65535 "
                "tlv 52+0");
    n = v2(b, 0x21, 0x22, 36, a6, 36);
    check_valid(b, n,
                "52 v2 dgram [2001:db8::1]:80 > [2001:db8:0:1::2]:65535 "
                "tlv 52+0");

    /* TLVs: an authority, an empty one, a NOOP pad, an unknown type */
    memcpy(body, a4, 12);
    memcpy(body + 12,
           "\x02\x00\x0b"
           "example.com"
           "\xe0\x00\x00"
           "\x04\x00\x02xx"
           "\xff\x00\x01\x00",
           3 + 11 + 3 + 5 + 4);
    n = v2(b, 0x21, 0x11, 38, body, 38);
    check_valid(b, n,
                "54 v2 stream 192.0.2.1:56324 > 198.51.100.2:443 tlv 28+26");
    memcpy(body, a6, 36);
    memcpy(body + 36, "\x01\x00\x02h2\x05\x00\x00", 8);
    n = v2(b, 0x21, 0x21, 44, body, 44);
    check_valid(b, n,
                "60 v2 stream [2001:db8::1]:80 > [2001:db8:0:1::2]:65535 "
                "tlv 52+8");
    /* a TLV whose value is 256 bytes and more (the length's high byte) */
    memset(body, 0, sizeof(body));
    memcpy(body, a4, 12);
    memcpy(body + 12, "\x04\x01\x2c", 3); /* 300 bytes of NOOP */
    n = v2(b, 0x21, 0x11, 12 + 303, body, 12 + 303);
    check_valid(b, n,
                "331 v2 stream 192.0.2.1:56324 > 198.51.100.2:443 tlv 28+303");

    /* LOCAL: family, addresses and TLVs are ignored, even odd ones */
    n = v2(b, 0x20, 0x00, 0, NULL, 0);
    check_valid(b, n, "16 v2 local");
    n = v2(b, 0x20, 0x11, 12, a4, 12);
    check_valid(b, n, "28 v2 local");
    n = v2(b, 0x20, 0xff, 5, "\xff\xff\xff\xff\xff", 5);
    check_valid(b, n, "21 v2 local");
    /* UNSPEC: no address; what follows is skipped */
    n = v2(b, 0x21, 0x00, 0, NULL, 0);
    check_valid(b, n, "16 v2 local");
    n = v2(b, 0x21, 0x00, 4, "\x01\x02\x03\x04", 4);
    check_valid(b, n, "20 v2 local");
    /* UNIX: 216 bytes of paths, not usable here; TLVs still framed */
    memset(body, 0, sizeof(body));
    memcpy(body, "/run/a.sock", 11);
    memcpy(body + 108, "/run/b.sock", 11);
    n = v2(b, 0x21, 0x31, 216, body, 216);
    check_valid(b, n, "232 v2 local tlv 232+0");
    memcpy(body + 216, "\x04\x00\x01z", 4);
    n = v2(b, 0x21, 0x32, 220, body, 220);
    check_valid(b, n, "236 v2 local tlv 232+4");
    /* addresses followed by padding inside no TLV: not allowed (below),
     * but an INET address in a longer-than-needed block is fine when
     * the rest is TLVs */
    memcpy(body, a4, 12);
    memcpy(body + 12, "\x00\x00\x00", 3);
    n = v2(b, 0x21, 0x11, 15, body, 15);
    check_valid(b, n,
                "31 v2 stream 192.0.2.1:56324 > 198.51.100.2:443 tlv 28+3");
}

static void test_v2_malformed(void **state)
{
    unsigned char b[ZG_PP_MAX_LEN + 16], body[ZG_PP_MAX_LEN];
    size_t n;

    (void)state;
    /* the signature, refused at its first wrong byte */
    memcpy(b, SIG "\x21\x11\x00\x0c", 16);
    memcpy(b + 16, a4, 12);
    for (size_t i = 0; i < 12; i++) {
        unsigned char save = b[i];

        b[i] ^= 0x20;
        check_bad(b, 28, -EINVAL, i + 1);
        b[i] = save;
    }
    /* version other than 2 */
    n = v2(b, 0x11, 0x11, 12, a4, 12);
    check_bad(b, n, -EPROTONOSUPPORT, 13);
    n = v2(b, 0x31, 0x11, 12, a4, 12);
    check_bad(b, n, -EPROTONOSUPPORT, 13);
    n = v2(b, 0x01, 0x11, 12, a4, 12);
    check_bad(b, n, -EPROTONOSUPPORT, 13);
    /* commands other than LOCAL and PROXY */
    n = v2(b, 0x22, 0x11, 12, a4, 12);
    check_bad(b, n, -EPROTONOSUPPORT, 13);
    n = v2(b, 0x2f, 0x11, 12, a4, 12);
    check_bad(b, n, -EPROTONOSUPPORT, 13);
    /* undefined family or transport */
    {
        static const unsigned char fams[] = {0x01, 0x02, 0x10, 0x13, 0x20,
                                             0x23, 0x30, 0x33, 0x41, 0xff};

        for (size_t i = 0; i < sizeof(fams); i++) {
            n = v2(b, 0x21, fams[i], 12, a4, 12);
            check_bad(b, n, -EPROTONOSUPPORT, 14);
        }
    }
    /* a length too short for the family */
    n = v2(b, 0x21, 0x11, 11, a4, 11);
    check_bad(b, n, -EINVAL, 16);
    n = v2(b, 0x21, 0x21, 35, a6, 35);
    check_bad(b, n, -EINVAL, 16);
    n = v2(b, 0x21, 0x21, 12, a6, 12);
    check_bad(b, n, -EINVAL, 16);
    memset(body, 0, sizeof(body));
    n = v2(b, 0x21, 0x31, 215, body, 215);
    check_bad(b, n, -EINVAL, 16);
    /* 1 or 2 bytes after the addresses can hold no TLV */
    memcpy(body, a4, 12);
    n = v2(b, 0x21, 0x11, 13, body, 13);
    check_bad(b, n, -EINVAL, 16);
    n = v2(b, 0x21, 0x11, 14, body, 14);
    check_bad(b, n, -EINVAL, 16);
    /* a TLV running past the header: refused at its length bytes */
    memcpy(body + 12,
           "\x02\x00\x05"
           "abcd",
           7);
    n = v2(b, 0x21, 0x11, 19, body, 19);
    check_bad(b, n, -EINVAL, 31);
    memcpy(body + 12, "\x02\x01\x00", 3); /* high byte alone too big */
    n = v2(b, 0x21, 0x11, 19, body, 19);
    check_bad(b, n, -EINVAL, 30);
    /* a TLV leaving 1 or 2 bytes: known once its length is */
    memcpy(body + 12, "\x02\x00\x02xyz", 6);
    n = v2(b, 0x21, 0x11, 18, body, 18);
    check_bad(b, n, -EINVAL, 31);
    memcpy(body + 12,
           "\x02\x00\x00\x01\x00\x01"
           "ab",
           8);
    n = v2(b, 0x21, 0x11, 20, body, 20);
    check_bad(b, n, -EINVAL, 34);
    /* the same in IPv6 and UNIX headers */
    memcpy(body, a6, 36);
    memcpy(body + 36, "\x01\xff\xff", 3);
    n = v2(b, 0x21, 0x21, 40, body, 40);
    check_bad(b, n, -EINVAL, 54);
    memset(body, 0, 216);
    memcpy(body + 216, "\x01\x00\x09", 3);
    n = v2(b, 0x21, 0x31, 221, body, 221);
    check_bad(b, n, -EINVAL, 235);
}

/* Headers up to ZG_PP_V2_MAX_LEN bytes; a longer one is refused as soon
 * as its length field is in. */
static void test_v2_size_cap(void **state)
{
    static unsigned char b[ZG_PP_MAX_LEN + 16], body[ZG_PP_MAX_LEN];
    size_t max = ZG_PP_V2_MAX_LEN - 16, n;
    char want[128];

    (void)state;
    memset(body, 0, sizeof(body));
    memcpy(body, a4, 12);
    body[12] = ZG_PP2_TYPE_NOOP;
    body[13] = (unsigned char)((max - 15) >> 8);
    body[14] = (unsigned char)(max - 15);
    n = v2(b, 0x21, 0x11, max, body, max);
    assert_int_equal(n, ZG_PP_V2_MAX_LEN);
    snprintf(want, sizeof(want),
             "%d v2 stream 192.0.2.1:56324 > 198.51.100.2:443 tlv 28+%zu",
             ZG_PP_V2_MAX_LEN, max - 12);
    check_valid(b, n, want);
    /* one byte more, refused at the low length byte */
    body[14]++;
    n = v2(b, 0x21, 0x11, max + 1, body, max + 1);
    check_bad(b, n, -EMSGSIZE, 16);
    /* LOCAL too */
    n = v2(b, 0x20, 0x00, max + 1, body, max + 1);
    check_bad(b, n, -EMSGSIZE, 16);
    n = v2(b, 0x20, 0x00, max, body, max);
    check_valid(b, n, "4096 v2 local");
    /* a high length byte that alone is too big: refused at it */
    n = v2(b, 0x21, 0x11, 0x1000, body, 12);
    check_bad(b, n, -EMSGSIZE, 15);
    n = v2(b, 0x21, 0x11, 0xffff, body, 12);
    check_bad(b, n, -EMSGSIZE, 15);
    assert_string_equal(zg_pp_strerror(-EMSGSIZE),
                        "PROXY protocol v2 header longer than 4096 bytes");
}

/* The most TLVs a header can hold, one byte per view: the walk over the
 * views stays correct (and linear: this would take long otherwise). */
static void test_v2_many_tlvs(void **state)
{
    static unsigned char b[ZG_PP_MAX_LEN], body[ZG_PP_MAX_LEN];
    size_t len = 12 + 3 * 1356, n;
    char got[256], want[128];

    (void)state;
    memset(body, 0, sizeof(body));
    memcpy(body, a4, 12);
    for (size_t i = 12; i < len; i += 3)
        body[i] = (unsigned char)i; /* type; empty value */
    n = v2(b, 0x21, 0x11, len, body, len);
    snprintf(want, sizeof(want),
             "%zu v2 stream 192.0.2.1:56324 > 198.51.100.2:443 tlv 28+%zu", n,
             len - 12);
    run_bytewise(b, n, got, sizeof(got));
    assert_string_equal(got, want);
    for (size_t k = 0; k < n; k += 97) {
        run_bytewise(b, k, got, sizeof(got));
        assert_string_equal(got, "0");
    }
    /* the last TLV's length one too long */
    b[n - 1] = 1;
    run_bytewise(b, n, got, sizeof(got));
    assert_string_equal(got, "-22");
}

/* ---- neither ---- */

static void test_garbage(void **state)
{
    static const struct {
        const char *raw;
        size_t len, at;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, 1},
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, 1},
        {"SSH-2.0-OpenSSH_9.6\r\n", 21, 1},
        {"\r\nGET / HTTP/1.1\r\n", 18, 3},
        {"\r\n\r\nGET / HTTP/1.1\r\n", 20, 5},
        {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, 3},
        {"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", 31, 6},
        {"\0\0\0\0", 4, 1},
        {" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 33, 1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_bad(cases[i].raw, cases[i].len, -EINVAL, cases[i].at);
}

/* Nothing yet, or only empty views: ask for more. */
static void test_empty(void **state)
{
    zg_view_t v[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    zg_input_t in = {v, 0, 0, 0};
    zg_pp_result_t r;

    (void)state;
    assert_int_equal(zg_pp_parse(&in, &r), 0);
    in.nviews = 3;
    assert_int_equal(zg_pp_parse(&in, &r), 0);
    in.flags = ZG_IN_EOF;
    assert_int_equal(zg_pp_parse(&in, &r), 0);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(zg_pp_strerror(-EINVAL),
                        "malformed PROXY protocol header");
    assert_string_equal(zg_pp_strerror(-EPROTONOSUPPORT),
                        "unsupported PROXY protocol version, command or "
                        "family");
    assert_non_null(zg_pp_strerror(-ENOMEM));
    assert_non_null(zg_pp_strerror(0));
}

static int group_setup(void **state)
{
    (void)state;
    guard_setup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_valid),
        cmocka_unit_test(test_v1_malformed),
        cmocka_unit_test(test_v1_too_long),
        cmocka_unit_test(test_v1_addresses_match_inet_pton),
        cmocka_unit_test(test_v2_valid),
        cmocka_unit_test(test_v2_malformed),
        cmocka_unit_test(test_v2_size_cap),
        cmocka_unit_test(test_v2_many_tlvs),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
