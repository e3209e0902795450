#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the module chain against the real binary: access rules
# (IPv4, IPv6, IPv4-mapped peers), proxy_protocol (v1 and v2, headers
# split across writes, timeouts, garbage, untrusted peers) and the chain
# order, with config errors that name the line of the operator's file.
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

REQ = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def cfg(modules, plugin="echo", listen="127.0.0.1:0", plugin_conf=None, **extra):
    lst = {"name": "m", "listen": listen, "plugin": plugin, "modules": modules}
    if plugin_conf is not None:
        lst["config"] = plugin_conf
    lst.update(extra)
    return {"reactors": 1, "listeners": [lst]}


def dial(addr, src=None, timeout=5):
    """A loopback connection, optionally from source address src."""
    host, port = addr
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    assert host in ("::1", "127.0.0.1") or host.startswith("127."), host
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src is not None:
        s.bind((src, 0))
    s.connect((host, port))
    return s


def served(s, msg=b"ping"):
    """True if the echo plugin answers msg on s; False if the server closed
    (EOF or reset) without a byte."""
    try:
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            chunk = s.recv(4096)
            if not chunk:
                return False
            got += chunk
        assert got == msg, got
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False


def closed_silently(s, wait=3.0):
    """The server closes s without sending a byte."""
    s.settimeout(wait)
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return data == b""


def pp1(src, sport, dst="127.0.0.1", dport=80, fam="TCP4"):
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def pp2_inet(src, sport, dst="127.0.0.1", dport=80, tlvs=b"", cmd=0x21):
    addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    body = addr + tlvs
    return PP2_SIG + bytes([cmd, 0x11]) + struct.pack("!H", len(body)) + body


def pp2_inet6(src, sport, dst="::1", dport=80):
    addr = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
            + struct.pack("!HH", sport, dport))
    return PP2_SIG + bytes([0x21, 0x21]) + struct.pack("!H", len(addr)) + addr


# --------------------------------------------------------------------------
# access

def test_access_allow_deny_ipv4():
    srv = zg.start(cfg([{"module": "access", "config": {"rules": [
        {"deny": "127.0.0.2"}, {"allow": "127.0.0.0/8"}, {"deny": "all"}]}}]))
    a = srv.addr("m")
    ok = dial(a)
    assert served(ok), "127.0.0.1 is allowed by 127.0.0.0/8"
    bad = dial(a, src="127.0.0.2")
    assert closed_silently(bad), "127.0.0.2 is denied: closed without a byte"
    other = dial(a, src="127.0.0.3")
    assert served(other), "127.0.0.3 matches the allow rule"
    assert served(ok, b"still here"), "other clients are served"
    for s in (ok, bad, other):
        s.close()
    srv.stop()


def test_access_ipv6_and_mapped():
    # A dual-stack listener on [::1]... IPv4 clients reach a [::] socket as
    # IPv4-mapped addresses, which must match IPv4 rules.
    srv = zg.start(cfg([{"module": "access", "config": {"rules": [
        {"deny": "127.0.0.5/32"}, {"allow": "::1"}, {"allow": "127.0.0.0/8"},
        {"deny": "all"}]}}], listen="[::]:0", ip_version="dual"))
    port = srv.addr("m")[1]
    v6 = dial(("::1", port))
    assert served(v6), "::1 is allowed"
    v4 = dial(("127.0.0.1", port))
    assert served(v4), "127.0.0.1 (seen as ::ffff:127.0.0.1) matches 127.0.0.0/8"
    v4bad = dial(("127.0.0.1", port), src="127.0.0.5")
    assert closed_silently(v4bad), "::ffff:127.0.0.5 must match the IPv4 deny rule"
    for s in (v6, v4, v4bad):
        s.close()
    srv.stop()


def test_access_deny_all_refuses_before_reading():
    srv = zg.start(cfg([{"module": "access", "config": {"rules": [{"deny": "all"}]}}]))
    s = dial(srv.addr("m"))
    assert closed_silently(s)
    s.close()
    srv.stop()


