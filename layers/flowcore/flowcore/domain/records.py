"""Flows, executions and task runs as stored, and what one attempt of a task produced.

Plain values: how they are keyed and encoded is the DynamoDB adapter's business (`adapters.dynamodb`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from flowcore.domain.callbacks import Awaited
from flowcore.domain.flow import FlowSpec
from flowcore.domain.payloads import PayloadRef
from flowcore.domain.statuses import ExecutionStatus, TaskStatus


@dataclass(frozen=True, slots=True)
class RunRef:
    """One visit of a task in an execution: `seq` is its step along the path (a successor is at `seq + 1`)."""

    execution_id: str
    seq: int
    task_name: str

    @property
    def label(self) -> str:
        """How messages name a run: its step and task, `000002#task2`."""
        return f"{self.seq:06d}#{self.task_name}"

    @classmethod
    def of_label(cls, execution_id: str, label: str) -> RunRef:
        """The run of `execution_id` that `label` names."""
        seq, task_name = label.split("#", 1)
        return cls(execution_id, int(seq), task_name)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What one attempt of a task produced."""

    status: Literal[TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.WAITING]
    output: Any = None  # a built-in's is an object; an `output` template or `pass` may make it any JSON value
    message: str | None = None
    error: str | None = None
    #: With status WAITING: the task has not ended; dispatch it again (resumed) after this many seconds.
    resume_after_seconds: float | None = None
    #: WAITING for a completion: what hands off the work, called once parked (raising fails the attempt).
    deliver: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    awaited: Awaited | None = None  # WAITING for a completion: the nonce and deadlines it is parked with
    child: str | None = None  # a subflow task's attempt: the child execution it starts

    @classmethod
    def success(cls, task_name: str, output: Any) -> TaskResult:
        return cls(TaskStatus.SUCCESS, output=output, message=f"Task {task_name} completed successfully")

    @classmethod
    def failure(cls, task_name: str, error: str) -> TaskResult:
        return cls(TaskStatus.FAILURE, message=f"Task {task_name} failed", error=error)

    @classmethod
    def awaiting(
        cls, task_name: str, deliver: Callable[[], None] | None = None, child: str | None = None
    ) -> TaskResult:
        """The run waits for a completion from outside: a callback, or the end of the `child` execution."""
        message = f"Task {task_name} is waiting for {f'child execution {child}' if child else 'its callback'}"
        return cls(TaskStatus.WAITING, message=message, deliver=deliver, child=child)

    @property
    def succeeded(self) -> bool:
        return self.status is TaskStatus.SUCCESS


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """One immutable version of a flow."""

    flow_id: str
    version: int
    name: str
    created_at: str
    definition: FlowSpec
    content_hash: str


@dataclass(frozen=True, slots=True)
class FlowHead:
    """A flow as listed: its latest version and when it changed. A deleted flow keeps its head (with
    `deleted_at`), so that its version numbers are never given again."""

    flow_id: str
    name: str
    latest_version: int
    created_at: str
    updated_at: str
    deleted_at: str | None = None


#: Arrivals a join lists by label; past it, only their count is kept.
MAX_JOIN_LABELS = 32


@dataclass(frozen=True, slots=True)
class JoinState:
    """One join point of an execution that has forked (`flowcore.domain.branches`)."""

    reaching: int = 0  # live branches that can still reach it
    waiting: int = 0  # branches that reached it and wait
    labels: tuple[str, ...] = ()  # the first of them, by label (at most `MAX_JOIN_LABELS`: the item stays small)
    last_seq: int = 0  # the highest step among them: the join's run comes one step after
    failed: bool = False  # a branch that could have reached it ended in an unhandled failure: it will not run


