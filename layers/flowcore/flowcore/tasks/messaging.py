"""The `sqs`, `sns` and `eventbridge` task types: one message or event per attempt, through `Messaging`.

The message is whatever the task's parameters resolved to: a string is sent as it is, any other value as its
compact JSON text. An event's `detail` is a JSON object (the `dict` kind: anything else is refused when the flow
is saved, or when a template resolves to it). Sizes are checked before AWS is called (256 KiB each, counted as
AWS counts them), so an oversized message is a FAILURE that says so rather than a refused call.

Side effects are at least once (a redelivered attempt sends again); a FIFO queue or topic gets a
`MessageDeduplicationId` hashed from the attempt's idempotency key, so there a redelivered attempt does not
duplicate (within SQS's five-minute window) and a retried attempt is a new message.

With `wait_for_callback` the callback token travels in the message: for sqs and sns as the String message
attribute `task_token` and, when the message is a JSON object, also as its `task_token` field (a string message
is not parsed); for eventbridge as the `task_token` field of `detail`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from flowcore.domain.records import TaskResult
from flowcore.tasks.base import FORCED_OUTCOME, Param, Parameters, TaskContext, TaskType
from flowcore.tasks.integrations import TOKEN_FIELD, IntegrationError, compact, failed_call, unconfigured

#: SQS's and SNS's largest message, body and attributes together; EventBridge's largest entry.
MAX_MESSAGE_BYTES = 262_144
FIFO_SUFFIX = ".fifo"
TOPIC_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
BUS_PATTERN = r"^(arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?[A-Za-z0-9._/-]+$"
#: Printable ASCII without line breaks (SNS's rule for a subject; SQS's for a group id, spaces aside).
PRINTABLE = r"^[\x20-\x7E]+$"
GROUP_ID = Param("message_group_id", str, None, max_length=128, pattern=r"^[\x21-\x7E]+$", description="FIFO group")
MESSAGE = Param("message", object, description="a string is sent as it is, any other value as compact JSON")


@dataclass(frozen=True, slots=True)
class Sent:
    """What SQS or SNS answered: the message's id, and its sequence number on a FIFO queue or topic."""

    message_id: str
    sequence_number: str | None = None

    def output(self) -> dict[str, Any]:
        if self.sequence_number is None:
            return {"message_id": self.message_id}
        return {"message_id": self.message_id, "sequence_number": self.sequence_number}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as SQS or SNS take it: its text, String attributes, and on FIFO its group and dedupe ids."""

    body: str
    attributes: Mapping[str, str]
    group_id: str | None = None
    deduplication_id: str | None = None

    def size(self) -> int:
        """Bytes as SQS and SNS count them: the body, and each attribute's name, type ("String") and value."""
        attributes = sum(
            len(name.encode()) + len("String") + len(value.encode()) for name, value in self.attributes.items()
        )
        return len(self.body.encode()) + attributes


class Messaging(Protocol):
    """SQS, SNS and EventBridge, as these types use them. Each raises `IntegrationError` when AWS refuses or fails
    (`put_event` too for an entry EventBridge did not take, with the entry's ErrorCode and ErrorMessage)."""

    def send_message(self, queue_url: str, message: Outgoing, delay_seconds: int | None) -> Sent: ...

    def publish(self, topic_arn: str, message: Outgoing, subject: str | None) -> Sent: ...

    def put_event(self, event_bus: str, source: str, detail_type: str, detail: str) -> str:
        """Put one event and return its id."""


def deduplication_id(ctx: TaskContext) -> str:
    """Stable across redeliveries of one attempt, new for each attempt (SQS and SNS take up to 128 characters)."""
    return hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()


def outgoing(ctx: TaskContext, message: Any, group_id: str | None, fifo: bool) -> Outgoing:
    """The message of this attempt, carrying the callback token when the run awaits one."""
    attributes: dict[str, str] = {}
    if ctx.callback is not None:
        attributes[TOKEN_FIELD] = ctx.callback.token
        if isinstance(message, dict):
            message = {**message, TOKEN_FIELD: ctx.callback.token}
    body = message if isinstance(message, str) else compact(message)
    return Outgoing(body, attributes, group_id, deduplication_id(ctx) if fifo else None)


def too_large(ctx: TaskContext, what: str, size: int) -> TaskResult | None:
    if size <= MAX_MESSAGE_BYTES:
        return None
    return TaskResult.failure(ctx.task_name, f"{what} is {size} bytes, more than {MAX_MESSAGE_BYTES} (256 KiB)")


def fifo_checked(ctx: TaskContext, params: Parameters, fifo: bool, kind: str) -> Outgoing | TaskResult:
    """The attempt's message for a queue or topic, or the failure that keeps it from being sent."""
    if fifo and params.message_group_id is None:
        return TaskResult.failure(ctx.task_name, f"a FIFO {kind} needs message_group_id")
    message = outgoing(ctx, params.message, params.message_group_id, fifo)
    return too_large(ctx, "the message", message.size()) or message


