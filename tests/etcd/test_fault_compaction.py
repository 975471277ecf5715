"""test_fault_compaction.py (ctest etcd/fault-compaction): etcd compacts the
history a host's watch would resume from (docs/scale-out.md: "a compacted
revision triggers a full reload"), and a watch restarts at an old revision
(etcd may deliver events twice; they are applied idempotently).

1. Host b's kvstored is stopped (SIGTERM); writes, overwrites and deletes go
   through host a; etcd compacts at the current revision; b starts again and
   holds exactly what a holds.
2. Host b runs but is frozen (SIGSTOP) so its watch falls behind; every etcd
   member is restarted in turn (which breaks b's watch connection, whichever
   member it used); writes, overwrites and deletes go through a; etcd compacts;
   b resumes (SIGCONT): its watch restarts at a compacted revision, it
   reloads, and holds exactly what a holds; writes through b work.
3. Under load on both hosts, every member is restarted in turn again (b's
   watch restarts near its last revision: duplicates are possible), then the
   acknowledged-write accounting on both hosts."""

import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import faults  # noqa: E402
import lineconn  # noqa: E402
import scenario  # noqa: E402
import stack as etcdstack  # noqa: E402
from workload import REPLY_SECONDS, poll  # noqa: E402


def churn(port, tag, n=150):
    """Creates, overwrites and deletes through one session; the expected
    final contents {key: value} of the churn keys."""
    final = {}
    with lineconn.Conn(port, timeout=REPLY_SECONDS) as c:
        for i in range(n):
            key = "churn-%s-%d" % (tag, i % 50)
            if i % 7 == 3:
                c.call("delete " + key)
                final.pop(key, None)
            else:
                value = "%s-%d" % (tag, i)
                r = c.call("save %s:%s" % (key, value))
                if r != "OK":
                    raise AssertionError("churn save %s: %r" % (key, r))
                final[key] = value
    return final


def same_contents(st, check, expected, what):
    """Both hosts (after sync) hold exactly expected among the churn keys,
    and count the same."""
    views = []
    for h in st.hosts:
        with lineconn.Conn(h.port, timeout=REPLY_SECONDS) as c:
            check(c.call("sync").startswith("OK synced "), "%s: sync on %s" % (what, h.name))
            keys = c.keys("churn-")
            got = {k: lineconn.value_of(c.call("read " + k)) for k in keys}
            views.append((c.call("count"), got))
    for h, (count, got) in zip(st.hosts, views):
        if not check(got == expected, "%s: host %s holds %d churn keys, expected %d; first differences: %r"
                     % (what, h.name, len(got), len(expected),
                        sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))[:5])):
            pass
    check(views[0][0] == views[1][0], "%s: the hosts count differently: %r" % (what, [v[0] for v in views]))


def counter(host, name):
    """A numeric `stats` counter of host (docs/scale-out.md: etcd_reloads,
    etcd_watch_restarts), or None when stats lacks it."""
    value = faults.stats(host).get(name)
    return int(value) if value is not None and value.strip().isdigit() else None


def rolling_restart(cluster):
    for m in list(cluster.members):
        cluster.restart(m)


def body(st, check, args):
    # Each churn tag has its own keys: the expected contents are exact.
    expected = churn(st.a.port, "x")
    # 1. Compaction while b is stopped.
    st.b.stop()
    expected.update(churn(st.a.port, "s1"))
    rev = st.cluster.compact()
    print("compacted at %d with b stopped" % rev, flush=True)
    st.b.start()
    etcdstack.wait_serving(st.b)
    same_contents(st, check, expected, "after b restarted past a compaction")
    # 2. Compaction while b runs, frozen, and its watch breaks.
    before = counter(st.b, "etcd_reloads")
    os.kill(st.b.kvstored.pid, signal.SIGSTOP)
    try:
        rolling_restart(st.cluster)
        expected.update(churn(st.a.port, "s2"))
        rev = st.cluster.compact()
        print("compacted at %d with b frozen" % rev, flush=True)
    finally:
        os.kill(st.b.kvstored.pid, signal.SIGCONT)
    gone = ["churn-s2-%d" % i for i in range(50) if "churn-s2-%d" % i not in expected]
    # b catches up by itself (no sync: the plain reads must converge).
    def converged():
        with lineconn.Conn(st.b.port, timeout=REPLY_SECONDS) as c:
            return all(c.call("read " + k) == "VALUE " + v for k, v in expected.items()) and \
                all(c.call("read " + k) == "NOT_FOUND" for k in gone)
    ok, took = poll("reload", converged, 30)
    check(ok, "host b did not converge within 30 s after its watch met a compacted revision")
    print("b converged %.2f s after SIGCONT" % took, flush=True)
    same_contents(st, check, expected, "after b's watch met a compaction")
    after = counter(st.b, "etcd_reloads")
    if check(before is not None and after is not None, "host b's stats has no etcd_reloads: %r" % faults.stats(st.b)):
        check(after > before, "etcd_reloads on b did not grow (%d -> %d) after its watch met a compacted revision"
              % (before, after))
    with lineconn.Conn(st.b.port, timeout=REPLY_SECONDS) as c:
        check(c.call("save after-reload:b") == "OK", "a write through b after its reload")
    # 3. Watches restart under load.
    restarts = [counter(h, "etcd_watch_restarts") for h in st.hosts]
    load = faults.Load(st, per_host=2)
    try:
        check(load.wait_acked(50, 20), "no writes under load")
        rolling_restart(st.cluster)
        check(load.wait_acked(50, 30), "writes did not go on after the rolling restart")
    finally:
        stuck = load.stop()
    for h, n in zip(st.hosts, restarts):
        m = counter(h, "etcd_watch_restarts")
        if check(n is not None and m is not None, "host %s's stats has no etcd_watch_restarts" % h.name):
            check(m > n, "host %s: etcd_watch_restarts did not grow (%d -> %d) over a restart of every member"
                  % (h.name, n, m))
    check(not stuck, "%d writers did not finish within the reply timeout" % len(stuck))
    faults.account(st, load, check, extra=len(expected) + 1)


if __name__ == "__main__":
    scenario.main(body, __doc__)
