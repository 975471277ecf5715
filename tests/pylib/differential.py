"""differential.py: the runner the doors' differential tests
(tests/redis/test_differential.py, tests/memcache/test_differential.py)
share: the command line (--seed, --commands, --seconds, --self-check), the
stack, and the verdict. The door's test supplies the steps (a body that
returns the malformed-request failures and a summary) and its Mismatch.

--self-check checks the checker: the body writes to the SUT alone early on;
the run passes only if that is caught as a Mismatch (and fails with
SelfCheckMissed if the body ends without one).
"""

import argparse
import random
import sys
import time


class SelfCheckMissed(Exception):
    """--self-check: the steps ran to their end without a Mismatch."""

    def __init__(self, steps):
        super().__init__("the SUT-only write was not caught in %d steps" % steps)


def parse_arguments(description, stack_module, commands_help, self_check_help):
    parser = argparse.ArgumentParser(description=description)
    stack_module.add_arguments(parser)
    parser.add_argument("--seed", type=int, help="replay this seed (default: a random one, printed)")
    parser.add_argument("--commands", type=int, default=3000, help=commands_help)
    parser.add_argument("--seconds", type=float, default=120, help="time limit for the random steps (default 120)")
    parser.add_argument("--self-check", action="store_true", help=self_check_help)
    return parser.parse_args()


def run(args, stack_module, mismatch, errors, body, malformed_count, stack_options=None):
    """Starts the stack and runs body(st, seed, deadline, history), which
    returns (failures, summary): the malformed requests that differ (of
    malformed_count) and what ran. mismatch is the test's Mismatch; errors
    the other exceptions that fail the run with the history printed.
    stack_options: more keyword arguments for the Stack. Returns the exit
    status."""
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    print("seed %d (rerun: %s --seed %d%s)" % (seed, sys.argv[0], seed,
                                                " --kvstore " + args.kvstore if args.kvstore else ""), flush=True)
    history = []
    start = time.monotonic()
    with stack_module.Stack(args.kvstore, db=args.db, keep=args.keep, **(stack_options or {})) as st:
        print(st.describe(), flush=True)
        try:
            failures, summary = body(st, seed, start + args.seconds, history)
        except SelfCheckMissed as e:
            print("FAIL: --self-check: %s" % e)
            return 1
        except (mismatch,) + tuple(errors) as e:
            if args.self_check and isinstance(e, mismatch):
                print("self-check passed: the SUT-only write was caught:\n%s" % e)
                return 0
            print("FAIL (seed %d): %s: %s\nthe commands before it:\n  %s"
                  % (seed, type(e).__name__, e, "\n  ".join(history)), flush=True)
            if not st.sut_alive():
                print(st.logs())
            return 1
        if failures:
            print("FAIL (seed %d): %d of %d malformed requests differ:\n%s"
                  % (seed, len(failures), malformed_count, "\n".join(failures)))
            return 1
    print("identical: %s (seed %d), %d malformed requests, in %.1f s"
          % (summary, seed, malformed_count, time.monotonic() - start))
    return 0
