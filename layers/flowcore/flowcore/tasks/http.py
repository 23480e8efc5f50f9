"""The `http` task type: one request to an allowed endpoint, its response as the output `{status, headers, body}`.

Every destination, and every redirect hop when `follow_redirects` is on, passes the SSRF guard
(`flowcore.domain.egress`): the deployment's allow-list, https unless plain http is allowed, and every resolved
address public. The transport is handed the one address the guard checked and connects to it, with the URL's
host for `Host` and TLS. Header values may come from Secrets Manager; they are sent, never reported.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol
from urllib.parse import urljoin

from flowcore.domain.egress import (
    MAX_URL_LENGTH,
    OFF,
    Destination,
    EgressPolicy,
    EgressRefused,
    Target,
    allowed,
    destination,
)
from flowcore.domain.egress import parse_url as parse_target
from flowcore.domain.records import TaskResult
from flowcore.domain.statuses import TaskStatus
from flowcore.tasks import http_request as parts
from flowcore.tasks.base import FORCED_OUTCOME, Param, ParameterError, Parameters, TaskContext, TaskType

MAX_REDIRECTS = 5
MAX_TIMEOUT_SECONDS = 30.0
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Headers a redirect to another origin does not carry (as browsers and requests drop them), with secret ones.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class TransportError(Exception):
    """The request did not get a response (refused, reset, timed out, TLS). The message names no header."""


class SecretError(Exception):
    """A secret a header refers to could not be read. The message names the secret, never its value."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    destination: Destination
    method: str
    headers: dict[str, str] = field(repr=False)  # may hold secrets
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # names in lowercase
    body: bytes  # at most the cap the transport was given, plus one byte (to tell that the body is over it)


class HttpTransport(Protocol):
    def resolve(self, host: str, port: int) -> Sequence[str]:
        """The host's addresses (resolved once per hop: the guard checks them, the transport uses one)."""
        ...

    def send(self, request: HttpRequest, timeout: float, max_body: int) -> HttpResponse:
        """Send to `request.destination.address`, within `timeout` seconds in all; read at most `max_body + 1`
        bytes of the body; no redirects. `TransportError` when there is no response."""
        ...


class Secrets(Protocol):
    def value(self, secret_id: str, key: str | None = None) -> str:
        """A secret's string, or one key of it when it is a JSON object; `SecretError` when it cannot be read."""
        ...


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    target: Target
    headers: dict[str, str] = field(repr=False)
    body: bytes | None
    secrets: list[str] = field(repr=False)
    secret_headers: frozenset[str]
    success: tuple[tuple[int, int], ...]
    follow_redirects: bool
    timeout: float


