"""DynamoDB request units from item sizes, and a meter that applies them to every call a client makes.

The arithmetic at the top is pure and follows DynamoDB's published rules (item sizes:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html, capacity:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html). moto's own
ConsumedCapacity is not used: it reports 1.0 for a 3 KB put and nothing for a transaction.

`CapacityMeter` hooks a boto3 DynamoDB client's events. Before a write it reads the items the write will
touch, and after it reads them again, with its own client that carries no hooks; time spent in those
hooks is kept in `hook_seconds` so that timings of the code under test can leave it out.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

Item = Mapping[str, Any]

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
#: TransactWriteItems writes every item twice (prepare and commit).
TRANSACTION_FACTOR = 2
CONTAINER_OVERHEAD = 3  # a List or Map, whatever it holds
ELEMENT_OVERHEAD = 1  # each element of a List or Map
CONTEXT_KEY = "bench.meter"
_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")

# -- sizes --------------------------------------------------------------------------------------------------


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def number_size(text: str) -> int:
    """1 byte per two significant digits (leading and trailing zeroes trimmed), plus 1."""
    try:
        digits = Decimal(text.strip()).normalize().as_tuple().digits
    except InvalidOperation as error:
        raise ValueError(f"not a DynamoDB number: {text!r}") from error
    significant = max(1, len(digits))
    return math.ceil(significant / 2) + 1


def _binary_size(value: bytes | bytearray | str) -> int:
    return len(value) if isinstance(value, bytes | bytearray) else _utf8(value)


def value_size(value: Mapping[str, Any]) -> int:
    """Size of one typed attribute value ({"S": ...}, {"N": ...}, {"M": {...}}, ...), without its name."""
    ((kind, content),) = value.items()
    match kind:
        case "S":
            return _utf8(content)
        case "N":
            return number_size(content)
        case "B":
            return _binary_size(content)
        case "BOOL" | "NULL":
            return 1
        case "SS":
            return sum(_utf8(element) for element in content)
        case "NS":
            return sum(number_size(element) for element in content)
        case "BS":
            return sum(_binary_size(element) for element in content)
        case "L":
            return CONTAINER_OVERHEAD + sum(value_size(element) + ELEMENT_OVERHEAD for element in content)
        case "M":
            return CONTAINER_OVERHEAD + sum(
                _utf8(name) + value_size(element) + ELEMENT_OVERHEAD for name, element in content.items()
            )
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Item | None) -> int:
    """Sum over attributes of the UTF-8 length of the name plus the size of the value; 0 for no item."""
    if not item:
        return 0
    return sum(_utf8(name) + value_size(value) for name, value in item.items())


# -- capacity units -----------------------------------------------------------------------------------------


def write_units(size: int, transactional: bool = False) -> int:
    """Write request units for one item: 1 per started KB (at least 1), doubled inside a transaction."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return units * TRANSACTION_FACTOR if transactional else units


def read_units(size: int, consistent: bool) -> float:
    """Read request units for one item (GetItem): 1 per started 4 KB (at least 1), half if eventually consistent."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def query_read_units(sizes: Iterable[int], consistent: bool) -> float:
    """A Query page is charged on the total size of the items it read (before any filter), not per item."""
    return read_units(sum(sizes), consistent)


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    included: tuple[str, ...] = ()
    table_keys: tuple[str, ...] = ()

    def entry(self, item: Item | None) -> dict[str, Any] | None:
        """The item as the index stores it; None when the item is not in the index (a key attribute is missing)."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = set(self.keys) | set(self.table_keys)
        if self.projection == "INCLUDE":
            kept |= set(self.included)
        return {name: value for name, value in item.items() if name in kept}


def index_write_units(before: Item | None, after: Item | None, index: IndexSpec) -> int:
    """Writes one successful table write causes on a global secondary index.

    Entering the index costs a write of the entry's size; leaving it costs one write; a changed index key
    costs both; a changed entry under the same key costs a write of its new size; no change costs nothing.
    """
    old, new = index.entry(before), index.entry(after)
    if old is None and new is None:
        return 0
    if new is None:
        return 1
    put = write_units(item_size(new))
    if old is None:
        return put
    if any(old[key] != new[key] for key in index.keys):
        return 1 + put
    return put if old != new else 0


