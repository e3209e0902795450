/* SPDX-License-Identifier: MIT */
/*
 * Description: open connections per client address, one table shared by
 * all reactor threads of a listener, for the limit_conn module: admit a
 * connection only while its address has fewer than a limit open.
 *
 * Counts are exact: an address is compared whole, never by hash alone, so
 * a collision costs a longer chain, never a wrong answer. An address has an
 * entry only while it has a connection open; entries come from a fixed
 * array sized at creation and return to it at zero, so memory never grows
 * with the number of clients ever seen. Addresses are bucketed by a keyed
 * hash (SipHash-2-4, random key per table) so clients cannot pile into
 * one chain on purpose.
 *
 * An address is the IP address alone: the port and an IPv6 scope id are
 * ignored, and an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4
 * address a.b.c.d, so a client counts once whichever socket it came in on.
 */
#ifndef ZG_LIMIT_CONN_TABLE_H
#define ZG_LIMIT_CONN_TABLE_H

#include <stdint.h>
#include <sys/socket.h>

typedef struct zg_lc_table_s zg_lc_table_t;

/* Largest capacity zg_lc_create takes (memory: about 40 bytes each). */
#define ZG_LC_MAX_CAPACITY (1u << 25)

/*
 * Create a table for at most capacity addresses with a connection open at
 * once, 1..ZG_LC_MAX_CAPACITY: pass the most connections that can be open
 * together on the listener (its max_connections), and the table can never
 * fill. All memory is allocated here. Returns 0 and the table in *out,
 * -EINVAL for a capacity out of range, or -ENOMEM. Any thread, but before
 * the table is shared; the caller owns it until zg_lc_destroy.
 */
int zg_lc_create(uint32_t capacity, zg_lc_table_t **out);

/* Free t (NULL is fine). No other call on t may be running or follow. */
void zg_lc_destroy(zg_lc_table_t *t);

/*
 * Count one more connection from sa's address if it has fewer than limit
 * open now. Returns 1 (admitted and counted: call zg_lc_release once when
 * the connection closes), 0 (limit reached, or limit is 0: not counted),
 * -ENOSPC (the address has none open and capacity addresses already do:
 * not counted; only if the caller opened more connections than the
 * capacity it promised), or -EAFNOSUPPORT (sa is neither AF_INET nor
 * AF_INET6: not counted). sa is only read during the call.
 * Any thread, concurrently with every call but zg_lc_destroy: one bucket
 * spinlock, held for a short chain walk, and no allocation.
 */
int zg_lc_acquire(zg_lc_table_t *t, const struct sockaddr *sa, uint32_t limit);

/*
 * Undo one admitted zg_lc_acquire for sa's address (the same address, in
 * either spelling). When its count reaches 0 the entry is free for any
 * address again before this returns, so release before the connection
 * stops counting toward the capacity. Releasing an address with nothing
 * open is a caller bug and does nothing. Any thread, like zg_lc_acquire.
 */
void zg_lc_release(zg_lc_table_t *t, const struct sockaddr *sa);

/* The connections sa's address has open now (0 for other families): for
 * statistics and tests. Any thread, like zg_lc_acquire. */
uint32_t zg_lc_count(zg_lc_table_t *t, const struct sockaddr *sa);

#endif /* ZG_LIMIT_CONN_TABLE_H */
