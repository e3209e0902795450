#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: end-to-end tests of the http plugin on the real zerg binary:
# curl for the ordinary requests, raw sockets for every malformed and
# smuggling case (status and close checked), a pipelined burst, keep-alive
# rules, limits, and short wrk runs with zero errors.
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

ECHO_ROUTES = [{"path": "/echo", "type": "echo"},
               {"path": "/stream", "type": "echo", "buffering": False}]


def http_config(config=None, reactors=1, **listener):
    """A config with one http listener named "h"."""
    extra = {"config": config if config is not None else {"routes": ECHO_ROUTES}}
    extra.update(listener)
    return zg.echo_config(reactors=reactors, name="h", plugin="http", listener_extra=extra)


def start(config=None, **kw):
    return zg.start(http_config(config, **kw))


class Reader:
    """Reads HTTP/1.1 responses from a socket, keeping what is left over
    (pipelining)."""

    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.buf = bytearray()
        self.timeout = timeout
        self.eof = False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no complete response within %.0fs; have %r"
                                 % (self.timeout, bytes(self.buf[:200])))
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise AssertionError("no complete response within %.0fs; have %r"
                                 % (self.timeout, bytes(self.buf[:200])))
        except ConnectionResetError:
            raise AssertionError("connection reset; have %r" % bytes(self.buf[:200]))
        if not data:
            self.eof = True
            raise AssertionError("EOF before a complete response; have %r"
                                 % bytes(self.buf[:200]))
        self.buf += data

    def _line(self, deadline):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill(deadline)

    def _exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def response(self, head=False):
        """(status, {lower-case name: [values]}, body). 1xx responses are
        returned like any other."""
        deadline = time.monotonic() + self.timeout
        status_line = self._line(deadline)
        m = re.match(rb"^HTTP/1\.1 (\d{3}) ", status_line)
        assert m, "bad status line %r" % status_line
        status = int(m.group(1))
        headers = {}
        while True:
            line = self._line(deadline)
            if not line:
                break
            name, _, value = line.partition(b":")
            headers.setdefault(name.decode().lower(), []).append(value.strip().decode())
        body = b""
        if head or status in (100, 204, 304):
            return status, headers, body
        if "transfer-encoding" in headers:
            assert headers["transfer-encoding"] == ["chunked"], headers
            while True:
                size = int(self._line(deadline).split(b";")[0], 16)
                if size == 0:
                    while self._line(deadline):
                        pass
                    break
                body += self._exact(size, deadline)
                assert self._exact(2, deadline) == b"\r\n"
        else:
            assert "content-length" in headers, "no Content-Length: %r" % headers
            body = self._exact(int(headers["content-length"][0]), deadline)
        return status, headers, body


def expect_closed(sock, timeout=5.0):
    """The server closed (EOF, no more bytes)."""
    zg.expect_eof(sock, timeout)


def check_common(status, headers):
    assert headers.get("server") == ["zerg"], headers
    assert len(headers.get("date", [])) == 1, headers
    assert re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|"
                    r"Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$",
                    headers["date"][0]), headers["date"]


def curl(*args, data=None, timeout=20):
    if shutil.which("curl") is None:
        raise zg.Skip("curl not installed")
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "-", "-D", "/dev/stderr"]
                       + list(args), input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    assert p.returncode == 0, "curl %s failed (%d): %s" % (
        " ".join(args), p.returncode, p.stderr.decode(errors="replace"))
    return p.stderr.decode(errors="replace"), p.stdout


def url(srv, path):
    host, port = srv.addr("h")
    return "http://%s:%d%s" % (host, port, path)


# --------------------------------------------------------------------------

