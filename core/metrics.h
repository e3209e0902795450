/* SPDX-License-Identifier: MIT */
/*
 * Description: the server's metrics as text (api->metrics; metrics.c).
 */
#ifndef ZG_METRICS_H
#define ZG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* One listener's counters, summed. */
typedef struct zg_lsum_s {
    uint64_t closed[8];
    uint64_t refused_mod[ZG_MAX_MODULES];
    uint64_t refused_full, bytes_in, bytes_out, requests, errors;
    uint64_t accepted, rejected;
    int64_t active;
} zg_lsum_t;

/* Add listener slot l's own counters (every reactor's, and what retired
 * slots passed on to it) to *s. Refusals by module are filed under the
 * module of the same name in to's chain (to NULL: l's own chain): a
 * reload may change the chain. Any thread; a value may be a moment stale,
 * never torn. */
void zg_lsum_own(zg_engine_t *e, uint32_t l, const zg_listener_t *to,
                 zg_lsum_t *s);

/* Note the start time (zerg_start_time_seconds). Main thread. */
void zg_metrics_started(void);

/* format 0: Prometheus text; 1: status page. snprintf-style result. Any
 * thread. */
size_t zg_metrics_text(int format, char *buf, size_t len);

#endif /* ZG_METRICS_H */
