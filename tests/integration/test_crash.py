#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: crashes and stuck plugins against the real binary, with the
# fx_crash fixture ("SEGV", "ABRT", "HANG", "RECURSE" lines; any other line
# is echoed): the crash line (signal, reactor, plugin) and backtrace in the
# error log and death by the same signal; a fast stop bounded by
# shutdown_timeout_ms while a callback spins, refusing new connections at
# once; SIGUSR2 logged, not fatal; and "master": true, where a crash costs
# the worker's connections, not the service, and a crash loop backs off.
#
# Under AddressSanitizer the server would report a SEGV itself (and exit 1)
# instead of running zerg's handler: the tests run it with handle_segv=0
# and friends, set below for every server this module starts.
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402

# No core files from the crashes on purpose (children inherit the limit).
_soft, _hard = resource.getrlimit(resource.RLIMIT_CORE)
resource.setrlimit(resource.RLIMIT_CORE, (0, _hard))
_asan = os.environ.get("ASAN_OPTIONS", "")
os.environ["ASAN_OPTIONS"] = ":".join(
    x for x in (_asan, "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0")
    if x)

CRASH_ALLOW = [r"\[alert\] \d+#\d+: crashed on SIG"]
STUCK_ALLOW = [r"\[alert\] .*did not stop within", r"\[alert\] .*backtrace of reactor",
               r"\[alert\] .*did not answer the request for its backtrace"]
MASTER_ALLOW = CRASH_ALLOW + [r"\[alert\] .*master: worker \d+ exited"]


_tsan = []


def tsan_build():
    """ThreadSanitizer delays a signal to a thread until it calls into the
    C library, so a thread spinning in pure code never answers the stop
    watchdog's request for its backtrace."""
    if not _tsan:
        _tsan.append("sanitize=thread" in zg.run_zerg(["-V"]).stdout)
    return _tsan[0]


def crash_config(reactors=1, **top):
    cfg = {"reactors": reactors, "shutdown_timeout_ms": 1000, "listeners": [
        {"name": "c", "listen": "127.0.0.1:0", "plugin": zg.fixture("fx_crash")}]}
    cfg.update(top)
    return cfg


def fresh_path(tag, suffix):
    path = zg.write_config("", tag=tag, suffix=suffix)
    os.unlink(path)
    return path


def echo_line(addr, line=b"hello\n", timeout=10):
    s = zg.connect(addr, timeout=timeout)
    try:
        s.sendall(line)
        assert zg.recv_exact(s, len(line), timeout=timeout) == line
    finally:
        s.close()


def send_fatal(addr, cmd):
    """Send cmd on a fresh connection after one echoed line; the connection
    must then end (EOF or reset) with nothing more."""
    s = zg.connect(addr)
    s.sendall(b"ping\n")
    assert zg.recv_exact(s, 5) == b"ping\n"
    s.sendall(cmd)
    zg.expect_eof(s)
    s.close()


def wait_exit(srv, timeout=10):
    rc = srv.wait(timeout)
    assert rc is not None, "zerg still running %ss after the crash" % timeout
    srv.stopped, srv.returncode = True, rc
    srv.check_log()
    return rc


def wait_log(srv, pattern, timeout=10, count=1):
    """Wait until pattern (a regex) matches count lines of the server's
    log; return the matches."""
    deadline = time.monotonic() + timeout
    while True:
        found = re.findall(pattern, srv.stderr_text(), re.M)
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, "no %d line(s) matching %r in:\n%s" % (
            count, pattern, srv.stderr_text()[-3000:])
        time.sleep(0.02)


def check_backtrace(text, after):
    """The lines following the one matching after are a backtrace through
    the fixture."""
    lines = text.splitlines()
    at = [i for i, ln in enumerate(lines) if re.search(after, ln)]
    assert at, "no line matching %r" % after
    bt = lines[at[0] + 1:at[0] + 65]
    frames = [ln for ln in bt if re.search(r"\[0x[0-9a-f]+\]$", ln)]
    assert len(frames) >= 3, "no backtrace after %r:\n%s" % (after, "\n".join(bt[:10]))
    assert any("fx_crash.so" in ln for ln in frames), \
        "the backtrace does not go through fx_crash.so:\n%s" % "\n".join(frames)


# --------------------------------------------------------------------------
# the crash handler

