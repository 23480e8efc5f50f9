"""AWS clients, built once per container and shared by every handler.

Clients come from botocore directly: boto3 adds nothing to a low-level client (resources aside), and
importing it (s3transfer with it) cost ~10 ms of every handler's cold start.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.session import Session, get_session

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

# Standard retry mode backs off on throttling; the runner's own recovery covers what is left.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)
# Presigned download links are SigV4 in every region (SigV2 links are refused for new buckets).
_S3_CONFIG = _CONFIG.merge(Config(signature_version="s3v4"))
# Integration tasks (adapters/integrations.py) retry once at most (two calls): a failed call fails the attempt, and the
# task's own retry policy decides. A synchronous invoke may run 15 minutes; the task's timeout bounds the wait.
_INTEGRATION_CONFIG = _CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 2}))
_LAMBDA_CONFIG = _INTEGRATION_CONFIG.merge(Config(read_timeout=905, tcp_keepalive=True))


@cache
def session() -> Session:
    """One session per process, as boto3's default session was: credentials are resolved once."""
    return get_session()


@cache
def dynamodb() -> DynamoDBClient:
    client: Any = session().create_client("dynamodb", config=_CONFIG)
    return client  # type: ignore[no-any-return]


@cache
def stepfunctions() -> SFNClient:
    client: Any = session().create_client("stepfunctions", config=_CONFIG)
    return client  # type: ignore[no-any-return]


@cache
def streams() -> DynamoDBStreamsClient:
    client: Any = session().create_client("dynamodbstreams", config=_CONFIG)
    return client  # type: ignore[no-any-return]


@cache
def s3() -> S3Client:
    """Built on the first payload stored or read: its service model is the largest botocore loads, and most
    invocations never touch a large value."""
    client: Any = session().create_client("s3", config=_S3_CONFIG)
    return client  # type: ignore[no-any-return]


@cache
def secretsmanager() -> SecretsManagerClient:
    client: Any = session().create_client("secretsmanager", config=_CONFIG)
    return client  # type: ignore[no-any-return]


# Integration clients are built on an integration task's first call.
@cache
def lambda_() -> LambdaClient:
    client: Any = session().create_client("lambda", config=_LAMBDA_CONFIG)
    return client  # type: ignore[no-any-return]


@cache
def sqs() -> SQSClient:
    client: Any = session().create_client("sqs", config=_INTEGRATION_CONFIG)
    return client  # type: ignore[no-any-return]


@cache
def sns() -> SNSClient:
    client: Any = session().create_client("sns", config=_INTEGRATION_CONFIG)
    return client  # type: ignore[no-any-return]


@cache
def events() -> EventBridgeClient:
    client: Any = session().create_client("events", config=_INTEGRATION_CONFIG)
    return client  # type: ignore[no-any-return]


def reset() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    dynamodb.cache_clear()
    stepfunctions.cache_clear()
    streams.cache_clear()
    s3.cache_clear()
    secretsmanager.cache_clear()
    lambda_.cache_clear()
    sqs.cache_clear()
    sns.cache_clear()
    events.cache_clear()
