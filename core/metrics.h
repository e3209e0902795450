/* SPDX-License-Identifier: MIT */
/*
 * Description: the server's metrics as text (api->metrics; metrics.c).
 */
#ifndef ZG_METRICS_H
#define ZG_METRICS_H

#include <stddef.h>

/* Note the start time (zerg_start_time_seconds). Main thread. */
void zg_metrics_started(void);

/* format 0: Prometheus text; 1: status page. snprintf-style result. Any
 * thread. */
size_t zg_metrics_text(int format, char *buf, size_t len);

#endif /* ZG_METRICS_H */