def test_segv_names_signal_reactor_plugin_and_dies_by_it():
    srv = zg.start(crash_config())
    srv.allow = CRASH_ALLOW
    send_fatal(srv.addr("c"), b"SEGV\n")
    rc = wait_exit(srv)
    assert rc == -signal.SIGSEGV, "exit status %s, not death by SIGSEGV" % rc
    err = srv.stderr_text()
    line = r"\[alert\] %d#\d+: crashed on SIGSEGV \(fault at address 0x0\) in reactor 0, " \
        r"plugin fx_crash callback running; backtrace:$" % srv.pid
    assert len(re.findall(line, err, re.M)) == 1, err
    check_backtrace(err, line)


def test_abort_on_the_second_reactor():
    # Round robin: the second connection lands on reactor 1.
    srv = zg.start(crash_config(reactors=2, accept="acceptor"))
    srv.allow = CRASH_ALLOW
    first = zg.connect(srv.addr("c"))
    first.sendall(b"one\n")
    assert zg.recv_exact(first, 4) == b"one\n"
    send_fatal(srv.addr("c"), b"ABRT\n")
    rc = wait_exit(srv)
    first.close()
    assert rc == -signal.SIGABRT, "exit status %s, not death by SIGABRT" % rc
    err = srv.stderr_text()
    line = r"crashed on SIGABRT \(raised by zerg itself: abort\(\) or an assertion\) " \
        r"in reactor 1, plugin fx_crash callback running; backtrace:$"
    assert re.search(line, err, re.M), err
    check_backtrace(err, line)


def test_stack_overflow_is_reported():
    srv = zg.start(crash_config())
    srv.allow = CRASH_ALLOW
    send_fatal(srv.addr("c"), b"RECURSE\n")
    rc = wait_exit(srv, timeout=20)
    assert rc == -signal.SIGSEGV, "exit status %s" % rc
    err = srv.stderr_text()
    line = r"crashed on SIGSEGV \(fault at address 0x[0-9a-f]+\) in reactor 0, " \
        r"plugin fx_crash callback running; backtrace:$"
    assert re.search(line, err, re.M), err[-3000:]
    check_backtrace(err, line)


def test_usr2_to_a_worker_is_logged_not_fatal():
    # USR2 upgrades the binary (test_upgrade.py); a master's worker leaves
    # that to its master and says so.
    srv = zg.start(crash_config(master=True))
    wait_log(srv, r"master process \d+: worker \d+ serves")
    worker = worker_pids(srv)[0]
    os.kill(worker, signal.SIGUSR2)
    wait_log(srv, r"\[warn\] %d#\d+: SIGUSR2: this is a master's worker; send it to "
             r"the master \(pid %d\) to upgrade" % (worker, srv.pid))
    echo_line(srv.addr("c"))
    assert worker_pids(srv) == [worker]
    srv.stop()


# --------------------------------------------------------------------------
# a stop bounded while a callback never returns

@zg.time_limit(30)
def test_fast_stop_with_a_hung_callback_is_bounded():
    pidf = fresh_path("hang", ".pid")
    srv = zg.start(crash_config(pid=pidf))
    srv.allow = STUCK_ALLOW
    addr = srv.addr("c")
    echo_line(addr)
    s = zg.connect(addr)
    s.sendall(b"HANG\n")
    time.sleep(0.3)  # the reactor is now spinning in on_data
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    # New connections are refused at once, not queued for nobody.
    time.sleep(0.2)
    refused = False
    for _ in range(20):
        try:
            c = socket.create_connection(addr, timeout=1)
        except ConnectionRefusedError:
            refused = True
            break
        c.close()
        time.sleep(0.05)
    assert refused, "a new connection was still accepted after SIGTERM"
    rc = srv.wait(10)
    secs = time.monotonic() - t0
    srv.stopped, srv.returncode = True, rc
    s.close()
    srv.check_log()
    assert rc == 1, "exit status %s (expected 1)" % rc
    assert 0.9 <= secs <= 1.0 + 2.0, "exited %.2fs after SIGTERM (bound 1 s)" % secs
    err = srv.stderr_text()
    line = r"\[alert\] .*: reactor 0 did not stop within shutdown_timeout_ms \(1000 ms; " \
        r"plugin fx_crash callback running\), exiting$"
    assert re.search(line, err, re.M), err[-3000:]
    if tsan_build():
        assert "reactor 0 did not answer the request for its backtrace" in err, err
    else:
        check_backtrace(err, r"backtrace of reactor 0:$")
    assert not os.path.exists(pidf), "pid file left behind"


