"""The integration task types through the stream, on the in-process account: sns and eventbridge against moto,
http against a server on 127.0.0.1 (the local stack's loopback entries), each succeeding and failing. (lambda
needs the local stack's Lambda endpoint: tests/e2e/test_integration_examples.py runs it.)"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import Harness


def _one(task: dict[str, Any]) -> dict[str, Any]:
    return {"name": task["type"], "start_task": "call", "tasks": [{"name": "call", **task}]}


def test_sns_publishes_the_templated_message_and_fails_on_a_missing_topic(harness: Harness) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="orders")["TopicArn"]
    queue = sqs.create_queue(QueueName="orders-copy")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})

    task = {"type": "sns", "parameters": {"topic_arn": topic, "message": {"order": "${input.order}"}}}
    document = harness.run_flow(_one(task), {"order": "A-7"})

    assert document["status"] == "COMPLETED", document
    assert set(document["task_results"]["call"]["output"]) == {"message_id"}
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert json.loads(message["Body"]) == {"order": "A-7"}

    missing = {"type": "sns", "parameters": {"topic_arn": topic + "-gone", "message": "x"}}
    failed = harness.run_flow(_one(missing))
    assert failed["status"] == "FAILED"
    assert "NotFound" in failed["task_results"]["call"]["error"]


def test_eventbridge_puts_the_event_and_fails_on_a_missing_bus(harness: Harness) -> None:
    task = {
        "type": "eventbridge",
        "parameters": {"source": "shop.orders", "detail_type": "Placed", "detail": {"order": "${input.order}"}},
    }
    document = harness.run_flow(_one(task), {"order": "A-7"})
    assert document["status"] == "COMPLETED", document
    assert set(document["task_results"]["call"]["output"]) == {"event_id"}

    missing = {**task, "parameters": {**task["parameters"], "event_bus": "nowhere"}}
    failed = harness.run_flow(_one(missing), {"order": "A-7"})
    assert failed["status"] == "FAILED"
    assert failed["task_results"]["call"]["error"] == (
        "putting an event on bus 'nowhere' failed: ResourceNotFoundException: Event bus nowhere does not exist."
    )


class _Orders(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 503 if self.path.startswith("/down") else 200
        body = json.dumps({"path": self.path, "idempotency_key": self.headers.get("Idempotency-Key")}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def orders_server(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    from local.containers import reset_containers

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Orders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    monkeypatch.setenv("HTTP_TASK_ALLOW", f"127.0.0.1:{port}")
    reset_containers()  # a new runner container reads the allow-list
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def test_http_calls_an_allowed_host_and_fails_on_a_status_outside_success(harness: Harness, orders_server: int) -> None:
    url = f"http://127.0.0.1:{orders_server}"
    task = {"type": "http", "parameters": {"method": "GET", "url": f"{url}/orders", "query": {"id": "${input.id}"}}}
    document = harness.run_flow(_one(task), {"id": "7"})

    assert document["status"] == "COMPLETED", document
    output = document["task_results"]["call"]["output"]
    assert output["status"] == 200
    assert output["body"]["path"] == "/orders?id=7"
    assert output["body"]["idempotency_key"].endswith(":1:call:1")  # the attempt's key

    down = {"type": "http", "parameters": {"method": "GET", "url": f"{url}/down"}}
    failed = harness.run_flow(_one(down))
    assert failed["status"] == "FAILED"
    result = failed["task_results"]["call"]
    assert result["error"] == f"HTTP 503 from {url}/down"
    assert result["output"]["status"] == 503  # the response stays readable by a failure edge

    refused = harness.run_flow(_one({"type": "http", "parameters": {"method": "GET", "url": "http://10.0.0.1/"}}))
    assert "not in this deployment's allow-list" in refused["task_results"]["call"]["error"]
