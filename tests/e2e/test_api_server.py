"""The HTTP adapter on its own: what API Gateway does with a function's result, checked over a socket."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local.server import ApiServer

pytestmark = pytest.mark.e2e


class Recorder:
    """A stand-in function: answers `result` and keeps the events it was given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.result: Any = {"statusCode": 204}

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def function() -> Recorder:
    return Recorder()


@pytest.fixture
def server(function: Recorder) -> Iterator[ApiServer]:
    api = ApiServer(("127.0.0.1", 0), function)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    yield api
    api.shutdown()
    thread.join()
    api.server_close()


def call(
    server: ApiServer, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_result_is_returned_faithfully(server: ApiServer, function: Recorder) -> None:
    function.result = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/octet-stream", "X-Trace": "abc"},
        "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        "body": base64.b64encode(b"\x00\x01binary").decode(),
        "isBase64Encoded": True,
    }
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    connection.request("GET", "/anything")
    response = connection.getresponse()

    assert response.status == 201
    assert response.read() == b"\x00\x01binary"
    assert response.getheader("content-type") == "application/octet-stream"
    assert response.getheader("x-trace") == "abc"
    assert response.headers.get_all("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    connection.close()


def test_request_becomes_a_payload_2_event(server: ApiServer, function: Recorder) -> None:
    call(
        server,
        "POST",
        "/flows/x/executions?limit=5&tag=a&tag=b",
        b'{"input": {}}',
        {"Content-Type": "application/json", "Cookie": "s=1; t=2", "Idempotency-Key": "k1"},
    )

    (event,) = function.events
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/flows/x/executions"
    assert event["rawQueryString"] == "limit=5&tag=a&tag=b"
    assert event["queryStringParameters"] == {"limit": "5", "tag": "a,b"}
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["headers"]["idempotency-key"] == "k1"
    assert event["cookies"] == ["s=1", "t=2"]
    assert json.loads(event["body"]) == {"input": {}}
    assert event["isBase64Encoded"] is False


def test_chunked_body_is_read_whole(server: ApiServer, function: Recorder) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    connection.request("POST", "/x", body=iter([b'{"a": ', b"1}"]), headers={"Content-Type": "application/json"})
    assert connection.getresponse().status == 204
    connection.close()

    assert json.loads(function.events[0]["body"]) == {"a": 1}


def test_a_function_error_is_a_500_like_api_gateway(server: ApiServer, function: Recorder) -> None:
    function.result = RuntimeError("boom")

    response = call(server, "GET", "/health")

    assert response.status == 500


def test_no_body_means_no_body_key(server: ApiServer, function: Recorder) -> None:
    call(server, "GET", "/health")

    assert "body" not in function.events[0]
