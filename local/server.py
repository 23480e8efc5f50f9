"""The HTTP side of the local stack: what API Gateway does in front of the API function.

Each request becomes a payload 2.0 event, the handler's result becomes the response. Connections are served
on threads, but the function is invoked one event at a time, like one warm Lambda container: the powertools
resolver keeps the current event on the router class, so two events resolved at once would read each other's.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.apigw import HttpResponse, http_event, http_response
from local.auth import Gate, Rejection
from local.esm import LambdaContext

log = logging.getLogger("local.http")

Handler = Callable[[dict[str, Any], Any], Any]

#: API Gateway's own limit on a request body; the function refuses far less (1 MiB) itself.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
#: Headers the server sets from the response it actually sends.
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding", "upgrade"})
#: The methods handed to the function (API Gateway's `ANY` route); TRACE and CONNECT are refused with 405,
#: any other method with 501.
#: Connections the kernel holds while every thread is busy. socketserver's default of 5 reset 19-43 of 500
#: requests sent 50 at a time.
LISTEN_BACKLOG = 1024
#: The error codes of http.server's own refusals, in the API's envelope.
_ERROR_CODES = {
    HTTPStatus.BAD_REQUEST: "bad_request",
    HTTPStatus.REQUEST_URI_TOO_LONG: "uri_too_long",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "headers_too_large",
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: "http_version_not_supported",
}


class RequestError(Exception):
    """A request API Gateway would refuse before invoking the function."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self, address: tuple[str, int], handler: Handler, function_name: str = "ApiFunction", gate: Gate | None = None
    ) -> None:
        """`gate`: the authorizer in front of the function (local/auth.py); None: a route without one (no
        `requestContext.authorizer`)."""
        super().__init__(address, ApiRequestHandler)
        self.handler = handler
        self.function_name = function_name
        self.gate = gate
        self.invoke_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that broke mid-request (a client gone, say): one line, not a traceback on stderr."""
        log.warning("connection from %s ended: %r", client_address[0], sys.exc_info()[1])

    def invoke(self, event: dict[str, Any]) -> HttpResponse:
        with self.invoke_lock:
            try:
                result = self.handler(event, LambdaContext(self.function_name))
            except Exception:
                log.exception("the API function raised")
                return _gateway_error(500, "Internal Server Error")
        return http_response(result)


class ApiRequestHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed after this

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def __getattr__(self, name: str) -> Any:
        """Every other method (TRACE, QUERY, ...) reaches the function too, as through the API's `ANY /{proxy+}`
        route: the function's 405 answers one a path does not have, rather than http.server's 501."""
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, headers too long) in the API's error envelope
        instead of an HTML page; the connection is closed after them. (Every method reaches the function, whose
        405 names the methods a path has.)"""
        status = HTTPStatus(code)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # a line too broken to read a version from: answer with a status line
            self.request_version = "HTTP/1.0"
        response = api_error(status, _ERROR_CODES.get(status, "bad_request"), message or status.phrase)
        self._send(response)
        log.info("%s %s %d", self.command or "-", self.path if self.command else "-", status)

    def _handle(self) -> None:
        started = time.perf_counter()
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except RequestError as error:
            self.close_connection = True  # the body was not read, so the connection cannot be reused
            response = _gateway_error(error.status, error.message)
        else:
            response = self._authorized(path, query, body)
        self._send(response)
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("%s %s %d %.0f ms", self.command, self.path, response.status, elapsed_ms)

    def _authorized(self, path: str, query: str, body: bytes | None) -> HttpResponse:
        """The function's answer, once the authorizer lets the request through; the authorizer's 401 otherwise."""
        headers = self._headers()
        authorizer = self.server.gate(self.command, path, headers) if self.server.gate is not None else None
        if isinstance(authorizer, Rejection):
            return authorizer.response()
        event = http_event(self.command, path, query, headers, body, self.client_address[0], authorizer=authorizer)
        return self.server.invoke(event)

    def _headers(self) -> dict[str, str]:
        """Repeated headers joined with commas, as API Gateway does for payload 2.0."""
        joined: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            joined[key] = f"{joined[key]},{value}" if key in joined else value
        return joined

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked() or None
        raw_length = self.headers.get("content-length")
        if raw_length is None:
            return None
        try:
            length = int(raw_length)
        except ValueError:
            raise RequestError(400, "Bad Request") from None
        if length < 0:
            raise RequestError(400, "Bad Request")
        if length > MAX_REQUEST_BYTES:
            raise RequestError(413, "Request Entity Too Large")
        return self.rfile.read(length) if length else None

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise RequestError(400, "Bad Request") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return bytes(body)
            if len(body) + size > MAX_REQUEST_BYTES:
                raise RequestError(413, "Request Entity Too Large")
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after each chunk

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name not in _HOP_BY_HOP:
                self.send_header(name, value)
        for cookie in response.cookies:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(response.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: `_handle` writes one line per request in the console's format."""

    def log_error(self, format: str, *args: Any) -> None:
        log.warning(format, *args)


def api_error(status: int, code: str, message: str) -> HttpResponse:
    """An error in the API's own envelope, `{"error": {"code", "message", "details"}}`."""
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
    return HttpResponse(status, {"content-type": "application/json"}, [], body)


def _gateway_error(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, [], json.dumps({"message": message}).encode())
