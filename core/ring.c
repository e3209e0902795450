/* SPDX-License-Identifier: MIT */
/*
 * Description: what every thread's ring needs, below the engine: ring
 * setup with flag fallbacks and the probes behind its error lines and
 * zerg -V, the SQE/wait helpers, the accept preparations shared by the
 * acceptor and reactors, and the start handshake with the main thread.
 * Nothing here calls back into the engine or a reactor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"
#include "engine.h"
#include "log.h"

void zg_startsync_init(zg_startsync_t *s)
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->state = 0;
    s->err[0] = '\0';
}

void zg_startsync_post(zg_startsync_t *s, int state)
{
    pthread_mutex_lock(&s->mu);
    s->state = state;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int zg_startsync_wait(zg_startsync_t *s)
{
    int state;

    pthread_mutex_lock(&s->mu);
    while (s->state == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    state = s->state;
    pthread_mutex_unlock(&s->mu);
    return state < 0 ? state : 0;
}

static const char *zg_ring_flags_name(unsigned f)
{
    if (f & IORING_SETUP_SQPOLL)
        return "SQPOLL";
    if (f & IORING_SETUP_DEFER_TASKRUN)
        return "SINGLE_ISSUER|DEFER_TASKRUN";
    if (f & IORING_SETUP_COOP_TASKRUN)
        return "COOP_TASKRUN|TASKRUN_FLAG";
    return "no task-run flags";
}

int zg_ring_setup(struct io_uring *ring, uint32_t entries, int sqpoll,
                  int sq_cpu, uint32_t sq_idle_ms, const char *who,
                  unsigned *flags_out)
{
    static _Atomic int logged;
    unsigned tries[5];
    unsigned ntries = 0;
    int ret = -EINVAL, first = 0;

    if (sqpoll) {
        unsigned sq =
            IORING_SETUP_SQPOLL | (sq_cpu >= 0 ? IORING_SETUP_SQ_AFF : 0);

        tries[ntries++] = sq | IORING_SETUP_SINGLE_ISSUER;
        tries[ntries++] = sq;
    }
    tries[ntries++] = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    tries[ntries++] = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    tries[ntries++] = 0;

    for (unsigned i = 0; i < ntries; i++) {
        struct io_uring_params p;

        memset(&p, 0, sizeof(p));
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        if (tries[i] & IORING_SETUP_SQPOLL) {
            p.sq_thread_cpu = sq_cpu >= 0 ? (unsigned)sq_cpu : 0;
            p.sq_thread_idle = sq_idle_ms;
        }
        ret = io_uring_queue_init_params(entries, ring, &p);
        if (ret == 0) {
            if (i > 0 && atomic_exchange(&logged, 1) == 0)
                zg_log(ZG_LOG_WARN,
                       "%s: io_uring refused %s (%d: %s), using %s", who,
                       zg_ring_flags_name(tries[0]), -first, strerror(-first),
                       zg_ring_flags_name(tries[i]));
            *flags_out = p.flags;
            return 0;
        }
        if (i == 0)
            first = ret;
        /* Only a refused flag is worth another try. */
        if (ret != -EINVAL && ret != -EPERM)
            break;
        if (ret == -EPERM && !(tries[i] & IORING_SETUP_SQPOLL))
            break;
    }
    return ret;
}

const char *zg_ring_hint(int err)
{
    switch (-err) {
    case ENOSYS:
        return "; this kernel has no io_uring (Linux 6.1 or newer needed)";
    case EPERM:
        return "; io_uring is disabled: check sysctl kernel.io_uring_disabled "
               "(must be 0) and any seccomp policy of the container";
    case ENOMEM:
        return "; io_uring charges its rings to RLIMIT_MEMLOCK for users "
               "without CAP_IPC_LOCK: raise it (ulimit -l, LimitMEMLOCK=) or "
               "lower ring_entries";
    default:
        return "";
    }
}

size_t zg_ring_mem_bytes(uint32_t entries, uint32_t bufs)
{
    size_t page = 4096, sqes, rings, br;

    /* 64-byte SQEs; the CQ (4 x entries 16-byte CQEs), the SQ index array
     * and the ring header share a region; the buffer ring is 16 bytes an
     * entry. The kernel charges each region in whole pages. */
    sqes = (size_t)entries * 64;
    rings = (size_t)entries * 4 * 16 + (size_t)entries * 4 + 256;
    br = (size_t)bufs * 16;
    return (sqes + page - 1) / page * page + (rings + page - 1) / page * page +
           (br + page - 1) / page * page;
}

