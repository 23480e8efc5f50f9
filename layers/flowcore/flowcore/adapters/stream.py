"""The table's stream: which records are dispatches, each record as a `Dispatch`, and failed batches read again.

`DISPATCHES` is the one definition of a dispatch. template.yaml states it again as the event source
mapping's FilterCriteria (CloudFormation cannot import it); `tests/unit/test_dispatch_filter.py` fails
unless those patterns are exactly `filter_patterns()` and both sort a table of sample records alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.values import plain
from flowcore.adapters.dynamodb.waits import awaited_from, parent_from
from flowcore.domain.deadlines import Overdue, StreamWork
from flowcore.domain.records import Dispatch
from flowcore.domain.statuses import (
    ABSENT,
    EXECUTION_TRANSITIONS,
    ExecutionEvent,
    ExecutionStatus,
    RunEvent,
    execution_after,
    run_after,
)
from flowcore.domain.subflows import ChildEnded
from flowcore.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

#: The final statuses a RUNNING execution can reach.
ENDS_OF_RUNNING = frozenset(EXECUTION_TRANSITIONS[ExecutionStatus.RUNNING].values()) - {ExecutionStatus.RUNNING}
#: The attribute only a child execution's item has.
PARENT_ATTRIBUTE = "parent_id"
#: The attribute the timer sets on an execution whose deadline passed (statemachine/timer.asl.json).
OVERDUE_ATTRIBUTE = "timeout_due"
_TRIMMED = frozenset({"TrimmedDataAccessException", "ExpiredIteratorException", "ResourceNotFoundException"})
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class DispatchRule:
    """Stream records of one kind that the runner acts on."""

    why: str
    events: tuple[str, ...]
    sort_key: str
    statuses: tuple[str, ...]
    by_prefix: bool = False  # `sort_key` is a prefix of the item's sort key, not the whole of it
    old_status: str | None = None  # the status the item had before (MODIFY only)
    present: str | None = None  # a string attribute the new image must have

    def pattern(self) -> dict[str, Any]:
        """This rule in the syntax of Lambda's event filtering, as template.yaml writes it."""
        sort_key: Any = [{"prefix": self.sort_key}] if self.by_prefix else [self.sort_key]
        new_image: dict[str, Any] = {"sk": {"S": sort_key}, "status": {"S": list(self.statuses)}}
        if self.present is not None:
            new_image[self.present] = {"S": [{"exists": True}]}
        change: dict[str, Any] = {"NewImage": new_image}
        if self.old_status is not None:
            change["OldImage"] = {"status": {"S": [self.old_status]}}
        return {"eventName": list(self.events), "dynamodb": change}

    def matches(self, record: Mapping[str, Any]) -> bool:
        change = record.get("dynamodb", {})
        new, old = change.get("NewImage") or {}, change.get("OldImage") or {}
        sort_key = str(new.get("sk", {}).get("S", ""))
        return (
            record.get("eventName") in self.events
            and (sort_key.startswith(self.sort_key) if self.by_prefix else sort_key == self.sort_key)
            and new.get("status", {}).get("S") in self.statuses
            and (self.old_status is None or old.get("status", {}).get("S") == self.old_status)
            and (self.present is None or "S" in new.get(self.present, {}))
        )


DISPATCHES = (
    DispatchRule(
        "a task run to dispatch: created or re-dispatched as PENDING",
        ("INSERT", "MODIFY"),
        keys.RUN_PREFIX,
        (run_after(ABSENT, RunEvent.HAND_OFF),),
        by_prefix=True,
    ),
    DispatchRule("an execution created already RUNNING", ("INSERT",), keys.META, (ExecutionStatus.RUNNING,)),
    DispatchRule(
        "a created execution being started",
        ("MODIFY",),
        keys.META,
        (execution_after(ExecutionStatus.CREATED, ExecutionEvent.START),),
        old_status=ExecutionStatus.CREATED,
    ),
    DispatchRule(
        "a child execution that ended: its parent's subflow run completes",
        ("MODIFY",),
        keys.META,
        tuple(sorted(str(status) for status in ENDS_OF_RUNNING)),
        old_status=ExecutionStatus.RUNNING,
        present=PARENT_ATTRIBUTE,
    ),
    DispatchRule(
        "an execution past its deadline: the runner ends it TIMED_OUT",
        ("MODIFY",),
        keys.META,
        (ExecutionStatus.RUNNING,),
        old_status=ExecutionStatus.RUNNING,
        present=OVERDUE_ATTRIBUTE,
    ),
)


