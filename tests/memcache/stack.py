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

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import kvstack  # noqa: E402
import mc  # noqa: E402
from kvstack import SKIP, StackError, free_port, rss_kib, run_main  # noqa: E402,F401

MAX_VALUE = 65536


def add_arguments(parser):
    kvstack.add_arguments(parser, "memcached")


def skip_unless_memcached(*tools):
    """Exits with SKIP when memcached (or another of tools) is missing:
    scripts/deps installs them, so in CI the tests run."""
    kvstack.skip_unless(("memcached",) + tools, "memcached, libmemcached-tools, python3-pymemcache")


def answers(port, timeout=1.0):
    """True when 127.0.0.1:port answers `version` with a VERSION line."""
    try:
        with mc.Conn(port, timeout=timeout) as c:
            c.send(b"version\r\n")
            return c.read_until(b"\r\n").startswith(b"VERSION ")
    except (OSError, mc.Closed, mc.Timeout):
        return False


class Stack(kvstack.BaseStack):
    """The reference memcached and the system under test. Use as a context
    manager (or call close()); ports: ref_port, sut_port."""

    def __init__(self, kvstore_bin=None, db=False, keep=False, kvstored_args=(), sut_threads=None):
        super().__init__("kvmemcache.", keep)
        self.kvstore_bin = os.path.abspath(kvstore_bin) if kvstore_bin else None
        self.sut_memcached = None
        try:
            self.ref = self._start_memcached("reference")
            self.ref_port = self.ref.port
            if self.kvstore_bin:
                self._start_kvstore(db, kvstored_args)
                self.sut_name = "kvstore"
            else:
                self.sut_memcached = self._start_memcached("sut", sut_threads)
                self.sut_port = self.sut_memcached.port
                self.sut_name = "memcached"
        except BaseException:
            self.close()
            raise

    # -- what the tests use

    @property
    def is_kvstore(self):
        return self.kvstored is not None

    @property
    def sut_memory_pid(self):
        """The process whose memory the hostile test bounds: kvstored (it
        parses the protocol) or the second memcached."""
        return self.kvstored.pid if self.kvstored else self.sut_memcached.pid

    def sut_alive(self):
        return (self.kvstored or self.sut_memcached).running() and (self.xinetd is None or self.xinetd.running())

    def describe(self):
        if self.kvstored:
            return ("SUT kvstore on 127.0.0.1:%d (xinetd pid %d, kvstored pid %d); reference memcached on "
                    "127.0.0.1:%d (pid %d); dir %s" % (self.sut_port, self.xinetd.pid, self.kvstored.pid,
                                                        self.ref_port, self.ref.pid, self.dir))
        return ("SUT memcached on 127.0.0.1:%d (pid %d); reference memcached on 127.0.0.1:%d (pid %d); dir %s"
                % (self.sut_port, self.sut_memcached.pid, self.ref_port, self.ref.pid, self.dir))

    # -- starting

    def _start_memcached(self, name, threads=None):
        exe = kvstack.find_tool("memcached")
        if not exe:
            raise StackError("memcached is not installed")
        port = free_port()
        argv = [exe, "-p", str(port), "-l", "127.0.0.1", "-U", "0", "-I", "64k", "-o", "slab_chunk_max=32768"]
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses to run as root without -u
        if threads:
            argv += ["-t", str(threads)]
        server = self.add("memcached " + name, argv, "memcached-%s.log" % name)
        server.port = port
        kvstack.wait_for("memcached %s does not answer version on 127.0.0.1:%d within 5 s" % (name, port),
                         lambda: answers(port, 0.5), server)
        return server

    def _start_kvstore(self, db, kvstored_args):
        self.start_kvstored(self.kvstore_bin, db, ["--max-value", str(MAX_VALUE)] + list(kvstored_args))
        self.sut_port = self.start_xinetd("kvstore-memcache", os.path.join(self.kvstore_bin, "kvsvc"),
                                          "--protocol memcache --socket " + self.kv_socket)
        if not answers(self.sut_port, 5.0):
            try:
                with mc.Conn(self.sut_port, timeout=2) as c:
                    c.send(b"version\r\n")
                    got, _ = c.read_until_close(2)
            except OSError as e:
                got = str(e).encode()
            raise StackError("kvsvc --protocol memcache through xinetd on 127.0.0.1:%d does not answer version "
                             "(got %r): does this build have the memcached door?\n%s"
                             % (self.sut_port, got[:300], self.logs()))


def main():
    parser = argparse.ArgumentParser(description="Start the memcached test servers and wait (for poking by hand).")
    add_arguments(parser)
    parser.add_argument("--serve", type=float, default=600, metavar="SECONDS",
                        help="stop after this long at most (default 600)")
    args = parser.parse_args()
    skip_unless_memcached()
    with Stack(args.kvstore, db=args.db, keep=args.keep) as stack:
        print(stack.describe(), flush=True)
        print("echo version | nc -q1 127.0.0.1 %d   (reference: port %d); Ctrl-C stops"
              % (stack.sut_port, stack.ref_port), flush=True)
        deadline = time.monotonic() + args.serve
        while time.monotonic() < deadline and stack.sut_alive():
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    run_main(main)
