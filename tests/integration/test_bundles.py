#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: receive bundles (reactor.recv_bundle) against the real
# binary: the start line says whether they are on and why not; with them
# on, large echoes over many connections, a buffer ring so small that
# receives run out of buffers (ENOBUFS) all the time, the buffer window
# growing under them, and pipelined HTTP requests cut across 64-byte
# buffers all arrive byte for byte, and the metrics show completions that
# really filled several buffers, and a paused connection holds little
# more input than without bundles where the kernel caps them (6.17).
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402
from test_bufwindow import scrape  # noqa: E402
from test_http import Reader  # noqa: E402

START_LINE = re.compile(r"reactor 0: io_uring with .*")


def kernel_has(feature):
    """Whether zerg -V finds `feature` ("recv bundles", "incremental
    buffers") in the running kernel."""
    out = zg.run_zerg(["-V"]).stdout
    m = re.search(r"%s (yes|no)" % feature, out)
    assert m, "zerg -V does not say whether it has %s: %r" % (feature, out)
    return m.group(1) == "yes"


def need_bundles():
    if not kernel_has("recv bundles"):
        raise zg.Skip("the kernel has no recv bundles (Linux 6.10 or newer)")


def with_stats(cfg):
    cfg["listeners"].append({"name": "m", "listen": "127.0.0.1:0", "plugin": "stats"})
    return cfg


def start_line(srv):
    m = START_LINE.search(srv.stderr_text())
    assert m, "no reactor 0 start line in:\n" + srv.stderr_text()[-2000:]
    return m.group(0)


def check_bundled(m, what):
    """The metrics m show completions that filled several buffers."""
    assert m["zerg_reactor_recv_bundles_total"] > 0, "%s: no recv bundle: %r" % (what, m)
    per = m["zerg_reactor_recv_bundle_buffers_total"] / m["zerg_reactor_recv_bundles_total"]
    assert per >= 2, "%s: %.1f buffers per bundle: %r" % (what, per, m)


def test_start_line_says_whether_bundles_are_used():
    if not kernel_has("recv bundles"):
        # true on such a kernel is a start-up error naming the version.
        p = zg.run_zerg(["-c", zg.write_config(zg.echo_config(reactor={"recv_bundle": True}))])
        assert p.returncode != 0 and "Linux 6.10" in p.stderr, p.stderr
        srv = zg.start(zg.echo_config())
        assert "recv bundles: off (the kernel has none" in start_line(srv)
        srv.stop()
        return
    srv = zg.start(zg.echo_config(reactor={"recv_bundle": True}))
    line = start_line(srv)
    srv.stop()
    if kernel_has("recv bundle cap"):
        assert line.endswith("recv bundles: on (at most 16 buffers a receive)"), line
    else:
        assert "recv bundles: on (uncapped: " in line, line
    assert "(whole-buffer consumption)" in line, line
    srv = zg.start(zg.echo_config(reactor={"recv_bundle": False}))
    line = start_line(srv)
    srv.stop()
    assert line.endswith("recv bundles: off (recv_bundle is false)"), line
    if kernel_has("incremental buffers"):
        srv = zg.start(zg.echo_config(reactor={"incremental_buffers": True}))
        line = start_line(srv)
        srv.stop()
        assert line.endswith("recv bundles: off (incremental_buffers is true)"), line
        assert "(incremental consumption)" in line, line
    # Both true is refused before anything starts, at the key's line.
    path = zg.write_config(zg.echo_config(reactor={"recv_bundle": True,
                                                   "incremental_buffers": True}))
    p = zg.run_zerg(["-t", "-c", path])
    assert p.returncode != 0, p
    assert re.search(r":\d+:\d+: reactor\.(recv_bundle|incremental_buffers): true, but "
                     r"(incremental_buffers|recv_bundle) is true too", p.stderr), p.stderr


@zg.time_limit(60)
def test_bundled_echo_many_connections_byte_exact():
    need_bundles()
    srv = zg.start(with_stats(zg.echo_config(reactor={"recv_bundle": True})))
    # Distinct bytes per connection, all connected before anyone sends.
    zg.echo_many(srv.addr("e"), [zg.pattern(i, (1 << 20) + i * 4099) for i in range(48)],
                 timeout=45, chunk=1 << 18)
    m = scrape(srv.addr("m"))
    srv.stop()
    check_bundled(m, "48 x 1 MiB echo")


@zg.time_limit(60)
def test_bundles_when_the_ring_runs_dry():
    need_bundles()
    # 64 x 64 KiB through 8 buffers of 256 bytes: nearly every receive
    # finds the ring empty or empties it. Every byte comes back, no
    # connection is closed before its own half-close.
    srv = zg.start(with_stats(zg.echo_config(reactor={
        "recv_bundle": True, "buffer_ring_entries": 8, "recv_buffer_size": 256})))
    zg.echo_many(srv.addr("e"), [zg.pattern(i, 65536) for i in range(64)], timeout=45)
    m = scrape(srv.addr("m"))
    srv.stop()
    assert m["zerg_reactor_enobufs_total"] > 0, "the ring never ran dry: %r" % m
    check_bundled(m, "8-buffer ring")


