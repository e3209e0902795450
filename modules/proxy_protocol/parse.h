/* SPDX-License-Identifier: MIT */
/*
 * Description: a parser for the PROXY protocol header (HAProxy's
 * proxy-protocol.txt, version 1 text and version 2 binary) that a load
 * balancer puts in front of a connection's first bytes to pass on the
 * client's address. Reads straight from the host's input views; no I/O,
 * no allocation, no state between calls.
 */
#ifndef ZG_PROXY_PROTOCOL_PARSE_H
#define ZG_PROXY_PROTOCOL_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <zerg/plugin.h>

/* The longest v1 header, CRLF included (fixed by the spec). */
#define ZG_PP_V1_MAX_LEN 107

/*
 * The longest v2 header accepted: the 16-byte fixed part plus at most 4080
 * bytes of addresses and TLVs. The protocol allows 16 + 65535, but the
 * parser keeps no state and reads the header again on every call, so its
 * work over a header that trickles in grows with the square of the length;
 * real senders stay well under 1 KiB. A longer header is refused
 * (-EMSGSIZE) as soon as its length field says so.
 */
#define ZG_PP_V2_MAX_LEN 4096

/* The most input a caller may have to hold before zg_pp_parse() decides. */
#define ZG_PP_MAX_LEN ZG_PP_V2_MAX_LEN

/* v2 TLV types (proxy-protocol.txt 2.2.x), for reading the TLV area. */
#define ZG_PP2_TYPE_ALPN      0x01
#define ZG_PP2_TYPE_AUTHORITY 0x02
#define ZG_PP2_TYPE_CRC32C    0x03
#define ZG_PP2_TYPE_NOOP      0x04
#define ZG_PP2_TYPE_UNIQUE_ID 0x05
#define ZG_PP2_TYPE_SSL       0x20
#define ZG_PP2_TYPE_NETNS     0x30

/* What a complete header says. */
typedef struct zg_pp_result_s {
    uint8_t version; /* 1 or 2 */
    /* 1: no address to use, keep the socket's own: v1 "UNKNOWN", v2 LOCAL
     * command, v2 AF_UNSPEC or AF_UNIX (whose paths mean nothing here). */
    uint8_t local;
    uint8_t proto; /* SOCK_STREAM, SOCK_DGRAM or 0 (v1 TCP4/TCP6: stream) */
    /* AF_INET or AF_INET6 addresses with their ports, as the kernel fills
     * a sockaddr (network byte order); zeroed when local. */
    struct sockaddr_storage src, dst;
    socklen_t src_len, dst_len; /* 0 when local */
    /* v2 PROXY command with an INET, INET6 or UNIX address: where the TLVs
     * lie, as offsets from the header's first byte; the area holds whole
     * TLVs (type, 2-byte big-endian length, value), unknown ones included.
     * 0 and 0 otherwise. The TLVs are checked for framing only: a CRC32C
     * TLV is not verified. */
    uint16_t tlv_off, tlv_len;
} zg_pp_result_t;

/*
 * Parse a PROXY protocol header at the start of in, version 1 or 2 (told
 * apart by the first byte).
 *
 * Returns the header's length in bytes (> 0, at most in->total, at most
 * ZG_PP_V1_MAX_LEN for v1 and ZG_PP_V2_MAX_LEN for v2) once it is complete:
 * the caller consumes exactly that many bytes, the rest is the
 * connection's own data. Returns 0 if the bytes seen so far are a strict
 * prefix of some valid header: call again with all the input accumulated
 * since (the caller holds at most ZG_PP_MAX_LEN bytes for this). Returns a
 * negative -errno as soon as no valid header can start with the bytes seen,
 * so that a client speaking another protocol is refused at its first byte
 * and a broken header at its first wrong byte, not after a timeout:
 *   -EINVAL           malformed (bad signature, syntax, address, port, a
 *                     length too short for the address family, a TLV that
 *                     runs past the header, no CRLF within 107 bytes)
 *   -EPROTONOSUPPORT  a v2 version other than 2, a command other than
 *                     LOCAL and PROXY, an undefined family/transport byte
 *   -EMSGSIZE         a v2 header longer than ZG_PP_V2_MAX_LEN
 * The outcome depends only on the bytes, never on how they are spread over
 * the views. *out is written only when the return is > 0.
 *
 * Reads at most the first ZG_PP_MAX_LEN bytes of in (in->total must be
 * the sum of the view lengths) and only during the call. Cost per call:
 * O(in->nviews + bytes of the header present). Any thread, re-entrant.
 */
long zg_pp_parse(const zg_input_t *in, zg_pp_result_t *out);

/* A one-line reason for a negative zg_pp_parse() return, for a log line:
 * a static string, never NULL. */
const char *zg_pp_strerror(long rc);

#endif /* ZG_PROXY_PROTOCOL_PARSE_H */
