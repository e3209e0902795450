#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: end-to-end tests of the engine through the echo plugin: the
# real zerg binary on loopback, real sockets. Each test starts its own server
# and fails on any [alert]/[crit]/[emerg] line or sanitizer report.
import collections
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402


def test_single_message():
    srv = zg.start(zg.echo_config())
    s = zg.connect(srv.addr("e"))
    msg = b"hello, zerg\n"
    s.sendall(msg)
    got = zg.recv_exact(s, len(msg))
    assert got == msg, "echo %r, sent %r" % (got, msg)
    s.shutdown(socket.SHUT_WR)
    rest = zg.recv_until_eof(s)
    assert rest == b"", "extra bytes after the echo: %r" % rest[:64]
    s.close()
    srv.stop()


def test_sequential_1000_messages():
    srv = zg.start(zg.echo_config())
    s = zg.connect(srv.addr("e"))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(1000):
        msg = zg.pattern(i, 1 + (i * 37) % 4000)
        s.sendall(msg)
        got = zg.recv_exact(s, len(msg))
        if got != msg:
            k = zg.first_diff(got, msg)
            raise AssertionError("message %d (%d bytes): byte %d is %r, expected %r"
                                 % (i, len(msg), k, got[k:k + 32], msg[k:k + 32]))
    s.shutdown(socket.SHUT_WR)
    rest = zg.recv_until_eof(s)
    assert rest == b"", "extra bytes after 1000 echoes: %r" % rest[:64]
    s.close()
    srv.stop()


def test_200_concurrent_connections_2_reactors():
    srv = zg.start(zg.echo_config(reactors=2))
    # Distinct data per connection (its index is in every record), all 200
    # connected before anyone sends; each checks its own echo byte by byte.
    payloads = [zg.pattern(i, 16384 + i * 61) for i in range(200)]
    zg.echo_many(srv.addr("e"), payloads, timeout=30)
    # The server is still fine afterwards.
    zg.echo_many(srv.addr("e"), [b"after"], timeout=10)
    srv.stop()


@zg.time_limit(45)
def test_16mib_payload_byte_exact():
    srv = zg.start(zg.echo_config())
    data = os.urandom(16 << 20)
    s = zg.connect(srv.addr("e"), timeout=30)
    tx = zg.Sender(s, data, shutdown=True)
    tx.start()
    got = zg.recv_until_eof(s, limit=len(data) + (1 << 20), timeout=30)
    tx.finish()
    s.close()
    if got != data:
        k = zg.first_diff(got, data)
        raise AssertionError("16 MiB echo: got %d bytes, first difference at offset %d"
                             % (len(got), k))
    srv.stop()


def test_half_close_delivers_everything():
    srv = zg.start(zg.echo_config(reactors=2))
    addr = srv.addr("e")
    # Data and FIN back to back, often in the same CQE batch: the bytes
    # before the FIN must still be echoed, then the server closes.
    for i in range(50):
        msg = zg.pattern(i, 1 + (i * 211) % 3000)
        s = zg.connect(addr)
        s.sendall(msg)
        s.shutdown(socket.SHUT_WR)
        got = zg.recv_until_eof(s)
        s.close()
        assert got == msg, "half-close #%d: sent %d bytes, got %d back before EOF" \
            % (i, len(msg), len(got))
    # A large stream half-closed while the server is still echoing it.
    data = os.urandom(2 << 20)
    s = zg.connect(addr)
    tx = zg.Sender(s, data, shutdown=True)
    tx.start()
    got = zg.recv_until_eof(s, limit=len(data) + 65536, timeout=20)
    tx.finish()
    s.close()
    assert got == data, "half-close 2 MiB: got %d bytes, first difference at %d" \
        % (len(got), zg.first_diff(got, data))
    srv.stop()


def _stuff(sock, limit, idle=0.2):
    """Send without reading until the connection stops taking data for
    `idle` seconds or `limit` bytes went out: the server then holds
    unsent echo output and unread input. Returns bytes sent."""
    import select
    sock.setblocking(False)
    sent = 0
    block = zg.pattern(7, 65536)
    deadline = time.monotonic() + 5.0
    while sent < limit and time.monotonic() < deadline:
        try:
            sent += sock.send(block)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise AssertionError("zerg reset the connection after %d bytes sent: %s"
                                 % (sent, e))
        except BlockingIOError:
            _, w, _ = select.select([], [sock], [], idle)
            if not w:
                break
    return sent


def test_client_rst_mid_stream():
    srv = zg.start(zg.echo_config())
    addr = srv.addr("e")
    total = 0
    for k in range(12):
        s = zg.connect(addr)
        if k % 3 == 0:
            # RST right after a small write: the echo is in flight.
            s.sendall(zg.pattern(k, 3000))
        elif k % 3 == 1:
            # Read some echo first, so the stream is well under way.
            s.sendall(zg.pattern(k, 200000))
            zg.recv_exact(s, 1000)
            total += _stuff(s, 4 << 20)
        else:
            # Flood without reading: the server's sends are backed up.
            total += _stuff(s, 8 << 20)
        zg.rst_close(s)
    time.sleep(0.2)
    assert srv.alive(), "zerg died after client resets; stderr:\n" + srv.stderr_text()[-3000:]
    # A new client is served normally.
    zg.echo_many(addr, [zg.pattern(100 + i, 100000) for i in range(4)], timeout=15)
    srv.stop()