def table_write_units(before: Item | None, after: Item | None, transactional: bool = False) -> int:
    """A successful PutItem/UpdateItem/DeleteItem: the larger of the item before and after."""
    return write_units(max(item_size(before), item_size(after)), transactional)


def failed_write_units(existing: Item | None, transactional: bool = False) -> int:
    """A write whose condition failed still costs the size of the item as it stands (at least 1 unit)."""
    return write_units(item_size(existing), transactional)


# -- the meter ----------------------------------------------------------------------------------------------


@dataclass
class Tally:
    calls: int = 0
    wru: float = 0.0
    rru: float = 0.0
    index_wru: float = 0.0

    def add(self, wru: float = 0.0, rru: float = 0.0, index_wru: float = 0.0) -> None:
        self.calls += 1
        self.wru += wru + index_wru
        self.rru += rru
        self.index_wru += index_wru


@dataclass
class _TableSchema:
    keys: tuple[str, ...]
    indexes: tuple[IndexSpec, ...]


@dataclass
class _Pending:
    operation: str
    params: dict[str, Any]
    before: list[dict[str, Any] | None] = field(default_factory=list)


Classifier = Callable[[Mapping[str, Any]], str]


def _no_kind(_key: Mapping[str, Any]) -> str:
    return "item"


class CapacityMeter:
    """Counts request units of every DynamoDB call made through the clients it is attached to.

    `reader` is a client with no hooks (and the same endpoint) used to look at items around each call.
    `classify` names an item's kind from its key, for the per-operation breakdown.
    """

    def __init__(self, reader: Any, classify: Classifier = _no_kind) -> None:
        self._reader = reader
        self._classify = classify
        self._schemas: dict[str, _TableSchema] = {}
        self.operations: dict[str, Tally] = {}
        self.sfn_starts = 0
        self.s3_puts = 0
        self.s3_gets = 0
        self.hook_seconds = 0.0
        #: Time the emulated service (moto, answering in process) took for the attached clients' requests.
        self.service_seconds = 0.0
        self._sent_at: float | None = None

    # -- wiring --

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)
        self._time_service(client)

    def attach_stepfunctions(self, client: Any) -> None:
        client.meta.events.register("after-call.sfn.StartExecution", self._after_sfn_start)
        self._time_service(client)

    def attach_s3(self, client: Any) -> None:
        """The payload store's requests: S3 bills each PUT and GET."""
        client.meta.events.register("after-call.s3.PutObject", self._after_s3_put)
        client.meta.events.register("after-call.s3.GetObject", self._after_s3_get)
        self._time_service(client)

    def _time_service(self, client: Any) -> None:
        """Every before-send handler runs; the emulator answers between the first and the last of them."""
        client.meta.events.register_first("before-send", self._sending)
        client.meta.events.register_last("before-send", self._answered)

    def reset(self) -> None:
        self.operations = {}
        self.sfn_starts = 0
        self.s3_puts = 0
        self.s3_gets = 0

    # -- totals --

    @property
    def wru(self) -> float:
        return sum(tally.wru for tally in self.operations.values())

    @property
    def rru(self) -> float:
        return sum(tally.rru for tally in self.operations.values())

    @property
    def index_wru(self) -> float:
        return sum(tally.index_wru for tally in self.operations.values())

    @property
    def calls(self) -> int:
        return sum(tally.calls for tally in self.operations.values())

    # -- hooks --

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        started = time.perf_counter()
        try:
            pending = _Pending(model.name, params)
            pending.before = [self._read(table, key) for table, key in self._touched(model.name, params)]
            context[CONTEXT_KEY] = pending
        finally:
            self.hook_seconds += time.perf_counter() - started

    def _after(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        pending: _Pending | None = context.pop(CONTEXT_KEY, None)
        if pending is None:
            return
        started = time.perf_counter()
        try:
            error = "" if http_response.status_code < 300 else str(parsed.get("Error", {}).get("Code", "Error"))
            self._account(pending, parsed, error)
        finally:
            self.hook_seconds += time.perf_counter() - started

    def _sending(self, **_: Any) -> None:
        self._sent_at = time.perf_counter()

    def _answered(self, **_: Any) -> None:
        if self._sent_at is not None:
            self.service_seconds += time.perf_counter() - self._sent_at
            self._sent_at = None

    def _after_sfn_start(self, http_response: Any, **_: Any) -> None:
        if http_response.status_code < 300:
            self.sfn_starts += 1

    def _after_s3_put(self, **_: Any) -> None:
        self.s3_puts += 1  # billed whether it succeeded or not

    def _after_s3_get(self, **_: Any) -> None:
        self.s3_gets += 1

    # -- accounting --

    def _record(self, label: str, wru: float = 0.0, rru: float = 0.0, index_wru: float = 0.0) -> None:
        self.operations.setdefault(label, Tally()).add(wru, rru, index_wru)

    def _account(self, pending: _Pending, parsed: dict[str, Any], error: str) -> None:
        operation, params = pending.operation, pending.params
        if error and error not in ("ConditionalCheckFailedException", "TransactionCanceledException"):
            self._record(f"{operation} ({error}, not charged)")
            return
        match operation:
            case "GetItem":
                self._account_get(params, parsed)
            case "Query":
                self._account_query(params)
            case "PutItem" | "UpdateItem" | "DeleteItem":
                self._account_write(pending, error)
            case "TransactWriteItems":
                self._account_transaction(pending, error)
            case "BatchWriteItem":
                self._account_batch_write(pending, parsed)
            case "BatchGetItem":
                self._account_batch_get(params)
            case "DescribeTable" | "ListTables" | "DescribeTimeToLive" | "DescribeContinuousBackups":
                self._record(f"{operation} (control plane, free)")
            case _:
                self._record(f"{operation} (not metered)")

    def _kind(self, key: Mapping[str, Any]) -> str:
        return self._classify(key)

    def _account_get(self, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        consistent = bool(params.get("ConsistentRead", False))
        item = parsed.get("Item")
        if item is not None and "ProjectionExpression" in params:  # charged on the whole item
            item = self._read(params["TableName"], params["Key"])
        mode = "strong" if consistent else "eventual"
        self._record(f"GetItem {self._kind(params['Key'])} ({mode})", rru=read_units(item_size(item), consistent))

    def _account_query(self, params: dict[str, Any]) -> None:
        consistent = bool(params.get("ConsistentRead", False)) and "IndexName" not in params
        sizes = [item_size(item) for item in self._unfiltered_page(params)]
        where = params.get("IndexName", "table")
        self._record(
            f"Query {where} ({'strong' if consistent else 'eventual'})", rru=query_read_units(sizes, consistent)
        )

    def _account_write(self, pending: _Pending, error: str) -> None:
        operation, params = pending.operation, pending.params
        table = params["TableName"]
        key = self._key_of(table, params.get("Key") or params["Item"])
        before = pending.before[0]
        label = f"{operation} {self._kind(key)}"
        if error:
            self._record(f"{label} (condition failed)", wru=failed_write_units(before))
            return
        if operation == "PutItem":
            after: dict[str, Any] | None = dict(params["Item"])
        elif operation == "UpdateItem":
            after = self._read(table, key)
        else:
            after = None
        self._record(label, wru=table_write_units(before, after), index_wru=self._index_units(table, before, after))

    def _account_transaction(self, pending: _Pending, error: str) -> None:
        entries = pending.params["TransactItems"]
        parts: dict[str, int] = {}
        wru = 0
        index_wru = 0
        for entry, before in zip(entries, pending.before, strict=True):
            ((verb, request),) = entry.items()
            table = request["TableName"]
            key = self._key_of(table, request.get("Key") or request["Item"])
            part = f"{verb} {self._kind(key)}"
            parts[part] = parts.get(part, 0) + 1
            if error:
                wru += failed_write_units(before, transactional=True)
                continue
            if verb == "Put":
                after: dict[str, Any] | None = dict(request["Item"])
            elif verb == "Update":
                after = self._read(table, key)
            elif verb == "Delete":
                after = None
            else:  # ConditionCheck: charged like a transactional write of the item as it stands
                after = before
            wru += table_write_units(before, after, transactional=True)
            index_wru += self._index_units(table, before, after)
        summary = " + ".join(f"{part} x{count}" if count > 1 else part for part, count in parts.items())
        suffix = " (cancelled)" if error else ""
        self._record(f"TransactWriteItems [{summary}]{suffix}", wru=wru, index_wru=index_wru)

    def _account_batch_write(self, pending: _Pending, parsed: dict[str, Any]) -> None:
        unprocessed = parsed.get("UnprocessedItems") or {}
        requests = [
            (table, request)
            for table, table_requests in pending.params["RequestItems"].items()
            for request in table_requests
        ]
        wru = 0
        index_wru = 0
        for (table, request), before in zip(requests, pending.before, strict=True):
            if request in unprocessed.get(table, []):
                continue
            after = dict(request["PutRequest"]["Item"]) if "PutRequest" in request else None
            wru += table_write_units(before, after)
            index_wru += self._index_units(table, before, after)
        self._record(f"BatchWriteItem ({len(requests)} requests)", wru=wru, index_wru=index_wru)

    def _account_batch_get(self, params: dict[str, Any]) -> None:
        rru = 0.0
        for table, request in params["RequestItems"].items():
            consistent = bool(request.get("ConsistentRead", False))
            rru += sum(read_units(item_size(self._read(table, key)), consistent) for key in request["Keys"])
        self._record("BatchGetItem", rru=rru)

    # -- looking at the table, unmetered --

    def _schema(self, table: str) -> _TableSchema:
        schema = self._schemas.get(table)
        if schema is None:
            description = self._reader.describe_table(TableName=table)["Table"]
            keys = tuple(element["AttributeName"] for element in description["KeySchema"])
            indexes = tuple(
                IndexSpec(
                    name=index["IndexName"],
                    keys=tuple(element["AttributeName"] for element in index["KeySchema"]),
                    projection=index["Projection"]["ProjectionType"],
                    included=tuple(index["Projection"].get("NonKeyAttributes", [])),
                    table_keys=keys,
                )
                for index in description.get("GlobalSecondaryIndexes", [])
            )
            schema = self._schemas[table] = _TableSchema(keys, indexes)
        return schema

    def _key_of(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._schema(table).keys}

    def _read(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        answer = self._reader.get_item(TableName=table, Key=self._key_of(table, key), ConsistentRead=True)
        item: dict[str, Any] | None = answer.get("Item")
        return item

    def _index_units(self, table: str, before: Item | None, after: Item | None) -> int:
        return sum(index_write_units(before, after, index) for index in self._schema(table).indexes)

    def _touched(self, operation: str, params: dict[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
        """The items a write will change, so their state before the call can be read."""
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return [(params["TableName"], params.get("Key") or params["Item"])]
        if operation == "TransactWriteItems":
            touched = []
            for entry in params["TransactItems"]:
                ((_, request),) = entry.items()
                touched.append((request["TableName"], request.get("Key") or request["Item"]))
            return touched
        if operation == "BatchWriteItem":
            return [
                (table, request["PutRequest"]["Item"] if "PutRequest" in request else request["DeleteRequest"]["Key"])
                for table, requests in params["RequestItems"].items()
                for request in requests
            ]
        return []

    def _unfiltered_page(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The items a Query page read before its filter and projection were applied."""
        query = {
            name: value
            for name, value in params.items()
            if name
            in (
                "TableName",
                "IndexName",
                "KeyConditionExpression",
                "ExclusiveStartKey",
                "Limit",
                "ScanIndexForward",
                "ConsistentRead",
            )
        }
        used = set(_PLACEHOLDER.findall(query.get("KeyConditionExpression", "")))
        names = {k: v for k, v in (params.get("ExpressionAttributeNames") or {}).items() if k in used}
        values = {k: v for k, v in (params.get("ExpressionAttributeValues") or {}).items() if k in used}
        if names:
            query["ExpressionAttributeNames"] = names
        if values:
            query["ExpressionAttributeValues"] = values
        items: list[dict[str, Any]] = self._reader.query(**query).get("Items", [])
        return items
