/* SPDX-License-Identifier: MIT */
/*
 * Description: the PROXY protocol version 2 header (HAProxy's
 * proxy-protocol.txt, section 2.2) that the proxy plugin sends to an
 * upstream first, so that the upstream learns the client's address.
 */
#ifndef ZG_PROXY_PP2_H
#define ZG_PROXY_PP2_H

#include <stddef.h>
#include <sys/socket.h>

/* The longest header written: 16 fixed bytes and two IPv6 addresses with
 * their ports. */
#define ZG_PROXY_PP2_MAX (16 + 36)

/*
 * Write into buf (ZG_PROXY_PP2_MAX bytes) the header of a TCP connection
 * from src (the client) to dst (the address it reached) and return its
 * length: a PROXY command over TCP/IPv4 when both are IPv4 (an
 * IPv4-mapped IPv6 address counts as IPv4), over TCP/IPv6 otherwise (an
 * IPv4 address written as ::ffff:a.b.c.d), and a LOCAL command without
 * addresses when either is neither IPv4 nor IPv6. No TLVs. Any thread.
 */
size_t zg_proxy_pp2(unsigned char *buf, const struct sockaddr *src,
                    const struct sockaddr *dst);

#endif /* ZG_PROXY_PP2_H */
