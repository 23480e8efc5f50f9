"""Commits an ended attempt and what the engine decided follows it.

Two strategies, chosen by the flow's shape:
- In a flow without parallel branches (no task is the source of several conditions) there is no sibling
  to race or join, so the result is written alone, and what follows (the next run, or the end of the
  branch) after it. Those follow-ups are idempotent, so recovery can repeat them (`FollowUps`).
- In a flow that can branch, the result, the runs that follow and the execution's branches (count, joins,
  run budget) are committed all or nothing (`fork.BranchCommits`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.records import Dispatch, DispatchGuard, EndedAttempt, ExecutionRecord, RunRef
from flowcore.domain.routing import Decision, branch_change, decide, retry_delay
from flowcore.domain.statuses import ExecutionEvent, TaskStatus
from flowcore.ports import ExecutionRepository, ResultRepository, RunRepository, Timers
from flowcore.runner.awaiting import Awaiting
from flowcore.runner.data import Seen
from flowcore.runner.fork import BranchCommits
from flowcore.runner.outcome import Outcome

#: Below this, a retry is re-dispatched by the runner at once instead of through the timer.
MIN_TIMER_DELAY_SECONDS = 1.0


class FollowUps:
    """The writes that follow a result committed alone. Each is conditional or repeats the same value, so
    repeating one is harmless."""

    def __init__(self, runs: RunRepository, executions: ExecutionRepository, results: ResultRepository | None) -> None:
        self._runs = runs
        self._executions = executions
        self._results = results

    def remember(self, flow: CompiledFlow, ref: RunRef, seen: Seen) -> None:
        """Keep the result as its task's latest, when some template reads that task (`tasks.<name>`)."""
        if self._results is not None and ref.task_name in flow.remembered:
            self._results.remember(ref.execution_id, seen.latest())

    def hand_off(self, flow: CompiledFlow, committed: RunRef, successor: RunRef) -> bool:
        """Write the next run PENDING for the stream, naming the run that led to it when a template reads it."""
        return self._runs.hand_off(successor, committed.label if flow.reads_previous else None)

    def apply(
        self,
        flow: CompiledFlow,
        execution: ExecutionRecord,
        ref: RunRef,
        decision: Decision,
        successors: tuple[RunRef, ...],
    ) -> bool:
        """Returns whether these writes ended the execution."""
        if decision.limit_exceeded:
            return self._executions.stop(ref.execution_id, ExecutionEvent.FAIL, decision.reason)
        if len(successors) == 1:
            self.hand_off(flow, ref, successors[0])
            return False
        if successors:
            return False
        change = branch_change(execution, decision, -1)
        return self._executions.move_branches(execution.execution_id, change) and change.final is not None


class Committer:
    def __init__(
        self,
        runs: RunRepository,
        executions: ExecutionRepository,
        timers: Timers,
        follow_ups: FollowUps,
        rand: Callable[[], float],
        clock: Callable[[], float],
        awaiting: Awaiting,
    ) -> None:
        self._runs = runs
        self._awaiting = awaiting
        self._timers = timers
        self._follow_ups = follow_ups
        self._branches = BranchCommits(runs, executions, timers)
        self._rand = rand
        self._clock = clock

    def commit(
        self,
        flow: CompiledFlow,
        execution: ExecutionRecord,
        ref: RunRef,
        ended: EndedAttempt,
        guard: DispatchGuard,
        dispatch: Dispatch,
    ) -> tuple[Outcome, RunRef | None]:
        """Commit the result and what follows it; returns the one next run when the caller may run it ahead."""
        result = ended.result
        if result.status is TaskStatus.WAITING and ended.awaited is not None:
            self._awaiting.park(ref, ended, guard)
            return Outcome.WAITING, None
        if result.status is TaskStatus.WAITING:
            return self._park(ref, ended, guard), None
        task = flow.tasks[ref.task_name]
        delay = retry_delay(task.retry, ended.attempt, self._rand) if task.retry and not result.succeeded else 0.0
        decision = decide(flow, ref, ended.attempt, result, delay, routed=ended.routed)
        if decision.retry_delay_seconds is not None:
            return self._retry(ref, ended, guard, decision.retry_delay_seconds), None
        if flow.may_branch:
            latest = Seen.of_ended(ref, ended).latest() if ref.task_name in flow.remembered else None
            return self._branches.commit(flow, execution, ref, ended, guard, dispatch, decision, latest), None
        return self._along_path(flow, execution, ref, ended, guard, decision)

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

    def _along_path(
        self,
        flow: CompiledFlow,
        execution: ExecutionRecord,
        ref: RunRef,
        ended: EndedAttempt,
        guard: DispatchGuard,
        decision: Decision,
    ) -> tuple[Outcome, RunRef | None]:
        """A flow without parallel branches has no sibling to race or join: the result alone, then what follows."""
        self._runs.commit_result(ref, ended, guard)
        self._follow_ups.remember(flow, ref, Seen.of_ended(ref, ended))
        if len(decision.successors) == 1 and not decision.limit_exceeded:
            return Outcome.COMMITTED, decision.successors[0]  # the caller runs it ahead or hands it off
        if (
            self._follow_ups.apply(flow, execution, ref, decision, decision.successors)
            and flow.definition.timeout_seconds
        ):
            self._timers.cancel(ref.execution_id, ())  # its timeout timer would otherwise wait on for nothing
        return Outcome.COMMITTED, None
