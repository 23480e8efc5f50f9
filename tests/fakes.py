"""The ports of `flowcore.ports` in memory, for the runner's unit tests: no moto, no botocore.

Each conditional write refuses exactly when the DynamoDB adapter's condition would (`run_writes.dispatched`
and the transition tables), and raises the same domain conflicts. Every write that the template's
FilterCriteria would pass (a run becoming PENDING, an execution becoming RUNNING) queues a `Dispatch`, as
the table's stream would deliver it; `Store.calls` records each port call, to tell the commit strategies
apart.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flowcore.domain.branches import NewRun
from flowcore.domain.callbacks import Completion
from flowcore.domain.conflicts import ExecutionConflict, RunConflict, SuccessorsExist
from flowcore.domain.errors import Conflict, NotFound
from flowcore.domain.flow import FlowSpec
from flowcore.domain.payloads import PayloadRef
from flowcore.domain.records import (
    AttemptRecord,
    BranchChange,
    Dispatch,
    DispatchGuard,
    EndedAttempt,
    ExecutionRecord,
    FlowHead,
    FlowRecord,
    LatestResult,
    RunRecord,
    RunRef,
)
from flowcore.domain.statuses import (
    ACTIVE_EXECUTION_STATUSES,
    ExecutionEvent,
    ExecutionStatus,
    TaskStatus,
    execution_after,
    execution_sources,
)
from flowcore.domain.tenancy import belongs_to

NOW = "2026-01-01T00:00:00.000Z"


@dataclass
class Store:
    """What the single table holds, and the stream of dispatches its writes would make."""

    flows: dict[tuple[str, int], FlowRecord] = field(default_factory=dict)
    executions: dict[str, ExecutionRecord] = field(default_factory=dict)
    runs: dict[tuple[str, int, str], RunRecord] = field(default_factory=dict)
    stream: deque[Dispatch] = field(default_factory=deque)
    calls: list[str] = field(default_factory=list)
    results: dict[tuple[str, str], LatestResult] = field(default_factory=dict)
    reads: list[RunRef] = field(default_factory=list)  # the runs read one by one (`FakeRuns.get`)

    def run(self, ref: RunRef) -> RunRecord | None:
        return self.runs.get((ref.execution_id, ref.seq, ref.task_name))

    def put_run(self, record: RunRecord) -> None:
        ref = record.ref
        self.runs[(ref.execution_id, ref.seq, ref.task_name)] = record
        if record.status is TaskStatus.PENDING:
            self.stream.append(
                Dispatch(
                    ref.execution_id,
                    ref.seq,
                    ref.task_name,
                    record.attempt,
                    record.wait_until,
                    budget=record.budget,
                    merged=record.merged,
                    predecessor=record.predecessor,
                    awaited=record.awaited if record.wait_until is not None else None,
                )
            )

    def runs_of(self, execution_id: str) -> list[RunRecord]:
        return [run for key, run in sorted(self.runs.items()) if key[0] == execution_id]


def _holds(current: RunRecord | None, guard: DispatchGuard) -> bool:
    """The DynamoDB adapter's `dispatched` condition."""
    if guard.claim is not None:
        return (
            current is not None
            and current.status is TaskStatus.RUNNING
            and current.claim == guard.claim
            and current.attempt == guard.attempt
        )
    if guard.absent:
        return current is None
    return (
        current is not None
        and current.status is TaskStatus.PENDING
        and current.attempt == guard.attempt
        and current.wait_until == guard.wait_until
    )


