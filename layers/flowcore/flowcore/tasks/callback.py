"""The `callback` task: a run that waits for someone outside the flow (an approver, another system)."""

from __future__ import annotations

from typing import ClassVar

from flowcore.domain.records import TaskResult
from flowcore.tasks.base import FORCED_OUTCOME, Param, Parameters, TaskContext, TaskType


class CallbackTask(TaskType):
    """Parks its run WAITING and hands out a token, shown in the status document at
    `task_results.<task>.callback`; `POST /callbacks/{token}` completes it once, `/heartbeat` keeps it alive,
    and the task's `timeout_seconds` and `heartbeat_seconds` fail it through the timer."""

    name = "callback"
    description = (
        "Waits for POST /callbacks/{token} (an approval, any outside completion); its output is the callback's "
        "`output`. `timeout_seconds` (up to a year) and `heartbeat_seconds` bound the wait."
    )
    parameters = (
        *FORCED_OUTCOME,
        Param("message", str, "", max_length=2_000, description="what the one completing it is asked (shown)"),
    )
    awaits: ClassVar[bool] = True

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        return TaskResult.awaiting(ctx.task_name)
