"""The original FastAPI service's own integration test, ported to run over HTTP against `make run`, and the
rest of its contract (SEED.md) as its clients see it."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import DEADLINE_SECONDS, Client

pytestmark = pytest.mark.e2e

STATUS_FIELDS = {
    "execution_id",
    "flow_name",
    "status",
    "current_task",
    "completed_tasks",
    "started_at",
    "ended_at",
    "task_results",
}
RESULT_FIELDS = {"task_name", "status", "message", "data", "execution_time", "timestamp", "error"}


def originals_test_flow(flow_id: str) -> dict[str, Any]:
    """The flow of the original's tests/test_api_integration.py: two tasks, no conditions."""
    return {
        "id": flow_id,
        "name": "Test Flow",
        "start_task": "start",
        "tasks": [
            {"name": "start", "description": "Start task", "task_type": "print", "parameters": {"message": "Starting"}},
            {"name": "end", "description": "End task", "task_type": "wait", "parameters": {"seconds": 0}},
        ],
        "conditions": [],
    }


def poll_until_completed(client: Client, execution_id: str) -> dict[str, Any]:
    """As the original's test does: read the status until it says COMPLETED."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        reply = client.request("GET", f"/flow/{execution_id}/status")
        assert reply.status == 200, reply.body
        document: dict[str, Any] = reply.json()
        if document["status"] == "COMPLETED":
            return document
        assert document["status"] in ("CREATED", "RUNNING"), document
        assert time.monotonic() < deadline, document
        time.sleep(0.1)


def test_the_originals_integration_test_passes(client: Client) -> None:
    # Given the original's two-task flow, created through its route
    created = client.request("POST", "/flow/create", originals_test_flow("seed-integration"))
    assert created.status == 200, created.body
    body = created.json()
    assert (body["status"], body["message"], body["flow_name"]) == ("created", "Flow created successfully", "Test Flow")
    execution_id = body["execution_id"]

    # When it is executed and polled to the end
    executed = client.request("POST", "/flow/execute", {"execution_id": execution_id})
    assert executed.status == 200, executed.body
    document = poll_until_completed(client, execution_id)

    # Then both tasks completed, `end` included (a task named end still runs in list order)
    assert "start" in document["completed_tasks"]
    assert "end" in document["completed_tasks"]

    # And deleting it answers as the original does
    deleted = client.request("DELETE", f"/flow/{execution_id}")
    assert deleted.status == 200
    assert "deleted successfully" in deleted.json()["message"]
    assert deleted.json() == {"message": f"Flow execution {execution_id} deleted successfully"}
    assert client.request("GET", f"/flow/{execution_id}/status").status == 404


def test_root_and_health_answer_as_the_original(client: Client) -> None:
    root = client.request("GET", "/")
    health = client.request("GET", "/health")

    assert (root.status, root.json()) == (200, {"message": "Flow Manager API is running"})
    assert health.status == 200
    assert set(health.json()) == {"status", "timestamp"}
    assert health.json()["status"] == "healthy"
    assert datetime.fromisoformat(health.json()["timestamp"]).tzinfo is not None


def test_execute_answers_with_the_status_document(client: Client) -> None:
    execution_id = client.request("POST", "/flow/create", originals_test_flow("seed-execute")).json()["execution_id"]

    executed = client.request("POST", "/flow/execute", {"execution_id": execution_id})

    document = executed.json()
    assert set(document) >= STATUS_FIELDS
    assert (document["execution_id"], document["status"], document["current_task"]) == (
        execution_id,
        "RUNNING",
        "start",
    )
    finished = poll_until_completed(client, execution_id)
    for result in finished["task_results"].values():
        assert set(result) >= RESULT_FIELDS
        assert result["timestamp"] is not None
    assert finished["task_results"]["start"]["data"] == {"message": "Starting"}
    assert finished["task_results"]["end"]["data"] == {"waited_seconds": 0}


def test_unknown_executions_are_named_as_the_original_names_them(client: Client) -> None:
    for method, path, body in [
        ("POST", "/flow/execute", {"execution_id": "nope"}),
        ("GET", "/flow/nope/status", None),
        ("DELETE", "/flow/nope", None),
    ]:
        reply = client.request(method, path, body)
        assert reply.status == 404, (method, path)
        assert reply.json()["error"]["message"] == "Flow execution nope not found"


def test_the_originals_task_parameters_work_as_documented(client: Client) -> None:
    definition = {
        "id": "seed-parameters",
        "name": "Parameters",
        "start_task": "fetch",
        "tasks": [
            {"name": "fetch", "task_type": "fetch_data", "parameters": {"data_source": "orders_db", "batch": 5}},
            {"name": "process", "task_type": "process_data", "parameters": {"method": "aggregate"}},
            {"name": "store", "task_type": "store_data", "parameters": {"storage_path": "/out", "format": "csv"}},
            {"name": "say", "task_type": "print"},
            {"name": "pause", "task_type": "wait"},
        ],
    }
    execution_id = client.request("POST", "/flow/create", definition).json()["execution_id"]
    client.request("POST", "/flow/execute", {"execution_id": execution_id})

    data = {name: result["data"] for name, result in poll_until_completed(client, execution_id)["task_results"].items()}

    assert data["fetch"] == {"data_source": "orders_db", "records_fetched": 3, "parameters": {"batch": 5}}
    assert data["process"]["method"] == "aggregate"
    assert (data["store"]["storage_path"], data["store"]["format"]) == ("/out", "csv")
    assert data["say"] == {"message": "Default print task message"}
    assert data["pause"] == {"waited_seconds": 1.0}
    stored = client.request("GET", "/flows/seed-parameters").json()["definition"]
    assert stored["tasks"][0]["parameters"] == {"data_source": "orders_db", "batch": 5}
