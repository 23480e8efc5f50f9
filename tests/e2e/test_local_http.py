"""The local HTTP front on a socket: a realistic listen backlog, and methods it does not forward refused in the
API's JSON error envelope."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.server import ALLOWED_METHODS, ApiServer

pytestmark = pytest.mark.e2e


def answer(event: dict[str, Any], context: Any) -> Any:
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": '{"ok": true}'}


@pytest.fixture
def server() -> Iterator[ApiServer]:
    api = ApiServer(("127.0.0.1", 0), answer)
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


@pytest.mark.parametrize("method", ["TRACE", "CONNECT"])
def test_trace_and_connect_are_405_in_the_envelope(server: ApiServer, method: str) -> None:
    status, headers, body = call(server, method)

    assert status == 405
    assert headers["content-type"] == "application/json"
    assert headers["allow"] == ", ".join(ALLOWED_METHODS)
    assert envelope(body)["code"] == "method_not_allowed"
    assert method in envelope(body)["message"]


@pytest.mark.parametrize("method", ["FOO", "PROPFIND", "BREW"])
def test_unknown_methods_are_501_in_the_envelope(server: ApiServer, method: str) -> None:
    status, headers, body = call(server, method)

    assert status == 501
    assert headers["content-type"] == "application/json"
    assert headers["allow"] == ", ".join(ALLOWED_METHODS)
    assert envelope(body) == {"code": "not_implemented", "message": f"method {method} is not supported", "details": []}


def test_a_malformed_request_line_is_400_in_the_envelope(server: ApiServer) -> None:
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as raw:
        raw.sendall(b"GET /flows HTTP/1.1 extra\r\n\r\n")
        reply = raw.makefile("rb").read()

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert envelope(body)["code"] == "bad_request"


def test_allowed_methods_still_reach_the_function(server: ApiServer) -> None:
    for method in ALLOWED_METHODS:
        status, _, _ = call(server, method)
        assert status == 200, method


def test_the_listen_backlog_is_realistic(server: ApiServer) -> None:
    assert server.request_queue_size >= 128


def test_500_requests_50_at_a_time_are_all_answered(server: ApiServer) -> None:
    def one(_: int) -> int:
        return call(server, "GET", "/health")[0]

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(one, range(500)))

    assert statuses == [200] * 500