@dataclass(frozen=True, slots=True)
class ParentLink:
    """A child execution's parent: the subflow task's run that started it, at the attempt and nonce it parked
    with (the child's end completes exactly that attempt)."""

    execution_id: str
    seq: int
    task_name: str
    attempt: int
    nonce: str

    @property
    def ref(self) -> RunRef:
        return RunRef(self.execution_id, self.seq, self.task_name)


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    execution_id: str
    flow_id: str
    flow_version: int
    flow_name: str
    status: ExecutionStatus
    input: dict[str, Any]
    created_at: str
    started_at: str | None = None
    ended_at: str | None = None
    error: str | None = None
    open_branches: int = 1
    failed: bool = False
    idempotency_key: str | None = None
    input_hash: str | None = None
    #: Once it has forked: its join points' counts, the runs its branches may still be given, and the
    #: revision every change to them bumps (a commit that read another revision is refused).
    joins: Mapping[str, JoinState] = field(default_factory=dict)
    runs_left: int | None = None
    rev: int = 0
    #: Set when the input is too large for the item: `input` is then None until read from the payload store.
    input_ref: PayloadRef | None = None
    #: A child execution: the subflow task's run that started it, and how deep it is nested (0: not a child).
    parent: ParentLink | None = None
    depth: int = 0
    counted: bool = False  # holds a place among its tenant's running executions (adapters/dynamodb/quotas.py)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """An earlier attempt of a run, kept when the run is tried again (its latest attempt is the run itself)."""

    attempt: int
    status: TaskStatus
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    message: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    ref: RunRef
    status: TaskStatus
    attempt: int
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    output: dict[str, Any] | None = None
    message: str | None = None
    error: str | None = None
    claim: str | None = None
    lease_until: int | None = None
    #: Committed in one transaction with its successors: a redelivered record has nothing left to finish.
    atomic: bool = False
    wait_until: int | None = None
    #: The attempts before the latest, oldest first: one history entry each.
    attempts: tuple[AttemptRecord, ...] = ()
    #: From a fork on: the runs its branch may still start (`flowcore.domain.branches`).
    budget: int | None = None
    #: A join's run: the runs that reached the join, by label, and how many of them the execution still
    #: lists as waiting (the join's commit clears them).
    arrived: tuple[str, ...] = ()
    merged: int = 0
    arrived_total: int | None = None  # set when more arrived than `arrived` lists
    #: Set when the output is too large for the item: `output` is then None until read from the payload store.
    output_ref: PayloadRef | None = None
    #: The input the task received, its `input` template resolved (None: the task has no input template).
    input: Any = None
    input_ref: PayloadRef | None = None  # set instead of `input` when that is too large for the item
    #: The run that led to this one, by label (kept when some task of the flow reads `previous`).
    predecessor: str | None = None
    #: The tasks its conditions routed it to, kept when they read more than its own output (recovery
    #: follows them instead of deciding again on data that may have moved).
    routed: tuple[str, ...] | None = None
    #: Parked for a completion from outside (a callback, a child execution): its nonce, deadlines, completion.
    awaited: Awaited | None = None
    #: A subflow task's run: the child execution it started.
    child: str | None = None

    def result(self) -> TaskResult | None:
        """The committed result, when the run holds one (a run waiting for a retry holds its failure)."""
        if self.status is TaskStatus.SUCCESS:
            return TaskResult(TaskStatus.SUCCESS, output=self.output, message=self.message, error=self.error)
        if self.status is TaskStatus.FAILURE or (self.status is TaskStatus.WAITING and self.error):
            return TaskResult(TaskStatus.FAILURE, output=self.output, message=self.message, error=self.error)
        return None


@dataclass(frozen=True, slots=True)
class LatestResult:
    """The latest ended run of a task that some template reads as `tasks.<name>`, kept per execution."""

    task_name: str
    seq: int
    status: TaskStatus
    attempts: int
    output: dict[str, Any] | None = None
    output_ref: PayloadRef | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DispatchGuard:
    """What a run must still look like for the dispatch that read it to act on it."""

    attempt: int
    absent: bool = False  # the run item is not written yet: a start task, or a task run ahead in a chain
    wait_until: int | None = None  # resumed from a wait: the wait it was parked for
    claim: str | None = None  # claimed by this runner: RUNNING under this token

    def claimed(self, token: str) -> DispatchGuard:
        return replace(self, claim=token)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A run the stream delivered: a PENDING run item, or a started execution (its start task)."""

    execution_id: str
    seq: int
    task_name: str | None  # None: the start task, known once the flow is loaded
    attempt: int
    wait_until: int | None = None  # set when a wait task's timer resumed this run
    chained: bool = False  # run ahead by the invocation that ended the run before it; no item yet
    budget: int | None = None  # from a fork on: the runs its branch may still start
    merged: int = 0  # a join's run: how many of the branches it merged the execution still lists as waiting
    predecessor: str | None = None  # the run that led to it, by label (when the flow reads `previous`)
    awaited: Awaited | None = None  # resumed after waiting for a completion: what it waited with, and how it ended

    @property
    def from_start(self) -> bool:
        return self.task_name is None

    @property
    def guard(self) -> DispatchGuard:
        return DispatchGuard(self.attempt, self.from_start or self.chained, self.wait_until)


@dataclass(frozen=True, slots=True)
class EndedAttempt:
    """One attempt as the runner commits it: its result and when it ran."""

    attempt: int
    result: TaskResult
    started_at: str
    ended_at: str
    duration_ms: int
    input: Any = None  # the task's resolved input, when it has an input template
    input_ref: PayloadRef | None = None  # that input, when it is too large for the item
    output_ref: PayloadRef | None = None  # the output, when it is too large for the item
    routed: tuple[str, ...] | None = None  # the successors its conditions chose, when they read more than its output
    predecessor: str | None = None  # the run that led to it, by label (recorded when the flow reads `previous`)
    awaited: Awaited | None = None  # parked for a completion from outside: the nonce and deadlines it waits with


@dataclass(frozen=True, slots=True)
class BranchChange:
    """The execution's open-branch count moving from what the runner read; `final` when it reaches zero."""

    expected_open: int
    open_branches: int
    final: ExecutionStatus | None = None
    error: str | None = None
    failed: bool = False
    joins: Mapping[str, JoinState] | None = None  # when it can branch: joins and pool after; the revision read
    runs_left: int | None = None
    expected_rev: int | None = None
    release: bool = False  # the execution is `counted`: reaching `final` gives its place back
