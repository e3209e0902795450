#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the receive path under hostile and slow clients, against the
# real binary and the http plugin: a connection that will not read more
# input has no receive armed (memory stays bounded however much a client
# sends), the lingering close ends on its own deadline, slow pipelining
# readers are never reset nor sent 408, and a graceful stop never ends a
# pipelined connection after a response that did not say "close".
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

MiB = 1 << 20
REQ = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
BAD = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"


def http_config(listener=None, **plugin):
    lst = {"name": "h", "listen": "127.0.0.1:0", "plugin": "http", "config": plugin}
    lst.update(listener or {})
    return {"reactors": 1, "listeners": [lst]}


def small_rcvbuf_socket(addr, rcvbuf=65536):
    assert addr[0].startswith("127."), "loopback only: %r" % (addr,)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(addr)
    return s


class Writer(threading.Thread):
    """Send data (then, if more is set, keep sending filler) without
    reading; records bytes sent and when the socket last took any."""

    def __init__(self, sock, data, more=None, stop_after=None):
        super().__init__(daemon=True)
        self.sock, self.data, self.more = sock, data, more
        self.stop = threading.Event()
        self.sent = 0
        self.done_data = threading.Event()
        self.last_progress = time.monotonic()
        self.error = None
        self.stop_after = stop_after

    def _push(self, buf):
        view = memoryview(buf)
        while view and not self.stop.is_set():
            try:
                n = self.sock.send(view[:1 << 20])
            except (BlockingIOError, socket.timeout):
                continue
            view = view[n:]
            self.sent += n
            self.last_progress = time.monotonic()

    def run(self):
        self.sock.settimeout(0.05)
        try:
            self._push(self.data)
            self.done_data.set()
            while self.more is not None and not self.stop.is_set():
                self._push(self.more)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.error = e
        except BaseException as e:  # reported by the test
            self.error = e
        self.done_data.set()


def count_responses(data):
    """(number of complete responses, list of status codes, heads of the
    last one) in a stream of Content-Length responses."""
    pos, statuses, last = 0, [], b""
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end]
        m = re.search(rb"\r\nContent-Length: (\d+)", head)
        n = int(m.group(1)) if m else 0
        if end + 4 + n > len(data):
            break
        statuses.append(int(head[9:12]))
        last = head
        pos = end + 4 + n
    return len(statuses), statuses, last, pos


def read_all(sock, timeout, done=None):
    """Read until EOF/reset, timeout, or done(buf) is true; (how, data)
    with how "eof", "reset", "open" (timed out) or "done"."""
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        if done is not None and done(buf):
            return "done", bytes(buf)
        left = deadline - time.monotonic()
        if left <= 0:
            return "open", bytes(buf)
        sock.settimeout(min(left, 1.0))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return "reset", bytes(buf)
        if not chunk:
            return "eof", bytes(buf)
        buf += chunk


# --------------------------------------------------------------------------
# 1. nothing is received for a connection that will not read

@zg.time_limit(60)
def test_close_pending_flood_memory_bounded():
    # Enough pipelined requests that responses stay queued (the client
    # never reads), then one that ends the connection (a 400), then an
    # endless flood: the server must stop receiving, not buffer it.
    srv = zg.start(http_config({"idle_timeout_ms": 4000}))
    addr = srv.addr("h")
    time.sleep(0.1)
    base = zg.rss_kib(srv.pid)
    s = small_rcvbuf_socket(addr)
    w = Writer(s, REQ * 26000 + BAD, more=b"z" * 65536)
    w.start()
    other = zg.connect(addr)
    peak = base
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:
        peak = max(peak, zg.rss_kib(srv.pid))
        other.sendall(REQ)
        resp = b""
        while b"Hello, World!" not in resp:
            chunk = other.recv(65536)
            assert chunk, "other client: EOF"
            resp += chunk
        time.sleep(0.05)
    peak = max(peak, zg.rss_kib(srv.pid))
    stalled = time.monotonic() - w.last_progress
    sent = w.sent
    # The flooded connection ends by the idle timeout (4 s), not never.
    how, _ = read_all(s, 10.0)
    w.stop.set()
    w.join(2)
    assert how in ("eof", "reset"), "the flooded connection was still open 13 s later"
    growth = peak - base
    assert growth < 24 * 1024, ("server RSS grew by %d KiB (%d -> %d) while a closing "
                                "connection was flooded with %d bytes"
                                % (growth, base, peak, sent))
    assert stalled >= 0.5, ("the flooding client could still send (%d bytes, last progress "
                            "%.2f s ago): the server kept receiving" % (sent, stalled))
    sys.stdout.write("    close-pending flood: RSS %d -> peak %d KiB, client sent %d bytes\n"
                     % (base, peak, sent))
    other.close()
    s.close()
    srv.stop()


