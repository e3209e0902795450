#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the zerg command line against the real binary: -t/-h/-v and
# bad options, strict config errors (file:line:column and key path), every
# plugin-loader refusal through tests/plugins fixtures (exit 1, one line with
# found/need values, no socket opened), port 0, and fixtures that load and
# serve.
import json
import os
import re
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

# A log line below warn: allowed next to the one error line.
_QUIET_LOG = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(debug|info|notice)\] \d+#\d+: ")
_VERSION = re.compile(r"^zerg version (\S+) \(plugin ABI (\d+)\.(\d+)\)$")


def error_lines(stderr):
    """Lines of stderr that are not debug/info/notice log lines."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not _QUIET_LOG.match(ln)]


def one_error(r, what):
    """Assert r (CompletedProcess) failed with status 1, printed no
    listening line and exactly one error line; return that line."""
    assert r.returncode == 1, "%s: exit status %d, expected 1; stderr:\n%s" \
        % (what, r.returncode, r.stderr)
    assert "listening" not in r.stdout, "%s: a listener was opened:\n%s" % (what, r.stdout)
    errs = error_lines(r.stderr)
    assert len(errs) == 1, "%s: expected exactly one error line, got %d:\n%s" \
        % (what, len(errs), r.stderr)
    return errs[0]


def host_abi():
    r = zg.run_zerg(["-v"])
    m = _VERSION.match(r.stdout.strip())
    assert m, "-v printed %r" % r.stdout
    return int(m.group(2)), int(m.group(3))


def listener(name, port, plugin, **extra):
    d = {"name": name, "listen": "127.0.0.1:%d" % port, "plugin": plugin}
    d.update(extra)
    return d


# ---------------------------------------------------------------- options

def test_help():
    r = zg.run_zerg(["-h"])
    assert r.returncode == 0, "-h exit %d" % r.returncode
    assert r.stdout.startswith("Usage: zerg"), "-h stdout: %r" % r.stdout[:200]
    for opt in ("-c", "-t", "-v", "-h"):
        assert opt in r.stdout, "-h does not mention %s" % opt


def test_version():
    r = zg.run_zerg(["-v"])
    assert r.returncode == 0, "-v exit %d" % r.returncode
    assert _VERSION.match(r.stdout.strip()), \
        "-v printed %r (want 'zerg version X (plugin ABI M.N)')" % r.stdout
    major, minor = host_abi()
    assert major == 1, "plugin ABI major %d" % major


def test_unknown_option_and_argument():
    r = zg.run_zerg(["-x"])
    assert r.returncode != 0, "-x exited 0"
    assert "Usage: zerg" in r.stderr, "-x: no usage on stderr: %r" % r.stderr
    assert "listening" not in r.stdout
    r = zg.run_zerg(["stray"])
    assert r.returncode != 0, "a stray argument exited 0"
    assert "Usage: zerg" in r.stderr, "stray argument: no usage on stderr: %r" % r.stderr
    r = zg.run_zerg(["-c"])
    assert r.returncode != 0, "-c without a file exited 0"


# ---------------------------------------------------------------- -t

def test_t_embedded_default():
    r = zg.run_zerg(["-t"])
    assert r.returncode == 0, "zerg -t (embedded default) exit %d; stderr:\n%s" \
        % (r.returncode, r.stderr)
    assert "zerg: configuration <embedded> test is successful" in r.stdout, \
        "stdout: %r" % r.stdout


def test_t_good_file_opens_no_socket():
    held, port = zg.hold_port()
    try:
        # -t must not bind: the port is taken, the test still succeeds.
        path = zg.write_config(zg.echo_config(reactors=2, listen="127.0.0.1:%d" % port))
        r = zg.run_zerg(["-t", "-c", path])
        assert r.returncode == 0, "-t exit %d; stderr:\n%s" % (r.returncode, r.stderr)
        want = "zerg: configuration %s test is successful" % path
        assert want in r.stdout, "stdout %r lacks %r" % (r.stdout, want)
        assert "listening" not in r.stdout
        assert not error_lines(r.stderr), "stderr: %r" % r.stderr
    finally:
        held.close()


def _schema_props(schema, *path):
    node = schema
    for p in path:
        node = node[p]
    return set(node["properties"])


def test_T_prints_the_effective_configuration():
    so = zg.fixture("fx_good")
    probe = zg.write_config("{}", tag="probe")
    rel = os.path.relpath(so, os.path.dirname(probe))
    given = {"s": "x", "l": [1, 2.5, None, True], "o": {"deep": {"k": []}}}
    cfg = {"reactors": 2, "reactor_overrides": [{"id": 1, "batch_cqes": 7}],
           "listeners": [listener("g", 0, rel, config=given),
                         listener("e", 0, "echo", backlog=64)]}
    path = zg.write_config(cfg)
    r = zg.run_zerg(["-T", "-c", path])
    assert r.returncode == 0, "-T exit %d; stderr:\n%s" % (r.returncode, r.stderr)
    assert "(see file)" not in r.stdout, r.stdout
    try:
        eff = json.loads(r.stdout)  # stdout is the JSON and nothing else
    except ValueError as e:
        raise AssertionError("-T stdout is not JSON (%s):\n%s" % (e, r.stdout))
    want = "zerg: configuration %s test is successful" % path
    assert want in r.stderr, "stderr %r lacks %r" % (r.stderr, want)

    # Every key the schema documents, with the defaults filled in.
    with open(os.path.join(zg.ROOT, "conf", "zerg.schema.json")) as f:
        schema = json.load(f)
    sections = [
        (eff, _schema_props(schema), "top"),
        (eff["acceptor"], _schema_props(schema, "properties", "acceptor"), "acceptor"),
        (eff["reactor"], _schema_props(schema, "$defs", "reactor_keys"), "reactor"),
        (eff["log"], _schema_props(schema, "properties", "log"), "log"),
    ] + [(lst, _schema_props(schema, "$defs", "listener"), "listener")
         for lst in eff["listeners"]]
    for obj, keys, where in sections:
        missing = keys - set(obj)
        assert not missing, "-T %s lacks %s:\n%s" % (where, sorted(missing), r.stdout)
    assert eff["reactors"] == 2 and eff["accept"] == "acceptor", eff
    assert eff["reactor_overrides"] == [{"batch_cqes": 7, "id": 1}], eff
    g, e = eff["listeners"]
    assert g["config"] == given, "config %r, given %r" % (g["config"], given)
    assert e["config"] == {}, e
    assert g["backlog"] == 511 and e["backlog"] == 64, (g, e)
    assert g["idle_timeout_ms"] == 60000 and g["tcp_nodelay"] is True, g
    assert os.path.isabs(g["plugin"]) and os.path.realpath(g["plugin"]) == so, g
    assert e["plugin"] == "echo", e

    # The output is itself a configuration that means the same.
    again = zg.write_config(r.stdout, tag="again")
    r2 = zg.run_zerg(["-T", "-c", again])
    assert r2.returncode == 0, r2.stderr
    assert json.loads(r2.stdout) == eff, "%s\n!=\n%s" % (r2.stdout, r.stdout)


def test_T_embedded_default_and_failure():
    r = zg.run_zerg(["-T"])
    assert r.returncode == 0, r.stderr
    eff = json.loads(r.stdout)
    assert [lst["name"] for lst in eff["listeners"]] == ["echo", "http"], eff
    assert "zerg: configuration <embedded> test is successful" in r.stderr
    path = zg.write_config({"reactors": 0, "listeners": [listener("e", 0, "echo")]})
    r = zg.run_zerg(["-T", "-c", path])
    assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout)


UNKNOWN_KEY = """{
    "reactors": 1,
    "listeners": [
        {
            "name": "e",
            "listen": "127.0.0.1:%d",
            "plugin": "echo",
            "lisen": "x"
        }
    ]
}
"""


def test_unknown_key():
    port = zg.free_port()
    path = zg.write_config(UNKNOWN_KEY % port)
    for args in (["-t", "-c", path], ["-c", path]):
        r = zg.run_zerg(args)
        line = one_error(r, " ".join(args))
        m = re.search(re.escape(path) + r":(\d+):(\d+): ", line)
        assert m, "%s: no %s:LINE:COLUMN in %r" % (args, path, line)
        ln, col = int(m.group(1)), int(m.group(2))
        assert ln == 8, "%s: line %d, the key is on line 8: %r" % (args, ln, line)
        assert 13 <= col <= 22, "%s: column %d, the key starts at 13, its value at 22: %r" \
            % (args, col, line)
        assert "listeners[0].lisen" in line, "%s: key path missing: %r" % (args, line)
        assert "unknown key" in line, "%s: %r" % (args, line)
        assert re.search(r'did you mean "?listen"?', line), "%s: no suggestion: %r" % (args, line)
        assert zg.port_is_free(port), "%s: port %d left bound" % (args, port)


def test_syntax_error():
    path = zg.write_config('{\n    "reactors": 1\n    "listeners": []\n}\n')
    r = zg.run_zerg(["-t", "-c", path])
    line = one_error(r, "missing comma")
    m = re.search(re.escape(path) + r":(\d+):(\d+): ", line)
    assert m, "no %s:LINE:COLUMN in %r" % (path, line)
    assert int(m.group(1)) in (2, 3), "syntax error reported on line %s: %r" % (m.group(1), line)
    assert int(m.group(2)) >= 1
    assert "syntax error" in line, line
    # Truncated file: the position is at the end.
    path = zg.write_config('{\n    "reactors": 1,\n    "listeners": [\n')
    line = one_error(zg.run_zerg(["-c", path]), "truncated file")
    assert re.search(re.escape(path) + r":\d+:\d+: syntax error", line), line


def test_other_config_errors():
    port = zg.free_port()
    base = {"reactors": 1, "listeners": [listener("e", port, "echo")]}
    cases = [
        ("wrong type", dict(base, reactors="two"), [r":2:\d+: ", r"reactors", r"integer"]),
        ("out of range", dict(base, reactors=0), [r":2:\d+: ", r"reactors", r"range"]),
        ("duplicate key", '{\n    "reactors": 1,\n    "reactors": 2,\n    "listeners": '
         '[{"name": "e", "listen": "127.0.0.1:%d", "plugin": "echo"}]\n}\n' % port,
         [r":3:\d+: ", r"duplicate key", r"reactors"]),
        ("bad listener type",
         {"reactors": 1, "listeners": [dict(listener("e", port, "echo"), backlog="x")]},
         [r"listeners\[0\]\.backlog"]),
        ("no listeners", {"reactors": 1}, [r"listeners"]),
        ("bad address", {"reactors": 1, "listeners": [
            {"name": "e", "listen": "127.0.0.1:99999", "plugin": "echo"}]},
         [r"listeners\[0\]\.listen"]),
    ]
    failures = []
    for what, cfg, pats in cases:
        path = zg.write_config(cfg, tag=what.replace(" ", "_"))
        try:
            line = one_error(zg.run_zerg(["-c", path]), what)
            if path not in line:
                raise AssertionError("%s: file not named: %r" % (what, line))
            for p in pats:
                if not re.search(p, line):
                    raise AssertionError("%s: %r does not match /%s/" % (what, line, p))
            if not zg.port_is_free(port):
                raise AssertionError("%s: port %d left bound" % (what, port))
        except AssertionError as e:
            failures.append(str(e))
    missing = "/nonexistent/zerg-test.json"
    try:
        line = one_error(zg.run_zerg(["-c", missing]), "missing file")
        if missing not in line or "cannot read" not in line:
            raise AssertionError("missing file: %r" % line)
    except AssertionError as e:
        failures.append(str(e))
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- plugin refusals

def _size_1_0():
    """sizeof the ABI 1.0 descriptor: 4 u32/u16 header fields + 9 pointers."""
    return 16 + 9 * struct.calcsize("P")


# fixture -> regex of what follows "plugin <path>: " (host ABI substituted)
REFUSALS = {
    "fx_noentry": r"no entry symbol zg_plugin_entry_v1",
    "fx_nullentry": r"entry returned NULL",
    "fx_badmagic": r"bad magic 0x12345678 \(need 0x7a657267\)",
    "fx_major2": r"ABI major 2 \(need {major}\)",
    "fx_minor99": r"needs ABI minor 99 \(host has {major}\.{minor}\)",
    "fx_short": r"descriptor size 12 \(need at least {size10}\)",
    "fx_flags": r"unknown flags 0x80000000 \(known 0x1\)",
    "fx_nocb": r"missing required callback on_data",
    "fx_badname": r'invalid name "Bad Name" \(need \[a-z0-9_-\], 1\.\.\d+ chars\)',
    "fx_initfail": r"init refused its config: port must be set",
}


def _check_refusal(what, listeners, so, want):
    """Run zerg on listeners three ways and check the refusal each time:
    plain start with the ports free, -t, and plain start with the ports
    already taken by us (so a refusal message, not "address in use", proves
    plugins are checked before any socket is opened)."""
    ports = [int(lst["listen"].rsplit(":", 1)[1]) for lst in listeners]
    cfg = {"reactors": 1, "listeners": listeners}
    path = zg.write_config(cfg, tag=what)
    rx = re.compile(r"plugin " + re.escape(so) + r": " + want + r"$")
    r = zg.run_zerg(["-c", path], tag=what)
    line = one_error(r, what)
    assert rx.search(line), "%s: error line %r does not end with /%s/" % (what, line, rx.pattern)
    for p in ports:
        assert zg.port_is_free(p), "%s: port %d is bound after the refusal" % (what, p)
    r = zg.run_zerg(["-t", "-c", path], tag=what + "-t")
    line = one_error(r, what + " (-t)")
    assert rx.search(line), "%s -t: error line %r does not match /%s/" % (what, line, rx.pattern)
    assert "successful" not in r.stdout
    held = []
    try:
        for p in ports:
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            s.listen(1)
            held.append(s)
        r = zg.run_zerg(["-c", path], tag=what + "-held")
        line = one_error(r, what + " (ports held)")
        assert rx.search(line), ("%s: with its port taken, zerg said %r instead of the "
                                 "refusal: a socket was opened before the plugin was checked"
                                 % (what, line))
    finally:
        for s in held:
            s.close()


def _make_refusal_test(fx):
    def test():
        major, minor = host_abi()
        so = zg.fixture(fx)
        want = REFUSALS[fx].format(major=major, minor=minor, size10=_size_1_0())
        _check_refusal(fx, [listener("x", zg.free_port(), so)], so, want)
    test.__name__ = "test_refuse_" + fx
    return test


for _fx in REFUSALS:
    globals()["test_refuse_" + _fx] = _make_refusal_test(_fx)


def test_refuse_fx_dupname():
    good, dup = zg.fixture("fx_good"), zg.fixture("fx_dupname")
    want = r'name "fx_good" already loaded from ' + re.escape(good)
    lsts = [listener("a", zg.free_port(), good), listener("b", zg.free_port(), dup)]
    _check_refusal("fx_dupname", lsts, dup, want)


def test_refuse_missing_and_not_shared_object():
    # A path that does not exist.
    missing = os.path.join(zg.ROOT, "tests", "plugins", "fx_does_not_exist.so")
    path = zg.write_config({"reactors": 1,
                            "listeners": [listener("x", zg.free_port(), missing)]})
    line = one_error(zg.run_zerg(["-c", path]), "missing path")
    assert missing in line and re.search(r"not found|No such file", line), line
    # A name found nowhere.
    path = zg.write_config({"reactors": 1,
                            "listeners": [listener("x", zg.free_port(), "zz_no_such_plugin")]})
    line = one_error(zg.run_zerg(["-c", path]), "unknown name")
    assert re.search(r'plugin "zz_no_such_plugin": not found \(searched: .*zz_no_such_plugin'
                     r'\.so', line), line
    # A file that is not a shared object.
    junk = zg.write_config("this is not an ELF file\n", tag="junk", suffix=".so")
    path = zg.write_config({"reactors": 1, "listeners": [listener("x", zg.free_port(), junk)]})
    line = one_error(zg.run_zerg(["-c", path]), "not a shared object")
    assert re.search(r"plugin " + re.escape(os.path.realpath(junk))
                     + r": not a loadable shared object: ", line), line


# ---------------------------------------------------------------- serving

def test_port_zero_gives_real_ports():
    cfg = {"reactors": 1, "listeners": [listener("a", 0, "echo"), listener("b", 0, "echo")]}
    v6 = _have_ipv6_loopback()
    if v6:
        cfg["listeners"].append({"name": "v6", "listen": "[::1]:0", "plugin": "echo",
                                 "ip_version": "v6"})
    srv = zg.start(cfg)
    text = srv.stdout_text()
    assert re.search(r"^listening a 127\.0\.0\.1:\d+$", text, re.M), text
    if v6:
        assert re.search(r"^listening v6 \[::1\]:\d+$", text, re.M), text
    ports = [p for _, p in srv.addrs.values()]
    assert all(0 < p < 65536 for p in ports), ports
    assert len(set(ports)) == len(ports), "listeners share a port: %s" % srv.addrs
    for name in srv.addrs:
        zg.echo_many(srv.addr(name), [zg.pattern(1, 5000)], timeout=10)
    srv.stop()


def _have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_relative_plugin_path_is_relative_to_the_config_file():
    # The config lives under tests/logs/...; zerg runs in the tree's root.
    # A relative path must be found from the file's directory, not the cwd.
    so = zg.fixture("fx_good")
    probe = zg.write_config("{}", tag="probe")
    rel = os.path.relpath(so, os.path.dirname(probe))
    assert "/" in rel and not os.path.exists(os.path.join(zg.ROOT, rel)), rel
    cfg = {"reactors": 1, "listeners": [listener("g", 0, rel)]}
    path = zg.write_config(cfg)
    r = zg.run_zerg(["-t", "-c", path])
    assert r.returncode == 0, "-t with plugin %r: exit %d; stderr:\n%s" \
        % (rel, r.returncode, r.stderr)
    srv = zg.start(path)
    zg.echo_many(srv.addr("g"), [zg.pattern(5, 3000)], timeout=10)
    assert re.search(re.escape(so) + r": loaded fx_good", srv.stderr_text()), \
        srv.stderr_text()
    srv.stop()


def test_plugin_name_with_so_suffix():
    # "fx_good.so" is the file of the plugin named fx_good: it must be
    # looked up as fx_good.so, not fx_good.so.so.
    saved = os.environ.get("ZERG_PLUGIN_PATH")
    os.environ["ZERG_PLUGIN_PATH"] = zg.FIXTURE_DIR
    try:
        zg.fixture("fx_good")
        path = zg.write_config({"reactors": 1,
                                "listeners": [listener("g", 0, "fx_good.so")]})
        r = zg.run_zerg(["-t", "-c", path])
    finally:
        if saved is None:
            del os.environ["ZERG_PLUGIN_PATH"]
        else:
            os.environ["ZERG_PLUGIN_PATH"] = saved
    assert r.returncode == 0, "exit %d; stderr:\n%s" % (r.returncode, r.stderr)
    assert ".so.so" not in r.stderr, r.stderr


def test_fx_good_loads_and_echoes():
    so = zg.fixture("fx_good")
    srv = zg.start({"reactors": 2, "listeners": [listener("g", 0, so)]})
    zg.echo_many(srv.addr("g"), [zg.pattern(i, 20000 + i) for i in range(8)], timeout=15)
    err = srv.stderr_text()
    assert re.search(re.escape(so) + r".*fx_good.*1\.2\.3", err), \
        "no start-up log line naming %s, fx_good and version 1.2.3:\n%s" % (so, err)
    srv.stop()


def test_fx_v10_loads_and_serves():
    # A plugin built against the ABI 1.0 descriptor (shorter struct_size).
    so = zg.fixture("fx_v10")
    srv = zg.start({"reactors": 1, "listeners": [listener("v", 0, so)]})
    err = srv.stderr_text()
    assert re.search(re.escape(so) + r".*fx_v10.*ABI 1\.0", err), \
        "no start-up log line naming %s, fx_v10 and ABI 1.0:\n%s" % (so, err)
    msg = zg.pattern(3, 4096)
    s = zg.connect(srv.addr("v"))
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    got = zg.recv_until_eof(s)
    s.close()
    # fx_v10's on_data consumes its input; if it echoes, the echo is exact.
    assert got in (b"", msg), "fx_v10 sent back %d unexpected bytes: %r" % (len(got), got[:64])
    assert srv.alive()
    srv.stop()


def test_fx_v11_raw_json_config_loads_and_serves():
    # A plugin built against the ABI 1.1 header (tests/plugins/abi11/):
    # no host-owned config, so its init gets the "config" object as raw
    # JSON text, and sends it back first on every connection.
    so = zg.fixture("fx_v11")
    given = {"greeting": "hi", "n": [1, 2.5, None], "o": {"deep": True}}
    srv = zg.start({"reactors": 1, "listeners": [listener("v", 0, so, config=given)]})
    err = srv.stderr_text()
    assert re.search(re.escape(so) + r".*fx_v11.*ABI 1\.1", err), \
        "no start-up log line naming %s, fx_v11 and ABI 1.1:\n%s" % (so, err)
    msg = zg.pattern(5, 100000)
    s = zg.connect(srv.addr("v"))
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    got = zg.recv_until_eof(s)
    s.close()
    line, _, rest = got.partition(b"\n")
    assert line.startswith(b"config "), "first line %r" % line[:200]
    assert json.loads(line[len(b"config "):]) == given, line
    assert rest == msg, "echo differs at byte %s" % zg.first_diff(rest, msg)
    assert srv.alive()
    srv.stop()


def test_fx_v12_host_owned_config_loads_and_serves():
    # A plugin built against the ABI 1.2 header (tests/plugins/abi12/),
    # older than the host: its key table and descriptor have the 1.2
    # layout; the host fills its config and serves it.
    so = zg.fixture("fx_v12")
    srv = zg.start({"reactors": 1, "listeners": [listener(
        "v", 0, so, config={"greeting": "hey", "limit": "2k", "words": ["a", "b", "c"]})]})
    err = srv.stderr_text()
    assert re.search(re.escape(so) + r".*fx_v12.*ABI 1\.2", err), \
        "no start-up log line naming %s, fx_v12 and ABI 1.2:\n%s" % (so, err)
    msg = zg.pattern(7, 50000)
    s = zg.connect(srv.addr("v"))
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    got = zg.recv_until_eof(s)
    s.close()
    assert got == b"hey 2048 3\n" + msg, "got %r..." % got[:40]
    s = zg.connect(srv.addr("v"))
    assert zg.recv_exact(s, 11) == b"hey 2048 3\n"
    s.sendall(b"linger\n")
    assert zg.recv_until_eof(s) == b""
    s.close()
    # And -T shows its defaults from the 1.2 key table.
    cfg = zg.write_config({"reactors": 1, "listeners": [listener("v", 0, so)]})
    r = zg.run_zerg(["-T", "-c", cfg])
    assert r.returncode == 0, r.stderr
    conf = json.loads(r.stdout)["listeners"][0]["config"]
    assert conf == {"greeting": "hello", "limit": 4096, "words": []}, conf
    srv.stop()


if __name__ == "__main__":
    zg.run_tests(globals())
