/* SPDX-License-Identifier: MIT */
/*
 * Description: the PROXY protocol header parser (see parse.h). v1 is read
 * from a flat copy of its at most 107 bytes, v2 from a copy of its fixed
 * part and addresses plus a forward walk over the TLVs in the views. Both
 * decide after every byte whether a valid header can still follow, so
 * 0 ("need more") is exact.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "parse.h"

/* ---- version 1 ---- */

/* How a v1 field parser ends: the field is complete (the position is at
 * its delimiter), the input ran out, or the byte at the position is
 * wrong. */
#define PP_DONE 1
#define PP_MORE 0

/*
 * A dotted quad: exactly 4 decimal numbers 0..255 without leading zeros,
 * ended by delim. On PP_MORE, *need is the fewest bytes that complete it.
 */
static int pp_ip4(const unsigned char *b, size_t n, size_t *pos,
                  unsigned char delim, uint8_t a[4], size_t *need)
{
    unsigned dots = 0, digits = 0, val = 0;

    for (size_t i = *pos; i < n; i++) {
        unsigned char c = b[i];

        if (c >= '0' && c <= '9') {
            if (digits == 1 && val == 0)
                return -EINVAL; /* a leading zero */
            val = val * 10 + (unsigned)(c - '0');
            if (val > 255)
                return -EINVAL;
            digits++;
        } else if (c == '.' && digits > 0 && dots < 3) {
            a[dots++] = (uint8_t)val;
            val = 0;
            digits = 0;
        } else if (c == delim && digits > 0 && dots == 3) {
            a[3] = (uint8_t)val;
            *pos = i;
            return PP_DONE;
        } else {
            return -EINVAL;
        }
    }
    *pos = n;
    *need = (digits == 0 ? 1 : 0) + (3 - dots) * 2;
    return PP_MORE;
}

static int pp_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* What an IPv6 text ended with so far. */
enum {
    PP6_START, /* nothing */
    PP6_HEX,   /* a hex digit */
    PP6_COLON, /* a colon after a group */
    PP6_LEAD,  /* a colon at the very start (must become "::") */
    PP6_DCOLON /* "::" */
};

/*
 * IPv6 text (RFC 4291 2.2): groups of 1-4 hex digits separated by colons,
 * at most one "::" standing for one or more zero groups, optionally ending
 * in a dotted quad for the last 32 bits; ended by delim. Every byte is
 * checked against what can still follow (group count included), so
 * PP_MORE means a valid address can still be made of it; *need is then
 * the fewest bytes that complete it.
 */
static int pp_ip6(const unsigned char *b, size_t n, size_t *pos,
                  unsigned char delim, uint8_t a[16], size_t *need)
{
    uint16_t g[8];
    unsigned ng = 0, gap = 8, nd = 0, val = 0, last = PP6_START;
    unsigned dval = 0, dbad = 0;               /* the group read as decimal */
    unsigned v4 = 0, dots = 0, od = 0, ov = 0; /* in the dotted quad */
    uint8_t q[4];
    unsigned maxg;

    for (size_t i = *pos; i < n; i++) {
        unsigned char c = b[i];
        int h = pp_hex(c);

        maxg = gap < 8 ? 7 : 8; /* "::" stands for at least one group */
        if (v4) {
            if (c >= '0' && c <= '9') {
                if (od == 1 && ov == 0)
                    return -EINVAL;
                ov = ov * 10 + (unsigned)(c - '0');
                if (ov > 255)
                    return -EINVAL;
                od++;
            } else if (c == '.' && od > 0 && dots < 3) {
                q[dots++] = (uint8_t)ov;
                ov = 0;
                od = 0;
            } else if (c == delim && od > 0 && dots == 3) {
                q[3] = (uint8_t)ov;
                g[ng++] = (uint16_t)(q[0] << 8 | q[1]);
                g[ng++] = (uint16_t)(q[2] << 8 | q[3]);
                *pos = i;
                goto done;
            } else {
                return -EINVAL;
            }
        } else if (h >= 0) {
            if (last == PP6_LEAD)
                return -EINVAL;
            if (nd == 0) {
                if (ng + 1 > maxg)
                    return -EINVAL;
                val = 0;
                dval = 0;
                dbad = 0;
            }
            if (nd == 4)
                return -EINVAL;
            if (h > 9 || (nd == 1 && dval == 0))
                dbad = 1;
            dval = dval * 10 + (unsigned)h;
            if (dval > 255)
                dbad = 1;
            val = val << 4 | (unsigned)h;
            nd++;
            last = PP6_HEX;
        } else if (c == ':') {
            if (last == PP6_START) {
                last = PP6_LEAD;
            } else if (last == PP6_HEX) {
                g[ng++] = (uint16_t)val;
                nd = 0;
                /* room for the group (or "::") that must follow */
                if (ng + 1 > maxg)
                    return -EINVAL;
                last = PP6_COLON;
            } else if ((last == PP6_COLON || last == PP6_LEAD) && gap == 8) {
                gap = ng;
                last = PP6_DCOLON;
            } else {
                return -EINVAL;
            }
        } else if (c == '.') {
            /* the group just read was the first number of a dotted quad,
             * which takes the last two groups */
            if (last != PP6_HEX || dbad || (gap < 8 ? ng + 2 > 7 : ng != 6))
                return -EINVAL;
            q[0] = (uint8_t)dval;
            dots = 1;
            od = 0;
            ov = 0;
            v4 = 1;
        } else if (c == delim) {
            if (last == PP6_HEX) {
                g[ng++] = (uint16_t)val;
            } else if (last != PP6_DCOLON) {
                return -EINVAL;
            }
            if (gap == 8 && ng != 8)
                return -EINVAL;
            *pos = i;
            goto done;
        } else {
            return -EINVAL;
        }
    }
    *pos = n;
    if (v4)
        *need = (od == 0 ? 1 : 0) + (3 - dots) * 2;
    else if (last == PP6_START)
        *need = 2; /* "::" */
    else if (last == PP6_LEAD || last == PP6_COLON)
        *need = 1;
    else if (last == PP6_HEX && gap == 8 && ng + 1 < 8)
        *need = 2; /* "::" */
    else
        *need = 0;
    return PP_MORE;

done:
    /* Expand: groups before the gap, zeros, groups after it. */
    memset(a, 0, 16);
    for (unsigned k = 0; k < ng; k++) {
        unsigned at = gap < 8 && k >= gap ? 8 - ng + k : k;

        a[2 * at] = (uint8_t)(g[k] >> 8);
        a[2 * at + 1] = (uint8_t)g[k];
    }
    return PP_DONE;
}

