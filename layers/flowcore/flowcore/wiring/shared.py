"""What every composition root shares: the repositories on the table, and a per-container cache."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from flowcore.adapters import clients
from flowcore.adapters.callback_keys import SecretsManagerKeys
from flowcore.adapters.dynamodb.executions import DynamoExecutionRepository
from flowcore.adapters.dynamodb.flows import DynamoFlowRepository
from flowcore.adapters.dynamodb.results import DynamoResultRepository
from flowcore.adapters.dynamodb.runs import DynamoCompletions, DynamoRunRepository
from flowcore.adapters.dynamodb.stamps import Stamps
from flowcore.adapters.dynamodb.table import Table
from flowcore.adapters.secrets import SecretsManagerSecrets
from flowcore.settings import settings, tenant_claim

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_BUILT: list[Any] = []


def per_container[T](build: Callable[[], T]) -> Callable[[], T]:
    """Build on first use, then keep it, as a warm Lambda container does; `reset` forgets it."""
    cached = cache(build)
    _BUILT.append(cached)
    return cached


def forget(*built: Callable[[], Any]) -> None:
    """Forget what these built, as a new container of one function would."""
    for cached in built:
        cached.cache_clear()  # type: ignore[attr-defined]


def reset() -> None:
    """Forget every client, setting and object built: the next use starts cold, from the environment."""
    for cached in _BUILT:
        cached.cache_clear()
    settings.cache_clear()
    tenant_claim.cache_clear()
    clients.reset()


class Repositories:
    """One repository per aggregate, on one table."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, retention_days: int = 30, running_quota: int = 0
    ) -> None:
        table, stamps = Table(client, table_name), Stamps(retention_days)
        self.table = table
        self.flows = DynamoFlowRepository(table, stamps)
        self.executions = DynamoExecutionRepository(table, stamps, running_quota)
        self.runs = DynamoRunRepository(table, stamps)
        self.completions = DynamoCompletions(table)
        self.results = DynamoResultRepository(table, stamps)


@per_container
def repositories() -> Repositories:
    config = settings()
    return Repositories(clients.dynamodb(), config.table_name, config.retention_days, config.running_quota)


def callback_keys(secret_id: str | None) -> SecretsManagerKeys | None:
    """The callback signing key of the deployment (None when it keeps none: tasks that await then fail)."""
    return SecretsManagerKeys(SecretsManagerSecrets(clients.secretsmanager), secret_id) if secret_id else None
