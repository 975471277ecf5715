"""scenario.py: what every etcd scenario test (tests/etcd/test_*.py) does
around its body: options, the skip when etcd is not installed, the stack,
the list of failures, the logs when something failed, the exit code.

A scenario is a function body(stack, check, args) where check(cond, text)
records a failure when cond is false (and returns cond), so that a test
reports every problem it finds, not only the first.
"""

import argparse
import os
import random
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import stack as etcdstack  # noqa: E402
from kvstack import run_main  # noqa: E402


class Checks:
    def __init__(self):
        self.failures = []

    def __call__(self, cond, text):
        if not cond:
            self.failures.append(text)
            print("FAIL: %s" % text, flush=True)
        return cond

    def extend(self, texts, prefix=""):
        for t in texts:
            self(False, prefix + t)


def main(body, description, capacity=100000, hosts=2):
    def run():
        parser = argparse.ArgumentParser(description=description)
        etcdstack.add_arguments(parser)
        args = parser.parse_args()
        etcdstack.skip_unless_tools()
        args.seed = args.seed if args.seed is not None else int(time.time())
        args.rnd = random.Random(args.seed)
        print("seed %d" % args.seed, flush=True)
        check = Checks()
        t0 = time.monotonic()
        with etcdstack.Stack(args.kvstore, hosts=hosts, capacity=capacity, keep=args.keep) as st:
            print(st.describe(), flush=True)
            try:
                body(st, check, args)
            except Exception:
                check(False, "the scenario raised:\n" + traceback.format_exc())
            if check.failures:
                print("--- logs\n" + st.logs(), flush=True)
        print("%d failures in %.1f s" % (len(check.failures), time.monotonic() - t0), flush=True)
        return 1 if check.failures else 0

    run_main(run)
