"""Flows: a head item per flow and one immutable item per version, in the flow's partition.

A version number, once given, always means the same definition. Deleting a flow therefore keeps its head as
a tombstone (`deleted_at`, out of the listing index) holding the last number given, so that a flow stored
again under the same id goes on from there; its versions stay readable for the executions that ran them and
expire with DynamoDB's TTL after the retention period, by when every such execution has expired too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.codec import flow_from, flow_head_from
from flowcore.adapters.dynamodb.paging import KeyShape, decode_cursor, encode_cursor
from flowcore.adapters.dynamodb.stamps import Stamps
from flowcore.adapters.dynamodb.table import Cancelled, Refused, Table, Update, key
from flowcore.adapters.dynamodb.values import Item, compact, n, s
from flowcore.domain import tenancy
from flowcore.domain.errors import Conflict, NotFound
from flowcore.domain.flow import FlowSpec
from flowcore.domain.records import FlowHead, FlowRecord
from flowcore.domain.tenancy import shown

_SAVE_ROUNDS = 5
_LISTING = "flows"
#: A position in the listing: a flow head as GSI1 holds it.
_HEAD_KEY = KeyShape(("pk", "sk", "gsi1pk", "gsi1sk"))


class DynamoFlowRepository:
    def __init__(self, table: Table, stamps: Stamps) -> None:
        self._table = table
        self._stamps = stamps

    def save(self, flow_id: str, document: dict[str, Any], content_hash: str) -> tuple[FlowRecord, bool]:
        """Store `document` as the flow's next version; the same content as the latest version of a live flow
        is not stored again. Two writers racing for one version number: the loser reads the head again."""
        for _ in range(_SAVE_ROUNDS):
            head = self._table.get(keys.flow_pk(flow_id), keys.HEAD)
            live = head is not None and "deleted_at" not in head
            if live and head is not None and head.get("content_hash") == content_hash:
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
        raise Conflict(f"flow '{shown(flow_id)}' is being changed by other requests; try again")

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
        """The head moves only from the version it was read at (or is created, for a new flow). Stored again
        after a delete, a flow's head loses its tombstone and `created_at` starts anew."""
        live = head is not None and "deleted_at" not in head
        item = {
            "pk": s(keys.flow_pk(flow_id)),
            "sk": s(keys.HEAD),
            "flow_id": s(flow_id),
            "name": s(name),
            "latest_version": n(version),
            "content_hash": s(content_hash),
            "created_at": s(head["created_at"] if head and live else now),
            "updated_at": s(now),
            "gsi1pk": s(keys.flows_index_pk(tenancy.tenant_of(flow_id))),
            "gsi1sk": s(tenancy.shown(flow_id)),
        }
        if head is None:
            return self._put(item)
        condition = {
            "ConditionExpression": "latest_version = :latest",
            "ExpressionAttributeValues": {":latest": n(int(head["latest_version"]))},
        }
        return {"Put": {"TableName": self._table.name, "Item": item, **condition}}

    def head(self, flow_id: str) -> FlowHead | None:
        item = self._table.get(keys.flow_pk(flow_id), keys.HEAD)
        if item is None:
            return None
        return replace(flow_head_from(item), deleted_at=item.get("deleted_at"))

    def get(self, flow_id: str, version: int | None = None) -> FlowRecord:
        if version is None:
            head = self.head(flow_id)
            if head is None:
                raise NotFound(f"flow '{shown(flow_id)}' does not exist")
            if head.deleted_at is not None:
                raise NotFound(f"flow '{shown(flow_id)}' was deleted at {head.deleted_at}")
            version = head.latest_version
        pk, sk = keys.flow_pk(flow_id), keys.version_sk(version)
        # Versions never change: an eventually consistent read, and a strong one only if it missed a new version.
        item = self._table.get(pk, sk, consistent=False) or self._table.get(pk, sk)
        if item is None:
            raise NotFound(f"flow '{shown(flow_id)}' has no version {version}")
        return flow_from(item)

    def list_heads(self, tenant: str, limit: int, cursor: str | None) -> tuple[list[FlowHead], str | None]:
        """The tenant's live flows only: a deleted flow's head has left the index."""
        params: dict[str, Any] = {
            "IndexName": keys.GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": s(keys.flows_index_pk(tenant))},
            "Limit": limit,
        }
        start = decode_cursor(cursor, _LISTING, _HEAD_KEY, lambda position: _is_head_position(position, tenant))
        if start:
            params["ExclusiveStartKey"] = start
        items, last = self._table.query_page(**params)
        return [flow_head_from(item) for item in items], encode_cursor(last, _LISTING)

    def delete(self, flow_id: str) -> None:
        """Tombstone the head (it leaves the listing, keeps the numbering), then let the versions expire."""
        now = self._stamps.now()
        tombstone = Update(
            key=key(keys.flow_pk(flow_id), keys.HEAD),
            expression="SET #deleted = :now, #updated = :now REMOVE #gsi1pk, #gsi1sk",
            names={"#deleted": "deleted_at", "#updated": "updated_at", "#gsi1pk": "gsi1pk", "#gsi1sk": "gsi1sk"},
            values={":now": s(now)},
            condition="attribute_exists(pk) AND attribute_not_exists(#deleted)",
        )
        try:
            self._table.update(tombstone)
        except Refused as refused:
            raise NotFound(f"flow '{shown(flow_id)}' does not exist") from refused
        self._expire_versions(flow_id)

    def _expire_versions(self, flow_id: str) -> None:
        """Each version gets the TTL an execution started now would get: none that ran it outlives it."""
        expires_at = self._stamps.expires_at()
        versions = self._table.query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :version)",
            ExpressionAttributeValues={":pk": s(keys.flow_pk(flow_id)), ":version": s(keys.VERSION_PREFIX)},
            ProjectionExpression="pk, sk, expires_at",
        )
        for item in versions:
            if "expires_at" in item:
                continue
            expiry = Update(
                key=key(item["pk"], item["sk"]),
                expression="SET #expires = :expires",
                names={"#expires": "expires_at"},
                values={":expires": n(expires_at)},
                condition="attribute_exists(pk)",
            )
            try:
                self._table.update(expiry)
            except Refused:
                continue  # gone already (TTL): nothing to expire


def _is_head_position(position: dict[str, str], tenant: str) -> bool:
    """A listing position names one of the tenant's flow heads: its partition, its HEAD sort key and the index
    keys of that head (a cursor made for another tenant's listing is not one)."""
    flow_id = position["gsi1sk"]
    return (
        bool(flow_id)
        and position["gsi1pk"] == keys.flows_index_pk(tenant)
        and position["sk"] == keys.HEAD
        and position["pk"] == keys.flow_pk(tenancy.scoped(tenant, flow_id))
    )