/* A port: 0..65535 in decimal without leading zeros, ended by delim. */
static int pp_port(const unsigned char *b, size_t n, size_t *pos,
                   unsigned char delim, uint16_t *port, size_t *need)
{
    unsigned digits = 0, val = 0;

    for (size_t i = *pos; i < n; i++) {
        unsigned char c = b[i];

        if (c >= '0' && c <= '9') {
            if (digits == 1 && val == 0)
                return -EINVAL;
            val = val * 10 + (unsigned)(c - '0');
            if (val > 65535)
                return -EINVAL;
            digits++;
        } else if (c == delim && digits > 0) {
            *port = (uint16_t)val;
            *pos = i;
            return PP_DONE;
        } else {
            return -EINVAL;
        }
    }
    *pos = n;
    *need = digits == 0 ? 1 : 0;
    return PP_MORE;
}

/* Match the literal s at b[*pos]: PP_DONE past it, PP_MORE if the input
 * ends inside it, -EINVAL at the first differing byte. */
static int pp_lit(const unsigned char *b, size_t n, size_t *pos, const char *s)
{
    size_t i = *pos;

    for (; *s != '\0'; s++, i++) {
        if (i == n)
            return PP_MORE;
        if (b[i] != (unsigned char)*s)
            return -EINVAL;
    }
    *pos = i;
    return PP_DONE;
}

/* Fewest bytes after the end of each field up to the end of the header:
 * " 0 0\r\n" after the destination address, " 0\r\n" after the source
 * port, "\r\n" after the destination port. */
#define PP_TAIL_DST   6
#define PP_TAIL_SPORT 4
#define PP_TAIL_DPORT 2

static void pp_sin(struct sockaddr_storage *ss, socklen_t *len,
                   const uint8_t *addr, const void *port_be)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;

    memset(ss, 0, sizeof(*ss));
    sin->sin_family = AF_INET;
    memcpy(&sin->sin_port, port_be, 2);
    memcpy(&sin->sin_addr, addr, 4);
    *len = sizeof(*sin);
}

static void pp_sin6(struct sockaddr_storage *ss, socklen_t *len,
                    const uint8_t *addr, const void *port_be)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    sin6->sin6_family = AF_INET6;
    memcpy(&sin6->sin6_port, port_be, 2);
    memcpy(&sin6->sin6_addr, addr, 16);
    *len = sizeof(*sin6);
}

/*
 * "PROXY " ("TCP4" | "TCP6") " " src " " dst " " sport " " dport "\r\n",
 * or "PROXY UNKNOWN" followed by anything but CR and LF up to "\r\n"; at
 * most 107 bytes. A field parser that runs out of input reports the fewest
 * bytes that complete its field; if that and the fewest for the fields
 * after it no longer fit in 107 bytes, no valid header can follow.
 */
