"""How a run that awaits a completion, and a child execution's link to its parent, are stored.

A parked run's `callback` map holds its nonce and deadlines, and the completion once one arrived; a child
execution's item names its parent's run (`parent_id`, `parent_run`, `parent_attempt`, `parent_nonce`), which
also lets the stream's filter find children that ended.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.values import Item, int_or_none, n, output_json, ref_from, ref_item, s
from flowcore.domain.callbacks import Awaited, Completion
from flowcore.domain.records import ParentLink


def awaited_item(awaited: Awaited) -> Item:
    """A parked run's `callback` map: its nonce and deadlines (a completion is added by `completion_item`)."""
    entry: Item = {"nonce": s(awaited.nonce)}
    if awaited.timeout_at is not None:
        entry["timeout_at"] = n(awaited.timeout_at)
    if awaited.heartbeat_seconds is not None:
        entry["heartbeat_seconds"] = n(awaited.heartbeat_seconds)
    return {"M": entry}


def completion_item(completion: Completion) -> Item:
    entry: Item = {"succeeded": {"BOOL": completion.succeeded}, "at": s(completion.at or "")}
    if completion.output is not None:
        entry["output"] = s(output_json(completion.output))
    if completion.output_ref is not None:
        entry["output_ref"] = ref_item(completion.output_ref)
    if completion.error is not None:
        entry["error"] = s(completion.error)
    return {"M": entry}


def awaited_from(entry: dict[str, Any] | None) -> Awaited | None:
    """A run's `callback` map as plain values (an item's, or a stream image's)."""
    if entry is None:
        return None
    done = entry.get("completion")
    completion = None
    if done is not None:
        completion = Completion(
            succeeded=bool(done["succeeded"]),
            output=json.loads(done["output"]) if "output" in done else None,
            error=done.get("error"),
            at=done.get("at") or None,
            output_ref=ref_from(done.get("output_ref")),
        )
    return Awaited(
        nonce=str(entry["nonce"]),
        timeout_at=int_or_none(entry, "timeout_at"),
        heartbeat_seconds=int_or_none(entry, "heartbeat_seconds"),
        completion=completion,
    )


def parent_item(parent: ParentLink, depth: int) -> Item:
    """The attributes that make an execution item a child's."""
    return {
        "parent_id": s(parent.execution_id),
        "parent_run": s(keys.run_sk_of(parent.ref)),
        "parent_attempt": n(parent.attempt),
        "parent_nonce": s(parent.nonce),
        "depth": n(depth),
    }


def parent_from(item: Mapping[str, Any]) -> ParentLink | None:
    """A child execution's link to its parent's run (an item's attributes, or a stream image's, as plain values)."""
    if "parent_id" not in item:
        return None
    ref = keys.run_ref_of(keys.execution_pk(str(item["parent_id"])), str(item["parent_run"]))
    return ParentLink(ref.execution_id, ref.seq, ref.task_name, int(item["parent_attempt"]), str(item["parent_nonce"]))
