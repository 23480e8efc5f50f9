"""The commit of a flow that can branch: the result, the runs that follow, and the execution's branches, all
or nothing, from the execution as the runner read it (`flowcore.domain.branches` plans what follows).

A commit that finds the execution changed (another branch committed first) reads it again and plans again;
one that finds it stopped records the result and starts nothing.
"""

from __future__ import annotations

from dataclasses import replace

from flowcore.domain.branches import Plan, plan
from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.conflicts import ExecutionConflict
from flowcore.domain.records import (
    BranchChange,
    Dispatch,
    DispatchGuard,
    EndedAttempt,
    ExecutionRecord,
    LatestResult,
    RunRef,
)
from flowcore.domain.routing import Decision, branch_change
from flowcore.domain.statuses import ExecutionStatus
from flowcore.ports import ExecutionRepository, RunRepository, Timers
from flowcore.runner.outcome import Outcome

_COMMIT_ROUNDS = 8


class BranchCommits:
    def __init__(self, runs: RunRepository, executions: ExecutionRepository, timers: Timers) -> None:
        self._runs = runs
        self._executions = executions
        self._timers = timers

    def commit(
        self,
        flow: CompiledFlow,
        execution: ExecutionRecord,
        ref: RunRef,
        ended: EndedAttempt,
        guard: DispatchGuard,
        dispatch: Dispatch,
        decision: Decision,
        latest: LatestResult | None = None,
    ) -> Outcome:
        """`latest`: the result as its task's latest, kept with it when some template reads that task."""
        for _ in range(_COMMIT_ROUNDS):
            planned = plan(flow, execution, ref, dispatch.budget, dispatch.merged, decision)
            runs, change = planned.runs, _change(execution, decision, planned) if planned.changes_execution else None
            if flow.reads_previous:
                runs = tuple(replace(run, predecessor=ref.label) for run in runs)
            if decision.limit_exceeded or planned.limit_exceeded:
                runs, change = (), _over_limit(flow, execution, ref, planned)
            try:
                self._runs.commit_result(ref, ended, guard, runs, change, latest)
            except ExecutionConflict:
                current = self._executions.get(execution.execution_id)
                if current is None or current.status is not ExecutionStatus.RUNNING:
                    # Stopped meanwhile (cancelled, timed out, deleted): record the result, start nothing more.
                    self._runs.commit_result(ref, ended, guard)
                    return Outcome.COMMITTED_AFTER_STOP
                execution = current
                continue
            if change is not None and change.final is not None and flow.definition.timeout_seconds:
                self._timers.cancel(ref.execution_id, ())  # its timeout timer would otherwise wait on for nothing
            return Outcome.COMMITTED
        raise ExecutionConflict()


def _change(execution: ExecutionRecord, decision: Decision, planned: Plan) -> BranchChange:
    """The branch count moves by the runs created, less the one that ended; joins and pool as planned."""
    moved = branch_change(execution, decision, len(planned.runs) - 1)
    return replace(moved, joins=planned.joins, runs_left=planned.pool, expected_rev=execution.rev)


def _over_limit(flow: CompiledFlow, execution: ExecutionRecord, ref: RunRef, planned: Plan) -> BranchChange:
    """Past `max_transitions` the execution fails at once; its other branches find it stopped."""
    limit = flow.definition.max_transitions
    return BranchChange(
        expected_open=execution.open_branches,
        open_branches=execution.open_branches - 1,
        final=ExecutionStatus.FAILED,
        error=f"transition limit of {limit} reached after task '{ref.task_name}'",
        failed=True,
        joins=planned.joins,
        runs_left=planned.pool,
        expected_rev=execution.rev,
        release=execution.counted,
    )
