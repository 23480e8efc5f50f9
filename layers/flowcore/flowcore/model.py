"""Flow definitions, executions and task runs, as the runner and the engine read them.

Everything here is a plain frozen dataclass, and this module imports no pydantic: the stream consumers
import it, and pydantic with the definition models was a third of their cold start. Definitions arriving
from users are checked by the pydantic models of `flowcore.definition` (API only); what was stored after
that check is read back as a `FlowSpec`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from flowcore.errors import UnreadableItem

if TYPE_CHECKING:
    from flowcore.definition import FlowDefinition

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$"
FLOW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
END_TARGET = "end"

MAX_TASKS = 1000
MAX_CONDITIONS = 2000
DEFAULT_MAX_TRANSITIONS = 10_000
MAX_TRANSITIONS_LIMIT = 100_000


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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_delay_seconds: float = 300.0
    jitter: bool = False


@dataclass(frozen=True, slots=True)
class WhenRule:
    path: str
    op: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Condition:
    source_task: str
    name: str | None = None
    outcome: str = "success"
    target_task_success: str | None = None
    target_task_failure: str | None = None
    when: WhenRule | None = None


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    type: str = "pass"
    parameters: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A definition that passed `flowcore.definition.FlowDefinition`, read back without checking it again.

    `document` is its JSON form as stored; the other fields are what routing reads. Defaults are the models'.
    """

    name: str
    start_task: str
    tasks: tuple[TaskSpec, ...]
    conditions: tuple[Condition, ...]
    max_transitions: int
    timeout_seconds: int | None
    document: dict[str, Any]

    @classmethod
    def from_json(cls, text: str) -> FlowSpec:
        """Parse a stored definition; one that does not parse raises `UnreadableItem` (a `FlowError`)."""
        try:
            return cls.from_document(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise UnreadableItem(f"a stored flow definition does not parse: {error}") from error

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> FlowSpec:
        return cls(
            name=document["name"],
            start_task=document["start_task"],
            tasks=tuple(_task(task) for task in document["tasks"]),
            conditions=tuple(_condition(condition) for condition in document.get("conditions", ())),
            max_transitions=document.get("max_transitions", DEFAULT_MAX_TRANSITIONS),
            timeout_seconds=document.get("timeout_seconds"),
            document=document,
        )


def _task(document: dict[str, Any]) -> TaskSpec:
    retry = document.get("retry")
    return TaskSpec(
        name=document["name"],
        type=document.get("type", "pass"),
        parameters=document.get("parameters", {}),
        retry=RetryPolicy(**retry) if retry is not None else None,
        timeout_seconds=document.get("timeout_seconds"),
    )


def _condition(document: dict[str, Any]) -> Condition:
    when = document.get("when")
    return Condition(
        source_task=document["source_task"],
        name=document.get("name"),
        outcome=document.get("outcome", "success"),
        target_task_success=document.get("target_task_success"),
        target_task_failure=document.get("target_task_failure"),
        when=WhenRule(**when) if when is not None else None,
    )


def is_end(target: str | None) -> bool:
    return target is None or target.strip().lower() == END_TARGET


def normalise_outcome(outcome: str) -> str:
    return outcome.strip().lower()


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    """A validated definition indexed for routing: built once per flow version, then read only."""

    flow_id: str
    version: int
    definition: FlowSpec
    tasks: dict[str, TaskSpec]
    task_order: tuple[str, ...]
    conditions_by_source: dict[str, tuple[Condition, ...]]
    #: Tasks that conditions of more than one task lead to: where parallel branches can meet.
    join_points: frozenset[str]

    @classmethod
    def build(cls, flow_id: str, version: int, definition: FlowSpec | FlowDefinition) -> CompiledFlow:
        """From a stored definition, or from a checked model (tests, the bench): `FlowSpec` either way."""
        if not isinstance(definition, FlowSpec):
            definition = definition.spec()
        by_source: dict[str, list[Condition]] = {}
        sources_by_target: dict[str, set[str]] = {}
        for condition in definition.conditions:
            by_source.setdefault(condition.source_task, []).append(condition)
            for target in (condition.target_task_success, condition.target_task_failure):
                if not is_end(target):
                    sources_by_target.setdefault(str(target), set()).add(condition.source_task)
        return cls(
            flow_id=flow_id,
            version=version,
            definition=definition,
            tasks={task.name: task for task in definition.tasks},
            task_order=tuple(task.name for task in definition.tasks),
            conditions_by_source={name: tuple(conds) for name, conds in by_source.items()},
            join_points=frozenset(task for task, sources in sources_by_target.items() if len(sources) > 1),
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
