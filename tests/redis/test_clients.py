#!/usr/bin/python3
"""test_clients.py: real Redis clients, unchanged, against the system under
test (and, to check the checks, against the reference redis-server first):

  redis-cli        one-shot SET and GET; --pipe mass insert of 10,000 SETs
                   ("errors: 0, replies: 10000", then DBSIZE 10000);
                   -r 100 INCR counter
  python3-redis    set/get/mset/mget/incr/expire/ttl; pipelines with
                   transaction=True and False; scan_iter(match=...) returning
                   exactly the keys KEYS returns; WATCH with a conflicting
                   write from a second connection raising WatchError; binary
                   keys and values (all 256 byte values, CRLF inside)
  redis-benchmark  -c 10 -n 2000 -t set,get -q as a smoke: exit 0 and a
                   non-zero requests per second for SET and GET

Each target starts from FLUSHALL. Every subprocess has a timeout.
Usage: /usr/bin/python3 tests/redis/test_clients.py [--kvstore build/bin]
Exit status: 0 all passed, 1 a failure, 77 a tool or python3-redis missing.
"""

import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import stack  # noqa: E402

try:
    import redis  # Debian's python3-redis (4.3.4), for /usr/bin/python3
except ImportError:
    redis = None


class Failed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failed(what)


def run(argv, stdin=None, timeout=60):
    p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def cli(port, *args, stdin=None, timeout=60):
    return run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + list(args), stdin, timeout)


# ---------------------------------------------------------------- redis-cli

def cli_one_shot(port, r, st):
    rc, out, err = cli(port, "SET", "k", "v")
    expect(rc == 0 and out == "OK\n", "redis-cli SET k v: exit %d, %r %r" % (rc, out, err))
    rc, out, err = cli(port, "GET", "k")
    expect(rc == 0 and out == "v\n", "redis-cli GET k: exit %d, %r %r" % (rc, out, err))
    rc, out, err = cli(port, "GET", "missing")
    expect(rc == 0 and out == "\n", "redis-cli GET missing: exit %d, %r %r" % (rc, out, err))


def cli_pipe(port, r, st):
    r.flushall()
    data = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v)
                    for k, v in ((b"mass:%d" % i, b"value-%d" % i) for i in range(10000)))
    rc, out, err = cli(port, "--pipe", stdin=data, timeout=120)
    expect(rc == 0, "redis-cli --pipe: exit %d: %r %r" % (rc, out[-300:], err[-300:]))
    expect("errors: 0, replies: 10000" in out, "redis-cli --pipe summary: %r" % out[-300:])
    expect(r.dbsize() == 10000, "DBSIZE after --pipe: %r" % r.dbsize())
    expect(r.get(b"mass:9999") == b"value-9999", "GET mass:9999 after --pipe: %r" % r.get(b"mass:9999"))
    r.flushall()


def cli_repeat(port, r, st):
    r.delete("counter")
    rc, out, err = cli(port, "-r", "100", "INCR", "counter")
    expect(rc == 0, "redis-cli -r 100 INCR counter: exit %d: %r" % (rc, err))
    expect(out.split() == [str(i) for i in range(1, 101)], "redis-cli -r 100 INCR counter printed %r" % out[:300])
    expect(r.get("counter") == b"100", "counter after 100 INCR: %r" % r.get("counter"))


# ---------------------------------------------------------------- python3-redis

def py_basics(port, r, st):
    expect(r.set("a", "1") is True, "set")
    expect(r.get("a") == b"1", "get: %r" % r.get("a"))
    expect(r.mset({"b": "2", "c": "three"}) is True, "mset")
    expect(r.mget(["a", "b", "c", "nope"]) == [b"1", b"2", b"three", None], "mget: %r" % r.mget(["a", "b", "c", "nope"]))
    expect(r.incr("a") == 2 and r.incr("a", 40) == 42, "incr")
    expect(r.expire("a", 1000) is True, "expire")
    ttl = r.ttl("a")
    expect(999 <= ttl <= 1000, "ttl after expire 1000: %r" % ttl)
    expect(r.ttl("b") == -1 and r.ttl("nope") == -2, "ttl without deadline / missing: %r %r" % (r.ttl("b"), r.ttl("nope")))
    expect(r.set("n", "x", nx=True) is True and r.set("n", "y", nx=True) is None, "set nx")
    expect(r.getdel("n") == b"x" and r.exists("n") == 0, "getdel")
    expect(r.incrbyfloat("f", 2.5) == 2.5, "incrbyfloat")


