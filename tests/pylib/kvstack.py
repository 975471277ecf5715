"""kvstack.py: what the Python door tests (tests/redis, tests/memcache) share
to start servers on free loopback ports and stop them again.

A door test compares a reference server (redis-server, memcached) with a
system under test (SUT). This module starts and stops the processes; each
door's stack.py (tests/redis/stack.py, tests/memcache/stack.py) starts its
reference server and says how to check that a server answers. The kvstore
SUT is:
  - kvstored (`kvstored --config /dev/null run --socket DIR/kv.sock`, in
    memory, or with --db DIR/store.db), and
  - a real xinetd in the foreground (`xinetd -dontfork -f DIR/xinetd.conf`)
    whose one service runs `BIN/kvsvc --protocol P --socket DIR/kv.sock` per
    connection, as tests/support/xinetd.cc and bench/run configure it.
Everything binds 127.0.0.1 only, lives in a temporary directory, and is stopped
by PID (SIGTERM, then SIGKILL after 5 s) when the stack closes, at interpreter
exit (atexit) and on SIGTERM/SIGINT/SIGHUP. The servers also get SIGTERM if the
test process dies without cleaning up (PR_SET_PDEATHSIG).

A replicated store (tests/etcd) has several front hosts: a KvHost is one of
them inside a BaseStack, with its own kvstored (socket and admin socket in
DIR/NAME/) and its own xinetd on its own port, and can be killed (-9),
stopped and started again under its running xinetd.

Beside it in tests/pylib: sockets.py (the loopback connection resp.py and
mc.py build on), hostile.py and differential.py (what the two doors'
hostile and differential tests share), lineconn.py (the line protocol),
etcdcluster.py (a real 3-member etcd) and lincheck.py (the linearizability
checker of tests/etcd).
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

# ctest's SKIP_RETURN_CODE for these tests (tests/redis/CMakeLists.txt,
# tests/memcache/CMakeLists.txt).
SKIP = 77
XINETD = "/usr/sbin/xinetd"
_PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """A server did not start (the message says which and quotes its log)."""


def add_arguments(parser, reference):
    """The options every door test takes; reference names the other server
    ("redis-server", "memcached")."""
    parser.add_argument("--kvstore", metavar="BUILD_BIN_DIR",
                        help="test kvstore (BUILD_BIN_DIR/kvstored, kvsvc under xinetd) instead of a second %s"
                             % reference)
    parser.add_argument("--db", action="store_true", help="kvstored with --db in the temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, configs)")


def find_tool(name):
    """The path of an installed program (PATH, then /usr/bin, /usr/sbin), or None."""
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/bin", "/usr/sbin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


def skip_unless(tools, packages):
    """Exits with SKIP when one of tools is missing: scripts/deps installs
    the packages, so in CI the tests run."""
    for tool in tools:
        if not find_tool(tool):
            print("SKIP: %s is not installed (Debian packages %s; scripts/deps installs them)" % (tool, packages),
                  flush=True)
            sys.exit(SKIP)


def free_port():
    """A TCP port nobody listens on now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n distinct free TCP ports: the sockets stay bound until all n are
    picked, so the kernel cannot hand out one port twice (free_port() called
    n times can)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


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


