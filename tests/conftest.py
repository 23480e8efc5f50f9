"""Shared fixtures: an in-process moto account built from template.yaml, the API and the stream."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.harness import AWS_ENV, AWS_ENV_REMOVED, EXAMPLES, MOTO_CONFIG, ROOT, Harness, example, local_account

__all__ = ["EXAMPLES", "MOTO_CONFIG", "ROOT", "Harness", "example"]

# Local stacks started by tests (in process or as `python -m local`) have no tenant quotas unless a test sets them
# (tests/integration/test_tenancy.py, tests/e2e/test_quotas_http.py): tests start executions as fast as they like.
for _quota in ("QUOTA_RUNNING_EXECUTIONS", "QUOTA_STARTS_PER_SECOND"):
    os.environ.setdefault(_quota, "0")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials before any client exists, so nothing can reach a real account."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in AWS_ENV_REMOVED:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def harness(aws_env: None) -> Iterator[Harness]:
    with local_account() as account:
        yield account


@pytest.fixture
def stepwise(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """The harness with chaining off (CHAIN_TASKS=1): every next run is written PENDING for the stream."""
    from local.containers import reset_containers

    monkeypatch.setenv("CHAIN_TASKS", "1")
    reset_containers()
    return harness
