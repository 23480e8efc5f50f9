"""Flows run end to end in process: API handler -> table -> stream -> task runner, all against moto."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import Harness, example


def sample() -> dict[str, Any]:
    return copy.deepcopy(example("data_processing")["flow"])


def with_params(definition: dict[str, Any], task: str, **params: Any) -> dict[str, Any]:
    for entry in definition["tasks"]:
        if entry["name"] == task:
            entry["parameters"] = {**entry.get("parameters", {}), **params}
    return definition


def test_canonical_sample_completes_with_every_task_reported(harness: Harness) -> None:
    # Given the canonical three-task sample, When it runs
    doc = harness.run_flow(sample())

    # Then every task succeeded in order and the document has every field of the contract
    assert doc["status"] == "COMPLETED"
    assert doc["path"] == ["task1", "task2", "task3"]
    assert doc["completed_tasks"] == ["task1", "task2", "task3"]
    assert doc["current_task"] is None
    assert doc["error"] is None
    assert doc["started_at"] <= doc["ended_at"]
    assert set(doc["task_results"]) == {"task1", "task2", "task3"}
    first = doc["task_results"]["task1"]
    assert first["status"] == "SUCCESS"
    assert first["attempts"] == 1
    assert first["error"] is None
    assert first["output"] == first["data"] == {"data_source": "default", "records_fetched": 3}
    assert first["timestamp"] == first["ended_at"]
    assert first["message"] == "Task task1 completed successfully"
    assert first["execution_time"] > 0
    assert first["started_at"] <= first["ended_at"]
    # And the table holds one execution item and exactly one item per task run
    items = harness.items(doc["execution_id"])
    assert sorted(item["sk"] for item in items) == ["META", "RUN#000001#task1", "RUN#000002#task2", "RUN#000003#task3"]
    meta = next(item for item in items if item["sk"] == "META")
    assert meta["status"] == "COMPLETED"
    assert meta["open_branches"] == 0


@pytest.mark.parametrize(
    ("failing", "path"), [("task1", ["task1"]), ("task2", ["task1", "task2"]), ("task3", ["task1", "task2", "task3"])]
)
def test_each_sample_task_failing_fails_the_execution_there(harness: Harness, failing: str, path: list[str]) -> None:
    doc = harness.run_flow(with_params(sample(), failing, failure_rate=1))

    assert doc["status"] == "FAILED"
    assert doc["path"] == path
    assert doc["completed_tasks"] == path[:-1]
    assert doc["task_results"][failing]["status"] == "FAILURE"
    assert "failure_rate" in doc["task_results"][failing]["error"]
    assert doc["error"].startswith(f"task '{failing}' failed")


def test_flow_without_conditions_runs_in_list_order(harness: Harness) -> None:
    definition = {
        "name": "pipeline",
        "start_task": "a",
        "tasks": [{"name": "a"}, {"name": "b", "type": "print", "parameters": {"message": "hi"}}, {"name": "c"}],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "COMPLETED"
    assert doc["path"] == ["a", "b", "c"]
    assert doc["task_results"]["b"]["output"] == {"message": "hi"}


def test_flow_without_conditions_stops_at_the_first_failure(harness: Harness) -> None:
    definition = {
        "name": "pipeline",
        "start_task": "a",
        "tasks": [{"name": "a"}, {"name": "b", "parameters": {"fail_times": 1}}, {"name": "c"}],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "FAILED"
    assert doc["path"] == ["a", "b"]


def test_failure_routed_to_a_recovery_task_is_handled(harness: Harness) -> None:
    definition = {
        "name": "recovering",
        "start_task": "risky",
        "tasks": [
            {"name": "risky", "type": "fetch_data", "parameters": {"failure_rate": 1}},
            {"name": "recover", "type": "print", "parameters": {"message": "cleaning up"}},
            {"name": "finish"},
        ],
        "conditions": [
            {
                "source_task": "risky",
                "outcome": "success",
                "target_task_success": "finish",
                "target_task_failure": "recover",
            },
            {
                "source_task": "recover",
                "outcome": "success",
                "target_task_success": "end",
                "target_task_failure": "end",
            },
        ],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "COMPLETED"
    assert doc["path"] == ["risky", "recover"]
    assert doc["task_results"]["risky"]["status"] == "FAILURE"
    assert doc["completed_tasks"] == ["recover"]
    assert doc["error"] is None


def test_outcome_failure_picks_its_success_target_when_the_task_fails(harness: Harness) -> None:
    definition = {
        "name": "inverted",
        "start_task": "check",
        "tasks": [{"name": "check", "parameters": {"fail_times": 1}}, {"name": "on_failure"}, {"name": "on_success"}],
        "conditions": [
            {
                "source_task": "check",
                "outcome": "failure",
                "target_task_success": "on_failure",
                "target_task_failure": "on_success",
            }
        ],
    }
    failed = harness.run_flow(definition)
    assert failed["path"] == ["check", "on_failure"]
    assert failed["status"] == "COMPLETED"

    definition["tasks"][0]["parameters"] = {}
    definition["id"] = "inverted-ok"
    succeeded = harness.run_flow(definition)
    assert succeeded["path"] == ["check", "on_success"]


def test_a_branch_ending_right_after_a_failure_fails_the_execution(harness: Harness) -> None:
    definition = {
        "name": "ends-on-failure",
        "start_task": "a",
        "tasks": [{"name": "a", "parameters": {"failure_rate": 1}}, {"name": "b"}],
        "conditions": [
            {"source_task": "a", "outcome": "success", "target_task_success": "b", "target_task_failure": "END"}
        ],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "FAILED"
    assert doc["path"] == ["a"]


def test_a_task_named_end_still_runs_in_list_order(harness: Harness) -> None:
    doc = harness.run_flow({"name": "named-end", "start_task": "a", "tasks": [{"name": "a"}, {"name": "end"}]})

    assert doc["path"] == ["a", "end"]
    assert doc["status"] == "COMPLETED"


def test_parallel_branches_all_run_before_the_execution_completes(harness: Harness) -> None:
    definition = {
        "name": "fan-out",
        "start_task": "split",
        "tasks": [{"name": "split"}, {"name": "left"}, {"name": "right"}, {"name": "left_2"}],
        "conditions": [
            {"source_task": "split", "outcome": "success", "target_task_success": "left", "target_task_failure": "end"},
            {
                "source_task": "split",
                "outcome": "success",
                "target_task_success": "right",
                "target_task_failure": "end",
            },
            {
                "source_task": "left",
                "outcome": "success",
                "target_task_success": "left_2",
                "target_task_failure": "end",
            },
        ],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "COMPLETED"
    assert sorted(doc["path"]) == ["left", "left_2", "right", "split"]
    meta = next(item for item in harness.items(doc["execution_id"]) if item["sk"] == "META")
    assert meta["open_branches"] == 0


def test_an_unhandled_failure_in_one_branch_fails_the_execution_after_all_branches_end(harness: Harness) -> None:
    definition = {
        "name": "fan-out-failing",
        "start_task": "split",
        "tasks": [
            {"name": "split"},
            {"name": "bad", "parameters": {"failure_rate": 1}},
            {"name": "good"},
            {"name": "good_2"},
        ],
        "conditions": [
            {"source_task": "split", "outcome": "success", "target_task_success": "bad", "target_task_failure": "end"},
            {"source_task": "split", "outcome": "success", "target_task_success": "good", "target_task_failure": "end"},
            {
                "source_task": "good",
                "outcome": "success",
                "target_task_success": "good_2",
                "target_task_failure": "end",
            },
        ],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "FAILED"
    assert doc["task_results"]["good_2"]["status"] == "SUCCESS"
    assert doc["error"].startswith("task 'bad' failed")


def test_a_loop_stops_cleanly_at_the_transition_limit(harness: Harness) -> None:
    definition = {
        "name": "loop",
        "start_task": "spin",
        "max_transitions": 5,
        "tasks": [{"name": "spin"}],
        "conditions": [
            {"source_task": "spin", "outcome": "success", "target_task_success": "spin", "target_task_failure": "end"}
        ],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "FAILED"
    assert "transition limit of 5" in doc["error"]
    assert doc["path"] == ["spin"] * 5


def test_retries_rerun_a_task_until_it_succeeds(harness: Harness) -> None:
    definition = {
        "name": "retrying",
        "start_task": "flaky",
        "tasks": [
            {"name": "flaky", "parameters": {"fail_times": 2}, "retry": {"max_attempts": 3, "interval_seconds": 0}}
        ],
    }
    doc = harness.run_flow(definition)

    assert doc["status"] == "COMPLETED"
    assert doc["task_results"]["flaky"]["attempts"] == 3
    assert doc["path"] == ["flaky"]


def test_two_interleaved_executions_keep_their_own_results(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    ok = harness.request("POST", "/flows/flow123/executions", {"input": {"run": "ok"}}).json()["execution_id"]
    failing = with_params(sample(), "task2", failure_rate=1)
    failing["id"] = "flow-failing"
    harness.request("POST", "/flows", failing)
    bad = harness.request("POST", "/flows/flow-failing/executions", {"input": {"run": "bad"}}).json()["execution_id"]

    harness.drain()  # both executions' records arrive in one stream, interleaved

    ok_doc = harness.request("GET", f"/executions/{ok}").json()
    bad_doc = harness.request("GET", f"/executions/{bad}").json()
    assert (ok_doc["status"], ok_doc["path"], ok_doc["input"]) == (
        "COMPLETED",
        ["task1", "task2", "task3"],
        {"run": "ok"},
    )
    assert (bad_doc["status"], bad_doc["path"], bad_doc["input"]) == ("FAILED", ["task1", "task2"], {"run": "bad"})


def test_a_redelivered_stream_history_changes_nothing(harness: Harness) -> None:
    # Given a finished execution
    doc = harness.run_flow(sample())
    before = harness.items(doc["execution_id"])

    # When every record of the stream is delivered again from the start
    from local.esm import StreamPump

    replay = StreamPump(
        harness.pump._streams, harness.stack.stream_arn, harness.pump._handler, harness.stack.spec.mapping
    )
    assert replay.drain() > 0

    # Then no task ran again and no item changed
    assert harness.items(doc["execution_id"]) == before
