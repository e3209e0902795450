/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests of core/crash.c: the async-signal-safe date and
 * number formatting against libc's, signal names, blaming the plugin whose
 * range holds a frame (with a real fixture .so), and, in forked children,
 * the crash line of a fault on a registered thread, a stack overflow on
 * its alternate stack, and the stop watchdog naming a stuck "reactor".
 * Run with the project root as the working directory (fixtures).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "../../core/crash.c"
#include "../../core/loader.c"
#include "../../core/log.c"

/* reactor.c's thread-locals, which crash.c reads. */
__thread zg_reactor_t *zg_tls_reactor;
__thread const char *zg_tls_prefix;

/* Let the handler under test see SIGSEGV in an ASan build. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "handle_segv=0:handle_sigbus=0:handle_abort=0";
}

/* ---- formatting ----------------------------------------------------- */

static void test_date_matches_gmtime(void **state)
{
    static const int64_t fixed[] = {
        0,          86399,     86400,      951782400, /* 2000-02-29 */
        951868799,  978307199, 1709164800,            /* 2024-02-29 */
        4102444799,                                   /* 2099-12-31 23:59:59 */
        4107542400,                                   /* 2100-03-01 */
        -1,         -86401};
    uint64_t x = 88172645463325252ull;

    (void)state;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 2000; i++) {
        int64_t t;
        char got[64], want[64];
        zg_sbuf_t b = {got, 0, sizeof(got) - 1};
        struct tm tm;
        time_t tt;

        if (i < sizeof(fixed) / sizeof(fixed[0])) {
            t = fixed[i];
        } else {
            x ^= x << 13; /* xorshift: dates from 1970 to 2106 */
            x ^= x >> 7;
            x ^= x << 17;
            t = (int64_t)(x % 4294967296ull);
        }
        sb_date(&b, t);
        got[b.n] = '\0';
        tt = (time_t)t;
        assert_non_null(gmtime_r(&tt, &tm));
        strftime(want, sizeof(want), "%Y/%m/%d %H:%M:%S", &tm);
        assert_string_equal(got, want);
    }
}

static void test_numbers_and_bounds(void **state)
{
    char buf[8];
    zg_sbuf_t b = {buf, 0, 7};

    (void)state;
    sb_num(&b, 0, 16, 0);
    sb_str(&b, "/");
    sb_num(&b, 255, 16, 0);
    sb_num(&b, 7, 10, 3);
    buf[b.n] = '\0';
    assert_string_equal(buf, "0/ff007");
    /* Full: nothing more is written, nothing overflows. */
    sb_str(&b, "more");
    sb_num(&b, 12345, 10, 0);
    sb_strn(&b, "x", 1);
    assert_int_equal(b.n, 7);
}

static void test_signal_names(void **state)
{
    (void)state;
    assert_string_equal(zg_sig_name(SIGSEGV), "SIGSEGV");
    assert_string_equal(zg_sig_name(SIGABRT), "SIGABRT");
    assert_string_equal(zg_sig_name(SIGKILL), "SIGKILL");
    assert_null(zg_sig_name(SIGRTMIN + 1));
}

/* ---- blame ----------------------------------------------------------- */

static void test_blame_by_loaded_range(void **state)
{
    zg_loader_t ld;
    zg_module_t *m;
    char err[512];
    void *entry, *frames[3];
    uint32_t cur;

    (void)state;
    assert_int_equal(zg_loader_init(&ld, NULL), 0);
    assert_int_equal(
        zg_loader_load(&ld, "tests/plugins/fx_crash.so", &m, err, sizeof(err)),
        0);
    zg_crash_note_plugins(&ld);
    cur = atomic_load(&zg_rcur);
    assert_int_equal(zg_nranges[cur], 1);
    assert_string_equal(zg_ranges[cur][0].name, "fx_crash");
    /* A reload fills the other table and switches to it. */
    zg_crash_note_plugins(&ld);
    assert_int_equal(atomic_load(&zg_rcur), 1 - cur);
    cur = 1 - cur;
    assert_int_equal(zg_nranges[cur], 1);
    assert_string_equal(zg_ranges[cur][0].name, "fx_crash");
    entry = dlsym(m->handle, "zg_plugin_entry_v1");
    assert_non_null(entry);
    frames[0] = (void *)test_blame_by_loaded_range; /* ours: no plugin */
    frames[1] = entry;
    frames[2] = (void *)abort;
    assert_null(zg_blame(frames, 1));
    assert_string_equal(zg_blame(frames, 3), "fx_crash");
    frames[1] = (void *)zg_ranges[cur][0].hi; /* one past the end */
    assert_null(zg_blame(frames, 3));
    zg_loader_free(&ld);
    zg_nranges[0] = zg_nranges[1] = 0;
}

