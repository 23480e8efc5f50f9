"""The data of a run: the context document its templates read, and its large values kept out of the items.

A task with no template (no `input`, no templated parameter, no `output`, no `expr` condition) reads none of
this and writes nothing more than before. One with templates reads, on top of its own record:
- `input` and `execution`: from the execution the runner read already (a large input from the payload
  store, once per invocation);
- `tasks.<name>`: the latest results the table keeps for those tasks, in one query, unless the chain this
  run is part of produced them (`Memory`);
- `previous`: the run that led to this one, from the chain's memory, the latest results just read, or its
  run item (the dispatch names it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from flowcore.domain.compiled import CompiledFlow, DataNeeds
from flowcore.domain.payloads import INLINE_LIMIT, MAX_PAYLOAD_BYTES, PayloadRef, encoded
from flowcore.domain.records import Dispatch, EndedAttempt, ExecutionRecord, LatestResult, RunRecord, RunRef
from flowcore.domain.statuses import TaskStatus
from flowcore.domain.tenancy import shown
from flowcore.ports import PayloadStore, ResultRepository, RunRepository


@dataclass(frozen=True, slots=True)
class Seen:
    """An ended run as templates read it (`tasks.<name>`, `previous`). `output` is None while it is only
    referenced (`output_ref`): it is read from the payload store when a context needs it."""

    ref: RunRef
    status: TaskStatus
    attempts: int
    output: Any = None
    error: str | None = None
    output_ref: PayloadRef | None = None

    @classmethod
    def of_run(cls, run: RunRecord) -> Seen:
        return cls(run.ref, run.status, run.attempt, run.output, run.error or None, run.output_ref)

    @classmethod
    def of_ended(cls, ref: RunRef, ended: EndedAttempt) -> Seen:
        """A run just committed: its whole output is at hand, also when it is kept by reference."""
        result = ended.result
        status = TaskStatus.SUCCESS if result.succeeded else TaskStatus.FAILURE
        return cls(ref, status, ended.attempt, result.output, result.error, ended.output_ref)

    @classmethod
    def of_latest(cls, execution_id: str, latest: LatestResult) -> Seen:
        ref = RunRef(execution_id, latest.seq, latest.task_name)
        return cls(ref, latest.status, latest.attempts, latest.output, latest.error, latest.output_ref)

    def latest(self) -> LatestResult:
        output = None if self.output_ref is not None else self.output
        return LatestResult(
            self.ref.task_name, self.ref.seq, self.status, self.attempts, output, self.output_ref, self.error
        )


class Memory:
    """What one chain knows of the latest results, so that its next tasks' templates read them from memory:
    those its runs ended with, and those it read once (a chain runs one task at a time, so they stay the
    latest until it ends another run of the same task). Large outputs are kept by reference only, but for
    `previous`: a long chain holds one at a time."""

    __slots__ = ("known", "previous", "tasks")

    def __init__(self) -> None:
        self.previous: Seen | None = None
        self.tasks: dict[str, Seen] = {}
        self.known: set[str] = set()  # tasks whose latest result is known, also to be none yet

    def keep(self, flow: CompiledFlow, seen: Seen) -> None:
        """`seen` just ended: it is what the next task of the chain finds as `previous`."""
        self.previous = seen
        if seen.ref.task_name in flow.remembered:
            self.learn({seen.ref.task_name: seen}, (seen.ref.task_name,))

    def learn(self, found: dict[str, Seen], asked: Iterable[str]) -> None:
        for name in asked:
            self.known.add(name)
            seen = found.get(name)
            if seen is not None:
                self.tasks[name] = seen if seen.output_ref is None else replace(seen, output=None)


class Known:
    """The large values this container stored or read lately, by execution and content hash: one that comes
    back (a `pass` task's output is its input; an input that is a read value as it is) is not stored again."""

    LIMIT = 256

    def __init__(self) -> None:
        self._refs: dict[tuple[str, str], PayloadRef] = {}

    def add(self, execution_id: str, ref: PayloadRef) -> None:
        if len(self._refs) >= self.LIMIT:
            self._refs.clear()
        self._refs[(execution_id, ref.sha256)] = ref

    def get(self, execution_id: str, sha256: str) -> PayloadRef | None:
        return self._refs.get((execution_id, sha256))


class Contexts:
    """Builds a run's context document from the fewest reads."""

    def __init__(
        self, runs: RunRepository, results: ResultRepository | None, payloads: PayloadStore | None, known: Known
    ) -> None:
        self._runs = runs
        self._results = results
        self._payloads = payloads
        self._known = known
        self._input: tuple[str, Any] | None = None  # the last large input read: (its key, its value)

    def build(
        self, flow: CompiledFlow, execution: ExecutionRecord, ref: RunRef, dispatch: Dispatch, memory: Memory
    ) -> dict[str, Any]:
        """The context document of the run at `ref`; `memory` is what its chain knows (and learns from it)."""
        needs = flow.needs[ref.task_name]
        context: dict[str, Any] = {
            "input": self._execution_input(execution),
            "execution": {
                "id": shown(execution.execution_id),
                "flow_id": shown(execution.flow_id),
                "flow_version": execution.flow_version,
                "started_at": execution.started_at or execution.created_at,
            },
        }
        seen = self._tasks(flow, execution.execution_id, needs, dispatch, memory)
        if needs.tasks:
            context["tasks"] = {name: self._document(seen[name]) for name in needs.tasks if name in seen}
        if needs.previous:
            previous = self._previous(execution.execution_id, dispatch, memory, seen)
            if previous is not None:
                context["previous"] = self._document(previous)
        return context

    def _tasks(
        self, flow: CompiledFlow, execution_id: str, needs: DataNeeds, dispatch: Dispatch, memory: Memory
    ) -> dict[str, Seen]:
        """The latest results the run reads: from the chain's memory when it knows them, else one query (which
        also brings `previous` when the task that led here is one the flow remembers)."""
        wanted = set(needs.tasks)
        if needs.previous and dispatch.predecessor is not None:
            predecessor = RunRef.of_label(execution_id, dispatch.predecessor).task_name
            if predecessor in flow.remembered:
                wanted.add(predecessor)
        missing = wanted - memory.known
        if missing and self._results is not None:
            latest = self._results.latest(execution_id, missing)
            memory.learn({name: Seen.of_latest(execution_id, result) for name, result in latest.items()}, missing)
        return memory.tasks

    def _previous(self, execution_id: str, dispatch: Dispatch, memory: Memory, seen: dict[str, Seen]) -> Seen | None:
        if dispatch.chained:
            return memory.previous
        if dispatch.predecessor is None:
            return None  # the start task's first run: nothing led to it
        ref = RunRef.of_label(execution_id, dispatch.predecessor)
        if memory.previous is not None and memory.previous.ref == ref:
            return memory.previous
        latest = seen.get(ref.task_name)
        if latest is not None and latest.ref == ref:
            return latest
        run = self._runs.get(ref)
        return Seen.of_run(run) if run is not None else None

    def _document(self, seen: Seen) -> dict[str, Any]:
        output = seen.output
        if seen.output_ref is not None and output is None:
            output = self.load(seen.ref.execution_id, seen.output_ref)
        return {"status": str(seen.status), "output": output, "error": seen.error, "attempts": seen.attempts}

    def _execution_input(self, execution: ExecutionRecord) -> Any:
        if execution.input_ref is None:
            return execution.input
        key = execution.input_ref.key
        if self._input is None or self._input[0] != key:
            self._input = (key, self.load(execution.execution_id, execution.input_ref))
        return self._input[1]

    def load(self, execution_id: str, ref: PayloadRef) -> Any:
        if self._payloads is None:
            raise LookupError(f"payload '{ref.key}' cannot be read: no payload store is configured")
        value = self._payloads.get(ref)
        self._known.add(execution_id, ref)
        return value


class Offload:
    """Values too large for an item go to the payload store; past `MAX_PAYLOAD_BYTES`, the task fails."""

    def __init__(self, payloads: PayloadStore | None, known: Known) -> None:
        self._payloads = payloads
        self._known = known

    def store(self, execution_id: str, value: Any, what: str) -> tuple[PayloadRef | None, str | None]:
        """The reference `value` is kept under when it is large (None when it stays inline), or why it
        cannot be kept."""
        body = encoded(value)  # as the payload store writes it
        size = len(body)
        if size <= INLINE_LIMIT:
            return None, None
        if size > MAX_PAYLOAD_BYTES:
            return None, f"{what} is {size:,} bytes; at most {MAX_PAYLOAD_BYTES:,} bytes can be kept"
        if self._payloads is None:
            return None, f"{what} is {size:,} bytes; more than {INLINE_LIMIT:,} needs a payload store"
        known = self._known.get(execution_id, hashlib.sha256(body).hexdigest())
        if known is not None:
            return known, None
        ref = self._payloads.put(execution_id, value)
        self._known.add(execution_id, ref)
        return ref, None
