# SPDX-License-Identifier: MIT
# Description: `make install` into a DESTDIR lays out the binary, plugins,
# HTTP handlers, headers, pkg-config file, default config and man pages
# (zerg(8), zerg.json(5), zerg-http-handler(3)); a plugin built out of the
# tree with nothing but `pkg-config zerg` loads into the installed zerg
# and serves, and so does the HTTP handler of the zerg-http-handler(3)
# example, built the same way from the man page.
import os
import re
import shutil
import subprocess
import tempfile

import zgtest


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    assert r.returncode == 0, "%s failed (%d):\n%s%s" % (
        " ".join(cmd), r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout


def test_install_and_out_of_tree_plugin():
    dest = tempfile.mkdtemp(prefix="zg-install-")
    try:
        _run(["make", "-s", "install", "DESTDIR=" + dest], cwd=zgtest.ROOT)
        prefix = None
        for root, dirs, files in os.walk(dest):
            if "zerg.pc" in files:
                prefix = os.path.dirname(os.path.dirname(root))
        assert prefix, "zerg.pc not installed under " + dest
        for rel in ("bin/zerg", "include/zerg/plugin.h", "include/zerg/http.h",
                    "lib/zerg/echo.so", "lib/zerg/http.so", "lib/zerg/arena.so",
                    "lib/zerg/async.so", "share/man/man8/zerg.8",
                    "share/man/man5/zerg.json.5",
                    "share/man/man3/zerg-http-handler.3", "etc/zerg/zerg.json",
                    "etc/zerg/zerg.schema.json", "etc/zerg/zerg.keys.schema.json"):
            assert os.path.exists(os.path.join(prefix, rel)), rel + " missing"
        for page in ("man8/zerg.8", "man5/zerg.json.5", "man3/zerg-http-handler.3"):
            with open(os.path.join(zgtest.ROOT, "conf", os.path.basename(page)), "rb") as f, \
                    open(os.path.join(prefix, "share", "man", page), "rb") as g:
                assert f.read() == g.read(), page + " installed differs from conf/"

        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib",
                                                            "pkgconfig"))
        cflags = _run(["pkg-config", "--define-prefix", "--cflags", "zerg"],
                      env=env).split()
        assert ("-I" + os.path.join(prefix, "include")) in cflags, cflags
        # Version and ABI come from one place each: configure's version
        # (what zerg -v prints) and the header's ZG_ABI_MAJOR/MINOR.
        with open(os.path.join(prefix, "lib", "pkgconfig", "zerg.pc")) as f:
            pc = f.read()
        assert "@" not in pc, "unsubstituted placeholder in zerg.pc:\n" + pc
        vline = _run([os.path.join(prefix, "bin", "zerg"), "-v"]).strip()
        m = re.match(r"^zerg version (\S+) \(plugin ABI (\d+)\.(\d+)\)$", vline)
        assert m, "zerg -v printed %r" % vline
        version = _run(["pkg-config", "--modversion", "zerg"], env=env).strip()
        assert version == m.group(1), "modversion %r, zerg -v %r" % (version, vline)
        with open(os.path.join(zgtest.ROOT, "core", "include", "zerg",
                               "plugin.h")) as f:
            hdr = f.read()
        for part, got_v in (("MAJOR", m.group(2)), ("MINOR", m.group(3))):
            want = re.search(r"^#define ZG_ABI_%s\s+(\d+)$" % part, hdr, re.M).group(1)
            var = _run(["pkg-config", "--variable=abi_" + part.lower(), "zerg"],
                       env=env).strip()
            assert var == want, "abi_%s %r, header %r" % (part.lower(), var, want)
            assert got_v == want, "zerg -v ABI %s %r, header %r" % (part, got_v, want)
        with open(os.path.join(zgtest.ROOT, "core", "include", "zerg",
                               "http.h")) as f:
            hhdr = f.read()
        for part in ("MAJOR", "MINOR"):
            want = re.search(r"^#define ZG_HTTP_ABI_%s\s+(\d+)$" % part, hhdr,
                             re.M).group(1)
            var = _run(["pkg-config", "--variable=http_abi_" + part.lower(),
                        "zerg"], env=env).strip()
            assert var == want, "http_abi_%s %r, header %r" % (part.lower(), var,
                                                               want)
        plugindir = _run(["pkg-config", "--define-prefix",
                          "--variable=plugindir", "zerg"], env=env).strip()
        assert os.path.isdir(plugindir), plugindir

        # The example plugin, compiled against the installed header only.
        work = tempfile.mkdtemp(prefix="zg-oot-", dir=dest)
        src = os.path.join(work, "myecho.c")
        with open(os.path.join(zgtest.ROOT, "plugins", "echo", "echo.c")) as f:
            text = f.read()
        with open(src, "w") as f:
            f.write(text.replace('.name = "echo"', '.name = "myecho"'))
        so = os.path.join(work, "myecho.so")
        _run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-shared",
              "-fPIC", "-fvisibility=hidden", "-Wl,-z,defs"] + cflags +
             ["-o", so, src])
        exported = _run(["nm", "-D", "--defined-only", so]).split()
        assert "zg_plugin_entry_v1" in exported

        saved, zgtest.ZERG = zgtest.ZERG, os.path.join(prefix, "bin", "zerg")
        cfg = {"listeners": [{"name": "m", "listen": "127.0.0.1:0",
                              "plugin": so}]}
        try:
            srv = zgtest.start(cfg, tag="install")
        finally:
            zgtest.ZERG = saved
        s = zgtest.connect(srv.addr("m"))
        s.sendall(b"out of tree")
        assert zgtest.recv_exact(s, 11) == b"out of tree"
        s.close()
        srv.stop()
        assert "loaded myecho" in srv.stderr_text()

        _out_of_tree_handler(prefix, cflags, work)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def _man_example():
    """The C source of zerg-http-handler(3)'s EXAMPLE section."""
    with open(os.path.join(zgtest.ROOT, "conf", "zerg-http-handler.3")) as f:
        man = f.read()
    sect = man[man.index("\n.SH EXAMPLE\n"):]
    code = sect[sect.index("\n.EX\n") + 4:sect.index("\n.EE\n")]
    return code.replace("\\e", "\\").replace("\\-", "-") + "\n"


