"""Chains: in a flow without parallel branches, one invocation runs a path's next tasks in a row.

While the path has exactly one next task and the invocation has time, the runner runs that task at once
and writes its run item only when it ends, like the start task's: one invocation and one write per
transition instead of two of each. A chain hands the next run to the stream (PENDING) after
`chain_tasks` tasks (CHAIN_TASKS) or `CHAIN_MAX_SECONDS`, or before a task that might not end in the
invocation's time left. A crash mid-chain is resumed by the redelivered record that started it (recovery
walks on through the runs the chain committed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.conflicts import RunConflict
from flowcore.domain.records import Dispatch, RunRef
from flowcore.domain.statuses import ExecutionStatus
from flowcore.observability import logger
from flowcore.ports import ExecutionRepository, RunRepository
from flowcore.runner.commit import FollowUps
from flowcore.runner.conflicts import Conflicts
from flowcore.runner.data import Memory
from flowcore.runner.outcome import Outcome
from flowcore.runner.step import Step

#: A chain hands its next run to the stream after this many seconds (or `chain_tasks` tasks), so that the
#: other records of the shard do not wait long behind a long flow...
CHAIN_MAX_SECONDS = 5.0
#: ...and before a task that might not end (its own timeout, else the chain's seconds) with this much left.
CHAIN_MARGIN_SECONDS = 5.0


class Chain:
    def __init__(
        self,
        step: Step,
        runs: RunRepository,
        executions: ExecutionRepository,
        conflicts: Conflicts,
        follow_ups: FollowUps,
        chain_tasks: int,
    ) -> None:
        self._step = step
        self._follow_ups = follow_ups
        self._runs = runs
        self._executions = executions
        self._conflicts = conflicts
        self._chain_tasks = chain_tasks

    def run(
        self,
        flow: CompiledFlow,
        committed: RunRef,
        successor: RunRef,
        outcome: Outcome,
        remaining_ms: Callable[[], int] | None,
        memory: Memory,
    ) -> Outcome:
        """Run the path on from `successor` (what the engine routed `committed`, just ended, to); `memory`
        holds what the chain's runs ended with, for the next ones' templates."""
        started = time.monotonic()
        ran = 1
        next_ref: RunRef | None = successor
        while next_ref is not None:
            ref = next_ref
            if not self._may_chain(flow, ref, ran, time.monotonic() - started, remaining_ms):
                self._follow_ups.hand_off(flow, committed, ref)
                return outcome
            execution = self._executions.get(ref.execution_id)
            if execution is None:
                # Deleted while the last task ran: its run item, written after the delete, goes too.
                self._runs.delete(committed)
                return Outcome.GONE
            if execution.status is not ExecutionStatus.RUNNING:
                # Stopped since (cancelled, timed out): the next task does not start, and says so.
                self._runs.skip_ahead(ref)
                return Outcome.SKIPPED
            dispatch = Dispatch(ref.execution_id, ref.seq, ref.task_name, attempt=1, chained=True)
            logger.append_keys(task=ref.task_name, seq=ref.seq, attempt=1)
            try:
                outcome, next_ref = self._step.run(flow, execution, ref, dispatch, memory)
            except RunConflict as conflict:
                outcome = self._conflicts.resolve(flow, ref, dispatch, conflict.current)
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
