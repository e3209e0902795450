/* SPDX-License-Identifier: MIT */
/*
 * Description: the master process (master.h). It binds the listeners once
 * and keeps them; each worker is a fork that takes them at fds 3.. with
 * LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, as from systemd, so the
 * worker's start-up is the ordinary one. The master is single-threaded:
 * a signalfd for the operator's signals and SIGCHLD, a socket pair on
 * which the worker says it serves and hands over what each reload applied
 * (the text, the sockets it bound), and two deadlines (a restart after
 * back-off, a SIGKILL for a worker that outlives its stop).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "activation.h"
#include "crash.h"
#include "engine.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "pidfile.h"
#include "upgrade.h"

/* ZG_BURST unrequested exits within ZG_BURST_MS make a crash loop: the
 * next restart waits, 1 s at first, twice as long each time the loop goes
 * on, at most 30 s. */
#define ZG_BURST       5
#define ZG_BURST_MS    10000
#define ZG_BACKOFF_MIN 1000
#define ZG_BACKOFF_MAX 30000
/* A worker still there this long after its own stop bound is killed. */
#define ZG_KILL_GRACE 5000

/* The worker speaks to the master on a stream socket pair, in messages
 * of one type byte: 'R' once it serves; 'C', a 32-bit length and a
 * 32-bit count (host order), then that many bytes: the configuration
 * text a reload applied, with that many listening sockets attached to the
 * header (SCM_RIGHTS), one per listener of the text in its order, or none.
 * A longer one than this is not a worker's. */
#define ZG_MSG_HEAD 9
#define ZG_MSG_MAX  (ZG_MSG_HEAD + ((size_t)16 << 20))
/* The most of the read buffer kept once it is empty. */
#define ZG_MSG_KEEP ((size_t)64 << 10)
/* Sockets received and not yet claimed by their message. */
#define ZG_MSG_FDS (2 * ZG_MAX_LISTENERS)
/* A worker waits this long at most for a master that does not read (one
 * stopped: SIGSTOP, a debugger) before it gives up telling it. */
#define ZG_SEND_WAIT_MS 5000

/* In a worker: its end of that socket pair, or -1. */
static int zg_ready_wr = -1;

typedef struct zg_master_s {
    zg_config_t *cfg;
    pid_t pid;
    sigset_t oldmask;          /* the mask to give the worker back */
    int sfd;                   /* signalfd */
    int pidfd;                 /* the locked pid file, or -1 */
    int fds[ZG_MAX_LISTENERS]; /* listening sockets in listener order */
    int own[ZG_MAX_LISTENERS]; /* bound here, not inherited: ours to
                                  shut down at a stop */
    /* the listener each socket serves (of run if set, else of cfg), and
     * the address it is bound at */
    const zg_listener_conf_t *lc[ZG_MAX_LISTENERS];
    struct sockaddr_storage addr[ZG_MAX_LISTENERS];
    uint32_t n;
    pid_t worker; /* 0: none running */
    int ready_rd; /* the worker's socket, or -1 */
    char *in;     /* bytes read from it, not yet a message */
    size_t inlen, incap;
    int infds[ZG_MSG_FDS]; /* sockets read from it, oldest first */
    uint32_t ninfds;
    /* What the next worker starts with: the configuration the worker last
     * applied by a reload, or NULL (cfg). cfg stays the one the sockets
     * were bound by. */
    zg_config_t *run;
    int ever_ready;           /* some worker has served */
    int served;               /* the running worker has */
    int stopping;             /* a stop was asked for (or start-up failed) */
    uint64_t kill_at;         /* ms: SIGKILL the stopping worker, 0 none */
    uint64_t restart_at;      /* ms: start the next worker */
    uint64_t exits[ZG_BURST]; /* times of the last unrequested exits */
    uint32_t nexits;
    uint32_t backoff; /* ms */
    uint32_t restarts;
    int upgraded; /* a new master serves on our sockets: we stop */
    int status;   /* the master's exit status */
} zg_master_t;

static uint64_t zg_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The configuration in force: the last one the worker reloaded. */
static const zg_config_t *zg_master_conf(const zg_master_t *m)
{
    return m->run != NULL ? m->run : m->cfg;
}

/* In a worker: n bytes to the master, whole, the nfds sockets fds
 * attached to the first. Waits for room at most ZG_SEND_WAIT_MS in all:
 * the main thread must go on answering signals. Returns 0 or -errno; on
 * failure the socket is closed (a message cut short would leave the
 * master reading the rest of it as the next). */
