#!/usr/bin/python3
"""test_differential.py: the same seeded random commands to a reference
redis-server and to the system under test (kvstore's Redis door with --kvstore
BUILD_BIN_DIR, else a second redis-server); every reply must be identical,
byte for byte, except the replies listed in NORMALISED below.

Runs, each with its own connections and a FLUSHALL first:
  1. RESP2: --commands random steps (single commands, pipelined batches,
     inline commands, MULTI/EXEC/WATCH sequences with conflicting writes from
     a second connection, QUIT and reconnect)
  2. RESP3: HELLO 3, then the same kind of sequence
  3. malformed requests, each on a fresh connection: the error reply and
     whether the server closed must match
The seed is printed first; `--seed S` replays a run exactly. A failure prints
the step, the command, both replies and the commands before it.

Expiry cannot depend on timing: absolute deadlines are far in the future
(2100) or far in the past (2001), and relative ones (EX, PX, EXPIRE, ...) are
at least 1000 s and grow by 10 s with every step, so two relative deadlines
never tie (EXPIRE ... GT/LT compare the same way on both servers as long as
a step takes less than 10 s). Only the replies that read the clock (TTL,
PTTL, EXPIRETIME, PEXPIRETIME) are compared with a tolerance. Nothing sleeps.

Usage: /usr/bin/python3 tests/redis/test_differential.py [--kvstore build/bin]
       [--seed S] [--commands N] [--seconds T] [--self-check]
Exit status: 0 identical, 1 a difference or a failure, 77 redis-server missing.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import resp  # noqa: E402
import stack  # noqa: E402
import differential  # noqa: E402  (tests/pylib, on the path through stack)

# ---------------------------------------------------------------------------
# Replies that legitimately differ between kvstore and redis-server: the ONE
# place that says so. Each is in docs/redis.md, section "Differences", with
# its reason; keep the two in step. Key: the command name, or "NAME SUB" for
# a subcommand. Value: how the two replies are compared instead of byte for
# byte.
#   shape      the reply's type only (aggregates: also not their length)
#   shape+len  the type and, for aggregates, the element count and types
#   hello      HELLO's map: the same field names and the same "proto" value
#   sorted     an array compared as a sorted list (KEYS: no defined order)
#   clock      an integer read from the clock (TTL and friends): negative
#              values (-1 no deadline, -2 no key) exactly, others within
#              TOLERANCE (seconds or milliseconds); the two servers run the
#              same command a few milliseconds apart
#   command    COMMAND INFO: exactly, except the order of the subcommands
#              (element 10 of each entry), which is hash-table order in
#              redis-server itself (two redis-servers differ)
#   scan       SCAN: cursor values are opaque and pages differ; each server
#              is iterated from 0 back to 0 with the same MATCH/COUNT/TYPE and
#              the sets of keys compared (scan_both)
NORMALISED = {
    "INFO": "shape",
    "CLIENT ID": "shape",
    "CLIENT INFO": "shape",
    "CLIENT LIST": "shape",
    "HELLO": "hello",
    "COMMAND DOCS": "shape",
    "COMMAND COUNT": "shape",
    "COMMAND INFO": "command",
    "TIME": "shape+len",
    "LASTSAVE": "shape",
    "CONFIG GET": "shape",
    "RANDOMKEY": "shape",
    "KEYS": "sorted",
    "SCAN": "scan",
    "TTL": "clock",
    "PTTL": "clock",
    "EXPIRETIME": "clock",
    "PEXPIRETIME": "clock",
}
# COMMAND INFO of a container (CLIENT, COMMAND, CONFIG) lists the
# subcommands each server has: kvstore's are these; Redis's others are left
# out of the comparison.
SUBCOMMANDS = {b"client|id", b"client|getname", b"client|setname", b"client|info", b"client|list", b"client|kill",
               b"command|count", b"command|info", b"command|docs", b"config|get", b"config|set"}
TOLERANCE = {"TTL": 2, "EXPIRETIME": 2, "PTTL": 2000, "PEXPIRETIME": 2000}
# Never sent, since the two servers differ by design (docs/redis.md
# "Differences"): commands of other data types (LPUSH, HSET, ...: unknown
# commands in kvstore, which stores strings only), DEBUG and OBJECT (Redis
# internals), SHUTDOWN (would stop the servers), AUTH (until the auth issue),
# SELECT and COPY ... DB with a database other than 0, CLIENT subcommands
# outside ID|GETNAME|SETNAME|INFO|LIST|KILL, keys that are empty or longer
# than 250 bytes, values and APPEND/SETRANGE results beyond kvstored's
# --max-value (64 KiB; Redis allows 512 MB), and SCAN with a nonzero cursor
# the server did not hand out, deadlines past 2^48-1 ms (year 10889: kvstore
# refuses them as invalid expire times).
# ---------------------------------------------------------------------------

# Unknown commands: names neither server knows (the text quotes the name and
# the first arguments, exactly).
UNKNOWN = [[b"FOO"], [b"foo", b"k1"], [b"NOSUCHCMD", b"a", b"b"], [b"GETT", b"k1"], [b"\x01bin"]]

KEYS = [b"k1", b"k2", b"k3", b"k4", b"n", b"f", b"a:b", b"sp ace", b"\xffbin", b"k\r\nx"]
VALUES = [b"", b"0", b"1", b"-1", b"7", b"42", b"-300", b"3.5", b"-0.25", b"1e3", b"abc", b"hello", b"hello world",
          b"9223372036854775807", b"-9223372036854775808", b"10.5e-1", b"inf", b" 1", b"0x10", b"x" * 40,
          b"a\r\nb", b"\x00\xff", b"abcabcab", b"bcab"]
INTS = [b"1", b"-5", b"100", b"0", b"9223372036854775807", b"-9223372036854775808", b"abc", b"1.5", b"", b" 3",
        b"007"]
FLOATS = [b"1.5", b"-0.1", b"3", b"1e2", b"abc", b"inf", b"-inf", b"5.0e3", b"0.0001", b"nan", b"1.7976931348623157e308",
          b"-3.75", b""]
PATTERNS = [b"*", b"k*", b"k?", b"[ak]*", b"k[1-2]", b"*:*", b"\\*", b"[^k]*", b"sp*", b"nomatch*", b"[", b"k[!1]",
            b"*b*", b"?", b"\\k1", b"[a-", b"**", b"f"]
# Deadlines: far past (2001) and far future (2100), in seconds.
PAST_S = 1000000000
FUTURE_S = 4102444800
REL_BASES = (1000, 1000000)
CONFIG_PARAMS = [b"maxmemory", b"save", b"appendonly", b"port", b"timeout", b"maxclients", b"nosuch-param", b"max*"]
COMMAND_INFO = [b"get", b"set", b"mget", b"incrbyfloat", b"lcs", b"scan", b"expire", b"client", b"nosuch"]


class Gen:
    """Random commands from a seeded generator. Every command draws a fresh
    step number, which also grows the relative deadlines (see the top)."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.step = 0

    def pick(self, seq):
        return self.r.choice(seq)

    def key(self):
        return self.pick(KEYS)

    def keys(self, lo=1, hi=4):
        return [self.key() for _ in range(self.r.randint(lo, hi))]

    def value(self):
        return self.pick(VALUES)

    # -- deadlines

    def rel_seconds(self):
        return str(self.pick(REL_BASES) + 10 * self.step).encode()

    def rel_ms(self):
        return str((self.pick(REL_BASES) + 10 * self.step) * 1000).encode()

    def abs_seconds(self):
        if self.r.random() < 0.4:
            return str(PAST_S + self.r.randint(0, 1000)).encode()
        return str(FUTURE_S + 10 * self.step + self.r.randint(0, 5)).encode()

    def abs_ms(self):
        return str(int(self.abs_seconds()) * 1000 + self.r.randint(0, 999)).encode()

    def bad_time(self):
        # Not 2^63-1: as a deadline in ms Redis takes it, kvstore refuses
        # anything past 2^48-1 ms (year 10889; docs/redis.md, Differences).
        return self.pick([b"0", b"-1", b"abc", b"9223372036854775808", b"1.5", b""])

    def expiry_option(self, allow_keepttl=True):
        opts = [[b"EX", self.rel_seconds()], [b"PX", self.rel_ms()], [b"EXAT", self.abs_seconds()],
                [b"PXAT", self.abs_ms()]]
        if allow_keepttl:
            opts.append([b"KEEPTTL"])
        if self.r.random() < 0.08:
            return [self.pick([b"EX", b"PX", b"EXAT", b"PXAT"]), self.bad_time()]
        return self.pick(opts)

    # -- commands

    def command(self, in_tx=False):
        """One random command (a list of bytes)."""
        self.step += 1
        name = self.r.choices(list(COMMANDS), weights=[w for w, _ in COMMANDS.values()])[0]
        if in_tx:
            while name in NOT_IN_TX:
                name = self.r.choices(list(COMMANDS), weights=[w for w, _ in COMMANDS.values()])[0]
        args = COMMANDS[name][1](self)
        if self.r.random() < 0.15:
            args[0] = self.mixed_case(args[0])
        return args

    def mixed_case(self, word):
        return bytes(c ^ 0x20 if chr(c).isalpha() and self.r.random() < 0.5 else c for c in word)


