"""etcdcluster.py: a real three-member etcd 3.4 cluster on free loopback
ports, for the tests of kvstored's etcd backend (tests/etcd, docs/scale-out.md).

Each member has its own client and peer port on 127.0.0.1 and its own data
directory under the cluster's temporary directory; the cluster is bootstrapped
with `--initial-cluster-state new` and a token unique to this run, so two test
runs on one machine can never join each other's members. Heartbeat 100 ms and
election timeout 1000 ms (etcd's defaults are 100/1000 too, but written here
because the fault tests' bounds depend on them): a new leader is elected within
about 1-2 s of a leader's death.

What the fault tests need: the leader (POST /v3/maintenance/status to each
member: the one whose header.member_id is the leader it reports), kill -9 a
member, stop one (SIGTERM) and start it again on its same data directory and
ports, the current revision, and a physical compaction at it (etcdctl).

Every member is a kvstack.Server: stopped by PID at close(), at interpreter
exit and on SIGTERM/SIGINT/SIGHUP (kvstack's handlers), and given SIGTERM by
the kernel if the test process dies (PR_SET_PDEATHSIG).

Run by hand: /usr/bin/python3 tests/pylib/etcdcluster.py --self-test
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kvstack  # noqa: E402
from kvstack import StackError  # noqa: E402

ETCD = "etcd"
ETCDCTL = "etcdctl"
# The bound on a healthy cluster after a (re)start: three fresh members elect
# a leader in about one election timeout; 20 s leaves room for a loaded
# 2-core machine (the whole etcd stage builds alongside other jobs).
HEALTHY_SECONDS = 20.0
HEARTBEAT_MS = 100
ELECTION_MS = 1000


def skip_unless_etcd():
    """Exits with SKIP when etcd or etcdctl is missing (Debian etcd-server,
    etcd-client: scripts/deps installs them, so in CI the tests run)."""
    kvstack.skip_unless((ETCD, ETCDCTL), "etcd-server, etcd-client")


def post(url, body, timeout=1.0):
    """POSTs body (a dict, as JSON) to etcd's JSON gateway; the decoded
    answer. OSError (URLError, timeouts, refusals) when it does not answer."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


class Member:
    """One etcd member: its name, ports, data directory and (while it runs)
    its kvstack.Server."""

    def __init__(self, name, client_port, peer_port, data_dir):
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.data_dir = data_dir
        self.server = None
        self.wanted = False  # started and not stopped or killed on purpose

    @property
    def client_url(self):
        return "http://127.0.0.1:%d" % self.client_port

    @property
    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    def running(self):
        return self.server is not None and self.server.running()

    def status(self, timeout=1.0):
        """/v3/maintenance/status of this member, or None when it does not
        answer (stopped, no quorum to answer with, busy)."""
        if not self.running():
            return None
        try:
            return post(self.client_url + "/v3/maintenance/status", {}, timeout)
        except (OSError, ValueError):
            return None

    def member_id(self, status=None):
        status = status or self.status()
        return status["header"]["member_id"] if status else None


