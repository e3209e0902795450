/* SPDX-License-Identifier: MIT */
/*
 * Description: io_uring constants newer than the liburing we build against
 * (Debian 12 ships 2.3). Each is guarded so a newer liburing wins; whether
 * the running kernel supports a feature is probed at run time, never
 * assumed from these definitions.
 */
#ifndef ZG_COMPAT_H
#define ZG_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <liburing.h>

#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_TASKRUN_FLAG
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
/* Recv bundles (6.10): one CQE covers several provided buffers. */
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
/* Incrementally consumed provided buffers (6.12). */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

/* The 16-bit flags of struct io_uring_buf_reg follow bgid; liburing 2.3
 * calls that field "pad", newer versions "flags". */
static inline void zg_buf_reg_set_flags(struct io_uring_buf_reg *reg,
                                        uint16_t flags)
{
    memcpy((char *)reg + offsetof(struct io_uring_buf_reg, bgid) +
               sizeof(reg->bgid),
           &flags, sizeof(flags));
}

#endif /* ZG_COMPAT_H */