class FakeRuns:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, ref: RunRef) -> RunRecord | None:
        self._store.reads.append(ref)
        return self._store.run(ref)

    def list_runs(self, execution_id: str) -> list[RunRecord]:
        return self._store.runs_of(execution_id)

    def runs_page(self, execution_id: str, limit: int, cursor: str | None) -> tuple[list[RunRecord], str | None]:
        """Pages by position: the cursor is the index of the page's first run."""
        start = int(cursor or 0)
        runs = self._store.runs_of(execution_id)
        return runs[start : start + limit], str(start + limit) if start + limit < len(runs) else None

    def hand_off(self, ref: RunRef, predecessor: str | None = None) -> bool:
        self._store.calls.append("hand_off")
        return self._create(RunRecord(ref, TaskStatus.PENDING, 1, predecessor=predecessor))

    def skip_ahead(self, ref: RunRef) -> bool:
        self._store.calls.append("skip_ahead")
        return self._create(RunRecord(ref, TaskStatus.SKIPPED, 1, ended_at=NOW))

    def _create(self, record: RunRecord) -> bool:
        if self._store.run(record.ref) is not None:
            return False
        self._store.put_run(record)
        return True

    def _guarded(self, ref: RunRef, guard: DispatchGuard) -> RunRecord | None:
        current = self._store.run(ref)
        if not _holds(current, guard):
            raise RunConflict(current)
        return current

    def claim(self, ref: RunRef, guard: DispatchGuard, token: str, lease_until: int) -> None:
        self._store.calls.append("claim")
        current = self._guarded(ref, guard)
        base = current or RunRecord(ref, TaskStatus.RUNNING, guard.attempt)
        running = replace(base, status=TaskStatus.RUNNING, attempt=guard.attempt, claim=token, started_at=NOW)
        self._store.put_run(replace(running, lease_until=lease_until))

    def _end(self, ref: RunRef, ended: EndedAttempt, status: TaskStatus, attempt: int, **extra: Any) -> RunRecord:
        """The run after an attempt's end: what the write sets; what it does not set stays as it was."""
        result = ended.result
        current = self._store.run(ref) or RunRecord(ref, status, attempt)
        ended_run = replace(
            current,
            status=status,
            attempt=attempt,
            started_at=ended.started_at,
            ended_at=ended.ended_at,
            duration_ms=ended.duration_ms,
            output=None if ended.output_ref is not None else result.output,
            output_ref=ended.output_ref,
            message=result.message or "",
            error=result.error or "",
            claim=None,
            lease_until=None,
            wait_until=None,
            atomic=False,
        )
        data = {
            "input": ended.input,
            "input_ref": ended.input_ref,
            "routed": ended.routed,
            "predecessor": ended.predecessor,
            "awaited": ended.awaited,
        }
        return replace(ended_run, **{name: value for name, value in data.items() if value is not None}, **extra)

    def commit_result(
        self,
        ref: RunRef,
        ended: EndedAttempt,
        guard: DispatchGuard,
        successors: tuple[NewRun, ...] = (),
        branches: BranchChange | None = None,
        remember: LatestResult | None = None,
    ) -> None:
        atomic = bool(successors) or branches is not None or remember is not None
        self._store.calls.append(("commit_atomic" if atomic else "commit") + ("+execution" if branches else ""))
        self._guarded(ref, guard)
        execution = self._store.executions.get(ref.execution_id)
        if branches is not None and not _branches_hold(execution, branches):
            raise ExecutionConflict()
        taken = tuple(new.ref for new in successors if self._store.run(new.ref) is not None)
        if taken:
            raise SuccessorsExist(taken)
        status = TaskStatus.SUCCESS if ended.result.succeeded else TaskStatus.FAILURE
        self._store.put_run(self._end(ref, ended, status, ended.attempt, atomic=atomic))
        for new in successors:
            self._store.put_run(
                RunRecord(
                    new.ref,
                    TaskStatus.PENDING,
                    1,
                    budget=new.budget,
                    arrived=new.arrived,
                    merged=new.merged,
                    arrived_total=new.arrived_total,
                    predecessor=new.predecessor,
                )
            )
        if branches is not None and execution is not None:
            self._store.executions[ref.execution_id] = _moved(execution, branches)
        if remember is not None:
            self._store.results[(ref.execution_id, remember.task_name)] = remember

    def park(self, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard, wait_until: int | None = None) -> None:
        self._store.calls.append("park")
        current = self._guarded(ref, guard)
        tried = _tried(current, ended)
        spent = {"awaited": None} if ended.result.status is TaskStatus.FAILURE else {}  # a retry's token is spent
        self._store.put_run(
            self._end(ref, ended, TaskStatus.WAITING, ended.attempt, wait_until=wait_until, attempts=tried, **spent)
        )

    def retry_now(self, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard) -> None:
        self._store.calls.append("retry_now")
        current = self._guarded(ref, guard)
        self._store.put_run(
            self._end(ref, ended, TaskStatus.PENDING, ended.attempt + 1, attempts=_tried(current, ended), awaited=None)
        )

    def skip(self, ref: RunRef, guard: DispatchGuard) -> None:
        self._store.calls.append("skip")
        self._guarded(ref, guard)
        self._store.put_run(RunRecord(ref, TaskStatus.SKIPPED, guard.attempt, ended_at=NOW))

    def reclaim(self, ref: RunRef, attempt: int, claim: str) -> None:
        self._store.calls.append("reclaim")
        current = self._store.run(ref)
        if (
            current is None
            or current.status is not TaskStatus.RUNNING
            or (current.claim, current.attempt)
            != (
                claim,
                attempt,
            )
        ):
            raise RunConflict(current)
        self._store.put_run(replace(current, status=TaskStatus.PENDING, claim=None, lease_until=None))

    def fail_dispatch(self, ref: RunRef, attempt: int | None, reason: str) -> bool:
        self._store.calls.append("fail_dispatch")
        current = self._store.run(ref)
        if attempt is None and current is not None:
            return False
        if attempt is not None and (
            current is None or (current.status, current.attempt) != (TaskStatus.PENDING, attempt)
        ):
            return False
        self._store.put_run(RunRecord(ref, TaskStatus.FAILURE, attempt or 1, ended_at=NOW, error=reason))
        return True

    def cancel_open(self, execution_id: str) -> int:
        waiting = [
            run for run in self._store.runs_of(execution_id) if run.status in (TaskStatus.PENDING, TaskStatus.WAITING)
        ]
        for run in waiting:
            self._store.put_run(replace(run, status=TaskStatus.SKIPPED, ended_at=NOW))
        return len(waiting)

    def delete(self, ref: RunRef) -> None:
        self._store.runs.pop((ref.execution_id, ref.seq, ref.task_name), None)


