"""The task runner: one dispatch in, its task run and what follows committed.

A dispatch is a task run item that became PENDING, or an execution item that became RUNNING (which
dispatches the start task: the first run item is only written when that task ends, which saves one
write per execution). Exactly-once commits rest on three rules:
1. the write that ends an attempt is conditional on the run still being the dispatched one, so only one
   result per attempt is ever committed (`flowcore.ports.RunRepository`);
2. successors have deterministic keys and are created only if absent, so one transition makes one run;
3. when a commit is found already made (a redelivered record), the engine is asked again with the
   committed result and whatever follow-up writes were not atomic with it are applied again; each of
   them is idempotent (`recovery`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from flowcore.domain.conflicts import RunConflict
from flowcore.domain.deadlines import Overdue, StreamWork
from flowcore.domain.flow import MAX_TRANSITIONS_LIMIT
from flowcore.domain.records import Dispatch, RunRef
from flowcore.domain.statuses import ExecutionEvent, ExecutionStatus
from flowcore.domain.subflows import ChildEnded
from flowcore.observability import logger
from flowcore.ports import (
    CallbackKeys,
    Completions,
    ExecutionRepository,
    FlowRepository,
    PayloadStore,
    ResultRepository,
    RunRepository,
    Timers,
)
from flowcore.runner.attempt import Attempts
from flowcore.runner.awaiting import Awaiting
from flowcore.runner.chain import Chain
from flowcore.runner.children import Children
from flowcore.runner.commit import Committer, FollowUps
from flowcore.runner.conflicts import Conflicts
from flowcore.runner.data import Contexts, Known, Memory, Offload
from flowcore.runner.flows import FlowCache
from flowcore.runner.outcome import Outcome
from flowcore.runner.recovery import Recovery
from flowcore.runner.step import Step
from flowcore.tasks import TaskTypeRegistry


class TaskRunner:
    def __init__(
        self,
        runs: RunRepository,
        executions: ExecutionRepository,
        flows: FlowRepository,
        registry: TaskTypeRegistry,
        timers: Timers,
        lease_seconds: int = 60,
        chain_tasks: int = 100,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        max_transitions_ceiling: int = MAX_TRANSITIONS_LIMIT,
        results: ResultRepository | None = None,
        payloads: PayloadStore | None = None,
        callback_keys: CallbackKeys | None = None,
        completions: Completions | None = None,
    ) -> None:
        """`results` and `payloads` serve flows whose tasks pass data (without them, a template that reads
        `tasks.<name>` finds nothing, and an output over the inline limit fails its task). Without
        `callback_keys`, a task that awaits a completion fails: its ticket cannot be signed."""
        self._runs = runs
        self._executions = executions
        self._flows = FlowCache(flows, ceiling=max_transitions_ceiling)
        follow_ups = FollowUps(runs, executions, results)
        recovery = Recovery(runs, executions, self._flows, follow_ups)
        self._conflicts = Conflicts(runs, recovery, timers, rand, clock)
        known = Known()
        contexts, offload = Contexts(runs, results, payloads, known), Offload(payloads, known)
        awaiting = Awaiting(runs, completions, timers, callback_keys, clock)
        attempts = Attempts(runs, registry, lease_seconds, rand, clock, contexts, offload, awaiting)
        step = Step(attempts, Committer(runs, executions, timers, follow_ups, rand, clock, awaiting), timers)
        self._step = step
        self._chain = Chain(step, runs, executions, self._conflicts, follow_ups, chain_tasks)
        self._children = Children(executions, flows, runs, payloads, completions)

    def time_out(self, overdue: Overdue) -> Outcome:
        """End an execution whose deadline passed (TIMED_OUT), unless it ended meanwhile."""
        logger.append_keys(execution_id=overdue.execution_id)
        if self._executions.stop(overdue.execution_id, ExecutionEvent.TIME_OUT, overdue.reason):
            logger.info("execution timed out", extra={"reason": overdue.reason})
            return Outcome.COMMITTED
        return Outcome.DUPLICATE

    def process(self, dispatch: StreamWork, remaining_ms: Callable[[], int] | None = None) -> Outcome:
        """Handle one dispatch. `remaining_ms` is the invocation's time left (the Lambda context's); without
        it, chains are bounded by their own limits only. A child execution that ended completes its parent's run;
        an overdue execution ends TIMED_OUT."""
        if isinstance(dispatch, Overdue):
            return self.time_out(dispatch)
        if isinstance(dispatch, ChildEnded):
            logger.append_keys(execution_id=dispatch.parent.execution_id, child=dispatch.execution_id)
            outcome = self._children.ended(dispatch)
            logger.info("child ended", extra={"outcome": outcome, "status": dispatch.status})
            return outcome
        execution = self._executions.get(dispatch.execution_id)
        if execution is None:
            if dispatch.task_name is not None:  # a successor written while its execution was being deleted
                self._runs.delete(RunRef(dispatch.execution_id, dispatch.seq, dispatch.task_name))
            return Outcome.GONE
        flow = self._flows.get(execution.flow_id, execution.flow_version)
        ref = RunRef(dispatch.execution_id, dispatch.seq, dispatch.task_name or flow.definition.start_task)
        logger.append_keys(execution_id=ref.execution_id, task=ref.task_name, seq=ref.seq, attempt=dispatch.attempt)
        if execution.status is not ExecutionStatus.RUNNING:
            outcome = self._skip(ref, dispatch)
        else:
            memory = Memory()
            try:
                outcome, successor = self._step.run(flow, execution, ref, dispatch, memory)
            except RunConflict as conflict:
                outcome = self._conflicts.resolve(flow, ref, dispatch, conflict.current)
            else:
                if successor is None:
                    return outcome
                return self._chain.run(flow, ref, successor, outcome, remaining_ms, memory)
        logger.info("task run", extra={"outcome": outcome})
        return outcome

    def _skip(self, ref: RunRef, dispatch: Dispatch) -> Outcome:
        if dispatch.from_start:
            return Outcome.SKIPPED  # the execution stopped before its first task: nothing was written
        try:
            self._runs.skip(ref, dispatch.guard)
        except RunConflict:
            return Outcome.DUPLICATE
        return Outcome.SKIPPED
