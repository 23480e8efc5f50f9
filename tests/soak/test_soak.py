"""`make soak`: the local stack stays under 1 GB through a working day's load, in a few minutes.

It starts `python -m local` in a process of its own under an address-space cap, runs 1,000 executions of
examples/data_processing.json and one execution of a two-task loop that runs until the flow's transition limit
(10,000 runs) fails it, waits for all of them to end, and asserts the stack's resident memory never went over
1 GB. Meanwhile it stores 100 inputs of 1 MB through the API and 20 objects of 10 MB (what the runner stores for
the largest outputs) straight into the payload bucket, and downloads some: 300 MB the bucket holds on disk, not
in memory. It prints the figures: peak and final RSS, how long it took, and `POST /flows` on the full table.
"""

from __future__ import annotations

import copy
import hashlib
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.stack import FAKE_CREDENTIALS, REGION
from tests.conftest import ROOT, example
from tests.e2e.conftest import TERMINAL, Client, command_environment

pytestmark = pytest.mark.soak

RSS_LIMIT_BYTES = 1024**3
#: The cap on the stack's address space: far above the RSS bound (threads reserve stacks they never touch),
#: low enough that a leak ends the stack rather than the machine.
ADDRESS_SPACE_CAP_BYTES = 6 * 1024**3
SAMPLE_EXECUTIONS = 1000
LOOP_RUNS = 10_000
DEADLINE_SECONDS = 900
CLIENTS = 8
LARGE_INPUTS = 100
LARGE_INPUT_BYTES = 1_000_000
LARGEST_OUTPUTS = 20
LARGEST_OUTPUT_BYTES = 10 * 1024 * 1024
BUCKET = "flow-manager-local-payloads"  # the stack's default name, as `python -m local` creates it


