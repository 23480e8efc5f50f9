"""A DynamoDB Streams client for `StreamPump` whose shard iterators are positions held here.

Every read takes a fresh moto iterator at the held position: moto's own iterators go stale when a cancelled
TransactWriteItems restores a copy of the table (and of its stream shard), after which they never see another
record. Holding the positions also lets a driver `rewind` a shard to a failed batch, as the event source
mapping does.
"""

from __future__ import annotations

from typing import Any


class StreamCursor:
    def __init__(self, client: Any, start: str | None = None) -> None:
        self._client = client
        self._start = int(start) if start else 0  # a mapping created later than the stream: TRIM_HORIZON is here
        self._cursors: dict[str, list[Any]] = {}  # token -> [stream arn, shard id, next sequence number]

    def describe_stream(self, **params: Any) -> Any:
        return self._client.describe_stream(**params)

    def get_shard_iterator(
        self,
        StreamArn: str,
        ShardId: str,
        ShardIteratorType: str,
        SequenceNumber: str | None = None,
    ) -> dict[str, str]:
        if ShardIteratorType == "TRIM_HORIZON":
            shards = self._client.describe_stream(StreamArn=StreamArn)["StreamDescription"]["Shards"]
            shard = next(shard for shard in shards if shard["ShardId"] == ShardId)
            position = max(self._start, int(shard["SequenceNumberRange"]["StartingSequenceNumber"]))
        elif ShardIteratorType in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER") and SequenceNumber is not None:
            position = int(SequenceNumber) + (ShardIteratorType == "AFTER_SEQUENCE_NUMBER")
        else:
            raise ValueError(f"unsupported shard iterator type {ShardIteratorType}")
        token = f"cursor-{len(self._cursors)}"
        self._cursors[token] = [StreamArn, ShardId, position]
        return {"ShardIterator": token}

    def get_records(self, ShardIterator: str, Limit: int = 1000) -> dict[str, Any]:
        cursor = self._cursors[ShardIterator]
        arn, shard_id, position = cursor
        real = self._client.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=str(position)
        )["ShardIterator"]
        records: list[dict[str, Any]] = self._client.get_records(ShardIterator=real, Limit=Limit)["Records"]
        if records:
            cursor[2] = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
        return {"Records": records, "NextShardIterator": ShardIterator}

    def position(self) -> str | None:
        """The sequence number the furthest cursor reads next (None before the first read)."""
        return str(max(cursor[2] for cursor in self._cursors.values())) if self._cursors else None

    def low_water(self) -> int | None:
        """The lowest sequence number a cursor reads next (None before the first read): below it all is read."""
        return min(cursor[2] for cursor in self._cursors.values()) if self._cursors else None

    def rewind(self, sequence_number: str) -> None:
        """Deliver again from `sequence_number` on (every cursor of its shard that is past it)."""
        for cursor in self._cursors.values():
            cursor[2] = min(cursor[2], int(sequence_number))
