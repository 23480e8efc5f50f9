"""A task runner on the in-memory ports (tests/fakes.py), with a scripted task type: what the runner's unit
tests drive."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flowcore.domain.flow import FlowSpec
from flowcore.domain.records import ExecutionRecord, FlowRecord, TaskResult
from flowcore.domain.statuses import ExecutionStatus, TaskStatus
from flowcore.runner.dispatch import TaskRunner
from flowcore.runner.outcome import Outcome
from flowcore.tasks import TaskContext, TaskType, TaskTypeRegistry
from flowcore.tasks.base import Parameters
from flowcore.tasks.builtins import builtin_types
from tests.fakes import (
    NOW,
    FakeCompletions,
    FakeExecutions,
    FakeFlows,
    FakePayloads,
    FakeResults,
    FakeRuns,
    FakeTimers,
    StaticKeys,
    Store,
)

EXECUTION = "e-1"
T0 = 1_800_000_000.0


class Killed(BaseException):
    """The runner's process dies here: nothing the runner catches."""


class Scripted(TaskType):
    """Succeeds with its name as output, after the action its test gave for that task (if any)."""

    name = "scripted"
    description = "test task"
    actions: ClassVar[dict[str, Callable[[TaskContext], None]]] = {}
    ran: ClassVar[Counter[str]] = Counter()

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        Scripted.ran[ctx.task_name] += 1
        action = Scripted.actions.pop(ctx.task_name, None)
        if action is not None:
            action(ctx)
        return TaskResult.success(ctx.task_name, {"task": ctx.task_name, "run": Scripted.ran[ctx.task_name]})


class ScriptedClaimed(Scripted):
    name = "scripted_claimed"
    needs_claim: ClassVar[bool] = True


@dataclass
class Rig:
    store: Store = field(default_factory=Store)
    chain_tasks: int = 100
    now: list[float] = field(default_factory=lambda: [T0])

    def __post_init__(self) -> None:
        self.runs, self.executions = FakeRuns(self.store), FakeExecutions(self.store)
        self.flows, self.timers = FakeFlows(self.store), FakeTimers(self.store)
        self.results, self.payloads = FakeResults(self.store), FakePayloads()
        self.runner = TaskRunner(
            self.runs,
            self.executions,
            self.flows,
            TaskTypeRegistry([*builtin_types(), Scripted(), ScriptedClaimed()]),
            self.timers,
            lease_seconds=60,
            chain_tasks=self.chain_tasks,
            rand=lambda: 0.5,
            clock=lambda: self.now[0],
            results=self.results,
            payloads=self.payloads,
            completions=FakeCompletions(self.store),
            callback_keys=StaticKeys(),
        )

    def start(self, definition: dict[str, Any], execution_input: dict[str, Any] | None = None) -> str:
        spec = FlowSpec.from_document(definition)
        self.store.flows[("f", 1)] = FlowRecord("f", 1, spec.name, NOW, spec, "hash")
        document = execution_input or {}
        record = ExecutionRecord(EXECUTION, "f", 1, spec.name, ExecutionStatus.RUNNING, document, NOW, NOW)
        self.executions.create(record)
        return EXECUTION

    def drain(self, limit: int = 100) -> list[Outcome]:
        """Deliver every dispatch the stream holds, in order, until it is quiet."""
        outcomes = []
        while self.store.stream and len(outcomes) < limit:
            outcomes.append(self.runner.process(self.store.stream.popleft()))
        return outcomes

    def statuses(self) -> dict[str, tuple[TaskStatus, int]]:
        return {run.ref.task_name: (run.status, run.attempt) for run in self.store.runs_of(EXECUTION)}

    @property
    def execution(self) -> ExecutionRecord:
        return self.store.executions[EXECUTION]


def fresh_script() -> None:
    Scripted.actions.clear()
    Scripted.ran.clear()


def sequence(*names: str, task_type: str = "scripted", **flow: Any) -> dict[str, Any]:
    return {"name": "seq", "start_task": names[0], "tasks": [{"name": n, "type": task_type} for n in names], **flow}


def fan_out_to_join() -> dict[str, Any]:
    """`start` opens branches `a` and `b`; both lead to `join`."""

    def to(source: str, target: str) -> dict[str, Any]:
        return {"source_task": source, "outcome": "success", "target_task_success": target}

    tasks = [{"name": name, "type": "scripted"} for name in ("start", "a", "b", "join")]
    conditions = [to("start", "a"), to("start", "b"), to("a", "join"), to("b", "join")]
    return {"name": "fan", "start_task": "start", "tasks": tasks, "conditions": conditions}
