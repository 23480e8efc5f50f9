"""The flows the benchmark runs, and the deployed service in process against moto with every AWS call metered.

The handlers are the deployed code, unchanged: `functions.api.app.lambda_handler` gets API Gateway events,
`functions.task_runner.app.lambda_handler` gets DynamoDB Streams batches from `local.esm.StreamPump`, which
applies the template's FilterCriteria and batch size. The clients the handlers use (`flowcore.adapters.clients`) carry
the meter's hooks; the benchmark's own clients (stream reads, item look-ups) do not.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from bench.costs import ASSUMED_SECONDS_PER_TASK
from bench.functions import UserFunctions
from bench.meter import CapacityMeter, Tally
from local.containers import reset_containers
from local.stack import FAKE_CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
Handler = Callable[[dict[str, Any], Any], Any]

#: What the deployed functions' environment holds, minus the resources (create_stack adds those). Log level
#: INFO is the template's default, so log formatting is part of what is timed; the lines go to a counter.
ENVIRONMENT = {
    **FAKE_CREDENTIALS,
    "POWERTOOLS_SERVICE_NAME": "flow-manager",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    # botocore sends stream calls to account endpoints that moto's in-process mock does not intercept.
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": "https://streams.dynamodb.us-east-1.amazonaws.com",
}
_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}}


def prepare_environment() -> None:
    """Fake credentials and the functions' settings, before any client or handler module exists."""
    for name in _UNSET:
        os.environ.pop(name, None)
    os.environ.update(ENVIRONMENT)


# -- the flows --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    definition: dict[str, Any]
    expected_transitions: int
    execution_input: dict[str, Any] = field(default_factory=dict)


def sample_flow() -> dict[str, Any]:
    """The canonical sample: three tasks chained by conditions."""
    document: dict[str, Any] = json.loads((EXAMPLES / "data_processing.json").read_text(encoding="utf-8"))
    return document


def sequential_flow(size: int) -> dict[str, Any]:
    """`size` pass tasks and no conditions: each success goes to the next task in list order."""
    return {
        "name": f"sequential {size}",
        "start_task": "t0001",
        "tasks": [{"name": f"t{number:04d}"} for number in range(1, size + 1)],
    }


def fan_out_flow(width: int) -> dict[str, Any]:
    """A start task whose conditions open `width` branches; every branch routes to `join`.

    The branches reach `join` at the same step, so the runner makes one run of it for all of them.
    """
    branches = [f"b{number:02d}" for number in range(1, width + 1)]
    return {
        "name": f"fan-out {width} with a join",
        "start_task": "start",
        "tasks": [{"name": "start"}, *({"name": name} for name in branches), {"name": "join"}],
        "conditions": [
            *(
                {
                    "source_task": "start",
                    "outcome": "success",
                    "target_task_success": name,
                    "target_task_failure": "end",
                }
                for name in branches
            ),
            *(
                {"source_task": name, "outcome": "success", "target_task_success": "join", "target_task_failure": "end"}
                for name in branches
            ),
        ],
    }


def data_passing_flow() -> dict[str, Any]:
    """The sample, each task reading the output of the one before (`previous`) through its parameters."""
    document = sample_flow()
    flow = document["flow"]
    flow["id"] = "data-passing"
    tasks = {task["name"]: task for task in flow["tasks"]}
    tasks["task1"]["parameters"] = {"records": "${input.records}"}
    tasks["task2"]["parameters"] = {"records": "${previous.output.records_fetched}"}
    tasks["task3"]["parameters"] = {"records": "${previous.output.records_processed}"}
    return document


#: Rows of the `large_output` workload's input: about 1 MB as JSON, within a request's 1 MiB.
LARGE_ROWS = 10_000


def large_output_flow() -> dict[str, Any]:
    """A task that outputs about 1 MB (its input, as `pass` does), and one that reads all of it."""
    return {
        "name": "a 1 MB output passed on",
        "start_task": "make",
        "tasks": [
            {"name": "make", "type": "pass", "input": {"rows": "${input.rows}"}},
            {"name": "measure", "type": "pass", "input": {"rows": "${length(previous.output.rows)}"}},
        ],
    }


def large_input() -> dict[str, Any]:
    return {"rows": [f"{number:06d}:" + "x" * 90 for number in range(LARGE_ROWS)]}


def lambda_flow() -> dict[str, Any]:
    """examples/lambda_pipeline.json: three `lambda` tasks in a row (enrich, score, notify_later)."""
    document: dict[str, Any] = json.loads((EXAMPLES / "lambda_pipeline.json").read_text(encoding="utf-8"))
    return document


#: The input that takes lambda_pipeline.json's success path (examples/README.md, "Data between tasks").
LAMBDA_INPUT = {"order": "A-1001", "amount": 120, "items": 3}


