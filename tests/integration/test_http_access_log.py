#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the http plugin's per-request access log against the real
# binary: one line per request (keep-alive, pipelined in one write, errors
# the plugin answers itself, a handler's late answer, a request cut short),
# nginx's combined fields with the request time, JSON lines that
# json.loads reads back byte for byte, hostile client bytes escaped, the
# real client after a PROXY header, a path relative to the config file,
# and SIGUSR1 after a rename moving new lines to a new file with nothing
# lost.
import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

# $remote_addr - - [$time_local] "$request" $status $body_bytes_sent
# "$http_referer" "$http_user_agent" $request_time
COMBINED = re.compile(
    r'^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)" (\d+\.\d{3})$')

ROUTES = [{"path": "/echo", "type": "echo"},
          {"path": "/delay", "handler": "async"}]


def config(log, fmt="combined", modules=None, reactors=1, limits=None):
    cfg = {"routes": ROUTES,
           "access_log": {"path": log, "format": fmt, "flush_ms": 20}}
    if limits:
        cfg["limits"] = limits
    extra = {"config": cfg}
    if modules:
        extra["modules"] = modules
    return zg.echo_config(reactors=reactors, name="h", plugin="http",
                          listener_extra=extra)


def start(log_name, **kw):
    """Start zerg with its access log at log_name, relative to the config
    file; return (server, absolute path of the log)."""
    path = zg.write_config(config(log_name, **kw))
    srv = zg.start(path)
    return srv, os.path.join(os.path.dirname(path), log_name)


def log_name(tag):
    return os.path.basename(zg.write_config("", tag=tag, suffix=".access.log"))


def read_lines(path, want, timeout=5.0):
    """The log's lines once there are want of them (or the time is up);
    the file never ends in a torn line."""
    deadline = time.monotonic() + timeout
    while True:
        data = b""
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
        lines = data.split(b"\n")[:-1]
        if len(lines) >= want or time.monotonic() > deadline:
            assert data == b"" or data.endswith(b"\n"), "torn line: %r" % data[-80:]
            return [ln.decode("ascii") for ln in lines]
        time.sleep(0.02)


def fields(line):
    m = COMBINED.match(line)
    assert m, "not a combined line: %r" % line
    addr, tl, req, status, nbytes, ref, ua, secs = m.groups()
    return {"addr": addr, "time": tl, "request": req, "status": int(status),
            "bytes": int(nbytes), "referer": ref, "ua": ua, "secs": float(secs)}


def unescape(s):
    """A combined field back to the bytes the client sent."""
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "\\":
            assert s[i + 1] == "x", s
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(ord(s[i]))
            i += 1
    return bytes(out)


def request(method, path, extra=b"", body=b""):
    head = b"%s %s HTTP/1.1\r\nHost: t\r\n%s" % (method, path, extra)
    if body:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


def test_one_line_per_request_keepalive_and_pipelined():
    name = log_name("ka")
    srv, path = start(name)
    addr = srv.addr("h")
    sent = []  # (request line, status, body bytes, referer, user agent)
    s = zg.connect(addr)
    # keep-alive: one at a time, each answered before the next
    for i in range(5):
        ua = b"client/%d" % i
        s.sendall(request(b"GET", b"/plaintext?k=%d" % i,
                          b"User-Agent: " + ua + b"\r\nReferer: http://r/" + ua + b"\r\n"))
        got = b""
        while not got.endswith(b"Hello, World!"):
            got += s.recv(4096)
        sent.append(("GET /plaintext?k=%d HTTP/1.1" % i, 200, 13,
                     "http://r/" + ua.decode(), ua.decode()))
    # pipelined: every request in one write, the last one closing
    batch = [(b"GET", b"/json", b"", 200, 27), (b"GET", b"/nope", b"", 404, 10),
             (b"HEAD", b"/plaintext", b"", 200, 0),
             (b"POST", b"/echo", b"x" * 300, 200, 300),
             (b"DELETE", b"/json", b"", 405, 19)] * 3
    wire = b""
    for k, (m, p, body, st, n) in enumerate(batch):
        extra = b"Connection: close\r\n" if k == len(batch) - 1 else b""
        wire += request(m, p, extra, body)
        sent.append(("%s %s HTTP/1.1" % (m.decode(), p.decode()), st, n, "-", "-"))
    s.sendall(wire)
    data = zg.recv_until_eof(s)
    s.close()
    assert data.count(b"HTTP/1.1 ") == len(batch), data[:300]
    # a request the plugin refuses itself: 400, on a connection of its own
    s = zg.connect(addr)
    s.sendall(b"GET /a\x01b HTTP/1.1\r\nHost: t\r\n\r\n")
    assert zg.recv_until_eof(s).startswith(b"HTTP/1.1 400 ")
    s.close()
    sent.append(("GET /a\\x01", 400, 12, "-", "-"))
    lines = read_lines(path, len(sent))
    srv.stop()
    assert len(lines) == len(sent), "%d lines for %d requests:\n%s" % (
        len(lines), len(sent), "\n".join(lines))
    now = time.time()
    for line, (req, status, nbytes, ref, ua) in zip(lines, sent):
        f = fields(line)
        assert f["addr"] == "127.0.0.1", line
        assert (f["request"], f["status"], f["bytes"]) == (req, status, nbytes), line
        assert (f["referer"], f["ua"]) == (ref, ua), line
        t = time.mktime(time.strptime(f["time"][:20], "%d/%b/%Y:%H:%M:%S"))
        assert abs(t - now) < 120 or abs(t - now - time.timezone) < 120, line
        assert 0 <= f["secs"] < 10, line


