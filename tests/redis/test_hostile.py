#!/usr/bin/python3
"""test_hostile.py: hostile RESP against the system under test.

Cases (each also sent to the reference redis-server where its answer is
comparable):
  huge-count     *2147483647, then nothing more; also 100 such connections
                 held open at once
  4gib-bulk      *1 $4294967296 (and $600000000, over Redis's 512 MB
                 proto-max-bulk-len)
  endless-inline 1 MiB without a newline
  half-frames    200 connections each send half a SET frame and vanish (the
                 SET must not happen); 100 more hold a half 60 KB bulk open
  garbage        1,000 connections of seeded random garbage (at most 4 KiB
                 each, 50 at a time, each read for at most 0.3 s)
For each: the SUT answers exactly as the reference does, or sends at most an
error line and closes; the process that parses RESP (kvstored, or the second
redis-server) keeps running and its VmRSS (/proc/PID/status) grows by at most
MEMORY_BOUND_KIB over the whole test, held-open connections included; and a
separate client's PING, sent every 50 ms from start to end, is answered within
1 s every time.

Usage: /usr/bin/python3 tests/redis/test_hostile.py [--kvstore build/bin] [--seed S]
Exit status: 0 passed, 1 failed, 77 redis-server missing.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import resp  # noqa: E402
import stack  # noqa: E402
import hostile  # noqa: E402  (tests/pylib, on the path through stack)


def pinger(port):
    """Another client: PING every 50 ms on one connection for the whole
    test."""
    return hostile.Pinger(port, resp.Conn, "PING", stack.ask_ping, stack.is_pong)


class Hostile(hostile.Hostile):
    conn_class = resp.Conn
    garbage_run_max = 2000

    def error_line(self, reply):
        return reply.startswith(b"-") and reply.count(b"\r\n") == 1 and reply.endswith(b"\r\n")

    def half_frames(self):
        with resp.Conn(self.st.sut_port) as c:
            c.call("DEL", "half")
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", self.st.sut_port), timeout=5)
            s.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$100\r\nabc")
            s.close()
        self.hold_open("half frame held open (60 KB bulk announced)",
                       b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$60000\r\n" + b"x" * 30000, 100)
        with resp.Conn(self.st.sut_port) as c:
            got = c.call("EXISTS", "half")
        if got != b":0\r\n":
            self.fail("half frames: EXISTS half answered %r: a half SET ran" % got)
        else:
            print("ok    half frames: 200 vanished, 100 held, none ran", flush=True)
        self.measure("half frames")

    def garbage(self, n=1000, parallel=50):
        self.random_garbage(n, parallel)

    def garbage_piece(self, kind, r):
        if kind == 1:
            return b"*%d\r\n" % r.choice([-1, 0, 1, 3, 1024, 2**31 - 1, 2**31, 2**63, -2**63])
        if kind == 2:
            return b"$%d\r\n" % r.choice([-1, 0, 5, 65536, 2**32, 2**62])
        if kind == 3:
            return resp.encode([r.choice([b"PING", b"GET", b"SET", b"ECHO"]), b"g:%d" % r.randrange(50),
                                b"v" * r.randint(0, 100)])
        return r.choice([b'SET "a', b"\r\n", b"\n", b"\\x", b"'", b"*", b"$", b"\x00"])


def main():
    args, seed = hostile.parse_arguments(__doc__.split("\n\n")[0], stack, stack.skip_unless_redis)
    start = time.monotonic()
    with stack.Stack(args.kvstore, db=args.db, keep=args.keep) as st:
        print(st.describe(), flush=True)
        h = Hostile(st, seed, stack)

        def cases():
            h.compare("huge multibulk count", b"*2147483647\r\n")
            h.hold_open("huge multibulk count held open", b"*2147483647\r\n", 100)
            h.compare("4 GiB bulk length", b"*1\r\n$4294967296\r\n")
            h.compare("bulk over 512 MB", b"*1\r\n$600000000\r\n")
            h.compare("endless inline line (1 MiB, no newline)", b"x" * (1 << 20), wait=2, chunk=65536)
            h.half_frames()
            h.garbage()

        h.with_pinger(pinger(st.sut_port), cases)
        h.fresh_connection("PING", stack.ask_ping, stack.is_pong)
        h.report_memory("; %.1f s" % (time.monotonic() - start))
    return h.verdict()


if __name__ == "__main__":
    stack.run_main(main)
