"""Changes to moto (the pinned 5.2.5) without which the local stack cannot run all day.

Each patch works around a moto behaviour that belongs upstream; docs/local-stack.md holds the text of the
bug report. `apply()` installs them (idempotent); the local stack calls it before it starts moto's server,
and the tests' in-process accounts call it too, so both run the same DynamoDB.

1. TransactWriteItems deep-copies every table a transaction names, once per item of the transaction, to
   roll back a cancelled one by putting the copy back. On a table of 30,000 items that is seconds per
   `POST /flows` and gigabytes of garbage per minute. Here a transaction remembers only the items it
   touches (and how long the stream was) and a cancelled one puts back just those.
2. A table's stream keeps every record forever (DynamoDB keeps 24 hours). `trim_stream` drops the records
   every reader has consumed and those older than 24 hours; a read below what is left is refused with
   `TrimmedDataAccessException`, as DynamoDB refuses it, instead of moto's assertion (a 500).
3. DynamoDB Streams keeps every shard iterator it ever issued (each `GetRecords` issues one more), a few
   kilobytes per poll. Here they expire 15 minutes after they are issued, as DynamoDB's do, and at most
   `MAX_LIVE_ITERATORS` live at once (the oldest expire first).
4. Every moto model object is appended to a class-wide list when it is created (`BaseModel.__new__`), for the
   dashboard's `/moto-api/data.json`, and stays there until moto is reset. For DynamoDB items that is every
   version of every item ever written, every copy a query or scan answers with, and every copy of the table
   a transaction took: none of them can be freed. Items, stream records and shard iterators are not listed
   here (the dashboard still lists tables, queues and the rest).
5. A `Query` on the table (not an index) walks and sorts every item of the table to find the one partition it
   reads: O(table) per call, a second and more for a large execution's status on a table of 10,000 runs. Here
   it is given the partition's items alone, which it then sorts and filters as before.
6. Step Functions runs each execution on a thread of its own, which sets up the execution's environment only
   after parsing the definition; a `StopExecution` arriving before that (a timer stopped right after it
   started: an execution that ends at once, or is cancelled) raised AttributeError on `None.set_stop`, a 500.
   Here the stop waits, briefly, for the environment.
7. S3 keeps each object's bytes in a `SpooledTemporaryFile`: in memory up to about 5 MB, and over that in an
   unnamed temporary file that holds a descriptor for as long as the object lives. Payloads go up to 10 MB, so
   the stack's memory (and its descriptors) would grow with every large value kept. With `spool_objects(folder)`
   each object's bytes live in a file of their own in `folder`, opened only while they are read or written;
   moto keeps the object's metadata. Objects are not listed for the dashboard either (4.), so one deleted or
   replaced is freed at once (moto deletes its file when it disposes of it).
8. DynamoDB applies the writes to one item one at a time, so of two conditional writes that expect the same
   state only one succeeds. moto checks a condition and then writes, unlocked: two threads of its server (a
   callback arriving while the timer's state machine expires the same run) can both pass the check. Here the
   writes (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems) take one lock per process, so
   each condition is checked against what the write before it left.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.s3.models import FakeKey, S3Backend, s3_backends
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.utilities.utils import get_partition

#: DynamoDB Streams keeps a record for 24 hours.
STREAM_RETENTION = timedelta(hours=24)
#: A shard iterator is good for 15 minutes.
ITERATOR_LIFETIME_SECONDS = 15 * 60
#: Beyond this many live shard iterators the oldest expire early (a poller issues ~20 a second).
MAX_LIVE_ITERATORS = 4096
_MAX_TRANSACTION_ITEMS = 100
_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})

_applied: list[str] = []


def apply() -> None:
    """Install the patches into moto's classes (once per process)."""
    if _applied:
        return
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    StreamShard.get = _shard_get  # type: ignore[method-assign]
    ShardIterator.__init__ = _iterator_init(ShardIterator.__init__)  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = _get_records  # type: ignore[method-assign]
    Table.query = _partition_query(Table.query)  # type: ignore[method-assign]
    Table.all_items = _all_items_or_partition(Table.all_items)  # type: ignore[method-assign,assignment]
    for model in _UNTRACKED:
        model.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign,assignment]
        model.instances_tracked.clear()  # type: ignore[attr-defined]
    ExecutionWorker.stop = _stop_once_ready(ExecutionWorker.stop)  # type: ignore[method-assign]
    FakeKey.__init__ = _spooled(FakeKey.__init__)  # type: ignore[method-assign]
    FakeKey.__setstate__ = _spooled(FakeKey.__setstate__)  # type: ignore[method-assign]
    for name in _WRITES:
        setattr(DynamoDBBackend, name, _one_write_at_a_time(getattr(DynamoDBBackend, name)))
    _applied.append("moto")


