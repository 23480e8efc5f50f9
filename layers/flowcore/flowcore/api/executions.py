"""Use cases for executions: create and start, read the status and history, download a large value, cancel,
delete."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from flowcore.api.digest import canonical, digest
from flowcore.api.history import MAX_HISTORY_RUNS, history_document
from flowcore.api.views import StatusFold, status_document
from flowcore.domain.clock import iso, utc_now
from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.errors import Conflict, NotFound, Problem, ValidationFailed
from flowcore.domain.expressions import ExpressionError
from flowcore.domain.payloads import INLINE_LIMIT, PayloadRef
from flowcore.domain.records import ExecutionRecord, FlowRecord, RunRecord
from flowcore.domain.routing import decide
from flowcore.domain.statuses import ACTIVE_EXECUTION_STATUSES, ExecutionEvent, ExecutionStatus, TaskStatus
from flowcore.domain.tenancy import same_tenant, shown, tenant_of
from flowcore.ports import ExecutionRepository, FlowRepository, PayloadDownloads, RunRepository, StartQuota, Timers

#: As large as a request allows (functions/api/app.py, MAX_BODY_BYTES), counted as the request carries it (UTF-8).
#: Stored, non-ASCII characters are escaped (`\u00e9`), up to six bytes each: at most 6 MiB, within
#: MAX_PAYLOAD_BYTES. Over INLINE_LIMIT as stored, it goes to the payload store and the item keeps a reference.
MAX_INPUT_BYTES = 1024 * 1024
#: How long a download link of a large value works.
DOWNLOAD_SECONDS = 900
#: Runs read per query while folding a status document: its memory stays bounded, whatever the run count.
STATUS_PAGE_RUNS = 1000


def _stored_size(document: dict[str, Any]) -> int:
    """The input's bytes as stored: compact JSON (as `canonical`, but for the key order). `ValidationFailed` when
    it is larger than a request allows, counted as a request carries it."""
    sent = len(json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode())
    if sent > MAX_INPUT_BYTES:
        raise ValidationFailed([Problem("input", f"input is {sent} bytes as JSON; at most {MAX_INPUT_BYTES}")])
    return len(canonical(document))


def _new_execution_id(flow: FlowRecord) -> str:
    """Random (122 bits), in the flow's tenant: an id says nothing about another, nor can one be guessed. A
    retried request with the same Idempotency-Key finds the first one's execution through the key's record."""
    return same_tenant(flow.flow_id, str(uuid.uuid4()))


class Deleted(NamedTuple):
    """What deleting an execution removed: its items (the execution and its runs) and its stored payloads."""

    items: int
    payloads: int


class ExecutionService:
    def __init__(
        self,
        executions: ExecutionRepository,
        runs: RunRepository,
        flows: FlowRepository,
        timers: Timers,
        payloads: PayloadDownloads,
        clock: Callable[[], datetime] = utc_now,
        tickets: Callable[[RunRecord], dict[str, str] | None] | None = None,
        starts: StartQuota | None = None,
    ) -> None:
        """`tickets` gives a run that waits for its callback its `{token, url}` in the status document; `starts`
        counts each start against its tenant's starts per second."""
        self._executions = executions
        self._runs = runs
        self._flows = flows
        self._timers = timers
        self._payloads = payloads
        self._clock = clock
        self._tickets = tickets
        self._starts = starts

    def create(
        self,
        flow: FlowRecord,
        execution_input: dict[str, Any] | None,
        start: bool,
        idempotency_key: str | None = None,
    ) -> tuple[ExecutionRecord, bool]:
        """Create (and when `start`, start) an execution pinned to `flow`'s version.
        With an idempotency key (the tenant's flow's), a retry finds the execution the first request made. A large
        input is stored first, then the item. Starts count against the tenant's quotas. Returns the execution and
        whether this call created it.
        """
        document = execution_input or {}
        size = _stored_size(document)
        input_hash = digest(document) if idempotency_key else None
        earlier = self._executions.find_started(flow.flow_id, idempotency_key) if idempotency_key else None
        if earlier is not None:
            return self._repeated(earlier, idempotency_key or "", input_hash), False
        if start:
            self._admit(flow.flow_id)
        execution_id = _new_execution_id(flow)
        input_ref = self._payloads.put(execution_id, document) if size > INLINE_LIMIT else None
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
            input_ref=input_ref,
        )
        stored = self._executions.create(record)
        if stored.execution_id == record.execution_id:
            return stored, True
        return self._repeated(stored, idempotency_key or "", input_hash), False

    @staticmethod
    def _repeated(earlier: ExecutionRecord, idempotency_key: str, input_hash: str | None) -> ExecutionRecord:
        if earlier.input_hash != input_hash:
            raise Conflict(f"Idempotency-Key '{idempotency_key}' was already used with a different input")
        return earlier

    def _admit(self, scoped_id: str) -> None:
        if self._starts is not None:
            self._starts.admit(tenant_of(scoped_id))

    def start(self, execution_id: str) -> ExecutionRecord:
        self._admit(execution_id)
        return self._executions.start(execution_id)

    def get(self, execution_id: str) -> ExecutionRecord:
        record = self._executions.get(execution_id)
        if record is None:
            raise NotFound(f"execution '{shown(execution_id)}' does not exist")
        return record

    def list_executions(
        self, flow_id: str, status: ExecutionStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[ExecutionRecord], str | None]:
        if self._flows.head(flow_id) is None:  # a deleted flow's executions are still listed
            raise NotFound(f"flow '{shown(flow_id)}' does not exist")
        return self._executions.list_of_flow(flow_id, status, limit, cursor)

    def flow_of(self, execution_id: str) -> FlowRecord:
        """The flow version the execution runs (or ran), also after the flow was deleted."""
        execution = self.get(execution_id)
        try:
            return self._flows.get(execution.flow_id, execution.flow_version)
        except NotFound as error:
            raise NotFound(
                f"version {execution.flow_version} of flow '{shown(execution.flow_id)}', which execution "
                f"'{shown(execution_id)}' ran, is no longer kept"
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
        document = status_document(execution, runs, upcoming)
        if self._tickets is not None:
            for name, run in runs.latest.items():
                if run.awaited is not None and run.status is TaskStatus.WAITING:
                    document["task_results"][name]["callback"] = self._tickets(run)
        return document

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
        try:  # conditions that read more than the output recorded their choice (`routed`)
            successors = decide(flow, last.ref, last.attempt, result, routed=last.routed).successors
        except ExpressionError:
            return None  # a run written before choices were recorded: its data is not at hand here
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
                f"execution '{shown(execution_id)}' is {execution.status}; only CREATED or RUNNING can be cancelled"
            )
        if not self._executions.stop(execution_id, ExecutionEvent.CANCEL, "cancelled by request"):
            return self.cancel(execution_id)  # it changed meanwhile: report from what it is now
        runs = self._runs.list_runs(execution_id)
        self._runs.cancel_open(execution_id)
        self._timers.cancel(execution_id, runs)  # a parked run's timer would otherwise wait up to a year
        self._cancel_children(runs)
        return self.get(execution_id)

    def _cancel_children(self, runs: list[RunRecord]) -> None:
        """The child executions its subflow runs wait on are cancelled too (and theirs, in turn)."""
        for run in runs:
            if run.child is not None and run.status is TaskStatus.WAITING:
                try:
                    self.cancel(run.child)
                except (Conflict, NotFound):
                    continue  # it ended, or was never started (its start failed)

    def payload(self, execution_id: str, sha256: str) -> tuple[PayloadRef, str]:
        """A large value of the execution (its input, a task's output) by the hash its reference shows, and a
        link that downloads it for DOWNLOAD_SECONDS. `NotFound` when the execution has no such value."""
        self.get(execution_id)
        ref = self._payloads.find(execution_id, sha256)
        if ref is None:
            raise NotFound(f"execution '{shown(execution_id)}' has no stored payload '{sha256}'")
        return ref, self._payloads.url(ref, DOWNLOAD_SECONDS)

    def delete(self, execution_id: str) -> Deleted:
        execution = self.get(execution_id)
        if execution.status in ACTIVE_EXECUTION_STATUSES:
            self._executions.stop(execution_id, ExecutionEvent.CANCEL, "deleted")
            runs = self._runs.list_runs(execution_id)
            self._timers.cancel(execution_id, runs)
            self._cancel_children(runs)
        items = self._executions.delete(execution_id)
        # After the items: a failure here leaves objects that nothing refers to (the bucket's lifecycle removes
        # them), never an item that refers to a deleted object.
        return Deleted(items, self._payloads.delete_all(execution_id))
