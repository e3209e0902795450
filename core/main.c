/* SPDX-License-Identifier: MIT */
/*
 * Description: the zerg binary: command line, configuration, start-up in
 * the order "validate everything, then open sockets, then start threads",
 * and the main thread's signal loop (signalfd) that drives shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "crash.h"
#include "engine.h"
#include "log.h"
#include "logsink.h"
#include "master.h"
#include "modtable.h"
#include "notify.h"
#include "pidfile.h"
#include "privdrop.h"
#include "upgrade.h"
#include "zerg_build.h"

/* Raise the soft RLIMIT_NOFILE to the hard limit, and warn with the
 * numbers when the connections the configuration allows cannot fit. */
static void zg_fd_limit(const zg_config_t *cfg)
{
    struct rlimit rl;
    uint64_t want = 64, slots = 0;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};

        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    for (uint32_t i = 0; i < cfg->reactors; i++)
        slots += cfg->reactor[i].max_connections;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        want += cfg->listeners[i].max_connections;
    if (want > slots + 64)
        want = slots + 64;
    if (rl.rlim_cur != RLIM_INFINITY && want > rl.rlim_cur)
        zg_log(ZG_LOG_WARN,
               "file descriptors: the limit is %llu (hard %llu) but the "
               "configuration allows about %llu open connections "
               "(listeners' and reactors' max_connections); past the limit "
               "accepting pauses: raise it (ulimit -n, LimitNOFILE=)",
               (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
               (unsigned long long)want);
}

/* SIGHUP: read the configuration again and, if it is valid (plugins and
 * modules included), serve new connections with it while the open ones
 * finish on the old one. If not, one error line and nothing changes. */
static void zg_reload(zg_engine_t *e, const char *conf_path)
{
    zg_config_t *ncfg = NULL;
    char err[1024], state[192];
    struct timespec ts;
    int ret;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(state, sizeof(state),
             "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the "
             "configuration",
             (unsigned long long)ts.tv_sec * 1000000ull +
                 (unsigned long long)ts.tv_nsec / 1000);
    zg_notify(state);
    zg_log(ZG_LOG_NOTICE, "SIGHUP received: reloading %s",
           conf_path != NULL ? conf_path
                             : "the embedded default configuration");
    if (conf_path != NULL)
        ret = zg_config_load(conf_path, &ncfg, err, sizeof(err));
    else
        ret = zg_config_parse(zg_config_default, strlen(zg_config_default),
                              "<embedded>", &ncfg, err, sizeof(err));
    if (ret == 0)
        ret = zg_engine_reload(e, ncfg, err, sizeof(err));
    if (ret < 0) {
        zg_log(ZG_LOG_ERROR,
               "reload failed, the running configuration "
               "stays: %s",
               err);
        snprintf(state, sizeof(state),
                 "READY=1\nSTATUS=reload failed; serving generation %u",
                 e->gen->num);
        zg_notify(state);
        return;
    }
    if (strcmp(e->gen->cfg->log.error_log, e->cfg->log.error_log) != 0)
        zg_log(ZG_LOG_WARN,
               "reload: \"error_log\" changed; that takes a restart: the "
               "error log stays %s",
               e->cfg->log.error_log);
    atomic_store_explicit(&zg_log_level, e->gen->cfg->log.level,
                          memory_order_relaxed);
    for (uint32_t i = 0; i < e->nlisteners; i++)
        printf("listening %s %s\n", zg_engine_listener(e, i)->conf->name,
               zg_engine_listener(e, i)->addr);
    fflush(stdout);
    zg_log(ZG_LOG_NOTICE, "reload: generation %u, %u listeners", e->gen->num,
           e->nlisteners);
    if (conf_path != NULL)
        zg_master_applied(e);
    snprintf(state, sizeof(state),
             "READY=1\nSTATUS=serving %u listener(s) with %u reactor(s), "
             "generation %u",
             e->nlisteners, e->nreactors, e->gen->num);
    zg_notify(state);
}

