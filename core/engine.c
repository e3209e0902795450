/* SPDX-License-Identifier: MIT */
/*
 * Description: the engine's start-up and stop sequence on the main thread:
 * load and init plugins and modules (with their host-owned config), open
 * listening sockets, start reactors and the acceptor, tell them to drain
 * or stop through the control ring, free everything. The engine calls the
 * threads; they never call back into it (they use ring.c and listener.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "compat.h"
#include "engine.h"
#include "log.h"
#include "logsink.h"
#include "metrics.h"
#include "modtable.h"
#include "reactor.h"

zg_engine_t *zg_engine;

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
    char who[96];
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
    return zg_module_init_conf(m, &zg_host_api, *conf, data, err, errlen);
}

char *zg_engine_dump(const zg_engine_t *e)
{
    json_t *root = zg_config_json(e->cfg), *lst;
    char *out;

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

char *zg_engine_schema(const zg_engine_t *e)
{
    json_t *defs = json_object(), *root = json_object();
    char *out;

    for (const zg_builtin_t *b = zg_builtin_modules; b->name != NULL; b++) {
        const zg_plugin_t *d = b->entry();
        char key[96];

        if (d == NULL || d->conf_keys == NULL)
            continue;
        snprintf(key, sizeof(key), "module_%s", d->name);
        json_object_set_new(defs, key, zg_conf_keys_schema(d->conf_keys));
    }
    for (size_t i = 0; i < e->loader.nmods; i++) {
        const zg_plugin_t *d = &e->loader.mods[i]->desc;
        char key[96];

        if ((d->flags & ZG_PLUGIN_MODULE) || d->conf_keys == NULL)
            continue;
        snprintf(key, sizeof(key), "plugin_%s", d->name);
        json_object_set_new(defs, key, zg_conf_keys_schema(d->conf_keys));
    }
    json_object_set_new(root, "$defs", defs);
    out = json_dumps(root, JSON_INDENT(4) | JSON_SORT_KEYS);
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
fail : {
    int e = errno;
    const char *hint = "";

    if (e == EADDRINUSE)
        hint = "; another process listens there (ss -ltnp shows which), "
               "or a zerg still runs";
    else if (e == EACCES && strcmp(what, "bind()") == 0)
        hint = "; ports below 1024 need root or CAP_NET_BIND_SERVICE "
               "(AmbientCapabilities= in the systemd unit)";
    else if (e == EADDRNOTAVAIL)
        hint = "; no interface has that address";
    snprintf(err, errlen, "listener \"%s\": %s on %s failed (%d: %s)%s",
             lc->name, what, lc->listen, e, strerror(e), hint);
    if (fd >= 0)
        close(fd);
    return -1;
}
}

/* The other reactors' sockets of reuseport listener l, whose first
 * inherited socket is got: more inherited ones of its name (an upgraded
 * zerg passes a socket per reactor), then, if the group allows it
 * (SO_REUSEPORT), sockets of our own on the same address. Returns 0 or
 * -1 with one line in err. */
static int zg_inherit_group(zg_listener_t *l, const zg_inherited_t *got,
                            zg_inherited_t *inh, size_t ninh, uint32_t nr,
                            char *err, size_t errlen)
{
    int on = 0;
    socklen_t len = sizeof(on);
    uint32_t k;

    for (k = 1; k < nr; k++)
        l->rp_fds[k] = -1;
    k = 1 + (uint32_t)zg_activation_claim(inh, ninh, l->conf->name,
                                          (const struct sockaddr *)&got->addr,
                                          l->rp_fds + 1, nr - 1);
    if (k < nr &&
        (getsockopt(got->fd, SOL_SOCKET, SO_REUSEPORT, &on, &len) < 0 || !on)) {
        snprintf(err, errlen,
                 "listener \"%s\": %u inherited socket(s) (fd %d) for %u "
                 "reactors, and without SO_REUSEPORT no more can be bound: "
                 "pass one per reactor or use \"accept\": \"acceptor\"",
                 l->conf->name, k, got->fd, nr);
        return -1;
    }
    for (; k < nr; k++) {
        l->rp_fds[k] = zg_open_listener(l, (const struct sockaddr *)&got->addr,
                                        got->addrlen, 1, err, errlen);
        if (l->rp_fds[k] < 0)
            return -1;
    }
    return 0;
}