void zg_ring_memlock_hint(char *buf, size_t len, int err, uint32_t entries,
                          uint32_t bufs)
{
    struct rlimit rl;

    if (err != -ENOMEM || getrlimit(RLIMIT_MEMLOCK, &rl) != 0 ||
        rl.rlim_cur == RLIM_INFINITY) {
        snprintf(buf, len, "%s", zg_ring_hint(err));
        return;
    }
    snprintf(buf, len,
             "; io_uring charges its rings to the locked-memory limit of "
             "users without CAP_IPC_LOCK (RLIMIT_MEMLOCK, %llu KiB, shared "
             "by every process of the user): this reactor needs about %zu "
             "KiB (ring_entries x 132 bytes + buffer_ring_entries x 16 "
             "bytes, in whole pages); raise the limit (ulimit -l, "
             "LimitMEMLOCK= in the systemd unit) or lower ring_entries",
             (unsigned long long)rl.rlim_cur / 1024,
             zg_ring_mem_bytes(entries, bufs) / 1024);
}

int zg_uring_probe(char *err, size_t errlen)
{
    struct io_uring ring;
    struct rlimit rl;
    char buf[16] = "";
    FILE *f;
    int ret = io_uring_queue_init(2, &ring, 0);

    if (ret == 0) {
        io_uring_queue_exit(&ring);
        return 0;
    }
    f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
    if (f != NULL) {
        if (fgets(buf, sizeof(buf), f) == NULL)
            buf[0] = '\0';
        fclose(f);
    }
    if (ret == -ENOSYS) {
        snprintf(err, errlen,
                 "io_uring is not available: io_uring_setup() "
                 "failed (%d: %s); this kernel lacks io_uring "
                 "(CONFIG_IO_URING), Linux 6.1 or newer is needed, or a "
                 "seccomp policy answers ENOSYS",
                 -ret, strerror(-ret));
    } else if (ret == -EPERM && (buf[0] == '1' || buf[0] == '2')) {
        snprintf(err, errlen,
                 "io_uring is disabled: sysctl "
                 "kernel.io_uring_disabled=%c; run "
                 "\"sysctl -w kernel.io_uring_disabled=0\"%s",
                 buf[0],
                 buf[0] == '1' ? " or add this user to the group in "
                                 "kernel.io_uring_group"
                               : "");
    } else if (ret == -EPERM) {
        snprintf(err, errlen,
                 "io_uring is not available: io_uring_setup() "
                 "failed (%d: %s); a seccomp policy (container runtime?) "
                 "denies it: allow io_uring_setup, io_uring_enter and "
                 "io_uring_register",
                 -ret, strerror(-ret));
    } else if (ret == -ENOMEM && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
               rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (64u << 20)) {
        snprintf(err, errlen,
                 "io_uring is not available: io_uring_setup() "
                 "failed (%d: %s); RLIMIT_MEMLOCK is %llu KiB, and io_uring "
                 "charges its rings to it for users without CAP_IPC_LOCK: "
                 "raise it (ulimit -l unlimited, or LimitMEMLOCK=infinity in "
                 "the systemd unit)",
                 -ret, strerror(-ret), (unsigned long long)rl.rlim_cur / 1024);
    } else {
        snprintf(err, errlen,
                 "io_uring is not available: io_uring_setup() "
                 "failed (%d: %s)%s",
                 -ret, strerror(-ret), zg_ring_hint(ret));
    }
    return ret;
}

void zg_uring_features(char *buf, size_t len)
{
    struct io_uring_params p;
    struct io_uring ring;
    struct io_uring_probe *probe;
    struct io_uring_buf_reg reg;
    void *br;
    int defer, inc = 0, msg = 0, regfd = 0;
    size_t n = 0;

    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    defer = io_uring_queue_init_params(4, &ring, &p) == 0;
    if (!defer) {
        memset(&p, 0, sizeof(p));
        if (io_uring_queue_init_params(4, &ring, &p) < 0) {
            snprintf(buf, len, "io_uring: not available");
            return;
        }
    }
    probe = io_uring_get_probe_ring(&ring);
    if (probe != NULL) {
        msg = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
        io_uring_free_probe(probe);
    }
    regfd = io_uring_register_ring_fd(&ring) == 1;
    br = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
              -1, 0);
    if (br != MAP_FAILED) {
        memset(&reg, 0, sizeof(reg));
        reg.ring_addr = (unsigned long)br;
        reg.ring_entries = 8;
        reg.bgid = 7;
        zg_buf_reg_set_flags(&reg, IOU_PBUF_RING_INC);
        inc = io_uring_register_buf_ring(&ring, &reg, 0) == 0;
        if (inc)
            io_uring_unregister_buf_ring(&ring, 7);
        munmap(br, 4096);
    }
    io_uring_queue_exit(&ring);
    n = (size_t)snprintf(
        buf, len,
        "io_uring: %s, MSG_RING %s, incremental buffers %s, recv bundles %s, "
        "recv bundle cap %s, registered ring fd %s",
        defer ? "SINGLE_ISSUER|DEFER_TASKRUN" : "no DEFER_TASKRUN",
        msg ? "yes" : "no", inc ? "yes" : "no",
        (p.features & IORING_FEAT_RECVSEND_BUNDLE) ? "yes" : "no",
        zg_uring_recv_cap() ? "yes" : "no", regfd ? "yes" : "no");
    (void)n;
}

