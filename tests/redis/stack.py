"""stack.py: the servers the Redis tests talk to, started on free loopback ports.

A Stack always starts a reference redis-server (--save '' --appendonly no) and
a system under test (SUT):
  - with kvstore_bin (the tests' --kvstore BUILD_BIN_DIR): kvstored
    (`kvstored --config /dev/null run --socket DIR/kv.sock`, in memory, or
    with --db DIR/store.db) and a real xinetd in the foreground
    (`xinetd -dontfork -f DIR/xinetd.conf`) whose one service runs
    `BIN/kvsvc --protocol redis --socket DIR/kv.sock` per connection, as
    tests/support/xinetd.cc and bench/run configure it;
  - without: a second redis-server, so that the tests can be developed and
    checked redis against redis.
Everything binds 127.0.0.1 only, lives in a temporary directory, and is stopped
by PID (SIGTERM, then SIGKILL after 5 s) when the Stack closes, at interpreter
exit (atexit) and on SIGTERM/SIGINT/SIGHUP. The servers also get SIGTERM if the
test process dies without cleaning up (PR_SET_PDEATHSIG).

Run by hand to get servers to poke at:
  /usr/bin/python3 tests/redis/stack.py [--kvstore build/bin] [--serve SECONDS]
"""

import argparse
import atexit
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import resp

# ctest's SKIP_RETURN_CODE for these tests (tests/redis/CMakeLists.txt).
SKIP = 77
XINETD = "/usr/sbin/xinetd"
_PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """A server did not start (the message says which and quotes its log)."""


def add_arguments(parser):
    parser.add_argument("--kvstore", metavar="BUILD_BIN_DIR",
                        help="test kvstore (BUILD_BIN_DIR/kvstored, kvsvc --protocol redis under xinetd) "
                             "instead of a second redis-server")
    parser.add_argument("--db", action="store_true", help="kvstored with --db in the temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, configs)")


def redis_server_path():
    return shutil.which("redis-server") or ("/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK)
                                             else None)


def skip_unless_redis(*tools):
    """Exits with SKIP when redis-server (or another of tools) is missing:
    scripts/deps installs them, so in CI the tests run."""
    for tool in ("redis-server",) + tools:
        if not shutil.which(tool) and not os.access("/usr/bin/" + tool, os.X_OK):
            print("SKIP: %s is not installed (Debian packages redis-server, redis-tools, python3-redis; "
                  "scripts/deps installs them)" % tool, flush=True)
            sys.exit(SKIP)


