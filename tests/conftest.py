"""Shared fixtures: an in-process moto account built from template.yaml, the API and the stream."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}}


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return document


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials before any client exists, so nothing can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "flow-manager",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # botocore sends stream calls to account endpoints (<account>.streams-ddb...) that moto's in-process
    # mock does not intercept; the classic endpoint reaches it.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "https://streams.dynamodb.us-east-1.amazonaws.com")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@dataclass
class Harness:
    """The deployed service, in process: call the API, drain the stream, read the table."""

    stack: Any
    pump: Any
    failures: Any
    dynamodb: Any
    stepfunctions: Any

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> Any:
        from functions.api.app import lambda_handler
        from local.apigw import http_event, http_response
        from local.esm import LambdaContext

        path, _, query = path.partition("?")
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {"content-type": "application/json", **(headers or {})}
        return http_response(
            lambda_handler(http_event(method, path, query, all_headers, payload), LambdaContext("ApiFunction"))
        )

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

    def items(self, execution_id: str) -> list[dict[str, Any]]:
        from flowcore.store import plain

        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=self.stack.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"EXEC#{execution_id}"}},
        )
        return [plain(item) for page in pages for item in page["Items"]]

    def run_flow(self, definition: dict[str, Any], execution_input: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store a flow, start it, drain the stream, and return the final status document."""
        execution_id = self.start(definition, execution_input)
        self.drain()
        status = self.request("GET", f"/executions/{execution_id}")
        assert status.status == 200
        document: dict[str, Any] = status.json()
        return document


@pytest.fixture
def harness(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with mock_aws(config=MOTO_CONFIG):
        from flowcore import aws
        from flowcore.settings import settings
        from functions.api import app as api_app
        from functions.failure_handler import app as failure_app
        from functions.task_runner import app as runner_app
        from local.esm import QueuePump, StreamPump, sqs_failure_sink
        from local.stack import create_stack

        stack = create_stack()
        for name, value in stack.environment().items():
            monkeypatch.setenv(name, value)
        aws.reset()
        settings.cache_clear()
        api_app.reset()
        runner_app.reset()
        failure_app.reset()
        sqs = boto3.client("sqs")
        pump = StreamPump(
            boto3.client("dynamodbstreams"),
            stack.stream_arn,
            runner_app.lambda_handler,
            stack.spec.mapping,
            on_failure=sqs_failure_sink(sqs, stack.queue_url),
        )
        failures = QueuePump(
            sqs, stack.queue_url, stack.queue_arn, failure_app.lambda_handler, "FailureHandlerFunction"
        )
        yield Harness(
            stack=stack,
            pump=pump,
            failures=failures,
            dynamodb=boto3.client("dynamodb"),
            stepfunctions=boto3.client("stepfunctions"),
        )
        aws.reset()
        settings.cache_clear()
        api_app.reset()
        runner_app.reset()
        failure_app.reset()
