"""The status document's bound and the history's entries, built from records (no table)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flowcore.api.history import run_entries
from flowcore.api.views import MAX_INLINE_OUTPUT_BYTES, MAX_PATH, StatusFold, status_document
from flowcore.domain.payloads import PayloadRef
from flowcore.domain.records import AttemptRecord, ExecutionRecord, RunRecord, RunRef
from flowcore.domain.statuses import ExecutionStatus, TaskStatus

EXECUTION = ExecutionRecord("e-1", "f-1", 1, "flow", ExecutionStatus.FAILED, {}, "2024-01-01T00:00:00.000Z")


def run(seq: int, task: str, status: TaskStatus = TaskStatus.SUCCESS, **fields: Any) -> RunRecord:
    times = {"started_at": f"t{seq}-start", "ended_at": f"t{seq}-end", "duration_ms": 5}
    return RunRecord(RunRef("e-1", seq, task), status, fields.pop("attempt", 1), **{**times, **fields})


def folded(runs: list[RunRecord], page: int = 7) -> StatusFold:
    fold = StatusFold()
    for start in range(0, len(runs), page):
        fold.add(runs[start : start + page])
    return fold


def test_a_long_execution_keeps_the_last_steps_a_total_and_counts() -> None:
    # Given 2,500 runs of a loop between two tasks, the last one failed
    runs = [run(seq, "a" if seq % 2 else "b") for seq in range(1, 2500)] + [run(2500, "b", TaskStatus.FAILURE)]
    # When they are folded page by page into a status document
    document = status_document(EXECUTION, folded(runs))
    # Then it shows the last steps, the path's length, counts per status, and one result per task
    assert document["path"] == ["a" if seq % 2 else "b" for seq in range(2401, 2501)]
    assert len(document["path"]) == MAX_PATH
    assert document["path_total"] == 2500
    assert document["run_counts"] == {"SUCCESS": 2499, "FAILURE": 1}
    assert document["completed_tasks"] == ["a", "b"]
    assert set(document["task_results"]) == {"a", "b"}
    assert document["task_results"]["b"]["status"] == "FAILURE"  # the latest run of b
    assert document["task_results"]["a"]["started_at"] == "t2499-start"


def test_outputs_are_inline_while_their_budget_lasts() -> None:
    # Given five tasks whose outputs are each a fifth of the budget and a bit more
    blob = "x" * (MAX_INLINE_OUTPUT_BYTES // 5)
    runs = [run(seq, f"t{seq}", output={"blob": blob}) for seq in range(1, 6)]
    # When the status document is built
    results = status_document(EXECUTION, folded(runs))["task_results"]
    # Then the first four are inline and the fifth is marked omitted, not cut
    assert [results[f"t{seq}"]["output_omitted"] for seq in range(1, 6)] == [False] * 4 + [True]
    assert results["t1"]["data"] == results["t1"]["output"] == {"blob": blob}
    assert results["t5"]["output"] is None
    assert results["t5"]["data"] is None


def test_an_upcoming_task_ends_the_path_as_pending() -> None:
    running = ExecutionRecord("e-1", "f-1", 1, "flow", ExecutionStatus.RUNNING, {}, "2024-01-01T00:00:00.000Z")
    document = status_document(running, folded([run(1, "a")]), upcoming="b")
    assert (document["path"], document["path_total"], document["current_task"]) == (["a", "b"], 2, "b")
    assert document["task_results"]["b"]["status"] == "PENDING"


def test_each_attempt_is_an_entry_the_retried_ones_first() -> None:
    # Given a run that failed twice and succeeded on its third attempt
    tried = tuple(
        AttemptRecord(attempt, TaskStatus.FAILURE, f"a{attempt}", f"b{attempt}", 3, "failed", f"boom {attempt}")
        for attempt in (1, 2)
    )
    retried = run(4, "flaky", attempt=3, attempts=tried, output={"ok": True}, message="done")
    # When its history entries are built
    entries = run_entries(retried)
    # Then there is one per attempt, in order, the last carrying the output
    assert [(entry["attempt"], entry["status"], entry["error"]) for entry in entries] == [
        (1, "FAILURE", "boom 1"),
        (2, "FAILURE", "boom 2"),
        (3, "SUCCESS", None),
    ]
    assert {entry["seq"] for entry in entries} == {4}
    assert entries[-1]["output"] == {"ok": True}
    assert entries[0]["output"] is None


def test_a_run_waiting_for_its_retry_shows_the_failed_attempt_once() -> None:
    # Given a run parked for a retry: its own fields are the attempt its attempts list ends with
    tried = (AttemptRecord(1, TaskStatus.FAILURE, "s", "e", 3, "failed", "boom"),)
    waiting = run(1, "flaky", TaskStatus.WAITING, error="boom", attempts=tried)
    # When its history entries are built / Then that attempt is one entry
    assert [(entry["attempt"], entry["status"]) for entry in run_entries(waiting)] == [(1, "FAILURE")]


def test_a_run_handed_back_for_its_next_attempt_shows_it_pending_without_the_previous_times() -> None:
    tried = (AttemptRecord(1, TaskStatus.FAILURE, "s", "e", 3, "failed", "boom"),)
    pending = run(1, "flaky", TaskStatus.PENDING, attempt=2, error="boom", attempts=tried)
    entries = run_entries(pending)
    assert [(entry["attempt"], entry["status"]) for entry in entries] == [(1, "FAILURE"), (2, "PENDING")]
    assert (entries[1]["started_at"], entries[1]["ended_at"], entries[1]["error"]) == (None, None, None)


REF = PayloadRef("executions/e-1/" + "ab" * 32 + ".json", 123_456, "ab" * 32)
SHOWN = {"ref": "/executions/e-1/payloads/" + "ab" * 32, "size": 123_456, "sha256": "ab" * 32}


def test_a_stored_input_is_a_reference_never_the_value() -> None:
    # Given an execution whose input is kept in the payload store (the item holds null)
    stored = replace(EXECUTION, input=None, input_ref=REF)  # type: ignore[arg-type]
    # When its status document is built / Then the input is null and the reference stands beside it
    document = status_document(stored, folded([]))
    assert document["input"] is None
    assert document["input_ref"] == SHOWN
    # And an inline input has no reference
    assert status_document(EXECUTION, folded([]))["input_ref"] is None


def test_a_stored_output_is_a_reference_in_the_status_document_and_the_history() -> None:
    # Given a run whose output is kept in the payload store, and one whose output is inline
    runs = [run(1, "big", output_ref=REF), run(2, "small", output={"n": 1})]
    # When the documents are built
    results = status_document(EXECUTION, folded(runs))["task_results"]
    entries = [entry for record in runs for entry in run_entries(record)]
    # Then the stored one shows its reference, not the value, and costs the inline budget nothing
    assert (results["big"]["output"], results["big"]["data"], results["big"]["output_ref"]) == (None, None, SHOWN)
    assert results["big"]["output_omitted"] is False
    assert (results["small"]["output"], results["small"]["output_ref"]) == ({"n": 1}, None)
    assert (entries[0]["output"], entries[0]["output_ref"]) == (None, SHOWN)
    assert (entries[1]["output"], entries[1]["output_ref"]) == ({"n": 1}, None)


def test_a_pending_task_has_no_reference() -> None:
    running = ExecutionRecord("e-1", "f-1", 1, "flow", ExecutionStatus.RUNNING, {}, "2024-01-01T00:00:00.000Z")
    assert status_document(running, folded([]), upcoming="a")["task_results"]["a"]["output_ref"] is None
