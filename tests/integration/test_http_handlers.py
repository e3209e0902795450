#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: application handlers of the http plugin on the real zerg
# binary: the arena endpoints (GET, POST with Content-Length, POST
# chunked) for random values, each request cut into fragments sent 30 ms
# apart, pipelined mixes; the async handler's delays on many connections
# at once, in order per connection, with clients that vanish while their
# response is pending, timeouts and stops; prefix routing; what a handler
# sees of a request (fixture tests/plugins/hx_dump.c); refusals of bad
# handlers and configs; zerg -T.
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402
from test_http import Reader, http_config  # noqa: E402

ARENA = [{"path": "/baseline11", "handler": "arena"},
         {"path": "/pipeline", "handler": "arena"}]
ASYNC = [{"path": "/delay", "handler": "async"}]


def start(routes, reactors=1, **listener):
    return zg.start(http_config({"routes": routes}, reactors=reactors, **listener))


def req_get(path, extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


def req_post(path, body, chunked=False, rnd=None):
    head = b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n"
    if not chunked:
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    out = head + b"Transfer-Encoding: chunked\r\n\r\n"
    i = 0
    while i < len(body):
        n = rnd.randint(1, max(1, len(body) - i)) if rnd else len(body) - i
        out += b"%x\r\n" % n + body[i:i + n] + b"\r\n"
        i += n
    return out + b"0\r\n\r\n"


def arena_case(rnd):
    """One random arena request and the body its answer must have."""
    a = rnd.choice([rnd.randint(-10 ** 6, 10 ** 6), rnd.randint(-2 ** 40, 2 ** 40), 0])
    b = rnd.randint(-999, 999)
    path = "/baseline11?a=%d&b=%d" % (a, b)
    shape = rnd.choice(["get", "post", "chunked"])
    if shape == "get":
        return req_get(path), b"%d" % (a + b)
    body = rnd.randint(-10 ** 9, 10 ** 9)
    return req_post(path, b"%d" % body, shape == "chunked", rnd), b"%d" % (a + b + body)


def check_ok(resp, want):
    status, headers, body = resp
    assert status == 200, resp
    assert headers["content-type"] == ["text/plain"], headers
    assert body == want, (body, want)


def cuts(data, rnd, pieces):
    """data in up to `pieces` fragments at random places."""
    at = sorted(rnd.sample(range(1, len(data)), min(pieces - 1, len(data) - 1)))
    return [data[i:j] for i, j in zip([0] + at, at + [len(data)])]


# --------------------------------------------------------------------------
# arena

def test_arena_random_values_in_fragments():
    rnd = random.Random(1234)
    srv = start(ARENA)
    s = zg.connect(srv.addr("h"))
    rd = Reader(s)
    for _ in range(36):
        data, want = arena_case(rnd)
        # Each request in fragments 30 ms apart: head and body arrive over
        # several calls, split anywhere.
        for frag in cuts(data, rnd, rnd.randint(2, 4)):
            s.sendall(frag)
            time.sleep(0.03)
        check_ok(rd.response(), want)
    s.sendall(req_get("/pipeline"))
    check_ok(rd.response(), b"ok")
    s.close()
    srv.stop()


def test_arena_pipelined_mixes():
    rnd = random.Random(99)
    srv = start(ARENA)
    for trial in range(4):
        cases = [arena_case(rnd) if rnd.random() < 0.8 else (req_get("/pipeline"), b"ok")
                 for _ in range(150)]
        stream = b"".join(c[0] for c in cases)
        s = zg.connect(srv.addr("h"))
        rd = Reader(s)
        if trial % 2 == 0:
            s.sendall(stream)  # all at once
        else:
            for frag in cuts(stream, rnd, 40):
                s.sendall(frag)
        for _, want in cases:
            check_ok(rd.response(), want)
        s.close()
    srv.stop()


def test_arena_errors_head_expect():
    srv = start(ARENA)
    s = zg.connect(srv.addr("h"))
    rd = Reader(s)
    for path, body in (("/baseline11?a=x&b=1", None), ("/baseline11?a=1.5", None),
                       ("/baseline11?a=", None), ("/baseline11?a=99999999999999999999", None),
                       ("/baseline11?a=9223372036854775807&b=1", None),
                       ("/baseline11?a=1", b"abc"), ("/baseline11?a=1", b"")):
        s.sendall(req_get(path) if body is None else req_post(path, body))
        status, headers, got = rd.response()
        assert status == 400 and got == b"bad number\n", (path, body, status, got)
    # many parameters, white space around a POST body
    s.sendall(req_get("/baseline11?a=1&b=2&c=3&d=-4"))
    check_ok(rd.response(), b"2")
    s.sendall(req_post("/baseline11?a=1", b" 41\r\n"))
    check_ok(rd.response(), b"42")
    s.sendall(b"PUT /baseline11 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    status, headers, _ = rd.response()
    assert status == 405 and headers["allow"] == ["GET, HEAD, POST"], headers
    s.sendall(b"HEAD /baseline11?a=10&b=5 HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers, body = rd.response(head=True)
    assert status == 200 and headers["content-length"] == ["2"] and body == b"", headers
    s.sendall(b"POST /baseline11?a=1 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
              b"Content-Length: 1\r\n\r\n")
    assert rd.response()[0] == 100
    s.sendall(b"7")
    check_ok(rd.response(), b"8")
    s.sendall(req_get("/nope"))
    assert rd.response()[0] == 404
    s.close()
    srv.stop()


def test_prefix_routes_longest_wins():
    routes = [{"path": "/", "match": "prefix", "handler": "arena"},
              {"path": "/st/", "match": "prefix", "body": "S"},
              {"path": "/st/", "body": "exact"},
              {"path": "/st/deeper/", "match": "prefix", "body": "D"},
              {"path": "/dump/", "match": "prefix", "handler": zg.fixture("hx_dump")}]
    srv = start(routes)
    s = zg.connect(srv.addr("h"))
    rd = Reader(s)
    for path, status, body in (("/baseline11?a=1&b=1", 200, b"2"), ("/pipeline", 200, b"ok"),
                               ("/st/", 200, b"exact"), ("/st/x", 200, b"S"),
                               ("/st/deeper/y?q", 200, b"D"), ("/st/deeper", 200, b"S"),
                               ("/st", 404, b"Not Found\n"), ("/other", 404, b"Not Found\n"),
                               ("/plaintext", 200, b"Hello, World!")):
        s.sendall(req_get(path))
        got = rd.response()
        assert (got[0], got[2]) == (status, body), (path, got)
    s.sendall(req_get("/dump/a/b?x=1"))
    status, _, body = rd.response()
    assert status == 200 and b"route=/dump/\nrest=a/b\n" in body, body
    s.close()
    srv.stop()
    # Without a catch-all, an unrouted path is the plugin's own 404.
    srv = start(ARENA)
    s = zg.connect(srv.addr("h"))
    s.sendall(req_get("/baseline11x"))
    status, headers, body = Reader(s).response()
    assert status == 404 and body == b"Not Found\n", body
    s.close()
    srv.stop()


# --------------------------------------------------------------------------
# what a handler sees

def test_request_fields_and_body():
    routes = [{"path": "/d", "handler": zg.fixture("hx_dump"), "methods": ["GET", "POST"]},
              {"path": "/fail", "handler": zg.fixture("hx_dump")},
              {"path": "/later", "handler": zg.fixture("hx_dump")},
              {"path": "/fields", "handler": zg.fixture("hx_dump")},
              {"path": "/big", "handler": zg.fixture("hx_dump")},
              {"path": "/small", "handler": zg.fixture("hx_dump"), "max_body_size": 10}]
    srv = start(routes)
    s = zg.connect(srv.addr("h"))
    rd = Reader(s)
    s.sendall(b"GET http://example.com/d?a=1&b&=3&c=%41 HTTP/1.1\r\nHost: example.com\r\n"
              b"X-Test:  spaced value \r\nx-test: second\r\nAccept: */*\r\n\r\n")
    status, _, body = rd.response()
    text = body.decode()
    assert status == 200, body
    for line in ("method=GET", "target=http://example.com/d?a=1&b&=3&c=%41", "path=/d",
                 "query=a=1&b&=3&c=%41", "route=/d", "rest=", "keep=1", "minor=1",
                 "q a=1", "q b=", "q =3", "q c=%41", "x-test=spaced value",
                 "h Host: example.com", "h X-Test: spaced value", "h x-test: second",
                 "h Accept: */*", "body=0 0"):
        assert line + "\n" in text, (line, text)
    # a body in one piece (read in place) and one that spans calls (copied),
    # Content-Length and chunked: the handler sees the same bytes
    payload = random.Random(5).randbytes(300000)
    csum = 0
    for c in payload:
        csum = (csum * 31 + c) & 0xffffffff
    for data in (req_post("/d", payload), req_post("/d", payload, True, random.Random(6))):
        sender = zg.Sender(s, data)
        sender.start()
        status, _, body = rd.response()
        sender.finish()
        assert status == 200 and ("body=%d %d\n" % (len(payload), csum)).encode() in body, body
    s.sendall(req_post("/d", b"hello"))
    assert b"body_text=hello\n" in rd.response()[2]
    # the handler failed: 500, nothing of what it built
    s.sendall(req_get("/fail"))
    status, _, body = rd.response()
    assert status == 500 and b"never" not in body, body
    # answered through a post to its own reactor
    s.sendall(req_get("/later") + req_get("/d"))
    assert rd.response()[2] == b"later open\n"
    assert rd.response()[0] == 200
    # fields the plugin owns are refused; finish() inside handle()
    s.sendall(req_get("/fields"))
    status, headers, body = rd.response()
    assert status == 201 and headers["x-fixture"] == ["a b"], headers
    assert body == b"cl=-1 server=-1 space=-22 crlf=-22 status=-22 ok=0\n", body
    assert headers["server"] == ["zerg"] and headers["content-length"] == [str(len(body))]
    # a large answer built with reserve/commit
    s.sendall(req_get("/big?n=1000000"))
    status, _, body = rd.response()
    want = bytes(97 + (1000000 - i) % 26 for i in range(4096))
    assert status == 200 and len(body) == 1000000 and body[:4096] == want, body[:10]
    # the route's own body limit
    s.sendall(req_post("/small", b"0123456789"))
    assert rd.response()[0] == 200
    s.sendall(req_post("/small", b"0123456789A"))
    assert rd.response()[0] == 413
    s.close()
    s = zg.connect(srv.addr("h"))
    s.sendall(req_post("/small", b"0123456789A", True))
    assert Reader(s).response()[0] == 413
    s.close()
    srv.stop()


# --------------------------------------------------------------------------
# async

def read_all(socks, n_each, timeout=20.0):
    """Read n_each responses from every socket, concurrently (threads)."""
    out = [None] * len(socks)
    errs = []

    def run(i):
        try:
            rd = Reader(socks[i], timeout)
            out[i] = [rd.response() for _ in range(n_each)]
        except BaseException as e:  # reported below
            errs.append((i, e))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(socks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    assert not errs, errs[:3]
    return out


@zg.time_limit(60)
def test_async_many_connections_in_order():
    srv = start(ARENA + ASYNC)
    socks = [zg.connect(srv.addr("h")) for _ in range(100)]
    t0 = time.monotonic()
    # Each connection: a 400 ms delay, a quick request behind it, then a
    # 100 ms delay: responses in order, the quick one after the first.
    for s in socks:
        s.sendall(req_get("/delay?ms=400") + req_get("/pipeline") + req_get("/delay?ms=100"))
    # Meanwhile the reactor answers others at once.
    q = zg.connect(srv.addr("h"))
    t1 = time.monotonic()
    q.sendall(req_get("/baseline11?a=2&b=3"))
    check_ok(Reader(q).response(), b"5")
    quick = time.monotonic() - t1
    got = read_all(socks, 3)
    elapsed = time.monotonic() - t0
    for resps in got:
        assert [r[2] for r in resps] == [b"done", b"ok", b"done"], resps
    assert quick < 0.25, "a quick request took %.3fs behind 100 pending ones" % quick
    # 100 x (400 + 100) ms one after the other would be 50 s.
    assert 0.45 <= elapsed < 3.0, elapsed
    for s in socks + [q]:
        s.close()
    # 100 delays of 500 ms on one reactor end together.
    socks = [zg.connect(srv.addr("h")) for _ in range(100)]
    t0 = time.monotonic()
    for s in socks:
        s.sendall(req_get("/delay?ms=500"))
    got = read_all(socks, 1)
    elapsed = time.monotonic() - t0
    assert all(r[0][2] == b"done" for r in got)
    assert 0.48 <= elapsed < 2.0, elapsed
    for s in socks:
        s.close()
    srv.stop()


def test_async_errors():
    srv = start(ASYNC + [{"path": "/small", "handler": "async",
                          "config": {"max_ms": 50, "max_pending": 2}}])
    s = zg.connect(srv.addr("h"))
    rd = Reader(s)
    for path in ("/delay", "/delay?ms=x", "/delay?ms=-1", "/delay?ms=10001", "/small?ms=51"):
        s.sendall(req_get(path))
        assert rd.response()[0] == 400, path
    s.sendall(req_get("/small?ms=0"))
    assert rd.response()[2] == b"done"
    # max_pending: two wait, a third is refused at once (its own
    # connection: a pending response holds the rest of its connection)
    c = [zg.connect(srv.addr("h")) for _ in range(3)]
    c[0].sendall(req_get("/small?ms=50"))
    c[1].sendall(req_get("/small?ms=50"))
    time.sleep(0.01)
    c[2].sendall(req_get("/small?ms=50"))
    codes = sorted(Reader(x).response()[0] for x in c)
    assert codes == [200, 200, 503] or codes == [200, 200, 200], codes
    for x in c + [s]:
        x.close()
    srv.stop()


@zg.time_limit(60)
def test_async_clients_vanish_while_pending():
    srv = start(ARENA + ASYNC)
    addr = srv.addr("h")
    # FIN with the request (a half-close): the answer still comes.
    s = zg.connect(addr)
    s.sendall(req_get("/delay?ms=100"))
    s.shutdown(socket.SHUT_WR)
    assert Reader(s).response()[2] == b"done"
    zg.expect_eof(s)
    s.close()
    # Pipelined requests and a FIN behind a pending one: all answered.
    s = zg.connect(addr)
    s.sendall(req_get("/delay?ms=100") + req_get("/pipeline") + req_get("/delay?ms=50"))
    s.shutdown(socket.SHUT_WR)
    rd = Reader(s)
    assert [rd.response()[2] for _ in range(3)] == [b"done", b"ok", b"done"]
    zg.expect_eof(s)
    s.close()
    # Clients that close or reset while their answer is pending, many at
    # once, some with more requests queued behind it.
    for i in range(60):
        s = zg.connect(addr)
        extra = req_get("/pipeline") * (i % 3)
        s.sendall(req_get("/delay?ms=%d" % (50 + i % 100)) + extra)
        if i % 2:
            zg.rst_close(s)
        else:
            s.close()
    time.sleep(0.4)
    # The server still serves, at once.
    s = zg.connect(addr)
    s.sendall(req_get("/baseline11?a=1&b=1"))
    check_ok(Reader(s).response(), b"2")
    s.close()
    srv.stop()


@zg.time_limit(60)
def test_async_connection_gone_before_answer():
    # The listener's idle timeout ends a connection whose answer is still
    # pending: the handler's finish() later only frees the response.
    srv = start(ARENA + ASYNC, idle_timeout_ms=200)
    socks = [zg.connect(srv.addr("h")) for _ in range(20)]
    for s in socks:
        s.sendall(req_get("/delay?ms=1500"))
    for s in socks:
        zg.expect_eof(s, timeout=5)
        s.close()
    time.sleep(1.6)  # the answers come due after their connections left
    s = zg.connect(srv.addr("h"))
    s.sendall(req_get("/delay?ms=10"))
    assert Reader(s).response()[2] == b"done"
    s.close()
    srv.stop()


@zg.time_limit(60)
def test_async_stops_with_pending_answers():
    # Fast stop: pending answers are dropped, every response freed once
    # (a sanitizer build reports any leak or double free).
    srv = start(ASYNC)
    socks = [zg.connect(srv.addr("h")) for _ in range(30)]
    for s in socks:
        s.sendall(req_get("/delay?ms=5000"))
    time.sleep(0.2)
    srv.stop(max_seconds=4)
    for s in socks:
        s.close()
    # Graceful stop: a pending answer is still sent, with Connection:
    # close, then zerg exits.
    srv = start(ASYNC)
    s = zg.connect(srv.addr("h"))
    s.sendall(req_get("/delay?ms=300"))
    time.sleep(0.1)
    srv.send_signal(signal.SIGQUIT)
    status, headers, body = Reader(s).response()
    assert body == b"done" and headers.get("connection") == ["close"], headers
    zg.expect_eof(s)
    s.close()
    assert srv.wait(10) == 0
    srv.stop(expect=None)


@zg.time_limit(60)
def test_async_two_reactors():
    srv = start(ARENA + ASYNC, reactors=2)
    socks = [zg.connect(srv.addr("h")) for _ in range(40)]
    for s in socks:
        s.sendall(req_get("/delay?ms=200") + req_get("/pipeline"))
    got = read_all(socks, 2)
    assert all([r[2] for r in g] == [b"done", b"ok"] for g in got)
    for s in socks:
        s.close()
    srv.stop()


# --------------------------------------------------------------------------
# configuration

def _refused(routes, *want):
    path = zg.write_config(http_config({"routes": routes}), tag="refused")
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode == 1, (r.stdout, r.stderr)
    for w in want:
        assert w in r.stderr, "want %r in:\n%s" % (w, r.stderr)
    return r.stderr


def test_bad_handlers_refused():
    _refused([{"path": "/a", "handler": "nosuch"}],
             'routes[0].handler: "nosuch": not found (searched: ',
             "handlers/nosuch/nosuch.so")
    _refused([{"path": "/a", "handler": "rel/x.so"}], "routes[0].handler: expected a handler name")
    echo_so = os.path.join(zg.ROOT, "plugins", "echo", "echo.so")
    _refused([{"path": "/a", "handler": echo_so}],
             "no symbol zg_http_handler_entry_v1 (need a zerg HTTP handler")
    _refused([{"path": "/a", "handler": zg.fixture("hx_minor99")}],
             "needs handler ABI minor 99 (the http plugin has 1.0)")
    _refused([{"path": "/a", "handler": "arena", "type": "echo"}],
             "a handler route has no \"type\"")
    _refused([{"path": "/a", "handler": "arena", "body": "x"}], "takes no \"body\"")
    _refused([{"path": "/a", "body": "x", "config": {}}],
             "config: only a route with a \"handler\"")
    # the handler's own keys, with the server's messages and positions
    err = _refused([{"path": "/a", "handler": "async", "config": {"max_msec": 5}}],
                   "listeners[0].config.routes[0].config.max_msec: unknown key "
                   "(did you mean \"max_ms\"?)")
    assert re.search(r"\.json:\d+:\d+: listeners\[0\]\.config\.routes\[0\]"
                     r"\.config\.max_msec", err), err
    _refused([{"path": "/a", "handler": "async", "config": {"max_ms": "5 s"}}],
             "routes[0].config.max_ms: \"5 s\" is not a duration")
    _refused([{"path": "/a", "handler": "arena", "config": {"x": 1}}],
             "routes[0].config.x: unknown key")
    _refused([{"path": "/a", "handler": "arena"}, {"path": "/a", "handler": "arena"}],
             "routes[1].path: \"/a\" is already routes[0].path")


def test_T_shows_routes_and_handler_config():
    cfg = http_config({"routes": ARENA + [
        {"path": "/delay", "handler": "async", "config": {"max_ms": "2s"}},
        {"path": "/api/", "match": "prefix", "handler": "arena", "methods": ["GET"]}]})
    path = zg.write_config(cfg, tag="dump")
    r = zg.run_zerg(["-T", "-c", path])
    assert r.returncode == 0, r.stderr
    routes = json.loads(r.stdout)["listeners"][0]["config"]["routes"]
    by = {x["path"]: x for x in routes}
    assert by["/delay"]["handler"] == "async"
    assert by["/delay"]["config"] == {"max_ms": 2000, "max_pending": 65536}, by["/delay"]
    assert by["/api/"]["match"] == "prefix" and by["/api/"]["methods"] == ["GET"]
    assert by["/baseline11"]["match"] == "exact" and by["/baseline11"]["config"] == {}
    assert "handler async 1.0.0" in r.stderr and "handlers/async/async.so" in r.stderr


if __name__ == "__main__":
    zg.run_tests(globals())