/* The recv cap probe's memory: a buffer ring of ZG_CAP_BUFS entries and
 * their ZG_CAP_BUFLEN-byte buffers in one static page, never unmapped, so
 * no receive the kernel still finishes after the probe can land in
 * memory reused for something else. */
#define ZG_CAP_BUFS   8
#define ZG_CAP_BUFLEN 64
#define ZG_CAP_BGID   7
static char zg_cap_page[4096] __attribute__((aligned(4096)));
static pthread_once_t zg_cap_once = PTHREAD_ONCE_INIT;
static int zg_cap_have;

/* Ask a multishot bundle recv for two buffers' worth of bytes while
 * eight are waiting: Linux 6.17 on (io_uring/net.c, io_recvmsg_prep keeps
 * sqe->len as the multishot's per-invocation cap, io_recv_buf_select
 * peeks no more buffers than it covers) completes with at most that
 * much; older kernels fail the SQE with -EINVAL. */
static void zg_cap_probe(void)
{
    struct io_uring ring;
    struct io_uring_params p;
    struct io_uring_buf_reg reg;
    struct io_uring_buf_ring *br = (struct io_uring_buf_ring *)zg_cap_page;
    struct io_uring_sqe *sqe;
    struct io_uring_cqe *cqe;
    char data[ZG_CAP_BUFS * ZG_CAP_BUFLEN];
    int sv[2];

    memset(&p, 0, sizeof(p));
    if (io_uring_queue_init_params(4, &ring, &p) < 0)
        return;
    if (!(p.features & IORING_FEAT_RECVSEND_BUNDLE))
        goto out;
    io_uring_buf_ring_init(br);
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long)br;
    reg.ring_entries = ZG_CAP_BUFS;
    reg.bgid = ZG_CAP_BGID;
    if (io_uring_register_buf_ring(&ring, &reg, 0) < 0)
        goto out;
    for (int i = 0; i < ZG_CAP_BUFS; i++)
        io_uring_buf_ring_add(br, zg_cap_page + 2048 + i * ZG_CAP_BUFLEN,
                              ZG_CAP_BUFLEN, (unsigned short)i,
                              io_uring_buf_ring_mask(ZG_CAP_BUFS), i);
    io_uring_buf_ring_advance(br, ZG_CAP_BUFS);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        goto out;
    memset(data, 'z', sizeof(data));
    sqe = io_uring_get_sqe(&ring);
    if (write(sv[1], data, sizeof(data)) == (ssize_t)sizeof(data) &&
        sqe != NULL) {
        io_uring_prep_recv_multishot(sqe, sv[0], NULL, 2 * ZG_CAP_BUFLEN, 0);
        sqe->ioprio |= IORING_RECVSEND_BUNDLE;
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = ZG_CAP_BGID;
        if (io_uring_submit_and_wait(&ring, 1) >= 0 &&
            io_uring_peek_cqe(&ring, &cqe) == 0)
            zg_cap_have = cqe->res > 0 && cqe->res <= 2 * ZG_CAP_BUFLEN;
    }
    close(sv[0]);
    close(sv[1]);
out:
    io_uring_queue_exit(&ring);
}

int zg_uring_recv_cap(void)
{
    pthread_once(&zg_cap_once, zg_cap_probe);
    return zg_cap_have;
}

struct io_uring_sqe *zg_ring_sqe(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

    if (sqe == NULL) {
        /* The SQ is full: hand it to the kernel and take a fresh slot. */
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

void zg_ring_wait(struct io_uring *ring, struct __kernel_timespec *tsp,
                  const char *who)
{
    struct io_uring_cqe *cqe;
    int ret = io_uring_submit_and_wait_timeout(ring, &cqe, 1, tsp, NULL);

    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY &&
        ret != -EAGAIN) {
        zg_log(ZG_LOG_ALERT, "%s: io_uring_enter() failed (%d: %s)", who, -ret,
               strerror(-ret));
        usleep(1000);
    }
}

struct __kernel_timespec zg_us_timespec(uint32_t us)
{
    struct __kernel_timespec ts = {.tv_sec = us / 1000000,
                                   .tv_nsec = (long long)(us % 1000000) * 1000};

    return ts;
}

void zg_prep_accept(struct io_uring_sqe *sqe, int fd, uint32_t lidx)
{
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_ACCEPT, 0, lidx));
}

void zg_prep_accept_pause(struct io_uring_sqe *sqe, uint32_t lidx)
{
    static const struct __kernel_timespec ts = {.tv_nsec = 100000000};

    io_uring_prep_timeout(sqe, (struct __kernel_timespec *)&ts, 0, 0);
    io_uring_sqe_set_data64(sqe, zg_ud(ZG_OP_TIMEOUT, 0, lidx));
}