def g_set(g):
    args = [b"SET", g.key(), g.value()]
    opts = []
    if g.r.random() < 0.5:
        opts.append(g.expiry_option())
    if g.r.random() < 0.35:
        opts.append([g.pick([b"NX", b"XX"])])
    if g.r.random() < 0.25:
        opts.append([b"GET"])
    if g.r.random() < 0.05:
        opts.append(g.pick([[b"EX", b"100", b"PX", b"100"], [b"NX", b"XX"], [b"BOGUS"], [b"KEEPTTL", b"EX", b"5"]]))
    g.r.shuffle(opts)
    for o in opts:
        args += o
    return args


def g_getex(g):
    args = [b"GETEX", g.key()]
    roll = g.r.random()
    if roll < 0.5:
        args += g.expiry_option(allow_keepttl=False)
    elif roll < 0.7:
        args.append(b"PERSIST")
    elif roll < 0.75:
        args += [b"PERSIST", b"EX", b"10"]
    return args


def g_expire(g):
    name = g.pick([b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT"])
    roll = g.r.random()
    if roll < 0.1:
        t = g.bad_time()
    elif roll < 0.2 and name in (b"EXPIRE", b"PEXPIRE"):
        t = b"-5"
    else:
        t = {b"EXPIRE": g.rel_seconds, b"PEXPIRE": g.rel_ms, b"EXPIREAT": g.abs_seconds,
             b"PEXPIREAT": g.abs_ms}[name]()
    args = [name, g.key(), t]
    if g.r.random() < 0.4:
        args.append(g.pick([b"NX", b"XX", b"GT", b"LT"]))
    if g.r.random() < 0.05:
        args.append(g.pick([b"NX", b"GT", b"bogus"]))
    return args


def g_lcs(g):
    args = [b"LCS", g.key(), g.key()]
    for opt in ([b"LEN"], [b"IDX"], [b"MINMATCHLEN", g.pick([b"0", b"1", b"2", b"-1", b"x"])], [b"WITHMATCHLEN"]):
        if g.r.random() < 0.3:
            args += opt
    return args


def g_scan(g):
    args = [b"SCAN", b"0"]
    if g.r.random() < 0.5:
        args += [b"MATCH", g.pick(PATTERNS)]
    if g.r.random() < 0.5:
        args += [b"COUNT", g.pick([b"1", b"2", b"10", b"1000"])]
    if g.r.random() < 0.3:
        args += [b"TYPE", g.pick([b"string", b"list", b"none", b"STRING"])]
    if g.r.random() < 0.05:
        args = g.pick([[b"SCAN", b"abc"], [b"SCAN", b"0", b"COUNT", b"0"], [b"SCAN", b"0", b"MATCH"],
                       [b"SCAN", b"0", b"BOGUS", b"1"]])
    return args


def g_client(g):
    return g.pick([[b"CLIENT", b"ID"], [b"CLIENT", b"GETNAME"], [b"CLIENT", b"SETNAME", g.pick([b"app", b"x-1", b""])],
                   [b"CLIENT", b"SETNAME", b"has space"], [b"CLIENT", b"INFO"], [b"CLIENT", b"LIST"],
                   [b"CLIENT", b"KILL", b"ID", b"987654321"], [b"CLIENT", b"KILL", b"1.2.3.4:5"],
                   [b"CLIENT", b"NOSUCH"], [b"CLIENT"]])


def g_arity(g):
    """A command with a wrong number of arguments."""
    name = g.pick([b"GET", b"SET", b"SETNX", b"SETEX", b"PSETEX", b"GETSET", b"GETDEL", b"GETEX", b"MGET", b"MSET",
                   b"MSETNX", b"APPEND", b"STRLEN", b"INCR", b"DECR", b"INCRBY", b"DECRBY", b"INCRBYFLOAT",
                   b"GETRANGE", b"SETRANGE", b"LCS", b"DEL", b"UNLINK", b"EXISTS", b"TYPE", b"KEYS", b"SCAN",
                   b"RENAME", b"RENAMENX", b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT", b"TTL", b"PTTL",
                   b"EXPIRETIME", b"PEXPIRETIME", b"PERSIST", b"TOUCH", b"COPY", b"ECHO", b"SELECT"])
    if g.r.random() < 0.6 or name in (b"MGET", b"DEL", b"UNLINK", b"EXISTS", b"TOUCH", b"SCAN"):
        return [name]
    if name in (b"SETEX", b"SETRANGE", b"GETRANGE", b"RENAME", b"RENAMENX", b"COPY", b"MSET", b"MSETNX", b"LCS"):
        return [name, g.key()]
    return [name] + [g.key() for _ in range(6)]


def g_hello(g):
    return g.pick([[b"HELLO"], [b"HELLO", b"4"], [b"HELLO", b"abc"], [b"HELLO", b"2"], [b"HELLO", b"3"],
                   [b"HELLO", b"3", b"SETNAME", b"h3"], [b"HELLO", b"2", b"BOGUS"]])


# name -> (weight, generator). Every command the issue lists is here.
COMMANDS = {
    "GET": (8, lambda g: [b"GET", g.key()]),
    "SET": (10, g_set),
    "SETNX": (2, lambda g: [b"SETNX", g.key(), g.value()]),
    "SETEX": (2, lambda g: [b"SETEX", g.key(), g.pick([g.rel_seconds(), g.bad_time()]), g.value()]),
    "PSETEX": (2, lambda g: [b"PSETEX", g.key(), g.pick([g.rel_ms(), g.bad_time()]), g.value()]),
    "GETSET": (2, lambda g: [b"GETSET", g.key(), g.value()]),
    "GETDEL": (2, lambda g: [b"GETDEL", g.key()]),
    "GETEX": (3, g_getex),
    "MGET": (3, lambda g: [b"MGET"] + g.keys()),
    "MSET": (3, lambda g: [b"MSET"] + [x for k in g.keys(1, 3) for x in (k, g.value())]),
    "MSETNX": (2, lambda g: [b"MSETNX"] + [x for k in g.keys(1, 3) for x in (k, g.value())]),
    "APPEND": (3, lambda g: [b"APPEND", g.key(), g.value()]),
    "STRLEN": (2, lambda g: [b"STRLEN", g.key()]),
    "INCR": (3, lambda g: [b"INCR", g.key()]),
    "DECR": (2, lambda g: [b"DECR", g.key()]),
    "INCRBY": (3, lambda g: [b"INCRBY", g.key(), g.pick(INTS)]),
    "DECRBY": (2, lambda g: [b"DECRBY", g.key(), g.pick(INTS)]),
    "INCRBYFLOAT": (3, lambda g: [b"INCRBYFLOAT", g.key(), g.pick(FLOATS)]),
    "GETRANGE": (2, lambda g: [b"GETRANGE", g.key(), g.pick(INTS[:4] + [b"-2", b"2"]),
                               g.pick(INTS[:4] + [b"-1", b"3", b"x"])]),
    "SETRANGE": (2, lambda g: [b"SETRANGE", g.key(), g.pick([b"0", b"1", b"5", b"30", b"-1", b"x"]), g.value()]),
    "LCS": (2, g_lcs),
    "DEL": (4, lambda g: [b"DEL"] + g.keys()),
    "UNLINK": (2, lambda g: [b"UNLINK"] + g.keys()),
    "EXISTS": (3, lambda g: [b"EXISTS"] + g.keys()),
    "TYPE": (2, lambda g: [b"TYPE", g.key()]),
    "KEYS": (2, lambda g: [b"KEYS", g.pick(PATTERNS)]),
    "SCAN": (2, g_scan),
    "RENAME": (2, lambda g: [b"RENAME", g.key(), g.key()]),
    "RENAMENX": (2, lambda g: [b"RENAMENX", g.key(), g.key()]),
    "RANDOMKEY": (1, lambda g: [b"RANDOMKEY"]),
    "DBSIZE": (2, lambda g: [b"DBSIZE"]),
    "FLUSHDB": (0.2, lambda g: [b"FLUSHDB"] + g.pick([[], [b"SYNC"], [b"ASYNC"]])),
    "FLUSHALL": (0.2, lambda g: [b"FLUSHALL"] + g.pick([[], [b"SYNC"], [b"ASYNC"], [b"BOGUS"]])),
    "EXPIRE*": (6, g_expire),
    "TTL": (3, lambda g: [b"TTL", g.key()]),
    "PTTL": (3, lambda g: [b"PTTL", g.key()]),
    "EXPIRETIME": (2, lambda g: [b"EXPIRETIME", g.key()]),
    "PEXPIRETIME": (2, lambda g: [b"PEXPIRETIME", g.key()]),
    "PERSIST": (2, lambda g: [b"PERSIST", g.key()]),
    "TOUCH": (1, lambda g: [b"TOUCH"] + g.keys()),
    "COPY": (2, lambda g: [b"COPY", g.key(), g.key()] + g.pick([[], [b"REPLACE"], [b"DB", b"0"],
                                                                  [b"DB", b"0", b"REPLACE"], [b"BOGUS"]])),
    "PING": (1, lambda g: g.pick([[b"PING"], [b"PING", b"hi there"], [b"PING", b"a", b"b"]])),
    "ECHO": (1, lambda g: [b"ECHO", g.value()]),
    "SELECT": (0.5, lambda g: g.pick([[b"SELECT", b"0"], [b"SELECT", b"abc"]])),
    "CLIENT": (2, g_client),
    "INFO": (0.5, lambda g: [b"INFO"] + g.pick([[], [b"server"], [b"keyspace"], [b"clients", b"memory"]])),
    "COMMAND": (0.7, lambda g: g.pick([[b"COMMAND", b"COUNT"], [b"COMMAND", b"INFO", g.pick(COMMAND_INFO)],
                                       [b"COMMAND", b"DOCS", b"get"], [b"COMMAND", b"NOSUCH"]])),
    "TIME": (0.5, lambda g: [b"TIME"]),
    "LASTSAVE": (0.3, lambda g: [b"LASTSAVE"]),
    "CONFIG": (0.5, lambda g: [b"CONFIG", b"GET", g.pick(CONFIG_PARAMS)]),
    "HELLO": (0.4, g_hello),
    "UNKNOWN": (1, lambda g: list(g.pick(UNKNOWN))),
    "ARITY": (1.5, g_arity),
    "TX-ERRORS": (0.5, lambda g: g.pick([[b"EXEC"], [b"DISCARD"], [b"UNWATCH"], [b"WATCH", g.key()]])),
}
# Not queued inside MULTI or pipelined by the generator: a protocol switch
# and SCAN's iteration (their effect is tested outside), DBSIZE (see
# expiry_probe), and KEYS and LCS, which kvstore does not queue in a
# transaction (docs/redis.md, "Differences").
NOT_IN_TX = {"HELLO", "SCAN", "KEYS", "LCS", "TX-ERRORS", "DBSIZE"}


def past_deadline_keys(args):
    """The key of a SET with EXAT or PXAT (possibly in the past), else []."""
    if args[0].upper() != b"SET" or len(args) < 3:
        return []
    upper = [a.upper() for a in args[3:]]
    return [args[1]] if b"EXAT" in upper or b"PXAT" in upper else []


def command_key(args):
    """The NORMALISED key of a command: NAME or NAME SUB."""
    name = args[0].upper().decode(errors="replace")
    sub = "%s %s" % (name, args[1].upper().decode(errors="replace")) if len(args) > 1 else None
    if sub in NORMALISED:
        return sub
    return name


# ---------------------------------------------------------------------------
# Comparison


def shape(node, depth):
    kind, value = node
    if kind in "*%~>" and value is not None and depth > 0:
        return kind, len(value), tuple(shape(v, depth - 1) for v in value)
    if kind in "$" and value is None:
        return "$nil"
    return kind


def hello_fields(node):
    kind, items = node
    if kind not in "*%" or items is None:
        return node
    pairs = {items[i][1]: items[i + 1] for i in range(0, len(items) - 1, 2)}
    return kind, sorted(pairs), pairs.get(b"proto")


def command_info(node):
    kind, entries = node
    if kind != "*" or entries is None:
        return node
    out = []
    for e in entries:
        if e[0] == "*" and e[1] is not None and len(e[1]) >= 10 and e[1][9][0] == "*":
            subs = [sub for sub in e[1][9][1] if sub[1] and sub[1][0][1] in SUBCOMMANDS]
            e = ("*", e[1][:9] + [("*", sorted(subs, key=repr))] + e[1][10:])
        out.append(e)
    return kind, out


def differs(args, ref, sut):
    """None when the replies count as the same, else why not."""
    if ref == sut:
        return None
    how = NORMALISED.get(command_key(args))
    if how is None or resp.is_error(ref) or resp.is_error(sut):
        return "replies differ"
    a, b = resp.parse(ref), resp.parse(sut)
    if how == "shape":
        same = shape(a, 0) == shape(b, 0)
    elif how == "shape+len":
        same = shape(a, 1) == shape(b, 1)
    elif how == "hello":
        same = hello_fields(a) == hello_fields(b)
    elif how == "sorted":
        same = a[0] == b[0] and a[1] is not None and b[1] is not None and sorted(a[1]) == sorted(b[1])
    elif how == "command":
        same = command_info(a) == command_info(b)
    elif how == "clock":
        if a[0] != ":" or b[0] != ":":
            same = False
        else:
            x, y = int(a[1]), int(b[1])
            same = x == y if min(x, y) < 0 else abs(x - y) <= TOLERANCE[command_key(args)]
    else:
        same = False
    return None if same else "replies differ (compared as %s)" % how


class Mismatch(Exception):
    pass


class Pair:
    """A connection to each server, driven in lockstep."""

    def __init__(self, st, resp3=False):
        self.st = st
        self.resp3 = resp3
        self.open()

    def open(self):
        self.ref = resp.Conn(self.st.ref_port)
        self.sut = resp.Conn(self.st.sut_port)
        if self.resp3:
            a, b = self.ref.call("HELLO", "3"), self.sut.call("HELLO", "3")
            why = differs([b"HELLO", b"3"], a, b)
            if why:
                raise Mismatch("HELLO 3: %s\n  reference: %r\n  SUT:       %r" % (why, a, b))

    def close(self):
        self.ref.close()
        self.sut.close()

    def send(self, data):
        self.ref.send(data)
        self.sut.send(data)

    def read(self):
        return self.ref.read_reply(), self.sut.read_reply()


def inline_form(g, args):
    """args as an inline command line, when the inline syntax can carry
    them: plain words, or double-quoted with escapes (Redis's sdssplitargs)."""
    if g.r.random() < 0.5 and all(a and all(33 <= c < 127 and c not in b"\"'\\" for c in a) for a in args):
        return b" ".join(args) + b"\r\n"
    parts = []
    for a in args:
        out = b'"'
        for c in a:
            if c in b'"\\':
                out += b"\\" + bytes([c])
            elif 32 <= c < 127:
                out += bytes([c])
            else:
                out += b"\\x%02x" % c
        parts.append(out + b'"')
    return b" ".join(parts) + b"\r\n"


class Run:
    """One random sequence over one Pair; raises Mismatch on a difference."""

    def __init__(self, st, g, label, resp3, deadline, history):
        self.st, self.g, self.label, self.deadline = st, g, label, deadline
        self.history = history
        self.pair = Pair(st, resp3)
        self.side = Pair(st, resp3)  # the "other client" for WATCH conflicts
        self.commands = 0
        self.in_tx = False

    def note(self, args, how=""):
        self.history.append("%s step %d%s: %r" % (self.label, self.g.step, how, args))
        del self.history[:-20]

    def expiry_probe(self, batch):
        """redis-server 7.0 stores a SET with a deadline in the past as an
        already-expired key, which DBSIZE counts until a read of the key or
        the expire cycle (timing!) deletes it; kvstore deletes at once. So
        after each such SET both servers read the key (EXISTS), which makes
        DBSIZE deterministic again; DBSIZE is never sent in the same MULTI or
        pipeline as the SET (NOT_IN_TX). docs/redis.md "Differences"."""
        for key in [k for args in batch for k in past_deadline_keys(args)]:
            self.pair.send(resp.encode([b"EXISTS", key]))
            ref, sut = self.pair.read()
            self.check([b"EXISTS", key], ref, sut)

    def check(self, args, ref, sut):
        why = differs(args, ref, sut)
        if why:
            raise Mismatch("%s at step %d, %r: %s\n  reference: %r\n  SUT:       %r"
                           % (self.label, self.g.step, args, why, ref[:500], sut[:500]))

    def one(self, args, inline=False):
        self.note(args, " inline" if inline else "")
        if command_key(args) == "SCAN" and args[1:2] == [b"0"]:
            return self.scan_both(args)
        self.pair.send(inline_form(self.g, args) if inline else resp.encode(args))
        ref, sut = self.pair.read()
        self.check(args, ref, sut)
        if not self.in_tx:
            self.expiry_probe([args])
        if args[0].upper() == b"HELLO" and ref.startswith((b"%", b"*")):
            self.pair.resp3 = args[1:2] == [b"3"] or (self.pair.resp3 and len(args) == 1)
        return ref

    def scan_both(self, args):
        """SCAN normalised: each server iterated from cursor 0 back to 0 (at
        most 2000 pages); the sets of keys must be equal."""
        sets = []
        for conn in (self.pair.ref, self.pair.sut):
            keys, cursor = set(), b"0"
            for _ in range(2000):
                reply = conn.call(*([args[0], cursor] + args[2:]))
                node = resp.parse(reply)
                if node[0] in "-!":
                    sets.append(reply)
                    break
                cursor, page = node[1][0][1], node[1][1][1]
                keys.update(k[1] for k in page)
                if cursor == b"0":
                    sets.append(sorted(keys))
                    break
            else:
                raise Mismatch("%s: SCAN %r did not end within 2000 pages on port %d"
                               % (self.label, args, conn.port))
        if sets[0] != sets[1]:
            raise Mismatch("%s at step %d, %r iterated to cursor 0: different keys\n  reference: %r\n  SUT:       %r"
                           % (self.label, self.g.step, args, sets[0], sets[1]))

    def pipeline(self):
        batch = [self.g.command(in_tx=True) for _ in range(self.g.r.randint(2, 8))]
        batch = [a for a in batch if command_key(a) not in NORMALISED or NORMALISED[command_key(a)] != "scan"]
        for a in batch:
            self.note(a, " pipelined")
        self.pair.send(b"".join(resp.encode(a) for a in batch))
        for a in batch:
            ref, sut = self.pair.read()
            self.check(a, ref, sut)
        self.expiry_probe(batch)

    def transaction(self):
        g = self.g
        watched = g.keys(1, 2) if g.r.random() < 0.6 else []
        if watched:
            self.one([b"WATCH"] + watched)
        if watched and g.r.random() < 0.5:
            # Another client writes a watched key (or not, when it is a read):
            # the EXEC below must abort (or run) alike.
            args = g.pick([[b"SET", watched[0], b"other"], [b"DEL", watched[0]], [b"GET", watched[0]],
                           [b"EXPIREAT", watched[0], str(PAST_S).encode()],
                           [b"EXPIRE", watched[0], g.rel_seconds()], [b"PERSIST", watched[0]],
                           [b"INCR", watched[0]]])
            self.note(args, " other client")
            self.side.send(resp.encode(args))
            ref, sut = self.side.read()
            self.check(args, ref, sut)
        self.one([b"MULTI"])
        self.in_tx = True
        queued = []
        for _ in range(g.r.randint(0, 6)):
            roll = g.r.random()
            if roll < 0.05:
                args = [b"GET"]  # an arity error while queuing: EXEC aborts
            elif roll < 0.08:
                args = g.pick([[b"MULTI"], [b"WATCH", g.key()], [b"NOSUCH"]])
            else:
                args = g.command(in_tx=True)
            if self.one(args) == b"+QUEUED\r\n":
                queued.append(args)
        end = [b"DISCARD"] if g.r.random() < 0.15 else [b"EXEC"]
        self.in_tx = False
        self.note(end)
        self.pair.send(resp.encode(end))
        ref, sut = self.pair.read()
        if end == [b"EXEC"] and ref != sut:
            # Element by element, each with its own command's comparison.
            a, b = resp.parse(ref), resp.parse(sut)
            if a[0] != b[0] or a[0] not in "*" or a[1] is None or b[1] is None or len(a[1]) != len(b[1]):
                self.check(end, ref, sut)
            for args, x, y in zip(queued, a[1], b[1]):
                self.check(args, _unparse(x), _unparse(y))
        else:
            self.check(end, ref, sut)
        self.expiry_probe(queued)

    def quit_and_reconnect(self):
        self.note([b"QUIT"])
        self.pair.send(resp.encode([b"QUIT"]))
        ref, sut = self.pair.read()
        self.check([b"QUIT"], ref, sut)
        ref_rest, ref_closed = self.pair.ref.read_until_close(3)
        sut_rest, sut_closed = self.pair.sut.read_until_close(3)
        if (ref_rest, ref_closed) != (sut_rest, sut_closed):
            raise Mismatch("%s: after QUIT the reference sent %r and %s, the SUT %r and %s"
                           % (self.label, ref_rest, "closed" if ref_closed else "stayed open", sut_rest,
                              "closed" if sut_closed else "stayed open"))
        self.pair.close()
        self.pair = Pair(self.st, self.pair.resp3)

    def run(self, n):
        self.one([b"FLUSHALL"])
        while self.commands < n:
            if time.monotonic() > self.deadline:
                print("%s: time limit reached after %d steps" % (self.label, self.commands), flush=True)
                break
            roll = self.g.r.random()
            if roll < 0.05:
                self.transaction()
            elif roll < 0.08:
                self.pipeline()
            elif roll < 0.083:
                self.quit_and_reconnect()
            else:
                args = self.g.command()
                plain = command_key(args) != "SCAN" and args[0].upper() != b"HELLO"
                self.one(args, inline=plain and self.g.r.random() < 0.08)
            self.commands += 1
        self.pair.close()
        self.side.close()
        return self.commands


def _unparse(node):
    """Bytes of a parsed reply (for EXEC elements), as the server sent them."""
    kind, value = node
    k = kind.encode()
    if kind in "+-:_,#(":
        return k + value + b"\r\n"
    if kind in "$!=":
        return k + b"-1\r\n" if value is None else k + b"%d\r\n%s\r\n" % (len(value), value)
    if value is None:
        return k + b"-1\r\n"
    n = len(value) // 2 if kind in "%|" else len(value)
    return k + b"%d\r\n" % n + b"".join(_unparse(v) for v in value)


# ---------------------------------------------------------------------------
# Malformed requests: (name, bytes, then_ping). Each goes on a fresh
# connection to both servers; with then_ping a PING follows, so a server that
# stays open answers +PONG and the read ends there instead of at a timeout.
PING = resp.encode(["PING"])
MALFORMED = [
    ("bad multibulk count", b"*abc\r\n", True),
    ("multibulk count > INT_MAX", b"*3000000000\r\n", True),
    ("multibulk count with a sign", b"*+1\r\n", True),
    ("multibulk count with a blank", b"*1 \r\n", True),
    ("empty multibulk count", b"*\r\n", True),
    ("negative multibulk count (ignored)", b"*-1\r\n", True),
    ("zero multibulk count (ignored)", b"*0\r\n", True),
    ("no $ before a bulk", b"*1\r\nfoo\r\n", True),
    ("* where a bulk should be", b"*2\r\n$3\r\nGET\r\n*1\r\n", True),
    ("bad bulk length", b"*1\r\n$abc\r\n", True),
    ("empty bulk length", b"*1\r\n$\r\n", True),
    ("bulk length with a blank", b"*1\r\n$ 4\r\nPING\r\n", True),
    ("negative bulk length", b"*1\r\n$-1\r\n", True),
    ("4 GiB bulk length", b"*1\r\n$4294967296\r\n", True),
    ("bulk over proto-max-bulk-len", b"*1\r\n$600000000\r\n", True),
    ("bulk not ended by CRLF", b"*1\r\n$4\r\nPINGxx\r\n", True),
    ("empty command name", b"*1\r\n$0\r\n\r\n", True),
    ("unbalanced double quote", b'SET "a b\r\n', True),
    ("unbalanced single quote", b"SET 'a\r\n", True),
    ("closing quote not followed by a space", b'SET "a"b c\r\n', True),
    ("empty inline line", b"\r\n", True),
    ("blank inline line", b"   \r\n", True),
    ("inline with a bare LF", b"PING\n", True),
    ("inline with escapes", b'ECHO "a\\x41\\n\\"b"\r\n', True),
    ("binary inline", b"\x00\x01\x02\r\n", True),
    ("200 KB inline line without a newline", b"x" * 200000, False),
]


def malformed(st):
    failures = []
    for name, data, then_ping in MALFORMED:
        results = []
        conns = [resp.Conn(st.ref_port), resp.Conn(st.sut_port)]
        try:
            for c in conns:
                c.send(data + (PING if then_ping else b""))
            for c in conns:
                results.append(c.read_until_close(3, b"+PONG\r\n" if then_ping else None))
        except OSError as e:
            results.append(("send/receive failed: %s" % e, None))
        finally:
            for c in conns:
                c.close()
        if len(results) != 2 or results[0] != results[1]:
            failures.append("malformed request '%s' %r:\n  reference: %r\n  SUT:       %r"
                            % (name, data[:60], results[0], results[1:]))
    return failures


def main():
    args = differential.parse_arguments(
        __doc__.split("\n\n")[0], stack, "random steps per protocol (default 3000)",
        "check the checker: write a key no command names to the SUT only, early in the RESP2 run; exit 0 only if "
        "the difference is caught")
    stack.skip_unless_redis()

    def body(st, seed, deadline, history):
        g = Gen(seed)
        run2 = Run(st, g, "RESP2", False, deadline, history)
        if args.self_check:
            with resp.Conn(st.sut_port) as c:
                c.call("FLUSHALL")
            run2.one = _diverge_once(run2, st)
        n2 = run2.run(args.commands)
        if args.self_check:
            raise differential.SelfCheckMissed(n2)
        n3 = Run(st, g, "RESP3", True, deadline, history).run(args.commands)
        return malformed(st), "%d RESP2 steps, %d RESP3 steps" % (n2, n3)

    return differential.run(args, stack, Mismatch, (resp.Closed, resp.Timeout, ValueError), body, len(MALFORMED))


def _diverge_once(run, st):
    """--self-check: run.one, which first writes k1 to the SUT alone."""
    plain = run.one
    state = {"done": False}

    def one(args, inline=False):
        if not state["done"] and run.commands >= 20:
            state["done"] = True
            with resp.Conn(st.sut_port) as c:
                c.call("SET", "selfcheck", "only-in-the-sut")
        return plain(args, inline)

    return one


if __name__ == "__main__":
    stack.run_main(main)
