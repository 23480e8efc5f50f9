"""DynamoDB Streams consumer: each record dispatches one task run (see flowcore.runner).

Records fail one by one (ReportBatchItemFailures): a record that raises is retried by the event source
mapping from its sequence number on, while those before it stay committed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from flowcore import aws
from flowcore.observability import logger
from flowcore.runner import TaskRunner
from flowcore.settings import settings
from flowcore.store import plain
from flowcore.tasks import default_registry
from flowcore.timers import Timers

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
_runner: TaskRunner | None = None


def runner() -> TaskRunner:
    global _runner
    if _runner is None:
        config = settings()
        timers = Timers(aws.stepfunctions(), config.timer_state_machine_arn)
        _runner = TaskRunner(
            aws.execution_store(), default_registry(), timers, config.lease_seconds, config.chain_tasks
        )
    return _runner


def reset() -> None:
    """Forget the runner (tests point it at a new table)."""
    global _runner
    _runner = None


def record_handler(record: DynamoDBRecord, lambda_context: LambdaContext | None = None) -> str:
    image = record.raw_event["dynamodb"].get("NewImage")
    if not image:  # a REMOVE (TTL expiry, deletes): FilterCriteria keep these away, and nothing is to be done
        return "ignored"
    remaining = lambda_context.get_remaining_time_in_millis if lambda_context is not None else None
    return runner().process(plain(image), remaining)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
