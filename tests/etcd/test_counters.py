"""test_counters.py (ctest etcd/counters): counters are exact across hosts
(docs/scale-out.md: an incr is an etcd transaction on the key's revision).
8 clients, 4 through each host, each `incr` one shared key 60 times: every
acknowledged incr answered a distinct value, and the final value (a strong
read on both hosts) is the number of acknowledged incrs plus some of those
whose outcome is unknown (none on a healthy cluster). The history also goes
through the linearizability checker. A command run again after a conflict
is counted once: the hosts' `incrs` grow by the number of incrs sent."""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import lincheck  # noqa: E402
import lineconn  # noqa: E402
import scenario  # noqa: E402
from workload import REPLY_SECONDS, NotSent, Recorder, Session  # noqa: E402

CLIENTS_PER_HOST = 4
INCRS = 60
KEY = "hits"


def body(st, check, args):
    rec = Recorder()

    def incrs():
        total = 0
        for h in st.hosts:
            with lineconn.Conn(h.port, timeout=REPLY_SECONDS) as c:
                total += int(c.stats()["incrs"])
        return total

    incrs_before = incrs()
    go = threading.Barrier(2 * CLIENTS_PER_HOST)

    def run(host, n):
        s = Session(host.port, rec, "%s%d" % (host.name, n))
        s._open()
        go.wait(30)
        for _ in range(INCRS):
            try:
                s.incr(KEY)
            except NotSent as e:
                rec.bad("no session: %s" % e)
        s.close()

    ts = [threading.Thread(target=run, args=(h, n)) for h in st.hosts for n in range(CLIENTS_PER_HOST)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(150)
    check(not any(t.is_alive() for t in ts), "clients still running after 150 s")
    check(not rec.unexpected, "unexpected replies: %r" % rec.unexpected[:5])
    acked = [o for o in rec.ops if o.known]
    unknown = [o for o in rec.ops if not o.known]
    values = sorted(int(o.result) for o in acked)
    check(len(set(values)) == len(values), "two acknowledged incrs answered the same value: %r"
          % sorted({v for v in values if values.count(v) > 1})[:5])
    print("%d incrs acknowledged, %d unknown" % (len(acked), len(unknown)), flush=True)
    check(not unknown, "incrs with unknown outcome on a healthy cluster: %d" % len(unknown))
    finals = []
    for h in st.hosts:
        with lineconn.Conn(h.port, timeout=REPLY_SECONDS) as c:
            check(c.call("sync").startswith("OK synced "), "sync on %s" % h.name)
            finals.append(lineconn.value_of(c.call("read " + KEY)))
    check(finals[0] == finals[1], "the hosts read %s differently after sync: %r" % (KEY, finals))
    final = int(finals[0] or 0)
    check(len(acked) <= final <= len(acked) + len(unknown),
          "%s is %d: %d incrs acknowledged, %d unknown" % (KEY, final, len(acked), len(unknown)))
    if values:
        check(values[-1] <= final, "an incr answered %d, above the final %d" % (values[-1], final))
    # Every incr sent was counted once, however often a conflict made it run
    # again (etcd_retries counts those).
    counted = incrs() - incrs_before
    check(counted == len(rec.ops), "stats count %d incrs; %d were sent" % (counted, len(rec.ops)))
    violations, unknowns = lincheck.summarize(lincheck.check(rec.ops))
    check(not violations, "not linearizable:\n" + "\n".join(v.explain() for v in violations))
    check(not unknowns, "the checker ran out of steps: %r" % unknowns)


if __name__ == "__main__":
    scenario.main(body, __doc__)
