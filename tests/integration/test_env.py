# SPDX-License-Identifier: MIT
# Description: when the environment denies io_uring (a seccomp policy, a
# kernel without it), zerg says so in one line with the fix, exits 1 and
# opens no socket.
import errno
import os
import subprocess

import zgtest

TOOL = os.path.join(zgtest.ROOT, "tests", "tools", "seccomp_deny")


def _denied(err):
    if not os.path.exists(TOOL):
        raise zgtest.Skip("tests/tools/seccomp_deny not built")
    sock, port = zgtest.hold_port()
    sock.close()
    cfg = zgtest.write_config(zgtest.echo_config(listen="127.0.0.1:%d" % port))
    p = subprocess.run([TOOL, str(err), zgtest.ZERG, "-c", cfg],
                       capture_output=True, text=True, timeout=20,
                       cwd=zgtest.ROOT)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert len(lines) == 1, lines
    assert p.stdout == "", p.stdout  # no "listening" line
    assert zgtest.port_is_free(port), "a socket was opened"
    return lines[0]


def test_seccomp_eperm_names_the_policy():
    line = _denied(errno.EPERM)
    assert line.startswith("zerg: io_uring is not available"), line
    assert "seccomp" in line and "allow io_uring_setup" in line, line


def test_enosys_names_the_kernel():
    line = _denied(errno.ENOSYS)
    assert "lacks io_uring" in line and "Linux 6.1" in line, line


if __name__ == "__main__":
    zgtest.run_tests(globals())
