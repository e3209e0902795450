/* SPDX-License-Identifier: MIT */
/*
 * Description: the engine's start-up and stop sequence on the main thread:
 * load and init plugins, open listening sockets, start reactors and the
 * acceptor, stop and free them. Also the helpers every thread shares: ring
 * setup with flag fallbacks, the start handshake and the control ring.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "engine.h"
#include "log.h"
#include "modtable.h"

zg_engine_t *zg_engine;

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
        return "; lower ring_entries or raise the memory limit "
               "(ulimit -l on kernels before 5.12)";
    default:
        return "";
    }
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
                 "failed (%d: %s); RLIMIT_MEMLOCK is %llu KiB, too low on "
                 "kernels before 5.12: raise it (ulimit -l unlimited, or "
                 "LimitMEMLOCK=infinity in the systemd unit)",
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
        "registered ring fd %s",
        defer ? "SINGLE_ISSUER|DEFER_TASKRUN" : "no DEFER_TASKRUN",
        msg ? "yes" : "no", inc ? "yes" : "no",
        (p.features & IORING_FEAT_RECVSEND_BUNDLE) ? "yes" : "no",
        regfd ? "yes" : "no");
    (void)n;
}

static struct io_uring zg_ctl_ring;
static int zg_ctl_ok;

int zg_ctl_send(int ring_fd, uint64_t user_data)
{
    struct io_uring_sqe *sqe;
    struct io_uring_cqe *cqe;
    int ret;

    if (!zg_ctl_ok) {
        ret = io_uring_queue_init(8, &zg_ctl_ring, 0);
        if (ret < 0)
            return ret;
        zg_ctl_ok = 1;
    }
    sqe = io_uring_get_sqe(&zg_ctl_ring);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_msg_ring(sqe, ring_fd, 0, user_data, 0);
    ret = io_uring_submit_and_wait(&zg_ctl_ring, 1);
    if (ret < 0)
        return ret;
    ret = io_uring_wait_cqe(&zg_ctl_ring, &cqe);
    if (ret < 0)
        return ret;
    ret = cqe->res;
    io_uring_cqe_seen(&zg_ctl_ring, cqe);
    return ret < 0 ? ret : 0;
}

static void zg_ctl_free(void)
{
    if (zg_ctl_ok)
        io_uring_queue_exit(&zg_ctl_ring);
    zg_ctl_ok = 0;
}

/* Run an instance's init: with host-owned config (the plugin's key
 * table checked against obj, found at path in the file, then init_conf)
 * or with the JSON text (ABI 1.0/1.1). Returns 0 or -errno with one line
 * in err. */
static int zg_instance_init(zg_engine_t *e, zg_module_t *m,
                            const zg_conf_comp_t *path, int depth, json_t *obj,
                            const char *text, zg_conf_arena_t *arena,
                            void **conf, void **data, char *err, size_t errlen)
{
    const zg_plugin_t *d = &m->desc;
    char why[256], who[96];
    int rc;

    *conf = NULL;
    if (d->conf_keys == NULL)
        return zg_module_init(m, &zg_host_api, text, strlen(text), data, err,
                              errlen);
    snprintf(who, sizeof(who), "%s %s",
             (d->flags & ZG_PLUGIN_MODULE) ? "module" : "plugin", m->path);
    *conf = zg_conf_arena_alloc(arena, d->conf_size);
    if (*conf == NULL) {
        snprintf(err, errlen, "%s: out of memory", who);
        return -ENOMEM;
    }
    rc = zg_conf_fill(e->cfg, path, depth, obj, d->conf_keys, *conf, arena, who,
                      err, errlen);
    if (rc < 0)
        return rc == -EINVAL ? -EBADMSG : rc; /* err names file:line:col */
    memset(why, 0, sizeof(why));
    *data = NULL;
    rc = d->init_conf(&zg_host_api, *conf, data, why, sizeof(why));
    if (rc != 0) {
        why[sizeof(why) - 1] = '\0';
        for (char *q = why; *q != '\0'; q++) {
            if (*q == '\n' || *q == '\r' || *q == '\t')
                *q = ' ';
        }
        snprintf(err, errlen, "%s: init refused its config: %s", who,
                 why[0] ? why : "(no reason given)");
        *data = NULL;
        return -EINVAL;
    }
    return 0;
}

