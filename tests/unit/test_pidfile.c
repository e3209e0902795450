/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the pid file (core/pidfile.c) across a
 * binary upgrade: set aside as .oldbin while a new process locks the
 * name, put back over whatever a failed new process left, refused while
 * an earlier upgrade's old process holds .oldbin; and removal at exit
 * never takes a file that is not this process's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/pidfile.c"

static char dir[64], path[128], oldbin[160];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/zg-pidfile-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/zerg.pid", dir);
    snprintf(oldbin, sizeof(oldbin), "%s.oldbin", path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    unlink(oldbin);
    rmdir(dir);
    return 0;
}

static ino_t ino_of_path(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 ? st.st_ino : 0;
}

static ino_t ino_of_fd(int fd)
{
    struct stat st;

    assert_int_equal(fstat(fd, &st), 0);
    return st.st_ino;
}

static void test_aside_then_remove_spares_the_new_file(void **state)
{
    char err[512];
    int old, new;

    (void)state;
    old = zg_pidfile_lock(path, err, sizeof(err));
    assert_true(old >= 0);
    assert_int_equal(zg_pidfile_write(old, path, err, sizeof(err)), 0);
    assert_int_equal(zg_pidfile_aside(old, path, oldbin, err, sizeof(err)), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(ino_of_path(oldbin), ino_of_fd(old));
    /* The new process creates and locks the name. */
    new = zg_pidfile_lock(path, err, sizeof(err));
    assert_true(new >= 0);
    assert_int_equal(zg_pidfile_write(new, path, err, sizeof(err)), 0);
    /* The old one exits naming the wrong path: the new file stays. */
    zg_pidfile_remove(dup(old), path);
    assert_int_equal(ino_of_path(path), ino_of_fd(new));
    /* Naming its own: .oldbin goes. */
    zg_pidfile_remove(old, oldbin);
    assert_int_equal(access(oldbin, F_OK), -1);
    zg_pidfile_remove(new, path);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_restore_replaces_what_a_failed_upgrade_left(void **state)
{
    char err[512];
    int old, new;

    (void)state;
    old = zg_pidfile_lock(path, err, sizeof(err));
    assert_true(old >= 0);
    assert_int_equal(zg_pidfile_aside(old, path, oldbin, err, sizeof(err)), 0);
    new = zg_pidfile_lock(path, err, sizeof(err));
    assert_true(new >= 0);
    close(new); /* killed before its exit: the file stays, unlocked */
    assert_int_equal(zg_pidfile_restore(old, oldbin, path, err, sizeof(err)),
                     0);
    assert_int_equal(ino_of_path(path), ino_of_fd(old));
    assert_int_equal(access(oldbin, F_OK), -1);
    /* Restoring twice: .oldbin is gone, refused. */
    assert_int_equal(zg_pidfile_restore(old, oldbin, path, err, sizeof(err)),
                     -ESTALE);
    zg_pidfile_remove(old, path);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_aside_refused_while_oldbin_is_held(void **state)
{
    char err[512];
    int draining, cur;

    (void)state;
    /* The old process of an earlier upgrade, still draining, holds
     * .oldbin; the current server holds the name. */
    draining = zg_pidfile_lock(oldbin, err, sizeof(err));
    assert_true(draining >= 0);
    assert_int_equal(zg_pidfile_write(draining, oldbin, err, sizeof(err)), 0);
    cur = zg_pidfile_lock(path, err, sizeof(err));
    assert_true(cur >= 0);
    assert_int_equal(zg_pidfile_aside(cur, path, oldbin, err, sizeof(err)),
                     -EBUSY);
    assert_non_null(strstr(err, "still drains"));
    assert_int_equal(ino_of_path(path), ino_of_fd(cur));
    assert_int_equal(ino_of_path(oldbin), ino_of_fd(draining));
    /* Once it is gone (its lock with it), the stale file is replaced. */
    zg_pidfile_remove(draining, oldbin);
    assert_int_equal(zg_pidfile_aside(cur, path, oldbin, err, sizeof(err)), 0);
    assert_int_equal(ino_of_path(oldbin), ino_of_fd(cur));
    zg_pidfile_remove(cur, oldbin);
}

static void test_aside_refused_when_the_name_is_not_ours(void **state)
{
    char err[512];
    int cur;

    (void)state;
    cur = zg_pidfile_lock(path, err, sizeof(err));
    assert_true(cur >= 0);
    unlink(path);
    assert_int_equal(zg_pidfile_aside(cur, path, oldbin, err, sizeof(err)),
                     -ESTALE);
    close(cur);
}

static void test_upgrade_verb(void **state)
{
    char err[512];

    (void)state;
    assert_int_equal(zg_pidfile_signal(path, "restart", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "reopen or upgrade"));
    /* A known verb gets as far as the (missing) file. */
    assert_int_equal(zg_pidfile_signal(path, "upgrade", err, sizeof(err)),
                     -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_aside_then_remove_spares_the_new_file, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_restore_replaces_what_a_failed_upgrade_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aside_refused_while_oldbin_is_held,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_aside_refused_when_the_name_is_not_ours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_verb, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
