"""What a task type is, and the registry that finds one by name.

A task type declares its parameters as plain `Param`s. The API checks them with a pydantic model built
from those declarations when a flow is stored (`flowcore.api.parameters`); the runner only reads them back
(`Parameters`) and so never imports pydantic, which was a third of its cold start.
"""

from __future__ import annotations

import json
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flowcore.domain.callbacks import Completion
from flowcore.domain.records import TaskResult

#: The default of a parameter that must be given.
REQUIRED: Any = ...


@dataclass(frozen=True, slots=True)
class CallbackTicket:
    """What completes an awaiting run from outside: `POST /callbacks/{token}` (the `url`, relative to the API)."""

    token: str
    url: str
    nonce: str  # the run's nonce for this attempt (a child execution is linked to it)


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
    #: The task's `input` template resolved against the execution's data (None: the task has none).
    input: Any = None
    #: For a type that awaits (`TaskType.awaits`, or a task with `wait_for_callback`): the ticket an outside
    #: party completes the run with.
    callback: CallbackTicket | None = None
    #: When an awaited run is resumed: how it was completed (by the runner, when its deadline passed first).
    completion: Completion | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.execution_id}:{self.seq}:{self.task_name}:{self.attempt}"


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter: its type (int, float or str), default and bounds, as pydantic's Field takes them."""

    name: str
    #: int, float, str, bool, dict (a JSON object) or object (any JSON value)
    kind: type[int] | type[float] | type[str] | type[bool] | type[dict[str, Any]] | type[object]
    default: Any = REQUIRED
    ge: float | None = None
    le: float | None = None
    max_length: int | None = None
    #: For a string: a regular expression it must match (searched, as pydantic does: anchor it with ^...$).
    pattern: str | None = None
    description: str | None = None

    def read(self, value: Any) -> Any:
        """`value` in this parameter's type, within its bounds; `ParameterError` saying why not. Values stored
        in a flow were checked when it was saved; a templated one is checked here, once resolved."""
        shown = json.dumps(value, default=str)[:80]
        expected = _EXPECTED[self.kind]
        try:
            converted = _converted(self.kind, value)
        except (ValueError, TypeError, OverflowError):
            converted = None
        if converted is None:
            raise ParameterError(f"parameter '{self.name}' is {shown}, not {expected}")
        if self.kind in (bool, dict, object):
            return converted
        if (self.ge is not None and converted < self.ge) or (self.le is not None and converted > self.le):
            bounds = f"from {self.ge if self.ge is not None else '-inf'} to {self.le if self.le is not None else 'inf'}"
            raise ParameterError(f"parameter '{self.name}' is {shown}, out of its range ({bounds})")
        if self.max_length is not None and len(converted) > self.max_length:
            raise ParameterError(f"parameter '{self.name}' is longer than {self.max_length} characters")
        if self.pattern is not None and re.search(self.pattern, converted) is None:
            raise ParameterError(f"parameter '{self.name}' is {shown}, which does not match {self.pattern}")
        return converted


#: Parameters every built-in accepts, so users and tests can force an outcome.
FORCED_OUTCOME = (
    Param("failure_rate", float, 0.0, ge=0.0, le=1.0, description="fails when random() < rate"),
    Param("fail_times", int, 0, ge=0, le=100, description="fail the first N attempts"),
)


class ParameterError(ValueError):
    """A parameter whose value, once its template was resolved, is not what the task type declares."""


_EXPECTED: dict[type, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    dict: "an object",
    object: "a JSON value",
}


def _converted(kind: type, value: Any) -> Any:
    """`value` in `kind`, or None when it is not one (numbers as `_number` converts them)."""
    if kind is object:
        return value
    if kind is str or kind is dict:
        return value if isinstance(value, kind) else None
    if kind is bool:
        return value if isinstance(value, bool) else None
    return _number(kind, value)


def _number(kind: type, value: Any) -> int | float:
    """`value` as an int or a float, as pydantic's lax mode converts it (a whole float or a numeric string)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, str):
        value = float(value.strip()) if kind is float or "." in value or "e" in value.lower() else int(value)
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if not isinstance(value, int | float):
        raise ValueError(value)
    return float(value)


class Parameters:
    """A task's parameters as the runner reads them: declared ones in their type (as pydantic's lax mode
    converts them), defaults filled in; the others in `extra`. They were checked when the flow was stored."""

    __slots__ = ("_values", "extra")

    def __init__(self, declared: tuple[Param, ...], given: dict[str, Any]) -> None:
        values: dict[str, Any] = {}
        for param in declared:
            if param.name in given:
                values[param.name] = param.read(given[param.name])
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
    #: Every attempt ends by a completion from outside (`callback`, `subflow`): the runner gives it `ctx.callback`.
    awaits: ClassVar[bool] = False
    #: The type takes the task field `wait_for_callback: true`: then it is given `ctx.callback` and awaits.
    can_wait_for_callback: ClassVar[bool] = False

    def execute(self, ctx: TaskContext) -> TaskResult:
        """Apply the forced-outcome parameters, then run the type's own work."""
        params = Parameters(self.parameters, ctx.parameters)
        if ctx.attempt <= params.fail_times:
            return _forced_failure(ctx, f"forced failure {ctx.attempt} of {params.fail_times} (fail_times)")
        if params.failure_rate > 0 and ctx.rand() < params.failure_rate:
            return _forced_failure(ctx, f"random failure (failure_rate {params.failure_rate})")
        return self.run(ctx, params)

    def parameter_problems(self, parameters: dict[str, Any]) -> list[tuple[str, str]]:
        """(parameter, message) for given values that their declared kinds cannot check (a format, a size); the
        API asks when a flow is stored, with the values that are not templates. None by default."""
        return []

    @abstractmethod
    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        """One attempt. A type that awaits gets `ctx.callback` and returns `TaskResult.awaiting(...)`, whose
        `deliver` (the message that carries the ticket) the runner calls once the run is parked WAITING."""

    def resume(self, ctx: TaskContext) -> TaskResult:
        """The result of an awaited run once resumed: its completion (the runner makes a missed deadline one)."""
        completion = ctx.completion
        assert completion is not None
        if completion.succeeded:
            return TaskResult.success(ctx.task_name, completion.output)
        return TaskResult.failure(ctx.task_name, completion.error or "completed with outcome failure")


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
