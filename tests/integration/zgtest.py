# SPDX-License-Identifier: MIT
# Description: the integration-test harness: start the real zerg binary in
# its own process on a temporary config, find its ports, talk to it over
# loopback with bounded sockets, stop it by PID, and fail a test on any
# [alert]/[crit]/[emerg] line or sanitizer report in the server's log.
# Also a tiny runner: run_tests() runs a module's test_* functions in order.
"""zerg integration-test harness (python3 stdlib only).

Typical use in a test module:

    import zgtest

    def test_echo_one():
        srv = zgtest.start(zgtest.echo_config())
        s = zgtest.connect(srv.addr("e"))
        s.sendall(b"hi")
        assert zgtest.recv_exact(s, 2) == b"hi"
        s.close()
        srv.stop()

    if __name__ == "__main__":
        zgtest.run_tests(globals())

Every server started during a test is stopped (and its exit status checked,
if the test did not already do so) and its stderr scanned after the test.
"""

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZERG = os.environ.get("ZERG_BIN", os.path.join(ROOT, "zerg"))
LOG_ROOT = os.environ.get("ZG_LOG_DIR") or os.path.join(ROOT, "tests", "logs", "integration")
FIXTURE_DIR = os.path.join(ROOT, "tests", "plugins")

START_TIMEOUT = 10.0   # seconds to wait for every "listening" line
STOP_TIMEOUT = 10.0    # seconds between SIGTERM and SIGKILL
SOCK_TIMEOUT = 10.0    # default timeout of every socket this module makes
DEFAULT_TIME_LIMIT = 30.0

# Lines in the server's stderr that fail the test they occur in.
BAD_LOG_PATTERNS = (
    "[alert]",
    "[crit]",
    "[emerg]",
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "ThreadSanitizer",
)

# Start-up failures that mean "this machine cannot run io_uring": skip.
_NO_URING = re.compile(
    r"io_uring (is )?(disabled|not available|unavailable|not supported)"
    r"|has no io_uring|io_uring_setup.*(ENOSYS|not implemented)",
    re.IGNORECASE,
)

_LISTEN_RE = re.compile(r"^listening (\S+) (\S+)$")


class Skip(Exception):
    """Raise to mark the current test skipped (exit 77 if all skip)."""


class TestTimeout(BaseException):
    """Raised in the main thread when a test exceeds its time limit."""


# --------------------------------------------------------------------------
# per-test bookkeeping (the runner sets these)

_ctx = {"module": "adhoc", "test": "adhoc", "seq": 0, "servers": []}


def _log_dir():
    d = os.path.join(LOG_ROOT, _ctx["module"])
    os.makedirs(d, exist_ok=True)
    return d


def _next_base(tag=None):
    _ctx["seq"] += 1
    name = "%s-%d" % (_ctx["test"], _ctx["seq"])
    if tag:
        name += "-" + tag
    return os.path.join(_log_dir(), name)


# --------------------------------------------------------------------------
# configs

def echo_config(reactors=1, reactor=None, listen="127.0.0.1:0", name="e",
                plugin="echo", listener_extra=None, **top):
    """Return a config dict with one echo listener named name.

    reactor: dict merged into the "reactor" object; listener_extra: dict of
    extra listener keys; top: extra top-level keys (e.g. log={...}).
    """
    lst = {"name": name, "listen": listen, "plugin": plugin}
    if listener_extra:
        lst.update(listener_extra)
    cfg = {"reactors": reactors, "listeners": [lst]}
    if reactor:
        cfg["reactor"] = dict(reactor)
    cfg.update(top)
    return cfg


def _write(path, config):
    if isinstance(config, dict):
        data = (json.dumps(config, indent=4) + "\n").encode()
    elif isinstance(config, str):
        data = config.encode()
    else:
        data = bytes(config)
    with open(path, "wb") as f:
        f.write(data)


def write_config(config, tag=None, suffix=".json"):
    """Write config (a dict, serialized with indent 4, or a str/bytes
    verbatim) to a fresh file under tests/logs/integration/<module>/ and
    return its absolute path."""
    path = _next_base(tag) + suffix
    _write(path, config)
    return path


