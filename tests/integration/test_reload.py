# SPDX-License-Identifier: MIT
# Description: configuration reload (SIGHUP) against the real binary: new
# connections get the new configuration within a second while clients
# keep going (keep-alive and new connections, several reloads that change
# a route and add and remove a listener) and no request fails; an invalid
# file keeps the running configuration; connections of the old generation
# finish on it and its plugin is released; counters survive a reload; the
# notify protocol says RELOADING=1 then READY=1.
import os
import re
import shutil
import signal
import socket
import threading
import time

import zgtest as zg


def http_config(body, reactors=2, accept=None, extra_port=None, shutdown_ms=5000,
                stats=False):
    cfg = {"reactors": reactors, "shutdown_timeout_ms": shutdown_ms,
           "log": {"level": "info"},
           "listeners": [{"name": "web", "listen": "127.0.0.1:0", "plugin": "http",
                          "config": {"routes": [{"path": "/", "body": body,
                                                 "methods": ["GET", "HEAD"]}]}}]}
    if accept is not None:
        cfg["accept"] = accept
    if extra_port is not None:
        cfg["listeners"].append({"name": "extra", "listen": "127.0.0.1:%d" % extra_port,
                                 "plugin": "echo"})
    if stats:
        cfg["listeners"].append({"name": "metrics", "listen": "127.0.0.1:0",
                                 "plugin": "stats"})
    return cfg


def pin_port(srv, cfg, name="web"):
    """The config again, with listener name on the port it got (port 0
    would keep its socket anyway, but the file should say what runs)."""
    for lst in cfg["listeners"]:
        if lst["name"] == name:
            lst["listen"] = "%s:%d" % srv.addr(name)
    return cfg


def reload(srv, cfg):
    zg._write(srv.config_path, cfg)
    srv.send_signal(signal.SIGHUP)


class Closed(Exception):
    pass


