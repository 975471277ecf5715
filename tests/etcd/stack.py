"""stack.py: what the etcd system tests run against (docs/scale-out.md): a
real three-member etcd cluster (tests/pylib/etcdcluster.py) and two kvstore
front hosts over it (kvstack.KvHost), each host its own kvstored

  kvstored --config /dev/null --admin-socket DIR/a/admin.sock run
           --socket DIR/a/kv.sock --backend etcd
           --etcd-endpoints URL,URL,URL --etcd-prefix /kvtest-<random>
           --capacity N --etcd-timeout MS

and its own real xinetd on its own loopback port running kvsvc (the line
protocol) per connection: host.port. The prefix is random per stack, so a
test never sees another's keys even on a shared cluster. Everything is
stopped by PID at close(), at exit and on signals (kvstack).

Run by hand to get a cluster and two hosts to poke at:
  /usr/bin/python3 tests/etcd/stack.py --kvstore build/bin [--serve SECONDS]
  then: nc 127.0.0.1 PORT_A / PORT_B
"""

import argparse
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import etcdcluster  # noqa: E402
import kvstack  # noqa: E402
import lineconn  # noqa: E402
import sockets  # noqa: E402
from kvstack import SKIP, StackError, run_main  # noqa: E402,F401

# kvstored's --etcd-timeout in these tests: a write etcd has not committed
# in 2 s is answered `ERR unavailable` (the fault tests allow 2 s + slack).
ETCD_TIMEOUT_MS = 2000
# A host's kvstored loads the whole store from etcd before it listens: a
# bound for the tests' few thousand keys on a loaded machine.
READY_SECONDS = 20.0


def add_arguments(parser):
    parser.add_argument("--kvstore", metavar="BUILD_BIN_DIR", required=True,
                        help="the build's bin directory (kvstored, kvsvc)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, configs)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the time)")


def skip_unless_tools():
    etcdcluster.skip_unless_etcd()
    kvstack.skip_unless(("xinetd",), "xinetd")


def check_backend(kvstore_bin):
    """StackError unless this kvstored has `run --backend etcd` (a build
    from before the etcd backend): the tests cannot run, and must say so
    rather than pass."""
    exe = os.path.join(kvstore_bin, "kvstored")
    out = subprocess.run([exe, "run", "--help"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=10).stdout.decode(errors="replace")
    if "--etcd-endpoints" not in out:
        raise StackError("%s has no `run --backend etcd --etcd-endpoints` (kvstored run --help does not mention "
                         "--etcd-endpoints): this build has no etcd backend" % exe)


class Stack(kvstack.BaseStack):
    """The etcd cluster (cluster) and the hosts (hosts[0] "a", hosts[1]
    "b"). Use as a context manager."""

    def __init__(self, kvstore_bin, hosts=2, capacity=100000, keep=False, extra_args=()):
        super().__init__("kvetcdstack.", keep)
        self.kvstore_bin = os.path.abspath(kvstore_bin)
        self.prefix = "/kvtest-" + uuid.uuid4().hex[:12]
        self.capacity = capacity
        self.cluster = None
        self.hosts = []
        try:
            check_backend(self.kvstore_bin)
            self.cluster = etcdcluster.Cluster(parent_dir=self.dir)
            self.on_close.append(self.cluster.close)
            self.kvstored_args = ["--backend", "etcd", "--etcd-endpoints", self.cluster.endpoints,
                                  "--etcd-prefix", self.prefix, "--capacity", str(capacity),
                                  "--etcd-timeout", str(ETCD_TIMEOUT_MS)] + list(extra_args)
            for name in "ab"[:hosts]:
                self.hosts.append(kvstack.KvHost(self, name, self.kvstore_bin, self.kvstored_args, READY_SECONDS))
            for h in self.hosts:
                wait_serving(h)
        except BaseException:
            self.close()
            raise

    @property
    def a(self):
        return self.hosts[0]

    @property
    def b(self):
        return self.hosts[1]

    def describe(self):
        return "etcd %s (prefix %s); %s; dir %s" % (
            self.cluster.endpoints, self.prefix,
            ", ".join("host %s on 127.0.0.1:%d (kvstored pid %d)" % (h.name, h.port, h.kvstored.pid)
                      for h in self.hosts), self.dir)

    def logs(self):
        return super().logs() + ("\n" + self.cluster.logs() if self.cluster else "")


def wait_serving(host, seconds=READY_SECONDS):
    """Polls until a session through host's xinetd connects and answers
    `count` (kvstored has loaded from etcd); StackError after seconds."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            with lineconn.Conn(host.port, timeout=2) as c:
                reply = c.call("count")
                if reply.startswith("COUNT "):
                    return
                last = reply
        except (OSError, sockets.Closed, sockets.Timeout, lineconn.ConnectError) as e:
            last = e
        time.sleep(0.05)
    raise StackError("host %s does not serve within %.0f s (last: %s)\n%s" % (host.name, seconds, last, host.log()))


def main():
    parser = argparse.ArgumentParser(description="Start etcd and two kvstore hosts over it; wait.")
    add_arguments(parser)
    parser.add_argument("--serve", type=float, default=600, metavar="SECONDS")
    args = parser.parse_args()
    skip_unless_tools()
    with Stack(args.kvstore, keep=args.keep) as st:
        print(st.describe(), flush=True)
        print("nc 127.0.0.1 %d   (host b: nc 127.0.0.1 %d); Ctrl-C stops" % (st.a.port, st.b.port), flush=True)
        deadline = time.monotonic() + args.serve
        while time.monotonic() < deadline and all(h.running() for h in st.hosts):
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    run_main(main)
