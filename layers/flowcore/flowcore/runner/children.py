"""Child executions of subflow tasks: started for the parent's run, and its completion when they end.

The start is the subflow task's delivery (`tasks.subflow`), made once the parent's run is parked. A child's
end reaches the runner as a stream record of its item (`ChildEnded`); completing the parent's run is one
conditional write (`RunRepository.complete`), so a redelivered record completes nothing twice, and a parent
that moved on (cancelled, timed out) is left as it is.
"""

from __future__ import annotations

from typing import Any

from flowcore.domain.callbacks import Completion
from flowcore.domain.clock import iso, utc_now
from flowcore.domain.errors import FlowError
from flowcore.domain.payloads import INLINE_LIMIT, encoded
from flowcore.domain.records import ExecutionRecord, ParentLink, RunRecord
from flowcore.domain.statuses import ExecutionStatus, TaskStatus
from flowcore.domain.subflows import MAX_SUBFLOW_DEPTH, ChildEnded, child_execution_id
from flowcore.domain.tenancy import same_tenant, shown
from flowcore.ports import Completions, ExecutionRepository, FlowRepository, PayloadStore, RunRepository
from flowcore.runner.outcome import Outcome


class ChildRefused(RuntimeError):
    """A child that cannot start; the message says why (the parent's run fails with it)."""


class Children:
    def __init__(
        self,
        executions: ExecutionRepository,
        flows: FlowRepository,
        runs: RunRepository,
        payloads: PayloadStore | None,
        completions: Completions | None = None,
    ) -> None:
        """`completions` serves `ended` (a starter alone does not need it)."""
        self._executions = executions
        self._flows = flows
        self._runs = runs
        self._payloads = payloads
        self._completions = completions

    def start(self, parent: ParentLink, flow_id: str, version: int | None, child_input: dict[str, Any]) -> str:
        """Write the child RUNNING (the stream starts it), unless this parent's attempt started it already."""
        above = self._executions.get(parent.execution_id)
        depth = (above.depth if above is not None else 0) + 1
        if depth > MAX_SUBFLOW_DEPTH:
            raise ChildRefused(f"subflows nest at most {MAX_SUBFLOW_DEPTH} deep; this child would be at depth {depth}")
        try:
            flow = self._flows.get(same_tenant(parent.execution_id, flow_id), version)
        except FlowError as error:
            raise ChildRefused(f"the child cannot start: {error.message}") from error
        child_id = child_execution_id(parent)
        input_ref = None
        if len(encoded(child_input)) > INLINE_LIMIT:
            if self._payloads is None:
                raise ChildRefused("the child's input is too large for its item, and no payload store is configured")
            input_ref = self._payloads.put(child_id, child_input)
        now = iso(utc_now())
        record = ExecutionRecord(
            execution_id=child_id,
            flow_id=flow.flow_id,
            flow_version=flow.version,
            flow_name=flow.name,
            status=ExecutionStatus.RUNNING,
            input=child_input,
            created_at=now,
            started_at=now,
            input_ref=input_ref,
            parent=parent,
            depth=depth,
        )
        return self._executions.create(record).execution_id

    def ended(self, child: ChildEnded) -> Outcome:
        """Complete the parent's run with the child's end (once: a completed or moved-on parent is left alone)."""
        assert self._completions is not None
        completion = self._completion(child)
        parent = child.parent
        if self._completions.complete(parent.ref, parent.attempt, parent.nonce, completion):
            return Outcome.COMMITTED
        return Outcome.DUPLICATE

    def _completion(self, child: ChildEnded) -> Completion:
        at = iso(utc_now())
        if child.status is not ExecutionStatus.COMPLETED:
            detail = f": {child.error}" if child.error else ""
            return Completion(
                False, error=f"child execution {shown(child.execution_id)} ended {child.status}{detail}", at=at
            )
        output = {
            "execution_id": shown(child.execution_id),
            "status": str(child.status),
            "output": self._last_output(child),
        }
        if len(encoded(output)) <= INLINE_LIMIT or self._payloads is None:
            return Completion(True, output=output, at=at)
        return Completion(True, output_ref=self._payloads.put(child.parent.execution_id, output), at=at)

    def _last_output(self, child: ChildEnded) -> Any:
        """The output of the child's last task to end."""
        ended = [run for run in self._runs.list_runs(child.execution_id) if run.status in _ENDED]
        if not ended:
            return None
        last: RunRecord = max(ended, key=lambda run: run.ref.seq)
        if last.output_ref is not None and self._payloads is not None:
            return self._payloads.get(last.output_ref)
        return last.output


_ENDED = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE})