def test_fast_stop_bound_is_not_hit_by_a_normal_stop():
    srv = zg.start(crash_config(shutdown_timeout_ms=0))
    echo_line(srv.addr("c"))
    rc, secs = srv.stop(max_seconds=0.9)
    assert "did not stop" not in srv.stderr_text()


# --------------------------------------------------------------------------
# the master

def worker_pids(srv):
    return [int(p) for p in re.findall(r"master: started worker process (\d+)",
                                       srv.stderr_text())]


def echo_soon(addr, timeout=10):
    """Echo a line on a new connection: while no worker runs, it waits in
    the backlog of the socket the master holds."""
    echo_line(addr, timeout=timeout)


@zg.time_limit(40)
def test_master_restarts_a_crashed_worker():
    pidf = fresh_path("master", ".pid")
    srv = zg.start(crash_config(master=True, pid=pidf))
    srv.allow = MASTER_ALLOW
    addr = srv.addr("c")
    with open(pidf) as f:
        assert f.read() == "%d\n" % srv.pid, "pid file does not name the master"
    wait_log(srv, r"master process %d: worker \d+ serves" % srv.pid)
    first = worker_pids(srv)
    assert len(first) == 1 and first[0] != srv.pid, first
    bystander = zg.connect(addr)
    bystander.sendall(b"alive\n")
    assert zg.recv_exact(bystander, 6) == b"alive\n"
    send_fatal(addr, b"SEGV\n")
    # The next connection, same port, is served by the new worker.
    t0 = time.monotonic()
    echo_soon(addr)
    assert time.monotonic() - t0 < 5, "the restart took %.1fs" % (time.monotonic() - t0)
    assert srv.alive(), "the master died"
    # The crash cost the connections the worker held.
    zg.expect_eof(bystander)
    bystander.close()
    wait_log(srv, r"\[alert\] %d#\d+: master: worker %d exited on signal SIGSEGV"
             r"( \(core dumped\))?, restarting$" % (srv.pid, first[0]))
    wait_log(srv, r"crashed on SIGSEGV .* in reactor 0, plugin fx_crash callback running")
    pids = worker_pids(srv)
    assert len(pids) == 2 and pids[1] not in (srv.pid, first[0]), pids
    with open(pidf) as f:
        assert f.read() == "%d\n" % srv.pid, "pid file no longer names the master"
    # A requested stop ends both, and the pid file.
    srv.stop()
    assert not os.path.exists(pidf), "pid file left behind"
    err = srv.stderr_text()
    assert re.search(r"master: worker %d exited with status 0$" % pids[1], err, re.M), err
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid) or \
            open("/proc/%d/stat" % pid).read().split()[2] == "Z", "worker %d left" % pid


def test_master_stopped_while_a_restarted_worker_starts():
    """A stop that comes while the master's restarted worker is still
    starting is a stop like any other: exit status 0, though the worker,
    finding its sockets shut down by the stop, could not start (it made
    the master exit 1)."""
    cfg = crash_config(master=True)
    cfg["listeners"].append({"name": "s", "listen": "127.0.0.1:0",
                             "plugin": zg.fixture("fx_crash"), "config": {"init_ms": 800}})
    srv = zg.start(cfg)
    srv.allow = MASTER_ALLOW
    wait_log(srv, r"master process %d: worker \d+ serves" % srv.pid)
    send_fatal(srv.addr("c"), b"SEGV\n")
    wait_log(srv, r"master: started worker process \d+", count=2)
    srv.stop()
    err = srv.stderr_text()
    assert "serves" not in err.split("started worker process")[-1], \
        "the restarted worker served before the stop: nothing tested\n" + err

