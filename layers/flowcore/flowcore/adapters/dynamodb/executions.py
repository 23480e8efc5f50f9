"""Executions: one item per execution, in a partition that also holds its task runs."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from flowcore.adapters.dynamodb import execution_writes, expressions, keys, quotas
from flowcore.adapters.dynamodb.codec import execution_from, execution_item
from flowcore.adapters.dynamodb.paging import KeyShape, decode_cursor, encode_cursor
from flowcore.adapters.dynamodb.stamps import Stamps
from flowcore.adapters.dynamodb.table import Cancelled, Refused, Table, Update
from flowcore.adapters.dynamodb.values import Item, n, s
from flowcore.domain.errors import Conflict, FlowError, NotFound
from flowcore.domain.records import BranchChange, ExecutionRecord
from flowcore.domain.statuses import ACTIVE_EXECUTION_STATUSES, ExecutionEvent, ExecutionStatus
from flowcore.domain.tenancy import shown

#: A position in a flow's executions: an execution item as GSI1 holds it.
_LISTED_EXECUTION = KeyShape(("pk", "sk", "gsi1pk", "gsi1sk"))


class DynamoExecutionRepository:
    """`running_limit`: the running executions a tenant may have (`flowcore.adapters.dynamodb.quotas`; 0: no
    limit, and none are counted)."""

    def __init__(self, table: Table, stamps: Stamps, running_limit: int = 0) -> None:
        self._table = table
        self._stamps = stamps
        self._running_limit = running_limit

    def create(self, record: ExecutionRecord) -> ExecutionRecord:
        """Write a new execution; one with the same id (a child its parent's attempt started already), or the
        one its idempotency key started already in this flow, is returned instead. A RUNNING one takes a place
        among its tenant's running executions."""
        if record.status is ExecutionStatus.RUNNING and self._running_limit > 0:
            record = replace(record, counted=True)
        item = execution_item(record, self._stamps.expires_at())
        if not record.idempotency_key and not record.counted:
            try:
                self._table.put(item, expressions.ABSENT_ITEM, return_old=True)
            except Refused as refused:
                if refused.item is None:
                    raise
                return execution_from(refused.item)
            return record
        writes: list[dict[str, Any]] = [self._put(item)]
        if record.idempotency_key:
            writes.append(self._put(self._idempotency_item(record)))
        if record.counted:
            counter = quotas.running_change(record.execution_id, 1, self._running_limit)
            writes.append({"Update": counter.params(self._table.name)})
        try:
            self._table.transact(writes)
        except Cancelled as cancelled:
            return self._created_before(record, cancelled)
        return record

    def _put(self, item: Item) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table.name,
                "Item": item,
                "ConditionExpression": expressions.ABSENT_ITEM,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _idempotency_item(self, record: ExecutionRecord) -> Item:
        """In the flow's partition: the key (as its digest) names the execution it started, while that lives."""
        assert record.idempotency_key is not None
        return {
            "pk": s(keys.flow_pk(record.flow_id)),
            "sk": s(_idempotency_sk(record.idempotency_key)),
            "execution_id": s(record.execution_id),
            "expires_at": n(self._stamps.expires_at()),
        }

    def find_started(self, flow_id: str, idempotency_key: str) -> ExecutionRecord | None:
        item = self._table.get(keys.flow_pk(flow_id), _idempotency_sk(idempotency_key))
        return self.get(str(item["execution_id"])) if item else None

    def _created_before(self, record: ExecutionRecord, cancelled: Cancelled) -> ExecutionRecord:
        """Why a create was refused, by the position of the refused write: the execution existed (returned), the
        key's earlier execution (returned), or the running quota (raised)."""
        refused = [code == "ConditionalCheckFailed" for code in cancelled.reasons]
        if refused and refused[0] and cancelled.items[0] is not None:
            return execution_from(cancelled.items[0])
        if record.idempotency_key and len(refused) > 1 and refused[1] and cancelled.items[1] is not None:
            found = self.get(str(cancelled.items[1]["execution_id"]))
            if found is not None:
                return found
        if record.counted and refused and refused[-1]:
            raise quotas.running_refused(record.execution_id, self._running_limit) from cancelled
        raise Conflict(f"execution '{shown(record.execution_id)}' could not be created; try again") from cancelled

    def start(self, execution_id: str) -> ExecutionRecord:
        update = execution_writes.start(execution_id, self._stamps.now(), counted=self._running_limit > 0)
        try:
            if self._running_limit <= 0:
                return execution_from(self._table.update_returning(update))
            counter = quotas.running_change(execution_id, 1, self._running_limit)
            old = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
            self._table.transact(
                [{"Update": {**update.params(self._table.name), **old}}, {"Update": counter.params(self._table.name)}]
            )
        except Refused as refused:
            raise self._not_startable(execution_id, refused.item) from refused
        except Cancelled as cancelled:
            if cancelled.reasons[0] == "ConditionalCheckFailed":
                raise self._not_startable(execution_id, cancelled.items[0]) from cancelled
            raise quotas.running_refused(execution_id, self._running_limit) from cancelled
        started = self.get(execution_id)
        if started is None:
            raise NotFound(f"execution '{shown(execution_id)}' does not exist")
        return started

    @staticmethod
    def _not_startable(execution_id: str, item: dict[str, Any] | None) -> FlowError:
        if item is None:
            return NotFound(f"execution '{shown(execution_id)}' does not exist")
        current = execution_from(item)
        return Conflict(
            f"execution '{shown(execution_id)}' is {current.status}; only a CREATED execution can be started"
        )

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
            raise NotFound(f"execution '{shown(execution_id)}' does not exist")
        # Runs first, the execution item last: a runner that still sees the execution sees it whole.
        pairs.sort(key=lambda pair: pair[1] == keys.META)
        self._table.delete_all(pairs)
        return len(pairs)

    def stop(self, execution_id: str, event: ExecutionEvent, reason: str | None) -> bool:
        """End it; a counted execution gives back its place among the running ones in the same write (tried
        first whatever the quota is now: an execution counted under an earlier quota still gives its place back)."""
        now = self._stamps.now()
        counted = execution_writes.stop(execution_id, event, reason, now, counted=True)
        if self._released(counted, execution_id):
            return True
        return self._apply(execution_writes.stop(execution_id, event, reason, now, counted=False))

    def move_branches(self, execution_id: str, change: BranchChange) -> bool:
        update = execution_writes.branches(execution_id, change, self._stamps.now())
        if change.final is not None and change.release:
            return self._released(update, execution_id)
        return self._apply(update)

    def _released(self, update: Update, execution_id: str) -> bool:
        """Apply `update` (which ends a counted execution) with the count's decrease, in one transaction."""
        counter = quotas.running_change(execution_id, -1)
        try:
            self._table.transact(
                [{"Update": update.params(self._table.name)}, {"Update": counter.params(self._table.name)}]
            )
        except Cancelled:
            return False
        return True

    def _apply(self, update: Update) -> bool:
        try:
            self._table.update(update)
        except Refused:
            return False
        return True


def _idempotency_sk(idempotency_key: str) -> str:
    return keys.idempotency_sk(hashlib.sha256(idempotency_key.encode()).hexdigest())


def _listed_under(position: dict[str, str], flow_id: str) -> bool:
    """A position among `flow_id`'s executions: its index keys are that flow's, and name the execution item."""
    created_at, _, execution_id = position["gsi1sk"].rpartition("#")
    return (
        position["gsi1pk"] == keys.flow_pk(flow_id)
        and position["sk"] == keys.META
        and bool(created_at and execution_id)
        and position["pk"] == keys.execution_pk(execution_id)
    )
