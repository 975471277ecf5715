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

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import kvstack  # noqa: E402
import resp  # noqa: E402
import sockets  # noqa: E402
from kvstack import SKIP, StackError, child_pids, free_port, rss_kib, run_main  # noqa: E402,F401


def add_arguments(parser):
    kvstack.add_arguments(parser, "redis-server")


def redis_server_path():
    return kvstack.find_tool("redis-server")


def skip_unless_redis(*tools):
    """Exits with SKIP when redis-server (or another of tools) is missing:
    scripts/deps installs them, so in CI the tests run."""
    kvstack.skip_unless(("redis-server",) + tools, "redis-server, redis-tools, python3-redis")


def ask_ping(conn):
    return conn.call("PING")


def is_pong(reply):
    return reply == b"+PONG\r\n"


def ping(port, timeout=1.0):
    """True when 127.0.0.1:port answers PING with +PONG within timeout."""
    return sockets.answers(resp.Conn, port, timeout, ask_ping, is_pong)


class Stack(kvstack.DoorStack):
    """The reference redis-server and the system under test. Use as a
    context manager (or call close()); ports: ref_port, sut_port."""

    reference = "redis-server"

    def __init__(self, kvstore_bin=None, db=False, keep=False, kvstored_args=()):
        super().__init__("kvredis.", kvstore_bin, db, keep, kvstored_args)

    def start_reference(self, name):
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

    def start_kvstore(self, db, kvstored_args):
        self.start_kvstored(self.kvstore_bin, db, kvstored_args)
        if "--protocol" not in self.kvsvc_usage(self.kvstore_bin):
            raise StackError("kvsvc has no --protocol redis (kvsvc --help does not mention --protocol): "
                             "this build has no Redis door")
        self.start_door("redis", ping, resp.Conn, resp.encode(["PING"]), "PING with +PONG")


def main():
    return kvstack.serve_main(Stack, "Start the Redis test servers and wait (for poking by hand).", skip_unless_redis,
                              lambda st: "redis-cli -p %d   (reference: redis-cli -p %d)" % (st.sut_port, st.ref_port))


if __name__ == "__main__":
    run_main(main)
