/* SPDX-License-Identifier: MIT */
/*
 * Description: the server's metrics as text (api->metrics): the
 * Prometheus text exposition format and a short status page in the
 * spirit of nginx's stub_status. Every value is a sum of per-reactor
 * counters read with relaxed loads (see ZG_STAT_ADD in reactor.h) and of
 * the listeners' shared admission counters: no reactor stops for it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "reactor.h"
#include "zerg_build.h"

static double zg_started;

void zg_metrics_started(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    zg_started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An output buffer that counts what would not fit (snprintf style). */
typedef struct zg_mbuf_s {
    char *p;
    size_t cap;
    size_t len; /* the whole text's length so far */
} zg_mbuf_t;

__attribute__((format(printf, 2, 3))) static void zg_mput(zg_mbuf_t *b,
                                                          const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->len < b->cap ? b->p + b->len : NULL,
                  b->len < b->cap ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

static uint64_t zg_ld(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* The reactors that exist (started or not). */
static int zg_reactors(zg_engine_t *e)
{
    return e != NULL && atomic_load(&e->post_ready);
}

void zg_lsum_own(zg_engine_t *e, uint32_t l, const zg_listener_t *to,
                 zg_lsum_t *s)
{
    zg_listener_t *li = &e->listeners[l];
    zg_lcarry_t *c = &li->carry;
    zg_lsum_t t;

    memset(&t, 0, sizeof(t));
    t.accepted = zg_ld(&li->accepted);
    t.rejected = zg_ld(&li->rejected);
    t.active = atomic_load_explicit(&li->active, memory_order_relaxed);
    /* The reactors' counters, then the carry: the same fields. */
    for (uint32_t i = 0; i <= e->nreactors; i++) {
        zg_lstat_t *st = NULL;

        if (i < e->nreactors) {
            if (!zg_reactors(e) || e->reactors[i] == NULL)
                continue;
            st = &e->reactors[i]->lstat[l];
        }
#define ZG_LSUM_ADD(f) (t.f += zg_ld(st != NULL ? &st->f : &c->f))
        for (int k = 0; k < 8; k++)
            ZG_LSUM_ADD(closed[k]);
        for (int k = 0; k < ZG_MAX_MODULES; k++)
            ZG_LSUM_ADD(refused_mod[k]);
        ZG_LSUM_ADD(refused_full);
        ZG_LSUM_ADD(bytes_in);
        ZG_LSUM_ADD(bytes_out);
        ZG_LSUM_ADD(requests);
        ZG_LSUM_ADD(errors);
#undef ZG_LSUM_ADD
    }
    for (int k = 0; k < 8; k++)
        s->closed[k] += t.closed[k];
    for (uint32_t j = 0; j < li->nmods; j++) {
        if (to == NULL || to == li) {
            s->refused_mod[j] += t.refused_mod[j];
            continue;
        }
        for (uint32_t k = 0; k < to->nmods; k++) {
            if (strcmp(li->mods[j].mod->desc.name,
                       to->mods[k].mod->desc.name) == 0) {
                s->refused_mod[k] += t.refused_mod[j];
                break;
            }
        }
    }
    s->refused_full += t.refused_full;
    s->bytes_in += t.bytes_in;
    s->bytes_out += t.bytes_out;
    s->requests += t.requests;
    s->errors += t.errors;
    s->accepted += t.accepted;
    s->rejected += t.rejected;
    s->active += t.active;
}

/* The live listener in slot l: its own counters and those of the slots
 * of its name still draining after a reload. Under the slots' read
 * lock. */
static void zg_lsum(zg_engine_t *e, uint32_t l, zg_lsum_t *s)
{
    zg_listener_t *li = &e->listeners[l];
    uint32_t ns = atomic_load(&e->nslots);

    memset(s, 0, sizeof(*s));
    zg_lsum_own(e, l, NULL, s);
    for (uint32_t o = 0; o < ns; o++) {
        zg_listener_t *old = &e->listeners[o];

        if (o != l && old->gen != NULL &&
            atomic_load(&old->want) == ZG_LS_RETIRED &&
            strcmp(old->conf->name, li->conf->name) == 0)
            zg_lsum_own(e, o, li, s);
    }
}

static const char *const zg_reason_names[8] = {
    "unknown", "peer",    "local",    "error",
    "limit",   "timeout", "shutdown", "refused",
};

/* A label value: listener names are [A-Za-z0-9_.-] by the config's
 * rules, but escape as the format demands anyway. */
static void zg_mlabel(zg_mbuf_t *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            zg_mput(b, "\\%c", *v);
        else if (*v == '\n')
            zg_mput(b, "\\n");
        else
            zg_mput(b, "%c", *v);
    }
}

static void zg_mhead(zg_mbuf_t *b, const char *name, const char *type,
                     const char *help)
{
    zg_mput(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void zg_mlistener(zg_mbuf_t *b, const char *name, const zg_listener_t *l)
{
    zg_mput(b, "%s{listener=\"", name);
    zg_mlabel(b, l->conf->name);
    zg_mput(b, "\"");
}

static void zg_prometheus(zg_mbuf_t *b, zg_engine_t *e)
{
    uint32_t nl = e != NULL ? e->nlisteners : 0;
    zg_lsum_t sums[ZG_MAX_LISTENERS];
    const zg_listener_t *ls[ZG_MAX_LISTENERS];

    for (uint32_t l = 0; l < nl; l++) {
        ls[l] = zg_engine_listener(e, l);
        zg_lsum(e, e->gen->slots[l], &sums[l]);
    }
    zg_mhead(b, "zerg_build_info", "gauge",
             "zerg's version and plugin ABI (always 1).");
    zg_mput(b, "zerg_build_info{version=\"%s\",abi=\"%d.%d\"} 1\n", ZG_VERSION,
            ZG_ABI_MAJOR, ZG_ABI_MINOR);
    zg_mhead(b, "zerg_start_time_seconds", "gauge",
             "When the server started, in seconds since the Unix epoch.");
    zg_mput(b, "zerg_start_time_seconds %.3f\n", zg_started);

    zg_mhead(b, "zerg_connections_accepted_total", "counter",
             "Connections accepted on the listener.");
    for (uint32_t l = 0; l < nl; l++) {
        zg_mlistener(b, "zerg_connections_accepted_total", ls[l]);
        zg_mput(b, "} %llu\n", (unsigned long long)sums[l].accepted);
    }
    zg_mhead(b, "zerg_connections_active", "gauge",
             "Connections admitted and not yet closed.");
    for (uint32_t l = 0; l < nl; l++) {
        int64_t a = sums[l].active;

        zg_mlistener(b, "zerg_connections_active", ls[l]);
        zg_mput(b, "} %lld\n", (long long)(a > 0 ? a : 0));
    }
    zg_mhead(b, "zerg_connections_refused_total", "counter",
             "Connections closed before the plugin saw them, by reason: "
             "max_connections (listener limit), reactor_full (no free slot) "
             "or the refusing module's name.");
    for (uint32_t l = 0; l < nl; l++) {
        const zg_listener_t *li = ls[l];

        zg_mlistener(b, "zerg_connections_refused_total", li);
        zg_mput(b, ",reason=\"max_connections\"} %llu\n",
                (unsigned long long)sums[l].rejected);
        zg_mlistener(b, "zerg_connections_refused_total", li);
        zg_mput(b, ",reason=\"reactor_full\"} %llu\n",
                (unsigned long long)sums[l].refused_full);
        for (uint32_t j = 0; j < li->nmods; j++) {
            const zg_plugin_t *d = &li->mods[j].mod->desc;

            if (d->on_admit == NULL && d->on_preread == NULL)
                continue; /* it cannot refuse */
            zg_mlistener(b, "zerg_connections_refused_total", li);
            zg_mput(b, ",reason=\"");
            zg_mlabel(b, li->mods[j].mod->desc.name);
            zg_mput(b, "\"} %llu\n",
                    (unsigned long long)sums[l].refused_mod[j]);
        }
    }
    zg_mhead(b, "zerg_connections_closed_total", "counter",
             "Connections that ended, by reason (peer, local, error, limit, "
             "timeout, shutdown, refused).");
    for (uint32_t l = 0; l < nl; l++) {
        for (int k = 1; k < 8; k++) {
            zg_mlistener(b, "zerg_connections_closed_total", ls[l]);
            zg_mput(b, ",reason=\"%s\"} %llu\n", zg_reason_names[k],
                    (unsigned long long)sums[l].closed[k]);
        }
    }
    zg_mhead(b, "zerg_received_bytes_total", "counter",
             "Bytes received from clients.");
    for (uint32_t l = 0; l < nl; l++) {
        zg_mlistener(b, "zerg_received_bytes_total", ls[l]);
        zg_mput(b, "} %llu\n", (unsigned long long)sums[l].bytes_in);
    }
    zg_mhead(b, "zerg_sent_bytes_total", "counter",
             "Bytes the kernel took for clients.");
    for (uint32_t l = 0; l < nl; l++) {
        zg_mlistener(b, "zerg_sent_bytes_total", ls[l]);
        zg_mput(b, "} %llu\n", (unsigned long long)sums[l].bytes_out);
    }
    zg_mhead(b, "zerg_requests_total", "counter",
             "Requests served, as the listener's plugin counts them.");
    for (uint32_t l = 0; l < nl; l++) {
        zg_mlistener(b, "zerg_requests_total", ls[l]);
        zg_mput(b, "} %llu\n", (unsigned long long)sums[l].requests);
    }
    zg_mhead(b, "zerg_plugin_errors_total", "counter",
             "Plugin misbehaviour closed a connection (on_accept failed, "
             "on_data consumed more than it was given).");
    for (uint32_t l = 0; l < nl; l++) {
        zg_mlistener(b, "zerg_plugin_errors_total", ls[l]);
        zg_mput(b, "} %llu\n", (unsigned long long)sums[l].errors);
    }
    if (!zg_reactors(e))
        return;
    {
        static const struct {
            const char *name, *type, *help;
            size_t off;
        } rm[] = {
            {"zerg_reactor_connections", "gauge",
             "Connection slots in use (accepted and outbound).",
             offsetof(zg_rstat_t, conns)},
            {"zerg_reactor_buffers_in_use", "gauge",
             "Receive buffers held by connections (not in the kernel's "
             "ring).",
             offsetof(zg_rstat_t, bufs_used)},
            {"zerg_reactor_buffer_window", "gauge",
             "Receive buffers the kernel may be given now (the window "
             "grows when receives run short, shrinks when quiet).",
             offsetof(zg_rstat_t, window)},
            {"zerg_reactor_enobufs_total", "counter",
             "Receives that ran out of buffers and waited (ENOBUFS).",
             offsetof(zg_rstat_t, enobufs)},
            {"zerg_reactor_recv_bundles_total", "counter",
             "Receive completions that filled more than one buffer (recv "
             "bundles).",
             offsetof(zg_rstat_t, bundles)},
            {"zerg_reactor_recv_bundle_buffers_total", "counter",
             "Buffers filled by those completions.",
             offsetof(zg_rstat_t, bundle_bufs)},
            {"zerg_reactor_held_bytes_max", "gauge",
             "The most unconsumed input one connection held.",
             offsetof(zg_rstat_t, held_max)},
            {"zerg_reactor_handoffs_total", "counter",
             "Sockets handed to the reactor by the acceptor thread.",
             offsetof(zg_rstat_t, handoffs)},
            {"zerg_reactor_zerocopy_sends_total", "counter",
             "Zero-copy sends (reactor.send_zc).",
             offsetof(zg_rstat_t, zc_sends)},
        };

        for (size_t m = 0; m < sizeof(rm) / sizeof(rm[0]); m++) {
            zg_mhead(b, rm[m].name, rm[m].type, rm[m].help);
            for (uint32_t i = 0; i < e->nreactors; i++) {
                zg_reactor_t *r = e->reactors[i];

                if (r == NULL)
                    continue;
                zg_mput(
                    b, "%s{reactor=\"%u\"} %llu\n", rm[m].name, i,
                    (unsigned long long)zg_ld(
                        (_Atomic uint64_t *)((char *)&r->rstat + rm[m].off)));
            }
            if (strcmp(rm[m].name, "zerg_reactor_buffers_in_use") == 0) {
                zg_mhead(b, "zerg_reactor_buffers", "gauge",
                         "Receive buffers of the reactor's ring.");
                for (uint32_t i = 0; i < e->nreactors; i++)
                    zg_mput(b, "zerg_reactor_buffers{reactor=\"%u\"} %u\n", i,
                            e->cfg->reactor[i].buffer_ring_entries);
            }
        }
    }
}

static void zg_status(zg_mbuf_t *b, zg_engine_t *e)
{
    uint64_t accepted = 0, closed = 0, requests = 0, refused = 0;
    int64_t active = 0;
    uint32_t nl = e != NULL ? e->nlisteners : 0;

    for (uint32_t l = 0; l < nl; l++) {
        zg_lsum_t s;

        zg_lsum(e, e->gen->slots[l], &s);
        accepted += s.accepted;
        active += s.active;
        refused += s.rejected + s.refused_full;
        for (int k = 0; k < 8; k++)
            closed += s.closed[k];
        requests += s.requests;
    }
    zg_mput(b, "Active connections: %lld\n",
            (long long)(active > 0 ? active : 0));
    zg_mput(b, "server accepts handled requests\n %llu %llu %llu\n",
            (unsigned long long)accepted,
            (unsigned long long)(accepted >= refused ? accepted - refused : 0),
            (unsigned long long)requests);
    zg_mput(b, "closed: %llu, reactors: %u, version: %s\n",
            (unsigned long long)closed, e != NULL ? e->nreactors : 0,
            ZG_VERSION);
}

size_t zg_metrics_text(int format, char *buf, size_t len)
{
    zg_mbuf_t b = {.p = buf, .cap = len, .len = 0};

    /* Slots stay put while we read them (a reload frees them under the
     * write lock). */
    if (zg_engine != NULL && zg_engine->gen != NULL)
        pthread_rwlock_rdlock(&zg_engine->slots_lock);
    if (format == 0)
        zg_prometheus(&b, zg_engine);
    else
        zg_status(&b, zg_engine);
    if (zg_engine != NULL && zg_engine->gen != NULL)
        pthread_rwlock_unlock(&zg_engine->slots_lock);
    if (len > 0)
        buf[b.len < len ? b.len : len - 1] = '\0';
    return b.len;
}