class HttpTask(TaskType):
    name = "http"
    description = "Sends one HTTP request to an allowed host; output {status, headers, body}."
    parameters: ClassVar[tuple[Param, ...]] = (
        *FORCED_OUTCOME,
        Param("method", str, max_length=10, description="GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS"),
        Param("url", str, max_length=MAX_URL_LENGTH, description="https URL of a host in the allow-list"),
        Param("headers", dict, None, description='text values, or {"secret": "<arn>", "key"?: "<json key>"}'),
        Param("query", dict, None, description="added to the URL's query"),
        Param("body", object, None, description="text is sent as text, any other JSON value as JSON"),
        Param("timeout_seconds", float, 10.0, ge=0.1, le=MAX_TIMEOUT_SECONDS, description="for the whole call"),
        Param("success_status", object, parts.DEFAULT_SUCCESS_STATUS, description='e.g. 204, "200-299", [200, 404]'),
        Param("follow_redirects", bool, False, description=f"follow up to {MAX_REDIRECTS} redirects, each checked"),
    )

    def __init__(
        self, transport: HttpTransport | None = None, secrets: Secrets | None = None, policy: EgressPolicy | None = None
    ) -> None:
        self._transport = transport
        self._secrets = secrets
        self._policy = policy or EgressPolicy()

    def parameter_problems(self, parameters: dict[str, Any]) -> list[tuple[str, str]]:
        return parts.problems(parameters)

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        if self._transport is None:
            return TaskResult.failure(ctx.task_name, "http tasks cannot run here: no transport was given")
        if self._policy.off:
            return TaskResult.failure(ctx.task_name, OFF)
        try:
            call = self._call(ctx, params)
            target, response = self._exchange(self._transport, call)
        except (ParameterError, EgressRefused, SecretError, TransportError) as error:
            return TaskResult.failure(ctx.task_name, str(error))
        return _result(ctx.task_name, call, target, response)

    def _call(self, ctx: TaskContext, params: Parameters) -> _Call:
        """The request the parameters describe, its URL allowed by the policy and its secrets read."""
        method = parts.method(params.method)
        success = parts.success_status(params.success_status)
        entries = parts.header_entries(params.headers or {})
        body, content_type = parts.encoded_body(params.body)
        target = parse_target(parts.with_query(params.url, params.query))
        allowed(target, self._policy)  # before any secret is read
        headers, secrets = parts.resolved_headers(entries, self._read_secret)
        names = {name.lower() for name in headers}
        if "idempotency-key" not in names:
            headers["Idempotency-Key"] = ctx.idempotency_key
        if content_type and "content-type" not in names:
            headers["Content-Type"] = content_type
        secret_headers = frozenset(name.lower() for name, value in entries if not isinstance(value, str))
        follow, timeout = params.follow_redirects, params.timeout_seconds
        return _Call(method, target, headers, body, secrets, secret_headers, success, follow, timeout)

    def _read_secret(self, secret_id: str, key: str | None) -> str:
        if self._secrets is None:
            raise SecretError(f"secret {secret_id} cannot be read here: no secrets store was given")
        return self._secrets.value(secret_id, key)

    def _exchange(self, transport: HttpTransport, call: _Call) -> tuple[Target, HttpResponse]:
        """Send the call, following redirects when asked, each hop checked as the first was."""
        deadline = time.monotonic() + call.timeout
        request, target = call, call.target
        checked = destination(target, self._policy, transport.resolve)
        for hop in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(f"timed out after {call.timeout:g} s calling {target.shown}")
            sent = HttpRequest(checked, request.method, request.headers, request.body)
            response = transport.send(sent, remaining, parts.MAX_RESPONSE_BODY_BYTES)
            location = response.headers.get("location")
            if not (call.follow_redirects and response.status in REDIRECT_STATUSES and location):
                return target, response
            if hop == MAX_REDIRECTS:
                raise TransportError(f"more than {MAX_REDIRECTS} redirects from {call.target.shown}")
            try:
                following = parse_target(urljoin(target.url, location))
                checked = destination(following, self._policy, transport.resolve)
            except EgressRefused as error:
                raise EgressRefused(f"redirect from {target.shown} refused: {error}") from None
            request = _redirected(request, response.status, same_origin=_origin(following) == _origin(target))
            target = following
        raise AssertionError("unreachable")  # pragma: no cover


def _origin(target: Target) -> tuple[str, str]:
    return target.scheme, target.authority


def _redirected(call: _Call, status: int, same_origin: bool) -> _Call:
    """The request a redirect asks for: GET without a body after a 303 (and after a 301 or 302 to a POST, as
    browsers do); without credentials and secret headers when it leaves the origin."""
    method, body, headers = call.method, call.body, dict(call.headers)
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        headers = {name: value for name, value in headers.items() if name.lower() != "content-type"}
    if not same_origin:
        dropped = CREDENTIAL_HEADERS | call.secret_headers
        headers = {name: value for name, value in headers.items() if name.lower() not in dropped}
    return replace(call, method=method, body=body, headers=headers)


def _result(task_name: str, call: _Call, target: Target, response: HttpResponse) -> TaskResult:
    """The output `{status, headers, body}`; a FAILURE (with that output) for a status outside `success_status`."""
    headers = parts.redacted(response.headers, call.secrets)
    output: dict[str, Any] = {"status": response.status, "headers": headers, "body": None}
    if len(response.body) > parts.MAX_RESPONSE_BODY_BYTES:
        error = f"response body larger than {parts.MAX_RESPONSE_BODY_BYTES:,} bytes"
        return TaskResult(TaskStatus.FAILURE, output=output, message=f"Task {task_name} failed", error=error)
    body = parts.decoded_body(response.body, response.headers.get("content-type", ""))
    output["body"] = parts.redacted(body, call.secrets)
    if not any(low <= response.status <= high for low, high in call.success):
        error = f"HTTP {response.status} from {target.shown}"
        return TaskResult(TaskStatus.FAILURE, output=output, message=f"Task {task_name} failed", error=error)
    return TaskResult.success(task_name, output)
