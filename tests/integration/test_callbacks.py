"""Callback tasks through the stream: the run parks WAITING with a token, `POST /callbacks/{token}` completes
it exactly once, heartbeats move its deadline, and the timer fails it when the deadline passes first."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness


def _approval(**task: Any) -> dict[str, Any]:
    return {
        "name": "approval",
        "start_task": "prepare",
        "tasks": [
            {"name": "prepare", "type": "pass", "input": {"amount": "${input.amount}"}},
            {"name": "approve", "type": "callback", "parameters": {"message": "approve the payment?"}, **task},
            {"name": "pay", "type": "pass", "input": {"approved_by": "${previous.output.by}"}},
            {"name": "rejected", "type": "pass"},
        ],
        "conditions": [
            {"source_task": "prepare", "outcome": "success", "target_task_success": "approve"},
            {
                "source_task": "approve",
                "outcome": "success",
                "target_task_success": "pay",
                "target_task_failure": "rejected",
            },
        ],
    }


def _waiting(harness: Harness, **task: Any) -> tuple[str, dict[str, Any]]:
    execution_id = harness.start(_approval(**task), {"amount": 120})
    harness.drain()
    document = harness.status(execution_id)
    approve = document["task_results"]["approve"]
    assert approve["status"] == "WAITING", approve
    return execution_id, approve["callback"]


def test_a_callback_task_waits_and_its_token_completes_it(harness: Harness) -> None:
    execution_id, ticket = _waiting(harness)
    assert ticket["url"] == f"/callbacks/{ticket['token']}"
    assert harness.status(execution_id)["status"] == "RUNNING"

    answer = harness.request("POST", ticket["url"], {"outcome": "success", "output": {"by": "ana"}})
    assert answer.status == 200, answer.json()
    assert answer.json()["outcome"] == "success"
    assert answer.json()["output"] == {"by": "ana"}
    harness.drain()

    document = harness.status(execution_id)
    assert document["status"] == "COMPLETED"
    assert document["task_results"]["approve"]["output"] == {"by": "ana"}
    assert document["task_results"]["approve"]["callback"] is None  # spent
    assert document["task_results"]["pay"]["output"] == {"approved_by": "ana"}


def test_the_same_completion_again_answers_alike_and_a_different_one_is_a_conflict(harness: Harness) -> None:
    execution_id, ticket = _waiting(harness)
    first = harness.request("POST", ticket["url"], {"outcome": "success", "output": {"by": "ana"}})
    again = harness.request("POST", ticket["url"], {"outcome": "success", "output": {"by": "ana"}})
    assert (first.status, again.status) == (200, 200)
    assert again.json() == first.json()

    other = harness.request("POST", ticket["url"], {"outcome": "failure", "error": "no"})
    assert other.status == 409
    assert "already completed, with outcome success" in other.json()["error"]["message"]

    harness.drain()
    after = harness.request("POST", ticket["url"], {"outcome": "success", "output": {"by": "ana"}})
    assert after.status == 200 and after.json() == first.json()  # also once the run has ended
    assert harness.status(execution_id)["status"] == "COMPLETED"


def test_a_failure_completion_takes_the_failure_path(harness: Harness) -> None:
    execution_id, ticket = _waiting(harness)
    answer = harness.request("POST", ticket["url"], {"outcome": "failure", "error": "over budget"})
    assert answer.status == 200
    harness.drain()
    document = harness.status(execution_id)
    assert document["task_results"]["approve"]["status"] == "FAILURE"
    assert document["task_results"]["approve"]["error"] == "over budget"
    assert document["task_results"]["rejected"]["status"] == "SUCCESS"
    assert document["status"] == "COMPLETED"


def test_tokens_that_were_not_issued_name_nothing(harness: Harness) -> None:
    _, ticket = _waiting(harness)
    payload = ticket["token"].split(".")[0]
    forged = f"{payload}.{'A' * 43}"
    assert harness.request("POST", f"/callbacks/{forged}", {"outcome": "success"}).status == 404
    assert harness.request("POST", "/callbacks/not-a-token", {"outcome": "success"}).status == 422
    assert harness.request("POST", f"/callbacks/{forged}/heartbeat").status == 404


def test_a_callback_body_is_checked(harness: Harness) -> None:
    _, ticket = _waiting(harness)
    for body in ({"outcome": "maybe"}, {"outcome": "failure", "output": {}}, {"outcome": "success", "x": 1}, {}):
        answer = harness.request("POST", ticket["url"], body)
        assert answer.status == 422, (body, answer.json())


def test_the_timer_fails_a_run_whose_callback_does_not_come(harness: Harness) -> None:
    execution_id, ticket = _waiting(harness, timeout_seconds=1)
    document = harness.settle(execution_id)
    approve = document["task_results"]["approve"]
    assert approve["status"] == "FAILURE"
    assert "timed out" in approve["error"]
    assert document["task_results"]["rejected"]["status"] == "SUCCESS"
    late = harness.request("POST", ticket["url"], {"outcome": "success"})
    assert late.status == 409
    assert "no longer waits" in late.json()["error"]["message"]


def test_heartbeats_move_the_deadline_and_their_absence_fails_the_run(harness: Harness) -> None:
    execution_id, ticket = _waiting(harness, heartbeat_seconds=2, timeout_seconds=600)
    beat = harness.request("POST", f"{ticket['url']}/heartbeat")
    assert beat.status == 200, beat.json()
    assert beat.json()["deadline"]
    document = harness.settle(execution_id)
    assert document["task_results"]["approve"]["error"] == "timed out: no heartbeat within 2 seconds"


def test_cancelling_spends_the_token(harness: Harness) -> None:
    execution_id, ticket = _waiting(harness)
    assert harness.request("POST", f"/executions/{execution_id}/cancel").status == 200
    late = harness.request("POST", ticket["url"], {"outcome": "success"})
    assert late.status == 409
    assert "SKIPPED" in late.json()["error"]["message"]


def test_tasks_that_do_not_await_take_no_callback_fields(harness: Harness) -> None:
    definition = {
        "name": "bad",
        "start_task": "a",
        "tasks": [
            {"name": "a", "type": "pass", "wait_for_callback": True, "heartbeat_seconds": 5, "timeout_seconds": 901}
        ],
    }
    answer = harness.request("POST", "/flows", definition)
    assert answer.status == 422
    fields = {detail["field"] for detail in answer.json()["error"]["details"]}
    assert fields == {"tasks[0].wait_for_callback", "tasks[0].heartbeat_seconds", "tasks[0].timeout_seconds"}


def test_a_retried_run_takes_a_new_token_and_the_old_one_is_spent(harness: Harness) -> None:
    execution_id, first = _waiting(harness, retry={"max_attempts": 2, "interval_seconds": 0})
    assert harness.request("POST", first["url"], {"outcome": "failure", "error": "not yet"}).status == 200
    harness.drain()

    second = harness.status(execution_id)["task_results"]["approve"]
    assert (second["status"], second["attempts"]) == ("WAITING", 2)
    assert second["callback"]["token"] != first["token"]
    stale = harness.request("POST", first["url"], {"outcome": "success", "output": {"by": "ana"}})
    assert stale.status == 409
    assert stale.json()["error"]["message"] == (
        "the task run moved on to attempt 2; this token was issued for attempt 1"
    )
    assert (
        harness.request("POST", second["callback"]["url"], {"outcome": "success", "output": {"by": "ana"}}).status
        == 200
    )
    harness.drain()
    assert harness.status(execution_id)["task_results"]["pay"]["output"] == {"approved_by": "ana"}
