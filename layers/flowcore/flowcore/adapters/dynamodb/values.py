"""DynamoDB's typed values: building them, and reading an item back as plain Python values.

Bulky values (definitions, inputs, outputs) are stored as JSON strings: no float/Decimal translation, and an
item's size is easy to predict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flowcore.domain.payloads import PayloadRef

type Item = dict[str, Any]


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: float) -> dict[str, str]:
    return {"N": str(value)}


def compact(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))


def output_json(output: Any) -> str:
    """A task's output as stored; values JSON cannot hold are written as their text."""
    return json.dumps(output, separators=(",", ":"), default=str)


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A typed DynamoDB item (as in GetItem answers and stream images) as plain Python values.

    What boto3's TypeDeserializer returns (numbers as Decimal), except binary values as bytes: importing
    boto3 for it cost the stream consumers ~10 ms of cold start, and no item of this table holds binary.
    """
    return {key: _value(value) for key, value in item.items()}


def _value(typed: dict[str, Any]) -> Any:
    kind, value = next(iter(typed.items()))
    if kind in {"S", "BOOL", "B"}:
        return value
    if kind == "N":
        return Decimal(value)
    if kind == "M":
        return plain(value)
    if kind == "L":
        return [_value(element) for element in value]
    if kind == "NULL":
        return None
    if kind in {"SS", "BS"}:
        return set(value)
    if kind == "NS":
        return {Decimal(number) for number in value}
    raise TypeError(f"not a DynamoDB type: {kind!r}")


def ref_item(ref: PayloadRef) -> Item:
    """A payload reference, as an item's `input_ref` or `output_ref` map holds it."""
    return {"M": {"key": s(ref.key), "size": n(ref.size), "sha256": s(ref.sha256)}}


def ref_from(entry: dict[str, Any] | None) -> PayloadRef | None:
    if entry is None:
        return None
    return PayloadRef(key=str(entry["key"]), size=int(entry["size"]), sha256=str(entry["sha256"]))


def int_or_none(item: Mapping[str, Any], name: str) -> int | None:
    return int(item[name]) if name in item else None
