#!/usr/bin/python3
"""test_differential.py: the same seeded random memcached text commands to a
reference memcached 1.6 and to the system under test (kvstore's memcached door
with --kvstore BUILD_BIN_DIR, else a second memcached); every reply must be
identical, byte for byte, except what NORMALISED below lists.

Runs:
  1. --commands random steps on one connection pair (single commands,
     pipelined batches, quit and reconnect): set add replace append prepend
     cas get gets gat gats delete incr decr touch flush_all verbosity version
     stats, noreply forms, flags 0..2^32-1, binary values with CRLF inside,
     keys up to 250 bytes (control bytes included), errors (unknown commands,
     bad arguments, keys too long, bad data chunks, values over the item
     limit).
  2. malformed requests, each on a fresh connection: the replies and whether
     the server closed must match.
Every exchange ends with a marker (mc.py: sync_marker) so that a noreply
command's silence is compared too. The cas uniques of the two servers differ
by nature: each side's uniques are numbered in the order that side first
shows them (per side), replies are compared with those numbers, and a cas
command sends each side its own unique for the same number.

Expiry never depends on timing: exptimes are 0, negative, large relative
(2,000,000 s, under memcached's 30-day bound), absolute in the past (2001)
or far in the future (2100, which memcached truncates to 32 bits: negative);
a delayed flush_all only in MALFORMED. Nothing
sleeps.

The seed is printed first; `--seed S` replays a run exactly. A failure prints
the seed, the step, the command sent to each side, both replies and the
commands before it.

Usage: /usr/bin/python3 tests/memcache/test_differential.py [--kvstore build/bin]
       [--seed S] [--commands N] [--seconds T] [--self-check]
Exit status: 0 identical, 1 a difference or a failure, 77 memcached missing.
"""

import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mc  # noqa: E402
import stack  # noqa: E402
import differential  # noqa: E402  (tests/pylib, on the path through stack)

# ---------------------------------------------------------------------------
# Replies that legitimately differ between kvstore and memcached 1.6.18: the
# ONE place that says so (docs/memcache.md, "Differences", says the same;
# keep the two in step). Key: what is normalised; value: how, and why.
NORMALISED = {
    # kvstore answers VERSION 1.6.18-kvstore-<its version>: a client sees the
    # memcached protocol level it speaks and which server it is.
    "version": "a single line starting VERSION ",
    # kvstore's stats are the counters it can honestly fill plus its own
    # (kvstore_*); memcached's slab and thread figures have no meaning there.
    "stats": "every line STAT <name> <value>, then END (names and values not compared)",
    # memcached pads a shortened incr/decr result with spaces in place ("10"
    # decr 1 -> "9 ") only when no other thread holds the item at that
    # moment, else it writes a new item without them: two memcached 1.6.18
    # differ on the same sequence (even on a fresh item, about one run in
    # 40). kvstore always pads; the unit tests check its bytes
    # (test_memcache_commands.cc). The generator never appends to the keys
    # it increments.
    "incr/decr padding": "a value of digits then spaces is compared without the spaces",
}
# Never sent, since the two servers differ by design (docs/memcache.md,
# "Differences"): a retrieval naming a key over 250 bytes in a pipelined
# batch (memcached 1.6.18 then drops the replies to the earlier commands of
# the batch it has not written yet, conn_release_items; kvstore answers every
# command: such a get is sent alone), a delayed flush_all amid the sequence
# (in memcached 1.6.18 it replaces settings.oldest_live, so the items an
# earlier immediate flush_all had hidden, and not yet reclaimed, come back;
# kvstore deleted them: MALFORMED checks the delayed form's reply, followed
# by an immediate one), the binary protocol (a first byte 0x80), `stats` with an
# argument (items, slabs, settings, sizes, conns, detail: memcached's
# internals), cache_memlimit (kvstore cannot resize at run time and says so),
# slabs/lru/lru_crawler/watch/shutdown/debug commands, values of 65,400 to
# 65,536 bytes (memcached counts its item header in -I, kvstore only the
# value: see stack.py), exptimes that need the clock to move, incr/decr of a
# value that is empty or white space only (Run.blank_number: memcached reads
# past the item).
# ---------------------------------------------------------------------------