def _alive(pid):
    """pid runs (exists and is not a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[:1] != ["Z"]


def stop_orphans(pids, grace=5.0):
    """SIGTERM to processes that are not our children (xinetd's kvsvc, once
    xinetd is gone), then SIGKILL to those still running after grace
    seconds: as Server.stop, by PID, without waitpid."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    pids = [p for p in pids if _alive(p)]
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [p for p in pids if _alive(p)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _die_with_parent():
    # Runs in the child between fork and exec: if this test process dies
    # (even by SIGKILL, a ctest timeout) the server gets SIGTERM.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def read_log(path, limit=4000):
    """The last limit bytes of a log file, as text."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        return data[-limit:].decode(errors="replace")
    except OSError:
        return "(no %s)" % path


def accepts_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def accepts_tcp(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
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

    def kill(self):
        """kill -9: a crash, no shutdown notice to anyone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def describe(self):
        code = self.proc.poll()
        state = "running" if code is None else "exited with %d" % code
        return "%s (pid %d, %s); the end of %s:\n%s" % (self.name, self.pid, state, self.log, read_log(self.log))


def wait_for(what, check, server, seconds=5.0):
    """Polls check() until it is true; StackError (quoting the server's log)
    when seconds pass or the server exits first."""
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


class BaseStack:
    """A temporary directory and the servers started in it; a door's Stack
    derives from it. Use as a context manager (or call close())."""

    def __init__(self, prefix, keep=False):
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.servers = []
        self.xinetd = None
        self.xinetds = []  # every xinetd started (KvHost starts one per host)
        # Called at close() after our servers stopped, before the directory
        # goes (tests/etcd stops its etcd cluster there).
        self.on_close = []
        self.kvstored = None
        self.kvstored_argv = None
        _live_stacks.append(self)

    def add(self, name, argv, log):
        """Starts argv as a Server logging to DIR/log; stopped at close()."""
        server = Server(name, argv, os.path.join(self.dir, log))
        self.servers.append(server)
        return server

    def logs(self):
        parts = [s.describe() for s in self.servers]
        for x in self.xinetds:
            access = os.path.join(os.path.dirname(x.log), "xinetd-access.log")
            parts.append("%s access log:\n%s" % (x.name, read_log(access)))
        return "\n".join(parts)

    # -- kvstore: kvstored + xinetd + kvsvc

    def start_kvstored(self, kvstore_bin, db=False, kvstored_args=()):
        """kvstored on DIR/kv.sock. --config /dev/null: an installed
        /etc/kvstore/kvstored.conf must not change the daemon under test
        (tests/support/kvstore.cc does the same). --capacity 100000: the
        clients tests store 10,000 keys at once and more beside them
        (kvstored's default capacity is 10,000)."""
        kvstored = os.path.join(kvstore_bin, "kvstored")
        kvsvc = os.path.join(kvstore_bin, "kvsvc")
        for exe in (kvstored, kvsvc):
            if not os.access(exe, os.X_OK):
                raise StackError("%s is missing: build it (cmake --build build --target kvstored kvsvc)" % exe)
        if not os.access(XINETD, os.X_OK):
            raise StackError("%s is missing: the Debian package xinetd (scripts/deps installs it)" % XINETD)
        self.kv_socket = os.path.join(self.dir, "kv.sock")
        argv = [kvstored, "--config", "/dev/null", "run", "--socket", self.kv_socket, "--capacity", "100000"]
        if db:
            argv += ["--db", os.path.join(self.dir, "store.db")]
        argv += list(kvstored_args)
        self.kvstored_argv = argv
        self._run_kvstored()

    def _run_kvstored(self):
        self.kvstored = self.add("kvstored", self.kvstored_argv, "kvstored.log")
        wait_for("kvstored has no listener on %s within 5 s" % self.kv_socket,
                 lambda: accepts_unix(self.kv_socket), self.kvstored)

    def restart_kvstored(self, down_seconds=0.0):
        """Stops kvstored (SIGTERM), waits down_seconds, starts it again with
        the same arguments (xinetd and its sessions stay)."""
        self.kvstored.stop()
        self.servers.remove(self.kvstored)
        time.sleep(down_seconds)
        self._run_kvstored()

    def kvsvc_usage(self, kvstore_bin):
        kvsvc = os.path.join(kvstore_bin, "kvsvc")
        return subprocess.run([kvsvc, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=10).stdout.decode(errors="replace")

    def start_xinetd(self, service, server, server_args, subdir=""):
        """A private xinetd whose one service (named service) runs server
        with server_args on a free port; returns the port. Its files go to
        DIR/subdir (a KvHost's own directory)."""
        port = free_port()
        xdir = os.path.join(self.dir, subdir)
        conf = os.path.join(xdir, "xinetd.conf")
        with open(conf, "w") as f:
            f.write(self._xinetd_config(service, port, server, server_args, xdir))
        xlog = os.path.join(xdir, "xinetd.log")
        self.xinetd = self.add("xinetd " + subdir if subdir else "xinetd",
                               [XINETD, "-dontfork", "-f", conf, "-pidfile", os.path.join(xdir, "xinetd.pid"),
                                "-filelog", xlog], os.path.join(subdir, "xinetd.out"))
        self.xinetds.append(self.xinetd)
        wait_for("xinetd did not start working", lambda: "Started working" in read_log(xlog), self.xinetd)
        return port

    def _xinetd_config(self, service, port, server, server_args, xdir):
        # The settings of tests/support/xinetd.cc (kvsvc_service), with cps
        # raised as bench/run does: the hostile tests open 1,000 connections
        # quickly, and xinetd's default cps would switch the service off.
        # (xinetd allows comments on their own lines only.)
        def section(header, settings):
            return header + "\n{\n" + "".join("    %-16s= %s\n" % kv for kv in settings) + "}\n"

        defaults = [("log_type", "FILE " + os.path.join(xdir, "xinetd-access.log")),
                    ("log_on_success", "PID HOST EXIT DURATION"), ("log_on_failure", "HOST")]
        settings = [("type", "UNLISTED"), ("socket_type", "stream"), ("protocol", "tcp"), ("wait", "no"),
                    ("user", pwd.getpwuid(os.getuid()).pw_name), ("server", server),
                    ("server_args", server_args), ("bind", "127.0.0.1"),
                    ("port", str(port)), ("only_from", "127.0.0.1"), ("instances", "1500"),
                    ("per_source", "UNLIMITED"), ("cps", "100000 1"), ("flags", "NODELAY"), ("disable", "no")]
        return section("defaults", defaults) + "\n" + section("service " + service, settings)

    # -- stopping

    def close(self):
        if self not in _live_stacks:
            return
        _live_stacks.remove(self)
        # xinetd does not stop the kvsvc processes it started: note them
        # first, stop xinetd, then them (by PID).
        kids = [k for x in self.xinetds if x.running() for k in child_pids(x.pid)]
        for s in reversed(self.servers):
            s.stop()
        stop_orphans(kids)
        for f in self.on_close:
            f()
        if self.keep:
            print("kept %s" % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class KvHost:
    """One kvstore front host inside a BaseStack, for the replicated store
    (tests/etcd: several hosts over one etcd cluster): kvstored on
    DIR/NAME/kv.sock with its admin socket DIR/NAME/admin.sock, and its own
    xinetd on its own loopback port (port) running `kvsvc --socket
    DIR/NAME/kv.sock` (the line protocol) per connection. kvstored can be
    killed (-9), stopped and started again with the same arguments while
    xinetd stays, as a host's kvstored restarts under a running xinetd."""

    def __init__(self, stack, name, kvstore_bin, kvstored_args, ready_seconds=5.0):
        self.stack = stack
        self.name = name
        self.dir = os.path.join(stack.dir, name)
        os.mkdir(self.dir)
        kvstored = os.path.join(kvstore_bin, "kvstored")
        kvsvc = os.path.join(kvstore_bin, "kvsvc")
        for exe in (kvstored, kvsvc):
            if not os.access(exe, os.X_OK):
                raise StackError("%s is missing: build it (cmake --build build --target kvstored kvsvc)" % exe)
        if not os.access(XINETD, os.X_OK):
            raise StackError("%s is missing: the Debian package xinetd (scripts/deps installs it)" % XINETD)
        self.socket = os.path.join(self.dir, "kv.sock")
        self.admin_socket = os.path.join(self.dir, "admin.sock")
        self.kvstored_bin = kvstored
        # --config /dev/null: an installed /etc/kvstore/kvstored.conf must
        # not change the daemon under test.
        self.argv = [kvstored, "--config", "/dev/null", "--admin-socket", self.admin_socket, "run",
                     "--socket", self.socket] + list(kvstored_args)
        self.ready_seconds = ready_seconds
        self.kvstored = None
        self.start()
        self.port = stack.start_xinetd("kvstore-" + name, kvsvc, "--socket %s" % self.socket, subdir=name)
        self.xinetd = stack.xinetd

    def start(self):
        """Starts kvstored (again) and waits (bounded: ready_seconds; a
        replicated store loads everything first) for its listener."""
        self.kvstored = self.stack.add("kvstored " + self.name, self.argv, os.path.join(self.name, "kvstored.log"))
        wait_for("kvstored %s has no listener on %s within %.0f s" % (self.name, self.socket, self.ready_seconds),
                 lambda: accepts_unix(self.socket), self.kvstored, self.ready_seconds)

    def running(self):
        return self.kvstored is not None and self.kvstored.running()

    def kill9(self):
        """kill -9 kvstored (its sessions are reset; xinetd stays)."""
        self.kvstored.kill()

    def stop(self):
        """SIGTERM kvstored and wait for it to exit (its shutdown notice)."""
        self.kvstored.stop()

    def restart(self):
        if self.running():
            self.stop()
        self.start()

    def admin(self, *args, timeout=15):
        """`kvstored --admin-socket ADMIN ARGS...`: (exit code, output)."""
        r = subprocess.run([self.kvstored_bin, "--config", "/dev/null", "--admin-socket", self.admin_socket]
                           + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return r.returncode, r.stdout.decode(errors="replace")

    def log(self):
        return self.kvstored.describe() if self.kvstored else "(kvstored %s never started)" % self.name


class DoorStack(BaseStack):
    """A reference server and a system under test (SUT): kvstore (with
    kvstore_bin: kvstored, and xinetd running kvsvc --protocol DOOR), or a
    second reference server (without), so that the tests can be developed and
    checked against the reference itself. A door's Stack names its reference
    (reference = "redis-server", "memcached") and says how to start it
    (start_reference) and kvstore (start_kvstore, with start_door). Ports:
    ref_port, sut_port."""

    reference = None

    def __init__(self, prefix, kvstore_bin=None, db=False, keep=False, kvstored_args=(), **sut_options):
        super().__init__(prefix, keep)
        self.kvstore_bin = os.path.abspath(kvstore_bin) if kvstore_bin else None
        self.sut_reference = None
        try:
            self.ref = self.start_reference("reference")
            self.ref_port = self.ref.port
            if self.kvstore_bin:
                self.start_kvstore(db, kvstored_args)
                self.sut_name = "kvstore"
            else:
                self.sut_reference = self.start_reference("sut", **sut_options)
                self.sut_port = self.sut_reference.port
                self.sut_name = self.reference
        except BaseException:
            self.close()
            raise

    # -- what the tests use

    @property
    def is_kvstore(self):
        return self.kvstored is not None

    @property
    def sut_memory_pid(self):
        """The process whose memory the hostile tests bound: kvstored (it
        parses the protocol) or the second reference server."""
        return self.kvstored.pid if self.kvstored else self.sut_reference.pid

    def sut_alive(self):
        return (self.kvstored or self.sut_reference).running() and (self.xinetd is None or self.xinetd.running())

    def describe(self):
        if self.kvstored:
            return ("SUT kvstore on 127.0.0.1:%d (xinetd pid %d, kvstored pid %d); reference %s on "
                    "127.0.0.1:%d (pid %d); dir %s" % (self.sut_port, self.xinetd.pid, self.kvstored.pid,
                                                        self.reference, self.ref_port, self.ref.pid, self.dir))
        return ("SUT %s on 127.0.0.1:%d (pid %d); reference %s on 127.0.0.1:%d (pid %d); dir %s"
                % (self.reference, self.sut_port, self.sut_reference.pid, self.reference, self.ref_port,
                   self.ref.pid, self.dir))

    # -- starting (start_reference and start_kvstore are the door's)

    def start_reference(self, name, **options):
        raise NotImplementedError

    def start_kvstore(self, db, kvstored_args):
        raise NotImplementedError

    def start_door(self, door, answers, conn_class, hello, expected, hint=""):
        """xinetd running kvsvc --protocol door on sut_port; StackError unless
        answers(sut_port, timeout) within 5 s. The error quotes what the SUT
        sends to hello (bytes) on a fresh conn_class connection; expected
        says what it should have answered, hint what that may mean."""
        self.sut_port = self.start_xinetd("kvstore-" + door, os.path.join(self.kvstore_bin, "kvsvc"),
                                          "--protocol %s --socket %s" % (door, self.kv_socket))
        if answers(self.sut_port, 5.0):
            return
        try:
            with conn_class(self.sut_port, timeout=2) as c:
                c.send(hello)
                got, _ = c.read_until_close(2)
        except OSError as e:
            got = str(e).encode()
        raise StackError("kvsvc --protocol %s through xinetd on 127.0.0.1:%d does not answer %s (got %r)%s\n%s"
                         % (door, self.sut_port, expected, got[:300], hint, self.logs()))


def serve_main(stack_class, description, skip, how_to_poke):
    """A door's stack.py run by hand: start stack_class's servers, print
    how_to_poke(stack), wait (--serve SECONDS at most) for Ctrl-C."""
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser, stack_class.reference)
    parser.add_argument("--serve", type=float, default=600, metavar="SECONDS",
                        help="stop after this long at most (default 600)")
    args = parser.parse_args()
    skip()
    with stack_class(args.kvstore, db=args.db, keep=args.keep) as stack:
        print(stack.describe(), flush=True)
        print(how_to_poke(stack) + "; Ctrl-C stops", flush=True)
        deadline = time.monotonic() + args.serve
        while time.monotonic() < deadline and stack.sut_alive():
            time.sleep(0.2)
    return 0


def run_main(main):
    """sys.exit(main()), with a StackError (a server that did not start, a
    kvsvc without the door) reported as one FAIL line, not a trace."""
    try:
        sys.exit(main())
    except StackError as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
