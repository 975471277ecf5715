"""stack.py: the servers the memcached tests talk to, on free loopback ports.

A Stack always starts a reference memcached 1.6 (`memcached -p PORT -l
127.0.0.1 -U 0 -I 64k -o slab_chunk_max=32768`, -u root when run as root,
else as the current user) and a system under test (SUT):
  - with kvstore_bin (the tests' --kvstore BUILD_BIN_DIR): kvstored
    (--max-value 65536, its default, the reference's -I) and a real xinetd
    whose one service runs `BIN/kvsvc --protocol memcache --socket
    DIR/kv.sock` per connection (tests/pylib/kvstack.py starts them);
  - without: a second memcached, so that the tests can be developed and
    checked memcached against memcached.
-I 64k makes the reference's item limit kvstored's --max-value (memcached
needs slab_chunk_max at most half of -I for that). memcached counts its item
header and the key in the limit, kvstored only the value: values between
about 65,400 and 65,536 bytes are stored by kvstore and refused by memcached,
so the tests send none of that size.

Processes, ports, the temporary directory and the stopping (by PID, also on
signals and at exit) are kvstack.py's, shared with tests/redis.

Run by hand to get servers to poke at:
  /usr/bin/python3 tests/memcache/stack.py [--kvstore build/bin] [--serve SECONDS]
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import kvstack  # noqa: E402
import mc  # noqa: E402
import sockets  # noqa: E402
from kvstack import SKIP, StackError, free_port, rss_kib, run_main  # noqa: E402,F401

MAX_VALUE = 65536


def add_arguments(parser):
    kvstack.add_arguments(parser, "memcached")


def skip_unless_memcached(*tools):
    """Exits with SKIP when memcached (or another of tools) is missing:
    scripts/deps installs them, so in CI the tests run."""
    kvstack.skip_unless(("memcached",) + tools, "memcached, libmemcached-tools, python3-pymemcache")


def ask_version(conn):
    conn.send(b"version\r\n")
    return conn.read_until(b"\r\n")


def is_version(reply):
    return reply.startswith(b"VERSION ")


def answers(port, timeout=1.0):
    """True when 127.0.0.1:port answers `version` with a VERSION line."""
    return sockets.answers(mc.Conn, port, timeout, ask_version, is_version)


def is_up(reply):
    """A VERSION line, or what a server with an auth file (memcached -Y,
    kvstored --users) answers every command before the login."""
    return is_version(reply) or reply == b"CLIENT_ERROR unauthenticated"


def answers_up(port, timeout=1.0):
    """True when 127.0.0.1:port answers `version` as a server that is up
    does, with or without an auth file."""
    return sockets.answers(mc.Conn, port, timeout, ask_version, is_up)


class Stack(kvstack.DoorStack):
    """The reference memcached and the system under test. Use as a context
    manager (or call close()); ports: ref_port, sut_port."""

    reference = "memcached"

    def __init__(self, kvstore_bin=None, db=False, keep=False, kvstored_args=(), sut_threads=None, auth_file=None,
                 users_file=None):
        # auth_file: memcached's -Y file (user:password lines) for the
        # reference (and a second memcached as SUT); users_file: kvstored's
        # --users file with the same users (tests/memcache/test_auth.py).
        self.auth_file = auth_file
        if users_file:
            # No per-address limit: every session of the differential comes
            # from 127.0.0.1, and memcached has none (kvstored's own is
            # tested in tests/integration/test_auth.cc).
            kvstored_args = list(kvstored_args) + ["--users", users_file, "--auth-failures-per-address", "0"]
        super().__init__("kvmemcache.", kvstore_bin, db, keep, kvstored_args, threads=sut_threads)

    def start_reference(self, name, threads=None):
        exe = kvstack.find_tool("memcached")
        if not exe:
            raise StackError("memcached is not installed")
        port = free_port()
        argv = [exe, "-p", str(port), "-l", "127.0.0.1", "-U", "0", "-I", "64k", "-o", "slab_chunk_max=32768"]
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses to run as root without -u
        if threads:
            argv += ["-t", str(threads)]
        if self.auth_file:
            argv += ["-Y", self.auth_file]
        server = self.add("memcached " + name, argv, "memcached-%s.log" % name)
        server.port = port
        kvstack.wait_for("memcached %s does not answer version on 127.0.0.1:%d within 5 s" % (name, port),
                         lambda: answers_up(port, 0.5), server)
        return server

    def start_kvstore(self, db, kvstored_args):
        self.start_kvstored(self.kvstore_bin, db, ["--max-value", str(MAX_VALUE)] + list(kvstored_args))
        self.start_door("memcache", answers_up, mc.Conn, b"version\r\n", "version",
                        ": does this build have the memcached door?")


def main():
    return kvstack.serve_main(Stack, "Start the memcached test servers and wait (for poking by hand).",
                              skip_unless_memcached,
                              lambda st: "echo version | nc -q1 127.0.0.1 %d   (reference: port %d)"
                              % (st.sut_port, st.ref_port))


if __name__ == "__main__":
    run_main(main)