def test_module_config_errors_name_the_line():
    path = zg.write_config('{"listeners": [{"name": "m", "listen": "127.0.0.1:0",\n'
                           '  "plugin": "echo", "modules": [\n'
                           '    {"module": "access", "config": {"rules": [\n'
                           '      {"alow": "10.0.0.0/8"}]}}]}]}\n')
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode != 0
    assert ":4:8: listeners[0].modules[0].config.rules[0].alow: unknown key " \
           "(did you mean \"allow\"?)" in r.stderr, r.stderr
    path = zg.write_config({"listeners": [{"name": "m", "listen": "127.0.0.1:0",
                                           "plugin": "echo",
                                           "modules": [{"module": "acces"}]}]})
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode != 0
    assert 'unknown module "acces" (did you mean "access"?); built-in modules: ' \
           in r.stderr, r.stderr
    path = zg.write_config({"listeners": [{"name": "m", "listen": "127.0.0.1:0",
                                           "plugin": "echo", "modules": [
                                               {"module": "access", "config": {"rules": [
                                                   {"allow": "all", "deny": "::1"}]}}]}]})
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode != 0 and "not both" in r.stderr, r.stderr
    path = zg.write_config({"listeners": [{"name": "m", "listen": "127.0.0.1:0",
                                           "plugin": "access"}]})
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode != 0, r.stderr


def test_T_shows_module_defaults_and_feeds_back():
    import json
    path = zg.write_config(cfg([{"module": "proxy_protocol"},
                                {"module": "limit_conn", "config": {"per_address": 7}},
                                {"module": "access", "config": {"rules": [
                                    {"deny": "192.0.2.0/24"}, {"allow": "all"}]}}]))
    r = zg.run_zerg(["-T", "-c", path])
    assert r.returncode == 0, r.stderr
    mods = json.loads(r.stdout)["listeners"][0]["modules"]
    assert mods[0] == {"module": "proxy_protocol",
                       "config": {"trusted": ["all"], "timeout_ms": 5000}}, mods[0]
    assert mods[1]["config"] == {"per_address": 7, "per_listener": 0,
                                 "max_addresses": 65536}, mods[1]
    assert mods[2]["config"] == {"rules": [{"deny": "192.0.2.0/24"}, {"allow": "all"}]}, mods[2]
    again = zg.write_config(r.stdout)
    r2 = zg.run_zerg(["-T", "-c", again])
    assert r2.returncode == 0 and r2.stdout == r.stdout, r2.stderr


# --------------------------------------------------------------------------
# proxy_protocol (in front of http, which answers with what it is sent;
# the access module after it sees the real client)

def pp_cfg(trusted=None, timeout_ms=None, then=None):
    conf = {}
    if trusted is not None:
        conf["trusted"] = trusted
    if timeout_ms is not None:
        conf["timeout_ms"] = timeout_ms
    mods = [{"module": "proxy_protocol", "config": conf}] + (then or [])
    return cfg(mods)


def test_proxy_v1_v2_replace_the_peer():
    # access after proxy_protocol decides on the address in the header.
    srv = zg.start(pp_cfg(then=[{"module": "access", "config": {"rules": [
        {"deny": "203.0.113.66"}, {"deny": "2001:db8::66"}, {"allow": "all"}]}}]))
    a = srv.addr("m")
    cases = [
        (pp1("198.51.100.7", 4000), True),
        (pp1("203.0.113.66", 4000), False),
        (pp1("2001:db8::7", 4000, dst="2001:db8::1", fam="TCP6"), True),
        (pp1("2001:db8::66", 4000, dst="2001:db8::1", fam="TCP6"), False),
        (b"PROXY UNKNOWN\r\n", True),
        (pp2_inet("198.51.100.8", 5000), True),
        (pp2_inet("203.0.113.66", 5000), False),
        (pp2_inet("198.51.100.9", 5000, tlvs=b"\x04\x00\x03abc"), True),
        (pp2_inet("203.0.113.66", 5000, cmd=0x20), True),  # LOCAL: the socket's peer
        (pp2_inet6("2001:db8::8", 5000), True),
        (pp2_inet6("2001:db8::66", 5000), False),
    ]
    for hdr, admit in cases:
        s = dial(a)
        # The header in pieces, the first payload right behind its end.
        for i in range(0, len(hdr), 7):
            s.sendall(hdr[i:i + 7])
            time.sleep(0.002)
        got = served(s, b"after-header")
        assert got == admit, "%r: served=%s, expected %s" % (hdr, got, admit)
        s.close()
    srv.stop()


