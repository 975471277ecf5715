"""test_lincheck.py: the linearizability checker's own tests (ctest
etcd/lincheck, labels unit;etcd; no servers, about a second): histories that
are linearizable pass, and each known kind of violation is flagged, so that a
green etcd/linearizable means something.

  /usr/bin/python3 tests/etcd/test_lincheck.py [--seed S]
"""

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import lincheck  # noqa: E402
from lincheck import Op, SessionRead  # noqa: E402

U = None  # an unknown outcome: complete at infinity

failures = []


def expect(name, history, status, **kw):
    verdicts = lincheck.check(history, **kw)
    got = "ok"
    for v in verdicts:
        if v.status != "ok":
            got = v.status
            if v.status == "violation":
                break
    if got != status:
        failures.append("%s: expected %s, got %s\n%s" % (name, status, got,
                                                         "\n".join(v.explain() for v in verdicts)))
    else:
        print("ok   %-58s %s" % (name, got), flush=True)


def w(p, v, t0, t1, res="ok", key="k"):
    return Op(p, key, "write", v, t0, t1, res)


def r(p, v, t0, t1, key="k"):
    return Op(p, key, "read", None, t0, t1, v)


def cas(p, exp, new, t0, t1, res, key="k"):
    return Op(p, key, "cas", (exp, new), t0, t1, res)


def incr(p, d, t0, t1, res, key="k"):
    return Op(p, key, "incr", d, t0, t1, res)


def delete(p, t0, t1, res, key="k"):
    return Op(p, key, "delete", None, t0, t1, res)


def handmade():
    # Linearizable.
    expect("sequential write then read", [w(1, "a", 0, 1), r(2, "a", 2, 3)], "ok")
    expect("read of absent key", [r(1, None, 0, 1), w(2, "a", 2, 3)], "ok")
    expect("read concurrent with write sees old", [w(1, "a", 0, 1), w(1, "b", 2, 5), r(2, "a", 3, 4)], "ok")
    expect("read concurrent with write sees new", [w(1, "a", 0, 1), w(1, "b", 2, 5), r(2, "b", 3, 4)], "ok")
    expect("reads order concurrent writes consistently",
           [w(1, "a", 0, 10), w(2, "b", 0, 10), r(3, "a", 1, 2), r(3, "b", 3, 4), r(4, "b", 5, 6)], "ok")
    expect("two concurrent incrs", [incr(1, 1, 0, 5, "1"), incr(2, 1, 1, 4, "2"), r(3, "2", 6, 7)], "ok")
    expect("cas race: one wins", [w(1, "a", 0, 1), cas(2, "a", "b", 2, 5, "ok"), cas(3, "a", "c", 2, 5, "changed"),
                                  r(1, "b", 6, 7)], "ok")
    expect("cas on absent key", [cas(1, "a", "b", 0, 1, "not_found")], "ok")
    expect("delete then read absent", [w(1, "a", 0, 1), delete(2, 2, 3, "ok"), r(1, None, 4, 5)], "ok")
    expect("unknown write, later seen", [w(1, "a", 0, 1), w(2, "b", 2, U), r(3, "b", 5, 6)], "ok")
    expect("unknown write, never seen", [w(1, "a", 0, 1), w(2, "b", 2, U), r(3, "a", 5, 6)], "ok")
    expect("unknown incr counted", [incr(1, 1, 0, 1, "1"), incr(2, 1, 2, U, None), r(3, "2", 5, 6)], "ok")
    expect("unknown incr not counted", [incr(1, 1, 0, 1, "1"), incr(2, 1, 2, U, None), r(3, "1", 5, 6)], "ok")
    expect("unknown cas then its value read", [w(1, "a", 0, 1), cas(2, "a", "b", 2, U, None), r(3, "b", 9, 10)], "ok")
    expect("keys are independent", [w(1, "a", 0, 1, key="x"), r(2, None, 2, 3, key="y"), r(2, "a", 2, 3, key="x")],
           "ok")
    # Violations.
    expect("stale read after a completed write", [w(1, "a", 0, 1), w(1, "b", 2, 3), r(2, "a", 4, 5)], "violation")
    expect("read of a value never written", [w(1, "a", 0, 1), r(2, "z", 2, 3)], "violation")
    expect("read goes back in time",
           [w(1, "a", 0, 10), w(2, "b", 0, 10), r(3, "b", 1, 2), r(3, "a", 3, 4), r(4, "b", 5, 6)], "violation")
    expect("lost update: two incrs both answer 1", [incr(1, 1, 0, 5, "1"), incr(2, 1, 1, 4, "1")], "violation")
    expect("lost update: final read misses an incr",
           [incr(1, 1, 0, 1, "1"), incr(2, 1, 2, 3, "2"), r(3, "1", 4, 5)], "violation")
    expect("cas that both succeeded", [w(1, "a", 0, 1), cas(2, "a", "b", 2, 5, "ok"), cas(3, "a", "c", 2, 5, "ok")],
           "violation")
    expect("cas ok on absent key", [cas(1, "a", "b", 0, 1, "ok")], "violation")
    expect("unknown write seen, then the old value again",
           [w(1, "a", 0, 1), w(2, "b", 2, U), r(3, "b", 3, 4), r(3, "a", 5, 6)], "violation")
    expect("delete acknowledged, read still finds it",
           [w(1, "a", 0, 1), delete(2, 2, 3, "ok"), r(1, "a", 4, 5)], "violation")
    expect("incr past an unknown incr twice",
           [incr(1, 1, 0, 1, "1"), incr(2, 1, 2, U, None), r(3, "2", 5, 6), r(3, "3", 7, 8)], "violation")