@zg.time_limit(60)
def test_master_crash_loop_backs_off():
    srv = zg.start(crash_config(master=True))
    srv.allow = MASTER_ALLOW
    addr = srv.addr("c")
    for i in range(1, 6):
        echo_soon(addr)
        send_fatal(addr, b"SEGV\n")
        wait_log(srv, r"master: worker \d+ exited on signal SIGSEGV", count=i)
    # Five exits within 10 s: the fifth restart waits a second.
    t0 = time.monotonic()
    wait_log(srv, r"master: worker \d+ exited on signal SIGSEGV( \(core dumped\))?; it "
             r"exited 5 times within 10 s: restarting it in 1000 ms \(crash loop back-off\)$")
    echo_soon(addr, timeout=15)
    waited = time.monotonic() - t0
    assert waited >= 0.8, "served %.2fs after the fifth crash: no back-off" % waited
    # Still looping: the next wait doubles.
    send_fatal(addr, b"SEGV\n")
    wait_log(srv, r"it exited 5 times within 10 s: restarting it in 2000 ms")
    # A stop during the back-off ends the master at once.
    t0 = time.monotonic()
    rc, secs = srv.stop(max_seconds=2)
    assert rc == 0


@zg.time_limit(30)
def test_master_forwards_signals_and_quits():
    pidf = fresh_path("fwd", ".pid")
    cfg_path = zg.write_config(crash_config(master=True, pid=pidf))
    srv = zg.start(cfg_path)
    wait_log(srv, r"master process \d+: worker \d+ serves")
    worker = worker_pids(srv)[0]
    r = zg.run_zerg(["-s", "reopen", "-c", cfg_path])
    assert r.returncode == 0, r.stderr
    wait_log(srv, r"\[notice\] %d#\d+: master: reopening error_log: done" % srv.pid)
    wait_log(srv, r"\[notice\] %d#\d+: reopening error_log: done" % worker)
    srv.send_signal(signal.SIGHUP)
    wait_log(srv, r"%d#\d+: reload: generation 1, \d+ listeners" % worker)
    echo_line(srv.addr("c"))
    r = zg.run_zerg(["-s", "quit", "-c", cfg_path])
    assert r.returncode == 0, r.stderr
    rc = srv.wait(10)
    srv.stopped, srv.returncode = True, rc
    srv.check_log()
    assert rc == 0, rc
    assert not os.path.exists(pidf)
    err = srv.stderr_text()
    assert re.search(r"%d#\d+: SIGQUIT received: graceful stop" % worker, err), err
    assert len(worker_pids(srv)) == 1, "the worker was restarted after a requested stop"


@zg.time_limit(30)
def test_master_with_a_hung_worker_stops_in_bound():
    srv = zg.start(crash_config(master=True))
    srv.allow = STUCK_ALLOW
    addr = srv.addr("c")
    wait_log(srv, r"master process \d+: worker \d+ serves")
    s = zg.connect(addr)
    s.sendall(b"HANG\n")
    time.sleep(0.3)
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    try:
        c = socket.create_connection(addr, timeout=1)
        c.close()
        raise AssertionError("a new connection was accepted after SIGTERM")
    except ConnectionRefusedError:
        pass
    rc = srv.wait(10)
    secs = time.monotonic() - t0
    srv.stopped, srv.returncode = True, rc
    s.close()
    srv.check_log()
    assert rc == 1, "master exit status %s (the worker's 1 expected)" % rc
    assert secs <= 3.0, "took %.2fs" % secs
    wait_log(srv, r"reactor 0 did not stop within shutdown_timeout_ms \(1000 ms; "
             r"plugin fx_crash callback running\), exiting")
    assert len(worker_pids(srv)) == 1, "restarted after a requested stop"


def test_master_first_worker_failure_is_not_retried():
    path = zg.write_config({"master": True, "listeners": [
        {"name": "c", "listen": "127.0.0.1:0", "plugin": zg.fixture("fx_initfail")}]})
    base = zg.write_config("", tag="initfail", suffix=".err")
    t0 = time.monotonic()
    p = subprocess.run([zg.ZERG, "-c", path], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=20, env=zg._env())
    err = p.stderr.decode(errors="replace")
    with open(base, "w") as f:
        f.write(err)
    assert p.returncode == 1, (p.returncode, err)
    assert time.monotonic() - t0 < 10
    assert "init refused its config" in err, err
    assert re.search(r"master: worker \d+ exited with status 1 before it served, "
                     r"not restarting it", err), err
    assert len(re.findall(r"started worker process", err)) == 1, err