char *zg_engine_dump(const zg_engine_t *e)
{
    char *text = zg_config_dump(e->cfg), *out;
    json_t *root, *lst;

    if (text == NULL)
        return NULL;
    root = json_loads(text, 0, NULL);
    free(text);
    lst = root != NULL ? json_object_get(root, "listeners") : NULL;
    for (uint32_t i = 0; lst != NULL && i < e->nlisteners; i++) {
        const zg_listener_t *l = &e->listeners[i];
        json_t *lo = json_array_get(lst, i), *mods;

        if (lo == NULL)
            continue;
        if (l->plugin_conf != NULL)
            json_object_set_new(
                lo, "config",
                zg_conf_keys_dump(l->mod->desc.conf_keys, l->plugin_conf));
        mods = json_object_get(lo, "modules");
        for (uint32_t j = 0; mods != NULL && j < l->nmods; j++) {
            json_t *mo = json_array_get(mods, j);

            if (mo != NULL && l->mods[j].conf != NULL)
                json_object_set_new(
                    mo, "config",
                    zg_conf_keys_dump(l->mods[j].mod->desc.conf_keys,
                                      l->mods[j].conf));
        }
    }
    out = root != NULL ? json_dumps(root, JSON_INDENT(4) | JSON_PRESERVE_ORDER)
                       : NULL;
    json_decref(root);
    return out;
}

/* Find a module for spec: a built-in by name, or a .so by path. */
static int zg_module_find(zg_engine_t *e, const char *spec, zg_module_t **out,
                          char *err, size_t errlen)
{
    const char *names[64];
    char list[256];
    const char *best;
    size_t n = 0, used = 0;

    if (strchr(spec, '/') != NULL)
        return zg_loader_load(&e->loader, spec, out, err, errlen);
    for (const zg_builtin_t *b = zg_builtin_modules; b->name != NULL; b++) {
        if (strcmp(b->name, spec) == 0)
            return zg_loader_builtin(&e->loader, b->entry, out, err, errlen);
        if (n < 63)
            names[n++] = b->name;
    }
    names[n] = NULL;
    for (const char *const *x = zg_builtin_excluded; *x != NULL; x++) {
        if (strcmp(*x, spec) == 0) {
            snprintf(err, errlen,
                     "module %s is not built in (./configure "
                     "--without-module=%s left it out)",
                     spec, spec);
            return -ENOENT;
        }
    }
    list[0] = '\0';
    for (size_t i = 0; i < n && used < sizeof(list); i++) {
        int r = snprintf(list + used, sizeof(list) - used, "%s%s",
                         i ? ", " : "", names[i]);

        used += r < 0 ? 0 : (size_t)r;
    }
    best = zg_conf_suggest(spec, names, NULL);
    if (best != NULL)
        snprintf(err, errlen,
                 "unknown module \"%s\" (did you mean \"%s\"?); built-in "
                 "modules: %s",
                 spec, best, list);
    else
        snprintf(err, errlen,
                 "unknown module \"%s\"; built-in modules: %s; a module "
                 "built as a .so is named by its path",
                 spec, n ? list : "none");
    return -ENOENT;
}

