"""test_fault_leader.py (ctest etcd/fault-leader): kill -9 the etcd leader
under load (3 writers through each host). The survivors elect a new leader;
writes in flight may be answered `ERR unavailable` (outcome unknown), none
hangs past the timeout, writes go on by themselves without anyone
restarting kvstored; the killed member restarts on its data directory and
rejoins. Then every acknowledged write is readable on both hosts.

Each host sends its writes to the leader (stats: etcd_endpoint): at the
start, after leadership moves to another member (etcdctl move-leader, no
failure for a client to notice) and after the leader is killed."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import faults  # noqa: E402
import scenario  # noqa: E402

RESUME_SECONDS = 15.0
# kvstored asks who leads every 2 s (etcd_threads.cc, kLeaderInterval).
FOLLOW_SECONDS = 10.0


def follows(st, member):
    """Whether both hosts' writes go to member within FOLLOW_SECONDS."""
    deadline = time.monotonic() + FOLLOW_SECONDS
    t0 = time.monotonic()
    while True:
        at = [faults.stats(h).get("etcd_endpoint") for h in st.hosts]
        if all(e == member.client_url for e in at):
            print("both hosts write to %s (%s) %.2f s later" % (member.name, member.client_url, time.monotonic() - t0),
                  flush=True)
            return True
        if time.monotonic() > deadline:
            print("the hosts write to %s, not to the leader %s (%s)" % (at, member.name, member.client_url), flush=True)
            return False
        time.sleep(0.2)


def body(st, check, args):
    load = faults.Load(st)
    try:
        check(load.wait_acked(100, 20), "no 100 writes acknowledged within 20 s on a healthy cluster")
        leader = st.cluster.leader()
        check(follows(st, leader), "the hosts' writes do not go to the leader")
        moved_to = st.cluster.followers()[-1]
        st.cluster.etcdctl("move-leader", "%x" % int(moved_to.member_id()))
        check(st.cluster.leader() is moved_to, "etcdctl move-leader did not make %s the leader" % moved_to.name)
        check(follows(st, moved_to), "the hosts' writes did not follow the leader to another member")
        check(load.wait_acked(100, RESUME_SECONDS), "writes stalled after the leader moved")
        leader = st.cluster.leader()
        t0 = time.monotonic()
        st.cluster.kill9(leader)
        print("killed the leader %s" % leader.name, flush=True)
        new = st.cluster.leader()
        print("new leader %s after %.2f s" % (new.name, time.monotonic() - t0), flush=True)
        ok = load.wait_acked(100, RESUME_SECONDS)
        check(ok, "writes did not resume within %.0f s of killing the leader" % RESUME_SECONDS)
        print("100 writes acknowledged %.2f s after the kill" % (time.monotonic() - t0), flush=True)
        check(follows(st, st.cluster.leader()), "the hosts' writes did not follow the new leader")
        st.cluster.start(leader)
        check(load.wait_acked(100, RESUME_SECONDS), "writes stalled after the member rejoined")
        # A second kill: the leader again (maybe the same member).
        second = st.cluster.leader()
        st.cluster.kill9(second)
        check(load.wait_acked(100, RESUME_SECONDS), "writes did not resume after the second leader kill")
        st.cluster.start(second)
        check(load.wait_acked(50, RESUME_SECONDS), "writes stalled after the second member rejoined")
    finally:
        stuck = load.stop()
    check(not stuck, "%d writers did not finish within the reply timeout" % len(stuck))
    faults.account(st, load, check)


if __name__ == "__main__":
    scenario.main(body, __doc__)
