"""How long the local stack keeps its table's stream records: until every reader is past them, 24 hours at most.

moto keeps every record forever (local/moto_patches.py). The stack's readers are the event source mapping's
emulation (`StreamPump`, through a `StreamCursor`) and the failure handler, which reads a failed batch again by
sequence number once its message comes off the failure queue. So a record can go once the pump's cursor is past
it and no failed batch at or below it is still waiting on the queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from local.moto_patches import trim_stream
from local.poller import Pump
from local.streams import StreamCursor

log = logging.getLogger("local.retention")

#: Seconds between two trims; the stream grows by a few hundred records a second at most.
TRIM_INTERVAL_SECONDS = 5.0


class StreamRetention:
    """The lowest sequence number the stack's readers still need, and the trim of the records below it."""

    def __init__(
        self,
        cursor: StreamCursor,
        shard: Callable[[], Any],
        moto_lock: AbstractContextManager[Any],
    ) -> None:
        self._cursor = cursor
        self._shard = shard  # moto's StreamShard of the table, looked up when trimming
        self._moto_lock = moto_lock  # held around the trim: moto's server thread reads the same list
        self._pins: Counter[int] = Counter()  # first sequence numbers of failed batches still on the queue
        self._pins_lock = threading.Lock()
        self.dropped = 0

    def pin(self, message: dict[str, Any]) -> None:
        """A failed batch went to the failure queue: keep its records until the failure handler has read them."""
        with self._pins_lock:
            self._pins[int(message["DDBStreamBatchInfo"]["startSequenceNumber"])] += 1

    def unpin(self, body: str) -> None:
        """The failure handler is done with a message of the queue (the body as the queue holds it)."""
        try:
            first = int(json.loads(body)["DDBStreamBatchInfo"]["startSequenceNumber"])
        except (ValueError, KeyError, TypeError):
            return  # not a failed batch of this stack's: it pinned nothing
        with self._pins_lock:
            if self._pins[first] > 0:
                self._pins[first] -= 1
            if self._pins[first] <= 0:
                del self._pins[first]

    def horizon(self) -> int | None:
        """The lowest sequence number still needed; None while the pump has not read (keep everything)."""
        position = self._cursor.low_water()
        if position is None:
            return None
        with self._pins_lock:
            return min([position, *self._pins])

    def trim(self) -> int:
        """Drop what no reader needs any more, and whatever is older than 24 hours."""
        keep_from = self.horizon()
        with self._moto_lock:
            shard = self._shard()
            dropped = trim_stream(shard, keep_from) if shard is not None else 0
        self.dropped += dropped
        if dropped:
            log.debug("dropped %d consumed stream record(s)", dropped)
        return dropped


class TrimmingPump:
    """A pump that trims the stream behind itself every `interval` seconds, on its own poller's thread.

    On the pump's thread, a trim never falls between reading a batch and sending a failed one to the queue.
    """

    def __init__(self, pump: Pump, retention: StreamRetention, interval: float = TRIM_INTERVAL_SECONDS) -> None:
        self._pump = pump
        self._retention = retention
        self._interval = interval
        self._next = time.monotonic() + interval

    def poll(self) -> int:
        delivered = self._pump.poll()
        if time.monotonic() >= self._next:
            self._next = time.monotonic() + self._interval
            self._retention.trim()
        return delivered
