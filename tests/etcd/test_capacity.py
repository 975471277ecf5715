"""test_capacity.py (ctest etcd/capacity): the capacity cap holds across
hosts (docs/scale-out.md: an etcd transaction guards the entry count).
kvstored runs with --capacity 200 on both hosts; 8 clients, 4 through each
host, race to create 400 distinct keys (`save`, each key once): exactly 200
are answered OK and 200 `ERR full`, and afterwards both hosts hold exactly
200 entries, the ones acknowledged. Then overwrites of existing keys still
work when full, a delete makes room for exactly one create, and `add` races
for one key from both hosts have exactly one winner."""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import lineconn  # noqa: E402
import scenario  # noqa: E402
from workload import REPLY_SECONDS, NotSent, Recorder, Session  # noqa: E402

CAPACITY = 200
CREATES = 400
CLIENTS_PER_HOST = 4


def body(st, check, args):
    rec = Recorder()
    keys = ["cap-%03d" % i for i in range(CREATES)]
    args.rnd.shuffle(keys)
    clients = [(h, i) for h in st.hosts for i in range(CLIENTS_PER_HOST)]
    shares = [keys[i::len(clients)] for i in range(len(clients))]
    start = threading.Barrier(len(clients))

    def run(host, share):
        s = Session(host.port, rec, host.name)
        s._open()
        start.wait(30)
        for key in share:
            try:
                s.ledger_save(key, "v-" + key)
            except NotSent as e:
                rec.bad("%s: no session: %s" % (key, e))
        s.close()

    threads = [threading.Thread(target=run, args=(h, sh)) for (h, _), sh in zip(clients, shares)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check(not any(t.is_alive() for t in threads), "clients still running after 120 s")
    check(not rec.unexpected, "unexpected replies: %r" % rec.unexpected[:5])
    full = [k for k, r in rec.refused.items() if r.startswith("ERR full")]
    other = {k: r for k, r in rec.refused.items() if not r.startswith("ERR full")}
    print("creates: %d OK, %d ERR full, %d other, %d unknown" % (len(rec.acked), len(full), len(other),
                                                                 len(rec.unknown)), flush=True)
    check(not other, "creates refused with something else than ERR full: %r" % list(other.items())[:5])
    check(not rec.unknown, "creates with unknown outcome on a healthy cluster: %r" % list(rec.unknown)[:5])
    check(len(rec.acked) == CAPACITY, "%d creates acknowledged, capacity is %d" % (len(rec.acked), CAPACITY))
    for h in st.hosts:
        with lineconn.Conn(h.port, timeout=REPLY_SECONDS) as c:
            c.call("sync")
            count = c.call("count")
            check(count == "COUNT %d %d" % (CAPACITY, CAPACITY), "host %s: %r after the race" % (h.name, count))
            listed = set(c.keys("cap-"))
            check(listed == set(rec.acked), "host %s lists %d keys, %d acknowledged; differ in %r"
                  % (h.name, len(listed), len(rec.acked), sorted(listed ^ set(rec.acked))[:5]))
    # Full: an overwrite works, a new key is refused, a delete makes room for one.
    some = sorted(rec.acked)[0]
    with lineconn.Conn(st.a.port) as a, lineconn.Conn(st.b.port) as b:
        check(a.call("save %s:new" % some) == "OK", "overwrite of %s when full" % some)
        check(b.call("save fresh-1:x").startswith("ERR full"), "a new key when full is not refused on b")
        check(b.call("delete " + some) == "OK", "delete %s" % some)
        a.send(b"save fresh-a:x\n")
        b.send(b"save fresh-b:x\n")
        ra, rb = a.line(), b.line()
        replies = sorted([ra, rb])
        check(replies[1] == "OK" and replies[0].startswith("ERR full"),
              "one free place, two creates (one per host): %r" % replies)
        # Room for the add race below.
        b.call("delete " + ("fresh-a" if ra == "OK" else "fresh-b"))
    winners = []
    lock = threading.Lock()
    go = threading.Barrier(8)

    def adder(host, n):
        with lineconn.Conn(host.port, timeout=REPLY_SECONDS) as c:
            go.wait(30)
            r = c.call("add lock:%s-%d" % (host.name, n))
            with lock:
                winners.append(r)

    ts = [threading.Thread(target=adder, args=(h, n)) for h in st.hosts for n in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    check(winners.count("OK") == 1 and winners.count("EXISTS") == 7, "add races on both hosts: %r" % winners)


if __name__ == "__main__":
    scenario.main(body, __doc__, capacity=CAPACITY)
