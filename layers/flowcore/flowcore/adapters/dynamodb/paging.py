"""Cursors: a position in one query (DynamoDB's LastEvaluatedKey), opaque to callers, and checked against the
query it came from when it comes back.

A cursor carries a tag of its query (the listing and its filters) and the key attributes of a position. One
whose tag is another query's, whose attributes are not the query's key shape, or whose key is not a position
that query can reach is refused with 400 before DynamoDB sees it: so a forged or edited cursor can at most
name another real position of the same query, and never turns into a DynamoDB error. No key is needed: what
is checked is what the cursor says, against what the query can be.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowcore.adapters.dynamodb.values import Item
from flowcore.domain.errors import BadRequest

_NOT_OURS = "the cursor is not one this service issued"
_OTHER_QUERY = "the cursor belongs to another query (a different listing, or different filters)"
_NOT_A_POSITION = "the cursor does not name a position in this listing"
#: DynamoDB's limit on a sort key (a partition key may be 2048): more than any key of this table holds.
_MAX_KEY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class KeyShape:
    """The string attributes a position of a query has: the table's key, and the index's when it reads one."""

    names: tuple[str, ...]


def _tag(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:16]


def encode_cursor(key: Item | None, query: str) -> str | None:
    """The cursor after `key` (None: there is no next page), bound to `query`."""
    if not key:
        return None
    position = {name: value["S"] for name, value in key.items()}
    text = json.dumps({"q": _tag(query), "p": position}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str | None, query: str, shape: KeyShape, reachable: Callable[[dict[str, str]], bool]
) -> Item | None:
    """The ExclusiveStartKey `cursor` names in `query`; `BadRequest` when it is not one."""
    if not cursor:
        return None
    payload = _payload(cursor)
    if payload.get("q") != _tag(query):
        raise BadRequest(_OTHER_QUERY)
    position = payload.get("p")
    if not isinstance(position, dict) or not _well_formed(position, shape) or not reachable(position):
        raise BadRequest(_NOT_A_POSITION)
    return {name: {"S": value} for name, value in position.items()}


def _payload(cursor: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as error:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadRequest(_NOT_OURS) from error
    if not isinstance(payload, dict):
        raise BadRequest(_NOT_OURS)
    return payload


def _well_formed(position: dict[str, Any], shape: KeyShape) -> bool:
    return sorted(position) == sorted(shape.names) and all(_key_string(value) for value in position.values())


def _key_string(value: Any) -> bool:
    """A string DynamoDB takes as a key: not empty, valid UTF-8 (JSON can carry lone surrogates), not too long."""
    if not isinstance(value, str):
        return False
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        return False
    return 0 < size <= _MAX_KEY_BYTES
