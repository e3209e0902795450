/* SPDX-License-Identifier: MIT */
/*
 * Description: the crash handler, per-thread alternate signal stacks, the
 * registry of zerg's threads and the stop watchdog (crash.h). The handler
 * only calls async-signal-safe functions, plus backtrace() and
 * backtrace_symbols_fd(), whose library is loaded at start-up; it reads
 * the reactor and the running plugin from initial-exec TLS (a plain load
 * relative to the thread pointer, no allocation, no lock).
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "crash.h"
#include "loader.h"
#include "log.h"
#include "reactor.h"

#define ZG_BT_MAX      64
#define ZG_ALTSTACK_SZ (128u << 10)
#define ZG_MAX_THREADS (ZG_MAX_REACTORS + 16)
#define ZG_MAX_RANGES  64

/* One registered thread. state: 0 free, 1 running, 2 exited. */
typedef struct zg_crash_thr_s {
    _Atomic int state;
    int reactor;               /* reactor id, or -1 */
    pid_t tid;                 /* kernel thread id */
    const char *role;          /* "acceptor", "reactor" */
    const char *const *prefix; /* &zg_tls_prefix of that thread */
} zg_crash_thr_t;

/* Where a plugin's code is mapped: [lo, hi). */
typedef struct zg_crash_range_s {
    uintptr_t lo, hi;
    char name[32];
} zg_crash_range_t;

static zg_crash_thr_t zg_thr[ZG_MAX_THREADS];
static _Atomic uint32_t zg_nthr;
/* Two tables: a reload fills the one not in use and publishes it, so a
 * thread that crashes meanwhile reads a whole table, the old or the new
 * (two reloads during one crash report aside). */
static zg_crash_range_t zg_ranges[2][ZG_MAX_RANGES];
static uint32_t zg_nranges[2];
static _Atomic uint32_t zg_rcur; /* the table in use */
static long zg_gmtoff;           /* seconds east of UTC, read at start-up */
static pthread_key_t zg_thr_key;
static int zg_crash_ready;
static int zg_sig_dump; /* the watchdog's "send me your backtrace" */

static __thread zg_crash_thr_t *zg_tls_thr
    __attribute__((tls_model("initial-exec")));
static __thread void *zg_tls_alt __attribute__((tls_model("initial-exec")));

static const int zg_fatal[] = {SIGSEGV, SIGBUS,  SIGFPE,
                               SIGILL,  SIGABRT, SIGSYS};

const char *zg_sig_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    case SIGSYS:
        return "SIGSYS";
    case SIGTRAP:
        return "SIGTRAP";
    case SIGKILL:
        return "SIGKILL";
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    case SIGQUIT:
        return "SIGQUIT";
    case SIGHUP:
        return "SIGHUP";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGUSR2:
        return "SIGUSR2";
    case SIGPIPE:
        return "SIGPIPE";
    case SIGALRM:
        return "SIGALRM";
    case SIGXCPU:
        return "SIGXCPU";
    case SIGXFSZ:
        return "SIGXFSZ";
    default:
        return NULL;
    }
}

/* ---- async-signal-safe formatting ---------------------------------- */

typedef struct zg_sbuf_s {
    char *p;
    size_t n, cap;
} zg_sbuf_t;

static void sb_str(zg_sbuf_t *b, const char *s)
{
    while (s != NULL && *s != '\0' && b->n < b->cap)
        b->p[b->n++] = *s++;
}

/* At most max bytes of s (a name that might not be terminated). */
static void sb_strn(zg_sbuf_t *b, const char *s, size_t max)
{
    for (size_t i = 0; s != NULL && i < max && s[i] != '\0' && b->n < b->cap;
         i++)
        b->p[b->n++] = s[i];
}

