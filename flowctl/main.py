"""The `flowctl` command: one Click command per API operation a person or a script needs (exit codes:
`flowctl.command`)."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click

from flowctl import __version__, render
from flowctl.client import ApiClient, FlowctlError, segment
from flowctl.command import CONTEXT, EXIT_OK, FlowctlGroup, JsonValue, Runtime, global_options, runtime
from flowctl.watch import POLL_SECONDS, flow_tasks, follow

STATUSES = ("CREATED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
#: The API's page sizes at most: listings, and task runs of the history.
PAGE, HISTORY_PAGE = 100, 50


@click.group(name="flowctl", cls=FlowctlGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="flowctl")
@global_options
def cli() -> None:
    """Flow Manager from the command line: store flows, run them, watch them, approve what waits.

    Exit codes: 0 done or COMPLETED, 1 FAILED, 2 TIMED_OUT or CANCELLED (the last two with `run --watch` and
    `status --watch`), 3 a usage, connection or API error, 130 interrupted. The global options are accepted before
    the command and after it.
    """
    runtime()


# -- flows ------------------------------------------------------------------------------------------------------


@cli.group(context_settings=CONTEXT)
@global_options
def flows() -> None:
    """Store, list and read flow definitions."""


@flows.command("create")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@global_options
def flows_create(file: Any) -> None:
    """Store the flow definition in FILE (JSON, flat or wrapped as {"flow": ...}; `-`: standard input).

    A definition that differs from the flow's latest version becomes its next version; the same one again
    stores nothing."""
    try:
        definition = json.load(file)
    except ValueError as error:
        raise click.BadParameter(f"{file.name} is not JSON ({error})", param_hint="FILE") from error
    rt = runtime()
    with rt.client() as api:
        answer = api.post("/flows", definition)
    if answer.get("created"):
        line = f"stored flow {answer.get('flow_id')} version {answer.get('version')}"
    else:
        line = f"flow {answer.get('flow_id')} unchanged: version {answer.get('version')} already holds this definition"
    rt.emit(answer, lambda: line)


@flows.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Flows to show at most.")
@global_options
def flows_list(limit: int) -> None:
    """List the stored flows (every page, up to --limit)."""
    rt = runtime()
    with rt.client() as api:
        items, more = api.collect("/flows", "flows", limit, {"limit": min(limit, PAGE)})
    rt.emit({"flows": items}, lambda: render.flows_table(items))
    _more(rt, more, "flows")


@flows.command("show")
@click.argument("flow_id", metavar="ID")
@click.option("--version", type=click.IntRange(min=1), help="A version (default: the latest).")
@global_options
def flows_show(flow_id: str, version: int | None) -> None:
    """Show a flow's definition: its tasks and conditions."""
    rt = runtime()
    with rt.client() as api:
        document = api.get(f"/flows/{segment(flow_id)}", version=version)
    rt.emit(document, lambda: render.flow_view(document))