def fx_config(listener=None, plugin_conf=None):
    lst = {"name": "l", "listen": "127.0.0.1:0", "plugin": zg.fixture("fx_lifecycle")}
    lst.update(listener or {})
    if plugin_conf is not None:
        lst["config"] = plugin_conf
    return {"reactors": 1, "listeners": [lst]}


def _flood_while_closing(how):
    # 20 MB of output the client never reads, then a close request, then
    # an endless flood: the connection will not read again (flush) or not
    # before its output is out (write), so the host must stop receiving.
    srv = zg.start(fx_config({"idle_timeout_ms": 3000, "write_high_watermark": 64 * MiB,
                              "write_low_watermark": MiB}, {"out_cap": 1 << 30}))
    addr = srv.addr("l")
    time.sleep(0.1)
    base = zg.rss_kib(srv.pid)
    s = small_rcvbuf_socket(addr)
    w = Writer(s, b"BULK 20000000\nCLOSE %s\n" % how, more=b"z" * 65536)
    w.start()
    peak = base
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.5:
        peak = max(peak, zg.rss_kib(srv.pid))
        time.sleep(0.05)
    stalled = time.monotonic() - w.last_progress
    sent = w.sent
    end, _ = read_all(s, 10.0)
    w.stop.set()
    w.join(2)
    s.close()
    srv.stop()
    growth = peak - base
    assert growth < 20000 + 24 * 1024, (
        "CLOSE %s: server RSS grew by %d KiB (20 MB of it output) while the client "
        "flooded %d bytes" % (how, growth, sent))
    assert stalled >= 0.5, ("CLOSE %s: the client could still send (%d bytes, last progress "
                            "%.2f s ago): the server kept receiving" % (how, sent, stalled))
    assert end in ("eof", "reset"), "CLOSE %s: connection still open after its idle timeout" % how
    sys.stdout.write("    CLOSE %s + flood: RSS %d -> peak %d KiB, client sent %d bytes\n"
                     % (how, base, peak, sent))


@zg.time_limit(60)
def test_flood_while_close_flush_pending():
    _flood_while_closing(b"flush")


@zg.time_limit(60)
def test_flood_while_close_write_pending():
    _flood_while_closing(b"write")


