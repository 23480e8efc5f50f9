"""The task types seed users know, with the original's parameter names and defaults (SEED.md). Each does a
small, bounded piece of work and reports it."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from flowcore.domain.records import TaskResult
from flowcore.domain.statuses import TaskStatus
from flowcore.tasks.base import FORCED_OUTCOME, Param, Parameters, TaskContext, TaskType, succeeded

MAX_INLINE_WAIT_SECONDS = 5
MAX_WAIT_SECONDS = 31_536_000


class PassTask(TaskType):
    name = "pass"
    description = "Succeeds with its resolved input when it has one, else echoes its parameters."

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        if ctx.input is not None:
            return TaskResult.success(ctx.task_name, ctx.input)
        return succeeded(ctx, {"parameters": dict(params.extra)})


def reported(params: Parameters, output: dict[str, Any]) -> dict[str, Any]:
    """A built-in's output, with the parameters it does not read kept beside it (as the original's tasks
    were given them), so that nothing a flow declares is silently dropped."""
    return {**output, "parameters": dict(params.extra)} if params.extra else output


RECORDS = Param("records", int, 3, ge=0, le=1_000_000, description="how many records the task reports")


class FetchDataTask(TaskType):
    name = "fetch_data"
    description = "Reports fetching `records` records from `data_source`."
    parameters = (
        *FORCED_OUTCOME,
        Param("data_source", str, "default", max_length=2_000, description="where the data comes from"),
        RECORDS,
    )

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        output = {"data_source": params.data_source, "records_fetched": params.records}
        return succeeded(ctx, reported(params, output))


class ProcessDataTask(TaskType):
    name = "process_data"
    description = "Reports processing `records` records with `method`."
    parameters = (
        *FORCED_OUTCOME,
        Param("method", str, "default", max_length=200, description="how the data is processed"),
        RECORDS,
    )

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        output = {"method": params.method, "records_processed": params.records}
        return succeeded(ctx, reported(params, output))


class StoreDataTask(TaskType):
    name = "store_data"
    description = "Reports storing `records` records at `storage_path` in `format`."
    parameters = (
        *FORCED_OUTCOME,
        Param("storage_path", str, "default", max_length=2_000, description="where the data goes"),
        Param("format", str, "json", max_length=50, description="the format it is stored in"),
        RECORDS,
    )

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        output = {"storage_path": params.storage_path, "format": params.format, "records_stored": params.records}
        return succeeded(ctx, reported(params, output))


DEFAULT_MESSAGE = "Default print task message"
PRINT = (*FORCED_OUTCOME, Param("message", str, DEFAULT_MESSAGE, max_length=10_000))


class PrintTask(TaskType):
    name = "print"
    description = "Logs `message` and returns it."
    parameters = PRINT

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        from flowcore.observability import logger

        logger.info("print task", extra={"task": ctx.task_name, "printed": params.message})
        return succeeded(ctx, reported(params, {"message": params.message}))


DEFAULT_WAIT_SECONDS = 1.0
WAIT = (
    *FORCED_OUTCOME,
    Param("seconds", float, DEFAULT_WAIT_SECONDS, ge=0, le=MAX_WAIT_SECONDS, description="how long to wait"),
)


class WaitTask(TaskType):
    """Short waits sleep in the runner; longer ones park the run and the timer state machine resumes it."""

    name = "wait"
    description = f"Waits `seconds` (default 1; up to a year; above {MAX_INLINE_WAIT_SECONDS} s through the timer)."
    parameters = WAIT
    needs_claim: ClassVar[bool] = True

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        if not ctx.resumed and params.seconds > MAX_INLINE_WAIT_SECONDS:
            return TaskResult(
                status=TaskStatus.WAITING,
                message=f"Task {ctx.task_name} is waiting",
                resume_after_seconds=params.seconds,
            )
        if not ctx.resumed:
            time.sleep(params.seconds)
        return succeeded(ctx, reported(params, {"waited_seconds": params.seconds}))


def builtin_types() -> list[TaskType]:
    from flowcore.tasks.callback import CallbackTask

    types: list[Any] = [
        PassTask(),
        FetchDataTask(),
        ProcessDataTask(),
        StoreDataTask(),
        PrintTask(),
        WaitTask(),
        CallbackTask(),
    ]
    return types
