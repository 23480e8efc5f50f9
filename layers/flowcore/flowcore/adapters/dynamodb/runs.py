"""Task runs: one item per visit of a task, in its execution's partition; attempts update it.

Every write is conditional on the run being what its caller read (`run_writes.dispatched`), so that a
redelivered record cannot commit a second result. A result committed with its successors (and the
execution's branch count) is one transaction; a result alone is one UpdateItem.
"""

from __future__ import annotations

from typing import Any

from flowcore.adapters.dynamodb import execution_writes, expressions, keys, quotas, run_writes
from flowcore.adapters.dynamodb.codec import run_from
from flowcore.adapters.dynamodb.paging import KeyShape, decode_cursor, encode_cursor
from flowcore.adapters.dynamodb.results import result_item
from flowcore.adapters.dynamodb.stamps import Stamps
from flowcore.adapters.dynamodb.table import Cancelled, Refused, Table, Update
from flowcore.adapters.dynamodb.values import s
from flowcore.domain.branches import NewRun
from flowcore.domain.callbacks import Completion
from flowcore.domain.conflicts import ExecutionConflict, RunConflict, SuccessorsExist
from flowcore.domain.errors import StoreUnavailable
from flowcore.domain.records import BranchChange, DispatchGuard, EndedAttempt, LatestResult, RunRecord, RunRef
from flowcore.domain.statuses import ABSENT, RunEvent, run_sources

_REFUSED = "ConditionalCheckFailed"
#: Runs a cancel stops: those that wait for a dispatch or a timer (a claimed run finishes on its own).
_CANCELLABLE = frozenset(state for state in run_sources(RunEvent.CANCEL) if state != ABSENT)
#: A position among an execution's runs: a run item's key.
_RUN_POSITION = KeyShape(("pk", "sk"))


