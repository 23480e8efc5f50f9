"""The whole local stack (`make run`) started in this process on free ports, and an HTTP client for it."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.runtime import LocalRuntime
from tests.conftest import ROOT

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
DEADLINE_SECONDS = 30.0
# Straight to 127.0.0.1, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """Speaks HTTP to the running stack, as curl would."""

    base_url: str

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> Reply:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with _OPENER.open(request, timeout=30) as response:
                return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())

    def start(self, definition: dict[str, Any], execution_input: dict[str, Any] | None = None) -> str:
        """Store a flow and start an execution of it; returns the execution id."""
        created = self.request("POST", "/flows", definition)
        assert created.status in (200, 201), created.json()
        flow_id = created.json()["flow_id"]
        started = self.request("POST", f"/flows/{flow_id}/executions", {"input": execution_input or {}})
        assert started.status == 202, started.json()
        execution_id: str = started.json()["execution_id"]
        return execution_id

    def wait_for_end(self, execution_id: str, path: str = "/executions/{}") -> dict[str, Any]:
        """Poll the status document until the execution is terminal, for at most DEADLINE_SECONDS."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            reply = self.request("GET", path.format(execution_id))
            assert reply.status == 200, reply.body
            document: dict[str, Any] = reply.json()
            if document["status"] in TERMINAL:
                return document
            assert time.monotonic() < deadline, f"still {document['status']} after {DEADLINE_SECONDS} s: {document}"
            time.sleep(0.05)

    def run(self, definition: dict[str, Any], execution_input: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.wait_for_end(self.start(definition, execution_input))


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(port=0, moto_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def client(runtime: LocalRuntime) -> Client:
    return Client(runtime.url)


def command_environment() -> dict[str, str]:
    """The environment `make run` gives `python -m local`: the layer's code and the checkout on the path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "flowcore"), str(ROOT)])}
