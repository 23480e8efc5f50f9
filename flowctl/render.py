"""What a person reads (`--output table`, the default): Rich tables of the API's documents. Values from the API are
always `Text`, never markup."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

STYLES = {
    "COMPLETED": "bold green",
    "SUCCESS": "green",
    "FAILED": "bold red",
    "FAILURE": "red",
    "RUNNING": "yellow",
    "WAITING": "magenta",
    "CREATED": "cyan",
    "PENDING": "dim",
    "CANCELLED": "bright_black",
    "TIMED_OUT": "bright_red",
    "SKIPPED": "dim",
}
#: What a task of the flow that has not run yet shows.
NOT_RUN = "-"
NOTE_CHARS = 120


def styled(status: str | None) -> Text:
    return Text(status or NOT_RUN, style=STYLES.get(status or "", ""))


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def duration(seconds: float) -> str:
    """Compact, as kubectl writes ages: 340ms, 1.2s, 4m11s, 2h03m, 3d04h."""
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def elapsed(start: Any, end: Any, now: datetime) -> str:
    """From `start` to `end`, or to `now` while there is no end; empty before a start."""
    began = parse_time(start)
    if began is None:
        return ""
    finish = end if isinstance(end, datetime) else parse_time(end)
    return duration(((finish or now) - began).total_seconds())


def when(value: Any) -> str:
    """An API timestamp as `YYYY-MM-DD HH:MM:SS` (UTC)."""
    moment = parse_time(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def short(value: Any, limit: int = NOTE_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: The columns that wrap when the terminal is narrow (free text, and dates at their space), while names and ids
#: keep their line.
WRAPPING = frozenset({"NAME", "DESCRIPTION", "WHEN", "NOTE", "ERROR", "CREATED", "UPDATED", "STARTED"})


#: The widest a name or id column keeps whole on a narrow terminal.
KEEP_WHOLE = 64


class Listing(Table):
    """A table whose names, ids and statuses keep their line (and so stay whole to copy) on a narrow terminal:
    the free-text columns wrap instead."""

    def __init__(self, *columns: str, wrap: frozenset[str] = WRAPPING) -> None:
        super().__init__(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for column in columns:
            self.add_column(column, overflow="fold", no_wrap=column not in wrap, min_width=len(column))

    def add_row(self, *cells: Any, **settings: Any) -> None:
        super().add_row(*cells, **settings)
        for column, cell in zip(self.columns, cells, strict=False):
            if column.no_wrap and isinstance(cell, Text):
                column.min_width = max(column.min_width or 0, min(cell.cell_len, KEEP_WHOLE))


def _table(*columns: str, wrap: frozenset[str] = WRAPPING) -> Listing:
    return Listing(*columns, wrap=wrap)


def flows_table(flows: Iterable[dict[str, Any]]) -> Table:
    table = _table("FLOW", "VERSION", "NAME", "UPDATED")
    for flow in flows:
        table.add_row(
            Text(str(flow.get("flow_id", ""))),
            Text(str(flow.get("latest_version", ""))),
            Text(str(flow.get("name") or "")),
            Text(when(flow.get("updated_at") or flow.get("created_at"))),
        )
    return table


def flow_view(document: dict[str, Any]) -> Group:
    """A flow version: who it is, its tasks in order, and the conditions between them."""
    definition = document.get("definition") or {}
    start = definition.get("start_task")
    header = Text.assemble(
        ("flow ", "dim"),
        (str(document.get("flow_id", "")), "bold"),
        ("  version ", "dim"),
        str(document.get("version", "")),
        ("  stored ", "dim"),
        when(document.get("created_at")),
    )
    parts: list[RenderableType] = [header, Text(str(document.get("name") or definition.get("name") or ""))]
    tasks = _table("TASK", "TYPE", "DESCRIPTION")
    for task in definition.get("tasks") or []:
        name = str(task.get("name", ""))
        label = Text(name, style="bold") if name == start else Text(name)
        if name == start:
            label.append(" (start)", style="dim")
        tasks.add_row(label, Text(str(task.get("type", ""))), Text(str(task.get("description") or "")))
    parts.append(tasks)
    conditions = definition.get("conditions") or []
    if conditions:
        table = _table("CONDITION", "FROM", "OUTCOME", "WHEN", "THEN", "ELSE")
        for condition in conditions:
            rule = condition.get("when")
            table.add_row(
                Text(str(condition.get("name", ""))),
                Text(str(condition.get("source_task", ""))),
                Text(str(condition.get("outcome", ""))),
                Text(rule_text(rule) if rule is not None else ""),
                Text(str(condition.get("target_task_success", ""))),
                Text(str(condition.get("target_task_failure", ""))),
            )
        parts.append(table)
    else:
        parts.append(Text("no conditions: the tasks run in list order", style="dim"))
    return Group(*parts)


OPERATORS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "not_exists": "not exists"}


def rule_text(rule: Any) -> str:
    """A condition's `when` as one line: `records_fetched > 100`, `a and (b or not c)`."""
    if not isinstance(rule, dict):
        return short(rule)
    if "path" in rule and "op" in rule:
        op = str(rule["op"])
        text = f"{rule['path']} {OPERATORS.get(op, op)}"
        return text if op in {"exists", "not_exists"} else f"{text} {short(rule.get('value'))}"
    if "expr" in rule:
        return str(rule["expr"])
    for key, joiner in (("all", " and "), ("any", " or ")):
        if isinstance(rule.get(key), list):
            return joiner.join(_grouped(member) for member in rule[key])
    if "not" in rule:
        return f"not {_grouped(rule['not'])}"
    return short(rule)


