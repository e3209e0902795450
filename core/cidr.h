/* SPDX-License-Identifier: MIT */
/*
 * Description: reading and printing networks (zg_cidr_t, declared with its
 * matcher zg_cidr_match in zerg/plugin.h) for access rules, connection
 * limits and trusted proxies, in the config and in zerg -T and log lines.
 * Pure functions: no state, any thread.
 */
#ifndef ZG_CIDR_H
#define ZG_CIDR_H

#include <stddef.h>

#include "zerg/plugin.h"

/* Room zg_cidr_format needs for any network, the NUL included: an
 * INET6_ADDRSTRLEN address and "/128". */
#define ZG_CIDR_STRLEN 50

/*
 * Parse s into *out. Accepted, exactly (no spaces, no sign, no leading
 * zero in a prefix length; IPv4 in dotted-quad form only):
 *     all                 every address of every family (family 0)
 *     10.1.2.3  ::1       one address: /32, /128
 *     10.0.0.0/8  2001:db8::/32  ::ffff:10.0.0.0/104
 * The address must have no bits set past the prefix ("10.0.0.1/8" is
 * refused with a suggestion rather than silently widened: it is usually a
 * typo for a host, or for another prefix). An IPv4-mapped network is kept
 * as written and matches IPv4 peers (see zg_cidr_match).
 * Returns 0, or -EINVAL with a one-line reason naming the text in err
 * ("\"10.0.0.0/33\": prefix over 32"). *out is written only on success.
 * err may be NULL (errlen 0); a long reason is cut to errlen - 1 bytes.
 * s is only read during the call.
 */
int zg_cidr_parse(const char *s, zg_cidr_t *out, char *err, size_t errlen);

/*
 * Print n into buf as zg_cidr_parse reads it back: "all", or address/bits
 * (always with the prefix length: "10.0.0.1/32", "2001:db8::/32").
 * Returns the length written (without the NUL), -ENOSPC if buf (len
 * bytes) is too small (ZG_CIDR_STRLEN always suffices; buf is then "" if
 * len > 0), or -EINVAL if n has an unknown family or a prefix too long for
 * its family.
 */
int zg_cidr_format(const zg_cidr_t *n, char *buf, size_t len);

#endif /* ZG_CIDR_H */
