"""What the run and execution writes share: their keys, and conditions on an item's absence or status."""

from __future__ import annotations

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.table import key
from flowcore.adapters.dynamodb.values import Item, s
from flowcore.domain.records import RunRef

ABSENT_ITEM = "attribute_not_exists(pk)"


def run_key(ref: RunRef) -> Item:
    return key(keys.execution_pk(ref.execution_id), keys.run_sk_of(ref))


def execution_key(execution_id: str) -> Item:
    return key(keys.execution_pk(execution_id), keys.META)


def status_in(statuses: tuple[str, ...], prefix: str) -> tuple[str, Item]:
    """`#status IN (:<prefix>0, ...)` and its values."""
    names = [f":{prefix}{index}" for index in range(len(statuses))]
    return f"#status IN ({', '.join(names)})", {name: s(status) for name, status in zip(names, statuses, strict=True)}
