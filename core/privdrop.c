/* SPDX-License-Identifier: MIT */
/*
 * Description: the privilege drop (privdrop.h): setgroups, setgid, setuid,
 * each checked, and a check that root cannot be regained.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "privdrop.h"

int zg_privdrop(const char *user, const char *group, char *err, size_t errlen)
{
    struct passwd *pw;
    gid_t gid;
    int rc;

    errno = 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "user \"%s\": no such user%s%s", user,
                 errno ? ": " : "", errno ? strerror(errno) : "");
        return -ENOENT;
    }
    gid = pw->pw_gid;
    if (group != NULL) {
        struct group *gr;

        errno = 0;
        gr = getgrnam(group);
        if (gr == NULL) {
            snprintf(err, errlen, "group \"%s\": no such group", group);
            return -ENOENT;
        }
        gid = gr->gr_gid;
    }
    if (geteuid() == pw->pw_uid && getuid() == pw->pw_uid && getgid() == gid)
        return 0; /* started as that user already */
    if (geteuid() != 0) {
        snprintf(err, errlen,
                 "user \"%s\": running as uid %ld, which cannot switch users "
                 "(start zerg as root, or drop the \"user\" key)",
                 user, (long)geteuid());
        return -EPERM;
    }
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
        rc = -errno;
        snprintf(err, errlen,
                 "user \"%s\": cannot switch to uid %ld gid %ld: %s", user,
                 (long)pw->pw_uid, (long)gid, strerror(-rc));
        return rc;
    }
    if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != gid ||
        getegid() != gid || (pw->pw_uid != 0 && setuid(0) == 0)) {
        snprintf(err, errlen,
                 "user \"%s\": the switch did not hold (uid %ld euid %ld)",
                 user, (long)getuid(), (long)geteuid());
        return -EPERM;
    }
    /* A uid change makes the process non-dumpable: no core file after a
     * crash and no ptrace by the same user's tools (gdb, sanitizers' leak
     * checkers). Dropping root is the point, not hiding from that user. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return 0;
}