static int zg_master_send(const void *buf, size_t n, const int *fds,
                          uint32_t nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * ZG_MAX_LISTENERS)];
        struct cmsghdr align;
    } ctl;
    const char *p = buf;
    uint64_t until = zg_now_ms() + ZG_SEND_WAIT_MS;

    while (n > 0 && zg_ready_wr >= 0) {
        struct iovec iov = {(void *)p, n};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t w;

        if (nfds > 0) {
            struct cmsghdr *cm;

            memset(&ctl, 0, sizeof(ctl));
            msg.msg_control = ctl.buf;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
        }
        w = sendmsg(zg_ready_wr, &msg, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = zg_ready_wr, .events = POLLOUT};
            uint64_t now = zg_now_ms();

            if (now < until &&
                (poll(&pfd, 1, (int)(until - now)) >= 0 || errno == EINTR))
                continue;
            errno = ETIMEDOUT;
        }
        if (w <= 0) {
            int rc = w < 0 ? -errno : -EIO;

            close(zg_ready_wr);
            zg_ready_wr = -1;
            return rc;
        }
        p += w;
        n -= (size_t)w;
        nfds = 0; /* sent with the first bytes */
    }
    return zg_ready_wr >= 0 ? 0 : -EPIPE;
}

void zg_master_ready(void)
{
    /* No master: nothing to tell. */
    if (zg_ready_wr >= 0)
        (void)zg_master_send("R", 1, NULL, 0);
}

void zg_master_applied(zg_engine_t *e)
{
    const zg_config_t *cfg = e->gen->cfg;
    unsigned char head[ZG_MSG_HEAD];
    int fds[ZG_MAX_LISTENERS];
    uint32_t len, nfds = e->nlisteners;
    int rc;

    if (zg_ready_wr < 0 || cfg->text == NULL)
        return;
    /* The sockets too, for the master to hold those a reload bound (one
     * per listener, as it holds them: a reuseport group is one reactor's
     * under a master). */
    for (uint32_t i = 0; i < nfds; i++) {
        const zg_listener_t *l = zg_engine_listener(e, i);

        fds[i] = l->fd >= 0 ? l->fd : l->rp_fds != NULL ? l->rp_fds[0] : -1;
        if (fds[i] < 0)
            nfds = 0;
    }
    if (cfg->textlen > ZG_MSG_MAX - ZG_MSG_HEAD) {
        rc = -EFBIG;
    } else {
        len = (uint32_t)cfg->textlen;
        head[0] = 'C';
        memcpy(head + 1, &len, sizeof(len));
        memcpy(head + 5, &nfds, sizeof(nfds));
        rc = zg_master_send(head, sizeof(head), fds, nfds);
        if (rc == 0)
            rc = zg_master_send(cfg->text, cfg->textlen, NULL, 0);
    }
    /* The master holds them now, for the next worker or an upgrade's new
     * master: a drain or stop here must not shut them down. */
    for (uint32_t i = 0; rc == 0 && i < nfds; i++)
        zg_engine_listener(e, i)->inherited = 1;
    if (rc < 0)
        zg_log(ZG_LOG_WARN,
               "cannot tell the master about this reload (%s): should this "
               "worker die, the next one starts with the configuration "
               "before it",
               strerror(-rc));
}

/* Bind (or take from socket activation) every listener, with the engine's
 * own code on an engine that loads no plugin. */
static int zg_master_bind(zg_master_t *m, char *err, size_t errlen)
{
    static zg_engine_t be;
    int ret;

    be.cfg = m->cfg;
    be.gen = &be.gen0;
    be.nlisteners = (uint32_t)m->cfg->nlisteners;
    for (uint32_t i = 0; i < be.nlisteners; i++) {
        be.listeners[i].conf = &m->cfg->listeners[i];
        be.listeners[i].index = i;
        be.listeners[i].fd = -1;
        be.gen0.slots[i] = i;
    }
    ret = zg_engine_listen(&be, err, errlen);
    for (uint32_t i = 0; i < be.nlisteners; i++) {
        zg_listener_t *l = &be.listeners[i];
        /* One socket per listener: acceptor mode, or a lone reactor's
         * (the configuration refuses a reuseport group with a master). */
        int fd = l->fd >= 0 ? l->fd : l->rp_fds != NULL ? l->rp_fds[0] : -1;

        if (ret == 0) {
            m->fds[i] = fd;
            m->own[i] = !l->inherited;
            m->lc[i] = l->conf;
            m->addr[i] = l->real;
            zg_log(ZG_LOG_INFO, "master: listener \"%s\" on %s (%s)",
                   l->conf->name, l->addr,
                   l->inherited ? "inherited" : "bound");
        } else if (fd >= 0) {
            close(fd);
        }
        free(l->rp_fds);
        l->rp_fds = NULL;
    }
    m->n = ret == 0 ? be.nlisteners : 0;
    return ret;
}