def _buffer_exhaustion(extra):
    reactor = {"buffer_ring_entries": 8, "recv_buffer_size": 256}
    reactor.update(extra)
    srv = zg.start(zg.echo_config(reactors=1, reactor=reactor))
    # 64 x 64 KiB through 8 buffers of 256 bytes: the ring runs dry all the
    # time (-ENOBUFS). Every byte must come back and no connection may be
    # closed before its own half-close.
    payloads = [zg.pattern(i, 65536) for i in range(64)]
    zg.echo_many(srv.addr("e"), payloads, timeout=35)
    assert srv.alive(), "zerg died"
    srv.stop()


@zg.time_limit(45)
def test_buffer_exhaustion_64_connections():
    _buffer_exhaustion({})


# The receive modes "auto" may not pick on this kernel (recv bundles:
# test_bundles.py).
@zg.time_limit(45)
def test_buffer_exhaustion_incremental_consumption():
    _buffer_exhaustion({"recv_bundle": False})


@zg.time_limit(45)
def test_buffer_exhaustion_whole_buffer_consumption():
    _buffer_exhaustion({"recv_bundle": False, "incremental_buffers": False})


@zg.time_limit(45)
def test_stale_generation_reconnect_loop():
    # Few slots so they are reused constantly, whatever the free-list order,
    # and few small buffers so stale buffers are recycled while in use.
    cfg = zg.echo_config(reactors=1, reactor={"max_connections": 32,
                                              "buffer_ring_entries": 16,
                                              "recv_buffer_size": 512})
    srv = zg.start(cfg)
    addr = srv.addr("e")
    window = collections.deque()  # connections still open: (index, sock, token, mode)
    verified = 0

    def verify(j, t, tok):
        # The whole echo, only our own token bytes, then EOF.
        got = zg.recv_exact(t, len(tok), timeout=10)
        if got != tok:
            k = zg.first_diff(got, tok)
            raise AssertionError("connection %d: byte %d is %r, expected %r"
                                 % (j, k, got[k:k + 32], tok[k:k + 32]))
        t.shutdown(socket.SHUT_WR)
        extra = zg.recv_until_eof(t, timeout=10)
        if extra:
            raise AssertionError("connection %d: %d bytes past its own echo: %r"
                                 % (j, len(extra), extra[:64]))
        t.close()

    try:
        for i in range(2000):
            mode = i % 5
            tok = zg.pattern(i, 64 + (i * 97) % (30000 if mode == 3 else 3000))
            s = zg.connect(addr)
            s.sendall(tok)
            if mode == 1:
                zg.rst_close(s)  # RST while the echo is in flight
            elif mode == 2:
                s.close()  # FIN with the echo in flight (the kernel then RSTs)
            elif mode == 3:
                try:
                    part = s.recv(len(tok) // 2)
                except ConnectionResetError:
                    raise AssertionError("connection %d: reset by zerg before its echo" % i)
                if not part or part != tok[:len(part)]:
                    raise AssertionError("connection %d: partial echo %r is not a prefix "
                                         "of its token %r" % (i, part[:64], tok[:64]))
                zg.rst_close(s)  # mid-echo
            else:
                window.append((i, s, tok, mode))
            # Connections opened a few iterations ago, with other slots
            # churned since: verify (mode 0) or abort unread (mode 4).
            while len(window) > 4:
                j, t, ttok, m = window.popleft()
                if m == 0:
                    verify(j, t, ttok)
                    verified += 1
                else:
                    zg.rst_close(t)
        while window:
            j, t, ttok, m = window.popleft()
            verify(j, t, ttok)
            verified += 1
    finally:
        for _, t, _, _ in window:
            t.close()
    assert verified >= 400, "only %d connections verified" % verified
    zg.echo_many(addr, [zg.pattern(9999, 50000)], timeout=10)
    srv.stop()


def test_sigterm_with_clients_connected():
    srv = zg.start(zg.echo_config(reactors=2))
    addr = srv.addr("e")
    socks = []
    try:
        for i in range(20):
            s = zg.connect(addr)
            s.sendall(zg.pattern(i, 1000))
            socks.append(s)
        zg.recv_exact(socks[0], 1000)
        for s in socks[10:]:
            _stuff(s, 2 << 20, idle=0.05)  # sends backed up at stop time
        srv.stop(signal.SIGTERM, timeout=10, max_seconds=3.0)
        # Every client sees the connection end (EOF or RST), none hangs.
        for i, s in enumerate(socks):
            s.setblocking(True)
            s.settimeout(5)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    if not s.recv(1 << 20):
                        break
                except (ConnectionResetError, BrokenPipeError):
                    break
                except socket.timeout:
                    raise AssertionError("client %d still open 5 s after zerg exited" % i)
            else:
                raise AssertionError("client %d: data but no EOF 5 s after zerg exited" % i)
    finally:
        for s in socks:
            s.close()


def test_sigint_stops_idle_server():
    srv = zg.start(zg.echo_config())
    s = zg.connect(srv.addr("e"))
    srv.stop(signal.SIGINT, timeout=10, max_seconds=3.0)
    zg.expect_eof(s, timeout=5)
    s.close()


def test_config_keys_refused_at_their_line():
    # echo has an empty key table: the host refuses any key, at its line.
    text = ('{"listeners": [{"name": "e", "listen": "127.0.0.1:0",\n'
            '  "plugin": "echo",\n'
            '  "config": {"bufer": 1}}]}\n')
    path = zg.write_config(text, tag="key")
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode != 0, r.stderr
    assert "%s:3:14: listeners[0].config.bufer: unknown key" % path in r.stderr, r.stderr
    # An empty config (or none) is fine.
    path = zg.write_config(text.replace('{"bufer": 1}', "{}"), tag="empty")
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode == 0, r.stderr


if __name__ == "__main__":
    zg.run_tests(globals())
