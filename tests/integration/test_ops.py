#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the operator's side against the real binary: the pid file
# (written once listening, locked while running, removed at exit), a second
# zerg naming the same pid file refused, and `zerg -s stop|quit|reload|
# reopen` with its errors for a missing, empty or stale pid file.
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402


def pid_config(pid, port="0"):
    return {"pid": pid, "listeners": [
        {"name": "e", "listen": "127.0.0.1:" + port, "plugin": "echo"}]}


def fresh_pid_path(tag):
    path = zg.write_config("", tag=tag, suffix=".pid")
    os.unlink(path)
    return path


def test_pid_file_lifecycle_and_s_verbs():
    pidf = fresh_pid_path("pid")
    cfg_path = zg.write_config(pid_config(pidf))
    srv = zg.start(cfg_path)
    with open(pidf) as f:
        assert f.read() == "%d\n" % srv.pid, "pid file does not hold the server's pid"
    # reopen: USR1 reaches the server, which logs it.
    r = zg.run_zerg(["-s", "reopen", "-c", cfg_path])
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", (r.stdout, r.stderr)
    deadline = time.monotonic() + 5
    while "reopening error_log" not in srv.stderr_text():
        assert time.monotonic() < deadline, "no reopen line after -s reopen"
        time.sleep(0.02)
    # reload: HUP reaches it (and is answered, not fatal).
    r = zg.run_zerg(["-s", "reload", "-c", cfg_path])
    assert r.returncode == 0, r.stderr
    s = zg.connect(srv.addr("e"))
    s.sendall(b"still up")
    assert zg.recv_exact(s, 8) == b"still up"
    s.close()
    # quit: a graceful stop, exit 0, the pid file gone.
    r = zg.run_zerg(["-s", "quit", "-c", cfg_path])
    assert r.returncode == 0, r.stderr
    status = srv.wait(10)
    srv.stopped, srv.returncode = True, status
    srv.check_log()
    assert status == 0, "exit status %r after -s quit" % status
    assert not os.path.exists(pidf), "pid file left behind at exit"
    # Nothing running now: a clear error.
    r = zg.run_zerg(["-s", "stop", "-c", cfg_path])
    assert r.returncode == 1
    assert "cannot read pid file %s: No such file or directory (is zerg running?)" \
        % pidf in r.stderr, r.stderr


def test_stop_verb_and_second_instance_refused():
    pidf = fresh_pid_path("pid2")
    cfg_path = zg.write_config(pid_config(pidf))
    srv = zg.start(cfg_path)
    # Same pid file, another port: refused before binding anything.
    other = zg.write_config(pid_config(pidf))
    r = zg.run_zerg(["-c", other])
    assert r.returncode == 1
    assert "pid file %s is locked by a running zerg (pid %d)" % (pidf, srv.pid) \
        in r.stderr, r.stderr
    assert "listening" not in r.stdout
    r = zg.run_zerg(["-s", "stop", "-c", cfg_path])
    assert r.returncode == 0, r.stderr
    status = srv.wait(10)
    srv.stopped, srv.returncode = True, status
    assert status == 0, status
    assert not os.path.exists(pidf)


def test_s_errors():
    pidf = fresh_pid_path("pid3")
    cfg_path = zg.write_config(pid_config(pidf))
    # A stale file: a pid nobody holds the lock for (our own test process).
    with open(pidf, "w") as f:
        f.write("%d\n" % os.getpid())
    r = zg.run_zerg(["-s", "stop", "-c", cfg_path])
    assert r.returncode == 1 and "pid file %s is stale" % pidf in r.stderr, r.stderr
    with open(pidf, "w") as f:
        f.write("garbage\n")
    r = zg.run_zerg(["-s", "stop", "-c", cfg_path])
    assert r.returncode == 1 and "pid file %s holds no pid" % pidf in r.stderr, r.stderr
    os.unlink(pidf)
    r = zg.run_zerg(["-s", "restart", "-c", cfg_path])
    assert r.returncode == 1
    assert "-s restart: unknown signal (stop, quit, reload, reopen or upgrade)" \
        in r.stderr, r.stderr
    nopid = zg.write_config({"listeners": [
        {"name": "e", "listen": "127.0.0.1:0", "plugin": "echo"}]})
    r = zg.run_zerg(["-s", "stop", "-c", nopid])
    assert r.returncode == 1 and 'has no "pid" key' in r.stderr, r.stderr


def test_relative_pid_is_relative_to_the_config_file():
    cfg_path = zg.write_config(pid_config("rel-test.pid"))
    want = os.path.join(os.path.dirname(os.path.realpath(cfg_path)), "rel-test.pid")
    if os.path.exists(want):
        os.unlink(want)
    srv = zg.start(cfg_path)
    assert os.path.exists(want), "relative pid file not beside the config file"
    srv.stop(sig=signal.SIGTERM)
    assert not os.path.exists(want)



