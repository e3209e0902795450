#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: a post storm (api->post, ABI 1.3): 8 threads of the fx_post
# fixture post without pause to random connections, open or closed, while
# 1000 connections open over two seconds and close at random moments (by
# the client, with a reset, or by the plugin from on_data or from a posted
# function). Every post that returned 0 must run exactly once, with c only
# while its connection is open, on its reactor: the fixture counts and logs
# its final counts at fini, after a graceful or a fast stop. Run under ASan
# and TSan too (.ci/run).
import heapq
import os
import re
import selectors
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

N_CONNS = 1000
SPREAD = 2.0      # seconds over which the connections open
LIFE_MAX = 0.8    # a connection lives 0..LIFE_MAX seconds
# How a connection ends, with weights: by the client (FIN or RST), by the
# plugin (from on_data, or from a function it posted to itself), or not
# before the server stops.
MODES = (("fin", 3), ("rst", 2), ("CLOSE", 2), ("LATER", 2), ("keep", 1))

_FINAL = re.compile(r"fx_post: final posted=(\d+) ran=(\d+) bad=(\d+) "
                    r"open=(\d+) gone=(\d+) self=(\d+) shutdown=(\d+)")
_STATS = re.compile(r"posted=(\d+) ran=(\d+) bad=(\d+) open=(\d+) gone=(\d+) "
                    r"self=(\d+) r0=(\d+) r1=(\d+)")


def _config(reactors):
    return zg.echo_config(reactors=reactors, name="p", plugin=zg.fixture("fx_post"))


def _stats(ctl):
    ctl.sendall(b"STATS\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = ctl.recv(4096)
        assert chunk, "control connection closed; got %r" % buf
        buf += chunk
    m = _STATS.fullmatch(buf.decode().strip())
    assert m, "bad STATS line %r" % buf
    keys = ("posted", "ran", "bad", "open", "gone", "self", "r0", "r1")
    return dict(zip(keys, map(int, m.groups())))


def _storm(srv, seed):
    """Open N_CONNS connections over SPREAD seconds, end each its own way
    at a random moment; return the ones kept open. Every connection the
    plugin was asked to close must see EOF."""
    import random
    rnd = random.Random(seed)
    addr = srv.addr("p")
    names = [m for m, _ in MODES]
    weights = [w for _, w in MODES]
    opens = sorted(rnd.uniform(0, SPREAD) for _ in range(N_CONNS))
    ends = []          # heap of (when, n, mode, sock)
    kept = []
    waiting = {}       # sock -> deadline for the plugin's close
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    i = n = 0
    try:
        while i < N_CONNS or ends or waiting:
            now = time.monotonic() - t0
            while i < N_CONNS and opens[i] <= now:
                s = zg.connect(addr)
                i += 1
                s.sendall(b"PING\n")  # a post from the reactor to itself
                mode = rnd.choices(names, weights)[0]
                if mode == "keep":
                    kept.append(s)
                else:
                    n += 1
                    heapq.heappush(ends, (now + rnd.uniform(0, LIFE_MAX), n, mode, s))
            while ends and ends[0][0] <= now:
                _, _, mode, s = heapq.heappop(ends)
                if mode == "fin":
                    s.close()
                elif mode == "rst":
                    zg.rst_close(s)
                else:
                    s.sendall(mode.encode() + b"\n")
                    s.setblocking(False)
                    sel.register(s, selectors.EVENT_READ)
                    waiting[s] = now + 10.0
            for s, deadline in list(waiting.items()):
                assert deadline > now, "the plugin did not close a connection within 10s"
            nxt = [0.05]
            if i < N_CONNS:
                nxt.append(opens[i] - now)
            if ends:
                nxt.append(ends[0][0] - now)
            for key, _ in sel.select(max(0.0, min(nxt))):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionResetError:
                    data = b""
                assert not data, "unexpected bytes %r" % data[:64]
                sel.unregister(s)
                s.close()
                del waiting[s]
    except BaseException:
        for s in kept:
            s.close()
        raise
    finally:
        for _, _, _, s in ends:
            s.close()
        for s in waiting:
            s.close()
        sel.close()
    return kept


def _run(reactors, sig, seed):
    srv = zg.start(_config(reactors))
    ctl = zg.connect(srv.addr("p"))
    kept = []
    try:
        kept = _storm(srv, seed)
        st = _stats(ctl)
        assert st["bad"] == 0, "broken post promises: %s (see %s)" % (st, srv.stderr_path)
        # The storm really happened, on both paths (connection open, gone).
        assert st["posted"] >= 2000 and st["open"] > 0 and st["gone"] > 0, st
        assert st["self"] >= N_CONNS, st
        if reactors == 2:
            assert st["r0"] > 0 and st["r1"] > 0, "one reactor got no connection: %s" % st
        # Posts go on while the server stops, with connections still open.
        srv.stop(sig=sig, expect=0)
    finally:
        for s in kept:
            s.close()
        ctl.close()
    err = srv.stderr_text()
    m = _FINAL.search(err)
    assert m, "no final fx_post line in %s:\n%s" % (srv.stderr_path, zg._tail(err))
    posted, ran, bad, live, gone, _, _ = map(int, m.groups())
    assert bad == 0, "broken post promises: %s" % m.group(0)
    assert posted == ran, "posted %d, ran %d: %s" % (posted, ran, m.group(0))
    assert posted >= st["posted"] and live + gone == ran, m.group(0)


def test_storm_1_reactor_graceful_stop():
    _run(1, signal.SIGQUIT, 1)


def test_storm_1_reactor_fast_stop():
    _run(1, signal.SIGTERM, 2)


def test_storm_2_reactors_graceful_stop():
    _run(2, signal.SIGQUIT, 3)


def test_storm_2_reactors_fast_stop():
    _run(2, signal.SIGTERM, 4)


if __name__ == "__main__":
    zg.run_tests(globals())
