"""What a task type is, and the registry that finds one by name."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flowcore.errors import Problem
from flowcore.model import TaskResult, TaskStatus


@dataclass(frozen=True, slots=True)
class TaskContext:
    """Everything one attempt may use. `idempotency_key` is stable across redeliveries of this attempt."""

    execution_id: str
    seq: int
    task_name: str
    attempt: int
    parameters: dict[str, Any]
    execution_input: dict[str, Any]
    rand: Callable[[], float] = field(default=random.random)
    #: True when a timer resumed this run after the task asked to wait.
    resumed: bool = False

    @property
    def idempotency_key(self) -> str:
        return f"{self.execution_id}:{self.seq}:{self.task_name}:{self.attempt}"


class ForcedOutcomeParameters(BaseModel):
    """Parameters every built-in accepts, so users and tests can force an outcome."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    failure_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="fails when random() < rate")
    fail_times: int = Field(default=0, ge=0, le=100, description="fail the first N attempts")


class TaskType(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    parameters_model: ClassVar[type[ForcedOutcomeParameters]] = ForcedOutcomeParameters
    #: Long-running types claim their run (status RUNNING with a lease) before they start.
    needs_claim: ClassVar[bool] = False

    def execute(self, ctx: TaskContext) -> TaskResult:
        """Apply the forced-outcome parameters, then run the type's own work."""
        params = self.parameters_model.model_validate(ctx.parameters)
        if ctx.attempt <= params.fail_times:
            return _forced_failure(ctx, f"forced failure {ctx.attempt} of {params.fail_times} (fail_times)")
        if params.failure_rate > 0 and ctx.rand() < params.failure_rate:
            return _forced_failure(ctx, f"random failure (failure_rate {params.failure_rate})")
        return self.run(ctx, params)

    @abstractmethod
    def run(self, ctx: TaskContext, params: Any) -> TaskResult: ...


def _forced_failure(ctx: TaskContext, error: str) -> TaskResult:
    return TaskResult(status=TaskStatus.FAILURE, message=f"Task {ctx.task_name} failed", error=error)


def succeeded(ctx: TaskContext, output: dict[str, Any]) -> TaskResult:
    return TaskResult(status=TaskStatus.SUCCESS, output=output, message=f"Task {ctx.task_name} completed successfully")


class TaskTypeRegistry:
    def __init__(self, types: list[TaskType] | None = None) -> None:
        self._types: dict[str, TaskType] = {}
        for task_type in types or []:
            self.register(task_type)

    def register(self, task_type: TaskType) -> None:
        if task_type.name in self._types:
            raise ValueError(f"task type {task_type.name!r} is registered twice")
        self._types[task_type.name] = task_type

    def get(self, name: str) -> TaskType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def problems(self, type_name: str, parameters: dict[str, Any], where: str) -> list[Problem]:
        """Problems with a task's type and parameters; `where` is the task's field path, e.g. `tasks[2]`."""
        task_type = self._types.get(type_name)
        if task_type is None:
            known = ", ".join(self.names())
            return [Problem(f"{where}.type", f"unknown task type '{type_name}'; known types: {known}")]
        try:
            task_type.parameters_model.model_validate(parameters)
        except ValidationError as error:
            return [
                Problem(f"{where}.parameters" + "".join(_loc_part(part) for part in issue["loc"]), issue["msg"])
                for issue in error.errors(include_url=False)
            ]
        return []


def _loc_part(part: str | int) -> str:
    return f"[{part}]" if isinstance(part, int) else f".{part}"
