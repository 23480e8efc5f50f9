"""What a task type is, and the registry that finds one by name.

A task type declares its parameters as plain `Param`s. The API checks them with a pydantic model built
from those declarations when a flow is stored (`flowcore.api.parameters`); the runner only reads them back
(`Parameters`) and so never imports pydantic, which was a third of its cold start.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flowcore.domain.records import TaskResult

#: The default of a parameter that must be given.
REQUIRED: Any = ...


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


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter: its type (int, float or str), default and bounds, as pydantic's Field takes them."""

    name: str
    kind: type[int] | type[float] | type[str]
    default: Any = REQUIRED
    ge: float | None = None
    le: float | None = None
    max_length: int | None = None
    description: str | None = None


#: Parameters every built-in accepts, so users and tests can force an outcome.
FORCED_OUTCOME = (
    Param("failure_rate", float, 0.0, ge=0.0, le=1.0, description="fails when random() < rate"),
    Param("fail_times", int, 0, ge=0, le=100, description="fail the first N attempts"),
)


class Parameters:
    """A task's parameters as the runner reads them: declared ones in their type (as pydantic's lax mode
    converts them), defaults filled in; the others in `extra`. They were checked when the flow was stored."""

    __slots__ = ("_values", "extra")

    def __init__(self, declared: tuple[Param, ...], given: dict[str, Any]) -> None:
        values: dict[str, Any] = {}
        for param in declared:
            if param.name in given:
                values[param.name] = param.kind(given[param.name])
            elif param.default is REQUIRED:
                raise ValueError(f"parameter '{param.name}' is required")
            else:
                values[param.name] = param.default
        self._values = values
        self.extra = {name: value for name, value in given.items() if name not in values}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


class TaskType(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    parameters: ClassVar[tuple[Param, ...]] = FORCED_OUTCOME
    #: Long-running types claim their run (status RUNNING with a lease) before they start.
    needs_claim: ClassVar[bool] = False

    def execute(self, ctx: TaskContext) -> TaskResult:
        """Apply the forced-outcome parameters, then run the type's own work."""
        params = Parameters(self.parameters, ctx.parameters)
        if ctx.attempt <= params.fail_times:
            return _forced_failure(ctx, f"forced failure {ctx.attempt} of {params.fail_times} (fail_times)")
        if params.failure_rate > 0 and ctx.rand() < params.failure_rate:
            return _forced_failure(ctx, f"random failure (failure_rate {params.failure_rate})")
        return self.run(ctx, params)

    @abstractmethod
    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult: ...


def _forced_failure(ctx: TaskContext, error: str) -> TaskResult:
    return TaskResult.failure(ctx.task_name, error)


def succeeded(ctx: TaskContext, output: dict[str, Any]) -> TaskResult:
    return TaskResult.success(ctx.task_name, output)


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