/* In the new worker: drop what is the master's, lay the sockets out at
 * 3.. and describe them as systemd would (h, prepared before the fork). */
static void zg_master_child(zg_master_t *m, zg_handover_t *h, int ready_wr)
{
    int ret;

    /* A worker nobody supervises would hold the ports: it stops with the
     * master (SIGTERM: a fast stop). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != m->pid)
        _exit(1);
    close(m->sfd);
    if (m->pidfd >= 0)
        close(m->pidfd);
    sigprocmask(SIG_SETMASK, &m->oldmask, NULL);
    /* A binary upgrade's channel is the master's to answer. */
    zg_upgrade_drop();
    /* Everything the worker keeps goes above the range first. */
    if (zg_log_move_above(zg_handover_top(h)) < 0)
        _exit(1);
    ret = zg_handover_child(h, &ready_wr, 1);
    if (ret < 0) {
        fprintf(stderr,
                "zerg: worker: passing the listening sockets failed "
                "(%s)\n",
                strerror(-ret));
        _exit(1);
    }
    /* Non-blocking (socketpair): zg_master_send bounds its waits. */
    zg_ready_wr = ready_wr;
    for (uint32_t i = 0; i < m->n; i++)
        m->fds[i] = -1;
    /* The master speaks to systemd, for the service as a whole. */
    unsetenv("NOTIFY_SOCKET");
}

/* Fork a worker. Returns 1 in the worker, 0 in the master. */
static int zg_master_spawn(zg_master_t *m)
{
    const char *names[ZG_MAX_LISTENERS];
    zg_handover_t h;
    char err[256];
    int p[2];
    pid_t pid;

    for (uint32_t i = 0; i < m->n; i++)
        names[i] = m->lc[i]->name;
    if (zg_handover_init(&h, m->fds, names, m->n, -1, NULL, err, sizeof(err)) <
        0) {
        zg_log(ZG_LOG_ALERT, "master: %s, retrying in 1 s", err);
        m->restart_at = zg_now_ms() + 1000;
        return 0;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, p) <
        0) {
        zg_log(ZG_LOG_ALERT,
               "master: socketpair() failed (%s), retrying in 1 s",
               strerror(errno));
        zg_handover_free(&h);
        m->restart_at = zg_now_ms() + 1000;
        return 0;
    }
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        zg_log(ZG_LOG_ALERT, "master: fork() failed (%s), retrying in 1 s",
               strerror(errno));
        close(p[0]);
        close(p[1]);
        zg_handover_free(&h);
        m->restart_at = zg_now_ms() + 1000;
        return 0;
    }
    if (pid == 0) {
        close(p[0]);
        zg_master_child(m, &h, p[1]);
        return 1;
    }
    zg_handover_free(&h);
    close(p[1]);
    m->worker = pid;
    m->served = 0;
    m->ready_rd = p[0];
    zg_log(ZG_LOG_NOTICE, "master: started worker process %ld%s", (long)pid,
           m->run != NULL ? " (with the configuration of the last reload)"
                          : "");
    return 0;
}

/* The worker serves ('R'). */
static void zg_master_served(zg_master_t *m)
{
    char state[160];

    m->served = 1;
    if (!m->ever_ready)
        zg_log(ZG_LOG_NOTICE,
               "master process %ld: worker %ld serves; it is restarted if "
               "it dies unasked",
               (long)m->pid, (long)m->worker);
    m->ever_ready = 1;
    /* A master an upgrade started serves once its worker does; then the
     * sockets the old master had bound are ours to shut down. */
    if (zg_upgrade_ready()) {
        for (uint32_t i = 0; i < m->n; i++)
            m->own[i] = m->own[i] || zg_upgrade_adopted(m->fds[i]);
    }
    snprintf(state, sizeof(state),
             "READY=1\nMAINPID=%ld\nSTATUS=serving (worker %ld, %u "
             "restart(s))",
             (long)m->pid, (long)m->worker, m->restarts);
    if (zg_notify(state) < 0)
        zg_log(ZG_LOG_WARN, "cannot notify $NOTIFY_SOCKET (%s)",
               getenv("NOTIFY_SOCKET"));
}