def test_proxy_header_and_payload_in_one_write():
    srv = zg.start(pp_cfg())
    s = dial(srv.addr("m"))
    s.sendall(pp2_inet("198.51.100.1", 1) + b"hello")
    assert zg.recv_exact(s, 5) == b"hello", "bytes after the header reach the plugin"
    s.close()
    srv.stop()


def test_graceful_stop_serves_a_connection_still_in_its_preread():
    # A connection accepted before SIGQUIT whose PROXY header is still on
    # its way was accepted to be served: it gets its exchange, then ends.
    import signal
    srv = zg.start(pp_cfg())
    s = dial(srv.addr("m"))
    time.sleep(0.1)
    srv.send_signal(signal.SIGQUIT)
    time.sleep(0.2)
    s.sendall(pp1("198.51.100.7", 4000) + b"late")
    assert zg.recv_exact(s, 4) == b"late", "preread connection not served"
    zg.expect_eof(s)
    s.close()
    rc = srv.wait(10)
    srv.stopped, srv.returncode = True, rc
    assert rc == 0, rc


def test_proxy_garbage_timeout_untrusted():
    srv = zg.start(pp_cfg(timeout_ms=500))
    a = srv.addr("m")
    g = dial(a)
    g.sendall(REQ)  # no header: refused at the first byte
    assert closed_silently(g, 2.0), "a request without a PROXY header must be refused"
    bad = dial(a)
    bad.sendall(b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n")  # double space
    assert closed_silently(bad, 2.0)
    slow = dial(a)
    slow.sendall(b"PROXY TCP4 1.2")
    t0 = time.monotonic()
    assert closed_silently(slow, 3.0), "an incomplete header must time out"
    took = time.monotonic() - t0
    assert 0.3 <= took <= 2.0, "timeout_ms 500: closed after %.2f s" % took
    for s in (g, bad, slow):
        s.close()
    srv.stop()
    srv = zg.start(pp_cfg(trusted=["10.0.0.0/8"]))
    s = dial(srv.addr("m"))
    s.sendall(pp1("198.51.100.7", 4000))
    assert closed_silently(s), "a header from an untrusted peer must be refused"
    s.close()
    srv.stop()


# --------------------------------------------------------------------------
# limit_conn

def _wait_served(addr, src=None, tries=50):
    """A new connection is served (retrying while a close is in flight)."""
    for _ in range(tries):
        s = dial(addr, src=src)
        if served(s):
            return s
        s.close()
        time.sleep(0.05)
    raise AssertionError("no connection from %s was served" % (src,))


def test_limit_conn_per_address_across_reactors():
    srv = zg.start({"reactors": 2, "accept": "acceptor", "listeners": [
        {"name": "m", "listen": "127.0.0.1:0", "plugin": "http",
         "modules": [{"module": "limit_conn", "config": {"per_address": 3}}]}]})
    a = srv.addr("m")
    req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"

    def ok(s):
        s.sendall(req)
        got = b""
        while b"Hello, World!" not in got:
            chunk = s.recv(4096)
            if not chunk:
                return False
            got += chunk
        return got.startswith(b"HTTP/1.1 200")

    held = [dial(a) for _ in range(3)]  # round robin: both reactors
    for s in held:
        assert ok(s)
    over = dial(a)
    over.settimeout(3)
    data = b""
    while True:
        chunk = over.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 503"), "4th connection from one address: %r" % data
    other = dial(a, src="127.0.0.2")  # another address has its own count
    assert ok(other)
    held[0].close()
    for _ in range(50):  # the slot comes back once the close is seen
        s = dial(a)
        try:
            if ok(s):
                break
        except (ConnectionResetError, BrokenPipeError):
            pass
        s.close()
        time.sleep(0.05)
    else:
        raise AssertionError("a connection was never admitted after one closed")
    for x in held[1:] + [over, other, s]:
        x.close()
    srv.stop()


def test_limit_conn_per_listener_and_config_errors():
    srv = zg.start(cfg([{"module": "limit_conn", "config": {"per_listener": 2}}]))
    a = srv.addr("m")
    one, two = _wait_served(a), _wait_served(a, src="127.0.0.2")
    three = dial(a, src="127.0.0.3")
    assert closed_silently(three), "a 3rd connection over per_listener 2"
    for x in (one, two, three):
        x.close()
    srv.stop()
    path = zg.write_config(cfg([{"module": "limit_conn", "config": {}}]))
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode != 0 and "set per_address or per_listener" in r.stderr, r.stderr
    path = zg.write_config(cfg([{"module": "limit_conn", "config": {"per_adress": 1}}]))
    r = zg.run_zerg(["-t", "-c", path])
    assert 'per_adress: unknown key (did you mean "per_address"?)' in r.stderr, r.stderr


# --------------------------------------------------------------------------
# the log phase, a module built as a .so

def _log_lines(path, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                lines = f.read().splitlines()
            if len(lines) >= n:
                return lines
        time.sleep(0.02)
    raise AssertionError("log phase wrote fewer than %d lines to %s" % (n, path))


def test_log_phase_from_a_module_so():
    log = zg.write_config("", tag="log", suffix=".log")
    os.unlink(log)
    fx = zg.fixture("fx_module")
    srv = zg.start(cfg([{"module": "proxy_protocol"},
                        {"module": fx, "config": {"log": log}}]))
    s = dial(srv.addr("m"))
    s.sendall(pp1("198.51.100.42", 4242) + b"12345")
    assert zg.recv_exact(s, 5) == b"12345"
    s.close()
    line = _log_lines(log, 1)[0]
    hdr = len(pp1("198.51.100.42", 4242))
    assert line == ("listener=m reason=1 refused_by=- in=%d out=5 "
                    "peer=198.51.100.42:4242" % (hdr + 5)), line
    srv.stop()
    os.unlink(log)
    # A refused connection is logged too, naming who refused it.
    srv = zg.start(cfg([{"module": "access", "config": {"rules": [{"deny": "all"}]}},
                        {"module": fx, "config": {"log": log}}]))
    s = dial(srv.addr("m"))
    assert closed_silently(s)
    line = _log_lines(log, 1)[0]
    assert line.startswith("listener=m reason=7 refused_by=access in=0 out=0 "
                           "peer=127.0.0.1:"), line
    s.close()
    srv.stop()


@zg.time_limit(240)
def test_configure_without_and_add_module():
    # A copy of the tree configured with one module left out and a test
    # module added: -V lists them, a config naming the left-out one fails
    # with a clear line, the added one works.
    import shutil
    import subprocess
    import tempfile
    work = tempfile.mkdtemp(prefix="zg-mods-")
    try:
        for d in ("core", "modules", "plugins", "conf", "tests/modules"):
            shutil.copytree(os.path.join(zg.ROOT, d), os.path.join(work, d),
                            ignore=shutil.ignore_patterns("*.o", "*.d", "*.a", "*.so",
                                                          "zerg_build.h", "zerg_modules.c"))
        for f in ("configure", "Makefile.in"):
            shutil.copy2(os.path.join(zg.ROOT, f), work)
        r = subprocess.run(["./configure", "--without-module=access",
                            "--add-module=tests/modules/refuse_all"], cwd=work,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        # Its own echo.so: built with the copy's flags, whatever sanitizers
        # the tree under test uses.
        r = subprocess.run(["make", "-j2", "zerg", "plugins/echo/echo.so"], cwd=work,
                           capture_output=True, text=True, timeout=200)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        zerg = os.path.join(work, "zerg")
        v = subprocess.run([zerg, "-V"], capture_output=True, text=True, timeout=10)
        assert v.returncode == 0
        assert "configure arguments: --without-module=access " \
               "--add-module=tests/modules/refuse_all" in v.stdout, v.stdout
        assert "built-in modules: access_log limit_conn proxy_protocol refuse_all" \
            in v.stdout, v.stdout
        assert "io_uring: " in v.stdout, v.stdout
        saved, zg.ZERG = zg.ZERG, zerg
        echo = os.path.join(work, "plugins", "echo", "echo.so")
        try:
            path = zg.write_config(cfg([{"module": "access"}], plugin=echo))
            r = zg.run_zerg(["-t", "-c", path])
            assert r.returncode != 0
            assert "module access is not built in (./configure " \
                   "--without-module=access left it out)" in r.stderr, r.stderr
            srv = zg.start(cfg([{"module": "refuse_all"}], plugin=echo))
            s = dial(srv.addr("m"))
            assert closed_silently(s)
            s.close()
            srv.stop()
        finally:
            zg.ZERG = saved
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    zg.run_tests(globals())
