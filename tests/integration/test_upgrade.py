#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: binary upgrade (SIGUSR2, zerg -s upgrade) with two builds of
# zerg: the tree's binary, and a copy of the tree rebuilt with another
# version string, put at the path the running one was started from. Under
# continuous load (keep-alive clients and new connections) no request
# fails, the pid file moves to the new process, the old one exits 0; a
# new binary that fails (exits, never says it serves, is missing) leaves
# the old one serving with its pid file back; the same in master mode.
import atexit
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

REQ = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
REQ_CLOSE = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
BODY = b"Hello, World!"
HTTP_SO = os.path.join(zg.ROOT, "plugins", "http", "http.so")

_build = {}


def _subreaper():
    """Make this process the subreaper of its descendants: a new zerg,
    orphaned when the old one exits, becomes our child, so its exit status
    can be waited for."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise zg.Skip("prctl(PR_SET_CHILD_SUBREAPER) failed")


def second_build():
    """(path, version) of a second zerg: the tree's objects copied and the
    binary rebuilt with its own version string (same compiler flags and
    sanitizers as the tree under test). Built once per run."""
    if "path" in _build:
        return _build["path"], _build["version"]
    r = subprocess.run([zg.ZERG, "-v"], capture_output=True, text=True, timeout=10)
    old = re.match(r"zerg version (\S+) ", r.stdout).group(1)
    new = old + "-upgraded"
    work = tempfile.mkdtemp(prefix="zg-upgrade-build-")
    atexit.register(shutil.rmtree, work, True)
    for d in ("core", "modules"):
        shutil.copytree(os.path.join(zg.ROOT, d), os.path.join(work, d))
    for f in ("Makefile", "Makefile.in", "configure"):
        shutil.copy2(os.path.join(zg.ROOT, f), work)
    hdr = os.path.join(work, "core", "zerg_build.h")
    with open(hdr) as f:
        text = f.read()
    assert '#define ZG_VERSION "%s"' % old in text, text
    with open(hdr, "w") as f:
        f.write(text.replace('#define ZG_VERSION "%s"' % old,
                             '#define ZG_VERSION "%s"' % new))
    r = subprocess.run(["make", "-j2", "zerg"], cwd=work, capture_output=True,
                       text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    path = os.path.join(work, "zerg")
    v = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    assert v.stdout.startswith("zerg version %s " % new), v.stdout
    _build["path"], _build["version"] = path, new
    return path, new


def version_of(binary):
    r = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    return re.match(r"zerg version (\S+) ", r.stdout).group(1)


def place(src, dst):
    """Put a copy of src at dst the way an installer does (a new file
    renamed over the old: the running binary is never written to)."""
    tmp = dst + ".new"
    shutil.copy2(src, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dst)


def script(dst, body):
    tmp = dst + ".new"
    with open(tmp, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dst)


class Tree:
    """A directory with bin/zerg (a copy of the tree's binary, which the
    server is started from) and a pid file path."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="zg-upgrade-")
        os.mkdir(os.path.join(self.dir, "bin"))
        self.bin = os.path.join(self.dir, "bin", "zerg")
        place(zg.ZERG, self.bin)
        self.pid = os.path.join(self.dir, "zerg.pid")
        self.children = []

    def start(self, config, expect):
        saved, zg.ZERG = zg.ZERG, self.bin
        try:
            return zg.start(config, expect=expect)
        finally:
            zg.ZERG = saved

    def read_pid(self):
        try:
            with open(self.pid) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def wait_pid_change(self, old, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.read_pid()
            if pid is not None and pid != old:
                self.children.append(pid)
                return pid
            time.sleep(0.02)
        raise AssertionError("the pid file still names %s after %ss" % (old, timeout))

    def stop_child(self, pid, sig=signal.SIGTERM, timeout=15):
        """Stop a process an upgrade started (our child: subreaper) and
        return its exit status."""
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got, st = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                self.children.remove(pid)
                return os.waitstatus_to_exitcode(st)
            time.sleep(0.02)
        raise AssertionError("process %d did not exit within %ss" % (pid, timeout))

    def cleanup(self):
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def http_config(tree, reactors, **top):
    cfg = {"pid": tree.pid, "reactors": reactors, "shutdown_timeout_ms": 5000,
           "listeners": [{"name": "h", "listen": "127.0.0.1:0", "plugin": HTTP_SO}]}
    cfg.update(top)
    return cfg


class Reset(Exception):
    pass


class Eof(Exception):
    pass


def read_response(sock):
    """One whole response (head, body). Eof if the peer closed before its
    first byte, Reset on a reset, AssertionError if it ends inside it."""
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                if buf:
                    raise AssertionError("response truncated in its head: %r" % buf)
                raise Eof()
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        length = int(m.group(1)) if m else 0
        while len(body) < length:
            chunk = sock.recv(4096)
            if not chunk:
                raise AssertionError("response truncated in its body: %d of %d"
                                     % (len(body), length))
            body += chunk
    except ConnectionResetError:
        raise Reset("reset after %d bytes of a response" % len(buf))
    return head, body


class Load:
    """keepalive clients asking on persistent connections (a new one when
    the server closes after a response) and fresh clients opening a new
    connection for each request, all until stop(). A reset, a truncated or
    wrong response, a refused connection, or a connection closed before
    its first response is an error; a keep-alive connection closed by the
    server after a complete response (the next request then finds EOF) is
    counted, not an error."""

    def __init__(self, addr, keepalive=20, fresh=4):
        self.addr = addr
        self.ok = 0
        self.closed_after_response = 0
        self.errors = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._keepalive, daemon=True)
                        for _ in range(keepalive)]
        self.threads += [threading.Thread(target=self._fresh, daemon=True)
                         for _ in range(fresh)]
        for t in self.threads:
            t.start()

    def _count(self, what, n=1):
        with self.lock:
            setattr(self, what, getattr(self, what) + n)

    def _error(self, msg):
        with self.lock:
            self.errors.append(msg)

    def _check(self, head, body):
        if not head.startswith(b"HTTP/1.1 200") or body != BODY:
            raise AssertionError("wrong response %r %r" % (head[:40], body[:40]))

    def _keepalive(self):
        s, served = None, 0
        while not self.done.is_set():
            try:
                if s is None:
                    s, served = zg.connect(self.addr, timeout=10), 0
                try:
                    s.sendall(REQ)
                    head, body = read_response(s)
                except Eof:
                    if served == 0:
                        raise AssertionError("new connection closed before its "
                                             "first response")
                    # Closed after a complete response: ask again anew.
                    self._count("closed_after_response")
                    s.close()
                    s = None
                    continue
                self._check(head, body)
                self._count("ok")
                served += 1
                if b"connection: close" in head.lower():
                    if s.recv(16) != b"":
                        raise AssertionError("bytes after Connection: close")
                    s.close()
                    s = None
            except Exception as e:
                self._error("keep-alive client: %r" % e)
                if s is not None:
                    s.close()
                s = None
                time.sleep(0.05)
        if s is not None:
            s.close()

    def _fresh(self):
        while not self.done.is_set():
            s = None
            try:
                s = zg.connect(self.addr, timeout=10)
                s.sendall(REQ_CLOSE)
                head, body = read_response(s)
                self._check(head, body)
                if s.recv(16) != b"":
                    raise AssertionError("bytes after Connection: close")
                self._count("ok")
            except Exception as e:
                self._error("new-connection client: %r" % e)
                time.sleep(0.05)
            finally:
                if s is not None:
                    s.close()

    def count(self):
        with self.lock:
            return self.ok

    def wait_more(self, n, timeout=10):
        """Wait until n more requests were answered."""
        want = self.count() + n
        deadline = time.monotonic() + timeout
        while self.count() < want:
            assert time.monotonic() < deadline, \
                "load stalled: %d answered, errors %r" % (self.count(), self.errors[:5])
            time.sleep(0.02)

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(15)
        print("    load: %d answered, %d keep-alive connection(s) closed after a "
              "response, %d error(s)" % (self.ok, self.closed_after_response,
                                         len(self.errors)), flush=True)
        assert not self.errors, "%d failed request(s): %r" % (len(self.errors),
                                                             self.errors[:10])
        assert self.ok > 0


