"""Timings that need no AWS: cold imports of the handlers, the engine's decision, the runner with stubbed calls."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.workloads import ROOT, sample_flow

HANDLERS = {"api": "functions.api.app", "task_runner": "functions.task_runner.app"}
# Timed like the handlers, to show where the API's ratio comes from (see the modules' docstrings).
PROBES = {"stack_floor": "bench.stack_floor", "api_without_router": "bench.api_without_router"}
BASELINE = "boto3"
_IMPORT_TIMER = (
    "import time; wall, cpu = time.perf_counter(), time.process_time(); import {module}; "
    "print(time.perf_counter() - wall, time.process_time() - cpu)"
)


# -- cold imports -------------------------------------------------------------------------------------------


def _child_environment() -> dict[str, str]:
    """What `python -c` gets: the layer on the path and the one setting the handlers read at import."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "SYSTEMROOT") if name in os.environ}
    return {
        **keep,
        "TABLE_NAME": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "flowcore")]),
    }


def fresh_interpreter(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run `python <arguments>` in a new process with the handlers' environment; its output is captured."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=_child_environment(),
        capture_output=True,
        text=True,
        check=True,
    )


def import_seconds(module: str) -> tuple[float, float]:
    """Seconds a fresh interpreter spends importing `module` (interpreter start-up left out): wall and CPU."""
    completed = fresh_interpreter("-c", _IMPORT_TIMER.format(module=module))
    wall, cpu = completed.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def top_imports(module: str, count: int = 8) -> list[dict[str, Any]]:
    """The heaviest imports `module` pulls in directly (python -X importtime), cumulative milliseconds."""
    completed = fresh_interpreter("-X", "importtime", "-c", f"import {module}")
    children: dict[str, float] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue  # the header line
        indent = len(name) - len(name.lstrip(" ")) - 1
        if indent == 2:  # imported by the handler module or its packages, not by one of its imports
            children[name.strip()] = int(cumulative) / 1000
    ranked = sorted(children.items(), key=lambda pair: pair[1], reverse=True)[:count]
    return [{"module": name, "ms": round(ms, 1)} for name, ms in ranked]


@dataclass
class ColdInit:
    """Milliseconds per fresh import, CPU time (what the ratio uses) and wall time, per handler and for boto3."""

    cpu_ms: dict[str, list[float]]
    wall_ms: dict[str, list[float]]
    top_imports: dict[str, list[dict[str, Any]]]

    @staticmethod
    def _ratios(times: dict[str, list[float]], names: dict[str, str] = HANDLERS) -> dict[str, float]:
        baseline = statistics.median(times["boto3"])
        return {name: statistics.median(times[name]) / baseline for name in names}

    @property
    def ratios(self) -> dict[str, float]:
        return self._ratios(self.cpu_ms)

    @property
    def probe_ratios(self) -> dict[str, float]:
        return self._ratios(self.cpu_ms, PROBES)

    @property
    def wall_ratios(self) -> dict[str, float]:
        return self._ratios(self.wall_ms)

    def medians(self, times: dict[str, list[float]]) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in times.items()}


def cold_init(runs: int = 5) -> ColdInit:
    """Median of `runs` fresh imports of each handler over the median of `runs` fresh `import boto3`.

    The ratio uses the child's CPU time: on a machine shared with other work, wall time also counts the
    time the child waited for a CPU (both are recorded). One discarded round first, so every run finds the
    same bytecode caches; then the rounds interleave the modules so that drift touches all of them alike.
    """
    modules = {**HANDLERS, **PROBES, "boto3": BASELINE}
    for module in modules.values():
        import_seconds(module)
    wall: dict[str, list[float]] = {name: [] for name in modules}
    cpu: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(runs):
        for name, module in modules.items():
            wall_s, cpu_s = import_seconds(module)
            wall[name].append(wall_s * 1000)
            cpu[name].append(cpu_s * 1000)
    return ColdInit(cpu, wall, {name: top_imports(module) for name, module in HANDLERS.items()})


# -- the engine's decision ------------------------------------------------------------------------------------


def engine_decision_us(number: int = 20_000, repeat: int = 9) -> float:
    """Median time of one `flowcore.domain.routing.decide` on the 3-task sample, cycling through its three tasks."""
    from flowcore.api.models import FlowDefinition
    from flowcore.domain.compiled import CompiledFlow
    from flowcore.domain.records import RunRef, TaskResult
    from flowcore.domain.routing import decide
    from flowcore.domain.statuses import TaskStatus

    definition = FlowDefinition.model_validate(sample_flow())
    flow = CompiledFlow.build("flow123", 1, definition.spec())
    runs = [RunRef("bench", seq, name) for seq, name in enumerate(flow.task_order, start=1)]
    result = TaskResult(TaskStatus.SUCCESS, output={"records_processed": 3}, message="done")

    def decide_each() -> None:
        for run in runs:
            decide(flow, run, 1, result)

    totals = timeit.Timer(decide_each).repeat(repeat=repeat, number=number)
    return statistics.median(totals) / (number * len(runs)) * 1e6


# -- the runner with every AWS call answered at once ----------------------------------------------------------

EXECUTION_ID = "dev/00000000-0000-4000-8000-000000000000"  # scoped: the development tenant's
FLOW_ID = "dev/flow123"


