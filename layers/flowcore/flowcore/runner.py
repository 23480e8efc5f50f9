"""Runs one dispatched task and commits what follows. The stream handler calls `TaskRunner.process`.

A dispatch is either a task run item that became PENDING, or an execution item that became RUNNING
(which dispatches the start task: the first run item is only written when that task ends, which saves
one write per execution).

In a flow without parallel branches, the runner then runs ahead: while the path has exactly one next
task and the invocation has time, it runs that task in the same invocation, and writes its run item only
when it ends, like the start task's. Each chain ends after `chain_tasks` tasks (CHAIN_TASKS) or
`CHAIN_MAX_SECONDS`, or before a task that might not end in the time left, by writing the next run
PENDING for the stream to deliver: one invocation and one write per transition instead of two of each.

Exactly-once commits rest on three rules:
1. the write that ends an attempt is conditional on the run still being the dispatched one, so only one
   result per attempt is ever committed;
2. successors have deterministic keys and are created only if absent, so one transition makes one run;
3. when a commit is found already made (a redelivered record), the engine is asked again with the
   committed result, and whatever follow-up writes were not atomic with it are applied again; each of
   them is idempotent. When the next run exists already, recovery walks on along the path: runs ahead
   in a chain are the dispatched record's to finish, so a crash mid-chain resumes where the chain
   stopped. In flows that can branch, commits are one transaction instead (marked atomic).
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from flowcore.engine import decide, retry_delay
from flowcore.model import CompiledFlow, Decision, ExecutionStatus, RunRef, TaskResult, TaskStatus, parse_run_sort_key
from flowcore.observability import logger
from flowcore.store import (
    META,
    DispatchGuard,
    ExecutionConflict,
    ExecutionRecord,
    ExecutionStore,
    ResultWrite,
    RunConflict,
    RunRecord,
    SuccessorsExist,
    iso,
    utc_now,
)
from flowcore.tasks import TaskContext, TaskTypeRegistry
from flowcore.timers import Timers

MAX_OUTPUT_BYTES = 64_000
#: Below this, a retry is re-dispatched by the runner at once instead of through the timer.
MIN_TIMER_DELAY_SECONDS = 1.0
#: A claim outlives the task's own timeout by this much, so a slow commit is not mistaken for a death.
LEASE_MARGIN_SECONDS = 30
#: A chain hands its next run to the stream after this many seconds (or `chain_tasks` tasks), so that the
#: other records of the shard do not wait long behind a long flow...
CHAIN_MAX_SECONDS = 5.0
#: ...and before a task that might not end (its own timeout, else the chain's seconds) with this much left.
CHAIN_MARGIN_SECONDS = 5.0
_COMMIT_ROUNDS = 8


@dataclass(frozen=True, slots=True)
class Dispatch:
    execution_id: str
    seq: int
    task_name: str | None  # None: the start task, known once the flow is loaded
    attempt: int
    wait_until: int | None = None  # set when a wait task's timer resumed this run
    chained: bool = False  # run ahead by the invocation that ended the run before it; no item yet

    @property
    def from_start(self) -> bool:
        return self.task_name is None

    @property
    def guard(self) -> DispatchGuard:
        return DispatchGuard(self.attempt, self.from_start or self.chained, self.wait_until)

    @classmethod
    def from_image(cls, image: dict[str, Any]) -> Dispatch:
        """Build from a stream record's NewImage, already converted to plain values."""
        if image["sk"] == META:
            return cls(execution_id=str(image["execution_id"]), seq=1, task_name=None, attempt=1)
        seq, task_name = parse_run_sort_key(str(image["sk"]))
        wait_until = int(image["wait_until"]) if "wait_until" in image else None
        return cls(str(image["pk"]).removeprefix("EXEC#"), seq, task_name, int(image.get("attempt", 1)), wait_until)


