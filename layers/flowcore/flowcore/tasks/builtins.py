"""The task types seed users know. Each does a small, bounded piece of work and reports it."""

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
    description = "Succeeds and echoes its parameters."

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        return succeeded(ctx, {"parameters": dict(params.extra)})


RECORDS = (
    *FORCED_OUTCOME,
    Param("records", int, 3, ge=0, le=1_000_000, description="how many records the task reports"),
)


class FetchDataTask(TaskType):
    name = "fetch_data"
    description = "Reports fetching `records` records from `source`."
    parameters = RECORDS

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        source = params.extra.get("source", "default")
        return succeeded(ctx, {"source": source, "records_fetched": params.records})


class ProcessDataTask(TaskType):
    name = "process_data"
    description = "Reports processing `records` records."
    parameters = RECORDS

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        return succeeded(ctx, {"records_processed": params.records})


class StoreDataTask(TaskType):
    name = "store_data"
    description = "Reports storing `records` records to `destination`."
    parameters = RECORDS

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        destination = params.extra.get("destination", "default")
        return succeeded(ctx, {"destination": destination, "records_stored": params.records})


PRINT = (*FORCED_OUTCOME, Param("message", str, "", max_length=10_000))


class PrintTask(TaskType):
    name = "print"
    description = "Logs `message` and returns it."
    parameters = PRINT

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        from flowcore.observability import logger

        logger.info("print task", extra={"task": ctx.task_name, "printed": params.message})
        return succeeded(ctx, {"message": params.message})


WAIT = (*FORCED_OUTCOME, Param("seconds", float, ge=0, le=MAX_WAIT_SECONDS, description="how long to wait"))


class WaitTask(TaskType):
    """Short waits sleep in the runner; longer ones park the run and the timer state machine resumes it."""

    name = "wait"
    description = f"Waits `seconds` (up to a year; above {MAX_INLINE_WAIT_SECONDS} s through the timer) and succeeds."
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
        return succeeded(ctx, {"waited_seconds": params.seconds})


def builtin_types() -> list[TaskType]:
    types: list[Any] = [PassTask(), FetchDataTask(), ProcessDataTask(), StoreDataTask(), PrintTask(), WaitTask()]
    return types
