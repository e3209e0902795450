#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the proxy plugin (plugins/proxy) against the real binary:
# integrity of many concurrent streams both ways (through zerg's own echo
# listener as the upstream), each "balance" mode, failover and passive
# health, every upstream failing, half-closes both ways, memory that stays
# flat behind a slow reader on either side, the idle timeout, the PROXY
# v2 header, and config errors. Upstreams are small loopback servers on
# threads of this process.
import os
import re
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

MiB = 1 << 20


def tagged(tag):
    """A handler that sends tag, then echoes until the client's FIN."""
    def handler(s):
        s.sendall(tag)
        while True:
            b = s.recv(65536)
            if not b:
                return
            s.sendall(b)
    return handler


def proxy_config(upstreams, reactors=1, modules=None, listener_extra=None, **conf):
    """One proxy listener "p"; upstreams: addresses or (address, weight)."""
    ups = []
    for u in upstreams:
        if isinstance(u, tuple):
            ups.append({"address": u[0], "weight": u[1]})
        else:
            ups.append({"address": u})
    conf["upstreams"] = ups
    extra = {"config": conf}
    if modules:
        extra["modules"] = modules
    if listener_extra:
        extra.update(listener_extra)
    return zg.echo_config(reactors=reactors, name="p", plugin="proxy",
                          listener_extra=extra)


def dead_addr():
    """An address where nothing listens (connects are refused)."""
    return "127.0.0.1:%d" % zg.free_port()


def tag_of(addr, src=None):
    """Connect through the proxy and return the first byte the upstream
    sends (its tag)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(zg.SOCK_TIMEOUT)
    try:
        if src is not None:
            s.bind((src, 0))
        s.connect(addr)
        return zg.recv_exact(s, 1)
    finally:
        s.close()


def count_lines(srv, needle):
    return sum(1 for ln in srv.stderr_text().splitlines() if needle in ln)


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def start_measured(cfg):
    """Start zerg for a memory test. Under AddressSanitizer, freed memory
    waits in a quarantine (256 MiB by default) and counts in VmRSS: keep
    it small, so that what is measured is what the server holds."""
    saved = os.environ.get("ASAN_OPTIONS")
    opts = "quarantine_size_mb=1:thread_local_quarantine_size_kb=64"
    os.environ["ASAN_OPTIONS"] = saved + ":" + opts if saved else opts
    try:
        return zg.start(cfg)
    finally:
        if saved is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = saved


class RssWatch(threading.Thread):
    """Samples a process's VmRSS every 50 ms until stop(); .peak in KiB."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, False
        self.start()

    def run(self):
        while not self.done:
            try:
                self.peak = max(self.peak, zg.rss_kib(self.pid))
            except (OSError, AssertionError):
                return  # the process is gone: the test says why
            time.sleep(0.05)

    def stop(self):
        self.done = True
        self.join(5)
        self.peak = max(self.peak, zg.rss_kib(self.pid))
        return self.peak


# --------------------------------------------------------------------------

@zg.time_limit(60)
def test_integrity_many_streams_both_ways():
    # The upstream is zerg's own echo listener in the same process: the
    # proxy's client side and upstream side run on two reactors.
    eport = zg.free_port()
    cfg = proxy_config(["127.0.0.1:%d" % eport], reactors=2)
    cfg["listeners"].append({"name": "e", "listen": "127.0.0.1:%d" % eport,
                             "plugin": "echo"})
    srv = zg.start(cfg)
    payloads = [zg.pattern(i, 2 * MiB + i * 4099) for i in range(16)]
    zg.echo_many(srv.addr("p"), payloads, timeout=40.0)
    # Small exchanges too, one byte and a few bytes.
    zg.echo_many(srv.addr("p"), [b"x", b"yz", b"hello"] * 8)
    srv.stop()


def test_round_robin_by_weight():
    ups = [zg.Upstream(tagged(t)) for t in (b"A", b"B", b"C")]
    srv = zg.start(proxy_config([u.addr for u in ups]))
    seen = [tag_of(srv.addr("p")) for _ in range(30)]
    srv.stop()
    assert {t: seen.count(t) for t in (b"A", b"B", b"C")} == \
        {b"A": 10, b"B": 10, b"C": 10}, seen
    # Smooth: never the same one twice in a row with equal weights.
    assert all(seen[i] != seen[i + 1] for i in range(len(seen) - 1)), seen
    # Weights 1 and 3: exactly 1 in 4, spread (B B A B or similar).
    srv = zg.start(proxy_config([(ups[0].addr, 1), (ups[1].addr, 3)]))
    seen = [tag_of(srv.addr("p")) for _ in range(20)]
    srv.stop()
    assert seen.count(b"A") == 5 and seen.count(b"B") == 15, seen
    assert b"AA" not in b"".join(seen), seen
    for u in ups:
        u.close()


