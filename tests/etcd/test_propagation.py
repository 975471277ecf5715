"""test_propagation.py (ctest etcd/propagation): a write through one host is
read through the other (docs/scale-out.md): the other host's copy gets it
from its watch, so a plain read there sees it after a short delay (polled,
bounded; the delays are printed: the figure docs/scale-out.md states), and a
`sync` there makes the next read see it at once. Both directions; the writer's
own session always reads its write at once (read-your-writes)."""

import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import lineconn  # noqa: E402
import scenario  # noqa: E402
from workload import REPLY_SECONDS, poll  # noqa: E402

ROUNDS = 50
# The bound on the watch delay between two hosts on one idle machine: far
# above what a watch takes (milliseconds), far below a timeout that hides a
# lost event (the consistency check runs every 30 s).
PROPAGATION_BOUND = 5.0


def one_way(src, dst, tag, check, rnd):
    delays = []
    with lineconn.Conn(src.port, timeout=REPLY_SECONDS) as w, lineconn.Conn(dst.port, timeout=REPLY_SECONDS) as r:
        for i in range(ROUNDS):
            key, value = "prop-%s-%d" % (tag, i), "v%d-%d" % (i, rnd.randrange(10 ** 9))
            check(w.call("save %s:%s" % (key, value)) == "OK", "save %s through %s" % (key, src.name))
            check(w.call("read " + key) == "VALUE " + value, "%s does not read its own write of %s" % (src.name, key))
            if i % 5 == 4:
                # The strong read: sync, then the read must see the write.
                s = r.call("sync")
                check(s.startswith("OK synced "), "sync on %s: %r" % (dst.name, s))
                got = r.call("read " + key)
                check(got == "VALUE " + value, "after sync %s reads %s as %r, not %r" % (dst.name, key, got, value))
                continue
            seen, took = poll("propagation", lambda: r.call("read " + key) == "VALUE " + value, PROPAGATION_BOUND)
            if check(seen, "%s did not see %s:%s written through %s within %.0f s"
                     % (dst.name, key, value, src.name, PROPAGATION_BOUND)):
                delays.append(took)
            # Overwrite and delete propagate too.
            if i % 10 == 0:
                check(w.call("delete " + key) == "OK", "delete %s" % key)
                gone, _ = poll("delete", lambda: r.call("read " + key) == "NOT_FOUND", PROPAGATION_BOUND)
                check(gone, "%s still reads %s after its delete through %s" % (dst.name, key, src.name))
                check(w.call("save %s:%s" % (key, value)) == "OK", "save %s again" % key)
        if delays:
            delays.sort()
            print("%s -> %s: %d writes, watch delay median %.1f ms, p90 %.1f ms, max %.1f ms"
                  % (src.name, dst.name, len(delays), 1000 * statistics.median(delays),
                     1000 * delays[int(len(delays) * 0.9)], 1000 * delays[-1]), flush=True)


def body(st, check, args):
    one_way(st.a, st.b, "ab", check, args.rnd)
    one_way(st.b, st.a, "ba", check, args.rnd)
    # Both hosts agree on the count after a sync.
    counts = []
    for h in st.hosts:
        with lineconn.Conn(h.port) as c:
            c.call("sync")
            counts.append(c.call("count"))
    check(counts[0] == counts[1], "the hosts count differently: %r" % counts)
    check(counts[0].startswith("COUNT %d " % (2 * ROUNDS)), "count %r, expected %d entries" % (counts[0], 2 * ROUNDS))


if __name__ == "__main__":
    scenario.main(body, __doc__)
