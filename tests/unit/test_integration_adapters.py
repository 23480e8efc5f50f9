"""flowcore.adapters.integrations: SQS, SNS and EventBridge against moto in process; Lambda with botocore's Stubber
(moto's Lambda runs functions in Docker)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from flowcore.adapters import clients
from flowcore.adapters.integrations import AwsMessaging, LambdaFunctions
from flowcore.tasks.base import CallbackTicket, TaskContext
from flowcore.tasks.integrations import IntegrationError, Invocation
from flowcore.tasks.messaging import Outgoing, SqsTask, deduplication_id

TOKEN = {"task_token": "tok-1"}


@pytest.fixture
def aws(aws_env: None) -> Iterator[AwsMessaging]:
    with mock_aws():
        clients.reset()
        yield AwsMessaging(clients.sqs, clients.sns, clients.events)
        clients.reset()


def received(queue_url: str) -> list[Any]:
    answer = clients.sqs().receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
    )
    return answer.get("Messages", [])


# SQS


def test_a_message_arrives_with_its_token_attribute(aws: AwsMessaging) -> None:
    # Given a standard queue
    queue = clients.sqs().create_queue(QueueName="orders")["QueueUrl"]
    # When a message is sent with the token attribute
    sent = aws.send_message(queue, Outgoing('{"a":1}', TOKEN), delay_seconds=0)
    # Then it arrives as sent, with the attribute, under the id reported
    (message,) = received(queue)
    assert message["MessageId"] == sent.message_id
    assert sent.sequence_number is None
    assert message["Body"] == '{"a":1}'
    assert message["MessageAttributes"] == {"task_token": {"DataType": "String", "StringValue": "tok-1"}}


def test_a_fifo_redelivered_attempt_does_not_duplicate(aws: AwsMessaging) -> None:
    # Given a FIFO queue and one attempt's message, sent twice (a redelivered record)
    queue = clients.sqs().create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    ctx = TaskContext("exec-1", 2, "notify", 1, {}, {})
    message = Outgoing("hello", {}, group_id="g1", deduplication_id=deduplication_id(ctx))
    first = aws.send_message(queue, message, None)
    second = aws.send_message(queue, message, None)
    # Then SQS keeps one, and reports its sequence number
    assert first.sequence_number is not None
    assert second.message_id
    assert [entry["Body"] for entry in received(queue)] == ["hello"]


def test_a_missing_queue_is_an_integration_error_with_its_code(aws: AwsMessaging) -> None:
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/nowhere"
    with pytest.raises(IntegrationError) as raised:
        aws.send_message(queue, Outgoing("m", {}), None)
    assert "NonExistentQueue" in raised.value.code


def test_the_sqs_task_delivers_through_the_adapter_once_parked(aws: AwsMessaging) -> None:
    # Given the sqs type on the real adapter and a run awaiting a callback
    queue = clients.sqs().create_queue(QueueName="approvals")["QueueUrl"]
    ticket = CallbackTicket("tok-9", "/callbacks/tok-9", "nonce-9")
    ctx = TaskContext("exec-1", 1, "ask", 1, {"queue_url": queue, "message": {"order": 7}}, {}, callback=ticket)
    result = SqsTask(aws).execute(ctx)
    # When nothing is delivered yet / Then nothing arrived; once delivered, the token is in body and attribute
    assert received(queue) == []
    assert result.deliver is not None
    result.deliver()
    (message,) = received(queue)
    assert json.loads(message["Body"]) == {"order": 7, "task_token": "tok-9"}
    assert message["MessageAttributes"]["task_token"]["StringValue"] == "tok-9"


# SNS


def test_a_published_message_reaches_a_subscribed_queue_with_subject_and_attribute(aws: AwsMessaging) -> None:
    # Given a topic with a queue subscribed
    topic = clients.sns().create_topic(Name="orders")["TopicArn"]
    queue = clients.sqs().create_queue(QueueName="subscriber")["QueueUrl"]
    queue_arn = clients.sqs().get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    clients.sns().subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
    # When a message is published
    sent = aws.publish(topic, Outgoing("placed", TOKEN), subject="Order 7")
    # Then the subscriber got it, with its subject and the token attribute
    (message,) = received(queue)
    envelope = json.loads(message["Body"])
    assert envelope["MessageId"] == sent.message_id
    assert (envelope["Message"], envelope["Subject"]) == ("placed", "Order 7")
    assert envelope["MessageAttributes"]["task_token"] == {"Type": "String", "Value": "tok-1"}


def test_a_fifo_topic_takes_the_group_and_dedupe_id(aws: AwsMessaging) -> None:
    # (moto answers no SequenceNumber for a FIFO topic; SQS's FIFO test covers its reading)
    topic = clients.sns().create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    with pytest.raises(IntegrationError):  # a FIFO topic refuses a message without its group
        aws.publish(topic, Outgoing("m", {}), subject=None)
    assert aws.publish(topic, Outgoing("m", {}, group_id="g", deduplication_id="d" * 64), subject=None).message_id


def test_a_missing_topic_is_an_integration_error(aws: AwsMessaging) -> None:
    with pytest.raises(IntegrationError) as raised:
        aws.publish("arn:aws:sns:us-east-1:123456789012:nowhere", Outgoing("m", {}), None)
    assert raised.value.code == "NotFound"


# EventBridge


def test_an_event_is_put_on_a_bus_and_routed_by_a_rule(aws: AwsMessaging) -> None:
    # Given a bus whose rule sends the source's events to a queue
    events = clients.events()
    events.create_event_bus(Name="shop")
    queue = clients.sqs().create_queue(QueueName="audit")["QueueUrl"]
    queue_arn = clients.sqs().get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name="orders", EventBusName="shop", EventPattern=json.dumps({"source": ["shop.orders"]}))
    events.put_targets(Rule="orders", EventBusName="shop", Targets=[{"Id": "q", "Arn": queue_arn["QueueArn"]}])
    # When an event is put
    event_id = aws.put_event("shop", "shop.orders", "Order Placed", '{"order":7,"task_token":"tok-1"}')
    # Then it arrives with its id, type and detail
    (message,) = received(queue)
    event = json.loads(message["Body"])
    assert (event["id"], event["detail-type"]) == (event_id, "Order Placed")
    assert event["detail"] == {"order": 7, "task_token": "tok-1"}


def test_a_failed_entry_is_an_integration_error_with_its_code(aws: AwsMessaging) -> None:
    # Given EventBridge answering with one failed entry (stubbed: moto accepts every entry)
    events = clients.events()
    with Stubber(events) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]},
        )
        messaging = AwsMessaging(clients.sqs, clients.sns, lambda: events)
        # When an event is put / Then the entry's code and message are the error
        with pytest.raises(IntegrationError, match="InternalFailure: try again"):
            messaging.put_event("default", "s", "t", "{}")


# Lambda (Stubber)


@pytest.fixture
def lambda_client(aws_env: None) -> Iterator[Any]:
    clients.reset()
    yield clients.lambda_()
    clients.reset()


def answer(body: bytes, **extra: Any) -> dict[str, Any]:
    return {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body)), **extra}


def test_a_sync_invoke_returns_the_answer_and_its_function_error(lambda_client: Any) -> None:
    functions = LambdaFunctions(lambda: lambda_client)
    with Stubber(lambda_client) as stub:
        expected = {"FunctionName": "charge", "InvocationType": "RequestResponse", "Payload": b"{}", "Qualifier": "v2"}
        stub.add_response("invoke", answer(b'{"ok":true}'), expected)
        stub.add_response("invoke", answer(b'{"errorType":"E"}', FunctionError="Unhandled"))
        assert functions.invoke("charge", b"{}", "v2") == Invocation(b'{"ok":true}')
        assert functions.invoke("charge", b"{}", None) == Invocation(b'{"errorType":"E"}', "Unhandled")


def test_an_async_invoke_is_an_event_invocation(lambda_client: Any) -> None:
    with Stubber(lambda_client) as stub:
        expected = {"FunctionName": "approve", "InvocationType": "Event", "Payload": b'{"task_token":"t"}'}
        stub.add_response("invoke", {"StatusCode": 202}, expected)
        LambdaFunctions(lambda: lambda_client).invoke_async("approve", b'{"task_token":"t"}', None)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status"),
    [("TooManyRequestsException", 429), ("ServiceException", 500), ("ResourceNotFoundException", 404)],
)
def test_lambda_refusals_are_integration_errors_with_their_code(lambda_client: Any, code: str, status: int) -> None:
    with Stubber(lambda_client) as stub:
        stub.add_client_error("invoke", code, "it went wrong", http_status_code=status)
        with pytest.raises(IntegrationError) as raised:
            LambdaFunctions(lambda: lambda_client).invoke("charge", b"{}", None)
    assert (raised.value.code, raised.value.message) == (code, "it went wrong")


def test_a_connection_failure_is_an_integration_error_named_after_it() -> None:
    class Unreachable:
        def invoke(self, **_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://lambda.us-east-1.amazonaws.com")

    with pytest.raises(IntegrationError) as raised:
        LambdaFunctions(Unreachable).invoke("charge", b"{}", None)
    assert raised.value.code == "EndpointConnectionError"
    assert "lambda.us-east-1" in raised.value.message


def test_the_lambda_client_retries_little_and_waits_out_a_15_minute_invoke(lambda_client: Any) -> None:
    config = lambda_client.meta.config
    assert config.retries["total_max_attempts"] == 2
    assert config.read_timeout > 900