def _out_of_tree_handler(prefix, cflags, work):
    """Build the man page's example handler against the installed headers
    only, and serve it from the installed zerg, next to the installed
    arena handler found by name."""
    src = os.path.join(work, "hello.c")
    with open(src, "w") as f:
        f.write(_man_example())
    so = os.path.join(work, "hello.so")
    _run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
          "-fvisibility=hidden", "-Wl,-z,defs"] + cflags + ["-o", so, src])
    exported = _run(["nm", "-D", "--defined-only", so]).split()
    assert "zg_http_handler_entry_v1" in exported and \
        "zg_plugin_entry_v1" not in exported, exported
    # http.so by path (the DESTDIR tree is not where the binary looks),
    # arena by name: found beside it.
    http_so = os.path.join(prefix, "lib", "zerg", "http.so")
    cfg = {"listeners": [{"name": "h", "listen": "127.0.0.1:0", "plugin": http_so,
                          "config": {"routes": [
                              {"path": "/hello", "handler": so,
                               "config": {"greeting": "Hi"}},
                              {"path": "/baseline11", "handler": "arena"}]}}]}
    saved, zgtest.ZERG = zgtest.ZERG, os.path.join(prefix, "bin", "zerg")
    try:
        srv = zgtest.start(cfg, tag="handler")
    finally:
        zgtest.ZERG = saved
    s = zgtest.connect(srv.addr("h"))
    s.sendall(b"GET /hello?name=zerg HTTP/1.1\r\nHost: t\r\n\r\n"
              b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
              b"GET /baseline11?a=40&b=2 HTTP/1.1\r\nHost: t\r\n"
              b"Connection: close\r\n\r\n")
    got = zgtest.recv_until_eof(s)
    s.close()
    srv.stop()
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in
              got.split(b"HTTP/1.1 200 OK\r\n")[1:]]
    assert bodies == [b"Hi, zerg!\n", b"Hi, world!\n", b"42"], got
    err = srv.stderr_text()
    assert "handler hello 1.0" in err and os.path.join(prefix, "lib", "zerg",
                                                       "arena.so") in err, err


if __name__ == "__main__":
    zgtest.run_tests(globals())