@zg.time_limit(60)
def test_master_restarts_with_the_reloaded_configuration():
    """A worker restarted after a crash serves what the one before it
    served after its last reload: not the configuration the master started
    with, not a file edited since without a reload, not one whose reload
    failed."""
    cfg = crash_config(master=True)
    cfg["listeners"].append({"name": "d", "listen": "127.0.0.1:0", "plugin": "echo"})
    srv = zg.start(cfg)
    srv.allow = MASTER_ALLOW + [r"\[error\] .*reload failed"]
    addr, gone = srv.addr("c"), srv.addr("d")
    wait_log(srv, r"master process %d: worker \d+ serves" % srv.pid)
    echo_line(gone)
    # The reload adds a listener the master knows nothing of and removes
    # one whose socket the master holds.
    port = zg.free_port()
    cfg["listeners"] = [dict(cfg["listeners"][0], listen="%s:%d" % addr),
                        {"name": "x", "listen": "127.0.0.1:%d" % port, "plugin": "echo"}]
    zg._write(srv.config_path, cfg)
    srv.send_signal(signal.SIGHUP)
    wait_log(srv, r"\[notice\] %d#\d+: master: worker \d+ reloaded; a restarted "
             r"worker starts with that configuration$" % srv.pid)
    wait_log(srv, r"master: listener \"d\" \(127.0.0.1:0\) is not in the configuration "
             r"worker \d+ reloaded: closing the socket held for it$")
    echo_line(("127.0.0.1", port))
    # Nobody holds d's socket any more: refused, not queued unanswered.
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(gone, timeout=2).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "%s:%d still takes connections" % gone
        time.sleep(0.05)
    # An edit nobody reloaded: not what runs.
    edited = dict(cfg, listeners=cfg["listeners"][:1])
    zg._write(srv.config_path, edited)
    send_fatal(addr, b"SEGV\n")
    wait_log(srv, r"master: started worker process \d+ \(with the configuration "
             r"of the last reload\)$")
    echo_soon(addr)
    echo_line(("127.0.0.1", port))
    # A reload that fails changes nothing, in the worker or the master.
    zg._write(srv.config_path, '{ "reactors": 1, ')
    srv.send_signal(signal.SIGHUP)
    wait_log(srv, r"reload failed, the running configuration stays")
    send_fatal(addr, b"SEGV\n")
    wait_log(srv, r"master: started worker process \d+ \(with the configuration "
             r"of the last reload\)$", count=2)
    echo_soon(addr)
    echo_line(("127.0.0.1", port))
    assert len(worker_pids(srv)) == 3, srv.stderr_text()
    srv.stop()


def test_master_config_key():
    r = zg.run_zerg(["-T", "-c", zg.write_config(crash_config())])
    assert r.returncode == 0, r.stderr
    assert '"master": false' in r.stdout, r.stdout
    r = zg.run_zerg(["-T", "-c", zg.write_config(crash_config(master=True))])
    assert r.returncode == 0 and '"master": true' in r.stdout, r.stdout
    r = zg.run_zerg(["-t", "-c", zg.write_config(crash_config(master="yes"))])
    assert r.returncode == 1 and "master: expected" in r.stderr, r.stderr
    r = zg.run_zerg(["-t", "-c", zg.write_config(
        crash_config(master=True, reactors=2, accept="reuseport"))])
    assert r.returncode == 1
    assert '"master": true needs "accept": "acceptor" (or "auto") with 2 reactors' \
        in r.stderr, r.stderr
    # Two reactors with the acceptor: one socket per listener, fine.
    srv = zg.start(crash_config(master=True, reactors=2))
    srv.allow = MASTER_ALLOW
    wait_log(srv, r"master process \d+: worker \d+ serves")
    echo_line(srv.addr("c"))
    send_fatal(srv.addr("c"), b"SEGV\n")
    echo_soon(srv.addr("c"))
    srv.stop()


def wait_listening_lines(srv, n, timeout=10):
    """Until stdout has n "listening" lines (a start or a reload prints one
    per listener)."""
    deadline = time.monotonic() + timeout
    while srv.stdout_text().count("listening ") < n:
        assert time.monotonic() < deadline, srv.stderr_text()[-3000:]
        time.sleep(0.02)


