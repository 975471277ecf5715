#!/usr/bin/python3
"""test_clients.py: python3-pymemcache (Debian's) against the system under
test, each check also run against the reference memcached, whose result it
must equal: set get get_many gets cas incr decr touch delete flush_all stats
version, noreply forms, and pymemcache's serde (python_memcache_serializer:
the flags carry the Python type, so int, str, bytes and a pickled object must
round-trip with their flags).

Usage: /usr/bin/python3 tests/memcache/test_clients.py [--kvstore build/bin]
Exit status: 0 passed, 1 failed, 77 memcached or python3-pymemcache missing.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mc  # noqa: E402
import stack  # noqa: E402

try:
    from pymemcache.client.base import Client
    from pymemcache import serde
except ImportError:
    print("SKIP: python3-pymemcache is not installed (scripts/deps installs it)", flush=True)
    sys.exit(stack.SKIP)


class Point:
    """A picklable object for the serde round trip."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __repr__(self):
        return "Point(%r, %r)" % (self.x, self.y)


def raw_flags(port, keys):
    """{key: flags} as a raw get shows them (mc.py, not pymemcache)."""
    with mc.Conn(port) as c:
        reply = c.call(b"get " + b" ".join(keys))
    return {u.split(b" ")[1]: int(u.split(b"\r\n")[0].split(b" ")[2]) for u in mc.units(reply)
            if u.startswith(b"VALUE ")}


def scenario(port):
    """The same calls against one server; returns [(what, result)]."""
    out = []
    c = Client(("127.0.0.1", port), connect_timeout=5, timeout=5, default_noreply=False)
    try:
        out.append(("flush_all", c.flush_all()))
        out.append(("set", c.set("k1", b"v1")))
        out.append(("set flags", c.set("k2", b"v2", flags=4294967295)))
        out.append(("set noreply", c.set("k3", b"v3", noreply=True)))
        out.append(("get", c.get("k1")))
        out.append(("get flags", raw_flags(port, [b"k2"])))
        out.append(("get miss", c.get("nokey")))
        out.append(("get_many", sorted(c.get_many(["k1", "k2", "k3", "nokey"]).items())))
        out.append(("add existing", c.add("k1", b"x", noreply=False)))
        out.append(("add new", c.add("k4", b"x", noreply=False)))
        out.append(("replace missing", c.replace("nokey", b"x", noreply=False)))
        out.append(("append", c.append("k1", b"+a", noreply=False)))
        out.append(("prepend", c.prepend("k1", b"p+", noreply=False)))
        out.append(("get after append", c.get("k1")))
        value, unique = c.gets("k1")
        out.append(("gets", value))
        out.append(("cas ok", c.cas("k1", b"new", unique, noreply=False)))
        out.append(("cas stale", c.cas("k1", b"newer", unique, noreply=False)))
        out.append(("cas missing", c.cas("nokey", b"x", unique, noreply=False)))
        out.append(("set number", c.set("n", b"10")))
        out.append(("incr", c.incr("n", 5)))
        out.append(("decr", c.decr("n", 6)))
        out.append(("decr floor", c.decr("n", 100)))
        out.append(("incr missing", c.incr("nokey", 1)))
        out.append(("incr wrap", (c.set("w", b"18446744073709551615"), c.incr("w", 1))))
        out.append(("touch", c.touch("k1", 2000000, noreply=False)))
        out.append(("touch missing", c.touch("nokey", 10, noreply=False)))
        out.append(("delete", c.delete("k1", noreply=False)))
        out.append(("delete missing", c.delete("k1", noreply=False)))
        out.append(("delete_many", c.delete_many(["k2", "k3"], noreply=False)))
        out.append(("get_many after", c.get_many(["k1", "k2", "k3"])))
        many = {"m%d" % i: b"x" * i for i in range(200)}
        out.append(("set_many", c.set_many(many)))
        out.append(("get_many 200", c.get_many(list(many)) == many))
        out.append(("flush_all noreply", c.flush_all(noreply=True)))
        out.append(("get after flush", c.get("m5")))
        version = c.version()
        out.append(("version", version.startswith(b"1.6.")))
        stats = c.stats()
        out.append(("stats has", sorted(k for k in (b"pid", b"uptime", b"curr_items", b"get_hits") if k in stats)))
    finally:
        c.close()
    s = Client(("127.0.0.1", port), connect_timeout=5, timeout=5, serde=serde.pickle_serde)
    try:
        values = [7, -3, 2**70, "text é", b"raw", Point(1, 2), {"a": [1, 2]}]
        for i, v in enumerate(values):
            s.set("serde%d" % i, v)
        got = [s.get("serde%d" % i) for i in range(len(values))]
        out.append(("serde round trip", [(type(g).__name__, g == v) for g, v in zip(got, values)]))
        out.append(("serde flags", raw_flags(port, [b"serde%d" % i for i in range(len(values))])))
    finally:
        s.close()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stack.add_arguments(parser)
    args = parser.parse_args()
    stack.skip_unless_memcached()
    failures = []
    with stack.Stack(args.kvstore, db=args.db, keep=args.keep) as st:
        print(st.describe(), flush=True)
        ref = scenario(st.ref_port)
        try:
            sut = scenario(st.sut_port)
        except Exception as e:  # a client error is a failure to report, not a crash
            print("FAIL: pymemcache against the SUT raised %s: %s" % (type(e).__name__, e))
            if not st.sut_alive():
                print(st.logs())
            return 1
        for (what, a), (_, b) in zip(ref, sut):
            if a != b:
                failures.append("%s: reference %r, SUT %r" % (what, a, b))
            else:
                print("ok    %s: %r" % (what, a if len(repr(a)) < 100 else repr(a)[:100] + "..."))
    if failures:
        print("FAIL: %d of %d checks differ:\n  %s" % (len(failures), len(ref), "\n  ".join(failures)))
        return 1
    print("all %d checks equal memcached's" % len(ref))
    return 0


if __name__ == "__main__":
    stack.run_main(main)