static long pp_v1(const zg_input_t *in, zg_pp_result_t *out)
{
    unsigned char b[ZG_PP_V1_MAX_LEN];
    size_t n = zg_input_copy(in, 0, b, sizeof(b)), i = 0, need = 0;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    unsigned six;
    int rc;
    int (*ip)(const unsigned char *, size_t, size_t *, unsigned char, uint8_t *,
              size_t *);
    zg_pp_result_t r;

    rc = pp_lit(b, n, &i, "PROXY ");
    if (rc <= 0)
        return rc;
    if (i < n && b[i] == 'U') {
        rc = pp_lit(b, n, &i, "UNKNOWN");
        if (rc <= 0)
            return rc;
        /* The rest of the line is ignored, but it is still a line. */
        if (i < n && b[i] == ' ') {
            while (++i < n && b[i] != '\r') {
                if (b[i] == '\n')
                    return -EINVAL;
            }
        }
        if (i == n)
            return n + 2 <= sizeof(b) ? 0 : -EINVAL;
        if (b[i] != '\r')
            return -EINVAL;
        if (++i == n)
            return n + 1 <= sizeof(b) ? 0 : -EINVAL;
        if (b[i] != '\n')
            return -EINVAL;
        memset(&r, 0, sizeof(r));
        r.version = 1;
        r.local = 1;
        *out = r;
        return (long)(i + 1);
    }
    rc = pp_lit(b, n, &i, "TCP");
    if (rc <= 0)
        return rc;
    if (i == n)
        return 0;
    if (b[i] != '4' && b[i] != '6')
        return -EINVAL;
    six = b[i++] == '6';
    ip = six ? pp_ip6 : pp_ip4;
    rc = pp_lit(b, n, &i, " ");
    if (rc <= 0)
        return rc;

    rc = ip(b, n, &i, ' ', src, &need);
    if (rc < 0)
        return rc;
    if (rc == PP_MORE) {
        /* then " " and the shortest destination, "::" or "0.0.0.0" */
        need += 1 + (six ? 2u : 7u) + PP_TAIL_DST;
        goto more;
    }
    i++;
    rc = ip(b, n, &i, ' ', dst, &need);
    if (rc < 0)
        return rc;
    if (rc == PP_MORE) {
        need += PP_TAIL_DST;
        goto more;
    }
    i++;
    rc = pp_port(b, n, &i, ' ', &sport, &need);
    if (rc < 0)
        return rc;
    if (rc == PP_MORE) {
        need += PP_TAIL_SPORT;
        goto more;
    }
    i++;
    rc = pp_port(b, n, &i, '\r', &dport, &need);
    if (rc < 0)
        return rc;
    if (rc == PP_MORE) {
        need += PP_TAIL_DPORT;
        goto more;
    }
    if (++i == n) {
        need = 1;
        goto more;
    }
    if (b[i] != '\n')
        return -EINVAL;

    memset(&r, 0, sizeof(r));
    r.version = 1;
    r.proto = SOCK_STREAM;
    sport = htons(sport);
    dport = htons(dport);
    if (six) {
        pp_sin6(&r.src, &r.src_len, src, &sport);
        pp_sin6(&r.dst, &r.dst_len, dst, &dport);
    } else {
        pp_sin(&r.src, &r.src_len, src, &sport);
        pp_sin(&r.dst, &r.dst_len, dst, &dport);
    }
    *out = r;
    return (long)(i + 1);

more:
    return n + need <= sizeof(b) ? 0 : -EINVAL;
}

/* ---- version 2 ---- */

#define PP2_FIXED     16  /* signature, ver_cmd, fam, 2-byte length */
#define PP2_ADDR_UNIX 216 /* the largest address block */

static const unsigned char pp2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                          0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A forward-only reader over the views: offsets asked for never
 * decrease, so a walk over the whole input costs O(bytes + nviews). */
typedef struct pp_cur_s {
    const zg_input_t *in;
    unsigned v;  /* the view holding the last offset asked for */
    size_t base; /* the offset of views[v]'s first byte */
} pp_cur_t;

/* The byte at off; off < in->total and not below the previous call's. */
static unsigned char pp_at(pp_cur_t *c, size_t off)
{
    while (off - c->base >= c->in->views[c->v].len) {
        c->base += c->in->views[c->v].len;
        c->v++;
    }
    return c->in->views[c->v].data[off - c->base];
}

/*
 * Walk the TLVs in [off, end): each needs its 3-byte head and a value that
 * ends by end, and they must fill the area exactly. Returns PP_DONE when
 * all of it is present, PP_MORE, or -EINVAL as soon as the lengths seen
 * cannot fill the area: a value past end, or 1 or 2 bytes left over.
 */
