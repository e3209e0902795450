/* SPDX-License-Identifier: MIT */
/*
 * Description: writing a PROXY protocol v2 header (see pp2.h).
 */
#include <netinet/in.h>
#include <string.h>

#include "pp2.h"

/* "\r\n\r\n\0\r\nQUIT\n" */
static const unsigned char zg_proxy_pp2_sig[12] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define ZG_PP2_LOCAL  0x20 /* version 2, LOCAL */
#define ZG_PP2_PROXY  0x21 /* version 2, PROXY */
#define ZG_PP2_TCP4   0x11
#define ZG_PP2_TCP6   0x21
#define ZG_PP2_UNSPEC 0x00

/* An address as 16 IPv6 bytes (IPv4 mapped) and its port (network order);
 * returns 4 or 6 for the family it really is, 0 for another family. */
static int zg_proxy_pp2_addr(const struct sockaddr *sa, unsigned char *a16,
                             unsigned char *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        memset(a16, 0, 10);
        a16[10] = a16[11] = 0xff;
        memcpy(a16 + 12, &in->sin_addr, 4);
        memcpy(port, &in->sin_port, 2);
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                                 0, 0, 0, 0, 0xff, 0xff};

        memcpy(a16, &in6->sin6_addr, 16);
        memcpy(port, &in6->sin6_port, 2);
        return memcmp(a16, mapped, 12) == 0 ? 4 : 6;
    }
    return 0;
}

size_t zg_proxy_pp2(unsigned char *buf, const struct sockaddr *src,
                    const struct sockaddr *dst)
{
    unsigned char s16[16], d16[16], sport[2], dport[2];
    int sf = zg_proxy_pp2_addr(src, s16, sport);
    int df = zg_proxy_pp2_addr(dst, d16, dport);
    unsigned char *p = buf + 16;

    memcpy(buf, zg_proxy_pp2_sig, sizeof(zg_proxy_pp2_sig));
    if (sf == 0 || df == 0) {
        buf[12] = ZG_PP2_LOCAL;
        buf[13] = ZG_PP2_UNSPEC;
        buf[14] = buf[15] = 0;
        return 16;
    }
    buf[12] = ZG_PP2_PROXY;
    if (sf == 4 && df == 4) {
        buf[13] = ZG_PP2_TCP4;
        memcpy(p, s16 + 12, 4);
        memcpy(p + 4, d16 + 12, 4);
        p += 8;
    } else {
        buf[13] = ZG_PP2_TCP6;
        memcpy(p, s16, 16);
        memcpy(p + 16, d16, 16);
        p += 32;
    }
    memcpy(p, sport, 2);
    memcpy(p + 2, dport, 2);
    p += 4;
    buf[14] = 0;
    buf[15] = (unsigned char)(p - buf - 16);
    return (size_t)(p - buf);
}