class FlowCache:
    """Flow versions are immutable, so a compiled version can be kept for the container's life."""

    def __init__(self, store: ExecutionStore, size: int = 256) -> None:
        self._store = store
        self._size = size
        self._flows: OrderedDict[tuple[str, int], CompiledFlow] = OrderedDict()

    def get(self, flow_id: str, version: int) -> CompiledFlow:
        key = (flow_id, version)
        flow = self._flows.get(key)
        if flow is None:
            record = self._store.get_flow(flow_id, version)
            flow = CompiledFlow.build(flow_id, version, record.definition)
            self._flows[key] = flow
            if len(self._flows) > self._size:
                self._flows.popitem(last=False)
        else:
            self._flows.move_to_end(key)
        return flow


class TaskRunner:
    def __init__(
        self,
        store: ExecutionStore,
        registry: TaskTypeRegistry,
        timers: Timers,
        lease_seconds: int = 60,
        chain_tasks: int = 100,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._flows = FlowCache(store)
        self._registry = registry
        self._timers = timers
        self._lease_seconds = lease_seconds
        self._chain_tasks = chain_tasks
        self._rand = rand
        self._clock = clock

    def process(self, image: dict[str, Any], remaining_ms: Callable[[], int] | None = None) -> str:
        """Handle one dispatch; returns a word for the log (committed, duplicate, skipped, ...).

        `remaining_ms` is the invocation's time left (the Lambda context's); without it, chains are bounded
        by their own limits only.
        """
        dispatch = Dispatch.from_image(image)
        execution = self._store.get_execution(dispatch.execution_id)
        if execution is None:
            if not dispatch.from_start:  # a successor written while its execution was being deleted
                self._store.delete_run(RunRef(dispatch.execution_id, dispatch.seq, dispatch.task_name or ""))
            return "gone"
        flow = self._flows.get(execution.flow_id, execution.flow_version)
        ref = RunRef(dispatch.execution_id, dispatch.seq, dispatch.task_name or flow.definition.start_task)
        logger.append_keys(execution_id=ref.execution_id, task=ref.task_name, seq=ref.seq, attempt=dispatch.attempt)
        if execution.status is not ExecutionStatus.RUNNING:
            outcome = self._skip(ref, dispatch)
        else:
            try:
                outcome, successor = self._run(flow, execution, ref, dispatch)
            except RunConflict as conflict:
                outcome = self._recover(flow, ref, dispatch, conflict.current)
            else:
                return self._chain(flow, ref, successor, outcome, remaining_ms) if successor else outcome
        logger.info("task run", extra={"outcome": outcome})
        return outcome

    def _chain(
        self,
        flow: CompiledFlow,
        committed: RunRef,
        successor: RunRef,
        outcome: str,
        remaining_ms: Callable[[], int] | None,
    ) -> str:
        """Run the path's next tasks in this invocation while it may; hand the next run to the stream after.

        `committed` is the run this invocation just ended, `successor` the one the engine routed to.
        """
        started = time.monotonic()
        ran = 1
        next_ref: RunRef | None = successor
        while next_ref is not None:
            ref = next_ref
            if not self._may_chain(flow, ref, ran, time.monotonic() - started, remaining_ms):
                self._store.put_successor(ref)
                return outcome
            execution = self._store.get_execution(ref.execution_id)
            if execution is None:
                # Deleted while the last task ran: its run item, written after the delete, goes too.
                self._store.delete_run(committed)
                return "gone"
            if execution.status is not ExecutionStatus.RUNNING:
                # Stopped since (cancelled, timed out): the next task does not start, and says so.
                self._store.put_successor(ref, TaskStatus.SKIPPED)
                return "skipped"
            dispatch = Dispatch(ref.execution_id, ref.seq, ref.task_name, attempt=1, chained=True)
            logger.append_keys(task=ref.task_name, seq=ref.seq, attempt=1)
            try:
                outcome, next_ref = self._run(flow, execution, ref, dispatch)
            except RunConflict as conflict:
                outcome = self._recover(flow, ref, dispatch, conflict.current)
                logger.info("task run", extra={"outcome": outcome})
                return outcome
            committed = ref
            ran += 1
        return outcome

    def _may_chain(
        self, flow: CompiledFlow, ref: RunRef, ran: int, elapsed: float, remaining_ms: Callable[[], int] | None
    ) -> bool:
        if ran >= self._chain_tasks or elapsed >= CHAIN_MAX_SECONDS:
            return False
        if remaining_ms is None:
            return True
        needs = flow.tasks[ref.task_name].timeout_seconds or CHAIN_MAX_SECONDS
        return remaining_ms() / 1000 >= needs + CHAIN_MARGIN_SECONDS

    def _skip(self, ref: RunRef, dispatch: Dispatch) -> str:
        if dispatch.from_start:
            return "skipped"  # the execution stopped before its first task: nothing was written
        try:
            self._store.apply_run_update(self._store.skip_update(ref, dispatch.guard))
        except RunConflict:
            return "duplicate"
        return "skipped"

    def _run(
        self, flow: CompiledFlow, execution: ExecutionRecord, ref: RunRef, dispatch: Dispatch
    ) -> tuple[str, RunRef | None]:
        """Run one task and commit it; also returns the next run when this invocation may run it ahead."""
        task = flow.tasks[ref.task_name]
        task_type = self._registry.get(task.type)
        if dispatch.from_start and flow.definition.timeout_seconds:
            self._timers.schedule_timeout(ref.execution_id, flow.definition.timeout_seconds)
        claim = None
        if task_type is not None and (task_type.needs_claim or task.timeout_seconds):
            claim = uuid.uuid4().hex
            lease_until = int(self._clock()) + (task.timeout_seconds or self._lease_seconds) + LEASE_MARGIN_SECONDS
            self._store.apply_run_update(self._store.claim_update(ref, dispatch.guard, claim, lease_until))

        started = utc_now()
        tick = time.perf_counter()
        if task_type is None:  # validation keeps this out; a type removed since the flow was stored lands here
            result = TaskResult(
                TaskStatus.FAILURE, message=f"Task {ref.task_name} failed", error=f"unknown task type '{task.type}'"
            )
        else:
            context = TaskContext(
                ref.execution_id,
                ref.seq,
                ref.task_name,
                dispatch.attempt,
                task.parameters,
                execution.input,
                self._rand,
                resumed=dispatch.wait_until is not None,
            )
            result = _guarded(task_type.execute, context, task.timeout_seconds)
        duration_ms = max(1, round((time.perf_counter() - tick) * 1000))
        write = ResultWrite(result.status, dispatch.attempt, result, iso(started), iso(utc_now()), duration_ms)

        successor = None
        if result.status is TaskStatus.WAITING:
            outcome = self._park(ref, write, claim, dispatch.guard)
        else:
            delay = (
                retry_delay(task.retry, dispatch.attempt, self._rand) if task.retry and not result.succeeded else 0.0
            )
            decision = decide(flow, ref, dispatch.attempt, result, delay)
            outcome, successor = self._commit(flow, execution, ref, write, decision, claim, dispatch.guard)
        logger.info(
            "task run",
            extra={"outcome": outcome, "status": result.status, "duration_ms": duration_ms, "error": result.error},
        )
        return outcome, successor

    def _park(self, ref: RunRef, write: ResultWrite, claim: str | None, guard: DispatchGuard) -> str:
        """A task that waits longer than a Lambda should: park the run and let the timer resume it."""
        seconds = write.result.resume_after_seconds or 0.0
        wait_until = math.ceil(self._clock() + seconds)
        self._store.apply_run_update(
            self._store.result_update(ref, replace(write, wait_until=wait_until), claim, guard)
        )
        self._timers.schedule_redispatch(ref, write.attempt, seconds, next_attempt=write.attempt)
        return "waiting"

    def _commit(
        self,
        flow: CompiledFlow,
        execution: ExecutionRecord,
        ref: RunRef,
        write: ResultWrite,
        decision: Decision,
        claim: str | None,
        guard: DispatchGuard,
    ) -> tuple[str, RunRef | None]:
        """Commit the result and what follows it; returns the one next run when the caller may run it ahead."""
        store = self._store
        if decision.retry_delay_seconds is not None:
            delay = decision.retry_delay_seconds
            if delay < MIN_TIMER_DELAY_SECONDS:
                parked = replace(write, status=TaskStatus.PENDING, next_attempt=write.attempt + 1)
                store.apply_run_update(store.result_update(ref, parked, claim, guard))
                return "retrying", None
            store.apply_run_update(store.result_update(ref, replace(write, status=TaskStatus.WAITING), claim, guard))
            self._timers.schedule_redispatch(ref, write.attempt, delay)
            return "retry scheduled", None

        successors = decision.successors
        joins = flow.join_points
        if any(successor.task_name in joins for successor in successors):
            # A sibling may have created the join run already: one read instead of a cancelled transaction.
            successors = tuple(
                successor
                for successor in successors
                if successor.task_name not in joins or store.get_run(successor) is None
            )
        for _ in range(_COMMIT_ROUNDS):
            delta = len(successors) - 1
            if decision.limit_exceeded or (not flow.may_branch and delta <= 0):
                # A flow without parallel branches has no sibling to race or join: the cheap path is safe.
                store.apply_run_update(store.result_update(ref, write, claim, guard))
                if len(successors) == 1 and not decision.limit_exceeded:
                    return "committed", successors[0]  # the caller runs it ahead or writes it PENDING
                self._follow_up(execution, ref, decision, successors)
                return "committed", None
            try:
                store.commit(
                    store.result_update(ref, replace(write, atomic=True), claim, guard),
                    successors,
                    self._branch_update(execution, decision, delta) if delta else None,
                )
                return "committed", None
            except SuccessorsExist as taken:
                successors = tuple(ref for ref in successors if ref not in taken.refs)  # joined a sibling's run
                continue
            except ExecutionConflict:
                pass
            current = store.get_execution(execution.execution_id)
            if current is None or current.status is not ExecutionStatus.RUNNING:
                # Stopped meanwhile (cancelled, timed out, deleted): record the result, start nothing more.
                store.apply_run_update(store.result_update(ref, write, claim, guard))
                return "committed after stop", None
            execution = current
        raise ExecutionConflict()

    def _branch_update(self, execution: ExecutionRecord, decision: Decision, delta: int) -> Any:
        remaining = execution.open_branches + delta
        failed = execution.failed or decision.unhandled_failure
        final = None
        if remaining == 0:
            final = ExecutionStatus.FAILED if failed else ExecutionStatus.COMPLETED
        return self._store.execution_update(
            execution.execution_id,
            expected_open=execution.open_branches,
            open_branches=remaining,
            status=final,
            error=decision.reason if decision.unhandled_failure else None,
            failed=failed,
        )

    def _follow_up(
        self, execution: ExecutionRecord, ref: RunRef, decision: Decision, successors: tuple[RunRef, ...]
    ) -> None:
        """The writes that follow a non-atomic commit. Each is idempotent, so recovery can repeat them."""
        store = self._store
        if decision.limit_exceeded:
            store.apply_execution_update(
                store.stop_execution_update(ref.execution_id, ExecutionStatus.FAILED, decision.reason)
            )
        elif len(successors) == 1:
            store.put_successor(successors[0])
        elif not successors:
            store.apply_execution_update(self._branch_update(execution, decision, -1))

    def resume(self, image: dict[str, Any]) -> str:
        """After the event source mapping gave up on a dispatch whose run had moved on: the path must not
        stop there. A record fails over with its run committed when what came after kept failing (a chain,
        or the write of the next run, refused on every retry); the recovery walk writes the missing run
        PENDING, or ends the execution. Open runs are left to their own records and timers.
        """
        dispatch = Dispatch.from_image(image)
        execution = self._store.get_execution(dispatch.execution_id)
        if execution is None or execution.status is not ExecutionStatus.RUNNING:
            return "ended"
        flow = self._flows.get(execution.flow_id, execution.flow_version)
        if flow.may_branch:
            return "atomic"  # such flows commit a result with its successors: nothing can be missing
        ref = RunRef(dispatch.execution_id, dispatch.seq, dispatch.task_name or flow.definition.start_task)
        current = self._store.get_run(ref)
        return self._walk(flow, ref, current, rearm=False) if current is not None else "open"

    def _recover(self, flow: CompiledFlow, ref: RunRef, dispatch: Dispatch, current: RunRecord | None) -> str:
        """A conditional write found the run changed: decide whether anything is left to finish."""
        if current is None or current.attempt != dispatch.attempt:
            return "duplicate"  # deleted, re-dispatched at a later attempt, or an older record
        return self._walk(flow, ref, current)

    def _walk(self, flow: CompiledFlow, ref: RunRef, current: RunRecord, rearm: bool = True) -> str:
        """From a committed run, walk on along the path through the runs that exist already (run ahead by a
        chain that then stopped) until one is open or missing; the missing one is written PENDING.

        `rearm`: a run found parked or claimed gets its timer again (it may not have been started).
        """
        execution: ExecutionRecord | None = None
        while True:
            if current.status in (TaskStatus.RUNNING, TaskStatus.WAITING) and not rearm:
                return "open"
            if current.status is TaskStatus.RUNNING:
                return self._reclaim_later(ref, current)
            if current.status is TaskStatus.WAITING:
                return self._rearm(flow, ref, current)
            result = current.result()
            if result is None or current.atomic:
                return "duplicate"  # still open (its own record carries it), skipped, or committed with all after it
            if execution is None:
                execution = self._store.get_execution(ref.execution_id)
                if execution is None or execution.status is not ExecutionStatus.RUNNING:
                    return "duplicate"
            decision = decide(flow, ref, current.attempt, result)
            if decision.limit_exceeded or len(decision.successors) != 1:
                self._follow_up(execution, ref, decision, decision.successors)
                return "recovered"
            successor = decision.successors[0]
            if self._store.put_successor(successor):
                return "recovered"
            found = self._store.get_run(successor)
            if found is None:
                return "duplicate"
            ref, current = successor, found

    def _rearm(self, flow: CompiledFlow, ref: RunRef, current: RunRecord) -> str:
        """Parked, but the timer may not have been started before a crash: starting it again is harmless."""
        if current.wait_until is not None:
            remaining = current.wait_until - self._clock()
            self._timers.schedule_redispatch(ref, current.attempt, max(0.0, remaining), next_attempt=current.attempt)
        else:
            task = flow.tasks[ref.task_name]
            delay = retry_delay(task.retry, current.attempt, self._rand) if task.retry else 0.0
            self._timers.schedule_redispatch(ref, current.attempt, max(delay, MIN_TIMER_DELAY_SECONDS))
        return "recovered"

    def _reclaim_later(self, ref: RunRef, current: RunRecord) -> str:
        """A run claimed by a runner that may have died: re-dispatch it once its lease has run out, never before."""
        remaining = (current.lease_until or 0) - self._clock()
        if current.claim is None:
            return "duplicate"
        if remaining <= 0:
            try:
                self._store.apply_run_update(self._store.reclaim_update(ref, current.attempt, current.claim))
            except RunConflict:
                return "duplicate"
            return "reclaimed"
        self._timers.schedule_reclaim(ref, current.attempt, current.claim, remaining)
        return "reclaim scheduled"


def _guarded(run: Callable[[TaskContext], TaskResult], context: TaskContext, timeout_seconds: int | None) -> TaskResult:
    """A task's own exception is that task's failure, never the runner's; so is running past its timeout."""
    if timeout_seconds:
        outcome: list[TaskResult] = []
        worker = threading.Thread(target=lambda: outcome.append(_contained(run, context)), daemon=True)
        worker.start()
        worker.join(timeout_seconds)
        if not outcome:
            return TaskResult(
                TaskStatus.FAILURE,
                message=f"Task {context.task_name} failed",
                error=f"timed out after {timeout_seconds} seconds",
            )
        result = outcome[0]
    else:
        result = _contained(run, context)
    if result.output is not None:
        size = len(json.dumps(result.output, separators=(",", ":"), default=str))
        if size > MAX_OUTPUT_BYTES:
            return TaskResult(
                TaskStatus.FAILURE,
                message=f"Task {context.task_name} failed",
                error=f"output is {size} bytes; a task's output may be at most {MAX_OUTPUT_BYTES} bytes",
            )
    return result


def _contained(run: Callable[[TaskContext], TaskResult], context: TaskContext) -> TaskResult:
    try:
        return run(context)
    except Exception as error:  # noqa: BLE001 - any error raised by task code is reported as the task's failure
        logger.warning("task raised", extra={"error": repr(error)})
        return TaskResult(
            TaskStatus.FAILURE, message=f"Task {context.task_name} failed", error=f"{type(error).__name__}: {error}"
        )
