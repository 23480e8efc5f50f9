"""What happens to a stream batch the runner gave up on: its executions fail, with the reason, instead
of staying RUNNING forever.

The event source mapping sends the OnFailure queue only the batch's coordinates (shard, first and last
sequence numbers); `ports.FailedBatches` reads its dispatches again. Every dispatch whose run is still
where the record left it fails its task run and its execution. One whose run had moved on is resumed
instead (`Recovery.resume`): the path goes on from the last run committed along it. That may run one
task twice if a runner is on it at that moment, never commit it twice.
"""

from __future__ import annotations

from typing import Any

from flowcore.domain.deadlines import Overdue
from flowcore.domain.errors import FlowError
from flowcore.domain.records import Dispatch, RunRef
from flowcore.domain.statuses import ExecutionEvent
from flowcore.domain.subflows import ChildEnded
from flowcore.observability import logger
from flowcore.ports import ExecutionRepository, FailedBatches, FlowRepository, RunRepository, Timers
from flowcore.runner.children import Children
from flowcore.runner.outcome import Outcome
from flowcore.runner.recovery import Recovery


class FailedBatchHandler:
    def __init__(
        self,
        runs: RunRepository,
        executions: ExecutionRepository,
        flows: FlowRepository,
        batches: FailedBatches,
        recovery: Recovery,
        timers: Timers,
        children: Children | None = None,
    ) -> None:
        self._runs = runs
        self._executions = executions
        self._flows = flows
        self._batches = batches
        self._recovery = recovery
        self._timers = timers
        self._children = children

    def handle(self, message: dict[str, Any]) -> int:
        """Fail every execution dispatched in the batch `message` describes; returns how many were failed."""
        context = message.get("requestContext", {})
        condition = context.get("condition", "RetryAttemptsExhausted")
        attempts = context.get("approximateInvokeCount", "several")
        failed = 0
        for dispatch in self._batches.dispatches(message["DDBStreamBatchInfo"]):
            if isinstance(dispatch, ChildEnded):  # the parent's run waits on: complete it now
                if self._children is not None:
                    self._children.ended(dispatch)
                continue
            if isinstance(dispatch, Overdue):  # its deadline passed: it ends TIMED_OUT all the same
                self._executions.stop(dispatch.execution_id, ExecutionEvent.TIME_OUT, dispatch.reason)
                continue
            if self._fail(dispatch, attempts, condition):
                failed += 1
                self._timers.cancel(dispatch.execution_id, self._runs.list_runs(dispatch.execution_id))
                logger.warning("execution failed by the failure queue", extra={"execution_id": dispatch.execution_id})
            elif self._recovery.resume(dispatch) is Outcome.RECOVERED:
                logger.warning("execution resumed by the failure queue", extra={"execution_id": dispatch.execution_id})
        return failed

    def _fail(self, dispatch: Dispatch, attempts: object, condition: object) -> bool:
        if dispatch.task_name is None:
            return self._fail_start(dispatch.execution_id, f"the runner gave up on its start after {attempts} attempts")
        ref = RunRef(dispatch.execution_id, dispatch.seq, dispatch.task_name)
        reason = f"the runner gave up on task run {ref.label} after {attempts} attempts ({condition})"
        return self._fail_run(ref, dispatch.attempt, reason)

    def _fail_run(self, ref: RunRef, attempt: int | None, reason: str) -> bool:
        if not self._runs.fail_dispatch(ref, attempt, reason):
            return False  # processed after all: its run has moved on
        return self._executions.stop(ref.execution_id, ExecutionEvent.FAIL, reason)

    def _fail_start(self, execution_id: str, reason: str) -> bool:
        execution = self._executions.get(execution_id)
        if execution is None:
            return False
        try:
            start_task = self._flows.get(execution.flow_id, execution.flow_version).definition.start_task
        except FlowError:
            # The flow version itself is unreadable, so the start task cannot have run: fail the execution alone.
            return self._executions.stop(execution_id, ExecutionEvent.FAIL, reason)
        return self._fail_run(RunRef(execution_id, 1, start_task), None, reason)
