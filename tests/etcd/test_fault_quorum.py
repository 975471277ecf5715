"""test_fault_quorum.py (ctest etcd/fault-quorum): stop two of the three
etcd members under load (docs/scale-out.md, "Quorum lost"). Writes are
refused with `ERR unavailable` within the timeout, never hang, and once
refused are refused at once; reads go on from the local copy on both hosts;
`stats` says the store is read-only and why. Then the two members restart
and writes resume by themselves (no kvstored restart), `stats` no longer
says read-only, and every acknowledged write is readable on both hosts."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import faults  # noqa: E402
import lineconn  # noqa: E402
import scenario  # noqa: E402
from stack import ETCD_TIMEOUT_MS  # noqa: E402
from workload import REPLY_SECONDS, poll  # noqa: E402

RESUME_SECONDS = 30.0


def probe(host, key, rec):
    """(reply, seconds) of one save through a fresh session, noted in the
    ledger (acknowledged or unknown) for the accounting."""
    with lineconn.Conn(host.port, timeout=REPLY_SECONDS) as c:
        t0 = time.monotonic()
        r = c.call("save %s:x" % key)
        rec.note("acked" if r == "OK" else "unknown", key, "x")
        return r, time.monotonic() - t0


def body(st, check, args):
    load = faults.Load(st, per_host=2)
    try:
        check(load.wait_acked(100, 20), "no 100 writes acknowledged within 20 s on a healthy cluster")
        with load.rec.lock:
            sample = sorted(load.rec.acked.items())[:20]
        down = st.cluster.followers()
        for m in down:
            st.cluster.stop(m)
        print("stopped %s" % ", ".join(m.name for m in down), flush=True)
        # Once refused, refused at once (until a probe finds quorum again):
        # a second write must not wait for another etcd timeout.
        at_once = 1.0
        # A write is answered within --etcd-timeout (docs/scale-out.md), plus
        # slack for a loaded machine.
        first_bound = ETCD_TIMEOUT_MS / 1000.0 + 1.5
        for h in st.hosts:
            r, took = probe(h, "probe-%s-1" % h.name, load.rec)
            check(r.startswith("ERR unavailable"), "host %s: a write without quorum answered %r" % (h.name, r))
            check(took <= first_bound, "host %s: the refusal took %.1f s (--etcd-timeout %d ms; bound %.1f s)"
                  % (h.name, took, ETCD_TIMEOUT_MS, first_bound))
            r, took = probe(h, "probe-%s-2" % h.name, load.rec)
            check(r.startswith("ERR unavailable"), "host %s: the second write without quorum: %r" % (h.name, r))
            check(took <= at_once, "host %s: the second refusal took %.1f s (the first already said unavailable: "
                  "expected at once, within %.1f s)" % (h.name, took, at_once))
            print("host %s refuses writes: %r" % (h.name, r), flush=True)
            with lineconn.Conn(h.port, timeout=REPLY_SECONDS) as c:
                for key, value in sample:
                    got = c.call("read " + key)
                    check(got == "VALUE " + value, "host %s without quorum reads %s as %r" % (h.name, key, got))
            why = faults.read_only_why(faults.stats(h))
            check(why is not None, "host %s: stats has no read-only counter" % h.name)
            check(bool(why) and not why.startswith("inconsistent"),
                  "host %s: stats does not say read-only without quorum: %r" % (h.name, why))
            print("host %s stats: read-only %r" % (h.name, why), flush=True)
            # The admin socket's writes say unavailable too (flush refuses before it starts).
            for args in (("set", "probe-admin", "v"), ("flush", "--yes")):
                code, out = h.admin(*args)
                check(code != 0 and ": unavailable " in out, "host %s: admin %s without quorum: %r"
                      % (h.name, args[0], out))
        for m in down:
            st.cluster.start(m, wait=False)
        st.cluster.wait_healthy()
        t0 = time.monotonic()
        for h in st.hosts:
            ok, took = poll("resume", lambda: probe(h, "probe-%s-3" % h.name, load.rec)[0] == "OK", RESUME_SECONDS)
            check(ok, "host %s: writes did not resume within %.0f s of quorum's return" % (h.name, RESUME_SECONDS))
            print("host %s writes again %.2f s after quorum returned" % (h.name, time.monotonic() - t0), flush=True)
            why = faults.read_only_why(faults.stats(h))
            check(why == "", "host %s: stats still says read-only (or lacks read_only): %r" % (h.name, why))
        check(load.wait_acked(100, RESUME_SECONDS), "the writers did not resume")
    finally:
        stuck = load.stop()
    check(not stuck, "%d writers did not finish within the reply timeout" % len(stuck))
    faults.account(st, load, check)


if __name__ == "__main__":
    scenario.main(body, __doc__)