def read_response(s, buf=b""):
    """One response: (head, body, rest). Closed if the peer closed before
    its first byte; AssertionError if it is cut short."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            if buf:
                raise AssertionError("response cut inside its head: %r" % buf[:200])
            raise Closed()
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise AssertionError("response body cut at %d of %d bytes" % (len(rest), n))
        rest += d
    return head, rest[:n], rest[n:]


REQ = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def get_body(addr):
    s = zg.connect(addr, timeout=5)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        head, body, _ = read_response(s)
        assert head.startswith(b"HTTP/1.1 200"), head
        return body
    finally:
        s.close()


class Load:
    """Clients that keep requesting until stopped: keep-alive ones (a
    clean close between responses makes them reconnect, as any HTTP
    client does) and ones that open a connection per request. Every
    failure (reset, refused, cut response, bad status) is recorded."""

    def __init__(self, addr, bodies, keepalive=12, fresh=12):
        self.addr, self.bodies = addr, bodies
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.reconnects = 0
        self.failures = []
        self.threads = [threading.Thread(target=self.keepalive) for _ in range(keepalive)]
        self.threads += [threading.Thread(target=self.fresh) for _ in range(fresh)]
        for t in self.threads:
            t.start()

    def _check(self, head, body):
        if not head.startswith(b"HTTP/1.1 200") or body not in self.bodies:
            raise AssertionError("bad response %r %r" % (head[:60], body[:60]))

    def _fail(self, what):
        with self.lock:
            self.failures.append(what)

    def keepalive(self):
        s, served = None, 0
        while not self.stop.is_set():
            try:
                if s is None:
                    s, served = zg.connect(self.addr, timeout=10), 0
                s.sendall(REQ)
                try:
                    head, body, rest = read_response(s)
                except Closed:
                    # Closed while idle, after a complete response: fine
                    # on a reused connection, never on a new one.
                    if served == 0:
                        raise AssertionError("new connection closed before its response")
                    with self.lock:
                        self.reconnects += 1
                    s.close()
                    s = None
                    continue
                assert not rest, rest
                self._check(head, body)
                served += 1
                with self.lock:
                    self.ok += 1
                if b"connection: close" in head.lower():
                    assert s.recv(16) == b"", "bytes after Connection: close"
                    s.close()
                    s = None
            except Exception as e:  # recorded, the test fails on it
                self._fail("keep-alive: %r" % e)
                if s is not None:
                    s.close()
                s = None
                time.sleep(0.01)
        if s is not None:
            s.close()

    def fresh(self):
        while not self.stop.is_set():
            try:
                body = get_body(self.addr)
                if body not in self.bodies:
                    raise AssertionError("bad body %r" % body[:60])
                with self.lock:
                    self.ok += 1
            except Exception as e:
                self._fail("new connection: %r" % e)
                time.sleep(0.01)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)
        assert not any(t.is_alive() for t in self.threads), "client thread stuck"


def wait_line(srv, text, limit=5.0):
    deadline = time.monotonic() + limit
    while text not in srv.stderr_text():
        assert time.monotonic() < deadline, "no %r in:\n%s" % (text, srv.stderr_text()[-2000:])
        time.sleep(0.02)


def wait_body(addr, want, limit=1.0):
    """Seconds until a new connection gets want (fails past limit)."""
    t0 = time.monotonic()
    seen = None
    while time.monotonic() - t0 < limit:
        seen = get_body(addr)
        if seen == want:
            return time.monotonic() - t0
        time.sleep(0.01)
    raise AssertionError("%r not served %.1f s after SIGHUP (still %r)" % (want, limit, seen))


def refused(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return True
    s.close()
    return False


def _reload_under_load(accept):
    extra = zg.free_port()
    cfg = http_config("gen-0", accept=accept)
    srv = zg.start(cfg)
    addr = srv.addr("web")
    cfg = pin_port(srv, cfg)
    bodies = {("gen-%d" % k).encode() for k in range(6)}
    load = Load(addr, bodies)
    took = []
    try:
        time.sleep(0.5)
        for k in range(1, 6):
            add = k % 2 == 1
            nxt = http_config("gen-%d" % k, accept=accept, extra_port=extra if add else None)
            nxt = pin_port(srv, nxt)
            reload(srv, nxt)
            took.append(wait_body(addr, ("gen-%d" % k).encode()))
            if add:
                s = zg.connect(("127.0.0.1", extra))
                s.sendall(b"ping")
                assert zg.recv_exact(s, 4) == b"ping"
                s.close()
            else:
                deadline = time.monotonic() + 1.0
                while not refused(extra):
                    assert time.monotonic() < deadline, "removed listener still accepts"
                    time.sleep(0.02)
            time.sleep(0.4)
    finally:
        load.finish()
    err = srv.stderr_text()
    srv.stop()
    assert not load.failures, "%d failed requests, first: %s" % (len(load.failures),
                                                                 load.failures[:5])
    assert load.ok > 200, "only %d requests served" % load.ok
    for k in range(1, 6):
        assert "reload: generation %d, %d listeners" % (k, 2 if k % 2 else 1) in err, err[-3000:]
    assert "has no connection left; its plugin http is released" in err, err[-3000:]
    print("accept %s: %d requests, %d keep-alive reconnects, new body after %s s"
          % (accept, load.ok, load.reconnects, ", ".join("%.3f" % t for t in took)))


@zg.time_limit(60)
def test_reload_under_load_acceptor():
    _reload_under_load("acceptor")


@zg.time_limit(60)
def test_reload_under_load_reuseport():
    _reload_under_load("reuseport")


def test_replaced_plugin_file_is_named_at_reload():
    """An installer's new plugin file (written beside, renamed over) is not
    what a reload runs: the dynamic linker hands back the copy already
    loaded under that path. The reload says so instead of keeping quiet."""
    so = zg._next_base("plugin") + ".so"
    shutil.copy(os.path.join(zg.ROOT, "plugins", "echo", "echo.so"), so)
    cfg = {"log": {"level": "info"},
           "listeners": [{"name": "e", "listen": "127.0.0.1:0", "plugin": so}]}
    srv = zg.start(cfg)
    cfg = pin_port(srv, cfg, "e")
    # The same file again: nothing to say.
    reload(srv, cfg)
    wait_line(srv, "reload: generation 1,")
    assert "was replaced" not in srv.stderr_text()
    shutil.copy(so, so + ".new")
    os.rename(so + ".new", so)
    reload(srv, cfg)
    wait_line(srv, "reload: generation 2,")
    warned = [ln for ln in srv.stderr_text().splitlines() if "was replaced" in ln]
    assert len(warned) == 1, warned
    assert "[warn]" in warned[0] and "plugin %s: the file was replaced since it was " \
        "loaded; the code loaded then goes on running" % so in warned[0], warned[0]
    assert "restart zerg, or upgrade it in place (zerg -s upgrade)" in warned[0], warned[0]
    s = zg.connect(srv.addr("e"))
    s.sendall(b"still\n")
    assert zg.recv_exact(s, 6) == b"still\n"
    s.close()
    srv.stop()


def _btrfs_subvolume():
    """A fresh btrfs subvolume on a loop device: (dir, cleanup). Skip where
    that cannot be made (not root, no mkfs.btrfs)."""
    import subprocess
    import tempfile
    if os.geteuid() != 0 or shutil.which("mkfs.btrfs") is None \
            or shutil.which("btrfs") is None:
        raise zg.Skip("needs root and btrfs-progs")
    top = tempfile.mkdtemp(prefix="zg-btrfs-")
    img, mnt = os.path.join(top, "fs.img"), os.path.join(top, "mnt")
    os.mkdir(mnt)

    def cleanup():
        subprocess.run(["umount", "-l", mnt], capture_output=True)  # a server may still run
        shutil.rmtree(top, ignore_errors=True)
    with open(img, "wb") as f:
        f.truncate(300 << 20)
    for cmd in (["mkfs.btrfs", "-q", img], ["mount", "-o", "loop", img, mnt],
                ["btrfs", "subvolume", "create", os.path.join(mnt, "sub")]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            cleanup()
            raise zg.Skip("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return os.path.join(mnt, "sub"), cleanup


def test_unreplaced_plugin_file_on_btrfs_is_not_named():
    """On btrfs, stat() gives a file the device of its subvolume while
    /proc/self/maps shows the file system's: a plugin file nobody replaced
    is not reported replaced, at start or at a reload."""
    sub, cleanup = _btrfs_subvolume()
    try:
        so = os.path.join(sub, "echo.so")
        shutil.copy(os.path.join(zg.ROOT, "plugins", "echo", "echo.so"), so)
        cfg = {"log": {"level": "info"},
               "listeners": [{"name": "e", "listen": "127.0.0.1:0", "plugin": so}]}
        srv = zg.start(cfg)
        cfg = pin_port(srv, cfg, "e")
        reload(srv, cfg)
        wait_line(srv, "reload: generation 1,")
        assert "was replaced" not in srv.stderr_text(), srv.stderr_text()
        shutil.copy(so, so + ".new")
        os.rename(so + ".new", so)
        reload(srv, cfg)
        wait_line(srv, "reload: generation 2,")
        warned = [ln for ln in srv.stderr_text().splitlines() if "was replaced" in ln]
        assert len(warned) == 1, warned
        srv.stop()
    finally:
        cleanup()


def test_graceful_stop_after_a_reload_has_the_reloaded_bound():
    """shutdown_timeout_ms applies at a reload: a graceful stop after one
    that raised it drains for the new bound (the reactors do), and is not
    ended by the stop watchdog at the bound the server started with."""
    cfg = http_config("x", reactors=1, shutdown_ms=1000)
    srv = zg.start(cfg)
    cfg = pin_port(srv, cfg)
    cfg["shutdown_timeout_ms"] = 8000
    reload(srv, cfg)
    wait_line(srv, "reload: generation 1,")
    s = zg.connect(srv.addr("web"))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.2)
    srv.send_signal(signal.SIGQUIT)
    wait_line(srv, "SIGQUIT received: graceful stop, draining connections "
                   "(at most 8000 ms)")
    time.sleep(2.5)  # past the first bound's watchdog (1000 ms twice)
    s.sendall(b"\r\n")
    head, body, _ = read_response(s)
    assert head.startswith(b"HTTP/1.1 200") and body == b"x", (head, body)
    s.close()
    assert srv.wait(10) == 0, srv.stderr_text()[-3000:]
    srv.stopped, srv.returncode = True, 0
    srv.check_log()


def test_invalid_config_keeps_the_running_one():
    cfg = http_config("old", reactors=1)
    srv = zg.start(cfg)
    addr = srv.addr("web")
    cfg = pin_port(srv, cfg)
    # A syntax error, an unknown key, a plugin that is not there, a route
    # the http plugin refuses: each one line, nothing changes.
    bad_key = http_config("new", reactors=1)
    bad_key["listeners"][0]["config"]["routes"][0]["bodyy"] = "x"
    missing = http_config("new", reactors=1)
    missing["listeners"][0]["plugin"] = "no-such-plugin"
    port_taken = zg.hold_port()
    taken = http_config("new", reactors=1)
    taken["listeners"].append({"name": "busy", "listen": "127.0.0.1:%d" % port_taken[1],
                               "plugin": "echo"})
    cases = [("{\"listeners\": [", r"syntax error"),
             (pin_port(srv, bad_key), r'routes\[0\]\.bodyy: unknown key \(did you mean "body"\?\)'),
             (pin_port(srv, missing), r'listeners\[0\] \("web"\): plugin "no-such-plugin": not found'),
             (pin_port(srv, taken), r'listener "busy": bind\(\) on 127\.0\.0\.1:%d failed' % port_taken[1])]
    for n, (text, pattern) in enumerate(cases, 1):
        if isinstance(text, str):
            with open(srv.config_path, "w") as f:
                f.write(text)
        else:
            zg._write(srv.config_path, text)
        srv.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while srv.stderr_text().count("reload failed") < n:
            assert time.monotonic() < deadline, srv.stderr_text()[-2000:]
            time.sleep(0.02)
        line = [x for x in srv.stderr_text().splitlines() if "reload failed" in x][-1]
        assert "[error]" in line and "the running configuration stays" in line, line
        if n <= 2:  # the file, line and column
            assert re.search(re.escape(srv.config_path) + r":\d+:\d+: ", line), line
        assert re.search(pattern, line), (pattern, line)
        assert get_body(addr) == b"old"
    port_taken[0].close()
    # A good one applies after all that.
    reload(srv, pin_port(srv, http_config("new", reactors=1)))
    wait_body(addr, b"new")
    srv.stop()


def test_old_generation_finishes_then_is_released():
    cfg = http_config("first", reactors=1, stats=True)
    srv = zg.start(cfg)
    addr, maddr = srv.addr("web"), srv.addr("metrics")
    # An idle keep-alive connection, and one in the middle of a request.
    idle = zg.connect(addr)
    idle.sendall(REQ)
    assert read_response(idle)[1] == b"first"
    busy = zg.connect(addr)
    busy.sendall(REQ)
    assert read_response(busy)[1] == b"first"
    busy.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")  # head not finished
    accepted = metric(maddr, 'zerg_connections_accepted_total{listener="web"}')
    assert accepted >= 2, accepted
    nxt = pin_port(srv, pin_port(srv, http_config("second", reactors=1, stats=True)),
                   "metrics")
    reload(srv, nxt)
    wait_body(addr, b"second")
    # The idle one is closed cleanly; the busy one gets its answer from
    # the generation it started on, as the last on that connection.
    idle.settimeout(3)
    assert idle.recv(16) == b"", "idle keep-alive connection not closed"
    busy.sendall(b"\r\n")
    head, body, _ = read_response(busy)
    assert body == b"first" and b"connection: close" in head.lower(), head
    assert busy.recv(16) == b""
    idle.close()
    busy.close()
    deadline = time.monotonic() + 5
    while "generation 0's listener \"web\" has no connection left" not in srv.stderr_text():
        assert time.monotonic() < deadline, srv.stderr_text()[-2000:]
        time.sleep(0.05)
    # Counters go on across the reload.
    after = metric(maddr, 'zerg_connections_accepted_total{listener="web"}')
    assert after >= accepted + 1, (accepted, after)
    srv.stop()


def test_restart_only_keys_are_named_and_the_rest_applies():
    srv = zg.start(http_config("a", reactors=1))
    addr = srv.addr("web")
    nxt = pin_port(srv, http_config("b", reactors=2, accept="reuseport"))
    reload(srv, nxt)
    wait_body(addr, b"b")
    deadline = time.monotonic() + 5
    while "takes a restart" not in srv.stderr_text():
        assert time.monotonic() < deadline, srv.stderr_text()[-2000:]
        time.sleep(0.02)
    line = [x for x in srv.stderr_text().splitlines() if "takes a restart" in x][0]
    assert '"reactors"' in line and "[warn]" in line, line
    srv.stop()


def test_reload_grows_a_shared_log_buffer():
    # The new generation opens the same access log with a bigger buffer
    # while a reactor's smaller buffer holds lines: nothing overflows
    # (the sanitizer build checks) and no line is lost.
    import tempfile
    log = os.path.join(tempfile.mkdtemp(prefix="zg-reload-log-"), "conn.log")

    def logged(buffer):
        cfg = http_config("x", reactors=1)
        cfg["listeners"][0]["modules"] = [{"module": "access_log", "config": {
            "path": log, "buffer": buffer, "flush_ms": 60000}}]
        return cfg

    srv = zg.start(logged(4096))
    addr = srv.addr("web")
    for _ in range(10):
        get_body(addr)
    reload(srv, pin_port(srv, logged(1 << 20)))
    deadline = time.monotonic() + 5
    while "reload: generation 1" not in srv.stderr_text():
        assert time.monotonic() < deadline, srv.stderr_text()[-2000:]
        time.sleep(0.02)
    for _ in range(100):
        get_body(addr)
    srv.stop()
    with open(log) as f:
        lines = f.read().splitlines()
    assert len(lines) == 110, "%d lines, want 110" % len(lines)


def metric(addr, name):
    s = zg.connect(addr)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    text = zg.recv_until_eof(s).decode()
    s.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no %s in %s" % (name, text[-2000:]))


def test_old_generation_is_closed_at_its_deadline():
    """A connection of the old generation that never finishes its request
    is closed once shutdown_timeout_ms has passed, and the generation is
    released."""
    cfg = http_config("first", reactors=1, shutdown_ms=300)
    srv = zg.start(cfg)
    addr = srv.addr("web")
    stuck = zg.connect(addr)
    stuck.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")  # head never finished
    time.sleep(0.1)
    t0 = time.monotonic()
    reload(srv, pin_port(srv, http_config("second", reactors=1, shutdown_ms=300)))
    wait_body(addr, b"second")
    stuck.settimeout(3)
    try:
        assert stuck.recv(16) == b""
    except ConnectionResetError:
        pass
    secs = time.monotonic() - t0
    assert 0.25 <= secs <= 2, "closed %.3f s after the reload (shutdown_timeout_ms 300)" % secs
    stuck.close()
    want = "of generation 0: shutdown_timeout_ms reached, closing 1 connection(s)"
    deadline = time.monotonic() + 5
    while "generation 0's listener \"web\" has no connection left" not in srv.stderr_text():
        assert time.monotonic() < deadline, srv.stderr_text()[-2000:]
        time.sleep(0.05)
    assert want in srv.stderr_text(), srv.stderr_text()[-2000:]
    srv.stop()


def test_counters_survive_two_reloads():
    """What a retired generation passed on is passed on again when the
    next one retires: refusals by module, closes, bytes."""
    cfg = {"reactors": 1, "log": {"level": "info"},
           "listeners": [{"name": "web", "listen": "127.0.0.1:0", "plugin": "echo",
                          "modules": [{"module": "access",
                                       "config": {"rules": [{"deny": "all"}]}}]},
                         {"name": "metrics", "listen": "127.0.0.1:0",
                          "plugin": "stats"}]}
    srv = zg.start(cfg)
    addr, maddr = srv.addr("web"), srv.addr("metrics")
    name = 'zerg_connections_refused_total{listener="web",reason="access"}'
    for _ in range(3):
        s = zg.connect(addr, timeout=5)
        assert zg.recv_until_eof(s) == b""
        s.close()
    deadline = time.monotonic() + 5
    while metric(maddr, name) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    cfg = pin_port(srv, pin_port(srv, cfg), "metrics")
    for gen in (0, 1):
        reload(srv, cfg)
        want = "generation %d's listener \"web\" has no connection left" % gen
        deadline = time.monotonic() + 5
        while want not in srv.stderr_text():
            assert time.monotonic() < deadline, srv.stderr_text()[-2000:]
            time.sleep(0.05)
        assert metric(maddr, name) == 3, (gen, metric(maddr, name))
        assert metric(maddr, 'zerg_connections_accepted_total{listener="web"}') >= 3
    srv.stop()


def test_reload_notifies_systemd():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = "\0zerg-reload-test-%d" % os.getpid()
    sock.bind(name)
    sock.settimeout(5)
    saved = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = "@" + name[1:]
    try:
        cfg = http_config("a", reactors=1)
        srv = zg.start(cfg)
    finally:
        if saved is None:
            del os.environ["NOTIFY_SOCKET"]
        else:
            os.environ["NOTIFY_SOCKET"] = saved
    assert "READY=1" in sock.recv(4096).decode()
    t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
    reload(srv, pin_port(srv, http_config("b", reactors=1)))
    first = sock.recv(4096).decode().split("\n")
    assert "RELOADING=1" in first, first
    usec = [int(x.split("=")[1]) for x in first if x.startswith("MONOTONIC_USEC=")]
    assert usec and abs(usec[0] / 1e6 - t0) < 5, (usec, t0)
    second = sock.recv(4096).decode().split("\n")
    assert "READY=1" in second and any("generation 1" in x for x in second), second
    # A failed reload is READY=1 again, on the old generation.
    with open(srv.config_path, "w") as f:
        f.write("{")
    srv.send_signal(signal.SIGHUP)
    assert "RELOADING=1" in sock.recv(4096).decode()
    again = sock.recv(4096).decode()
    assert "READY=1" in again and "reload failed" in again, again
    sock.close()
    srv.stop()


if __name__ == "__main__":
    zg.run_tests(globals())