def test_least_conn():
    a, b = zg.Upstream(tagged(b"A")), zg.Upstream(tagged(b"B"))
    srv = zg.start(proxy_config([a.addr, b.addr], balance="least_conn"))
    s1, s2 = zg.connect(srv.addr("p")), zg.connect(srv.addr("p"))
    t1, t2 = zg.recv_exact(s1, 1), zg.recv_exact(s2, 1)
    assert {t1, t2} == {b"A", b"B"}, (t1, t2)
    # The one on A ends: A has none, B one; the next two go to A.
    on_a, on_b = (s1, s2) if t1 == b"A" else (s2, s1)
    on_a.close()
    time.sleep(0.3)
    s3 = zg.connect(srv.addr("p"))
    assert zg.recv_exact(s3, 1) == b"A"
    s4 = zg.connect(srv.addr("p"))
    t4 = zg.recv_exact(s4, 1)
    assert t4 in (b"A", b"B")  # a tie (1, 1) either way
    s5 = zg.connect(srv.addr("p"))
    assert zg.recv_exact(s5, 1) != t4  # whoever took the tie has more now
    for s in (on_b, s3, s4, s5):
        s.close()
    srv.stop()
    a.close()
    b.close()


def test_hash_by_client_address():
    ups = [zg.Upstream(tagged(t)) for t in (b"A", b"B", b"C")]
    srv = zg.start(proxy_config([u.addr for u in ups], balance="hash"))
    srcs = ["127.0.0.%d" % (10 + i) for i in range(24)]
    first = {src: tag_of(srv.addr("p"), src) for src in srcs}
    # Stable: the same client address, the same upstream.
    for src in srcs[:8]:
        assert tag_of(srv.addr("p"), src) == first[src], src
    assert set(first.values()) == {b"A", b"B", b"C"}, first
    # C goes away: only C's clients move.
    ups[2].close()
    for src in srcs:
        now = tag_of(srv.addr("p"), src)
        if first[src] == b"C":
            assert now in (b"A", b"B"), (src, now)
        else:
            assert now == first[src], (src, first[src], now)
    srv.stop()
    for u in ups[:2]:
        u.close()


def test_failover_and_passive_health():
    a = zg.Upstream(tagged(b"A"))
    dead = dead_addr()
    srv = zg.start(proxy_config([dead, a.addr], max_fails=1, fail_timeout_ms=1500))
    failed = "upstream %s: connect failed (111: Connection refused)" % dead
    # The client's bytes, sent before any upstream answered, all arrive.
    data = zg.pattern(1, 300000)
    s = zg.connect(srv.addr("p"))
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = zg.recv_until_eof(s)
    s.close()
    assert got == b"A" + data, "got %d bytes, first diff at %d" % (
        len(got), zg.first_diff(got, b"A" + data))
    assert wait_for(lambda: count_lines(srv, failed) == 1), srv.stderr_text()
    assert count_lines(srv, "upstream %s: marked down for 1500 ms" % dead) == 1
    # Marked down: not tried again for fail_timeout_ms.
    for _ in range(5):
        assert tag_of(srv.addr("p")) == b"A"
    assert count_lines(srv, failed) == 1, srv.stderr_text()
    # Then it is tried again (once: it fails and is down again).
    time.sleep(1.6)
    for _ in range(3):
        assert tag_of(srv.addr("p")) == b"A"
    assert wait_for(lambda: count_lines(srv, failed) == 2), srv.stderr_text()
    srv.stop()
    a.close()


