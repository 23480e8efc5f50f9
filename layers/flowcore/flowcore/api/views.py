"""The documents the API answers with, built from records: the status document, history, summaries."""

from __future__ import annotations

from typing import Any

from flowcore.domain.records import ExecutionRecord, FlowHead, FlowRecord, RunRecord
from flowcore.domain.statuses import OPEN_RUN_STATUSES, ExecutionStatus, TaskStatus


def flow_summary(flow: FlowRecord) -> dict[str, Any]:
    return {"flow_id": flow.flow_id, "version": flow.version, "name": flow.name, "created_at": flow.created_at}


def flow_listed(head: FlowHead) -> dict[str, Any]:
    return {
        "flow_id": head.flow_id,
        "name": head.name,
        "latest_version": head.latest_version,
        "created_at": head.created_at,
        "updated_at": head.updated_at,
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


def _run_result(run: RunRecord) -> dict[str, Any]:
    """One task's entry in `task_results`: the original's fields (`data` is the output, `timestamp` when the
    result was recorded) and ours."""
    return {
        "task_name": run.ref.task_name,
        "status": run.status,
        "message": run.message or None,
        "data": run.output,
        "output": run.output,
        "timestamp": run.ended_at or run.started_at,
        "error": run.error or None,
        "attempts": run.attempt,
        "execution_time": run.duration_ms / 1000 if run.duration_ms is not None else None,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
    }


def _pending(task_name: str) -> dict[str, Any]:
    return {
        "task_name": task_name,
        "status": TaskStatus.PENDING,
        "message": None,
        "data": None,
        "output": None,
        "timestamp": None,
        "error": None,
        "attempts": 0,
        "execution_time": None,
        "started_at": None,
        "ended_at": None,
    }


def status_document(execution: ExecutionRecord, runs: list[RunRecord], upcoming: str | None = None) -> dict[str, Any]:
    """The status document of DESIGN §5. `upcoming`, a task whose run item is not written yet (the start
    task, or the next task of a chain), stands in as PENDING."""
    task_results = {run.ref.task_name: _run_result(run) for run in runs}
    path = [run.ref.task_name for run in runs]
    if upcoming is not None:
        path.append(upcoming)
        task_results[upcoming] = _pending(upcoming)
    active = [run.ref.task_name for run in runs if run.status in OPEN_RUN_STATUSES]
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
        "links": execution_links(execution.execution_id),
    }


def execution_links(execution_id: str) -> dict[str, str]:
    """Where the rest of an execution is read: the flow version it ran (kept also after its flow is
    deleted), and every attempt of every task."""
    return {"flow": f"/executions/{execution_id}/flow", "history": f"/executions/{execution_id}/history"}


def history_document(execution: ExecutionRecord, runs: list[RunRecord]) -> dict[str, Any]:
    return {
        "execution_id": execution.execution_id,
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
