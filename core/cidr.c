/* SPDX-License-Identifier: MIT */
/*
 * Description: parsing and printing networks (see cidr.h). The address
 * part is left to inet_pton, which is strict on both glibc and musl (four
 * decimal octets, no leading zeros, no spaces); the prefix length is read
 * here, as strictly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"

/* How much of the input an error message quotes. */
#define ZG_CIDR_QUOTE_MAX 64

/* Write s into q as a double-quoted C-like string, at most
 * ZG_CIDR_QUOTE_MAX bytes of it, so that whatever the input holds the
 * reason stays one printable line. q needs ZG_CIDR_QUOTE_MAX * 4 + 6. */
static void zg_cidr_quote(const char *s, char *q)
{
    size_t i;

    *q++ = '"';
    for (i = 0; s[i] != '\0' && i < ZG_CIDR_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            *q++ = '\\';
            *q++ = (char)c;
        } else if (c < 0x20 || c > 0x7e) {
            q += sprintf(q, "\\x%02x", c);
        } else {
            *q++ = (char)c;
        }
    }
    if (s[i] != '\0') {
        memcpy(q, "...", 3);
        q += 3;
    }
    *q++ = '"';
    *q = '\0';
}

__attribute__((format(printf, 4, 5))) static int
zg_cidr_fail(char *err, size_t errlen, const char *s, const char *fmt, ...)
{
    char q[ZG_CIDR_QUOTE_MAX * 4 + 6], why[128];
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        zg_cidr_quote(s, q);
        snprintf(err, errlen, "%s: %s", q, why);
    }
    return -EINVAL;
}

/* Clear the bits of n->addr past n->bits; 1 if any was set. */
static int zg_cidr_clear_host_bits(zg_cidr_t *n, unsigned addrlen)
{
    int set = 0;

    for (unsigned i = 0; i < addrlen; i++) {
        unsigned keep = n->bits > 8 * i ? n->bits - 8 * i : 0;
        uint8_t mask = (uint8_t)(0xff00u >> (keep < 8 ? keep : 8));

        set |= (n->addr[i] & ~mask) != 0;
        n->addr[i] &= mask;
    }
    return set;
}

int zg_cidr_parse(const char *s, zg_cidr_t *out, char *err, size_t errlen)
{
    char a[INET6_ADDRSTRLEN];
    const char *slash, *p;
    size_t alen;
    unsigned max, bits;
    zg_cidr_t n;

    if (s == NULL)
        return zg_cidr_fail(err, errlen, "", "no address");
    memset(&n, 0, sizeof(n));
    if (strcmp(s, "all") == 0) {
        *out = n;
        return 0;
    }
    slash = strchr(s, '/');
    alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(a))
        goto not_an_address;
    memcpy(a, s, alen);
    a[alen] = '\0';
    if (inet_pton(AF_INET, a, n.addr) == 1) {
        n.family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, a, n.addr) == 1) {
        n.family = AF_INET6;
        max = 128;
    } else {
        goto not_an_address;
    }

    bits = max;
    if (slash != NULL) {
        p = slash + 1;
        if (*p == '\0')
            return zg_cidr_fail(err, errlen, s, "missing prefix length");
        if (strspn(p, "0123456789") != strlen(p))
            return zg_cidr_fail(err, errlen, s,
                                "prefix length is not a number from 0 to %u",
                                max);
        if (p[0] == '0' && p[1] != '\0')
            return zg_cidr_fail(err, errlen, s,
                                "leading zero in prefix length");
        /* Stop at the first digit past max: no overflow on long input. */
        for (bits = 0; *p != '\0' && bits <= max; p++)
            bits = bits * 10 + (unsigned)(*p - '0');
        if (bits > max)
            return zg_cidr_fail(err, errlen, s, "prefix over %u", max);
    }
    n.bits = (uint8_t)bits;

    if (zg_cidr_clear_host_bits(&n, max / 8)) {
        char hint[ZG_CIDR_STRLEN];

        zg_cidr_format(&n, hint, sizeof(hint));
        return zg_cidr_fail(err, errlen, s,
                            "host bits are set (did you mean %s?)", hint);
    }
    *out = n;
    return 0;

not_an_address:
    return zg_cidr_fail(err, errlen, s, "not an IPv4 or IPv6 address");
}

int zg_cidr_format(const zg_cidr_t *n, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    int r;

    if (n->family == 0) {
        r = snprintf(buf, len, "all");
    } else if ((n->family == AF_INET && n->bits <= 32) ||
               (n->family == AF_INET6 && n->bits <= 128)) {
        if (inet_ntop(n->family, n->addr, a, sizeof(a)) == NULL)
            return -EINVAL;
        r = snprintf(buf, len, "%s/%u", a, (unsigned)n->bits);
    } else {
        return -EINVAL;
    }
    if (r < 0 || (size_t)r >= len) {
        if (len > 0)
            buf[0] = '\0';
        return -ENOSPC;
    }
    return r;
}
