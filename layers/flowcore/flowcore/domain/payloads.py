"""Values too large for an item: stored whole elsewhere (S3), the item keeping a reference.

A task's output and an execution's input are inline up to `INLINE_LIMIT` bytes as compact JSON; from there
up to `MAX_PAYLOAD_BYTES` they live in the payload store, content-addressed under their execution (the same
value stored twice is one object), and read back as if inline. Above that, a task fails with the size in its
error, and a request is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flowcore.domain.errors import FlowError

#: Bytes of compact JSON kept inside an item (a run or execution item stays well under DynamoDB's 400 KB).
INLINE_LIMIT = 32_000
#: The largest value a task may output or an execution receive.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


def encoded(value: Any) -> bytes:
    """A value as it is measured and stored: compact JSON, values JSON cannot hold written as their text (as
    outputs always were)."""
    return json.dumps(value, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True, slots=True)
class PayloadRef:
    """Where a large value lives: its key in the payload store, its size in bytes and its SHA-256."""

    key: str
    size: int
    sha256: str


class OversizedPayload(FlowError):
    """A value over `MAX_PAYLOAD_BYTES`, refused by the payload store: a task that outputs it fails with this
    message, which gives the size."""

    def __init__(self, size: int, limit: int = MAX_PAYLOAD_BYTES) -> None:
        super().__init__(f"the value is {size} bytes as JSON; at most {limit} bytes can be stored")
        self.size = size
        self.limit = limit