def _grouped(rule: Any) -> str:
    text = rule_text(rule)
    return f"({text})" if isinstance(rule, dict) and {"all", "any"} & set(rule) else text


def executions_table(executions: Iterable[dict[str, Any]], now: datetime) -> Table:
    """One line per execution; why one failed is in its status (`flowctl status ID`)."""
    # "unhandled-failure v1" may break at its space: the execution id is what a reader copies.
    table = _table("EXECUTION", "FLOW", "STATUS", "AGE", "DURATION", wrap=WRAPPING | {"FLOW"})
    for execution in executions:
        table.add_row(
            Text(str(execution.get("execution_id", ""))),
            Text(f"{execution.get('flow_id', '')} v{execution.get('flow_version', '')}"),
            styled(execution.get("status")),
            Text(elapsed(execution.get("created_at"), now, now)),
            Text(elapsed(execution.get("started_at"), execution.get("ended_at"), now)),
        )
    return table


def task_order(document: dict[str, Any], flow_tasks: Sequence[str]) -> list[str]:
    """The flow's tasks in definition order, then any other task the execution ran (in path order)."""
    names = list(flow_tasks)
    results = document.get("task_results") or {}
    for name in [*(document.get("path") or []), *results]:
        if name not in names:
            names.append(name)
    return names


def waiting_callbacks(document: dict[str, Any]) -> list[str]:
    """The tasks that wait for their callback now."""
    results = document.get("task_results") or {}
    return [name for name, run in results.items() if run.get("status") == "WAITING" and run.get("callback")]


def execution_view(document: dict[str, Any], flow_tasks: Sequence[str], now: datetime) -> Group:
    """An execution and each of its tasks: status, attempt, elapsed time, and what went wrong or waits."""
    status = document.get("status")
    header = Text.assemble(
        ("execution ", "dim"),
        (str(document.get("execution_id", "")), "bold"),
        "  ",
        f"{document.get('flow_id', '')} v{document.get('flow_version', '')}",
        "  ",
        styled(status),
        "  ",
        elapsed(document.get("started_at"), document.get("ended_at"), now),
    )
    table = _table("TASK", "STATUS", "ATTEMPT", "ELAPSED", "NOTE")
    results = document.get("task_results") or {}
    # A task still running or waiting when the execution ended (timed out, cancelled) counts up to that end.
    until = parse_time(document.get("ended_at")) or now
    for name in task_order(document, flow_tasks):
        run = results.get(name)
        if run is None:
            table.add_row(Text(name, style="dim"), styled(None), Text(""), Text(""), Text(""))
            continue
        running = run.get("status") in {"RUNNING", "WAITING"}
        table.add_row(
            Text(name),
            styled(run.get("status")),
            Text(str(run.get("attempts") or "")),
            Text(elapsed(run.get("started_at"), until if running else run.get("ended_at"), now)),
            Text(_note(run)),
        )
    parts: list[RenderableType] = [header, table]
    if document.get("error"):
        parts.append(Text.assemble(("error: ", "red"), short(document["error"], 400)))
    waiting = [] if document.get("ended_at") else waiting_callbacks(document)
    for name in waiting:
        task = f" --task {name}" if len(waiting) > 1 else ""
        parts.append(
            Text.assemble(
                (f"{name} waits for its callback: ", "magenta"),
                f"flowctl approve {document.get('execution_id', '')}{task} [--reject]",
            )
        )
    return Group(*parts)


def _note(run: dict[str, Any]) -> str:
    waiting = run.get("status") == "WAITING"
    if waiting and run.get("callback"):
        return "waiting for its callback"
    if run.get("child_execution_id"):
        return f"child execution {run['child_execution_id']}"
    if waiting and run.get("error"):
        return short(f"to be tried again after: {run['error']}")
    return short(run["error"]) if run.get("error") else ""


def history_table(events: Iterable[dict[str, Any]]) -> Table:
    table = _table("#", "TASK", "ATTEMPT", "STATUS", "STARTED", "DURATION", "ERROR")
    for event in events:
        took = event.get("duration_ms")
        table.add_row(
            Text(str(event.get("seq", ""))),
            Text(str(event.get("task_name", ""))),
            Text(str(event.get("attempt", ""))),
            styled(event.get("status")),
            Text(when(event.get("started_at"))),
            Text(duration(took / 1000) if isinstance(took, int | float) else ""),
            Text(short(event["error"]) if event.get("error") else ""),
        )
    return table


def callback_line(answer: dict[str, Any]) -> Text:
    outcome = answer.get("outcome")
    verb = "approved" if outcome == "success" else "rejected"
    line = Text.assemble(
        (verb, "green" if outcome == "success" else "red"),
        f" {answer.get('task_name', '')} (attempt {answer.get('attempt', '')}) of execution ",
        (str(answer.get("execution_id", "")), "bold"),
    )
    if outcome == "failure" and answer.get("error"):
        line.append(f": {short(answer['error'])}")
    return line
