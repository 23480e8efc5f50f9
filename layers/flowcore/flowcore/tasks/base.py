"""What a task type is, and the registry that finds one by name.

A task type declares its parameters as plain `Param`s. The API checks them with a pydantic model built
from those declarations when a flow is stored; the runner only reads them back (`Parameters`) and so
never imports pydantic, which was a third of its cold start.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from flowcore.errors import Problem
from flowcore.model import TaskResult, TaskStatus

if TYPE_CHECKING:
    from pydantic import BaseModel

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


@cache
def parameters_model(declared: tuple[Param, ...]) -> type[BaseModel]:
    """The pydantic model that checks `declared` (the API's check when a flow is stored)."""
    from pydantic import ConfigDict, Field, create_model

    fields: dict[str, Any] = {
        param.name: (
            param.kind,
            Field(
                default=param.default,
                ge=param.ge,
                le=param.le,
                max_length=param.max_length,
                description=param.description,
            ),
        )
        for param in declared
    }
    model: type[BaseModel] = create_model("Parameters", __config__=ConfigDict(extra="allow"), **fields)
    return model


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
        from pydantic import ValidationError

        try:
            parameters_model(task_type.parameters).model_validate(parameters)
        except ValidationError as error:
            return [
                Problem(f"{where}.parameters" + "".join(_loc_part(part) for part in issue["loc"]), issue["msg"])
                for issue in error.errors(include_url=False)
            ]
        return []


def _loc_part(part: str | int) -> str:
    return f"[{part}]" if isinstance(part, int) else f".{part}"
