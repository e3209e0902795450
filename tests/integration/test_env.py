# SPDX-License-Identifier: MIT
# Description: zerg and its environment: when io_uring is denied (a
# seccomp policy, a kernel without it) zerg says so in one line with the
# fix, exits 1 and opens no socket; an idle zerg costs neither memory for
# connection slots it has not used nor CPU.
import errno
import os
import shutil
import subprocess
import time

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


def test_memlock_error_gives_the_numbers():
    # Without CAP_IPC_LOCK, io_uring charges its rings to RLIMIT_MEMLOCK
    # (per user). A 64 KiB limit cannot hold a 1024-entry ring: the error
    # names the limit, what a reactor needs and the fix.
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        raise zgtest.Skip("needs root and setpriv to run as nobody")
    cfg = zgtest.write_config(zgtest.echo_config(reactor={"ring_entries": 1024,
                                                          "buffer_ring_entries": 1024}))
    os.chmod(cfg, 0o644)
    probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                            "--clear-groups", "sh", "-c",
                            'test -x "$0" && test -r "$1" && test -r "$2"',
                            zgtest.ZERG, cfg, os.path.join(zgtest.ROOT, "plugins", "echo",
                                                           "echo.so")], cwd="/", timeout=10)
    if probe.returncode != 0:
        raise zgtest.Skip("the build tree is not readable by nobody")
    p = subprocess.run(["prlimit", "--memlock=65536:65536", "setpriv", "--reuid=nobody",
                        "--regid=nogroup", "--clear-groups", zgtest.ZERG, "-c", cfg],
                       capture_output=True, text=True, timeout=20, cwd="/")
    assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
    line = [l for l in p.stderr.splitlines() if l.startswith("zerg: ")][-1]
    assert "RLIMIT_MEMLOCK, 64 KiB" in line, line
    assert "needs about 152 KiB" in line and "LimitMEMLOCK=" in line, line


def _cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_unused_slots_cost_no_memory():
    # 262144 slots of about 544 bytes would be 136 MiB if the slab were
    # touched at start; untouched, the whole process stays small.
    cfg = zgtest.echo_config(reactor={"max_connections": 262144})
    srv = zgtest.start(cfg)
    rss = zgtest.rss_kib(srv.pid)
    assert rss < 32 * 1024, "RSS at start %d KiB with 262144 slots" % rss
    srv.stop()


def test_idle_server_uses_no_cpu():
    srv = zgtest.start(zgtest.echo_config())
    time.sleep(0.5)
    before = _cpu_ticks(srv.pid)
    time.sleep(3)
    used = _cpu_ticks(srv.pid) - before
    # Polling the ring every millisecond cost about 5 ticks (10 ms each)
    # over 3 s; waking only for work or a 100 ms timeout costs none.
    assert used <= 1, "idle zerg used %d CPU ticks in 3 s" % used
    srv.stop()


if __name__ == "__main__":
    zgtest.run_tests(globals())