class Cluster:
    """Three etcd members on 127.0.0.1 (use as a context manager, or call
    close()). endpoints: "http://127.0.0.1:P1,http://...:P2,..." for
    kvstored's --etcd-endpoints."""

    def __init__(self, size=3, keep=False, parent_dir=None):
        # Inside parent_dir (a kvstack.BaseStack's directory) the directory
        # is the parent's to remove: keep it at close().
        self.keep = keep or parent_dir is not None
        self.nested = parent_dir is not None
        self.dir = tempfile.mkdtemp(prefix="kvetcd.", dir=parent_dir)
        self.token = "kvtest-" + uuid.uuid4().hex
        self.members = []
        self.servers = []  # every Server ever started, for close()
        kvstack._live_stacks.append(self)
        try:
            ports = kvstack.free_ports(2 * size)
            for i in range(size):
                name = "m%d" % i
                self.members.append(Member(name, ports[2 * i], ports[2 * i + 1],
                                           os.path.join(self.dir, name + ".etcd")))
            self.initial_cluster = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)
            for m in self.members:
                self._start(m)
            self.wait_healthy()
        except BaseException:
            self.close()
            raise

    # -- what the tests use

    @property
    def endpoints(self):
        return ",".join(m.client_url for m in self.members)

    def member(self, name):
        return next(m for m in self.members if m.name == name)

    def leader(self, seconds=HEALTHY_SECONDS):
        """The member that is leader now (polled until one is, bounded):
        the one whose own member_id is the leader it reports."""
        deadline = time.monotonic() + seconds
        while True:
            for m in self.members:
                st = m.status()
                if st and st.get("leader") and st["leader"] == st["header"]["member_id"]:
                    return m
            if time.monotonic() >= deadline:
                raise StackError("etcd: no member is leader within %.0f s\n%s" % (seconds, self.logs()))
            time.sleep(0.05)

    def followers(self):
        leader = self.leader()
        return [m for m in self.members if m is not leader]

    def revision(self):
        """The cluster's current revision (from any running member's status
        header), bounded by HEALTHY_SECONDS."""
        deadline = time.monotonic() + HEALTHY_SECONDS
        while time.monotonic() < deadline:
            for m in self.members:
                st = m.status()
                if st:
                    return int(st["header"]["revision"])
            time.sleep(0.05)
        raise StackError("etcd: no member reports a revision\n" + self.logs())

    def compact(self, revision=None):
        """Compacts the keyspace at revision (default: the current one),
        physically (etcdctl waits until the old revisions are gone from the
        backend); the revision compacted at."""
        rev = revision or self.revision()
        self.etcdctl("compaction", "--physical", str(rev))
        return rev

    def etcdctl(self, *args, timeout=30):
        """Runs etcdctl (API v3) against the running members; its stdout.
        StackError when it fails."""
        eps = ",".join(m.client_url for m in self.members if m.running())
        env = dict(os.environ, ETCDCTL_API="3")
        argv = [kvstack.find_tool(ETCDCTL) or ETCDCTL, "--endpoints", eps, "--command-timeout=10s"] + list(args)
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, timeout=timeout)
        out = r.stdout.decode(errors="replace")
        if r.returncode != 0:
            raise StackError("etcdctl %s: exit %d: %s" % (" ".join(args), r.returncode, out.strip()))
        return out

    def kill9(self, member):
        """kill -9 the member (no goodbye to its peers: a crash)."""
        member.wanted = False
        if member.running():
            member.server.proc.kill()
            member.server.proc.wait(5)

    def stop(self, member):
        """SIGTERM the member and wait for it to exit (SIGKILL after 5 s)."""
        member.wanted = False
        if member.server:
            member.server.stop()

    def start(self, member, wait=True):
        """Starts a stopped or killed member again, on its same data
        directory and ports (it rejoins as itself); with wait, until the
        cluster is healthy again with it."""
        if member.running():
            return
        self._start(member)
        if wait:
            self.wait_healthy()

    def restart(self, member):
        self.stop(member)
        self.start(member)

    def wait_healthy(self, seconds=HEALTHY_SECONDS):
        """Until every running member answers its status with the same leader
        (and a leader there is), or StackError after seconds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            running = [m for m in self.members if m.running()]
            statuses = [m.status() for m in running]
            if running and all(statuses):
                leaders = {s.get("leader") for s in statuses}
                if len(leaders) == 1 and None not in leaders and "0" not in leaders:
                    # A linearizable range (etcd's default) needs the quorum.
                    try:
                        post(running[0].client_url + "/v3/kv/range", {"key": "AA=="}, 1.0)
                        return
                    except (OSError, ValueError):
                        pass
            for m in self.members:
                if m.wanted and not m.running():
                    raise StackError("etcd member %s exited\n%s" % (m.name, m.server.describe()))
            time.sleep(0.05)
        raise StackError("etcd: the cluster is not healthy within %.0f s\n%s" % (seconds, self.logs()))

    def logs(self):
        return "\n".join(m.server.describe() for m in self.members if m.server)

    # -- starting and stopping

    def _start(self, m):
        exe = kvstack.find_tool(ETCD)
        if not exe:
            raise StackError("etcd is not installed (Debian etcd-server; scripts/deps installs it)")
        argv = [exe, "--name", m.name, "--data-dir", m.data_dir,
                "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
                "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
                "--initial-cluster", self.initial_cluster, "--initial-cluster-token", self.token,
                "--initial-cluster-state", "new",
                "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(ELECTION_MS),
                # Less disk and log churn on a shared 2-core machine.
                "--snapshot-count", "10000", "--log-level", "warn", "--logger", "zap"]
        m.server = kvstack.Server("etcd " + m.name, argv, os.path.join(self.dir, m.name + ".log"))
        m.wanted = True
        self.servers.append(m.server)

    def close(self):
        if self not in kvstack._live_stacks:
            return
        kvstack._live_stacks.remove(self)
        for s in reversed(self.servers):
            s.stop()
        if self.keep:
            if not self.nested:
                print("kept %s" % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def put(cluster, key, value, timeout=2.0):
    """A put through etcd's JSON gateway to the first running member that
    answers (the self-test's writes; kvstore tests write through kvstore)."""
    import base64
    body = {"key": base64.b64encode(key.encode()).decode(), "value": base64.b64encode(value.encode()).decode()}
    last = None
    for m in cluster.members:
        if m.running():
            try:
                return post(m.client_url + "/v3/kv/put", body, timeout)
            except (OSError, ValueError) as e:
                last = e
    raise StackError("etcd put %s: no member answered (%s)" % (key, last))


def self_test(keep=False):
    """Every helper against a real cluster: leader, kill -9 the leader and a
    new one is elected, stop and restart a member on its data dir, compaction.
    Returns a list of failures (empty: all good)."""
    failures = []
    t0 = time.monotonic()
    with Cluster(keep=keep) as c:
        print("cluster healthy in %.2f s: %s" % (time.monotonic() - t0, c.endpoints), flush=True)
        old = c.leader()
        ids = {c.members.index(m): m.member_id() for m in c.members}
        if len(set(ids.values())) != 3:
            failures.append("member ids not distinct: %r" % ids)
        for i in range(20):
            put(c, "k%d" % i, "v%d" % i)
        rev = c.revision()
        if rev < 21:
            failures.append("revision %d after 20 puts" % rev)
        t1 = time.monotonic()
        c.kill9(old)
        new = c.leader()
        print("kill -9 leader %s: new leader %s in %.2f s" % (old.name, new.name, time.monotonic() - t1), flush=True)
        if new is old:
            failures.append("the killed member is still the leader")
        put(c, "after-kill", "x")
        c.start(old)
        if old.member_id() != ids[c.members.index(old)]:
            failures.append("%s rejoined with another member id" % old.name)
        follower = c.followers()[0]
        c.stop(follower)
        put(c, "one-down", "x")
        c.start(follower)
        # Two down: no quorum, a put must fail (and not hang past its timeout).
        down = c.followers()
        c.stop(down[0])
        c.stop(down[1])
        t2 = time.monotonic()
        try:
            put(c, "no-quorum", "x", timeout=1.5)
            failures.append("a put succeeded with two of three members stopped")
        except StackError:
            pass
        if time.monotonic() - t2 > 5:
            failures.append("the put without quorum took %.1f s" % (time.monotonic() - t2))
        c.start(down[0], wait=False)
        c.start(down[1])
        put(c, "quorum-back", "x")
        crev = c.compact()
        try:
            out = c.etcdctl("get", "k1", "--rev", str(crev - 5))
            failures.append("a read below the compacted revision %d worked: %r" % (crev, out))
        except StackError as e:
            if "compacted" not in str(e):
                failures.append("a read below the compacted revision: %s" % e)
    print("self-test done in %.2f s" % (time.monotonic() - t0), flush=True)
    return [f for f in failures if f]


def main():
    parser = argparse.ArgumentParser(description="Start a 3-member etcd cluster on loopback (or --self-test).")
    parser.add_argument("--self-test", action="store_true", help="check the helpers against a real cluster")
    parser.add_argument("--serve", type=float, default=600, metavar="SECONDS")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    skip_unless_etcd()
    if args.self_test:
        failures = self_test(args.keep)
        for f in failures:
            print("FAIL: %s" % f, flush=True)
        return 1 if failures else 0
    with Cluster(keep=args.keep) as c:
        print("etcd cluster: %s (leader %s); Ctrl-C stops" % (c.endpoints, c.leader().name), flush=True)
        deadline = time.monotonic() + args.serve
        while time.monotonic() < deadline:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    kvstack.run_main(main)
