#!/usr/bin/python3
"""test_memccapable.py: libmemcached's conformance checker against the system
under test: `memccapable -h 127.0.0.1 -p PORT -a` (the text protocol tests
only). Every test line must end in [pass]; any [fail] (or a run that ends
without "All tests passed") fails. memccapable is in Debian's
libmemcached-tools.

Usage: /usr/bin/python3 tests/memcache/test_memccapable.py [--kvstore build/bin]
Exit status: 0 passed, 1 failed, 77 memcached or memccapable missing.
"""

import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import stack  # noqa: E402  (puts tests/pylib on sys.path)
import kvstack  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stack.add_arguments(parser)
    args = parser.parse_args()
    stack.skip_unless_memcached("memccapable")
    with stack.Stack(args.kvstore, db=args.db, keep=args.keep) as st:
        print(st.describe(), flush=True)
        argv = [kvstack.find_tool("memccapable"), "-h", "127.0.0.1", "-p", str(st.sut_port), "-a"]
        try:
            run = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 timeout=120)
            out, code = run.stdout.decode(errors="replace"), run.returncode
        except subprocess.TimeoutExpired as e:
            out, code = (e.stdout or b"").decode(errors="replace") + "\n(timed out after 120 s)", -1
        print(out, flush=True)
        results = re.findall(r"^(ascii .*?)\s+\[(\w+)\]\s*$", out, re.M)
        failed = [name for name, verdict in results if verdict != "pass"]
        if failed or not results or "All tests passed" not in out or code != 0:
            print("FAIL: memccapable -a (exit %d): %d ascii tests, not passed: %s"
                  % (code, len(results), ", ".join(failed) or "(see the output)"))
            if not st.sut_alive():
                print(st.logs())
            return 1
    print("all %d ascii tests passed" % len(results))
    return 0


if __name__ == "__main__":
    stack.run_main(main)