class DynamoRunRepository:
    def __init__(self, table: Table, stamps: Stamps) -> None:
        self._table = table
        self._stamps = stamps

    def get(self, ref: RunRef) -> RunRecord | None:
        item = self._table.get(keys.execution_pk(ref.execution_id), keys.run_sk_of(ref))
        return run_from(item) if item else None

    def list_runs(self, execution_id: str) -> list[RunRecord]:
        items = self._table.query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
            ExpressionAttributeValues={":pk": s(keys.execution_pk(execution_id)), ":run": s(keys.RUN_PREFIX)},
            ConsistentRead=True,
        )
        return [run_from(item) for item in items]

    def runs_page(self, execution_id: str, limit: int, cursor: str | None) -> tuple[list[RunRecord], str | None]:
        """Up to `limit` runs in path order from `cursor`, strongly consistent as `list_runs`. One more than
        asked is read, so that the last page says so (no cursor) instead of leading to an empty page."""
        pk = keys.execution_pk(execution_id)
        query = f"runs:{execution_id}"
        params: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :run)",
            "ExpressionAttributeValues": {":pk": s(pk), ":run": s(keys.RUN_PREFIX)},
            "ConsistentRead": True,
            "Limit": limit + 1,
        }
        start = decode_cursor(cursor, query, _RUN_POSITION, lambda position: _run_of(position, pk))
        if start:
            params["ExclusiveStartKey"] = start
        items, last = self._table.query_page(**params)
        if len(items) > limit:
            items = items[:limit]
            last = {"pk": s(items[-1]["pk"]), "sk": s(items[-1]["sk"])}
        return [run_from(item) for item in items], encode_cursor(last, query)

    def hand_off(self, ref: RunRef, predecessor: str | None = None) -> bool:
        return self._create(ref, RunEvent.HAND_OFF, predecessor)

    def skip_ahead(self, ref: RunRef) -> bool:
        return self._create(ref, RunEvent.SKIP)

    def _create(self, ref: RunRef, event: RunEvent, predecessor: str | None = None) -> bool:
        run = NewRun(ref, predecessor=predecessor) if predecessor is not None else None
        item = run_writes.new_run_item(ref, event, self._stamps.now(), self._stamps.expires_at(), run)
        try:
            self._table.put(item, expressions.ABSENT_ITEM)
        except Refused:
            return False
        return True

    def claim(self, ref: RunRef, guard: DispatchGuard, token: str, lease_until: int) -> None:
        stamps = self._stamps
        self._apply(run_writes.claim(ref, guard, token, lease_until, stamps.now(), stamps.expires_at()))

    def commit_result(
        self,
        ref: RunRef,
        ended: EndedAttempt,
        guard: DispatchGuard,
        successors: tuple[NewRun, ...] = (),
        branches: BranchChange | None = None,
        remember: LatestResult | None = None,
    ) -> None:
        event = RunEvent.SUCCEED if ended.result.succeeded else RunEvent.FAIL
        if not successors and branches is None and remember is None:
            self._apply(run_writes.attempt_end(ref, ended, guard, event, self._stamps.expires_at()))
            return
        result = run_writes.attempt_end(ref, ended, guard, event, self._stamps.expires_at(), atomic=True)
        items: list[dict[str, Any]] = [
            {"Update": {**result.params(self._table.name), "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
        ]
        items += [self._put_new(successor) for successor in successors]
        if remember is not None:  # after the successors (their refusals are read by position), before the execution
            latest = result_item(ref.execution_id, remember, self._stamps.expires_at())
            items.append({"Put": {"TableName": self._table.name, "Item": latest}})
        execution_at = None
        if branches is not None:
            moved = execution_writes.branches(ref.execution_id, branches, self._stamps.now())
            execution_at = len(items)
            items.append({"Update": moved.params(self._table.name)})
            if branches.final is not None and branches.release:  # its place among the running ones, given back
                items.append({"Update": quotas.running_change(ref.execution_id, -1).params(self._table.name)})
        try:
            self._table.transact(items)
        except Cancelled as cancelled:
            raise _conflict(cancelled, successors, execution_at) from cancelled

    def _put_new(self, run: NewRun) -> dict[str, Any]:
        stamps = self._stamps
        item = run_writes.new_run_item(run.ref, RunEvent.HAND_OFF, stamps.now(), stamps.expires_at(), run)
        return {"Put": {"TableName": self._table.name, "Item": item, "ConditionExpression": expressions.ABSENT_ITEM}}

    def park(self, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard, wait_until: int | None = None) -> None:
        expires = self._stamps.expires_at()
        self._apply(run_writes.attempt_end(ref, ended, guard, RunEvent.PARK, expires, wait_until=wait_until))

    def retry_now(self, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard) -> None:
        self._apply(run_writes.attempt_end(ref, ended, guard, RunEvent.RETRY_NOW, self._stamps.expires_at()))

    def skip(self, ref: RunRef, guard: DispatchGuard) -> None:
        self._apply(run_writes.skip(ref, guard, self._stamps.now(), self._stamps.expires_at()))

    def reclaim(self, ref: RunRef, attempt: int, claim: str) -> None:
        self._apply(run_writes.reclaim(ref, attempt, claim))

    def fail_dispatch(self, ref: RunRef, attempt: int | None, reason: str) -> bool:
        stamps = self._stamps
        try:
            self._table.update(run_writes.give_up(ref, attempt, reason, stamps.now(), stamps.expires_at()))
        except Refused:
            return False
        return True

    def cancel_open(self, execution_id: str) -> int:
        skipped = 0
        for run in self.list_runs(execution_id):
            if run.status not in _CANCELLABLE:
                continue
            try:
                self._table.update(run_writes.cancel(run.ref, run.attempt, self._stamps.now()))
            except Refused:
                continue
            skipped += 1
        return skipped

    def delete(self, ref: RunRef) -> None:
        self._table.delete(keys.execution_pk(ref.execution_id), keys.run_sk_of(ref))

    def _apply(self, update: Update) -> None:
        """Apply a conditional run update alone; `RunConflict` carries the run as it stands when it fails."""
        try:
            self._table.update(update, return_old=True)
        except Refused as refused:
            raise RunConflict(run_from(refused.item) if refused.item else None) from refused


def _conflict(cancelled: Cancelled, successors: tuple[NewRun, ...], execution_at: int | None) -> Exception:
    """Which part of a commit was refused: the run, the execution (the item at `execution_at`), or successors a
    sibling wrote first."""
    codes = cancelled.reasons
    if codes and codes[0] == _REFUSED:
        current = cancelled.items[0]
        return RunConflict(run_from(current) if current else None)
    if execution_at is not None and len(codes) > execution_at and codes[execution_at] == _REFUSED:
        return ExecutionConflict()
    taken = tuple(run.ref for run, code in zip(successors, codes[1:], strict=False) if code == _REFUSED)
    if taken:
        return SuccessorsExist(taken)
    return StoreUnavailable(f"the commit was refused ({', '.join(codes)}); it will be retried")


def _run_of(position: dict[str, str], pk: str) -> bool:
    """A position among the runs of the execution whose partition is `pk`."""
    try:
        keys.parse_run_sk(position["sk"])
    except ValueError:
        return False
    return position["pk"] == pk


class DynamoCompletions:
    """Completions of awaited runs: each one conditional write on the run item (`run_writes.complete`)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def complete(self, ref: RunRef, attempt: int, nonce: str, completion: Completion) -> bool:
        return self._applied(run_writes.complete(ref, attempt, nonce, completion))

    def heartbeat(self, ref: RunRef, attempt: int, nonce: str, wait_until: int) -> bool:
        return self._applied(run_writes.heartbeat(ref, attempt, nonce, wait_until))

    def _applied(self, update: Update) -> bool:
        try:
            self._table.update(update)
        except Refused:
            return False
        return True
