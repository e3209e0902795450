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
#include "crash.h"
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
static int zg_instance_init(const zg_config_t *cfg, zg_module_t *m,
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
    rc = zg_conf_fill(cfg, path, depth, obj, d->conf_keys, *conf, arena, who,
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
        const zg_listener_t *l = &e->listeners[e->gen->slots[i]];
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
    for (size_t i = 0; i < e->gen->loader.nmods; i++) {
        const zg_plugin_t *d = &e->gen->loader.mods[i]->desc;
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
static int zg_module_find(zg_loader_t *ld, const char *spec, zg_module_t **out,
                          char *err, size_t errlen)
{
    const char *names[64];
    char list[256];
    const char *best;
    size_t n = 0, used = 0;

    if (strchr(spec, '/') != NULL)
        return zg_loader_load(ld, spec, out, err, errlen);
    for (const zg_builtin_t *b = zg_builtin_modules; b->name != NULL; b++) {
        if (strcmp(b->name, spec) == 0)
            return zg_loader_builtin(ld, b->entry, out, err, errlen);
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
static int zg_engine_load_modules(zg_listener_t *l, char *err, size_t errlen)
{
    const zg_config_t *cfg = l->gen->cfg;
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

        ret = zg_module_find(&l->gen->loader, mc->spec, &in->mod, msg,
                             sizeof(msg));
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
        ret = zg_instance_init(cfg, in->mod, path, 5, mc->json, mc->config,
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
                 cfg->path, l->index, j, mc->spec, msg);
        return ret;
    }
    return 0;
}

/* Put listener i of generation g's configuration into a free slot: load
 * its plugin and modules and run their init. Returns the slot, or -errno
 * with one line in err (what was set up is undone by zg_slot_release). */
static int zg_slot_take(zg_engine_t *e, zg_gen_t *g, uint32_t i, char *err,
                        size_t errlen)
{
    const zg_config_t *cfg = g->cfg;
    zg_listener_t *l = NULL;
    char msg[512];
    uint32_t s;
    int ret;

    for (s = 0; s < ZG_MAX_SLOTS; s++) {
        if (e->listeners[s].gen == NULL) {
            l = &e->listeners[s];
            break;
        }
    }
    if (l == NULL) {
        snprintf(err, errlen,
                 "%s: no free listener slot (%d): connections of earlier "
                 "generations are still draining; try again once they "
                 "closed (at most shutdown_timeout_ms)",
                 cfg->path, ZG_MAX_SLOTS);
        return -EBUSY;
    }
    pthread_rwlock_wrlock(&e->slots_lock);
    l->conf = &cfg->listeners[i];
    l->index = i;
    l->slot = s;
    l->gen = g;
    l->fd = -1;
    l->rp_fds = NULL;
    l->inherited = 0;
    l->owns_fds = 0;
    l->addr[0] = '\0';
    l->bound_len = 0;
    l->mod = NULL;
    l->plugin_data = NULL;
    l->inited = 0;
    l->plugin_conf = NULL;
    memset(&l->arena, 0, sizeof(l->arena));
    memset(l->mods, 0, sizeof(l->mods));
    l->nmods = l->preread_mods = l->log_mods = 0;
    atomic_store(&l->succ, -1);
    atomic_store(&l->finished, 0);
    atomic_store(&l->acc_done, 0);
    atomic_store(&l->refused, 0);
    atomic_store(&l->accepted, 0);
    atomic_store(&l->active, 0);
    atomic_store(&l->rejected, 0);
    atomic_store(&l->rejected_logged, 0);
    memset(&l->carry, 0, sizeof(l->carry));
    atomic_fetch_add(&l->epoch, 1);
    if (s + 1 > atomic_load(&e->nslots))
        atomic_store(&e->nslots, s + 1);
    pthread_rwlock_unlock(&e->slots_lock);
    g->slots[i] = s;
    g->nslots = i + 1;
    g->refs++;

    ret =
        zg_loader_load(&g->loader, l->conf->plugin, &l->mod, msg, sizeof(msg));
    if (ret < 0) {
        snprintf(err, errlen, "%s: listeners[%u] (\"%s\"): %s", cfg->path, i,
                 l->conf->name, msg);
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
        zg_conf_comp_t path[3] = {{"listeners", 0}, {NULL, i}, {"config", 0}};

        ret = zg_instance_init(
            cfg, l->mod, path, 3, l->conf->plugin_json, l->conf->plugin_config,
            &l->arena, &l->plugin_conf, &l->plugin_data, msg, sizeof(msg));
    }
    if (ret == -EBADMSG) {
        snprintf(err, errlen, "%s", msg);
        return -EINVAL;
    }
    if (ret < 0) {
        snprintf(err, errlen, "%s: listeners[%u] (\"%s\"): %s", cfg->path, i,
                 l->conf->name, msg);
        return ret;
    }
    l->inited = 1;
    ret = zg_engine_load_modules(l, err, errlen);
    return ret < 0 ? ret : (int)s;
}

/* Give slot l back: plugin and module fini, their config, the sockets it
 * still owns. Main thread, once no thread uses the slot. */
static void zg_slot_release(zg_engine_t *e, zg_listener_t *l)
{
    zg_gen_t *g = l->gen;

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
    zg_tls_prefix = NULL;
    if (l->owns_fds) {
        if (l->fd >= 0)
            close(l->fd);
        for (uint32_t k = 0; l->rp_fds != NULL && k < e->cfg->reactors; k++) {
            if (l->rp_fds[k] >= 0)
                close(l->rp_fds[k]);
        }
        free(l->rp_fds);
    }
    pthread_rwlock_wrlock(&e->slots_lock);
    atomic_store(&l->want, ZG_LS_FREE);
    l->fd = -1;
    l->rp_fds = NULL;
    l->owns_fds = 0;
    l->gen = NULL;
    pthread_rwlock_unlock(&e->slots_lock);
    if (g != NULL && --g->refs == 0 && g != &e->gen0) {
        zg_config_free(g->cfg);
        g->cfg = NULL;
    }
}

int zg_engine_load(zg_engine_t *e, zg_config_t *cfg, char *err, size_t errlen)
{
    zg_gen_t *g = &e->gen0;
    int ret;

    e->cfg = cfg;
    pthread_rwlock_init(&e->slots_lock, NULL);
    atomic_store(&e->shutdown_timeout_ms, cfg->shutdown_timeout_ms);
    g->cfg = cfg;
    e->gen = e->gens = g;
    ret = zg_loader_init(&g->loader, NULL);
    if (ret < 0) {
        snprintf(err, errlen, "plugin loader: %s", strerror(-ret));
        return ret;
    }
    for (uint32_t i = 0; i < cfg->nlisteners; i++) {
        ret = zg_slot_take(e, g, i, err, errlen);
        e->nlisteners = g->nslots;
        if (ret < 0)
            return ret;
    }
    return 0;
}

/* A port in use is tried this many more times, this far apart. */
#define ZG_BIND_TRIES   20
#define ZG_BIND_WAIT_MS 50

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
    for (int tries = 0; bind(fd, sa, salen) < 0; tries++) {
        /* The sockets of a process that just ended (a crashed worker, a
         * zerg restarted at once) close after it, once its io_uring is
         * torn down: wait for that a little, as long as it takes. */
        if (errno != EADDRINUSE || tries == ZG_BIND_TRIES)
            goto fail;
        if (tries == 0)
            zg_log(ZG_LOG_NOTICE,
                   "listener \"%s\": %s is in use; trying again for up "
                   "to %d ms",
                   lc->name, lc->listen, ZG_BIND_TRIES * ZG_BIND_WAIT_MS);
        usleep(ZG_BIND_WAIT_MS * 1000);
    }
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

/* Give listener l its socket(s): an inherited one (inh, socket
 * activation) if one matches, else bind. l owns what it gets. */
static int zg_listener_bind(zg_engine_t *e, zg_listener_t *l,
                            zg_inherited_t *inh, size_t ninh, char *err,
                            size_t errlen)
{
    uint32_t nr = e->cfg->reactors;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    zg_inherited_t *got;
    int fd;

    memcpy(&ss, &l->conf->addr, l->conf->addrlen);
    l->owns_fds = 1;
    got = zg_activation_find(inh, ninh, l->conf->name, (struct sockaddr *)&ss);
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
            if (nr > 1 &&
                zg_inherit_group(l, got, inh, ninh, nr, err, errlen) < 0)
                return -EINVAL;
        } else {
            l->fd = fd;
        }
        memcpy(&ss, &got->addr, got->addrlen);
        l->real = ss;
        zg_addr_format((struct sockaddr *)&ss, l->addr, sizeof(l->addr));
        zg_log(ZG_LOG_INFO, "listener \"%s\": inherited socket %d (%s)",
               l->conf->name, fd, l->addr);
        return 0;
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
    l->real = ss;
    zg_addr_format((struct sockaddr *)&ss, l->addr, sizeof(l->addr));
    /* A listener on one address: every connection's local address
     * (the log phase reads it without a syscall). */
    l->bound_len = 0;
    if ((ss.ss_family == AF_INET &&
         ((struct sockaddr_in *)&ss)->sin_addr.s_addr != INADDR_ANY) ||
        (ss.ss_family == AF_INET6 &&
         !IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr))) {
        l->bound = ss;
        l->bound_len = sslen;
    }
    if (l->rp_fds == NULL) {
        l->fd = fd;
        return 0;
    }
    l->rp_fds[0] = fd;
    for (uint32_t k = 1; k < nr; k++) {
        l->rp_fds[k] =
            zg_open_listener(l, (struct sockaddr *)&ss, sslen, 1, err, errlen);
        if (l->rp_fds[k] < 0)
            return -EADDRNOTAVAIL;
    }
    return 0;
}

int zg_engine_listen(zg_engine_t *e, char *err, size_t errlen)
{
    zg_inherited_t inh[ZG_INHERIT_MAX];
    int ninh = zg_activation_take(inh, ZG_INHERIT_MAX, err, errlen);

    if (ninh < 0)
        return ninh;
    for (uint32_t i = 0; i < e->nlisteners; i++) {
        int ret = zg_listener_bind(e, zg_engine_listener(e, i), inh,
                                   (size_t)ninh, err, errlen);

        if (ret < 0)
            return ret;
    }
    for (int k = 0; k < ninh; k++) {
        char a[64];
        int surplus = 0;

        if (inh[k].claimed)
            continue;
        zg_addr_format((struct sockaddr *)&inh[k].addr, a, sizeof(a));
        /* One more socket of a reuseport listener than it has reactors (an
         * upgrade to fewer): not ours to serve. */
        for (uint32_t i = 0; i < e->nlisteners && inh[k].name[0] != '\0'; i++) {
            const zg_listener_t *l = zg_engine_listener(e, i);

            surplus |= l->rp_fds != NULL && l->inherited &&
                       strcmp(l->conf->name, inh[k].name) == 0;
        }
        if (surplus) {
            zg_log(ZG_LOG_WARN,
                   "listener \"%s\": inherited socket %d (%s) is one more "
                   "than its %u reactor(s) use; closed (connections queued "
                   "on it are reset)",
                   inh[k].name, inh[k].fd, a, e->cfg->reactors);
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
    /* The reactors' setup brings every slot up to this (see ZG_LS_*). */
    for (uint32_t i = 0; i < e->nlisteners; i++)
        atomic_store(&zg_engine_listener(e, i)->want, ZG_LS_LIVE);
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
    uint32_t ns = atomic_load(&e->nslots);

    atomic_store(&e->draining, 1);
    zg_acceptor_join(e);
    /* Connections still in the backlog are refused (RST), not left to
     * wait for an accept that will never come. */
    for (uint32_t i = 0; i < ns; i++) {
        zg_listener_t *l = &e->listeners[i];

        if (l->gen != NULL && l->owns_fds && l->fd >= 0) {
            close(l->fd);
            l->fd = -1;
        }
    }
    zg_reactors_tell(e, ZG_CTL_DRAIN, "drain");
}

/* Shut the listening sockets slot l owns down (not inherited ones: they
 * listen on for the next server). Accepts armed on them end. */
static void zg_slot_shutdown(const zg_engine_t *e, const zg_listener_t *l)
{
    if (l->gen == NULL || !l->owns_fds || l->inherited)
        return;
    if (l->fd >= 0)
        shutdown(l->fd, SHUT_RDWR);
    for (uint32_t k = 0; l->rp_fds != NULL && k < e->cfg->reactors; k++) {
        if (l->rp_fds[k] >= 0)
            shutdown(l->rp_fds[k], SHUT_RDWR);
    }
}

void zg_engine_stop(zg_engine_t *e)
{
    uint32_t ns = atomic_load(&e->nslots);

    atomic_store(&e->stopping, 1);
    zg_acceptor_join(e);
    zg_reactors_tell(e, ZG_CTL_STOP, "stop");
    /* Stop accepting now, even where a reactor does not answer (a plugin
     * callback that never returns): the kernel refuses new connections
     * instead of queueing them for nobody. After the stop message, so a
     * reactor that answers sees it before its accept fails. */
    for (uint32_t i = 0; i < ns; i++)
        zg_slot_shutdown(e, &e->listeners[i]);
    for (uint32_t i = 0; i < e->nreactors; i++) {
        if (e->reactors[i] != NULL)
            zg_reactor_join(e->reactors[i]);
    }
}

/* Send ZG_CTL_SYNC to every reactor still in its loop and the acceptor;
 * with wait, wait (at most 10 s) until every reactor has brought its
 * slots up to date. Returns 0, or -errno with the first reactor's error
 * (a reactor_init that failed) in err. */
static int zg_engine_sync(zg_engine_t *e, int wait, char *err, size_t errlen)
{
    uint32_t seq = atomic_fetch_add(&e->sync_seq, 1) + 1;

    if (e->acceptor != NULL)
        zg_acceptor_sync(e);
    for (uint32_t i = 0; i < e->nreactors; i++) {
        zg_reactor_t *r = e->reactors[i];

        if (r == NULL || zg_reactor_ring_fd(r) < 0)
            continue;
        if (zg_ctl_send(zg_reactor_ring_fd(r),
                        zg_ud(ZG_OP_CTL, seq, ZG_CTL_SYNC)) < 0)
            zg_log(ZG_LOG_ALERT, "reactor %u: cannot send the sync message", i);
    }
    if (!wait)
        return 0;
    for (uint32_t i = 0; i < e->nreactors; i++) {
        zg_reactor_t *r = e->reactors[i];
        int ret;

        if (r == NULL)
            continue;
        ret = zg_reactor_synced(r, seq, 10000, err, errlen);
        if (ret < 0)
            return ret;
    }
    return 0;
}

int zg_addr_same(const struct sockaddr_storage *a,
                 const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) ==
                   0 &&
               x->sin6_scope_id == y->sin6_scope_id;
    }
    return 0;
}

/* The live slot of generation g listening where a says (as configured,
 * or where it really listens: a port 0 got a port), if any and not
 * already claimed (used[]). */
static int zg_slot_by_addr(const zg_engine_t *e, const zg_gen_t *g,
                           const zg_listener_conf_t *a, uint8_t *used)
{
    for (uint32_t i = 0; i < g->nslots; i++) {
        const zg_listener_t *o = &e->listeners[g->slots[i]];
        struct sockaddr_storage want;

        memset(&want, 0, sizeof(want));
        memcpy(&want, &a->addr, a->addrlen);
        if (used[i] || o->gen != g || !o->owns_fds ||
            o->conf->ip_version != a->ip_version ||
            (!zg_addr_same(&want, (const void *)&o->conf->addr) &&
             !zg_addr_same(&want, &o->real)))
            continue;
        used[i] = 1;
        return (int)i;
    }
    return -1;
}

/* Keys that only a restart applies: warn when a reload changes them. */
static void zg_reload_static_keys(const zg_config_t *a, const zg_config_t *b)
{
    static const char *const keys[] = {
        "reactors", "accept", "acceptor", "reactor", "reactor_overrides",
        "pid",      "user",   "group",    "master"};
    json_t *ja = zg_config_json(a), *jb = zg_config_json(b);
    char list[160] = "";
    size_t used = 0;

    for (size_t k = 0;
         ja != NULL && jb != NULL && k < sizeof(keys) / sizeof(*keys); k++) {
        json_t *x = json_object_get(ja, keys[k]),
               *y = json_object_get(jb, keys[k]);

        if ((x == NULL) != (y == NULL) || (x != NULL && !json_equal(x, y))) {
            int n = snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
                             used ? ", " : "", keys[k]);

            if (n > 0 && (size_t)n < sizeof(list) - used)
                used += (size_t)n;
        }
    }
    if (used > 0)
        zg_log(ZG_LOG_WARN,
               "reload: %s changed; that takes a restart (or a binary "
               "upgrade): the running values stay, the rest of %s applies",
               list, b->path);
    json_decref(ja);
    json_decref(jb);
}

int zg_engine_reload(zg_engine_t *e, zg_config_t *cfg, char *err, size_t errlen)
{
    zg_gen_t *old = e->gen, *g = calloc(1, sizeof(*g));
    uint8_t used[ZG_MAX_LISTENERS] = {0};
    int kept[ZG_MAX_LISTENERS];
    uint32_t n = (uint32_t)cfg->nlisteners;
    int ret, prepared = 0;

    if (g == NULL) {
        zg_config_free(cfg);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    g->num = old->num + 1;
    g->cfg = cfg;
    ret = zg_loader_init(&g->loader, NULL);
    if (ret < 0) {
        snprintf(err, errlen, "plugin loader: %s", strerror(-ret));
        zg_config_free(cfg);
        free(g);
        return ret;
    }
    g->next = e->gens;
    e->gens = g;
    /* Plugins and modules of the new generation, with their config. */
    for (uint32_t i = 0; i < n; i++) {
        ret = zg_slot_take(e, g, i, err, errlen);
        if (ret < 0)
            goto undo;
    }
    /* Sockets: an unchanged address keeps its socket (no refused
     * connection, no second bind); a new one is bound. */
    for (uint32_t i = 0; i < n; i++) {
        zg_listener_t *l = &e->listeners[g->slots[i]];
        int k = zg_slot_by_addr(e, old, l->conf, used);

        kept[i] = k;
        if (k >= 0) {
            const zg_listener_t *o = &e->listeners[old->slots[k]];

            l->fd = o->fd;
            l->rp_fds = o->rp_fds;
            l->inherited = o->inherited;
            memcpy(l->addr, o->addr, sizeof(l->addr));
            l->bound = o->bound;
            l->bound_len = o->bound_len;
            l->real = o->real;
            continue;
        }
        ret = zg_listener_bind(e, l, NULL, 0, err, errlen);
        if (ret < 0)
            goto undo;
    }
    /* Every reactor runs reactor_init for the new slots. */
    for (uint32_t i = 0; i < n; i++)
        atomic_store(&e->listeners[g->slots[i]].want, ZG_LS_PREPARED);
    prepared = 1;
    ret = zg_engine_sync(e, 1, err, errlen);
    if (ret < 0)
        goto undo;
    /* Commit: sockets change hands, the new slots accept, the old ones
     * retire (and pass new connections already accepted to their
     * successor). */
    for (uint32_t i = 0; i < n; i++) {
        zg_listener_t *l = &e->listeners[g->slots[i]];

        if (kept[i] >= 0) {
            zg_listener_t *o = &e->listeners[old->slots[kept[i]]];

            o->owns_fds = 0;
            l->owns_fds = 1;
            atomic_store(&o->succ, (int)l->slot);
        }
        atomic_store(&l->want, ZG_LS_LIVE);
    }
    for (uint32_t i = 0; i < old->nslots; i++) {
        zg_listener_t *o = &e->listeners[old->slots[i]];

        if (o->gen == old && atomic_load(&o->want) == ZG_LS_LIVE) {
            atomic_store(&o->want, ZG_LS_RETIRED);
            e->retiring++;
        }
    }
    zg_reload_static_keys(e->cfg, cfg);
    pthread_rwlock_wrlock(&e->slots_lock);
    e->gen = g;
    e->nlisteners = n;
    pthread_rwlock_unlock(&e->slots_lock);
    atomic_store(&e->shutdown_timeout_ms, cfg->shutdown_timeout_ms);
    zg_engine_sync(e, 0, err, errlen);
    /* Removed listeners: the kernel refuses what waits in their backlog. */
    for (uint32_t i = 0; i < old->nslots; i++)
        zg_slot_shutdown(e, &e->listeners[old->slots[i]]);
    zg_crash_note_plugins(&g->loader);
    return 0;
undo:
    /* Nothing changed for the live generation. Slots the reactors know
     * retire like any other; the rest are freed now. */
    for (uint32_t i = 0; i < g->nslots; i++) {
        zg_listener_t *l = &e->listeners[g->slots[i]];

        if (prepared) {
            atomic_store(&l->want, ZG_LS_RETIRED);
            e->retiring++;
        } else {
            zg_slot_release(e, l);
        }
    }
    if (g->refs == 0 && g->cfg != NULL) {
        zg_config_free(g->cfg); /* no slot was taken */
        g->cfg = NULL;
    }
    if (prepared) {
        char ignored[8];

        zg_engine_sync(e, 0, ignored, sizeof(ignored));
    }
    return ret;
}

/* The live slot named name, or NULL. */
static zg_listener_t *zg_live_named(zg_engine_t *e, const char *name)
{
    for (uint32_t i = 0; i < e->nlisteners; i++) {
        zg_listener_t *l = zg_engine_listener(e, i);

        if (strcmp(l->conf->name, name) == 0)
            return l;
    }
    return NULL;
}

/* Slot o is being freed: its counters go on in the live slot of its
 * name, so that a reload does not reset them. */
static void zg_carry(zg_engine_t *e, zg_listener_t *o)
{
    zg_listener_t *l = zg_live_named(e, o->conf->name);
    zg_lcarry_t *c;
    zg_lsum_t t;

    if (l == NULL || l == o)
        return;
    c = &l->carry;
    memset(&t, 0, sizeof(t));
    zg_lsum_own(e, o->slot, l, &t);
#define ZG_CARRY(dst, v)                                                       \
    atomic_fetch_add_explicit(&(dst), (v), memory_order_relaxed)
    ZG_CARRY(l->accepted, t.accepted);
    ZG_CARRY(l->rejected, t.rejected);
    ZG_CARRY(l->refused, atomic_load(&o->refused));
    for (int k = 0; k < 8; k++)
        ZG_CARRY(c->closed[k], t.closed[k]);
    for (int k = 0; k < ZG_MAX_MODULES; k++)
        ZG_CARRY(c->refused_mod[k], t.refused_mod[k]);
    ZG_CARRY(c->refused_full, t.refused_full);
    ZG_CARRY(c->bytes_in, t.bytes_in);
    ZG_CARRY(c->bytes_out, t.bytes_out);
    ZG_CARRY(c->requests, t.requests);
    ZG_CARRY(c->errors, t.errors);
#undef ZG_CARRY
}

uint32_t zg_engine_collect(zg_engine_t *e)
{
    uint32_t ns = atomic_load(&e->nslots);

    for (uint32_t s = 0; s < ns && e->retiring > 0; s++) {
        zg_listener_t *l = &e->listeners[s];

        if (l->gen == NULL || atomic_load(&l->want) != ZG_LS_RETIRED ||
            atomic_load(&l->finished) < e->nreactors ||
            (e->acceptor != NULL && !atomic_load(&l->acc_done)) ||
            atomic_load(&l->active) > 0)
            continue;
        zg_carry(e, l);
        zg_log(ZG_LOG_INFO,
               "reload: generation %u's listener \"%s\" has no connection "
               "left; its plugin %s is released",
               l->gen->num, l->conf->name, l->mod->desc.name);
        zg_slot_release(e, l);
        e->retiring--;
    }
    return e->retiring;
}

void zg_engine_free(zg_engine_t *e)
{
    uint32_t ns = atomic_load(&e->nslots);

    /* Plugins' fini first: it joins their threads, which may still post
     * (and get -ESHUTDOWN from the stopped reactors) until then. */
    for (uint32_t i = 0; i < ns; i++) {
        if (e->listeners[i].gen != NULL)
            zg_slot_release(e, &e->listeners[i]);
    }
    atomic_store(&e->post_ready, 0);
    for (uint32_t i = 0; i < e->nreactors; i++)
        zg_reactor_destroy(e->reactors[i]);
    free(e->reactors);
    e->reactors = NULL;
    e->nreactors = 0;
    zg_logsink_free_all();
    /* Loaders last: nothing is dlclosed while a reactor may run. */
    while (e->gens != NULL) {
        zg_gen_t *g = e->gens;

        e->gens = g->next;
        zg_loader_free(&g->loader);
        if (g != &e->gen0) {
            zg_config_free(g->cfg);
            free(g);
        }
    }
    zg_ctl_free();
    if (e->gen != NULL)
        pthread_rwlock_destroy(&e->slots_lock);
    e->gen = NULL;
}
