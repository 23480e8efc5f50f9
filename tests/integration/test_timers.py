"""Retries, long waits, execution timeouts and lease reclaims go through the timer state machine,
which moto executes (Wait, then the DynamoDB UpdateItem integration) in its own threads."""

from __future__ import annotations

import time

import pytest

from tests.conftest import Harness


def test_retry_with_backoff_goes_through_the_timer(harness: Harness) -> None:
    definition = {
        "name": "retry-later",
        "start_task": "flaky",
        "tasks": [
            {"name": "flaky", "parameters": {"fail_times": 1}, "retry": {"max_attempts": 2, "interval_seconds": 1}}
        ],
    }
    execution_id = harness.start(definition)
    harness.drain()
    waiting = harness.request("GET", f"/executions/{execution_id}").json()
    assert waiting["task_results"]["flaky"]["status"] == "WAITING"
    assert "fail_times" in waiting["task_results"]["flaky"]["error"]

    doc = harness.settle(execution_id)

    assert doc["status"] == "COMPLETED"
    assert doc["task_results"]["flaky"]["attempts"] == 2
    timers = harness.stepfunctions.list_executions(stateMachineArn=harness.stack.state_machine_arn)["executions"]
    assert [timer["status"] for timer in timers] == ["SUCCEEDED"]


def test_retries_exhausted_fail_the_task(harness: Harness) -> None:
    definition = {
        "name": "always-failing",
        "start_task": "bad",
        "tasks": [
            {"name": "bad", "parameters": {"failure_rate": 1}, "retry": {"max_attempts": 3, "interval_seconds": 0}}
        ],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "FAILED"
    assert doc["task_results"]["bad"]["attempts"] == 3
    assert doc["task_results"]["bad"]["status"] == "FAILURE"


def test_a_long_wait_parks_the_run_and_the_timer_resumes_it(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcore.tasks import builtins

    monkeypatch.setattr(builtins, "MAX_INLINE_WAIT_SECONDS", 0)  # so that a one-second wait takes the timer path
    definition = {
        "name": "long-wait",
        "start_task": "pause",
        "tasks": [{"name": "pause", "type": "wait", "parameters": {"seconds": 1}}, {"name": "after"}],
    }
    execution_id = harness.start(definition)
    harness.drain()
    parked = harness.request("GET", f"/executions/{execution_id}").json()
    assert parked["task_results"]["pause"]["status"] == "WAITING"

    doc = harness.settle(execution_id)

    assert doc["status"] == "COMPLETED"
    assert doc["path"] == ["pause", "after"]
    assert doc["task_results"]["pause"]["attempts"] == 1
    assert doc["task_results"]["pause"]["output"] == {"waited_seconds": 1}


def test_an_execution_past_its_timeout_is_timed_out_and_starts_nothing_more(harness: Harness) -> None:
    definition = {
        "name": "slow",
        "start_task": "first",
        "timeout_seconds": 1,
        "tasks": [
            {"name": "first", "parameters": {"fail_times": 1}, "retry": {"max_attempts": 2, "interval_seconds": 3}},
            {"name": "second"},
        ],
    }
    execution_id = harness.start(definition)

    doc = harness.settle(execution_id)
    assert doc["status"] == "TIMED_OUT"
    assert "within 1 seconds" in doc["error"]

    time.sleep(3)  # the retry timer fires after the timeout: its run must be skipped, not run
    harness.settle(execution_id, timeout=5)
    after = harness.request("GET", f"/executions/{execution_id}").json()
    assert after["status"] == "TIMED_OUT"
    assert after["path"] == ["first"]
    assert after["task_results"]["first"]["status"] in ("WAITING", "SKIPPED")


def test_a_task_running_past_its_timeout_fails(harness: Harness) -> None:
    definition = {
        "name": "too-slow",
        "start_task": "nap",
        "tasks": [{"name": "nap", "type": "wait", "parameters": {"seconds": 3}, "timeout_seconds": 1}],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "FAILED"
    assert doc["task_results"]["nap"]["error"] == "timed out after 1 seconds"


# -- no timer outlives its execution --------------------------------------------------------------


def running_timers(harness: Harness, settle_seconds: float = 15.0) -> list[str]:
    """The timer executions still RUNNING; a stopped one leaves its Wait on moto's worker thread, so a stop is
    given a few seconds to show (15: under `make test`'s load one still showed RUNNING after 5)."""
    deadline = time.monotonic() + settle_seconds
    while True:
        timers = harness.stepfunctions.list_executions(
            stateMachineArn=harness.stack.state_machine_arn, statusFilter="RUNNING"
        )["executions"]
        if not timers or time.monotonic() > deadline:
            return [timer["name"] for timer in timers]
        time.sleep(0.05)


YEAR_LONG_WAIT = {
    "name": "a year",
    "start_task": "pause",
    "tasks": [{"name": "pause", "type": "wait", "parameters": {"seconds": 31_536_000}}, {"name": "after"}],
    "timeout_seconds": 31_536_000,
}


@pytest.mark.parametrize("how", ["cancel", "delete"])
def test_cancel_and_delete_stop_the_timers_an_execution_left(harness: Harness, how: str) -> None:
    # Given an execution parked in a year-long wait, with a year-long timeout: two timers running
    execution_id = harness.start(YEAR_LONG_WAIT)
    harness.drain()
    assert len(running_timers(harness, settle_seconds=0)) == 2
    # When it is cancelled, or deleted
    if how == "cancel":
        assert harness.request("POST", f"/executions/{execution_id}/cancel").status == 200
    else:
        assert harness.request("DELETE", f"/executions/{execution_id}").status == 200
    # Then no timer is left running
    assert running_timers(harness) == []


def test_an_execution_that_ends_stops_its_timeout_timer(harness: Harness) -> None:
    definition = {**YEAR_LONG_WAIT, "tasks": [{"name": "quick"}, {"name": "after"}], "start_task": "quick"}
    execution_id = harness.start(definition)
    harness.drain()
    assert harness.status(execution_id)["status"] == "COMPLETED"
    assert running_timers(harness) == []
    stopped = harness.stepfunctions.list_executions(
        stateMachineArn=harness.stack.state_machine_arn, statusFilter="ABORTED"
    )["executions"]
    assert [timer["name"].split("-")[0] for timer in stopped] == ["timeout"]


def test_a_branching_execution_that_ends_stops_its_timeout_timer(harness: Harness) -> None:
    from tests.faults import flows

    definition = {**flows.join_race(), "timeout_seconds": 31_536_000}
    execution_id = harness.start(definition)
    harness.drain()
    assert harness.status(execution_id)["status"] == "COMPLETED"
    assert running_timers(harness) == []
