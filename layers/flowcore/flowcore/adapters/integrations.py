"""The integration task types' ports on botocore: `LambdaFunctions` (`tasks.integrations.Functions`) and
`AwsMessaging` (`tasks.messaging.Messaging`).

Each takes its clients as factories and builds them on first use (`clients.lambda_`, ...): most runner
invocations never run an integration task. Every AWS error (`ClientError`, or the SDK's own `BotoCoreError`
for connection failures and timeouts) becomes an `IntegrationError` carrying its code, which the task turns into
a FAILURE for its retry policy. The calls made here are all the IAM actions these adapters need:
`lambda:InvokeFunction`, `sqs:SendMessage`, `sns:Publish` and `events:PutEvents`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from flowcore.tasks.integrations import IntegrationError, Invocation
from flowcore.tasks.messaging import Outgoing, Sent

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@contextmanager
def translated() -> Iterator[None]:
    """AWS's errors as `IntegrationError(code, message)`."""
    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = details.get("Code") or f"HTTP {status}"
        raise IntegrationError(code, details.get("Message") or str(error)) from error
    except BotoCoreError as error:  # no answer: connection refused or reset, timeouts, an unreadable response
        raise IntegrationError(type(error).__name__, str(error)) from error


class LambdaFunctions:
    """`Functions` on Lambda's Invoke (`lambda:InvokeFunction`)."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    def invoke(self, function: str, payload: bytes, qualifier: str | None) -> Invocation:
        with translated():
            answer = self._client().invoke(**_invoke(function, payload, qualifier, "RequestResponse"))
            body: bytes = answer["Payload"].read()
        return Invocation(body, answer.get("FunctionError"))

    def invoke_async(self, function: str, payload: bytes, qualifier: str | None) -> None:
        with translated():
            self._client().invoke(**_invoke(function, payload, qualifier, "Event"))


def _invoke(function: str, payload: bytes, qualifier: str | None, invocation_type: str) -> dict[str, Any]:
    call: dict[str, Any] = {"FunctionName": function, "InvocationType": invocation_type, "Payload": payload}
    if qualifier is not None:
        call["Qualifier"] = qualifier
    return call


class AwsMessaging:
    """`Messaging` on SQS (`sqs:SendMessage`), SNS (`sns:Publish`) and EventBridge (`events:PutEvents`)."""

    def __init__(self, sqs: Callable[[], SQSClient], sns: Callable[[], Any], events: Callable[[], Any]) -> None:
        self._sqs = sqs
        self._sns = sns
        self._events = events

    def send_message(self, queue_url: str, message: Outgoing, delay_seconds: int | None) -> Sent:
        call: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message.body, **_envelope(message)}
        if delay_seconds is not None:
            call["DelaySeconds"] = delay_seconds
        with translated():
            answer = self._sqs().send_message(**call)
        return Sent(answer["MessageId"], answer.get("SequenceNumber"))

    def publish(self, topic_arn: str, message: Outgoing, subject: str | None) -> Sent:
        call: dict[str, Any] = {"TopicArn": topic_arn, "Message": message.body, **_envelope(message)}
        if subject is not None:
            call["Subject"] = subject
        with translated():
            answer = self._sns().publish(**call)
        return Sent(answer["MessageId"], answer.get("SequenceNumber"))

    def put_event(self, event_bus: str, source: str, detail_type: str, detail: str) -> str:
        entry = {"EventBusName": event_bus, "Source": source, "DetailType": detail_type, "Detail": detail}
        with translated():
            answer = self._events().put_events(Entries=[entry])
        (result,) = answer["Entries"]
        if answer.get("FailedEntryCount") or "EventId" not in result:
            raise IntegrationError(
                result.get("ErrorCode") or "FailedEntry", result.get("ErrorMessage") or "EventBridge refused the event"
            )
        event_id: str = result["EventId"]
        return event_id


def _envelope(message: Outgoing) -> dict[str, Any]:
    """What SQS and SNS take beside the body, with the same names: String attributes, FIFO group and dedupe."""
    envelope: dict[str, Any] = {}
    if message.attributes:
        envelope["MessageAttributes"] = {
            name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()
        }
    if message.group_id is not None:
        envelope["MessageGroupId"] = message.group_id
    if message.deduplication_id is not None:
        envelope["MessageDeduplicationId"] = message.deduplication_id
    return envelope
