"""An execution's history: one entry per attempt of every task run, in path order, a page at a time.

A run item holds the attempts that were tried again (`RunRecord.attempts`, oldest first) and its latest
attempt as its own fields. A page is `limit` run items (at most MAX_HISTORY_RUNS); each gives one entry per
attempt, at most a task's `max_attempts` (25). The latest attempt carries the run's output and resolved input
(at most 32,000 bytes each inline; a value kept in the payload store is a reference, `output_ref` or
`input_ref`), so a page is at most about 3.6 MB: below Lambda's 6 MB response limit.
"""

from __future__ import annotations

from typing import Any

from flowcore.api.views import payload_reference
from flowcore.domain.records import AttemptRecord, ExecutionRecord, RunRecord
from flowcore.domain.statuses import TaskStatus
from flowcore.domain.tenancy import shown

DEFAULT_HISTORY_RUNS = 25
MAX_HISTORY_RUNS = 50


def run_entries(run: RunRecord) -> list[dict[str, Any]]:
    """One entry per attempt of `run`, oldest first."""
    entries = [_tried(run, attempt) for attempt in run.attempts]
    if not run.attempts or run.attempt > run.attempts[-1].attempt:
        entries.append(_latest(run))
    return entries


def _tried(run: RunRecord, attempt: AttemptRecord) -> dict[str, Any]:
    return _entry(
        run,
        attempt=attempt.attempt,
        status=attempt.status,
        started_at=attempt.started_at,
        ended_at=attempt.ended_at,
        duration_ms=attempt.duration_ms,
        message=attempt.message,
        error=attempt.error,
    )


def _latest(run: RunRecord) -> dict[str, Any]:
    """The run's own attempt. A run handed back for its next attempt (PENDING) or claimed for it (RUNNING)
    still holds the previous attempt's times and result: those are not this attempt's."""
    if run.status is TaskStatus.PENDING:
        return _entry(run, attempt=run.attempt, status=run.status)
    if run.status is TaskStatus.RUNNING:
        return _entry(run, attempt=run.attempt, status=run.status, started_at=run.started_at)
    return _entry(
        run,
        attempt=run.attempt,
        status=run.status,
        started_at=run.started_at,
        ended_at=run.ended_at,
        duration_ms=run.duration_ms,
        message=run.message,
        error=run.error,
        output=run.output,
        output_ref=payload_reference(run.ref.execution_id, run.output_ref),
        task_input=run.input,
        input_ref=payload_reference(run.ref.execution_id, run.input_ref),
    )


def _entry(
    run: RunRecord,
    attempt: int,
    status: TaskStatus,
    started_at: str | None = None,
    ended_at: str | None = None,
    duration_ms: int | None = None,
    message: str | None = None,
    error: str | None = None,
    output: Any = None,
    output_ref: dict[str, Any] | None = None,
    task_input: Any = None,
    input_ref: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "seq": run.ref.seq,
        "task_name": run.ref.task_name,
        "attempt": attempt,
        "status": status,
        "started_at": started_at,
        "ended_at": ended_at,
        "duration_ms": duration_ms,
        "message": message or None,
        "error": error or None,
        "output": output,
        "output_ref": output_ref,
        "input": task_input,
        "input_ref": input_ref,
    }


def history_document(execution: ExecutionRecord, runs: list[RunRecord], next_cursor: str | None) -> dict[str, Any]:
    return {
        "execution_id": shown(execution.execution_id),
        "status": execution.status,
        "events": [entry for run in runs for entry in run_entries(run)],
        "next_cursor": next_cursor,
    }
