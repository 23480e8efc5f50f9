"""The `lambda`, `sqs`, `sns` and `eventbridge` task types, run against fakes of their ports (no AWS)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from flowcore.api.parameters import parameter_problems
from flowcore.domain.records import TaskResult
from flowcore.domain.statuses import TaskStatus
from flowcore.tasks import TaskTypeRegistry, default_registry
from flowcore.tasks.base import CallbackTicket, ParameterError, TaskContext
from flowcore.tasks.integrations import IntegrationError, Invocation, LambdaTask
from flowcore.tasks.messaging import MAX_MESSAGE_BYTES, Outgoing, Sent, messaging_types

TICKET = CallbackTicket(token="tok-123", url="/callbacks/tok-123", nonce="nonce-123")
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
FIFO_QUEUE = QUEUE + ".fifo"
TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"


@dataclass
class FakeFunctions:
    answer: Invocation = field(default_factory=lambda: Invocation(b'{"ok": true}'))
    error: IntegrationError | None = None
    calls: list[tuple[str, str, Any, str | None]] = field(default_factory=list)

    def invoke(self, function: str, payload: bytes, qualifier: str | None) -> Invocation:
        self.calls.append(("sync", function, json.loads(payload), qualifier))
        if self.error is not None:
            raise self.error
        return self.answer

    def invoke_async(self, function: str, payload: bytes, qualifier: str | None) -> None:
        self.calls.append(("async", function, json.loads(payload), qualifier))
        if self.error is not None:
            raise self.error


@dataclass
class FakeMessaging:
    error: IntegrationError | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def _answer(self, *call: Any) -> None:
        self.calls.append(call)
        if self.error is not None:
            raise self.error

    def send_message(self, queue_url: str, message: Outgoing, delay_seconds: int | None) -> Sent:
        self._answer("sqs", queue_url, message, delay_seconds)
        return Sent("m-1", "18" if queue_url.endswith(".fifo") else None)

    def publish(self, topic_arn: str, message: Outgoing, subject: str | None) -> Sent:
        self._answer("sns", topic_arn, message, subject)
        return Sent("m-2")

    def put_event(self, event_bus: str, source: str, detail_type: str, detail: str) -> str:
        self._answer("events", event_bus, source, detail_type, detail)
        return "e-1"


def context(parameters: dict[str, Any], *, callback: CallbackTicket | None = None, attempt: int = 1, **kw: Any) -> Any:
    return TaskContext("exec-1", 4, "notify", attempt, parameters, {}, callback=callback, **kw)


@pytest.fixture
def functions() -> FakeFunctions:
    return FakeFunctions()


@pytest.fixture
def messaging() -> FakeMessaging:
    return FakeMessaging()


@pytest.fixture
def registry(functions: FakeFunctions, messaging: FakeMessaging) -> TaskTypeRegistry:
    return TaskTypeRegistry([LambdaTask(functions), *messaging_types(messaging)])


def run(registry: TaskTypeRegistry, type_name: str, ctx: TaskContext) -> TaskResult:
    task_type = registry.get(type_name)
    assert task_type is not None
    return task_type.execute(ctx)


# lambda


def test_lambda_invokes_with_its_payload_and_succeeds_with_the_answer(registry: Any, functions: FakeFunctions) -> None:
    # Given a function that answers {"ok": true}
    # When the task runs with a payload and a qualifier
    result = run(registry, "lambda", context({"function": "charge", "payload": {"n": 1}, "qualifier": "live"}))
    # Then it was invoked synchronously with that payload, and the answer is the output
    assert functions.calls == [("sync", "charge", {"n": 1}, "live")]
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {"ok": True}


@pytest.mark.parametrize(("task_input", "sent"), [({"order": 7}, {"order": 7}), (None, {}), ([1, 2], [1, 2])])
def test_lambda_payload_defaults_to_the_task_input_else_an_empty_object(
    registry: Any, functions: FakeFunctions, task_input: Any, sent: Any
) -> None:
    # Given no payload parameter / When run with (or without) a resolved input
    run(registry, "lambda", context({"function": "charge"}, input=task_input))
    # Then the input is the payload, or {} without one
    assert functions.calls == [("sync", "charge", sent, None)]


def test_a_function_error_is_a_failure_with_its_type_and_message(registry: Any, functions: FakeFunctions) -> None:
    # Given a function that raised (Lambda's FunctionError, the runtime's error document)
    error = {"errorType": "ValueError", "errorMessage": "no such order", "stackTrace": ["..."]}
    functions.answer = Invocation(json.dumps(error).encode(), function_error="Unhandled")
    # When the task runs
    result = run(registry, "lambda", context({"function": "charge"}))
    # Then it failed with "<errorType>: <errorMessage>" and both in its output
    assert result.status is TaskStatus.FAILURE
    assert result.error == "ValueError: no such order"
    assert result.output == {"errorType": "ValueError", "errorMessage": "no such order"}


def test_a_function_error_without_an_error_document_names_lambdas_function_error(
    registry: Any, functions: FakeFunctions
) -> None:
    # Given a function error whose answer is not the runtime's document
    functions.answer = Invocation(b"Process exited", function_error="Unhandled")
    # When the task runs / Then the error type is Lambda's FunctionError, the message the answer's text
    result = run(registry, "lambda", context({"function": "charge"}))
    assert result.error == "Unhandled: Process exited"
    assert result.output == {"errorType": "Unhandled", "errorMessage": "Process exited"}


def test_an_answer_that_is_not_json_is_a_failure(registry: Any, functions: FakeFunctions) -> None:
    functions.answer = Invocation(b"<html>")
    result = run(registry, "lambda", context({"function": "charge"}))
    assert result.status is TaskStatus.FAILURE
    assert result.error == "the function answered 6 bytes of non-JSON"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("TooManyRequestsException", "Rate exceeded"),
        ("ServiceException", "internal error"),
        ("EC2ThrottledException", "ENI throttled"),
        ("ResourceNotReadyException", "function is being created"),
        ("EndpointConnectionError", "Could not connect to the endpoint URL"),
    ],
)
def test_throttling_service_and_connection_errors_are_failures_naming_the_code(
    registry: Any, functions: FakeFunctions, code: str, message: str
) -> None:
    # Given Lambda answering with an error (the adapter's IntegrationError)
    functions.error = IntegrationError(code, message)
    # When the task runs / Then it is a FAILURE (the retry policy may retry it) naming the code
    result = run(registry, "lambda", context({"function": "charge"}))
    assert result.status is TaskStatus.FAILURE
    assert result.error == f"invoking function 'charge' failed: {code}: {message}"


@pytest.mark.parametrize(
    ("payload", "sent"),
    [({"order": 7}, {"order": 7, "task_token": "tok-123"}), ("hello", {"input": "hello", "task_token": "tok-123"})],
)
def test_lambda_waiting_for_callback_invokes_async_with_the_token_only_when_delivered(
    registry: Any, functions: FakeFunctions, payload: Any, sent: Any
) -> None:
    # Given a run that awaits a callback (the runner gave it a ticket)
    # When the task runs
    result = run(registry, "lambda", context({"function": "approve", "payload": payload}, callback=TICKET))
    # Then it waits, and nothing was invoked yet
    assert result.status is TaskStatus.WAITING
    assert functions.calls == []
    # When the runner delivers (once the run is parked) / Then the async invoke carries the token
    assert result.deliver is not None
    result.deliver()
    assert functions.calls == [("async", "approve", sent, None)]


def test_a_refused_delivery_raises_so_the_attempt_fails(registry: Any, functions: FakeFunctions) -> None:
    functions.error = IntegrationError("TooManyRequestsException", "Rate exceeded")
    result = run(registry, "lambda", context({"function": "approve"}, callback=TICKET))
    assert result.deliver is not None
    with pytest.raises(IntegrationError, match="TooManyRequestsException"):
        result.deliver()


def test_the_integration_types_take_wait_for_callback(registry: TaskTypeRegistry) -> None:
    for name in ("lambda", "sqs", "sns", "eventbridge"):
        task_type = registry.get(name)
        assert task_type is not None
        assert task_type.can_wait_for_callback
        assert not task_type.awaits


def test_a_type_built_without_its_port_fails_clearly_when_run() -> None:
    # Given the types as the API builds them (no clients)
    bare = TaskTypeRegistry([LambdaTask(), *messaging_types()])
    # When one runs / Then it fails saying what is missing
    result = run(bare, "sqs", context({"queue_url": QUEUE, "message": "hi"}))
    assert result.error == "task type 'sqs' cannot run here: no SQS client is configured"
    assert run(bare, "lambda", context({"function": "f"})).error == (
        "task type 'lambda' cannot run here: no Lambda client is configured"
    )


# sqs and sns


@pytest.mark.parametrize(("message", "body"), [("plain text", "plain text"), ({"a": [1, "é"]}, '{"a":[1,"é"]}')])
def test_sqs_sends_a_string_as_it_is_and_any_other_value_as_compact_json(
    registry: Any, messaging: FakeMessaging, message: Any, body: str
) -> None:
    result = run(registry, "sqs", context({"queue_url": QUEUE, "message": message, "delay_seconds": 30}))
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {"message_id": "m-1"}
    assert messaging.calls == [("sqs", QUEUE, Outgoing(body, {}), 30)]


def test_a_fifo_message_has_a_dedupe_id_stable_per_attempt_and_new_per_retry(
    registry: Any, messaging: FakeMessaging
) -> None:
    # Given a FIFO queue
    parameters = {"queue_url": FIFO_QUEUE, "message": "hi", "message_group_id": "g1"}
    # When one attempt is run twice (a redelivery) and the next attempt once
    first = run(registry, "sqs", context(parameters))
    run(registry, "sqs", context(parameters))
    run(registry, "sqs", context(parameters, attempt=2))
    # Then the redelivery repeats the dedupe id and the retry has its own; the sequence number is reported
    ids = [call[2].deduplication_id for call in messaging.calls]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0] is not None and len(ids[0]) <= 128
    assert messaging.calls[0][2].group_id == "g1"
    assert first.output == {"message_id": "m-1", "sequence_number": "18"}


@pytest.mark.parametrize(
    ("extra", "error"),
    [({}, "a FIFO queue needs message_group_id"), ({"message_group_id": "g", "delay_seconds": 5}, "no delay_seconds")],
)
def test_fifo_rules_fail_before_calling_aws(
    registry: Any, messaging: FakeMessaging, extra: dict[str, Any], error: str
) -> None:
    result = run(registry, "sqs", context({"queue_url": FIFO_QUEUE, "message": "hi", **extra}))
    assert result.status is TaskStatus.FAILURE
    assert result.error is not None and error in result.error
    assert messaging.calls == []


@pytest.mark.parametrize("type_name", ["sqs", "sns"])
def test_waiting_for_callback_puts_the_token_in_an_attribute_and_an_object_message(
    registry: Any, messaging: FakeMessaging, type_name: str
) -> None:
    where = {"queue_url": QUEUE} if type_name == "sqs" else {"topic_arn": TOPIC}
    # Given a run that awaits a callback, with an object message
    result = run(registry, type_name, context({**where, "message": {"order": 7}}, callback=TICKET))
    # Then it waits without sending; delivering sends the token as attribute and field
    assert result.status is TaskStatus.WAITING
    assert messaging.calls == []
    assert result.deliver is not None
    result.deliver()
    sent = messaging.calls[0][2]
    assert sent.attributes == {"task_token": "tok-123"}
    assert json.loads(sent.body) == {"order": 7, "task_token": "tok-123"}


def test_a_string_message_carries_the_token_in_its_attribute_only(registry: Any, messaging: FakeMessaging) -> None:
    result = run(registry, "sqs", context({"queue_url": QUEUE, "message": '{"a": 1}'}, callback=TICKET))
    assert result.deliver is not None
    result.deliver()
    assert messaging.calls[0][2] == Outgoing('{"a": 1}', {"task_token": "tok-123"})


def test_sns_publishes_with_its_subject(registry: Any, messaging: FakeMessaging) -> None:
    result = run(registry, "sns", context({"topic_arn": TOPIC, "message": [1, 2], "subject": "New order"}))
    assert result.output == {"message_id": "m-2"}
    assert messaging.calls == [("sns", TOPIC, Outgoing("[1,2]", {}), "New order")]


def test_a_fifo_topic_needs_a_group_and_gets_a_dedupe_id(registry: Any, messaging: FakeMessaging) -> None:
    fifo = TOPIC + ".fifo"
    assert run(registry, "sns", context({"topic_arn": fifo, "message": "m"})).error == (
        "a FIFO topic needs message_group_id"
    )
    run(registry, "sns", context({"topic_arn": fifo, "message": "m", "message_group_id": "g"}))
    assert messaging.calls[0][2].deduplication_id is not None


@pytest.mark.parametrize("type_name", ["sqs", "sns"])
def test_a_message_over_256_kib_fails_before_calling_aws(
    registry: Any, messaging: FakeMessaging, type_name: str
) -> None:
    where = {"queue_url": QUEUE} if type_name == "sqs" else {"topic_arn": TOPIC}
    # Given a message that fits alone but not with the token's attribute
    message = "x" * (MAX_MESSAGE_BYTES - 10)
    assert run(registry, type_name, context({**where, "message": message})).succeeded
    result = run(registry, type_name, context({**where, "message": message}, callback=TICKET))
    # Then it fails, saying its size, and only the first was sent
    assert result.status is TaskStatus.FAILURE
    assert result.error == f"the message is {MAX_MESSAGE_BYTES - 10 + 10 + 6 + 7} bytes, more than 262144 (256 KiB)"
    assert len(messaging.calls) == 1


@pytest.mark.parametrize("type_name", ["sqs", "sns", "eventbridge"])
def test_an_aws_error_is_a_failure_naming_the_code(registry: Any, messaging: FakeMessaging, type_name: str) -> None:
    messaging.error = IntegrationError("ThrottlingException", "Rate exceeded")
    parameters = {
        "sqs": {"queue_url": QUEUE, "message": "m"},
        "sns": {"topic_arn": TOPIC, "message": "m"},
        "eventbridge": {"source": "orders", "detail_type": "Placed", "detail": {}},
    }[type_name]
    result = run(registry, type_name, context(parameters))
    assert result.status is TaskStatus.FAILURE
    assert result.error is not None and result.error.endswith("failed: ThrottlingException: Rate exceeded")


# eventbridge


def test_eventbridge_puts_the_detail_as_json_on_the_default_bus(registry: Any, messaging: FakeMessaging) -> None:
    parameters = {"source": "shop.orders", "detail_type": "Order Placed", "detail": {"order": 7}}
    result = run(registry, "eventbridge", context(parameters))
    assert result.output == {"event_id": "e-1"}
    assert messaging.calls == [("events", "default", "shop.orders", "Order Placed", '{"order":7}')]


def test_eventbridge_waiting_for_callback_puts_the_token_in_the_detail(registry: Any, messaging: FakeMessaging) -> None:
    parameters = {"event_bus": "orders", "source": "shop", "detail_type": "Approve", "detail": {"order": 7}}
    result = run(registry, "eventbridge", context(parameters, callback=TICKET))
    assert result.status is TaskStatus.WAITING
    assert messaging.calls == []
    assert result.deliver is not None
    result.deliver()
    assert json.loads(messaging.calls[0][4]) == {"order": 7, "task_token": "tok-123"}


def test_an_event_over_256_kib_fails_before_calling_aws(registry: Any, messaging: FakeMessaging) -> None:
    parameters = {"source": "s", "detail_type": "t", "detail": {"blob": "x" * MAX_MESSAGE_BYTES}}
    result = run(registry, "eventbridge", context(parameters))
    assert result.error is not None and result.error.startswith("the event is ")
    assert messaging.calls == []


def test_a_detail_that_is_not_an_object_is_refused(registry: Any, messaging: FakeMessaging) -> None:
    # Given a templated detail that resolved to a list (a literal one is refused when the flow is saved)
    # When run / Then it is refused when read back (the runner reports a ParameterError as the task's failure)
    with pytest.raises(ParameterError, match="parameter 'detail' is \\[1\\], not an object"):
        run(registry, "eventbridge", context({"source": "s", "detail_type": "t", "detail": [1]}))
    assert messaging.calls == []


# saved parameters


@pytest.mark.parametrize(
    ("type_name", "parameters", "field"),
    [
        ("lambda", {"function": "bad name!"}, "function"),
        ("lambda", {"function": "f" * 171}, "function"),
        ("lambda", {"function": "f", "qualifier": "v 1"}, "qualifier"),
        ("sqs", {"queue_url": "sqs://orders", "message": "m"}, "queue_url"),
        ("sqs", {"queue_url": QUEUE, "message": "m", "delay_seconds": 901}, "delay_seconds"),
        ("sns", {"topic_arn": "arn:aws:sqs:us-east-1:123456789012:q", "message": "m"}, "topic_arn"),
        ("sns", {"topic_arn": TOPIC, "message": "m", "subject": "s" * 101}, "subject"),
        ("sns", {"topic_arn": TOPIC, "message": "m", "subject": "two\nlines"}, "subject"),
        ("eventbridge", {"event_bus": "bad bus", "source": "s", "detail_type": "t", "detail": {}}, "event_bus"),
        ("eventbridge", {"source": "s", "detail_type": "t", "detail": "text"}, "detail"),
    ],
)
def test_save_time_checks_refuse_what_aws_would(
    registry: TaskTypeRegistry, type_name: str, parameters: dict[str, Any], field: str
) -> None:
    problems = parameter_problems(registry, type_name, parameters, "tasks[0]")
    assert [problem.field for problem in problems] == [f"tasks[0].parameters.{field}"]


@pytest.mark.parametrize(
    ("type_name", "parameters"),
    [
        ("lambda", {"function": "arn:aws:lambda:eu-west-1:123456789012:function:charge:live"}),
        ("lambda", {"function": "123456789012:function:charge", "qualifier": "$LATEST"}),
        ("sqs", {"queue_url": "http://localhost:4566/000000000000/q", "message": {"a": 1}, "delay_seconds": 900}),
        ("sns", {"topic_arn": TOPIC + ".fifo", "message": "m", "subject": "Order 7: placed!"}),
        ("eventbridge", {"event_bus": "arn:aws:events:us-east-1:123456789012:event-bus/orders", "source": "s",
                         "detail_type": "t", "detail": {}}),
        ("eventbridge", {"source": "s", "detail_type": "t", "detail": "${input.detail}"}),
    ],
)  # fmt: skip
def test_save_time_checks_take_valid_parameters(
    registry: TaskTypeRegistry, type_name: str, parameters: dict[str, Any]
) -> None:
    assert parameter_problems(registry, type_name, parameters, "tasks[0]") == []


def test_the_default_registry_has_the_integrations_without_ports() -> None:
    # Given the registry as the API builds it / Then the four types are there, and fail clearly if run
    bare = default_registry()
    assert {"lambda", "sqs", "sns", "eventbridge"} <= set(bare.names())
    result = run(bare, "eventbridge", context({"source": "s", "detail_type": "t", "detail": {}}))
    assert result.error == "task type 'eventbridge' cannot run here: no EventBridge client is configured"


def test_the_runners_registry_gives_the_integrations_their_ports(messaging: FakeMessaging) -> None:
    wired = default_registry(functions=FakeFunctions(), messaging=messaging)
    assert run(wired, "sns", context({"topic_arn": TOPIC, "message": "m"})).succeeded
