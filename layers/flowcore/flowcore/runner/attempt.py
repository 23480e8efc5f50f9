"""One attempt of a task: claimed first when it may run for a while, then run, contained and timed.

A task's own exception is that task's failure, never the runner's; so is running past its timeout, and
an output larger than a run item may hold.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable

from flowcore.domain.clock import iso, utc_now
from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.records import Dispatch, DispatchGuard, EndedAttempt, ExecutionRecord, RunRef, TaskResult
from flowcore.observability import logger
from flowcore.ports import RunRepository
from flowcore.tasks import TaskContext, TaskTypeRegistry

MAX_OUTPUT_BYTES = 64_000
#: A claim outlives the task's own timeout by this much, so a slow commit is not mistaken for a death.
LEASE_MARGIN_SECONDS = 30


class Attempts:
    def __init__(
        self,
        runs: RunRepository,
        registry: TaskTypeRegistry,
        lease_seconds: int,
        rand: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self._runs = runs
        self._registry = registry
        self._lease_seconds = lease_seconds
        self._rand = rand
        self._clock = clock

    def run(
        self, flow: CompiledFlow, execution: ExecutionRecord, ref: RunRef, dispatch: Dispatch
    ) -> tuple[EndedAttempt, DispatchGuard]:
        """Run the task once; the guard its result must be committed under (claimed, when it was)."""
        task = flow.tasks[ref.task_name]
        task_type = self._registry.get(task.type)
        guard = dispatch.guard
        if task_type is not None and (task_type.needs_claim or task.timeout_seconds):
            token = uuid.uuid4().hex
            lease_until = int(self._clock()) + (task.timeout_seconds or self._lease_seconds) + LEASE_MARGIN_SECONDS
            self._runs.claim(ref, guard, token, lease_until)
            guard = guard.claimed(token)

        started = utc_now()
        tick = time.perf_counter()
        if task_type is None:  # validation keeps this out; a type removed since the flow was stored lands here
            result = TaskResult.failure(ref.task_name, f"unknown task type '{task.type}'")
        else:
            context = TaskContext(
                ref.execution_id,
                ref.seq,
                ref.task_name,
                dispatch.attempt,
                task.parameters,
                execution.input,
                self._rand,
                resumed=dispatch.wait_until is not None,
            )
            result = _guarded(task_type.execute, context, task.timeout_seconds)
        duration_ms = max(1, round((time.perf_counter() - tick) * 1000))
        return EndedAttempt(dispatch.attempt, result, iso(started), iso(utc_now()), duration_ms), guard


def _guarded(run: Callable[[TaskContext], TaskResult], context: TaskContext, timeout_seconds: int | None) -> TaskResult:
    if timeout_seconds:
        outcome: list[TaskResult] = []
        worker = threading.Thread(target=lambda: outcome.append(_contained(run, context)), daemon=True)
        worker.start()
        worker.join(timeout_seconds)
        if not outcome:
            return TaskResult.failure(context.task_name, f"timed out after {timeout_seconds} seconds")
        result = outcome[0]
    else:
        result = _contained(run, context)
    if result.output is not None:
        size = len(json.dumps(result.output, separators=(",", ":"), default=str))
        if size > MAX_OUTPUT_BYTES:
            message = f"output is {size} bytes; a task's output may be at most {MAX_OUTPUT_BYTES} bytes"
            return TaskResult.failure(context.task_name, message)
    return result


def _contained(run: Callable[[TaskContext], TaskResult], context: TaskContext) -> TaskResult:
    try:
        return run(context)
    except Exception as error:  # noqa: BLE001 - any error raised by task code is reported as the task's failure
        logger.warning("task raised", extra={"error": repr(error)})
        return TaskResult.failure(context.task_name, f"{type(error).__name__}: {error}")