def test_curl_get_head_post_chunked():
    srv = start()
    head, body = curl(url(srv, "/plaintext"))
    assert body == b"Hello, World!", body
    assert head.startswith("HTTP/1.1 200 OK\r\n"), head
    assert "Content-Type: text/plain\r\n" in head and "Content-Length: 13\r\n" in head, head
    assert "Server: zerg\r\n" in head and "Date: " in head, head
    head, body = curl(url(srv, "/json"))
    assert body == b'{"message":"Hello, World!"}', body
    assert "Content-Type: application/json\r\n" in head, head
    head, _ = curl("-I", url(srv, "/plaintext"))
    assert head.startswith("HTTP/1.1 200 OK\r\n") and "Content-Length: 13\r\n" in head, head
    head, body = curl("-X", "POST", "--data-binary", "@-", url(srv, "/echo"),
                      data=b"posted \x00 bytes")
    assert body == b"posted \x00 bytes", body
    assert "Content-Length: 14\r\n" in head, head
    payload = os.urandom(200000)
    head, body = curl("-X", "POST", "-H", "Transfer-Encoding: chunked",
                      "--data-binary", "@-", url(srv, "/echo"), data=payload)
    assert body == payload, "chunked echo: %d bytes back of %d" % (len(body), len(payload))
    # buffered by default: the decoded body's length is known
    assert "Content-Length: 200000\r\n" in head, head
    head, body = curl("-X", "POST", "-H", "Transfer-Encoding: chunked",
                      "--data-binary", "@-", url(srv, "/stream"), data=payload)
    assert body == payload, "streamed echo: %d bytes back of %d" % (len(body), len(payload))
    assert "Transfer-Encoding: chunked\r\n" in head, head
    head, body = curl("-H", "Expect: 100-continue", "--data-binary", "@-",
                      url(srv, "/echo"), data=b"x" * 5000)
    assert body == b"x" * 5000 and "HTTP/1.1 100 Continue" in head, head
    head, body = curl(url(srv, "/missing"))
    assert head.startswith("HTTP/1.1 404 Not Found\r\n"), head
    head, body = curl("-X", "DELETE", url(srv, "/json"))
    assert head.startswith("HTTP/1.1 405 ") and "Allow: GET, HEAD, OPTIONS\r\n" in head, head
    head, body = curl("-X", "OPTIONS", url(srv, "/json"))
    assert head.startswith("HTTP/1.1 204 No Content\r\n"), head
    assert "Allow: GET, HEAD, OPTIONS\r\n" in head and "Content-Length" not in head, head
    head, body = curl("--http1.0", url(srv, "/plaintext"))
    assert body == b"Hello, World!" and "Connection: close\r\n" in head, head
    srv.stop()


