"""lincheck.py: a per-key linearizability checker for histories recorded by
concurrent clients of kvstore (tests/etcd), and the session check for plain
reads.

The model is one register per key (docs/protocol.md's commands as the tests
use them), state None (absent) or the value as text:
  write(v)          -> "ok"                            (`save k:v`)
  read()            -> the value, or None              (`sync` then `read k`: a strong read)
  cas(expected, v)  -> "ok" | "changed" | "not_found"  (`gets k`, then `cas <version> k:v`;
                        the tests write unique values, so "the version gets showed"
                        and "the value gets showed" name the same write)
  incr(d)           -> the new value, as text          (`incr k d`; absent counts as 0)
  delete()          -> "ok" | "not_found"              (`delete k`)

The search is Wing & Gong's, with the memoisation of Lowe's variant (as in
Knossos and Porcupine): the history is split by key (a register's operations
never constrain another's); a depth-first search linearizes, at each step,
one of the operations that may come next (invoked before every pending
operation's completion) whose result the model gives, and remembers every
(set of linearized operations, model state) it has explored, so that no
configuration is searched twice.

An operation whose outcome is unknown (an error, a timeout, `ERR
unavailable`, a lost connection) may have taken effect or not: as in Knossos,
it completes at infinity and any result is accepted. Such an operation can
always be linearized last without changing anyone's result, so the search
succeeds as soon as every operation with a known outcome is linearized: an
unknown operation that never took effect is "linearized at the end".

The search is bounded (max_steps per key, and optionally a deadline on the
monotonic clock for the whole check): when the budget runs out the verdict
is "unknown", never "ok". A violation is proved only by exhausting the
search, so a violating key with many unknown outcomes is where it runs out.

Run the checker's own tests: /usr/bin/python3 tests/etcd/test_lincheck.py
"""

import collections
import json
import math
import time

INF = math.inf


class Op:
    """One operation of a history: process (the client, a session), key,
    kind ("write", "read", "cas", "incr", "delete"), arg (write: value; cas:
    (expected, new); incr: delta), invoke and complete (seconds on one
    monotonic clock; complete None or INF: outcome unknown) and result (as in
    the module's table; ignored when the outcome is unknown)."""

    __slots__ = ("process", "key", "kind", "arg", "invoke", "complete", "result", "index")

    def __init__(self, process, key, kind, arg, invoke, complete, result):
        self.process = process
        self.key = key
        self.kind = kind
        self.arg = arg
        self.invoke = invoke
        self.complete = INF if complete is None else complete
        self.result = result
        self.index = -1

    @property
    def known(self):
        return self.complete != INF

    def __repr__(self):
        done = "?" if not self.known else "%.6f" % self.complete
        res = "" if not self.known else " -> %r" % (self.result,)
        return "p%s %s(%s)%s [%.6f, %s]" % (self.process, self.kind, "" if self.arg is None else repr(self.arg),
                                          res, self.invoke, done)


def step(state, op):
    """(ok, new state): whether the model, in state, can give op's result
    (any result when op's outcome is unknown), and the state after op."""
    kind = op.kind
    if kind == "write":
        return (not op.known or op.result == "ok"), op.arg
    if kind == "read":
        return (not op.known or op.result == state), state
    if kind == "cas":
        expected, new = op.arg
        if state is None:
            res, nxt = "not_found", state
        elif state == expected:
            res, nxt = "ok", new
        else:
            res, nxt = "changed", state
        return (not op.known or op.result == res), nxt
    if kind == "incr":
        try:
            cur = 0 if state is None else int(state)
        except ValueError:
            # incr of a non-integer changes nothing (ERR not-integer).
            return (not op.known or op.result == "not_integer"), state
        nxt = str(cur + op.arg)
        return (not op.known or op.result == nxt), nxt
    if kind == "delete":
        res = "not_found" if state is None else "ok"
        return (not op.known or op.result == res), None
    raise ValueError("lincheck: unknown operation kind %r" % kind)


class Verdict:
    """The outcome for one key: status "ok", "violation" or "unknown" (the
    step budget ran out), with the number of steps and, for a violation, the
    longest linearizable prefix found and the operations none of which could
    come next after it."""

    def __init__(self, key, status, steps, ops, prefix=(), stuck=()):
        self.key = key
        self.status = status
        self.steps = steps
        self.ops = ops
        self.prefix = list(prefix)
        self.stuck = list(stuck)

    def __repr__(self):
        return "key %r: %s (%d ops, %d steps)" % (self.key, self.status, len(self.ops), self.steps)

    def explain(self, limit=12):
        lines = [repr(self)]
        if self.status == "violation":
            lines.append("  longest linearizable prefix (%d ops), last ones:" % len(self.prefix))
            lines += ["    %r" % o for o in self.prefix[-limit:]]
            lines.append("  then none of these could come next:")
            lines += ["    %r" % o for o in self.stuck[:limit]]
        return "\n".join(lines)