def workloads() -> list[Workload]:
    return [
        Workload("sample_3", "3-task sample (examples/data_processing.json)", sample_flow(), 3),
        Workload("sequential_100", "100 tasks in sequence", sequential_flow(100), 100),
        Workload("sequential_1000", "1,000 tasks in sequence", sequential_flow(1000), 1000),
        Workload("fan_out_20", "20-way fan-out and a join", fan_out_flow(20), 22),
        Workload(
            "data_passing_3", "the sample, each task reading the one before", data_passing_flow(), 3, {"records": 250}
        ),
        Workload("large_output", "a 1 MB output read by the next task", large_output_flow(), 2, large_input()),
        Workload(
            "lambda_3", "three lambda tasks (examples/lambda_pipeline.json)", lambda_flow(), 3, dict(LAMBDA_INPUT)
        ),
    ]


def item_kind(key: Mapping[str, Any]) -> str:
    """Names an item of the single table from its sort key (the key scheme of flowcore's adapter)."""
    from flowcore.adapters.dynamodb.keys import item_kind as kind_of_sort_key

    return kind_of_sort_key(str(key.get("sk", {}).get("S", "")))


# -- Lambda, as billed ------------------------------------------------------------------------------------


def memory_size_mb(function: str) -> int:
    """MemorySize of a function in template.yaml: its own, else Globals.Function's, else Lambda's 128."""
    from local.template import load

    document = load()
    parameters = {name: spec.get("Default") for name, spec in document.get("Parameters", {}).items()}
    value: Any = document.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    value = document["Resources"][function]["Properties"].get("MemorySize", value)
    if isinstance(value, dict) and "Ref" in value:
        value = parameters[value["Ref"]]
    return int(value)


@dataclass
class BilledFunction:
    """Wraps a handler as Lambda bills it: invocations, and each one's duration rounded up to 1 ms.

    Time the meter spends reading items around a call is taken out: it is the benchmark's, not the function's.
    """

    name: str
    handler: Handler
    memory_mb: int
    meter: CapacityMeter
    invocations: int = 0
    billed_ms: int = 0
    service_ms: float = 0.0  # of the time measured, what moto took to answer (DynamoDB's part on AWS)
    durations_ms: list[float] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        hooks, service = self.meter.hook_seconds, self.meter.service_seconds
        started = time.perf_counter()
        try:
            return self.handler(event, context)
        finally:
            elapsed = time.perf_counter() - started - (self.meter.hook_seconds - hooks)
            self.invocations += 1
            self.durations_ms.append(elapsed * 1000)
            self.billed_ms += max(1, math.ceil(elapsed * 1000))
            self.service_ms += (self.meter.service_seconds - service) * 1000

    def reset(self) -> None:
        self.invocations = 0
        self.billed_ms = 0
        self.service_ms = 0.0
        self.durations_ms = []

    @property
    def gb_seconds(self) -> float:
        return self.billed_ms / 1000 * self.memory_mb / 1024


