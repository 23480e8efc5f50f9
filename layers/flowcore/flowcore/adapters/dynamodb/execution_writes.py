"""The conditional writes on executions. Their conditions accept the statuses the domain's transition table
allows each move from (`flowcore.domain.statuses`)."""

from __future__ import annotations

from flowcore.adapters.dynamodb.codec import joins_item
from flowcore.adapters.dynamodb.expressions import execution_key, status_in
from flowcore.adapters.dynamodb.table import Update
from flowcore.adapters.dynamodb.values import Item, n, s
from flowcore.domain.records import BranchChange
from flowcore.domain.statuses import ExecutionEvent, execution_after, execution_sources


def branches(execution_id: str, change: BranchChange, now: str) -> Update:
    """Move the branch count (and, when it reaches zero, the status) from the value the runner read; in a flow
    that can branch, with its joins and pool, from the revision it read."""
    names = {"#status": "status"}
    (running,) = execution_sources(ExecutionEvent.BRANCH)
    values: Item = {":running": s(running), ":open": n(change.open_branches)}
    sets = ["open_branches = :open"]
    condition = "#status = :running AND " + _unchanged(change, names, values, sets)
    if change.failed:
        sets.append("failed = :true")
        values[":true"] = {"BOOL": True}
    if change.error:
        sets.append("#error = if_not_exists(#error, :error)")
        names["#error"] = "error"
        values[":error"] = s(change.error)
    if change.final is not None:
        sets += ["#status = :final", "ended_at = :now"]
        values[":final"] = s(change.final)
        values[":now"] = s(now)
    removed = " REMOVE #joins" if change.joins is not None and not change.joins else ""
    return Update(
        key=execution_key(execution_id),
        expression="SET " + ", ".join(sets) + removed,
        names=names,
        values=values,
        condition=condition,
    )


def _unchanged(change: BranchChange, names: dict[str, str], values: Item, sets: list[str]) -> str:
    """The part of the condition that says the execution is as the runner read it, and what else is set."""
    if change.expected_rev is None:
        values[":expected"] = n(change.expected_open)
        return "open_branches = :expected"
    names["#rev"] = "rev"
    values[":rev"] = n(change.expected_rev + 1)
    sets.append("#rev = :rev")
    if change.runs_left is not None:
        values[":left"] = n(change.runs_left)
        sets.append("runs_left = :left")
    if change.joins:
        names["#joins"] = "joins"
        values[":joins"] = joins_item(change.joins)
        sets.append("#joins = :joins")
    elif change.joins is not None:
        names["#joins"] = "joins"
    if change.expected_rev == 0:
        return "attribute_not_exists(#rev)"
    values[":read"] = n(change.expected_rev)
    return "#rev = :read"


def stop(execution_id: str, event: ExecutionEvent, reason: str | None, now: str, counted: bool | None = None) -> Update:
    """End an execution whatever its branches are doing (transition limit, timeout, cancel, failure); when
    `counted` is given, only one that is (True) or is not (False) counted among its tenant's running ones."""
    sources = execution_sources(event)
    condition, values = status_in(tuple(str(status) for status in sources), "from")
    if counted is not None:
        condition = f"({condition}) AND " + ("counted = :true" if counted else "attribute_not_exists(counted)")
        if counted:
            values[":true"] = {"BOOL": True}
    names = {"#status": "status"}
    values.update({":final": s(execution_after(sources[0], event)), ":now": s(now)})
    expression = "SET #status = :final, ended_at = :now"
    if reason:
        expression += ", #error = :error"
        names["#error"] = "error"
        values[":error"] = s(reason)
    return Update(
        key=execution_key(execution_id),
        expression=expression,
        names=names,
        values=values,
        condition=condition,
    )


def start(execution_id: str, now: str, counted: bool = False) -> Update:
    """CREATED -> RUNNING (`counted`: taking a place among its tenant's running executions). The stream record
    of this change dispatches the start task."""
    (created,) = execution_sources(ExecutionEvent.START)
    values: Item = {
        ":running": s(execution_after(created, ExecutionEvent.START)),
        ":created": s(created),
        ":now": s(now),
    }
    expression = "SET #status = :running, started_at = :now"
    if counted:
        expression += ", counted = :true"
        values[":true"] = {"BOOL": True}
    return Update(
        key=execution_key(execution_id),
        expression=expression,
        names={"#status": "status"},
        values=values,
        condition="#status = :created",
    )