def sent_or_awaiting(ctx: TaskContext, action: str, send: Callable[[], dict[str, Any]]) -> TaskResult:
    """Send now and succeed with what AWS answered, or, when the run awaits a callback, hand the send to the
    runner as `deliver` (its IntegrationError then fails the attempt)."""
    if ctx.callback is not None:

        def deliver() -> None:
            send()

        return TaskResult.awaiting(ctx.task_name, deliver)
    try:
        return TaskResult.success(ctx.task_name, send())
    except IntegrationError as error:
        return failed_call(ctx, action, error)


class SqsTask(TaskType):
    name = "sqs"
    description = (
        "Sends `message` to `queue_url` (FIFO: `message_group_id` required, deduplicated per attempt); "
        "succeeds with {message_id} (and sequence_number on FIFO)."
    )
    parameters = (
        *FORCED_OUTCOME,
        Param("queue_url", str, max_length=2_048, pattern=r"^https?://\S+$", description="the queue's URL"),
        MESSAGE,
        GROUP_ID,
        Param("delay_seconds", int, None, ge=0, le=900, description="delivery delay (standard queues only)"),
    )
    can_wait_for_callback: ClassVar[bool] = True

    def __init__(self, messaging: Messaging | None = None) -> None:
        self._messaging = messaging

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        messaging = self._messaging
        if messaging is None:
            return unconfigured(ctx, self.name, "SQS client")
        queue_url, delay = params.queue_url, params.delay_seconds
        fifo = queue_url.endswith(FIFO_SUFFIX)
        if fifo and delay:
            return TaskResult.failure(ctx.task_name, "a FIFO queue takes no delay_seconds per message")
        message = fifo_checked(ctx, params, fifo, "queue")
        if isinstance(message, TaskResult):
            return message

        def send() -> dict[str, Any]:
            return messaging.send_message(queue_url, message, None if fifo else delay).output()

        return sent_or_awaiting(ctx, f"sending to queue '{queue_url}'", send)


class SnsTask(TaskType):
    name = "sns"
    description = (
        "Publishes `message` to `topic_arn` with an optional `subject` (FIFO topic: `message_group_id` required, "
        "deduplicated per attempt); succeeds with {message_id} (and sequence_number on FIFO)."
    )
    parameters = (
        *FORCED_OUTCOME,
        Param("topic_arn", str, max_length=1_024, pattern=TOPIC_ARN_PATTERN, description="the topic's ARN"),
        MESSAGE,
        Param("subject", str, None, max_length=100, pattern=PRINTABLE, description="for email subscriptions"),
        GROUP_ID,
    )
    can_wait_for_callback: ClassVar[bool] = True

    def __init__(self, messaging: Messaging | None = None) -> None:
        self._messaging = messaging

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        messaging = self._messaging
        if messaging is None:
            return unconfigured(ctx, self.name, "SNS client")
        topic_arn, subject = params.topic_arn, params.subject
        message = fifo_checked(ctx, params, topic_arn.endswith(FIFO_SUFFIX), "topic")
        if isinstance(message, TaskResult):
            return message

        def send() -> dict[str, Any]:
            return messaging.publish(topic_arn, message, subject).output()

        return sent_or_awaiting(ctx, f"publishing to topic '{topic_arn}'", send)


class EventBridgeTask(TaskType):
    name = "eventbridge"
    description = (
        "Puts one event (`source`, `detail_type`, `detail`: an object) on `event_bus` (default 'default'); "
        "succeeds with {event_id}."
    )
    parameters = (
        *FORCED_OUTCOME,
        Param("event_bus", str, "default", max_length=1_600, pattern=BUS_PATTERN, description="bus name or ARN"),
        Param("source", str, max_length=256, pattern=PRINTABLE, description="the event's source"),
        Param("detail_type", str, max_length=128, pattern=PRINTABLE, description="the event's detail-type"),
        Param("detail", dict, description="the event's detail, a JSON object"),
    )
    can_wait_for_callback: ClassVar[bool] = True

    def __init__(self, messaging: Messaging | None = None) -> None:
        self._messaging = messaging

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        messaging = self._messaging
        if messaging is None:
            return unconfigured(ctx, self.name, "EventBridge client")
        bus, source, detail_type = params.event_bus, params.source, params.detail_type
        detail = params.detail if ctx.callback is None else {**params.detail, TOKEN_FIELD: ctx.callback.token}
        text = compact(detail)
        size = len(source.encode()) + len(detail_type.encode()) + len(text.encode())
        refused = too_large(ctx, "the event", size)
        if refused is not None:
            return refused

        def send() -> dict[str, Any]:
            return {"event_id": messaging.put_event(bus, source, detail_type, text)}

        return sent_or_awaiting(ctx, f"putting an event on bus '{bus}'", send)


def messaging_types(messaging: Messaging | None = None) -> list[TaskType]:
    return [SqsTask(messaging), SnsTask(messaging), EventBridgeTask(messaging)]