class ByteCounter(io.TextIOBase):
    """A stream that keeps only the number of UTF-8 bytes written to it (the functions' log lines)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.bytes += len(text.encode("utf-8"))
        return len(text)


# -- one workload, measured ---------------------------------------------------------------------------------


@dataclass
class WorkloadRun:
    workload: Workload
    status: str
    transitions: int
    steps: int  # the longest path, in task runs: what an Express workflow would run one after another
    api_invocations: int
    runner_invocations: int
    records_delivered: int
    api_billed_ms: int
    runner_billed_ms: int
    api_service_ms: float
    runner_service_ms: float
    api_gb_seconds: float
    runner_gb_seconds: float
    runner_durations_ms: list[float]
    wru: float
    rru: float
    index_wru: float
    sfn_starts: int
    s3_puts: int
    s3_gets: int
    log_bytes: int
    operations: dict[str, Tally]
    wall_seconds: float
    user_invocations: int = 0  # the user's Lambda functions the flow's `lambda` tasks invoked
    runner_wait_gb_seconds: float = 0.0  # the runner waiting for them, at costs.ASSUMED_SECONDS_PER_TASK each


class ServiceUnderTest:
    """The template's table, queue and timer in moto, the two handlers, and the stream between them."""

    def __init__(self) -> None:
        self._mock: Any = None
        self.logs = ByteCounter()

    def __enter__(self) -> Self:
        import boto3
        from moto import mock_aws

        from flowcore.adapters import clients
        from flowcore.observability import logger
        from functions.api import app as api_app
        from functions.task_runner import app as runner_app
        from local import moto_patches
        from local.esm import StreamPump
        from local.stack import create_stack

        moto_patches.apply()
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        stack = create_stack()
        os.environ.update(stack.environment())
        os.environ["POWERTOOLS_LOG_LEVEL"] = ENVIRONMENT["POWERTOOLS_LOG_LEVEL"]
        reset_containers()
        handler: Any = logger.registered_handler
        handler.setStream(self.logs)

        self.table_name = stack.table_name
        self.reader = boto3.client("dynamodb")
        self.meter = CapacityMeter(self.reader, item_kind)
        self.meter.attach(clients.dynamodb())
        self.meter.attach_stepfunctions(clients.stepfunctions())
        self.meter.attach_s3(clients.s3())
        self.api = BilledFunction("ApiFunction", api_app.lambda_handler, memory_size_mb("ApiFunction"), self.meter)
        self.runner = BilledFunction(
            "TaskRunnerFunction", runner_app.lambda_handler, memory_size_mb("TaskRunnerFunction"), self.meter
        )
        self.pump = StreamPump(boto3.client("dynamodbstreams"), stack.stream_arn, self.runner, stack.spec.mapping)
        self.functions = UserFunctions()
        self.functions.attach(clients.lambda_())
        return self

    def __exit__(self, *exc_info: object) -> None:
        reset_containers()
        if self._mock is not None:
            self._mock.stop()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """As API Gateway hands a request on: with its JWT authorizer's context (the development tenant)."""
        from local.apigw import http_event, http_response
        from local.auth import dev_authorizer
        from local.esm import LambdaContext

        payload = json.dumps(body).encode() if body is not None else None
        event = http_event(method, path, "", {"content-type": "application/json"}, payload, authorizer=dev_authorizer())
        return http_response(self.api(event, LambdaContext("ApiFunction", memory_limit_in_mb=self.api.memory_mb)))

    def run(self, workload: Workload) -> WorkloadRun:
        """Store the flow (not counted), then start one execution and let the stream run it to the end."""
        from functions.api import app as api_app
        from functions.task_runner import app as runner_app

        api_app.reset()  # fresh containers: the runner loads the flow version once, as a cold one would
        runner_app.reset()
        created = self.request("POST", "/flows", workload.definition)
        if created.status not in (200, 201):
            raise RuntimeError(f"{workload.name}: the flow was refused: {created.json()}")
        flow_id = created.json()["flow_id"]
        self.pump.drain()

        self.meter.reset()
        self.api.reset()
        self.runner.reset()
        self.logs.bytes = 0
        self.functions.reset()
        invocations, delivered = self.pump.stats.invocations, self.pump.stats.records_delivered
        started = time.perf_counter()
        response = self.request("POST", f"/flows/{flow_id}/executions", {"input": workload.execution_input})
        if response.status != 202:
            raise RuntimeError(f"{workload.name}: the execution did not start: {response.json()}")
        execution_id = response.json()["execution_id"]
        self.pump.drain()
        wall = time.perf_counter() - started
        status, transitions, steps = self._outcome(execution_id)
        return WorkloadRun(
            workload=workload,
            status=status,
            transitions=transitions,
            steps=steps,
            api_invocations=self.api.invocations,
            runner_invocations=self.pump.stats.invocations - invocations,
            records_delivered=self.pump.stats.records_delivered - delivered,
            api_billed_ms=self.api.billed_ms,
            runner_billed_ms=self.runner.billed_ms,
            api_service_ms=self.api.service_ms,
            runner_service_ms=self.runner.service_ms,
            api_gb_seconds=self.api.gb_seconds,
            runner_gb_seconds=self.runner.gb_seconds,
            runner_durations_ms=list(self.runner.durations_ms),
            wru=self.meter.wru,
            rru=self.meter.rru,
            index_wru=self.meter.index_wru,
            sfn_starts=self.meter.sfn_starts,
            s3_puts=self.meter.s3_puts,
            s3_gets=self.meter.s3_gets,
            log_bytes=self.logs.bytes,
            operations=dict(self.meter.operations),
            wall_seconds=wall,
            user_invocations=self.functions.total,
            runner_wait_gb_seconds=self.functions.total * ASSUMED_SECONDS_PER_TASK * self.runner.memory_mb / 1024,
        )

    def _outcome(self, execution_id: str) -> tuple[str, int, int]:
        """The execution's status, its transitions (committed attempts: a run's attempts once it ended) and
        its number of steps (the highest run sequence number)."""
        from flowcore.adapters.dynamodb import keys
        from flowcore.adapters.dynamodb.values import plain
        from flowcore.domain.tenancy import DEV_TENANT

        pages = self.reader.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.execution_pk(f"{DEV_TENANT}/{execution_id}")}},
            ConsistentRead=True,
        )
        items = [plain(item) for page in pages for item in page["Items"]]
        meta = next(item for item in items if item["sk"] == keys.META)
        runs = [item for item in items if keys.is_run_sk(item["sk"])]
        transitions = sum(int(run.get("attempt", 1)) for run in runs if run["status"] in ("SUCCESS", "FAILURE"))
        steps = max((keys.parse_run_sk(run["sk"])[0] for run in runs), default=0)
        return str(meta["status"]), transitions, steps