class StaticKeys:
    """`CallbackKeys` with a fixed key."""

    def __init__(self, key: bytes = b"k" * 32) -> None:
        self._key = key

    def key(self) -> bytes:
        return self._key


class FakeCompletions:
    """Completions of awaited runs, on the same conditions as the adapter's conditional writes."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def complete(self, ref: RunRef, attempt: int, nonce: str, completion: Completion) -> bool:
        self._store.calls.append("complete")
        current = self._awaiting(ref, attempt, nonce)
        if current is None or current.awaited is None:
            return False
        awaited = replace(current.awaited, completion=completion)
        self._store.put_run(replace(current, status=TaskStatus.PENDING, awaited=awaited))
        return True

    def heartbeat(self, ref: RunRef, attempt: int, nonce: str, wait_until: int) -> bool:
        self._store.calls.append("heartbeat")
        current = self._awaiting(ref, attempt, nonce)
        if current is None:
            return False
        self._store.put_run(replace(current, wait_until=wait_until))
        return True

    def _awaiting(self, ref: RunRef, attempt: int, nonce: str) -> RunRecord | None:
        current = self._store.run(ref)
        if (
            current is None
            or current.status is not TaskStatus.WAITING
            or current.attempt != attempt
            or current.awaited is None
            or current.awaited.nonce != nonce
            or current.awaited.completion is not None
        ):
            return None
        return current


def _tried(current: RunRecord | None, ended: EndedAttempt) -> tuple[AttemptRecord, ...]:
    """The earlier attempts, with this one when it failed and the run is tried again."""
    earlier = current.attempts if current is not None else ()
    result = ended.result
    if result.status is not TaskStatus.FAILURE:
        return earlier
    this = AttemptRecord(
        ended.attempt, result.status, ended.started_at, ended.ended_at, ended.duration_ms, result.message, result.error
    )
    return (*earlier, this)


def _branches_hold(execution: ExecutionRecord | None, change: BranchChange) -> bool:
    if execution is None or execution.status is not ExecutionStatus.RUNNING:
        return False
    if change.expected_rev is not None:
        return execution.rev == change.expected_rev
    return execution.open_branches == change.expected_open


def _moved(execution: ExecutionRecord, change: BranchChange) -> ExecutionRecord:
    moved = replace(execution, open_branches=change.open_branches, failed=change.failed or execution.failed)
    if change.expected_rev is not None:
        moved = replace(moved, rev=change.expected_rev + 1, joins=dict(change.joins or {}))
        if change.runs_left is not None:
            moved = replace(moved, runs_left=change.runs_left)
    if change.error and not execution.error:
        moved = replace(moved, error=change.error)
    if change.final is not None:
        moved = replace(moved, status=change.final, ended_at=NOW)
    return moved


class FakeExecutions:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, record: ExecutionRecord) -> ExecutionRecord:
        existing = self._store.executions.get(record.execution_id)
        if existing is not None:
            return existing
        self._store.executions[record.execution_id] = record
        if record.status is ExecutionStatus.RUNNING:
            self._store.stream.append(Dispatch(record.execution_id, 1, None, 1))
        return record

    def start(self, execution_id: str) -> ExecutionRecord:
        current = self.get(execution_id)
        if current is None:
            raise NotFound(f"execution '{execution_id}' does not exist")
        if current.status not in execution_sources(ExecutionEvent.START):
            raise Conflict(f"execution '{execution_id}' is {current.status}")
        started = replace(current, status=ExecutionStatus.RUNNING, started_at=NOW)
        self._store.executions[execution_id] = started
        self._store.stream.append(Dispatch(execution_id, 1, None, 1))
        return started

    def get(self, execution_id: str) -> ExecutionRecord | None:
        return self._store.executions.get(execution_id)

    def find_started(self, flow_id: str, idempotency_key: str) -> ExecutionRecord | None:
        found = [
            e for e in self._store.executions.values() if (e.flow_id, e.idempotency_key) == (flow_id, idempotency_key)
        ]
        return found[0] if found else None

    def list_of_flow(
        self, flow_id: str, status: ExecutionStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[ExecutionRecord], str | None]:
        found = [e for e in self._store.executions.values() if e.flow_id == flow_id and status in (None, e.status)]
        return found[:limit], None

    def has_active(self, flow_id: str) -> bool:
        return any(
            e.flow_id == flow_id and e.status in ACTIVE_EXECUTION_STATUSES for e in self._store.executions.values()
        )

    def delete(self, execution_id: str) -> int:
        runs = [key for key in self._store.runs if key[0] == execution_id]
        for key in runs:
            del self._store.runs[key]
        return len(runs) + (self._store.executions.pop(execution_id, None) is not None)

    def stop(self, execution_id: str, event: ExecutionEvent, reason: str | None) -> bool:
        self._store.calls.append(f"stop:{event}")
        current = self.get(execution_id)
        if current is None or current.status not in execution_sources(event):
            return False
        stopped = replace(current, status=execution_after(current.status, event), ended_at=NOW)
        self._store.executions[execution_id] = replace(stopped, error=reason) if reason else stopped
        return True

    def move_branches(self, execution_id: str, change: BranchChange) -> bool:
        self._store.calls.append("move_branches")
        current = self.get(execution_id)
        if not _branches_hold(current, change) or current is None:
            return False
        self._store.executions[execution_id] = _moved(current, change)
        return True


class FakeFlows:
    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, flow_id: str, document: dict[str, Any], content_hash: str) -> tuple[FlowRecord, bool]:
        versions = [version for (stored, version) in self._store.flows if stored == flow_id]
        version = max(versions, default=0) + 1
        record = FlowRecord(flow_id, version, document["name"], NOW, FlowSpec.from_document(document), content_hash)
        self._store.flows[(flow_id, version)] = record
        return record, True

    def get(self, flow_id: str, version: int | None = None) -> FlowRecord:
        versions = [stored_version for (stored, stored_version) in self._store.flows if stored == flow_id]
        if not versions or (version is not None and version not in versions):
            raise NotFound(f"flow '{flow_id}' does not exist")
        return self._store.flows[(flow_id, version or max(versions))]

    def head(self, flow_id: str) -> FlowHead | None:
        if not any(stored == flow_id for stored, _ in self._store.flows):
            return None
        latest = self.get(flow_id)
        return FlowHead(flow_id, latest.name, latest.version, NOW, NOW)

    def list_heads(self, tenant: str, limit: int, cursor: str | None) -> tuple[list[FlowHead], str | None]:
        owned = [flow_id for flow_id, _ in self._store.flows if belongs_to(flow_id, tenant)]
        latest = {flow_id: self.get(flow_id) for flow_id in owned}
        return [FlowHead(f.flow_id, f.name, f.version, NOW, NOW) for f in latest.values()][:limit], None

    def delete(self, flow_id: str) -> None:
        for key in [key for key in self._store.flows if key[0] == flow_id]:
            del self._store.flows[key]


@dataclass(frozen=True)
class Timer:
    action: str
    ref: RunRef | None
    attempt: int
    delay_seconds: float
    next_attempt: int | None = None
    claim: str | None = None
    wait_until: int | None = None


class FakeTimers:
    """Timers scheduled, by name as the state machine's executions are (the same timer twice starts once)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.scheduled: dict[tuple[Any, ...], Timer] = {}
        self.cancelled: list[str] = []

    def redispatch(self, ref: RunRef, attempt: int, delay_seconds: float, next_attempt: int | None = None) -> None:
        following = attempt + 1 if next_attempt is None else next_attempt
        self.scheduled.setdefault(
            ("redispatch", ref, attempt, following), Timer("redispatch", ref, attempt, delay_seconds, following)
        )

    def expire(self, ref: RunRef, attempt: int, wait_until: int, delay_seconds: float) -> None:
        self.scheduled.setdefault(
            ("expire", ref, attempt, wait_until), Timer("expire", ref, attempt, delay_seconds, wait_until=wait_until)
        )

    def fire_expiries(self) -> int:
        """What the state machine does at an awaited run's deadline: WAITING with that deadline -> PENDING."""
        fired = 0
        for key, timer in list(self.scheduled.items()):
            if timer.action != "expire" or timer.ref is None:
                continue
            del self.scheduled[key]
            current = self._store.run(timer.ref)
            if current is not None and (current.status, current.attempt, current.wait_until) == (
                TaskStatus.WAITING,
                timer.attempt,
                timer.wait_until,
            ):
                self._store.put_run(replace(current, status=TaskStatus.PENDING))
                fired += 1
        return fired

    def reclaim(self, ref: RunRef, attempt: int, claim: str, delay_seconds: float) -> None:
        self.scheduled.setdefault(
            ("reclaim", ref, attempt, claim), Timer("reclaim", ref, attempt, delay_seconds, claim=claim)
        )

    def timeout(self, execution_id: str, seconds: int) -> None:
        self.scheduled.setdefault(("timeout", execution_id), Timer("timeout", None, 0, seconds))

    def cancel(self, execution_id: str, runs: Iterable[RunRecord]) -> int:
        """Every timer of the execution goes: the fake knows them all, the real one finds them by name."""
        mine = [key for key, timer in self.scheduled.items() if (timer.ref and timer.ref.execution_id) == execution_id]
        mine += [key for key in self.scheduled if key == ("timeout", execution_id)]
        for key in mine:
            del self.scheduled[key]
        self.cancelled.append(execution_id)
        return len(mine)

    def fire_redispatches(self) -> int:
        """What the state machine does when the waits are over: WAITING at `attempt` -> PENDING at the next."""
        fired = 0
        for key, timer in list(self.scheduled.items()):
            if timer.action != "redispatch" or timer.ref is None:
                continue
            del self.scheduled[key]
            current = self._store.run(timer.ref)
            if current is not None and (current.status, current.attempt) == (TaskStatus.WAITING, timer.attempt):
                self._store.put_run(replace(current, status=TaskStatus.PENDING, attempt=timer.next_attempt or 1))
                fired += 1
        return fired


