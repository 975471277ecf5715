"""test_linearizable.py (ctest etcd/linearizable): concurrent clients on both
hosts record every operation with its invoke and complete times across a
fault run, and tests/pylib/lincheck.py checks the history key by key
(docs/scale-out.md: writes, strong reads (`sync` then `read`), compare-and-
set and counters are linearizable; a plain read is never older than its
session's own last acknowledged write). Zero violations, and the checker
must decide every key (a search that runs out of steps fails the test).

The run: healthy; kill -9 the etcd leader, restart it; kill -9 host b's
kvstored, restart it; stop two etcd members (quorum lost: unknown
outcomes), restart them; healthy again. Register keys get unique values
(so a cas's version names one write); counter keys only incr."""

import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import lincheck  # noqa: E402
import scenario  # noqa: E402
import stack as etcdstack  # noqa: E402
from workload import NotSent, Recorder, Session, poll  # noqa: E402

CLIENTS_PER_HOST = 3
REGISTERS = ["reg-%d" % i for i in range(6)]
COUNTERS = ["ctr-%d" % i for i in range(2)]
# A pause between a client's operations: keeps each key's history to a few
# hundred operations over the run, which the checker decides in seconds.
THINK_SECONDS = 0.01
PHASE_SECONDS = 3.0
UNKNOWN_PAUSE_SECONDS = 0.2
# The check normally takes well under a second; a violation is proved only
# by exhausting the search, which may take much longer: past this it ends
# "unknown" (a failure) with the history saved, not in ctest's timeout.
CHECK_SECONDS = 60


class Client:
    def __init__(self, host, n, rec, rnd, stopping):
        self.name = "%s%d" % (host.name, n)
        self.s = Session(host.port, rec, self.name)
        self.rec = rec
        self.rnd = rnd
        self.stopping = stopping
        self.serial = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def one(self):
        r = self.rnd.random()
        if self.rnd.random() < 0.7:
            key = self.rnd.choice(REGISTERS)
            if r < 0.3:
                self.serial += 1
                return self.s.write(key, "%s.%d" % (self.name, self.serial))
            if r < 0.6:
                return self.s.strong_read(key)
            if r < 0.8:
                self.serial += 1
                return self.s.cas(key, "%s.%d" % (self.name, self.serial))
            if r < 0.85:
                return self.s.delete(key)
            return self.s.plain_read(key)
        key = self.rnd.choice(COUNTERS)
        if r < 0.6:
            return self.s.incr(key, self.rnd.randint(1, 3))
        if r < 0.85:
            return self.s.strong_read(key)
        return self.s.plain_read(key)

    def run(self):
        while not self.stopping.is_set():
            try:
                if self.one() is None:
                    # An unknown outcome (or a read that failed): back off,
                    # so a refusing store does not fill the history with
                    # unknown operations (each one widens the search).
                    self.stopping.wait(UNKNOWN_PAUSE_SECONDS)
            except NotSent:
                self.stopping.wait(0.05)
            self.stopping.wait(THINK_SECONDS)
        self.s.close()


def progress(rec, more, seconds):
    with rec.lock:
        base = rec.counts["ok"]
    got, _ = poll("progress", lambda: rec.counts["ok"] >= base + more, seconds)
    return bool(got)


def body(st, check, args):
    rec = Recorder()
    stopping = threading.Event()
    clients = [Client(h, n, rec, random.Random(args.seed * 100 + i), stopping)
               for i, (h, n) in enumerate((h, n) for h in st.hosts for n in range(CLIENTS_PER_HOST))]
    for c in clients:
        c.thread.start()
    t0 = time.monotonic()

    def phase(what):
        time.sleep(PHASE_SECONDS)  # load runs through each phase for this long: the phases are time-based
        print("%6.2f s %s; %r" % (time.monotonic() - t0, what, rec.counts), flush=True)

    try:
        phase("healthy")
        leader = st.cluster.leader()
        st.cluster.kill9(leader)
        phase("etcd leader %s killed" % leader.name)
        st.cluster.start(leader)
        check(progress(rec, 50, 20), "no progress after the leader rejoined")
        phase("leader rejoined")
        st.b.kill9()
        phase("kvstored b killed")
        st.b.start()
        etcdstack.wait_serving(st.b)
        phase("kvstored b restarted")
        down = st.cluster.followers()
        for m in down:
            st.cluster.stop(m)
        phase("quorum lost")
        for m in down:
            st.cluster.start(m, wait=False)
        st.cluster.wait_healthy()
        check(progress(rec, 50, 30), "no progress after quorum returned")
        phase("quorum back")
    finally:
        stopping.set()
        for c in clients:
            c.thread.join(15)
    check(not any(c.thread.is_alive() for c in clients), "clients still running 15 s after the stop")
    check(not rec.unexpected, "unexpected replies: %r" % rec.unexpected[:5])
    known = sum(1 for o in rec.ops if o.known)
    print("history: %d operations (%d with unknown outcome), %d plain reads"
          % (len(rec.ops), len(rec.ops) - known, len(rec.plain_reads)), flush=True)
    check(known > 500, "only %d operations completed: the run proves little" % known)
    # Kept for a rerun of the check (lincheck.load) when the test fails.
    saved = os.path.join(tempfile.gettempdir(), "kvstore-linearizable-%d.jsonl" % args.seed)
    lincheck.save(rec.ops, saved)
    t1 = time.monotonic()
    verdicts = lincheck.check(rec.ops, deadline=t1 + CHECK_SECONDS)
    for v in verdicts:
        print("  %r" % v, flush=True)
    print("checked in %.2f s" % (time.monotonic() - t1), flush=True)
    violations, unknowns = lincheck.summarize(verdicts)
    check(not violations, "not linearizable (history: %s):\n" % saved + "\n".join(v.explain() for v in violations))
    check(not unknowns, "the checker ran out of steps or time on %r (history: %s)" % ([v.key for v in unknowns], saved))
    problems = lincheck.check_sessions(rec.ops, rec.plain_reads)
    check(not problems, "plain reads older than their session's own write:\n  " + "\n  ".join(problems[:10]))
    planted(rec, check)
    if not check.failures:
        os.unlink(saved)


def planted(rec, check):
    """The checks can fail on this very history: a stale strong read and a
    stale plain read planted after the run must be flagged."""
    end = max([o.complete for o in rec.ops if o.known] + [0.0]) + 1
    # The register with the fewest unknown outcomes: proving a violation
    # means trying every place for each of them (they may take effect at any
    # time after their invocation), which a few dozen make too long a search.
    key = min(REGISTERS, key=lambda k: sum(1 for o in rec.ops if o.key == k and not o.known))
    extra = [lincheck.Op("plant", key, "write", "planted-1", end, end + 1, "ok"),
             lincheck.Op("plant", key, "write", "planted-2", end + 2, end + 3, "ok")]
    stale = lincheck.Op("plant-r", key, "read", None, end + 4, end + 5, "planted-1")
    ops = [o for o in rec.ops if o.key == key] + extra + [stale]
    v = lincheck.check(ops)[0]
    check(v.status == "violation", "a planted stale strong read on %s was not flagged: %r" % (key, v))
    sread = lincheck.SessionRead("plant", key, end + 4, end + 5, "planted-1")
    check(lincheck.check_sessions(ops[:-1], [sread]) != [], "a planted stale plain read was not flagged")


if __name__ == "__main__":
    scenario.main(body, __doc__)