def _notify_socket(abstract):
    import socket as so
    import tempfile
    s = so.socket(so.AF_UNIX, so.SOCK_DGRAM)
    if abstract:
        name = "@zerg-test-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))
        s.bind("\0" + name[1:])
    else:
        d = tempfile.mkdtemp(prefix="zg-notify-")
        name = os.path.join(d, "notify")
        s.bind(name)
    s.settimeout(5)
    return s, name


def _messages(sock, until, limit=10):
    got = []
    for _ in range(limit):
        msg = sock.recv(4096).decode()
        got.append(msg)
        if until in msg:
            return got
    raise AssertionError("no %r among %r" % (until, got))


def test_systemd_notify_ready_and_stopping():
    for abstract, sig in ((False, signal.SIGTERM), (True, signal.SIGQUIT)):
        sock, name = _notify_socket(abstract)
        saved = os.environ.get("NOTIFY_SOCKET")
        os.environ["NOTIFY_SOCKET"] = name
        try:
            srv = zg.start({"reactors": 2, "listeners": [
                {"name": "a", "listen": "127.0.0.1:0", "plugin": "echo"},
                {"name": "b", "listen": "127.0.0.1:0", "plugin": "echo"}]})
        finally:
            if saved is None:
                del os.environ["NOTIFY_SOCKET"]
            else:
                os.environ["NOTIFY_SOCKET"] = saved
        ready = _messages(sock, "READY=1")[-1].split("\n")
        assert "READY=1" in ready and "MAINPID=%d" % srv.pid in ready, ready
        assert "STATUS=serving 2 listener(s) with 2 reactor(s)" in ready, ready
        srv.send_signal(sig)
        stopping = _messages(sock, "STOPPING=1")[-1]
        assert "STATUS=" in stopping, stopping
        status = srv.wait(10)
        srv.stopped, srv.returncode = True, status
        srv.check_log()
        assert status == 0, status
        sock.close()


def _activated(config, socks, names=None, extra_env=None):
    """Run zerg with socks passed as systemd does (fds 3.., LISTEN_PID set
    to zerg's own pid by the shell that execs it). Returns the Popen and the
    paths of its stdout and stderr."""
    import subprocess
    path = zg.write_config(config)
    out = path + ".out"
    errp = path + ".err"
    env = dict(os.environ)
    env["LISTEN_FDS"] = str(len(socks))
    if names is not None:
        env["LISTEN_FDNAMES"] = ":".join(names)
    env.update(extra_env or {})
    fds = [s.fileno() for s in socks]

    def child():
        # Move the sockets to 3, 4, ... (through high numbers first, so
        # none is overwritten before it is moved).
        tmp = [os.dup2(fd, 100 + k) for k, fd in enumerate(fds)]
        for k, fd in enumerate(tmp):
            os.dup2(fd, 3 + k)
            os.set_inheritable(3 + k, True)
    with open(out, "wb") as fo, open(errp, "wb") as fe:
        p = subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ exec "$0" -c "$1"', zg.ZERG, path],
                             stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=env,
                             close_fds=False, preexec_fn=child, start_new_session=True)
    return p, out, errp


