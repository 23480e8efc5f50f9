"""Items as DynamoDB types them, to and from the domain's records.

Bulky values (definitions, inputs, outputs) are stored as JSON strings: no float/Decimal translation, and
an item's size is easy to predict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.values import Item, compact, int_or_none, n, ref_from, ref_item, s
from flowcore.adapters.dynamodb.waits import awaited_from, parent_from, parent_item
from flowcore.domain.flow import FlowSpec
from flowcore.domain.records import (
    AttemptRecord,
    EndedAttempt,
    ExecutionRecord,
    FlowHead,
    FlowRecord,
    JoinState,
    RunRecord,
)
from flowcore.domain.statuses import ExecutionStatus, TaskStatus


def execution_from(item: dict[str, Any]) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=item["execution_id"],
        flow_id=item["flow_id"],
        flow_version=int(item["flow_version"]),
        flow_name=item.get("flow_name", ""),
        status=ExecutionStatus(item["status"]),
        input=json.loads(item.get("input", "{}")),
        created_at=item["created_at"],
        started_at=item.get("started_at"),
        ended_at=item.get("ended_at"),
        error=item.get("error"),
        open_branches=int(item.get("open_branches", 1)),
        failed=bool(item.get("failed", False)),
        idempotency_key=item.get("idempotency_key"),
        input_hash=item.get("input_hash"),
        joins={join: _join_from(entry) for join, entry in item.get("joins", {}).items()},
        runs_left=int_or_none(item, "runs_left"),
        rev=int(item.get("rev", 0)),
        input_ref=ref_from(item.get("input_ref")),
        parent=parent_from(item),
        depth=int(item.get("depth", 0)),
        counted=bool(item.get("counted", False)),
    )


def joins_item(joins: Mapping[str, JoinState]) -> Item:
    """The execution's join points, as its `joins` map holds them."""
    return {"M": {join: {"M": _join_item(entry)} for join, entry in joins.items()}}


def _join_item(entry: JoinState) -> Item:
    item: Item = {
        "c": n(entry.reaching),
        "n": n(entry.waiting),
        "w": {"L": [s(label) for label in entry.labels]},
        "s": n(entry.last_seq),
    }
    if entry.failed:
        item["f"] = {"BOOL": True}
    return item


def _join_from(entry: dict[str, Any]) -> JoinState:
    return JoinState(
        reaching=int(entry["c"]),
        waiting=int(entry.get("n", 0)),
        labels=tuple(entry.get("w", ())),
        last_seq=int(entry.get("s", 0)),
        failed=bool(entry.get("f", False)),
    )


def execution_item(record: ExecutionRecord, expires_at: int) -> Item:
    item: Item = {
        "pk": s(keys.execution_pk(record.execution_id)),
        "sk": s(keys.META),
        "execution_id": s(record.execution_id),
        "flow_id": s(record.flow_id),
        "flow_version": n(record.flow_version),
        "flow_name": s(record.flow_name),
        "status": s(record.status),
        # An input kept in the payload store: `input` is JSON null and `input_ref` says where the value is.
        "input": s(compact(None if record.input_ref else record.input)),
        "created_at": s(record.created_at),
        "open_branches": n(1),
        "gsi1pk": s(keys.flow_pk(record.flow_id)),
        "gsi1sk": s(keys.executions_of_flow_sk(record.created_at, record.execution_id)),
        "expires_at": n(expires_at),
    }
    if record.started_at:
        item["started_at"] = s(record.started_at)
    if record.idempotency_key:
        item["idempotency_key"] = s(record.idempotency_key)
        item["input_hash"] = s(record.input_hash or "")
    if record.input_ref:
        item["input_ref"] = ref_item(record.input_ref)
    if record.parent is not None:
        item.update(parent_item(record.parent, record.depth))
    if record.counted:
        item["counted"] = {"BOOL": True}
    return item


def run_from(item: dict[str, Any]) -> RunRecord:
    output = item.get("output")
    return RunRecord(
        ref=keys.run_ref_of(item["pk"], item["sk"]),
        status=TaskStatus(item["status"]),
        attempt=int(item.get("attempt", 1)),
        started_at=item.get("started_at"),
        ended_at=item.get("ended_at"),
        duration_ms=int_or_none(item, "duration_ms"),
        output=json.loads(output) if output is not None else None,
        message=item.get("message"),
        error=item.get("error"),
        claim=item.get("claim"),
        lease_until=int_or_none(item, "lease_until"),
        atomic=bool(item.get("atomic", False)),
        wait_until=int_or_none(item, "wait_until"),
        attempts=tuple(_attempt_from(entry) for entry in item.get("attempts", ())),
        budget=int_or_none(item, "budget"),
        arrived=tuple(item.get("arrived", ())),
        merged=int(item.get("merged", 0)),
        arrived_total=int_or_none(item, "arrived_total"),
        output_ref=ref_from(item.get("output_ref")),
        input=json.loads(item["input"]) if "input" in item else None,
        input_ref=ref_from(item.get("input_ref")),
        predecessor=item.get("from"),
        routed=tuple(item["routed"]) if "routed" in item else None,
        awaited=awaited_from(item.get("callback")),
        child=item.get("child"),
    )


def attempt_item(ended: EndedAttempt) -> Item:
    """An attempt that is tried again, as the run item's `attempts` list keeps it."""
    result = ended.result
    entry: Item = {
        "attempt": n(ended.attempt),
        "status": s(result.status),
        "started_at": s(ended.started_at),
        "ended_at": s(ended.ended_at),
        "duration_ms": n(ended.duration_ms),
    }
    if result.message:
        entry["message"] = s(result.message)
    if result.error:
        entry["error"] = s(result.error)
    return {"M": entry}


def _attempt_from(entry: dict[str, Any]) -> AttemptRecord:
    return AttemptRecord(
        attempt=int(entry["attempt"]),
        status=TaskStatus(entry["status"]),
        started_at=entry.get("started_at"),
        ended_at=entry.get("ended_at"),
        duration_ms=int_or_none(entry, "duration_ms"),
        message=entry.get("message"),
        error=entry.get("error"),
    )


def flow_from(item: dict[str, Any]) -> FlowRecord:
    return FlowRecord(
        flow_id=item["flow_id"],
        version=int(item["version"]),
        name=item["name"],
        created_at=item["created_at"],
        definition=FlowSpec.from_json(item["definition"]),
        content_hash=item["content_hash"],
    )


def flow_head_from(item: dict[str, Any]) -> FlowHead:
    return FlowHead(
        flow_id=item["flow_id"],
        name=item["name"],
        latest_version=int(item["latest_version"]),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
    )