int zg_engine_listen(zg_engine_t *e, char *err, size_t errlen)
{
    uint32_t nr = e->cfg->reactors;
    zg_inherited_t inh[ZG_INHERIT_MAX];
    int ninh = zg_activation_take(inh, ZG_INHERIT_MAX, err, errlen);

    if (ninh < 0)
        return ninh;
    for (uint32_t i = 0; i < e->nlisteners; i++) {
        zg_listener_t *l = &e->listeners[i];
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        zg_inherited_t *got;
        int fd;

        memcpy(&ss, &l->conf->addr, l->conf->addrlen);
        got = zg_activation_find(inh, (size_t)ninh, l->conf->name,
                                 (struct sockaddr *)&ss);
        if (got != NULL) {
            /* Socket activation: the manager bound it; we never re-bind. */
            got->claimed = 1;
            l->inherited = 1;
            fd = got->fd;
            if (e->cfg->accept == ZG_ACCEPT_REUSEPORT) {
                l->rp_fds = calloc(nr, sizeof(int));
                if (l->rp_fds == NULL)
                    return -ENOMEM;
                l->rp_fds[0] = fd;
                if (nr > 1 && zg_inherit_group(l, got, inh, (size_t)ninh, nr,
                                               err, errlen) < 0)
                    return -EINVAL;
            } else {
                l->fd = fd;
            }
            memcpy(&ss, &got->addr, got->addrlen);
            zg_addr_format((struct sockaddr *)&ss, l->addr, sizeof(l->addr));
            zg_log(ZG_LOG_INFO, "listener \"%s\": inherited socket %d (%s)",
                   l->conf->name, fd, l->addr);
            continue;
        }
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
        /* A listener on one address: every connection's local address
         * (the log phase reads it without a syscall). */
        l->bound_len = 0;
        if ((ss.ss_family == AF_INET &&
             ((struct sockaddr_in *)&ss)->sin_addr.s_addr != INADDR_ANY) ||
            (ss.ss_family == AF_INET6 &&
             !IN6_IS_ADDR_UNSPECIFIED(
                 &((struct sockaddr_in6 *)&ss)->sin6_addr))) {
            l->bound = ss;
            l->bound_len = sslen;
        }
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
    for (int k = 0; k < ninh; k++) {
        char a[64];
        int surplus = 0;

        if (inh[k].claimed)
            continue;
        zg_addr_format((struct sockaddr *)&inh[k].addr, a, sizeof(a));
        /* One more socket of a reuseport listener than it has reactors (an
         * upgrade to fewer): not ours to serve. */
        for (uint32_t i = 0; i < e->nlisteners && inh[k].name[0] != '\0'; i++)
            surplus |= e->listeners[i].rp_fds != NULL &&
                       e->listeners[i].inherited &&
                       strcmp(e->listeners[i].conf->name, inh[k].name) == 0;
        if (surplus) {
            zg_log(ZG_LOG_WARN,
                   "listener \"%s\": inherited socket %d (%s) is one more "
                   "than its %u reactor(s) use; closed (connections queued "
                   "on it are reset)",
                   inh[k].name, inh[k].fd, a, nr);
            close(inh[k].fd);
            continue;
        }
        snprintf(err, errlen,
                 "inherited socket %d (name \"%s\", %s) matches no listener "
                 "by name or address",
                 inh[k].fd, inh[k].name, a);
        return -EINVAL;
    }
    return 0;
}

int zg_engine_start(zg_engine_t *e, char *err, size_t errlen)
{
    int ret;

    uint32_t most = 1, rbits = 0;

    e->nreactors = e->cfg->reactors;
    e->reactors = calloc(e->nreactors, sizeof(*e->reactors));
    if (e->reactors == NULL)
        return -ENOMEM;
    /* Connection ids carry their slot and reactor (see zg_engine_t). */
    for (uint32_t i = 0; i < e->nreactors; i++) {
        if (e->cfg->reactor[i].max_connections > most)
            most = e->cfg->reactor[i].max_connections;
    }
    e->slot_bits = 1;
    while ((1u << e->slot_bits) < most)
        e->slot_bits++;
    while ((1u << rbits) < e->nreactors)
        rbits++;
    e->id_shift = e->slot_bits + rbits;
    for (uint32_t i = 0; i < e->nreactors; i++) {
        ret = zg_reactor_create(e, i, &e->reactors[i]);
        if (ret < 0) {
            snprintf(err, errlen, "reactor %u: out of memory", i);
            goto fail;
        }
    }
    atomic_store(&e->post_ready, 1);
    zg_metrics_started();
    for (uint32_t i = 0; i < e->nreactors; i++) {
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
    /* Stop accepting now, even where a reactor does not answer (a plugin
     * callback that never returns): the kernel refuses new connections
     * instead of queueing them for nobody. After the stop message, so a
     * reactor that answers sees it before its accept fails. */
    for (uint32_t i = 0; i < e->nlisteners; i++) {
        zg_listener_t *l = &e->listeners[i];

        if (l->inherited)
            continue;
        if (l->fd >= 0)
            shutdown(l->fd, SHUT_RDWR);
        for (uint32_t k = 0; l->rp_fds != NULL && k < e->cfg->reactors; k++) {
            if (l->rp_fds[k] >= 0)
                shutdown(l->rp_fds[k], SHUT_RDWR);
        }
    }
    for (uint32_t i = 0; i < e->nreactors; i++) {
        if (e->reactors[i] != NULL)
            zg_reactor_join(e->reactors[i]);
    }
}

void zg_engine_free(zg_engine_t *e)
{
    /* Plugins' fini first: it joins their threads, which may still post
     * (and get -ESHUTDOWN from the stopped reactors) until then. */
    for (uint32_t i = 0; i < e->nlisteners; i++) {
        zg_listener_t *l = &e->listeners[i];

        zg_tls_prefix = l->prefix; /* its log lines carry its name */
        if (l->inited && l->mod->desc.fini != NULL)
            l->mod->desc.fini(l->plugin_data);
        l->inited = 0;
        zg_conf_arena_free(&l->arena);
        for (uint32_t j = 0; j < l->nmods; j++) {
            zg_instance_t *in = &l->mods[j];

            zg_tls_prefix = in->prefix;
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
    zg_tls_prefix = NULL;
    atomic_store(&e->post_ready, 0);
    for (uint32_t i = 0; i < e->nreactors; i++)
        zg_reactor_destroy(e->reactors[i]);
    free(e->reactors);
    e->reactors = NULL;
    e->nreactors = 0;
    zg_logsink_free_all();
    zg_loader_free(&e->loader);
    zg_ctl_free();
}
