"""Recovery: from a run found committed, find where its path stopped and move it on.

A redelivered record, or one the stream gave up on, can find its run's result committed while what
should follow it is missing: the runner died between the commit and its follow-up writes, or in a chain
that had run tasks ahead. The decision depends only on the committed result, so deciding again reaches
the same successors. The walk goes on along the path through every run that exists already (a chain's
runs) until one is open, or missing: the missing one is written PENDING, or the branch is ended.
Which move applies is chosen by the run's status, as it stands.
"""

from __future__ import annotations

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.records import Dispatch, ExecutionRecord, RunRecord, RunRef, TaskResult
from flowcore.domain.routing import decide
from flowcore.domain.statuses import ExecutionStatus, TaskStatus
from flowcore.ports import ExecutionRepository, RunRepository
from flowcore.runner.commit import FollowUps
from flowcore.runner.data import Seen
from flowcore.runner.flows import FlowCache
from flowcore.runner.outcome import Outcome

#: Runs a runner (RUNNING under a claim) or a timer (WAITING) holds: they move on by themselves.
HELD = (TaskStatus.RUNNING, TaskStatus.WAITING)


class Recovery:
    def __init__(
        self, runs: RunRepository, executions: ExecutionRepository, flows: FlowCache, follow_ups: FollowUps
    ) -> None:
        self._runs = runs
        self._executions = executions
        self._flows = flows
        self._follow_ups = follow_ups

    def walk(self, flow: CompiledFlow, ref: RunRef, current: RunRecord) -> Outcome | RunRecord:
        """Walk on from `current` (the run at `ref`) to where the path stopped, and move it on from there.
        A run the walk stops at because a runner or a timer holds it (`HELD`) is returned as it stands."""
        execution: ExecutionRecord | None = None
        while True:
            if current.status in HELD:
                return current
            result = current.result()
            if result is None or current.atomic:
                return (
                    Outcome.DUPLICATE
                )  # still open (its own record carries it), skipped, or committed with all after it
            execution = execution or self._running(ref.execution_id)
            if execution is None:
                return Outcome.DUPLICATE
            found = self._after(flow, execution, current, result)
            if isinstance(found, Outcome):
                return found
            ref, current = found

    def resume(self, dispatch: Dispatch) -> Outcome:
        """For a dispatch the stream gave up on while its run had moved on: the path must not stop there.
        A record fails over with its run committed when what came after kept failing (a chain, or the write
        of the next run, refused on every retry). Held runs are left to their runners and timers."""
        execution = self._running(dispatch.execution_id)
        if execution is None:
            return Outcome.ENDED
        flow = self._flows.get(execution.flow_id, execution.flow_version)
        if flow.may_branch:
            return Outcome.ATOMIC  # such flows commit a result with its successors: nothing can be missing
        ref = RunRef(dispatch.execution_id, dispatch.seq, dispatch.task_name or flow.definition.start_task)
        current = self._runs.get(ref)
        if current is None:
            return Outcome.OPEN
        stopped = self.walk(flow, ref, current)
        return stopped if isinstance(stopped, Outcome) else Outcome.OPEN

    def _running(self, execution_id: str) -> ExecutionRecord | None:
        execution = self._executions.get(execution_id)
        return execution if execution is not None and execution.status is ExecutionStatus.RUNNING else None

    def _after(
        self, flow: CompiledFlow, execution: ExecutionRecord, run: RunRecord, result: TaskResult
    ) -> Outcome | tuple[RunRef, RunRecord]:
        """Repeat what follows a committed result; the next run when it exists already (walk on from it).
        Conditions that read more than the run's output are not evaluated again: the run records their choice."""
        ref = run.ref
        decision = decide(flow, ref, run.attempt, result, routed=run.routed)
        if decision.limit_exceeded or len(decision.successors) != 1:
            self._follow_ups.remember(flow, ref, Seen.of_run(run))
            self._follow_ups.apply(flow, execution, ref, decision, decision.successors)
            return Outcome.RECOVERED
        successor = decision.successors[0]
        self._follow_ups.remember(flow, ref, Seen.of_run(run))
        if self._follow_ups.hand_off(flow, ref, successor):
            return Outcome.RECOVERED
        found = self._runs.get(successor)
        return Outcome.DUPLICATE if found is None else (successor, found)
