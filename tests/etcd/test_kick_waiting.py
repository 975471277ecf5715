"""test_kick_waiting.py (ctest etcd/kick-waiting): a client kicked while its
write waits for etcd hears the write's real outcome. Every etcd member is
paused (SIGSTOP) so that the write stays in flight; the client is kicked;
etcd resumes well within kvstored's --etcd-timeout, so the write commits.
The client must then get OK (and BYE), never "ERR ... shut down before the
write was saved" for a write that is in etcd. Once through a handed-off
session (xinetd's kvsvc: the door) and once through a relaying kvsvc
(stdin a pipe: --no-handoff's path)."""

import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import lineconn  # noqa: E402
import scenario  # noqa: E402

# etcd stays paused this long after the kick: well under --etcd-timeout
# (stack.ETCD_TIMEOUT_MS, 2 s) split over three members.
PAUSE_SECONDS = 0.3


def newest_client(host):
    code, out = host.admin("clients")
    rows = [r.split() for r in out.splitlines()[1:] if r.strip()]
    return max(int(r[0]) for r in rows) if code == 0 and rows else None


def paused(st):
    pids = [m.server.pid for m in st.cluster.members]
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    return pids


def resume(pids):
    for p in pids:
        os.kill(p, signal.SIGCONT)


def kick_while_waiting(st, check, send, read_all, what):
    a = st.a
    key = "kicked-" + what
    pids = paused(st)
    try:
        send("save %s:v\n" % key)
        time.sleep(0.1)  # the write is in its batch, on its way to a paused etcd
        kick = threading.Thread(target=a.admin, args=("kick", str(newest_client(a))))
        kick.start()
        time.sleep(PAUSE_SECONDS)
    finally:
        resume(pids)
    out = read_all()
    kick.join(20)
    with lineconn.Conn(st.b.port, timeout=10) as c:
        check(c.call("sync").startswith("OK synced"), "sync on b")
        stored = c.call("read " + key) == "VALUE v"
    lines = [ln for ln in out.splitlines() if ln and not ln.startswith(("HELLO", "OK connected"))]
    print("%s: %r, stored %s" % (what, lines, stored), flush=True)
    # The reply says what happened: OK for a write etcd has, an error for one it has not.
    if stored:
        check(lines[:1] == ["OK"], "%s: kicked while its write waited, the client heard %r of a write etcd has"
              % (what, lines[:1]))
    else:
        check(lines[:1] and lines[0].startswith("ERR unavailable"),
              "%s: the write is not in etcd, and the client heard %r" % (what, lines[:1]))
    check(len(lines) > 1 and lines[1].startswith("BYE"), "%s: no BYE after the reply: %r" % (what, lines))
    return stored


def body(st, check, args):
    # The door: a session handed off by xinetd's kvsvc.
    c = lineconn.Conn(st.a.port, timeout=15)

    def door_read():
        buf = b""
        c.sock.settimeout(15)
        while True:
            x = c.sock.recv(4096)
            if not x:
                return buf.decode()
            buf += x

    stored = [kick_while_waiting(st, check, lambda t: c.sock.sendall(t.encode()), door_read, "door")]
    c.close()
    # The relay: kvsvc with a pipe for stdin sends each request to kvstored.
    kvsvc = subprocess.Popen([os.path.join(st.kvstore_bin, "kvsvc"), "--socket", st.a.socket],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        kvsvc.stdin.write(b"connect\n")
        kvsvc.stdin.flush()
        time.sleep(0.5)

        def relay_send(t):
            kvsvc.stdin.write(t.encode())
            kvsvc.stdin.flush()

        def relay_read():
            return kvsvc.communicate(timeout=20)[0].decode()

        stored.append(kick_while_waiting(st, check, relay_send, relay_read, "relay"))
    finally:
        if kvsvc.poll() is None:
            kvsvc.kill()
            kvsvc.wait()
    # etcd resumed well within the timeout: the writes commit (else the
    # test made no race and proved nothing).
    check(all(stored), "writes not in etcd after the pause: %r (door, relay)" % stored)


if __name__ == "__main__":
    scenario.main(body, __doc__)
