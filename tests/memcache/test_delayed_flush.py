#!/usr/bin/python3
"""test_delayed_flush.py: `flush_all <delay>` through kvstore's memcached door
really deletes every entry at its time (docs/memcache.md), also when kvstored
restarts in between: kvstore keeps its data across restarts, so the flush a
client was told OK about must survive one too. An immediate flush_all cancels
a pending delayed one, as in memcached (the latest flush_all decides).

Against kvstore only (with --db): memcached loses everything at a restart, so
there is nothing to compare. Waits are polls bounded in time (the delays are
2 s).

Usage: /usr/bin/python3 tests/memcache/test_delayed_flush.py --kvstore build/bin
Exit status: 0 passed, 1 failed, 77 memcached missing (the stack starts one).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mc  # noqa: E402
import stack  # noqa: E402

DELAY = 2  # seconds


def get(port, key):
    with mc.Conn(port) as c:
        return c.call(b"get " + key)


def gone_within(port, key, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if get(port, key) == b"END\r\n":
            return True
        time.sleep(0.1)
    return False


def check(failures, what, ok):
    print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)
    if not ok:
        failures.append(what)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stack.add_arguments(parser)
    args = parser.parse_args()
    stack.skip_unless_memcached()
    if not args.kvstore:
        print("SKIP: kvstore only (--kvstore BUILD_BIN_DIR)", flush=True)
        return stack.SKIP
    failures = []
    with stack.Stack(args.kvstore, db=True, keep=args.keep) as st:
        port = st.sut_port
        with mc.Conn(port) as c:
            # A delayed flush across a restart.
            check(failures, "set a", c.call(b"set a 0 0 1\r\nx") == b"STORED\r\n")
            check(failures, "flush_all 2 answers OK", c.call(b"flush_all %d" % DELAY) == b"OK\r\n")
            check(failures, "a is still there at once", get(port, b"a").startswith(b"VALUE a "))
        st.restart_kvstored()
        check(failures, "kvstored's log says the flush is pending",
              "delayed flush_all recorded before the restart" in stack.kvstack.read_log(st.kvstored.log))
        check(failures, "after the restart, a is gone at the flush's time", gone_within(port, b"a", DELAY + 5))
        check(failures, "kvstored logged the flush",
              "delayed flush_all: deleted" in stack.kvstack.read_log(st.kvstored.log))
        # The flush is done once: a key written after it stays, across another restart.
        with mc.Conn(port) as c:
            check(failures, "set b after the flush", c.call(b"set b 0 0 1\r\ny") == b"STORED\r\n")
        st.restart_kvstored()
        time.sleep(0.5)
        check(failures, "b stays after another restart", get(port, b"b").startswith(b"VALUE b "))
        # An immediate flush_all cancels a pending delayed one.
        with mc.Conn(port) as c:
            check(failures, "flush_all 2 again", c.call(b"flush_all %d" % DELAY) == b"OK\r\n")
            check(failures, "flush_all (now)", c.call(b"flush_all") == b"OK\r\n")
            check(failures, "set c", c.call(b"set c 0 0 1\r\nz") == b"STORED\r\n")
        time.sleep(DELAY + 1.0)
        check(failures, "c stays: the delayed flush was cancelled", get(port, b"c").startswith(b"VALUE c "))
        if failures:
            print(st.logs())
    if failures:
        print("FAIL: %d check(s): %s" % (len(failures), "; ".join(failures)))
        return 1
    print("delayed flush_all: every check passed")
    return 0


if __name__ == "__main__":
    stack.run_main(main)
