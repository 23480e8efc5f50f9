"""Consumer of the runner's OnFailure queue: executions whose records the runner gave up on end FAILED."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from flowcore import aws
from flowcore.failures import FailedBatchHandler
from flowcore.observability import logger, metrics
from flowcore.runner import TaskRunner
from flowcore.tasks import default_registry
from flowcore.timers import Timers

processor = BatchProcessor(event_type=EventType.SQS)
_handler: FailedBatchHandler | None = None


def handler() -> FailedBatchHandler:
    global _handler
    if _handler is None:
        # The runner here only resumes paths (TaskRunner.resume), which starts no timer: no state machine.
        runner = TaskRunner(aws.execution_store(), default_registry(), Timers(None, None))
        _handler = FailedBatchHandler(aws.execution_store(), aws.streams(), runner.resume)
    return _handler


def reset() -> None:
    global _handler
    _handler = None


def record_handler(record: SQSRecord) -> int:
    message: dict[str, Any] = json.loads(record.body)
    failed = handler().handle(message)
    metrics.add_metric(name="ExecutionsFailedByFailureQueue", unit=MetricUnit.Count, value=failed)
    return failed


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