def _two_listener_master():
    cfg = crash_config(master=True)
    cfg["listeners"].append({"name": "d", "listen": "127.0.0.1:0", "plugin": "echo"})
    srv = zg.start(cfg)
    srv.allow = MASTER_ALLOW
    for lc in cfg["listeners"]:
        lc["listen"] = "%s:%d" % srv.addr(lc["name"])
    wait_log(srv, r"master process %d: worker \d+ serves" % srv.pid)
    return srv, cfg


def _reload_then_crash(srv, cfg, crash_at):
    zg._write(srv.config_path, cfg)
    srv.send_signal(signal.SIGHUP)
    wait_log(srv, r"master: worker \d+ reloaded; a restarted worker starts")
    send_fatal(crash_at, b"SEGV\n")
    wait_log(srv, r"master: started worker process \d+ \(with the configuration "
             r"of the last reload\)$")


@zg.time_limit(40)
def test_master_restart_after_a_reload_that_renames_a_listener():
    """A reload that renames a listener keeps its socket (same address): the
    worker restarted after a crash gets that socket under the new name,
    instead of finding the port taken by the master and dying at start."""
    srv, cfg = _two_listener_master()
    d = srv.addr("d")
    cfg["listeners"][1]["name"] = "e"
    _reload_then_crash(srv, cfg, srv.addr("c"))
    echo_soon(d)
    wait_listening_lines(srv, 6)
    assert zg.parse_listening(srv.stdout_text())["e"] == d
    assert "exited with status" not in srv.stderr_text(), srv.stderr_text()[-3000:]
    srv.stop()


@zg.time_limit(40)
def test_master_restart_after_a_reload_that_swaps_two_addresses():
    """Two listeners that trade addresses by a reload: the restarted worker
    serves each at its reloaded address, as its predecessor did, not at the
    one the master bound it for first."""
    srv, cfg = _two_listener_master()
    c, d = srv.addr("c"), srv.addr("d")
    cfg["listeners"][0]["listen"], cfg["listeners"][1]["listen"] = \
        cfg["listeners"][1]["listen"], cfg["listeners"][0]["listen"]
    _reload_then_crash(srv, cfg, d)
    wait_listening_lines(srv, 6)
    now = zg.parse_listening(srv.stdout_text())
    assert (now["c"], now["d"]) == (d, c), (now, c, d)
    # The crash fixture answers at d's first address, the echo at c's.
    send_fatal(d, b"SEGV\n")
    wait_log(srv, r"master: started worker process \d+ \(with the configuration "
             r"of the last reload\)$", count=2)
    srv.stop()


@zg.time_limit(40)
def test_master_restart_after_a_reload_that_turns_the_master_off():
    """A reload keeps "master", "reactors" and "accept" (they take a
    restart), but the master adopts the text: a worker it restarts must not
    start as a reuseport group of several reactors on the one socket per
    listener the master holds (it would fail at every start)."""
    cfg = crash_config(master=True)
    srv = zg.start(cfg)
    srv.allow = MASTER_ALLOW + [r"\[alert\] .*master: the configuration worker \d+ "
                                r"reloaded asks for \"accept\": \"reuseport\" with 2 "
                                r"reactors, which a master's worker cannot run"]
    c = srv.addr("c")
    wait_log(srv, r"master process %d: worker \d+ serves" % srv.pid)
    cfg = dict(cfg, master=False, reactors=2, accept="reuseport")
    cfg["listeners"] = [dict(cfg["listeners"][0], listen="%s:%d" % c)]
    zg._write(srv.config_path, cfg)
    srv.send_signal(signal.SIGHUP)
    wait_log(srv, r"master: the configuration worker \d+ reloaded asks for "
             r"\"accept\": \"reuseport\" with 2 reactors")
    send_fatal(c, b"SEGV\n")
    wait_log(srv, r"master: started worker process \d+", count=2)
    echo_soon(c)
    wait_listening_lines(srv, 3)
    assert "exited with status" not in srv.stderr_text(), srv.stderr_text()[-3000:]
    srv.stop()