def test_errors_and_late_answers_get_their_line():
    name = log_name("err")
    srv, path = start(name, limits={"max_headers": 4, "max_body_size": 100})
    addr = srv.addr("h")
    cases = [
        (b"\x16\x03\x01\x02\x00\x01\x00", 400, "\\x16"),                # TLS hello
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, "GET / HTTP/2.0"),
        (b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 5 + b"\r\n", 431, "GET / HTTP/1.1"),
        (request(b"POST", b"/echo", body=b"y" * 101), 413, "POST /echo HTTP/1.1"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "GET / HTTP/1.1"),               # no Host
    ]
    for wire, status, _ in cases:
        s = zg.connect(addr)
        s.sendall(wire)
        got = zg.recv_until_eof(s)
        s.close()
        assert got.startswith(b"HTTP/1.1 %d " % status), (wire, got[:80])
    # a handler that answers later (its worker thread, through post)
    s = zg.connect(addr)
    s.sendall(request(b"GET", b"/delay?ms=300", b"User-Agent: slow\r\n")
              + request(b"GET", b"/plaintext", b"Connection: close\r\n"))
    got = zg.recv_until_eof(s)
    s.close()
    assert got.count(b"HTTP/1.1 200 OK") == 2 and b"\r\n\r\ndone" in got, got
    # the client leaves in the middle of its request's body: 499
    s = zg.connect(addr)
    s.sendall(request(b"POST", b"/echo", body=b"z" * 50)[:-40])
    time.sleep(0.2)
    s.close()
    lines = read_lines(path, len(cases) + 3)
    srv.stop()
    assert len(lines) == len(cases) + 3, "\n".join(lines)
    for line, (_, status, req) in zip(lines, cases):
        f = fields(line)
        assert (f["request"], f["status"]) == (req, status), line
    late, after, gone = [fields(x) for x in lines[len(cases):]]
    assert (late["request"], late["status"], late["bytes"], late["ua"]) == \
        ("GET /delay?ms=300 HTTP/1.1", 200, 4, "slow"), late
    assert 0.25 <= late["secs"] < 5, late
    assert (after["request"], after["status"]) == ("GET /plaintext HTTP/1.1", 200), after
    assert (gone["request"], gone["status"], gone["bytes"]) == \
        ("POST /echo HTTP/1.1", 499, 0), gone


def test_hostile_bytes_are_escaped():
    name = log_name("hostile")
    srv, path = start(name)
    addr = srv.addr("h")
    ua = b'x" 200 0 "forged" "y\\ \t\xc3\xa9\xff\x80 end'
    ref = b'http://a/"\\' + bytes(range(0x80, 0x90))
    s = zg.connect(addr)
    s.sendall(request(b"GET", b"/plaintext?q=%22%0a", b"User-Agent: " + ua +
                      b"\r\nReferer: " + ref + b"\r\n"))
    zg.recv_exact(s, 1)
    # a bare LF or a control byte cannot start a forged line: refused
    s2 = zg.connect(addr)
    s2.sendall(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nUser-Agent: a\n"
               b"127.0.0.1 - - [01/Jan/2000:00:00:00 +0000] \"GET /forged\"\r\n\r\n")
    assert zg.recv_until_eof(s2).startswith(b"HTTP/1.1 400 ")
    s2.close()
    lines = read_lines(path, 2)
    s.close()
    srv.stop()
    assert len(lines) == 2, lines
    f = fields(lines[0])
    assert f["request"] == "GET /plaintext?q=%22%0a HTTP/1.1", f
    assert unescape(f["ua"]) == ua and unescape(f["referer"]) == ref, f
    assert '"' not in f["ua"] and all(0x20 <= ord(c) < 0x7f for c in lines[0]), lines[0]
    g = fields(lines[1])
    assert (g["request"], g["status"], g["ua"]) == ("GET /plaintext HTTP/1.1", 400, "-"), g
    assert "forged" not in lines[1]


