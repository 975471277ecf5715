"""test_delayed_flush.py (ctest etcd/delayed-flush): memcached's delayed
`flush_all` with the etcd backend is one for all hosts (docs/scale-out.md):
its time is kept in etcd (P/m/flush-at), every host arms it from its copy,
and the expiry host carries it out. So a `flush_all 2` through host a empties
the store seen through host b too, even when a's kvstored is killed before
the time comes; an immediate `flush_all` through b cancels one that a
recorded. Each host has the memcached door (kvsvc --protocol memcache) under
its own second xinetd."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "memcache"))

import mc  # noqa: E402
import scenario  # noqa: E402
import stack as etcdstack  # noqa: E402
from workload import poll  # noqa: E402

DELAY = 2  # seconds: the flush_all's delay
# A flush carried out after its host died waits for the expiry lease to pass
# to the other host (5 s), then for that host's timer (1 s).
BOUND = 20.0


def memcache_door(st, host):
    """A second xinetd for host: the memcached door on its kvstored; the port."""
    sub = host.name + "-mc"
    os.mkdir(os.path.join(st.dir, sub))
    return st.start_xinetd("kvstore-mc-" + host.name, os.path.join(st.kvstore_bin, "kvsvc"),
                           "--protocol memcache --socket %s" % host.socket, subdir=sub)


def has(port, key):
    with mc.Conn(port) as c:
        return c.call("get " + key).startswith(b"VALUE ")


def present(port, key):
    return poll("present", lambda: has(port, key), 5.0)[0]


def gone(port, key, seconds):
    return poll("gone", lambda: not has(port, key), seconds)


def body(st, check, args):
    port = {h.name: memcache_door(st, h) for h in st.hosts}
    with mc.Conn(port["a"]) as a:
        check(a.call("set k1 0 0 1\r\nx") == b"STORED\r\n", "set k1 through a")
        check(a.call("flush_all %d" % DELAY) == b"OK\r\n", "flush_all %d through a" % DELAY)
    check(present(port["b"], "k1"), "b does not see k1 before the flush's time")
    ok, took = gone(port["b"], "k1", BOUND)
    check(ok, "k1 is still there through b %.0f s after a's flush_all %d" % (BOUND, DELAY))
    print("a's flush_all %d seen through b after %.1f s" % (DELAY, took), flush=True)

    # The host that got it dies before its time: it happens anyway.
    with mc.Conn(port["a"]) as a:
        check(a.call("set k2 0 0 1\r\nx") == b"STORED\r\n", "set k2 through a")
        check(a.call("flush_all %d" % DELAY) == b"OK\r\n", "flush_all %d through a" % DELAY)
    st.a.kill9()
    ok, took = gone(port["b"], "k2", BOUND)
    check(ok, "k2 is still there through b %.0f s after a's flush_all %d and a's death" % (BOUND, DELAY))
    print("a's flush_all %d, a killed: done after %.1f s" % (DELAY, took), flush=True)
    st.a.start()
    etcdstack.wait_serving(st.a)

    # Cancelled by an immediate flush_all through the other host.
    with mc.Conn(port["a"]) as a, mc.Conn(port["b"]) as b:
        check(a.call("flush_all %d" % DELAY) == b"OK\r\n", "flush_all %d through a" % DELAY)
        check(b.call("flush_all") == b"OK\r\n", "flush_all through b")
        check(b.call("set k3 0 0 1\r\nx") == b"STORED\r\n", "set k3 through b")
    ok, _ = gone(port["a"], "k3", DELAY + 4.0)
    check(not ok, "k3, written after the cancelling flush_all, was deleted at the cancelled flush's time")


if __name__ == "__main__":
    scenario.main(body, __doc__)