def loop_flow() -> dict[str, Any]:
    """a -> b -> a -> ... until `max_transitions` ends it: FAILED with the transition limit as its error."""
    return {
        "id": "soak-loop",
        "name": "a loop that only the transition limit stops",
        "start_task": "a",
        "max_transitions": LOOP_RUNS,
        "tasks": [{"name": "a", "type": "pass"}, {"name": "b", "type": "pass"}],
        "conditions": [
            {"source_task": "a", "outcome": "success", "target_task_success": "b", "target_task_failure": "end"},
            {"source_task": "b", "outcome": "success", "target_task_success": "a", "target_task_failure": "end"},
        ],
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def memory(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in bytes."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0]) * 1024
    return figures


class Stack:
    """`python -m local` in its own process, on ports it picked, with its data in a folder of the test's."""

    def __init__(self, data: Path) -> None:
        port, moto_port = free_port(), free_port()
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        command = [sys.executable, "-m", "local", "--port", str(port), "--moto-port", str(moto_port)]
        self.process = subprocess.Popen(
            [*command, "--data-dir", str(data), "--log-level", "WARNING"],
            cwd=ROOT,
            env=command_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Capped from the start: it has not yet imported moto, let alone allocated anything that matters.
        resource.prlimit(self.process.pid, resource.RLIMIT_AS, (ADDRESS_SPACE_CAP_BYTES, ADDRESS_SPACE_CAP_BYTES))
        self.output: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = f"http://127.0.0.1:{port}"
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        """At WARNING the stack prints nothing when it is up: ask it, as a user would."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", int(self.url.rsplit(":", 1)[1])), timeout=1):
                    if Client(self.url).request("GET", "/health").status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the stack never came up:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> float:
        started = time.monotonic()
        self.process.send_signal(2)
        self.process.wait(timeout=120)
        return time.monotonic() - started


class PeakMeter:
    """Samples the stack's RSS every half second (VmHWM catches what falls between two samples)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.samples.append(memory(self._pid)["VmRSS"])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path / "data")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def wait_for_end(client: Client, execution_id: str, deadline: float) -> dict[str, Any]:
    while True:
        document: dict[str, Any] = client.request("GET", f"/executions/{execution_id}").json()
        if document["status"] in TERMINAL:
            return document
        assert time.monotonic() < deadline, f"{execution_id} still {document['status']} at the deadline"
        time.sleep(2.0)


def wait_for_loop(client: Client, deadline: float) -> dict[str, Any]:
    """The loop's status from the flow's list of executions (a summary): its full status document is 10,000
    runs long, and reading it every few seconds would be a large share of the stack's work."""
    while True:
        summary: dict[str, Any] = client.request("GET", "/executions?flow_id=soak-loop").json()["executions"][0]
        if summary["status"] in TERMINAL:
            document: dict[str, Any] = client.request("GET", f"/executions/{summary['execution_id']}").json()
            return document
        assert time.monotonic() < deadline, f"the loop is still {summary['status']} at the deadline"
        time.sleep(2.0)


def wait_for_all(client: Client, ids: list[str], deadline: float) -> dict[str, dict[str, Any]]:
    """Wait for the last one, then read each (waiting for any still going): polling a thousand executions
    every second would itself be most of the stack's load."""
    wait_for_end(client, ids[-1], deadline)
    return {execution_id: wait_for_end(client, execution_id, deadline) for execution_id in ids}


def post_flows_seconds(client: Client, count: int = 10) -> list[float]:
    definition = copy.deepcopy(example("data_processing")["flow"])
    timings = []
    for index in range(count):
        definition["id"] = f"soak-latency-{index}"
        started = time.perf_counter()
        reply = client.request("POST", "/flows", definition)
        timings.append(time.perf_counter() - started)
        assert reply.status == 201, reply.body
    return timings


def store_payloads(stack: Stack, client: Client) -> int:
    """Large inputs through the API (a few downloaded back), and the largest outputs straight into the bucket;
    the bytes stored."""

    def start(number: int) -> str:
        given = {"n": number, "blob": "p" * (LARGE_INPUT_BYTES - 30)}
        reply = client.request("POST", "/flows/flow123/executions", {"input": given})
        assert reply.status == 202, reply.body
        execution_id: str = reply.json()["execution_id"]
        return execution_id

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(start, range(LARGE_INPUTS)))
    for execution_id in ids[:10]:
        reference = client.request("GET", f"/executions/{execution_id}").json()["input_ref"]
        assert client.request("GET", reference["ref"]).json()["blob"].startswith("ppp")  # followed to the link
    s3: Any = boto3.client(
        "s3",
        endpoint_url=stack.moto_url,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    for number in range(LARGEST_OUTPUTS):
        body = b'"' + bytes([97 + number]) * (LARGEST_OUTPUT_BYTES - 2) + b'"'
        key = f"executions/soak-outputs/{hashlib.sha256(body).hexdigest()}.json"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="application/json")
    return LARGE_INPUTS * LARGE_INPUT_BYTES + LARGEST_OUTPUTS * LARGEST_OUTPUT_BYTES


def test_the_stack_stays_under_1_gb(stack: Stack) -> None:
    started = time.monotonic()
    deadline = started + DEADLINE_SECONDS
    client = Client(stack.url)
    meter = PeakMeter(stack.process.pid)
    idle = memory(stack.process.pid)["VmRSS"]

    assert client.request("POST", "/flows", loop_flow()).status == 201
    assert client.request("POST", "/flows/soak-loop/executions", {}).status == 202
    assert client.request("POST", "/flows", example("data_processing")).status in (200, 201)

    def start(_: int) -> str:
        reply = client.request("POST", "/flows/flow123/executions", {"input": {"day": "monday"}})
        assert reply.status == 202, reply.body
        execution_id: str = reply.json()["execution_id"]
        return execution_id

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        sample_ids = list(pool.map(start, range(SAMPLE_EXECUTIONS)))
    started_all = time.monotonic() - started
    stored = store_payloads(stack, client)
    samples = wait_for_all(client, sample_ids, deadline)
    loop = wait_for_loop(client, deadline)
    ended_all = time.monotonic() - started
    latency = post_flows_seconds(client)
    meter.stop()
    figures = memory(stack.process.pid)
    stop_seconds = stack.stop()

    peak = max([figures["VmHWM"], *meter.samples])
    print(
        f"\nsoak: {SAMPLE_EXECUTIONS} sample executions + one {LOOP_RUNS}-run loop ended in {ended_all:.0f} s "
        f"(all started after {started_all:.0f} s); RSS idle {idle / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB, "
        f"at the end {figures['VmRSS'] / 2**20:.0f} MiB (limit {RSS_LIMIT_BYTES / 2**20:.0f} MiB); "
        f"POST /flows on the full table: median {statistics.median(latency) * 1000:.0f} ms, "
        f"max {max(latency) * 1000:.0f} ms; clean stop (with the save) {stop_seconds:.1f} s; "
        f"{stored / 2**20:.0f} MiB of payloads stored"
    )
    assert {document["status"] for document in samples.values()} == {"COMPLETED"}
    assert loop["status"] == "FAILED"
    assert f"transition limit of {LOOP_RUNS}" in loop["error"]
    assert peak < RSS_LIMIT_BYTES
    assert statistics.median(latency) < 0.5
    assert stack.process.returncode == 0, "".join(stack.output[-40:])
