#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the offload example plugin (plugins/offload): jobs run on its
# thread pool and come back through api->post in request order, a
# connection pauses at max_pending jobs in flight, long lines are refused,
# connections that close with jobs pending leak nothing, a graceful stop
# answers pending jobs first, a fast stop does not wait for them, and the
# host checks its config keys.
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402


def _config(reactors=1, **conf):
    return zg.echo_config(reactors=reactors, name="o", plugin="offload",
                          listener_extra={"config": conf} if conf else None)


def _ask(s, lines):
    s.sendall(b"".join(ln + b"\n" for ln in lines))


def _read_lines(s, n, timeout=10.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while buf.count(b"\n") < n:
        left = deadline - time.monotonic()
        assert left > 0, "timeout: %d of %d lines: %r" % (buf.count(b"\n"), n, buf[-200:])
        s.settimeout(left)
        chunk = s.recv(65536)
        assert chunk, "EOF after %d of %d lines: %r" % (buf.count(b"\n"), n, buf[-200:])
        buf += chunk
    return buf.decode().split("\n")[:-1]


def test_answers_in_request_order():
    srv = zg.start(_config())
    s = zg.connect(srv.addr("o"))
    t0 = time.monotonic()
    # The sum finishes long before the sleeps before it: it waits its turn.
    _ask(s, [b"sleep 300", b"sum 1 2", b"sleep 100", b"sum -5 5 7",
             b"sleep 200\r", b"bogus", b"sum 1 x", b"sum", b"sleep 10001",
             b"sum 9223372036854775807 1", b"sum 9223372036854775807 -1"])
    got = _read_lines(s, 11)
    secs = time.monotonic() - t0
    assert got == ["slept 300", "3", "slept 100", "7", "slept 200",
                   "error unknown command",
                   "error usage: sum A B ... (64-bit integers)",
                   "error usage: sum A B ... (64-bit integers)",
                   "error usage: sleep MS (0..10000)", "error overflow",
                   "9223372036854775806"], got
    # Four threads: the sleeps overlap (600 ms one after the other).
    assert secs < 0.55, "took %.2fs: the jobs did not run in parallel" % secs
    s.close()
    srv.stop()


def test_pipelining_past_max_pending():
    srv = zg.start(_config(threads=3, max_pending=2))
    socks = [zg.connect(srv.addr("o")) for _ in range(4)]
    for k, s in enumerate(socks):
        # Far more than max_pending in one write: the connection pauses and
        # resumes as answers go out; nothing is lost or reordered.
        _ask(s, [b"sum %d %d" % (i, k) if i % 5 else b"sleep 5" for i in range(200)])
    for k, s in enumerate(socks):
        got = _read_lines(s, 200)
        assert got == [str(i + k) if i % 5 else "slept 5" for i in range(200)], got[:20]
        s.close()
    srv.stop()


def test_long_line_answered_in_turn_then_closed():
    srv = zg.start(_config(max_line=32))
    s = zg.connect(srv.addr("o"))
    _ask(s, [b"sleep 100", b"sum " + b"1 " * 40, b"sum 1 1"])
    got = zg.recv_until_eof(s)
    assert got == b"slept 100\nerror line too long\n", got
    s.close()
    # Also when the line has no end yet.
    s = zg.connect(srv.addr("o"))
    s.sendall(b"sum 1 1\n" + b"9" * 100)
    assert zg.recv_until_eof(s) == b"2\nerror line too long\n"
    s.close()
    srv.stop()


def test_close_with_jobs_pending_leaks_nothing():
    # ASan builds check at exit that every job was freed: by the posted
    # function with c == NULL, or by on_close for finished ones.
    srv = zg.start(_config(reactors=2, threads=2, max_pending=8))
    for i in range(50):
        s = zg.connect(srv.addr("o"))
        _ask(s, [b"sleep %d" % (i % 7 * 5), b"sum 1 2", b"sleep 1"] * 3)
        if i % 3 == 0:
            _read_lines(s, 1)
        if i % 2:
            zg.rst_close(s)
        else:
            s.close()
    time.sleep(0.3)
    s = zg.connect(srv.addr("o"))
    _ask(s, [b"sum 40 2"])
    assert _read_lines(s, 1) == ["42"]
    s.close()
    srv.stop()


def test_half_close_gets_every_answer():
    srv = zg.start(_config())
    s = zg.connect(srv.addr("o"))
    _ask(s, [b"sleep 200", b"sum 2 2"])
    s.shutdown(socket.SHUT_WR)
    assert zg.recv_until_eof(s) == b"slept 200\n4\n"
    s.close()
    srv.stop()


def test_graceful_stop_answers_pending_jobs():
    srv = zg.start(_config())
    s = zg.connect(srv.addr("o"))
    _ask(s, [b"sleep 500", b"sum 1 1"])
    time.sleep(0.1)
    srv.send_signal(signal.SIGQUIT)
    assert zg.recv_until_eof(s) == b"slept 500\n2\n"
    s.close()
    srv.stop(sig=signal.SIGQUIT, max_seconds=5)


def test_fast_stop_does_not_wait_for_jobs():
    srv = zg.start(_config(threads=2))
    socks = [zg.connect(srv.addr("o")) for _ in range(3)]
    for s in socks:
        _ask(s, [b"sleep 10000"])
    time.sleep(0.2)
    srv.stop(sig=signal.SIGTERM, max_seconds=3)
    for s in socks:
        s.close()


def test_config_is_checked_by_the_host():
    for conf, want in (({"threads": 0}, "config.threads"),
                       ({"threads": 65}, "config.threads"),
                       ({"max_pending": 0}, "config.max_pending"),
                       ({"max_line": "1m"}, "config.max_line"),
                       ({"thread": 2}, 'did you mean "threads"')):
        r = zg.run_zerg(["-t", "-c", zg.write_config(_config(**conf))])
        assert r.returncode != 0 and want in r.stderr, (conf, r.stderr)
    r = zg.run_zerg(["-T", "-c", zg.write_config(_config())])
    assert r.returncode == 0, r.stderr
    assert '"threads": 4' in r.stdout and '"max_pending": 16' in r.stdout \
        and '"max_line": 1024' in r.stdout, r.stdout


if __name__ == "__main__":
    zg.run_tests(globals())
