/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for socket activation (core/activation.c), both
 * sides: the environment a handover prepares, the layout it makes in a
 * forked child (sockets at 3.., the extra descriptor after them, kept
 * descriptors moved out of the way) read back by zg_activation_take in
 * that child, and claiming the sockets of a reuseport group in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "../../core/activation.c"

static int listening_socket(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

static const char *env_get(char **env, const char *name)
{
    size_t len = strlen(name);
    const char *found = NULL;

    for (size_t i = 0; env[i] != NULL; i++) {
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') {
            assert_null(found); /* once only */
            found = env[i] + len + 1;
        }
    }
    return found;
}

static void test_handover_environment(void **state)
{
    const char *names[] = {"h", "h", "e"};
    const char *add[] = {"ZERG_UPGRADE=42:6", NULL};
    int fds[3] = {10, 11, 12};
    char err[256];
    zg_handover_t h;

    (void)state;
    setenv("LISTEN_FDS", "9", 1);
    setenv("LISTEN_FDNAMES", "stale", 1);
    setenv("ZERG_UPGRADE", "1:1", 1);
    setenv("ZG_TEST_KEEP", "kept", 1);
    assert_int_equal(
        zg_handover_init(&h, fds, names, 3, 20, add, err, sizeof(err)), 0);
    assert_string_equal(env_get(h.env, "LISTEN_FDS"), "3");
    assert_string_equal(env_get(h.env, "LISTEN_FDNAMES"), "h:h:e");
    assert_string_equal(env_get(h.env, "LISTEN_PID"), "");
    assert_string_equal(env_get(h.env, "ZERG_UPGRADE"), "42:6");
    assert_string_equal(env_get(h.env, "ZG_TEST_KEEP"), "kept");
    assert_int_equal(zg_handover_top(&h), 7);
    zg_handover_free(&h);
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    unsetenv("ZERG_UPGRADE");
}

static void test_handover_refuses(void **state)
{
    const char *names[] = {"a:b"};
    int fds[ZG_INHERIT_MAX + 1] = {0};
    const char *many[ZG_INHERIT_MAX + 1];
    char err[256];
    zg_handover_t h;

    (void)state;
    assert_int_equal(
        zg_handover_init(&h, fds, names, 1, -1, NULL, err, sizeof(err)),
        -EINVAL);
    assert_non_null(strstr(err, "\"a:b\" has a ':'"));
    for (int i = 0; i <= ZG_INHERIT_MAX; i++)
        many[i] = "x";
    assert_int_equal(zg_handover_init(&h, fds, many, ZG_INHERIT_MAX + 1, -1,
                                      NULL, err, sizeof(err)),
                     -E2BIG);
}

static int port_of(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* The child's checks, as an exit status: 0 when all hold. */
static int child_checks(zg_handover_t *h, int keep, int want_port0,
                        int want_port1)
{
    zg_inherited_t in[ZG_INHERIT_MAX];
    char err[256], pid[24];
    int n;

    if (keep >= 0 && keep < zg_handover_top(h))
        return 20;
    if (fcntl(keep, F_GETFD) != FD_CLOEXEC)
        return 21;
    /* The extra descriptor: right after the sockets, inheritable. */
    if (fcntl(5, F_GETFD) != 0 || write(5, "x", 1) != 1)
        return 22;
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    if (getenv("LISTEN_PID") == NULL || strcmp(getenv("LISTEN_PID"), pid))
        return 23;
    n = zg_activation_take(in, ZG_INHERIT_MAX, err, sizeof(err));
    if (n != 2)
        return 24;
    if (in[0].fd != 3 || in[1].fd != 4 || strcmp(in[0].name, "one") ||
        strcmp(in[1].name, "two"))
        return 25;
    if (ntohs(((struct sockaddr_in *)&in[0].addr)->sin_port) != want_port0 ||
        ntohs(((struct sockaddr_in *)&in[1].addr)->sin_port) != want_port1)
        return 26;
    if (getenv("LISTEN_FDS") != NULL || getenv("LISTEN_PID") != NULL)
        return 27;
    /* A wrong pid: the sockets are not ours. */
    setenv("LISTEN_PID", "1", 1);
    setenv("LISTEN_FDS", "2", 1);
    if (zg_activation_take(in, ZG_INHERIT_MAX, err, sizeof(err)) != 0)
        return 28;
    return 0;
}

static void test_handover_layout_in_a_child(void **state)
{
    const char *names[] = {"one", "two"};
    int s[2], p[2], port[2], keep, st;
    char err[256], c;
    zg_handover_t h;
    pid_t pid;

    (void)state;
    /* Occupy 3 (a descriptor the child goes on using: it must move). */
    keep = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(keep >= 0);
    if (keep != 3) {
        assert_int_equal(dup3(keep, 3, O_CLOEXEC), 3);
        close(keep);
        keep = 3;
    }
    s[0] = listening_socket();
    s[1] = listening_socket();
    port[0] = port_of(s[0]);
    port[1] = port_of(s[1]);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(
        zg_handover_init(&h, s, names, 2, p[1], NULL, err, sizeof(err)), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = zg_handover_child(&h, &keep, 1);

        _exit(rc < 0 ? 10 : child_checks(&h, keep, port[0], port[1]));
    }
    zg_handover_free(&h);
    close(p[1]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(read(p[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    close(p[0]);
    close(s[0]);
    close(s[1]);
    close(keep);
}

static void test_claim_a_reuseport_group_in_order(void **state)
{
    zg_inherited_t in[4];
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fds[4] = {-1, -1, -1, -1};
    const char *names[] = {"h", "e", "h", "h"};

    (void)state;
    memset(in, 0, sizeof(in));
    for (int i = 0; i < 4; i++) {
        in[i].fd = 10 + i;
        snprintf(in[i].name, sizeof(in[i].name), "%s", names[i]);
        in[i].addr.ss_family = AF_INET;
    }
    in[0].claimed = 1; /* the first, taken by zg_activation_find */
    assert_int_equal(
        zg_activation_claim(in, 4, "h", (struct sockaddr *)&sa, fds, 1), 1);
    assert_int_equal(fds[0], 12);
    assert_int_equal(
        zg_activation_claim(in, 4, "h", (struct sockaddr *)&sa, fds, 4), 1);
    assert_int_equal(fds[0], 13);
    assert_false(in[1].claimed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handover_environment),
        cmocka_unit_test(test_handover_refuses),
        cmocka_unit_test(test_handover_layout_in_a_child),
        cmocka_unit_test(test_claim_a_reuseport_group_in_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
