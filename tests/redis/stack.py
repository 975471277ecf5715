"""stack.py: the servers the Redis tests talk to, started on free loopback ports.

A Stack always starts a reference redis-server (--save '' --appendonly no) and
a system under test (SUT):
  - with kvstore_bin (the tests' --kvstore BUILD_BIN_DIR): kvstored and a
    real xinetd whose one service runs `BIN/kvsvc --protocol redis --socket
    DIR/kv.sock` per connection (tests/pylib/kvstack.py starts them);
  - without: a second redis-server, so that the tests can be developed and
    checked redis against redis.
Processes, ports, the temporary directory and the stopping (by PID, also on
signals and at exit) are kvstack.py's, shared with tests/memcache.

Run by hand to get servers to poke at:
  /usr/bin/python3 tests/redis/stack.py [--kvstore build/bin] [--serve SECONDS]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import kvstack  # noqa: E402
import resp  # noqa: E402
from kvstack import SKIP, StackError, child_pids, free_port, rss_kib, run_main  # noqa: E402,F401


def add_arguments(parser):
    kvstack.add_arguments(parser, "redis-server")


def redis_server_path():
    return kvstack.find_tool("redis-server")


def skip_unless_redis(*tools):
    """Exits with SKIP when redis-server (or another of tools) is missing:
    scripts/deps installs them, so in CI the tests run."""
    kvstack.skip_unless(("redis-server",) + tools, "redis-server, redis-tools, python3-redis")


def ping(port, timeout=1.0):
    """True when 127.0.0.1:port answers PING with +PONG within timeout."""
    try:
        with resp.Conn(port, timeout=timeout) as c:
            return c.call("PING") == b"+PONG\r\n"
    except (OSError, resp.Closed, resp.Timeout, ValueError):
        return False


class Stack(kvstack.BaseStack):
    """The reference redis-server and the system under test. Use as a
    context manager (or call close()); ports: ref_port, sut_port."""

    def __init__(self, kvstore_bin=None, db=False, keep=False, kvstored_args=()):
        super().__init__("kvredis.", keep)
        self.kvstore_bin = os.path.abspath(kvstore_bin) if kvstore_bin else None
        self.sut_redis = None
        try:
            self.ref = self._start_redis("reference")
            self.ref_port = self.ref.port
            if self.kvstore_bin:
                self._start_kvstore(db, kvstored_args)
                self.sut_name = "kvstore"
            else:
                self.sut_redis = self._start_redis("sut")
                self.sut_port = self.sut_redis.port
                self.sut_name = "redis-server"
        except BaseException:
            self.close()
            raise

    # -- what the tests use

    @property
    def sut_memory_pid(self):
        """The process whose memory the hostile tests bound: kvstored (it
        parses RESP) or the second redis-server."""
        return self.kvstored.pid if self.kvstored else self.sut_redis.pid

    def sut_alive(self):
        return (self.kvstored or self.sut_redis).running() and (self.xinetd is None or self.xinetd.running())

    def describe(self):
        if self.kvstored:
            return ("SUT kvstore on 127.0.0.1:%d (xinetd pid %d, kvstored pid %d); reference redis-server on "
                    "127.0.0.1:%d (pid %d); dir %s" % (self.sut_port, self.xinetd.pid, self.kvstored.pid,
                                                        self.ref_port, self.ref.pid, self.dir))
        return ("SUT redis-server on 127.0.0.1:%d (pid %d); reference redis-server on 127.0.0.1:%d (pid %d); "
                "dir %s" % (self.sut_port, self.sut_redis.pid, self.ref_port, self.ref.pid, self.dir))

    # -- starting

    def _start_redis(self, name):
        exe = redis_server_path()
        if not exe:
            raise StackError("redis-server is not installed")
        port = free_port()
        rdir = os.path.join(self.dir, name)
        os.mkdir(rdir)
        server = self.add("redis-server " + name,
                          [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                           "--daemonize", "no", "--dir", rdir, "--logfile", ""],
                          "redis-%s.log" % name)
        server.port = port
        kvstack.wait_for("redis-server %s does not answer PING on 127.0.0.1:%d within 5 s" % (name, port),
                         lambda: ping(port, 0.5), server)
        return server

    def _start_kvstore(self, db, kvstored_args):
        self.start_kvstored(self.kvstore_bin, db, kvstored_args)
        if "--protocol" not in self.kvsvc_usage(self.kvstore_bin):
            raise StackError("kvsvc has no --protocol redis (kvsvc --help does not mention --protocol): "
                             "this build has no Redis door")
        self.sut_port = self.start_xinetd("kvstore-redis", os.path.join(self.kvstore_bin, "kvsvc"),
                                          "--protocol redis --socket " + self.kv_socket)
        if not ping(self.sut_port, 5.0):
            try:
                with resp.Conn(self.sut_port, timeout=2) as c:
                    c.send(resp.encode(["PING"]))
                    got, _ = c.read_until_close(2)
            except OSError as e:
                got = str(e).encode()
            raise StackError("kvsvc --protocol redis through xinetd on 127.0.0.1:%d does not answer PING with "
                             "+PONG (got %r)\n%s" % (self.sut_port, got[:300], self.logs()))


def main():
    parser = argparse.ArgumentParser(description="Start the Redis test servers and wait (for poking by hand).")
    add_arguments(parser)
    parser.add_argument("--serve", type=float, default=600, metavar="SECONDS",
                        help="stop after this long at most (default 600)")
    args = parser.parse_args()
    skip_unless_redis()
    with Stack(args.kvstore, db=args.db, keep=args.keep) as stack:
        print(stack.describe(), flush=True)
        print("redis-cli -p %d   (reference: redis-cli -p %d); Ctrl-C stops" % (stack.sut_port, stack.ref_port),
              flush=True)
        deadline = time.monotonic() + args.serve
        while time.monotonic() < deadline and stack.sut_alive():
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    run_main(main)