@zg.time_limit(40)
def test_master_holds_a_listener_a_reload_added():
    """A listener a reload added is held by the master like the others:
    while no worker runs, connections to it wait in its backlog for the
    next worker instead of being refused."""
    cfg = crash_config(master=True)
    srv = zg.start(cfg)
    srv.allow = MASTER_ALLOW + [r"\[alert\] .*master: worker \d+ exited on signal SIGKILL"]
    c = srv.addr("c")
    wait_log(srv, r"master process %d: worker \d+ serves" % srv.pid)
    port = zg.free_port()
    cfg["listeners"] = [dict(cfg["listeners"][0], listen="%s:%d" % c),
                        {"name": "x", "listen": "127.0.0.1:%d" % port, "plugin": "echo"}]
    zg._write(srv.config_path, cfg)
    srv.send_signal(signal.SIGHUP)
    wait_log(srv, r"master: worker \d+ reloaded; a restarted worker starts")
    worker = worker_pids(srv)[-1]
    os.kill(srv.pid, signal.SIGSTOP)
    try:
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while os.path.exists("/proc/%d/fd" % worker) and len(os.listdir("/proc/%d/fd" % worker)):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    finally:
        os.kill(srv.pid, signal.SIGCONT)
    s.sendall(b"queued\n")
    assert zg.recv_exact(s, 7, timeout=10) == b"queued\n"
    s.close()
    srv.stop()


@zg.time_limit(60)
def test_worker_is_not_held_by_a_stopped_master():
    """A reload's text larger than the socket's buffer while the master
    does not read (stopped): the worker gives up telling it after a bound
    instead of blocking its main thread, which must go on answering
    signals."""
    def big(ch):
        return {"master": True, "reactors": 1, "shutdown_timeout_ms": 1000,
                "listeners": [{"name": "w", "listen": "127.0.0.1:0", "plugin": "http",
                               "config": {"routes": [{"path": "/", "body": ch * 600000,
                                                      "methods": ["GET"]}]}}]}
    cfg = big("x")
    srv = zg.start(cfg)
    wait_log(srv, r"master process %d: worker \d+ serves" % srv.pid)
    cfg = big("y")
    cfg["listeners"][0]["listen"] = "%s:%d" % srv.addr("w")
    zg._write(srv.config_path, cfg)
    worker = worker_pids(srv)[-1]
    srv.allow = MASTER_ALLOW + [r"\[warn\] .*cannot tell the master about this reload"]
    os.kill(srv.pid, signal.SIGSTOP)
    try:
        os.kill(worker, signal.SIGHUP)
        wait_log(srv, r"\[warn\] %d#%d: cannot tell the master about this reload"
                 % (worker, worker), timeout=15)
        os.kill(worker, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while "%d#%d: exit" % (worker, worker) not in srv.stderr_text():
            assert time.monotonic() < deadline, srv.stderr_text()[-3000:]
            time.sleep(0.05)
    finally:
        os.kill(srv.pid, signal.SIGCONT)
    srv.stop(expect=None)


def test_master_gives_back_a_large_reload_buffer():
    """The master reads a reload's text into a buffer that grows to hold
    it; once the message is taken, a large buffer is freed, not kept for
    the life of the server (it was: a 4 MiB configuration followed by a
    small one left the master about 5 MiB larger, now about 1)."""
    if "sanitize" in zg.run_zerg(["-V"]).stdout:
        raise zg.Skip("a sanitizer's allocator keeps freed memory on purpose")

    def conf(nbig):
        routes = [{"path": "/r%d" % i, "body": "x" * ((1 << 20) - 64)} for i in range(nbig)]
        return {"master": True, "reactors": 1, "listeners": [
            {"name": "h", "listen": "127.0.0.1:0", "plugin": "http",
             "config": {"routes": routes or [{"path": "/", "body": "ok"}]}}]}
    cfg = conf(0)
    srv = zg.start(cfg)
    wait_log(srv, r"master process %d: worker \d+ serves" % srv.pid)
    start = zg.rss_kib(srv.pid)
    listen = "%s:%d" % srv.addr("h")
    for n, nbig in enumerate((4, 0), 1):
        cfg = conf(nbig)
        cfg["listeners"][0]["listen"] = listen
        zg._write(srv.config_path, cfg)
        srv.send_signal(signal.SIGHUP)
        wait_log(srv, r"master: worker \d+ reloaded; a restarted worker starts with "
                 r"that configuration$", count=n, timeout=20)
    grown = zg.rss_kib(srv.pid) - start
    assert grown < 3 * 1024, "the master grew by %d KiB" % grown
    srv.stop()

if __name__ == "__main__":
    zg.run_tests(globals())