def _canned_items() -> dict[str, dict[str, Any]]:
    """The execution and flow version items the runner reads, as DynamoDB returns them, by sort key."""
    from flowcore.adapters.dynamodb import keys
    from flowcore.api.models import FlowDefinition

    definition = FlowDefinition.model_validate(sample_flow()).document()
    return {
        keys.META: {
            "pk": {"S": keys.execution_pk(EXECUTION_ID)},
            "sk": {"S": keys.META},
            "execution_id": {"S": EXECUTION_ID},
            "flow_id": {"S": FLOW_ID},
            "flow_version": {"N": "1"},
            "flow_name": {"S": "Data processing flow"},
            "status": {"S": "RUNNING"},
            "input": {"S": "{}"},
            "created_at": {"S": "2026-01-01T00:00:00.000Z"},
            "started_at": {"S": "2026-01-01T00:00:00.000Z"},
            "open_branches": {"N": "1"},
            "gsi1pk": {"S": keys.flow_pk(FLOW_ID)},
            "gsi1sk": {"S": keys.executions_of_flow_sk("2026-01-01T00:00:00.000Z", EXECUTION_ID)},
            "expires_at": {"N": "1769904000"},
        },
        keys.version_sk(1): {
            "pk": {"S": keys.flow_pk(FLOW_ID)},
            "sk": {"S": keys.version_sk(1)},
            "flow_id": {"S": FLOW_ID},
            "version": {"N": "1"},
            "name": {"S": "Data processing flow"},
            "created_at": {"S": "2026-01-01T00:00:00.000Z"},
            "definition": {"S": json.dumps(definition, separators=(",", ":"))},
            "content_hash": {"S": "0" * 64},
        },
    }


class FakeDynamoDB:
    """Answers the runner's calls from memory, with no botocore at all: the runner's own code, alone."""

    def __init__(self) -> None:
        self._items = _canned_items()
        self.run_writes = 0  # one per committed task run: the transitions made

    def get_item(self, **params: Any) -> dict[str, Any]:
        return {"Item": self._items[params["Key"]["sk"]["S"]]}

    def update_item(self, **params: Any) -> dict[str, Any]:
        from flowcore.adapters.dynamodb.keys import is_run_sk

        self.run_writes += is_run_sk(params["Key"]["sk"]["S"])
        return {}

    def put_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def transact_write_items(self, **_: Any) -> dict[str, Any]:
        return {}


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Any:
        yield self._content


def stubbed_client() -> Any:
    """A real botocore DynamoDB client (validation, serialisation, signing, parsing) whose HTTP is answered
    in process before anything is sent; its endpoint is a closed local port, so nothing can leave."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    items = _canned_items()
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
    )

    def answer(request: Any, **_: Any) -> AWSResponse:
        operation = str(request.headers.get("X-Amz-Target", b"").decode()).rpartition(".")[2]
        body: dict[str, Any] = {}
        if operation == "GetItem":
            body = {"Item": items[json.loads(request.body)["Key"]["sk"]["S"]]}
        headers: Any = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"}
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(body).encode()))

    events: Any = client.meta.events
    events.register_first("before-send.dynamodb", answer)
    return client


def _dispatch_image() -> dict[str, Any]:
    """The stream's NewImage of the sample's second task run, PENDING: a mid-flow dispatch, from which the
    runner runs task2 and then task3 in a chain (two transitions, the second one ending the execution)."""
    from flowcore.adapters.dynamodb import keys

    return {"pk": keys.execution_pk(EXECUTION_ID), "sk": keys.run_sk(2, "task2"), "status": "PENDING", "attempt": 1}


def _runner(client: Any) -> Any:
    from flowcore.wiring.runner import new_task_runner
    from flowcore.wiring.shared import Repositories

    return new_task_runner(Repositories(client, "bench"), None, None)


def _median_ms(call: Callable[[], Any], runs: int) -> float:
    call()  # the first call compiles the flow and fills caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


@dataclass
class RunnerOverhead:
    """Milliseconds per transition (a dispatch's time over the transitions it made)."""

    process_ms: float  # TaskRunner.process, botocore client with stubbed HTTP
    process_fake_client_ms: float  # TaskRunner.process, no botocore
    handler_ms: float  # the whole Lambda handler for a one-record batch, botocore client with stubbed HTTP
    transitions_per_dispatch: int


def runner_overhead(runs: int = 2000) -> RunnerOverhead:
    """Median time of one transition with every AWS call answered at once (GetItem, UpdateItem, PutItem)."""
    from flowcore.adapters.stream import StreamConsumer, dispatch_of
    from flowcore.wiring import runner as runner_wiring
    from functions.task_runner import app as runner_app
    from local.esm import LambdaContext

    image = _dispatch_image()
    stubbed = _runner(stubbed_client())
    fake_client = FakeDynamoDB()
    fake = _runner(fake_client)
    fake.process(dispatch_of(image))
    transitions = fake_client.run_writes
    process_ms = _median_ms(lambda: stubbed.process(dispatch_of(image)), runs) / transitions
    process_fake_ms = _median_ms(lambda: fake.process(dispatch_of(image)), runs) / transitions

    record = {
        "eventID": "1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": image["pk"]}, "sk": {"S": image["sk"]}},
            "NewImage": {
                "pk": {"S": image["pk"]},
                "sk": {"S": image["sk"]},
                "status": {"S": "PENDING"},
                "attempt": {"N": "1"},
            },
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": 120,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/bench/stream/2026-01-01T00:00:00.000",
    }
    event = {"Records": [record]}
    context: Any = LambdaContext("TaskRunnerFunction", memory_limit_in_mb=256)
    consumer = StreamConsumer(stubbed)
    built = runner_wiring.stream_consumer
    runner_wiring.stream_consumer = lambda: consumer  # the handler's container-scoped runner, pointed at the stub
    try:
        handler_ms = _median_ms(lambda: runner_app.lambda_handler(event, context), runs) / transitions
    finally:
        runner_wiring.stream_consumer = built
        runner_app.reset()
    return RunnerOverhead(process_ms, process_fake_ms, handler_ms, transitions)
