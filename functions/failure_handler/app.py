"""Consumer of the runner's OnFailure queue: executions whose records the runner gave up on end FAILED."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from flowcore.observability import logger, metrics
from flowcore.wiring import failures as wiring
from flowcore.wiring.shared import forget

processor = BatchProcessor(event_type=EventType.SQS)


def reset() -> None:
    """Forget the handler, as a new container would."""
    forget(wiring.failed_batch_handler)


def record_handler(record: SQSRecord) -> int:
    message: dict[str, Any] = json.loads(record.body)
    failed = wiring.failed_batch_handler().handle(message)
    metrics.add_metric(name="ExecutionsFailedByFailureQueue", unit=MetricUnit.Count, value=failed)
    return failed


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