class FakeBatches:
    """A failed batch's dispatches, as `StreamArchive` would read them back."""

    def __init__(self, dispatches: list[Dispatch]) -> None:
        self._dispatches = dispatches

    def dispatches(self, batch: Mapping[str, Any]) -> Iterator[Dispatch]:
        yield from self._dispatches


class FakeResults:
    """Latest results per execution and task, as the adapter keeps them."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def remember(self, execution_id: str, result: LatestResult) -> None:
        self._store.calls.append("remember")
        kept = self._store.results.get((execution_id, result.task_name))
        if kept is None or kept.seq <= result.seq:
            self._store.results[(execution_id, result.task_name)] = result

    def latest(self, execution_id: str, names: Iterable[str]) -> dict[str, LatestResult]:
        self._store.calls.append("latest")
        kept = self._store.results
        return {name: kept[(execution_id, name)] for name in names if (execution_id, name) in kept}


class FakePayloads:
    """Large values by content, as the S3 store keys them."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.reads = 0
        self.puts = 0

    def put(self, execution_id: str, value: Any) -> PayloadRef:
        self.puts += 1
        text = json.dumps(value, separators=(",", ":"), default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()
        key = f"{execution_id}/{digest}"
        self.objects[key] = text
        return PayloadRef(key=key, size=len(text.encode()), sha256=digest)

    def get(self, ref: PayloadRef) -> Any:
        self.reads += 1
        return json.loads(self.objects[ref.key])

    def url(self, ref: PayloadRef, expires_seconds: int = 900) -> str:
        return f"https://payloads.example/{ref.key}?expires={expires_seconds}"

    def delete_all(self, execution_id: str) -> int:
        gone = [key for key in self.objects if key.startswith(f"{execution_id}/")]
        for key in gone:
            del self.objects[key]
        return len(gone)


def _conforms(store: Store) -> None:
    """mypy checks that the fakes are the ports (`make typecheck` includes this file)."""
    from flowcore.ports import (
        CallbackKeys,
        Completions,
        ExecutionRepository,
        FailedBatches,
        FlowRepository,
        PayloadStore,
        ResultRepository,
        RunRepository,
        Timers,
    )

    runs: RunRepository = FakeRuns(store)
    executions: ExecutionRepository = FakeExecutions(store)
    flows: FlowRepository = FakeFlows(store)
    timers: Timers = FakeTimers(store)
    batches: FailedBatches = FakeBatches([])
    results: ResultRepository = FakeResults(store)
    payloads: PayloadStore = FakePayloads()
    completions: Completions = FakeCompletions(store)
    keys: CallbackKeys = StaticKeys()
    del keys, runs, executions, flows, timers, batches, results, payloads, completions