def filter_patterns() -> list[dict[str, Any]]:
    return [rule.pattern() for rule in DISPATCHES]


def is_dispatch(record: Mapping[str, Any]) -> bool:
    """Whether the event source mapping's FilterCriteria let `record` (as the stream gives it) through."""
    return any(rule.matches(record) for rule in DISPATCHES)


def dispatch_of(image: Mapping[str, Any]) -> StreamWork:
    """The dispatch a record's NewImage (as plain values) stands for."""
    parent = parent_from(image) if image["sk"] == keys.META else None
    if parent is not None and image["status"] != ExecutionStatus.RUNNING:
        error = str(image["error"]) if image.get("error") else None
        return ChildEnded(str(image["execution_id"]), parent, ExecutionStatus(image["status"]), error)
    if image["sk"] == keys.META and OVERDUE_ATTRIBUTE in image and image["status"] == ExecutionStatus.RUNNING:
        return Overdue(str(image["execution_id"]), str(image[OVERDUE_ATTRIBUTE]))
    if image["sk"] == keys.META:
        return Dispatch(execution_id=str(image["execution_id"]), seq=1, task_name=None, attempt=1)
    ref = keys.run_ref_of(str(image["pk"]), str(image["sk"]))
    wait_until = int(image["wait_until"]) if "wait_until" in image else None
    budget = int(image["budget"]) if "budget" in image else None
    attempt, merged = int(image.get("attempt", 1)), int(image.get("merged", 0))
    predecessor = str(image["from"]) if "from" in image else None
    # A run resumed from a wait it parked for a completion (a run tried again holds no `callback` map).
    awaited = awaited_from(image.get("callback")) if wait_until is not None else None
    return Dispatch(
        ref.execution_id,
        ref.seq,
        ref.task_name,
        attempt,
        wait_until,
        budget=budget,
        merged=merged,
        predecessor=predecessor,
        awaited=awaited,
    )


class DispatchHandler(Protocol):
    def process(self, dispatch: StreamWork, remaining_ms: Callable[[], int] | None = None) -> str: ...


class StreamConsumer:
    """The task runner's side of the stream: one record in, one dispatch handled."""

    def __init__(self, handler: DispatchHandler) -> None:
        self._handler = handler

    def on_image(self, new_image: dict[str, Any], remaining_ms: Callable[[], int] | None = None) -> str:
        """`new_image` as the record carries it (DynamoDB-typed); `remaining_ms` the invocation's time left."""
        return self._handler.process(dispatch_of(plain(new_image)), remaining_ms)


class StreamArchive:
    """Reads a failed batch again from the stream, by the sequence numbers its OnFailure message gives."""

    def __init__(self, streams: DynamoDBStreamsClient) -> None:
        self._streams = streams

    def dispatches(self, batch: Mapping[str, Any]) -> Iterator[StreamWork]:
        for record in self._records(batch):
            if is_dispatch(record):
                yield dispatch_of(plain(record["dynamodb"]["NewImage"]))

    def _records(self, batch: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        first, last = int(batch["startSequenceNumber"]), int(batch["endSequenceNumber"])
        try:
            iterator: str | None = self._streams.get_shard_iterator(
                StreamArn=batch["streamArn"],
                ShardId=batch["shardId"],
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=batch["startSequenceNumber"],
            )["ShardIterator"]
            while iterator:
                page: Any = self._streams.get_records(ShardIterator=iterator, Limit=_PAGE)
                for record in page.get("Records", []):
                    number = int(record["dynamodb"]["SequenceNumber"])
                    if number > last:
                        return
                    if number >= first:
                        yield record
                if not page.get("Records"):
                    return
                iterator = page.get("NextShardIterator")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _TRIMMED:
                # Past the stream's 24 hours: nothing left to read. The alarm on the queue tells a person.
                logger.error("failed batch no longer in the stream", extra={"batch": dict(batch)})
                return
            raise