/* Follow the configuration c the worker reloaded, as its reload did
 * (zg_slot_by_addr in engine.c): each listener of c, in order, keeps the
 * first held socket configured at its address or bound there, and the
 * socket is held under its name from now on (a restarted worker and an
 * upgrade's new master find their sockets by name: a listener renamed or
 * moved to another's address would otherwise get the wrong socket, or
 * find its port taken by us). A listener no held socket serves (the
 * reload bound it) is held on the worker's socket for it, got[j] of ngot
 * (taken: set to -1), as if bound here. The rest are closed (the worker's
 * reload closed its copies): kept, they would take connections nobody
 * accepts. */
static void zg_master_follow(zg_master_t *m, const zg_config_t *c, int *got,
                             uint32_t ngot)
{
    int fds[ZG_MAX_LISTENERS], own[ZG_MAX_LISTENERS];
    const zg_listener_conf_t *lc[ZG_MAX_LISTENERS];
    struct sockaddr_storage addr[ZG_MAX_LISTENERS];
    uint8_t used[ZG_MAX_LISTENERS] = {0};
    uint32_t k = 0;

    for (size_t j = 0; j < c->nlisteners; j++) {
        const zg_listener_conf_t *l = &c->listeners[j];

        for (uint32_t i = 0; i < m->n; i++) {
            if (used[i] || m->lc[i]->ip_version != l->ip_version ||
                (!zg_addr_same(&l->addr, &m->lc[i]->addr) &&
                 !zg_addr_same(&l->addr, &m->addr[i])))
                continue;
            used[i] = 1;
            fds[k] = m->fds[i];
            own[k] = m->own[i];
            lc[k] = l;
            addr[k] = m->addr[i];
            k++;
            break;
        }
        if ((k > 0 && lc[k - 1] == l) || j >= ngot || got[j] < 0 || m->stopping)
            continue;
        {
            socklen_t alen = sizeof(addr[k]);

            memset(&addr[k], 0, sizeof(addr[k]));
            if (getsockname(got[j], (struct sockaddr *)&addr[k], &alen) < 0)
                continue;
        }
        zg_log(ZG_LOG_INFO,
               "master: listener \"%s\" (%s), which worker %ld's reload "
               "bound: holding its socket",
               l->name, l->listen, (long)m->worker);
        fds[k] = got[j];
        own[k] = !m->upgraded;
        lc[k] = l;
        got[j] = -1;
        k++;
    }
    for (uint32_t i = 0; i < m->n; i++) {
        if (used[i] || m->fds[i] < 0)
            continue;
        zg_log(ZG_LOG_NOTICE,
               "master: listener \"%s\" (%s) is not in the configuration "
               "worker %ld reloaded: closing the socket held for it",
               m->lc[i]->name, m->lc[i]->listen, (long)m->worker);
        close(m->fds[i]);
    }
    memcpy(m->fds, fds, k * sizeof(fds[0]));
    memcpy(m->own, own, k * sizeof(own[0]));
    memcpy(m->lc, lc, k * sizeof(lc[0]));
    memcpy(m->addr, addr, k * sizeof(addr[0]));
    m->n = k;
}

/* The worker reloaded ('C'): a restarted worker starts with what it runs
 * now, not with the file as it may have been edited since, nor with the
 * configuration the master started with. */