static void zg_usage(FILE *f)
{
    fprintf(
        f,
        "Usage: zerg [-c FILE] [-t] [-T] [-S] [-s SIGNAL] [-v] [-V] [-h]\n"
        "\n"
        "  -c FILE   configuration file (default: " ZG_SYSCONFDIR "/zerg.json\n"
        "            if it exists, else the embedded one: echo on\n"
        "            127.0.0.1:7000 and http on 127.0.0.1:8080)\n"
        "  -t        test the configuration and plugins, then exit\n"
        "  -T        like -t, and print the effective configuration\n"
        "            (defaults filled in) as JSON on stdout\n"
        "  -s SIGNAL send stop (TERM), quit (QUIT), reload (HUP), reopen\n"
        "            (USR1) or upgrade (USR2) to the zerg whose \"pid\" file\n"
        "            FILE names\n"
        "  -S        print the JSON Schema of every built-in module's and\n"
        "            loaded plugin's config (from their key tables)\n"
        "  -v        print version and ABI, then exit\n"
        "  -V        also the configure arguments, the built-in modules\n"
        "            and the io_uring features of this kernel\n"
        "  -h        this help\n"
        "\n"
        "Signals: TERM/INT stop at once, QUIT stops gracefully (no new\n"
        "connections, open ones finish, at most shutdown_timeout_ms),\n"
        "USR1 reopens the error log and the access logs, HUP reloads the\n"
        "configuration (new connections get it, open ones finish on the\n"
        "old one), USR2 upgrades the binary: it runs the file zerg was\n"
        "started from again on the same sockets and, once that serves,\n"
        "stops gracefully (if it fails, this one serves on).\n"
        "A fast stop still running after shutdown_timeout_ms (at least\n"
        "1 s) ends the process, naming the reactor that did not stop.\n");
}

