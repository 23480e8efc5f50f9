"""A task's templates on one run's context document (`flowcore.runner.data`): its input and parameters
resolved before it runs, its output shaped after, and the successors its `expr` conditions choose.

An expression that fails fails the task, with an error that says which template and expression, and why;
the task's conditions route that failure like any other.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.expressions import ExpressionError
from flowcore.domain.payloads import PayloadRef
from flowcore.domain.records import EndedAttempt, RunRef, TaskResult
from flowcore.domain.routing import next_tasks
from flowcore.domain.statuses import TaskStatus
from flowcore.domain.templates import resolve


class Templating:
    def __init__(self, flow: CompiledFlow, ref: RunRef, context: dict[str, Any]) -> None:
        self._flow = flow
        self._task = flow.tasks[ref.task_name]
        self._needs = flow.needs[ref.task_name]
        self._context = context

    def inputs(self) -> tuple[Any, dict[str, Any], TaskResult | None]:
        """The task's resolved input (None without an `input` template) and parameters; or the failure of an
        expression, when one fails (the task then does not run)."""
        task = self._task
        try:
            task_input = resolve(task.input, self._context) if task.input is not None else None
        except ExpressionError as error:
            return None, task.parameters, TaskResult.failure(task.name, f"input: {error}")
        try:
            parameters = resolve(task.parameters, self._context) if self._needs.parameters else task.parameters
        except ExpressionError as error:
            return task_input, task.parameters, TaskResult.failure(task.name, f"parameters: {error}")
        return task_input, parameters, None

    def output(self, result: TaskResult) -> TaskResult:
        """A succeeded result's output as the `output` template shapes it, with `result` the raw output."""
        if self._task.output is None or not result.succeeded:
            return result
        try:
            shaped = resolve(self._task.output, {**self._context, "result": result.output})
        except ExpressionError as error:
            return TaskResult.failure(self._task.name, f"output: {error}")
        return replace(result, output=shaped)

    def record(self, ended: EndedAttempt, task_input: Any, input_ref: PayloadRef | None) -> EndedAttempt:
        """The attempt with its data: its input, and, when its conditions read more than its output, the
        successors they chose (a condition that fails turns the result into that failure)."""
        result, routed = ended.result, None
        if self._needs.routes and result.status is not TaskStatus.WAITING:
            result, routed = self._route(result)
        output_ref = ended.output_ref if result is ended.result else None
        return replace(
            ended, result=result, input=task_input, input_ref=input_ref, output_ref=output_ref, routed=routed
        )

    def _route(self, result: TaskResult) -> tuple[TaskResult, tuple[str, ...]]:
        name = self._task.name
        try:
            return result, next_tasks(self._flow, name, result, context=self._context)
        except ExpressionError as error:
            failure = TaskResult.failure(name, f"condition: {error}")
        try:
            return failure, next_tasks(self._flow, name, failure, context=self._context)
        except ExpressionError:
            return failure, ()  # its failure conditions fail too: the failure ends its branch