def simulate(seed, processes=8, ops_per_process=60, keys=("a", "b"), unknown=0.05, kinds="rw"):
    """A linearizable history by construction: each op gets a linearization
    point, the model applied in that order gives the results, and the op's
    interval is drawn around its point. unknown: share of ops whose outcome
    is lost (their effect kept: they happened)."""
    rnd = random.Random(seed)
    plan = []
    for p in range(processes):
        t = rnd.random()
        for i in range(ops_per_process):
            start = t + rnd.random() * 0.5
            point = start + rnd.random()
            end = point + rnd.random()
            plan.append((point, p, i, start, end))
            t = end
    plan.sort()
    state = {}
    history = []
    serial = 0
    for point, p, i, start, end in plan:
        key = rnd.choice(keys)
        kind = rnd.choice(kinds)
        cur = state.get(key)
        if kind == "w":
            serial += 1
            op = Op(p, key, "write", "v%d" % serial, start, end, "ok")
            state[key] = op.arg
        elif kind == "r":
            op = Op(p, key, "read", None, start, end, cur)
        elif kind == "i":
            n = str(int(cur or 0) + 1)
            op = Op(p, key, "incr", 1, start, end, n)
            state[key] = n
        elif kind == "c":
            serial += 1
            exp = cur if rnd.random() < 0.6 else "v%d" % rnd.randint(1, serial)
            res = "not_found" if cur is None else ("ok" if cur == exp else "changed")
            op = Op(p, key, "cas", (exp, "v%d" % serial), start, end, res)
            if res == "ok":
                state[key] = op.arg[1]
        else:  # delete
            op = Op(p, key, "delete", None, start, end, "not_found" if cur is None else "ok")
            state.pop(key, None)
        if rnd.random() < unknown and kind != "r":
            op.complete, op.result = lincheck.INF, None
        history.append(op)
    return history


def randomized(seed):
    for n, kinds in enumerate(("rw", "rwc", "ri", "rwcd")):
        h = simulate(seed + n, kinds=kinds)
        t = time.monotonic()
        expect("random linearizable (%s, seed %d, %d ops)" % (kinds, seed + n, len(h)), h, "ok")
        print("     checked in %.2f s" % (time.monotonic() - t))
        # Break it: after two sequential writes, a read of the first one.
        bad = list(h)
        last = max(bad, key=lambda o: o.invoke)
        end = max(o.complete for o in bad if o.known)
        bad.append(Op(99, last.key, "write", "zz-1", end + 1, end + 2, "ok"))
        bad.append(Op(99, last.key, "write", "zz-2", end + 3, end + 4, "ok"))
        bad.append(Op(98, last.key, "read", None, end + 5, end + 6, "zz-1"))
        expect("random with a planted stale read (%s, seed %d)" % (kinds, seed + n), bad, "violation")


def budget():
    # 12 processes all concurrent on one key: a budget of 50 steps cannot
    # decide it, and that must be "unknown", never "ok".
    h = [Op(p, "k", "write", "v%d" % p, 0, 10, "ok") for p in range(12)]
    h += [Op(100 + p, "k", "read", None, 11, 12, "v3") for p in range(3)]
    h.append(Op(200, "k", "read", None, 11, 12, "v4"))  # impossible: two final values
    expect("budget exhausted is unknown, not ok", h, "unknown", max_steps=50)
    expect("with budget the same history is a violation", h, "violation")


