#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the core's outbound connections and their companions (ABI
# 1.3: connect, half_open, view_retain/view_release, a post to the own
# reactor) through the fx_relay fixture, against the real binary and small
# loopback backends written here.
import hashlib
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

MiB = 1 << 20


def echo_until_eof(s):
    """Echo everything; at the client's FIN, echo the rest and send ours."""
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)


def relay_config(port, timeout_ms=0, **top):
    return zg.echo_config(name="r", plugin=zg.fixture("fx_relay"),
                          listener_extra={"config": {"port": port,
                                                     "timeout_ms": timeout_ms}},
                          **top)


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def read_line(s):
    b = bytearray()
    while not b.endswith(b"\n"):
        ch = s.recv(1)
        if not ch:
            break
        b += ch
    return bytes(b)


def test_relay_integrity_both_ways():
    be = zg.Upstream(echo_until_eof)
    srv = zg.start(relay_config(be.port, shutdown_timeout_ms=10000))
    fds0 = nfds(srv.pid)
    results = {}

    def client(i):
        data = os.urandom(2 * MiB + i * 4099)
        s = zg.connect(srv.addr("r"))
        up = read_line(s)
        got = bytearray()

        def reader():
            got.extend(zg.recv_until_eof(s))
        t = threading.Thread(target=reader)
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join(30)
        s.close()
        results[i] = (up, hashlib.sha256(data).digest(),
                      hashlib.sha256(bytes(got)).digest(), len(got), len(data))

    ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    # Both halves of every pair closed after the FINs crossed (a full
    # close upgrades a pending ZG_CLOSE_WRITE): the server's descriptors
    # are back to what they were.
    deadline = time.monotonic() + 3
    while nfds(srv.pid) > fds0 and time.monotonic() < deadline:
        time.sleep(0.02)
    fds1 = nfds(srv.pid)
    srv.stop()
    be.close()
    assert len(results) == 8, "clients finished: %d of 8" % len(results)
    assert fds1 == fds0, "server holds %d descriptors, %d before" % (fds1, fds0)
    for i, (up, want, got, n, sent) in sorted(results.items()):
        assert up == b"UP\n", "client %d: first line %r" % (i, up)
        assert want == got, "client %d: %d bytes back of %d, digest differs" % (i, n, sent)


def test_refused_upstream_reports_and_closes():
    s0 = socket.socket()
    s0.bind(("127.0.0.1", 0))
    port = s0.getsockname()[1]
    s0.close()  # nobody listens there now
    srv = zg.start(relay_config(port))
    s = zg.connect(srv.addr("r"))
    s.sendall(b"held until the upstream is up\n")
    line = read_line(s)
    rest = zg.recv_until_eof(s)
    s.close()
    srv.stop()
    # ECONNREFUSED (111), on_close reason ZG_CLOSE_ERROR (3).
    assert line == b"DOWN 111 3\n", "got %r" % line
    assert rest == b"", "after DOWN: %r" % rest


def test_connect_timeout():
    # A listener whose accept queue is full drops further SYNs: the
    # handshake never completes and the connect timeout must end it.
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
    time.sleep(0.2)
    srv = zg.start(relay_config(port, timeout_ms=300))
    s = zg.connect(srv.addr("r"))
    t0 = time.monotonic()
    line = read_line(s)
    secs = time.monotonic() - t0
    s.close()
    srv.stop()
    for f in fillers:
        f.close()
    ls.close()
    # ETIMEDOUT (110), on_close reason ZG_CLOSE_TIMEOUT (5).
    assert line == b"DOWN 110 5\n", "got %r" % line
    assert 0.25 <= secs < 2.0, "connect ended %.3f s in (timeout 300 ms)" % secs


def test_upstream_half_close_keeps_client_side_open():
    got = {}

    def hello_then_read(s):
        s.sendall(b"hello")
        s.shutdown(socket.SHUT_WR)
        data = bytearray()
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        got["data"] = bytes(data)

    be = zg.Upstream(hello_then_read)
    srv = zg.start(relay_config(be.port))
    s = zg.connect(srv.addr("r"))
    assert read_line(s) == b"UP\n"
    assert zg.recv_exact(s, 5) == b"hello"
    # The upstream's FIN reaches the client, whose side stays writable.
    assert s.recv(1) == b"", "expected the upstream's FIN"
    s.sendall(b"after the upstream's FIN")
    s.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + 5
    while "data" not in got and time.monotonic() < deadline:
        time.sleep(0.02)
    s.close()
    srv.stop()
    be.close()
    assert got.get("data") == b"after the upstream's FIN", "upstream got %r" % got.get("data")


def test_stops_with_connects_in_flight():
    # Fast and graceful stops while outbound connects hang: both end at
    # once or within shutdown_timeout_ms, with every on_close run (a
    # sanitizer build reports leaks otherwise).
    for sig, limit in ((signal.SIGTERM, 1.5), (signal.SIGQUIT, 2.5)):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        port = ls.getsockname()[1]
        fillers = []
        for _ in range(3):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        srv = zg.start(relay_config(port, timeout_ms=30000, shutdown_timeout_ms=1000))
        cs = [zg.connect(srv.addr("r")) for _ in range(5)]
        time.sleep(0.2)
        srv.stop(sig=sig, timeout=5, expect=0, max_seconds=limit)
        for c in cs + fillers:
            c.close()
        ls.close()


if __name__ == "__main__":
    zg.run_tests(globals())
