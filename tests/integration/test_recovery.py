"""Nothing is left RUNNING: records the runner gives up on fail their execution; dead claims are reclaimed."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from tests.conftest import Harness, example


class Killed(BaseException):
    """The runner's process dying: not an Exception, so nothing in the runner catches it."""


def sample() -> dict[str, Any]:
    return copy.deepcopy(example("data_processing")["flow"])


def test_a_record_that_always_fails_ends_its_execution_failed(
    stepwise: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowcore.runner.dispatch import TaskRunner

    harness = stepwise
    harness.request("POST", "/flows", sample())
    healthy = harness.request("POST", "/flows/flow123/executions", {}).json()["execution_id"]
    poisoned = harness.request("POST", "/flows/flow123/executions", {}).json()["execution_id"]
    original = TaskRunner.process

    def poison(self: TaskRunner, dispatch: Any, remaining_ms: Any = None) -> str:
        if dispatch.execution_id == f"dev/{poisoned}" and dispatch.seq == 2:
            raise RuntimeError("poison")
        return original(self, dispatch, remaining_ms)

    monkeypatch.setattr(TaskRunner, "process", poison)
    harness.drain()
    assert harness.pump.stats.batches_failed_over == 1
    assert harness.failures.drain() == 1

    bad = harness.request("GET", f"/executions/{poisoned}").json()
    assert bad["status"] == "FAILED"
    assert "gave up on task run 000002#task2" in bad["error"]
    assert bad["task_results"]["task2"]["status"] == "FAILURE"
    assert harness.request("GET", f"/executions/{healthy}").json()["status"] == "COMPLETED"


def test_a_claimed_run_is_reclaimed_only_after_its_lease(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcore.tasks.builtins import WaitTask
    from flowcore.wiring import runner as runner_wiring
    from functions.task_runner import app as runner_app

    definition = {
        "name": "claimed",
        "start_task": "nap",
        "tasks": [{"name": "nap", "type": "wait", "parameters": {"seconds": 0}}],
    }
    original = WaitTask.run

    def die(self: WaitTask, ctx: Any, params: Any) -> Any:
        raise Killed

    monkeypatch.setattr(WaitTask, "run", die)
    execution_id = harness.start(definition)
    with pytest.raises(Killed):
        harness.pump.poll()  # the runner claimed the run, then died
    monkeypatch.setattr(WaitTask, "run", original)

    # When the batch is redelivered before the lease runs out, the run is left alone and a reclaim is scheduled
    from local.esm import StreamPump

    replay = StreamPump(
        harness.pump._streams, harness.stack.stream_arn, runner_app.lambda_handler, harness.stack.spec.mapping
    )
    replay.drain()
    run = next(item for item in harness.items(execution_id) if item["sk"].startswith("RUN#"))
    assert run["status"] == "RUNNING"
    timers = harness.stepfunctions.list_executions(stateMachineArn=harness.stack.state_machine_arn)["executions"]
    assert [timer["name"].split("-")[0] for timer in timers] == ["reclaim"]

    # When it is redelivered after the lease ran out, the run is handed back and completes
    conflicts = runner_wiring.task_runner()._conflicts  # where a redelivered record finds the claim
    monkeypatch.setattr(conflicts, "_clock", lambda: time.time() + 3600)
    StreamPump(
        harness.pump._streams, harness.stack.stream_arn, runner_app.lambda_handler, harness.stack.spec.mapping
    ).drain()
    doc = harness.settle(execution_id)
    assert doc["status"] == "COMPLETED"
    assert doc["task_results"]["nap"]["attempts"] == 1
