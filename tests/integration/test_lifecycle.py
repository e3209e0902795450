#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: connection lifecycle under stress (issue 4) against the real
# zerg binary and the fx_lifecycle fixture plugin: idle timeouts and plugin
# timers, max_connections, held-input and output limits (back-pressure),
# close modes, fd exhaustion, graceful (SIGQUIT) and fast stops.
import os
import re
import resource
import select
import selectors
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

ALPHA = b"abcdefghijklmnopqrstuvwxyz"
MiB = 1 << 20


# --------------------------------------------------------------------------
# helpers

def fx_config(listener=None, plugin_conf=None, reactors=1, reactor=None, **top):
    """One fx_lifecycle listener named "l"."""
    extra = dict(listener or {})
    if plugin_conf is not None:
        extra["config"] = plugin_conf
    return zg.echo_config(reactors=reactors, reactor=reactor, name="l",
                          plugin=zg.fixture("fx_lifecycle"), listener_extra=extra,
                          **top)


def big(n):
    """What "BIG n" answers: byte i is 'a' + i % 26."""
    return (ALPHA * (n // 26 + 1))[:n]


class Conn:
    """A loopback client socket with a read buffer (lines, exact reads,
    end-of-stream checks), every read bounded in time."""

    def __init__(self, addr, rcvbuf=None, timeout=zg.SOCK_TIMEOUT):
        if rcvbuf is None:
            self.s = zg.connect(addr, timeout)
        else:
            # SO_RCVBUF before connect: a small, fixed window.
            assert addr[0].startswith("127."), "loopback only: %r" % (addr,)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.settimeout(timeout)
            s.connect(addr)
            self.s = s
        self.buf = bytearray()

    @classmethod
    def wrap(cls, sock):
        c = cls.__new__(cls)
        c.s, c.buf = sock, bytearray()
        return c

    def send(self, data):
        self.s.sendall(data)

    def _fill(self, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timeout waiting for %s (have %r)" % (what, bytes(self.buf[:80])))
        self.s.settimeout(left)
        try:
            chunk = self.s.recv(1 << 20)
        except socket.timeout:
            raise AssertionError("timeout waiting for %s (have %r)" % (what, bytes(self.buf[:80])))
        except ConnectionResetError:
            raise AssertionError("connection reset waiting for %s (have %r)"
                                 % (what, bytes(self.buf[:80])))
        if not chunk:
            raise AssertionError("EOF waiting for %s (have %r)" % (what, bytes(self.buf[:80])))
        self.buf += chunk

    def line(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self._fill(deadline, "a line")
        i = self.buf.index(b"\n") + 1
        out = bytes(self.buf[:i])
        del self.buf[:i]
        return out

    def exact(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline, "%d bytes (%d so far)" % (n, len(self.buf)))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def ask(self, cmd, timeout=5.0):
        self.send(cmd + b"\n")
        return self.line(timeout)

    def ending(self, timeout):
        """Read until the stream ends: returns (how, data, seconds) with
        how "eof", "reset" or "open" (nothing ended within timeout)."""
        t0 = time.monotonic()
        data = bytes(self.buf)
        self.buf.clear()
        deadline = t0 + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "open", data, time.monotonic() - t0
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(1 << 20)
            except socket.timeout:
                return "open", data, time.monotonic() - t0
            except ConnectionResetError:
                return "reset", data, time.monotonic() - t0
            if not chunk:
                return "eof", data, time.monotonic() - t0
            data += chunk

    def silent_for(self, seconds):
        """True if nothing arrives (and the stream stays open) for seconds."""
        if self.buf:
            return False
        r, _, _ = select.select([self.s], [], [], seconds)
        return not r

    def close(self):
        self.s.close()


def stats(conn):
    """Parse a STATS line asked on an open connection into {name: int}."""
    line = conn.ask(b"STATS").decode()
    return {k: int(v) for k, v in (f.split("=") for f in line.split())}


def wait_stats(conn, pred, timeout=3.0):
    """Poll STATS until pred(stats) holds; return the last stats."""
    deadline = time.monotonic() + timeout
    while True:
        st = stats(conn)
        if pred(st) or time.monotonic() > deadline:
            return st
        time.sleep(0.02)


def log_lines(srv, needle):
    return [ln for ln in srv.stderr_text().splitlines() if needle in ln]


def wait_log(srv, needle, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = log_lines(srv, needle)
        if found:
            return found
        time.sleep(0.02)
    return []


def wait_exit(srv, t_signal, timeout):
    """The server was signalled by the test at t_signal (monotonic): wait for
    its exit, record it in the harness, check its log. Returns (status,
    seconds since the signal); kills it and fails if it does not exit."""
    rc = srv.wait(max(0.0, t_signal + timeout - time.monotonic()))
    secs = time.monotonic() - t_signal
    if rc is None:
        srv.kill()
        raise AssertionError("zerg still running %.1fs after the signal; stderr:\n%s"
                             % (timeout, srv.stderr_text()[-3000:]))
    srv.stopped = True
    srv.returncode = rc
    srv.check_log()
    return rc, secs


def raise_nofile(need):
    """Let this process (and the servers it starts) open need fds."""
    inf = resource.RLIM_INFINITY
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == inf or soft >= need:
        return
    if hard != inf and hard < need:
        hard = need  # only root may raise it
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    except (ValueError, OSError) as e:
        raise zg.Skip("cannot raise RLIMIT_NOFILE to %d: %s" % (need, e))


def log_seconds(lines):
    """The "YYYY/MM/DD HH:MM:SS" stamps of log lines."""
    return [ln[:19] for ln in lines]


# --------------------------------------------------------------------------
# timers

def test_idle_timeout_closes_idle_not_active():
    srv = zg.start(fx_config({"idle_timeout_ms": 300}))
    addr = srv.addr("l")
    idle = Conn(addr)
    busy = Conn(addr)
    # Output stuck behind a client that does not read: the idle timeout
    # must reset it (RST), not wait for a flush that never comes.
    stuck = Conn(addr, rcvbuf=16384)
    stuck.send(b"BIG 8000000\n")
    t0 = time.monotonic()
    how = secs = None
    n = 0
    while time.monotonic() - t0 < 1.2:
        got = busy.ask(b"ECHO %d" % n, timeout=2)
        assert got == b"%d\n" % n, "active connection: got %r for request %d" % (got, n)
        n += 1
        if how is None:
            r, _, _ = select.select([idle.s], [], [], 0.1)
            if r:
                secs = time.monotonic() - t0
                how = idle.ending(2.0)[0]
        else:
            time.sleep(0.1)
    assert how is not None, "idle connection still open after 1.2 s (idle_timeout_ms 300)"
    assert how == "eof", "idle connection ended with %s, expected a clean EOF (FIN)" % how
    assert 0.25 <= secs <= 0.9, "idle connection closed after %.3f s (idle_timeout_ms 300)" % secs
    how_stuck, data, _ = stuck.ending(5.0)
    assert how_stuck == "reset", ("connection with stuck output ended with %s after %d bytes, "
                                  "expected a reset" % (how_stuck, len(data)))
    assert len(data) < 8000000, "stuck connection got the whole response"
    # The active one is still served after 1.2 s of traffic.
    assert busy.ask(b"ECHO still") == b"still\n"
    st = stats(busy)
    assert st["timeout"] == 2, "on_close(TIMEOUT) count %d, expected 2: %r" % (st["timeout"], st)
    for c in (idle, busy, stuck):
        c.close()
    srv.stop()


def test_plugin_timer_fires_on_time():
    # idle_timeout_ms 0: only the plugin timers are in the wheel.
    srv = zg.start(fx_config({"idle_timeout_ms": 0}))
    addr = srv.addr("l")
    c = Conn(addr)
    t0 = time.monotonic()
    c.send(b"TIMER 200\n")
    assert c.line(2) == b"TIMEOUT\n"
    secs = time.monotonic() - t0
    assert 0.18 <= secs <= 0.45, "TIMER 200 fired after %.3f s" % secs

    # Re-arming replaces the deadline: one TIMEOUT, at about 400 ms.
    t0 = time.monotonic()
    c.send(b"TIMER 150\nTIMER 400\n")
    assert c.line(2) == b"TIMEOUT\n"
    secs = time.monotonic() - t0
    assert 0.38 <= secs <= 0.7, "re-armed TIMER 400 fired after %.3f s" % secs
    assert c.silent_for(0.3), "a second TIMEOUT after a re-arm: %r" % c.s.recv(100)

    # 0 disarms.
    c.send(b"TIMER 100\nTIMER 0\n")
    assert c.silent_for(0.4), "TIMER 0 did not disarm: %r" % c.s.recv(100)
    assert c.ask(b"ECHO ok") == b"ok\n"

    # Many connections, staggered deadlines: each fires about on time.
    conns = [Conn(addr) for _ in range(10)]
    t0 = time.monotonic()
    for i, k in enumerate(conns):
        k.send(b"TIMER %d\n" % (50 * (i + 1)))
    fired = [None] * len(conns)
    for i, k in enumerate(conns):
        assert k.line(3) == b"TIMEOUT\n"
        fired[i] = time.monotonic() - t0
    late = [(50 * (i + 1), round(f * 1000)) for i, f in enumerate(fired)
            if not (0.05 * (i + 1) - 0.02 <= f <= 0.05 * (i + 1) + 0.25)]
    assert not late, "timers (ms requested, ms observed) off: %r" % late
    st = stats(c)
    assert st["timers"] == 12, "on_timeout ran %d times, expected 12: %r" % (st["timers"], st)
    for k in conns + [c]:
        k.close()
    srv.stop()


def test_pause_read_holds_input_until_resume():
    srv = zg.start(fx_config())
    c = Conn(srv.addr("l"))
    t0 = time.monotonic()
    c.send(b"PAUSE 300\nECHO a\n")
    time.sleep(0.1)
    c.send(b"ECHO b\n")
    assert c.line(2) == b"RESUMED\n"
    secs = time.monotonic() - t0
    assert secs >= 0.28, "reading resumed after %.3f s, paused for 300 ms" % secs
    assert c.line(2) == b"a\n" and c.line(2) == b"b\n", "held input lost after resume"
    c.close()
    srv.stop()


# --------------------------------------------------------------------------
# limits

def _open_many(addr, n):
    socks = []
    try:
        for _ in range(n):
            socks.append(zg.connect(addr, timeout=10))
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


@zg.time_limit(90)
def test_max_connections_10000_against_1000():
    raise_nofile(10000 + 2000 + 256)
    srv = zg.start(fx_config({"max_connections": 1000, "backlog": 4096}, reactors=2))
    addr = srv.addr("l")
    t_flood = time.monotonic()
    socks = _open_many(addr, 10000)
    flood_secs = time.monotonic() - t_flood
    try:
        # The first 1000 (accepted first, in order) are served.
        for i, s in enumerate(socks[:1000]):
            s.sendall(b"ECHO %d\n" % i)
        bad = []
        for i, s in enumerate(socks[:1000]):
            want = b"%d\n" % i
            try:
                got = zg.recv_exact(s, len(want), timeout=10)
            except AssertionError as e:
                got = str(e).encode()
            if got != want:
                bad.append((i, got))
        assert not bad, "%d of the first 1000 connections not served, e.g. %r" % (len(bad), bad[:5])
        # The other 9000 got the over-limit response, then EOF.
        wrong = []
        for i, s in enumerate(socks[1000:], 1000):
            try:
                got = zg.recv_until_eof(s, limit=64, timeout=10)
            except AssertionError as e:
                got = str(e).encode()
            if got != b"BUSY\n":
                wrong.append((i, got))
        assert not wrong, ("%d of the 9000 connections over the limit did not read "
                           "b'BUSY\\n' then EOF, e.g. %r" % (len(wrong), wrong[:5]))
    finally:
        for s in socks:
            s.close()
    lines = log_lines(srv, "max_connections (1000) reached")
    assert lines, "no \"max_connections (1000) reached\" line in the log"
    secs = log_seconds(lines)
    assert len(set(secs)) == len(secs), "limit logged more than once a second:\n" + "\n".join(lines)
    assert len(lines) <= flood_secs + 2, ("%d limit lines for a %.1f s flood:\n%s"
                                         % (len(lines), flood_secs, "\n".join(lines)))
    # Accepting never stopped, and the count of open connections came back
    # down exactly: again 1000 served, the next one refused.
    deadline = time.monotonic() + 5
    while True:
        c = Conn(addr)
        c.send(b"ECHO again\n")
        try:
            got = c.line(3)
        except AssertionError as e:
            got = str(e).encode()
        c.close()
        if got == b"again\n":
            break
        assert time.monotonic() < deadline, \
            "no connection served within 5 s after all closed; last answer %r" % got
        time.sleep(0.05)
    time.sleep(0.2)
    socks = _open_many(addr, 1001)
    try:
        for i, s in enumerate(socks[:1000]):
            s.sendall(b"ECHO %d\n" % i)
        for i, s in enumerate(socks[:1000]):
            got = zg.recv_exact(s, len(b"%d\n" % i), timeout=10)
            assert got == b"%d\n" % i, "second round: connection %d got %r" % (i, got)
        got = zg.recv_until_eof(socks[1000], limit=64, timeout=10)
        assert got == b"BUSY\n", "second round: connection 1001 got %r" % got
    finally:
        for s in socks:
            s.close()
    srv.stop()


def test_reactor_max_connections_slots():
    srv = zg.start(fx_config(reactor={"max_connections": 50}))
    addr = srv.addr("l")
    socks = _open_many(addr, 80)
    try:
        for i, s in enumerate(socks):
            s.sendall(b"ECHO %d\n" % i)
        served, closed, other = [], [], []
        for i, s in enumerate(socks):
            c = Conn.wrap(s)
            if i < 50:
                try:
                    got = c.line(3)
                except AssertionError as e:
                    got = str(e).encode()
                (served if got == b"%d\n" % i else other).append(i if got == b"%d\n" % i
                                                                   else (i, got))
                continue
            how, data, _ = c.ending(3.0)
            if how in ("eof", "reset") and b"%d\n" % i not in data:
                closed.append((i, how, data))
            else:
                other.append((i, how, data))
        assert len(served) == 50 and not other, \
            "50 slots: %d served, %d closed, other %r" % (len(served), len(closed), other[:5])
        assert served == list(range(50)), "served: %r" % served
    finally:
        for s in socks:
            s.close()
    lines = log_lines(srv, "(reactor.max_connections)")
    assert lines, "no reactor.max_connections line in the log"
    assert len(set(log_seconds(lines))) == len(lines), "\n".join(lines)
    # Slots come back.
    deadline = time.monotonic() + 3
    while True:
        socks = _open_many(addr, 50)
        for i, s in enumerate(socks):
            s.sendall(b"ECHO %d\n" % i)
        ok = 0
        for i, s in enumerate(socks):
            try:
                ok += zg.recv_exact(s, len(b"%d\n" % i), timeout=2) == b"%d\n" % i
            except AssertionError:
                pass
            s.close()
        if ok == 50 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ok == 50, "after closing, only %d of 50 new connections served" % ok
    srv.stop()


def _slots_closing_at_once(extra, trigger):
    """Every reactor slot in use, all closing in one loop iteration."""
    cfg = fx_config(extra, reactor={"max_connections": 64}, shutdown_timeout_ms=3000)
    srv = zg.start(cfg)
    addr = srv.addr("l")
    socks = _open_many(addr, 64)
    try:
        for i, s in enumerate(socks):
            s.sendall(b"ECHO %d\n" % i)
        for i, s in enumerate(socks):
            got = zg.recv_exact(s, len(b"%d\n" % i), timeout=5)
            assert got == b"%d\n" % i, "connection %d got %r" % (i, got)
        t_sig = trigger(srv)
        ends = []
        for s in socks:
            c = Conn.wrap(s)
            ends.append(c.ending(3)[0])
    finally:
        for s in socks:
            s.close()
    return srv, t_sig, ends


def test_all_slots_idle_timeout_at_once():
    # 64 connections opened within a few ms: their idle deadlines share a
    # tick, so one iteration closes them all.
    srv, _, ends = _slots_closing_at_once({"idle_timeout_ms": 300}, lambda srv: None)
    assert ends.count("eof") == 64, "idle connections ended as %r" % ends
    time.sleep(0.1)
    assert srv.alive(), "zerg died: " + srv.stderr_text()[-2000:]
    c = Conn(srv.addr("l"))
    assert c.ask(b"ECHO alive") == b"alive\n"
    c.close()
    srv.stop()


def test_all_slots_drained_at_once():
    def quit_(srv):
        srv.send_signal(signal.SIGQUIT)
        return time.monotonic()
    srv, t_sig, ends = _slots_closing_at_once({}, quit_)
    assert ends.count("eof") == 64, "drained connections ended as %r" % ends
    rc, secs = wait_exit(srv, t_sig, 5)
    assert rc == 0, "exit status %s after SIGQUIT with all slots in use; stderr:\n%s" \
        % (rc, srv.stderr_text()[-1500:])


def test_held_bytes_limit():
    srv = zg.start(fx_config({"max_held_bytes": 65536}))
    addr = srv.addr("l")
    other = Conn(addr)
    assert other.ask(b"ECHO before") == b"before\n"
    # Under the limit: kept.
    under = Conn(addr)
    under.send(b"HOLD\n" + b"x" * 60000)
    assert under.silent_for(0.5), "connection holding 60000 bytes (limit 65536) was closed"
    # Over it: closed.
    over = Conn(addr)
    over.send(b"HOLD\n")
    try:
        over.s.sendall(b"y" * (200 << 10))
    except (ConnectionResetError, BrokenPipeError):
        pass
    how, data, secs = over.ending(3.0)
    assert how in ("eof", "reset"), "connection holding > 65536 bytes still open after 3 s"
    assert data == b"", "unexpected data %r" % data[:64]
    assert other.ask(b"ECHO after") == b"after\n"
    st = wait_stats(other, lambda s: s["limit"] >= 1)
    assert st["limit"] == 1, "on_close(LIMIT) count %d, expected 1: %r" % (st["limit"], st)
    assert under.silent_for(0.01), "the connection under the limit was closed too"
    assert log_lines(srv, "(limit 65536), closing"), "no held-bytes line in the log"
    for c in (other, under, over):
        c.close()
    srv.stop()


# --------------------------------------------------------------------------
# back-pressure

class Flooder(threading.Thread):
    """Send "BIG 65536\\n" requests as fast as the connection takes them,
    never reading, until stop is set. Records bytes sent and when the
    socket last took data."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.stop = threading.Event()
        self.sent = 0
        self.last_progress = time.monotonic()
        self.error = None

    def run(self):
        block = b"BIG 65536\n" * 6554
        self.sock.setblocking(False)
        try:
            while not self.stop.is_set():
                try:
                    n = self.sock.send(block)
                    self.sent += n
                    self.last_progress = time.monotonic()
                except BlockingIOError:
                    select.select([], [self.sock], [], 0.05)
        except BaseException as e:  # reported by the test
            self.error = e


@zg.time_limit(60)
def test_slow_reader_memory_bounded():
    high, low = 1 * MiB, 256 << 10
    srv = zg.start(fx_config({"write_high_watermark": high, "write_low_watermark": low}))
    addr = srv.addr("l")
    watch = Conn(addr)
    time.sleep(0.1)
    base = zg.rss_kib(srv.pid)
    flood_sock = zg.connect(addr)
    flood = Flooder(flood_sock)
    flood.start()
    other = Conn(addr)
    peak = base
    worst = 0.0
    n = 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 3.0:
            peak = max(peak, zg.rss_kib(srv.pid))
            t = time.monotonic()
            if n % 10 == 9:
                other.send(b"BIG 200000\n")
                got = other.exact(200000, timeout=5)
                assert got == big(200000), "other client: BIG 200000 corrupted"
                # Over 64 KiB unsent: the fixture asked for on_writable.
                note = other.line(5)
                assert note.startswith(b"WRITABLE "), "other client: got %r" % note
            else:
                got = other.ask(b"ECHO %d" % n, timeout=5)
                assert got == b"%d\n" % n, "other client: got %r for request %d" % (got, n)
            worst = max(worst, time.monotonic() - t)
            n += 1
            time.sleep(0.02)
        peak = max(peak, zg.rss_kib(srv.pid))
        stalled_for = time.monotonic() - flood.last_progress
        sent = flood.sent
        st = stats(watch)
    finally:
        flood.stop.set()
        flood.join(2)
    assert flood.error is None, "flooding client failed after %d bytes: %r" % (flood.sent, flood.error)
    limit_kib = (64 * MiB + high) // 1024
    assert peak <= limit_kib, ("server RSS peaked at %d KiB (start %d KiB), limit %d KiB"
                               % (peak, base, limit_kib))
    assert stalled_for >= 0.5, ("the flooding client could still send (%d bytes sent, last "
                                "progress %.2f s ago): no flow control" % (sent, stalled_for))
    assert st["limit"] == 0 and st["error"] == 0, "a connection was closed: %r" % st
    assert worst < 1.0, "other client's slowest request took %.2f s" % worst
    assert n >= 50, "other client completed only %d requests in 3 s" % n
    sys.stdout.write("    slow reader: RSS %d -> peak %d KiB, flooder sent %d bytes, "
                     "other client %d requests, slowest %.3f s\n" % (base, peak, sent, n, worst))
    zg.rst_close(flood_sock)
    watch.close()
    other.close()
    srv.stop()


def test_high_watermark_stops_on_data():
    # The fixture's own cap is out of the way (1 GiB): only the engine's
    # back-pressure keeps 30 x 2 MB of requested output from being queued
    # while the client does not read.
    high, low = 1 * MiB, 256 << 10
    srv = zg.start(fx_config({"write_high_watermark": high, "write_low_watermark": low},
                             plugin_conf={"out_cap": 1 << 30}))
    c = Conn(srv.addr("l"), rcvbuf=65536)
    time.sleep(0.1)
    base = zg.rss_kib(srv.pid)
    peak = base
    for _ in range(30):
        c.send(b"BULK 2000000\n")
        time.sleep(0.03)
        peak = max(peak, zg.rss_kib(srv.pid))
    time.sleep(0.2)
    peak = max(peak, zg.rss_kib(srv.pid))
    assert peak - base < 16 * 1024, ("server RSS grew by %d KiB while a client asked for "
                                     "60 MB and read nothing (high watermark %d)"
                                     % (peak - base, high))
    # Reading resumes the connection: every response arrives, intact.
    want = big(2000000) * 30
    got = c.exact(len(want), timeout=30)
    assert got == want, "30 x BULK 2000000: first difference at %d" % zg.first_diff(got, want)
    assert c.ask(b"ECHO done") == b"done\n"
    sys.stdout.write("    high watermark: RSS %d -> peak %d KiB while not reading\n" % (base, peak))
    c.close()
    srv.stop()


def test_on_writable_after_slow_reader_reads():
    low = 256 << 10
    srv = zg.start(fx_config({"write_low_watermark": low}))
    c = Conn(srv.addr("l"), rcvbuf=65536)
    # More than the kernel buffers take (server SO_SNDBUF grows to 4 MiB):
    # output stays above the low watermark until the client reads.
    n = 16000000
    c.send(b"BIG %d\n" % n)
    time.sleep(0.5)
    got = c.exact(n, timeout=20)
    assert got == big(n), "BIG %d: first difference at %d" % (n, zg.first_diff(got, big(n)))
    line = c.line(5)
    m = re.match(rb"WRITABLE (\d+) (\d+)\n$", line)
    assert m, "expected a WRITABLE line after the response, got %r" % line
    pending, ms = int(m.group(1)), int(m.group(2))
    assert pending <= low, "on_writable ran with %d bytes unsent (low watermark %d)" % (pending, low)
    assert ms >= 450, ("on_writable ran %d ms after the request, before the client "
                       "started reading (500 ms)" % ms)
    assert c.ask(b"ECHO after") == b"after\n"
    st = stats(c)
    assert st["writables"] == 1, "on_writable ran %d times: %r" % (st["writables"], st)
    c.close()
    srv.stop()


# --------------------------------------------------------------------------
# file descriptors

@zg.time_limit(60)
def test_fd_exhaustion_pauses_then_resumes():
    # Soft and hard: zerg raises its soft limit to the hard one at start.
    saved, zg.ZERG = zg.ZERG, zg.with_fd_limit(64, 64)
    try:
        srv = zg.start(fx_config())
    finally:
        zg.ZERG = saved
    addr = srv.addr("l")
    socks = _open_many(addr, 100)
    served, waiting = [], []
    try:
        for i, s in enumerate(socks):
            s.sendall(b"ECHO %d\n" % i)
        # Collect answers until none came for 0.5 s.
        sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            sel.register(s, selectors.EVENT_READ, i)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready = sel.select(0.5)
            if not ready:
                break
            for key, _ in ready:
                i = key.data
                try:
                    got = key.fileobj.recv(64)
                except ConnectionResetError:
                    got = b"<reset>"
                if got != b"%d\n" % i:
                    raise AssertionError("connection %d got %r" % (i, got))
                served.append(i)
                sel.unregister(key.fileobj)
        sel.close()
        waiting = [i for i in range(len(socks)) if i not in served]
        assert served and waiting, ("with RLIMIT_NOFILE 64: %d served, %d waiting of 100"
                                    % (len(served), len(waiting)))
        paused = wait_log(srv, "pausing accepts", 2)
        assert paused, "no \"pausing accepts\" line in the log"
        assert len(log_lines(srv, "pausing accepts")) == 1, \
            "\n".join(log_lines(srv, "pausing accepts"))
        assert srv.alive(), "zerg died out of descriptors"
        # Free descriptors: the waiting connections are accepted and served.
        t_free = time.monotonic()
        for i in served:
            socks[i].close()
        late = []
        for i in waiting:
            try:
                got = zg.recv_exact(socks[i], len(b"%d\n" % i), timeout=5)
            except AssertionError as e:
                got = str(e).encode()
            if got != b"%d\n" % i:
                late.append((i, got))
        assert not late, "%d of %d waiting connections not served after fds were freed, e.g. %r" \
            % (len(late), len(waiting), late[:5])
        resumed = time.monotonic() - t_free
        assert resumed < 2.0, "waiting connections served %.2f s after fds were freed" % resumed
        again = log_lines(srv, "accepting on %s:%d again" % addr)
        assert again, "no \"accepting on ... again\" line in the log"
    finally:
        for s in socks:
            s.close()
    time.sleep(0.3)  # let the server close its side before it must stop
    c = Conn(addr)
    assert c.ask(b"ECHO new") == b"new\n"
    c.close()
    time.sleep(0.1)
    srv.stop()


# --------------------------------------------------------------------------
# close modes

def test_close_modes():
    srv = zg.start(fx_config())
    addr = srv.addr("l")
    watch = Conn(addr)

    # flush: everything queued arrives, then a clean EOF; later lines ignored.
    c = Conn(addr)
    c.send(b"BIG 300000\nCLOSE flush\nECHO late\n")
    how, data, _ = c.ending(10)
    assert how == "eof", "CLOSE flush ended with %s after %d bytes" % (how, len(data))
    assert data == big(300000), "CLOSE flush: got %d bytes, first difference at %d" \
        % (len(data), zg.first_diff(data, big(300000)))
    c.close()

    # abort: a reset.
    c = Conn(addr)
    assert c.ask(b"ECHO x") == b"x\n"
    c.send(b"CLOSE abort\n")
    how, data, _ = c.ending(3)
    assert how == "reset", "CLOSE abort ended with %s (data %r), expected a reset" % (how, data[:64])
    c.close()

    # write: output flushed, then EOF for us, while the server still reads.
    before = stats(watch)
    c = Conn(addr)
    c.send(b"ECHO y\nCLOSE write\n")
    how, data, _ = c.ending(3)
    assert how == "eof" and data == b"y\n", "CLOSE write: %s with %r" % (how, data)
    sent = 0
    for i in range(3):
        msg = b"ECHO after-shutdown %d\n" % i
        try:
            c.s.sendall(msg)
        except OSError as e:
            raise AssertionError("send after the server's half-close failed: %r "
                                 "(the server closed instead of shutting down)" % e)
        sent += len(msg)
        time.sleep(0.1)
    st = wait_stats(watch, lambda s: s["halfrx"] >= sent)
    assert st["halfrx"] == sent, "server read %d of %d bytes after its half-close" \
        % (st["halfrx"], sent)
    c.s.shutdown(socket.SHUT_WR)
    st = wait_stats(watch, lambda s: s["peer"] > before["peer"])
    assert st["peer"] == before["peer"] + 1 and st["error"] == before["error"], \
        "after the client's FIN: before %r after %r" % (before, st)
    c.close()
    watch.close()
    srv.stop()


# --------------------------------------------------------------------------
# stopping

def _drain_reader(conns, expect, deadline, results):
    """Read every connection to its end (selectors), storing (how, data)."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for i, c in enumerate(conns):
        c.s.setblocking(False)
        bufs[i] = bytearray(c.buf)
        sel.register(c.s, selectors.EVENT_READ, i)
    left = len(conns)
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            i = key.data
            try:
                chunk = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                results[i] = ("reset", bytes(bufs[i]))
                sel.unregister(key.fileobj)
                left -= 1
                continue
            if not chunk:
                results[i] = ("eof", bytes(bufs[i]))
                sel.unregister(key.fileobj)
                left -= 1
                continue
            bufs[i] += chunk
            if len(bufs[i]) > len(expect) + 4096:
                results[i] = ("too much", bytes(bufs[i]))
                sel.unregister(key.fileobj)
                left -= 1
    for i in range(len(conns)):
        if i not in results:
            results[i] = ("open", bytes(bufs[i]))
    sel.close()


def _probe_new_connection(addr, wait=1.0):
    """Connect during a drain and ask for an echo. Returns what happened:
    "refused", "closed" (EOF/RST without an answer), "served" or "hung"."""
    try:
        s = zg.connect(addr, timeout=wait)
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "hung"
    c = Conn.wrap(s)
    try:
        c.send(b"ECHO probe\n")
    except OSError:
        s.close()
        return "closed"
    how, data, _ = c.ending(wait)
    s.close()
    if b"probe" in data:
        return "served"
    return "hung" if how == "open" else "closed"


@zg.time_limit(60)
def test_graceful_stop_completes_responses():
    n = 8000000
    srv = zg.start(fx_config(reactors=2, shutdown_timeout_ms=5000))
    addr = srv.addr("l")
    conns = [Conn(addr, rcvbuf=262144) for _ in range(6)]
    for c in conns:
        c.send(b"BIG %d\n" % n)
    for c in conns:
        c.exact(65536, timeout=5)  # every response has started
    t_sig = time.monotonic()
    srv.send_signal(signal.SIGQUIT)
    time.sleep(0.1)
    probe = _probe_new_connection(addr)
    results = {}
    _drain_reader(conns, big(n) + b"DRAINING\n", time.monotonic() + 20, results)
    rc, secs = wait_exit(srv, t_sig, 10)
    expect = big(n)[65536:] + b"DRAINING\n"
    bad = []
    for i in range(len(conns)):
        how, data = results[i]
        if how != "eof" or data != expect:
            bad.append("#%d: %s after %d of %d bytes (first difference at %d)"
                       % (i, how, 65536 + len(data), 65536 + len(expect),
                          65536 + zg.first_diff(data, expect)))
    for c in conns:
        c.close()
    assert not bad, "responses cut by the graceful stop:\n" + "\n".join(bad)
    assert rc == 0, "exit status %s after SIGQUIT" % rc
    assert secs <= 5.0 + 1.0, "exit %.2f s after SIGQUIT (shutdown_timeout_ms 5000)" % secs
    assert log_lines(srv, "graceful stop complete"), "no \"graceful stop complete\" in the log"
    assert probe in ("refused", "closed"), \
        ("a new connection 0.1 s into the drain was %s, expected refused or closed at once "
         "(it sat in the listen backlog for 1 s)" % probe)


def test_graceful_stop_refuses_new_connections_reuseport():
    srv = zg.start(fx_config(shutdown_timeout_ms=3000, accept="reuseport"))
    addr = srv.addr("l")
    # A response the client holds back keeps the drain going.
    c = Conn(addr, rcvbuf=16384)
    c.send(b"BIG 8000000\n")
    c.exact(1000)
    t_sig = time.monotonic()
    srv.send_signal(signal.SIGQUIT)
    time.sleep(0.1)
    probe = _probe_new_connection(addr)
    still = srv.alive()
    results = {}
    _drain_reader([c], big(8000000), time.monotonic() + 20, results)
    rc, _ = wait_exit(srv, t_sig, 10)
    c.close()
    assert still, "zerg exited before the probe finished: the drain was too short to test"
    assert results[0][0] == "eof" and len(results[0][1]) == 8000000 - 1000 + 9, \
        "in-flight response: %s with %d bytes" % (results[0][0], len(results[0][1]))
    assert rc == 0, "exit status %s" % rc
    assert probe in ("refused", "closed"), "a new connection during the drain was %s" % probe


def test_graceful_stop_force_closes_after_timeout():
    srv = zg.start(fx_config(plugin_conf={"drain": "ignore"}, shutdown_timeout_ms=500))
    addr = srv.addr("l")
    stuck = Conn(addr, rcvbuf=16384)
    stuck.send(b"BIG 8000000\n")
    idle = Conn(addr)
    assert idle.ask(b"DRAIN?") == b"0\n"
    time.sleep(0.1)
    t_sig = time.monotonic()
    srv.send_signal(signal.SIGQUIT)
    time.sleep(0.1)
    assert idle.ask(b"DRAIN?") == b"1\n", "draining() is not 1 during a graceful stop"
    how = idle.ending(3)[0]
    secs = time.monotonic() - t_sig
    rc, exit_secs = wait_exit(srv, t_sig, 5)
    how_stuck, _, _ = stuck.ending(1)
    for k in (stuck, idle):
        k.close()
    assert how in ("eof", "reset"), "idle connection still open 3 s after SIGQUIT"
    assert 0.45 <= secs <= 1.5, "idle connection force-closed %.3f s after SIGQUIT " \
        "(shutdown_timeout_ms 500)" % secs
    assert how_stuck in ("eof", "reset"), "stuck connection: %s" % how_stuck
    assert rc == 0, "exit status %s" % rc
    assert 0.45 <= exit_secs <= 1.5, "exit %.3f s after SIGQUIT (shutdown_timeout_ms 500)" % exit_secs
    assert log_lines(srv, "shutdown_timeout_ms reached, closing 2 connection(s)"), \
        "no \"shutdown_timeout_ms reached, closing 2 connection(s)\" line:\n" + srv.stderr_text()


def test_graceful_stop_without_on_drain_closes_idle_at_once():
    # The echo plugin has no on_drain: the host closes idle connections.
    srv = zg.start(zg.echo_config(shutdown_timeout_ms=5000))
    c = Conn(srv.addr("e"))
    c.send(b"hi")
    assert c.exact(2) == b"hi"
    t_sig = time.monotonic()
    srv.send_signal(signal.SIGQUIT)
    how, data, secs = c.ending(3)
    rc, exit_secs = wait_exit(srv, t_sig, 6)
    c.close()
    assert how == "eof" and data == b"", "idle echo connection: %s %r" % (how, data)
    assert secs < 0.5, "idle connection closed %.3f s after SIGQUIT" % secs
    assert rc == 0 and exit_secs < 1.0, "exit status %s after %.2f s" % (rc, exit_secs)


def test_sigterm_and_sigint_stop_fast():
    for sig in (signal.SIGTERM, signal.SIGINT):
        srv = zg.start(fx_config(shutdown_timeout_ms=10000))
        stuck = Conn(srv.addr("l"), rcvbuf=16384)
        stuck.send(b"BIG 8000000\n")
        stuck.exact(1000)
        srv.stop(sig=sig, timeout=5, expect=0, max_seconds=1.0)
        stuck.close()


if __name__ == "__main__":
    zg.run_tests(globals())