static void zg_master_adopt(zg_master_t *m, const char *text, size_t len,
                            int *got, uint32_t ngot)
{
    zg_config_t *c = NULL;
    char err[1024], *el;

    if (zg_config_from_text(text, len, m->cfg->path, &c, err, sizeof(err)) <
        0) {
        zg_log(ZG_LOG_ALERT,
               "master: the configuration worker %ld reloaded does not load "
               "here (%s): a restarted worker starts with the one before it",
               (long)m->worker, err);
        return;
    }
    /* So is "master" ("master": false takes a restart of the whole
     * server): a worker of ours gets one socket per listener, which a
     * reuseport group of several reactors refuses at every start. */
    if (c->accept == ZG_ACCEPT_REUSEPORT && c->reactors > 1) {
        zg_log(ZG_LOG_ALERT,
               "master: the configuration worker %ld reloaded asks for "
               "\"accept\": \"reuseport\" with %u reactors, which a master's "
               "worker cannot run (the master holds one socket per "
               "listener): a restarted worker starts with the one before it",
               (long)m->worker, c->reactors);
        zg_config_free(c);
        return;
    }
    c->master = 1;
    /* The error log is the master's: as for a reload, a new one takes a
     * restart of the whole server. */
    el = strdup(m->cfg->log.error_log);
    if (el == NULL) {
        zg_log(ZG_LOG_ALERT,
               "master: out of memory: a restarted worker starts with the "
               "configuration before worker %ld's reload",
               (long)m->worker);
        zg_config_free(c);
        return;
    }
    free(c->log.error_log);
    c->log.error_log = el;
    zg_master_follow(m, c, got, ngot);
    atomic_store_explicit(&zg_log_level, c->log.level, memory_order_relaxed);
    zg_config_free(m->run);
    m->run = c;
    zg_log(ZG_LOG_NOTICE,
           "master: worker %ld reloaded; a restarted worker starts with that "
           "configuration",
           (long)m->worker);
}

static void zg_master_pipe_close(zg_master_t *m)
{
    if (m->ready_rd >= 0)
        close(m->ready_rd);
    m->ready_rd = -1;
    m->inlen = 0;
    for (uint32_t i = 0; i < m->ninfds; i++)
        close(m->infds[i]);
    m->ninfds = 0;
}

/* The whole messages read so far; a partial one waits for the rest. */
static void zg_master_messages(zg_master_t *m)
{
    size_t at = 0;

    while (at < m->inlen) {
        uint32_t len, nfds;

        if (m->in[at] == 'R') {
            zg_master_served(m);
            at++;
            continue;
        }
        if (m->in[at] != 'C') {
            zg_log(ZG_LOG_ALERT,
                   "master: worker %ld sent 0x%02x, not a message: no longer "
                   "listening to it",
                   (long)m->worker, (unsigned char)m->in[at]);
            zg_master_pipe_close(m);
            return;
        }
        if (m->inlen - at < ZG_MSG_HEAD)
            break;
        memcpy(&len, m->in + at + 1, sizeof(len));
        memcpy(&nfds, m->in + at + 5, sizeof(nfds));
        if (len > ZG_MSG_MAX - ZG_MSG_HEAD || nfds > m->ninfds) {
            zg_log(ZG_LOG_ALERT,
                   "master: worker %ld sent a %u-byte configuration with "
                   "%u of %u socket(s), over the limit or not received: no "
                   "longer listening to it",
                   (long)m->worker, len, nfds, m->ninfds);
            zg_master_pipe_close(m);
            return;
        }
        if (m->inlen - at - ZG_MSG_HEAD < len)
            break;
        zg_master_adopt(m, m->in + at + ZG_MSG_HEAD, len, m->infds, nfds);
        /* The sockets it did not take. */
        for (uint32_t i = 0; i < nfds; i++) {
            if (m->infds[i] >= 0)
                close(m->infds[i]);
        }
        m->ninfds -= nfds;
        memmove(m->infds, m->infds + nfds, m->ninfds * sizeof(int));
        at += ZG_MSG_HEAD + (size_t)len;
    }
    memmove(m->in, m->in + at, m->inlen - at);
    m->inlen -= at;
    /* A large configuration's buffer is not kept between reloads. */
    if (m->inlen == 0 && m->incap > ZG_MSG_KEEP) {
        free(m->in);
        m->in = NULL;
        m->incap = 0;
    }
}

/* Keep the sockets a read brought (SCM_RIGHTS in msg) for their
 * message. Returns 0, or -1 if some were lost (no room, cut short). */
static int zg_master_take_fds(zg_master_t *m, struct msghdr *msg)
{
    int rc = (msg->msg_flags & MSG_CTRUNC) ? -1 : 0;

    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL;
         cm = CMSG_NXTHDR(msg, cm)) {
        size_t n;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
            if (m->ninfds < ZG_MSG_FDS) {
                m->infds[m->ninfds++] = fd;
            } else {
                close(fd);
                rc = -1;
            }
        }
    }
    return rc;
}

/* Read the worker's socket until it is empty; EOF closes it (the worker
 * ended, or can no longer tell). */