# -- executions -------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("flow_id")
@click.option("--input", "value", type=JsonValue(), help="The execution's input: JSON, or @FILE (@- for stdin).")
@click.option("--watch", "-w", is_flag=True, help="Follow the execution live until it ends; exit by its status.")
@click.option("--idempotency-key", metavar="KEY", help="The same key again answers the execution it started.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=POLL_SECONDS, show_default=True, hidden=True)
@global_options
def run(flow_id: str, value: Any, watch: bool, idempotency_key: str | None, interval: float) -> int:
    """Start an execution of FLOW_ID's latest version."""
    rt = runtime()
    headers = {"idempotency-key": idempotency_key} if idempotency_key else None
    with rt.client() as api:
        started = api.post(f"/flows/{segment(flow_id)}/executions", {} if value is None else {"input": value}, headers)
        if watch:
            return follow(rt, api, str(started["execution_id"]), interval)
    execution_id = started.get("execution_id")
    rt.emit(
        started,
        lambda: (
            f"started execution {execution_id} (flow {started.get('flow_id')} v{started.get('flow_version')}, "
            f"{started.get('status')}); follow it with: flowctl status {execution_id} --watch"
        ),
    )
    return EXIT_OK


@cli.command()
@click.argument("execution_id", metavar="ID")
@click.option("--watch", "-w", is_flag=True, help="Follow it live until it ends; exit by its status.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=POLL_SECONDS, show_default=True, hidden=True)
@global_options
def status(execution_id: str, watch: bool, interval: float) -> int:
    """Show an execution and each of its tasks (status, attempt, elapsed time)."""
    rt = runtime()
    with rt.client() as api:
        if watch:
            return follow(rt, api, execution_id, interval)
        document = api.get(f"/executions/{segment(execution_id)}")
        tasks = [] if rt.options.json else flow_tasks(api, execution_id)
    rt.emit(document, lambda: render.execution_view(document, tasks, rt.now()))
    return EXIT_OK


@cli.command()
@click.argument("execution_id", metavar="ID")
@global_options
def history(execution_id: str) -> None:
    """Every attempt of every task run of an execution, in path order (every page)."""
    rt = runtime()
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    with rt.client() as api:
        while True:
            page = api.get(f"/executions/{segment(execution_id)}/history", limit=HISTORY_PAGE, cursor=cursor)
            events.extend(page.get("events") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                break
    document = {"execution_id": page.get("execution_id"), "status": page.get("status"), "events": events}
    rt.emit(document, lambda: render.history_table(events))


@cli.command("list")
@click.option("--flow", "flow_id", metavar="ID", help="One flow's executions (default: every flow's).")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), help="Only executions in this status.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Executions at most.")
@global_options
def list_executions(flow_id: str | None, status: str | None, limit: int) -> None:
    """List executions, newest first: one flow's, or every flow's."""
    rt = runtime()
    query = {"status": status.upper() if status else None, "limit": min(limit, PAGE)}
    with rt.client() as api:
        if flow_id:
            items, more = api.collect("/executions", "executions", limit, {**query, "flow_id": flow_id})
        else:
            items, more = [], False
            flow_ids = [flow["flow_id"] for flow in api.collect("/flows", "flows", None, {"limit": PAGE})[0]]
            for each in flow_ids:
                found, truncated = api.collect("/executions", "executions", limit, {**query, "flow_id": each})
                items.extend(found)
                more = more or truncated
            items.sort(key=lambda execution: str(execution.get("created_at") or ""), reverse=True)
            more = more or len(items) > limit
            items = items[:limit]
    rt.emit({"executions": items}, lambda: render.executions_table(items, rt.now()))
    _more(rt, more, "executions")


@cli.command()
@click.argument("execution_id", metavar="ID")
@global_options
def cancel(execution_id: str) -> None:
    """Cancel a CREATED or RUNNING execution."""
    rt = runtime()
    with rt.client() as api:
        answer = api.post(f"/executions/{segment(execution_id)}/cancel")
    rt.emit(answer, lambda: f"execution {execution_id} is {answer.get('status')}")


@cli.command()
@click.argument("target", metavar="TOKEN")
@click.option("--reject", is_flag=True, help="Complete it as a failure (the task takes its failure path).")
@click.option("--result", "result", type=JsonValue(), help="The task's output on approval: JSON, or @FILE.")
@click.option("--reason", metavar="TEXT", help="With --reject: why (the task's error).")
@click.option("--task", "task_name", metavar="NAME", help="With an execution id: which waiting task.")
@global_options
def approve(target: str, reject: bool, result: Any, reason: str | None, task_name: str | None) -> None:
    """Complete a task that waits for its callback: approve it, or --reject it.

    TOKEN is the callback's token, or its URL (`task_results.<task>.callback.url`), or an execution id: then the
    task of that execution that waits for its callback (--task NAME when several do)."""
    rt = runtime()
    if result is None and rt.options.approval is not None:  # `approve --output JSON`, as the issue spelled it
        result = JsonValue().convert(rt.options.approval, None, click.get_current_context())
    if reject and result is not None:
        raise click.UsageError("--result is the output of an approval; a rejection carries --reason")
    if reason is not None and not reject:
        raise click.UsageError("--reason goes with --reject")
    body: dict[str, Any] = {"outcome": "failure" if reject else "success"}
    if reject and reason is not None:
        body["error"] = reason
    if result is not None:
        body["output"] = result
    with rt.client() as api:
        token = callback_token(api, target, task_name)
        answer = api.post(f"/callbacks/{segment(token)}", body)
    rt.emit(answer, lambda: render.callback_line(answer))


def callback_token(api: ApiClient, target: str, task_name: str | None) -> str:
    """The token TARGET gives: itself, the last part of a callback URL, or the waiting task's of an execution."""
    if "/callbacks/" in target:
        target = target.split("/callbacks/", 1)[1].split("?", 1)[0].strip("/")
    if "." in target:
        if task_name:
            raise click.UsageError("--task goes with an execution id, not with a token")
        return target
    document = api.get(f"/executions/{segment(target)}")
    waiting = render.waiting_callbacks(document)
    if task_name:
        if task_name not in waiting:
            raise FlowctlError(f"task {task_name} of execution {target} does not wait for a callback")
        waiting = [task_name]
    if not waiting:
        raise FlowctlError(f"no task of execution {target} waits for a callback (status {document.get('status')})")
    if len(waiting) > 1:
        raise FlowctlError(
            f"{len(waiting)} tasks of execution {target} wait: choose one with --task ({', '.join(waiting)})"
        )
    return str(document["task_results"][waiting[0]]["callback"]["token"])


def _more(rt: Runtime, more: bool, what: str) -> None:
    if more and not rt.options.json:
        rt.out.print(f"(more {what} than shown: raise --limit)", style="dim")


def app() -> NoReturn:
    """The console script's entry point."""
    cli.main(prog_name="flowctl")