def free_port():
    """A TCP port nobody listens on now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    """VmRSS of a process in KiB (from /proc/PID/status), or -1."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def child_pids(parent):
    """Live (non-zombie) children of parent, from /proc."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == parent and fields[0] != "Z":
            kids.append(int(name))
    return kids


def _die_with_parent():
    # Runs in the child between fork and exec: if this test process dies
    # (even by SIGKILL, a ctest timeout) the server gets SIGTERM.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _read(path, limit=4000):
    try:
        with open(path, "rb") as f:
            data = f.read()
        return data[-limit:].decode(errors="replace")
    except OSError:
        return "(no %s)" % path


def ping(port, timeout=1.0):
    """True when 127.0.0.1:port answers PING with +PONG within timeout."""
    try:
        with resp.Conn(port, timeout=timeout) as c:
            return c.call("PING") == b"+PONG\r\n"
    except (OSError, resp.Closed, resp.Timeout, ValueError):
        return False


class Server:
    """One process we started: its name, Popen and log file."""

    def __init__(self, name, argv, log):
        self.name = name
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_parent, close_fds=True)
        self.pid = self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def stop(self, grace=5.0):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                os.kill(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)

    def describe(self):
        code = self.proc.poll()
        state = "running" if code is None else "exited with %d" % code
        return "%s (pid %d, %s); the end of %s:\n%s" % (self.name, self.pid, state, self.log, _read(self.log))


def _wait(what, check, server, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if not server.running():
            break
        time.sleep(0.02)
    raise StackError("%s: %s" % (what, server.describe()))


_live_stacks = []


def _stop_all_live():
    for s in list(_live_stacks):
        s.close()


atexit.register(_stop_all_live)


def _on_signal(signum, _frame):
    # Stop our servers, then die of the same signal (a finally in the test
    # does not run on a signal by default).
    _stop_all_live()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


class Stack:
    """The reference redis-server and the system under test. Use as a
    context manager (or call close()); ports: ref_port, sut_port."""

    def __init__(self, kvstore_bin=None, db=False, keep=False, kvstored_args=()):
        self.kvstore_bin = os.path.abspath(kvstore_bin) if kvstore_bin else None
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="kvredis.")
        self.servers = []
        self.xinetd = None
        self.kvstored = None
        self.sut_redis = None
        _live_stacks.append(self)
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

    def logs(self):
        parts = [s.describe() for s in self.servers]
        if self.xinetd:
            parts.append("xinetd access log:\n" + _read(os.path.join(self.dir, "xinetd-access.log")))
        return "\n".join(parts)

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
        server = Server("redis-server " + name,
                        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--daemonize", "no", "--dir", rdir, "--logfile", ""],
                        os.path.join(self.dir, "redis-%s.log" % name))
        server.port = port
        self.servers.append(server)
        _wait("redis-server %s does not answer PING on 127.0.0.1:%d within 5 s" % (name, port),
              lambda: ping(port, 0.5), server)
        return server

    def _start_kvstore(self, db, kvstored_args):
        kvstored = os.path.join(self.kvstore_bin, "kvstored")
        kvsvc = os.path.join(self.kvstore_bin, "kvsvc")
        for exe in (kvstored, kvsvc):
            if not os.access(exe, os.X_OK):
                raise StackError("%s is missing: build it (cmake --build build --target kvstored kvsvc)" % exe)
        if not os.access(XINETD, os.X_OK):
            raise StackError("%s is missing: the Debian package xinetd (scripts/deps installs it)" % XINETD)
        usage = subprocess.run([kvsvc, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=10).stdout.decode(errors="replace")
        if "--protocol" not in usage:
            raise StackError("kvsvc has no --protocol redis (%s --help does not mention --protocol): "
                             "this build has no Redis door" % kvsvc)
        sock = os.path.join(self.dir, "kv.sock")
        # --config /dev/null: an installed /etc/kvstore/kvstored.conf must
        # not change the daemon under test (tests/support/kvstore.cc does the
        # same). The admin socket goes beside the service socket.
        # --capacity 100000: the clients test stores 10,000 keys at once and
        # more beside them (kvstored's default capacity is 10,000).
        argv = [kvstored, "--config", "/dev/null", "run", "--socket", sock, "--capacity", "100000"]
        if db:
            argv += ["--db", os.path.join(self.dir, "store.db")]
        argv += list(kvstored_args)
        self.kvstored = Server("kvstored", argv, os.path.join(self.dir, "kvstored.log"))
        self.servers.append(self.kvstored)
        _wait("kvstored has no listener on %s within 5 s" % sock, lambda: _accepts_unix(sock), self.kvstored)

        self.sut_port = free_port()
        conf = os.path.join(self.dir, "xinetd.conf")
        with open(conf, "w") as f:
            f.write(self._xinetd_config(kvsvc, sock))
        xlog = os.path.join(self.dir, "xinetd.log")
        self.xinetd = Server("xinetd", [XINETD, "-dontfork", "-f", conf, "-pidfile",
                                        os.path.join(self.dir, "xinetd.pid"), "-filelog", xlog],
                             os.path.join(self.dir, "xinetd.out"))
        self.servers.append(self.xinetd)
        _wait("xinetd did not start working", lambda: "Started working" in _read(xlog), self.xinetd)
        if not ping(self.sut_port, 5.0):
            try:
                with resp.Conn(self.sut_port, timeout=2) as c:
                    c.send(resp.encode(["PING"]))
                    got, _ = c.read_until_close(2)
            except OSError as e:
                got = str(e).encode()
            raise StackError("kvsvc --protocol redis through xinetd on 127.0.0.1:%d does not answer PING with "
                             "+PONG (got %r)\n%s" % (self.sut_port, got[:300], self.logs()))

    def _xinetd_config(self, kvsvc, sock):
        # The settings of tests/support/xinetd.cc (kvsvc_service), with cps
        # raised as bench/run does: the hostile test opens 1,000 connections
        # quickly, and xinetd's default cps would switch the service off.
        # (xinetd allows comments on their own lines only.)
        def section(header, settings):
            return header + "\n{\n" + "".join("    %-16s= %s\n" % kv for kv in settings) + "}\n"

        defaults = [("log_type", "FILE " + os.path.join(self.dir, "xinetd-access.log")),
                    ("log_on_success", "PID HOST EXIT DURATION"), ("log_on_failure", "HOST")]
        service = [("type", "UNLISTED"), ("socket_type", "stream"), ("protocol", "tcp"), ("wait", "no"),
                   ("user", pwd.getpwuid(os.getuid()).pw_name), ("server", kvsvc),
                   ("server_args", "--protocol redis --socket " + sock), ("bind", "127.0.0.1"),
                   ("port", str(self.sut_port)), ("only_from", "127.0.0.1"), ("instances", "1500"),
                   ("per_source", "UNLIMITED"), ("cps", "100000 1"), ("flags", "NODELAY"), ("disable", "no")]
        return section("defaults", defaults) + "\n" + section("service kvstore-redis", service)

    # -- stopping

    def close(self):
        if self not in _live_stacks:
            return
        _live_stacks.remove(self)
        # xinetd does not stop the kvsvc processes it started: note them
        # first, stop xinetd, then them (by PID).
        kids = child_pids(self.xinetd.pid) if self.xinetd and self.xinetd.running() else []
        for s in reversed(self.servers):
            s.stop()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.keep:
            print("kept %s" % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _accepts_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def run_main(main):
    """sys.exit(main()), with a StackError (a server that did not start, a
    kvsvc without --protocol redis) reported as one FAIL line, not a trace."""
    try:
        sys.exit(main())
    except StackError as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)


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