static void zg_master_pipe_read(zg_master_t *m)
{
    while (m->ready_rd >= 0) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * ZG_MAX_LISTENERS)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov;
        struct msghdr msg;
        ssize_t n;

        if (m->inlen == m->incap) {
            size_t cap = m->incap ? m->incap * 2 : 4096;
            char *nb;

            if (cap > ZG_MSG_MAX)
                cap = ZG_MSG_MAX;
            nb = cap > m->incap ? realloc(m->in, cap) : NULL;
            if (nb == NULL) {
                zg_log(ZG_LOG_ALERT,
                       "master: cannot hold worker %ld's message (%s): no "
                       "longer listening to it",
                       (long)m->worker,
                       cap > m->incap ? "out of memory" : "too long");
                zg_master_pipe_close(m);
                return;
            }
            m->in = nb;
            m->incap = cap;
        }
        iov.iov_base = m->in + m->inlen;
        iov.iov_len = m->incap - m->inlen;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        n = recvmsg(m->ready_rd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n > 0 && zg_master_take_fds(m, &msg) < 0) {
            zg_log(ZG_LOG_ALERT,
                   "master: worker %ld sent more sockets than a message "
                   "carries: no longer listening to it",
                   (long)m->worker);
            n = 0;
        }
        if (n <= 0) {
            zg_master_pipe_close(m);
            return;
        }
        m->inlen += (size_t)n;
        zg_master_messages(m);
    }
}

void zg_describe_status(int st, char *buf, size_t len)
{
    if (WIFEXITED(st)) {
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    } else if (WIFSIGNALED(st)) {
        const char *name = zg_sig_name(WTERMSIG(st));

        if (name != NULL)
            snprintf(buf, len, "exited on signal %s%s", name,
                     WCOREDUMP(st) ? " (core dumped)" : "");
        else
            snprintf(buf, len, "exited on signal %d%s", WTERMSIG(st),
                     WCOREDUMP(st) ? " (core dumped)" : "");
    } else {
        snprintf(buf, len, "ended (wait status 0x%x)", st);
    }
}

static void zg_master_exited(zg_master_t *m, int st)
{
    uint64_t now = zg_now_ms();
    long pid = (long)m->worker;
    char how[96];

    zg_master_pipe_read(m); /* it may have served or reloaded just before */
    zg_master_pipe_close(m);
    m->worker = 0;
    m->kill_at = 0;
    zg_describe_status(st, how, sizeof(how));
    if (m->stopping && !m->served && m->ever_ready && WIFEXITED(st)) {
        /* A restarted worker the stop found starting: the sockets the
         * stop shut down fail its start. The stop is what was asked. */
        zg_log(ZG_LOG_NOTICE,
               "master: worker %ld %s; it was starting when the stop came", pid,
               how);
        return;
    }
    if (m->stopping) {
        zg_log(ZG_LOG_NOTICE, "master: worker %ld %s", pid, how);
        m->status = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        return;
    }
    if (!m->ever_ready) {
        /* It never served: a start-up failure (its message is on stderr),
         * which restarting would only repeat. */
        zg_log(ZG_LOG_ALERT,
               "master: worker %ld %s before it served, not restarting it", pid,
               how);
        m->status = WIFEXITED(st) && WEXITSTATUS(st) != 0 ? WEXITSTATUS(st) : 1;
        m->stopping = 1;
        return;
    }
    m->restarts++;
    m->exits[m->nexits++ % ZG_BURST] = now;
    /* exits[nexits % ZG_BURST] is now the oldest of the last ZG_BURST. */
    if (m->nexits >= ZG_BURST &&
        now - m->exits[m->nexits % ZG_BURST] < ZG_BURST_MS) {
        zg_log(ZG_LOG_ALERT,
               "master: worker %ld %s; it exited %u times within %u s: "
               "restarting it in %u ms (crash loop back-off)",
               pid, how, ZG_BURST, ZG_BURST_MS / 1000, m->backoff);
        m->restart_at = now + m->backoff;
        m->backoff =
            m->backoff * 2 > ZG_BACKOFF_MAX ? ZG_BACKOFF_MAX : m->backoff * 2;
    } else {
        zg_log(ZG_LOG_ALERT, "master: worker %ld %s, restarting", pid, how);
        m->restart_at = now;
        m->backoff = ZG_BACKOFF_MIN;
    }
}