static void sb_num(zg_sbuf_t *b, uint64_t v, unsigned base, int width)
{
    char tmp[24];
    int k = 0;

    do {
        tmp[k++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0 && k < (int)sizeof(tmp));
    while (k < width && k < (int)sizeof(tmp))
        tmp[k++] = '0';
    while (k > 0 && b->n < b->cap)
        b->p[b->n++] = tmp[--k];
}

/* "YYYY/MM/DD HH:MM:SS" of t, seconds since the epoch in the wanted zone,
 * without gmtime_r or localtime_r (not async-signal-safe). */
static void sb_date(zg_sbuf_t *b, int64_t t)
{
    int64_t days, sod, z, era, doe, yoe, doy, mp, y, m, d;

    days = t / 86400;
    sod = t % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    /* Civil date from days since 1970-01-01 (H. Hinnant's algorithm). */
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = yoe + era * 400 + (m <= 2);
    sb_num(b, (uint64_t)y, 10, 4);
    sb_str(b, "/");
    sb_num(b, (uint64_t)m, 10, 2);
    sb_str(b, "/");
    sb_num(b, (uint64_t)d, 10, 2);
    sb_str(b, " ");
    sb_num(b, (uint64_t)(sod / 3600), 10, 2);
    sb_str(b, ":");
    sb_num(b, (uint64_t)(sod / 60 % 60), 10, 2);
    sb_str(b, ":");
    sb_num(b, (uint64_t)(sod % 60), 10, 2);
}

/* "YYYY/MM/DD HH:MM:SS [alert] pid#tid: " as log.c writes it, in local
 * time by the UTC offset read at start-up. */
static void sb_head(zg_sbuf_t *b)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    sb_date(b, (int64_t)ts.tv_sec + zg_gmtoff);
    sb_str(b, " [alert] ");
    sb_num(b, (uint64_t)getpid(), 10, 0);
    sb_str(b, "#");
    sb_num(b, (uint64_t)syscall(SYS_gettid), 10, 0);
    sb_str(b, ": ");
}

static void zg_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* The plugin one of the frames lies in, or NULL. */
static const char *zg_blame(void *const *bt, int n)
{
    uint32_t c = atomic_load_explicit(&zg_rcur, memory_order_acquire);
    const zg_crash_range_t *r = zg_ranges[c];

    for (int i = 0; i < n; i++) {
        uintptr_t pc = (uintptr_t)bt[i];

        for (uint32_t k = 0; k < zg_nranges[c]; k++) {
            if (pc >= r[k].lo && pc < r[k].hi)
                return r[k].name;
        }
    }
    return NULL;
}

/* ---- the crash handler ---------------------------------------------- */

static void zg_die(int sig)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    /* Pending until the handler returns (sig is blocked while it runs),
     * then the default action: the status and core dump of sig. A fault
     * would also come back when its instruction runs again. */
    raise(sig);
}

static void zg_crash_handler(int sig, siginfo_t *si, void *uctx)
{
    static _Atomic int busy;
    char line[640];
    zg_sbuf_t b = {line, 0, sizeof(line) - 1};
    void *bt[ZG_BT_MAX];
    const char *name = zg_sig_name(sig), *blame, *prefix = zg_tls_prefix;
    zg_reactor_t *r = zg_tls_reactor;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int n, fd = zg_log_fileno();

    (void)uctx;
    if (atomic_exchange(&busy, 1)) {
        /* Another thread is writing its report: let it finish; its
         * re-raise ends the process. */
        struct timespec ts = {2, 0};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        zg_die(sig);
        return;
    }
    n = backtrace(bt, ZG_BT_MAX);
    blame = zg_blame(bt, n);
    sb_head(&b);
    sb_str(&b, "crashed on ");
    if (name != NULL) {
        sb_str(&b, name);
    } else {
        sb_str(&b, "signal ");
        sb_num(&b, (uint64_t)sig, 10, 0);
    }
    if (si != NULL && si->si_code > 0 && sig != SIGABRT) {
        sb_str(&b, " (fault at address 0x");
        sb_num(&b, (uint64_t)(uintptr_t)si->si_addr, 16, 0);
        sb_str(&b, ")");
    } else if (si != NULL && si->si_pid == getpid()) {
        sb_str(&b, " (raised by zerg itself: abort() or an assertion)");
    } else if (si != NULL) {
        sb_str(&b, " (sent by pid ");
        sb_num(&b, (uint64_t)si->si_pid, 10, 0);
        sb_str(&b, ")");
    }
    if (r != NULL) {
        sb_str(&b, " in reactor ");
        sb_num(&b, r->id, 10, 0);
    } else if (zg_tls_thr != NULL) {
        sb_str(&b, " in the ");
        sb_str(&b, zg_tls_thr->role);
        sb_str(&b, " thread");
    } else if (tid == getpid()) {
        sb_str(&b, " in the main thread");
    } else {
        char comm[17] = "";

        prctl(PR_GET_NAME, comm, 0, 0, 0);
        sb_str(&b, " in thread ");
        sb_num(&b, (uint64_t)tid, 10, 0);
        sb_str(&b, " (");
        sb_strn(&b, comm, 16);
        sb_str(&b, ")");
    }
    if (blame != NULL) {
        sb_str(&b, ", plugin ");
        sb_strn(&b, blame, sizeof(zg_ranges[0][0].name));
        sb_str(&b, " callback running");
    } else if (prefix != NULL && r != NULL) {
        /* No frame in a plugin's .so: zerg's own code, or a module built
         * into it. */
        sb_str(&b, ", in zerg's code (the last plugin or module called: ");
        sb_strn(&b, prefix, 48);
        sb_str(&b, ")");
    }
    sb_str(&b, "; backtrace:");
    line[b.n++] = '\n';
    zg_write_all(fd, line, b.n);
    backtrace_symbols_fd(bt, n, fd);
    zg_die(sig);
}

