"""What happens to a stream batch the runner gave up on: its executions fail, with the reason, instead
of staying RUNNING forever.

The event source mapping sends the OnFailure queue only the batch's coordinates (shard, first and last
sequence numbers). The records are read again from the stream by those numbers; every dispatch among
them whose run is still where the record left it fails its task run and its execution. A dispatch whose
run had moved on is resumed instead: the path goes on from the last run committed along it (a record can
fail after its own run committed, when the chain after it kept failing). That may run one task twice if
a runner is on it at that moment, never commit it twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from flowcore.errors import FlowError
from flowcore.model import ExecutionStatus, TaskStatus, run_sort_key
from flowcore.observability import logger
from flowcore.store import META, ExecutionStore, plain

_TRIMMED = frozenset({"TrimmedDataAccessException", "ExpiredIteratorException", "ResourceNotFoundException"})


def is_dispatch(record: dict[str, Any]) -> bool:
    """The records the runner's FilterCriteria let through (template.yaml), as plain images."""
    event = record.get("eventName")
    new = plain(record.get("dynamodb", {}).get("NewImage") or {})
    old = plain(record.get("dynamodb", {}).get("OldImage") or {})
    sort_key = str(new.get("sk", ""))
    if sort_key.startswith("RUN#"):
        return event in ("INSERT", "MODIFY") and new.get("status") == TaskStatus.PENDING
    if sort_key == META and new.get("status") == ExecutionStatus.RUNNING:
        return event == "INSERT" or (event == "MODIFY" and old.get("status") == ExecutionStatus.CREATED)
    return False


class FailedBatchHandler:
    """`resume` (the runner's `TaskRunner.resume`) is called for a dispatch whose run had moved on: a record
    that failed after its own run was committed must not leave the path stopped there."""

    def __init__(self, store: ExecutionStore, streams: Any, resume: Callable[[dict[str, Any]], str]) -> None:
        self._store = store
        self._streams = streams
        self._resume = resume

    def handle(self, message: dict[str, Any]) -> int:
        """Fail every execution dispatched in the batch `message` describes; returns how many were failed."""
        info = message["DDBStreamBatchInfo"]
        condition = message.get("requestContext", {}).get("condition", "RetryAttemptsExhausted")
        attempts = message.get("requestContext", {}).get("approximateInvokeCount", "several")
        failed = 0
        for record in self._records(info):
            if not is_dispatch(record):
                continue
            image = plain(record["dynamodb"]["NewImage"])
            execution_id = str(image.get("execution_id") or str(image["pk"]).removeprefix("EXEC#"))
            if image["sk"] == META:
                done = self._fail_start(execution_id, f"the runner gave up on its start after {attempts} attempts")
            else:
                run = str(image["sk"]).removeprefix("RUN#")
                reason = f"the runner gave up on task run {run} after {attempts} attempts ({condition})"
                done = self._store.fail_dispatch(execution_id, str(image["sk"]), int(image.get("attempt", 1)), reason)
            if done:
                failed += 1
                logger.warning("execution failed by the failure queue", extra={"execution_id": execution_id})
            elif self._resume(image) == "recovered":
                logger.warning("execution resumed by the failure queue", extra={"execution_id": execution_id})
        return failed

    def _fail_start(self, execution_id: str, reason: str) -> bool:
        execution = self._store.get_execution(execution_id)
        if execution is None:
            return False
        try:
            start_task = self._store.get_flow(execution.flow_id, execution.flow_version).definition.start_task
        except FlowError:
            # The flow version itself is unreadable, so the start task cannot have run: fail the execution alone.
            update = self._store.stop_execution_update(execution_id, ExecutionStatus.FAILED, reason)
            return self._store.apply_execution_update(update)
        return self._store.fail_dispatch(execution_id, run_sort_key(1, start_task), None, reason)

    def _records(self, info: dict[str, Any]) -> Iterator[dict[str, Any]]:
        first, last = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
        try:
            iterator = self._streams.get_shard_iterator(
                StreamArn=info["streamArn"],
                ShardId=info["shardId"],
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=info["startSequenceNumber"],
            )["ShardIterator"]
            while iterator:
                page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                records = page.get("Records", [])
                for record in records:
                    number = int(record["dynamodb"]["SequenceNumber"])
                    if number > last:
                        return
                    if number >= first:
                        yield record
                if not records:
                    return
                iterator = page.get("NextShardIterator")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _TRIMMED:
                # Past the stream's 24 hours: nothing left to read. The alarm on the queue tells a person.
                logger.error("failed batch no longer in the stream", extra={"batch": info})
                return
            raise
