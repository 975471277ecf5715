"""faults.py: what the fault scenarios (tests/etcd/test_fault_*.py) share:
the load that runs through a fault, and the acknowledged-write accounting
afterwards (every write answered OK is readable on every host; one with an
unknown outcome is absent or has its value; both hosts count the same)."""

import time

import lineconn
from stack import ETCD_TIMEOUT_MS
from workload import REPLY_SECONDS, Recorder, Writers, check_ledger, poll

# No write may wait longer than this for its reply: --etcd-timeout (then
# `ERR unavailable`), twice (a write queued behind a group commit that
# timed out), and slack for a loaded 2-core machine.
MAX_REPLY_SECONDS = 2 * ETCD_TIMEOUT_MS / 1000.0 + 2.0


class Load:
    """Writers (per_host sessions through each host) from construction to
    stop(); acked_since(t) counts the writes acknowledged after t."""

    def __init__(self, st, per_host=3, prefix="w", hosts=None):
        self.rec = Recorder()
        self.hosts = hosts or st.hosts
        self.writers = Writers([h.port for h in self.hosts], per_host, self.rec, prefix)
        self.t0 = time.monotonic()

    def acked(self):
        with self.rec.lock:
            return len(self.rec.acked)

    def wait_acked(self, more, seconds):
        """Polls until `more` further writes are acknowledged; True if they were."""
        base = self.acked()
        got, _ = poll("progress", lambda: self.acked() >= base + more, seconds)
        return bool(got)

    def stop(self):
        stuck = self.writers.stop()
        return stuck


def account(st, load, check, hosts=None, extra=0):
    """The acknowledged-write accounting on every host (after a sync);
    extra: entries the store holds beside the load's (a test's own)."""
    rec = load.rec
    check(not rec.unexpected, "unexpected replies: %r" % rec.unexpected[:5])
    print("writes: %d acknowledged, %d unknown, %d refused; %r" % (len(rec.acked), len(rec.unknown),
                                                                  len(rec.refused), rec.counts), flush=True)
    check(rec.max_reply <= MAX_REPLY_SECONDS, "a reply took %.1f s (the bound: --etcd-timeout %d ms, so %.1f s)"
          % (rec.max_reply, ETCD_TIMEOUT_MS, MAX_REPLY_SECONDS))
    check(not rec.refused, "writes refused with a definite error: %r" % list(rec.refused.items())[:5])
    counts = []
    for h in hosts or st.hosts:
        check.extend(check_ledger(rec, h.port, "host " + h.name))
        with lineconn.Conn(h.port, timeout=REPLY_SECONDS) as c:
            c.call("sync")
            counts.append(c.call("count"))
    check(len(set(counts)) == 1, "the hosts count differently: %r" % counts)
    n = int(counts[0].split()[1]) - extra
    check(len(rec.acked) <= n <= len(rec.acked) + len(rec.unknown),
          "%d entries: %d acknowledged and %d unknown writes" % (n, len(rec.acked), len(rec.unknown)))


def stats(host):
    """`stats` of host as a dict (a fresh session)."""
    with lineconn.Conn(host.port, timeout=REPLY_SECONDS) as c:
        return c.stats()


def read_only_why(st_dict):
    """What stats says about writes being refused (docs/scale-out.md, "Quorum
    lost"; docs/protocol.md, "stats"): `read_only 1` and `read_only_why
    <words>` while refused, `read_only 0` and `read_only_why -` while not.
    Returns the why ("" while writable), None when stats lacks either
    counter, or "inconsistent: ..." when the two disagree."""
    if "read_only" not in st_dict or "read_only_why" not in st_dict:
        return None
    flag, why = st_dict["read_only"].strip(), st_dict["read_only_why"].strip()
    if flag == "0" and why == "-":
        return ""
    if flag == "1" and why not in ("", "-"):
        return why
    return "inconsistent: read_only %r, read_only_why %r" % (flag, why)
