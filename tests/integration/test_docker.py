#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the container files. conf/docker/seccomp-io_uring.json is a
# seccomp profile in Docker's format that denies by default with EPERM as
# Docker's own does, allows io_uring and every system call a real zerg
# makes (strace -f -c of a short run), and keeps what a container must not
# do denied; zerg serves under it, loaded with libseccomp as runc loads it,
# and fails with its one-line io_uring error once io_uring is taken out.
# The Dockerfile and conf/docker/zerg.json agree (ports, paths, packages).
# Docker itself is not run. `python3 tests/integration/test_docker.py
# --syscalls` repeats the longer traced run the profile was derived from
# (conf/docker/README.md).
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

DOCKER = os.path.join(zg.ROOT, "conf", "docker")
PROFILE = os.path.join(DOCKER, "seccomp-io_uring.json")
URING = ("io_uring_setup", "io_uring_enter", "io_uring_register")
# Allowed by no rule of the profile: each would let a process leave or
# change its container, as in Docker's default profile (which allows a few
# of them only with a capability the container is given).
NEVER = ("mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
         "ptrace", "process_vm_readv", "process_vm_writev", "kexec_load",
         "init_module", "finit_module", "delete_module", "bpf",
         "perf_event_open", "keyctl", "add_key", "request_key", "reboot",
         "swapon", "swapoff", "open_by_handle_at", "name_to_handle_at",
         "fsopen", "fsmount", "move_mount", "open_tree", "userfaultfd",
         "syslog", "acct", "settimeofday", "clock_settime", "iopl", "ioperm",
         "quotactl", "lookup_dcookie", "mbind", "set_mempolicy",
         "move_pages", "personality", "vhangup", "clone3")
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
# CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET: clone may not make these.
CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | \
    0x10000000 | 0x20000000 | 0x40000000


def _profile():
    with open(PROFILE) as f:
        return json.load(f)


def _named(prof):
    """Every system call a rule of the profile names (allowed, allowed
    with conditions, or answered with its own errno)."""
    return {n for rule in prof["syscalls"] for n in rule["names"]}


def _sanitized():
    """A sanitizer's runtime makes calls of its own; the profile is for
    the release build."""
    return "sanitize" in zg.run_zerg(["-V"]).stdout


# --------------------------------------------------------------------------
# the profile's form

