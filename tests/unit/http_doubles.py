"""A scripted `HttpTransport` for the http task's tests: names resolve from a table, responses come from a queue,
and every lookup and request is recorded (no network)."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from flowcore.domain.egress import EgressPolicy
from flowcore.tasks.base import TaskContext
from flowcore.tasks.http import HttpRequest, HttpResponse, HttpTask, Secrets, TransportError

PUBLIC = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class FakeTransport:
    def __init__(self, dns: dict[str, Any] | None = None, responses: Iterable[HttpResponse | Exception] = ()) -> None:
        #: host -> its addresses, or a list of answers given in turn (a name that rebinds)
        self.dns = dict(dns or {})
        self.responses: deque[HttpResponse | Exception] = deque(responses)
        self.lookups: list[str] = []
        self.sent: list[HttpRequest] = []
        self.timeouts: list[float] = []

    def resolve(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        answer = self.dns.get(host, [])
        if answer and isinstance(answer[0], list):
            return list(answer.pop(0))
        return list(answer)

    def send(self, request: HttpRequest, timeout: float, max_body: int) -> HttpResponse:
        self.sent.append(request)
        self.timeouts.append(timeout)
        reply = self.responses.popleft() if self.responses else response(200, {"ok": True})
        if isinstance(reply, Exception):
            raise reply
        return reply


def response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> HttpResponse:
    """A response; a body that is not bytes or text is sent as JSON."""
    names = {"content-type": "application/json"} if not isinstance(body, bytes | str) else {}
    data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return HttpResponse(status, {**names, **(headers or {})}, data)


def timed_out() -> TransportError:
    return TransportError("timed out after 10 s calling https://api.example.com/")


def http_task(
    transport: FakeTransport | None,
    allow: Iterable[str] = ("api.example.com:443",),
    secrets: Secrets | None = None,
    **policy: bool,
) -> HttpTask:
    return HttpTask(transport, secrets, EgressPolicy.of(allow, **policy))


def context(parameters: dict[str, Any], attempt: int = 1) -> TaskContext:
    return TaskContext(
        execution_id="exec-1", seq=2, task_name="call", attempt=attempt, parameters=parameters, execution_input={}
    )
