"""Subflow tasks through the stream: the parent's run parks, the child runs as its own execution (each shows
the other's id), and the child's end completes the parent's run exactly once."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness


def _child(flow_id: str = "child-flow", **task: Any) -> dict[str, Any]:
    return {
        "id": flow_id,
        "name": "child",
        "start_task": "echo",
        "tasks": [{"name": "echo", "type": "pass", "input": {"echoed": "${input.n}"}, **task}],
    }


def _parent(child_id: str = "child-flow", flow_id: str = "parent-flow", **task: Any) -> dict[str, Any]:
    return {
        "id": flow_id,
        "name": "parent",
        "start_task": "call",
        "tasks": [
            {
                "name": "call",
                "type": "subflow",
                "parameters": {"flow_id": child_id},
                "input": {"n": "${input.n}"},
                **task,
            },
            {"name": "report", "type": "pass", "input": {"got": "${previous.output.output.echoed}"}},
            {"name": "handle", "type": "pass", "input": {"error": "${previous.error}"}},
        ],
        "conditions": [
            {
                "source_task": "call",
                "outcome": "success",
                "target_task_success": "report",
                "target_task_failure": "handle",
            }
        ],
    }


def test_a_subflow_runs_the_child_and_takes_its_output(harness: Harness) -> None:
    assert harness.request("POST", "/flows", _child()).status == 201
    execution_id = harness.start(_parent(), {"n": 21})
    harness.drain()

    document = harness.status(execution_id)
    assert document["status"] == "COMPLETED", document
    call = document["task_results"]["call"]
    child_id = call["child_execution_id"]
    assert call["output"] == {"execution_id": child_id, "status": "COMPLETED", "output": {"echoed": 21}}
    assert document["task_results"]["report"]["output"] == {"got": 21}

    child = harness.status(child_id)
    assert child["status"] == "COMPLETED"
    assert child["input"] == {"n": 21}
    assert child["parent"] == {"execution_id": execution_id, "task_name": "call", "depth": 1}


def test_a_failed_child_fails_the_parents_run_with_its_error(harness: Harness) -> None:
    assert harness.request("POST", "/flows", _child(parameters={"failure_rate": 1})).status == 201
    execution_id = harness.start(_parent(), {"n": 1})
    harness.drain()
    document = harness.status(execution_id)
    call = document["task_results"]["call"]
    assert call["status"] == "FAILURE"
    assert call["error"].startswith(f"child execution {call['child_execution_id']} ended FAILED")
    assert document["task_results"]["handle"]["status"] == "SUCCESS"


def test_a_missing_child_flow_fails_the_run_saying_so(harness: Harness) -> None:
    execution_id = harness.start(_parent(child_id="nowhere"), {"n": 1})
    harness.drain()
    call = harness.status(execution_id)["task_results"]["call"]
    assert call["status"] == "FAILURE"
    assert "flow 'nowhere'" in call["error"]


def test_cancelling_the_parent_cancels_its_child(harness: Harness) -> None:
    waiting_child = {
        "id": "slow-child",
        "name": "slow child",
        "start_task": "approve",
        "tasks": [{"name": "approve", "type": "callback"}],
    }
    assert harness.request("POST", "/flows", waiting_child).status == 201
    execution_id = harness.start(_parent(child_id="slow-child"), {"n": 1})
    harness.drain()
    child_id = harness.status(execution_id)["task_results"]["call"]["child_execution_id"]
    assert harness.status(child_id)["status"] == "RUNNING"

    assert harness.request("POST", f"/executions/{execution_id}/cancel").status == 200
    harness.drain()
    assert harness.status(child_id)["status"] == "CANCELLED"
    assert harness.status(execution_id)["status"] == "CANCELLED"


def test_a_flow_that_starts_itself_is_refused_when_saved(harness: Harness) -> None:
    answer = harness.request("POST", "/flows", _parent(child_id="parent-flow"))
    assert answer.status == 422
    assert answer.json()["error"]["details"][0]["field"] == "tasks[0].parameters.flow_id"
    assert "start itself without end" in answer.json()["error"]["details"][0]["message"]


def test_nesting_is_bounded(harness: Harness) -> None:
    # a -> b -> a ... cannot be seen when saved; the nesting limit ends it
    assert harness.request("POST", "/flows", _parent(child_id="ping-b", flow_id="ping-a")).status == 201
    assert harness.request("POST", "/flows", _parent(child_id="ping-a", flow_id="ping-b")).status == 201
    execution_id = harness.start(_parent(child_id="ping-b", flow_id="ping-a"), {"n": 1})
    document = harness.settle(execution_id)
    assert document["status"] == "COMPLETED"  # its failure edge handled the child's failure
    assert "nest at most 5 deep" in _deepest_error(harness, document)


def _deepest_error(harness: Harness, document: dict[str, Any]) -> str:
    call = document["task_results"]["call"]
    child_id = call.get("child_execution_id")
    if child_id is None or (call["error"] and "nest at most" in call["error"]):
        return str(call["error"])
    return _deepest_error(harness, harness.status(child_id))