/* ---- threads -------------------------------------------------------- */

static void *zg_altstack_new(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = ZG_ALTSTACK_SZ;
    unsigned char *base;
    stack_t ss;

#ifdef _SC_SIGSTKSZ
    {
        long min = sysconf(_SC_SIGSTKSZ);

        if (min > 0 && (size_t)min * 4 > size)
            size = ((size_t)min * 4 + page - 1) / page * page;
    }
#endif
    /* One guard page below: an overflow of the handler itself faults
     * (and, the signal being blocked, ends the process) instead of
     * writing over whatever lies below. */
    base = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    mprotect(base, page, PROT_NONE);
    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = base + page;
    ss.ss_size = size;
    if (sigaltstack(&ss, NULL) < 0) {
        munmap(base, size + page);
        return NULL;
    }
    return base;
}

static void zg_thread_gone(void *arg)
{
    zg_crash_thr_t *t = arg;
    stack_t ss, old;

    if (t != NULL)
        atomic_store(&t->state, 2);
    if (zg_tls_alt != NULL) {
        memset(&ss, 0, sizeof(ss));
        ss.ss_flags = SS_DISABLE;
        if (sigaltstack(&ss, &old) == 0)
            munmap(zg_tls_alt, old.ss_size + (size_t)sysconf(_SC_PAGESIZE));
        zg_tls_alt = NULL;
    }
}

void zg_crash_thread(const char *role, int reactor)
{
    uint32_t i;
    zg_crash_thr_t *t = NULL;

    if (!zg_crash_ready)
        return;
    zg_tls_alt = zg_altstack_new();
    i = atomic_fetch_add(&zg_nthr, 1);
    if (i < ZG_MAX_THREADS) {
        t = &zg_thr[i];
        t->reactor = reactor;
        t->role = role;
        t->tid = (pid_t)syscall(SYS_gettid);
        t->prefix = &zg_tls_prefix;
        atomic_store(&t->state, 1);
        zg_tls_thr = t;
    }
    /* The key's destructor runs at thread exit for a non-NULL value. */
    pthread_setspecific(zg_thr_key, t != NULL ? (void *)t : (void *)&zg_nthr);
}

/* ---- the watchdog's view of a stuck thread ---------------------------- */

static struct {
    _Atomic pid_t want; /* the thread asked for its backtrace */
    _Atomic int done;
    int n;
    void *bt[ZG_BT_MAX];
} zg_dump;

static void zg_dump_handler(int sig, siginfo_t *si, void *uctx)
{
    int saved = errno;

    (void)sig;
    (void)si;
    (void)uctx;
    if (atomic_load(&zg_dump.want) == (pid_t)syscall(SYS_gettid) &&
        !atomic_load(&zg_dump.done)) {
        zg_dump.n = backtrace(zg_dump.bt, ZG_BT_MAX);
        atomic_store(&zg_dump.done, 1);
    }
    errno = saved;
}