def test_json_lines_read_back():
    name = log_name("json")
    srv, path = start(name, fmt="json")
    addr = srv.addr("h")
    uas = [b"plain/1.0", b'q"uote\\back\tslash', b"\xc3\xa9t\xe9\xff", b""]
    s = zg.connect(addr)
    wire = b""
    for ua in uas:
        wire += request(b"GET", b"/json", b"User-Agent: " + ua + b"\r\n")
    s.sendall(wire + request(b"GET", b"/nope", b"Referer: r\r\nConnection: close\r\n"))
    zg.recv_until_eof(s)
    s.close()
    lines = read_lines(path, len(uas) + 1)
    srv.stop()
    assert len(lines) == len(uas) + 1, lines
    keys = {"remote_addr", "time_local", "request", "status", "body_bytes_sent",
            "http_referer", "http_user_agent", "request_time"}
    for line, ua in zip(lines, uas):
        rec = json.loads(line)
        assert set(rec) == keys, rec
        # every byte comes back: bytes above 0x7e as the code point of
        # the same value
        assert rec["http_user_agent"].encode("latin-1") == ua, (rec, ua)
        assert (rec["remote_addr"], rec["request"], rec["status"],
                rec["body_bytes_sent"], rec["http_referer"]) == \
            ("127.0.0.1", "GET /json HTTP/1.1", 200, 27, ""), rec
        assert isinstance(rec["request_time"], float), rec
    last = json.loads(lines[-1])
    assert (last["status"], last["http_referer"], last["http_user_agent"]) == \
        (404, "r", ""), last


def test_real_client_after_proxy_header_and_stderr():
    srv = zg.start(config("stderr", modules=[{"module": "proxy_protocol",
                                              "config": {}}]))
    s = zg.connect(srv.addr("h"))
    s.sendall(b"PROXY TCP4 192.0.2.77 198.51.100.1 40404 80\r\n" +
              request(b"GET", b"/plaintext", b"Connection: close\r\n"))
    assert zg.recv_until_eof(s).startswith(b"HTTP/1.1 200 OK")
    s.close()
    deadline = time.monotonic() + 5
    while "GET /plaintext" not in srv.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    srv.stop()
    lines = [ln for ln in srv.stderr_text().splitlines() if COMBINED.match(ln)]
    assert len(lines) == 1, srv.stderr_text()
    assert fields(lines[0])["addr"] == "192.0.2.77", lines


def test_usr1_after_rename_loses_nothing():
    name = log_name("rot")
    srv, path = start(name, reactors=2)
    addr = srv.addr("h")
    done = threading.Event()
    counts, errors = [], []

    def client(k):
        n = 0
        try:
            s = zg.connect(addr)
            while not done.is_set():
                # two pipelined requests per write, on a keep-alive
                # connection
                s.sendall(request(b"GET", b"/plaintext?c=%d" % k) * 2)
                got = b""
                while got.count(b"Hello, World!") < 2:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise OSError("EOF")
                    got += chunk
                n += 2
            s.close()
        except OSError as e:
            errors.append(str(e))
        counts.append(n)

    ts = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    rotated = []
    for k in range(3):
        time.sleep(0.3)
        old = "%s.%d" % (path, k + 1)
        os.rename(path, old)
        rotated.append(old)
        srv.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    done.set()
    for t in ts:
        t.join(30)
    total = sum(counts)
    srv.stop(sig=signal.SIGQUIT, timeout=15, expect=0)  # flushes every buffer
    assert not errors, errors[:5]
    assert total > 100, "only %d requests in the run" % total
    seen = 0
    for p in rotated + [path]:
        with open(p, "rb") as f:
            data = f.read()
        assert data == b"" or data.endswith(b"\n"), "%s ends in a torn line" % p
        for ln in data.decode().splitlines():
            f = fields(ln)
            assert f["status"] == 200 and f["request"].startswith("GET /plaintext?c="), ln
            seen += 1
    assert seen == total, "%d lines for %d requests" % (seen, total)
    with open(path) as f:
        assert f.read(), "nothing reached the file opened at the last USR1"


def test_bad_access_log_config():
    for cfg, want in [
        ({"path": ""}, "access_log.path: must not be empty"),
        ({"path": "a.log", "format": "common"},
         'access_log.format: "common" is not one of "combined", "json"'),
        ({"path": "a.log", "buffer": 100}, "access_log.buffer: 100 is out of range"),
        ({"path": "a.log", "flush": 1}, 'unknown key (did you mean "flush_ms"?)'),
        ({"path": "/nonexistent-dir/a.log"},
         "access_log: cannot open /nonexistent-dir/a.log"),
        ("a.log", "access_log: expected an object, got string"),
    ]:
        c = zg.echo_config(name="h", plugin="http",
                           listener_extra={"config": {"access_log": cfg}})
        r = zg.run_zerg(["-t", "-c", zg.write_config(c)])
        assert r.returncode == 1 and want in r.stderr, (cfg, r.stderr)
    # "off" (the default) writes nothing and opens nothing
    c = zg.echo_config(name="h", plugin="http",
                       listener_extra={"config": {"access_log": {"path": "off"}}})
    path = zg.write_config(c)
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(os.path.dirname(path), "off"))


if __name__ == "__main__":
    zg.run_tests(globals())
