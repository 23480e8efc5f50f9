"""boto3 clients, built once per container and shared by every adapter."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_stepfunctions import SFNClient

# Standard retry mode backs off on throttling; the runner's own recovery covers what is left.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


@cache
def dynamodb() -> DynamoDBClient:
    client: Any = boto3.client("dynamodb", config=_CONFIG)
    return client  # type: ignore[no-any-return]


@cache
def stepfunctions() -> SFNClient:
    client: Any = boto3.client("stepfunctions", config=_CONFIG)
    return client  # type: ignore[no-any-return]


@cache
def streams() -> DynamoDBStreamsClient:
    client: Any = boto3.client("dynamodbstreams", config=_CONFIG)
    return client  # type: ignore[no-any-return]


def reset() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    dynamodb.cache_clear()
    stepfunctions.cache_clear()
    streams.cache_clear()
