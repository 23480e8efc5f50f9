"""The HTTP contract of DESIGN §5: seed routes, resource routes, errors, validation, limits."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import Harness, example


def sample() -> dict[str, Any]:
    return copy.deepcopy(example("data_processing")["flow"])


def problems(response: Any) -> dict[str, str]:
    body = response.json()
    assert response.status == 422, body
    assert body["error"]["code"] == "validation_error"
    return {detail["field"]: detail["message"] for detail in body["error"]["details"]}


# -- seed routes ------------------------------------------------------------------------------------


def test_health(harness: Harness) -> None:
    response = harness.request("GET", "/health")
    assert response.status == 200
    assert response.json()["status"] == "healthy"


def test_seed_create_then_execute_then_status_then_delete(harness: Harness) -> None:
    created = harness.request("POST", "/flow/create", example("data_processing"))
    assert created.status == 200
    body = created.json()
    assert (body["flow_id"], body["flow_name"], body["status"]) == ("flow123", "Data processing flow", "created")
    assert body["message"] == "Flow created successfully"
    execution_id = body["execution_id"]

    before = harness.request("GET", f"/flow/{execution_id}/status").json()
    assert before["status"] == "CREATED"
    assert before["path"] == []

    started = harness.request("POST", "/flow/execute", {"execution_id": execution_id})
    assert started.status == 200
    assert started.json()["status"] == "RUNNING"
    assert started.json()["task_results"]["task1"]["status"] == "PENDING"  # the status document, not a summary
    running = harness.request("GET", f"/flow/{execution_id}/status").json()
    assert running["current_task"] == "task1"
    assert running["task_results"]["task1"]["status"] == "PENDING"

    harness.drain()
    status = harness.request("GET", f"/flow/{execution_id}/status")
    assert status.status == 200
    assert status.json()["status"] == "COMPLETED"

    again = harness.request("POST", "/flow/execute", {"execution_id": execution_id})
    assert again.status == 409
    assert "COMPLETED" in again.json()["error"]["message"]

    deleted = harness.request("DELETE", f"/flow/{execution_id}")
    assert deleted.status == 200
    assert deleted.json() == {"message": f"Flow execution {execution_id} deleted successfully"}
    assert harness.items(execution_id) == []
    assert harness.request("GET", f"/flow/{execution_id}/status").status == 404


def test_seed_execute_by_flow_id_starts_a_new_execution_with_input(harness: Harness) -> None:
    harness.request("POST", "/flow/create", sample())
    started = harness.request("POST", "/flow/execute", {"flow_id": "flow123", "input": {"day": "monday"}})
    assert started.status == 200
    harness.drain()
    doc = harness.request("GET", f"/flow/{started.json()['execution_id']}/status").json()
    assert (doc["status"], doc["input"]) == ("COMPLETED", {"day": "monday"})


@pytest.mark.parametrize(
    "body",
    [{}, {"execution_id": "x", "flow_id": "flow123"}, {"execution_id": "x", "input": {}}],
)
def test_seed_execute_needs_exactly_one_way_to_name_the_execution(harness: Harness, body: dict[str, Any]) -> None:
    response = harness.request("POST", "/flow/execute", body)
    assert response.status == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_unknown_ids_are_404_on_status_execute_and_delete(harness: Harness) -> None:
    for method, path, body in [
        ("GET", "/flow/nope/status", None),
        ("POST", "/flow/execute", {"execution_id": "nope"}),
        ("POST", "/flow/execute", {"flow_id": "nope"}),
        ("DELETE", "/flow/nope", None),
        ("GET", "/executions/nope", None),
        ("DELETE", "/executions/nope", None),
        ("GET", "/executions/nope/history", None),
        ("POST", "/executions/nope/cancel", None),
        ("GET", "/flows/nope", None),
        ("POST", "/flows/nope/executions", {}),
        ("DELETE", "/flows/nope", None),
    ]:
        response = harness.request(method, path, body)
        assert response.status == 404, (method, path, response.json())
        error = response.json()["error"]
        assert error["code"] == "not_found"
        assert "nope" in error["message"]


def test_unknown_route_is_404(harness: Harness) -> None:
    assert harness.request("GET", "/no/such/route").status == 404


# -- resource routes ----------------------------------------------------------------------------------


def test_flows_are_immutable_versions_and_executions_stay_pinned(harness: Harness) -> None:
    first = harness.request("POST", "/flows", sample())
    assert first.status == 201
    assert (first.json()["version"], first.json()["created"]) == (1, True)
    same = harness.request("POST", "/flows", sample())
    assert same.status == 200
    assert (same.json()["version"], same.json()["created"]) == (1, False)

    pinned = harness.request("POST", "/flow/create", sample()).json()["execution_id"]
    changed = sample()
    changed["tasks"][0]["parameters"] = {"failure_rate": 1}
    second = harness.request("POST", "/flows", changed)
    assert second.json()["version"] == 2

    harness.request("POST", "/flow/execute", {"execution_id": pinned})
    harness.drain()
    doc = harness.request("GET", f"/executions/{pinned}").json()
    assert (doc["flow_version"], doc["status"]) == (1, "COMPLETED")

    assert harness.request("GET", "/flows/flow123").json()["version"] == 2
    old = harness.request("GET", "/flows/flow123?version=1").json()
    assert old["definition"]["tasks"][0]["parameters"] == {}
    assert harness.request("GET", "/flows/flow123?version=9").status == 404


def test_flow_list_pages_with_a_cursor(harness: Harness) -> None:
    for index in range(3):
        definition = sample()
        definition["id"] = f"flow-{index}"
        harness.request("POST", "/flows", definition)
    first = harness.request("GET", "/flows?limit=2").json()
    assert [flow["flow_id"] for flow in first["flows"]] == ["flow-0", "flow-1"]
    second = harness.request("GET", f"/flows?limit=2&cursor={first['next_cursor']}").json()
    assert [flow["flow_id"] for flow in second["flows"]] == ["flow-2"]
    assert harness.request("GET", "/flows?cursor=%%%").status == 400


def test_executions_start_with_202_and_list_by_flow_and_status(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    started = harness.request("POST", "/flows/flow123/executions", {"input": {"n": 1}})
    assert started.status == 202
    assert started.json()["status"] == "RUNNING"
    harness.request("POST", "/flow/create", sample())  # one more, left CREATED
    harness.drain()

    listed = harness.request("GET", "/executions?flow_id=flow123").json()["executions"]
    assert sorted(entry["status"] for entry in listed) == ["COMPLETED", "CREATED"]
    completed = harness.request("GET", "/executions?flow_id=flow123&status=COMPLETED").json()["executions"]
    assert [entry["execution_id"] for entry in completed] == [started.json()["execution_id"]]
    assert harness.request("GET", "/executions?flow_id=flow123&status=BOGUS").status == 422
    assert harness.request("GET", "/executions").status == 422


def test_idempotency_key_returns_the_first_execution(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    headers = {"Idempotency-Key": "order-42"}
    first = harness.request("POST", "/flows/flow123/executions", {"input": {"order": 42}}, headers)
    again = harness.request("POST", "/flows/flow123/executions", {"input": {"order": 42}}, headers)
    assert (first.status, again.status) == (202, 200)
    assert first.json()["execution_id"] == again.json()["execution_id"]

    conflict = harness.request("POST", "/flows/flow123/executions", {"input": {"order": 43}}, headers)
    assert conflict.status == 409
    assert conflict.json()["error"]["code"] == "conflict"


def test_history_lists_every_run_in_order(harness: Harness) -> None:
    doc = harness.run_flow(sample())
    history = harness.request("GET", f"/executions/{doc['execution_id']}/history").json()
    assert [(event["seq"], event["task_name"], event["status"]) for event in history["events"]] == [
        (1, "task1", "SUCCESS"),
        (2, "task2", "SUCCESS"),
        (3, "task3", "SUCCESS"),
    ]


def test_cancel_stops_an_execution_before_its_next_task(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    execution_id = harness.request("POST", "/flows/flow123/executions", {}).json()["execution_id"]

    cancelled = harness.request("POST", f"/executions/{execution_id}/cancel")
    assert cancelled.status == 200
    assert cancelled.json()["status"] == "CANCELLED"
    harness.drain()

    doc = harness.request("GET", f"/executions/{execution_id}").json()
    assert (doc["status"], doc["path"]) == ("CANCELLED", [])
    assert harness.request("POST", f"/executions/{execution_id}/cancel").status == 409


def test_delete_of_a_running_execution_leaves_no_items(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    execution_id = harness.request("POST", "/flows/flow123/executions", {}).json()["execution_id"]
    harness.pump.poll()  # task1 ran; task2 is PENDING

    assert harness.request("DELETE", f"/executions/{execution_id}").status == 200
    harness.drain()
    assert harness.items(execution_id) == []


def test_delete_flow_refuses_while_executions_are_active(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    execution_id = harness.request("POST", "/flow/create", sample()).json()["execution_id"]
    assert harness.request("DELETE", "/flows/flow123").status == 409
    harness.request("DELETE", f"/executions/{execution_id}")
    assert harness.request("DELETE", "/flows/flow123").status == 200
    assert harness.request("GET", "/flows/flow123").status == 404


# -- bad input ----------------------------------------------------------------------------------------


def test_malformed_json_is_400(harness: Harness) -> None:
    response = harness.request("POST", "/flows", raw=b'{"name": ')
    assert response.status == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_bodies_over_one_mebibyte_are_413(harness: Harness) -> None:
    response = harness.request("POST", "/flows", raw=b'{"name": "' + b"x" * (1024 * 1024) + b'"}')
    assert response.status == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_every_graph_rule_is_reported_with_its_field(harness: Harness) -> None:
    definition = {
        "name": "broken",
        "start_task": "missing",
        "tasks": [
            {"name": "a", "type": "teleport"},
            {"name": "a"},
            {"name": "b", "type": "wait", "parameters": {"seconds": -1}},
            {"name": "c", "parameters": {"failure_rate": 2}},
        ],
        "conditions": [
            {
                "source_task": "ghost",
                "outcome": "maybe",
                "target_task_success": "nowhere",
                "target_task_failure": "END",
            },
        ],
    }
    found = problems(harness.request("POST", "/flows", definition))
    assert set(found) == {
        "start_task",
        "tasks[0].type",
        "tasks[1].name",
        "tasks[2].parameters.seconds",
        "tasks[3].parameters.failure_rate",
        "conditions[0].source_task",
        "conditions[0].outcome",
        "conditions[0].target_task_success",
    }
    assert "teleport" in found["tasks[0].type"]
    assert "duplicate" in found["tasks[1].name"]


def test_shape_problems_name_their_field_flat_and_wrapped(harness: Harness) -> None:
    flat = problems(harness.request("POST", "/flows", {"start_task": "a", "tasks": [{"name": ""}], "extra": 1}))
    assert {"name", "tasks[0].name", "extra"} <= set(flat)

    wrapped = problems(harness.request("POST", "/flow/create", {"flow": {"name": "x", "start_task": "a", "tasks": []}}))
    assert "flow.tasks" in wrapped


def test_type_and_task_type_are_aliases(harness: Harness) -> None:
    definition = {
        "name": "alias",
        "start_task": "a",
        "tasks": [{"name": "a", "task_type": "print", "parameters": {"message": "m"}}],
    }
    doc = harness.run_flow(definition)
    assert doc["task_results"]["a"]["output"] == {"message": "m"}

    clash = {"name": "alias", "start_task": "a", "tasks": [{"name": "a", "type": "print", "task_type": "pass"}]}
    assert "tasks[0]" in problems(harness.request("POST", "/flows", clash))


def test_input_must_be_an_object_and_is_bounded_by_the_request(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    assert harness.request("POST", "/flows/flow123/executions", {"input": [1, 2]}).status == 422
    # An input over the inline limit is kept in the payload bucket (tests/integration/test_payloads.py)
    assert harness.request("POST", "/flows/flow123/executions", {"input": {"blob": "x" * 40_000}}).status == 202
    too_big = {"input": {"blob": "x" * (1024 * 1024)}}
    assert harness.request("POST", "/flows/flow123/executions", too_big).status == 413


def test_openapi_document_describes_every_route(harness: Harness) -> None:
    from openapi_spec_validator import validate

    response = harness.request("GET", "/openapi.json")
    document = json.loads(response.body)
    validate(document)
    assert {"/health", "/flow/create", "/flow/execute", "/flows", "/executions/{execution_id}"} <= set(
        document["paths"]
    )
    docs = harness.request("GET", "/docs")
    assert docs.status == 200
    assert b"swagger-ui" in docs.body


def test_cancel_skips_the_pending_runs_and_starts_no_task_after_it(stepwise: Harness) -> None:
    harness = stepwise
    harness.request("POST", "/flows", sample())
    execution_id = harness.request("POST", "/flows/flow123/executions", {}).json()["execution_id"]
    harness.pump.poll()  # task1 ran; task2 waits as a PENDING run

    cancelled = harness.request("POST", f"/executions/{execution_id}/cancel")
    assert cancelled.json()["status"] == "CANCELLED"
    harness.drain()

    doc = harness.request("GET", f"/executions/{execution_id}").json()
    assert doc["status"] == "CANCELLED"
    assert doc["path"] == ["task1", "task2"]
    assert doc["task_results"]["task2"]["status"] == "SKIPPED"
    assert "task3" not in doc["task_results"]