MALFORMED = [
    # (name, request bytes, status)
    ("CL and TE", b"POST /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE and CL", b"POST /plaintext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("duplicate CL", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
     b"Content-Length: 3\r\n\r\nabc", 400),
    ("conflicting CL", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
     b"Content-Length: 4\r\n\r\nabcd", 400),
    ("CL list", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    ("CL sign", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("CL hex", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 400),
    ("CL overflow", b"POST /echo HTTP/1.1\r\nHost: a\r\n"
     b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    ("TE gzip", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("TE chunked not final", b"POST /echo HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    ("TE gzip, chunked", b"POST /echo HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("TE chunked twice", b"POST /echo HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE in 1.0", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("chunk size sign", b"POST /plaintext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
     b"\r\n\r\n+3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk size underscore", b"POST /plaintext HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n1_0\r\n0123456789abcdef\r\n0\r\n\r\n", 400),
    ("chunk size overflow", b"POST /plaintext HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n100000000000000003\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk missing CRLF", b"POST /plaintext HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcGET / HTTP/1.1\r\n\r\n", 400),
    ("chunk bare LF", b"POST /plaintext HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
    ("echo bad chunk", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
     b"\r\n\r\n3\r\nabc\r\nzz\r\n0\r\n\r\n", 400),
    ("echo chunk size overflow", b"POST /echo HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n100000000000000003\r\nabc\r\n"
     b"0\r\n\r\n", 400),
    ("echo chunk missing CRLF", b"POST /echo HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", 400),
    ("echo chunked too large", b"POST /echo HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n100001\r\n" + b"x" * 0x100001 + b"\r\n0\r\n\r\n",
     413),
    ("obs-fold", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", 400),
    ("space before colon", b"GET /plaintext HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("bare CR", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n", 400),
    ("bare LF", b"GET /plaintext HTTP/1.1\nHost: a\n\n", 400),
    ("NUL in value", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX: 1\x002\r\n\r\n", 400),
    ("control in method", b"G\x01T /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bad method token", b"GE[T /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("control in target", b"GET /plain\x7ftext HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bad target char", b"GET /a<b> HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bad field name", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n\r\n", 400),
    ("no Host in 1.1", b"GET /plaintext HTTP/1.1\r\n\r\n", 400),
    ("two Host", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("empty Host", b"GET /plaintext HTTP/1.1\r\nHost: \r\n\r\n", 400),
    ("CL leading zeros", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\n"
     b"hello", 400),
    ("two Content-Type", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
     b"Content-Type: a/b\r\nContent-Type: a/c\r\n\r\nx", 400),
    ("encoded NUL", b"GET /plaintext%00.html HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("encoded CRLF", b"GET /p%0d%0aX:%20y HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("method too long", b"A" * 100000 + b" / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("asterisk with GET", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("authority-form with GET", b"GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("userinfo", b"GET http://u:p@a/plaintext HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 501),
    ("HTTP/2.0", b"GET /plaintext HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("HTTP/0.9 style", b"GET /plaintext\r\n\r\n", 400),
    ("Expect other", b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: x\r\n"
     b"Content-Length: 1\r\n\r\nx", 417),
    ("body too large", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413),
    ("line too long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    ("header too large", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 40000
     + b"\r\n\r\n", 431),
    ("too many fields", b"GET /plaintext HTTP/1.1\r\nHost: a\r\n"
     + b"".join(b"X-%d: v\r\n" % i for i in range(150)) + b"\r\n", 431),
]


def test_malformed_and_smuggling():
    srv = start()
    addr = srv.addr("h")
    for name, req, status in MALFORMED:
        s = zg.connect(addr)
        # A valid request first: it must be answered, and the connection
        # must survive up to the bad one.
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n" + req)
        r = Reader(s)
        st, hd, body = r.response()
        assert st == 200 and body == b"Hello, World!", (name, st, body)
        st, hd, body = r.response()
        assert st == status, "%s: status %d, expected %d (%r)" % (name, st, status, body)
        check_common(st, hd)
        assert hd.get("connection") == ["close"], (name, hd)
        assert body.endswith(b"\n") and len(body) > 1, (name, body)
        assert not r.buf, "%s: extra bytes after the error: %r" % (name, bytes(r.buf[:80]))
        expect_closed(s)
        s.close()
    # the server is fine afterwards
    _, body = curl(url(srv, "/plaintext"))
    assert body == b"Hello, World!"
    srv.stop()


def test_smuggled_request_never_answered():
    """The bytes after a rejected request are never taken for a request."""
    srv = start()
    s = zg.connect(srv.addr("h"))
    s.sendall(b"POST /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
              b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n")
    rest = zg.recv_until_eof(s)
    assert rest.startswith(b"HTTP/1.1 400 "), rest[:60]
    assert rest.count(b"HTTP/1.1") == 1 and b"Hello" not in rest, rest
    s.close()
    srv.stop()


def test_echo_commits_status_after_body():
    """A buffered echo says nothing before the body is whole; a short or
    unterminated body gets no 200. A streaming route commits at once and
    can only cut a bad body short."""
    srv = start()
    addr = srv.addr("h")
    for req in (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
                b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n"):
        s = zg.connect(addr)
        s.sendall(req)
        s.shutdown(socket.SHUT_WR)
        rest = zg.recv_until_eof(s)
        assert b"200" not in rest, (req, rest)
        s.close()
    s = zg.connect(addr)
    s.sendall(b"POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\nabc\r\nzz\r\n")
    rest = zg.recv_until_eof(s)
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n"), rest
    assert rest.endswith(b"\r\n\r\n3\r\nabc\r\n"), rest  # cut short, no final chunk
    s.close()
    srv.stop()


def test_pipelined_burst_of_100():
    srv = start()
    s = zg.connect(srv.addr("h"))
    reqs, expect = [], []
    for i in range(100):
        if i % 3 == 0:
            body = b"request-%03d" % i
            reqs.append(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(body), body))
            expect.append((200, body))
        elif i % 3 == 1:
            reqs.append(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
            expect.append((200, b"Hello, World!"))
        else:
            reqs.append(b"GET /nothing-%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
            expect.append((404, b"Not Found\n"))
    s.sendall(b"".join(reqs))
    r = Reader(s)
    for i, (st, body) in enumerate(expect):
        got_st, hd, got = r.response()
        assert (got_st, got) == (st, body), "response %d: %d %r, expected %d %r" % (
            i, got_st, got, st, body)
    # still open, still serving
    s.sendall(b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n")
    assert r.response()[2] == b'{"message":"Hello, World!"}'
    s.close()
    srv.stop()


def test_keepalive_rules():
    srv = start()
    addr = srv.addr("h")
    # HTTP/1.0: close by default
    s = zg.connect(addr)
    s.sendall(b"GET /plaintext HTTP/1.0\r\n\r\n")
    r = Reader(s)
    st, hd, body = r.response()
    assert st == 200 and hd.get("connection") == ["close"], hd
    expect_closed(s)
    s.close()
    # HTTP/1.0 with keep-alive: stays open, says so
    s = zg.connect(addr)
    r = Reader(s)
    for _ in range(3):
        s.sendall(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        st, hd, body = r.response()
        assert st == 200 and hd.get("connection") == ["keep-alive"], hd
    s.close()
    # HTTP/1.1: open by default, no Connection header
    s = zg.connect(addr)
    r = Reader(s)
    for _ in range(3):
        s.sendall(b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n")
        st, hd, body = r.response()
        assert st == 200 and "connection" not in hd, hd
    # ... until Connection: close
    s.sendall(b"GET /json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
              b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n")
    st, hd, body = r.response()
    assert st == 200 and hd.get("connection") == ["close"], hd
    assert not r.buf
    expect_closed(s)
    s.close()
    srv.stop()


def test_byte_at_a_time():
    """A request trickling in one byte per segment parses the same."""
    srv = start()
    s = zg.connect(srv.addr("h"))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: 1\r\n\r\n")
    for i in range(len(req)):
        s.send(req[i:i + 1])
        time.sleep(0.002)
    st, hd, body = Reader(s).response()
    assert st == 200 and body == b"wikipedia", (st, body)
    s.close()
    srv.stop()


def test_large_echo_and_discard():
    srv = start({"limits": {"max_body_size": 8 << 20}, "routes": ECHO_ROUTES})
    s = zg.connect(srv.addr("h"), timeout=30)
    payload = os.urandom(6 << 20)
    head = b"PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(payload)
    tx = zg.Sender(s, head + payload
                   + b"POST /plaintext HTTP/1.1\r\nHost: a\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(payload) + payload
                   + b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
    tx.start()
    r = Reader(s, timeout=30)
    st, hd, body = r.response()
    assert st == 200 and body == payload, "echo: %d, %d bytes" % (st, len(body))
    st, hd, body = r.response()
    assert st == 405, st  # the body was read and dropped first
    st, hd, body = r.response()
    assert st == 200 and body == b"Hello, World!"
    tx.finish(30)
    s.close()
    srv.stop()


def test_limits_from_config():
    srv = start({"limits": {"max_request_line": 128, "max_header_size": 256,
                            "max_headers": 4, "max_body_size": 16},
                 "default_routes": False,
                 "routes": [{"path": "/x", "status": 201, "content_type": "text/html",
                             "body": "<i>x</i>", "methods": ["GET", "POST"]}]})
    addr = srv.addr("h")
    cases = [
        (b"GET /" + b"a" * 120 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET /x HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 250 + b"\r\n\r\n", 431),
        (b"GET /x HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431),
        (b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n", 413),
        (b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"10\r\n0123456789abcdef\r\n1\r\n", 413),
    ]
    for req, status in cases:
        s = zg.connect(addr)
        s.sendall(req)
        r = Reader(s)
        st, hd, body = r.response()
        assert st == status, (req[:40], st)
        expect_closed(s)
        s.close()
    s = zg.connect(addr)
    s.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\n0123456789abcdef"
              b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
    r = Reader(s)
    st, hd, body = r.response()
    assert (st, body, hd["content-type"]) == (201, b"<i>x</i>", ["text/html"]), (st, hd, body)
    st, hd, body = r.response()
    assert st == 404, st  # default routes are off
    s.close()
    srv.stop()


def _refused(cfg, tag):
    """Run zerg -t on cfg (dict or text); return its one error line, which
    must name the file."""
    path = zg.write_config(cfg, tag=tag)
    p = zg.run_zerg(["-t", "-c", path])
    assert p.returncode != 0, "zerg -t accepted a bad http config:\n%s" % p.stderr
    lines = [ln for ln in p.stderr.splitlines() if path in ln]
    assert len(lines) == 1, p.stderr
    return path, lines[0]


def test_bad_config_refused():
    path, line = _refused(http_config({"routes": [{"path": "/a"},
                                                  {"path": "/b", "status": 700}]}), "bad")
    assert re.search(re.escape(path) + r":\d+:\d+: listeners\[0\]\.config\.routes\[1\]"
                     r"\.status: 700 is out of range 200\.\.599$", line), line
    path, line = _refused(http_config({"limits": {"max_header": 1}}), "typo")
    assert re.search(re.escape(path) + r":\d+:\d+: listeners\[0\]\.config\.limits"
                     r'\.max_header: unknown key \(did you mean "max_headers"\?\)$',
                     line), line
    # Checks of the plugin's own: at the route, and across routes.
    path, line = _refused(http_config({"routes": [{"path": "/a", "buffering": False}]}),
                          "static-buffering")
    assert line.endswith("listeners[0].config.routes[0]: buffering: only an echo "
                         "route reads a body to send back"), line
    path, line = _refused(http_config({"routes": [{"path": "/a"}, {"path": "/a"}]}), "dup")
    assert line.endswith('init refused its config: routes[1].path: "/a" is already '
                         'routes[0].path'), line


def test_config_typo_names_its_line():
    # The host checks the http plugin's keys against the operator's file:
    # a typo in routes[1] is reported at its line and column.
    text = ('{\n'
            '  "listeners": [{\n'
            '    "name": "h", "listen": "127.0.0.1:0", "plugin": "http",\n'
            '    "config": {\n'
            '      "routes": [\n'
            '        {"path": "/a", "body": "a"},\n'
            '        {"path": "/b",\n'
            '         "bodyy": "b"}\n'
            '      ]\n'
            '    }\n'
            '  }]\n'
            '}\n')
    path, line = _refused(text, "bodyy")
    assert line.endswith("%s:8:10: listeners[0].config.routes[1].bodyy: unknown key "
                         '(did you mean "body"?)' % path), line


def test_over_connection_limit_gets_503():
    srv = start(max_connections=1)
    addr = srv.addr("h")
    first = zg.connect(addr)
    first.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
    r = Reader(first)
    assert r.response()[0] == 200
    second = zg.connect(addr)
    got = zg.recv_until_eof(second)
    assert got.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), got[:80]
    assert b"Connection: close\r\n" in got, got
    second.close()
    first.close()
    srv.stop()


def test_graceful_stop_finishes_request():
    srv = start()
    s = zg.connect(srv.addr("h"))
    s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n")
    time.sleep(0.2)
    srv.send_signal(signal.SIGQUIT)
    time.sleep(0.2)
    s.sendall(b"\r\n")
    r = Reader(s)
    st, hd, body = r.response()
    assert st == 200 and hd.get("connection") == ["close"], (st, hd)
    expect_closed(s)
    s.close()
    rc = srv.wait(10)
    assert rc == 0, "zerg exited with %s after SIGQUIT" % rc
    srv.stop(expect=None)


def _wrk(srv, path, extra, seconds=2):
    if shutil.which("wrk") is None:
        raise zg.Skip("wrk not installed")
    p = subprocess.run(["wrk", "-t", "2", "-c", "64", "-d", "%ds" % seconds] + extra
                       + [url(srv, path)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=seconds + 30)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert "Socket errors" not in out, out
    assert "Non-2xx" not in out, out
    m = re.search(r"(\d+) requests in", out)
    assert m and int(m.group(1)) > 1000, out
    return out


@zg.time_limit(60)
def test_wrk_keepalive_and_pipelined():
    srv = start(reactors=2)
    _wrk(srv, "/plaintext", [])
    tmp = tempfile.mkdtemp(prefix="zg-http-wrk-")
    try:
        script = os.path.join(tmp, "pipeline.lua")
        with open(script, "w") as f:
            f.write("init = function(args)\n"
                    "  local r = {}\n"
                    "  for i = 1, 16 do r[i] = wrk.format(nil, '/json') end\n"
                    "  req = table.concat(r)\n"
                    "end\n"
                    "request = function() return req end\n")
        _wrk(srv, "/json", ["-s", script])
    finally:
        shutil.rmtree(tmp)
    srv.stop()


if __name__ == "__main__":
    zg.run_tests(globals())
