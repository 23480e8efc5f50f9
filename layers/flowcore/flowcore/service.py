"""The API's use cases. Handlers parse HTTP and call these; these call the store."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from flowcore.definition import FlowDefinition
from flowcore.engine import decide
from flowcore.errors import Conflict, Problem, ValidationFailed
from flowcore.model import ACTIVE_EXECUTION_STATUSES, CompiledFlow, ExecutionStatus, TaskStatus
from flowcore.store import ExecutionRecord, ExecutionStore, FlowRecord, RunRecord
from flowcore.tasks import TaskTypeRegistry
from flowcore.validation import graph_problems

MAX_INPUT_BYTES = 32_000
_ACTIVE_RUN_STATUSES = (TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.WAITING)


def _canonical(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


def _digest(document: Any) -> str:
    return hashlib.sha256(_canonical(document).encode()).hexdigest()


class FlowService:
    def __init__(self, store: ExecutionStore, registry: TaskTypeRegistry) -> None:
        self._store = store
        self._registry = registry

    # -- flows ------------------------------------------------------------------------------------

    def save_flow(self, definition: FlowDefinition) -> tuple[FlowRecord, bool]:
        problems = graph_problems(definition, self._registry)
        if problems:
            raise ValidationFailed(problems)
        flow_id = definition.id or f"flow-{uuid.uuid4().hex[:12]}"
        content = definition.model_dump(mode="json", exclude_none=True)
        return self._store.save_flow(flow_id, definition, _digest(content))

    def get_flow(self, flow_id: str, version: int | None = None) -> FlowRecord:
        return self._store.get_flow(flow_id, version)

    def list_flows(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return self._store.list_flows(limit, cursor)

    def delete_flow(self, flow_id: str) -> None:
        self._store.get_flow(flow_id)
        if self._store.has_active_executions(flow_id):
            raise Conflict(f"flow '{flow_id}' has executions that are CREATED or RUNNING; cancel or delete them first")
        self._store.delete_flow(flow_id)

    # -- executions -------------------------------------------------------------------------------

    def create_execution(
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
        size = len(_canonical(document))
        if size > MAX_INPUT_BYTES:
            raise ValidationFailed([_input_problem(size)])
        input_hash = _digest(document) if idempotency_key else None
        if idempotency_key:
            execution_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"flow-manager:{flow.flow_id}:{idempotency_key}"))
        else:
            execution_id = str(uuid.uuid4())
        now = self._store.now()
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
        stored = self._store.create_execution(record)
        if stored is record:
            return stored, True
        if stored.input_hash != input_hash:
            raise Conflict(f"Idempotency-Key '{idempotency_key}' was already used with a different input")
        return stored, False

    def start_execution(self, execution_id: str) -> ExecutionRecord:
        return self._store.start_execution(execution_id)

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        return self._store.require_execution(execution_id)

    def list_executions(
        self, flow_id: str, status: ExecutionStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[ExecutionRecord], str | None]:
        self._store.get_flow(flow_id)
        return self._store.list_executions(flow_id, status, limit, cursor)

    def status(self, execution_id: str) -> dict[str, Any]:
        execution = self._store.require_execution(execution_id)
        runs = self._store.list_runs(execution_id)
        upcoming = None
        if execution.status is ExecutionStatus.RUNNING and not any(run.status in _ACTIVE_RUN_STATUSES for run in runs):
            upcoming = self._upcoming(execution, runs)
        return status_document(execution, runs, upcoming)

    def _upcoming(self, execution: ExecutionRecord, runs: list[RunRecord]) -> str | None:
        """The task a runner is on while no run item shows it: the start task, or the next task of a chain
        (whose run item is written when it ends), as the engine routes the last committed result."""
        definition = self._store.get_flow(execution.flow_id, execution.flow_version).definition
        if not runs:
            return definition.start_task
        last = max(runs, key=lambda run: run.ref.seq)
        result = last.result()
        if result is None:
            return None
        flow = CompiledFlow.build(execution.flow_id, execution.flow_version, definition)
        successors = decide(flow, last.ref, last.attempt, result).successors
        return successors[0].task_name if len(successors) == 1 else None

    def history(self, execution_id: str) -> dict[str, Any]:
        execution = self._store.require_execution(execution_id)
        runs = self._store.list_runs(execution_id)
        return {
            "execution_id": execution_id,
            "status": execution.status,
            "events": [
                {
                    "seq": run.ref.seq,
                    "task_name": run.ref.task_name,
                    "status": run.status,
                    "attempts": run.attempt,
                    "started_at": run.started_at,
                    "ended_at": run.ended_at,
                    "error": run.error or None,
                }
                for run in runs
            ],
        }

    def cancel(self, execution_id: str) -> ExecutionRecord:
        execution = self._store.require_execution(execution_id)
        if execution.status not in ACTIVE_EXECUTION_STATUSES:
            raise Conflict(
                f"execution '{execution_id}' is {execution.status}; only CREATED or RUNNING can be cancelled"
            )
        update = self._store.stop_execution_update(
            execution_id, ExecutionStatus.CANCELLED, "cancelled by request", from_created=True
        )
        if not self._store.apply_execution_update(update):
            return self.cancel(execution_id)  # it changed meanwhile: report from what it is now
        self._store.skip_open_runs(execution_id)
        return self._store.require_execution(execution_id)

    def delete_execution(self, execution_id: str) -> int:
        execution = self._store.require_execution(execution_id)
        if execution.status in ACTIVE_EXECUTION_STATUSES:
            self._store.apply_execution_update(
                self._store.stop_execution_update(execution_id, ExecutionStatus.CANCELLED, "deleted", from_created=True)
            )
        return self._store.delete_execution(execution_id)


def _input_problem(size: int) -> Problem:
    return Problem("input", f"input is {size} bytes as JSON; at most {MAX_INPUT_BYTES}")


def _run_result(run: RunRecord) -> dict[str, Any]:
    return {
        "task_name": run.ref.task_name,
        "status": run.status,
        "message": run.message or None,
        "output": run.output,
        "error": run.error or None,
        "attempts": run.attempt,
        "execution_time": run.duration_ms / 1000 if run.duration_ms is not None else None,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
    }


def status_document(execution: ExecutionRecord, runs: list[RunRecord], upcoming: str | None = None) -> dict[str, Any]:
    """The status document of DESIGN §5. `upcoming`, a task whose run item is not written yet (the start
    task, or the next task of a chain), stands in as PENDING."""
    task_results = {run.ref.task_name: _run_result(run) for run in runs}
    path = [run.ref.task_name for run in runs]
    if upcoming is not None:
        path.append(upcoming)
        task_results[upcoming] = _pending(upcoming)
    active = [run.ref.task_name for run in runs if run.status in _ACTIVE_RUN_STATUSES]
    running = execution.status is ExecutionStatus.RUNNING
    return {
        "execution_id": execution.execution_id,
        "flow_id": execution.flow_id,
        "flow_version": execution.flow_version,
        "flow_name": execution.flow_name,
        "status": execution.status,
        "current_task": (upcoming or (active[0] if active else None)) if running else None,
        "completed_tasks": [run.ref.task_name for run in runs if run.status is TaskStatus.SUCCESS],
        "path": path,
        "created_at": execution.created_at,
        "started_at": execution.started_at,
        "ended_at": execution.ended_at,
        "error": execution.error,
        "input": execution.input,
        "task_results": task_results,
    }


def _pending(task_name: str) -> dict[str, Any]:
    return {
        "task_name": task_name,
        "status": TaskStatus.PENDING,
        "message": None,
        "output": None,
        "error": None,
        "attempts": 0,
        "execution_time": None,
        "started_at": None,
        "ended_at": None,
    }


def execution_summary(execution: ExecutionRecord) -> dict[str, Any]:
    return {
        "execution_id": execution.execution_id,
        "flow_id": execution.flow_id,
        "flow_version": execution.flow_version,
        "flow_name": execution.flow_name,
        "status": execution.status,
        "created_at": execution.created_at,
        "started_at": execution.started_at,
        "ended_at": execution.ended_at,
        "error": execution.error,
    }
