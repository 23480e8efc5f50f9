"""The documents the API answers with, built from records: summaries, and the status document.

A value kept in the payload store (an input or output over `INLINE_LIMIT`) is never inline: its field is null
and the field beside it (`input_ref`, `output_ref`) holds `{"ref", "size", "sha256"}`, `ref` being the route
that downloads it. A reference is not put in the value's own place, where it could not be told from a value
that happens to have those three keys.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from flowcore.domain.payloads import PayloadRef
from flowcore.domain.records import ExecutionRecord, FlowHead, FlowRecord, RunRecord
from flowcore.domain.statuses import OPEN_RUN_STATUSES, ExecutionStatus, TaskStatus
from flowcore.domain.tenancy import shown


def output_json(output: Any) -> str:
    """An output as JSON, as it is stored and answered: its size is what the bounds count."""
    return json.dumps(output, separators=(",", ":"), default=str)


def payload_route(execution_id: str, sha256: str) -> str:
    """Where a stored value of the execution is downloaded (a redirect to a short-lived link)."""
    return f"/executions/{shown(execution_id)}/payloads/{sha256}"


def payload_reference(execution_id: str, ref: PayloadRef | None) -> dict[str, Any] | None:
    """A stored value as documents show it: where to download it, its size in bytes and its SHA-256."""
    if ref is None:
        return None
    return {"ref": payload_route(execution_id, ref.sha256), "size": ref.size, "sha256": ref.sha256}


def flow_summary(flow: FlowRecord) -> dict[str, Any]:
    return {"flow_id": shown(flow.flow_id), "version": flow.version, "name": flow.name, "created_at": flow.created_at}


def flow_listed(head: FlowHead) -> dict[str, Any]:
    return {
        "flow_id": shown(head.flow_id),
        "name": head.name,
        "latest_version": head.latest_version,
        "created_at": head.created_at,
        "updated_at": head.updated_at,
    }


def execution_summary(execution: ExecutionRecord) -> dict[str, Any]:
    return {
        "execution_id": shown(execution.execution_id),
        "flow_id": shown(execution.flow_id),
        "flow_version": execution.flow_version,
        "flow_name": execution.flow_name,
        "status": execution.status,
        "created_at": execution.created_at,
        "started_at": execution.started_at,
        "ended_at": execution.ended_at,
        "error": execution.error,
    }


#: The status document's bound (README, "Status document"): one entry per task (a flow has at most
#: MAX_TASKS), the last MAX_PATH steps of the path with its length, counts per status, and task outputs and
#: resolved inputs inline while they add up to at most MAX_INLINE_OUTPUT_BYTES (then `output_omitted`; the
#: history has each of them).
MAX_PATH = 100
MAX_INLINE_OUTPUT_BYTES = 256_000


class StatusFold:
    """An execution's runs folded, page by page, into what its status document shows, so that neither the
    document nor the memory it takes grows with the number of runs: the latest run of each task, the run
    counts per status, the last steps of the path, and the tasks that completed, in the order they first did."""

    def __init__(self) -> None:
        self.latest: dict[str, RunRecord] = {}
        self.counts: dict[str, int] = {}
        self.path: deque[str] = deque(maxlen=MAX_PATH)
        self.total = 0
        self.completed: dict[str, None] = {}
        self.first_open: str | None = None
        self.last: RunRecord | None = None

    def add(self, runs: list[RunRecord]) -> None:
        """Fold in the next runs, in path order."""
        for run in runs:
            name = run.ref.task_name
            self.latest[name] = run
            self.counts[run.status] = self.counts.get(run.status, 0) + 1
            self.path.append(name)
            self.total += 1
            if run.status is TaskStatus.SUCCESS:
                self.completed.setdefault(name)
            if self.first_open is None and run.status in OPEN_RUN_STATUSES:
                self.first_open = name
            if self.last is None or run.ref.seq >= self.last.ref.seq:
                self.last = run


def _run_result(run: RunRecord, inline: bool = True) -> dict[str, Any]:
    """One task's entry in `task_results`: the original's fields (`data` is the output, `timestamp` when the
    result was recorded) and ours."""
    output = run.output if inline else None
    return {
        "task_name": run.ref.task_name,
        "status": run.status,
        "message": run.message or None,
        "data": output,
        "output": output,
        "output_omitted": not inline,
        "output_ref": payload_reference(run.ref.execution_id, run.output_ref),
        "input": run.input if inline else None,
        "input_ref": payload_reference(run.ref.execution_id, run.input_ref),
        "timestamp": run.ended_at or run.started_at,
        "error": run.error or None,
        "attempts": run.attempt,
        "execution_time": run.duration_ms / 1000 if run.duration_ms is not None else None,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "arrived": sorted(run.arrived),
        "arrived_count": run.arrived_total or len(run.arrived),
        "callback": None,
        "child_execution_id": shown(run.child) if run.child else None,
    }


def _pending(task_name: str) -> dict[str, Any]:
    return {
        "task_name": task_name,
        "status": TaskStatus.PENDING,
        "message": None,
        "data": None,
        "output": None,
        "output_omitted": False,
        "output_ref": None,
        "input": None,
        "input_ref": None,
        "timestamp": None,
        "error": None,
        "attempts": 0,
        "execution_time": None,
        "started_at": None,
        "ended_at": None,
        "arrived": [],
        "arrived_count": 0,
        "callback": None,
        "child_execution_id": None,
    }


def _task_results(latest: dict[str, RunRecord]) -> dict[str, Any]:
    """The latest run of each task, outputs (and resolved inputs) inline while their budget lasts."""
    results: dict[str, Any] = {}
    budget = MAX_INLINE_OUTPUT_BYTES
    for name, run in latest.items():
        size = len(output_json(run.output)) if run.output is not None else 0
        size += len(output_json(run.input)) if run.input is not None else 0
        inline = size <= budget
        budget -= size if inline else 0
        results[name] = _run_result(run, inline)
    return results


def status_document(execution: ExecutionRecord, runs: StatusFold, upcoming: str | None = None) -> dict[str, Any]:
    """The status document, within its bound. `upcoming`, a task whose run item is not written yet (the start
    task, or the next task of a chain), stands in as PENDING."""
    task_results = _task_results(runs.latest)
    path = list(runs.path)
    if upcoming is not None:
        path = [*path, upcoming][-MAX_PATH:]
        task_results[upcoming] = _pending(upcoming)
    running = execution.status is ExecutionStatus.RUNNING
    return {
        "execution_id": shown(execution.execution_id),
        "flow_id": shown(execution.flow_id),
        "flow_version": execution.flow_version,
        "flow_name": execution.flow_name,
        "status": execution.status,
        "current_task": (upcoming or runs.first_open) if running else None,
        "completed_tasks": list(runs.completed),
        "path": path,
        "path_total": runs.total + (upcoming is not None),
        "run_counts": runs.counts,
        "created_at": execution.created_at,
        "started_at": execution.started_at,
        "ended_at": execution.ended_at,
        "error": execution.error,
        "input": None if execution.input_ref else execution.input,
        "input_ref": payload_reference(execution.execution_id, execution.input_ref),
        "task_results": task_results,
        "parent": _parent(execution),
        "links": execution_links(execution.execution_id),
    }


def _parent(execution: ExecutionRecord) -> dict[str, Any] | None:
    """A child execution's parent: the execution and the subflow task that started it."""
    parent = execution.parent
    if parent is None:
        return None
    return {"execution_id": shown(parent.execution_id), "task_name": parent.task_name, "depth": execution.depth}


def execution_links(execution_id: str) -> dict[str, str]:
    """Where the rest of an execution is read: the flow version it ran (kept also after its flow is
    deleted), and every attempt of every task."""
    local_id = shown(execution_id)
    return {"flow": f"/executions/{local_id}/flow", "history": f"/executions/{local_id}/history"}
