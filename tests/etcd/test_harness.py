"""test_harness.py (ctest etcd/harness): the etcd tests' own machinery,
checked without the etcd backend, so that a failing etcd scenario points at
kvstored rather than at the harness: two KvHosts (kvstack.py), each its own
kvstored and its own xinetd on its own port, here with SQLite (--db, --sync
always: an acknowledged write survives kill -9); the line-protocol client
(lineconn.py); the writers and the acknowledged-write accounting
(workload.py), across a kill -9 of kvstored under load; and that closing the
stack stops every process it started.

  /usr/bin/python3 tests/etcd/test_harness.py --kvstore build/bin
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import kvstack  # noqa: E402
import lineconn  # noqa: E402
import sockets  # noqa: E402
import stack as etcdstack  # noqa: E402
import workload  # noqa: E402
from scenario import Checks  # noqa: E402


def body(st, hosts, check):
    a, b = hosts
    check(a.port != b.port and a.socket != b.socket and a.admin_socket != b.admin_socket,
          "the hosts share a port or a socket")
    with lineconn.Conn(a.port) as ca, lineconn.Conn(b.port) as cb:
        check(ca.call("save k:on-a") == "OK", "save on a")
        check(cb.call("read k") == "NOT_FOUND", "b is a separate store here (SQLite, no etcd)")
        check(ca.call("read k") == "VALUE on-a", "read on a")
        stats = ca.stats()
        check(stats.get("persistence") == "always", "stats parsed: %r" % list(stats)[:5])
        for i in range(1500):
            ca.send(b"save p-%04d:x\n" % i)
        for i in range(1500):
            ca.line()
        check(len(ca.keys("p-")) == 1500, "a paged keys listing")
    code, out = a.admin("status")
    check(code == 0, "kvstored status through a's admin socket: %d %s" % (code, out))
    # kill -9 under load: the session is reset, the writers' in-flight saves
    # are unknown, everything acknowledged is there after the restart.
    rec = workload.Recorder()
    w = workload.Writers([a.port], 3, rec)
    got, _ = workload.poll("load", lambda: len(rec.acked) > 200, 20)
    check(got, "no 200 writes acknowledged in 20 s")
    old = a.kvstored.pid
    a.kill9()
    check(not a.running(), "kvstored a still runs after kill -9")
    try:
        with lineconn.Conn(a.port, timeout=2) as c:
            check(False, "connect worked with kvstored dead: %r" % c)
    except lineconn.ConnectError as e:
        check("unavailable" in str(e), "connect with kvstored dead: %s" % e)
    a.start()
    etcdstack.wait_serving(a)
    check(a.kvstored.pid != old, "kvstored a restarted under a new pid")
    n = len(rec.acked)
    got, _ = workload.poll("load", lambda: len(rec.acked) > n + 100, 20)
    check(got, "the writers did not resume after the restart")
    check(not w.stop(), "writers stuck")
    print("writes: %d acknowledged, %d unknown; %r" % (len(rec.acked), len(rec.unknown), rec.counts), flush=True)
    check(rec.counts["unknown"] + len(rec.unknown) + rec.counts["notsent"] > 0,
          "the kill -9 left no trace in the writers (no unknown outcome, no failed session)")
    check.extend(workload.check_ledger(rec, a.port, "host a", sync=False))
    # The accounting can fail: a write that was never made is reported.
    rec.acked["never-written"] = "x"
    check(workload.check_ledger(rec, a.port, "planted", sync=False) != [], "check_ledger missed a lost acknowledged write")
    # SIGTERM restart: the shutdown notice, then serving again.
    with lineconn.Conn(b.port) as cb:
        b.stop()
        try:
            line = cb.line(timeout=5)
        except sockets.Closed:
            line = "(closed)"
        check(line.startswith("BYE"), "b's session on stop: %r" % line)
    b.start()
    etcdstack.wait_serving(b)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kvstore", required=True, metavar="BUILD_BIN_DIR")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    kvstack.skip_unless(("xinetd",), "xinetd")
    check = Checks()
    pids = []
    with kvstack.BaseStack("kvharness.", args.keep) as st:
        hosts = [kvstack.KvHost(st, n, os.path.abspath(args.kvstore),
                                ["--db", os.path.join(st.dir, n + ".db"), "--sync", "always"]) for n in "ab"]
        try:
            body(st, hosts, check)
        finally:
            pids = [s.pid for s in st.servers]
            if check.failures:
                print(st.logs())
    alive = [p for p in pids if kvstack._alive(p)]
    check(not alive, "processes still running after close: %r" % alive)
    print("%d failures" % len(check.failures), flush=True)
    return 1 if check.failures else 0


if __name__ == "__main__":
    kvstack.run_main(main)
