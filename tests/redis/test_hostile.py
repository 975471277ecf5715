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

import argparse
import concurrent.futures
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import resp  # noqa: E402
import stack  # noqa: E402

# kvstored under ASan (scripts/test's sanitize stage sets ASAN_OPTIONS) keeps
# freed memory in quarantine and shadow memory besides: the slack of
# tests/hostile/hostile.h (kSanitizerSlackKib).
MEMORY_BOUND_KIB = 32 * 1024 + (32 * 1024 if "ASAN_OPTIONS" in os.environ else 0)
PING_BOUND_S = 1.0


class Pinger(threading.Thread):
    """Another client: PING every 50 ms on one connection for the whole
    test; records the slowest answer and any failure."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.slowest = 0.0
        self.count = 0
        self.failure = None

    def run(self):
        try:
            with resp.Conn(self.port, timeout=PING_BOUND_S) as c:
                while not self.stop.wait(0.05):
                    t = time.monotonic()
                    reply = c.call("PING")
                    took = time.monotonic() - t
                    self.slowest = max(self.slowest, took)
                    self.count += 1
                    if reply != b"+PONG\r\n":
                        self.failure = "PING answered %r" % reply
                        return
        except (OSError, resp.Closed, resp.Timeout) as e:
            self.failure = "PING on another connection failed: %s: %s" % (type(e).__name__, e)


def exchange(port, data, wait=0.5, chunk=None):
    """Sends data (in chunks of `chunk` bytes if given; the server may close
    mid-way), then reads until close or `wait` s. Returns (reply, closed)."""
    c = resp.Conn(port, timeout=5)
    try:
        try:
            if chunk:
                for i in range(0, len(data), chunk):
                    c.send(data[i:i + chunk])
            else:
                c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return c.read_until_close(wait)
    finally:
        c.close()


def acceptable(ref, sut):
    """The SUT's (reply, closed) is the reference's, or at most one error
    line followed by a close."""
    if ref == sut:
        return True
    reply, closed = sut
    return closed and (reply == b"" or (reply.startswith(b"-") and reply.count(b"\r\n") == 1
                                        and reply.endswith(b"\r\n")))


class Hostile:
    def __init__(self, st, seed):
        self.st = st
        self.seed = seed
        self.failures = []
        self.rss0 = stack.rss_kib(st.sut_memory_pid)
        self.rss_max = self.rss0

    def fail(self, msg):
        self.failures.append(msg)
        print("FAIL  " + msg, flush=True)

    def measure(self, case):
        rss = stack.rss_kib(self.st.sut_memory_pid)
        self.rss_max = max(self.rss_max, rss)
        grown = rss - self.rss0
        if rss < 0 or not self.st.sut_alive():
            self.fail("%s: the SUT is no longer running\n%s" % (case, self.st.logs()))
        elif grown > MEMORY_BOUND_KIB:
            self.fail("%s: the SUT's VmRSS grew by %d KiB (%d -> %d), bound %d KiB"
                      % (case, grown, self.rss0, rss, MEMORY_BOUND_KIB))
        return rss

    def compare(self, case, data, wait=0.5, chunk=None):
        ref = exchange(self.st.ref_port, data, wait, chunk)
        # Where the reference closes, give the SUT up to 5 s to do the same
        # (the read ends at the close; a loaded machine, an ASan build).
        sut = exchange(self.st.sut_port, data, 5 if ref[1] else wait, chunk)
        if not acceptable(ref, sut):
            self.fail("%s: reference %r, SUT %r (reply, closed)" % (case, ref, sut))
        else:
            print("ok    %s: SUT %s%s" % (case, "closed" if sut[1] else "stayed open",
                                          ", after %r" % sut[0][:80] if sut[0] else ""), flush=True)
        self.measure(case)

    def hold_open(self, case, data, n):
        """n connections that send data and stay open while memory is read."""
        conns = []
        try:
            for _ in range(n):
                c = resp.Conn(self.st.sut_port, timeout=5)
                conns.append(c)
                c.send(data)
            time.sleep(0.5)  # let the server read them all (memory, not timing, is checked)
            rss = self.measure(case)
            print("ok    %s: %d connections open, SUT VmRSS %d KiB (start %d)" % (case, n, rss, self.rss0),
                  flush=True)
        except (OSError, resp.Closed) as e:
            print("      %s: the SUT refused or closed: %s" % (case, e), flush=True)
        finally:
            for c in conns:
                c.close()

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
        rnd = random.Random(self.seed)
        inputs = [self.garbage_input(random.Random(rnd.getrandbits(64))) for _ in range(n)]
        deadline = time.monotonic() + 120
        errors = []

        def one(data):
            if time.monotonic() > deadline:
                return
            try:
                exchange(self.st.sut_port, data, wait=0.3)
            except OSError as e:
                errors.append(str(e))

        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            list(pool.map(one, inputs))
        if len(errors) > n // 10:
            self.fail("garbage: %d of %d connections failed, e.g. %s" % (len(errors), n, errors[:3]))
        else:
            print("ok    garbage: %d connections (%d refused or reset)" % (n, len(errors)), flush=True)
        self.measure("garbage")

    @staticmethod
    def garbage_input(r):
        parts = []
        size = r.randint(1, 4096)
        while sum(map(len, parts)) < size:
            kind = r.randrange(6)
            if kind == 0:
                parts.append(bytes(r.getrandbits(8) for _ in range(r.randint(1, 64))))
            elif kind == 1:
                parts.append(b"*%d\r\n" % r.choice([-1, 0, 1, 3, 1024, 2**31 - 1, 2**31, 2**63, -2**63]))
            elif kind == 2:
                parts.append(b"$%d\r\n" % r.choice([-1, 0, 5, 65536, 2**32, 2**62]))
            elif kind == 3:
                parts.append(resp.encode([r.choice([b"PING", b"GET", b"SET", b"ECHO"]), b"g:%d" % r.randrange(50),
                                          b"v" * r.randint(0, 100)]))
            elif kind == 4:
                parts.append(r.choice([b'SET "a', b"\r\n", b"\n", b"\\x", b"'", b"*", b"$", b"\x00"]))
            else:
                parts.append(b"x" * r.randint(1, 2000))
        return b"".join(parts)[:size]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stack.add_arguments(parser)
    parser.add_argument("--seed", type=int, help="the garbage's seed (default: random, printed)")
    args = parser.parse_args()
    stack.skip_unless_redis()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    print("seed %d (rerun: %s --seed %d)" % (seed, sys.argv[0], seed), flush=True)
    start = time.monotonic()
    with stack.Stack(args.kvstore, db=args.db, keep=args.keep) as st:
        print(st.describe(), flush=True)
        h = Hostile(st, seed)
        pinger = Pinger(st.sut_port)
        pinger.start()
        try:
            h.compare("huge multibulk count", b"*2147483647\r\n")
            h.hold_open("huge multibulk count held open", b"*2147483647\r\n", 100)
            h.compare("4 GiB bulk length", b"*1\r\n$4294967296\r\n")
            h.compare("bulk over 512 MB", b"*1\r\n$600000000\r\n")
            h.compare("endless inline line (1 MiB, no newline)", b"x" * (1 << 20), wait=2, chunk=65536)
            h.half_frames()
            h.garbage()
        finally:
            pinger.stop.set()
            pinger.join(5)
        if pinger.failure:
            h.fail(pinger.failure)
        elif pinger.slowest > PING_BOUND_S or pinger.count == 0:
            h.fail("the other client's PING took %.3f s (bound %.1f s, %d PINGs)"
                   % (pinger.slowest, PING_BOUND_S, pinger.count))
        else:
            print("ok    another client: %d PINGs meanwhile, slowest %.1f ms" % (pinger.count, pinger.slowest * 1000))
        with resp.Conn(st.sut_port) as c:
            if c.call("PING") != b"+PONG\r\n":
                h.fail("PING on a fresh connection after everything failed")
        print("SUT VmRSS: %d KiB at start, at most %d KiB, %d KiB at the end (bound: start + %d KiB); %.1f s"
              % (h.rss0, h.rss_max, stack.rss_kib(st.sut_memory_pid), MEMORY_BOUND_KIB, time.monotonic() - start))
    if h.failures:
        print("%d failure(s) (seed %d)" % (len(h.failures), seed))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    stack.run_main(main)