def test_all_upstreams_down():
    # Refused at once: the client is closed at once, its bytes dropped.
    d1, d2 = dead_addr(), dead_addr()
    srv = zg.start(proxy_config([d1, d2]))
    s = zg.connect(srv.addr("p"))
    s.sendall(b"anyone?")
    t0 = time.monotonic()
    zg.expect_eof(s, timeout=3.0)
    assert time.monotonic() - t0 < 1.0
    s.close()
    assert wait_for(lambda: count_lines(
        srv, "no upstream reached after 2 attempt(s) (last: 111: Connection refused)") == 1)
    for d in (d1, d2):
        assert count_lines(srv, "upstream %s: connect failed" % d) == 1
    srv.stop()
    # max_tries 1: one attempt, no failover.
    a = zg.Upstream(tagged(b"A"))
    srv = zg.start(proxy_config([dead_addr(), a.addr], max_tries=1))
    s = zg.connect(srv.addr("p"))
    zg.expect_eof(s, timeout=3.0)
    s.close()
    assert tag_of(srv.addr("p")) == b"A"  # the dead one is down now
    srv.stop()
    a.close()


def test_all_upstreams_time_out():
    # Listeners whose accept queues are full drop SYNs: every attempt
    # runs into connect_timeout_ms, and the client goes after both.
    holes, fillers = [], []
    for _ in range(2):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        holes.append(ls)
        for _ in range(3):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(ls.getsockname())
            fillers.append(f)
    time.sleep(0.2)
    srv = zg.start(proxy_config(["127.0.0.1:%d" % h.getsockname()[1] for h in holes],
                                connect_timeout_ms=300))
    s = zg.connect(srv.addr("p"))
    t0 = time.monotonic()
    zg.expect_eof(s, timeout=5.0)
    secs = time.monotonic() - t0
    s.close()
    assert 0.5 <= secs < 2.5, "client closed after %.2f s (2 x 300 ms)" % secs
    assert wait_for(lambda: count_lines(
        srv, "no upstream reached after 2 attempt(s) (last: 110: Connection timed out)") == 1)
    assert count_lines(srv, "connect failed (110: Connection timed out)") == 2, \
        srv.stderr_text()
    srv.stop()
    for f in fillers + holes:
        f.close()


def test_half_close_from_the_client():
    # The upstream answers only after the client's FIN.
    def count_then_answer(s):
        n = 0
        while True:
            b = s.recv(65536)
            if not b:
                break
            n += len(b)
        s.sendall(b"got %d\n" % n)
    up = zg.Upstream(count_then_answer)
    srv = zg.start(proxy_config([up.addr]))
    s = zg.connect(srv.addr("p"))
    s.sendall(b"x" * 100000)
    s.shutdown(socket.SHUT_WR)
    assert zg.recv_until_eof(s) == b"got 100000\n"
    s.close()
    srv.stop()
    up.close()


def test_half_close_from_the_upstream():
    heard = {}
    done = threading.Event()

    def banner_then_listen(s):
        s.sendall(b"banner\n")
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
        heard["bytes"] = buf
        done.set()
    up = zg.Upstream(banner_then_listen)
    srv = zg.start(proxy_config([up.addr]))
    s = zg.connect(srv.addr("p"))
    # The upstream's FIN reaches the client...
    assert zg.recv_until_eof(s) == b"banner\n"
    # ... whose own direction still works.
    s.sendall(b"still here")
    time.sleep(0.1)
    s.sendall(b", and done")
    s.shutdown(socket.SHUT_WR)
    assert done.wait(5), "the upstream never saw the client's FIN"
    assert heard["bytes"] == b"still here, and done"
    zg.expect_eof(s)  # both FINs passed: the proxy closes
    s.close()
    srv.stop()
    up.close()