KEYS = [b"a", b"b", b"c", b"num", b"n2", b"k\x01x", b"k\tx", b"\xffbin", b"K" * 250]
NUMBER_KEYS = (b"num", b"n2")  # incr/decr go to these only; append/prepend never
BIG_KEY = b"big"  # the only key with values near the limit (no append to it)
RETRIEVALS = (b"get", b"gets", b"gat", b"gats")
LONG_KEY = b"L" * 251  # over memcached's 250: CLIENT_ERROR bad command line format
VALUES = [b"", b"0", b"1", b"7", b"10", b"99", b"100", b"1000", b"18446744073709551615", b"18446744073709551614",
          b"18446744073709551616", b"-1", b" 5", b"5 ", b"abc", b"hello world", b"a\r\nb", b"\r\n", b"\x00\xff\x80",
          b"END\r\nVALUE x 0 1\r\n", b"x" * 300, b"12345678901234567890"]
SMALL_VALUES = [b"", b"1", b"0", b"xy", b"a\r\nb", b" ", b"99", b"\x00"]
BIG_SIZES = [1000, 20000, 60000]
TOO_BIG_SIZES = [65537, 66000, 100000]
FLAGS = [b"0", b"1", b"42", b"65535", b"65536", b"2147483648", b"4294967295"]
BAD_FLAGS = [b"4294967296", b"-1", b"abc", b"1.5"]
EXPTIMES = [b"0", b"0", b"0", b"-1", b"2000000", b"1000000000", b"4102444800"]
BAD_EXPTIMES = [b"abc", b"1.5", b""]
DELTAS = [b"1", b"0", b"5", b"10", b"100", b"18446744073709551615", b"18446744073709551614", b"9"]
BAD_DELTAS = [b"abc", b"-1", b"18446744073709551616", b"1.5", b"0x10"]
UNKNOWN = [b"bogus", b"GET a", b"Set a 0 0 1", b"stat", b"gett a", b"\x01\x02", b"mget a", b"", b"   "]
NUMBER_PADDED = re.compile(rb"[0-9]+ +")
# A cas unique neither server hands out during a test.
NEVER_CAS = b"18446744073709551615"


class Cas:
    """A placeholder in a command: the cas unique numbered `n` (each side
    sends its own), or `raw` bytes (the same to both)."""

    def __init__(self, n=None, raw=None):
        self.n, self.raw = n, raw