int main(int argc, char **argv)
{
    static zg_engine_t engine;
    const char *conf_path = NULL, *verb = NULL;
    int test = 0, dump = 0, opt, ret, status = 1, pidfd = -1, worker = 0;
    zg_config_t *cfg = NULL;
    char err[1024];
    sigset_t mask;
    int sfd = -1;

    zg_upgrade_init(argv);
    while ((opt = getopt(argc, argv, "c:tTSs:vVh")) != -1) {
        switch (opt) {
        case 'c':
            conf_path = optarg;
            break;
        case 't':
            test = 1;
            break;
        case 'T':
            test = dump = 1;
            break;
        case 'S':
            test = 1;
            dump = 2;
            break;
        case 's':
            verb = optarg;
            break;
        case 'v':
            printf("zerg version %s (plugin ABI %d.%d)\n", ZG_VERSION,
                   ZG_ABI_MAJOR, ZG_ABI_MINOR);
            return 0;
        case 'V': {
            char feat[256];

            printf("zerg version %s (plugin ABI %d.%d)\n", ZG_VERSION,
                   ZG_ABI_MAJOR, ZG_ABI_MINOR);
            printf("configure arguments:%s%s\n",
                   ZG_CONFIGURE_ARGS[0] ? " " : "", ZG_CONFIGURE_ARGS);
            printf("built-in modules:");
            for (const zg_builtin_t *b = zg_builtin_modules; b->name; b++)
                printf(" %s", b->name);
            if (zg_builtin_modules[0].name == NULL)
                printf(" none");
            printf("\n");
            zg_uring_features(feat, sizeof(feat));
            printf("%s\n", feat);
            return 0;
        }
        case 'h':
            zg_usage(stdout);
            return 0;
        default:
            zg_usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "zerg: unexpected argument \"%s\"\n", argv[optind]);
        zg_usage(stderr);
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);
    /* No -c: the installed configuration if there is one, else the
     * embedded default (the start-up line says which). */
    if (conf_path == NULL && access(ZG_SYSCONFDIR "/zerg.json", R_OK) == 0)
        conf_path = ZG_SYSCONFDIR "/zerg.json";
    if (conf_path != NULL)
        ret = zg_config_load(conf_path, &cfg, err, sizeof(err));
    else
        ret = zg_config_parse(zg_config_default, strlen(zg_config_default),
                              "<embedded>", &cfg, err, sizeof(err));
    /* Log files a plugin or module names are relative to the file too. */
    if (ret == 0 && conf_path != NULL)
        ret = zg_logsink_base(conf_path, err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "zerg: %s\n", err);
        zg_config_free(cfg);
        return 1;
    }
    if (verb != NULL) {
        /* -s: the configuration only names the pid file. */
        if (cfg->pid == NULL) {
            fprintf(stderr,
                    "zerg: -s %s: %s has no \"pid\" key, so there is no pid "
                    "file to find the server by\n",
                    verb, cfg->path);
            zg_config_free(cfg);
            return 1;
        }
        ret = zg_pidfile_signal(cfg->pid, verb, err, sizeof(err));
        if (ret < 0)
            fprintf(stderr, "zerg: %s\n", err);
        zg_config_free(cfg);
        return ret < 0 ? 1 : 0;
    }
    atomic_store_explicit(&zg_log_level, cfg->log.level, memory_order_relaxed);
    if (test && strcmp(cfg->log.error_log, "stderr") != 0) {
        /* -t opens what a start would open, as nginx -t does. */
        int fd = open(cfg->log.error_log,
                      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

        if (fd < 0) {
            fprintf(stderr, "zerg: cannot open error_log \"%s\" (%s)\n",
                    cfg->log.error_log, strerror(errno));
            goto out;
        }
        close(fd);
    }
    if (!test) {
        ret = zg_log_open(cfg->log.error_log);
        if (ret < 0) {
            fprintf(stderr, "zerg: cannot open error_log \"%s\" (%s)\n",
                    cfg->log.error_log, strerror(-ret));
            goto out;
        }
        ret = zg_crash_init();
        if (ret < 0)
            zg_log(ZG_LOG_WARN,
                   "cannot install the crash handler (%s): a crash will "
                   "not be logged",
                   strerror(-ret));
    }

    ret = zg_uring_probe(err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "zerg: %s\n", err);
        goto out;
    }
    if (!test && cfg->master) {
        /* The master returns here only when it is done; its worker goes
         * on below as a plain zerg on the master's sockets. */
        ret = zg_master_run(&cfg);
        if (ret != ZG_MASTER_WORKER) {
            if (ret == 0)
                zg_log(ZG_LOG_NOTICE, "exit");
            zg_config_free(cfg);
            return ret;
        }
        worker = 1;
    }
    /* Threads inherit this mask: signals reach only the signalfd. Block
     * them before plugins load, as their init may start threads. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGQUIT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    zg_engine = &engine;
    ret = zg_engine_load(&engine, cfg, err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "zerg: %s\n", err);
        goto out;
    }
    zg_crash_note_plugins(&engine.gen->loader);
    if (test) {
        if (dump) {
            /* stdout is the JSON alone (-T: usable as a config file); the
             * verdict goes to stderr, as nginx -T does. */
            char *text =
                dump == 2 ? zg_engine_schema(&engine) : zg_engine_dump(&engine);

            if (text == NULL) {
                fprintf(stderr, "zerg: out of memory\n");
                goto out;
            }
            printf("%s\n", text);
            free(text);
            if (dump == 1)
                fprintf(stderr, "zerg: configuration %s test is successful\n",
                        cfg->path);
        } else {
            printf("zerg: configuration %s test is successful\n", cfg->path);
        }
        status = 0;
        goto out;
    }

    sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "zerg: signalfd() failed (%s)\n", strerror(errno));
        goto out;
    }

    zg_fd_limit(cfg);
    /* Lock the pid file before binding: a second zerg naming it must not
     * share a reuseport port with us. */
    if (cfg->pid != NULL && !worker) {
        pidfd = zg_pidfile_lock(cfg->pid, err, sizeof(err));
        if (pidfd < 0) {
            fprintf(stderr, "zerg: %s\n", err);
            goto out;
        }
    }
    ret = zg_engine_listen(&engine, err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "zerg: %s\n", err);
        goto out;
    }
    if (pidfd >= 0 && zg_pidfile_write(pidfd, cfg->pid, err, sizeof(err)) < 0) {
        fprintf(stderr, "zerg: %s\n", err);
        goto out;
    }
    /* Ports bound, logs open, plugins initialised: no thread runs yet, so
     * every thread started from here on is that user's. */
    if (cfg->user != NULL) {
        if (zg_privdrop(cfg->user, cfg->group, err, sizeof(err)) < 0) {
            fprintf(stderr, "zerg: %s\n", err);
            goto out;
        }
        zg_log(ZG_LOG_INFO, "running as user %s (uid %ld, gid %ld)", cfg->user,
               (long)getuid(), (long)getgid());
    }
    ret = zg_engine_start(&engine, err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "zerg: %s\n", err);
        goto out;
    }
    for (uint32_t i = 0; i < engine.nlisteners; i++)
        printf("listening %s %s\n", zg_engine_listener(&engine, i)->conf->name,
               zg_engine_listener(&engine, i)->addr);
    fflush(stdout);
    zg_log(ZG_LOG_NOTICE,
           "zerg %s started from %s: %u reactor(s), %u listener(s), "
           "accept mode %s",
           ZG_VERSION,
           conf_path != NULL
               ? conf_path
               : "the embedded default configuration (no " ZG_SYSCONFDIR
                 "/zerg.json)",
           engine.nreactors, engine.nlisteners,
           cfg->accept == ZG_ACCEPT_ACCEPTOR ? "acceptor thread"
           : engine.nreactors == 1           ? "in the reactor"
                                             : "reuseport");
    {
        char state[160];

        snprintf(state, sizeof(state),
                 "READY=1\nMAINPID=%ld\nSTATUS=serving %u listener(s) with "
                 "%u reactor(s)",
                 (long)getpid(), engine.nlisteners, engine.nreactors);
        if (zg_notify(state) < 0)
            zg_log(ZG_LOG_WARN, "cannot notify $NOTIFY_SOCKET (%s)",
                   getenv("NOTIFY_SOCKET"));
        zg_master_ready();
        zg_upgrade_engine_ready(&engine);
    }

    for (int draining = 0;;) {
        struct signalfd_siginfo si;
        ssize_t n;
        /* While an upgrade waits for the new process: its channel too. */
        struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
                                {.fd = zg_upgrade_fd(), .events = POLLIN}};
        int upgrading = pfd[1].fd >= 0;

        if (draining || upgrading || engine.retiring > 0) {
            int tmo = draining || engine.retiring > 0 ? 50 : -1;

            /* Old generations are freed once their last connection
             * closed: look every 50 ms while any drains. */
            if (engine.retiring > 0)
                zg_engine_collect(&engine);
            if (draining && zg_engine_running(&engine) == 0) {
                zg_log(ZG_LOG_NOTICE, "graceful stop complete");
                break;
            }
            if (upgrading) {
                int w = zg_upgrade_wait_ms();

                if (tmo < 0 || (w >= 0 && w < tmo))
                    tmo = w;
            }
            ret = poll(pfd, upgrading ? 2 : 1, tmo);
            if (upgrading && zg_upgrade_engine_poll(&engine))
                draining = 1;
            if (ret <= 0 || !(pfd[0].revents & POLLIN))
                continue;
        }
        n = read(sfd, &si, sizeof(si));
        if (n != (ssize_t)sizeof(si)) {
            if (n < 0 && errno == EINTR)
                continue;
            zg_log(ZG_LOG_ALERT, "read(signalfd) failed (%s), stopping",
                   strerror(errno));
            break;
        }
        if (si.ssi_signo == SIGUSR1) {
            ret = zg_log_open(cfg->log.error_log); /* the one opened at start */
            zg_log(ret < 0 ? ZG_LOG_ERROR : ZG_LOG_NOTICE,
                   "reopening error_log: %s",
                   ret < 0 ? strerror(-ret) : "done");
            ret = zg_logsink_reopen(err, sizeof(err));
            zg_log(ret < 0 ? ZG_LOG_ERROR : ZG_LOG_NOTICE,
                   "reopening access logs: %s", ret < 0 ? err : "done");
            continue;
        }
        if (si.ssi_signo == SIGUSR2) {
            zg_upgrade_engine_start(&engine, pidfd);
            continue;
        }
        if (si.ssi_signo == SIGHUP) {
            if (!draining)
                zg_reload(&engine, conf_path);
            continue;
        }
        if (si.ssi_signo == SIGQUIT) {
            /* The live generation's: a reload applies it. */
            uint32_t t = atomic_load(&engine.shutdown_timeout_ms);

            zg_upgrade_engine_abort(&engine);
            if (!draining) {
                zg_log(ZG_LOG_NOTICE,
                       "SIGQUIT received: graceful stop, "
                       "draining connections (at most %u ms)",
                       t);
                zg_notify("STOPPING=1\nSTATUS=draining connections");
                /* The drain's own deadline, then a fast stop's. */
                zg_watchdog_arm(t + zg_stop_bound_ms(t),
                                "shutdown_timeout_ms twice (a graceful stop, "
                                "then a fast one)",
                                pidfd >= 0 ? zg_upgrade_pidfile(cfg->pid)
                                           : NULL);
                zg_engine_drain(&engine);
                draining = 1;
            }
            continue;
        }
        zg_log(ZG_LOG_NOTICE, "signal %d (%s) received, stopping", si.ssi_signo,
               strsignal((int)si.ssi_signo));
        zg_notify("STOPPING=1\nSTATUS=stopping");
        break;
    }
    status = 0;
out:
    /* A stop has a bound even when a plugin callback never returns. */
    if (!test) {
        zg_upgrade_engine_abort(&engine);
        zg_watchdog_arm(
            zg_stop_bound_ms(engine.gen != NULL
                                 ? atomic_load(&engine.shutdown_timeout_ms)
                                 : cfg->shutdown_timeout_ms),
            "shutdown_timeout_ms",
            pidfd >= 0 ? zg_upgrade_pidfile(cfg->pid) : NULL);
    }
    zg_engine_stop(&engine);
    zg_engine_free(&engine);
    zg_watchdog_disarm();
    if (pidfd >= 0)
        zg_pidfile_remove(pidfd, zg_upgrade_pidfile(cfg->pid));
    zg_config_free(cfg);
    if (sfd >= 0)
        close(sfd);
    if (status == 0 && !test)
        zg_log(ZG_LOG_NOTICE, "exit");
    return status;
}
