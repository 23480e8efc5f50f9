"""The environment the local stack gives the in-process handlers: moto reached directly, where it listens."""

from __future__ import annotations

import pytest

from local.runtime import LocalRuntime
from local.stack import LocalStack
from local.template import stack_spec


@pytest.mark.parametrize("host", ["127.0.0.1", "172.17.0.1", "0.0.0.0"])
def test_moto_is_reached_without_the_shells_proxy(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    """Given a proxy in the shell and a stack listening where containers reach it (README, `sam local`),
    the handlers' calls to moto bypass the proxy."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")

    environment = LocalRuntime(host=host, moto_port=5999)._aws_environment()

    assert environment["AWS_ENDPOINT_URL"] == f"http://{host}:5999"
    assert host in str(environment["NO_PROXY"]).split(",")
    assert "internal.example" in str(environment["NO_PROXY"]).split(",")


def test_the_stack_keeps_the_endpoint_the_template_declares_empty() -> None:
    """The template declares AWS_ENDPOINT_URL empty for `sam local --env-vars`; the local stack's own environment
    must not carry that empty value over the moto endpoint it sets."""
    spec = stack_spec()
    assert spec.environment.get("AWS_ENDPOINT_URL") == ""

    stack = LocalStack(spec, "t", "stream", "queue-url", "queue-arn", "machine", "bucket", "secret")

    assert "AWS_ENDPOINT_URL" not in stack.environment()