/* Load and init listener l's module chain. */
static int zg_engine_load_modules(zg_engine_t *e, zg_listener_t *l, char *err,
                                  size_t errlen)
{
    char msg[512];
    int ret;

    for (uint32_t j = 0; j < l->conf->nmodules; j++) {
        const zg_module_conf_t *mc = &l->conf->modules[j];
        zg_instance_t *in = &l->mods[j];
        zg_conf_comp_t path[5] = {{"listeners", 0},
                                  {NULL, l->index},
                                  {"modules", 0},
                                  {NULL, j},
                                  {"config", 0}};

        ret = zg_module_find(e, mc->spec, &in->mod, msg, sizeof(msg));
        if (ret == 0 && !(in->mod->desc.flags & ZG_PLUGIN_MODULE)) {
            snprintf(msg, sizeof(msg),
                     "%s is a plugin, not a module (name it in \"plugin\")",
                     in->mod->path);
            ret = -EINVAL;
        }
        if (ret < 0)
            goto fail;
        l->nmods = j + 1;
        snprintf(in->prefix, sizeof(in->prefix), "%s", in->mod->desc.name);
        ret = zg_instance_init(e, in->mod, path, 5, mc->json, mc->config,
                               &in->arena, &in->conf, &in->data, msg,
                               sizeof(msg));
        if (ret == -EBADMSG) {
            snprintf(err, errlen, "%s", msg);
            return -EINVAL;
        }
        if (ret < 0)
            goto fail;
        in->inited = 1;
        if (in->mod->desc.on_preread != NULL)
            l->preread_mods++;
        if (in->mod->desc.on_log != NULL)
            l->log_mods++;
        continue;
    fail:
        snprintf(err, errlen, "%s: listeners[%u].modules[%u] (\"%s\"): %s",
                 e->cfg->path, l->index, j, mc->spec, msg);
        return ret;
    }
    return 0;
}

