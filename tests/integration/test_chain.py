"""Chains: in a flow without branches, one runner invocation runs the path's tasks in a row.

Each task's run item is still written when it ends; a crash mid-chain resumes where the chain stopped,
with every committed task left as it was.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from tests.conftest import Harness, example


class Killed(BaseException):
    """The runner's process dying: not an Exception, so nothing in the runner catches it."""


def sample() -> dict[str, Any]:
    return copy.deepcopy(example("data_processing")["flow"])


def runs(harness: Harness, execution_id: str) -> dict[str, dict[str, Any]]:
    return {item["sk"]: item for item in harness.items(execution_id) if item["sk"].startswith("RUN#")}


def replay(harness: Harness) -> None:
    """Deliver the whole stream again from its start, as the event source mapping does after a failed batch."""
    from functions.task_runner import app as runner_app
    from local.esm import StreamPump

    StreamPump(
        harness.pump._streams, harness.stack.stream_arn, runner_app.lambda_handler, harness.stack.spec.mapping
    ).drain()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each built-in data task of the sample flow ran."""
    from flowcore.tasks.builtins import FetchDataTask, ProcessDataTask, StoreDataTask

    calls: Counter[str] = Counter()
    for task_class in (FetchDataTask, ProcessDataTask, StoreDataTask):
        original = task_class.run

        def run(self: Any, ctx: Any, params: Any, original: Any = original) -> Any:
            calls[ctx.task_name] += 1
            return original(self, ctx, params)

        monkeypatch.setattr(task_class, "run", run)
    return calls


def test_one_invocation_runs_the_whole_path_and_writes_every_run(harness: Harness, counted: Counter[str]) -> None:
    execution_id = harness.start(sample())
    harness.drain()

    doc = harness.status(execution_id)
    assert doc["status"] == "COMPLETED"
    assert doc["path"] == ["task1", "task2", "task3"]
    assert harness.pump.stats.invocations == 1  # the execution's RUNNING record; run items are not dispatches
    assert [(sk, item["status"], item["attempt"]) for sk, item in sorted(runs(harness, execution_id).items())] == [
        ("RUN#000001#task1", "SUCCESS", 1),
        ("RUN#000002#task2", "SUCCESS", 1),
        ("RUN#000003#task3", "SUCCESS", 1),
    ]
    assert counted == Counter({"task1": 1, "task2": 1, "task3": 1})


def test_a_chain_hands_the_next_run_to_the_stream_after_chain_tasks(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local.containers import reset_containers

    monkeypatch.setenv("CHAIN_TASKS", "2")
    reset_containers()
    execution_id = harness.start(sample())
    harness.drain()

    assert harness.status(execution_id)["status"] == "COMPLETED"
    assert harness.pump.stats.invocations == 2  # task1 + task2, then task3 from its PENDING record


def test_no_chain_when_the_invocation_is_short_of_time(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcore.runner.chain import CHAIN_MARGIN_SECONDS, CHAIN_MAX_SECONDS
    from local.esm import LambdaContext

    too_little = int((CHAIN_MAX_SECONDS + CHAIN_MARGIN_SECONDS) * 1000) - 1
    monkeypatch.setattr(LambdaContext, "get_remaining_time_in_millis", lambda self: too_little)
    execution_id = harness.start(sample())
    harness.drain()

    assert harness.status(execution_id)["status"] == "COMPLETED"
    assert harness.pump.stats.invocations == 3


@pytest.mark.parametrize(
    ("killed_task", "committed_before"),
    [("task2", ["RUN#000001#task1"]), ("task3", ["RUN#000001#task1", "RUN#000002#task2"])],
)
def test_a_crash_mid_chain_resumes_where_the_chain_stopped(
    harness: Harness,
    counted: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
    killed_task: str,
    committed_before: list[str],
) -> None:
    from flowcore.runner.step import Step

    original = Step.run
    killed: list[str] = []

    def die_once(self: Step, flow: Any, execution: Any, ref: Any, dispatch: Any, memory: Any) -> Any:
        if ref.task_name == killed_task and not killed:
            killed.append(ref.task_name)
            raise Killed
        return original(self, flow, execution, ref, dispatch, memory)

    monkeypatch.setattr(Step, "run", die_once)
    execution_id = harness.start(sample())
    with pytest.raises(Killed):
        harness.pump.poll()
    committed = runs(harness, execution_id)
    assert sorted(committed) == committed_before
    assert harness.status(execution_id)["status"] == "RUNNING"

    replay(harness)

    doc = harness.status(execution_id)
    assert doc["status"] == "COMPLETED"
    assert doc["path"] == ["task1", "task2", "task3"]
    assert all(result["attempts"] == 1 for result in doc["task_results"].values())
    after = runs(harness, execution_id)
    assert all(after[sk] == item for sk, item in committed.items())  # committed runs were not written again
    # The redelivered record's own task runs again (side effects are at least once) but is not committed
    # again; the tasks the chain had committed after it do not run again; the killed one had not run.
    assert counted == Counter({"task1": 2, "task2": 1, "task3": 1})


def test_a_redelivered_record_of_a_finished_chain_changes_nothing(harness: Harness, counted: Counter[str]) -> None:
    execution_id = harness.start(sample())
    harness.drain()
    before = harness.items(execution_id)

    replay(harness)

    assert harness.items(execution_id) == before
    assert counted == Counter({"task1": 1, "task2": 1, "task3": 1})


def test_cancel_mid_chain_starts_no_task_after_it(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcore.tasks.builtins import ProcessDataTask

    original = ProcessDataTask.run
    execution: dict[str, str] = {}

    def cancel_then_run(self: ProcessDataTask, ctx: Any, params: Any) -> Any:
        cancelled = harness.request("POST", f"/executions/{execution['id']}/cancel")
        assert cancelled.json()["status"] == "CANCELLED"
        return original(self, ctx, params)

    monkeypatch.setattr(ProcessDataTask, "run", cancel_then_run)
    execution["id"] = harness.start(sample())
    harness.drain()

    doc = harness.status(execution["id"])
    assert doc["status"] == "CANCELLED"
    assert doc["path"] == ["task1", "task2", "task3"]
    assert doc["task_results"]["task2"]["status"] == "SUCCESS"  # it had started; its result is kept
    assert doc["task_results"]["task3"]["status"] == "SKIPPED"


def test_a_start_record_that_always_fails_ends_its_execution_failed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowcore.runner.dispatch import TaskRunner

    original = TaskRunner.process
    harness.request("POST", "/flows", sample())
    poisoned = harness.request("POST", "/flows/flow123/executions", {}).json()["execution_id"]

    def poison(self: TaskRunner, dispatch: Any, remaining_ms: Any = None) -> str:
        if dispatch.execution_id == f"dev/{poisoned}":
            raise RuntimeError("poison")
        return original(self, dispatch, remaining_ms)

    monkeypatch.setattr(TaskRunner, "process", poison)
    harness.drain()
    assert harness.failures.drain() == 1

    doc = harness.status(poisoned)
    assert doc["status"] == "FAILED"
    assert doc["task_results"]["task1"]["status"] == "FAILURE"
    assert "task2" not in doc["task_results"]


def test_the_status_document_names_the_task_a_chain_is_on(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcore.tasks.builtins import ProcessDataTask

    original = ProcessDataTask.run
    seen: list[dict[str, Any]] = []
    execution: dict[str, str] = {}

    def look_then_run(self: ProcessDataTask, ctx: Any, params: Any) -> Any:
        seen.append(harness.status(execution["id"]))
        return original(self, ctx, params)

    monkeypatch.setattr(ProcessDataTask, "run", look_then_run)
    execution["id"] = harness.start(sample())
    harness.drain()

    [during] = seen
    assert during["status"] == "RUNNING"
    assert during["current_task"] == "task2"
    assert during["path"] == ["task1", "task2"]
    assert during["task_results"]["task1"]["status"] == "SUCCESS"
    assert during["task_results"]["task2"]["status"] == "PENDING"
    assert harness.status(execution["id"])["current_task"] is None


def test_a_delete_mid_chain_leaves_no_item_behind(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcore.tasks.builtins import ProcessDataTask

    original = ProcessDataTask.run
    execution: dict[str, str] = {}

    def delete_then_run(self: ProcessDataTask, ctx: Any, params: Any) -> Any:
        assert harness.request("DELETE", f"/executions/{execution['id']}").status == 200
        return original(self, ctx, params)

    monkeypatch.setattr(ProcessDataTask, "run", delete_then_run)
    execution["id"] = harness.start(sample())
    harness.drain()

    assert harness.items(execution["id"]) == []
    assert harness.request("GET", f"/executions/{execution['id']}").status == 404
