"""`make bench`: run the workloads and the timings, write bench/results.json, print the table.

It reports the targets of issue 5 and exits 0 whether they are met or not: the numbers are the point.
It exits non-zero only when it could not measure (an execution that did not complete, a crash).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from importlib.metadata import version

from bench.workloads import ROOT, prepare_environment

RESULTS = ROOT / "bench" / "results.json"


def main() -> int:
    prepare_environment()
    from bench import micro, report
    from bench.workloads import ServiceUnderTest, workloads

    started = time.perf_counter()
    runs = []
    for workload in workloads():
        print(f"running {workload.name} ...", file=sys.stderr, flush=True)
        # A fresh moto account each: moto copies every table on each transaction item, so a table left
        # large by one workload would slow the next one's transactions (and inflate its billed time).
        with ServiceUnderTest() as service:
            runs.append(service.run(workload))
    print("timing the engine, the runner and cold imports ...", file=sys.stderr, flush=True)
    decision_us = micro.engine_decision_us()
    overhead = micro.runner_overhead()
    cold = micro.cold_init()

    environment = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "moto": version("moto"),
        "boto3": version("boto3"),
        "aws_lambda_powertools": version("aws-lambda-powertools"),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    document = report.results(runs, cold, decision_us, overhead, environment)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(report.render(document))
    print(f"\nwrote {RESULTS.relative_to(ROOT)} in {environment['total_seconds']} s")
    wrong = [
        f"{run.workload.name} ({run.status}, {run.transitions} of {run.workload.expected_transitions} transitions)"
        for run in runs
        if run.status != "COMPLETED" or run.transitions != run.workload.expected_transitions
    ]
    if wrong:
        print(f"these executions did not run as designed, so their numbers mean little: {wrong}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
