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

from flowcore.observability import logger
from flowcore.wiring import runner as wiring
from flowcore.wiring.shared import forget

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def reset() -> None:
    """Forget the runner, as a new container would (the clients stay: `wiring.shared.reset` forgets those)."""
    forget(wiring.task_runner, wiring.stream_consumer)


def record_handler(record: DynamoDBRecord, lambda_context: LambdaContext | None = None) -> str:
    image = record.raw_event["dynamodb"].get("NewImage")
    if not image:  # a REMOVE (TTL expiry, deletes): FilterCriteria keep these away, and nothing is to be done
        return "ignored"
    remaining = lambda_context.get_remaining_time_in_millis if lambda_context is not None else None
    return wiring.stream_consumer().on_image(image, remaining)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
