"""Latest results: for each task that some template reads as `tasks.<name>`, the last run of it that ended
in the execution, in one small item beside its runs. A run reads what its templates need in one query
instead of searching the runs; a flow that reads no `tasks.<name>` writes none.

In a flow that can branch, a result is written with its run's commit, in the same transaction: the item
holds the run that committed last. In one that cannot, it is written after the commit, unless the item holds
a later run of the task already (a recovery repeating the write of a run the path has gone past).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.stamps import Stamps
from flowcore.adapters.dynamodb.table import Refused, Table
from flowcore.adapters.dynamodb.values import Item, n, output_json, ref_from, ref_item, s
from flowcore.domain.records import LatestResult
from flowcore.domain.statuses import TaskStatus

#: The run kept is not a later one than the run written.
NOT_LATER = "attribute_not_exists(pk) OR seq <= :seq"


def result_item(execution_id: str, result: LatestResult, expires_at: int) -> Item:
    item: Item = {
        "pk": s(keys.execution_pk(execution_id)),
        "sk": s(keys.result_sk(result.task_name)),
        "task": s(result.task_name),
        "seq": n(result.seq),
        "status": s(result.status),
        "attempts": n(result.attempts),
        "output": s(output_json(result.output)),
        "expires_at": n(expires_at),
    }
    if result.output_ref is not None:
        item["output_ref"] = ref_item(result.output_ref)
    if result.error:
        item["error"] = s(result.error)
    return item


def result_from(item: dict[str, Any]) -> LatestResult:
    return LatestResult(
        task_name=str(item["task"]),
        seq=int(item["seq"]),
        status=TaskStatus(item["status"]),
        attempts=int(item["attempts"]),
        output=json.loads(item["output"]),
        output_ref=ref_from(item.get("output_ref")),
        error=item.get("error"),
    )


class DynamoResultRepository:
    def __init__(self, table: Table, stamps: Stamps) -> None:
        self._table = table
        self._stamps = stamps

    def remember(self, execution_id: str, result: LatestResult) -> None:
        try:
            self._table.put(
                result_item(execution_id, result, self._stamps.expires_at()), NOT_LATER, {":seq": n(result.seq)}
            )
        except Refused:
            return  # a later run of the task is kept already

    def latest(self, execution_id: str, names: Iterable[str]) -> dict[str, LatestResult]:
        wanted = set(names)
        if not wanted:
            return {}
        items = self._table.query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :result)",
            ExpressionAttributeValues={
                ":pk": s(keys.execution_pk(execution_id)),
                ":result": s(keys.RESULT_PREFIX),
            },
            ConsistentRead=True,
        )
        found = (result_from(item) for item in items)
        return {result.task_name: result for result in found if result.task_name in wanted}
