"""`python -m tests.soak.post_flows_latency [--items N] [--unpatched]`: POST /flows on a table of N items.

Starts the local stack in this process, fills its table with N run-like items (about 1 KB each, 1,000 per
execution partition), then stores ten new flows one after another and prints each request's time, the median
and this process's peak RSS. `--unpatched` leaves moto as it is released (local/moto_patches.py not applied), to
compare with.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import time

import boto3

from local import moto_patches
from local.runtime import LocalRuntime
from tests.conftest import example
from tests.e2e.conftest import Client

BATCH = 25


def fill(runtime: LocalRuntime, count: int) -> None:
    assert runtime.stack is not None
    dynamodb = boto3.client("dynamodb", endpoint_url=runtime.moto_url)
    output = json.dumps({"records": list(range(150))})
    for start in range(0, count, BATCH):
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"EXEC#filler-{index // 1000}"},
                        "sk": {"S": f"RUN#{index % 1000:06d}#task"},
                        "status": {"S": "SUCCESS"},
                        "attempt": {"N": "1"},
                        "output": {"S": output},
                    }
                }
            }
            for index in range(start, min(count, start + BATCH))
        ]
        dynamodb.batch_write_item(RequestItems={runtime.stack.table_name: items})


def peak_rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--unpatched", action="store_true", help="moto as released, to compare with")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if args.unpatched:
        moto_patches._applied.append("left out on purpose")  # apply() now does nothing
    definition = copy.deepcopy(example("data_processing")["flow"])
    with LocalRuntime(port=0, moto_port=0) as runtime:
        started = time.perf_counter()
        fill(runtime, args.items)
        filled = time.perf_counter() - started
        client = Client(runtime.url)
        timings = []
        for index in range(10):
            definition["id"] = f"latency-{index}"
            started = time.perf_counter()
            reply = client.request("POST", "/flows", definition)
            timings.append(time.perf_counter() - started)
            assert reply.status == 201, reply.body
    moto = "moto as released" if args.unpatched else "moto patched"
    print(
        f"{moto}, {args.items} items (filled in {filled:.0f} s): POST /flows "
        + " ".join(f"{t * 1000:.0f}" for t in timings)
    )
    median, worst = statistics.median(timings) * 1000, max(timings) * 1000
    print(f"  median {median:.0f} ms, max {worst:.0f} ms; peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