def _linger_trickle(linger_ms):
    cfg = http_config({"linger_ms": linger_ms} if linger_ms is not None else None)
    srv = zg.start(cfg)
    s = zg.connect(srv.addr("h"))
    # A refused request whose body may still be coming: the server
    # answers, shuts down its side and reads what follows, for a while.
    s.sendall(b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    t0 = time.monotonic()
    s.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, "EOF before the 400"
        data += chunk
    assert data.startswith(b"HTTP/1.1 400"), data
    ended = None
    while time.monotonic() - t0 < 6.0:
        try:
            s.sendall(b"z")
        except (BrokenPipeError, ConnectionResetError):
            ended = time.monotonic() - t0
            break
        time.sleep(0.5)
    s.close()
    srv.stop()
    return ended


def test_linger_deadline_trickle():
    # One byte every 0.5 s keeps nothing alive: the lingering close ends
    # at linger_ms (default 2 s; the write that fails comes after it).
    ended = _linger_trickle(None)
    assert ended is not None, "a trickling client kept the lingering close open 6 s"
    assert 1.8 <= ended <= 3.6, "lingering close ended after %.2f s, expected ~2 s" % ended
    ended = _linger_trickle(500)
    assert ended is not None and ended <= 1.6, \
        "linger_ms 500: lingering close ended after %r s" % ended


# --------------------------------------------------------------------------
# 2. and 3. slow pipelining readers: never reset, never 408

def _pipeline_then_read(cfg, n, pause):
    srv = zg.start(cfg)
    s = small_rcvbuf_socket(srv.addr("h"))
    w = Writer(s, REQ * n)
    w.start()
    w.done_data.wait(30)
    time.sleep(pause)
    how, data = read_all(s, 60.0, done=responses_to(n))
    w.stop.set()
    w.join(2)
    assert w.error is None, "writing %d requests failed: %r" % (n, w.error)
    got, statuses, _, _ = count_responses(data)
    bad = [x for x in statuses if x != 200]
    s.close()
    stderr = srv.stderr_text()
    srv.stop()
    return got, bad, how, stderr


def responses_to(n):
    """A done() for read_all: n responses to REQ have arrived."""
    size = []

    def done(buf):
        if not size and b"\r\n\r\n" in buf:
            got, _, _, pos = count_responses(bytes(buf))
            if got:
                size.append(pos // got)
        return bool(size) and len(buf) >= size[0] * n and \
            count_responses(bytes(buf))[0] >= n
    return done


@zg.time_limit(120)
def test_slow_pipelining_reader_not_reset():
    # A small held-input limit makes the old accounting (bytes that came
    # in after the plugin paused counted as "held") fail every time.
    n = 50000
    got, bad, how, err = _pipeline_then_read(
        http_config({"max_held_bytes": 16384}), n, 0.5)
    assert "unconsumed bytes" not in err, "closed for held input:\n" + err[-1500:]
    assert how == "done" and got == n and not bad, \
        "%d of %d responses, non-200: %r, stream ended: %s" % (got, n, bad[:5], how)


@zg.time_limit(120)
def test_paused_pipeline_gets_no_408():
    # The client does not read for 2.5 s; the header timeout is 1 s. We,
    # not the client, are waiting: no 408.
    n = 60000
    got, bad, how, _ = _pipeline_then_read(
        http_config(timeouts={"header_ms": 1000}), n, 2.5)
    assert not bad, "got %d non-200 responses, first %r" % (len(bad), bad[:3])
    assert got == n and how == "done", "%d of %d responses, then %s" % (got, n, how)


# --------------------------------------------------------------------------
# 4. graceful stop under pipelining

@zg.time_limit(60)
def test_graceful_stop_pipelined_reader():
    cfg = http_config()
    cfg["shutdown_timeout_ms"] = 20000
    srv = zg.start(cfg)
    s = small_rcvbuf_socket(srv.addr("h"))
    n = 60000
    w = Writer(s, REQ * n)
    w.start()
    w.done_data.wait(30)
    time.sleep(0.5)  # the server is throttled on our unread output
    srv.send_signal(signal.SIGQUIT)
    time.sleep(0.3)
    how, data = read_all(s, 30.0)
    w.stop.set()
    w.join(2)
    got, statuses, last, pos = count_responses(data)
    assert how == "eof", "the connection ended with %s after %d responses" % (how, got)
    assert pos == len(data), "a response was cut: %d stray bytes at the end" % (len(data) - pos)
    assert got > 0 and all(x == 200 for x in statuses), statuses[-3:]
    assert b"Connection: close" in last, \
        "the last of %d responses before the close did not say Connection: close" % got
    status = srv.wait(10)
    srv.stopped, srv.returncode = True, status
    srv.check_log()
    assert status == 0, "exit status %r after SIGQUIT" % status
    s.close()


if __name__ == "__main__":
    zg.run_tests(globals())
