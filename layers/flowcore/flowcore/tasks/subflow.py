"""The `subflow` task: runs another flow as a child execution; the run ends when the child does."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from flowcore.domain.flow import FLOW_ID_PATTERN
from flowcore.domain.records import ParentLink, TaskResult
from flowcore.domain.subflows import child_execution_id
from flowcore.tasks.base import FORCED_OUTCOME, Param, Parameters, TaskContext, TaskType


class ChildStarter(Protocol):
    def start(self, parent: ParentLink, flow_id: str, version: int | None, child_input: dict[str, Any]) -> str:
        """Start the child execution of `parent` (once: the same parent again finds it); its id. Raises with a
        message saying why it cannot start (no such flow, nesting too deep)."""
        ...


class SubflowTask(TaskType):
    """Starts the child once the run is parked (so that a child that ends at once always finds it waiting); the
    child's end completes the run: SUCCESS with `{execution_id, status, output}` (the output of the child's last
    task), or FAILURE with the child's error."""

    name = "subflow"
    description = (
        "Runs the flow `flow_id` (its latest version, or `version`) as a child execution with the task's `input` "
        "as its input, and ends when the child does."
    )
    parameters = (
        *FORCED_OUTCOME,
        Param("flow_id", str, pattern=FLOW_ID_PATTERN, description="the flow the child runs"),
        Param("version", int, None, ge=1, description="the flow version (default: the latest when it starts)"),
    )
    awaits: ClassVar[bool] = True

    def __init__(self, children: ChildStarter | None = None) -> None:
        self._children = children

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        children, ticket = self._children, ctx.callback
        if children is None or ticket is None:
            return TaskResult.failure(ctx.task_name, "task type 'subflow' cannot run here: no child starter")
        child_input = ctx.input if ctx.input is not None else {}
        if not isinstance(child_input, dict):
            return TaskResult.failure(ctx.task_name, "a subflow's input (its `input` template) must be a JSON object")
        parent = ParentLink(ctx.execution_id, ctx.seq, ctx.task_name, ctx.attempt, ticket.nonce)
        flow_id, version = params.flow_id, params.version

        def start() -> None:
            children.start(parent, flow_id, version, child_input)

        return TaskResult.awaiting(ctx.task_name, deliver=start, child=child_execution_id(parent))