int zg_crash_init(void)
{
    struct sigaction sa;
    struct tm tm;
    time_t now = time(NULL);
    void *bt[2];
    int ret;

    if (zg_crash_ready)
        return 0;
    if (localtime_r(&now, &tm) != NULL)
        zg_gmtoff = tm.tm_gmtoff;
    /* backtrace() loads libgcc_s on first use, which a crash must not
     * have to do (dlopen allocates and takes locks). */
    backtrace(bt, 2);
    ret = pthread_key_create(&zg_thr_key, zg_thread_gone);
    if (ret != 0)
        return -ret;
    zg_tls_alt = zg_altstack_new();
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = zg_crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    /* A second fault inside the handler is then fatal at once. */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(zg_fatal) / sizeof(zg_fatal[0]); i++)
        sigaddset(&sa.sa_mask, zg_fatal[i]);
    for (size_t i = 0; i < sizeof(zg_fatal) / sizeof(zg_fatal[0]); i++) {
        if (sigaction(zg_fatal[i], &sa, NULL) < 0)
            return -errno;
    }
    zg_sig_dump = SIGRTMIN + 7;
    sa.sa_sigaction = zg_dump_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (zg_sig_dump <= SIGRTMAX && sigaction(zg_sig_dump, &sa, NULL) < 0)
        zg_sig_dump = 0;
    zg_crash_ready = 1;
    return 0;
}

/* ---- plugin ranges ---------------------------------------------------- */

typedef struct zg_range_req_s {
    uintptr_t base;
    const char *path;
    uintptr_t lo, hi;
} zg_range_req_t;

static int zg_range_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    zg_range_req_t *q = arg;

    (void)size;
    if ((uintptr_t)info->dlpi_addr != q->base || info->dlpi_name == NULL ||
        strcmp(info->dlpi_name, q->path) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = q->base + ph->p_vaddr;

        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        if (q->lo == 0 || lo < q->lo)
            q->lo = lo;
        if (lo + ph->p_memsz > q->hi)
            q->hi = lo + ph->p_memsz;
    }
    return 1;
}

void zg_crash_note_plugins(const struct zg_loader_s *ld)
{
    uint32_t w = 1 - atomic_load_explicit(&zg_rcur, memory_order_relaxed);
    zg_crash_range_t *r = zg_ranges[w];
    uint32_t n = 0;

    for (size_t i = 0; i < ld->nmods && n < ZG_MAX_RANGES; i++) {
        const zg_module_t *m = ld->mods[i];
        struct link_map *lm = NULL;
        zg_range_req_t q;

        if (m->handle == NULL || dlinfo(m->handle, RTLD_DI_LINKMAP, &lm) != 0 ||
            lm == NULL)
            continue;
        memset(&q, 0, sizeof(q));
        q.base = (uintptr_t)lm->l_addr;
        q.path = lm->l_name;
        dl_iterate_phdr(zg_range_cb, &q);
        if (q.hi == 0)
            continue;
        r[n].lo = q.lo;
        r[n].hi = q.hi;
        snprintf(r[n].name, sizeof(r[n].name), "%s", m->desc.name);
        n++;
    }
    zg_nranges[w] = n;
    atomic_store_explicit(&zg_rcur, w, memory_order_release);
}

/* ---- the stop watchdog ------------------------------------------------ */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int armed;
    int cancel;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    uint32_t ms;
    const char *bound;
    const char *pid_path;
} zg_wd = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Ask thread t for its backtrace; 1 if it answered within 300 ms. */
static int zg_ask_backtrace(const zg_crash_thr_t *t)
{
    if (zg_sig_dump == 0)
        return 0;
    atomic_store(&zg_dump.done, 0);
    atomic_store(&zg_dump.want, t->tid);
    if (syscall(SYS_tgkill, getpid(), t->tid, zg_sig_dump) < 0)
        return 0;
    for (int i = 0; i < 300; i++) {
        struct timespec ms = {0, 1000000};

        if (atomic_load(&zg_dump.done))
            return 1;
        nanosleep(&ms, NULL);
    }
    atomic_store(&zg_dump.want, 0);
    return atomic_load(&zg_dump.done);
}

/* The plugin a stuck thread last called, from its TLS: a racy read by
 * design (the owner writes it without atomics), only ever of a thread that
 * has not moved for the whole stop bound, right before the process ends;
 * kept out of ThreadSanitizer's checks. */
static __attribute__((noinline, no_sanitize("thread"))) const char *
zg_peek_prefix(const zg_crash_thr_t *t)
{
    return *(const char *const volatile *)t->prefix;
}

