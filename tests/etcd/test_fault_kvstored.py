"""test_fault_kvstored.py (ctest etcd/fault-kvstored): kill -9 one host's
kvstored under load. Its sessions are reset (their writes in flight have an
unknown outcome); the other host keeps serving, reads and writes; the killed
kvstored restarts (under the same xinetd), loads the store from etcd and
sees everything, including what was written while it was down. Then every
acknowledged write is readable on both hosts."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import faults  # noqa: E402
import scenario  # noqa: E402
import stack as etcdstack  # noqa: E402


def body(st, check, args):
    load = faults.Load(st)
    try:
        check(load.wait_acked(100, 20), "no 100 writes acknowledged within 20 s on a healthy cluster")
        st.b.kill9()
        print("killed kvstored b (pid %d)" % st.b.kvstored.pid, flush=True)
        check(load.wait_acked(200, 20), "host a did not go on acknowledging writes with b's kvstored dead")
        t0 = time.monotonic()
        st.b.start()
        etcdstack.wait_serving(st.b)
        print("b serves again %.2f s after its restart" % (time.monotonic() - t0), flush=True)
        check(load.wait_acked(100, 20), "writes did not go on after b's restart")
        # Kill a's kvstored as well, while b is fresh.
        st.a.kill9()
        check(load.wait_acked(100, 20), "host b did not go on acknowledging writes with a's kvstored dead")
        st.a.start()
        etcdstack.wait_serving(st.a)
        check(load.wait_acked(50, 20), "writes did not go on after a's restart")
    finally:
        stuck = load.stop()
    check(not stuck, "%d writers did not finish within the reply timeout" % len(stuck))
    faults.account(st, load, check)


if __name__ == "__main__":
    scenario.main(body, __doc__)
