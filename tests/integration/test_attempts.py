"""Every attempt of a retried run is kept on its item, in the table itself (the history reads them)."""

from __future__ import annotations

from tests.conftest import Harness


def test_failed_attempts_are_kept_on_the_run_item(harness: Harness) -> None:
    # Given a task that fails twice, retried at once and after a timer
    definition = {
        "name": "retried",
        "start_task": "fetch",
        "tasks": [
            {
                "name": "fetch",
                "type": "fetch_data",
                "parameters": {"fail_times": 2},
                "retry": {"max_attempts": 3, "interval_seconds": 0},
            }
        ],
    }
    # When it runs to the end
    execution_id = harness.start(definition)
    document = harness.settle(execution_id)
    # Then the run holds its last attempt, and the two before it in order
    assert (document["status"], document["task_results"]["fetch"]["attempts"]) == ("COMPLETED", 3)
    run = next(item for item in harness.items(execution_id) if item["sk"] != "META")
    assert [(entry["attempt"], entry["status"], entry["error"]) for entry in run["attempts"]] == [
        (1, "FAILURE", "forced failure 1 of 2 (fail_times)"),
        (2, "FAILURE", "forced failure 2 of 2 (fail_times)"),
    ]
    assert all(entry["started_at"] <= entry["ended_at"] for entry in run["attempts"])
