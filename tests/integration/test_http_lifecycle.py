# SPDX-License-Identifier: MIT
# Description: the http plugin under misbehaving clients and a graceful
# stop: a slow-drip head (slowloris) is cut at the header timeout while
# others are served, idle keep-alive connections close, and SIGQUIT during
# a wrk run never truncates a response that started.
import shutil
import signal
import socket
import subprocess
import threading
import time

import zgtest

REQ = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"


def http_config(**plugin):
    return {"reactors": 1,
            "listeners": [{"name": "h", "listen": "127.0.0.1:0",
                           "plugin": "http", "config": plugin}]}


class Closed(Exception):
    """The server closed between responses (before any byte of one)."""


def read_response(sock):
    """One whole response: (head, body). Raises Closed on EOF before its
    first byte; AssertionError on EOF inside it (a truncated response)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            if buf:
                raise AssertionError("reset inside a response head: %r" % buf)
            # The keep-alive race every HTTP client must expect: the server
            # ended an idle connection as the next request went out.
            raise Closed()
        if not chunk:
            if buf:
                raise AssertionError("response truncated in its head: %r" % buf)
            raise Closed()
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("response truncated in its body: %d of %d"
                                 % (len(body), length))
        body += chunk
    assert len(body) == length, "more bytes than Content-Length"
    return head, body


def test_slowloris_cut_at_header_timeout():
    srv = zgtest.start(http_config(timeouts={"header_ms": 1000}))
    addr = srv.addr("h")
    slow = zgtest.connect(addr)
    fast = zgtest.connect(addr)
    req = b"GET /plaintext HTTP/1.1\r\nHost: slow\r\nX-Pad: aaaaaaaaaa\r\n\r\n"
    t0 = time.monotonic()
    cut_at = None
    answered = 0
    worst = 0.0
    i = 0
    # One byte every 500 ms; meanwhile the other client keeps asking.
    while time.monotonic() - t0 < 4.0 and cut_at is None:
        try:
            slow.sendall(req[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            cut_at = time.monotonic() - t0
            break
        i += 1
        for _ in range(5):
            s0 = time.monotonic()
            fast.sendall(REQ)
            head, body = read_response(fast)
            assert head.startswith(b"HTTP/1.1 200") and body == b"Hello, World!"
            worst = max(worst, time.monotonic() - s0)
            answered += 1
            time.sleep(0.1)
        slow.settimeout(0.001)
        try:
            data = slow.recv(4096)
        except socket.timeout:
            data = None
        slow.settimeout(5)
        if data is not None:
            assert data.startswith(b"HTTP/1.1 408"), data
            assert b"Connection: close" in data
            cut_at = time.monotonic() - t0
            zgtest.expect_eof(slow, timeout=5)
    assert cut_at is not None, "slow client never cut (%d bytes sent)" % i
    assert 0.9 <= cut_at <= 2.5, "cut after %.2fs, header timeout 1s" % cut_at
    assert i < len(req), "the head completed: the test is too slow"
    assert answered >= 5 and worst < 0.5, (answered, worst)
    slow.close()
    fast.close()
    srv.stop()


def test_keepalive_timeout_closes_idle_only():
    srv = zgtest.start(http_config(timeouts={"keepalive_ms": 500}))
    idle = zgtest.connect(srv.addr("h"))
    busy = zgtest.connect(srv.addr("h"))
    for s in (idle, busy):
        s.sendall(REQ)
        read_response(s)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        busy.sendall(REQ)
        head, _ = read_response(busy)
        assert head.startswith(b"HTTP/1.1 200")
        time.sleep(0.2)
    # The idle one was closed (FIN) after about 0.5 s, the busy one not.
    assert idle.recv(10) == b""
    busy.sendall(REQ)
    read_response(busy)
    idle.close()
    busy.close()
    srv.stop()


@zgtest.time_limit(60)
def test_graceful_stop_during_wrk_run():
    wrk = shutil.which("wrk")
    if wrk is None:
        raise zgtest.Skip("wrk not installed (apt-get install wrk)")
    srv = zgtest.start(http_config())
    host, port = srv.addr("h")
    load = subprocess.Popen([wrk, "-t1", "-c32", "-d4s",
                             "http://%s:%d/plaintext" % (host, port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    stats = {"ok": 0, "closed_with_close": 0, "errors": []}
    stop = threading.Event()

    def verifier():
        try:
            s = zgtest.connect((host, port))
            while not stop.is_set():
                try:
                    s.sendall(REQ)
                except (BrokenPipeError, ConnectionResetError):
                    return  # closed while idle: nothing had started
                try:
                    head, body = read_response(s)
                except Closed:
                    return
                assert body == b"Hello, World!", body
                stats["ok"] += 1
                if b"Connection: close" in head:
                    stats["closed_with_close"] += 1
                    assert s.recv(10) == b"", "data after Connection: close"
                    return
        except Exception as e:  # reported by the main thread
            stats["errors"].append(repr(e))

    threads = [threading.Thread(target=verifier) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    srv.send_signal(signal.SIGQUIT)
    status = srv.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    out = load.communicate(timeout=30)[0].decode(errors="replace")
    srv.stopped = True
    srv.returncode = status
    srv.check_log()
    assert status == 0, "exit status %r after SIGQUIT" % status
    assert not stats["errors"], stats["errors"]
    assert stats["ok"] > 0, stats
    assert "Non-2xx" not in out, out
    assert "complete" in srv.stderr_text(), srv.stderr_text()[-2000:]


if __name__ == "__main__":
    zgtest.run_tests(globals())
