"""Use cases for executions: create and start, read the status and history, cancel, delete."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flowcore.api.digest import canonical, digest
from flowcore.api.history import MAX_HISTORY_RUNS, history_document
from flowcore.api.views import StatusFold, status_document
from flowcore.domain.clock import iso, utc_now
from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.errors import Conflict, NotFound, Problem, ValidationFailed
from flowcore.domain.records import ExecutionRecord, FlowRecord, RunRecord
from flowcore.domain.routing import decide
from flowcore.domain.statuses import ACTIVE_EXECUTION_STATUSES, ExecutionEvent, ExecutionStatus
from flowcore.ports import ExecutionRepository, FlowRepository, RunRepository, Timers

MAX_INPUT_BYTES = 32_000
#: Runs read per query while folding a status document: its memory stays bounded, whatever the run count.
STATUS_PAGE_RUNS = 1000


class ExecutionService:
    def __init__(
        self,
        executions: ExecutionRepository,
        runs: RunRepository,
        flows: FlowRepository,
        timers: Timers,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._executions = executions
        self._runs = runs
        self._flows = flows
        self._timers = timers
        self._clock = clock

    def create(
        self,
        flow: FlowRecord,
        execution_input: dict[str, Any] | None,
        start: bool,
        idempotency_key: str | None = None,
    ) -> tuple[ExecutionRecord, bool]:
        """Create (and when `start`, start) an execution pinned to `flow`'s version.

        With an idempotency key the execution id is derived from it, so a retried request finds the
        execution the first request made. Returns the execution and whether this call created it.
        """
        document = execution_input or {}
        size = len(canonical(document))
        if size > MAX_INPUT_BYTES:
            raise ValidationFailed([Problem("input", f"input is {size} bytes as JSON; at most {MAX_INPUT_BYTES}")])
        input_hash = digest(document) if idempotency_key else None
        if idempotency_key:
            execution_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"flow-manager:{flow.flow_id}:{idempotency_key}"))
        else:
            execution_id = str(uuid.uuid4())
        now = iso(self._clock())
        record = ExecutionRecord(
            execution_id=execution_id,
            flow_id=flow.flow_id,
            flow_version=flow.version,
            flow_name=flow.name,
            status=ExecutionStatus.RUNNING if start else ExecutionStatus.CREATED,
            input=document,
            created_at=now,
            started_at=now if start else None,
            idempotency_key=idempotency_key,
            input_hash=input_hash,
        )
        stored = self._executions.create(record)
        if stored is record:
            return stored, True
        if stored.input_hash != input_hash:
            raise Conflict(f"Idempotency-Key '{idempotency_key}' was already used with a different input")
        return stored, False

    def start(self, execution_id: str) -> ExecutionRecord:
        return self._executions.start(execution_id)

    def get(self, execution_id: str) -> ExecutionRecord:
        record = self._executions.get(execution_id)
        if record is None:
            raise NotFound(f"execution '{execution_id}' does not exist")
        return record

    def list_executions(
        self, flow_id: str, status: ExecutionStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[ExecutionRecord], str | None]:
        if self._flows.head(flow_id) is None:  # a deleted flow's executions are still listed
            raise NotFound(f"flow '{flow_id}' does not exist")
        return self._executions.list_of_flow(flow_id, status, limit, cursor)

    def flow_of(self, execution_id: str) -> FlowRecord:
        """The flow version the execution runs (or ran), also after the flow was deleted."""
        execution = self.get(execution_id)
        try:
            return self._flows.get(execution.flow_id, execution.flow_version)
        except NotFound as error:
            raise NotFound(
                f"version {execution.flow_version} of flow '{execution.flow_id}', which execution '{execution_id}' "
                "ran, is no longer kept"
            ) from error

    def status(self, execution_id: str) -> dict[str, Any]:
        """The status document, folded from the runs a page at a time (its bound: `flowcore.api.views`)."""
        execution = self.get(execution_id)
        runs = StatusFold()
        cursor: str | None = None
        while True:
            page, cursor = self._runs.runs_page(execution_id, STATUS_PAGE_RUNS, cursor)
            runs.add(page)
            if cursor is None:
                break
        upcoming = None
        if execution.status is ExecutionStatus.RUNNING and runs.first_open is None:
            upcoming = self._upcoming(execution, runs.last)
        return status_document(execution, runs, upcoming)

    def _upcoming(self, execution: ExecutionRecord, last: RunRecord | None) -> str | None:
        """The task a runner is on while no run item shows it: the start task, or the next task of a chain
        (whose run item is written when it ends), as the engine routes the last committed result."""
        definition = self._flows.get(execution.flow_id, execution.flow_version).definition
        if last is None:
            return definition.start_task
        result = last.result()
        if result is None:
            return None
        flow = CompiledFlow.build(execution.flow_id, execution.flow_version, definition)
        successors = decide(flow, last.ref, last.attempt, result).successors
        return successors[0].task_name if len(successors) == 1 else None

    def history(self, execution_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
        """A page of the history: one entry per attempt of `limit` runs (`flowcore.api.history`)."""
        execution = self.get(execution_id)
        runs, next_cursor = self._runs.runs_page(execution_id, min(limit, MAX_HISTORY_RUNS), cursor)
        return history_document(execution, runs, next_cursor)

    def cancel(self, execution_id: str) -> ExecutionRecord:
        execution = self.get(execution_id)
        if execution.status not in ACTIVE_EXECUTION_STATUSES:
            raise Conflict(
                f"execution '{execution_id}' is {execution.status}; only CREATED or RUNNING can be cancelled"
            )
        if not self._executions.stop(execution_id, ExecutionEvent.CANCEL, "cancelled by request"):
            return self.cancel(execution_id)  # it changed meanwhile: report from what it is now
        runs = self._runs.list_runs(execution_id)
        self._runs.cancel_open(execution_id)
        self._timers.cancel(execution_id, runs)  # a parked run's timer would otherwise wait up to a year
        return self.get(execution_id)

    def delete(self, execution_id: str) -> int:
        execution = self.get(execution_id)
        if execution.status in ACTIVE_EXECUTION_STATUSES:
            self._executions.stop(execution_id, ExecutionEvent.CANCEL, "deleted")
            self._timers.cancel(execution_id, self._runs.list_runs(execution_id))
        return self._executions.delete(execution_id)