static void zg_watchdog_fire(void)
{
    uint32_t n = atomic_load(&zg_nthr), stuck = 0;

    if (n > ZG_MAX_THREADS)
        n = ZG_MAX_THREADS;
    for (uint32_t i = 0; i < n; i++) {
        zg_crash_thr_t *t = &zg_thr[i];
        const char *prefix, *blame;
        int dumped;

        /* state first: it publishes the fields. */
        if (atomic_load(&t->state) != 1 || t->reactor < 0)
            continue;
        stuck++;
        prefix = zg_peek_prefix(t);
        dumped = zg_ask_backtrace(t);
        blame = dumped ? zg_blame(zg_dump.bt, zg_dump.n) : NULL;
        if (blame == NULL)
            blame = prefix;
        zg_log(ZG_LOG_ALERT,
               "reactor %d did not stop within %s (%u ms; %s%.48s%s), "
               "exiting",
               t->reactor, zg_wd.bound, zg_wd.ms,
               blame != NULL ? "plugin " : "no plugin callback known",
               blame != NULL ? blame : "",
               blame != NULL ? " callback running" : "");
        if (dumped) {
            zg_log(ZG_LOG_ALERT, "backtrace of reactor %d:", t->reactor);
            backtrace_symbols_fd(zg_dump.bt, zg_dump.n, zg_log_fileno());
        } else {
            zg_log(ZG_LOG_ALERT,
                   "reactor %d did not answer the request for its "
                   "backtrace",
                   t->reactor);
        }
    }
    if (stuck == 0)
        zg_log(ZG_LOG_ALERT,
               "zerg did not stop within %s (%u ms) though every reactor "
               "did (a plugin's fini still running?), exiting",
               zg_wd.bound, zg_wd.ms);
    if (zg_wd.pid_path != NULL)
        unlink(zg_wd.pid_path);
    _exit(1);
}

static void *zg_watchdog_main(void *arg)
{
    int fire = 0;

    (void)arg;
    pthread_setname_np(pthread_self(), "zg-watchdog");
    pthread_mutex_lock(&zg_wd.mu);
    while (!zg_wd.cancel) {
        int rc = pthread_cond_timedwait(&zg_wd.cv, &zg_wd.mu, &zg_wd.deadline);

        if (rc == ETIMEDOUT && !zg_wd.cancel) {
            struct timespec now;

            /* The deadline may have moved earlier, never later. */
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > zg_wd.deadline.tv_sec ||
                (now.tv_sec == zg_wd.deadline.tv_sec &&
                 now.tv_nsec >= zg_wd.deadline.tv_nsec)) {
                fire = 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&zg_wd.mu);
    if (fire)
        zg_watchdog_fire();
    return NULL;
}

void zg_watchdog_arm(uint32_t ms, const char *bound, const char *pid_path)
{
    struct timespec dl;
    pthread_condattr_t ca;

    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&zg_wd.mu);
    if (zg_wd.armed) {
        if (dl.tv_sec < zg_wd.deadline.tv_sec ||
            (dl.tv_sec == zg_wd.deadline.tv_sec &&
             dl.tv_nsec < zg_wd.deadline.tv_nsec)) {
            zg_wd.deadline = dl;
            zg_wd.ms = ms;
            zg_wd.bound = bound;
            pthread_cond_signal(&zg_wd.cv);
        }
        pthread_mutex_unlock(&zg_wd.mu);
        return;
    }
    zg_wd.deadline = dl;
    zg_wd.ms = ms;
    zg_wd.bound = bound;
    zg_wd.pid_path = pid_path;
    zg_wd.cancel = 0;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&zg_wd.cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&zg_wd.thread, NULL, zg_watchdog_main, NULL) == 0)
        zg_wd.armed = 1;
    else
        zg_log(ZG_LOG_ERROR, "cannot start the stop watchdog: this stop "
                             "is not bounded in time");
    pthread_mutex_unlock(&zg_wd.mu);
}

void zg_watchdog_disarm(void)
{
    pthread_mutex_lock(&zg_wd.mu);
    if (!zg_wd.armed) {
        pthread_mutex_unlock(&zg_wd.mu);
        return;
    }
    zg_wd.cancel = 1;
    pthread_cond_signal(&zg_wd.cv);
    pthread_mutex_unlock(&zg_wd.mu);
    pthread_join(zg_wd.thread, NULL);
    pthread_cond_destroy(&zg_wd.cv);
    zg_wd.armed = 0;
}