class Gen:
    """Random commands from a seeded generator. A command is a list of parts
    (bytes, or Cas placeholders) and the set of keys it touches/writes."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.step = 0
        self.cas_pool = []  # (key, n) seen in gets/gats replies, newest last

    def pick(self, seq):
        return self.r.choice(seq)

    def chance(self, p):
        return self.r.random() < p

    def key(self):
        return self.pick(KEYS)

    def keys(self, lo=1, hi=6):
        pool = KEYS + [BIG_KEY, b"miss1", b"miss2"]
        return [self.pick(pool) for _ in range(self.r.randint(lo, hi))]

    def flags(self):
        return self.pick(BAD_FLAGS) if self.chance(0.03) else self.pick(FLAGS)

    def exptime(self):
        return self.pick(BAD_EXPTIMES) if self.chance(0.03) else self.pick(EXPTIMES)

    def noreply(self):
        return [b" noreply"] if self.chance(0.15) else []

    def value(self):
        return self.pick(VALUES)

    def storage(self, name):
        key = self.key()
        if name in (b"append", b"prepend"):
            key = self.pick([k for k in KEYS if k not in NUMBER_KEYS])
        data = self.pick(SMALL_VALUES) if name in (b"append", b"prepend") else self.value()
        if name in (b"set", b"add", b"replace", b"cas") and self.chance(0.06):
            key = BIG_KEY
            data = bytes([self.r.randrange(256)]) * self.pick(BIG_SIZES)
        if name == b"set" and self.chance(0.01):
            data = b"z" * self.pick(TOO_BIG_SIZES)
        if self.chance(0.02):
            key = LONG_KEY
        flags, exptime = self.flags(), self.exptime()
        cas = self.cas_for(key) if name == b"cas" else None
        bad_line = (key == LONG_KEY or flags not in FLAGS or exptime not in EXPTIMES
                    or (cas is not None and cas.raw is not None and cas.raw not in (NEVER_CAS, b"1", b"0")))
        if bad_line:
            # The servers refuse the line and read the data block as the
            # next command line: keep it short (a line over 2048 bytes
            # closes the connection, which the malformed cases check).
            data = self.pick(SMALL_VALUES)
        parts = [name + b" " + key + b" " + flags + b" " + exptime + b" %d" % len(data)]
        if cas is not None:
            parts += [b" ", cas]
        parts += self.noreply()
        block = data + b"\r\n"
        if len(data) < 1000 and self.chance(0.01):
            block = data + b"XY\r\n"  # a bad data chunk
        return parts + [b"\r\n" + block], {key}

    def cas_for(self, key):
        mine = [n for k, n in self.cas_pool if k == key]
        roll = self.r.random()
        if mine and roll < 0.55:
            return Cas(mine[-1])  # the newest: usually still current
        if mine and roll < 0.7:
            return Cas(self.pick(mine))  # maybe stale
        if self.cas_pool and roll < 0.8:
            return Cas(self.pick(self.cas_pool)[1])  # another key's
        if roll < 0.95:
            return Cas(raw=self.pick([NEVER_CAS, b"1", b"0"]))
        return Cas(raw=self.pick([b"abc", b"-1", b"18446744073709551616"]))

    def retrieval(self, name):
        parts = [name]
        if name in (b"gat", b"gats"):
            parts.append(b" " + self.exptime())
        keys = self.keys()
        if self.chance(0.03):
            keys.append(LONG_KEY)
        for k in keys:
            parts.append(b" " + k)
        return parts + [b"\r\n"]

    def command(self, batch=False):
        """(parts, written keys, touched keys, flush) for one random command;
        in a batch, none whose reply is normalised (version, stats) and no
        incr/decr (see Run.blank_number)."""
        self.step += 1
        while True:
            name = self.r.choices(list(COMMANDS), weights=[w for w, _ in COMMANDS.values()])[0]
            if batch and name in ("misc", "incr/decr"):
                continue
            cmd = COMMANDS[name][1](self)
            if batch and cmd[0][0].split(b" ")[0] in RETRIEVALS and any(LONG_KEY in p for p in cmd[0]):
                continue  # see "Never sent"
            return cmd


def g_storage(name):
    def gen(g):
        parts, keys = g.storage(name)
        return parts, keys, set(), False
    return gen


def g_retrieval(name):
    def gen(g):
        return g.retrieval(name), set(), set(), False
    return gen


def g_delete(g):
    key = LONG_KEY if g.chance(0.02) else g.key()
    extra = g.pick([[], [], [], [b" 0"], [b" 5"], [b" noreply"], [b" 0 noreply"]])
    return [b"delete " + key] + extra + [b"\r\n"], {key}, set(), False


def g_arith(g):
    # Only the number keys (and a missing one): an incr/decr result may be
    # padded or not in memcached (NORMALISED), and an append to a padded
    # number would make the two differ for good; no append goes to them.
    key = g.pick([b"num", b"n2", b"num", b"miss1"])
    delta = g.pick(BAD_DELTAS) if g.chance(0.06) else g.pick(DELTAS)
    return [g.pick([b"incr ", b"decr "]) + key + b" " + delta] + g.noreply() + [b"\r\n"], {key}, set(), False


def g_numset(g):
    # incr/decr need numbers: set a number key often.
    key = g.pick([b"num", b"n2"])
    v = g.pick([b"0", b"1", b"9", b"10", b"100", b"1000", b"18446744073709551615", b"18446744073709551610",
                b"abc", b"007", b" 12"])
    return [b"set %s %s 0 %d\r\n%s\r\n" % (key, g.flags(), len(v), v)], {key}, set(), False


def g_touch(g):
    key = LONG_KEY if g.chance(0.02) else g.key()
    return [b"touch " + key + b" " + g.exptime()] + g.noreply() + [b"\r\n"], set(), {key}, False


def g_flush(g):
    # No delayed flush here (see "Never sent"; MALFORMED checks its reply).
    arg = g.pick([b"", b" 0", b" noreply", b" 0 noreply", b" abc"])
    return [b"flush_all" + arg + b"\r\n"], set(), set(), arg != b" abc"


def g_misc(g):
    line = g.pick([b"verbosity 1", b"verbosity 0", b"verbosity 1 noreply", b"verbosity", b"version", b"stats"])
    return [line + b"\r\n"], set(), set(), False


def g_error(g):
    line = g.pick(UNKNOWN + [
        b"set a 0 0", b"set a 0 0 abc", b"set a 0", b"get", b"gets", b"gat 0", b"gat abc a", b"gats",
        b"incr num", b"incr", b"decr num 1 2", b"touch a", b"touch a abc", b"delete", b"cas a 0 0 1",
        b"get " + LONG_KEY, b"incr " + LONG_KEY + b" 1", b"add a 0 0 -1", b"set a 0 0 1 noreply extra"])
    return [line + b"\r\n"], set(), set(), False


# name -> (weight, generator)
COMMANDS = {
    "set": (12, g_storage(b"set")),
    "add": (4, g_storage(b"add")),
    "replace": (4, g_storage(b"replace")),
    "append": (4, g_storage(b"append")),
    "prepend": (3, g_storage(b"prepend")),
    "cas": (8, g_storage(b"cas")),
    "get": (10, g_retrieval(b"get")),
    "gets": (10, g_retrieval(b"gets")),
    "gat": (3, g_retrieval(b"gat")),
    "gats": (3, g_retrieval(b"gats")),
    "delete": (4, g_delete),
    "incr/decr": (8, g_arith),
    "numset": (4, g_numset),
    "touch": (4, g_touch),
    "flush_all": (0.6, g_flush),
    "misc": (1.5, g_misc),
    "error": (2, g_error),
}


# ---------------------------------------------------------------------------
# Comparison


class Mismatch(Exception):
    pass


class Side:
    """One server's connection and its cas uniques, numbered in the order
    this side first showed them."""

    def __init__(self, name, port):
        self.name, self.port = name, port
        self.conn = mc.Conn(port)
        self.number = {}  # cas unique (bytes) -> n
        self.unique = {}  # n -> cas unique

    def render(self, parts):
        out = []
        for p in parts:
            if isinstance(p, Cas):
                out.append(p.raw if p.raw is not None else self.unique.get(p.n, NEVER_CAS))
            else:
                out.append(p)
        return b"".join(out)

    def normalise(self, reply, seen):
        """reply with each cas unique replaced by its number (C<n>); appends
        (key, n) to seen."""
        out = []
        for u in mc.units(reply):
            if u.startswith(b"VALUE "):
                head, _, rest = u.partition(b"\r\n")
                fields = head.split(b" ")
                if len(fields) == 5 or len(fields) == 4:
                    key, cas = fields[1], (fields[4] if len(fields) == 5 else None)
                    if cas is not None:
                        if cas not in self.number:
                            n = len(self.number) + 1
                            self.number[cas] = n
                            self.unique[n] = cas
                        fields[4] = b"C%d" % self.number[cas]
                        seen.append((key, self.number[cas]))
                    u = b" ".join(fields) + b"\r\n" + rest
            out.append(unpad(u))
        return b"".join(out)


def unpad(unit):
    """A VALUE block whose data is a number then spaces, without the spaces
    (NORMALISED "incr/decr padding")."""
    if not unit.startswith(b"VALUE "):
        return unit
    head, _, rest = unit.partition(b"\r\n")
    fields = head.split(b" ")
    if len(fields) >= 4 and NUMBER_PADDED.fullmatch(rest[:-2]):
        rest = rest[:-2].rstrip(b" ") + b"\r\n"
        fields[3] = b"%d" % (len(rest) - 2)
    return b" ".join(fields) + b"\r\n" + rest


def unpadded(result):
    reply = result[0]
    return b"".join(unpad(u) for u in mc.units(reply)) if isinstance(reply, bytes) else reply


def stats_shape(reply):
    lines = reply.split(b"\r\n")
    return (len(lines) >= 2 and lines[-1] == b"" and lines[-2] == b"END"
            and all(ln.startswith(b"STAT ") and len(ln.split(b" ")) >= 3 for ln in lines[:-2]))


def same(parts_ref, ref, sut):
    """True when the normalised replies count as the same."""
    if ref == sut:
        return True
    line = parts_ref[0] if isinstance(parts_ref[0], bytes) else b""
    if line.startswith(b"version\r\n") or line == b"version\r\n":
        return (ref.startswith(b"VERSION ") and sut.startswith(b"VERSION ") and ref.count(b"\r\n") == 1
                and sut.count(b"\r\n") == 1)
    if line == b"stats\r\n":
        return stats_shape(ref) and stats_shape(sut)
    return False


class Run:
    """One random sequence over one pair of connections; raises Mismatch on a
    difference."""

    def __init__(self, st, g, deadline, history):
        self.st, self.g, self.deadline, self.history = st, g, deadline, history
        self.ref = Side("reference", st.ref_port)
        self.sut = Side("SUT", st.sut_port)
        self.probe = None  # a connection to the reference for blank_number
        self.steps = 0

    def note(self, text):
        self.history.append("step %d: %s" % (self.g.step, text))
        del self.history[:-int(os.environ.get("MC_HISTORY", "25"))]

    def exchange(self, cmds):
        """Sends cmds (a list of (parts, written, touched, flush)) as one
        batch to each side and compares the replies."""
        reqs = {}
        for side in (self.ref, self.sut):
            reqs[side.name] = b"".join(side.render(c[0]) for c in cmds)
            side.conn.send(reqs[side.name] + mc.sync_marker(self.g.step)[0])
        raw = {}
        for side in (self.ref, self.sut):
            try:
                raw[side.name] = side.conn.read_until(mc.sync_marker(self.g.step)[1], 10)
            except (mc.Closed, mc.Timeout) as e:
                raise Mismatch("step %d: %s: %s\n  sent to the reference: %r\n  sent to the SUT:       %r\n"
                               "  reference replied:     %r"
                               % (self.g.step, side.name, e, reqs["reference"][:600], reqs["SUT"][:600],
                                  raw.get("reference", b"")[:600]))
        seen_ref, seen_sut = [], []
        nref = self.ref.normalise(raw["reference"], seen_ref)
        nsut = self.sut.normalise(raw["SUT"], seen_sut)
        for parts, _, _, _ in cmds:
            self.note(repr(self.ref.render(parts)[:200]))
        if len(cmds) == 1 and same(cmds[0][0], nref, nsut):
            pass
        elif nref != nsut:
            raise Mismatch("step %d: replies differ\n  sent to the reference: %r\n  sent to the SUT:       %r\n"
                           "  reference: %r\n  SUT:       %r\n  (cas uniques numbered per side: reference %r, "
                           "SUT %r)" % (self.g.step, reqs["reference"][:600], reqs["SUT"][:600], nref[:800],
                                        nsut[:800], raw["reference"][:400], raw["SUT"][:400]))
        self.g.cas_pool = (self.g.cas_pool + seen_ref)[-200:]

    def blank_number(self, parts):
        """True for an incr/decr of a key whose value is empty or white
        space only: memcached's strtoull then skips the item's CRLF and reads
        the memory after the item (two memcached 1.6.18 differ), so such a
        command is not sent. The value is read from the reference on a
        connection of its own (a get changes nothing compared)."""
        line = parts[0] if isinstance(parts[0], bytes) else b""
        if not line.startswith((b"incr ", b"decr ")):
            return False
        fields = line.split(b" ")
        if len(fields) < 3:
            return False
        if self.probe is None:
            self.probe = mc.Conn(self.st.ref_port)
        reply = self.probe.call(b"get " + fields[1])
        if not reply.startswith(b"VALUE "):
            return False
        data = reply.split(b"\r\n", 1)[1][:-len(b"\r\nEND\r\n")]
        return data.strip(b" \t\r\n\v\f") == b""

    def quit_and_reconnect(self):
        self.note("quit")
        out = []
        for side in (self.ref, self.sut):
            side.conn.send(b"quit\r\n")
            out.append(side.conn.read_until_close(3))
        if out[0] != out[1]:
            raise Mismatch("step %d: after quit the reference gave %r, the SUT %r (bytes, closed)"
                           % (self.g.step, out[0], out[1]))
        for side in (self.ref, self.sut):
            side.conn.close()
            side.conn = mc.Conn(side.port)

    def run(self, n):
        self.exchange([([b"flush_all\r\n"], set(), set(), True)])
        while self.steps < n:
            if time.monotonic() > self.deadline:
                print("time limit reached after %d steps" % self.steps, flush=True)
                break
            roll = self.g.r.random()
            if roll < 0.08:
                self.exchange([self.g.command(batch=True) for _ in range(self.g.r.randint(2, 6))])
            elif roll < 0.085:
                self.quit_and_reconnect()
            else:
                cmd = self.g.command()
                if self.blank_number(cmd[0]):
                    self.note("not sent (incr/decr of a blank value): %r" % cmd[0][0])
                else:
                    self.exchange([cmd])
            self.steps += 1
        for side in (self.ref, self.sut):
            side.conn.close()
        if self.probe:
            self.probe.close()
        return self.steps


# ---------------------------------------------------------------------------
# Malformed requests: (name, bytes). Each goes on a fresh connection to both
# servers followed by a sync marker (so a server that stays open ends the read
# at once); replies and whether the server closed must match.
BIG = b"q" * 70000
MALFORMED = [
    ("bad data chunk", b"set k 0 0 1\r\nxyz\r\nget k\r\n"),
    ("data chunk ended by LF", b"set k 0 0 1\r\nx\nget k\r\n"),
    ("bytes not a number", b"set k 0 0 abc\r\nget k\r\n"),
    ("negative bytes", b"set k 0 0 -1\r\nget k\r\n"),
    ("bytes over 2^32", b"set k 0 0 4294967296\r\nget k\r\n"),
    ("flags not a number", b"set k abc 0 1\r\nx\r\nget k\r\n"),
    ("flags over 2^32-1", b"set k 4294967296 0 1\r\nx\r\nget k\r\n"),
    ("exptime not a number", b"set k 0 abc 1\r\nx\r\nget k\r\n"),
    ("too few tokens", b"set k 0 0\r\n"),
    ("too many tokens", b"set k 0 0 1 noreply extra\r\nx\r\n"),
    ("empty line", b"\r\n"),
    ("blank line", b"   \r\n"),
    ("bare LF line ending", b"set k 0 0 1\nx\r\nget k\n"),
    ("uppercase command", b"GET k\r\n"),
    ("key of 250 bytes", b"set " + b"k" * 250 + b" 0 0 1\r\nx\r\nget " + b"k" * 250 + b"\r\n"),
    ("key of 251 bytes in set", b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n"),
    ("key of 251 bytes in get among others", b"get k " + b"k" * 251 + b" k\r\n"),
    ("delayed flush_all", b"flush_all 100000\r\nflush_all 100000 noreply\r\nflush_all 0\r\n"),
    ("key with control bytes", b"set k\x01\x02 0 0 1\r\nx\r\nget k\x01\x02\r\n"),
    ("value over the limit", b"set k 0 0 1\r\nx\r\nset k 0 0 70000\r\n" + BIG + b"\r\nget k\r\n"),
    ("value over the limit, noreply", b"set k 0 0 70000 noreply\r\n" + BIG + b"\r\nget k\r\n"),
    ("value over the limit in add", b"add k2 0 0 70000\r\n" + BIG + b"\r\nget k2\r\n"),
    ("value over the limit, then a bad chunk", b"set k 0 0 70000\r\n" + BIG + b"XX\r\nget k\r\n"),
    ("cas without unique", b"cas k 0 0 1\r\nx\r\n"),
    ("cas unique not a number", b"cas k 0 0 1 abc\r\nx\r\n"),
    ("incr without delta", b"incr k\r\n"),
    ("incr of a missing key", b"incr nokey 1\r\n"),
    ("decr to 0 and padding", b"set n 0 0 3\r\n100\r\ndecr n 1\r\nget n\r\ndecr n 95\r\nget n\r\ndecr n 9\r\n"
                              b"get n\r\n"),
    ("incr wraps", b"set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\nget n\r\n"),
    ("incr of a non-number", b"set n 0 0 3\r\nabc\r\nincr n 1\r\n"),
    ("incr of a number too long", b"set n 0 0 21\r\n123456789012345678901\r\nincr n 1\r\n"),
    ("delete with a time", b"delete k 5\r\ndelete k 0\r\n"),
    ("gat without keys", b"gat 10\r\n"),
    ("touch without exptime", b"touch k\r\n"),
    ("verbosity without level", b"verbosity\r\n"),
    ("flush_all with a bad delay", b"flush_all abc\r\nflush_all -1\r\n"),
    ("binary garbage line", b"\x01\x02\x03\xff\r\n"),
    ("NUL in a command line", b"get a\x00b\r\n"),
    ("quit with an argument", b"quit now\r\n"),
]


def malformed(st):
    failures = []
    for i, (name, data) in enumerate(MALFORMED):
        mreq, mrep = mc.sync_marker(10000 + i)
        results = []
        conns = []
        try:
            conns = [mc.Conn(st.ref_port), mc.Conn(st.sut_port)]
            for c in conns:
                try:
                    c.send(data + mreq)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            for c in conns:
                results.append(c.read_until_close(5, mrep))
        except OSError as e:
            results.append(("send/receive failed: %s" % e, None))
        finally:
            for c in conns:
                c.close()
        if len(results) != 2 or (results[0] != results[1] and (
                unpadded(results[0]) != unpadded(results[1]) or results[0][1:] != results[1][1:])):
            failures.append("malformed request '%s' %r:\n  reference: %r\n  SUT:       %r"
                            % (name, data[:80], [r[0][:300] if isinstance(r[0], bytes) else r for r in results[:1]],
                               [r[0][:300] if isinstance(r[0], bytes) else r for r in results[1:]]))
        # Each case writes k, k2, n: clear them for the next one.
        with mc.Conn(st.ref_port) as a, mc.Conn(st.sut_port) as b:
            a.call("flush_all")
            b.call("flush_all")
    return failures


def shift_cas(st):
    """With a second memcached as the SUT, both servers would hand out the
    same cas uniques; a few hundred writes to the SUT alone make them differ,
    so that the per-side numbering is exercised."""
    if st.is_kvstore:
        return
    with mc.Conn(st.sut_port) as c:
        c.exchange(b"".join(b"set shift%d 0 0 1 noreply\r\nx\r\n" % i for i in range(300)))
        c.call("flush_all")


def main():
    args = differential.parse_arguments(
        __doc__.split("\n\n")[0], stack, "random steps (default 3000)",
        "check the checker: write key miss1 to the SUT only after 20 steps; exit 0 only if the difference is caught")
    stack.skip_unless_memcached()

    def body(st, seed, deadline, history):
        shift_cas(st)
        run = Run(st, Gen(seed), deadline, history)
        if args.self_check:
            run.exchange = _diverge_once(run, st)
        n = run.run(args.commands)
        if args.self_check:
            raise differential.SelfCheckMissed(n)
        return malformed(st), "%d random steps" % n

    return differential.run(args, stack, Mismatch, (mc.Closed, mc.Timeout), body, len(MALFORMED))


def _diverge_once(run, st):
    """--self-check: run.exchange, which first writes key miss1 (which the
    commands read and never write) to the SUT alone."""
    plain = run.exchange
    state = {"done": False}

    def exchange(cmds):
        if not state["done"] and run.steps >= 20:
            state["done"] = True
            with mc.Conn(st.sut_port) as c:
                c.call(b"set miss1 0 0 10\r\nonly-there")
        return plain(cmds)

    return exchange


if __name__ == "__main__":
    stack.run_main(main)
