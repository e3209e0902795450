#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: observability against the real binary: the access_log
# module (one line per connection, refused ones with their reason, the
# real client after a PROXY header, text and JSON), SIGUSR1 reopening
# under load with no line lost or torn, and the stats plugin's /metrics
# (values matching what the test did, checked by a strict parser of the
# Prometheus text format and by promtool when it is installed) and
# /status.
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

TEXT_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) (\S+) (\S+) (\S+) "
    r"(\d+) (\d+) (\d+\.\d{3}) ([a-z]+(?::[a-z_]+)?) (\d+)$")


def log_path(tag):
    return zg.write_config("", tag=tag, suffix=".access.log")


def web_config(path, fmt="text", modules_before=(), reactors=2, **top):
    mods = list(modules_before) + [
        {"module": "access_log", "config": {"path": path, "format": fmt,
                                            "flush_ms": 50}}]
    cfg = zg.echo_config(reactors=reactors, name="web",
                         listener_extra={"modules": mods}, **top)
    cfg["listeners"].append({"name": "metrics", "listen": "127.0.0.1:0",
                             "plugin": "stats"})
    return cfg


def echo_once(addr, payload=b"ping\n", src=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(zg.SOCK_TIMEOUT)
    if src:
        s.bind((src, 0))
    s.connect(addr)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = zg.recv_until_eof(s)
    s.close()
    return got


def refused_once(addr, src):
    """A connection the server closes at once: whatever it ends with (FIN
    or reset), nothing must arrive."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(zg.SOCK_TIMEOUT)
    s.bind((src, 0))
    s.connect(addr)
    try:
        got = s.recv(100)
    except ConnectionResetError:
        got = b""
    s.close()
    return got


def read_lines(path, want, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as f:
            data = f.read()
        lines = data.decode().splitlines()
        if len(lines) >= want or time.monotonic() > deadline:
            assert data == b"" or data.endswith(b"\n"), "torn last line: %r" % data[-80:]
            return lines
        time.sleep(0.05)


def http_get(addr, path):
    s = zg.connect(addr)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    data = zg.recv_until_eof(s)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    m = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
    assert m and int(m.group(1)) == len(body), "length mismatch: %r" % head
    return status, head.decode(), body.decode()


# A strict reader of the Prometheus text exposition format (0.0.4): every
# sample belongs to a family announced by HELP and TYPE lines, names and
# labels follow the grammar, values are numbers, no family repeats.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(%s(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))


def parse_metrics(text):
    assert text.endswith("\n"), "no final newline"
    families, samples, cur = {}, {}, None
    for ln in text.split("\n")[:-1]:
        if ln.startswith("# HELP "):
            name = ln.split(" ")[2]
            assert re.fullmatch(NAME, name), ln
            assert name not in families, "family %s twice" % name
            families[name] = None
            cur = name
        elif ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ")
            assert name == cur and typ in ("counter", "gauge"), ln
            families[name] = typ
        else:
            m = SAMPLE.match(ln)
            assert m, "bad sample line %r" % ln
            name = m.group(1)
            assert name == cur, "sample %s outside its family %s" % (name, cur)
            float(m.group(4))
            labels = tuple(sorted(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"',
                                             m.group(3) or "")))
            key = (name, labels)
            assert key not in samples, "sample twice: %r" % (key,)
            samples[key] = float(m.group(4))
    return samples


def metric(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def test_access_log_one_line_per_connection_refused_included():
    path = log_path("alog")
    srv = zg.start(web_config(path, modules_before=[
        {"module": "access", "config": {"rules": [{"deny": "127.0.0.2"}]}}]))
    addr = srv.addr("web")
    for i in range(20):
        assert echo_once(addr, b"x" * (i + 1)) == b"x" * (i + 1)
    for _ in range(5):
        assert refused_once(addr, "127.0.0.2") == b""
    lines = read_lines(path, 25)
    srv.stop()
    assert len(lines) == 25, "%d lines for 25 connections:\n%s" % (len(lines), "\n".join(lines))
    served = refused = 0
    for ln in lines:
        m = TEXT_LINE.match(ln)
        assert m, "line does not parse: %r" % ln
        ts, lst, client, server, rx, tx, secs, reason, reactor = m.groups()
        assert lst == "web" and server == "%s:%d" % addr and reactor in ("0", "1"), ln
        if reason == "refused:access":
            refused += 1
            assert client.startswith("127.0.0.2:") and rx == "0" and tx == "0", ln
        else:
            served += 1
            assert reason == "peer" and client.startswith("127.0.0.1:"), ln
            assert rx == tx and 1 <= int(rx) <= 20, ln
    assert (served, refused) == (20, 5)


def test_access_log_json_and_real_client_after_proxy_header():
    path = log_path("alog-json")
    srv = zg.start(web_config(path, fmt="json", modules_before=[
        {"module": "proxy_protocol", "config": {}}], reactors=1))
    hdr = b"PROXY TCP4 192.0.2.77 198.51.100.1 40404 443\r\n"
    got = echo_once(srv.addr("web"), hdr + b"hello")
    assert got == b"hello"
    lines = read_lines(path, 1)
    srv.stop()
    assert len(lines) == 1, lines
    rec = json.loads(lines[0])
    assert rec["client"] == "192.0.2.77:40404", rec
    assert rec["listener"] == "web" and rec["reason"] == "peer", rec
    assert rec["bytes_received"] == len(hdr) + 5 and rec["bytes_sent"] == 5, rec
    assert isinstance(rec["duration_ms"], int) and rec["reactor"] == 0, rec
    assert "refused_by" not in rec


def test_access_log_json_refused_and_ipv6():
    """A refusal names its module in JSON; an IPv6 peer is [addr]:port."""
    path = log_path("alog-json6")
    cfg = web_config(path, fmt="json", reactors=1, modules_before=[
        {"module": "access", "config": {"rules": [{"deny": "127.0.0.2"}]}}])
    cfg["listeners"].append({"name": "web6", "listen": "[::1]:0", "plugin": "echo",
                             "modules": [{"module": "access_log",
                                          "config": {"path": path, "flush_ms": 50}}]})
    srv = zg.start(cfg)
    assert refused_once(srv.addr("web"), "127.0.0.2") == b""
    host, port = srv.addr("web6")[:2]
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(zg.SOCK_TIMEOUT)
    s.connect(("::1", port))
    s.sendall(b"abc")
    s.shutdown(socket.SHUT_WR)
    assert zg.recv_until_eof(s) == b"abc"
    s.close()
    lines = read_lines(path, 2)
    srv.stop()
    assert len(lines) == 2, lines
    rec = json.loads([x for x in lines if x.startswith("{")][0])
    assert rec["reason"] == "refused" and rec["refused_by"] == "access", rec
    assert rec["client"].startswith("127.0.0.2:") and rec["bytes_sent"] == 0, rec
    m = TEXT_LINE.match([x for x in lines if not x.startswith("{")][0])
    assert m, lines
    assert m.group(3).startswith("[::1]:") and m.group(4) == "[::1]:%d" % port, lines
    assert m.group(2) == "web6" and m.group(5) == "3" and m.group(8) == "peer", lines


def test_usr1_rotation_under_load_loses_nothing():
    path = log_path("alog-rot")
    srv = zg.start(web_config(path, reactors=2))
    addr = srv.addr("web")
    done = threading.Event()
    counts = []
    errors = []

    def client():
        n = 0
        while not done.is_set():
            try:
                if echo_once(addr, b"r" * 10) != b"r" * 10:
                    errors.append("short echo")
                n += 1
            except OSError as e:
                errors.append(str(e))
        counts.append(n)

    ts = [threading.Thread(target=client) for _ in range(6)]
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
    # A graceful stop flushes every reactor's buffer.
    srv.stop(sig=signal.SIGQUIT, timeout=15, expect=0)
    assert not errors, errors[:5]
    seen = 0
    for p in rotated + [path]:
        with open(p, "rb") as f:
            data = f.read()
        assert data == b"" or data.endswith(b"\n"), "%s ends in a torn line" % p
        for ln in data.decode().splitlines():
            assert TEXT_LINE.match(ln), "torn or bad line in %s: %r" % (p, ln)
            seen += 1
    assert seen == total, "%d lines for %d connections" % (seen, total)
    assert total > 50, "only %d connections in the run" % total
    with open(path) as f:
        assert f.read(), "nothing reached the file opened at the last USR1"
    assert "reopening access logs: done" in srv.stderr_text()


def test_metrics_match_what_happened():
    path = log_path("alog-m")
    srv = zg.start(web_config(path, modules_before=[
        {"module": "access", "config": {"rules": [{"deny": "127.0.0.2"}]}}]))
    addr, maddr = srv.addr("web"), srv.addr("metrics")
    sent = 0
    for i in range(10):
        payload = b"m" * (100 * (i + 1))
        assert echo_once(addr, payload) == payload
        sent += len(payload)
    for _ in range(3):
        assert refused_once(addr, "127.0.0.2") == b""
    held = [zg.connect(addr) for _ in range(4)]
    for h in held:
        h.sendall(b"a")
        assert zg.recv_exact(h, 1) == b"a"
    time.sleep(0.1)
    status, head, text = http_get(maddr, "/metrics")
    assert status == 200 and "text/plain; version=0.0.4" in head, head
    s = parse_metrics(text)
    assert metric(s, "zerg_connections_accepted_total", listener="web") == 17
    assert metric(s, "zerg_connections_active", listener="web") == 4
    assert metric(s, "zerg_connections_refused_total", listener="web", reason="access") == 3
    assert metric(s, "zerg_connections_refused_total", listener="web",
                  reason="max_connections") == 0
    assert ("zerg_connections_refused_total",
            (("listener", "web"), ("reason", "access_log"))) not in s
    assert metric(s, "zerg_connections_closed_total", listener="web", reason="peer") == 10
    assert metric(s, "zerg_connections_closed_total", listener="web", reason="refused") == 3
    assert metric(s, "zerg_received_bytes_total", listener="web") == sent + 4
    assert metric(s, "zerg_sent_bytes_total", listener="web") == sent + 4
    assert sum(v for (n, lab), v in s.items() if n == "zerg_reactor_connections") >= 5
    version, abi = zg_version()
    assert ("zerg_build_info", (("abi", abi), ("version", version))) in s, \
        [k for k in s if k[0] == "zerg_build_info"]
    assert abs(s[("zerg_start_time_seconds", ())] - time.time()) < 60
    # The stats listener counts its own scrapes as requests.
    _, _, text2 = http_get(maddr, "/metrics")
    s2 = parse_metrics(text2)
    assert metric(s2, "zerg_requests_total", listener="metrics") == 1
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        assert r.returncode == 0, "promtool: %s" % r.stdout.decode()
    status, _, page = http_get(maddr, "/status")
    assert status == 200 and page.startswith("Active connections: "), page
    lines = page.splitlines()
    assert lines[1] == "server accepts handled requests", page
    for h in held:
        h.close()
    assert http_get(maddr, "/nope")[0] == 404
    s3 = zg.connect(maddr)
    s3.sendall(b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
    assert zg.recv_until_eof(s3).startswith(b"HTTP/1.1 400 ")
    s3.close()
    srv.stop()


def zg_version():
    r = zg.run_zerg(["-v"])
    m = re.search(r"zerg version (\S+) \(plugin ABI (\d+\.\d+)\)", r.stdout + r.stderr)
    return m.group(1), m.group(2)


def test_stats_keepalive_and_pipelining():
    path = log_path("alog-ka")
    srv = zg.start(web_config(path, reactors=1))
    s = zg.connect(srv.addr("metrics"))
    s.sendall(b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n" * 2 +
              b"HEAD /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    data = zg.recv_until_eof(s)
    s.close()
    srv.stop()
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 3, data
    assert data.endswith(b"\r\n\r\n"), "HEAD sent a body: %r" % data[-60:]


def test_http_counts_its_requests():
    cfg = {"reactors": 1, "listeners": [
        {"name": "h", "listen": "127.0.0.1:0", "plugin": "http"},
        {"name": "metrics", "listen": "127.0.0.1:0", "plugin": "stats"}]}
    srv = zg.start(cfg)
    s = zg.connect(srv.addr("h"))
    s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n" * 3 +
              b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    data = zg.recv_until_eof(s)
    s.close()
    assert data.count(b"HTTP/1.1 200 OK") == 4, data
    s = zg.connect(srv.addr("h"))
    s.sendall(b"BAD REQUEST LINE\r\n\r\n")
    assert zg.recv_until_eof(s).startswith(b"HTTP/1.1 400")
    s.close()
    _, _, text = http_get(srv.addr("metrics"), "/metrics")
    srv.stop()
    assert metric(parse_metrics(text), "zerg_requests_total", listener="h") == 5


if __name__ == "__main__":
    zg.run_tests(globals())
