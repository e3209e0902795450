#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the receive-buffer window (reactor.buffer_window) against
# the real binary: many connections pushing more than the starting window
# holds make receives run short (ENOBUFS); the window grows, every byte
# still arrives intact; once quiet it shrinks back and the reactor gives
# the memory of its idle buffers back, with plain receives and with recv
# bundles (one completion for several buffers). With the window off the
# whole ring is published.
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402


def config(window, **reactor):
    reactor.update({"buffer_window": window, "recv_buffer_size": 16384,
                    "buffer_ring_entries": 1024})
    cfg = zg.echo_config(reactor=reactor)
    cfg["listeners"].append({"name": "m", "listen": "127.0.0.1:0", "plugin": "stats"})
    return cfg


def scrape(addr):
    s = zg.connect(addr)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    text = zg.recv_until_eof(s).decode()
    s.close()
    out = {}
    for m in re.finditer(r'^(zerg_reactor_\w+)\{reactor="0"\} (\d+)$', text, re.M):
        out[m.group(1)] = int(m.group(2))
    return out


def _grow_and_shrink(**reactor):
    srv = zg.start(config(True, **reactor))
    m0 = scrape(srv.addr("m"))
    assert m0["zerg_reactor_buffer_window"] == 128, m0
    peak = {"window": 0, "rss": 0}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak["window"] = max(peak["window"],
                                 scrape(srv.addr("m"))["zerg_reactor_buffer_window"])
            peak["rss"] = max(peak["rss"], zg.rss_kib(srv.pid))
            time.sleep(0.05)
    w = threading.Thread(target=watch)
    w.start()
    # 48 clients, all connected first, send 4 MiB each together and read
    # back only after a moment, so what the server has received but not
    # yet sent piles up in its buffers (up to write_high_watermark per
    # connection, 48 MiB in all) well past the starting window (128 x 16
    # KiB), however fast or slow this machine. Every byte must come back.
    try:
        zg.echo_many(srv.addr("e"), [zg.pattern(i, 4 << 20) for i in range(48)],
                     timeout=60, chunk=1 << 18, read_after=0.3)
    finally:
        stop.set()
        w.join(10)
    m1 = scrape(srv.addr("m"))
    # The watcher may not have had a turn while the clients ran (a second
    # or less with 96 client threads): what the load left counts too (the
    # window shrinks only after a quiet second).
    peak["window"] = max(peak["window"], m1["zerg_reactor_buffer_window"])
    peak["rss"] = max(peak["rss"], zg.rss_kib(srv.pid))
    # Without bundles a receive that finds no buffer fails with ENOBUFS;
    # a bundle that takes the window's last buffers ends its multishot
    # receive instead (and the window grows all the same).
    if not reactor.get("recv_bundle"):
        assert m1["zerg_reactor_enobufs_total"] > 0, \
            "the load never ran the window short: %r" % m1
    assert peak["window"] > 128, "the window never grew: %r %r" % (peak, m1)
    # Quiet: halved each second back to the start, memory given back.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m2 = scrape(srv.addr("m"))
        if m2["zerg_reactor_buffer_window"] == 128 and zg.rss_kib(srv.pid) < peak["rss"] - 2048:
            break
        time.sleep(0.2)
    rss = zg.rss_kib(srv.pid)
    srv.stop()
    assert m2["zerg_reactor_buffer_window"] == 128, m2
    assert rss < peak["rss"] - 2048, "RSS %d KiB after quiet, peak %d KiB" % (rss, peak["rss"])
    return m1


def test_window_grows_under_load_and_shrinks_when_quiet():
    _grow_and_shrink(recv_bundle=False)


def test_window_grows_and_shrinks_with_recv_bundles():
    if "recv bundles yes" not in zg.run_zerg(["-V"]).stdout:
        raise zg.Skip("the kernel has no recv bundles (Linux 6.10 or newer)")
    m = _grow_and_shrink(recv_bundle=True)
    assert m["zerg_reactor_recv_bundles_total"] > 0, "no recv bundle: %r" % m


def test_window_off_publishes_the_ring():
    srv = zg.start(config(False))
    zg.echo_many(srv.addr("e"), [zg.pattern(i, 1 << 20) for i in range(8)],
                 chunk=1 << 18)
    m = scrape(srv.addr("m"))
    srv.stop()
    assert m["zerg_reactor_buffer_window"] == 1024, m


if __name__ == "__main__":
    zg.run_tests(globals())