def check_key(key, ops, initial=None, max_steps=1000000, deadline=INF):
    """Checks one key's history (a list of Op); a Verdict. deadline: a
    time.monotonic() past which the search gives up ("unknown")."""
    ops = sorted(ops, key=lambda o: o.invoke)
    n = len(ops)
    for i, o in enumerate(ops):
        o.index = i
    real = ops
    ops = _unobserved_as_one(ops, initial)
    must = sum(1 << i for i, o in enumerate(ops) if o.known)
    if must == 0:
        return Verdict(key, "ok", 0, real)
    # The cache: (linearized ops of known outcome, state) -> the sets of
    # unknown-outcome ops linearized with them that were explored. An
    # unknown op is optional and never blocks another (it completes at
    # infinity), so having more of them still to place can only help: a
    # configuration that has used a superset of an explored one's unknown
    # ops is dominated by it and is skipped. Without this, a fault run's few
    # dozen unknown writes make 2^n masks of one configuration.
    seen = {}

    def visited(m, st):
        known_part, unknown_part = m & must, m & ~must
        explored = seen.setdefault((known_part, st), [])
        for u in explored:
            if u & unknown_part == u:
                return True
        explored.append(unknown_part)
        return False

    steps = 0
    best = (0, [], [])  # (linearized count, order, stuck candidates)
    # Each frame: (mask, state, order (tuple of indices), candidate list, next candidate position).
    stack = [(0, initial, (), _candidates(ops, 0), 0)]
    visited(0, initial)
    while stack:
        mask, state, order, cands, pos = stack.pop()
        if mask & must == must:
            return Verdict(key, "ok", steps, real, [real[i] for i in order])
        if pos >= len(cands):
            if len(order) >= best[0]:
                best = (len(order), order, cands)
            continue
        stack.append((mask, state, order, cands, pos + 1))
        i = cands[pos]
        steps += 1
        if steps > max_steps or (steps % 4096 == 0 and time.monotonic() > deadline):
            return Verdict(key, "unknown", steps, real, [real[j] for j in best[1]])
        ok, nxt = step(state, ops[i])
        if not ok:
            continue
        if not ops[i].known and nxt == state:
            continue  # an unknown op that changes nothing can as well go last
        m2 = mask | (1 << i)
        if visited(m2, nxt):
            continue
        stack.append((m2, nxt, order + (i,), _candidates(ops, m2), 0))
    return Verdict(key, "violation", steps, real, [real[j] for j in best[1]], [real[j] for j in best[2]])


# The state of a register holding a value no operation ever looks for.
_UNOBSERVED = object()


def _unobserved_as_one(ops, initial):
    """The history (same order and indices) with every written value that
    no read returned and no cas expected replaced by one placeholder: no
    result can tell such values apart (a read would have returned one; a
    cas or delete sees only "present, not the expected one"), and then the
    unknown writes of a fault run collapse into one state and one candidate
    shape instead of one each. Counters (incr reads the number) are left
    as they are."""
    if any(o.kind == "incr" for o in ops):
        return ops
    observed = {initial}
    for o in ops:
        if o.kind == "read" and o.known:
            observed.add(o.result)
        elif o.kind == "cas":
            observed.add(o.arg[0])

    def canon(v):
        return v if v in observed else _UNOBSERVED

    out = []
    for o in ops:
        arg = o.arg
        if o.kind == "write":
            arg = canon(arg)
        elif o.kind == "cas":
            arg = (arg[0], canon(arg[1]))
        c = Op(o.process, o.key, o.kind, arg, o.invoke, None if not o.known else o.complete, o.result)
        c.index = o.index
        out.append(c)
    return out


def _candidates(ops, mask):
    """Indices of the operations not in mask that may be linearized next:
    invoked no later than the earliest completion among the operations not in
    mask (no pending operation completed before they were invoked). Known
    outcomes first (they are what the search must place)."""
    min_complete = INF
    out = []
    # Everything before the lowest op not in mask is linearized: start there
    # (a history of thousands of ops is mostly behind that point).
    lo = ((mask + 1) & ~mask).bit_length() - 1
    for j in range(lo, len(ops)):  # sorted by invoke
        o = ops[j]
        if mask >> j & 1:
            continue
        if o.invoke > min_complete:
            break
        out.append(o)
        if o.complete < min_complete:
            min_complete = o.complete
    # Unknown-outcome operations of one kind and argument (incr 2, delete)
    # are interchangeable once they may come next: each completes at
    # infinity, so each stays a candidate from here on. Trying only the
    # first of each turns the 2^n subsets of a fault run's unknown incrs
    # into a few sums.
    unknown, shapes = [], set()
    for o in out:
        if not o.known and o.invoke <= min_complete and (o.kind, o.arg) not in shapes:
            shapes.add((o.kind, o.arg))
            unknown.append(o.index)
    return [o.index for o in out if o.invoke <= min_complete and o.known] + unknown