def _listening(out, n, p, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(out) as f:
            addrs = zg.parse_listening(f.read())
        if len(addrs) >= n:
            return addrs
        if p.poll() is not None:
            return None
        time.sleep(0.02)
    return None


def _bound_socket():
    import socket as so
    s = so.socket(so.AF_INET, so.SOCK_STREAM)
    s.setsockopt(so.SOL_SOCKET, so.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def test_socket_activation_by_name_and_address():
    a, b = _bound_socket(), _bound_socket()
    port_b = b.getsockname()[1]
    cfg = {"listeners": [
        {"name": "web", "listen": "127.0.0.1:1", "plugin": "echo"},
        {"name": "other", "listen": "127.0.0.1:%d" % port_b, "plugin": "echo"},
        {"name": "own", "listen": "127.0.0.1:0", "plugin": "echo"}]}
    # a is named "web" (its address differs from the config's); b has no
    # name and is matched by address; "own" binds as usual.
    p, out, errp = _activated(cfg, [a, b], names=["web", ""])
    try:
        addrs = _listening(out, 3, p)
        assert addrs is not None, open(errp).read()
        assert addrs["web"] == a.getsockname(), addrs
        assert addrs["other"] == b.getsockname(), addrs
        for name in ("web", "other", "own"):
            s = zg.connect(addrs[name])
            s.sendall(name.encode())
            assert zg.recv_exact(s, len(name)) == name.encode()
            s.close()
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
        assert p.wait(10) == 0
        a.close()
        b.close()
    assert "inherited socket 3" in open(errp).read()


def test_socket_activation_unclaimed_socket_is_an_error():
    a = _bound_socket()
    port = a.getsockname()[1]
    cfg = {"listeners": [{"name": "web", "listen": "127.0.0.1:0", "plugin": "echo"}]}
    p, out, errp = _activated(cfg, [a], names=["nobody"])
    try:
        assert p.wait(10) == 1
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        a.close()
    err = open(errp).read()
    assert 'inherited socket 3 (name "nobody", 127.0.0.1:%d) matches no listener' \
        % port in err, err


def test_fd_limit_raised_and_warned():
    # zerg under a soft limit of 100 and a hard one of 4096: it raises the
    # soft one, and warns that 8192 slots do not fit.
    saved, zg.ZERG = zg.ZERG, zg.with_fd_limit(100, 4096)
    try:
        srv = zg.start({"listeners": [{"name": "e", "listen": "127.0.0.1:0",
                                       "plugin": "echo"}]})
    finally:
        zg.ZERG = saved
    with open("/proc/%d/limits" % srv.pid) as f:
        line = [ln for ln in f if ln.startswith("Max open files")][0]
    assert line.split()[3] == "4096", "soft limit not raised to hard: " + line
    err = srv.stderr_text()
    assert "file descriptors: the limit is 4096 (hard 4096) but the configuration " \
           "allows about 8256 open connections" in err, err
    s = zg.connect(srv.addr("e"))
    s.sendall(b"ok")
    assert zg.recv_exact(s, 2) == b"ok"
    s.close()
    srv.stop()


def _uids(pid):
    """{tid: (real, effective, saved, fs)} of every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith("Uid:"):
                    out[tid] = tuple(int(x) for x in line.split()[1:5])
    return out


def test_user_drops_root_in_every_thread():
    import pwd
    if os.geteuid() != 0:
        raise zg.Skip("needs root to test dropping it")
    nobody = pwd.getpwnam("nobody")
    srv = zg.start({"user": "nobody", "reactors": 2, "accept": "acceptor",
                    "listeners": [{"name": "e", "listen": "127.0.0.1:0",
                                   "plugin": "echo"}]})
    s = zg.connect(srv.addr("e"))
    s.sendall(b"as nobody")
    assert zg.recv_exact(s, 9) == b"as nobody"
    s.close()
    uids = _uids(srv.pid)
    assert len(uids) >= 4, uids  # main, acceptor, 2 reactors
    for tid, u in uids.items():
        assert u == (nobody.pw_uid,) * 4, "thread %s runs as %r" % (tid, u)
    assert "running as user nobody (uid %d" % nobody.pw_uid in srv.stderr_text()
    srv.stop()


def test_user_errors():
    path = zg.write_config({"user": "zg-no-such-user", "listeners": [
        {"name": "e", "listen": "127.0.0.1:0", "plugin": "echo"}]})
    r = zg.run_zerg(["-c", path])
    assert r.returncode == 1
    assert 'user "zg-no-such-user": no such user' in r.stderr, r.stderr
    assert "listening" not in r.stdout
    path = zg.write_config({"group": "nogroup", "listeners": [
        {"name": "e", "listen": "127.0.0.1:0", "plugin": "echo"}]})
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode == 1 and '"group" needs "user"' in r.stderr, r.stderr


def test_start_line_names_the_configuration():
    path = zg.write_config({"listeners": [
        {"name": "e", "listen": "127.0.0.1:0", "plugin": "echo"}]})
    srv = zg.start(path)
    assert "started from %s: 1 reactor(s), 1 listener(s)" % path in srv.stderr_text(), \
        srv.stderr_text()
    srv.stop()


def test_environment_errors_say_the_fix():
    import shutil
    import socket as so
    # -t opens the error log a start would open.
    path = zg.write_config({"log": {"error_log": "/nonexistent-zg-dir/err.log"},
                            "listeners": [{"name": "e", "listen": "127.0.0.1:0",
                                           "plugin": "echo"}]})
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode == 1
    assert 'cannot open error_log "/nonexistent-zg-dir/err.log" (No such file or ' \
           'directory)' in r.stderr, r.stderr
    # A port another process holds.
    held = so.socket(so.AF_INET, so.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    port = held.getsockname()[1]
    path = zg.write_config({"listeners": [{"name": "e", "listen": "127.0.0.1:%d" % port,
                                           "plugin": "echo"}]})
    r = zg.run_zerg(["-c", path])
    held.close()
    assert r.returncode == 1
    assert "bind() on 127.0.0.1:%d failed (98: Address already in use); another " \
           "process listens there" % port in r.stderr, r.stderr
    # A low port without the privilege for it.
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return
    path = zg.write_config({"listeners": [{"name": "e", "listen": "127.0.0.1:81",
                                           "plugin": "echo"}]})
    os.chmod(path, 0o644)
    saved = zg.ZERG
    wrapper = zg.write_config("#!/bin/sh\nexec %s --reuid=65534 --regid=65534 "
                              "--clear-groups %s \"$@\"\n" % (setpriv, saved),
                              tag="nobody", suffix=".sh")
    os.chmod(wrapper, 0o755)
    zg.ZERG = wrapper
    try:
        r = zg.run_zerg(["-c", path])
    finally:
        zg.ZERG = saved
    assert r.returncode == 1
    assert "bind() on 127.0.0.1:81 failed (13: Permission denied); ports below 1024 " \
           "need root or CAP_NET_BIND_SERVICE" in r.stderr, r.stderr

if __name__ == "__main__":
    zg.run_tests(globals())
