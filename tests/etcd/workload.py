"""workload.py: clients of the etcd system tests: sessions through a host's
xinetd (line protocol) that record every operation with its invoke and
complete times (for tests/pylib/lincheck.py), and the acknowledged-write
ledger the fault tests check afterwards.

An outcome is "unknown" (lincheck: completes at infinity) when the command
was sent and no definite reply came: `ERR unavailable ...` (etcd did not
commit within --etcd-timeout; it may still commit), a timeout, a reset or
closed connection. A command never sent (the session could not be opened:
kvstored down) is not an operation at all and is not recorded.
"""

import itertools
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import lincheck  # noqa: E402
import lineconn  # noqa: E402
import sockets  # noqa: E402

# A reply must come within this: kvstored answers a write `ERR unavailable`
# after --etcd-timeout (stack.ETCD_TIMEOUT_MS, 2 s); 8 s is that and slack
# for a loaded 2-core machine.
REPLY_SECONDS = 8.0

_session_ids = itertools.count(1)


class Unknown(Exception):
    """The command was sent; its outcome is unknown."""


class NotSent(Exception):
    """No session could be opened: the command was not sent."""


class Recorder:
    """What all sessions of a test recorded, under one lock: ops (lincheck
    Ops: writes, strong reads, cas, incr, delete), plain reads (lincheck
    SessionReads), acknowledged and unknown writes of the ledger keys, and
    unexpected replies (each is a test failure)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []
        self.plain_reads = []
        self.acked = {}  # key -> value: writes answered OK
        self.unknown = {}  # key -> value: writes whose outcome is unknown
        self.refused = {}  # key -> reply: writes refused with a definite error (ERR full)
        self.unexpected = []
        self.counts = {"ok": 0, "unknown": 0, "unavailable": 0, "notsent": 0}
        self.max_reply = 0.0  # the slowest reply, seconds

    def add_op(self, op):
        with self.lock:
            self.ops.append(op)
            self.counts["ok" if op.known else "unknown"] += 1

    def add_plain_read(self, r):
        with self.lock:
            self.plain_reads.append(r)

    def note(self, what, key, value):
        with self.lock:
            getattr(self, what)[key] = value

    def bad(self, text):
        with self.lock:
            self.unexpected.append(text)

    def latency(self, seconds):
        with self.lock:
            self.max_reply = max(self.max_reply, seconds)

    def count(self, name):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1


class Session:
    """One client thread's line-protocol session to a host, reopened after a
    failure (a new session id then: read-your-writes is per session)."""

    def __init__(self, port, rec, name=""):
        self.port = port
        self.rec = rec
        self.name = name
        self.conn = None
        self.sid = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def _open(self):
        if self.conn is None:
            try:
                self.conn = lineconn.Conn(self.port, timeout=REPLY_SECONDS)
            except (OSError, sockets.Closed, sockets.Timeout, lineconn.ConnectError) as e:
                self.rec.count("notsent")
                raise NotSent(str(e)) from None
            self.sid = "%s#%d" % (self.name, next(_session_ids))

    def call(self, line):
        """(reply, invoke, complete); Unknown after a lost connection, a
        timeout or `ERR unavailable` (the session is closed then: the next
        call opens a new one); NotSent when no session could be opened."""
        self._open()
        t0 = time.monotonic()
        try:
            reply = self.conn.call(line)
        except (OSError, sockets.Closed, sockets.Timeout) as e:
            self.close()
            raise Unknown("%s: %s" % (line, e)) from None
        t1 = time.monotonic()
        self.rec.latency(t1 - t0)
        if reply.startswith("ERR unavailable"):
            self.rec.count("unavailable")
            raise Unknown(reply)
        if reply.startswith("BYE"):
            self.close()
            raise Unknown(reply)
        return reply, t0, t1

    # -- recorded operations (each returns the result, or None: unknown)

    def write(self, key, value):
        t0 = time.monotonic()
        try:
            reply, t0, t1 = self.call("save %s:%s" % (key, value))
        except Unknown:
            self.rec.add_op(lincheck.Op(self.sid, key, "write", value, t0, None, None))
            return None
        if reply != "OK":
            self.rec.bad("save %s: %r" % (key, reply))
            self.rec.add_op(lincheck.Op(self.sid, key, "write", value, t0, None, None))
            return None
        self.rec.add_op(lincheck.Op(self.sid, key, "write", value, t0, t1, "ok"))
        return "ok"

    def strong_read(self, key):
        """`sync` then `read`: one linearizable read (docs/scale-out.md).
        Not recorded when either fails (a read that did not happen changes
        nothing); returns (found, value)."""
        t0 = time.monotonic()
        try:
            reply, _, _ = self.call("sync")
            if not reply.startswith("OK synced "):
                self.rec.bad("sync: %r" % reply)
                return None
            reply, _, t1 = self.call("read " + key)
        except Unknown:
            return None
        try:
            value = lineconn.value_of(reply)
        except ValueError:
            self.rec.bad("read %s: %r" % (key, reply))
            return None
        self.rec.add_op(lincheck.Op(self.sid, key, "read", None, t0, t1, value))
        return (True, value)

    def plain_read(self, key):
        try:
            reply, t0, t1 = self.call("read " + key)
        except Unknown:
            return None
        try:
            value = lineconn.value_of(reply)
        except ValueError:
            self.rec.bad("read %s: %r" % (key, reply))
            return None
        self.rec.add_plain_read(lincheck.SessionRead(self.sid, key, t0, t1, value))
        return (True, value)

    def cas(self, key, new):
        """`gets` (a plain read: the version and the value it names), then
        `cas <version> key:new`, recorded as cas(value gets showed, new)."""
        try:
            reply, _, _ = self.call("gets " + key)
        except Unknown:
            return None
        if reply == "NOT_FOUND":
            return "not_found"
        parts = reply.split(" ", 2)
        if len(parts) != 3 or parts[0] != "VALUE":
            self.rec.bad("gets %s: %r" % (key, reply))
            return None
        version, expected = parts[1], parts[2]
        t0 = time.monotonic()
        try:
            reply, t0, t1 = self.call("cas %s %s:%s" % (version, key, new))
        except Unknown:
            self.rec.add_op(lincheck.Op(self.sid, key, "cas", (expected, new), t0, None, None))
            return None
        res = {"OK": "ok", "CHANGED": "changed", "NOT_FOUND": "not_found"}.get(reply)
        if res is None:
            self.rec.bad("cas %s: %r" % (key, reply))
            self.rec.add_op(lincheck.Op(self.sid, key, "cas", (expected, new), t0, None, None))
            return None
        self.rec.add_op(lincheck.Op(self.sid, key, "cas", (expected, new), t0, t1, res))
        return res

    def incr(self, key, delta=1):
        t0 = time.monotonic()
        try:
            reply, t0, t1 = self.call("incr %s %d" % (key, delta))
        except Unknown:
            self.rec.add_op(lincheck.Op(self.sid, key, "incr", delta, t0, None, None))
            return None
        if not reply.startswith("VALUE "):
            self.rec.bad("incr %s: %r" % (key, reply))
            self.rec.add_op(lincheck.Op(self.sid, key, "incr", delta, t0, None, None))
            return None
        self.rec.add_op(lincheck.Op(self.sid, key, "incr", delta, t0, t1, reply[6:]))
        return reply[6:]

    def delete(self, key):
        t0 = time.monotonic()
        try:
            reply, t0, t1 = self.call("delete " + key)
        except Unknown:
            self.rec.add_op(lincheck.Op(self.sid, key, "delete", None, t0, None, None))
            return None
        res = {"OK": "ok", "NOT_FOUND": "not_found"}.get(reply)
        if res is None:
            self.rec.bad("delete %s: %r" % (key, reply))
            self.rec.add_op(lincheck.Op(self.sid, key, "delete", None, t0, None, None))
            return None
        self.rec.add_op(lincheck.Op(self.sid, key, "delete", None, t0, t1, res))
        return res

    def ledger_save(self, key, value):
        """A write of a ledger key (each written once): noted as acknowledged,
        refused (a definite ERR other than unavailable) or unknown."""
        try:
            reply, _, _ = self.call("save %s:%s" % (key, value))
        except NotSent:
            raise
        except Unknown:
            self.rec.note("unknown", key, value)
            return None
        if reply == "OK":
            self.rec.note("acked", key, value)
        else:
            self.rec.note("refused", key, reply)
        return reply


class Writers:
    """n threads per port writing ledger keys (prefix-<thread>-<n>, each
    once) as fast as they are answered, until stop(). A failed session is
    reopened after a short pause (kvstored may be down)."""

    def __init__(self, ports, per_port, rec, prefix="w"):
        self.rec = rec
        self.stopping = threading.Event()
        self.threads = []
        for port in ports:
            for i in range(per_port):
                name = "%s%d-%d" % (prefix, port, i)
                t = threading.Thread(target=self._run, args=(port, name), daemon=True)
                self.threads.append(t)
        for t in self.threads:
            t.start()

    def _run(self, port, name):
        s = Session(port, self.rec, name)
        n = 0
        while not self.stopping.is_set():
            key = "%s-%d" % (name, n)
            try:
                reply = s.ledger_save(key, "v-%s" % key)
                n += 1
                if reply is None:
                    # Unknown outcome (no quorum, kvstored gone): pause, or
                    # a refusing store turns into thousands of unknown keys.
                    self.stopping.wait(0.05)
            except NotSent:
                self.stopping.wait(0.05)
        s.close()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(REPLY_SECONDS + 5)
        return [t for t in self.threads if t.is_alive()]


def check_ledger(rec, port, what, sync=True):
    """Every acknowledged ledger write is readable through port with its
    value; an unknown one is absent or has its value. Returns failures.
    sync: `sync` first (the writes went through other hosts too); without
    it (a store with no `sync`: test_harness.py) the reads are plain."""
    failures = []
    with lineconn.Conn(port, timeout=REPLY_SECONDS) as c:
        # A member that rejoins after a fault may call an election: etcd is
        # briefly unavailable, and `sync` says so (ERR unavailable, as
        # documented). The ledger is checked once etcd answers again.
        reply = "OK synced"
        if sync:
            reply, _ = poll("sync", lambda: _synced(c), SYNC_SECONDS)
            reply = reply or c.call("sync")
        if not reply.startswith("OK synced"):
            failures.append("%s: sync: %r" % (what, reply))
        with rec.lock:
            acked = dict(rec.acked)
            unknown = dict(rec.unknown)
        for key, value in sorted(acked.items()):
            got = c.call("read " + key)
            if got != "VALUE " + value:
                failures.append("%s: acknowledged %s:%s reads %r" % (what, key, value, got))
        for key, value in sorted(unknown.items()):
            got = c.call("read " + key)
            if got not in ("NOT_FOUND", "VALUE " + value):
                failures.append("%s: unknown-outcome %s:%s reads %r" % (what, key, value, got))
    return failures[:20] + (["... %d more" % (len(failures) - 20)] if len(failures) > 20 else [])


# How long check_ledger's `sync` may find etcd unavailable (an election
# after a fault) before that is a failure.
SYNC_SECONDS = 15.0


def _synced(c):
    """The reply to `sync` when it succeeded, else None."""
    reply = c.call("sync")
    return reply if reply.startswith("OK synced") else None


def poll(what, check, seconds):
    """Polls check() (returns a true value when done) every 20 ms for at
    most seconds; (value, elapsed); value None on timeout."""
    t0 = time.monotonic()
    while True:
        try:
            v = check()
        except (OSError, sockets.Closed, sockets.Timeout, lineconn.ConnectError):
            v = None
        if v:
            return v, time.monotonic() - t0
        if time.monotonic() - t0 > seconds:
            return None, time.monotonic() - t0
        time.sleep(0.02)
