"""An emulation of Lambda's DynamoDB Streams event source mapping, for the tests and the local stack.

It reads the stream with `get_shard_iterator`/`get_records`, keeps only records matching the template's
FilterCriteria, hands batches to the handler as real DynamoDB Streams events, and treats failures as
the mapping does: partial batch responses resume from the first failed sequence number, errors bisect
the batch, and a batch that exhausts its retries is reported to the OnFailure queue and skipped.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local.template import StreamMapping

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger(__name__)
UNLIMITED_RETRIES_CAP = 1000


# -- filter patterns (the subset of EventBridge pattern syntax Lambda event filtering accepts) -------------


def _value_matches(rule: Any, value: Any, present: bool) -> bool:
    if isinstance(rule, dict):
        if "exists" in rule:
            return present == bool(rule["exists"])
        if not present:
            return False
        if "prefix" in rule:
            return isinstance(value, str) and value.startswith(rule["prefix"])
        if "anything-but" in rule:
            excluded = rule["anything-but"]
            return value not in (excluded if isinstance(excluded, list) else [excluded])
        if "numeric" in rule:
            return _numeric(rule["numeric"], value)
        raise ValueError(f"unsupported filter rule: {rule}")
    return present and value == rule


def _numeric(terms: list[Any], value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    checks = {"=": number.__eq__, ">": number.__gt__, ">=": number.__ge__, "<": number.__lt__, "<=": number.__le__}
    return all(checks[op](float(bound)) for op, bound in zip(terms[::2], terms[1::2], strict=True))


def matches(pattern: dict[str, Any], document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    for key, rule in pattern.items():
        present = key in document
        value = document.get(key)
        if isinstance(rule, dict):
            if not present or not matches(rule, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_value_matches(option, item, present) for option in rule for item in values):
            return False
    return True


def passes(filters: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    return not filters or any(matches(pattern, record) for pattern in filters)


# -- the mapping ------------------------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that powertools and handlers read."""

    function_name: str = "local-function"
    memory_limit_in_mb: int = 256
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, int | float):
        return value
    raise TypeError(f"cannot encode {type(value).__name__}")


@dataclass
class BatchStats:
    invocations: int = 0
    records_delivered: int = 0
    batches_failed_over: int = 0