int zg_engine_load(zg_engine_t *e, zg_config_t *cfg, char *err, size_t errlen)
{
    char msg[512];
    int ret;

    e->cfg = cfg;
    ret = zg_loader_init(&e->loader, NULL);
    if (ret < 0) {
        snprintf(err, errlen, "plugin loader: %s", strerror(-ret));
        return ret;
    }
    for (uint32_t i = 0; i < cfg->nlisteners; i++) {
        zg_listener_t *l = &e->listeners[i];

        l->conf = &cfg->listeners[i];
        l->index = i;
        l->fd = -1;
        e->nlisteners = i + 1;
        ret = zg_loader_load(&e->loader, l->conf->plugin, &l->mod, msg,
                             sizeof(msg));
        if (ret < 0) {
            snprintf(err, errlen, "%s: listeners[%u] (\"%s\"): %s", cfg->path,
                     i, l->conf->name, msg);
            return ret;
        }
        if (l->mod->desc.flags & ZG_PLUGIN_MODULE) {
            snprintf(err, errlen,
                     "%s: listeners[%u] (\"%s\"): %s is a module, not a "
                     "plugin (name it in \"modules\")",
                     cfg->path, i, l->conf->name, l->mod->path);
            return -EINVAL;
        }
        snprintf(l->prefix, sizeof(l->prefix), "%s", l->mod->desc.name);
        {
            zg_conf_comp_t path[3] = {
                {"listeners", 0}, {NULL, i}, {"config", 0}};

            ret = zg_instance_init(e, l->mod, path, 3, l->conf->plugin_json,
                                   l->conf->plugin_config, &l->arena,
                                   &l->plugin_conf, &l->plugin_data, msg,
                                   sizeof(msg));
        }
        if (ret == -EBADMSG) {
            snprintf(err, errlen, "%s", msg);
            return -EINVAL;
        }
        if (ret < 0) {
            snprintf(err, errlen, "%s: listeners[%u] (\"%s\"): %s", cfg->path,
                     i, l->conf->name, msg);
            return ret;
        }
        l->inited = 1;
        ret = zg_engine_load_modules(e, l, err, errlen);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int zg_open_listener(zg_listener_t *l, const struct sockaddr *sa,
                            socklen_t salen, int reuseport, char *err,
                            size_t errlen)
{
    const zg_listener_conf_t *lc = l->conf;
    int one = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const char *what;

    if (fd < 0) {
        what = "socket()";
        goto fail;
    }
    what = "setsockopt(SO_REUSEADDR)";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    what = "setsockopt(SO_REUSEPORT)";
    if (reuseport &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (sa->sa_family == AF_INET6) {
        int v6only = lc->ip_version == ZG_IP_V6;

        what = "setsockopt(IPV6_V6ONLY)";
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) <
            0)
            goto fail;
    }
    /* Accepted sockets inherit TCP_NODELAY from the listener. */
    what = "setsockopt(TCP_NODELAY)";
    if (lc->tcp_nodelay &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        goto fail;
    what = "bind()";
    if (bind(fd, sa, salen) < 0)
        goto fail;
    what = "listen()";
    if (listen(fd, lc->backlog) < 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "listener \"%s\": %s on %s failed (%d: %s)", lc->name,
             what, lc->listen, errno, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int zg_engine_listen(zg_engine_t *e, char *err, size_t errlen)
{
    uint32_t nr = e->cfg->reactors;

    for (uint32_t i = 0; i < e->nlisteners; i++) {
        zg_listener_t *l = &e->listeners[i];
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        int fd;

        memcpy(&ss, &l->conf->addr, l->conf->addrlen);
        if (e->cfg->accept == ZG_ACCEPT_REUSEPORT) {
            l->rp_fds = calloc(nr, sizeof(int));
            if (l->rp_fds == NULL)
                return -ENOMEM;
            for (uint32_t k = 0; k < nr; k++)
                l->rp_fds[k] = -1;
        }
        /* A lone reactor's socket needs no SO_REUSEPORT (which would let
         * another process bind the port too). */
        fd = zg_open_listener(l, (struct sockaddr *)&ss, l->conf->addrlen,
                              l->rp_fds != NULL && nr > 1, err, errlen);
        if (fd < 0)
            return -EADDRNOTAVAIL;
        /* Port 0: the others of a reuseport group bind the port we got. */
        getsockname(fd, (struct sockaddr *)&ss, &sslen);
        zg_addr_format((struct sockaddr *)&ss, l->addr, sizeof(l->addr));
        if (l->rp_fds == NULL) {
            l->fd = fd;
            continue;
        }
        l->rp_fds[0] = fd;
        for (uint32_t k = 1; k < nr; k++) {
            l->rp_fds[k] = zg_open_listener(l, (struct sockaddr *)&ss, sslen, 1,
                                            err, errlen);
            if (l->rp_fds[k] < 0)
                return -EADDRNOTAVAIL;
        }
    }
    return 0;
}

int zg_engine_start(zg_engine_t *e, char *err, size_t errlen)
{
    int ret;

    e->nreactors = e->cfg->reactors;
    e->reactors = calloc(e->nreactors, sizeof(*e->reactors));
    if (e->reactors == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < e->nreactors; i++) {
        ret = zg_reactor_create(e, i, &e->reactors[i]);
        if (ret < 0) {
            snprintf(err, errlen, "reactor %u: out of memory", i);
            goto fail;
        }
        ret = zg_reactor_start(e->reactors[i], err, errlen);
        if (ret < 0)
            goto fail;
    }
    if (e->cfg->accept == ZG_ACCEPT_ACCEPTOR) {
        ret = zg_acceptor_start(e, err, errlen);
        if (ret < 0)
            goto fail;
    }
    return 0;
fail:
    zg_engine_stop(e);
    return ret;
}

int zg_accept_verdict(const zg_listener_t *l, int res, uint8_t *paused)
{
    if (res >= 0) {
        if (*paused)
            zg_log(ZG_LOG_NOTICE, "accepting on %s again", l->addr);
        *paused = 0;
        return 0;
    }
    if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
        if (!*paused)
            zg_log(ZG_LOG_ERROR,
                   "accept() on %s failed (%d: %s): pausing accepts for "
                   "100 ms until descriptors free up (raise ulimit -n?)",
                   l->addr, -res, strerror(-res));
        *paused = 1;
        return 1;
    }
    if (res != -ECANCELED)
        zg_log(ZG_LOG_ERROR, "accept() on %s failed (%d: %s)", l->addr, -res,
               strerror(-res));
    return 0;
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

void zg_listener_refuse(zg_listener_t *l, int fd)
{
    const zg_plugin_t *pl = &l->mod->desc;

    if (pl->over_limit_response != NULL && pl->over_limit_response_len > 0 &&
        send(fd, pl->over_limit_response, pl->over_limit_response_len,
             MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* Best effort: the socket is closed either way. */
    }
    close(fd);
}

int zg_listener_admit(zg_listener_t *l, int fd)
{
    int64_t n = atomic_fetch_add_explicit(&l->active, 1, memory_order_relaxed);
    int64_t sec, last;
    uint64_t total;

    if (n < (int64_t)l->conf->max_connections)
        return 1;
    atomic_fetch_sub_explicit(&l->active, 1, memory_order_relaxed);
    total =
        atomic_fetch_add_explicit(&l->rejected, 1, memory_order_relaxed) + 1;
    zg_listener_refuse(l, fd);
    sec = (int64_t)time(NULL);
    last = atomic_load_explicit(&l->rejected_logged, memory_order_relaxed);
    if (last != sec &&
        atomic_compare_exchange_strong(&l->rejected_logged, &last, sec))
        zg_log(ZG_LOG_WARN,
               "listener \"%s\": max_connections (%u) reached, new "
               "connections are closed (%llu so far)",
               l->conf->name, l->conf->max_connections,
               (unsigned long long)total);
    return 0;
}

uint32_t zg_engine_running(zg_engine_t *e)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < e->nreactors; i++) {
        if (e->reactors[i] != NULL && zg_reactor_ring_fd(e->reactors[i]) >= 0)
            n++;
    }
    return n;
}

/* Send control message ctl to every reactor still in its loop. */
static void zg_reactors_tell(zg_engine_t *e, uint32_t ctl, const char *what)
{
    for (uint32_t i = 0; i < e->nreactors; i++) {
        zg_reactor_t *r = e->reactors[i];

        if (r == NULL || zg_reactor_ring_fd(r) < 0)
            continue;
        if (zg_ctl_send(zg_reactor_ring_fd(r), zg_ud(ZG_OP_CTL, 0, ctl)) < 0)
            zg_log(ZG_LOG_ALERT, "reactor %u: cannot send the %s message", i,
                   what);
    }
}

void zg_engine_drain(zg_engine_t *e)
{
    atomic_store(&e->draining, 1);
    zg_acceptor_join(e);
    /* Connections still in the backlog are refused (RST), not left to
     * wait for an accept that will never come. */
    for (uint32_t i = 0; i < e->nlisteners; i++) {
        if (e->listeners[i].fd >= 0) {
            close(e->listeners[i].fd);
            e->listeners[i].fd = -1;
        }
    }
    zg_reactors_tell(e, ZG_CTL_DRAIN, "drain");
}

void zg_engine_stop(zg_engine_t *e)
{
    atomic_store(&e->stopping, 1);
    zg_acceptor_join(e);
    zg_reactors_tell(e, ZG_CTL_STOP, "stop");
    for (uint32_t i = 0; i < e->nreactors; i++) {
        if (e->reactors[i] != NULL)
            zg_reactor_join(e->reactors[i]);
    }
}

void zg_engine_free(zg_engine_t *e)
{
    for (uint32_t i = 0; i < e->nreactors; i++)
        zg_reactor_destroy(e->reactors[i]);
    free(e->reactors);
    e->reactors = NULL;
    e->nreactors = 0;
    for (uint32_t i = 0; i < e->nlisteners; i++) {
        zg_listener_t *l = &e->listeners[i];

        if (l->inited && l->mod->desc.fini != NULL)
            l->mod->desc.fini(l->plugin_data);
        l->inited = 0;
        zg_conf_arena_free(&l->arena);
        for (uint32_t j = 0; j < l->nmods; j++) {
            zg_instance_t *in = &l->mods[j];

            if (in->inited && in->mod->desc.fini != NULL)
                in->mod->desc.fini(in->data);
            in->inited = 0;
            zg_conf_arena_free(&in->arena);
        }
        if (l->fd >= 0)
            close(l->fd);
        if (l->rp_fds != NULL) {
            for (uint32_t k = 0; k < e->cfg->reactors; k++) {
                if (l->rp_fds[k] >= 0)
                    close(l->rp_fds[k]);
            }
            free(l->rp_fds);
        }
        l->fd = -1;
        l->rp_fds = NULL;
    }
    zg_loader_free(&e->loader);
    zg_ctl_free();
}