def fault_runs():
    # A quorum loss leaves dozens of writes and incrs of unknown outcome, all
    # pending to the end. Each shape must be decided in a few thousand
    # steps: the unknown incrs of one delta are interchangeable, and values
    # nobody read or compared are one state (etcd/linearizable took minutes
    # on such histories and timed out).
    h = [incr(p, 1 + p % 3, 1 + p * 0.01, U, None) for p in range(30)]
    h += [incr(100, 2, 0, 0.5, "2"), r(101, "5", 2, 3), incr(100, 1, 4, 5, "6")]
    expect("30 unknown incrs, 3 of them counted", h, "ok", max_steps=5000)
    h += [r(102, "7", 6, 7), r(103, "6", 8, 9)]
    expect("30 unknown incrs, then the counter goes back", h, "violation", max_steps=100000)
    h = [w(p, "lost-%d" % p, 1 + p * 0.01, U) for p in range(40)]
    h += [w(100, "a", 0, 0.5), r(101, "a", 2, 3), cas(102, "a", "b", 4, 5, "ok"), r(101, "b", 6, 7)]
    expect("40 unknown writes nobody read", h, "ok", max_steps=5000)
    h.append(r(101, "a", 8, 9))
    expect("40 unknown writes nobody read, then a stale read", h, "violation", max_steps=100000)
    # Values nobody read still tell "present" from "absent".
    h = [delete(1, 0, 1, "not_found"), w(2, "x", 2, U), delete(3, 4, 5, "ok"), r(4, None, 6, 7)]
    expect("an unread unknown write seen by a delete", h, "ok")
    h = [delete(1, 0, 1, "not_found"), w(2, "x", 2, U), w(5, "y", 2, U), delete(3, 4, 5, "ok"),
         delete(3, 6, 7, "ok"), r(4, None, 8, 9)]
    expect("two unread unknown writes, deleted twice", h, "ok")
    h = [delete(1, 0, 1, "not_found"), w(2, "x", 2, 3), delete(3, 4, 5, "ok"), delete(3, 6, 7, "ok")]
    expect("one write deleted twice", h, "violation")
    h = [w(1, "x", 0, 1), w(2, "y", 2, 3), cas(3, "z", "w", 4, 5, "not_found")]
    expect("cas not_found on a key holding an unread value", h, "violation")


def sessions():
    hist = [w(1, "a", 0, 1), w(2, "b", 0.5, 0.8)]
    ok = [SessionRead(1, "k", 2, 3, "a")]
    stale = [SessionRead(1, "k", 2, 3, "b")]  # b completed before p1's write was invoked... not quite: see below
    probs = lincheck.check_sessions(hist, ok)
    if probs:
        failures.append("session: own value flagged: %s" % probs)
    # b was invoked at 0.5 and completed at 0.8, before nothing: it overlaps p1's write [0, 1], so b may be newer.
    if lincheck.check_sessions(hist, stale):
        failures.append("session: a concurrent writer's value was flagged")
    hist2 = [w(2, "old", 0, 0.5), w(1, "mine", 1, 2)]
    probs = lincheck.check_sessions(hist2, [SessionRead(1, "k", 3, 4, "old")])
    if not probs:
        failures.append("session: a read older than the session's own write passed")
    probs = lincheck.check_sessions(hist2, [SessionRead(1, "k", 3, 4, None)])
    if not probs:
        failures.append("session: NOT_FOUND after the session's own write (no delete) passed")
    probs = lincheck.check_sessions([incr(1, 1, 0, 1, "5")], [SessionRead(1, "k", 2, 3, "4")])
    if not probs:
        failures.append("session: a counter below the session's own incr passed")
    if lincheck.check_sessions([incr(1, 1, 0, 1, "5")], [SessionRead(1, "k", 2, 3, "7")]):
        failures.append("session: a counter above the session's own incr was flagged")
    # Another session's stale read is not this check's business.
    if lincheck.check_sessions(hist2, [SessionRead(3, "k", 3, 4, "old")]):
        failures.append("session: another session's read was checked against p1's write")
    print("ok   session checks", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    t = time.monotonic()
    handmade()
    randomized(args.seed)
    budget()
    fault_runs()
    sessions()
    for f in failures:
        print("FAIL: %s" % f, flush=True)
    print("%d failures, %.2f s" % (len(failures), time.monotonic() - t))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
