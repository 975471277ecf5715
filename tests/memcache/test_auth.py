#!/usr/bin/python3
"""test_auth.py: memcached 1.6's text-protocol login (-Y, a `set` whose data
is "user password") in kvstore's memcached door (issue 18), against a real
memcached 1.6.18 started with -Y and a plain-text auth file holding the same
users and passwords as kvstored's users file (yescrypt hashes, written with
`kvstored passwd`).

  1. Differential: seeded sessions (12; MC_AUTH_SESSIONS), each on a fresh connection
     pair: commands before the login (every reply CLIENT_ERROR
     unauthenticated), malformed logins (bad token format, a block not ended
     by CRLF), up to two failed logins (a wrong password, an unknown user),
     then, mostly, the right login (its data in memcached's accepted forms:
     extra spaces, extra words, noreply, any key and flags) followed by
     test_differential.py's random steps (its generator and comparison,
     quit and reconnect logging in again). Replies must be identical byte
     for byte, but for test_differential.py's NORMALISED and what NOT_SENT
     below lists. kvstore answers a failure 1, 2 s later (memcached at once):
     the replies are compared, not their time.
  2. pymemcache (Debian's python3-pymemcache) logs in with
     client.set(<any key>, "user password") and then works, against both
     servers alike; a wrong password raises MemcacheClientError on both.

Usage: /usr/bin/python3 tests/memcache/test_auth.py [--kvstore build/bin]
       [--seed S] [--commands N] [--seconds T]   (MC_AUTH_SESSIONS=N sessions, default 12)
Exit status: 0 identical, 1 a difference or a failure, 77 memcached or
python3-pymemcache missing.
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mc  # noqa: E402
import stack  # noqa: E402
import differential  # noqa: E402  (tests/pylib, on the path through stack)
import test_differential as td  # noqa: E402

try:
    from pymemcache.client.base import Client
    from pymemcache.exceptions import MemcacheClientError
except ImportError:
    print("SKIP: python3-pymemcache is not installed (scripts/deps installs it)", flush=True)
    sys.exit(stack.SKIP)

# Passwords without spaces: memcached 1.6.18 splits the login's data on them.
USERS = {"alice": "horse-battery", "bob": "staple.42"}

# Not sent, as the two differ by design (docs/memcache.md, "Authentication"):
# a pre-login storage command other than set, and ms (kvstore reads its data
# block as part of it: one reply; memcached reads the block as a second
# command), several pre-login requests in one write (memcached 1.6.18 answers
# them with one CLIENT_ERROR unauthenticated, each overwriting the last; so
# too a bad data block with bytes after its last 2: "set a 0 0 3\r\nabcd\r\n"
# leaves "\n", a second request in the same read),
# a login set whose line memcached's parser would refuse (bad flags or
# exptime numbers, a key over 250 bytes, a block over the item limit:
# memcached ignores those fields), a password holding a space, and a fifth
# failure (kvstore then ends the session; memcached never does).
NOT_SENT = "see the comment above"

BEFORE_LOGIN = [b"get a\r\n", b"gets a b\r\n", b"version\r\n", b"stats\r\n", b"quit\r\n", b"mn\r\n", b"mg a v\r\n",
                b"delete a\r\n", b"incr num 1\r\n", b"touch a 10\r\n", b"flush_all\r\n", b"bogus\r\n",
                b"verbosity 1\r\n", b"gat 10 a\r\n", b"me a\r\n", b"\r\n", b"set a 0 0\r\n", b"set\r\n"]


def login_set(g, data, noreply=False):
    key = g.pick([b"login", b"a", b"auth-" + b"x" * 40, b"k\x01"])
    flags = g.pick([b"0", b"1", b"4294967295"])
    exptime = g.pick([b"0", b"100", b"-1"])
    return (b"set %s %s %s %d%s\r\n" % (key, flags, exptime, len(data), b" noreply" if noreply else b"")
            + data + b"\r\n")


def right_login(g, user):
    """The right login, in one of the forms memcached 1.6.18 accepts."""
    password = USERS[user].encode()
    name = user.encode()
    data = g.pick([name + b" " + password, b"  " + name + b"   " + password, name + b" " + password + b" extra words",
                   name + b" " + password + b" "])
    return login_set(g, data, noreply=g.chance(0.2))


def failed_login(g):
    data = g.pick([b"alice wrong-password", b"bob horse-battery", b"mallory horse-battery", b"alice HORSE-BATTERY",
                   b"alice horse-batter", b"alicehorse-battery x"])
    return login_set(g, data)


def malformed_login(g):
    return g.pick([login_set(g, b"alice"), login_set(g, b""), login_set(g, b"   "), login_set(g, b"horse-battery"),
                   b"set a 0 0 3\r\nabcXY", b"set a 0 0 1\r\nxyz"])


class AuthRun(td.Run):
    """test_differential's Run on connections that log in first (and again
    after each quit and reconnect)."""

    def __init__(self, st, g, deadline, history, user):
        super().__init__(st, g, deadline, history)
        self.user = user

    def log_in_both(self):
        self.ask_both(right_login(self.g, self.user), "log in again")

    def ask_both(self, request, what):
        """One request, one line of reply from each side (10 s: kvstore
        answers a failed login after its delay); they must be the same."""
        self.note("%s: %r" % (what, request[:120]))
        replies = []
        for side in (self.ref, self.sut):
            side.conn.send(request)
        for side in (self.ref, self.sut):
            try:
                replies.append(side.conn.read_until(b"\r\n", 10))
            except (mc.Closed, mc.Timeout) as e:
                raise td.Mismatch("step %d: %s: %s\n  sent: %r\n  replies so far: %r"
                                  % (self.g.step, side.name, e, request[:300], replies))
        if replies[0] != replies[1]:
            raise td.Mismatch("step %d: %s: replies differ\n  sent: %r\n  reference: %r\n  SUT:       %r"
                              % (self.g.step, what, request[:300], replies[0], replies[1]))
        return replies[0]

    def quit_and_reconnect(self):
        super().quit_and_reconnect()
        self.log_in_both()

    def blank_number(self, parts):
        if self.probe is None:
            self.probe = mc.Conn(self.st.ref_port)
            reply = self.probe.call(b"set probe 0 0 %d\r\n%s %s" % (len(self.user) + 1 + len(USERS[self.user]),
                                                                    self.user.encode(), USERS[self.user].encode()))
            if reply != b"STORED\r\n":
                raise td.Mismatch("the probe connection could not log in to the reference: %r" % reply)
        return super().blank_number(parts)


def session(st, g, deadline, history, commands):
    """One session: before the login, failures, then maybe the login and
    random steps. Returns the steps run after the login."""
    user = g.pick(sorted(USERS))
    run = AuthRun(st, g, deadline, history, user)
    g.step += 1
    for _ in range(g.r.randint(0, 3)):
        run.ask_both(g.pick(BEFORE_LOGIN), "before the login")
    failures = 0
    for _ in range(g.r.randint(0, 4)):
        if failures < 2 and g.chance(0.6):
            failures += 1
            run.ask_both(failed_login(g), "a failed login")
        else:
            run.ask_both(malformed_login(g), "a malformed login")
        if g.chance(0.5):
            run.ask_both(g.pick(BEFORE_LOGIN), "still before the login")
    if not g.chance(0.85):
        for side in (run.ref, run.sut):
            side.conn.close()
        return 0
    run.ask_both(right_login(g, user), "the login")
    return run.run(commands)


def with_pymemcache(port):
    """The same calls against one server; returns [(what, result)]."""
    out = []
    c = Client(("127.0.0.1", port), connect_timeout=5, timeout=10, default_noreply=False)
    try:
        try:
            c.set("any-key", "alice not-her-password")
            out.append(("wrong password", "no error"))
        except MemcacheClientError as e:
            out.append(("wrong password", str(e)))
        out.append(("log in", c.set("any-key", "alice " + USERS["alice"])))
        out.append(("set", c.set("k1", b"v1")))
        out.append(("get", c.get("k1")))
        out.append(("get_many", sorted(c.get_many(["k1", "nokey"]).items())))
        out.append(("incr", (c.set("n", b"41"), c.incr("n", 1))))
        out.append(("delete", c.delete("k1", noreply=False)))
        out.append(("get after delete", c.get("k1")))
        out.append(("login key not stored", c.get("any-key")))
    finally:
        c.close()
    return out


def users_files(kvstore_bin, directory):
    """memcached's -Y file (plain text) and kvstored's users file (written
    by `kvstored passwd` from stdin, as an operator would; no kvstored
    running is told): the same users, every right on every key."""
    auth_file = os.path.join(directory, "memcached-auth")
    with open(auth_file, "w") as f:
        f.write("".join("%s:%s\n" % (u, p) for u, p in USERS.items()))
    if not kvstore_bin:
        return auth_file, None
    users_file = os.path.join(directory, "users")
    with open(users_file, "w") as f:
        f.write("# tests/memcache/test_auth.py\n")
    for user, password in USERS.items():
        subprocess.run([os.path.join(kvstore_bin, "kvstored"), "--config", "/dev/null", "--admin-socket",
                        os.path.join(directory, "no-kvstored.sock"), "passwd", "--users", users_file, "--rights",
                        "read,write,admin-data", user], input=password + "\n", text=True, check=True,
                       stdout=subprocess.DEVNULL)
    return auth_file, users_file


def main():
    args = differential.parse_arguments(
        __doc__.split("\n\n")[0], stack, "random steps after each login (default 3000: give fewer)",
        "not supported here (test_differential.py --self-check checks the comparison this test reuses)")
    if args.self_check:
        print("--self-check: not supported by test_auth.py", file=sys.stderr)
        return 2
    stack.skip_unless_memcached()
    sessions = int(os.environ.get("MC_AUTH_SESSIONS", "12"))

    def body(st, seed, deadline, history):
        g = td.Gen(seed)
        steps = 0
        for _ in range(sessions):
            steps += session(st, g, deadline, history, args.commands)
        failures = []
        ref, sut = with_pymemcache(st.ref_port), with_pymemcache(st.sut_port)
        if ref != sut:
            failures.append("pymemcache:\n  reference: %r\n  SUT:       %r" % (ref, sut))
        return failures, "%d sessions, %d random steps after their logins, pymemcache's login" % (sessions, steps)

    with tempfile.TemporaryDirectory(prefix="kvmcauth.") as directory:
        auth_file, users_file = users_files(args.kvstore, directory)
        return differential.run(args, stack, td.Mismatch, (mc.Closed, mc.Timeout), body, 0,
                                stack_options={"auth_file": auth_file, "users_file": users_file})


if __name__ == "__main__":
    stack.run_main(main)
