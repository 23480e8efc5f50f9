"""local/retention.py: what the stack's stream readers still need decides what the trim keeps."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from local.retention import StreamRetention, TrimmingPump

START = 1_000


class Cursor:
    def __init__(self, low: int | None) -> None:
        self.low = low

    def low_water(self) -> int | None:
        return self.low


def shard(count: int, age: timedelta = timedelta(0)) -> Any:
    stamp = datetime.now(UTC) - age
    records = [SimpleNamespace(record={"dynamodb": {"ApproximateCreationDateTime": stamp}}) for _ in range(count)]
    return SimpleNamespace(items=records, starting_sequence_number=START)


def failed_batch(first: int) -> dict[str, Any]:
    return {"DDBStreamBatchInfo": {"startSequenceNumber": str(first), "endSequenceNumber": str(first + 1)}}


def retention(cursor: Cursor, stream: Any) -> StreamRetention:
    return StreamRetention(cursor, lambda: stream, threading.Lock())  # type: ignore[arg-type]


def test_records_the_pump_has_read_are_dropped() -> None:
    stream = shard(10)

    assert retention(Cursor(START + 7), stream).trim() == 7
    assert stream.starting_sequence_number == START + 7
    assert len(stream.items) == 3


def test_nothing_is_dropped_before_the_pump_reads() -> None:
    stream = shard(10)

    assert retention(Cursor(None), stream).trim() == 0
    assert len(stream.items) == 10


def test_a_failed_batch_on_the_queue_is_kept_until_its_handler_is_done() -> None:
    stream = shard(10)
    kept = retention(Cursor(START + 10), stream)
    kept.pin(failed_batch(START + 4))

    assert kept.trim() == 4
    kept.unpin(json.dumps(failed_batch(START + 4)))
    assert kept.trim() == 6
    assert stream.items == []


def test_a_batch_sent_twice_stays_pinned_until_both_are_handled() -> None:
    kept = retention(Cursor(START + 10), shard(10))
    kept.pin(failed_batch(START + 2))
    kept.pin(failed_batch(START + 2))

    kept.unpin(json.dumps(failed_batch(START + 2)))
    assert kept.horizon() == START + 2
    kept.unpin(json.dumps(failed_batch(START + 2)))
    assert kept.horizon() == START + 10


def test_messages_of_other_kinds_pin_nothing() -> None:
    kept = retention(Cursor(START + 3), shard(3))

    kept.unpin("not json")
    kept.unpin(json.dumps({"other": 1}))
    assert kept.horizon() == START + 3


def test_records_older_than_a_day_go_even_when_pinned() -> None:
    stream = shard(5, age=timedelta(hours=25))
    kept = retention(Cursor(START), stream)
    kept.pin(failed_batch(START))

    assert kept.trim() == 5


def test_the_trimming_pump_trims_behind_its_pump_at_its_interval() -> None:
    stream = shard(4)
    polls: list[int] = []

    class Pump:
        def poll(self) -> int:
            polls.append(1)
            return 1

    pump = TrimmingPump(Pump(), retention(Cursor(START + 4), stream), interval=0.0)

    assert pump.poll() == 1
    assert stream.items == []
    assert polls == [1]
