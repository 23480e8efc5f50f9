"""Flows: a head item per flow and one immutable item per version, in the flow's partition."""

from __future__ import annotations

from typing import Any

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.codec import Item, compact, flow_from, flow_head_from, n, s
from flowcore.adapters.dynamodb.paging import decode_cursor, encode_cursor
from flowcore.adapters.dynamodb.stamps import Stamps
from flowcore.adapters.dynamodb.table import Cancelled, Table
from flowcore.domain.errors import Conflict, NotFound
from flowcore.domain.flow import FlowSpec
from flowcore.domain.records import FlowHead, FlowRecord

_SAVE_ROUNDS = 5


class DynamoFlowRepository:
    def __init__(self, table: Table, stamps: Stamps) -> None:
        self._table = table
        self._stamps = stamps

    def save(self, flow_id: str, document: dict[str, Any], content_hash: str) -> tuple[FlowRecord, bool]:
        """Store `document` as the flow's next version; the same content as the latest version is not stored
        again. Two writers racing for one version number: the loser reads the head again."""
        for _ in range(_SAVE_ROUNDS):
            head = self._table.get(keys.flow_pk(flow_id), keys.HEAD)
            if head and head.get("content_hash") == content_hash:
                return self.get(flow_id, int(head["latest_version"])), False
            version = int(head["latest_version"]) + 1 if head else 1
            now = self._stamps.now()
            text = compact(document)
            try:
                self._table.transact(
                    [
                        self._put(self._version_item(flow_id, version, document["name"], now, text, content_hash)),
                        self._put_head(flow_id, version, document["name"], now, content_hash, head),
                    ]
                )
            except Cancelled:
                continue
            return FlowRecord(flow_id, version, document["name"], now, FlowSpec.from_json(text), content_hash), True
        raise Conflict(f"flow '{flow_id}' is being changed by other requests; try again")

    def _put(self, item: Item) -> dict[str, Any]:
        return {"Put": {"TableName": self._table.name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    @staticmethod
    def _version_item(flow_id: str, version: int, name: str, now: str, text: str, content_hash: str) -> Item:
        return {
            "pk": s(keys.flow_pk(flow_id)),
            "sk": s(keys.version_sk(version)),
            "flow_id": s(flow_id),
            "version": n(version),
            "name": s(name),
            "created_at": s(now),
            "definition": s(text),
            "content_hash": s(content_hash),
        }

    def _put_head(
        self, flow_id: str, version: int, name: str, now: str, content_hash: str, head: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The head moves only from the version it was read at (or is created, for a new flow)."""
        item = {
            "pk": s(keys.flow_pk(flow_id)),
            "sk": s(keys.HEAD),
            "flow_id": s(flow_id),
            "name": s(name),
            "latest_version": n(version),
            "content_hash": s(content_hash),
            "created_at": s(head["created_at"] if head else now),
            "updated_at": s(now),
            "gsi1pk": s(keys.FLOWS_INDEX_PK),
            "gsi1sk": s(flow_id),
        }
        if head is None:
            return self._put(item)
        condition = {
            "ConditionExpression": "latest_version = :latest",
            "ExpressionAttributeValues": {":latest": n(int(head["latest_version"]))},
        }
        return {"Put": {"TableName": self._table.name, "Item": item, **condition}}

    def get(self, flow_id: str, version: int | None = None) -> FlowRecord:
        if version is None:
            head = self._table.get(keys.flow_pk(flow_id), keys.HEAD)
            if head is None:
                raise NotFound(f"flow '{flow_id}' does not exist")
            version = int(head["latest_version"])
        pk, sk = keys.flow_pk(flow_id), keys.version_sk(version)
        # Versions never change: an eventually consistent read, and a strong one only if it missed a new version.
        item = self._table.get(pk, sk, consistent=False) or self._table.get(pk, sk)
        if item is None:
            raise NotFound(f"flow '{flow_id}' has no version {version}")
        return flow_from(item)

    def list_heads(self, limit: int, cursor: str | None) -> tuple[list[FlowHead], str | None]:
        params: dict[str, Any] = {
            "IndexName": keys.GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": s(keys.FLOWS_INDEX_PK)},
            "Limit": limit,
        }
        start = decode_cursor(cursor)
        if start:
            params["ExclusiveStartKey"] = start
        items, last = self._table.query_page(**params)
        return [flow_head_from(item) for item in items], encode_cursor(last)

    def delete(self, flow_id: str) -> None:
        pairs = [
            (item["pk"], item["sk"])
            for item in self._table.query_all(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": s(keys.flow_pk(flow_id))},
                ProjectionExpression="pk, sk",
            )
        ]
        if not pairs:
            raise NotFound(f"flow '{flow_id}' does not exist")
        self._table.delete_all(pairs)
