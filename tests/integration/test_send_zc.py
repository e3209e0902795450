# SPDX-License-Identifier: MIT
# Description: zero-copy sends (reactor.send_zc) against the real binary:
# large echoes stay byte-exact while the kernel may still read sent
# buffers, connections that reset mid-transfer end without leaking or
# freeing a slot the kernel still reads from, and the server stops clean.
import socket
import struct

import zgtest as zg


def zc_config(reactors=1):
    cfg = zg.echo_config(reactors=reactors, reactor={"send_zc": True, "send_zc_min": 1024,
                                                     "buffer_ring_entries": 64})
    cfg["listeners"].append({"name": "m", "listen": "127.0.0.1:0", "plugin": "stats"})
    return cfg


def zc_sends(srv):
    s = zg.connect(srv.addr("m"))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    text = zg.recv_until_eof(s).decode()
    s.close()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("zerg_reactor_zerocopy_sends_total{"))


@zg.time_limit(60)
def test_zero_copy_echo_is_byte_exact():
    for reactors in (1, 2):
        srv = zg.start(zc_config(reactors))
        payloads = [zg.pattern(i, (1 << 20) + 37 * i) for i in range(16)]
        zg.echo_many(srv.addr("e"), payloads)
        assert zc_sends(srv) > 0, "no zero-copy send"
        err = srv.stderr_text()
        srv.stop()
        assert "zero-copy sends for output of 1024 bytes or more" in err, err[-2000:]


@zg.time_limit(60)
def test_resets_during_zero_copy_sends():
    srv = zg.start(zc_config())
    addr = srv.addr("e")
    for _ in range(3):
        socks = []
        for i in range(20):
            s = zg.connect(addr)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(zg.pattern(i, 256 << 10))
            socks.append(s)
        for s in socks:  # reset with output queued and sends in flight
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
    # Every slot comes back: the server still echoes on fresh connections.
    zg.echo_many(addr, [zg.pattern(i, 300000) for i in range(8)])
    assert zc_sends(srv) > 0, "no zero-copy send"
    srv.stop()


def test_small_output_copies():
    cfg = zc_config()
    cfg["reactor"]["send_zc_min"] = 1 << 20
    srv = zg.start(cfg)
    zg.echo_many(srv.addr("e"), [zg.pattern(i, 20000) for i in range(4)])
    assert zc_sends(srv) == 0
    srv.stop()


def test_send_zc_keys_are_checked():
    r = zg.run_zerg(["-t", "-c", zg.write_config(
        zg.echo_config(reactor={"send_zc": True, "send_zc_min": 10}))])
    assert r.returncode == 1 and "send_zc_min" in r.stderr and "1024" in r.stderr, r.stderr


if __name__ == "__main__":
    zg.run_tests(globals())
