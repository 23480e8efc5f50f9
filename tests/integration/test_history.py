"""Reads stay bounded and complete: the history is paged with one entry per attempt, and the status document
of a long execution keeps its bound."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness


def loop(runs: int, flow_id: str = "spin") -> dict[str, Any]:
    """A task routed back to itself, stopped by the transition limit after `runs` runs."""
    return {
        "id": flow_id,
        "name": "loop",
        "start_task": "spin",
        "max_transitions": runs,
        "tasks": [{"name": "spin"}],
        "conditions": [
            {"source_task": "spin", "outcome": "success", "target_task_success": "spin", "target_task_failure": "end"}
        ],
    }


def pages(harness: Harness, execution_id: str, limit: int) -> list[dict[str, Any]]:
    found = []
    cursor = None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = harness.request("GET", f"/executions/{execution_id}/history{query}")
        assert response.status == 200, response.json()
        found.append(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found


def test_a_retried_task_has_one_history_entry_per_attempt(harness: Harness) -> None:
    # Given a task that fails twice before it succeeds, retried at once
    definition = {
        "name": "retried",
        "start_task": "flaky",
        "tasks": [
            {"name": "flaky", "parameters": {"fail_times": 2}, "retry": {"max_attempts": 3, "interval_seconds": 0}},
            {"name": "after"},
        ],
    }
    execution_id = harness.start(definition)
    assert harness.settle(execution_id)["status"] == "COMPLETED"

    # When its history is read
    history = harness.request("GET", f"/executions/{execution_id}/history").json()

    # Then each attempt is there, none overwritten by the next
    assert [(event["seq"], event["task_name"], event["attempt"], event["status"]) for event in history["events"]] == [
        (1, "flaky", 1, "FAILURE"),
        (1, "flaky", 2, "FAILURE"),
        (1, "flaky", 3, "SUCCESS"),
        (2, "after", 1, "SUCCESS"),
    ]
    assert history["events"][0]["error"] == "forced failure 1 of 2 (fail_times)"
    assert history["events"][2]["output"] == {"parameters": {}}
    assert history["next_cursor"] is None


def test_the_history_pages_through_every_run_in_order(harness: Harness) -> None:
    document = harness.run_flow(loop(23))
    assert document["path_total"] == 23

    found = pages(harness, document["execution_id"], limit=10)

    assert [len(page["events"]) for page in found] == [10, 10, 3]
    assert [event["seq"] for page in found for event in page["events"]] == list(range(1, 24))


def test_a_history_cursor_belongs_to_its_execution(harness: Harness) -> None:
    first = harness.run_flow(loop(5))["execution_id"]
    second = harness.run_flow(loop(5, "spin-2"))["execution_id"]
    cursor = harness.request("GET", f"/executions/{first}/history?limit=2").json()["next_cursor"]

    elsewhere = harness.request("GET", f"/executions/{second}/history?cursor={cursor}")
    forged = harness.request("GET", f"/executions/{first}/history?cursor={cursor[:-4]}")
    too_many = harness.request("GET", f"/executions/{first}/history?limit=51")

    assert (elsewhere.status, forged.status, too_many.status) == (400, 400, 422)
    assert "another query" in elsewhere.json()["error"]["message"]


def test_a_long_executions_status_document_keeps_its_bound(harness: Harness) -> None:
    document = harness.run_flow(loop(130))

    assert document["status"] == "FAILED"
    assert document["path"] == ["spin"] * 100
    assert document["path_total"] == 130
    assert document["run_counts"] == {"SUCCESS": 130}
    assert document["completed_tasks"] == ["spin"]
    assert list(document["task_results"]) == ["spin"]
