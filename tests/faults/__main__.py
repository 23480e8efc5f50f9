"""`make faults`: every fault of tests/faults/scenarios.py, each in a fresh in-process moto account.

Prints one row per fault (PASS or FAIL, its name, what it showed or why it failed), then `N passed, M failed`;
the exit code is non-zero when a fault failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback

from tests.faults.scenarios import SCENARIOS, Fault
from tests.harness import local_account, on_fresh_stack


def run(fault: Fault, verbose: bool) -> tuple[bool, str]:
    try:
        with local_account() as harness:
            if not verbose:
                from flowcore.observability import logger

                logger.setLevel(logging.CRITICAL)  # the rows are the report; the service's own logs are noise here
            return True, on_fresh_stack(lambda: fault.run(harness))
    except Exception as error:  # noqa: BLE001 - a fault's failure is a row, not the end of the suite
        if verbose:
            traceback.print_exc()
        return False, f"{type(error).__name__}: {error}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("-k", dest="match", default="", help="run only the faults whose name contains this")
    parser.add_argument("-v", "--verbose", action="store_true", help="keep the service's logs and print tracebacks")
    args = parser.parse_args(argv)
    selected = [fault for fault in SCENARIOS if args.match.lower() in fault.name.lower()]
    width = max((len(fault.name) for fault in selected), default=0)
    passed = failed = 0
    started = time.perf_counter()
    for fault in selected:
        tick = time.perf_counter()
        ok, detail = run(fault, args.verbose)
        seconds = time.perf_counter() - tick
        print(f"{'PASS' if ok else 'FAIL'}  {fault.name:<{width}}  {detail} ({seconds:.1f} s)", flush=True)
        passed, failed = passed + ok, failed + (not ok)
    print(f"({time.perf_counter() - started:.1f} s in all)", file=sys.stderr, flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