@zg.time_limit(60)
def test_slow_client_keeps_memory_flat():
    total = 200 * MiB
    block = os.urandom(MiB)
    progress = {"sent": 0}

    def firehose(s):
        mv = memoryview(block)
        for _ in range(total // MiB):
            s.sendall(mv)
            progress["sent"] += MiB
    up = zg.Upstream(firehose)
    srv = start_measured(proxy_config([up.addr]))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
    s.settimeout(zg.SOCK_TIMEOUT)
    s.connect(srv.addr("p"))
    got = bytearray(zg.recv_exact(s, MiB))
    base = zg.rss_kib(srv.pid)
    watch = RssWatch(srv.pid)
    # The client stops reading: the upstream must be held back.
    time.sleep(1.5)
    stalled_at = progress["sent"]
    assert stalled_at < 24 * MiB, \
        "the upstream pushed %d MiB while the client read nothing" % (stalled_at // MiB)
    # Then reads everything, in small bites, checking each.
    n = MiB
    while n < total:
        chunk = s.recv(256 * 1024)
        assert chunk, "EOF after %d of %d bytes" % (n, total)
        off = n % MiB
        k = min(len(chunk), MiB - off)
        assert chunk[:k] == block[off:off + k], "wrong byte near offset %d" % n
        if k < len(chunk):
            assert chunk[k:] == block[:len(chunk) - k], "wrong byte near offset %d" % (n + k)
        n += len(chunk)
    assert bytes(got) == block
    zg.expect_eof(s)
    s.close()
    peak = watch.stop()
    srv.stop()
    up.close()
    print("VmRSS %d KiB, peak %d KiB, proxying %d MiB" % (base, peak, total // MiB))
    assert peak - base < 48 * 1024, \
        "VmRSS grew from %d to %d KiB proxying %d MiB" % (base, peak, total // MiB)


@zg.time_limit(60)
def test_slow_upstream_keeps_memory_flat():
    total = 64 * MiB
    block = os.urandom(MiB)
    start_reading = threading.Event()
    result = {}

    def sluggish(s):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
        start_reading.wait(10)
        n = 0
        while True:
            b = s.recv(1 << 18)
            if not b:
                break
            off = n % MiB
            if b[:min(len(b), MiB - off)] != block[off:off + len(b)][:MiB - off]:
                result["bad"] = n
            n += len(b)
        result["n"] = n
        s.sendall(b"ok")
    up = zg.Upstream(sluggish)
    srv = start_measured(proxy_config([up.addr]))
    s = zg.connect(srv.addr("p"))
    base = zg.rss_kib(srv.pid)
    watch = RssWatch(srv.pid)
    snd = zg.Sender(s, block * (total // MiB), shutdown=True, chunk=MiB)
    snd.start()
    time.sleep(1.5)
    stalled_at = snd.sent
    start_reading.set()
    snd.finish(timeout=40)
    assert zg.recv_until_eof(s, timeout=30) == b"ok"
    s.close()
    peak = watch.stop()
    srv.stop()
    up.close()
    assert stalled_at < 24 * MiB, \
        "the client pushed %d MiB while the upstream read nothing" % (stalled_at // MiB)
    assert result.get("n") == total and "bad" not in result, result
    print("VmRSS %d KiB, peak %d KiB, proxying %d MiB" % (base, peak, total // MiB))
    assert peak - base < 48 * 1024, \
        "VmRSS grew from %d to %d KiB proxying %d MiB" % (base, peak, total // MiB)


def test_idle_timeout():
    saw_fin = threading.Event()

    def quiet(s):
        s.sendall(b"A")
        while s.recv(4096):
            pass
        saw_fin.set()
    up = zg.Upstream(quiet)
    srv = zg.start(proxy_config([up.addr], idle_timeout_ms=400))
    s = zg.connect(srv.addr("p"))
    assert zg.recv_exact(s, 1) == b"A"
    # Traffic keeps it open past the timeout...
    for _ in range(6):
        time.sleep(0.15)
        s.sendall(b".")
    # ... silence ends both sides, between T and T + T/4 (and a tick).
    t0 = time.monotonic()
    zg.expect_eof(s, timeout=3.0)
    secs = time.monotonic() - t0
    s.close()
    assert 0.35 <= secs < 1.0, "closed %.2f s after the last byte (400 ms)" % secs
    assert saw_fin.wait(3), "the upstream side was not closed"
    assert count_lines(srv, "nothing moved for 400 ms") == 1
    srv.stop()
    up.close()


def test_stops_with_sessions_open():
    up = zg.Upstream(tagged(b"A"))
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(hole.getsockname())
        fillers.append(f)
    time.sleep(0.1)
    # A graceful stop lets a session run, up to shutdown_timeout_ms.
    cfg = proxy_config([up.addr])
    cfg["shutdown_timeout_ms"] = 600
    srv = zg.start(cfg)
    s = zg.connect(srv.addr("p"))
    assert zg.recv_exact(s, 1) == b"A"
    srv.send_signal(signal.SIGQUIT)
    time.sleep(0.2)
    s.sendall(b"still")
    assert zg.recv_exact(s, 5) == b"still"
    srv.stop(sig=signal.SIGQUIT, max_seconds=2.0)
    s.close()
    # A fast stop ends sessions and attempts in flight at once.
    srv = zg.start(proxy_config([up.addr, "127.0.0.1:%d" % hole.getsockname()[1]],
                                connect_timeout_ms=5000))
    a = zg.connect(srv.addr("p"))
    assert zg.recv_exact(a, 1) == b"A"
    b = zg.connect(srv.addr("p"))  # round robin: the black hole
    time.sleep(0.2)
    srv.stop(max_seconds=2.0)
    zg.expect_eof(a)
    zg.expect_eof(b)
    a.close()
    b.close()
    for f in fillers:
        f.close()
    hole.close()
    up.close()


def _pp2_reader(seen):
    """A handler that reads a PROXY v2 header into seen, then echoes."""
    def handler(s):
        head = zg.recv_exact(s, 16)
        seen["head"] = head
        seen["body"] = zg.recv_exact(s, struct.unpack("!H", head[14:16])[0])
        while True:
            b = s.recv(65536)
            if not b:
                return
            s.sendall(b)
    return handler


def _pp2_check(seen, src, dst):
    head, body = seen["head"], seen["body"]
    assert head[:12] == b"\r\n\r\n\x00\r\nQUIT\n", head
    assert head[12] == 0x21 and head[13] == 0x11 and len(body) == 12, head
    got_src = (socket.inet_ntoa(body[0:4]), struct.unpack("!H", body[8:10])[0])
    got_dst = (socket.inet_ntoa(body[4:8]), struct.unpack("!H", body[10:12])[0])
    assert got_src == src and got_dst == dst, (got_src, got_dst, src, dst)


def test_send_proxy_protocol():
    seen = {}
    up = zg.Upstream(_pp2_reader(seen))
    srv = zg.start(proxy_config([up.addr], send_proxy_protocol=True))
    s = zg.connect(srv.addr("p"))
    s.sendall(b"ping")
    assert zg.recv_exact(s, 4) == b"ping"
    _pp2_check(seen, s.getsockname(), srv.addr("p"))
    s.close()
    srv.stop()
    # Behind the proxy_protocol module, the client is the one it names.
    seen.clear()
    srv = zg.start(proxy_config([up.addr], send_proxy_protocol=True,
                                modules=[{"module": "proxy_protocol"}]))
    s = zg.connect(srv.addr("p"))
    s.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.1 5555 443\r\nping")
    assert zg.recv_exact(s, 4) == b"ping"
    _pp2_check(seen, ("203.0.113.7", 5555), srv.addr("p"))
    s.close()
    srv.stop()
    up.close()


def _config_error(conf_obj, marker):
    """Run zerg -t on a one-listener config whose proxy config is
    conf_obj; return (stderr, line, column of marker in the file)."""
    cfg = zg.echo_config(name="p", plugin="proxy", listener_extra={"config": conf_obj})
    path = zg.write_config(cfg)
    with open(path) as f:
        text = f.read()
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode == 1, (r.returncode, r.stderr)
    pos = text.index(marker)
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return r.stderr, path, line, col


def test_config_errors():
    err, path, line, col = _config_error(
        {"upstreams": [{"address": "127.0.0.1:80"}, {"address": "10.1:80"}]}, '"10.1:80"')
    assert "%s:%d:%d: listeners[0].config.upstreams[1].address: \"10.1\": not an IPv4 " \
        "address" % (path, line, col) in err, err
    err, path, line, col = _config_error(
        {"upstreams": [{"address": "[::1:80"}]}, '"[::1:80"')
    assert "%s:%d:%d: listeners[0].config.upstreams[0].address:" % (path, line, col) in err, err
    err, path, _, _ = _config_error({"balance": "hash"}, '"balance"')
    assert 'missing required key "upstreams"' in err, err
    err, path, line, col = _config_error(
        {"upstreams": [{"address": "127.0.0.1:80"}], "balance": "round-robin"}, '"round-robin"')
    assert "%s:%d:%d: listeners[0].config.balance:" % (path, line, col) in err, err
    err, _, _, _ = _config_error(
        {"upstreams": [{"address": "127.0.0.1:80", "weight": 1001}]}, '1001')
    assert "1001 is out of range 1..1000" in err, err
    # And a good one passes -t, a name resolved into its addresses.
    path = zg.write_config(zg.echo_config(name="p", plugin="proxy", listener_extra={
        "config": {"upstreams": [{"address": "localhost:80", "weight": 2}]}}))
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode == 0, r.stderr
    r = zg.run_zerg(["-T", "-c", path])
    assert r.returncode == 0, r.stderr
    assert re.search(r'"balance": "round_robin"', r.stdout), r.stdout
    assert re.search(r'"connect_timeout_ms": 5000', r.stdout), r.stdout


if __name__ == "__main__":
    zg.run_tests(globals())
