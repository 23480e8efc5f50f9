"""DynamoDB single-table repository: the only module that knows keys, attribute names and conditions.

| item          | pk                | sk                       |
|---------------|-------------------|--------------------------|
| flow head     | FLOW#<flow_id>    | HEAD                     |
| flow version  | FLOW#<flow_id>    | V#<version, 6 digits>    |
| execution     | EXEC#<id>         | META                     |
| task run      | EXEC#<id>         | RUN#<seq, 6 digits>#<task> (one item per visit; attempts update it) |

GSI1 (gsi1pk, gsi1sk) lists flows (`FLOWS`, flow id) and a flow's executions (`FLOW#<id>`, created_at#id).
Bulky values (definitions, inputs, outputs) are stored as JSON strings: no float/Decimal translation, and
an item's size is easy to predict.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from flowcore.errors import BadRequest, Conflict, NotFound, StoreUnavailable
from flowcore.model import (
    ExecutionStatus,
    FlowSpec,
    RunRef,
    TaskResult,
    TaskStatus,
    parse_run_sort_key,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from flowcore.definition import FlowDefinition

Item = dict[str, Any]

META = "META"
HEAD = "HEAD"
FLOWS_INDEX_PK = "FLOWS"
GSI1 = "gsi1"
_THROTTLES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"}
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def exec_pk(execution_id: str) -> str:
    return f"EXEC#{execution_id}"


def flow_pk(flow_id: str) -> str:
    return f"FLOW#{flow_id}"


def version_sk(version: int) -> str:
    return f"V#{version:06d}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": str(value)}


def plain(item: Item) -> dict[str, Any]:
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


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _encode_cursor(key: Item | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _decode_cursor(cursor: str | None) -> Item | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as error:
        raise BadRequest("the cursor is not one this service issued") from error
    if not isinstance(key, dict):
        raise BadRequest("the cursor is not one this service issued")
    return key


@dataclass(frozen=True, slots=True)
class FlowRecord:
    flow_id: str
    version: int
    name: str
    created_at: str
    definition: FlowSpec
    content_hash: str

    def summary(self) -> dict[str, Any]:
        return {"flow_id": self.flow_id, "version": self.version, "name": self.name, "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    execution_id: str
    flow_id: str
    flow_version: int
    flow_name: str
    status: ExecutionStatus
    input: dict[str, Any]
    created_at: str
    started_at: str | None = None
    ended_at: str | None = None
    error: str | None = None
    open_branches: int = 1
    failed: bool = False
    idempotency_key: str | None = None
    input_hash: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ExecutionRecord:
        return cls(
            execution_id=item["execution_id"],
            flow_id=item["flow_id"],
            flow_version=int(item["flow_version"]),
            flow_name=item.get("flow_name", ""),
            status=ExecutionStatus(item["status"]),
            input=json.loads(item.get("input", "{}")),
            created_at=item["created_at"],
            started_at=item.get("started_at"),
            ended_at=item.get("ended_at"),
            error=item.get("error"),
            open_branches=int(item.get("open_branches", 1)),
            failed=bool(item.get("failed", False)),
            idempotency_key=item.get("idempotency_key"),
            input_hash=item.get("input_hash"),
        )


@dataclass(frozen=True, slots=True)
class RunRecord:
    ref: RunRef
    status: TaskStatus
    attempt: int
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    output: dict[str, Any] | None = None
    message: str | None = None
    error: str | None = None
    claim: str | None = None
    lease_until: int | None = None
    atomic: bool = False
    wait_until: int | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RunRecord:
        seq, task_name = parse_run_sort_key(item["sk"])
        output = item.get("output")
        return cls(
            ref=RunRef(item["pk"].removeprefix("EXEC#"), seq, task_name),
            status=TaskStatus(item["status"]),
            attempt=int(item.get("attempt", 1)),
            started_at=item.get("started_at"),
            ended_at=item.get("ended_at"),
            duration_ms=int(item["duration_ms"]) if "duration_ms" in item else None,
            output=json.loads(output) if output is not None else None,
            message=item.get("message"),
            error=item.get("error"),
            claim=item.get("claim"),
            lease_until=int(item["lease_until"]) if "lease_until" in item else None,
            atomic=bool(item.get("atomic", False)),
            wait_until=int(item["wait_until"]) if "wait_until" in item else None,
        )

    def result(self) -> TaskResult | None:
        """The committed result, when the run holds one."""
        if self.status is TaskStatus.SUCCESS:
            return TaskResult(TaskStatus.SUCCESS, output=self.output, message=self.message, error=self.error)
        if self.status is TaskStatus.FAILURE or (self.status is TaskStatus.WAITING and self.error):
            return TaskResult(TaskStatus.FAILURE, output=self.output, message=self.message, error=self.error)
        return None


class RunConflict(Exception):
    """A conditional write on a task run failed; `current` is the run as it now stands (None: gone)."""

    def __init__(self, current: RunRecord | None) -> None:
        super().__init__("task run changed under us")
        self.current = current


class ExecutionConflict(Exception):
    """The execution item did not match what the runner read (branches moved, or it stopped running)."""


class SuccessorsExist(Exception):
    """Some successors of a commit exist already: a sibling branch reached the same task at the same step."""

    def __init__(self, refs: tuple[RunRef, ...]) -> None:
        super().__init__("successors exist already")
        self.refs = refs


@dataclass(frozen=True, slots=True)
class Update:
    """One UpdateItem, usable alone or inside a transaction."""

    key: Item
    expression: str
    names: dict[str, str]
    values: Item
    condition: str | None = None

    def params(self, table: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "TableName": table,
            "Key": self.key,
            "UpdateExpression": self.expression,
            "ExpressionAttributeNames": self.names,
        }
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        if self.condition:
            params["ConditionExpression"] = self.condition
        return params


@dataclass(frozen=True, slots=True)
class DispatchGuard:
    """What a run must still look like for the dispatch that read it to act on it."""

    attempt: int
    absent: bool = False  # the run item is not written yet: a start task, or a task run ahead in a chain
    wait_until: int | None = None


@dataclass(frozen=True, slots=True)
class ResultWrite:
    """The fields a runner writes when an attempt ends.

    `status` is the result's status, WAITING when a timer will re-dispatch the run, or PENDING with
    `next_attempt` set when the run is re-dispatched at once. `atomic` marks a commit made in one
    transaction with its successors, so that a redelivered record knows nothing is left to finish.
    """

    status: TaskStatus
    attempt: int
    result: TaskResult
    started_at: str
    ended_at: str
    duration_ms: int
    next_attempt: int | None = None
    atomic: bool = False
    wait_until: int | None = None  # set when a wait task parks the run until then


class ExecutionStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        retention_days: int = 30,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = client
        self._table = table_name
        self._retention_seconds = retention_days * 86_400
        self._clock = clock

    # -- helpers ----------------------------------------------------------------------------------

    def now(self) -> str:
        return iso(self._clock())

    def _expires_at(self) -> dict[str, str]:
        return _n(int(self._clock().timestamp()) + self._retention_seconds)

    def _call(self, operation: Callable[..., Any], **params: Any) -> Any:
        try:
            return operation(**params)
        except ClientError as error:
            if _error_code(error) in _THROTTLES:
                raise StoreUnavailable("the table is busy; try again shortly") from error
            raise

    def _query_all(self, **params: Any) -> Iterator[Item]:
        while True:
            page = self._call(self._db.query, TableName=self._table, **params)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- flows ------------------------------------------------------------------------------------

    def save_flow(self, flow_id: str, definition: FlowDefinition, content_hash: str) -> tuple[FlowRecord, bool]:
        """Store `definition` as the flow's next version; the same content as the latest version is not stored again.

        Returns the version and whether it was created now.
        """
        for _ in range(5):
            head = self._get(flow_pk(flow_id), HEAD)
            latest = int(head["latest_version"]) if head else 0
            if head and head.get("content_hash") == content_hash:
                return self.get_flow(flow_id, latest), False
            version = latest + 1
            now = self.now()
            document = json.dumps(definition.model_dump(mode="json", exclude_none=True), separators=(",", ":"))
            version_item = {
                "pk": _s(flow_pk(flow_id)),
                "sk": _s(version_sk(version)),
                "flow_id": _s(flow_id),
                "version": _n(version),
                "name": _s(definition.name),
                "created_at": _s(now),
                "definition": _s(document),
                "content_hash": _s(content_hash),
            }
            head_item = {
                "pk": _s(flow_pk(flow_id)),
                "sk": _s(HEAD),
                "flow_id": _s(flow_id),
                "name": _s(definition.name),
                "latest_version": _n(version),
                "content_hash": _s(content_hash),
                "created_at": _s(head["created_at"] if head else now),
                "updated_at": _s(now),
                "gsi1pk": _s(FLOWS_INDEX_PK),
                "gsi1sk": _s(flow_id),
            }
            head_condition: dict[str, Any] = (
                {
                    "ConditionExpression": "latest_version = :latest",
                    "ExpressionAttributeValues": {":latest": _n(latest)},
                }
                if head
                else {"ConditionExpression": "attribute_not_exists(pk)"}
            )
            try:
                self._call(
                    self._db.transact_write_items,
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": version_item,
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        {"Put": {"TableName": self._table, "Item": head_item, **head_condition}},
                    ],
                )
            except ClientError as error:
                if _error_code(error) == "TransactionCanceledException":
                    continue  # another writer created a version first: read the head again
                raise
            return FlowRecord(flow_id, version, definition.name, now, FlowSpec.from_json(document), content_hash), True
        raise Conflict(f"flow '{flow_id}' is being changed by other requests; try again")

    def get_flow(self, flow_id: str, version: int | None = None) -> FlowRecord:
        if version is None:
            head = self._get(flow_pk(flow_id), HEAD)
            if head is None:
                raise NotFound(f"flow '{flow_id}' does not exist")
            version = int(head["latest_version"])
        item = self._get(flow_pk(flow_id), version_sk(version), consistent=False) or self._get(
            flow_pk(flow_id), version_sk(version)
        )
        if item is None:
            raise NotFound(f"flow '{flow_id}' has no version {version}")
        return FlowRecord(
            flow_id=flow_id,
            version=version,
            name=item["name"],
            created_at=item["created_at"],
            definition=FlowSpec.from_json(item["definition"]),
            content_hash=item["content_hash"],
        )

    def list_flows(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(FLOWS_INDEX_PK)},
            "Limit": limit,
        }
        start = _decode_cursor(cursor)
        if start:
            params["ExclusiveStartKey"] = start
        page = self._call(self._db.query, **params)
        flows = [
            {
                "flow_id": item["flow_id"],
                "name": item["name"],
                "latest_version": int(item["latest_version"]),
                "created_at": item["created_at"],
                "updated_at": item["updated_at"],
            }
            for item in map(plain, page.get("Items", []))
        ]
        return flows, _encode_cursor(page.get("LastEvaluatedKey"))

    def delete_flow(self, flow_id: str) -> None:
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in self._query_all(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": _s(flow_pk(flow_id))},
                ProjectionExpression="pk, sk",
            )
        ]
        if not keys:
            raise NotFound(f"flow '{flow_id}' does not exist")
        self._delete_keys(keys)

    # -- executions -------------------------------------------------------------------------------

    def create_execution(self, record: ExecutionRecord) -> ExecutionRecord:
        """Write a new execution; an existing one with the same id is returned instead (idempotent starts)."""
        item: Item = {
            "pk": _s(exec_pk(record.execution_id)),
            "sk": _s(META),
            "execution_id": _s(record.execution_id),
            "flow_id": _s(record.flow_id),
            "flow_version": _n(record.flow_version),
            "flow_name": _s(record.flow_name),
            "status": _s(record.status),
            "input": _s(json.dumps(record.input, separators=(",", ":"))),
            "created_at": _s(record.created_at),
            "open_branches": _n(1),
            "gsi1pk": _s(flow_pk(record.flow_id)),
            "gsi1sk": _s(f"{record.created_at}#{record.execution_id}"),
            "expires_at": self._expires_at(),
        }
        if record.started_at:
            item["started_at"] = _s(record.started_at)
        if record.idempotency_key:
            item["idempotency_key"] = _s(record.idempotency_key)
            item["input_hash"] = _s(record.input_hash or "")
        try:
            self._call(
                self._db.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException" and "Item" in error.response:
                return ExecutionRecord.from_item(plain(error.response["Item"]))  # type: ignore[typeddict-item]
            raise
        return record

    def start_execution(self, execution_id: str) -> ExecutionRecord:
        """CREATED -> RUNNING. The stream record of this change dispatches the start task."""
        try:
            answer = self._call(
                self._db.update_item,
                TableName=self._table,
                Key={"pk": _s(exec_pk(execution_id)), "sk": _s(META)},
                UpdateExpression="SET #status = :running, started_at = :now",
                ConditionExpression="#status = :created",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":running": _s(ExecutionStatus.RUNNING),
                    ":created": _s(ExecutionStatus.CREATED),
                    ":now": _s(self.now()),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise
            if "Item" not in error.response:
                raise NotFound(f"execution '{execution_id}' does not exist") from error
            current = ExecutionRecord.from_item(plain(error.response["Item"]))  # type: ignore[typeddict-item]
            raise Conflict(
                f"execution '{execution_id}' is {current.status}; only a CREATED execution can be started"
            ) from error
        return ExecutionRecord.from_item(plain(answer["Attributes"]))

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        item = self._get(exec_pk(execution_id), META)
        return ExecutionRecord.from_item(item) if item else None

    def require_execution(self, execution_id: str) -> ExecutionRecord:
        record = self.get_execution(execution_id)
        if record is None:
            raise NotFound(f"execution '{execution_id}' does not exist")
        return record

    def list_runs(self, execution_id: str) -> list[RunRecord]:
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
            ExpressionAttributeValues={":pk": _s(exec_pk(execution_id)), ":run": _s("RUN#")},
            ConsistentRead=True,
        )
        return [RunRecord.from_item(plain(item)) for item in items]

    def list_executions(
        self, flow_id: str, status: ExecutionStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[ExecutionRecord], str | None]:
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(flow_pk(flow_id))},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if status is not None:
            params["FilterExpression"] = "#status = :status"
            params["ExpressionAttributeNames"] = {"#status": "status"}
            params["ExpressionAttributeValues"][":status"] = _s(status)
        start = _decode_cursor(cursor)
        if start:
            params["ExclusiveStartKey"] = start
        page = self._call(self._db.query, **params)
        records = [ExecutionRecord.from_item(plain(item)) for item in page.get("Items", [])]
        return records, _encode_cursor(page.get("LastEvaluatedKey"))

    def has_active_executions(self, flow_id: str) -> bool:
        for item in self._query_all(
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            FilterExpression="#status IN (:created, :running)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":pk": _s(flow_pk(flow_id)),
                ":created": _s(ExecutionStatus.CREATED),
                ":running": _s(ExecutionStatus.RUNNING),
            },
            ProjectionExpression="pk",
        ):
            if item:
                return True
        return False

    def delete_execution(self, execution_id: str) -> int:
        """Delete the execution and every task run; returns how many items were removed."""
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in self._query_all(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": _s(exec_pk(execution_id))},
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
            )
        ]
        if not keys:
            raise NotFound(f"execution '{execution_id}' does not exist")
        # Runs first, the execution item last: a runner that still sees the execution sees it whole.
        keys.sort(key=lambda key: key["sk"]["S"] == META)
        self._delete_keys(keys)
        return len(keys)

    def _delete_keys(self, keys: list[Item]) -> None:
        for start in range(0, len(keys), 25):
            requests: Any = {self._table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]}
            for _ in range(8):
                answer = self._call(self._db.batch_write_item, RequestItems=requests)
                requests = answer.get("UnprocessedItems") or {}
                if not requests:
                    break
            else:
                raise StoreUnavailable("the table kept refusing deletes; try again shortly")

    # -- task runs (the runner's writes) ------------------------------------------------------------

    def new_run_item(self, ref: RunRef, status: TaskStatus = TaskStatus.PENDING) -> Item:
        item: Item = {
            "pk": _s(exec_pk(ref.execution_id)),
            "sk": _s(ref.sort_key),
            "status": _s(status),
            "attempt": _n(1),
            "expires_at": self._expires_at(),
        }
        if status is TaskStatus.SKIPPED:
            item["ended_at"] = _s(self.now())
        return item

    def get_run(self, ref: RunRef) -> RunRecord | None:
        item = self._get(exec_pk(ref.execution_id), ref.sort_key)
        return RunRecord.from_item(item) if item else None

    def delete_run(self, ref: RunRef) -> None:
        self._call(
            self._db.delete_item,
            TableName=self._table,
            Key={"pk": _s(exec_pk(ref.execution_id)), "sk": _s(ref.sort_key)},
        )

    def put_successor(self, ref: RunRef, status: TaskStatus = TaskStatus.PENDING) -> bool:
        """Create a PENDING (or SKIPPED) run unless it exists already; True when this call created it."""
        try:
            self._call(
                self._db.put_item,
                TableName=self._table,
                Item=self.new_run_item(ref, status),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def claim_update(self, ref: RunRef, guard: DispatchGuard, token: str, lease_until: int) -> Update:
        condition, values = _dispatch_condition(guard)
        attempt = guard.attempt
        return Update(
            key={"pk": _s(exec_pk(ref.execution_id)), "sk": _s(ref.sort_key)},
            expression="SET #status = :running, attempt = :attempt, claim = :token, lease_until = :lease, "
            "started_at = :now, expires_at = if_not_exists(expires_at, :expires)",
            names={"#status": "status"},
            values={
                **values,
                ":attempt": _n(attempt),
                ":running": _s(TaskStatus.RUNNING),
                ":token": _s(token),
                ":lease": _n(lease_until),
                ":now": _s(self.now()),
                ":expires": self._expires_at(),
            },
            condition=condition,
        )

    def reclaim_update(self, ref: RunRef, attempt: int, claim: str) -> Update:
        """Hand a run whose lease ran out back to the stream: RUNNING under `claim` -> PENDING."""
        return Update(
            key={"pk": _s(exec_pk(ref.execution_id)), "sk": _s(ref.sort_key)},
            expression="SET #status = :pending REMOVE claim, lease_until",
            names={"#status": "status"},
            values={
                ":pending": _s(TaskStatus.PENDING),
                ":running": _s(TaskStatus.RUNNING),
                ":claim": _s(claim),
                ":attempt": _n(attempt),
            },
            condition="#status = :running AND claim = :claim AND attempt = :attempt",
        )

    def result_update(self, ref: RunRef, write: ResultWrite, claim: str | None, guard: DispatchGuard) -> Update:
        """The write that ends an attempt. Its condition is what makes a result commit at most once."""
        if claim is not None:
            condition = "#status = :running_status AND claim = :claim AND attempt = :attempt"
            values: Item = {
                ":running_status": _s(TaskStatus.RUNNING),
                ":claim": _s(claim),
                ":attempt": _n(write.attempt),
            }
        else:
            condition, values = _dispatch_condition(guard)
        result = write.result
        values.update(
            {
                ":status": _s(write.status),
                ":set_attempt": _n(write.next_attempt or write.attempt),
                ":atomic": {"BOOL": write.atomic},
                ":started": _s(write.started_at),
                ":ended": _s(write.ended_at),
                ":duration": _n(write.duration_ms),
                ":message": _s(result.message or ""),
                ":output": _s(json.dumps(result.output, separators=(",", ":"), default=str)),
                ":error": _s(result.error or ""),
                ":expires": self._expires_at(),
            }
        )
        return Update(
            key={"pk": _s(exec_pk(ref.execution_id)), "sk": _s(ref.sort_key)},
            expression="SET #status = :status, attempt = :set_attempt, started_at = :started, ended_at = :ended, "
            "duration_ms = :duration, message = :message, #output = :output, #error = :error, #atomic = :atomic, "
            "expires_at = if_not_exists(expires_at, :expires)"
            + (", wait_until = :park" if write.wait_until is not None else "")
            + " REMOVE claim, lease_until"
            + ("" if write.wait_until is not None else ", wait_until"),
            names={"#status": "status", "#output": "output", "#error": "error", "#atomic": "atomic"},
            values={**values, ":park": _n(write.wait_until)} if write.wait_until is not None else values,
            condition=condition,
        )

    def skip_update(self, ref: RunRef, guard: DispatchGuard) -> Update:
        condition, values = _dispatch_condition(guard)
        attempt = guard.attempt
        return Update(
            key={"pk": _s(exec_pk(ref.execution_id)), "sk": _s(ref.sort_key)},
            expression="SET #status = :skipped, attempt = :attempt, ended_at = :now, "
            "expires_at = if_not_exists(expires_at, :expires)",
            names={"#status": "status"},
            values={
                **values,
                ":attempt": _n(attempt),
                ":skipped": _s(TaskStatus.SKIPPED),
                ":now": _s(self.now()),
                ":expires": self._expires_at(),
            },
            condition=condition,
        )

    def apply_run_update(self, update: Update) -> None:
        """Apply a conditional run update alone; `RunConflict` carries the run as it stands when it fails."""
        try:
            self._call(
                self._db.update_item, **update.params(self._table), ReturnValuesOnConditionCheckFailure="ALL_OLD"
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                old = error.response.get("Item")
                raise RunConflict(RunRecord.from_item(plain(old)) if old else None) from error  # type: ignore[arg-type]
            raise

    def execution_update(
        self,
        execution_id: str,
        expected_open: int,
        open_branches: int,
        status: ExecutionStatus | None = None,
        error: str | None = None,
        failed: bool = False,
    ) -> Update:
        """Move the branch count (and, when it reaches zero, the status) from the value the runner read."""
        names = {"#status": "status"}
        values: Item = {
            ":running": _s(ExecutionStatus.RUNNING),
            ":expected": _n(expected_open),
            ":open": _n(open_branches),
        }
        sets = ["open_branches = :open"]
        if failed:
            sets.append("failed = :true")
            values[":true"] = {"BOOL": True}
        if error:
            sets.append("#error = if_not_exists(#error, :error)")
            names["#error"] = "error"
            values[":error"] = _s(error)
        if status is not None:
            sets += ["#status = :final", "ended_at = :now"]
            values[":final"] = _s(status)
            values[":now"] = _s(self.now())
        return Update(
            key={"pk": _s(exec_pk(execution_id)), "sk": _s(META)},
            expression="SET " + ", ".join(sets),
            names=names,
            values=values,
            condition="#status = :running AND open_branches = :expected",
        )

    def stop_execution_update(
        self, execution_id: str, status: ExecutionStatus, error: str | None, from_created: bool = False
    ) -> Update:
        """End an execution whatever its branches are doing (transition limit, timeout, cancel)."""
        names = {"#status": "status"}
        values: Item = {
            ":running": _s(ExecutionStatus.RUNNING),
            ":created": _s(ExecutionStatus.CREATED if from_created else ExecutionStatus.RUNNING),
            ":final": _s(status),
            ":now": _s(self.now()),
        }
        expression = "SET #status = :final, ended_at = :now"
        if error:
            expression += ", #error = :error"
            names["#error"] = "error"
            values[":error"] = _s(error)
        return Update(
            key={"pk": _s(exec_pk(execution_id)), "sk": _s(META)},
            expression=expression,
            names=names,
            values=values,
            condition="#status IN (:running, :created)",
        )

    def fail_dispatch(self, execution_id: str, run_sort_key: str, attempt: int | None, reason: str) -> bool:
        """Fail a dispatch the runner gave up on, and its execution, unless the dispatch was processed after all.

        `attempt` None is a start dispatch: its run item does not exist until the start task ends, so it is
        created here as FAILURE. Otherwise the run must still be PENDING at `attempt`. Records that follow a
        failed one in a batch were processed on every retry; their runs have moved on, and are left alone.
        """
        key = {"pk": _s(exec_pk(execution_id)), "sk": _s(run_sort_key)}
        values: Item = {
            ":failure": _s(TaskStatus.FAILURE),
            ":reason": _s(reason),
            ":now": _s(self.now()),
            ":expires": self._expires_at(),
        }
        if attempt is None:
            condition = "attribute_not_exists(pk)"
            values[":attempt"] = _n(1)
        else:
            condition = "#status = :pending AND attempt = :attempt"
            values.update({":pending": _s(TaskStatus.PENDING), ":attempt": _n(attempt)})
        try:
            self._call(
                self._db.update_item,
                TableName=self._table,
                Key=key,
                UpdateExpression="SET #status = :failure, #error = :reason, ended_at = :now, attempt = :attempt, "
                "expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return self.apply_execution_update(self.stop_execution_update(execution_id, ExecutionStatus.FAILED, reason))

    def skip_open_runs(self, execution_id: str) -> int:
        """Mark every PENDING or WAITING run SKIPPED; runs already claimed finish on their own."""
        skipped = 0
        for run in self.list_runs(execution_id):
            if run.status not in (TaskStatus.PENDING, TaskStatus.WAITING):
                continue
            try:
                self._call(
                    self._db.update_item,
                    TableName=self._table,
                    Key={"pk": _s(exec_pk(execution_id)), "sk": _s(run.ref.sort_key)},
                    UpdateExpression="SET #status = :skipped, ended_at = :now",
                    ConditionExpression="#status IN (:pending, :waiting) AND attempt = :attempt",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":skipped": _s(TaskStatus.SKIPPED),
                        ":now": _s(self.now()),
                        ":pending": _s(TaskStatus.PENDING),
                        ":waiting": _s(TaskStatus.WAITING),
                        ":attempt": _n(run.attempt),
                    },
                )
            except ClientError as error:
                if _error_code(error) != "ConditionalCheckFailedException":
                    raise
                continue
            skipped += 1
        return skipped

    def apply_execution_update(self, update: Update) -> bool:
        """Apply an execution update alone; False when its condition no longer holds."""
        try:
            self._call(self._db.update_item, **update.params(self._table))
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def commit(self, run_update: Update, successors: tuple[RunRef, ...], execution_update: Update | None) -> None:
        """Commit a result, its successors and the execution's branch count all at once.

        Raises `RunConflict` when the run had changed, `ExecutionConflict` when the execution had.
        """
        items: list[Any] = [
            {"Update": {**run_update.params(self._table), "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
        ]
        items += [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self.new_run_item(ref),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for ref in successors
        ]
        if execution_update is not None:
            items.append({"Update": execution_update.params(self._table)})
        try:
            self._call(self._db.transact_write_items, TransactItems=items)
        except ClientError as error:
            if _error_code(error) != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons", [])
            codes = [str(reason.get("Code", "None")) for reason in reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                old: Any = reasons[0].get("Item")
                raise RunConflict(RunRecord.from_item(plain(old)) if old else None) from error
            if execution_update is not None and codes and codes[-1] == "ConditionalCheckFailed":
                raise ExecutionConflict() from error
            taken = tuple(
                ref for ref, code in zip(successors, codes[1:], strict=False) if code == "ConditionalCheckFailed"
            )
            if taken:
                raise SuccessorsExist(taken) from error
            raise StoreUnavailable(f"the commit was refused ({', '.join(codes)}); it will be retried") from error

    def _get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        answer = self._call(
            self._db.get_item, TableName=self._table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=consistent
        )
        item = answer.get("Item")
        return plain(item) if item else None


def _dispatch_condition(guard: DispatchGuard) -> tuple[str, Item]:
    """The run must still be the one dispatched: absent for a start or chained dispatch, else PENDING at this
    attempt, and resumed from a wait exactly when the dispatch says so (a stale record from before the wait is not)."""
    if guard.absent:
        return "attribute_not_exists(pk)", {}
    condition = "#status = :pending AND attempt = :attempt"
    values: Item = {":pending": _s(TaskStatus.PENDING), ":attempt": _n(guard.attempt)}
    if guard.wait_until is None:
        condition += " AND attribute_not_exists(wait_until)"
    else:
        condition += " AND wait_until = :wait_until"
        values[":wait_until"] = _n(guard.wait_until)
    return condition, values
