"""Flow definitions, executions and task runs.

Definitions are pydantic models because they arrive from users and must be validated field by field.
Runtime values the runner handles once per transition (task results, routing decisions) are frozen
dataclasses: cheaper to build, and the engine stays free of any parsing concerns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$"
FLOW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
END_TARGET = "end"

MAX_TASKS = 1000
MAX_CONDITIONS = 2000
DEFAULT_MAX_TRANSITIONS = 10_000
MAX_TRANSITIONS_LIMIT = 100_000

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="Letters, digits and _ . : - (1-80 characters)")]
Description = Annotated[str, Field(max_length=500)]


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    SKIPPED = "SKIPPED"


class ExecutionStatus(StrEnum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


ACTIVE_EXECUTION_STATUSES = frozenset({ExecutionStatus.CREATED, ExecutionStatus.RUNNING})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class RetryPolicy(_Strict):
    """How often a failed task is tried again, and how long to wait between tries."""

    max_attempts: Annotated[int, Field(ge=1, le=25)] = 3
    interval_seconds: Annotated[float, Field(ge=0, le=86_400)] = 1.0
    backoff_rate: Annotated[float, Field(ge=1, le=10)] = 2.0
    max_delay_seconds: Annotated[float, Field(ge=0, le=86_400)] = 300.0
    jitter: bool = False


class WhenRule(_Strict):
    """A declarative test on the source task's output; see `conditions.py`."""

    path: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-\[\]]+$")]
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists", "in", "contains"]
    value: Any = None


class TaskDefinition(_Strict):
    name: Name
    description: Description | None = None
    type: str = Field(
        default="pass",
        validation_alias=AliasChoices("type", "task_type"),
        max_length=64,
        description="Task type (alias: task_type); absent means `pass`",
    )
    parameters: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=900)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_type_field(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" in data and "task_type" in data and data["type"] != data["task_type"]:
            raise ValueError("give either 'type' or 'task_type', not two different values")
        if isinstance(data, dict) and "task_type" in data and "type" in data:
            data = {k: v for k, v in data.items() if k != "task_type"}
        return data


class Condition(_Strict):
    name: Name | None = None
    description: Description | None = None
    source_task: Name
    outcome: str = Field(default="success", description="`success` or `failure` (any case)")
    target_task_success: str | None = Field(default=None, max_length=80)
    target_task_failure: str | None = Field(default=None, max_length=80)
    when: WhenRule | None = None


class FlowDefinition(_Strict):
    """A flow as users write it, flat or wrapped as {"flow": {...}}."""

    id: Annotated[str, Field(pattern=FLOW_ID_PATTERN)] | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Description | None = None
    start_task: Annotated[str, Field(min_length=1, max_length=80)]
    tasks: Annotated[list[TaskDefinition], Field(min_length=1, max_length=MAX_TASKS)]
    conditions: Annotated[list[Condition], Field(max_length=MAX_CONDITIONS)] = Field(default_factory=list)
    max_transitions: Annotated[int, Field(ge=1, le=MAX_TRANSITIONS_LIMIT)] = DEFAULT_MAX_TRANSITIONS
    timeout_seconds: Annotated[int, Field(ge=1, le=31_536_000)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and set(data) == {"flow"} and isinstance(data["flow"], dict):
            return data["flow"]
        return data


def is_end(target: str | None) -> bool:
    return target is None or target.strip().lower() == END_TARGET


def normalise_outcome(outcome: str) -> str:
    return outcome.strip().lower()


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    """A validated definition indexed for routing: built once per flow version, then read only."""

    flow_id: str
    version: int
    definition: FlowDefinition
    tasks: dict[str, TaskDefinition]
    task_order: tuple[str, ...]
    conditions_by_source: dict[str, tuple[Condition, ...]]

    @classmethod
    def build(cls, flow_id: str, version: int, definition: FlowDefinition) -> CompiledFlow:
        by_source: dict[str, list[Condition]] = {}
        for condition in definition.conditions:
            by_source.setdefault(condition.source_task, []).append(condition)
        return cls(
            flow_id=flow_id,
            version=version,
            definition=definition,
            tasks={task.name: task for task in definition.tasks},
            task_order=tuple(task.name for task in definition.tasks),
            conditions_by_source={name: tuple(conds) for name, conds in by_source.items()},
        )

    @property
    def has_conditions(self) -> bool:
        return bool(self.definition.conditions)

    @property
    def may_branch(self) -> bool:
        """Whether some task has several conditions, so that branches can run in parallel and join."""
        return any(len(conditions) > 1 for conditions in self.conditions_by_source.values())

    def next_in_order(self, task_name: str) -> str | None:
        index = self.task_order.index(task_name)
        return self.task_order[index + 1] if index + 1 < len(self.task_order) else None


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What one attempt of a task produced."""

    status: Literal[TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.WAITING]
    output: dict[str, Any] | None = None
    message: str | None = None
    error: str | None = None
    #: With status WAITING: the task has not ended; dispatch it again (resumed) after this many seconds.
    resume_after_seconds: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is TaskStatus.SUCCESS


@dataclass(frozen=True, slots=True)
class RunRef:
    """Identifies one visit of a task in an execution; its sort key is `RUN#<seq>#<task>`."""

    execution_id: str
    seq: int
    task_name: str

    @property
    def sort_key(self) -> str:
        return run_sort_key(self.seq, self.task_name)


SEQ_WIDTH = 6
_RUN_KEY = re.compile(r"^RUN#(\d{6})#(.+)$")


def run_sort_key(seq: int, task_name: str) -> str:
    return f"RUN#{seq:0{SEQ_WIDTH}d}#{task_name}"


def parse_run_sort_key(sort_key: str) -> tuple[int, str]:
    match = _RUN_KEY.match(sort_key)
    if match is None:
        raise ValueError(f"not a task run key: {sort_key!r}")
    return int(match.group(1)), match.group(2)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the engine decided after a task ended: all the I/O it implies is the caller's job."""

    successors: tuple[RunRef, ...] = ()
    retry_delay_seconds: float | None = None
    unhandled_failure: bool = False
    limit_exceeded: bool = False
    reason: str | None = None

    @property
    def ends_branch(self) -> bool:
        return self.retry_delay_seconds is None and not self.successors
