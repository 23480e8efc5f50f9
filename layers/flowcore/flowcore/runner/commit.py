"""Commits an ended attempt and what the engine decided follows it.

Two strategies, chosen by the flow's shape:
- In a flow without parallel branches (no task is the source of several conditions) there is no sibling
  to race or join, so the result is written alone, and what follows (the next run, or the end of the
  branch) after it. Those follow-ups are idempotent, so recovery can repeat them (`FollowUps`).
- In a flow that can branch, the result, its successors and the execution's branch count are committed
  all or nothing. A sibling that created the same successor first turns this branch into a join.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.conflicts import ExecutionConflict, SuccessorsExist
from flowcore.domain.records import DispatchGuard, EndedAttempt, ExecutionRecord, RunRef
from flowcore.domain.routing import Decision, branch_change, decide, retry_delay
from flowcore.domain.statuses import ExecutionEvent, ExecutionStatus, TaskStatus
from flowcore.ports import ExecutionRepository, RunRepository, Timers
from flowcore.runner.outcome import Outcome

#: Below this, a retry is re-dispatched by the runner at once instead of through the timer.
MIN_TIMER_DELAY_SECONDS = 1.0
_COMMIT_ROUNDS = 8


class FollowUps:
    """The writes that follow a result committed alone. Each is conditional, so repeating one is harmless."""

    def __init__(self, runs: RunRepository, executions: ExecutionRepository) -> None:
        self._runs = runs
        self._executions = executions

    def apply(
        self, execution: ExecutionRecord, ref: RunRef, decision: Decision, successors: tuple[RunRef, ...]
    ) -> None:
        if decision.limit_exceeded:
            self._executions.stop(ref.execution_id, ExecutionEvent.FAIL, decision.reason)
        elif len(successors) == 1:
            self._runs.hand_off(successors[0])
        elif not successors:
            self._executions.move_branches(execution.execution_id, branch_change(execution, decision, -1))


class Committer:
    def __init__(
        self,
        runs: RunRepository,
        executions: ExecutionRepository,
        timers: Timers,
        follow_ups: FollowUps,
        rand: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self._runs = runs
        self._executions = executions
        self._timers = timers
        self._follow_ups = follow_ups
        self._rand = rand
        self._clock = clock

    def commit(
        self, flow: CompiledFlow, execution: ExecutionRecord, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard
    ) -> tuple[Outcome, RunRef | None]:
        """Commit the result and what follows it; returns the one next run when the caller may run it ahead."""
        result = ended.result
        if result.status is TaskStatus.WAITING:
            return self._park(ref, ended, guard), None
        task = flow.tasks[ref.task_name]
        delay = retry_delay(task.retry, ended.attempt, self._rand) if task.retry and not result.succeeded else 0.0
        decision = decide(flow, ref, ended.attempt, result, delay)
        if decision.retry_delay_seconds is not None:
            return self._retry(ref, ended, guard, decision.retry_delay_seconds), None
        return self._route(flow, execution, ref, ended, guard, decision)

    def _park(self, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard) -> Outcome:
        """A task that waits longer than a Lambda should: park the run and let the timer resume it."""
        seconds = ended.result.resume_after_seconds or 0.0
        self._runs.park(ref, ended, guard, wait_until=math.ceil(self._clock() + seconds))
        self._timers.redispatch(ref, ended.attempt, seconds, next_attempt=ended.attempt)
        return Outcome.WAITING

    def _retry(self, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard, delay: float) -> Outcome:
        if delay < MIN_TIMER_DELAY_SECONDS:
            self._runs.retry_now(ref, ended, guard)
            return Outcome.RETRYING
        self._runs.park(ref, ended, guard)
        self._timers.redispatch(ref, ended.attempt, delay)
        return Outcome.RETRY_SCHEDULED

    def _route(
        self,
        flow: CompiledFlow,
        execution: ExecutionRecord,
        ref: RunRef,
        ended: EndedAttempt,
        guard: DispatchGuard,
        decision: Decision,
    ) -> tuple[Outcome, RunRef | None]:
        successors = self._not_joined_yet(flow, decision.successors)
        for _ in range(_COMMIT_ROUNDS):
            if decision.limit_exceeded or (not flow.may_branch and len(successors) <= 1):
                self._runs.commit_result(ref, ended, guard)
                if len(successors) == 1 and not decision.limit_exceeded:
                    return Outcome.COMMITTED, successors[0]  # the caller runs it ahead or hands it off
                self._follow_ups.apply(execution, ref, decision, successors)
                return Outcome.COMMITTED, None
            delta = len(successors) - 1
            try:
                branches = branch_change(execution, decision, delta) if delta else None
                self._runs.commit_result(ref, ended, guard, successors, branches)
                return Outcome.COMMITTED, None
            except SuccessorsExist as taken:
                successors = tuple(ref for ref in successors if ref not in taken.refs)  # joined a sibling's run
                continue
            except ExecutionConflict:
                pass
            current = self._executions.get(execution.execution_id)
            if current is None or current.status is not ExecutionStatus.RUNNING:
                # Stopped meanwhile (cancelled, timed out, deleted): record the result, start nothing more.
                self._runs.commit_result(ref, ended, guard)
                return Outcome.COMMITTED_AFTER_STOP, None
            execution = current
        raise ExecutionConflict()

    def _not_joined_yet(self, flow: CompiledFlow, successors: tuple[RunRef, ...]) -> tuple[RunRef, ...]:
        """A sibling may have created a join run already: one read instead of a cancelled transaction."""
        joins = flow.join_points
        if not any(successor.task_name in joins for successor in successors):
            return successors
        return tuple(
            successor
            for successor in successors
            if successor.task_name not in joins or self._runs.get(successor) is None
        )