def test_profile_is_docker_format_denying_by_default():
    prof = _profile()
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO", prof["defaultAction"]
    assert prof.get("defaultErrnoRet") == 1, "the default answer is not EPERM"
    archs = {a["architecture"] for a in prof["archMap"]}
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"} <= archs, archs
    allowed, seen = set(), set()
    for rule in prof["syscalls"]:
        assert set(rule) <= {"names", "action", "args", "errnoRet", "comment"}, rule
        assert rule["names"] and all(re.fullmatch(r"[a-z0-9_]+", n)
                                     for n in rule["names"]), rule["names"]
        dup = seen & set(rule["names"])
        assert not dup, "named by two rules: %s" % sorted(dup)
        seen |= set(rule["names"])
        assert rule["names"] == sorted(rule["names"]), \
            "names not sorted in rule %r" % rule.get("comment")
        assert rule["action"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"), rule["action"]
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"):
            allowed |= set(rule["names"])
    missing = [s for s in URING if s not in allowed]
    assert not missing, "io_uring calls not allowed: %s" % missing
    bad = sorted(allowed & set(NEVER))
    assert not bad, "the profile allows %s" % bad
    # clone only without namespace flags; clone3 (whose flags a filter
    # cannot see) answers ENOSYS, so the C library falls back to clone.
    clone = [r for r in prof["syscalls"] if "clone" in r["names"]]
    assert len(clone) == 1 and clone[0]["names"] == ["clone"], clone
    assert clone[0]["args"] == [{"index": 0, "value": CLONE_NS_FLAGS, "valueTwo": 0,
                                 "op": "SCMP_CMP_MASKED_EQ"}], clone[0]
    clone3 = [r for r in prof["syscalls"] if "clone3" in r["names"]]
    assert clone3 and clone3[0]["action"] == "SCMP_ACT_ERRNO" and \
        clone3[0]["errnoRet"] == 38, clone3


# --------------------------------------------------------------------------
# what zerg calls, seen by strace

def _summary_names(path):
    """System call names of an strace -c summary file."""
    names = set()
    with open(path) as f:
        for ln in f:
            parts = ln.split()
            if len(parts) >= 5 and re.fullmatch(r"[\d.]+", parts[0]) and \
                    parts[-1] != "total":
                names.add(parts[-1])
    return names


class Traced:
    """zgtest's ZERG run under strace -f -c for as long as the block
    lasts: every start() and run_zerg() in it is traced, each into a
    summary file of its own beside the test's logs; names() is the union
    of what they saw."""

    def __enter__(self):
        self.saved = zg.ZERG
        self.wrapper = zg.write_config("", tag="strace", suffix=".sh")
        with open(self.wrapper, "w") as f:
            f.write('#!/bin/sh\nout=$(mktemp "%s.XXXXXX")\n'
                    'echo "$out" >>"%s.list"\n'
                    'exec strace -f -qq -c -o "$out" %s "$@"\n'
                    % (self.wrapper, self.wrapper, zg.ZERG))
        os.chmod(self.wrapper, 0o755)
        zg.ZERG = self.wrapper
        return self

    def __exit__(self, *exc):
        zg.ZERG = self.saved
        return False

    def names(self):
        got = set()
        try:
            with open(self.wrapper + ".list") as f:
                outs = f.read().split()
        except FileNotFoundError:
            return got
        for out in outs:
            got |= _summary_names(out)
        return got


def _pid_from(path, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        assert time.monotonic() < deadline, "no pid in " + path
        time.sleep(0.02)


def _stop_traced(srv, pid, sig=signal.SIGQUIT, expect=0):
    """Stop a traced server: the signal goes to zerg (strace blocks the
    fatal ones while it runs a program), strace exits with its status."""
    os.kill(pid, sig)
    rc = srv.wait(20)
    assert rc is not None, "zerg did not stop under strace"
    srv.stopped, srv.returncode = True, rc
    srv.check_log()
    assert rc == expect, "exit status %s\n%s" % (rc, srv.stderr_text()[-2000:])


class _Reaped:
    """On an exception in the block, SIGKILL the zerg the pid file names:
    strace, killed by the cleanup, would leave its tracee running."""

    def __init__(self, pidfile):
        self.pidfile = pidfile

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            try:
                with open(self.pidfile) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        return False


def _fresh(tag, suffix):
    path = zg.write_config("", tag=tag, suffix=suffix)
    os.unlink(path)
    return path


def _echo(addr, data=b"hello\n"):
    s = zg.connect(addr)
    s.sendall(data)
    assert zg.recv_exact(s, len(data)) == data
    s.close()


def _http(addr, path, body=None, keepalive=2):
    """keepalive requests on one connection; returns the last response's
    body."""
    s = zg.connect(addr)
    f = s.makefile("rb")
    for i in range(keepalive):
        last = i == keepalive - 1
        head = "%s %s HTTP/1.1\r\nHost: t\r\n%s" % (
            "POST" if body is not None else "GET", path,
            "Connection: close\r\n" if last else "")
        if body is not None:
            head += "Content-Length: %d\r\n" % len(body)
        s.sendall(head.encode() + b"\r\n" + (body or b""))
        status = f.readline()
        assert b" 200 " in status, status
        length = 0
        while True:
            ln = f.readline()
            if ln in (b"\r\n", b""):
                break
            if ln.lower().startswith(b"content-length:"):
                length = int(ln.split(b":")[1])
        got = f.read(length)
    f.close()
    s.close()
    return got


def _short_run():
    """The test's run: echo and http on two reactors (an acceptor thread),
    a pid file, traffic on both, a log reopen and a graceful stop."""
    pidf = _fresh("short", ".pid")
    cfg = {"reactors": 2, "pid": pidf, "shutdown_timeout_ms": 2000, "listeners": [
        {"name": "e", "listen": "127.0.0.1:0", "plugin": "echo"},
        {"name": "h", "listen": "127.0.0.1:0", "plugin": "http",
         "config": {"routes": [{"path": "/echo", "type": "echo"}]}}]}
    with Traced() as t, _Reaped(pidf):
        srv = zg.start(cfg)
        pid = _pid_from(pidf)
        for _ in range(3):
            _echo(srv.addr("e"))
        assert _http(srv.addr("h"), "/plaintext") == b"Hello, World!"
        assert _http(srv.addr("h"), "/echo", body=b"x" * 40000) == b"x" * 40000
        os.kill(pid, signal.SIGUSR1)
        _echo(srv.addr("e"))
        _stop_traced(srv, pid)
    return t.names()


@zg.time_limit(90)
def test_profile_names_every_call_zerg_makes():
    if not shutil.which("strace"):
        raise zg.Skip("strace not installed")
    if subprocess.run(["strace", "-qq", "-o", "/dev/null", "true"],
                      capture_output=True, timeout=10).returncode != 0:
        raise zg.Skip("strace cannot trace here (ptrace denied)")
    if _sanitized():
        raise zg.Skip("a sanitizer build makes calls of its own")
    seen = _short_run()
    assert len(seen) > 20 and "io_uring_enter" in seen, \
        "strace saw too little: %s" % sorted(seen)
    missing = sorted(seen - _named(_profile()))
    assert not missing, ("conf/docker/seccomp-io_uring.json lacks system calls "
                         "zerg makes: %s (conf/docker/README.md says how the list "
                         "is made)" % missing)


# --------------------------------------------------------------------------
# zerg under the profile, loaded with libseccomp

_LOADER = r'''#!%(python)s
# Load %(profile)s with libseccomp, as runc does, then exec zerg.
import ctypes, json, os, sys
prof = json.load(open(%(profile)r))
drop = set(%(drop)r)
lib = ctypes.CDLL(%(lib)r, use_errno=True)
class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
def action(name, errno_ret):
    if name == "SCMP_ACT_ALLOW":
        return 0x7fff0000
    if name != "SCMP_ACT_ERRNO":
        sys.exit("loader: action %%s is not handled here" %% name)
    return 0x00050000 | (errno_ret & 0xffff)
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32,
                                       ctypes.c_int, ctypes.c_uint,
                                       ctypes.POINTER(Cmp)]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
ctx = lib.seccomp_init(action(prof["defaultAction"], prof.get("defaultErrnoRet", 1)))
if not ctx:
    sys.exit("loader: seccomp_init failed")
for rule in prof["syscalls"]:
    act = action(rule["action"], rule.get("errnoRet", 1))
    args = rule.get("args") or []
    arr = (Cmp * max(len(args), 1))(*[Cmp(a["index"], OPS[a["op"]], a["value"],
                                          a.get("valueTwo", 0)) for a in args])
    for name in rule["names"]:
        if name in drop:
            continue
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            continue  # not a call of this architecture (runc skips it too)
        rc = lib.seccomp_rule_add_array(ctx, act, nr, len(args), arr)
        if rc < 0:
            sys.exit("loader: rule for %%s: error %%d" %% (name, -rc))
rc = lib.seccomp_load(ctx)
if rc < 0:
    sys.exit("loader: seccomp_load: error %%d" %% -rc)
os.execv(%(zerg)r, [%(zerg)r] + sys.argv[1:])
'''


def _loader(drop=()):
    """An executable that loads the profile (less the calls in drop) and
    execs zerg with its arguments; Skip without libseccomp."""
    lib = ctypes.util.find_library("seccomp")
    if lib is None:
        raise zg.Skip("libseccomp not installed")
    path = zg.write_config(_LOADER % {"python": sys.executable, "profile": PROFILE,
                                      "drop": sorted(drop), "lib": lib,
                                      "zerg": zg.ZERG},
                           tag="seccomp", suffix=".py")
    os.chmod(path, 0o755)
    return path


@zg.time_limit(60)
def test_zerg_serves_under_the_profile():
    if _sanitized():
        raise zg.Skip("a sanitizer build makes calls of its own")
    loader = _loader()
    cfg = {"reactors": 2, "listeners": [
        {"name": "e", "listen": "127.0.0.1:0", "plugin": "echo"},
        {"name": "h", "listen": "127.0.0.1:0", "plugin": "http"}]}
    saved, zg.ZERG = zg.ZERG, loader
    try:
        srv = zg.start(cfg)
    finally:
        zg.ZERG = saved
    with open("/proc/%d/status" % srv.pid) as f:
        status = f.read()
    assert re.search(r"^Seccomp:\s+2$", status, re.M), "no seccomp filter:\n" + status
    for _ in range(3):
        _echo(srv.addr("e"))
    assert _http(srv.addr("h"), "/json") == b'{"message":"Hello, World!"}'
    srv.send_signal(signal.SIGUSR1)
    _echo(srv.addr("e"))
    srv.stop(signal.SIGQUIT)
    # The same filter without io_uring: zerg's one line, as under Docker's
    # default profile.
    p = subprocess.run([_loader(drop=URING), "-c", zg.write_config(cfg)],
                       capture_output=True, text=True, timeout=20, cwd=zg.ROOT)
    assert p.returncode == 1 and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip() == (
        "zerg: io_uring is not available: io_uring_setup() failed (1: Operation "
        "not permitted); a seccomp policy (container runtime?) denies it: allow "
        "io_uring_setup, io_uring_enter and io_uring_register"), p.stderr


# --------------------------------------------------------------------------
# the Dockerfile and its configuration

def test_dockerfile_agrees_with_its_config():
    with open(os.path.join(zg.ROOT, "Dockerfile")) as f:
        df = f.read()
    with open(os.path.join(DOCKER, "zerg.json")) as f:
        cfg = json.load(f)
    stages = re.findall(r"^FROM (\S+)", df, re.M)
    assert len(stages) == 2 and all(re.fullmatch(r"debian:(12|bookworm)(-slim)?", s)
                                    for s in stages), stages
    runtime = df[df.rindex("\nFROM "):]
    pkgs = set(re.findall(r"\b(lib[a-z0-9]+)\b", runtime.split("apt-get install", 1)[1]
                          .split("&&", 1)[0]))
    assert pkgs == {"liburing2", "libjansson4"}, pkgs
    user = re.findall(r"^USER (\S+)", runtime, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root"), user
    exposed = sorted(int(p) for ln in re.findall(r"^EXPOSE (.*)$", runtime, re.M)
                     for p in ln.split())
    ports = sorted(int(lst["listen"].rsplit(":", 1)[1]) for lst in cfg["listeners"])
    assert exposed == ports, "EXPOSE %s, listeners on %s" % (exposed, ports)
    for lst in cfg["listeners"]:
        assert lst["listen"].startswith("0.0.0.0:"), lst["listen"]
    # Every file copied from the build context exists, and the command
    # reads the configuration where it is copied to.
    for src in re.findall(r"^COPY (?!--from)(\S+) \S+$", df, re.M):
        assert src == "." or os.path.exists(os.path.join(zg.ROOT, src)), src
    copied = re.search(r"^COPY conf/docker/zerg\.json (\S+)$", runtime, re.M)
    assert copied, "the runtime stage does not copy conf/docker/zerg.json"
    cmd = json.loads(re.search(r"^CMD (.*)$", runtime, re.M).group(1))
    assert cmd == ["-c", copied.group(1)], cmd
    # The configuration is valid for this zerg (the sockets stay closed).
    r = zg.run_zerg(["-t", "-c", os.path.join(DOCKER, "zerg.json")])
    assert r.returncode == 0, r.stderr
    # The build context leaves out what a local build leaves behind.
    with open(os.path.join(zg.ROOT, ".dockerignore")) as f:
        ignored = f.read().split()
    for pat in ("**/*.o", "**/*.so", "zerg", "Makefile", "core/zerg_build.h", ".git"):
        assert pat in ignored, ".dockerignore lacks " + pat


# --------------------------------------------------------------------------
# the derivation run (not a test): python3 test_docker.py --syscalls

def _derive():
    """Trace zerg through everything it does in a container and more: the
    command-line verbs, every in-tree plugin, handler and module, two
    reactor layouts, log reopen, a HUP, a graceful and a fast stop, the
    master with a crashing worker restarted, and (as root) the drop to an
    unprivileged user. Returns {scenario: names}."""
    got = {}
    up = zg.Upstream(lambda s: s.sendall(s.recv(4096)))
    pidf = _fresh("full", ".pid")
    alog = _fresh("full", ".access.log")
    elog = _fresh("full", ".error.log")
    listeners = [
        {"name": "e", "listen": "127.0.0.1:0", "plugin": "echo"},
        {"name": "h", "listen": "127.0.0.1:0", "plugin": "http",
         "modules": [{"module": "access", "config": {"rules": [{"allow": "127.0.0.0/8"}]}},
                     {"module": "limit_conn", "config": {"per_address": 1000}},
                     {"module": "access_log", "config": {"path": alog}}],
         "config": {"routes": [{"path": "/echo", "type": "echo"},
                               {"path": "/delay", "handler": "async"},
                               {"path": "/baseline11", "handler": "arena"}]}},
        {"name": "pp", "listen": "127.0.0.1:0", "plugin": "echo",
         "modules": [{"module": "proxy_protocol"}]},
        {"name": "m", "listen": "127.0.0.1:0", "plugin": "stats"},
        {"name": "o", "listen": "127.0.0.1:0", "plugin": "offload"},
        {"name": "p", "listen": "127.0.0.1:0", "plugin": "proxy",
         "config": {"upstreams": [{"address": up.addr}, {"address": "localhost:%d" % up.port}]}}]
    full = {"reactors": 2, "pid": pidf, "shutdown_timeout_ms": 2000,
            "log": {"level": "debug", "error_log": elog}, "listeners": listeners}
    conf = zg.write_config(full)

    def traffic(srv):
        _echo(srv.addr("e"))
        h = srv.addr("h")
        assert _http(h, "/plaintext") == b"Hello, World!"
        assert _http(h, "/echo", body=b"y" * 100000) == b"y" * 100000
        assert _http(h, "/delay?ms=5") == b"done"
        _http(h, "/baseline11?a=1&b=2")
        _http(srv.addr("m"), "/metrics", keepalive=1)
        s = zg.connect(srv.addr("pp"))
        s.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.2 1111 2222\r\nhi\n")
        assert zg.recv_exact(s, 3) == b"hi\n"
        s.close()
        s = zg.connect(srv.addr("o"))
        s.sendall(b"sleep 5\nsum 1 2\n")
        assert zg.recv_exact(s, len(b"slept 5\n3\n")) == b"slept 5\n3\n"
        s.close()
        _echo(srv.addr("p"), b"through the proxy\n")
        if shutil.which("curl"):
            subprocess.run(["curl", "-s", "-o", "/dev/null", "http://%s:%d/json" % h],
                           timeout=10, check=True)
        if shutil.which("wrk"):
            subprocess.run(["wrk", "-t1", "-c8", "-d1s", "http://%s:%d/plaintext" % h],
                           capture_output=True, timeout=30, check=True)

    with Traced() as t:
        for args in (["-h"], ["-v"], ["-V"], ["-t", "-c", conf], ["-T", "-c", conf],
                     ["-S", "-c", conf]):
            zg.run_zerg(args)
    got["command line"] = t.names()

    with Traced() as t, _Reaped(pidf):
        srv = zg.start(full)
        pid = _pid_from(pidf)
        traffic(srv)
        os.kill(pid, signal.SIGUSR1)
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.2)
        traffic(srv)
        _stop_traced(srv, pid)
    got["two reactors, graceful stop"] = t.names()

    one = _fresh("one", ".pid")
    with Traced() as t, _Reaped(one):
        srv = zg.start(dict(full, pid=one, reactors=1))
        pid = _pid_from(one)
        traffic(srv)
        _stop_traced(srv, pid, sig=signal.SIGTERM)
    got["one reactor, fast stop"] = t.names()

    crash = {"master": True, "pid": pidf, "shutdown_timeout_ms": 1000, "listeners": [
        {"name": "c", "listen": "127.0.0.1:0", "plugin": zg.fixture("fx_crash")}]}
    with Traced() as t, _Reaped(pidf):
        srv = zg.start(crash)
        srv.allow = [r"\[alert\] \d+#\d+: crashed on SIG", r"\[alert\] .*master: worker"]
        pid = _pid_from(pidf)
        _echo(srv.addr("c"))
        s = zg.connect(srv.addr("c"))
        s.sendall(b"SEGV\n")
        zg.expect_eof(s)
        s.close()
        _echo(srv.addr("c"))
        with open(conf) as f:
            mconf = zg.write_config(dict(json.load(f), pid=pidf))
        zg.run_zerg(["-s", "reopen", "-c", mconf])
        time.sleep(0.2)
        _stop_traced(srv, pid, sig=signal.SIGTERM)
    got["master, worker crash and restart, zerg -s"] = t.names()

    if os.geteuid() == 0:
        user = _fresh("user", ".pid")
        with Traced() as t, _Reaped(user):
            srv = zg.start(dict(full, pid=user, log={}, user="nobody"))
            pid = _pid_from(user)
            traffic(srv)
            _stop_traced(srv, pid)
        got["as root, dropping to nobody"] = t.names()
    up.close()
    return got


def _print_derivation():
    zg._ctx.update(module="test_docker", test="syscalls", seq=0, servers=[])
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    got = _derive()
    union = set().union(*got.values())
    named = _named(_profile())
    for scenario, names in got.items():
        print("%s: %d calls" % (scenario, len(names)))
    print("\nseen: %s" % " ".join(sorted(union)))
    print("\nnot in the profile: %s" % (" ".join(sorted(union - named)) or "none"))
    zg._cleanup_servers()


if __name__ == "__main__":
    if sys.argv[1:] == ["--syscalls"]:
        _print_derivation()
    else:
        zg.run_tests(globals())
