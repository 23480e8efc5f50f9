"""The table's few primitives, and the one place that reads DynamoDB's errors.

A refused condition becomes `Refused` (carrying the item as it stands, when asked for), a cancelled
transaction `Cancelled` (the reason of each of its items), and throttling `StoreUnavailable`. The
repositories turn these into the domain's conflicts; nothing else in the service catches a `ClientError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from flowcore.adapters.dynamodb.values import Item, plain, s
from flowcore.domain.errors import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_THROTTLES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"}
)
_BATCH = 25
_BATCH_ROUNDS = 8


class Refused(Exception):
    """A write's condition did not hold; `item` is the item as it stands (None: absent, or not asked for)."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition not met")
        self.item = item


class Cancelled(Exception):
    """A transaction was cancelled; `reasons[i]` is the code for its i-th item ("None" where it was fine)
    and `items[i]` the item as it stood, where DynamoDB returned it."""

    def __init__(self, reasons: list[str], items: list[dict[str, Any] | None]) -> None:
        super().__init__(f"transaction cancelled ({', '.join(reasons)})")
        self.reasons = reasons
        self.items = items


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


def key(pk: str, sk: str) -> Item:
    return {"pk": s(pk), "sk": s(sk)}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class Table:
    def __init__(self, client: DynamoDBClient, name: str) -> None:
        self._db = client
        self.name = name

    def _call(self, operation: Callable[..., Any], **params: Any) -> Any:
        try:
            return operation(**params)
        except ClientError as error:
            code = _code(error)
            if code == "ConditionalCheckFailedException":
                old = error.response.get("Item")
                raise Refused(plain(old) if old else None) from error  # type: ignore[arg-type]
            if code == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons", [])
                items = [plain(reason["Item"]) if reason.get("Item") else None for reason in reasons]
                raise Cancelled([str(reason.get("Code", "None")) for reason in reasons], items) from error
            if code in _THROTTLES:
                raise StoreUnavailable("the table is busy; try again shortly") from error
            raise

    def get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        answer = self._call(self._db.get_item, TableName=self.name, Key=key(pk, sk), ConsistentRead=consistent)
        item = answer.get("Item")
        return plain(item) if item else None

    def put(self, item: Item, condition: str, values: Item | None = None, return_old: bool = False) -> None:
        """Write `item` when `condition` holds (`Refused` otherwise), `values` its placeholders."""
        extra: dict[str, Any] = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if return_old else {}
        if values:
            extra["ExpressionAttributeValues"] = values
        self._call(self._db.put_item, TableName=self.name, Item=item, ConditionExpression=condition, **extra)

    def update(self, update: Update, return_old: bool = False) -> None:
        extra = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if return_old else {}
        self._call(self._db.update_item, **update.params(self.name), **extra)

    def update_returning(self, update: Update) -> dict[str, Any]:
        """Apply one update and return the item as it is after it (`Refused` carries it as it was)."""
        answer = self._call(
            self._db.update_item,
            **update.params(self.name),
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return plain(answer["Attributes"])

    def transact(self, items: list[dict[str, Any]]) -> None:
        self._call(self._db.transact_write_items, TransactItems=items)

    def query_page(self, **params: Any) -> tuple[list[dict[str, Any]], Item | None]:
        page = self._call(self._db.query, TableName=self.name, **params)
        return [plain(item) for item in page.get("Items", [])], page.get("LastEvaluatedKey")

    def query_all(self, **params: Any) -> Iterator[dict[str, Any]]:
        while True:
            items, last = self.query_page(**params)
            yield from items
            if last is None:
                return
            params["ExclusiveStartKey"] = last

    def delete(self, pk: str, sk: str) -> None:
        self._call(self._db.delete_item, TableName=self.name, Key=key(pk, sk))

    def delete_all(self, keys: list[tuple[str, str]]) -> None:
        """Delete in batches, in the order given."""
        for start in range(0, len(keys), _BATCH):
            requests: Any = {
                self.name: [{"DeleteRequest": {"Key": key(*pair)}} for pair in keys[start : start + _BATCH]]
            }
            for _ in range(_BATCH_ROUNDS):
                answer = self._call(self._db.batch_write_item, RequestItems=requests)
                requests = answer.get("UnprocessedItems") or {}
                if not requests:
                    break
            else:
                raise StoreUnavailable("the table kept refusing deletes; try again shortly")
