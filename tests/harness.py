"""An in-process moto account built from template.yaml, with the service's handlers wired to it.

Shared by the pytest fixtures (tests/conftest.py), the fault suite (`python -m tests.faults`) and the
property tests, which each need a fresh account without pytest's monkeypatch.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from moto import mock_aws

from flowcore.domain.tenancy import DEV_TENANT, scoped
from local import moto_patches
from local.auth import ALL_SCOPES, dev_authorizer
from local.auth import jwt_authorizer as authorizer_of
from local.containers import reset_containers
from local.stack import FAKE_CREDENTIALS
from local.streams import StreamCursor

if TYPE_CHECKING:
    from local.esm import QueuePump, StreamPump
    from local.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}}

#: Fake credentials before any client exists, so nothing can reach a real account.
AWS_ENV = {
    **FAKE_CREDENTIALS,
    "POWERTOOLS_SERVICE_NAME": "flow-manager",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    # botocore sends stream calls to account endpoints (<account>.streams-ddb...) that moto's in-process
    # mock does not intercept; the classic endpoint reaches it.
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": "https://streams.dynamodb.us-east-1.amazonaws.com",
}
#: No tenant quotas unless the environment sets them (tests/integration/test_tenancy.py does): tests and benchmarks
#: start executions as fast as they like.
QUOTAS = ("QUOTA_RUNNING_EXECUTIONS", "QUOTA_STARTS_PER_SECOND")
AWS_ENV_REMOVED = ("AWS_ENDPOINT_URL", "AWS_PROFILE")

Handler = Callable[[dict[str, Any], Any], Any]


def on_fresh_stack[T](function: Callable[[], T]) -> T:
    """Call `function` in a thread of its own and return (or raise) what it does.

    CPython 3.13 frees a frame-stack chunk (16 KB, mmap) whenever the call depth falls back below it, and
    allocates it again on the next call: a hot path that happens to oscillate across that boundary (moto's
    deepcopy of the table under pytest's deep stack) spends more time in mmap/munmap than in Python. A new
    thread starts from an empty stack, the same under pytest, xdist and `python -m tests.faults`.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(function())
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread as it is
            failure.append(error)

    worker = threading.Thread(target=run, name="scenario")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return document


#: Examples that need a step outside the flow (a queue to exist, a callback to be sent, a child flow to be stored),
#: so the generic run of
#: every example leaves them to tests/e2e/test_integration_examples.py, which takes that step.
NEEDS_A_STEP = frozenset({"approval.json", "publish_to_sqs.json", "parent_with_subflow.json"})


def documented_examples() -> list[tuple[str, str, list[str]]]:
    """(file, final status, path) for each row of examples/README.md: the one place they are written down."""
    rows = []
    for line in (EXAMPLES / "README.md").read_text(encoding="utf-8").splitlines():
        found = re.match(r"\| \[`([\w-]+\.json)`\]\(\1\) \|.*\| \*\*([A-Z_]+)\*\* \| `([^`]+)` \|", line)
        if found:
            file, status, path = found.groups()
            rows.append((file, status, [task.strip() for task in path.split("→")]))
    return rows


def documented_data() -> dict[str, tuple[dict[str, Any], str, Any]]:
    """For each flow of the "Data between tasks" table of examples/README.md: its input, its last task and that
    task's final output."""
    rows = {}
    for line in (EXAMPLES / "README.md").read_text(encoding="utf-8").splitlines():
        found = re.match(r"\| \[`([\w-]+\.json)`\]\(\1\) \| `(\{.*?\})` \| `(\w+)` \| `(.+)` \|$", line)
        if found:
            file, given, last, output = found.groups()
            rows[file] = (json.loads(given), last, json.loads(output))
    return rows


def jwt_authorizer(tenant: str, scopes: str = " ".join(ALL_SCOPES)) -> dict[str, Any]:
    """`requestContext.authorizer` as API Gateway's JWT authorizer hands it over, for `tenant` holding `scopes`."""
    return authorizer_of({"sub": tenant, "scope": scopes})


@dataclass
class Harness:
    """The deployed service, in process: call the API, drain the stream, read the table."""

    stack: LocalStack
    pump: StreamPump
    failures: QueuePump
    dynamodb: Any
    stepfunctions: Any

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        authorizer: dict[str, Any] | None = None,
    ) -> Any:
        """Call the API as API Gateway would, for the caller `authorizer` describes (the development tenant
        unless given; `{}`: no caller)."""
        from functions.api.app import lambda_handler
        from local.apigw import http_event, http_response
        from local.esm import LambdaContext

        path, _, query = path.partition("?")
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {"content-type": "application/json", **(headers or {})}
        event = http_event(method, path, query, all_headers, payload)
        identity = dev_authorizer() if authorizer is None else authorizer
        if identity:
            event["requestContext"]["authorizer"] = identity
        return http_response(lambda_handler(event, LambdaContext("ApiFunction")))

    def drain(self) -> int:
        return int(self.pump.drain())

    def settle(self, execution_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Keep the stream moving until the execution is terminal (timers run in moto's own threads)."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump.poll()
            document: dict[str, Any] = self.request("GET", f"/executions/{execution_id}").json()
            if document["status"] not in ("CREATED", "RUNNING") or time.monotonic() > deadline:
                return document
            time.sleep(0.05)

    def start(self, definition: dict[str, Any], execution_input: dict[str, Any] | None = None) -> str:
        created = self.request("POST", "/flows", definition)
        assert created.status in (200, 201), created.json()
        started = self.request(
            "POST", f"/flows/{created.json()['flow_id']}/executions", {"input": execution_input or {}}
        )
        assert started.status == 202, started.json()
        execution_id: str = started.json()["execution_id"]
        return execution_id

    def status(self, execution_id: str) -> dict[str, Any]:
        answer = self.request("GET", f"/executions/{execution_id}")
        assert answer.status == 200, answer.json()
        document: dict[str, Any] = answer.json()
        return document

    def items(self, execution_id: str) -> list[dict[str, Any]]:
        from flowcore.adapters.dynamodb import keys
        from flowcore.adapters.dynamodb.values import plain

        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=self.stack.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.execution_pk(scoped(DEV_TENANT, execution_id))}},
        )
        return [plain(item) for page in pages for item in page["Items"]]

    def run_flow(self, definition: dict[str, Any], execution_input: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store a flow, start it, drain the stream, and return the final status document."""
        execution_id = self.start(definition, execution_input)
        self.drain()
        return self.status(execution_id)

    def stream_pump(self, handler: Handler | None = None, streams: StreamCursor | None = None) -> StreamPump:
        """Another event source mapping on the table's stream, from its start (TRIM_HORIZON), failing over
        to the same queue; `handler` defaults to the real task runner."""
        from functions.task_runner import app as runner_app

        return _stream_pump(self.stack, handler or runner_app.lambda_handler, streams)


def _stream_pump(stack: LocalStack, handler: Handler, streams: StreamCursor | None = None) -> StreamPump:
    from local.esm import StreamPump, sqs_failure_sink

    return StreamPump(
        streams or StreamCursor(boto3.client("dynamodbstreams")),
        stack.stream_arn,
        handler,
        stack.spec.mapping,
        on_failure=sqs_failure_sink(boto3.client("sqs"), stack.queue_url),
    )


@contextmanager
def _environment(values: dict[str, str], removed: tuple[str, ...] = ()) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (*values, *removed)}
    try:
        for name in removed:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def local_account() -> Iterator[Harness]:
    """A fresh moto account holding the template's resources; the environment is restored on exit."""
    moto_patches.apply()  # the same DynamoDB as `make run`'s (local/moto_patches.py)
    quotas = {name: os.environ.get(name, "0") for name in QUOTAS}
    with _environment({**AWS_ENV, **quotas}, AWS_ENV_REMOVED), mock_aws(config=MOTO_CONFIG):
        from functions.failure_handler import app as failure_app
        from functions.task_runner import app as runner_app
        from local.esm import QueuePump
        from local.stack import create_stack

        stack = create_stack()
        with _environment(stack.environment()):
            reset_containers()
            try:
                pump = _stream_pump(stack, runner_app.lambda_handler)
                failures = QueuePump(
                    boto3.client("sqs"),
                    stack.queue_url,
                    stack.queue_arn,
                    failure_app.lambda_handler,
                    "FailureHandlerFunction",
                )
                yield Harness(
                    stack=stack,
                    pump=pump,
                    failures=failures,
                    dynamodb=boto3.client("dynamodb"),
                    stepfunctions=boto3.client("stepfunctions"),
                )
            finally:
                reset_containers()