class StreamPump:
    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        handler: Handler,
        mapping: StreamMapping,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
        function_name: str = "TaskRunnerFunction",
    ) -> None:
        self._streams = streams
        self._arn = stream_arn
        self._handler = handler
        self._mapping = mapping
        self._on_failure = on_failure
        self._function_name = function_name
        self._iterators: dict[str, str | None] = {}
        self.stats = BatchStats()

    def _read_new(self) -> list[tuple[str, dict[str, Any]]]:
        """Every record written since the last read, per shard, in order."""
        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"].get("Shards", [])
        records: list[tuple[str, dict[str, Any]]] = []
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            iterator = self._iterators[shard_id]
            while iterator:
                page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = page.get("NextShardIterator")
                batch = page.get("Records", [])
                records += [(shard_id, record) for record in batch]
                if not batch:
                    break
            self._iterators[shard_id] = iterator
        return records

    def poll(self) -> int:
        """Deliver everything written since the last poll; returns how many records were delivered."""
        delivered = 0
        pending = [(shard, record) for shard, record in self._read_new() if passes(self._mapping.filters, record)]
        by_shard: dict[str, list[dict[str, Any]]] = {}
        for shard, record in pending:
            by_shard.setdefault(shard, []).append(record)
        for shard, records in by_shard.items():
            for start in range(0, len(records), self._mapping.batch_size):
                batch = records[start : start + self._mapping.batch_size]
                self._deliver(shard, batch, retries_left=self._retry_budget())
                delivered += len(batch)
        return delivered

    def drain(self, max_polls: int = 100_000) -> int:
        """Poll until a poll finds nothing new; returns the records delivered in all."""
        total = 0
        for _ in range(max_polls):
            count = self.poll()
            if count == 0:
                return total
            total += count
        raise RuntimeError(f"the stream still had records after {max_polls} polls (a loop that never ends?)")

    def _retry_budget(self) -> int:
        retries = self._mapping.max_retries
        return UNLIMITED_RETRIES_CAP if retries < 0 else retries

    def _event(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        records = [{**record, "eventSourceARN": self._arn} for record in batch]
        event: dict[str, Any] = json.loads(json.dumps({"Records": records}, default=_jsonable))
        return event

    def _deliver(self, shard: str, batch: list[dict[str, Any]], retries_left: int) -> None:
        invocations = 0
        while batch:
            invocations += 1
            self.stats.invocations += 1
            self.stats.records_delivered += len(batch)
            try:
                response = self._handler(self._event(batch), LambdaContext(function_name=self._function_name))
            except Exception:  # noqa: BLE001 - a function error, as Lambda sees it
                if self._mapping.bisect_on_error and len(batch) > 1:
                    middle = len(batch) // 2
                    self._deliver(shard, batch[:middle], retries_left)
                    self._deliver(shard, batch[middle:], retries_left)
                    return
                failed_from: int | None = 0
            else:
                failed_from = self._first_failure(batch, response)
            if failed_from is None:
                return
            batch = batch[failed_from:]
            if retries_left <= 0:
                self._fail_over(shard, batch, invocations)
                return
            retries_left -= 1

    def _first_failure(self, batch: list[dict[str, Any]], response: Any) -> int | None:
        if not self._mapping.report_item_failures or not isinstance(response, dict):
            return None
        failures = response.get("batchItemFailures") or []
        if not failures:
            return None
        sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        failed = [str(failure.get("itemIdentifier", "")) for failure in failures]
        positions = [sequence_numbers.index(number) for number in failed if number in sequence_numbers]
        return min(positions) if positions else 0  # an unknown identifier fails the whole batch, as on AWS

    def _fail_over(self, shard: str, batch: list[dict[str, Any]], invocations: int) -> None:
        self.stats.batches_failed_over += 1
        if self._on_failure is None:
            return
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{self._function_name}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invocations,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _jsonable(
                    first.get("ApproximateCreationDateTime", datetime.now(UTC))
                ),
                "approximateArrivalOfLastRecord": _jsonable(last.get("ApproximateCreationDateTime", datetime.now(UTC))),
                "batchSize": len(batch),
                "streamArn": self._arn,
            },
        }
        try:
            self._on_failure(message)
        except Exception:  # the batch is given up either way; the records after it must not be
            log.exception(
                "could not send a failed batch to the OnFailure destination: %s", message["DDBStreamBatchInfo"]
            )


def sqs_failure_sink(sqs: Any, queue_url: str) -> Callable[[dict[str, Any]], None]:
    def send(message: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))

    return send


class QueuePump:
    """Lambda's SQS event source, enough for the failure queue: batches of up to ten, partial failures."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        function_name: str,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._arn = queue_arn
        self._handler = handler
        self._function_name = function_name
        self._on_done = on_done  # told the body of each message the function handled (and that was deleted)

    def poll(self) -> int:
        messages = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return 0
        records = [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": self._arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
        try:
            response = self._handler({"Records": records}, LambdaContext(function_name=self._function_name))
        except Exception:  # noqa: BLE001 - the messages stay on the queue and come back, as on AWS
            return len(messages)
        failed = {str(item.get("itemIdentifier")) for item in (response or {}).get("batchItemFailures", [])}
        for record in records:
            if record["messageId"] not in failed:
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=record["receiptHandle"])
                if self._on_done is not None:
                    self._on_done(record["body"])
        return len(messages)

    def drain(self, max_polls: int = 1000) -> int:
        total = 0
        for _ in range(max_polls):
            count = self.poll()
            if count == 0:
                break
            total += count
        return total