def py_pipelines(port, r, st):
    for transaction in (True, False):
        r.delete("p1", "p2")
        with r.pipeline(transaction=transaction) as p:
            p.set("p1", "a").append("p1", "bc").incr("p2").incr("p2").get("p1").mget("p1", "p2", "none")
            got = p.execute()
        want = [True, 3, 1, 2, b"abc", [b"abc", b"2", None]]
        expect(got == want, "pipeline(transaction=%s): %r" % (transaction, got))
        # A long pipeline: 1,000 commands in one write.
        with r.pipeline(transaction=transaction) as p:
            for i in range(500):
                p.set("pl:%d" % i, i)
                p.get("pl:%d" % i)
            got = p.execute()
        expect(got == [x for i in range(500) for x in (True, str(i).encode())],
               "1,000-command pipeline(transaction=%s): first differences %r"
               % (transaction, [(i, g) for i, g in enumerate(got) if g not in (True, str(i // 2).encode())][:5]))
    # An error inside a transaction: the other commands still run (Redis
    # semantics), and redis-py raises the error at execute.
    with r.pipeline(transaction=True) as p:
        p.set("t", "x").incr("t").get("t")
        try:
            p.execute()
            expect(False, "a MULTI with INCR of a non-number did not raise")
        except redis.ResponseError as e:
            expect("not an integer" in str(e), "INCR error inside MULTI: %r" % str(e))
    expect(r.get("t") == b"x", "t after the failed INCR in MULTI: %r" % r.get("t"))


def py_scan_iter(port, r, st):
    r.flushall()
    with r.pipeline(transaction=False) as p:
        for i in range(600):
            p.set("user:%d" % i, i)
        for i in range(150):
            p.set("other:%d" % i, i)
        p.set("user", "no colon")
        p.execute()
    for pattern, count in (("user:*", None), ("user:*", 7), ("user:1?", 1000), ("*", 3), ("nomatch*", None)):
        scanned = list(r.scan_iter(match=pattern, count=count))
        keys = r.keys(pattern)
        expect(set(scanned) == set(keys),
               "scan_iter(match=%r, count=%r) and KEYS differ: only scanned %r, only KEYS %r"
               % (pattern, count, sorted(set(scanned) - set(keys))[:5], sorted(set(keys) - set(scanned))[:5]))
        # kvstore's cursor is the last key returned: no key twice while
        # nothing changes (redis-server may repeat keys while rehashing).
        if st.kvstored and port == st.sut_port:
            expect(len(scanned) == len(set(scanned)), "scan_iter(match=%r) returned a key twice" % pattern)
    expect(len(r.keys("user:*")) == 600, "KEYS user:* found %d keys" % len(r.keys("user:*")))


def py_watch(port, r, st):
    r.set("w", "0")
    other = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    try:
        with r.pipeline() as p:
            p.watch("w")
            expect(p.get("w") == b"0", "get inside watch")
            other.set("w", "changed")  # the conflicting write
            p.multi()
            p.set("w", "mine")
            try:
                p.execute()
                expect(False, "EXEC after a conflicting write did not raise WatchError")
            except redis.WatchError:
                pass
        expect(r.get("w") == b"changed", "w after the aborted EXEC: %r" % r.get("w"))
        # Without a conflict the same transaction runs.
        with r.pipeline() as p:
            p.watch("w")
            p.multi()
            p.set("w", "mine")
            expect(p.execute() == [True], "EXEC without a conflict")
        expect(r.get("w") == b"mine", "w after EXEC: %r" % r.get("w"))
    finally:
        other.close()


def py_binary(port, r, st):
    value = bytes(range(256)) + b"\r\n\r\nend\r\n"
    key = b"bin\x00\xff\r\nkey \x01"
    expect(r.set(key, value) is True, "set binary")
    expect(r.get(key) == value, "get binary: %r" % r.get(key))
    expect(r.strlen(key) == len(value), "strlen binary")
    expect(r.append(key, b"\r\n") == len(value) + 2, "append CRLF")
    expect(r.getrange(key, 0, 255) == bytes(range(256)), "getrange binary")
    expect(key in r.keys(b"bin*"), "binary key in KEYS")
    with r.pipeline(transaction=False) as p:
        for i in range(256):
            p.set(b"byte:" + bytes([i]), bytes([i]) * 3)
        p.execute()
    got = r.mget([b"byte:" + bytes([i]) for i in range(256)])
    expect(got == [bytes([i]) * 3 for i in range(256)], "256 one-byte keys and values")


# ---------------------------------------------------------------- redis-benchmark

def benchmark_smoke(port, r, st):
    rc, out, err = run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "10", "-n", "2000",
                        "-t", "set,get", "-q"], timeout=120)
    expect(rc == 0, "redis-benchmark exit %d: %r %r" % (rc, out[-300:], err[-300:]))
    for test in ("SET", "GET"):
        m = re.search(r"^%s: ([0-9.]+) requests per second" % test, out.replace("\r", "\n"), re.M)
        expect(m and float(m.group(1)) > 0, "redis-benchmark %s: no requests per second in %r" % (test, out[-400:]))


CHECKS = [
    ("redis-cli one-shot SET/GET", cli_one_shot),
    ("redis-cli --pipe 10,000 SETs", cli_pipe),
    ("redis-cli -r 100 INCR", cli_repeat),
    ("python3-redis basics", py_basics),
    ("python3-redis pipelines", py_pipelines),
    ("python3-redis scan_iter", py_scan_iter),
    ("python3-redis WATCH conflict", py_watch),
    ("python3-redis binary keys and values", py_binary),
    ("redis-benchmark smoke", benchmark_smoke),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stack.add_arguments(parser)
    parser.add_argument("--sut-only", action="store_true", help="skip the run against the reference")
    args = parser.parse_args()
    stack.skip_unless_redis("redis-cli", "redis-benchmark")
    if redis is None:
        print("SKIP: python3-redis is not installed for %s (Debian package python3-redis; scripts/deps "
              "installs it)" % sys.executable)
        return stack.SKIP
    failures = 0
    with stack.Stack(args.kvstore, db=args.db, keep=args.keep) as st:
        print(st.describe(), flush=True)
        targets = [(st.sut_name + " (SUT)", st.sut_port)]
        if not args.sut_only:
            targets.insert(0, ("reference redis-server", st.ref_port))
        for label, port in targets:
            r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
            r.flushall()
            for name, fn in CHECKS:
                try:
                    fn(port, r, st)
                    print("ok    %s: %s" % (label, name), flush=True)
                except (Failed, redis.RedisError, subprocess.TimeoutExpired, OSError) as e:
                    failures += 1
                    print("FAIL  %s: %s: %s: %s" % (label, name, type(e).__name__, e), flush=True)
            r.close()
        if failures and not st.sut_alive():
            print(st.logs())
    print("%d failure(s)" % failures if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    stack.run_main(main)
