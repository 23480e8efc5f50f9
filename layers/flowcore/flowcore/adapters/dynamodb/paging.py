"""Cursors: DynamoDB's LastEvaluatedKey, opaque to callers, and checked when it comes back."""

from __future__ import annotations

import base64
import binascii
import json

from flowcore.adapters.dynamodb.codec import Item
from flowcore.domain.errors import BadRequest

_NOT_OURS = "the cursor is not one this service issued"


def encode_cursor(key: Item | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def decode_cursor(cursor: str | None) -> Item | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as error:
        raise BadRequest(_NOT_OURS) from error
    if not isinstance(key, dict):
        raise BadRequest(_NOT_OURS)
    return key