@zg.time_limit(60)
def test_bundles_grow_the_buffer_window():
    need_bundles()
    # 512 small buffers, 128 of them published at start: bundles empty the
    # window, it grows, nothing is lost on the way.
    srv = zg.start(with_stats(zg.echo_config(reactor={
        "recv_bundle": True, "buffer_ring_entries": 512, "recv_buffer_size": 256})))
    zg.echo_many(srv.addr("e"), [zg.pattern(i, 300000 + i) for i in range(32)], timeout=45,
                 chunk=1 << 17)
    m = scrape(srv.addr("m"))
    srv.stop()
    assert m["zerg_reactor_buffer_window"] > 128, "the window never grew: %r" % m
    check_bundled(m, "windowed ring")


@zg.time_limit(60)
def test_bundles_cut_pipelined_http_requests_anywhere():
    need_bundles()
    # 64-byte buffers: a burst of pipelined requests arrives as bundles of
    # dozens of buffers (more than a receive queue has segments), every
    # request head and body cut across buffers; the parser consumes a
    # request at a time and leaves the rest.
    cfg = zg.echo_config(reactor={"recv_bundle": True, "recv_buffer_size": 64,
                                  "buffer_ring_entries": 1024},
                         name="h", plugin="http",
                         listener_extra={"config": {"routes": [{"path": "/echo",
                                                                "type": "echo"}]}})
    srv = zg.start(with_stats(cfg))
    s = zg.connect(srv.addr("h"), timeout=30)
    reqs, expect = [], []
    for i in range(600):
        if i % 2 == 0:
            body = zg.pattern(i, 1 + (i * 37) % 700)
            reqs.append(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(body), body))
            expect.append((200, body))
        else:
            reqs.append(b"GET /plaintext?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
            expect.append((200, b"Hello, World!"))
    tx = zg.Sender(s, b"".join(reqs))
    tx.start()
    r = Reader(s, timeout=30)
    for i, (st, body) in enumerate(expect):
        got_st, _, got = r.response()
        if (got_st, got) != (st, body):
            raise AssertionError("response %d: %d %r, expected %d %r"
                                 % (i, got_st, got[:64], st, body[:64]))
    tx.finish(30)
    s.close()
    m = scrape(srv.addr("m"))
    srv.stop()
    check_bundled(m, "pipelined HTTP")


def flood_without_reading(addr, limit=96 << 20, quiet=1.5):
    """Send to addr from a socket that never reads (its receive buffer
    small, so the echo backs up early) until the server takes nothing
    more for `quiet` seconds, or `limit` bytes. Returns (socket, bytes
    sent); the caller closes the socket."""
    import socket
    import time
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(10)
    s.connect(addr)
    s.setblocking(False)
    chunk = zg.pattern(7, 1 << 18)
    sent, last = 0, time.monotonic()
    while sent < limit and time.monotonic() - last < quiet:
        try:
            n = s.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        if n > 0:
            sent += n
            last = time.monotonic()
    return s, sent


def held_input_when_paused(recv_bundle):
    """A client that sends and never reads: the echo's output passes
    write_high_watermark, the connection stops receiving, and the most
    input it held (received, not yet consumed) is returned with the
    config's limits."""
    limits = {"max_held_bytes": 65536, "write_high_watermark": 65536,
              "write_low_watermark": 16384}
    cfg = with_stats(zg.echo_config(
        reactor={"recv_bundle": recv_bundle, "recv_buffer_size": 4096,
                 "buffer_ring_entries": 4096, "buffer_window": False},
        listener_extra=limits))
    srv = zg.start(cfg)
    s, sent = flood_without_reading(srv.addr("e"))
    m = scrape(srv.addr("m"))
    s.close()
    srv.stop()
    assert sent > (1 << 20), "the server took only %d bytes" % sent
    return m["zerg_reactor_held_bytes_max"], m, sent


@zg.time_limit(60)
def test_paused_connection_holds_little_more():
    # A paused connection holds what its plugin left (here nothing: echo
    # consumes all) plus what the loop iteration that paused it received.
    # Measured on Linux 6.18 with 4 KiB buffers: 64 to 66 buffers without
    # bundles (the kernel retries a multishot recv 32 times a wakeup), 32
    # to 40 with bundles capped at 16 buffers, 1100 to 1700 (4 to 7 MiB)
    # with uncapped bundles, which take what the socket holds.
    bound = 65536 + 96 * 4096
    held, m, sent = held_input_when_paused(False)
    assert held <= bound, "without bundles: held %d after %d sent: %r" % (held, sent, m)
    if not kernel_has("recv bundles"):
        return
    if not kernel_has("recv bundle cap"):
        raise zg.Skip("the kernel cannot cap a recv bundle (Linux 6.17): a paused "
                      "connection may hold MiB more")
    held, m, sent = held_input_when_paused(True)
    assert held <= bound, "with bundles: held %d after %d sent: %r" % (held, sent, m)

if __name__ == "__main__":
    zg.run_tests(globals())
