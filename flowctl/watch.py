"""Following an execution until it ends: a live Rich view of its tasks, refreshed by polling its status document."""

from __future__ import annotations

import json

import click
from rich.live import Live

from flowctl import render
from flowctl.client import ApiClient, ApiError, segment
from flowctl.command import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, Runtime

#: An execution's final statuses, and the exit code a watch ends with on each.
FINAL = {"COMPLETED": EXIT_OK, "FAILED": EXIT_FAILED, "TIMED_OUT": EXIT_STOPPED, "CANCELLED": EXIT_STOPPED}
POLL_SECONDS = 0.5


def flow_tasks(api: ApiClient, execution_id: str) -> list[str]:
    """The names of the tasks of the flow version the execution runs, in definition order (none if unreadable)."""
    try:
        version = api.get(f"/executions/{segment(execution_id)}/flow")
    except ApiError:
        return []
    return [str(task.get("name")) for task in (version.get("definition") or {}).get("tasks") or []]


def follow(rt: Runtime, api: ApiClient, execution_id: str, interval: float) -> int:
    """Poll the status document until the execution ends: live on the console, or silently with --output json
    (then the last document is printed). The exit code tells how it ended."""
    if rt.options.json:
        document = api.get(f"/executions/{segment(execution_id)}")
        while document.get("status") not in FINAL:
            rt.sleep(interval)
            document = api.get(f"/executions/{segment(execution_id)}")
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return FINAL[str(document["status"])]
    tasks = flow_tasks(api, execution_id)
    try:
        # Nothing else prints while it draws: sys.stdout and sys.stderr are left as they are.
        live_view = Live(console=rt.out, auto_refresh=False, redirect_stdout=False, redirect_stderr=False)
        with live_view as live:
            while True:
                document = api.get(f"/executions/{segment(execution_id)}")
                live.update(render.execution_view(document, tasks, rt.now()), refresh=True)
                if document.get("status") in FINAL:
                    return FINAL[str(document["status"])]
                rt.sleep(interval)
    finally:
        if not rt.out.is_terminal:
            # A file or a pipe gets the last view only, which Rich leaves without its line end.
            rt.out.line()