/* ---- in a child: the handler and the watchdog ----------------------- */

static int *volatile null_ptr;
static volatile int forever = 1;

static __attribute__((noinline, no_sanitize("undefined"))) void fault(void)
{
    *null_ptr = 1;
}

static __attribute__((noinline)) unsigned long deep(unsigned long n)
{
    volatile char pad[256];

    if (!forever)
        return n;
    pad[n % sizeof(pad)] = (char)n;
    return deep(n + 1) + (unsigned long)pad[(n * 3) % sizeof(pad)];
}

typedef struct job_s {
    int what; /* 0 fault, 1 overflow, 2 spin */
} job_t;

static void *thread_main(void *arg)
{
    job_t *j = arg;

    zg_crash_thread("reactor", 3);
    zg_tls_prefix = "fakeplug";
    if (j->what == 0)
        fault();
    if (j->what == 1)
        forever = (int)deep(0);
    /* Stuck, but through the C library: ThreadSanitizer delivers the
     * watchdog's signal only there. */
    while (forever) {
        struct timespec ms = {0, 1000000};

        nanosleep(&ms, NULL);
    }
    return NULL;
}

/* Run what in a child whose log goes to a file; return its wait status
 * and the log in log (NUL-terminated). */
static int in_child(int what, char *log, size_t loglen)
{
    char path[] = "/tmp/zg-test-crash-XXXXXX";
    int fd = mkstemp(path), st = 0;
    pid_t pid;
    ssize_t n;

    assert_true(fd >= 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pthread_t th;
        job_t j = {what};

        alarm(20);
        if (zg_log_open(path) < 0 || zg_crash_init() < 0)
            _exit(90);
        if (what == 2)
            zg_watchdog_arm(200, "shutdown_timeout_ms", NULL);
        if (pthread_create(&th, NULL, thread_main, &j) != 0)
            _exit(91);
        pthread_join(th, NULL);
        _exit(92);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    n = pread(fd, log, loglen - 1, 0);
    log[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return st;
}

static void test_fault_line_and_death(void **state)
{
    char log[16384];
    int st = in_child(0, log, sizeof(log));

    (void)state;
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSEGV);
    /* A registered thread that is no reactor (zg_tls_reactor is NULL),
     * no plugin range: zerg's own code is blamed, nothing more. */
    assert_non_null(strstr(log, "[alert] "));
    assert_non_null(strstr(log,
                           ": crashed on SIGSEGV (fault at address 0x0) in the "
                           "reactor thread; backtrace:\n"));
    assert_non_null(strstr(log, ")[0x"));
}

static void test_overflow_uses_the_alternate_stack(void **state)
{
    char log[16384];
    int st = in_child(1, log, sizeof(log));

    (void)state;
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSEGV);
    assert_non_null(strstr(log, ": crashed on SIGSEGV (fault at address 0x"));
}

static void test_watchdog_names_the_stuck_reactor(void **state)
{
    char log[16384];
    int st = in_child(2, log, sizeof(log));

    (void)state;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(
        strstr(log, "reactor 3 did not stop within shutdown_timeout_ms (200 "
                    "ms; plugin fakeplug callback running), exiting\n"));
    assert_non_null(strstr(log, "backtrace of reactor 3:\n"));
}

static void test_watchdog_disarm(void **state)
{
    struct timespec a, b;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &a);
    zg_watchdog_arm(10000, "shutdown_timeout_ms", NULL);
    zg_watchdog_arm(20000, "ignored: later", NULL);
    zg_watchdog_disarm();
    zg_watchdog_disarm(); /* twice is fine */
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_matches_gmtime),
        cmocka_unit_test(test_numbers_and_bounds),
        cmocka_unit_test(test_signal_names),
        cmocka_unit_test(test_blame_by_loaded_range),
        cmocka_unit_test(test_fault_line_and_death),
        cmocka_unit_test(test_overflow_uses_the_alternate_stack),
        cmocka_unit_test(test_watchdog_names_the_stuck_reactor),
        cmocka_unit_test(test_watchdog_disarm),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