def exe_inode(pid):
    return os.stat("/proc/%d/exe" % pid).st_ino


def log_mark(srv):
    return len(srv.stderr_text())


def wait_log(srv, pattern, timeout=15, since=0):
    """The first match of pattern in the server's log after offset since
    (log_mark()), waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(pattern, srv.stderr_text()[since:], re.M)
        if m:
            return m
        assert time.monotonic() < deadline, "no log line %r; log:\n%s" % (
            pattern, srv.stderr_text()[-3000:])
        time.sleep(0.02)


def wait_exit(srv, timeout=20):
    status = srv.wait(timeout)
    assert status is not None, "old process still running %ss after the upgrade" % timeout
    srv.stopped, srv.returncode = True, status
    return status


def upgrade_and_check(tree, srv, new_path, new_version, load, trigger, nlisteners,
                      master=False):
    """Put new_path at the binary's path, trigger the upgrade under load,
    and check the hand-over. Returns the new pid."""
    old = srv.pid
    place(new_path, tree.bin)
    trigger()
    new = tree.wait_pid_change(old)
    status = wait_exit(srv)
    assert status == 0, "old process exited with %s" % status
    assert not os.path.exists(tree.pid + ".oldbin"), "the old pid file stayed"
    # The new process runs the new binary: the file at the path as its
    # executable, its own version in its start line (a master's worker
    # prints that: the caller checks it).
    assert exe_inode(new) == os.stat(tree.bin).st_ino
    if not master:
        wait_log(srv, r"\] %d#%d: zerg %s started" % (new, new, re.escape(new_version)))
    wait_log(srv, r"\] %d#%d: upgrade: new process %d serves" % (old, old, new))
    addrs = zg.parse_listening(srv.stdout_text())
    assert len(addrs) == nlisteners, addrs
    # It serves on: the load goes on without the old process.
    load.wait_more(200)
    return new


@zg.time_limit(180)
def test_upgrade_under_load_s_upgrade_acceptor():
    _subreaper()
    new_path, new_version = second_build()
    tree = Tree()
    try:
        assert version_of(tree.bin) != new_version
        cfg_path = zg.write_config(http_config(tree, 2))
        srv = tree.start(cfg_path, 1)
        old = srv.pid
        assert tree.read_pid() == old
        load = Load(srv.addr("h"))
        load.wait_more(300)

        def trigger():
            r = zg.run_zerg(["-s", "upgrade", "-c", cfg_path])
            assert r.returncode == 0 and r.stderr == "", r.stderr

        new = upgrade_and_check(tree, srv, new_path, new_version, load, trigger, 1)
        load.stop()
        # A request straight to the new one, then its own stop: exit 0,
        # pid file gone.
        s = zg.connect(srv.addr("h"))
        s.sendall(REQ)
        assert read_response(s)[1] == BODY
        s.close()
        assert tree.stop_child(new) == 0
        assert not os.path.exists(tree.pid), "pid file left after the new one's exit"
        srv.check_log()
    finally:
        tree.cleanup()


def _notify_socket():
    d = tempfile.mkdtemp(prefix="zg-upnotify-")
    path = os.path.join(d, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    return s, path


def _messages_until(sock, want):
    got = []
    while True:
        msg = sock.recv(4096).decode()
        got.append(msg)
        if want in msg.split("\n"):
            return got


@zg.time_limit(180)
def test_upgrade_reuseport_twice_with_notify_and_oldbin_held():
    _subreaper()
    new_path, new_version = second_build()
    tree = Tree()
    nsock, npath = _notify_socket()
    saved = os.environ.get("NOTIFY_SOCKET")
    try:
        os.environ["NOTIFY_SOCKET"] = npath
        try:
            srv = tree.start(http_config(tree, 2, accept="reuseport",
                                         shutdown_timeout_ms=15000), 1)
        finally:
            if saved is None:
                del os.environ["NOTIFY_SOCKET"]
            else:
                os.environ["NOTIFY_SOCKET"] = saved
        old = srv.pid
        _messages_until(nsock, "MAINPID=%d" % old)
        # A request in progress on the old process (its head not complete)
        # holds its drain open past the upgrade.
        held = zg.connect(srv.addr("h"))
        held.sendall(b"GET /plaintext HTTP/1.1\r\n")
        time.sleep(0.2)
        load = Load(srv.addr("h"))
        load.wait_more(300)
        place(new_path, tree.bin)
        os.kill(old, signal.SIGUSR2)
        new = tree.wait_pid_change(old)
        # Both the new process (READY with its pid) and the old one (the
        # hand-over, from systemd's main pid) name the new MAINPID.
        msgs = _messages_until(nsock, "MAINPID=%d" % new)
        msgs += _messages_until(nsock, "MAINPID=%d" % new)
        assert any("READY=1" in m.split("\n") for m in msgs), msgs
        assert any(m.startswith("MAINPID=%d\nSTATUS=upgraded" % new) for m in msgs), msgs
        assert not any("STOPPING=1" in m for m in msgs), msgs
        wait_log(srv, r"\] %d#%d: zerg %s started" % (new, new, re.escape(new_version)))
        wait_log(srv, r"upgrade: new process %d serves" % new)
        # Every reuseport socket was passed: the new process took 2.
        wait_log(srv, r"\] %d#%d: upgrade: started .* as process %d with 2 listening "
                 r"socket\(s\)" % (old, old, new))
        assert srv.alive(), "old process gone while a request was in progress"
        # The old one drains, holding zerg.pid.oldbin: a second upgrade now
        # is refused (it would lose track of that file) and changes nothing.
        assert os.path.exists(tree.pid + ".oldbin")
        os.kill(new, signal.SIGUSR2)
        wait_log(srv, r"\] %d#%d: upgrade refused: .*zerg\.pid\.oldbin is locked: the "
                 r"old process \(pid %d\) of an earlier upgrade still drains" % (new, new, old))
        assert tree.read_pid() == new
        load.wait_more(200)
        # The held request completes on the old process, the last one there.
        held.sendall(b"Host: t\r\n\r\n")
        head, body = read_response(held)
        assert body == BODY and b"Connection: close" in head, head
        assert held.recv(16) == b""
        held.close()
        assert wait_exit(srv) == 0
        assert not os.path.exists(tree.pid + ".oldbin")
        # Again, from the new process to the next (the same binary file).
        os.kill(new, signal.SIGUSR2)
        third = tree.wait_pid_change(new)
        load.wait_more(200)
        got, st = 0, 0
        deadline = time.monotonic() + 20
        while got != new and time.monotonic() < deadline:
            got, st = os.waitpid(new, os.WNOHANG)
            time.sleep(0.02)
        assert got == new and os.waitstatus_to_exitcode(st) == 0, (got, st)
        tree.children.remove(new)
        load.stop()
        assert tree.stop_child(third) == 0
        assert not os.path.exists(tree.pid)
        srv.check_log()
    finally:
        nsock.close()
        shutil.rmtree(os.path.dirname(npath), ignore_errors=True)
        tree.cleanup()


@zg.time_limit(120)
def test_failed_upgrades_keep_the_old_process_serving():
    tree = Tree()
    try:
        cfg = http_config(tree, 1, shutdown_timeout_ms=500)
        srv = tree.start(cfg, 1)
        old = srv.pid
        load = Load(srv.addr("h"), keepalive=4, fresh=2)
        load.wait_more(100)
        good = tree.bin + ".good"
        shutil.copy2(tree.bin, good)
        # A "binary" that exits at once, saying what it was given.
        env_out = os.path.join(tree.dir, "env.txt")
        script(tree.bin, 'echo "fds=$LISTEN_FDS pid=$LISTEN_PID me=$$ '
               'names=$LISTEN_FDNAMES up=$ZERG_UPGRADE args=$*" >%s\nexit 3\n' % env_out)
        os.kill(old, signal.SIGUSR2)
        m = wait_log(srv, r"upgrade failed: new process (\d+) \(%s\) ended before it "
                     r"served; it exited with status 3; pid file %s restored; this "
                     r"process \(pid %d\) keeps serving"
                     % (re.escape(tree.bin), re.escape(tree.pid), old))
        child = int(m.group(1))
        with open(env_out) as f:
            got = f.read().strip()
        # ZERG_UPGRADE: the old pid, the channel's fd, "1": the socket was
        # the old process's own (bound, not inherited).
        assert got == "fds=1 pid=%d me=%d names=h up=%d:4:1 args=-c %s" % (
            child, child, old, srv.config_path), got
        assert tree.read_pid() == old
        assert not os.path.exists(tree.pid + ".oldbin")
        load.wait_more(100)
        # One that never says it serves: killed after 10 s +
        # shutdown_timeout_ms; meanwhile the pid file is set aside.
        script(tree.bin, "exec sleep 60\n")
        mark = log_mark(srv)
        os.kill(old, signal.SIGUSR2)
        m = wait_log(srv, r"upgrade: started .* as process (\d+) ", since=mark)
        time.sleep(0.3)
        assert os.path.exists(tree.pid + ".oldbin") and not os.path.exists(tree.pid)
        load.wait_more(100)
        # A second USR2 while one is under way changes nothing.
        os.kill(old, signal.SIGUSR2)
        wait_log(srv, r"SIGUSR2: an upgrade is under way \(new process %s\); ignored"
                 % m.group(1))
        wait_log(srv, r"upgrade failed: new process %s \(.*\) did not say it serves "
                 r"within 10500 ms \(a binary without upgrade support\?\); it exited "
                 r"on signal SIGKILL; pid file .* restored" % m.group(1), timeout=20)
        assert tree.read_pid() == old
        # A file the kernel cannot execute: exec fails in the child.
        with open(tree.bin + ".new", "wb") as f:
            f.write(b"\x00not a program\n")
        os.chmod(tree.bin + ".new", 0o755)
        os.replace(tree.bin + ".new", tree.bin)
        os.kill(old, signal.SIGUSR2)
        wait_log(srv, r"upgrade failed: new process \d+ \(.*\) could not be executed "
                 r"\(execve: Exec format error\); it exited with status 127; pid file "
                 r".* restored")
        assert tree.read_pid() == old
        # No file at the path: refused before anything changes.
        os.unlink(tree.bin)
        os.kill(old, signal.SIGUSR2)
        wait_log(srv, r"upgrade refused: cannot execute %s \(No such file or directory\)"
                 % re.escape(tree.bin))
        assert tree.read_pid() == old
        load.wait_more(100)
        load.stop()
        srv.stop(sig=signal.SIGQUIT)
        assert not os.path.exists(tree.pid) and not os.path.exists(tree.pid + ".oldbin")
    finally:
        tree.cleanup()


@zg.time_limit(180)
def test_master_upgrade_under_load():
    _subreaper()
    new_path, new_version = second_build()
    tree = Tree()
    try:
        cfg_path = zg.write_config(http_config(tree, 2, master=True))
        srv = tree.start(cfg_path, 1)
        old = srv.pid
        m = wait_log(srv, r"master: started worker process (\d+)")
        old_worker = int(m.group(1))
        load = Load(srv.addr("h"))
        load.wait_more(300)

        def trigger():
            r = zg.run_zerg(["-s", "upgrade", "-c", cfg_path])
            assert r.returncode == 0 and r.stderr == "", r.stderr

        new = upgrade_and_check(tree, srv, new_path, new_version, load, trigger, 1,
                                master=True)
        # The new master's worker is the new binary; the old worker is gone.
        m = wait_log(srv, r"\] %d#%d: master: started worker process (\d+)" % (new, new))
        worker = int(m.group(1))
        wait_log(srv, r"\] %d#%d: zerg %s started" % (worker, worker, re.escape(new_version)))
        wait_log(srv, r"\] %d#%d: master: worker %d exited with status 0"
                 % (old, old, old_worker))
        assert not os.path.exists("/proc/%d" % old_worker)
        load.stop()
        assert tree.stop_child(new) == 0
        assert not os.path.exists(tree.pid)
        srv.check_log()
    finally:
        tree.cleanup()


@zg.time_limit(60)
def test_upgraded_process_shuts_its_sockets_down_at_a_fast_stop():
    # The sockets the old process had bound are the new one's once it
    # serves: a fast stop shuts them down at once (new connections are
    # refused) even while a plugin callback never returns, as for sockets
    # it bound itself. (The same binary: no second build needed.)
    _subreaper()
    tree = Tree()
    try:
        cfg = {"pid": tree.pid, "reactors": 1, "shutdown_timeout_ms": 1000,
               "listeners": [{"name": "c", "listen": "127.0.0.1:0",
                              "plugin": zg.fixture("fx_crash")}]}
        srv = tree.start(cfg, 1)
        srv.allow = [r"\[alert\] .*did not stop within",
                     r"\[alert\] .*backtrace of reactor",
                     r"\[alert\] .*did not answer the request for its backtrace"]
        addr = srv.addr("c")
        os.kill(srv.pid, signal.SIGUSR2)
        new = tree.wait_pid_change(srv.pid)
        assert wait_exit(srv) == 0
        s = zg.connect(addr)
        s.sendall(b"hello\n")
        assert zg.recv_exact(s, 6) == b"hello\n"
        s.sendall(b"HANG\n")
        time.sleep(0.3)  # the new process's reactor spins in on_data
        os.kill(new, signal.SIGTERM)
        time.sleep(0.2)
        try:
            c = socket.create_connection(addr, timeout=1)
            c.close()
            raise AssertionError("a connection was queued on the upgraded "
                                 "process's socket after its SIGTERM")
        except ConnectionRefusedError:
            pass
        deadline = time.monotonic() + 10
        got, st = 0, 0
        while got != new and time.monotonic() < deadline:
            got, st = os.waitpid(new, os.WNOHANG)
            time.sleep(0.02)
        assert got == new, "the hung process did not end within its bound"
        tree.children.remove(new)
        assert os.waitstatus_to_exitcode(st) == 1, st
        s.close()
        wait_log(srv, r"\] %d#\d+: reactor 0 did not stop within shutdown_timeout_ms"
                 % new)
    finally:
        tree.cleanup()


@zg.time_limit(60)
def test_master_upgrade_after_a_reload_that_added_a_listener():
    """A listener a reload added (bound by the worker) goes to the new
    master of an upgrade like the others: the new master does not find its
    port taken by the old worker."""
    _subreaper()
    tree = Tree()
    try:
        echo = os.path.join(zg.ROOT, "plugins", "echo", "echo.so")
        cfg = {"pid": tree.pid, "master": True, "reactors": 1,
               "shutdown_timeout_ms": 1000,
               "listeners": [{"name": "a", "listen": "127.0.0.1:0", "plugin": echo}]}
        srv = tree.start(cfg, 1)
        cfg["listeners"][0]["listen"] = "%s:%d" % srv.addr("a")
        wait_log(srv, r"master process %d: worker \d+ serves" % srv.pid)
        port = zg.free_port()
        cfg["listeners"].append({"name": "b", "listen": "127.0.0.1:%d" % port,
                                 "plugin": echo})
        zg._write(srv.config_path, cfg)
        srv.send_signal(signal.SIGHUP)
        wait_log(srv, r"master: worker \d+ reloaded; a restarted worker starts")
        old = srv.pid
        os.kill(old, signal.SIGUSR2)
        new = tree.wait_pid_change(old)
        assert wait_exit(srv) == 0, srv.stderr_text()[-3000:]
        wait_log(srv, r"\] %d#\d+: master process %d: worker \d+ serves" % (new, new))
        for addr in (srv.addr("a"), ("127.0.0.1", port)):
            s = zg.connect(addr)
            s.sendall(b"hello\n")
            assert zg.recv_exact(s, 6) == b"hello\n"
            s.close()
        assert tree.stop_child(new) == 0
    finally:
        tree.cleanup()


if __name__ == "__main__":
    zg.run_tests(globals())
