"""The local HTTP front on a socket: a realistic listen backlog, every method forwarded to the function, and
what http.server itself refuses answered in the API's JSON error envelope."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.server import ApiServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def server() -> Iterator[ApiServer]:
    seen: list[str] = []

    def answer(event: dict[str, Any], context: Any) -> Any:
        seen.append(event["requestContext"]["http"]["method"])
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": '{"ok": true}'}

    api = ApiServer(("127.0.0.1", 0), answer)
    api.seen = seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    yield api
    api.shutdown()
    thread.join()
    api.server_close()


def call(server: ApiServer, method: str, path: str = "/flows") -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def envelope(body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    assert set(document) == {"error"}
    assert set(document["error"]) == {"code", "message", "details"}
    assert document["error"]["details"] == []
    return document["error"]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT", "QUERY", "FOO"])
def test_every_method_reaches_the_function(server: ApiServer, method: str) -> None:
    # The function answers a method a path does not have with 405 in the envelope (tests/integration/test_requests.py),
    # as behind API Gateway's `ANY /{proxy+}` route; here it is a stub that answers everything
    status, headers, _ = call(server, method)
    assert (status, headers["content-type"]) == (200, "application/json")
    assert server.seen[-1] == method


def test_trace_is_refused_by_the_function_in_the_envelope() -> None:
    from functions.api.app import lambda_handler
    from local.apigw import http_event, http_response
    from local.auth import dev_authorizer
    from local.esm import LambdaContext

    event = http_event("TRACE", "/flows", authorizer=dev_authorizer())
    answer = http_response(lambda_handler(event, LambdaContext("ApiFunction")))
    assert answer.status == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert answer.headers["allow"] == "GET, POST"


def test_a_malformed_request_line_is_400_in_the_envelope(server: ApiServer) -> None:
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as raw:
        raw.sendall(b"GET /flows HTTP/1.1 extra\r\n\r\n")
        reply = raw.makefile("rb").read()

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert envelope(body)["code"] == "bad_request"


def test_the_listen_backlog_is_realistic(server: ApiServer) -> None:
    assert server.request_queue_size >= 128


def test_500_requests_50_at_a_time_are_all_answered(server: ApiServer) -> None:
    def one(_: int) -> int:
        return call(server, "GET", "/health")[0]

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(one, range(500)))

    assert statuses == [200] * 500