static void zg_master_reap(zg_master_t *m)
{
    pid_t pid;
    int st;

    /* The worker only: an upgrade's new master is waited for by
     * upgrade.c. */
    while (m->worker != 0 && (pid = waitpid(m->worker, &st, WNOHANG)) > 0)
        zg_master_exited(m, st);
}

/* A new master serves on our sockets (a binary upgrade): they are its
 * now, never to be shut down by us; systemd follows it. */
static void zg_master_handover(zg_master_t *m)
{
    char state[128];

    for (uint32_t i = 0; i < m->n; i++)
        m->own[i] = 0;
    m->upgraded = 1;
    snprintf(state, sizeof(state),
             "MAINPID=%ld\nSTATUS=upgraded: master %ld serves",
             (long)zg_upgrade_pid(), (long)zg_upgrade_pid());
    zg_notify(state);
}

/* TERM, INT or QUIT: no more restarts, no more connections; the worker
 * gets the signal and its own bound, the master a last resort past it. */
static void zg_master_stop(zg_master_t *m, int sig)
{
    uint64_t at = zg_now_ms() +
                  zg_stop_bound_ms(zg_master_conf(m)->shutdown_timeout_ms) +
                  ZG_KILL_GRACE;

    if (!m->stopping && !m->upgraded && zg_upgrade_abort() == 1)
        zg_master_handover(m);
    if (!m->stopping && m->upgraded) {
        zg_log(ZG_LOG_NOTICE, "master: upgraded to master %ld; stopping%s",
               (long)zg_upgrade_pid(),
               m->worker ? " the worker gracefully" : "");
    } else if (!m->stopping) {
        zg_log(ZG_LOG_NOTICE, "master: %s received, stopping%s",
               zg_sig_name(sig), m->worker ? " the worker" : "");
        zg_notify("STOPPING=1\nSTATUS=stopping");
    }
    if (!m->stopping) {
        /* Sockets we bound are shut down now, which also ends them in
         * the worker: the kernel refuses new connections at once, even
         * with a worker stuck in a plugin. Inherited ones (systemd's)
         * keep listening for the next start. */
        for (uint32_t i = 0; i < m->n; i++) {
            if (m->fds[i] < 0)
                continue;
            if (m->own[i])
                shutdown(m->fds[i], SHUT_RDWR);
            close(m->fds[i]);
            m->fds[i] = -1;
        }
        m->stopping = 1;
        m->status = 0;
    }
    if (m->worker == 0)
        return;
    if (kill(m->worker, sig) < 0)
        zg_log(ZG_LOG_ALERT, "master: kill(%ld, %s) failed (%s)",
               (long)m->worker, zg_sig_name(sig), strerror(errno));
    if (sig == SIGQUIT)
        at += zg_master_conf(m)->shutdown_timeout_ms;
    if (m->kill_at == 0 || at < m->kill_at)
        m->kill_at = at;
}

/* One signal from the signalfd. */
static void zg_master_signal(zg_master_t *m, int sig)
{
    int ret;

    switch (sig) {
    case SIGCHLD:
        zg_master_reap(m);
        break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
        zg_master_stop(m, sig);
        break;
    case SIGUSR1:
        ret = zg_log_open(m->cfg->log.error_log);
        zg_log(ret < 0 ? ZG_LOG_ERROR : ZG_LOG_NOTICE,
               "master: reopening error_log: %s",
               ret < 0 ? strerror(-ret) : "done");
        if (m->worker != 0)
            kill(m->worker, sig); /* it reopens its own */
        break;
    case SIGHUP:
        if (m->worker != 0)
            kill(m->worker, sig);
        break;
    case SIGUSR2: {
        const char *names[ZG_MAX_LISTENERS];
        uint8_t own[ZG_MAX_LISTENERS];

        if (m->stopping) {
            zg_log(ZG_LOG_WARN, "master: SIGUSR2: stopping; no upgrade");
            break;
        }
        for (uint32_t i = 0; i < m->n; i++) {
            names[i] = m->lc[i]->name;
            own[i] = (uint8_t)m->own[i];
        }
        zg_upgrade_start(m->fds, names, own, m->n, m->pidfd, m->cfg->pid,
                         zg_master_conf(m)->shutdown_timeout_ms);
        break;
    }
    default:
        break;
    }
}