def check(history, initial=None, max_steps=1000000, deadline=INF):
    """Checks a whole history (Ops of any keys), key by key; the list of
    Verdicts (one per key). initial: the state every key starts in (None:
    absent), or a dict key -> state. deadline: as for check_key, for all
    keys together."""
    by_key = collections.defaultdict(list)
    for op in history:
        by_key[op.key].append(op)
    out = []
    for key in sorted(by_key):
        init = initial.get(key) if isinstance(initial, dict) else initial
        out.append(check_key(key, by_key[key], init, max_steps, deadline))
    return out


def save(history, path):
    """Writes a history (Ops) as JSON lines, for load() and a rerun of the
    check outside the test."""
    with open(path, "w") as f:
        for o in history:
            f.write(json.dumps([o.process, o.key, o.kind, o.arg, o.invoke,
                                None if o.complete == INF else o.complete, o.result]) + "\n")


def load(path):
    """The Ops save() wrote."""
    ops = []
    with open(path) as f:
        for line in f:
            p, k, kind, arg, inv, comp, res = json.loads(line)
            ops.append(Op(p, k, kind, tuple(arg) if isinstance(arg, list) else arg, inv, comp, res))
    return ops


def summarize(verdicts):
    """(violations, unknowns): the Verdicts that are not ok."""
    return [v for v in verdicts if v.status == "violation"], [v for v in verdicts if v.status == "unknown"]


# --- The session check for plain (local) reads ---------------------------


class SessionRead:
    """A plain `read` (served from the host's copy, no `sync`): process,
    key, invoke, complete, the value read (None: NOT_FOUND)."""

    __slots__ = ("process", "key", "invoke", "complete", "value")

    def __init__(self, process, key, invoke, complete, value):
        self.process = process
        self.key = key
        self.invoke = invoke
        self.complete = complete
        self.value = value

    def __repr__(self):
        return "p%s plain read -> %r [%.6f, %.6f]" % (self.process, self.value, self.invoke, self.complete)


def check_sessions(history, reads):
    """A plain read never returns a value older than its session's own last
    acknowledged write to that key (read-your-writes). history: the Ops (the
    writes); reads: SessionReads. For registers (unique values per write):
    the read returns the session's own value, or one written (or a delete)
    by an operation not known to precede the session's write (it did not
    complete before the write was invoked). For counters (incr with positive
    deltas): the value is at least the session's own last incr's result.
    Returns a list of violation messages."""
    writers = {}  # (key, value) -> the op that wrote it
    deletes = collections.defaultdict(list)
    own = collections.defaultdict(list)  # (process, key) -> acknowledged writes, by completion
    for op in history:
        if op.kind == "write":
            writers[(op.key, op.arg)] = op
        elif op.kind == "cas":
            writers.setdefault((op.key, op.arg[1]), op)
        elif op.kind == "incr" and op.known:
            writers.setdefault((op.key, op.result), op)
        elif op.kind == "delete":
            deletes[op.key].append(op)
        acked = op.known and (op.result == "ok" or op.kind == "incr")
        if acked and op.kind in ("write", "cas", "incr", "delete"):
            own[(op.process, op.key)].append(op)
    for lst in own.values():
        lst.sort(key=lambda o: o.complete)
    problems = []
    for r in reads:
        mine = [w for w in own.get((r.process, r.key), ()) if w.complete <= r.invoke]
        if not mine:
            continue
        w = mine[-1]
        if w.kind == "incr":
            try:
                if int(r.value or 0) < int(w.result):
                    problems.append("%r is older than its own %r" % (r, w))
            except ValueError:
                problems.append("%r: not a counter after its own %r" % (r, w))
            continue
        own_value = None if w.kind == "delete" else (w.arg if w.kind == "write" else w.arg[1])
        if r.value == own_value:
            continue
        if r.value is None:
            later = [d for d in deletes.get(r.key, ())
                     if d is not w and d.complete > w.invoke and d.invoke < r.complete]
            if not later:
                problems.append("%r: absent, but its own %r came first and no delete could follow it" % (r, w))
            continue
        o = writers.get((r.key, r.value))
        if o is None:
            problems.append("%r: nobody wrote this value" % r)
        elif not (o.complete > w.invoke and o.invoke < r.complete):
            problems.append("%r is older than its own %r (it was written by %r)" % (r, w, o))
    return problems