# -- 8. a conditional write is checked against the write before it ------------------------------------------

_WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")
_WRITE_LOCK = threading.RLock()  # re-entrant: a transaction's items are written by the same thread


def _one_write_at_a_time(write: Callable[..., Any]) -> Callable[..., Any]:
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _WRITE_LOCK:
            return write(self, *args, **kwargs)

    locked.__wrapped__ = write  # type: ignore[attr-defined]
    return locked


# -- 1. transactions roll back the items they touched, not a copy of the table ------------------------------


@dataclass
class _Rollback:
    """What a transaction's writes changed, enough to undo them: the touched items before, the stream's length."""

    items: dict[tuple[str, DynamoType, DynamoType | None], Item | None] = field(default_factory=dict)
    buckets: set[tuple[str, DynamoType]] = field(default_factory=set)  # hash keys that had no bucket before
    stream_lengths: dict[str, int] = field(default_factory=dict)

    def remember(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        slot = (table.name, hash_key, range_key)
        if slot in self.items:
            return
        if table.stream_shard is not None:
            self.stream_lengths.setdefault(table.name, len(table.stream_shard.items))
        if range_key is not None and hash_key not in table.items:
            self.buckets.add((table.name, hash_key))
        current = table.get_item(hash_key, range_key)
        self.items[slot] = copy.deepcopy(current)  # an update changes the stored item in place

    def undo(self, backend: DynamoDBBackend) -> None:
        """Put every touched item back as it was and forget the stream records the writes emitted."""
        for (name, hash_key, range_key), before in self.items.items():
            table = backend.tables[name]
            if range_key is None:
                if before is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = before  # type: ignore[assignment] # moto's items map, typed for range keys
                continue
            bucket = table.items[hash_key]
            if before is None:
                bucket.pop(range_key, None)
            else:
                bucket[range_key] = before
            if (name, hash_key) in self.buckets and not bucket:
                del table.items[hash_key]
        for name, length in self.stream_lengths.items():
            shard = backend.tables[name].stream_shard
            if shard is not None:
                del shard.items[length:]


def _operation(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if len(entry) > 1:
        raise TransactWriteSingleOpException
    op_type, op = next(iter(entry.items()))
    if op_type not in _OPERATIONS:
        raise ValueError("Unsupported transaction operation")
    return op_type, op


def _key_of(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        key: dict[str, Any] = op["Key"]
        return key
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: attrs[name] for name in names}


class _Refused(ConditionalCheckFailed):
    """A condition that failed, with the item as it was when the operation asked for it (ALL_OLD)."""

    def __init__(self, old: dict[str, Any] | None) -> None:
        super().__init__(item=old)
        self.old = old


def _check(current: Item | None, op: dict[str, Any]) -> None:
    """The operation's condition, checked before any write (moto's own order)."""
    if op.get("ConditionExpression") is None:
        return
    condition = get_filter_expression(
        op["ConditionExpression"], op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    )
    if not condition.expr(current):
        wants_old = op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None
        raise _Refused(current.to_json()["Attributes"] if wants_old and current is not None else None)


def _write(backend: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    condition = op.get("ConditionExpression")
    names: Any = op.get("ExpressionAttributeNames")  # None when absent, as moto's own call passes them
    values: Any = op.get("ExpressionAttributeValues")
    if op_type == "Put":
        backend.put_item(
            op["TableName"],
            op["Item"],
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Delete":
        backend.delete_item(
            op["TableName"],
            key,
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Update":
        backend.update_item(
            op["TableName"],
            key,
            update_expression=op["UpdateExpression"],
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems, item for item, with a rollback of the touched items only."""
    if len(transact_items) > _MAX_TRANSACTION_ITEMS:
        raise TooManyTransactionsException()
    rollback = _Rollback()
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for entry in transact_items:
        try:
            op_type, op = _operation(entry)
            key = _key_of(self, op_type, op)
            unique = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if unique in seen:
                raise MultipleTransactionsException()
            seen.add(unique)
            table = self.get_table(op["TableName"])
            rollback.remember(table, *self.get_keys_value(table, key))
            _check(self.get_item(op["TableName"], key), op)
            _write(self, op_type, op, key)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback.undo(self)
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), getattr(error, "old", None)))
        except Exception as error:  # noqa: BLE001 - moto reports any other failure as the item's reason
            errors.append((type(error).__name__, str(error), None))
    if any(code is not None for code, _, _ in errors):
        rollback.undo(self)
        raise TransactionCanceledException(errors)


# -- 2. a stream keeps what its readers still need, for 24 hours at most ------------------------------------


class TrimmedDataAccess(JsonRESTError):
    """A read below the stream's trim horizon, refused as DynamoDB Streams refuses it."""

    def __init__(self, sequence_number: int, horizon: int) -> None:
        super().__init__(
            "TrimmedDataAccessException",
            f"sequence number {sequence_number} is below the trim horizon {horizon} of the shard",
        )


def _shard_get(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
    if start < self.starting_sequence_number:
        raise TrimmedDataAccess(start, self.starting_sequence_number)
    offset = start - self.starting_sequence_number
    return [record.to_json() for record in self.items[offset : offset + quantity]]


def _created(record: Any) -> datetime:
    stamp: datetime = record.record["dynamodb"]["ApproximateCreationDateTime"]
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def table_of(name: str, region: str) -> Table:
    """The table `name` of moto's default account (the one the local stack's fake credentials reach)."""
    table: Table = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_table(name)
    return table


def s3_of(region: str) -> S3Backend:
    """moto's S3 in the default account (buckets are global; the partition follows the region)."""
    backend: S3Backend = s3_backends[DEFAULT_ACCOUNT_ID][get_partition(region)]
    return backend


def trim_stream(shard: StreamShard, keep_from: int | None, now: datetime | None = None) -> int:
    """Drop the shard's records below sequence number `keep_from` (None: keep them) and those older than
    24 hours; returns how many were dropped. The caller holds moto's lock.

    moto numbers a record by its place in the shard's list (`starting_sequence_number + index`), so the
    horizon moves up by as many records as are dropped: every sequence number stays what it was.
    """
    cutoff = (now or datetime.now(UTC)) - STREAM_RETENTION
    records = shard.items
    consumed = 0 if keep_from is None else max(0, min(len(records), keep_from - shard.starting_sequence_number))
    expired = consumed
    while expired < len(records) and _created(records[expired]) < cutoff:
        expired += 1
    if expired:
        del records[:expired]
        shard.starting_sequence_number += expired
    return expired


# -- 3. shard iterators expire ------------------------------------------------------------------------------


def _iterator_init(original: Callable[..., None]) -> Callable[..., None]:
    def init(self: ShardIterator, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.issued_at = time.monotonic()  # type: ignore[attr-defined]

    return init


class ExpiredIterator(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("ExpiredIteratorException", "the shard iterator has expired")


def _get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
    _expire_iterators(self.shard_iterators)
    iterator = self.shard_iterators.get(iterator_arn)
    if iterator is None:
        raise ExpiredIterator()
    result: dict[str, Any] = iterator.get(limit)
    return result


def _expire_iterators(iterators: dict[str, ShardIterator]) -> None:
    """Iterators are kept in the order they were issued: expire from the oldest on."""
    deadline = time.monotonic() - ITERATOR_LIFETIME_SECONDS
    while iterators:
        oldest = next(iter(iterators))
        if len(iterators) <= MAX_LIVE_ITERATORS and getattr(iterators[oldest], "issued_at", 0.0) >= deadline:
            return
        del iterators[oldest]


# -- 4. objects made by the million are not listed for the dashboard ----------------------------------------

_UNTRACKED: tuple[type, ...] = (Item, StreamRecord, ShardIterator, FakeKey)


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    """`object.__new__`, without BaseModel's append to `cls.instances_tracked`."""
    return object.__new__(cls)


# -- 5. a query on the table reads its partition, not the whole table ---------------------------------------

_reading = threading.local()  # .partition: (table, hash key) of the query under way on this thread


def _partition_query(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") or hash_key is None:
            return original(self, *args, **kwargs)
        _reading.partition = (self, hash_key)
        try:
            return original(self, *args, **kwargs)
        finally:
            _reading.partition = None

    return query


def _all_items_or_partition(original: Callable[[Table], list[Item]]) -> Callable[[Table], list[Item]]:
    """`all_items`, except inside a table query on this thread: that query's partition (moto's query keeps only
    the items of its hash key from what this returns, then sorts them by range key itself)."""

    def all_items(self: Table) -> list[Item]:
        reading = getattr(_reading, "partition", None)
        if reading is None or reading[0] is not self:
            return original(self)
        bucket = self.items.get(reading[1])
        if bucket is None:
            return []
        if isinstance(bucket, Item):
            return [bucket]
        return list(bucket.values())

    return all_items


# -- 6. a timer stopped as soon as it started ------------------------------------------------------------------

_SETUP_SECONDS = 5.0


def _stop_once_ready(original: Callable[..., Any]) -> Callable[..., Any]:
    def stop(self: ExecutionWorker, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + _SETUP_SECONDS
        while getattr(self, "env", None) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return original(self, *args, **kwargs)

    return stop


# -- 7. S3 objects' bytes on disk, not in memory -----------------------------------------------------------

_spool: list[Path] = []  # the folder objects are spooled to; empty: moto's own buffers
_names = itertools.count()


def spool_objects(folder: Path | None) -> None:
    """Keep the bytes of every S3 object created from now on in a file of its own under `folder` (None: in
    moto's own buffers again). The folder is emptied: what it held belonged to a stack that is gone."""
    _spool.clear()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob("*.object"):
        leftover.unlink(missing_ok=True)
    _spool.append(folder)


class FileBuffer:
    """What a `FakeKey` does with its buffer (seek, tell, read, write, truncate, close), on a file opened only for
    the call: any number of objects, no descriptor held, no bytes in memory. `close` deletes the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._position = 0
        self._closed = False
        path.write_bytes(b"")

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._open()
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.path.stat().st_size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        self._open()
        with self.path.open("rb") as file:
            file.seek(self._position)
            data = file.read(size)
        self._position += len(data)
        return data

    def write(self, data: bytes) -> int:
        self._open()
        with self.path.open("r+b") as file:
            file.seek(self._position)
            file.write(data)
        self._position += len(data)
        return len(data)

    def truncate(self, size: int | None = None) -> int:
        self._open()
        end = self._position if size is None else size
        os.truncate(self.path, end)
        return end

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.path.unlink(missing_ok=True)

    def _open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed file.")  # as a closed file says it: moto expects it


def _spooled(original: Callable[..., None]) -> Callable[..., None]:
    """After moto builds a key's buffer (`__init__`, `__setstate__`), move its bytes to a file when spooling."""

    def build(self: FakeKey, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not _spool:
            return
        spooled = self._value_buffer
        spooled.seek(0)
        buffer = FileBuffer(_spool[0] / f"{os.getpid()}-{next(_names)}.object")
        buffer.write(spooled.read())
        spooled.close()
        self._value_buffer = buffer  # type: ignore[assignment] # the file calls moto makes, on disk

    return build