int zg_master_run(zg_config_t **cfgp)
{
    zg_config_t *cfg = *cfgp;
    zg_master_t m;
    char err[1024];
    sigset_t mask;

    memset(&m, 0, sizeof(m));
    m.cfg = cfg;
    m.pid = getpid();
    m.sfd = m.pidfd = m.ready_rd = -1;
    m.backoff = ZG_BACKOFF_MIN;
    m.status = 1;
    for (uint32_t i = 0; i < ZG_MAX_LISTENERS; i++)
        m.fds[i] = -1;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGQUIT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGUSR2);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, &m.oldmask);
    m.sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (m.sfd < 0) {
        fprintf(stderr, "zerg: signalfd() failed (%s)\n", strerror(errno));
        goto out;
    }
    if (cfg->pid != NULL) {
        m.pidfd = zg_pidfile_lock(cfg->pid, err, sizeof(err));
        if (m.pidfd < 0) {
            fprintf(stderr, "zerg: %s\n", err);
            goto out;
        }
    }
    if (zg_master_bind(&m, err, sizeof(err)) < 0) {
        fprintf(stderr, "zerg: %s\n", err);
        goto out;
    }
    if (m.pidfd >= 0 &&
        zg_pidfile_write(m.pidfd, cfg->pid, err, sizeof(err)) < 0) {
        fprintf(stderr, "zerg: %s\n", err);
        goto out;
    }
    zg_log(ZG_LOG_NOTICE,
           "master process %ld: holding %u listening socket(s), starting "
           "the worker",
           (long)m.pid, m.n);

    for (;;) {
        struct pollfd pfd[3];
        struct signalfd_siginfo si;
        uint64_t now = zg_now_ms();
        int timeout = -1, np = 1, rd = -1, up = -1, wait, ret;

        if (m.worker == 0) {
            if (m.stopping)
                break;
            if (now >= m.restart_at) {
                if (zg_master_spawn(&m)) {
                    free(m.in);
                    if (m.run != NULL) {
                        zg_config_free(cfg);
                        *cfgp = m.run;
                    }
                    return ZG_MASTER_WORKER;
                }
                continue;
            }
            timeout = (int)(m.restart_at - now);
        } else if (m.kill_at != 0) {
            if (now >= m.kill_at) {
                zg_log(
                    ZG_LOG_ALERT,
                    "master: worker %ld has not exited %u ms after it "
                    "was told to stop; killing it",
                    (long)m.worker,
                    zg_stop_bound_ms(zg_master_conf(&m)->shutdown_timeout_ms) +
                        ZG_KILL_GRACE);
                kill(m.worker, SIGKILL);
                m.kill_at = 0;
                continue;
            }
            timeout = (int)(m.kill_at - now);
        }
        pfd[0].fd = m.sfd;
        pfd[0].events = POLLIN;
        if (m.ready_rd >= 0) {
            rd = np;
            pfd[np].fd = m.ready_rd;
            pfd[np].events = POLLIN;
            np++;
        }
        /* A binary upgrade waiting for the new master. */
        if ((wait = zg_upgrade_wait_ms()) >= 0) {
            up = np;
            pfd[np].fd = zg_upgrade_fd();
            pfd[np].events = POLLIN;
            np++;
            if (timeout < 0 || wait < timeout)
                timeout = wait;
        }
        ret = poll(pfd, (nfds_t)np, timeout);
        if (up >= 0 && zg_upgrade_poll() == 1) {
            zg_master_handover(&m);
            zg_master_stop(&m, SIGQUIT);
        }
        if (ret <= 0)
            continue;
        if (rd >= 0 && pfd[rd].revents != 0)
            zg_master_pipe_read(&m);
        if (!(pfd[0].revents & POLLIN))
            continue;
        if (read(m.sfd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            zg_log(ZG_LOG_ALERT, "master: read(signalfd) failed (%s)",
                   strerror(errno));
            zg_master_stop(&m, SIGTERM);
            continue;
        }
        zg_master_signal(&m, (int)si.ssi_signo);
    }
out:
    zg_master_pipe_close(&m);
    for (uint32_t i = 0; i < m.n; i++) {
        if (m.fds[i] >= 0)
            close(m.fds[i]);
    }
    if (m.sfd >= 0)
        close(m.sfd);
    free(m.in);
    zg_config_free(m.run);
    if (m.pidfd >= 0)
        zg_pidfile_remove(m.pidfd, zg_upgrade_pidfile(cfg->pid));
    sigprocmask(SIG_SETMASK, &m.oldmask, NULL);
    return m.status;
}
