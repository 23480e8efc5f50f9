"""Executions: one item per execution, in a partition that also holds its task runs."""

from __future__ import annotations

from typing import Any

from flowcore.adapters.dynamodb import execution_writes, expressions, keys
from flowcore.adapters.dynamodb.codec import execution_from, execution_item
from flowcore.adapters.dynamodb.paging import KeyShape, decode_cursor, encode_cursor
from flowcore.adapters.dynamodb.stamps import Stamps
from flowcore.adapters.dynamodb.table import Refused, Table, Update
from flowcore.adapters.dynamodb.values import s
from flowcore.domain.errors import Conflict, NotFound
from flowcore.domain.records import BranchChange, ExecutionRecord
from flowcore.domain.statuses import ACTIVE_EXECUTION_STATUSES, ExecutionEvent, ExecutionStatus

#: A position in a flow's executions: an execution item as GSI1 holds it.
_LISTED_EXECUTION = KeyShape(("pk", "sk", "gsi1pk", "gsi1sk"))


class DynamoExecutionRepository:
    def __init__(self, table: Table, stamps: Stamps) -> None:
        self._table = table
        self._stamps = stamps

    def create(self, record: ExecutionRecord) -> ExecutionRecord:
        """Write a new execution; an existing one with the same id is returned instead (idempotent starts)."""
        try:
            self._table.put(execution_item(record, self._stamps.expires_at()), expressions.ABSENT_ITEM, return_old=True)
        except Refused as refused:
            if refused.item is None:
                raise
            return execution_from(refused.item)
        return record

    def start(self, execution_id: str) -> ExecutionRecord:
        try:
            item = self._table.update_returning(execution_writes.start(execution_id, self._stamps.now()))
        except Refused as refused:
            if refused.item is None:
                raise NotFound(f"execution '{execution_id}' does not exist") from refused
            current = execution_from(refused.item)
            raise Conflict(
                f"execution '{execution_id}' is {current.status}; only a CREATED execution can be started"
            ) from refused
        return execution_from(item)

    def get(self, execution_id: str) -> ExecutionRecord | None:
        item = self._table.get(keys.execution_pk(execution_id), keys.META)
        return execution_from(item) if item else None

    def list_of_flow(
        self, flow_id: str, status: ExecutionStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[ExecutionRecord], str | None]:
        params: dict[str, Any] = {
            "IndexName": keys.GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": s(keys.flow_pk(flow_id))},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if status is not None:
            params["FilterExpression"] = "#status = :status"
            params["ExpressionAttributeNames"] = {"#status": "status"}
            params["ExpressionAttributeValues"][":status"] = s(status)
        query = f"executions:{flow_id}:{status or ''}"
        start = decode_cursor(cursor, query, _LISTED_EXECUTION, lambda position: _listed_under(position, flow_id))
        if start:
            params["ExclusiveStartKey"] = start
        items, last = self._table.query_page(**params)
        return [execution_from(item) for item in items], encode_cursor(last, query)

    def has_active(self, flow_id: str) -> bool:
        condition, values = expressions.status_in(tuple(sorted(ACTIVE_EXECUTION_STATUSES)), "active")
        found = self._table.query_all(
            IndexName=keys.GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            FilterExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":pk": s(keys.flow_pk(flow_id)), **values},
            ProjectionExpression="pk",
        )
        return any(True for _ in found)

    def delete(self, execution_id: str) -> int:
        """Delete the execution and every task run; returns how many items were removed."""
        pairs = [
            (item["pk"], item["sk"])
            for item in self._table.query_all(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": s(keys.execution_pk(execution_id))},
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
            )
        ]
        if not pairs:
            raise NotFound(f"execution '{execution_id}' does not exist")
        # Runs first, the execution item last: a runner that still sees the execution sees it whole.
        pairs.sort(key=lambda pair: pair[1] == keys.META)
        self._table.delete_all(pairs)
        return len(pairs)

    def stop(self, execution_id: str, event: ExecutionEvent, reason: str | None) -> bool:
        return self._apply(execution_writes.stop(execution_id, event, reason, self._stamps.now()))

    def move_branches(self, execution_id: str, change: BranchChange) -> bool:
        return self._apply(execution_writes.branches(execution_id, change, self._stamps.now()))

    def _apply(self, update: Update) -> bool:
        try:
            self._table.update(update)
        except Refused:
            return False
        return True


def _listed_under(position: dict[str, str], flow_id: str) -> bool:
    """A position among `flow_id`'s executions: its index keys are that flow's, and name the execution item."""
    created_at, _, execution_id = position["gsi1sk"].rpartition("#")
    return (
        position["gsi1pk"] == keys.flow_pk(flow_id)
        and position["sk"] == keys.META
        and bool(created_at and execution_id)
        and position["pk"] == keys.execution_pk(execution_id)
    )