static int pp_tlvs(const zg_input_t *in, size_t off, size_t end)
{
    size_t avail = in->total < end ? in->total : end;
    pp_cur_t c = {in, 0, 0};

    while (off < end) {
        size_t room = end - off, vlen;

        if (room < 3)
            return -EINVAL;
        if (off + 1 >= avail)
            return PP_MORE;
        vlen = (size_t)pp_at(&c, off + 1) << 8;
        if (vlen > room - 3)
            return -EINVAL;
        if (off + 2 >= avail)
            return PP_MORE;
        vlen |= pp_at(&c, off + 2);
        if (vlen > room - 3)
            return -EINVAL;
        off += 3 + vlen;
    }
    return in->total >= end ? PP_DONE : PP_MORE;
}

static long pp_v2(const zg_input_t *in, zg_pp_result_t *out)
{
    unsigned char b[PP2_FIXED + PP2_ADDR_UNIX];
    size_t n = zg_input_copy(in, 0, b, sizeof(b)), end, alen = 0;
    unsigned cmd, fam = 0;
    zg_pp_result_t r;
    int rc;

    for (size_t i = 0; i < sizeof(pp2_sig); i++) {
        if (i == n)
            return 0;
        if (b[i] != pp2_sig[i])
            return -EINVAL;
    }
    if (n == 12)
        return 0;
    cmd = b[12] & 0x0f;
    if ((b[12] >> 4) != 2 || cmd > 1)
        return -EPROTONOSUPPORT;
    if (n == 13)
        return 0;
    /* LOCAL: "the family is ignored", along with everything after it. */
    if (cmd == 1) {
        fam = b[13];
        switch (fam) {
        case 0x00: /* UNSPEC */
            break;
        case 0x11: /* TCP over IPv4 */
        case 0x12: /* UDP over IPv4 */
            alen = 12;
            break;
        case 0x21: /* TCP over IPv6 */
        case 0x22: /* UDP over IPv6 */
            alen = 36;
            break;
        case 0x31: /* UNIX stream */
        case 0x32: /* UNIX datagram */
            alen = PP2_ADDR_UNIX;
            break;
        default:
            return -EPROTONOSUPPORT;
        }
    }
    if (n == 14)
        return 0;
    if (PP2_FIXED + ((size_t)b[14] << 8) > ZG_PP_V2_MAX_LEN)
        return -EMSGSIZE;
    if (n == 15)
        return 0;
    end = PP2_FIXED + ((size_t)b[14] << 8 | b[15]);
    if (end > ZG_PP_V2_MAX_LEN)
        return -EMSGSIZE;

    memset(&r, 0, sizeof(r));
    r.version = 2;
    if (cmd == 0 || fam == 0x00) {
        /* LOCAL, or PROXY with no address: nothing after the fixed part
         * has a defined layout, so it is skipped unread. */
        if (in->total < end)
            return 0;
        r.local = 1;
        *out = r;
        return (long)end;
    }
    if (end < PP2_FIXED + alen)
        return -EINVAL;
    rc = pp_tlvs(in, PP2_FIXED + alen, end);
    if (rc <= 0)
        return rc;

    /* Complete: n >= PP2_FIXED + alen since end is, and the TLVs too. */
    r.proto = (fam & 0x0f) == 1 ? SOCK_STREAM : SOCK_DGRAM;
    r.tlv_off = (uint16_t)(PP2_FIXED + alen);
    r.tlv_len = (uint16_t)(end - PP2_FIXED - alen);
    if (fam >> 4 == 1) {
        pp_sin(&r.src, &r.src_len, b + 16, b + 24);
        pp_sin(&r.dst, &r.dst_len, b + 20, b + 26);
    } else if (fam >> 4 == 2) {
        pp_sin6(&r.src, &r.src_len, b + 16, b + 48);
        pp_sin6(&r.dst, &r.dst_len, b + 32, b + 50);
    } else {
        r.local = 1; /* UNIX: the sender's paths mean nothing here */
    }
    *out = r;
    return (long)end;
}

/* ---- entry points ---- */

#define PP_STR(x)  #x
#define PP_XSTR(x) PP_STR(x)

long zg_pp_parse(const zg_input_t *in, zg_pp_result_t *out)
{
    unsigned char first;

    if (zg_input_copy(in, 0, &first, 1) == 0)
        return 0;
    if (first == 'P')
        return pp_v1(in, out);
    if (first == pp2_sig[0])
        return pp_v2(in, out);
    return -EINVAL;
}

const char *zg_pp_strerror(long rc)
{
    switch (rc) {
    case -EINVAL:
        return "malformed PROXY protocol header";
    case -EPROTONOSUPPORT:
        return "unsupported PROXY protocol version, command or family";
    case -EMSGSIZE:
        return "PROXY protocol v2 header longer than " PP_XSTR(
            ZG_PP_V2_MAX_LEN) " bytes";
    default:
        return "PROXY protocol header refused";
    }
}