def fixture(name):
    """Absolute, resolved path of tests/plugins/<name>.so, building it with
    make if it is missing. Fails the test if it cannot be built."""
    so = os.path.join(FIXTURE_DIR, name + ".so")
    if not os.path.exists(so):
        rel = os.path.relpath(so, ROOT)
        r = subprocess.run(["make", "-s", rel], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        if not os.path.exists(so):
            raise AssertionError("cannot build fixture %s: %s"
                                 % (rel, r.stdout.decode(errors="replace")))
    return os.path.realpath(so)


# --------------------------------------------------------------------------
# the server process

def _env():
    env = dict(os.environ)
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


class Server:
    """One zerg process. Create with start(); stop with stop()."""

    def __init__(self, config, args=(), tag=None):
        self.config = config
        base = _next_base(tag)
        if isinstance(config, str) and os.path.isabs(config) and "\n" not in config \
                and os.path.isfile(config):
            self.config_path = config
        else:
            self.config_path = base + ".json"
            _write(self.config_path, config)
        self.stdout_path = base + ".out"
        self.stderr_path = base + ".err"
        self.argv = [ZERG, "-c", self.config_path] + list(args)
        self.proc = None
        self.addrs = {}
        self.stopped = False
        self.returncode = None
        # Regexes of log lines this test expects although they would fail
        # it otherwise (a crash test's [alert] lines).
        self.allow = []

    def _spawn(self):
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, env=_env(),
                                         start_new_session=True)
        finally:
            out.close()
            err.close()
        _ctx["servers"].append(self)

    @property
    def pid(self):
        return self.proc.pid

    def stdout_text(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_listening(self, expect, timeout=START_TIMEOUT):
        """Wait until `expect` listening lines were printed; return
        {name: (host, port)}. Raises Skip if io_uring is unavailable and
        AssertionError if zerg exits or times out first."""
        deadline = time.monotonic() + timeout
        while True:
            addrs = parse_listening(self.stdout_text())
            if len(addrs) >= expect:
                self.addrs = addrs
                return addrs
            rc = self.proc.poll()
            if rc is not None:
                # Read stdout once more: the lines may have landed just now.
                addrs = parse_listening(self.stdout_text())
                if len(addrs) >= expect:
                    self.addrs = addrs
                    return addrs
                self.stopped = True
                self.returncode = rc
                err = self.stderr_text()
                if _NO_URING.search(err):
                    raise Skip("io_uring unavailable: " + _last_line(err))
                raise AssertionError("zerg exited with status %s before listening "
                                     "(%d of %d listeners); stderr:\n%s"
                                     % (rc, len(addrs), expect, _tail(err)))
            if time.monotonic() > deadline:
                raise AssertionError("no listening line after %.0fs (%d of %d); "
                                     "stderr:\n%s" % (timeout, len(addrs), expect,
                                                       _tail(self.stderr_text())))
            time.sleep(0.01)

    def addr(self, name=None):
        """(host, port) of listener name (the only one if name is None)."""
        if name is None:
            if len(self.addrs) != 1:
                raise AssertionError("addr(): %d listeners, name one" % len(self.addrs))
            return next(iter(self.addrs.values()))
        return self.addrs[name]

    def send_signal(self, sig):
        """Send sig to the server's PID (never to a group or a name)."""
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Wait up to timeout for exit; return the status or None."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, expect=0,
             max_seconds=None):
        """Send sig, wait up to timeout, then SIGKILL. Assert the exit status
        is expect (None = do not check) and, if max_seconds is given, that it
        exited within max_seconds. Then check the log. Returns (status,
        seconds)."""
        if self.stopped:
            rc, secs = self.returncode, 0.0
            was_early = True
        else:
            was_early = self.proc.poll() is not None
            t0 = time.monotonic()
            if not was_early:
                os.kill(self.proc.pid, sig)
            rc = self.wait(timeout)
            secs = time.monotonic() - t0
            if rc is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
                self.stopped = True
                self.returncode = self.proc.returncode
                self.check_log()
                raise AssertionError("zerg did not exit within %.0fs of %s; killed; "
                                     "stderr:\n%s" % (timeout, signal.Signals(sig).name,
                                                       _tail(self.stderr_text())))
            self.stopped = True
            self.returncode = rc
        self.check_log()
        if expect is not None and rc != expect:
            raise AssertionError("zerg %s with status %s (expected %s); stderr:\n%s"
                                 % ("had already exited" if was_early else "exited",
                                    _status(rc), expect, _tail(self.stderr_text())))
        if was_early and expect is not None:
            raise AssertionError("zerg had already exited (status %s) before it was "
                                 "stopped; stderr:\n%s" % (_status(rc),
                                                            _tail(self.stderr_text())))
        if max_seconds is not None and secs > max_seconds:
            raise AssertionError("zerg took %.2fs to exit after %s (limit %.1fs)"
                                 % (secs, signal.Signals(sig).name, max_seconds))
        return rc, secs

    def kill(self):
        """SIGKILL by PID if still running (cleanup, no status check)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self.stopped = True
            self.returncode = self.proc.returncode

    def check_log(self):
        """Fail if stderr holds an alert/crit/emerg line or a sanitizer
        report."""
        bad = bad_log_lines(self.stderr_text(), self.allow)
        if bad:
            raise AssertionError("server log %s has:\n%s" % (
                os.path.relpath(self.stderr_path, ROOT), "\n".join(bad[:20])))

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.kill()
        elif not self.stopped:
            self.stop()
        return False


def with_fd_limit(soft, hard):
    """A path to run instead of ZERG (set ZERG to it around start()) that
    execs zerg, same pid, under RLIMIT_NOFILE soft:hard (prlimit from
    util-linux; Skip if missing). zerg raises its soft limit to the hard
    one, so a test that needs it low sets both."""
    import shutil
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise Skip("prlimit (util-linux) not installed")
    path = write_config("#!/bin/sh\nexec %s --nofile=%d:%d %s \"$@\"\n"
                        % (prlimit, soft, hard, ZERG), tag="prlimit", suffix=".sh")
    os.chmod(path, 0o755)
    return path


def start(config, args=(), expect=None, timeout=START_TIMEOUT, tag=None):
    """Start zerg on config (dict, JSON text, or an existing file path) and
    wait for its listening lines. expect = number of listeners (default: the
    config's count, 1 if unknown). Returns the Server; srv.addrs is
    {name: (host, port)}."""
    srv = Server(config, args, tag)
    if expect is None:
        expect = len(config.get("listeners", ())) if isinstance(config, dict) else 1
    expect = max(expect, 1)
    srv._spawn()
    srv.wait_listening(expect, timeout)
    return srv


def parse_listening(text):
    """{name: (host, port)} from zerg's stdout."""
    out = {}
    for line in text.splitlines():
        m = _LISTEN_RE.match(line.strip())
        if m:
            out[m.group(1)] = parse_addr(m.group(2))
    return out


def parse_addr(s):
    """'1.2.3.4:80' -> ('1.2.3.4', 80); '[::1]:80' -> ('::1', 80)."""
    host, _, port = s.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def bad_log_lines(text, allow=()):
    """Lines of text that fail a test, except those matching a regex of
    allow."""
    return [ln for ln in text.splitlines() if any(p in ln for p in BAD_LOG_PATTERNS)
            and not any(re.search(a, ln) for a in allow)]


def run_zerg(args, timeout=15, tag=None):
    """Run zerg with args (list) to completion (for -t, -h, -v, failing
    configs). Returns a CompletedProcess with text stdout/stderr; kills it
    by PID after timeout. The output is also saved under tests/logs."""
    base = _next_base(tag or "run")
    p = subprocess.Popen([ZERG] + list(args), cwd=ROOT, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=10)
        raise AssertionError("zerg %s did not finish within %ss; stdout %r stderr %r"
                             % (" ".join(args), timeout, out[-2000:], err[-2000:]))
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    with open(base + ".out", "w") as f:
        f.write(out)
    with open(base + ".err", "w") as f:
        f.write(err)
    bad = bad_log_lines(err)
    bad = [b for b in bad if not b.startswith("zerg: ")]
    if bad:
        raise AssertionError("zerg %s: stderr has:\n%s" % (" ".join(args), "\n".join(bad)))
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _status(rc):
    if rc is not None and rc < 0:
        try:
            return "%d (killed by %s)" % (rc, signal.Signals(-rc).name)
        except ValueError:
            pass
    return str(rc)


def _tail(text, n=30):
    lines = text.splitlines()
    return "\n".join("    | " + ln for ln in lines[-n:])


def _last_line(text):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------
# sockets (loopback only, every one with a timeout)

class Upstream:
    """A loopback server: handler(sock) runs on a thread per connection.
    accepted counts connections; close() stops listening (later connects
    are refused)."""

    def __init__(self, handler, backlog=128):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(backlog)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.handler = handler
        self.accepted = 0
        self.stopping = False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            s.settimeout(SOCK_TIMEOUT)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        try:
            self.handler(s)
        except OSError:
            pass
        finally:
            s.close()

    def close(self):
        self.stopping = True
        self.t.join(5)
        self.ls.close()


def connect(addr, timeout=SOCK_TIMEOUT):
    """A connected TCP socket to addr ((host, port)) with a timeout."""
    host = addr[0]
    if host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("127."):
        raise AssertionError("refusing to connect outside loopback: %r" % (addr,))
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
    except BaseException:
        s.close()
        raise
    return s


def recv_exact(sock, n, timeout=SOCK_TIMEOUT):
    """Read exactly n bytes (within timeout seconds overall). Raises
    AssertionError on EOF first (with what was read)."""
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("recv_exact: timeout after %d of %d bytes" % (len(buf), n))
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except socket.timeout:
            raise AssertionError("recv_exact: timeout after %d of %d bytes" % (len(buf), n))
        except ConnectionResetError:
            raise AssertionError("recv_exact: connection reset after %d of %d bytes"
                                 % (len(buf), n))
        if not chunk:
            raise AssertionError("recv_exact: EOF after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_until_eof(sock, limit=64 << 20, timeout=SOCK_TIMEOUT):
    """Read until EOF (at most limit bytes, within timeout overall)."""
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("recv_until_eof: no EOF within %.0fs (%d bytes read)"
                                 % (timeout, len(buf)))
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            raise AssertionError("recv_until_eof: no EOF within %.0fs (%d bytes read)"
                                 % (timeout, len(buf)))
        except ConnectionResetError:
            raise AssertionError("recv_until_eof: connection reset (not a clean EOF) "
                                 "after %d bytes" % len(buf))
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > limit:
            raise AssertionError("recv_until_eof: more than %d bytes" % limit)


def expect_eof(sock, timeout=SOCK_TIMEOUT):
    """Assert the peer closes (EOF or RST) within timeout with no more data."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError("expected EOF, connection still open after %.0fs" % timeout)
    if data:
        raise AssertionError("expected EOF, got %d more bytes: %r" % (len(data), data[:64]))


def rst_close(sock):
    """Close with SO_LINGER {1, 0}: the kernel sends RST."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def rss_kib(pid):
    """Resident memory of process pid, in KiB (VmRSS); fails for a process
    that has none (gone, or a zombie)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (bind to 0, read, close)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_is_free(port, host="127.0.0.1"):
    """True if nothing listens on host:port (we can bind and listen)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def hold_port(host="127.0.0.1"):
    """A listening socket on a fresh loopback port: (sock, port). While it
    is open, nobody else can listen on that port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(1)
    return s, s.getsockname()[1]


def pattern(idx, size):
    """size bytes unique to stream idx: records "<idx>:<seq>\\n", so every
    position is distinct and the owner of any stray bytes is readable."""
    out = bytearray()
    seq = 0
    while len(out) < size:
        out += b"%06x:%08x\n" % (idx & 0xFFFFFF, seq)
        seq += 1
    return bytes(out[:size])


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def echo_many(addr, payloads, timeout=30.0, shutdown=True, socks=None, chunk=16384,
              read_after=0.0):
    """Echo every payload on its own connection, all concurrently, in one
    thread (selectors): write while reading, check each byte against the
    connection's own payload as it arrives. With shutdown, half-close each
    connection once its payload is sent and require EOF after the full
    echo. socks: already connected sockets (one per payload); else connect
    here, all before the first byte is sent. read_after: read nothing for
    that many seconds after the first byte is sent (the echo piles up in
    the server). Raises AssertionError naming the connection, offset and
    bytes on any mismatch, early close, reset or timeout."""
    n = len(payloads)
    if socks is None:
        socks = []
        try:
            for _ in range(n):
                socks.append(connect(addr))
        except BaseException:
            for s in socks:
                s.close()
            raise
    sel = selectors.DefaultSelector()
    sent = [0] * n
    got = [0] * n
    done = [False] * n
    remaining = n
    read_at = time.monotonic() + read_after
    reading = read_after <= 0

    def events(i):
        return ((selectors.EVENT_READ if reading else 0) |
                (selectors.EVENT_WRITE if sent[i] < len(payloads[i]) else 0))

    parked = set()  # all sent, waiting for read_after

    try:
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, events(i), i)
        deadline = time.monotonic() + timeout
        while remaining:
            if not reading and time.monotonic() >= read_at:
                reading = True
                for i, s in enumerate(socks):
                    if i in parked:
                        sel.register(s, events(i), i)
                    else:
                        sel.modify(s, events(i), i)
            left = deadline - time.monotonic()
            if left <= 0:
                slow = [i for i in range(n) if not done[i]]
                raise AssertionError(
                    "echo_many: timeout after %.0fs; %d of %d connections unfinished, e.g. %s"
                    % (timeout, len(slow), n, ", ".join(
                        "#%d sent %d/%d echoed %d" % (i, sent[i], len(payloads[i]), got[i])
                        for i in slow[:5])))
            wait = min(left, 1.0) if reading else max(0.0, min(left, read_at - time.monotonic()))
            for key, ev in sel.select(wait):
                i = key.data
                s = key.fileobj
                p = payloads[i]
                if ev & selectors.EVENT_READ:
                    try:
                        data = s.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        data = None
                    except ConnectionResetError:
                        raise AssertionError("echo_many: connection #%d reset after %d of %d "
                                             "bytes echoed (sent %d)" % (i, got[i], len(p), sent[i]))
                    if data == b"":
                        if got[i] < len(p):
                            raise AssertionError("echo_many: connection #%d closed by server after "
                                                 "%d of %d bytes echoed (sent %d)"
                                                 % (i, got[i], len(p), sent[i]))
                        sel.unregister(s)
                        done[i] = True
                        remaining -= 1
                        continue
                    if data:
                        exp = p[got[i]:got[i] + len(data)]
                        if data != exp:
                            k = first_diff(data, exp)
                            raise AssertionError(
                                "echo_many: connection #%d wrong byte at offset %d: got %r, "
                                "expected %r%s" % (i, got[i] + k, data[k:k + 32], exp[k:k + 32],
                                                   " (past its end)" if k >= len(exp) else ""))
                        got[i] += len(data)
                        if got[i] == len(p) and not shutdown:
                            sel.unregister(s)
                            done[i] = True
                            remaining -= 1
                            continue
                if ev & selectors.EVENT_WRITE and sent[i] < len(p):
                    try:
                        sent[i] += s.send(p[sent[i]:sent[i] + chunk])
                    except (BlockingIOError, InterruptedError):
                        pass
                    except (ConnectionResetError, BrokenPipeError) as e:
                        raise AssertionError("echo_many: connection #%d: %s after sending %d, "
                                             "%d echoed" % (i, e, sent[i], got[i]))
                    if sent[i] == len(p):
                        if shutdown:
                            s.shutdown(socket.SHUT_WR)
                        if reading:
                            sel.modify(s, selectors.EVENT_READ, i)
                        else:
                            sel.unregister(s)
                            parked.add(i)
    finally:
        sel.close()
        for s in socks:
            s.close()


class Sender(threading.Thread):
    """Send data on sock in the background (sendall, then optional
    shutdown(SHUT_WR)); join() re-raises nothing but records .error."""

    def __init__(self, sock, data, shutdown=False, chunk=1 << 18):
        super().__init__(daemon=True)
        self.sock, self.data, self.shut, self.chunk = sock, data, shutdown, chunk
        self.error = None
        self.sent = 0

    def run(self):
        try:
            mv = memoryview(self.data)
            while self.sent < len(mv):
                self.sent += self.sock.send(mv[self.sent:self.sent + self.chunk])
            if self.shut:
                self.sock.shutdown(socket.SHUT_WR)
        except BaseException as e:  # reported by the test through .error
            self.error = e

    def finish(self, timeout=SOCK_TIMEOUT):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("sender still running after %.0fs (%d of %d sent)"
                                 % (timeout, self.sent, len(self.data)))
        if self.error is not None:
            raise AssertionError("sender failed after %d of %d bytes: %r"
                                 % (self.sent, len(self.data), self.error))


# --------------------------------------------------------------------------
# the runner

def time_limit(seconds):
    """Decorator: give one test its own time limit."""
    def deco(fn):
        fn.time_limit = seconds
        return fn
    return deco


def _on_alarm(signum, frame):
    raise TestTimeout()


def _cleanup_servers():
    """Stop what the test left running (SIGKILL), check every server's
    log. Returns a list of failure strings."""
    problems = []
    for srv in _ctx["servers"]:
        if srv.proc is None:
            continue
        if not srv.stopped:
            if srv.proc.poll() is not None:
                problems.append("zerg (pid %d) exited on its own with status %s; stderr:\n%s"
                                % (srv.pid, _status(srv.proc.returncode),
                                   _tail(srv.stderr_text())))
            srv.kill()
        bad = bad_log_lines(srv.stderr_text(), srv.allow)
        if bad:
            msg = "server log %s has:\n%s" % (os.path.relpath(srv.stderr_path, ROOT),
                                              "\n".join(bad[:20]))
            problems.append(msg)
    _ctx["servers"] = []
    return problems


def run_tests(namespace, default_limit=DEFAULT_TIME_LIMIT):
    """Run every function named test_* in namespace (a module's globals())
    in definition order, each with a time limit (SIGALRM; @time_limit(s) to
    change it), print PASS/FAIL/SKIP per test and "N passed, N failed"; exit
    1 on any failure, 77 if every test skipped, else 0. Command-line
    arguments, if any, select tests by substring."""
    if not os.access(ZERG, os.X_OK):
        print("SKIP: %s not built" % ZERG)
        sys.exit(77)
    mod = os.path.splitext(os.path.basename(namespace.get("__file__", "adhoc")))[0]
    _ctx["module"] = mod
    tests = [(k, v) for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    if len(sys.argv) > 1:
        tests = [(k, v) for k, v in tests if any(a in k for a in sys.argv[1:])]
    passed = failed = skipped = 0
    signal.signal(signal.SIGALRM, _on_alarm)
    t_all = time.monotonic()
    for name, fn in tests:
        _ctx["test"] = name
        _ctx["seq"] = 0
        _ctx["servers"] = []
        limit = getattr(fn, "time_limit", default_limit)
        t0 = time.monotonic()
        outcome, detail = "PASS", ""
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            fn()
        except Skip as e:
            outcome, detail = "SKIP", str(e)
        except TestTimeout:
            outcome, detail = "FAIL", "time limit of %.0fs exceeded\n%s" % (
                limit, "".join(traceback.format_exc().splitlines(True)[-6:]))
        except BaseException as e:  # every other exception fails the test
            if isinstance(e, KeyboardInterrupt):
                _cleanup_servers()
                raise
            outcome = "FAIL"
            detail = traceback.format_exc() if not isinstance(e, AssertionError) else \
                "%s\n  at %s" % (e, _where(e))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            problems = _cleanup_servers()
        except BaseException as e:  # a broken log must not stop the run
            problems = ["cleanup failed: %r" % e]
        if problems and outcome != "FAIL":
            outcome = "FAIL"
            detail = "\n".join(problems)
        elif problems:
            extra = [p for p in problems if p.split("\n")[0] not in detail]
            if extra:
                detail += "\n" + "\n".join(extra)
        secs = time.monotonic() - t0
        print("%s  %s.%s  %.2fs" % (outcome, mod, name, secs), flush=True)
        if detail:
            for ln in detail.rstrip().splitlines():
                print("    " + ln)
            sys.stdout.flush()
        if outcome == "PASS":
            passed += 1
        elif outcome == "SKIP":
            skipped += 1
        else:
            failed += 1
    print("%d passed, %d failed%s  (%.1fs)" % (passed, failed,
                                               ", %d skipped" % skipped if skipped else "",
                                               time.monotonic() - t_all), flush=True)
    if failed:
        sys.exit(1)
    if skipped and not passed:
        sys.exit(77)
    sys.exit(0)


def _where(e):
    tb = e.__traceback__
    last = None
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.endswith("zgtest.py"):
            last = tb
        tb = tb.tb_next
    if last is None:
        return "?"
    return "%s:%d" % (os.path.basename(last.tb_frame.f_code.co_filename), last.tb_lineno)
